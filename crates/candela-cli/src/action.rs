//! `candela action ...`: CIDs, deploying and running actions.
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use candela_client::{ActionSource, ExecuteOutcome};
use candela_crypto::derive;
use clap::Subcommand;
use serde_json::json;

#[derive(Subcommand)]
pub enum ActionCommand {
    /// Print the IPFS CIDv0 (Qm...) of an action file, as `ipfs add
    /// --only-hash` would.
    Cid {
        /// The action's source file.
        file: PathBuf,
    },
    /// Upload an action to every node; prints its CID.
    Deploy {
        /// The action's source file.
        file: PathBuf,
        /// network.json of the network (default: $CANDELA_NETWORK, else the
        /// devnet's `devnet/network.json`).
        #[arg(long, env = "CANDELA_NETWORK", default_value = crate::cli_io::DEFAULT_NETWORK)]
        network: PathBuf,
    },
    /// Run an action on the network; prints its response, verified
    /// signatures, logs and what each node did.
    Run {
        /// The action's source file (or give --cid).
        file: Option<PathBuf>,
        /// The CID of a deployed action.
        #[arg(long, conflicts_with = "file")]
        cid: Option<String>,
        /// jsParams, a JSON object, inline or as @file.json.
        #[arg(long, default_value = "{}")]
        params: String,
        /// network.json of the network (default: $CANDELA_NETWORK, else the
        /// devnet's `devnet/network.json`).
        #[arg(long, env = "CANDELA_NETWORK", default_value = crate::cli_io::DEFAULT_NETWORK)]
        network: PathBuf,
        /// The caller's Ethereum private key (hex).
        #[arg(long, env = "CANDELA_PRIVATE_KEY")]
        private_key: Option<String>,
        /// A session from `candela auth session` (instead of the key).
        #[arg(long)]
        session: Option<PathBuf>,
        /// Show how the nodes' answers differ (response JSON paths, logs,
        /// signed digests, errors) and on which nodes; exit code 1 when
        /// they differ.
        #[arg(long)]
        explain: bool,
        /// Print JSON only on stdout (the outcome, with `response` parsed
        /// when it is JSON; with --explain: the outcome and the differences).
        /// Without it, a readable summary.
        #[arg(long)]
        json: bool,
        /// Ask the nodes to keep a record of this run for `candela action
        /// replay` (only this caller may read it; decrypted plaintext and
        /// fetch request headers and bodies are never recorded).
        #[arg(long)]
        record: bool,
    },
    /// Re-run a recorded execution locally, in the same sandbox, with the
    /// node's recorded fetch answers, clock and other external inputs.
    Replay(crate::replay::ReplayArgs),
}

fn read_code(file: &Path) -> anyhow::Result<Vec<u8>> {
    let code = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    if std::str::from_utf8(&code).is_err() {
        bail!("{} is not UTF-8 text", file.display());
    }
    Ok(code)
}

/// The JSON printed for an execution.
pub fn outcome_json(o: &ExecuteOutcome) -> serde_json::Value {
    let signatures: serde_json::Map<String, serde_json::Value> = o
        .signatures
        .iter()
        .map(|(name, s)| {
            let sig = &s.signature;
            (
                name.clone(),
                json!({
                    "r": format!("0x{}", hex::encode(sig.r_bytes())),
                    "s": format!("0x{}", hex::encode(sig.s_bytes())),
                    "recid": sig.recid,
                    "signature": format!("0x{}", hex::encode(sig.to_eth_bytes())),
                    "publicKey": derive::public_key_hex(&s.public_key),
                    "ethAddress": derive::checksum_address(&derive::eth_address(&s.public_key)),
                    "dataSigned": format!("0x{}", hex::encode(s.digest)),
                }),
            )
        })
        .collect();
    json!({
        "requestId": o.request_id,
        "response": response_value(&o.response),
        "signatures": signatures,
        "logs": o.logs,
        "otherLogs": o.other_logs,
        "nodes": o.nodes,
        "faultyNodes": o.faults,
    })
}

/// Parse `--params` (inline JSON or `@file.json`).
pub fn parse_params(params: &str) -> anyhow::Result<serde_json::Value> {
    crate::cli_io::json_object_arg(params, "--params")
}

