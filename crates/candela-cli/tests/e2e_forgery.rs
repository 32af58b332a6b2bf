//! End-to-end attacks on the signing path, on a real devnet: what a PKP
//! holder (or a node) would try to make the network sign what it should not.
//! Each test is the attack, run as an attacker would run it; it passes only
//! when the attack fails.

use std::collections::BTreeMap;

use crate::common::*;
use candela_api::{EXCLUDE_HEADER, REQUEST_ID_HEADER};
use candela_client::new_request_id;
use candela_crypto::derive;
use candela_crypto::ecdsa::{combine, x_coordinate};
use candela_crypto::{AffinePoint, Scalar};
use serde_json::Value;

/// `pkp/sign` sent to one node, with the request id and exclusion the
/// attacker picks.
async fn sign_at(
    url: &str,
    rid: &str,
    exclude: &str,
    auth: &candela_api::auth::AuthSig,
    pkp: &str,
    digest: &[u8; 32],
) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{url}/web/pkp/sign/v1"))
        .header(REQUEST_ID_HEADER, rid)
        .header(EXCLUDE_HEADER, exclude)
        .json(&serde_json::json!({
            "toSign": digest.to_vec(), "pubkey": pkp, "authSig": auth, "epoch": 1
        }))
        .send()
        .await
        .expect("send");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn point(hex_str: &str) -> Option<AffinePoint> {
    let bytes = hex::decode(hex_str).ok()?;
    derive::point_from_bytes(&bytes).ok()
}

fn scalar_hex(hex_str: &str) -> Option<Scalar> {
    derive::scalar_from_bytes(&hex::decode(hex_str).ok()?).ok()
}

/// Groth–Shoup (Eurocrypt 2022) against additive derivation with known
/// presignatures: the owner of PKP A learns the nonce R of request X from a
/// node pushed out of the signing set, picks `m_A = m_B + r·(δ_B − δ_A)` so
/// that shares for (A, m_A) sum to a signature by B on a digest m_B of its
/// choice, and asks the signing set under the same request id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pkp_holder_cannot_get_a_signature_of_another_pkp_on_a_related_digest() {
    let net = TestNet::start(5, &[]);
    let client = net.client();
    net.wait_pool(4).await;
    let attacker = owner();
    let victim = owner();
    let reg = registry(&client);
    let a = reg
        .mint(&attacker, client.root_public_key())
        .expect("mint A");
    let b = reg.mint(&victim, client.root_public_key()).expect("mint B");
    let delta_a = derive::pkp_tweak(&a.key_id).expect("tweak A");
    let delta_b = derive::pkp_tweak(&b.key_id).expect("tweak B");
    let pk_a = derive::public_key_hex(&a.public_key);
    let target: [u8; 32] = {
        use sha3::Digest;
        sha3::Keccak256::digest(b"victim pays the attacker everything").into()
    };
    let m_b = derive::scalar_from_digest(&target);
    let auth = client.wallet_auth(&attacker, 600);
    let nodes = client.network().nodes.clone();
    let rid = new_request_id();

    // Step 1: node 0, pushed out of the signing set, is asked first.
    let (_, probe) = sign_at(&nodes[0].url, &rid, "0", &auth, &pk_a, &random_digest()).await;
    let revealed = probe["signatureShare"]["bigR"]
        .as_str()
        .and_then(point)
        .or_else(|| probe["candela"]["bigR"].as_str().and_then(point));

    // Step 2: with whatever nonce it learned, the related digest goes to
    // the signing set under the same request id.
    let mut forged = Vec::new();
    if let Some(big_r) = revealed {
        let r = x_coordinate(&big_r);
        let m_a = m_b + r * (delta_b - delta_a);
        let m_a_bytes: [u8; 32] = derive::scalar_to_bytes(&m_a);
        let mut answers = BTreeMap::new();
        for n in &nodes[1..] {
            answers.insert(
                n.index,
                sign_at(&n.url, &rid, "0", &auth, &pk_a, &m_a_bytes).await,
            );
        }
        let shares: Vec<Scalar> = answers
            .values()
            .filter_map(|(_, v)| v["signatureShare"]["signatureShare"].as_str())
            .filter_map(scalar_hex)
            .collect();
        let nonces: Vec<AffinePoint> = answers
            .values()
            .filter_map(|(_, v)| v["signatureShare"]["bigR"].as_str())
            .filter_map(point)
            .chain([big_r])
            .collect();
        for nonce in nonces {
            if let Ok(sig) = combine(&shares, &nonce, &b.public_key, &target) {
                forged.push(sig);
            }
        }
    }
    assert!(
        forged.is_empty(),
        "the owner of PKP A obtained a valid signature of PKP B on a digest it chose"
    );
    assert!(
        revealed.is_none(),
        "a node outside the signing set revealed the presignature's nonce: {probe}"
    );

    // The network still signs for the attacker's own PKP, honestly asked.
    let d = random_digest();
    let o = client
        .pkp_sign(&attacker, &a.public_key, d)
        .await
        .expect("honest signing still works");
    o.signature.verify(&a.public_key, &d).expect("verifies");
}
