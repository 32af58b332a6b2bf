//! End-to-end: epoch changes. `candela epoch advance` moves a running
//! network to another node set: a member joins (4 → 5 nodes, threshold 3 →
//! 4; created by `epoch init-node` as on an operator's machine), then the
//! last member leaves (5 → 4). Each time every key moves to
//! the new committee with its public key unchanged: PKPs minted before sign
//! under their old keys, a ciphertext of before decrypts, every share
//! changes, and the member that left erases its shares and stops. A member
//! down when the last one leaves restarts mid-change and takes part.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;
use candela_api::v7::NodeStatus;

/// Node `i`'s status once it is ready, its BLS public shares name a
/// committee of `size` and it reports registry epoch `epoch`.
async fn status_in_committee(net: &TestNet, i: usize, size: usize, epoch: u64) -> NodeStatus {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let client = net.client();
        if let Some(Some(s)) = client.statuses().await.into_iter().nth(i) {
            if s.ready
                && s.ed25519_public_key.is_some()
                && s.bls_public_shares.len() == size
                && s.network_epoch == epoch
            {
                return s;
            }
        }
        if Instant::now() > deadline {
            net.dump_logs(size + 1);
            panic!("node {i} not in a committee of {size} at epoch {epoch} in time");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The `epoch` of node `i`'s handshake (what Lit's SDK reads).
async fn handshake_epoch(net: &TestNet, i: usize) -> u64 {
    let url = format!("{}/web/handshake", net.client().network().nodes[i].url);
    let body: serde_json::Value = reqwest::Client::new()
        .post(url)
        .json(&serde_json::json!({"clientPublicKey": "test", "challenge": "00"}))
        .send()
        .await
        .expect("handshake")
        .json()
        .await
        .expect("handshake json");
    body["epoch"].as_u64().expect("epoch")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_move_to_a_grown_and_then_a_shrunk_node_set_and_keep_their_public_keys() {
    let mut net = TestNet::start(4, &[]);
    let client = net.client();
    wait_schnorr(&client).await;
    let kept = KeptKeys::make(&client, b"kept across epochs");
    // the SQLite registry's first node set is epoch 1
    let before = status_in_committee(&net, 0, 4, 1).await;
    assert_eq!(handshake_epoch(&net, 0).await, 1);

    // a fifth member joins the way an operator's machine would: it creates
    // its identity and config itself, the administrator adds its public
    // facts; threshold 4 of 5
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let init = Command::new(BIN)
        .args(["epoch", "init-node", "--url"])
        .arg(format!("http://127.0.0.1:{port}"))
        .arg("--dir")
        .arg(net.path().join("node-4"))
        .arg("--network")
        .arg(net.network_path())
        .output()
        .expect("epoch init-node");
    assert!(
        init.status.success(),
        "init-node failed: {}",
        String::from_utf8_lossy(&init.stderr)
    );
    let member_file = net.path().join("member-4.json");
    std::fs::write(&member_file, &init.stdout).expect("member file");
    let grown = net.cli_json(&[
        "epoch",
        "advance",
        "--member",
        member_file.to_str().expect("path"),
    ]);
    assert_eq!(
        (grown["size"].as_u64(), grown["threshold"].as_u64()),
        (Some(5), Some(4))
    );
    net.restart_node(4);
    let joined = status_in_committee(&net, 4, 5, 2).await;
    for i in 0..4 {
        let s = status_in_committee(&net, i, 5, 2).await;
        assert_eq!(s.bls_public_shares, joined.bls_public_shares);
    }
    assert_eq!(joined.root_public_key, before.root_public_key);
    assert_eq!(joined.bls_public_key, before.bls_public_key);
    assert_eq!(joined.ed25519_public_key, before.ed25519_public_key);
    assert_eq!(
        joined.k256_taproot_public_key,
        before.k256_taproot_public_key
    );
    for (i, share) in &before.bls_public_shares {
        assert_ne!(
            joined.bls_public_shares.get(i),
            Some(share),
            "node {i}'s share must change"
        );
    }

    // with node 0 down, four of the five are needed: the new member too
    net.crash_node(0);
    let client = net.client();
    assert_eq!(client.network().threshold, 4);
    kept.still_work(&net, &client, "after a join").await;
    assert_eq!(handshake_epoch(&net, 4).await, 2);

    // the last member leaves (threshold 3 of 4) while node 0 is down; it
    // restarts during the change, when the registry no longer lists the
    // leaving member: it runs with the committee it remembers, and the
    // keys move. The member that left erases its shares and stops.
    let leaving_pid = net.node_pid(4);
    let shrunk = net.cli_json(&["epoch", "advance", "--remove", "1"]);
    assert_eq!(
        (shrunk["size"].as_u64(), shrunk["threshold"].as_u64()),
        (Some(4), Some(3))
    );
    net.restart_node(0);
    let after = status_in_committee(&net, 0, 4, 3).await;
    assert_eq!(handshake_epoch(&net, 1).await, 3);
    assert_eq!(after.root_public_key, before.root_public_key);
    assert_eq!(after.bls_public_key, before.bls_public_key);
    let deadline = Instant::now() + Duration::from_secs(120);
    // (the test's own child: once it exits it is a zombie until reaped)
    let running = |pid: i32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|st| !st.contains(") Z "))
            .unwrap_or(false)
    };
    while running(leaving_pid) {
        assert!(Instant::now() < deadline, "the removed node did not stop");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let client = net.client();
    kept.still_work(&net, &client, "after a leave").await;
    net.stop();
}
