//! `candela action replay RUN_ID`: fetch a node's record of an execution
//! and run the action again in-process, in the same sandbox, answering
//! fetch, the clock and every other external input from the record.
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use candela_actions::replay::{ReplayHost, RunRecord};
use candela_actions::{ExecutionContext, Host, Limits};
use candela_client::Client;
use clap::Args;
use serde_json::json;

#[derive(Args)]
pub struct ReplayArgs {
    /// The run id (`X-Request-Id`) that `candela action run` printed.
    run_id: String,
    /// network.json of the network (default: $CANDELA_NETWORK, else the
    /// devnet's `devnet/network.json`).
    #[arg(long, env = "CANDELA_NETWORK", default_value = crate::cli_io::DEFAULT_NETWORK)]
    network: PathBuf,
    /// The node whose record to replay.
    #[arg(long, default_value_t = 0)]
    node: u32,
    /// The caller's Ethereum private key (hex): only the caller who ran it
    /// may read a record.
    #[arg(long, env = "CANDELA_PRIVATE_KEY")]
    private_key: Option<String>,
    /// A session from `candela auth session` (instead of the key).
    #[arg(long)]
    session: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

/// Fetch `run_id`'s record from node `index`.
async fn fetch_record(args: &ReplayArgs, client: &Client) -> anyhow::Result<RunRecord> {
    let node = client
        .network()
        .nodes
        .iter()
        .find(|n| n.index == args.node)
        .with_context(|| format!("the network has no node {}", args.node))?;
    let auth =
        crate::auth::request_auth(client, args.session.as_deref(), args.private_key.as_deref())?;
    let sig = serde_json::to_string(&auth.for_node(&node.url))?;
    let resp = reqwest::Client::new()
        .get(format!("{}/candela/v1/runs/{}", node.url, args.run_id))
        .header(candela_node::runs::AUTH_SIG_HEADER, sig)
        .send()
        .await
        .with_context(|| format!("asking node {} ({})", node.index, node.url))?;
    let status = resp.status();
    let body = resp.bytes().await?;
    if !status.is_success() {
        bail!(
            "node {} refused the record of {}: {status} {}",
            node.index,
            args.run_id,
            String::from_utf8_lossy(&body)
        );
    }
    serde_json::from_slice(&body).context("the node's record is not a run record")
}

pub async fn run(args: ReplayArgs) -> anyhow::Result<()> {
    let client = crate::cli_io::open_network(&args.network)?;
    let record = fetch_record(&args, &client).await?;
    let replay = Arc::new(ReplayHost::new(&record));
    let host: Arc<dyn Host> = replay.clone();
    let ctx = ExecutionContext {
        js_params: record.js_params.clone(),
        auth: record.auth.clone(),
    };
    let report =
        candela_actions::execute_with_report(&record.code, ctx, host, &Limits::default()).await;
    let error = report.error.as_ref().map(|e| e.to_string());
    let matched = report.outcome.response == record.response && error == record.error;
    let unsigned: Vec<&str> = report
        .outcome
        .signatures
        .iter()
        .map(|s| s.sig_name.as_str())
        .collect();
    let divergences = replay.divergences();
    if args.json {
        let out = json!({
            "runId": record.request_id,
            "node": args.node,
            "actionCid": record.action_cid,
            "startedAtMs": record.started_at_ms,
            "response": report.outcome.response,
            "logs": report.outcome.logs,
            "error": error,
            "recordedResponse": record.response,
            "recordedError": record.error,
            "matched": matched,
            "notSignedInReplay": unsigned,
            "divergences": divergences,
            "recordedCalls": record.calls.len(),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "replay of {} ({}) from node {}: {} recorded host calls, {} clock readings",
            record.request_id,
            record.action_cid,
            args.node,
            record.calls.len(),
            record.clock.len()
        );
        println!("response: {}", report.outcome.response);
        for line in report.outcome.logs.lines() {
            println!("log: {line}");
        }
        if let Some(e) = &error {
            println!("error: {e}");
        }
        for name in &unsigned {
            println!(
                "signature {name}: {}",
                candela_actions::replay::NOT_SIGNED_IN_REPLAY
            );
        }
        for d in &divergences {
            println!("diverged: {d}");
        }
        if matched {
            println!("matched: the replay gave the node's original response");
        } else {
            println!("DIFFERS: the node answered {}", record.response);
        }
    }
    if !matched {
        std::process::exit(1);
    }
    Ok(())
}
