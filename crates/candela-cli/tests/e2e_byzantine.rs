//! End-to-end: one byzantine node in a real 5-node devnet (t = 4), built
//! to lie with `--misbehave INDEX=MODE`. The client still succeeds with the
//! four honest nodes and names the liar in every result.

use crate::common::*;
use candela_client::{Client, ExecuteOutcome};
use candela_crypto::derive;
use candela_registry::PkpRecord;
use serde_json::json;

/// Signs `toSign` with `publicKey` and answers a response that depends on
/// `n`, so that a stale answer is told apart from a fresh one.
const SIGNING_ACTION: &str = r#"(async () => {
  await Lit.Actions.signEcdsa({ toSign, publicKey, sigName: "sig" });
  Lit.Actions.setResponse({ response: JSON.stringify({ n }) });
})();
"#;

fn recover(sig: &candela_crypto::ecdsa::Signature, digest: &[u8; 32]) -> String {
    let eth = sig.to_eth_bytes();
    let s = k256::ecdsa::Signature::from_slice(&eth[..64]).expect("sig");
    let recid = k256::ecdsa::RecoveryId::from_byte(sig.recid).expect("recid");
    let vk = k256::ecdsa::VerifyingKey::recover_from_prehash(digest, &s, recid).expect("recover");
    derive::checksum_address(&derive::eth_address(vk.as_affine()))
}

/// A devnet with node `liar` misbehaving as `mode`, the action deployed and
/// a PKP that its owner and the action may sign with.
async fn setup(
    liar: u32,
    mode: &str,
) -> (TestNet, Client, String, k256::ecdsa::SigningKey, PkpRecord) {
    let spec = format!("{liar}={mode}");
    let net = TestNet::start(5, &["--misbehave", &spec]);
    let client = net.client();
    assert_eq!(client.network().threshold, 4);
    let (cid, _) = client
        .deploy_action(SIGNING_ACTION.as_bytes())
        .await
        .expect("deploy");
    let owner = owner();
    let rec = registry(&client)
        .mint_with_actions(&owner, client.root_public_key(), &[&cid], false)
        .expect("mint");
    net.wait_pool(6).await;
    let log = std::fs::read_to_string(net.path().join(format!("node-{liar}/node.log")))
        .expect("liar's log");
    assert!(log.contains("MISBEHAVE"), "the liar warns at start");
    (net, client, cid, owner, rec)
}

/// Run the signing action with parameter `n`; it must succeed.
async fn run_action(
    client: &Client,
    cid: &str,
    owner: &k256::ecdsa::SigningKey,
    rec: &PkpRecord,
    n: u32,
) -> (ExecuteOutcome, [u8; 32]) {
    let digest = random_digest();
    let params = json!({
        "toSign": digest.to_vec(),
        "publicKey": derive::public_key_hex(&rec.public_key),
        "n": n,
    });
    // Leaving a liar out needs presignatures without it; on a loaded
    // machine the pool may not have them yet: the node says "try again
    // shortly" (NodePresignaturePoolEmpty), and so does this test.
    let source = candela_client::ActionSource::IpfsId(cid.into());
    let mut attempt = 0;
    let out = loop {
        match client.execute(&source, Some(params.clone()), owner).await {
            Ok(out) => break out,
            Err(e) if e.to_string().contains("NodePresignaturePoolEmpty") && attempt < 20 => {
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_secs(3)).await;
            }
            Err(e) => panic!("execution {n} failed: {e}"),
        }
    };
    assert_eq!(out.response, json!({ "n": n }).to_string());
    assert_eq!(
        recover(&out.signatures["sig"].signature, &digest),
        derive::checksum_address(&rec.eth_address())
    );
    (out, digest)
}

