//! `candela test`: build, find a network (or start a devnet), deploy the
//! bundles, run every case on every node, and report per node what
//! happened.
//!
//! A case runs like `Client::execute` (one request id, one body for every
//! node) but through its two halves, `execute_raw` and `verify_execute`, so
//! that each node's own response, logs and shares can be shown next to the
//! verified, combined result.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use candela_api::auth::AuthSig;
use candela_api::v7::ExecuteResponse;
use candela_client::{ActionSignature, ActionSource, Client};
use candela_crypto::derive;
use k256::ecdsa::SigningKey;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::bundle::{self, Built};
use super::config::{Project, KEPT_PKP_FILE};
use super::spec::{self, Case, TestFile};
use crate::devnet::{self, Devnet, DevnetArgs};

/// The network a run uses, and the devnet started for it, if any.
struct Network {
    client: Client,
    path: PathBuf,
    devnet: Option<Devnet>,
}

/// Whether at least `threshold` nodes of the network at `path` answer and are ready.
async fn reachable(path: &Path) -> Option<Client> {
    let client = Client::from_file(path).ok()?;
    let ready = client
        .statuses()
        .await
        .iter()
        .flatten()
        .filter(|s| s.ready)
        .count();
    (ready >= client.network().threshold).then_some(client)
}

/// The configured network if it answers, else a devnet in the project's
/// devnet directory (reusing its state).
async fn network(project: &Project) -> anyhow::Result<Network> {
    let configured = project.resolve(&project.config.network.network_json);
    if let Some(client) = reachable(&configured).await {
        eprintln!("[test] network {}", configured.display());
        return Ok(Network {
            client,
            path: configured,
            devnet: None,
        });
    }
    let dir = project.resolve(&project.config.network.devnet_dir);
    eprintln!(
        "[test] no network answers at {}; starting a devnet of {} nodes in {} (stopped after the run)",
        configured.display(),
        project.config.network.devnet_nodes,
        dir.display()
    );
    let args = DevnetArgs {
        nodes: project.config.network.devnet_nodes,
        dir,
        base_port: 0,
        pool_target: 8,
        pool_batch: 2,
        pool_concurrency: 1,
        action_wall_time_ms: 30_000,
        action_max_signatures: 10,
        chain_rpc: Vec::new(),
        nonce_chain_rpc: Vec::new(),
        chain: crate::chain::ChainKind::Sqlite,
        rpc_url: None,
        deployer_key: None,
        rate_limit_per_minute: 10_000,
        max_concurrent_actions: 64,
        quiet: false,
        misbehave: Vec::new(),
        ecdsa: None,
        refresh_every: None,
        kick_after: None,
    };
    let devnet = devnet::start(&args).await.context(
        "starting a devnet for the tests failed; set [network] network_json in candela.toml \
         to a running network, or look at the node logs in the devnet directory",
    )?;
    let client = Client::from_file(&devnet.network_path)?;
    Ok(Network {
        client,
        path: devnet.network_path.clone(),
        devnet: Some(devnet),
    })
}

/// The wallet named by `[wallet] private_key_env`, if it is set.
fn configured_wallet(project: &Project) -> anyhow::Result<Option<SigningKey>> {
    let var = &project.config.wallet.private_key_env;
    match std::env::var(var) {
        Ok(hex_key) if !hex_key.trim().is_empty() => crate::pkp::signing_key(&hex_key)
            .with_context(|| format!("the private key in ${var} (named in candela.toml [wallet])"))
            .map(Some),
        _ => Ok(None),
    }
}

/// What `candela test` keeps between runs ([`KEPT_PKP_FILE`]): the PKP it
/// minted on one network and, when no wallet was configured, the random
/// wallet that owns it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeptPkp {
    /// The network's root ECDSA key (hex): the PKP exists on that network only.
    network_root: String,
    /// The PKP's public key (hex).
    public_key: String,
    /// The owning wallet's private key (hex), when it was a random one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    wallet_key: Option<String>,
}

/// The wallet and PKP a run uses.
struct Identity {
    owner: SigningKey,
    pkp: Option<String>,
}

