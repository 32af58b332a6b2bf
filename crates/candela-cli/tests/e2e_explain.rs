//! End-to-end: finding non-determinism over a real devnet with
//! `candela action run --explain`.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::common::*;
use serde_json::{json, Value};

/// A loopback server whose `/tick` answers a different number each time.
async fn start_counter_server() -> SocketAddr {
    use axum::routing::get;
    let counter = Arc::new(AtomicU64::new(100));
    let app = axum::Router::new().route(
        "/tick",
        get(move || {
            let c = counter.clone();
            async move { axum::Json(json!({"n": c.fetch_add(1, Ordering::SeqCst)})) }
        }),
    );
    serve_loopback(app).await
}

/// Run the CLI off the async runtime (the test's server keeps serving).
async fn cli(args: Vec<String>) -> (i32, String, String) {
    tokio::task::spawn_blocking(move || {
        let out = Command::new(BIN).args(&args).output().expect("run candela");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .expect("join")
}

fn run_args(network: &Path, file: &Path, params: Value, key: &str, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = vec![
        "action".into(),
        "run".into(),
        file.display().to_string(),
        "--params".into(),
        params.to_string(),
        "--network".into(),
        network.display().to_string(),
        "--private-key".into(),
        key.into(),
    ];
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

const TICK_ACTION: &str = r#"
const r = await fetch(url);
const { n } = await r.json();
console.log("fetched");
console.log("tick " + n);
Lit.Actions.setResponse({ response: JSON.stringify({ fixed: "same everywhere", tick: n }) });
"#;

const STEADY_ACTION: &str = r#"
console.log("hello");
Lit.Actions.setResponse({ response: JSON.stringify({ a: 1, b: [1, 2] }) });
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_names_the_differing_json_path_and_log_line_with_each_nodes_value() {
    let net = TestNet::start(3, &[]);
    let addr = start_counter_server().await;
    let key = hex::encode(owner().to_bytes());
    let file = net.path().join("tick.js");
    std::fs::write(&file, TICK_ACTION).expect("write");
    let params = json!({"url": format!("http://{addr}/tick")});

    // Human output: the differing path with every node's value.
    let (code, out, err) = cli(run_args(
        &net.network_path(),
        &file,
        params.clone(),
        &key,
        &["--explain"],
    ))
    .await;
    assert_eq!(code, 1, "differences exit 1: {out}\n{err}");
    assert!(err.contains("run id: "), "{err}");
    assert!(out.contains("differ in 2 places"), "{out}");
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with("response.tick: "))
        .unwrap_or_else(|| panic!("no response.tick line in {out}"));
    for node in ["node 0", "node 1", "node 2"] {
        assert!(line.contains(node), "{line}");
    }
    assert!(!out.contains("response.fixed"), "{out}");
    assert!(out.contains("logs[1]: tick "), "{out}");
    assert!(!out.contains("logs[0]"), "{out}");

    // JSON output: three distinct values, one node each, covering every node.
    let (code, out, _) = cli(run_args(
        &net.network_path(),
        &file,
        params,
        &key,
        &["--explain", "--json"],
    ))
    .await;
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&out).expect("json");
    assert!(v["error"].is_string(), "no agreement: {v}");
    assert_eq!(v["explain"]["allAgree"], false);
    let diffs = v["explain"]["differences"].as_array().expect("array");
    let tick = diffs
        .iter()
        .find(|d| d["path"] == "response.tick")
        .expect("response.tick");
    let groups = tick["values"].as_array().expect("values");
    assert_eq!(groups.len(), 3, "{tick}");
    let mut nodes: Vec<u64> = groups
        .iter()
        .flat_map(|g| g["nodes"].as_array().expect("nodes").clone())
        .filter_map(|n| n.as_u64())
        .collect();
    nodes.sort();
    assert_eq!(nodes, vec![0, 1, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_says_so_when_every_node_agrees() {
    let net = TestNet::start(3, &[]);
    let key = hex::encode(owner().to_bytes());
    let file = net.path().join("steady.js");
    std::fs::write(&file, STEADY_ACTION).expect("write");
    let (code, out, err) = cli(run_args(
        &net.network_path(),
        &file,
        json!({}),
        &key,
        &["--explain"],
    ))
    .await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("all 3 nodes (0,1,2) gave the same answer"),
        "{out}"
    );
    assert!(
        out.contains(r#"response (agreed): {"a":1,"b":[1,2]}"#),
        "{out}"
    );
}

const TIMED_FETCH_ACTION: &str = r#"
const started = Date.now();
const r = await fetch(url);
const { n } = await r.json();
console.log("tick " + n + " at " + new Date(started).toISOString());
Lit.Actions.setResponse({ response: JSON.stringify({ tick: n, started }) });
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_reruns_a_recorded_run_with_its_fetch_answers_and_clock_after_the_server_is_gone() {
    let net = TestNet::start(3, &[]);
    let key = hex::encode(owner().to_bytes());
    let file = net.path().join("timed.js");
    std::fs::write(&file, TIMED_FETCH_ACTION).expect("write");
    // A server this test starts and stops: its own runtime, dropped later.
    let server = std::thread::spawn(|| {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let addr = rt.block_on(start_counter_server());
        (rt, addr)
    })
    .join()
    .expect("server thread");
    let (server_rt, addr) = server;
    let params = json!({"url": format!("http://{addr}/tick")});
    let (_, out, err) = cli(run_args(
        &net.network_path(),
        &file,
        params,
        &key,
        // recording is opt-in per request
        &["--explain", "--json", "--record"],
    ))
    .await;
    let run_id = err
        .lines()
        .find_map(|l| l.strip_prefix("run id: "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no run id in {err}"))
        .to_string();
    let v: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["requestId"], run_id.as_str());
    // Stop the server: the replay must not need it.
    server_rt.shutdown_background();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;

    for node in ["0", "2"] {
        let (code, out, err) = cli(vec![
            "action".into(),
            "replay".into(),
            run_id.clone(),
            "--network".into(),
            net.network_path().display().to_string(),
            "--node".into(),
            node.into(),
            "--private-key".into(),
            key.clone(),
            "--json".into(),
        ])
        .await;
        assert_eq!(code, 0, "replay matched: {out}\n{err}");
        let r: Value = serde_json::from_str(&out).expect("replay json");
        assert_eq!(r["matched"], true, "{r}");
        assert_eq!(r["response"], r["recordedResponse"]);
        assert_eq!(r["divergences"], json!([]));
        let resp: Value =
            serde_json::from_str(r["response"].as_str().expect("response")).expect("json");
        assert!(resp["tick"].as_u64().is_some_and(|n| n >= 100), "{resp}");
        assert_eq!(resp["started"].as_f64(), r["startedAtMs"].as_f64());
        assert!(r["logs"].as_str().is_some_and(|l| l.starts_with("tick ")));
    }

    // Another wallet cannot read the record.
    let stranger = hex::encode(owner().to_bytes());
    let (code, _, err) = cli(vec![
        "action".into(),
        "replay".into(),
        run_id.clone(),
        "--network".into(),
        net.network_path().display().to_string(),
        "--private-key".into(),
        stranger,
    ])
    .await;
    assert_ne!(code, 0);
    assert!(err.contains("NodeRunNotYours"), "{err}");
    // An unknown run id is a clear 404.
    let (code, _, err) = cli(vec![
        "action".into(),
        "replay".into(),
        "no-such-run".into(),
        "--network".into(),
        net.network_path().display().to_string(),
        "--private-key".into(),
        key,
    ])
    .await;
    assert_ne!(code, 0);
    assert!(err.contains("NodeRunNotFound"), "{err}");
}
