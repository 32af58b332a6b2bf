//! End-to-end on a DKLs23 network (`candela devnet --ecdsa dkls23`): real
//! node processes on loopback, key generation by DKLs23's DKG, signatures
//! by three rounds among `t` signers, checked with plain k256.

use std::collections::BTreeSet;
use std::process::Command;

use crate::common::*;
use candela_client::ActionSource;
use candela_crypto::derive;
use serde_json::json;

const DKLS23: &[&str] = &["--ecdsa", "dkls23"];

/// The checksummed address `sig` (65 bytes `r || s || v`) recovers to for
/// `digest`, with plain k256.
fn recover_eth(sig: &[u8; 65], digest: &[u8; 32]) -> String {
    let s = k256::ecdsa::Signature::from_slice(&sig[..64]).expect("sig");
    let recid = k256::ecdsa::RecoveryId::from_byte(sig[64] - 27).expect("v");
    let vk = k256::ecdsa::VerifyingKey::recover_from_prehash(digest, &s, recid).expect("recover");
    derive::checksum_address(&derive::eth_address(vk.as_affine()))
}

fn node_logs(net: &TestNet, n: usize) -> String {
    (0..n)
        .map(|i| {
            std::fs::read_to_string(net.path().join(format!("node-{i}/node.log")))
                .unwrap_or_default()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dkls23_devnet_signs_for_a_pkp_concurrently_and_keeps_its_key_across_a_restart() {
    let mut net = TestNet::start(3, DKLS23);
    let client = net.client();
    assert_eq!(client.network().ecdsa_protocol, "DKLs23 (dkls23 0.6)");
    let owner = owner();

    // mint and sign through the CLI; plain k256 recovers the PKP address
    let minted = mint_cli(&net, &owner);
    let pk_hex = minted["publicKey"].as_str().expect("publicKey").to_string();
    let pk = derive::parse_public_key(&pk_hex).expect("pk");
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
    let bytes: [u8; 65] = hex::decode(
        sig["signature"]
            .as_str()
            .expect("sig")
            .trim_start_matches("0x"),
    )
    .expect("hex")
    .try_into()
    .expect("65 bytes");
    let vk = k256::ecdsa::VerifyingKey::from_affine(pk).expect("vk");
    let plain = k256::ecdsa::Signature::from_slice(&bytes[..64]).expect("sig");
    k256::ecdsa::signature::hazmat::PrehashVerifier::verify_prehash(&vk, &digest, &plain)
        .expect("verifies with plain k256 under the PKP key");
    assert_eq!(
        recover_eth(&bytes, &digest),
        minted["ethAddress"].as_str().expect("addr")
    );

    // eight requests at once: all sign, each with its own nonce
    let calls = (0..8).map(|_| {
        let client = client.clone();
        let owner = owner.clone();
        tokio::spawn(async move {
            let d = random_digest();
            let o = client
                .pkp_sign(&owner, &pk, d)
                .await
                .expect("concurrent sign");
            o.signature.verify(&pk, &d).expect("verifies");
            o.signature.r_bytes()
        })
    });
    let mut rs = BTreeSet::new();
    for c in calls {
        rs.insert(c.await.expect("task"));
    }
    assert_eq!(rs.len(), 8, "eight signatures, eight distinct r");

    // restart the whole devnet: the same root key, no new key generation
    let root_before = client.network().root_public_key.clone();
    net.stop();
    net.launch();
    let client = net.client();
    assert_eq!(client.network().root_public_key, root_before);
    assert_eq!(client.network().ecdsa_protocol, "DKLs23 (dkls23 0.6)");
    assert_eq!(
        node_logs(&net, 3)
            .matches("DKLs23 root key generated")
            .count(),
        3,
        "one DKLs23 key generation per node across both runs"
    );
    let d = random_digest();
    let o = client
        .pkp_sign(&owner, &pk, d)
        .await
        .expect("signs after restart");
    o.signature.verify(&pk, &d).expect("verifies");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_actions_sign_ecdsa_on_a_dkls23_network_recovers_to_the_pkp() {
    let net = TestNet::start(3, DKLS23);
    let client = net.client();
    let owner = owner();
    let rec = crate::common::registry(&client)
        .mint(&owner, client.root_public_key())
        .expect("mint");
    let digest = random_digest();
    let code = r#"(async () => {
        await Lit.Actions.signEcdsa({ toSign, publicKey, sigName: "sig1" });
        Lit.Actions.setResponse({ response: "signed" });
    })();"#;
    let out = client
        .execute(
            &ActionSource::Code(code.into()),
            Some(json!({
                "toSign": digest.to_vec(),
                "publicKey": derive::public_key_hex(&rec.public_key),
            })),
            &owner,
        )
        .await
        .expect("action signs");
    assert_eq!(out.response, "signed");
    let sig = &out.signatures["sig1"].signature;
    sig.verify(&rec.public_key, &digest)
        .expect("verifies under the PKP key");
    assert_eq!(
        recover_eth(&sig.to_eth_bytes(), &digest),
        derive::checksum_address(&rec.eth_address())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_node_stopped_the_remaining_t_nodes_of_a_dkls23_network_sign() {
    // four nodes, threshold three: one may stop
    let net = TestNet::start(4, DKLS23);
    let client = net.client();
    let owner = owner();
    let rec = crate::common::registry(&client)
        .mint(&owner, client.root_public_key())
        .expect("mint");
    let pk = rec.public_key;
    net.crash_node(1);
    // For a few seconds after the crash the other nodes still count node 1
    // as live, so a signing set may include it. Its co-signers cannot reach
    // it and end the session at once, naming it, rather than at the
    // session's 8 s deadline, so that the client retries with another set
    // at once.
    let auth = candela_client::RequestAuth::Session(client.session(&owner));
    let mut refused = None;
    for _ in 0..12 {
        let rid = candela_client::new_request_id();
        if let Err(e) = client
            .pkp_sign_once(&rid, &auth, &pk, random_digest())
            .await
        {
            refused = Some(e.to_string());
            break;
        }
    }
    let refused = refused.expect("a signing set with the crashed node");
    assert!(
        refused.contains("participant 1 cannot be reached") && !refused.contains("TimedOut"),
        "{refused}"
    );
    net.wait_live(3).await;
    for _ in 0..3 {
        let d = random_digest();
        let o = client
            .pkp_sign(&owner, &pk, d)
            .await
            .expect("signs with a node down");
        o.signature.verify(&pk, &d).expect("verifies");
        assert_eq!(o.attempts, 1, "the stopped node is never in a signing set");
    }
}
