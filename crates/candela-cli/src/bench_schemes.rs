//! `candela bench schemes`: `Lit.Actions.signAndCombine` with a Schnorr or
//! BLS scheme on a running network, timed inside the action (the network
//! part of a signature: assignment, shares, exchange, combination), next to
//! single-key signing in this process.
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use candela_client::{ActionSource, Client, SigningScheme};
use candela_registry::{AuthMethod, Permission, PkpKeyType, SCOPE_SIGN_ANYTHING};
use rand_core::RngCore;

use crate::bench::{percentile, run_load};

/// The benchmark's action: `count` signatures at once, each timed from its
/// call to its combined signature (the times are logged: they differ per
/// node, and the response is what the nodes must agree on).
const SCHEME_ACTION: &str = r#"(async () => {
  const t0 = Date.now();
  const jobs = [];
  for (let i = 0; i < count; i++) {
    const t = Date.now();
    jobs.push(Lit.Actions.signAndCombine({ toSign: msgs[i], publicKey, sigName: 's' + i, signingScheme })
      .then((out) => { JSON.parse(out); return Date.now() - t; }));
  }
  const lat = await Promise.all(jobs);
  // timings differ per node: logged, not in the response the nodes agree on
  console.log(JSON.stringify({ lat, total: Date.now() - t0 }));
  Lit.Actions.setResponse({ response: String(lat.length) });
})();
"#;

/// What `bench schemes` was asked.
pub struct SchemeBenchArgs {
    pub network: PathBuf,
    pub scheme: String,
    pub requests: usize,
    pub concurrency: usize,
    pub per_run: usize,
    pub json: bool,
}

/// Figures of one phase.
#[derive(Default)]
struct Figures {
    /// In-action latency of each signature (ms).
    signature_ms: Vec<f64>,
    /// Whole execution latency (ms).
    execute_ms: Vec<f64>,
    signatures: usize,
    failures: usize,
    seconds: f64,
}

impl Figures {
    fn json(&mut self) -> serde_json::Value {
        self.signature_ms.sort_by(|a, b| a.total_cmp(b));
        self.execute_ms.sort_by(|a, b| a.total_cmp(b));
        serde_json::json!({
            "signatures": self.signatures,
            "failedExecutions": self.failures,
            "signatureP50Ms": percentile(&self.signature_ms, 0.5),
            "signatureP99Ms": percentile(&self.signature_ms, 0.99),
            "executeP50Ms": percentile(&self.execute_ms, 0.5),
            "signaturesPerSec": self.signatures as f64 / self.seconds,
        })
    }
}

fn message(scheme: SigningScheme) -> Vec<u8> {
    let len = match scheme {
        SigningScheme::SchnorrEd25519Sha512 | SigningScheme::Bls12381G1ProofOfPossession => 64,
        _ => 32,
    };
    let mut m = vec![0u8; len];
    rand_core::OsRng.fill_bytes(&mut m);
    m
}

/// `runs` executions of the action, `concurrency` at once, each asking
/// for `per_run` signatures: the executions' latencies and failures come
/// from [`run_load`], the per-signature latencies from the action's log.
#[allow(clippy::too_many_arguments)]
async fn phase(
    client: &Client,
    caller: &k256::ecdsa::SigningKey,
    cid: &str,
    pkp: &str,
    scheme: SigningScheme,
    runs: usize,
    concurrency: usize,
    per_run: usize,
) -> Figures {
    let signature_ms = Arc::new(Mutex::new(Vec::new()));
    let load = run_load(runs, concurrency, || {
        let client = client.clone();
        let caller = caller.clone();
        let source = ActionSource::IpfsId(cid.to_string());
        let msgs: Vec<Vec<u8>> = (0..per_run).map(|_| message(scheme)).collect();
        let params = serde_json::json!({
            "count": per_run, "msgs": msgs, "publicKey": pkp, "signingScheme": scheme.as_str(),
        });
        let signature_ms = Arc::clone(&signature_ms);
        async move {
            match client.execute(&source, Some(params), &caller).await {
                Ok(o) => {
                    let lat: Option<Vec<f64>> = o
                        .logs
                        .lines()
                        .find_map(|l| serde_json::from_str::<serde_json::Value>(l.trim()).ok())
                        .and_then(|v| serde_json::from_value(v["lat"].clone()).ok());
                    match lat {
                        Some(lat) => {
                            signature_ms
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .extend(lat);
                            true
                        }
                        None => false,
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "execution failed");
                    false
                }
            }
        }
    })
    .await;
    let signature_ms = std::mem::take(&mut *signature_ms.lock().unwrap_or_else(|p| p.into_inner()));
    Figures {
        signatures: signature_ms.len(),
        signature_ms,
        execute_ms: load.latencies_ms,
        failures: load.failures,
        seconds: load.seconds,
    }
}

