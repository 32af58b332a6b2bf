//! `candela bench ...`: load generators that print figures next to a
//! baseline measured in the same process.
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use candela_client::Client;
use candela_crypto::session::{CaitSith, EcdsaBackend};
use clap::Subcommand;
use rand_core::RngCore;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Signing load against a running network: latency with a warm pool,
    /// sustained throughput including pool refill, and pool generation rate.
    Sign {
        /// network.json of the network (default: $CANDELA_NETWORK, else the
        /// devnet's `devnet/network.json`).
        #[arg(long, env = "CANDELA_NETWORK", default_value = crate::cli_io::DEFAULT_NETWORK)]
        network: PathBuf,
        /// Total signing requests.
        #[arg(long, default_value_t = 1000)]
        requests: usize,
        /// Requests in flight at once.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Print only the JSON summary.
        #[arg(long)]
        json: bool,
    },
    /// Action load against a running network: execute a deployed action that
    /// asks for one signature, next to the same action without the
    /// signature and the same action run in this process's sandbox.
    Action {
        /// network.json of the network (default: $CANDELA_NETWORK, else the
        /// devnet's `devnet/network.json`).
        #[arg(long, env = "CANDELA_NETWORK", default_value = crate::cli_io::DEFAULT_NETWORK)]
        network: PathBuf,
        /// Total executions per phase.
        #[arg(long, default_value_t = 200)]
        requests: usize,
        /// Executions in flight at once.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        /// Print only the JSON summary.
        #[arg(long)]
        json: bool,
    },
    /// Access-control decryption against a running network: latency of one
    /// decryption with a simple condition (every node authenticates the
    /// caller, evaluates the condition and signs its share; the client
    /// verifies each share and decrypts locally), next to in-process
    /// baselines, and the hybrid encryption's throughput on a large file.
    Decrypt {
        /// network.json of the network (default: $CANDELA_NETWORK, else the
        /// devnet's `devnet/network.json`).
        #[arg(long, env = "CANDELA_NETWORK", default_value = crate::cli_io::DEFAULT_NETWORK)]
        network: PathBuf,
        /// Decryptions per phase.
        #[arg(long, default_value_t = 200)]
        requests: usize,
        /// Decryptions in flight at once in the throughput phase (the
        /// latency phase runs one at a time).
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        /// Size of the file for the encryption throughput, in MiB.
        #[arg(long, default_value_t = 64)]
        file_mib: usize,
        /// Print only the JSON summary.
        #[arg(long)]
        json: bool,
    },
    /// Faults under load: start a devnet of its own, mint a PKP and sign
    /// steadily while a schedule crashes two nodes (SIGKILL) and restarts
    /// them from their stored shares, pauses one (SIGSTOP) past the client's
    /// timeout, and slows one node's links. Every request must end in a
    /// signature or a clear error (none lost) and no nonce `r` may repeat.
    Chaos {
        /// Number of nodes (at least 6: two are down at once).
        #[arg(long, default_value_t = 7)]
        nodes: usize,
        /// Length of the run; the fault schedule scales with it.
        #[arg(long, default_value_t = 120)]
        duration_secs: u64,
        /// Signing requests in flight at once.
        #[arg(long, default_value_t = 2)]
        concurrency: usize,
        /// Requests started per second over all workers (0: each worker
        /// sends its next request as soon as the last one ends). Sustained
        /// signing is bounded by presignature generation.
        #[arg(long, default_value_t = 1.0)]
        rate: f64,
        /// The devnet's directory (a fresh temporary one if absent).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The threshold-ECDSA protocol of the devnet (default cait-sith).
        #[arg(long, value_enum)]
        ecdsa: Option<crate::devnet::EcdsaChoice>,
        /// Add a last fault: node 5 loses its store (key shares,
        /// presignatures) for good and is repaired by the others, which
        /// reshares every root under the load.
        #[arg(long)]
        wipe_store: bool,
        /// Epoch changes under load instead of the crash, pause and slow
        /// faults (7 nodes): nodes 5 and 6 lose their machines for good and
        /// are replaced under their indices (repaired together), then the
        /// last member leaves (7 -> 6), a new one joins (6 -> 7), and
        /// member 3 goes dark and is voted out by the others (its index
        /// left empty); every transition's signing latency is printed next
        /// to steady state.
        #[arg(long)]
        replace: bool,
        /// Print only the JSON summary.
        #[arg(long)]
        json: bool,
    },
    /// `Lit.Actions.signAndCombine` with a Schnorr or BLS scheme on a
    /// running network: each signature timed inside the action (latency,
    /// one at a time) and signatures per second with several executions of
    /// several signatures at once, next to single-key signing here.
    Schemes {
        /// network.json of the network (default: $CANDELA_NETWORK, else the
        /// devnet's `devnet/network.json`).
        #[arg(long, env = "CANDELA_NETWORK", default_value = crate::cli_io::DEFAULT_NETWORK)]
        network: PathBuf,
        /// SchnorrEd25519Sha512, SchnorrK256Taproot or Bls12381G1ProofOfPossession.
        #[arg(long, default_value = "SchnorrEd25519Sha512")]
        scheme: String,
        /// Signatures in the throughput phase (and executions in the
        /// latency phase, at most 200).
        #[arg(long, default_value_t = 200)]
        requests: usize,
        /// Executions in flight at once in the throughput phase.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
        /// Signatures each execution asks for at once (1 to 10).
        #[arg(long, default_value_t = 10)]
        per_run: usize,
        /// Print only the JSON summary.
        #[arg(long)]
        json: bool,
    },
    /// The two threshold ECDSA backends side by side, in this process (no
    /// network): cait-sith (presignature among all n, then the t shares)
    /// and DKLs23 (three rounds among t signers after the digest), CPU per
    /// signature over all parties next to single-key k256 signing, key
    /// generation time and the bytes each moves between nodes per signature.
    Backends {
        /// Network sizes (threshold floor(2n/3) + 1 each).
        #[arg(long, value_delimiter = ',', default_value = "5,7")]
        nodes: Vec<usize>,
        /// DKLs23 signatures to average over (cait-sith: at most 5).
        #[arg(long, default_value_t = 20)]
        signatures: usize,
        /// Print only the JSON summary.
        #[arg(long)]
        json: bool,
    },
}

