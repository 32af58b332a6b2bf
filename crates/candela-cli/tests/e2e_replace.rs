//! End-to-end: replacing a member. A node's machine is gone, disk and
//! identity too; `candela epoch replace` gives its index to a new machine
//! with a new identity, recorded in the registry. The running nodes follow
//! the registry, the new node is repaired by the others (new shares of the
//! same keys), and it is then needed to sign and decrypt under the keys of
//! before.
mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use candela_api::v7::NodeStatus;
use candela_client::RequestAuth;
use common::*;

/// Node `i`'s status, once it answers ready.
async fn ready_status(client: &candela_client::Client, i: usize) -> NodeStatus {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if let Some(Some(s)) = client.statuses().await.into_iter().nth(i) {
            if s.ready && s.bls_public_key.is_some() && s.ed25519_public_key.is_some() {
                return s;
            }
        }
        assert!(
            Instant::now() < deadline,
            "node {i} not ready again in time"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_whose_machine_is_gone_is_replaced_under_its_index_and_the_keys_stay() {
    // 4 nodes, threshold 3
    let mut net = TestNet::start(4, &[]);
    let client = net.client();
    wait_schnorr(&client).await;
    let owner = owner();
    let rec = registry(&client)
        .mint(&owner, client.root_public_key())
        .expect("mint");
    let ed_rec = mint_ed25519(&client, &owner);
    let conditions = owner_only_conditions(&owner);
    let secret = b"kept through a lost machine".to_vec();
    let enc = client.encrypt(&conditions, &secret).expect("encrypt");
    let before = ready_status(&client, 0).await;
    let old_identity = client.network().nodes[1].identity_key.clone();

    // node 1's machine is gone: its whole directory, identity included
    net.crash_node(1);
    let node_dir = net.path().join("node-1");
    std::fs::remove_dir_all(&node_dir).expect("remove node 1");

    // the administrator gives index 1 to a new machine
    let out = Command::new(BIN)
        .args(["epoch", "replace", "--node", "1", "--dir"])
        .arg(net.path())
        .output()
        .expect("epoch replace");
    assert!(
        out.status.success(),
        "epoch replace failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let replaced: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let new_identity = replaced["member"]["identityKey"]
        .as_str()
        .expect("identity key")
        .to_string();
    assert_ne!(new_identity, old_identity);
    // replacing again while the new identity is on disk is refused
    let again = Command::new(BIN)
        .args(["epoch", "replace", "--node", "1", "--dir"])
        .arg(net.path())
        .output()
        .expect("epoch replace");
    assert!(
        !again.status.success(),
        "a live identity must not be replaced"
    );

    // the registry and network.json name the new identity
    let client = net.client();
    assert_eq!(client.network().nodes[1].identity_key, new_identity);
    let set = registry(&client).node_set().expect("read").expect("set");
    assert_eq!(hex::encode(set.nodes[1].identity_key), new_identity);

    net.restart_node(1);
    let repaired = ready_status(&client, 1).await;
    assert_eq!(repaired.root_public_key, before.root_public_key);
    assert_eq!(repaired.bls_public_key, before.bls_public_key);
    assert_eq!(repaired.ed25519_public_key, before.ed25519_public_key);
    assert_eq!(
        repaired.k256_taproot_public_key,
        before.k256_taproot_public_key
    );
    // every share changed: the lost machine's shares, if someone holds
    // them, no longer combine with anything
    let after = ready_status(&client, 0).await;
    for (i, share) in &after.bls_public_shares {
        assert_ne!(
            before.bls_public_shares.get(i),
            Some(share),
            "node {i}'s share must change"
        );
    }
    assert_eq!(repaired.bls_public_shares, after.bls_public_shares);

    // with node 3 down, every use of a key needs the new node 1
    net.crash_node(3);
    net.wait_live(3).await;
    let auth = RequestAuth::Session(client.session(&owner));
    let plain = client.decrypt(&enc, &auth).await.expect("decrypts");
    assert_eq!(plain.plaintext, secret);
    assert!(
        plain.faulty_nodes.iter().all(|f| !f.misbehaved),
        "{:?}",
        plain.faulty_nodes
    );

    net.wait_pool(1).await;
    let digest = random_digest();
    let o = client
        .pkp_sign(&owner, &rec.public_key, digest)
        .await
        .expect("ECDSA with the new member");
    o.signature
        .verify(&rec.public_key, &digest)
        .expect("the PKP's key of before verifies");
    sign_ed25519_verified(
        &client,
        &auth,
        &ed_rec.public_key,
        b"signed after a replacement",
    )
    .await;
    net.stop();
}
