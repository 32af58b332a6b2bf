//! End-to-end: repair. A node that lost its key store (its disk, not its
//! identity) gets new shares of the same root keys from the others, with
//! no key reconstructed anywhere; afterwards it is needed to sign and to
//! decrypt, and it does both under the keys of before.
mod common;

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
async fn a_node_that_lost_its_store_gets_new_shares_of_the_same_keys_and_is_needed_to_sign_after() {
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
    let secret = b"kept through a lost disk".to_vec();
    let enc = client.encrypt(&conditions, &secret).expect("encrypt");
    let before = ready_status(&client, 0).await;

    // node 1 loses its store for good (its identity and storage key stay)
    net.crash_node(1);
    let dir = net.path().join("node-1");
    for f in ["node.sqlite", "node.sqlite-wal", "node.sqlite-shm"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    net.restart_node(1);
    let repaired = ready_status(&client, 1).await;
    assert_eq!(repaired.root_public_key, before.root_public_key);
    assert_eq!(repaired.bls_public_key, before.bls_public_key);
    assert_eq!(repaired.ed25519_public_key, before.ed25519_public_key);
    assert_eq!(
        repaired.k256_taproot_public_key,
        before.k256_taproot_public_key
    );
    // a repair is a reshare: every node's share changed, node 1's too
    let after = ready_status(&client, 0).await;
    assert_ne!(after.bls_public_shares, before.bls_public_shares);
    for (i, share) in &after.bls_public_shares {
        assert_ne!(
            before.bls_public_shares.get(i),
            Some(share),
            "node {i}'s share must change"
        );
    }
    assert_eq!(repaired.bls_public_shares, after.bls_public_shares);

    // with node 3 down, every use of a key needs node 1's new share
    net.crash_node(3);
    net.wait_live(3).await;
    let auth = RequestAuth::Session(client.session(&owner));
    let plain = client.decrypt(&enc, &auth).await.expect("decrypts");
    assert_eq!(plain.plaintext, secret);
    // node 3 is down; no node is named as misbehaving
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
        .expect("ECDSA with the repaired node");
    o.signature
        .verify(&rec.public_key, &digest)
        .expect("the PKP's key of before verifies");

    sign_ed25519_verified(&client, &auth, &ed_rec.public_key, b"signed after a repair").await;
    net.stop();
}