/// The benchmark's action: one signature of `toSign` with `publicKey`
/// (none when `sign` is false).
const BENCH_ACTION: &str = r#"(async () => {
  if (sign) {
    await Lit.Actions.signEcdsa({ toSign, publicKey, sigName: "sig" });
  }
  Lit.Actions.setResponse({ response: "ok" });
})();
"#;

/// A host that accepts signing requests without signing: the in-process
/// baseline measures the sandbox alone.
struct NullHost;

#[async_trait::async_trait]
impl candela_actions::Host for NullHost {
    async fn sign_ecdsa(
        &self,
        _request: candela_actions::SignRequest,
    ) -> Result<(), candela_actions::HostError> {
        Ok(())
    }
}

pub(crate) struct Summary {
    pub(crate) latencies_ms: Vec<f64>,
    pub(crate) failures: usize,
    pub(crate) seconds: f64,
}

impl Summary {
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "succeeded": self.latencies_ms.len(),
            "failed": self.failures,
            "p50Ms": percentile(&self.latencies_ms, 0.5),
            "p99Ms": percentile(&self.latencies_ms, 0.99),
            "throughputPerSec": self.latencies_ms.len() as f64 / self.seconds,
        })
    }
}

/// A progress printer for a benchmark: lines on stderr, none with `--json`.
fn progress(json: bool) -> impl Fn(String) {
    move |s: String| {
        if !json {
            eprintln!("[bench] {s}");
        }
    }
}

/// Run `one` `n` times, at most `concurrency` at once; each run says
/// whether it succeeded.
pub(crate) async fn run_load<F, Fut>(n: usize, concurrency: usize, one: F) -> Summary
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool> + Send + 'static,
{
    let sem = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let permit = Arc::clone(&sem).acquire_owned().await;
        let run = one();
        tasks.push(tokio::spawn(async move {
            let _permit = permit;
            let t0 = Instant::now();
            let ok = run.await;
            (t0.elapsed().as_secs_f64() * 1000.0, ok)
        }));
    }
    let mut out = Summary {
        latencies_ms: Vec::new(),
        failures: 0,
        seconds: 0.0,
    };
    for t in tasks {
        match t.await {
            Ok((ms, true)) => out.latencies_ms.push(ms),
            _ => out.failures += 1,
        }
    }
    out.seconds = start.elapsed().as_secs_f64();
    out.latencies_ms.sort_by(|a, b| a.total_cmp(b));
    out
}