/// The kept PKP of this network, when it is still there and owned by the
/// wallet the run would use.
fn load_kept(
    project: &Project,
    client: &Client,
    configured: Option<&SigningKey>,
) -> Option<(SigningKey, String)> {
    let path = project.root.join(KEPT_PKP_FILE);
    let kept: KeptPkp = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
    if kept.network_root != derive::public_key_hex(client.root_public_key()) {
        return None;
    }
    let owner = match (configured, &kept.wallet_key) {
        (Some(k), _) => k.clone(),
        (None, Some(hex_key)) => crate::pkp::signing_key(hex_key).ok()?,
        (None, None) => return None,
    };
    let key = derive::parse_public_key(&kept.public_key).ok()?;
    let rec = crate::pkp::registry(client)
        .ok()?
        .by_public_key(&key)
        .ok()?;
    (rec.owner == candela_registry::signer_address(&owner)).then_some((owner, kept.public_key))
}

/// Who authorises the run and which PKP `$PKP_PUBLIC_KEY` is: the
/// configured key; else the kept one; else a PKP minted now (and kept when
/// `[pkp] keep` is on).
async fn identity(project: &Project, client: &Client, needs_pkp: bool) -> anyhow::Result<Identity> {
    let configured = configured_wallet(project)?;
    let var = &project.config.wallet.private_key_env;
    let fixed = project.config.pkp.public_key.trim();
    if !fixed.is_empty() || !needs_pkp {
        let pkp = if fixed.is_empty() {
            None
        } else {
            derive::parse_public_key(fixed)
                .map_err(|e| anyhow::anyhow!("[pkp] public_key in candela.toml: {e}"))?;
            Some(fixed.to_string())
        };
        let owner = configured.unwrap_or_else(|| {
            eprintln!("[test] ${var} is not set: using a fresh random wallet");
            SigningKey::random(&mut rand_core::OsRng)
        });
        return Ok(Identity { owner, pkp });
    }
    let keep = project.config.pkp.keep;
    if keep {
        if let Some((owner, pkp)) = load_kept(project, client, configured.as_ref()) {
            eprintln!("[test] using the PKP kept in {KEPT_PKP_FILE}");
            return Ok(Identity {
                owner,
                pkp: Some(pkp),
            });
        }
    }
    let random = configured.is_none();
    let owner = configured.unwrap_or_else(|| {
        eprintln!("[test] ${var} is not set: using a fresh random wallet");
        SigningKey::random(&mut rand_core::OsRng)
    });
    let (rec, _) = crate::pkp::mint(client, &owner)
        .await
        .context("minting a PKP for the tests; or set [pkp] public_key in candela.toml")?;
    let key = derive::public_key_hex(&rec.public_key);
    eprintln!(
        "[test] minted PKP {}{}",
        derive::checksum_address(&rec.eth_address()),
        if keep {
            format!(", kept in {KEPT_PKP_FILE} for later runs")
        } else {
            " for this run".to_string()
        }
    );
    if keep {
        let kept = KeptPkp {
            network_root: derive::public_key_hex(client.root_public_key()),
            public_key: key.clone(),
            wallet_key: random.then(|| hex::encode(owner.to_bytes())),
        };
        let path = project.root.join(KEPT_PKP_FILE);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        write_private(&path, &serde_json::to_vec_pretty(&kept)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(Identity {
        owner,
        pkp: Some(key),
    })
}

/// Write a file only its owner can read (it may hold a development wallet).
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(bytes)
}

/// Every test file of the project, in name order, limited to `only` actions.
fn test_files(project: &Project, only: &[String]) -> anyhow::Result<Vec<(PathBuf, TestFile)>> {
    let dir = project.tests_dir();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(".test.json"))
        })
        .collect();
    paths.sort();
    let mut files = Vec::new();
    for p in paths {
        let text =
            std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
        let file: TestFile = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid test file", p.display()))?;
        if only.is_empty() || only.contains(&file.action) {
            files.push((p, file));
        }
    }
    if files.is_empty() {
        bail!(
            "no tests to run in {} (files NAME.test.json{}); `candela new NAME` adds an action with a test",
            dir.display(),
            if only.is_empty() {
                String::new()
            } else {
                format!(" for {}", only.join(", "))
            }
        );
    }
    Ok(files)
}

