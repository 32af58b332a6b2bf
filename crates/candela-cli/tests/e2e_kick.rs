//! End-to-end: kick votes. On a 5-node devnet whose nodes vote to kick a
//! member they have not heard from for 4 s, member 2's machine goes dark.
//! The four others each record a vote in the registry; the fourth (the
//! threshold) kicks it: a new epoch whose committee is {0, 1, 3, 4} with
//! threshold 3, member 2 keeping its index, empty. The keys move to the
//! four without it: public keys unchanged, every share changed, and the
//! PKPs and ciphertext of before still work for a client that follows the
//! registry. Member 2 coming back finds itself kicked, erases its shares
//! and stops; a new machine then takes its place (`epoch replace`) and the
//! committee grows back to five, the new machine with a share. The same
//! votes on an EVM registry go to `Staking` from the node wallets.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;
use candela_api::v7::NodeStatus;

/// Node `index`'s status once its BLS public shares name exactly
/// `committee` and it reports registry epoch `epoch`.
async fn status_with_committee(
    net: &TestNet,
    index: u32,
    committee: &[u32],
    epoch: u64,
) -> NodeStatus {
    let deadline = Instant::now() + Duration::from_secs(240);
    let url = format!(
        "{}/web/status",
        net.client().network().nodes[index as usize].url
    );
    let http = reqwest::Client::new();
    loop {
        let status = match http.get(&url).send().await {
            Ok(r) => r.json::<NodeStatus>().await.ok(),
            Err(_) => None,
        };
        if let Some(s) = status {
            let holders: Vec<u32> = s.bls_public_shares.keys().copied().collect();
            if s.ready && holders == committee && s.network_epoch == epoch {
                return s;
            }
        }
        if Instant::now() > deadline {
            net.dump_logs(5);
            panic!("node {index} not in committee {committee:?} at epoch {epoch} in time");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn epoch_status(net: &TestNet) -> serde_json::Value {
    let out = Command::new(BIN)
        .args(["epoch", "status", "--network"])
        .arg(net.network_path())
        .output()
        .expect("epoch status");
    assert!(
        out.status.success(),
        "epoch status failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

/// A client of the committee the registry names now.
fn following_client(net: &TestNet) -> candela_client::Client {
    let mut client = net.client();
    client.follow_registry().expect("read the registry");
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_vote_out_a_silent_member_and_the_keys_move_to_the_others() {
    let mut net = TestNet::start(5, &["--kick-after", "4"]);
    let client = net.client();
    wait_schnorr(&client).await;
    let kept = KeptKeys::make(&client, b"kept across a kick");
    let before = status_with_committee(&net, 0, &[0, 1, 2, 3, 4], 1).await;

    // member 2's machine goes dark; its directory stays
    let kicked_pid = net.node_pid(2);
    net.crash_node(2);
    let others = [0, 1, 3, 4];
    let mut after = Vec::new();
    for i in others {
        after.push(status_with_committee(&net, i, &others, 2).await);
    }
    let status = epoch_status(&net);
    assert_eq!(status["epoch"], 2);
    assert_eq!(status["committee"], serde_json::json!(others));
    assert_eq!(status["kicked"], serde_json::json!([2]));
    assert_eq!(status["threshold"], 3);
    assert_eq!(status["members"], 5, "the kicked member keeps its index");
    let votes: Vec<(u64, u64)> = status["kickVotes"]
        .as_array()
        .expect("votes")
        .iter()
        .map(|v| (v["voter"].as_u64().unwrap(), v["target"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        votes,
        vec![(0, 2), (1, 2), (3, 2), (4, 2)],
        "each of the four others voted, in epoch 1"
    );
    for s in &after {
        assert_eq!(s.bls_public_shares, after[0].bls_public_shares);
        assert_eq!(s.root_public_key, before.root_public_key);
        assert_eq!(s.bls_public_key, before.bls_public_key);
        assert_eq!(s.ed25519_public_key, before.ed25519_public_key);
    }
    for (i, share) in &after[0].bls_public_shares {
        assert_ne!(
            before.bls_public_shares.get(i),
            Some(share),
            "node {i}'s share must change"
        );
    }

    // a client following the registry talks to the four, threshold 3
    // (no other node is taken down here: the nodes would vote it out too)
    let client = following_client(&net);
    assert_eq!(client.network().threshold, 3);
    let followed: Vec<u32> = client.network().nodes.iter().map(|n| n.index).collect();
    assert_eq!(followed, others);
    kept.still_work(&net, &client, "after the kick").await;

    // the kicked machine comes back: it is out of the committee, erases
    // its shares and stops
    net.restart_node(2);
    let back_pid = net.node_pid(2);
    assert_ne!(back_pid, kicked_pid);
    let running = |pid: i32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|st| !st.contains(") Z "))
            .unwrap_or(false)
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while running(back_pid) {
        if Instant::now() > deadline {
            net.dump_logs(5);
            panic!("the kicked node did not stop");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let log = std::fs::read_to_string(net.path().join("node-2/node.log")).unwrap_or_default();
    assert!(
        log.contains("shares are erased"),
        "the kicked node erased its shares"
    );

    // a new machine takes place 2: the committee grows back to five
    // (threshold 4) and the new machine is given a share that every member
    // agrees on
    std::fs::remove_dir_all(net.path().join("node-2")).expect("remove node-2");
    net.cli_json(&["epoch", "replace", "--node", "2"]);
    net.restart_node(2);
    let all = [0, 1, 2, 3, 4];
    let filled = status_with_committee(&net, 2, &all, 3).await;
    assert_eq!(filled.bls_public_key, before.bls_public_key);
    for i in all {
        let s = status_with_committee(&net, i, &all, 3).await;
        assert_eq!(s.bls_public_shares, filled.bls_public_shares);
    }
    let client = following_client(&net);
    assert_eq!(client.network().threshold, 4);
    kept.still_work(&net, &client, "after the kicked place was filled")
        .await;
    net.stop();
}

/// The same votes on an EVM registry: the node processes send them to
/// `Staking.kickValidatorInNextEpoch` from their wallets (which the devnet
/// funds on its anvil), and follow the member kicked out by `Staking`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_an_evm_registry_the_nodes_vote_through_staking_and_the_keys_move() {
    let net = TestNet::start(4, &["--chain", "anvil", "--kick-after", "4"]);
    let client = net.client();
    // anvil's funded account 1 pays for the mint
    let owner = candela_registry::anvil::dev_key(1);
    let pkp = tokio::task::block_in_place(|| {
        registry(&client)
            .mint(&owner, client.root_public_key())
            .expect("mint")
    });
    let epoch = epoch_status(&net)["epoch"].as_u64().expect("epoch");
    let before = status_with_committee(&net, 0, &[0, 1, 2, 3], epoch).await;

    net.crash_node(1);
    let others = [0, 2, 3];
    for i in others {
        let s = status_with_committee(&net, i, &others, epoch + 1).await;
        assert_eq!(s.bls_public_key, before.bls_public_key);
        assert_eq!(s.root_public_key, before.root_public_key);
    }
    let status = epoch_status(&net);
    assert_eq!(status["committee"], serde_json::json!(others));
    assert_eq!(status["kicked"], serde_json::json!([1]));
    assert_eq!(status["threshold"], 3);
    let votes: Vec<(u64, u64, u64)> = status["kickVotes"]
        .as_array()
        .expect("votes")
        .iter()
        .map(|v| {
            (
                v["epoch"].as_u64().unwrap(),
                v["voter"].as_u64().unwrap(),
                v["target"].as_u64().unwrap(),
            )
        })
        .collect();
    let mut voters: Vec<u64> = votes.iter().map(|v| v.1).collect();
    voters.sort_unstable();
    assert_eq!(
        voters,
        vec![0, 2, 3],
        "each of the three others voted on Staking"
    );
    assert!(votes.iter().all(|v| v.0 == epoch && v.2 == 1), "{votes:?}");

    // a client following Staking signs with the three, under the old key
    let mut client = net.client();
    tokio::task::block_in_place(|| client.follow_registry()).expect("follow Staking");
    assert_eq!(client.network().threshold, 3);
    net.wait_pool(1).await;
    let digest = random_digest();
    let signed = client
        .pkp_sign(&owner, &pkp.public_key, digest)
        .await
        .expect("sign after the kick");
    signed
        .signature
        .verify(&pkp.public_key, &digest)
        .expect("the PKP's key of before verifies");
}
