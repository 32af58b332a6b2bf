//! End-to-end: threshold Schnorr signatures (FROST Ed25519 and secp256k1
//! taproot) by PKPs on a real devnet: verified by independent libraries,
//! the chain addresses printed by the CLI, bad input refused, a lying node
//! named, and no nonce used twice across a node restart.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;
use candela_client::{Client, RequestAuth, SigningScheme};
use candela_crypto::derive;
use candela_registry::{PkpKeyType, PkpRecord};

/// A PKP of `key_type` owned by `owner`.
fn mint_typed(client: &Client, owner: &k256::ecdsa::SigningKey, key_type: PkpKeyType) -> PkpRecord {
    registry(client)
        .mint_typed(owner, client.root_public_key(), key_type, &[], false)
        .expect("mint")
}

/// A devnet, an owner and an Ed25519 PKP of theirs.
async fn setup(n: usize, extra: &[&str]) -> (TestNet, Client, k256::ecdsa::SigningKey, PkpRecord) {
    let net = TestNet::start(n, extra);
    let client = net.client();
    let owner = owner();
    let rec = mint_typed(&client, &owner, PkpKeyType::Ed25519);
    wait_schnorr(&client).await;
    (net, client, owner, rec)
}

/// The PKP that signs `scheme`: `ed` for Ed25519, `tr` for taproot.
fn for_scheme<'a>(scheme: SigningScheme, ed: &'a PkpRecord, tr: &'a PkpRecord) -> &'a PkpRecord {
    match scheme {
        SigningScheme::SchnorrK256Taproot => tr,
        _ => ed,
    }
}

fn verify_ed25519(public_key: &[u8], message: &[u8], sig: &[u8]) {
    let vk = ed25519_dalek::VerifyingKey::from_bytes(public_key.try_into().expect("32 bytes"))
        .expect("ed25519 key");
    let sig = ed25519_dalek::Signature::from_slice(sig).expect("64 bytes");
    vk.verify_strict(message, &sig)
        .expect("ed25519 signature verifies");
}

fn verify_bip340(output_key: &[u8], message: &[u8], sig: &[u8]) {
    let vk = k256::schnorr::VerifyingKey::from_bytes(output_key).expect("x-only key");
    let sig = k256::schnorr::Signature::try_from(sig).expect("64 bytes");
    vk.verify_raw(message, &sig)
        .expect("BIP-340 signature verifies");
}