/// A signature checked with plain k256, independently of the client's
/// combine: the ECDSA signature verifies over the digest under the key.
fn verify_independently(s: &ActionSignature) -> Result<(), String> {
    let eth = s.signature.to_eth_bytes();
    let sig = k256::ecdsa::Signature::from_slice(&eth[..64]).map_err(|e| e.to_string())?;
    let vk = k256::ecdsa::VerifyingKey::from_affine(s.public_key).map_err(|e| e.to_string())?;
    use k256::ecdsa::signature::hazmat::PrehashVerifier;
    vk.verify_prehash(&s.digest, &sig)
        .map_err(|e| format!("does not verify: {e}"))
}

/// The result of one case.
struct CaseResult {
    action: String,
    cid: String,
    case: String,
    failures: Vec<String>,
    millis: u128,
    /// The agreed response or the run's error.
    result: Result<String, String>,
    logs: String,
    signatures: BTreeMap<String, Value>,
    nodes: Vec<Value>,
}

/// Per node: its response (or error), logs, signature shares, and whether
/// it agreed with the network's response.
fn node_reports(
    client: &Client,
    answers: &BTreeMap<u32, Result<ExecuteResponse, String>>,
    agreed: Option<&str>,
) -> Vec<Value> {
    client
        .network()
        .nodes
        .iter()
        .map(|n| match answers.get(&n.index) {
            Some(Ok(r)) => json!({
                "node": n.index,
                "url": n.url,
                "ok": true,
                "response": r.response,
                "responseAgreed": agreed == Some(r.response.as_str()),
                "logs": r.logs,
                "shares": r.signed_data.keys().collect::<Vec<_>>(),
            }),
            Some(Err(e)) => json!({"node": n.index, "url": n.url, "ok": false, "error": e}),
            None => json!({"node": n.index, "url": n.url, "ok": false, "error": "no answer"}),
        })
        .collect()
}

async fn run_case(
    client: &Client,
    auth: &AuthSig,
    built: &Built,
    case: &Case,
    pkp: Option<&str>,
) -> CaseResult {
    let started = Instant::now();
    let params = match (&case.js_params, pkp) {
        (Some(p), Some(key)) => Some(spec::substitute(p, key)),
        (p, _) => p.clone(),
    };
    let request_id = candela_client::new_request_id();
    let body = Client::execute_request(&ActionSource::IpfsId(built.cid.clone()), params, auth);
    let answers = client.execute_raw(&request_id, &body).await;
    let verified = client.verify_execute(&request_id, &answers);
    let mut signatures = BTreeMap::new();
    let mut verified_names = Vec::new();
    let (result, logs, agreed) = match &verified {
        Ok(o) => {
            for (name, s) in &o.signatures {
                let check = verify_independently(s);
                if check.is_ok() {
                    verified_names.push(name.as_str());
                }
                let eth = s.signature.to_eth_bytes();
                signatures.insert(
                    name.clone(),
                    json!({
                        "signature": format!("0x{}", hex::encode(eth)),
                        "publicKey": derive::public_key_hex(&s.public_key),
                        "ethAddress": derive::checksum_address(&derive::eth_address(&s.public_key)),
                        "dataSigned": format!("0x{}", hex::encode(s.digest)),
                        "verified": check.is_ok(),
                        "error": check.err(),
                    }),
                );
            }
            (
                Ok(o.response.clone()),
                o.logs.clone(),
                Some(o.response.as_str()),
            )
        }
        Err(e) => {
            let logs = answers
                .values()
                .find_map(|a| a.as_ref().ok().map(|r| r.logs.clone()))
                .unwrap_or_default();
            (Err(e.to_string()), logs, None)
        }
    };
    let nodes = node_reports(client, &answers, agreed);
    let observed = spec::Observed {
        result: result.as_deref().map_err(String::as_str),
        logs: &logs,
        verified_signatures: verified_names,
    };
    let failures = spec::check(&case.expect, &observed);
    CaseResult {
        action: built.action.clone(),
        cid: built.cid.clone(),
        case: case.name.clone(),
        failures,
        millis: started.elapsed().as_millis(),
        result,
        logs,
        signatures,
        nodes,
    }
}

