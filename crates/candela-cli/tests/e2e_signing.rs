//! End-to-end: real node processes on loopback, driven through the CLI and
//! the client crate.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::Duration;

use crate::common::*;
use candela_api::auth::AuthSig;
use candela_api::v7::PkpSignResponse;
use candela_client::{new_request_id, ClientError};
use candela_crypto::derive;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_mint_and_sign_give_a_signature_that_recovers_to_the_pkp_and_restart_keeps_the_key() {
    let mut net = TestNet::start(3, &[]);
    let owner = owner();
    let minted = mint_cli(&net, &owner);
    let pk_hex = minted["publicKey"].as_str().expect("publicKey").to_string();
    assert!(pk_hex.starts_with("0x04") && pk_hex.len() == 132);
    let pk = derive::parse_public_key(&pk_hex).expect("pk");
    assert_eq!(
        minted["tokenId"].as_str().expect("tokenId"),
        format!("0x{}", hex::encode(derive::token_id(&pk)))
    );
    let digest = random_digest();
    let out = Command::new(BIN)
        .args(["pkp", "sign", "--network"])
        .arg(net.network_path())
        .args([
            "--private-key",
            &hex::encode(owner.to_bytes()),
            "--pkp",
            &pk_hex,
            "--hash",
            &format!("0x{}", hex::encode(digest)),
        ])
        .output()
        .expect("sign");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sig: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    // Independent check: ecrecover semantics with plain k256.
    let bytes = hex::decode(
        sig["signature"]
            .as_str()
            .expect("sig")
            .trim_start_matches("0x"),
    )
    .expect("hex");
    assert_eq!(bytes.len(), 65);
    let s = k256::ecdsa::Signature::from_slice(&bytes[..64]).expect("sig");
    let recid = k256::ecdsa::RecoveryId::from_byte(bytes[64] - 27).expect("v");
    let vk = k256::ecdsa::VerifyingKey::recover_from_prehash(&digest, &s, recid).expect("recover");
    assert_eq!(
        derive::checksum_address(&derive::eth_address(vk.as_affine())),
        minted["ethAddress"].as_str().expect("addr")
    );
    assert_eq!(sig["ethAddress"], minted["ethAddress"]);

    // Restart on the same directory: same root key, the PKP still signs.
    let root_before = net.client().network().root_public_key.clone();
    let bls_before = net.client().network().bls_public_key.clone();
    assert_eq!(
        bls_before.as_ref().map(String::len),
        Some(96),
        "the BLS root key is generated too: 48-byte compressed G1"
    );
    net.stop();
    for i in 0..3 {
        assert!(
            !alive(net.node_pid(i)),
            "node {i} still running after devnet stop"
        );
    }
    net.launch();
    let client = net.client();
    assert_eq!(
        client.network().root_public_key,
        root_before,
        "restart must reuse the stored key shares"
    );
    assert_eq!(
        client.network().bls_public_key,
        bls_before,
        "and the stored BLS share"
    );
    let logs: String = (0..3)
        .map(|i| {
            std::fs::read_to_string(net.path().join(format!("node-{i}/node.log")))
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(
        logs.matches("BLS root key generated").count(),
        3,
        "exactly one BLS key generation per node across both runs"
    );
    assert_eq!(
        logs.matches("root key generated").count(),
        6,
        "exactly one ECDSA and one BLS key generation per node across both runs"
    );
    let o = client
        .pkp_sign(&owner, &pk, digest)
        .await
        .expect("sign after restart");
    o.signature.verify(&pk, &digest).expect("verifies");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_nodes_sign_with_one_stopped_and_name_the_missing_nodes_with_two_stopped() {
    let net = TestNet::start(5, &[]);
    let client = net.client();
    let owner = owner();
    let (rec, _) = mint(&client, &owner);
    net.crash_node(4);
    net.wait_live(4).await;
    let d = random_digest();
    let o = client
        .pkp_sign(&owner, &rec.public_key, d)
        .await
        .expect("one node down: still signs");
    o.signature.verify(&rec.public_key, &d).expect("verifies");
    assert!(
        o.faults.iter().any(|f| f.node == 4),
        "the stopped node is reported: {:?}",
        o.faults
    );
    net.crash_node(3);
    net.wait_live(3).await;
    let err = client
        .pkp_sign(&owner, &rec.public_key, random_digest())
        .await
        .expect_err("two down: below threshold");
    let msg = err.to_string();
    match &err {
        ClientError::NotEnoughShares { faults, needed, .. } => {
            assert_eq!(*needed, 4);
            let unreachable: BTreeSet<u32> = faults
                .iter()
                .filter(|f| f.reason.contains("unreachable"))
                .map(|f| f.node)
                .collect();
            assert_eq!(unreachable, BTreeSet::from([3, 4]), "{msg}");
        }
        other => panic!("unexpected error {other}"),
    }
    assert!(msg.contains("node 3") && msg.contains("node 4"), "{msg}");
}

fn mint(
    client: &candela_client::Client,
    owner: &k256::ecdsa::SigningKey,
) -> (candela_registry::PkpRecord, ()) {
    let reg = crate::common::registry(client);
    let rec = reg.mint(owner, client.root_public_key()).expect("mint");
    (rec, ())
}

async fn raw_sign(
    net: &TestNet,
    rid: &str,
    auth: &AuthSig,
    pkp: &str,
    to_sign: &[u8],
) -> BTreeMap<u32, (u16, serde_json::Value)> {
    let http = reqwest::Client::new();
    let mut out = BTreeMap::new();
    for n in &net.client().network().nodes {
        let r = http
            .post(format!("{}/web/pkp/sign/v1", n.url))
            .header("X-Request-Id", rid)
            .json(
                &serde_json::json!({"toSign": to_sign, "pubkey": pkp, "authSig": auth, "epoch": 1}),
            )
            .send()
            .await
            .expect("send");
        let status = r.status().as_u16();
        out.insert(
            n.index,
            (status, r.json().await.unwrap_or(serde_json::Value::Null)),
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_request_id_is_refused_by_every_node_and_uses_no_presignature() {
    let net = TestNet::start(3, &[]);
    let client = net.client();
    let owner = owner();
    let (rec, _) = mint(&client, &owner);
    let pk = derive::public_key_hex(&rec.public_key);
    let auth = client.wallet_auth(&owner, 600);
    let rid = new_request_id();
    let d = random_digest();
    let first = raw_sign(&net, &rid, &auth, &pk, &d).await;
    assert!(first.values().all(|(s, _)| *s == 200), "{first:?}");
    let used_before: u64 = client
        .statuses()
        .await
        .iter()
        .flatten()
        .map(|s| s.presignatures_used)
        .sum();
    let again = raw_sign(&net, &rid, &auth, &pk, &d).await;
    for (i, (status, body)) in &again {
        assert_eq!(*status, 409, "node {i}: {body}");
        assert_eq!(body["errorCode"], "NodeRequestReplayed");
        assert_eq!(body["correlationId"], rid.as_str());
    }
    let used_after: u64 = client
        .statuses()
        .await
        .iter()
        .flatten()
        .map(|s| s.presignatures_used)
        .sum();
    assert_eq!(
        used_before, used_after,
        "a replay must not consume a presignature"
    );
    // the first answers combine into a valid signature
    let answers: BTreeMap<u32, PkpSignResponse> = first
        .into_iter()
        .map(|(i, (_, v))| (i, serde_json::from_value(v).expect("shape")))
        .collect();
    client
        .verify_and_combine(&rid, &answers, &rec.public_key, d)
        .expect("combine");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_share_is_named_and_left_out() {
    let net = TestNet::start(5, &[]);
    let client = net.client();
    let owner = owner();
    let (rec, _) = mint(&client, &owner);
    let pk = derive::public_key_hex(&rec.public_key);
    let auth = client.wallet_auth(&owner, 600);
    let rid = new_request_id();
    let d = random_digest();
    let raw = raw_sign(&net, &rid, &auth, &pk, &d).await;
    let mut answers: BTreeMap<u32, PkpSignResponse> = raw
        .into_iter()
        .map(|(i, (_, v))| (i, serde_json::from_value(v).expect("shape")))
        .collect();
    client
        .verify_and_combine(&rid, &answers, &rec.public_key, d)
        .expect("honest answers combine");
    let signers = answers[&0].candela.signers.clone();
    let liar = signers[1];
    // flip one byte of the liar's share
    let share = &mut answers
        .get_mut(&liar)
        .expect("liar")
        .signature_share
        .signature_share;
    let mut b = hex::decode(&*share).expect("hex");
    b[31] ^= 1;
    *share = hex::encode(b);
    let err = client
        .verify_and_combine(&rid, &answers, &rec.public_key, d)
        .expect_err("t shares needed");
    crate::common::assert_only_liar_named(err, 3, liar);
    // a lie about the liar's commitment by the liar alone is outvoted
    let mut answers2 = answers.clone();
    answers2
        .get_mut(&liar)
        .expect("liar")
        .candela
        .commitments
        .iter_mut()
        .for_each(|c| c.k = c.sigma.clone());
    let err2 = client
        .verify_and_combine(&rid, &answers2, &rec.public_key, d)
        .expect_err("still caught");
    assert!(err2.to_string().contains(&format!("node {liar}")), "{err2}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_and_a_node_crash_mid_signing_never_reuse_a_presignature() {
    let mut net = TestNet::start(
        5,
        &[
            "--pool-target",
            "24",
            "--pool-batch",
            "4",
            "--pool-concurrency",
            "2",
        ],
    );
    let client = net.client();
    let owner = owner();
    let (rec, _) = mint(&client, &owner);
    let run = |n: usize| {
        let client = client.clone();
        let owner = owner.clone();
        let pk = rec.public_key;
        tokio::spawn(async move {
            let mut tasks = Vec::new();
            for _ in 0..n {
                let client = client.clone();
                let owner = owner.clone();
                tasks.push(tokio::spawn(async move {
                    let d = random_digest();
                    client.pkp_sign(&owner, &pk, d).await.map(|o| {
                        o.signature.verify(&pk, &d).expect("verifies");
                        o.signature.r_bytes()
                    })
                }));
            }
            let mut rs = Vec::new();
            for t in tasks {
                if let Ok(Ok(r)) = t.await {
                    rs.push(r);
                }
            }
            rs
        })
    };
    // 16 at once, with stock for all of them
    net.wait_pool(16).await;
    let first = run(16).await.expect("join");
    assert_eq!(first.len(), 16, "all concurrent requests succeed");
    // crash a node while a batch is in flight, then restart it
    let load = run(16);
    tokio::time::sleep(Duration::from_millis(30)).await;
    net.crash_node(2);
    let second = load.await.expect("join");
    net.restart_node(2);
    net.wait_live(5).await;
    net.wait_pool(8).await;
    let third = run(8).await.expect("join");
    assert!(
        third.len() >= 7,
        "restarted node serves again: {}",
        third.len()
    );
    let all: Vec<[u8; 32]> = first.iter().chain(&second).chain(&third).copied().collect();
    let distinct: BTreeSet<_> = all.iter().collect();
    assert_eq!(
        distinct.len(),
        all.len(),
        "every signature has its own nonce r"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_json_errors_with_proper_status_and_the_node_keeps_serving() {
    let net = TestNet::start(3, &[]);
    let client = net.client();
    let owner = owner();
    let (rec, _) = mint(&client, &owner);
    let pk = derive::public_key_hex(&rec.public_key);
    let url = format!("{}/web/pkp/sign/v1", client.network().nodes[0].url);
    let http = reqwest::Client::new();
    let auth = client.wallet_auth(&owner, 600);
    let good = |to_sign: Vec<u8>| serde_json::json!({"toSign": to_sign, "pubkey": pk, "authSig": auth, "epoch": 1});
    let stranger = client.wallet_auth(&crate::common::owner(), 600);
    let mut expired = client.wallet_auth(&owner, -3600);
    expired.address = auth.address.clone();
    let mut tampered = auth.clone();
    tampered.signed_message = tampered.signed_message.replace("Candela", "Kandela");
    let unknown_pk =
        derive::public_key_hex(&candela_crypto::ProjectivePoint::GENERATOR.to_affine());
    type Case<'a> = (&'a str, Option<String>, Vec<u8>, u16, &'a str);
    let cases: Vec<Case> = vec![
        ("malformed JSON", Some(new_request_id()), b"{not json".to_vec(), 400, "NodeInvalidRequest"),
        ("wrong types", Some(new_request_id()), serde_json::to_vec(&serde_json::json!({"toSign": "abc", "pubkey": 5})).unwrap_or_default(), 400, "NodeInvalidRequest"),
        ("oversize body", Some(new_request_id()), vec![b' '; 2 * 1024 * 1024], 413, "NodeRequestTooLarge"),
        ("31-byte hash", Some(new_request_id()), serde_json::to_vec(&good(vec![1; 31])).unwrap_or_default(), 400, "NodeInvalidToSign"),
        ("unknown PKP", Some(new_request_id()), serde_json::to_vec(&serde_json::json!({"toSign": vec![1u8; 32], "pubkey": unknown_pk, "authSig": auth})).unwrap_or_default(), 404, "NodeUnknownPkp"),
        ("not the owner", Some(new_request_id()), serde_json::to_vec(&serde_json::json!({"toSign": vec![1u8; 32], "pubkey": pk, "authSig": stranger})).unwrap_or_default(), 403, "NodeUnauthorized"),
        ("expired auth", Some(new_request_id()), serde_json::to_vec(&serde_json::json!({"toSign": vec![1u8; 32], "pubkey": pk, "authSig": expired})).unwrap_or_default(), 401, "NodeInvalidAuthSig"),
        ("tampered auth", Some(new_request_id()), serde_json::to_vec(&serde_json::json!({"toSign": vec![1u8; 32], "pubkey": pk, "authSig": tampered})).unwrap_or_default(), 401, "NodeInvalidAuthSig"),
        ("bad pubkey", Some(new_request_id()), serde_json::to_vec(&serde_json::json!({"toSign": vec![1u8; 32], "pubkey": "0x1234", "authSig": auth})).unwrap_or_default(), 400, "NodeInvalidPubkey"),
        ("no request id", None, serde_json::to_vec(&good(vec![1; 32])).unwrap_or_default(), 400, "NodeMissingRequestId"),
        ("bad request id", Some("../../etc".into()), serde_json::to_vec(&good(vec![1; 32])).unwrap_or_default(), 400, "NodeInvalidRequestId"),
    ];
    for (name, rid, body, status, code) in cases {
        let mut req = http
            .post(&url)
            .header("content-type", "application/json")
            .body(body);
        if let Some(r) = &rid {
            req = req.header("X-Request-Id", r);
        }
        let resp = req.send().await.expect("send");
        assert_eq!(resp.status().as_u16(), status, "{name}");
        let v: serde_json::Value = resp
            .json()
            .await
            .unwrap_or_else(|e| panic!("{name}: not JSON: {e}"));
        assert_eq!(v["errorCode"], code, "{name}: {v}");
        assert!(
            v["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{name}"
        );
    }
    let r = http
        .get(format!("{}/no/such/path", client.network().nodes[0].url))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 404);
    // the node still serves a valid request, and nothing was consumed by the bad ones
    let d = random_digest();
    let o = client
        .pkp_sign(&owner, &rec.public_key, d)
        .await
        .expect("still serving");
    o.signature.verify(&rec.public_key, &d).expect("verifies");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn networks_of_seven_and_ten_nodes_generate_keys_and_sign() {
    for n in [7usize, 10] {
        let net = TestNet::start(n, &["--pool-target", "2", "--pool-batch", "1"]);
        let client = net.client();
        assert_eq!(client.network().threshold, 2 * n / 3 + 1);
        let owner = owner();
        let (rec, _) = mint(&client, &owner);
        let d = random_digest();
        let o = client
            .pkp_sign(&owner, &rec.public_key, d)
            .await
            .unwrap_or_else(|e| panic!("n={n}: {e}"));
        o.signature.verify(&rec.public_key, &d).expect("verifies");
    }
}

/// Every signature's nonce `r` is distinct over 240 signatures made 8 at
/// a time while the pool refills (a reused presignature would repeat `r`).
/// 240 keeps the test near two minutes on a 2-core CI machine; the chaos
/// and bench runs check the same property over longer runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_forty_signatures_never_repeat_a_nonce() {
    let net = TestNet::start(
        3,
        &[
            "--pool-target",
            "64",
            "--pool-batch",
            "8",
            "--pool-concurrency",
            "2",
        ],
    );
    let client = net.client();
    let owner = owner();
    let (rec, _) = mint(&client, &owner);
    let mut rs = BTreeSet::new();
    let mut done = 0;
    while done < 240 {
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let client = client.clone();
            let owner = owner.clone();
            let pk = rec.public_key;
            tasks.push(tokio::spawn(async move {
                let d = random_digest();
                let o = client.pkp_sign(&owner, &pk, d).await?;
                o.signature
                    .verify(&pk, &d)
                    .map_err(|e| ClientError::Combine(e.to_string()))?;
                Ok::<_, ClientError>(o.signature.r_bytes())
            }));
        }
        for t in tasks {
            let r = t.await.expect("join").expect("sign");
            assert!(rs.insert(r), "nonce r repeated after {done} signatures");
            done += 1;
        }
    }
    assert_eq!(rs.len(), done, "{done} signatures, {} distinct r", rs.len());
    assert!(done >= 240);
}

/// Under load a request waits its turn for a presignature; it never fails
/// for want of one. The pool holds 2 while 24 requests arrive at once, and
/// the client makes a single attempt each: every request waits in the
/// coordinator's line (first come, first served), and waiting for the pool
/// to refill is not a failed attempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_four_requests_on_a_pool_of_two_all_wait_their_turn_and_succeed() {
    let net = TestNet::start(
        3,
        &[
            "--pool-target",
            "2",
            "--pool-batch",
            "2",
            "--pool-concurrency",
            "1",
        ],
    );
    let mut client = net.client();
    client.attempts = 1;
    let owner = owner();
    let (rec, _) = mint(&client, &owner);
    net.wait_pool(2).await;
    let mut tasks = Vec::new();
    for _ in 0..24 {
        let client = client.clone();
        let owner = owner.clone();
        let pk = rec.public_key;
        tasks.push(tokio::spawn(async move {
            let d = random_digest();
            let o = client.pkp_sign(&owner, &pk, d).await?;
            o.signature.verify(&pk, &d).expect("verifies");
            Ok::<_, candela_client::ClientError>(o.signature.r_bytes())
        }));
    }
    let mut rs = std::collections::BTreeSet::new();
    for (i, t) in tasks.into_iter().enumerate() {
        let r = t
            .await
            .expect("task")
            .unwrap_or_else(|e| panic!("request {i} failed instead of waiting: {e}"));
        assert!(rs.insert(r), "request {i} reused a nonce");
    }
    assert_eq!(rs.len(), 24);
}
