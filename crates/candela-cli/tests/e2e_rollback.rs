//! End to end: a node whose database is restored from an old copy (a backup
//! or a VM snapshot) never signs again from a presignature it used after
//! the copy was made.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::*;
use candela_api::v7::{PkpSignRequest, PkpSignResponse};
use candela_api::REQUEST_ID_HEADER;
use candela_client::RequestAuth;
use candela_crypto::derive;
use candela_node::store::Store;

const DB_FILES: [&str; 3] = ["node.sqlite", "node.sqlite-wal", "node.sqlite-shm"];

/// Copy node `i`'s database files (the node is stopped) into `to`.
fn copy_db(net: &TestNet, i: usize, to: &Path) {
    let from = net.path().join(format!("node-{i}"));
    for f in DB_FILES {
        let _ = std::fs::remove_file(to.join(f));
        if from.join(f).exists() {
            std::fs::copy(from.join(f), to.join(f)).expect("copy database file");
        }
    }
}

/// Put the copy in `from` back as node `i`'s database (the node is stopped).
fn restore_db(net: &TestNet, i: usize, from: &Path) {
    let to = net.path().join(format!("node-{i}"));
    for f in DB_FILES {
        let _ = std::fs::remove_file(to.join(f));
        if from.join(f).exists() {
            std::fs::copy(from.join(f), to.join(f)).expect("restore database file");
        }
    }
}

fn storage_key(net: &TestNet, i: usize) -> Vec<u8> {
    hex::decode(
        std::fs::read_to_string(net.path().join(format!("node-{i}/storage.key")))
            .expect("storage key")
            .trim(),
    )
    .expect("hex")
}

/// The presignatures node `i`'s database holds as not used.
fn unused_presignatures(net: &TestNet, i: usize) -> Vec<String> {
    let store = Store::open(
        &net.path().join(format!("node-{i}/node.sqlite")),
        &storage_key(net, i),
    )
    .expect("store");
    store
        .unused_presignatures(0, 100_000)
        .expect("list")
        .into_iter()
        .map(|(_, id)| id)
        .collect()
}