/// Single-key signing in this process, µs per signature: ed25519-dalek
/// for Ed25519, k256 ECDSA for the others (the CLI has no single-key
/// BIP-340 or BLS signer of its own).
fn baseline_us(scheme: SigningScheme) -> (String, f64) {
    const N: usize = 2000;
    let msgs: Vec<Vec<u8>> = (0..N).map(|_| message(scheme)).collect();
    match scheme {
        SigningScheme::SchnorrEd25519Sha512 => {
            use ed25519_dalek::Signer;
            let key = ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng);
            let t0 = Instant::now();
            for m in &msgs {
                std::hint::black_box(key.sign(m));
            }
            (
                "ed25519-dalek".into(),
                t0.elapsed().as_secs_f64() * 1e6 / N as f64,
            )
        }
        _ => {
            use k256::ecdsa::signature::hazmat::PrehashSigner;
            let key = k256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
            let t0 = Instant::now();
            for m in &msgs {
                let r: Result<k256::ecdsa::Signature, _> = key.sign_prehash(&m[..32]);
                let _ = std::hint::black_box(r);
            }
            (
                "k256 ecdsa".into(),
                t0.elapsed().as_secs_f64() * 1e6 / N as f64,
            )
        }
    }
}

/// Run the benchmark and print its summary.
pub async fn run(args: SchemeBenchArgs) -> anyhow::Result<()> {
    let scheme: SigningScheme = args
        .scheme
        .parse()
        .map_err(|e| anyhow::anyhow!("--scheme: {e}"))?;
    anyhow::ensure!(
        scheme != SigningScheme::EcdsaK256Sha256,
        "--scheme: EcdsaK256Sha256 is `candela bench action`'s; this bench takes SchnorrEd25519Sha512, SchnorrK256Taproot or Bls12381G1ProofOfPossession"
    );
    anyhow::ensure!(
        (1..=10).contains(&args.per_run),
        "--per-run must be 1 to 10 (an action may ask for 10 signatures)"
    );
    let say = |s: String| {
        if !args.json {
            eprintln!("[bench] {s}");
        }
    };
    let client = crate::cli_io::open_network(&args.network)?;
    let owner = k256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    let (cid, _) = client.deploy_action(SCHEME_ACTION.as_bytes()).await?;
    let key_type: PkpKeyType = scheme.key_type().as_str().parse()?;
    let grant = Permission::new(AuthMethod::action(&cid)?, [SCOPE_SIGN_ANYTHING]);
    let (rec, _) = crate::pkp::mint_with(&client, &owner, key_type, &[grant], true).await?;
    let pkp = candela_crypto::derive::public_key_hex(&rec.public_key);
    let caller = k256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    say(format!(
        "deployed {cid}; a {key_type} PKP bound to it and burned"
    ));
    // Warm-up: fills every node's nonce pool and the action cache.
    let _ = phase(&client, &caller, &cid, &pkp, scheme, 3, 1, 1).await;
    let latency_runs = args.requests.clamp(1, 200);
    say(format!(
        "latency phase: {latency_runs} executions of one signature, one at a time"
    ));
    let mut latency = phase(&client, &caller, &cid, &pkp, scheme, latency_runs, 1, 1).await;
    let runs = args.requests.div_ceil(args.per_run).max(1);
    say(format!(
        "throughput phase: {runs} executions of {} signatures each, {} at once",
        args.per_run, args.concurrency
    ));
    let mut load = phase(
        &client,
        &caller,
        &cid,
        &pkp,
        scheme,
        runs,
        args.concurrency,
        args.per_run,
    )
    .await;
    let (baseline_name, baseline) = baseline_us(scheme);
    let p50 = percentile(
        &{
            let mut v = latency.signature_ms.clone();
            v.sort_by(|a, b| a.total_cmp(b));
            v
        },
        0.5,
    );
    let summary = serde_json::json!({
        "scheme": scheme.as_str(),
        "nodes": client.network().nodes.len(),
        "threshold": client.network().threshold,
        "latency": latency.json(),
        "throughput": load.json(),
        "baseline": { "name": baseline_name, "usPerSignature": baseline },
        "p50OverBaseline": p50 * 1000.0 / baseline,
    });
    println!("{}", serde_json::to_string_pretty(&summary)?);
    if latency.failures + load.failures > 0 {
        anyhow::bail!(
            "{} executions failed (run with CANDELA_LOG=warn for the reasons)",
            latency.failures + load.failures
        );
    }
    Ok(())
}
