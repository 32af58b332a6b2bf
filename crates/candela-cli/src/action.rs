//! `candela action ...`: CIDs, deploying and running actions.
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use candela_client::{ActionSource, Client, ExecuteOutcome};
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
        /// network.json.
        #[arg(long)]
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
        /// jsParams, a JSON object.
        #[arg(long, default_value = "{}")]
        params: String,
        /// network.json.
        #[arg(long)]
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
        /// Print JSON only on stdout (with --explain: the outcome and the
        /// differences).
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
        "response": o.response,
        "signatures": signatures,
        "logs": o.logs,
        "otherLogs": o.other_logs,
        "nodes": o.nodes,
        "faultyNodes": o.faults,
    })
}

/// Parse `--params`.
pub fn parse_params(params: &str) -> anyhow::Result<serde_json::Value> {
    let v: serde_json::Value = serde_json::from_str(params).context("--params is not JSON")?;
    if !v.is_object() {
        bail!("--params must be a JSON object");
    }
    Ok(v)
}

pub async fn run(cmd: ActionCommand) -> anyhow::Result<()> {
    match cmd {
        ActionCommand::Cid { file } => {
            println!("{}", candela_cid::cid_v0(&read_code(&file)?));
        }
        ActionCommand::Deploy { file, network } => {
            let client = Client::from_file(&network)?;
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
            let source = match (file, cid) {
                (Some(f), None) => ActionSource::Code(
                    String::from_utf8(read_code(&f)?).context("the action is not UTF-8")?,
                ),
                (None, Some(c)) => {
                    candela_cid::parse_cid_v0(&c).context("--cid is not a CIDv0")?;
                    ActionSource::IpfsId(c)
                }
                _ => bail!("give an action FILE or --cid CID"),
            };
            let mut client = Client::from_file(&network)?;
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
                .execute_answers(&request_id, &source, Some(parse_params(&params)?), &auth)
                .await;
            let outcome = client.verify_execute(&request_id, &answers);
            if !explain {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&outcome_json(&outcome?))?
                );
                return Ok(());
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