/// An action's response as printed: the parsed JSON when it parses, else
/// the string.
fn response_value(response: &str) -> serde_json::Value {
    serde_json::from_str(response).unwrap_or_else(|_| json!(response))
}

/// `0–4` for a run of node indices, `0, 2` otherwise.
fn node_list(nodes: &[u32]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < nodes.len() {
        let mut j = i;
        while j + 1 < nodes.len() && nodes[j + 1] == nodes[j] + 1 {
            j += 1;
        }
        parts.push(if j >= i + 2 {
            format!("{}–{}", nodes[i], nodes[j])
        } else if j == i + 1 {
            format!("{}, {}", nodes[i], nodes[j])
        } else {
            nodes[i].to_string()
        });
        i = j + 1;
    }
    let word = if nodes.len() == 1 { "node" } else { "nodes" };
    format!("{word} {}", parts.join(", "))
}

/// Names `action.js:LINE:COL` in a node's error by the action's own name
/// (its file or CID), with the line and column spelt out.
fn name_location(error: &str, source_name: &str) -> String {
    let Some(at) = candela_actions::action_location(error) else {
        return error.to_string();
    };
    let mut parts = at.rsplitn(3, ':');
    let (col, line) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    error.replace(
        &at,
        &format!("{source_name}:{line}:{col} (line {line}, column {col})"),
    )
}

/// The nodes' errors of a failed run, each distinct error once with the
/// nodes that gave it, and the console output up to the failure.
pub fn failed_run_text(
    answers: &std::collections::BTreeMap<u32, Result<candela_api::v7::ExecuteResponse, String>>,
    source_name: &str,
) -> String {
    let mut groups: Vec<(String, Vec<u32>)> = Vec::new();
    for (node, answer) in answers {
        let Err(e) = answer else { continue };
        match groups.iter_mut().find(|(text, _)| text == e) {
            Some((_, nodes)) => nodes.push(*node),
            None => groups.push((e.clone(), vec![*node])),
        }
    }
    let mut out = String::new();
    for (text, nodes) in &groups {
        let (error, logs) = match text.split_once(candela_client::FAILED_RUN_CONSOLE) {
            Some((e, l)) => (e, Some(l)),
            None => (text.as_str(), None),
        };
        let error = name_location(error, source_name);
        out.push_str(&format!(
            "{}: {}\n",
            node_list(nodes),
            error.replace('\n', "\n    ")
        ));
        if let Some(logs) = logs {
            out.push_str("  console output up to the failure:\n");
            for line in logs.lines() {
                out.push_str(&format!("    {line}\n"));
            }
        }
    }
    let agreed: Vec<u32> = answers
        .iter()
        .filter(|(_, a)| a.is_ok())
        .map(|(i, _)| *i)
        .collect();
    if !agreed.is_empty() {
        out.push_str(&format!("{}: answered without error\n", node_list(&agreed)));
    }
    out
}

/// A successful run as text: response, signatures, logs, each node.
fn outcome_text(o: &ExecuteOutcome) -> String {
    let mut out = String::new();
    let response = match serde_json::from_str::<serde_json::Value>(&o.response) {
        Ok(v) if v.is_object() || v.is_array() => {
            serde_json::to_string_pretty(&v).unwrap_or_else(|_| o.response.clone())
        }
        _ => o.response.clone(),
    };
    out.push_str(&format!("response: {response}\n"));
    for (name, s) in &o.signatures {
        out.push_str(&format!(
            "signature {name}: 0x{} by {} (verified; digest 0x{})\n",
            hex::encode(s.signature.to_eth_bytes()),
            derive::checksum_address(&derive::eth_address(&s.public_key)),
            hex::encode(s.digest)
        ));
    }
    for line in o.logs.lines() {
        out.push_str(&format!("log: {line}\n"));
    }
    for (node, logs) in &o.other_logs {
        for line in logs.lines() {
            out.push_str(&format!("log (node {node} only): {line}\n"));
        }
    }
    for n in &o.nodes {
        let state = match (&n.error, n.response_agreed) {
            (Some(e), _) => format!("FAILED: {e}"),
            (None, true) => "response agreed".into(),
            (None, false) => "response DIFFERS".into(),
        };
        out.push_str(&format!("node {}: {state}\n", n.node));
    }
    for f in &o.faults {
        out.push_str(&format!("fault: node {}: {}\n", f.node, f.reason));
    }
    out
}

