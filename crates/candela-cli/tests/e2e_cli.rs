//! End-to-end: the CLI's conventions on a real devnet — the default
//! network, `--params @file`, text by default and `--json` on request, one
//! error line on stderr, and a failed action that explains itself.

use std::process::{Command, Output};

use crate::common::*;
use serde_json::Value;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs `candela` in `dir` with no `--network` and no `CANDELA_NETWORK`.
fn candela_in(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("CANDELA_NETWORK")
        .output()
        .expect("run candela")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_action_names_its_file_line_and_console_output_once_for_all_nodes() {
    let net = TestNet::start(3, &[]);
    // `devnet/network.json` under the working directory is the default
    // network, as `candela devnet` writes it
    let work = tempfile::tempdir().expect("tempdir");
    std::os::unix::fs::symlink(net.path(), work.path().join("devnet")).expect("symlink");
    let action = work.path().join("boom.js");
    std::fs::write(
        &action,
        "console.log(\"reading\", who);\nconst n = 40 + 2;\nthrow new Error(\"boom \" + n);\n",
    )
    .expect("write");
    std::fs::write(work.path().join("params.json"), r#"{"who": "alice"}"#).expect("params");
    let key = hex::encode(owner().to_bytes());

    let out = candela_in(
        work.path(),
        &[
            "action",
            "run",
            "boom.js",
            "--params",
            "@params.json",
            "--private-key",
            &key,
        ],
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(!out.status.success(), "{stdout}");
    // one line per distinct error, with every node that gave it
    assert!(
        stdout.contains("nodes 0–2: ") && stdout.contains("Error: boom 42"),
        "{stdout}"
    );
    assert_eq!(stdout.matches("boom 42").count(), 1, "{stdout}");
    assert!(stdout.contains("boom.js:3:"), "file and line: {stdout}");
    assert!(stdout.contains("(line 3, column"), "{stdout}");
    // what the action printed before it failed, with the jsParam from the file
    assert!(stdout.contains("reading alice"), "{stdout}");
    // the error is one line on stderr (after the run id line), no backtrace
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(!stderr.contains("Stack backtrace"), "{stderr}");

    // a run that works: readable text by default, JSON with --json
    std::fs::write(
        &action,
        "Lit.Actions.setResponse({response: JSON.stringify({hello: who})});",
    )
    .expect("write");
    let run = |json: bool| {
        let mut args = vec![
            "action",
            "run",
            "boom.js",
            "--params",
            r#"{"who":"bob"}"#,
            "--private-key",
            &key,
        ];
        if json {
            args.push("--json");
        }
        candela_in(work.path(), &args)
    };
    let out = run(false);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("response: {"), "{stdout}");
    assert!(stdout.contains("node 2: response agreed"), "{stdout}");
    let out = run(true);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON only");
    assert_eq!(v["response"]["hello"], "bob", "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_prints_a_table_and_fails_when_the_network_cannot_sign() {
    let net = TestNet::start(3, &[]);
    let network = net.network_path().display().to_string();
    let status = |json: bool| {
        let mut cmd = Command::new(BIN);
        cmd.arg("status").env("CANDELA_NETWORK", &network);
        if json {
            cmd.arg("--json");
        }
        cmd.output().expect("run candela")
    };
    let out = status(false);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("3 of 3 nodes ready"), "{stdout}");
    assert!(stdout.lines().count() <= 6, "a table, not a dump: {stdout}");
    let v: Value = serde_json::from_slice(&status(true).stdout).expect("json");
    assert_eq!(v.as_array().map(Vec::len), Some(3));

    // two of three down: below the threshold, the exit code says so
    net.crash_node(1);
    net.crash_node(2);
    let out = status(false);
    let stdout = text(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(stdout.contains("unreachable"), "{stdout}");
    assert!(
        text(&out.stderr).contains("the network cannot sign: 1 of 3 nodes ready"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn without_a_devnet_here_a_command_says_how_to_get_one() {
    let empty = tempfile::tempdir().expect("tempdir");
    let out = candela_in(empty.path(), &["status"]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("candela devnet"), "{stderr}");
}

#[test]
fn key_new_prints_a_fresh_key_and_its_address() {
    let out = Command::new(BIN)
        .args(["key", "new", "--json"])
        .output()
        .expect("run candela");
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let key = v["privateKey"].as_str().expect("key");
    let bytes = hex::decode(key.trim_start_matches("0x")).expect("hex");
    let sk = k256::ecdsa::SigningKey::from_slice(&bytes).expect("a valid key");
    let addr = candela_crypto::derive::eth_address(sk.verifying_key().as_affine());
    assert_eq!(
        v["address"],
        candela_crypto::derive::checksum_address(&addr).as_str()
    );
}

#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    // `candela key new | true`: the reader is gone before candela writes;
    // a Unix tool ends quietly, it does not panic about a broken pipe
    let script = format!("for i in 1 2 3 4 5; do '{BIN}' key new | true; done");
    let out = Command::new("sh")
        .args(["-c", &script])
        .output()
        .expect("sh");
    let stderr = text(&out.stderr);
    assert!(
        !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
        "{stderr}"
    );
}

#[test]
fn a_devnet_whose_port_is_busy_refuses_to_start_and_names_the_port() {
    // something already listens where node 0 would
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = busy.local_addr().expect("addr").port().to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(BIN)
        .args([
            "devnet",
            "--nodes",
            "3",
            "--quiet",
            "--base-port",
            &port,
            "--dir",
        ])
        .arg(dir.path().join("net"))
        .output()
        .expect("run candela");
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("127.0.0.1:{port} is busy")),
        "{stderr}"
    );
}