async fn action_load(
    client: &Client,
    caller: &k256::ecdsa::SigningKey,
    cid: &str,
    pkp: &str,
    sign: bool,
    n: usize,
    concurrency: usize,
) -> Summary {
    run_load(n, concurrency, || {
        let client = client.clone();
        let caller = caller.clone();
        let source = candela_client::ActionSource::IpfsId(cid.to_string());
        let pkp = pkp.to_string();
        async move {
            let mut digest = [0u8; 32];
            rand_core::OsRng.fill_bytes(&mut digest);
            let params =
                serde_json::json!({"sign": sign, "toSign": digest.to_vec(), "publicKey": pkp});
            match client.execute(&source, Some(params), &caller).await {
                Ok(o) => !sign || o.signatures.contains_key("sig"),
                Err(e) => {
                    tracing::warn!(error = %e, "execution failed");
                    false
                }
            }
        }
    })
    .await
}

/// Decryptions of `enc` by `reader` (each asks every node for its share).
async fn decrypt_load(
    client: &Client,
    enc: &candela_client::Encrypted,
    auth: &candela_client::RequestAuth,
    n: usize,
    concurrency: usize,
) -> Summary {
    run_load(n, concurrency, || {
        let (client, enc, auth) = (client.clone(), enc.clone(), auth.clone());
        async move {
            match client.decrypt(&enc, &auth).await {
                Ok(d) => !d.plaintext.is_empty(),
                Err(e) => {
                    tracing::warn!(error = %e, "decryption failed");
                    false
                }
            }
        }
    })
    .await
}

/// In-process hybrid encryption and decryption of `mib` MiB: MB/s each.
fn hybrid_throughput(mib: usize) -> anyhow::Result<(f64, f64)> {
    let keys = candela_bls::sim::dkg(5, 4)?;
    let public = keys
        .values()
        .next()
        .map(|k| k.public_set())
        .ok_or_else(|| anyhow::anyhow!("no key shares"))?;
    let id = b"lit-accesscontrolcondition://bench/bench";
    let data = vec![0x5au8; mib << 20];
    let t0 = Instant::now();
    let container = candela_bls::hybrid::encrypt_bytes(&public.public_key, id, &data)?;
    let enc_s = t0.elapsed().as_secs_f64();
    let shares = keys
        .values()
        .take(public.threshold)
        .map(|k| k.sign_share(id))
        .collect::<Result<Vec<_>, _>>()?;
    let key = candela_bls::combine(&shares)?;
    let t0 = Instant::now();
    let mut out = Vec::with_capacity(data.len());
    candela_bls::hybrid::decrypt_stream_with_key(
        &public.public_key,
        id,
        &key,
        container.as_slice(),
        &mut out,
    )?;
    let dec_s = t0.elapsed().as_secs_f64();
    anyhow::ensure!(out == data, "hybrid round trip changed the data");
    let mb = data.len() as f64 / 1e6;
    Ok((mb / enc_s, mb / dec_s))
}

/// The smallest free presignature stock over the nodes that answer.
pub(crate) async fn min_free(client: &Client) -> u64 {
    client
        .statuses()
        .await
        .iter()
        .flatten()
        .map(|s| s.presignatures_free)
        .min()
        .unwrap_or(0)
}

async fn in_process_action(n: usize) -> Summary {
    let host: Arc<dyn candela_actions::Host> = Arc::new(NullHost);
    let limits = candela_actions::Limits::default();
    let mut out = Summary {
        latencies_ms: Vec::new(),
        failures: 0,
        seconds: 0.0,
    };
    let start = Instant::now();
    for _ in 0..n {
        let ctx = candela_actions::ExecutionContext::with_params(serde_json::json!({
            "sign": true, "toSign": vec![7u8; 32], "publicKey": "0x04",
        }));
        let t0 = Instant::now();
        match candela_actions::execute(BENCH_ACTION, ctx, Arc::clone(&host), &limits).await {
            Ok(_) => out.latencies_ms.push(t0.elapsed().as_secs_f64() * 1000.0),
            Err(_) => out.failures += 1,
        }
    }
    out.seconds = start.elapsed().as_secs_f64();
    out.latencies_ms.sort_by(|a, b| a.total_cmp(b));
    out
}

