//! End-to-end: repair. A node that lost its key store (its disk, not its
//! identity) gets new shares of the same root keys from the others, with
//! no key reconstructed anywhere; afterwards it is needed to sign and to
//! decrypt, and it does both under the keys of before.

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_lost_its_store_gets_new_shares_of_the_same_keys_and_is_needed_to_sign_after() {
    // 4 nodes, threshold 3
    let mut net = TestNet::start(4, &[]);
    let client = net.client();
    wait_schnorr(&client).await;
    let kept = KeptKeys::make(&client, b"kept through a lost disk");
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
    kept.still_work(&net, &client, "after a repair").await;
    net.stop();
}