/// One signing request sent to every node with the same request id: the
/// request id, each node's answer and each refusal (retrying with a new
/// request id while the refusals are all 503 `NodeSyncing` or pool empty).
async fn sign_everywhere(
    client: &candela_client::Client,
    auth: &RequestAuth,
    pk: &candela_crypto::AffinePoint,
    digest: [u8; 32],
) -> (String, BTreeMap<u32, PkpSignResponse>, Vec<String>) {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let rid = candela_client::new_request_id();
        let mut answers = BTreeMap::new();
        let mut waiting = Vec::new();
        for n in &client.network().nodes {
            let body = PkpSignRequest {
                to_sign: digest.to_vec(),
                pubkey: derive::public_key_hex(pk),
                auth_sig: auth.for_node(&n.url),
                auth_methods: None,
                epoch: 1,
                signing_scheme: None,
            };
            let r = http
                .post(format!("{}/web/pkp/sign/v1", n.url))
                .header(REQUEST_ID_HEADER, &rid)
                .json(&body)
                .timeout(Duration::from_secs(30))
                .send()
                .await
                .expect("send");
            let status = r.status();
            let text = r.text().await.unwrap_or_default();
            if status.is_success() {
                answers.insert(n.index, serde_json::from_str(&text).expect("answer"));
            } else {
                waiting.push(format!("node {}: {status} {text}", n.index));
            }
        }
        let retry = |w: &String| {
            w.contains("NodeSyncing") || w.contains("PoolEmpty") || w.contains("NodeNoCoordinator")
        };
        if waiting.is_empty() || !waiting.iter().all(retry) {
            return (rid, answers, waiting);
        }
        assert!(Instant::now() < deadline, "still refused: {waiting:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_restored_from_an_old_database_copy_never_reuses_a_presignature() {
    let mut net = TestNet::start(3, &[]);
    let client = net.client();
    net.wait_pool(4).await;
    let the_owner = owner();
    let rec = registry(&client)
        .mint(&the_owner, client.root_public_key())
        .expect("mint");
    let auth = RequestAuth::Session(client.session(&the_owner));

    // the snapshot: node 0 stopped hard, its database files copied as they are
    let snapshot = tempfile::tempdir().expect("tempdir");
    net.crash_node(0);
    copy_db(&net, 0, snapshot.path());
    net.restart_node(0);
    net.wait_live(3).await;

    // a signature after the snapshot uses presignature P
    let d1 = random_digest();
    let (rid1, first, refused) = sign_everywhere(&client, &auth, &rec.public_key, d1).await;
    assert!(refused.is_empty(), "{refused:?}");
    let used = first[&0].candela.presignature_id.clone();
    assert!(
        !first[&0].signature_share.signature_share.is_empty(),
        "node 0 signed"
    );
    client
        .verify_and_combine(&rid1, &first, &rec.public_key, d1)
        .expect("first signature")
        .signature
        .verify(&rec.public_key, &d1)
        .expect("verifies");

    // roll node 0 back to the snapshot and start it again
    net.crash_node(0);
    restore_db(&net, 0, snapshot.path());
    assert!(
        unused_presignatures(&net, 0).contains(&used),
        "precondition: the restored database holds {used} as unused"
    );
    net.restart_node(0);
    net.wait_live(3).await;

    // the next signature: node 0, the coordinator (lowest index), would
    // hand out its oldest free presignature, P, again
    let d2 = random_digest();
    let (rid2, second, refused) = sign_everywhere(&client, &auth, &rec.public_key, d2).await;
    for (i, a) in &second {
        assert_ne!(
            a.candela.presignature_id, used,
            "node {i} answered from the presignature used before the rollback \
             (the other nodes refused: {refused:?})"
        );
    }
    assert!(refused.is_empty(), "{refused:?}");
    client
        .verify_and_combine(&rid2, &second, &rec.public_key, d2)
        .expect("signing works after the rollback")
        .signature
        .verify(&rec.public_key, &d2)
        .expect("verifies");
    assert!(
        !unused_presignatures(&net, 0).contains(&used),
        "node 0 holds {used} as used again"
    );
    // and it keeps signing
    let d3 = random_digest();
    client
        .pkp_sign(&the_owner, &rec.public_key, d3)
        .await
        .expect("third signature")
        .signature
        .verify(&rec.public_key, &d3)
        .expect("verifies");
}

/// Remove every presignature row from node `i`'s database (the node is
/// stopped), as if its generation sessions had never stored: the node
/// stopped after the others stored a batch and before it did.
fn forget_presignatures(net: &TestNet, i: usize) -> usize {
    let conn = rusqlite::Connection::open(net.path().join(format!("node-{i}/node.sqlite")))
        .expect("open node database");
    conn.execute("DELETE FROM presignatures", [])
        .expect("delete presignatures")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presignatures_a_signer_never_stored_are_discarded_at_start_and_every_request_signs() {
    let mut net = TestNet::start(3, &[]);
    let client = net.client();
    net.wait_pool(4).await;
    let the_owner = owner();
    let rec = registry(&client)
        .mint(&the_owner, client.root_public_key())
        .expect("mint");
    let auth = RequestAuth::Session(client.session(&the_owner));

    // node 0 (the coordinator) holds presignatures that node 1 lost
    net.crash_node(0);
    net.crash_node(1);
    let held = unused_presignatures(&net, 0);
    assert!(!held.is_empty(), "precondition: node 0 holds presignatures");
    assert!(
        forget_presignatures(&net, 1) > 0,
        "precondition: node 1 held some"
    );
    net.restart_node(1);
    net.restart_node(0);
    net.wait_live(3).await;

    // every request signs at the first attempt: none is assigned a
    // presignature node 1 does not hold (with n = 3 every node signs)
    for round in 0..held.len() + 2 {
        let d = random_digest();
        let (rid, answers, refused) = sign_everywhere(&client, &auth, &rec.public_key, d).await;
        assert!(refused.is_empty(), "request {round}: {refused:?}");
        for a in answers.values() {
            assert!(
                !held.contains(&a.candela.presignature_id),
                "request {round} used {} which node 1 never held",
                a.candela.presignature_id
            );
        }
        client
            .verify_and_combine(&rid, &answers, &rec.public_key, d)
            .expect("signature")
            .signature
            .verify(&rec.public_key, &d)
            .expect("verifies");
    }
}
