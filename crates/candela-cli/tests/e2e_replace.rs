//! End-to-end: replacing a member. A node's machine is gone, disk and
//! identity too; `candela epoch replace` gives its index to a new machine
//! with a new identity, recorded in the registry. The running nodes follow
//! the registry, the new node is repaired by the others (new shares of the
//! same keys), and it is then needed to sign and decrypt under the keys of
//! before.

use crate::common::*;
use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_whose_machine_is_gone_is_replaced_under_its_index_and_the_keys_stay() {
    // 4 nodes, threshold 3
    let mut net = TestNet::start(4, &[]);
    let client = net.client();
    wait_schnorr(&client).await;
    let kept = KeptKeys::make(&client, b"kept through a lost machine");
    let before = ready_status(&client, 0).await;
    let old_identity = client.network().nodes[1].identity_key.clone();

    // node 1's machine is gone: its whole directory, identity included
    net.crash_node(1);
    let node_dir = net.path().join("node-1");
    std::fs::remove_dir_all(&node_dir).expect("remove node 1");

    // the administrator gives index 1 to a new machine
    let replaced = net.cli_json(&["epoch", "replace", "--node", "1"]);
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
    kept.still_work(&net, &client, "after a replacement").await;
    net.stop();
}