fn assert_named(faults: &[candela_client::NodeFault], liar: u32) {
    let named: Vec<u32> = faults
        .iter()
        .filter(|f| f.misbehaved)
        .map(|f| f.node)
        .collect();
    assert_eq!(named, vec![liar], "{faults:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_ecdsa_shares_are_named_every_time_and_signing_succeeds_without_the_liar() {
    // node 1 is in the default signing set {0,1,2,3}
    let liar = 1;
    let (_net, client, cid, owner, rec) = setup(liar, "bad-ecdsa-share").await;
    for i in 0..3 {
        let digest = random_digest();
        let out = client
            .pkp_sign(&owner, &rec.public_key, digest)
            .await
            .unwrap_or_else(|e| panic!("signature {i}: {e}"));
        assert_named(&out.faults, liar);
        if i == 0 {
            // the first attempt caught the liar, the second left it out
            assert_eq!(out.attempts, 2);
        }
        assert_eq!(
            recover(&out.signature, &digest),
            derive::checksum_address(&rec.eth_address())
        );
    }
    // a fresh client running an action that signs: the first run's
    // signature lacks the liar's share, the rerun leaves it out
    let fresh = _net.client();
    for n in 0..2 {
        let (out, _) = run_action(&fresh, &cid, &owner, &rec, n).await;
        assert_named(&out.faults, liar);
    }
    assert!(fresh.caught_lying().contains_key(&liar));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_action_response_is_outvoted_and_named_every_time() {
    // node 2 is in the default signing set: its share goes with its response
    let liar = 2;
    let (_net, client, cid, owner, rec) = setup(liar, "wrong-action-response").await;
    for n in 0..3 {
        let (out, _) = run_action(&client, &cid, &owner, &rec, n).await;
        assert_named(&out.faults, liar);
        for r in &out.nodes {
            assert_eq!(r.response_agreed, r.node != liar, "{:?}", out.nodes);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stale_node_answering_old_responses_is_outvoted_and_named_every_time() {
    let liar = 3;
    let (_net, client, cid, owner, rec) = setup(liar, "stale-data").await;
    for n in 0..3 {
        let (out, _) = run_action(&client, &cid, &owner, &rec, n).await;
        assert_named(&out.faults, liar);
        // (the first run is rerun without the liar in the signing set; the
        // rerun's stale answer is the first attempt's, equal by chance)
        if n > 0 {
            for r in &out.nodes {
                assert_eq!(r.response_agreed, r.node != liar, "{:?}", out.nodes);
            }
        }
    }
    // the stale node answers the previous execution's response
    let rid = candela_client::new_request_id();
    let params = json!({
        "toSign": random_digest().to_vec(),
        "publicKey": derive::public_key_hex(&rec.public_key),
        "n": 7,
    });
    let auth = client.wallet_auth(&owner, 300);
    let body = Client::execute_request(
        &candela_client::ActionSource::IpfsId(cid.clone()),
        Some(params),
        &auth,
    );
    let answers = client.execute_raw(&rid, &body).await;
    let fresh = json!({ "n": 7 }).to_string();
    for (i, a) in &answers {
        let r = a.as_ref().unwrap_or_else(|e| panic!("node {i}: {e}"));
        if *i == liar {
            assert_eq!(r.response, json!({ "n": 2 }).to_string(), "stale answer");
        } else {
            assert_eq!(r.response, fresh);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_coordinator_handing_out_conflicting_assignments_is_named_and_signing_succeeds_without_it(
) {
    // node 0 is the default coordinator: it hands every asker a fresh
    // presignature and signing set, each signed with its identity key
    let liar = 0;
    let (_net, client, cid, owner, rec) = setup(liar, "lying-coordinator").await;
    for i in 0..3 {
        let digest = random_digest();
        let out = client
            .pkp_sign(&owner, &rec.public_key, digest)
            .await
            .unwrap_or_else(|e| panic!("signature {i}: {e}"));
        // the two signed, conflicting assignments are the proof: only the
        // coordinator is named, never a node that followed it
        assert_named(&out.faults, liar);
        if i == 0 {
            assert_eq!(out.attempts, 2, "the retry leaves the coordinator out");
        }
        assert_eq!(
            recover(&out.signature, &digest),
            derive::checksum_address(&rec.eth_address())
        );
    }
    let fresh = _net.client();
    let (out, _) = run_action(&fresh, &cid, &owner, &rec, 0).await;
    assert_named(&out.faults, liar);
}