pub async fn run(cmd: ActionCommand) -> anyhow::Result<()> {
    match cmd {
        ActionCommand::Cid { file } => {
            println!("{}", candela_cid::cid_v0(&read_code(&file)?));
        }
        ActionCommand::Deploy { file, network } => {
            let client = crate::cli_io::open_network(&network)?;
            let (cid, nodes) = client.deploy_action(&read_code(&file)?).await?;
            for n in nodes.iter().filter(|n| !n.ok) {
                eprintln!(
                    "warning: node {} ({}) did not store the action: {}",
                    n.node,
                    n.url,
                    n.error.as_deref().unwrap_or("")
                );
            }
            println!("{cid}");
        }
        ActionCommand::Run {
            file,
            cid,
            params,
            network,
            private_key,
            session,
            explain,
            json,
            record,
        } => {
            let (source, source_name) = match (file, cid) {
                (Some(f), None) => (
                    ActionSource::Code(
                        String::from_utf8(read_code(&f)?).context("the action is not UTF-8")?,
                    ),
                    f.display().to_string(),
                ),
                (None, Some(c)) => {
                    candela_cid::parse_cid_v0(&c).context("--cid is not a CIDv0")?;
                    (ActionSource::IpfsId(c.clone()), c)
                }
                _ => bail!("give an action FILE or --cid CID"),
            };
            let js_params = parse_params(&params)?;
            let mut client = crate::cli_io::open_network(&network)?;
            client.record_runs = record;
            let auth =
                crate::auth::request_auth(&client, session.as_deref(), private_key.as_deref())?;
            let request_id = candela_client::new_request_id();
            if record {
                eprintln!(
                    "run id: {request_id}  (recorded: candela action replay {request_id} --network …)"
                );
            } else {
                eprintln!("run id: {request_id}  (not recorded; run with --record to replay it)");
            }
            let answers = client
                .execute_answers(&request_id, &source, Some(js_params), &auth)
                .await;
            let outcome = client.verify_execute(&request_id, &answers);
            if !explain {
                return match (outcome, json) {
                    (Ok(o), true) => {
                        println!("{}", serde_json::to_string_pretty(&outcome_json(&o))?);
                        Ok(())
                    }
                    (Ok(o), false) => {
                        print!("{}", outcome_text(&o));
                        Ok(())
                    }
                    (Err(e), true) => {
                        let nodes: serde_json::Map<String, serde_json::Value> = answers
                            .iter()
                            .map(|(i, a)| {
                                let v = match a {
                                    Ok(r) => {
                                        json!({"ok": true, "response": response_value(&r.response)})
                                    }
                                    Err(e) => json!({"ok": false, "error": e}),
                                };
                                (i.to_string(), v)
                            })
                            .collect();
                        let out = json!({"requestId": request_id, "error": e.to_string(), "nodes": nodes});
                        println!("{}", serde_json::to_string_pretty(&out)?);
                        Err(e.into())
                    }
                    (Err(e), false) => {
                        print!("{}", failed_run_text(&answers, &source_name));
                        Err(anyhow::Error::from(e).context(format!("{source_name} failed")))
                    }
                };
            }
            let diff = candela_client::explain(&answers);
            if json {
                let (outcome, error) = match &outcome {
                    Ok(o) => (outcome_json(o), None),
                    Err(e) => (serde_json::Value::Null, Some(e.to_string())),
                };
                let out = json!({
                    "requestId": request_id,
                    "outcome": outcome,
                    "error": error,
                    "explain": diff,
                });
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                match &outcome {
                    Ok(o) => println!("response (agreed): {}", o.response),
                    Err(e) => println!("no agreed response: {e}"),
                }
                print!("{diff}");
            }
            if !diff.all_agree {
                std::process::exit(1);
            }
        }
        ActionCommand::Replay(args) => crate::replay::run(args).await?,
    }
    Ok(())
}