fn print_case(r: &CaseResult) {
    let mark = if r.failures.is_empty() {
        "PASS"
    } else {
        "FAIL"
    };
    println!(
        "{mark} {} › {}  ({} ms, {})",
        r.action, r.case, r.millis, r.cid
    );
    for f in &r.failures {
        println!("  ✗ {f}");
    }
    match &r.result {
        Ok(resp) => println!("  response: {resp}"),
        Err(e) => println!("  error: {e}"),
    }
    for (name, s) in &r.signatures {
        println!(
            "  signature {name}: {} by {} ({})",
            s["signature"].as_str().unwrap_or(""),
            s["ethAddress"].as_str().unwrap_or(""),
            if s["verified"] == json!(true) {
                "verified"
            } else {
                "DOES NOT VERIFY"
            }
        );
    }
    for line in r.logs.lines() {
        println!("  log: {line}");
    }
    let agreed_logs = r.logs.as_str();
    for n in &r.nodes {
        let idx = n["node"].as_u64().unwrap_or(0);
        if n["ok"] != json!(true) {
            println!(
                "  node {idx}: FAILED: {}",
                n["error"].as_str().unwrap_or("")
            );
            continue;
        }
        let shares: Vec<&str> = n["shares"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let agreement = if n["responseAgreed"] == json!(true) {
            "response agreed".to_string()
        } else {
            format!("response DIFFERS: {}", n["response"].as_str().unwrap_or(""))
        };
        println!("  node {idx}: {agreement}; shares [{}]", shares.join(", "));
        let logs = n["logs"].as_str().unwrap_or("");
        if logs != agreed_logs {
            for line in logs.lines() {
                println!("    log: {line}");
            }
        }
    }
}

fn case_json(r: &CaseResult) -> Value {
    json!({
        "action": r.action,
        "cid": r.cid,
        "case": r.case,
        "passed": r.failures.is_empty(),
        "failures": r.failures,
        "durationMs": r.millis as u64,
        "response": r.result.as_ref().ok(),
        "error": r.result.as_ref().err(),
        "logs": r.logs,
        "signatures": r.signatures,
        "nodes": r.nodes,
    })
}

/// Run the tests of `only` (every action when empty); true when all pass.
pub async fn run(project: &Project, only: &[String], json_out: bool) -> anyhow::Result<bool> {
    let files = test_files(project, only)?;
    let built = bundle::build(project, false)?;
    for (path, file) in &files {
        if !built.iter().any(|b| b.action == file.action) {
            bail!(
                "{} tests the action {:?}, which is not in actions/",
                path.display(),
                file.action
            );
        }
    }
    let mut net = network(project).await?;
    let outcome = run_on(project, &net, &files, &built, json_out).await;
    if let Some(d) = net.devnet.take() {
        eprintln!("[test] stopping the devnet");
        d.stop().await;
    }
    outcome
}

async fn run_on(
    project: &Project,
    net: &Network,
    files: &[(PathBuf, TestFile)],
    built: &[Built],
    json_out: bool,
) -> anyhow::Result<bool> {
    let client = &net.client;
    let needs_pkp = files.iter().any(|(_, f)| {
        f.cases
            .iter()
            .any(|c| c.js_params.as_ref().is_some_and(spec::uses_pkp))
    });
    let Identity { owner, pkp } = identity(project, client, needs_pkp).await?;
    // One wallet signature, valid at every node, for the whole run.
    let auth = client.wallet_auth(&owner, 3600);
    // Every action is deployed, tested or not: tested ones may import the
    // others by CID.
    for b in built {
        let code = std::fs::read(&b.path)?;
        eprintln!("[test] deploying {} ({})", b.action, b.cid);
        let (_, nodes) = client
            .deploy_action(&code)
            .await
            .with_context(|| format!("deploying {}", b.action))?;
        for n in nodes.iter().filter(|n| !n.ok) {
            eprintln!(
                "[test] warning: node {} did not store {}: {}",
                n.node,
                b.action,
                n.error.as_deref().unwrap_or("")
            );
        }
    }
    let mut results = Vec::new();
    for (_, file) in files {
        let Some(b) = built.iter().find(|b| b.action == file.action) else {
            continue;
        };
        for case in &file.cases {
            eprintln!("[test] {} › {}", b.action, case.name);
            let r = run_case(client, &auth, b, case, pkp.as_deref()).await;
            if !json_out {
                print_case(&r);
            }
            results.push(r);
        }
    }
    let failed = results.iter().filter(|r| !r.failures.is_empty()).count();
    let passed = results.len() - failed;
    if json_out {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "network": net.path,
                "passed": passed,
                "failed": failed,
                "results": results.iter().map(case_json).collect::<Vec<_>>(),
            }))?
        );
    } else {
        println!("{passed} passed, {failed} failed");
    }
    Ok(failed == 0)
}