fn cli_sign(
    net: &TestNet,
    owner: &k256::ecdsa::SigningKey,
    rec: &PkpRecord,
    args: &[&str],
) -> serde_json::Value {
    let out = Command::new(BIN)
        .args(["pkp", "sign", "--network"])
        .arg(net.network_path())
        .arg("--private-key")
        .arg(hex::encode(owner.to_bytes()))
        .arg("--pkp")
        .arg(derive::public_key_hex(&rec.public_key))
        .args(args)
        .output()
        .expect("candela pkp sign");
    assert!(
        out.status.success(),
        "pkp sign failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

fn hex_field(v: &serde_json::Value, name: &str) -> Vec<u8> {
    hex::decode(v[name].as_str().expect(name).trim_start_matches("0x")).expect("hex")
}

#[tokio::test(flavor = "multi_thread")]
async fn pkp_schnorr_signatures_verify_with_ed25519_dalek_and_bip340_and_the_cli_prints_solana_and_p2tr_addresses(
) {
    let (net, client, owner, rec) = setup(3, &[]).await;
    let tr_rec = mint_typed(&client, &owner, PkpKeyType::K256Taproot);
    let k256_rec = mint_typed(&client, &owner, PkpKeyType::K256);
    let auth = RequestAuth::Session(client.session(&owner));
    // Ed25519, a message of any length (a Solana transaction message).
    let msg = b"a solana transaction message of some length".to_vec();
    let ed = client
        .pkp_sign_schnorr(
            &auth,
            &rec.public_key,
            SigningScheme::SchnorrEd25519Sha512,
            &msg,
        )
        .await
        .expect("ed25519 signature");
    assert_eq!(ed.signature.len(), 64);
    verify_ed25519(&ed.public_key, &msg, &ed.signature);
    assert!(ed.faults.is_empty(), "{:?}", ed.faults);
    // Taproot, a 32-byte sighash, under the P2TR output key.
    let sighash = random_digest();
    let tr = client
        .pkp_sign_schnorr(
            &auth,
            &tr_rec.public_key,
            SigningScheme::SchnorrK256Taproot,
            &sighash,
        )
        .await
        .expect("taproot signature");
    verify_bip340(&tr.public_key, &sighash, &tr.signature);
    assert!(tr.address.starts_with("bc1p"), "{}", tr.address);
    // The CLI: same keys, addresses printed.
    let out = cli_sign(
        &net,
        &owner,
        &rec,
        &[
            "--scheme",
            "SchnorrEd25519Sha512",
            "--message",
            &format!("0x{}", hex::encode(&msg)),
        ],
    );
    assert_eq!(hex_field(&out, "publicKey"), ed.public_key);
    assert_eq!(out["solanaAddress"].as_str(), Some(ed.address.as_str()));
    verify_ed25519(&ed.public_key, &msg, &hex_field(&out, "signature"));
    let out = cli_sign(
        &net,
        &owner,
        &tr_rec,
        &[
            "--scheme",
            "SchnorrK256Taproot",
            "--hash",
            &format!("0x{}", hex::encode(sighash)),
        ],
    );
    assert_eq!(out["p2trAddress"].as_str(), Some(tr.address.as_str()));
    verify_bip340(&tr.public_key, &sighash, &hex_field(&out, "signature"));
    // ECDSA by default, with a K256 PKP.
    let out = cli_sign(
        &net,
        &owner,
        &k256_rec,
        &["--hash", &format!("0x{}", hex::encode(sighash))],
    );
    assert!(out["ethAddress"].is_string(), "{out}");
    // A PKP signs with its own key type only, and says which it needs.
    for (pkp, scheme, expect) in [
        (
            &rec,
            None,
            "signing scheme EcdsaK256Sha256 needs a K256 key, got a Ed25519 key",
        ),
        (
            &k256_rec,
            Some(SigningScheme::SchnorrEd25519Sha512),
            "signing scheme SchnorrEd25519Sha512 needs a Ed25519 key, got a K256 key",
        ),
        (
            &rec,
            Some(SigningScheme::SchnorrK256Taproot),
            "signing scheme SchnorrK256Taproot needs a K256Taproot key, got a Ed25519 key",
        ),
    ] {
        let err = match scheme {
            None => client
                .pkp_sign(&owner, &pkp.public_key, random_digest())
                .await
                .map(|_| ())
                .expect_err("wrong key type"),
            Some(scheme) => client
                .pkp_sign_schnorr(&auth, &pkp.public_key, scheme, &random_digest())
                .await
                .map(|_| ())
                .expect_err("wrong key type"),
        };
        let text = err.to_string();
        assert!(
            text.contains("NodeWrongKeyType") && text.contains(expect),
            "{text}"
        );
    }
    // The CLI shows the key each type signs with, derived by the client,
    // equal to the key the network signed with.
    for (pkp, key, address) in [
        (&rec, &ed.public_key, &ed.address),
        (&tr_rec, &tr.public_key, &tr.address),
    ] {
        let shown = Command::new(BIN)
            .args(["pkp", "show", "--json", "--network"])
            .arg(net.network_path())
            .arg("--token-id")
            .arg(format!("0x{}", hex::encode(pkp.token_id)))
            .output()
            .expect("pkp show");
        assert!(
            shown.status.success(),
            "{}",
            String::from_utf8_lossy(&shown.stderr)
        );
        let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).expect("json");
        assert_eq!(shown["keyType"], pkp.key_type.as_str());
        assert_eq!(hex_field(&shown["signingKey"], "publicKey"), *key);
        assert_eq!(
            shown["signingKey"]["address"].as_str(),
            Some(address.as_str())
        );
    }
    // A second PKP has other Schnorr keys.
    let other = mint_typed(&client, &owner, PkpKeyType::Ed25519);
    let ed2 = client
        .pkp_sign_schnorr(
            &auth,
            &other.public_key,
            SigningScheme::SchnorrEd25519Sha512,
            &msg,
        )
        .await
        .expect("second PKP signs");
    assert_ne!(ed2.public_key, ed.public_key);
    verify_ed25519(&ed2.public_key, &msg, &ed2.signature);
}

/// POST a `pkp/sign` body to node 0; status and error text.
async fn post_sign(client: &Client, body: serde_json::Value) -> (u16, String) {
    let url = &client.network().nodes[0].url;
    let r = reqwest::Client::new()
        .post(format!("{url}/web/pkp/sign/v1"))
        .header(
            candela_api::REQUEST_ID_HEADER,
            candela_client::new_request_id(),
        )
        .json(&body)
        .send()
        .await
        .expect("post");
    let status = r.status().as_u16();
    (status, r.text().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_schnorr_requests_answer_400_naming_what_is_expected_and_an_unpermitted_caller_is_refused(
) {
    let (_net, client, owner, rec) = setup(3, &[]).await;
    let url = client.network().nodes[0].url.clone();
    let auth = client.session(&owner).sign_for(&url);
    let body = |scheme: &str, to_sign: Vec<u8>| {
        serde_json::json!({
            "toSign": to_sign,
            "pubkey": derive::public_key_hex(&rec.public_key),
            "authSig": auth,
            "signingScheme": scheme,
        })
    };
    let cases = [
        (
            "Schnorr",
            vec![1u8; 32],
            "NodeInvalidSigningScheme",
            "expected EcdsaK256Sha256, SchnorrEd25519Sha512 or SchnorrK256Taproot",
        ),
        (
            "Bls12381G1ProofOfPossession",
            vec![1u8; 32],
            "NodeUnsupportedSigningScheme",
            "expected EcdsaK256Sha256",
        ),
        (
            "SchnorrP256Sha256",
            vec![1u8; 32],
            "NodeUnsupportedSigningScheme",
            "expected EcdsaK256Sha256",
        ),
        (
            "SchnorrK256Taproot",
            vec![1u8; 31],
            "NodeInvalidToSign",
            "exactly 32-byte messages; got 31 bytes",
        ),
        (
            "SchnorrEd25519Sha512",
            vec![1u8; 65 * 1024],
            "NodeInvalidToSign",
            "at most 65536 bytes",
        ),
    ];
    for (scheme, to_sign, code, text) in cases {
        let (status, answer) = post_sign(&client, body(scheme, to_sign)).await;
        assert_eq!(status, 400, "{scheme}: {answer}");
        assert!(answer.contains(code), "{scheme}: {answer}");
        assert!(answer.contains(text), "{scheme}: {answer}");
    }
    // A caller the PKP does not permit: refused exactly as for ECDSA.
    let stranger = owner_key();
    let auth = RequestAuth::Session(client.session(&stranger));
    let err = client
        .pkp_sign_schnorr(
            &auth,
            &rec.public_key,
            SigningScheme::SchnorrEd25519Sha512,
            b"m",
        )
        .await
        .expect_err("a stranger may not sign");
    assert!(err.to_string().contains("NodeUnauthorized"), "{err}");
    let ecdsa = client
        .pkp_sign(&stranger, &rec.public_key, random_digest())
        .await;
    assert!(ecdsa
        .expect_err("nor with ECDSA")
        .to_string()
        .contains("NodeUnauthorized"));
}

fn owner_key() -> k256::ecdsa::SigningKey {
    owner()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lying_node_is_named_and_the_schnorr_signature_forms_from_the_honest_nodes() {
    let (net, client, owner, rec) = setup(5, &["--misbehave", "2=bad-schnorr-share"]).await;
    let tr_rec = mint_typed(&client, &owner, PkpKeyType::K256Taproot);
    assert_eq!(client.network().threshold, 4);
    let log = std::fs::read_to_string(net.path().join("node-2/node.log")).expect("log");
    assert!(log.contains("MISBEHAVE"));
    let auth = RequestAuth::Session(client.session(&owner));
    // One attempt with every node signing: refused, naming node 2 only.
    let err = client
        .pkp_sign_schnorr_once(
            &candela_client::new_request_id(),
            &auth,
            &rec.public_key,
            SigningScheme::SchnorrEd25519Sha512,
            b"pay 1 SOL",
        )
        .await
        .expect_err("a bad share spoils the attempt");
    match err {
        candela_client::ClientError::NotEnoughShares { faults, .. } => {
            let named: Vec<u32> = faults
                .iter()
                .filter(|f| f.misbehaved)
                .map(|f| f.node)
                .collect();
            assert_eq!(named, vec![2], "{faults:?}");
        }
        other => panic!("{other}"),
    }
    // The client left node 2 out: the honest four sign, node 2 named.
    for scheme in [
        SigningScheme::SchnorrEd25519Sha512,
        SigningScheme::SchnorrK256Taproot,
    ] {
        let msg = random_digest();
        let o = client
            .pkp_sign_schnorr(
                &auth,
                &for_scheme(scheme, &rec, &tr_rec).public_key,
                scheme,
                &msg,
            )
            .await
            .expect("the honest nodes sign");
        match scheme {
            SigningScheme::SchnorrEd25519Sha512 => {
                verify_ed25519(&o.public_key, &msg, &o.signature)
            }
            _ => verify_bip340(&o.public_key, &msg, &o.signature),
        }
        assert!(
            o.faults.iter().any(|f| f.node == 2 && f.misbehaved),
            "{:?}",
            o.faults
        );
        assert!(o
            .faults
            .iter()
            .filter(|f| f.misbehaved)
            .all(|f| f.node == 2));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_schnorr_nonce_is_never_used_twice_across_a_node_restart() {
    let (mut net, client, owner, rec) = setup(3, &[]).await;
    let auth = RequestAuth::Session(client.session(&owner));
    let mut rs = Vec::new();
    let sign = |client: Client, auth: RequestAuth, pk| async move {
        let msg = random_digest();
        let o = client
            .pkp_sign_schnorr(&auth, &pk, SigningScheme::SchnorrEd25519Sha512, &msg)
            .await
            .expect("sign");
        verify_ed25519(&o.public_key, &msg, &o.signature);
        (o.signature[..32].to_vec(), o.public_key)
    };
    let mut key = Vec::new();
    for _ in 0..3 {
        let (r, pk) = sign(client.clone(), auth.clone(), rec.public_key).await;
        rs.push(r);
        key = pk;
    }
    let used_before = client.statuses().await[1]
        .as_ref()
        .expect("status")
        .schnorr_nonces_used;
    assert!(used_before >= 3, "node 1 signed three times: {used_before}");
    net.crash_node(1);
    net.restart_node(1);
    wait_schnorr(&client).await;
    net.wait_live(3).await;
    let used_after_restart = client.statuses().await[1]
        .as_ref()
        .expect("status")
        .schnorr_nonces_used;
    // the used marks survive the restart, and the nonces left unused
    // before it are discarded (a nonce never outlives its process)
    assert!(
        used_after_restart >= used_before,
        "used before {used_before}, after the restart {used_after_restart}"
    );
    for _ in 0..3 {
        let deadline = Instant::now() + Duration::from_secs(60);
        let r = loop {
            let msg = random_digest();
            match client
                .pkp_sign_schnorr(
                    &auth,
                    &rec.public_key,
                    SigningScheme::SchnorrEd25519Sha512,
                    &msg,
                )
                .await
            {
                Ok(o) => {
                    verify_ed25519(&o.public_key, &msg, &o.signature);
                    assert_eq!(o.public_key, key, "the restarted node kept its root share");
                    break o.signature[..32].to_vec();
                }
                Err(e) if Instant::now() < deadline => {
                    eprintln!("retrying after restart: {e}");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => panic!("{e}"),
            }
        };
        rs.push(r);
    }
    let distinct: std::collections::BTreeSet<_> = rs.iter().collect();
    assert_eq!(distinct.len(), rs.len(), "every signature has its own R");
    let used_end = client.statuses().await[1]
        .as_ref()
        .expect("status")
        .schnorr_nonces_used;
    assert!(
        used_end >= used_before + 3,
        "{used_end} after {used_before}"
    );
}

/// The network figure of `docs/schnorr-schemes.md`: Ed25519 signature
/// latency on a 5-node devnet with a warm pool (run by hand:
/// `cargo test -p candela-cli --test e2e e2e_schnorr:: -- --ignored --nocapture`).
#[tokio::test(flavor = "multi_thread")]
#[ignore]
async fn ed25519_network_signature_p50_on_five_nodes() {
    let (_net, client, owner, rec) = setup(5, &[]).await;
    let k256_rec = mint_typed(&client, &owner, PkpKeyType::K256);
    let auth = RequestAuth::Session(client.session(&owner));
    let mut ms = Vec::new();
    for i in 0..60 {
        let msg = random_digest();
        let t = Instant::now();
        client
            .pkp_sign_schnorr(
                &auth,
                &rec.public_key,
                SigningScheme::SchnorrEd25519Sha512,
                &msg,
            )
            .await
            .expect("sign");
        if i >= 10 {
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
    }
    ms.sort_by(|a, b| a.total_cmp(b));
    let mut ecdsa = Vec::new();
    for i in 0..30 {
        let t = Instant::now();
        client
            .pkp_sign(&owner, &k256_rec.public_key, random_digest())
            .await
            .expect("ecdsa");
        if i >= 5 {
            ecdsa.push(t.elapsed().as_secs_f64() * 1000.0);
        }
    }
    ecdsa.sort_by(|a, b| a.total_cmp(b));
    println!(
        "ed25519 network signature, 5 nodes: p50 {:.1} ms, p90 {:.1} ms over {}; ecdsa p50 {:.1} ms",
        ms[ms.len() / 2],
        ms[ms.len() * 9 / 10],
        ms.len(),
        ecdsa[ecdsa.len() / 2]
    );
}
