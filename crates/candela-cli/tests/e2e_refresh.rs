//! End-to-end: scheduled proactive refresh (`candela devnet --refresh-every`).
//! Every node's share of every root key changes while the keys, and so the
//! PKPs, stay: a PKP signs (ECDSA and Ed25519) under the same public key
//! and data encrypted before the refresh decrypts after it, with the
//! client fetching the changed BLS public shares itself; a node restarted
//! after the refresh keeps its new share.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::common::*;
use candela_api::v7::NodeStatus;
use candela_client::{Client, RequestAuth};

/// Wait until every node has completed a refresh of every root after
/// `after`, with the same digest per root on every node.
async fn wait_refresh(client: &Client, after: u64) -> Vec<NodeStatus> {
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let st: Vec<NodeStatus> = client.statuses().await.into_iter().flatten().collect();
        let done = st.len() == client.network().nodes.len()
            && st
                .iter()
                .all(|s| s.refresh_epoch > after && s.refresh_digests.len() == 4);
        if done {
            let digests: BTreeSet<_> = st.iter().map(|s| s.refresh_digests.clone()).collect();
            let epochs: BTreeSet<_> = st.iter().map(|s| s.refresh_epoch).collect();
            if digests.len() == 1 && epochs.len() == 1 {
                return st;
            }
        }
        assert!(Instant::now() < deadline, "no refresh completed: {st:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_changes_every_share_and_keeps_every_key_so_pkps_sign_and_old_ciphertexts_decrypt(
) {
    let mut net = TestNet::start(3, &["--refresh-every", "20"]);
    let client = net.client();
    let owner = owner();
    let rec = registry(&client)
        .mint(&owner, client.root_public_key())
        .expect("mint");
    let ed_rec = mint_ed25519(&client, &owner);
    let conditions = owner_only_conditions(&owner);
    let secret = b"kept across refreshes".to_vec();
    let enc = client.encrypt(&conditions, &secret).expect("encrypt");
    let before: Vec<NodeStatus> = client.statuses().await.into_iter().flatten().collect();
    let epoch_before = before.iter().map(|s| s.refresh_epoch).max().unwrap_or(0);

    let after = wait_refresh(&client, epoch_before).await;
    // the public shares changed, the key did not
    assert_eq!(
        after[0].bls_public_key, before[0].bls_public_key,
        "the BLS key stays"
    );
    assert_eq!(after[0].ed25519_public_key, before[0].ed25519_public_key);
    assert_eq!(after[0].root_public_key, before[0].root_public_key);
    assert_ne!(
        after[0].bls_public_shares, before[0].bls_public_shares,
        "every public share changes in a refresh"
    );

    // the client still holds the public shares of before: it must notice
    // and fetch them again, not blame the nodes
    let plain = client
        .decrypt(&enc, &RequestAuth::Session(client.session(&owner)))
        .await
        .expect("decrypts after the refresh");
    assert_eq!(plain.plaintext, secret);
    assert!(plain.faulty_nodes.is_empty(), "{:?}", plain.faulty_nodes);

    net.wait_pool(1).await;
    let digest = random_digest();
    let o = client
        .pkp_sign(&owner, &rec.public_key, digest)
        .await
        .expect("ECDSA after the refresh");
    o.signature
        .verify(&rec.public_key, &digest)
        .expect("the same PKP key verifies");

    let auth = RequestAuth::Session(client.session(&owner));
    sign_ed25519_verified(
        &client,
        &auth,
        &ed_rec.public_key,
        b"signed after a refresh",
    )
    .await;

    // a restarted node loads its refreshed share, not the old one
    net.restart_node(1);
    net.wait_live(3).await;
    let plain = client
        .decrypt(&enc, &RequestAuth::Session(client.session(&owner)))
        .await
        .expect("decrypts after a restart");
    assert!(plain.faulty_nodes.is_empty(), "{:?}", plain.faulty_nodes);
}