/// Latency percentiles in milliseconds.
pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

struct Phase {
    latencies_ms: Vec<f64>,
    failures: usize,
    rs: Vec<[u8; 32]>,
    seconds: f64,
}

async fn load(
    client: &Client,
    owner: &k256::ecdsa::SigningKey,
    pkp: &candela_crypto::AffinePoint,
    n: usize,
    concurrency: usize,
) -> Phase {
    let sem = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let permit = Arc::clone(&sem).acquire_owned().await;
        let client = client.clone();
        let owner = owner.clone();
        let pkp = *pkp;
        tasks.push(tokio::spawn(async move {
            let _permit = permit;
            let mut digest = [0u8; 32];
            rand_core::OsRng.fill_bytes(&mut digest);
            let t0 = Instant::now();
            let r = client.pkp_sign(&owner, &pkp, digest).await;
            (
                t0.elapsed().as_secs_f64() * 1000.0,
                r.map(|o| o.signature.r_bytes()),
            )
        }));
    }
    let mut phase = Phase {
        latencies_ms: Vec::new(),
        failures: 0,
        rs: Vec::new(),
        seconds: 0.0,
    };
    for t in tasks {
        match t.await {
            Ok((ms, Ok(r))) => {
                phase.latencies_ms.push(ms);
                phase.rs.push(r);
            }
            Ok((_, Err(e))) => {
                phase.failures += 1;
                tracing::warn!(error = %e, "signing failed");
            }
            Err(_) => phase.failures += 1,
        }
    }
    phase.seconds = start.elapsed().as_secs_f64();
    phase.latencies_ms.sort_by(|a, b| a.total_cmp(b));
    phase
}

async fn pool_figures(client: &Client) -> (u64, f64, u64) {
    // The pool leader's view: presignatures generated, seconds, free.
    let st = client.statuses().await;
    let best = st
        .iter()
        .flatten()
        .max_by_key(|s| s.presignatures_generated);
    let free = st
        .iter()
        .flatten()
        .map(|s| s.presignatures_free)
        .max()
        .unwrap_or(0);
    best.map(|s| (s.presignatures_generated, s.presign_seconds, free))
        .unwrap_or((0, 0.0, free))
}

fn in_process_presign_rate(n: u32, batch: usize) -> anyhow::Result<f64> {
    let t = candela_crypto::threshold_for(n as usize);
    let keys = candela_crypto::sim::keygen::<CaitSith>(n, t)?;
    let all: Vec<u32> = (0..n).collect();
    let t0 = Instant::now();
    candela_crypto::sim::presign::<CaitSith>(&keys, &all, batch)?;
    Ok(batch as f64 / t0.elapsed().as_secs_f64())
}

