//! End-to-end: `candela bench chaos`, the short form. The real binary
//! starts its own 7-node devnet (t = 5) and signs steadily while two nodes
//! are crashed (SIGKILL) and restarted, one is paused (SIGSTOP) past the
//! client's timeout and resumed, and one runs with slow links.

use std::process::Command;

use crate::common::BIN;

#[test]
fn under_crashes_pauses_and_slow_links_no_request_is_lost_no_r_repeats_and_restarted_nodes_serve() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(BIN)
        .args([
            "bench",
            "chaos",
            "--nodes",
            "7",
            "--duration-secs",
            "40",
            "--concurrency",
            "2",
            "--rate",
            "0.5",
            "--dir",
        ])
        .arg(dir.path().join("net"))
        .output()
        .expect("run candela bench chaos");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "chaos failed:\n{stdout}\n{stderr}");
    // the summary line, then the JSON
    let (line, json) = stdout.split_once('\n').expect("two parts");
    let field = |name: &str| -> usize {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} in {line:?}"))
    };
    assert!(line.starts_with("chaos: "), "{line}");
    let (sent, succeeded, failed, lost) = (
        field("sent"),
        field("succeeded"),
        field("failed"),
        field("lost"),
    );
    assert_eq!(lost, 0, "{stdout}");
    assert_eq!(sent, succeeded + failed, "every request ended: {stdout}");
    assert!(succeeded > 0, "{stdout}");
    let summary: serde_json::Value = serde_json::from_str(json).expect("summary JSON");
    assert_eq!(summary["distinctR"], succeeded, "{summary}");
    assert_eq!(summary["threshold"], 5);
    let rejoins = summary["rejoins"].as_array().expect("rejoins");
    let restarted: Vec<u64> = rejoins.iter().filter_map(|r| r["node"].as_u64()).collect();
    for node in [1, 2, 4] {
        assert!(restarted.contains(&node), "{summary}");
    }
    for r in rejoins {
        assert_eq!(r["sameRootKey"], true, "{r}");
        assert_eq!(r["signedAfterRejoin"], true, "{r}");
    }
    let phases = summary["phases"].as_array().expect("phases");
    assert_eq!(phases.len(), 7);
    // the devnet is gone: no node of this run is left running
    for i in 0..7 {
        let pid: i32 = std::fs::read_to_string(dir.path().join(format!("net/node-{i}/pid")))
            .expect("pid")
            .trim()
            .parse()
            .expect("pid");
        assert!(!crate::common::alive(pid), "node {i} still runs");
    }
}