pub async fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Backends {
            nodes,
            signatures,
            json,
        } => {
            tokio::task::spawn_blocking(move || crate::backends::compare(&nodes, signatures, json))
                .await??;
        }
        BenchCommand::Schemes {
            network,
            scheme,
            requests,
            concurrency,
            per_run,
            json,
        } => {
            crate::bench_schemes::run(crate::bench_schemes::SchemeBenchArgs {
                network,
                scheme,
                requests,
                concurrency,
                per_run,
                json,
            })
            .await?
        }
        BenchCommand::Chaos {
            nodes,
            duration_secs,
            concurrency,
            rate,
            dir,
            ecdsa,
            wipe_store,
            replace,
            json,
        } => {
            crate::chaos::run(crate::chaos::ChaosArgs {
                nodes,
                duration: Duration::from_secs(duration_secs),
                concurrency,
                rate,
                dir,
                ecdsa,
                wipe_store,
                replace,
                json,
            })
            .await?
        }
        BenchCommand::Sign {
            network,
            requests,
            concurrency,
            json,
        } => {
            let client = crate::cli_io::open_network(&network)?;
            let n = client.network().nodes.len();
            let owner = k256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
            let (rec, _) = crate::pkp::mint(&client, &owner).await?;
            let say = progress(json);
            // Warm phase: wait for stock, then spend at most that stock.
            let deadline = Instant::now() + Duration::from_secs(300);
            let (_, _, mut free) = pool_figures(&client).await;
            // a DKLs23 network has no pool: every request is a warm one
            let dkls_net = client.network().ecdsa_protocol == crate::backends::DKLS23_NAME;
            let want = if dkls_net { requests } else { requests.min(48) };
            if dkls_net {
                free = requests as u64;
            }
            while (free as usize) < want && Instant::now() < deadline {
                say(format!(
                    "waiting for a warm pool: {free}/{want} presignatures"
                ));
                tokio::time::sleep(Duration::from_secs(2)).await;
                free = pool_figures(&client).await.2;
            }
            let warm_n = requests.min(free as usize).min(want).max(1);
            say(format!(
                "warm phase: {warm_n} requests, concurrency {concurrency}"
            ));
            let warm = load(&client, &owner, &rec.public_key, warm_n, concurrency).await;
            let rest = requests.saturating_sub(warm_n);
            let (g0, s0, _) = pool_figures(&client).await;
            let t0 = Instant::now();
            say(format!(
                "sustained phase: {rest} requests, concurrency {concurrency} (pool refilling)"
            ));
            let sustained = load(&client, &owner, &rec.public_key, rest, concurrency).await;
            let (g1, s1, _) = pool_figures(&client).await;
            let pool_rate = (g1.saturating_sub(g0)) as f64 / t0.elapsed().as_secs_f64();
            say("measuring in-process baselines".into());
            let k256_us = crate::backends::k256_sign_us();
            let inproc = in_process_presign_rate(n as u32, 4)?;
            say("measuring DKLs23 in process (key generation takes seconds)".into());
            let dkls = tokio::task::spawn_blocking(move || crate::backends::dkls23(n as u32, 10))
                .await??;
            let mut all_r: Vec<[u8; 32]> = warm.rs.iter().chain(&sustained.rs).copied().collect();
            let total_ok = all_r.len();
            all_r.sort();
            all_r.dedup();
            let warm_p50 = percentile(&warm.latencies_ms, 0.5);
            let protocol = if dkls_net {
                crate::backends::DKLS23_NAME
            } else {
                CaitSith::NAME
            };
            let summary = serde_json::json!({
                "nodes": n,
                "threshold": client.network().threshold,
                "protocol": protocol,
                "requests": requests,
                "concurrency": concurrency,
                "succeeded": total_ok,
                "failed": warm.failures + sustained.failures,
                "distinctR": all_r.len(),
                "warm": {
                    "requests": warm_n,
                    "p50Ms": warm_p50,
                    "p99Ms": percentile(&warm.latencies_ms, 0.99),
                    "throughputPerSec": warm.latencies_ms.len() as f64 / warm.seconds,
                },
                "sustained": {
                    "requests": rest,
                    "p50Ms": percentile(&sustained.latencies_ms, 0.5),
                    "p99Ms": percentile(&sustained.latencies_ms, 0.99),
                    "throughputPerSec": if rest > 0 { sustained.latencies_ms.len() as f64 / sustained.seconds } else { f64::NAN },
                },
                "poolGenerationPerSec": pool_rate,
                "poolSessionSeconds": s1 - s0,
                "inProcessPresignPerSec": inproc,
                "inProcessBackends": [
                    {
                        "protocol": CaitSith::NAME,
                        "perSignatureMs": 1000.0 / inproc,
                        "note": "presignature among all n; the shares and combine are negligible",
                    },
                    dkls.json(crate::backends::DKLS23_NAME, k256_us),
                ],
                "baselineK256SignUs": k256_us,
                "warmP50OverK256Sign": warm_p50 * 1000.0 / k256_us,
            });
            println!("{}", serde_json::to_string_pretty(&summary)?);
            if all_r.len() != total_ok {
                anyhow::bail!(
                    "a nonce r repeated: {} signatures but {} distinct r",
                    total_ok,
                    all_r.len()
                );
            }
        }
        BenchCommand::Action {
            network,
            requests,
            concurrency,
            json,
        } => {
            let client = crate::cli_io::open_network(&network)?;
            let say = progress(json);
            let owner = k256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
            let (cid, _) = client.deploy_action(BENCH_ACTION.as_bytes()).await?;
            let (rec, _) = crate::pkp::mint_with_actions(&client, &owner, &[&cid], true).await?;
            let pkp = candela_crypto::derive::public_key_hex(&rec.public_key);
            let caller = k256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
            say(format!("deployed {cid}; PKP bound to it and burned"));
            say(format!(
                "no-signature phase: {requests} executions, concurrency {concurrency}"
            ));
            let plain =
                action_load(&client, &caller, &cid, &pkp, false, requests, concurrency).await;
            // Signing spends presignatures: measure on a warm pool and spend
            // at most its stock (the pool's refill rate is `bench sign`'s job).
            let deadline = Instant::now() + Duration::from_secs(300);
            let want = requests.min(48) as u64;
            let mut free = min_free(&client).await;
            while free < want && Instant::now() < deadline {
                say(format!(
                    "waiting for a warm pool: {free}/{want} presignatures"
                ));
                tokio::time::sleep(Duration::from_secs(2)).await;
                free = min_free(&client).await;
            }
            let signing_n = requests.min(free as usize).max(1);
            say(format!(
                "signing phase: {signing_n} executions, concurrency {concurrency}"
            ));
            let signing =
                action_load(&client, &caller, &cid, &pkp, true, signing_n, concurrency).await;
            say("in-process sandbox baseline".into());
            let local = in_process_action(requests.min(200)).await;
            let summary = serde_json::json!({
                "nodes": client.network().nodes.len(),
                "threshold": client.network().threshold,
                "requests": requests,
                "signingRequests": signing_n,
                "concurrency": concurrency,
                "actionIpfsId": cid,
                "executeWithOneSignature": signing.json(),
                "executeWithoutSignature": plain.json(),
                "inProcessSandbox": local.json(),
                "p50OverInProcess": percentile(&signing.latencies_ms, 0.5) / percentile(&local.latencies_ms, 0.5),
            });
            println!("{}", serde_json::to_string_pretty(&summary)?);
            if signing.failures > 0 || plain.failures > 0 {
                anyhow::bail!(
                    "{} executions failed (run with CANDELA_LOG=warn for the reasons)",
                    signing.failures + plain.failures
                );
            }
        }
        BenchCommand::Decrypt {
            network,
            requests,
            concurrency,
            file_mib,
            json,
        } => {
            let client = crate::cli_io::open_network(&network)?;
            let say = progress(json);
            let reader = k256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
            let address = candela_crypto::derive::checksum_address(
                &candela_crypto::derive::eth_address(reader.verifying_key().as_affine()),
            );
            let conditions = serde_json::json!({"accessControlConditions": [{
                "contractAddress": "", "standardContractType": "", "chain": "ethereum",
                "method": "", "parameters": [":userAddress"],
                "returnValueTest": {"comparator": "=", "value": address}
            }]});
            let enc = client.encrypt(&conditions, &[7u8; 1024])?;
            let auth = candela_client::RequestAuth::Session(client.session(&reader));
            say(format!(
                "latency phase: {requests} decryptions of 1 KiB, one at a time"
            ));
            let latency = decrypt_load(&client, &enc, &auth, requests, 1).await;
            say(format!(
                "throughput phase: {requests} decryptions, concurrency {concurrency}"
            ));
            let loaded = decrypt_load(&client, &enc, &auth, requests, concurrency).await;
            say(format!("hybrid encryption of {file_mib} MiB in process"));
            let (enc_mbs, dec_mbs) = hybrid_throughput(file_mib)?;
            let k256_us = crate::backends::k256_sign_us();
            let p50 = percentile(&latency.latencies_ms, 0.5);
            let summary = serde_json::json!({
                "nodes": client.network().nodes.len(),
                "threshold": client.network().threshold,
                "decryptOneAtATime": latency.json(),
                "decryptConcurrent": loaded.json(),
                "concurrency": concurrency,
                "baselineK256SignUs": k256_us,
                "p50OverK256Sign": p50 * 1000.0 / k256_us,
                "hybridFileMiB": file_mib,
                "hybridEncryptMBps": enc_mbs,
                "hybridDecryptMBps": dec_mbs,
            });
            println!("{}", serde_json::to_string_pretty(&summary)?);
            if latency.failures > 0 || loaded.failures > 0 {
                anyhow::bail!(
                    "{} decryptions failed (run with CANDELA_LOG=warn for the reasons)",
                    latency.failures + loaded.failures
                );
            }
        }
    }
    Ok(())
}
