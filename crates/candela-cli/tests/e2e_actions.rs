//! End-to-end: actions run over a real devnet (node processes on loopback),
//! driven through the CLI, the client crate and raw HTTP.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::Command;

use crate::common::*;
use base64::Engine;
use candela_client::{new_request_id, ActionSource, Client, ClientError};
use candela_crypto::derive;
use candela_registry::anvil::Anvil;
use candela_registry::{PkpRecord, Registry};
use serde_json::{json, Value};

const PRIME: &str = include_str!("../../../examples/actions/prime.js");

/// A Lit-style action from the sandbox crate's test suite, unchanged.
fn lit_action(name: &str) -> String {
    let path = format!(
        "{}/../candela-actions/tests/actions/{name}.js",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn registry(client: &Client) -> Box<dyn Registry> {
    crate::common::registry(client)
}

fn mint(
    client: &Client,
    owner: &k256::ecdsa::SigningKey,
    actions: &[&str],
    burn: bool,
) -> PkpRecord {
    registry(client)
        .mint_with_actions(owner, client.root_public_key(), actions, burn)
        .expect("mint")
}

fn cli(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN).args(args).output().expect("run candela");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn recover(sig: &candela_crypto::ecdsa::Signature, digest: &[u8; 32]) -> String {
    let eth = sig.to_eth_bytes();
    let s = k256::ecdsa::Signature::from_slice(&eth[..64]).expect("sig");
    let recid = k256::ecdsa::RecoveryId::from_byte(sig.recid).expect("recid");
    let vk = k256::ecdsa::VerifyingKey::recover_from_prehash(digest, &s, recid).expect("recover");
    derive::checksum_address(&derive::eth_address(vk.as_affine()))
}

fn pk_hex(rec: &PkpRecord) -> String {
    derive::public_key_hex(&rec.public_key)
}

/// A plain HTTP server on loopback, like the APIs actions fetch from.
async fn start_http_server() -> SocketAddr {
    use axum::routing::get;
    let app = axum::Router::new()
        .route(
            "/json",
            get(|| async { axum::Json(json!({"properties": {"periods": [{"temperature": 92}]}})) }),
        )
        .route(
            "/price",
            get(|| async { axum::Json(json!({"ethereum": {"usd": 3141.59}})) }),
        );
    serve_loopback(app).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prime_action_deployed_by_cid_signs_a_prime_and_explains_a_non_prime() {
    let net = TestNet::start(3, &[]);
    let client = net.client();
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("prime.js");
    std::fs::write(&file, PRIME).expect("write");
    let file_s = file.display().to_string();
    let network = net.network_path().display().to_string();
    let (ok, cid, err) = cli(&["action", "cid", &file_s]);
    assert!(ok, "{err}");
    let cid = cid.trim().to_string();
    assert!(cid.starts_with("Qm") && cid.len() == 46, "{cid}");
    let (ok, deployed, err) = cli(&["action", "deploy", &file_s, "--network", &network]);
    assert!(ok, "{err}");
    assert_eq!(deployed.trim(), cid, "deploy prints the same CID");
    // mint-grant-burn through the CLI
    let minter = owner();
    let minter_hex = hex::encode(minter.to_bytes());
    let (ok, minted, err) = cli(&[
        "pkp",
        "mint",
        "--json",
        "--network",
        &network,
        "--private-key",
        &minter_hex,
        "--permit-action",
        &cid,
        "--burn",
    ]);
    assert!(ok, "{err}");
    let minted: Value = serde_json::from_str(&minted).expect("json");
    assert_eq!(
        minted["owner"],
        "0x0000000000000000000000000000000000000000"
    );
    let pkp = minted["publicKey"].as_str().expect("pk").to_string();
    let pkp_addr = minted["ethAddress"].as_str().expect("addr").to_string();
    let digest = random_digest();
    let caller = hex::encode(owner().to_bytes());
    let run = |number: u64| {
        let params =
            json!({"number": number, "toSign": digest.to_vec(), "publicKey": pkp}).to_string();
        cli(&[
            "action",
            "run",
            "--json",
            "--cid",
            &cid,
            "--params",
            &params,
            "--network",
            &network,
            "--private-key",
            &caller,
        ])
    };
    let (ok, out, err) = run(7919);
    assert!(ok, "{err}");
    let out: Value = serde_json::from_str(&out).expect("json");
    // `--json` gives the response parsed when it is JSON
    assert_eq!(out["response"], json!({"signed": true, "number": 7919}));
    let sig = &out["signatures"]["prime"];
    assert_eq!(sig["ethAddress"], pkp_addr.as_str());
    assert_eq!(sig["dataSigned"], format!("0x{}", hex::encode(digest)));
    let bytes = hex::decode(
        sig["signature"]
            .as_str()
            .expect("sig")
            .trim_start_matches("0x"),
    )
    .expect("hex");
    let s = k256::ecdsa::Signature::from_slice(&bytes[..64]).expect("sig");
    let recid = k256::ecdsa::RecoveryId::from_byte(bytes[64] - 27).expect("v");
    let vk = k256::ecdsa::VerifyingKey::recover_from_prehash(&digest, &s, recid).expect("recover");
    assert_eq!(
        derive::checksum_address(&derive::eth_address(vk.as_affine())),
        pkp_addr
    );
    let nodes = out["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 3);
    assert!(nodes
        .iter()
        .all(|n| n["ok"] == true && n["responseAgreed"] == true));

    let (ok, out, err) = run(91);
    assert!(ok, "{err}");
    let out: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        out["response"],
        json!({"signed": false, "reason": "91 is not prime: it is divisible by 7"})
    );
    assert_eq!(out["signatures"], json!({}));
    let _ = client;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_neither_bound_to_the_pkp_nor_run_by_its_owner_cannot_sign() {
    let net = TestNet::start(3, &[]);
    let client = net.client();
    let the_owner = owner();
    let rec = mint(&client, &the_owner, &[], false);
    let digest = random_digest();
    let params = json!({"number": 13, "toSign": digest.to_vec(), "publicKey": pk_hex(&rec)});
    let source = ActionSource::Code(PRIME.to_string());
    let err = client
        .execute(&source, Some(params.clone()), &owner())
        .await
        .expect_err("a stranger's unbound action must not sign");
    let text = err.to_string();
    assert!(
        text.contains("permission denied") && text.contains("is not permitted to sign"),
        "{text}"
    );
    assert!(
        matches!(err, ClientError::ActionFailed { agreed: 0, .. }),
        "{err:?}"
    );
    // the owner may run any action with their PKP
    let ok = client
        .execute(&source, Some(params), &the_owner)
        .await
        .expect("the owner's run signs");
    let sig = &ok.signatures["prime"];
    assert_eq!(
        recover(&sig.signature, &digest),
        derive::checksum_address(&rec.eth_address())
    );
    // and an action bound to another PKP does not unlock this one
    let cid = candela_cid::cid_v0(PRIME.as_bytes());
    let _other = mint(&client, &owner(), &[&cid], true);
    let err = client
        .execute(
            &source,
            Some(json!({"number": 13, "toSign": digest.to_vec(), "publicKey": pk_hex(&rec)})),
            &owner(),
        )
        .await
        .expect_err("bound to another PKP only");
    assert!(
        err.to_string().contains("is not permitted to sign"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_that_does_not_match_its_cid_is_refused() {
    let net = TestNet::start(3, &[]);
    let client = net.client();
    let http = reqwest::Client::new();
    let url = &client.network().nodes[0].url;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    let other_cid = candela_cid::cid_v0(b"something else");
    // upload under a CID the code does not hash to
    let r = http
        .post(format!("{url}/web/action/upload/v1"))
        .json(&json!({"code": b64(PRIME), "ipfsId": other_cid}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 400);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["errorCode"], "NodeActionCidMismatch");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or("")
            .contains("does not match"),
        "{body}"
    );
    // upload is idempotent and answers the real CID
    for _ in 0..2 {
        let r: Value = http
            .post(format!("{url}/web/action/upload/v1"))
            .json(&json!({"code": b64(PRIME)}))
            .send()
            .await
            .expect("send")
            .json()
            .await
            .expect("json");
        assert_eq!(r["ipfsId"], candela_cid::cid_v0(PRIME.as_bytes()));
    }
    // execute with code and a CID it does not hash to
    let auth = client.wallet_auth(&owner(), 600);
    let r = http
        .post(format!("{url}/web/execute/v1/"))
        .header("X-Request-Id", new_request_id())
        .json(&json!({"code": b64(PRIME), "ipfsId": other_cid, "authSig": auth, "jsParams": {}, "epoch": 1}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 400);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["errorCode"], "NodeActionCidMismatch");
    // execute by a CID no node stores
    let err = client
        .execute(&ActionSource::IpfsId(other_cid.clone()), None, &owner())
        .await
        .expect_err("unknown CID");
    assert!(err.to_string().contains("NodeActionNotFound"), "{err}");
    // a deploy that no node accepts fails clearly, naming the nodes
    let err = client
        .deploy_action(&[0xff, 0xfe])
        .await
        .map(|_| ())
        .expect_err("code that is not UTF-8 is refused");
    let text = err.to_string();
    assert!(
        text.starts_with("deploy failed: only 0 of the 3 nodes needed stored"),
        "{text}"
    );
    assert!(
        text.contains("node 2 (") && text.contains("NodeInvalidCode"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_reaches_a_loopback_server_but_not_private_addresses() {
    let net = TestNet::start(3, &[]);
    let client = net.client();
    let addr = start_http_server().await;
    let the_owner = owner();
    let rec = mint(&client, &the_owner, &[], false);
    // Lit's weather example, unchanged: fetch, decide, sign.
    let out = client
        .execute(
            &ActionSource::Code(lit_action("weather_condition")),
            Some(json!({"apiBase": format!("http://{addr}"), "publicKey": pk_hex(&rec)})),
            &the_owner,
        )
        .await
        .expect("weather action");
    assert_eq!(out.response, r#"{"temp":92,"signed":true}"#);
    assert_eq!(out.logs, "current temp 92\n");
    let sig = &out.signatures["weather"];
    let expected: [u8; 32] = {
        use sha3::Digest;
        sha3::Keccak256::digest(br#"{"temp":92}"#).into()
    };
    assert_eq!(sig.digest, expected);
    assert_eq!(
        recover(&sig.signature, &expected),
        derive::checksum_address(&rec.eth_address())
    );
    // private and link-local destinations are refused by every node
    let probe = r#"(async () => {
        const out = [];
        for (const u of urls) {
            try { await fetch(u); out.push("reached"); } catch (e) { out.push(String(e.message || e)); }
        }
        Lit.Actions.setResponse({ response: JSON.stringify(out) });
    })();"#;
    let out = client
        .execute(
            &ActionSource::Code(probe.into()),
            Some(json!({"urls": ["http://169.254.169.254/latest", "http://10.0.0.1/", "http://[fd00::1]/"]})),
            &owner(),
        )
        .await
        .expect("probe");
    let answers: Vec<String> = serde_json::from_str(&out.response).expect("json");
    assert_eq!(answers.len(), 3);
    for a in &answers {
        assert!(a.contains("may not reach"), "{answers:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limit_error_is_clear_and_the_node_keeps_serving() {
    let net = TestNet::start(
        3,
        &[
            "--action-wall-time-ms",
            "5000",
            "--action-max-signatures",
            "2",
        ],
    );
    let client = net.client();
    let the_owner = owner();
    let rec = mint(&client, &the_owner, &[], false);
    let err = client
        .execute(
            &ActionSource::Code("console.log('spinning'); while (true) {}".into()),
            None,
            &owner(),
        )
        .await
        .expect_err("an endless loop is stopped");
    let text = err.to_string();
    assert!(text.contains("NodeActionLimitExceeded"), "{text}");
    assert!(
        text.contains("wall time limit exceeded") && text.contains("5000ms"),
        "{text}"
    );
    // the error carries the logs so far
    let http = reqwest::Client::new();
    let auth = client.wallet_auth(&owner(), 600);
    let body: Value = http
        .post(format!("{}/web/execute/v1", client.network().nodes[0].url))
        .header("X-Request-Id", new_request_id())
        .json(&Client::execute_request(
            &ActionSource::Code("console.log('spinning'); while (true) {}".into()),
            None,
            &auth,
        ))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(body["errorCode"], "NodeActionLimitExceeded");
    assert_eq!(body["logs"], "spinning\n");
    assert!(!body["correlationId"].as_str().unwrap_or("").is_empty());
    // too many signatures: a clear error, and no signature comes out
    let three = r#"(async () => {
        for (const n of ["a", "b", "c"]) {
            await Lit.Actions.signEcdsa({ toSign, publicKey, sigName: n });
        }
    })();"#;
    let err = client
        .execute(
            &ActionSource::Code(three.into()),
            Some(json!({"toSign": random_digest().to_vec(), "publicKey": pk_hex(&rec)})),
            &the_owner,
        )
        .await
        .expect_err("over the signature limit");
    assert!(
        err.to_string().contains("signature count limit exceeded"),
        "{err}"
    );
    // the nodes keep serving
    let ok = client
        .execute(
            &ActionSource::Code("Lit.Actions.setResponse({response: 'still here'})".into()),
            None,
            &owner(),
        )
        .await
        .expect("nodes still serve");
    assert_eq!(ok.response, "still here");
    // a duplicate sigName within one run is an error
    let dup = r#"(async () => {
        await Lit.Actions.signEcdsa({ toSign, publicKey, sigName: "same" });
        await Lit.Actions.signEcdsa({ toSign, publicKey, sigName: "same" });
    })();"#;
    let err = client
        .execute(
            &ActionSource::Code(dup.into()),
            Some(json!({"toSign": random_digest().to_vec(), "publicKey": pk_hex(&rec)})),
            &the_owner,
        )
        .await
        .expect_err("duplicate sigName");
    assert!(err.to_string().contains("duplicate sigName"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_execute_request_id_is_refused() {
    let net = TestNet::start(3, &[]);
    let client = net.client();
    let auth = client.wallet_auth(&owner(), 600);
    let rid = new_request_id();
    let source = ActionSource::Code("Lit.Actions.setResponse({response: 'once'})".into());
    let first = client
        .execute_once(&rid, &source, None, &auth.clone().into())
        .await
        .expect("first run");
    assert_eq!(first.response, "once");
    let err = client
        .execute_once(&rid, &source, None, &auth.clone().into())
        .await
        .expect_err("replay");
    let text = err.to_string();
    assert_eq!(text.matches("409 NodeRequestReplayed").count(), 3, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lit_style_actions_run_over_the_network_unchanged() {
    let net = TestNet::start(3, &[]);
    let client = net.client();
    let the_owner = owner();
    let rec = mint(&client, &the_owner, &[], false);
    let pk = pk_hex(&rec);
    let pkp_addr = derive::checksum_address(&rec.eth_address());
    let keccak = |b: &[u8]| -> [u8; 32] {
        use sha3::Digest;
        sha3::Keccak256::digest(b).into()
    };
    // hello world: ethers + signEcdsa
    let out = client
        .execute(
            &ActionSource::Code(lit_action("hello_world")),
            Some(json!({"publicKey": pk})),
            &the_owner,
        )
        .await
        .expect("hello_world");
    assert_eq!(
        out.response,
        r#"{"message":"Hello World","sigShare":"success"}"#
    );
    let d = keccak(b"Hello World");
    assert_eq!(recover(&out.signatures["sig1"].signature, &d), pkp_addr);
    // several signatures in one run, each with its own presignature
    let out = client
        .execute(
            &ActionSource::Code(lit_action("multiple_signatures")),
            Some(json!({"publicKey": pk, "messages": ["one", "two", "three"]})),
            &the_owner,
        )
        .await
        .expect("multiple_signatures");
    assert_eq!(out.response, r#"["sig0","sig1","sig2"]"#);
    assert_eq!(out.signatures.len(), 3);
    let mut rs = Vec::new();
    for (i, m) in ["one", "two", "three"].iter().enumerate() {
        let s = &out.signatures[&format!("sig{i}")];
        assert_eq!(recover(&s.signature, &keccak(m.as_bytes())), pkp_addr);
        rs.push(s.signature.r_bytes());
    }
    rs.sort();
    rs.dedup();
    assert_eq!(rs.len(), 3, "each signature uses its own nonce");
    // personal sign: EIP-191 digest
    let out = client
        .execute(
            &ActionSource::Code(lit_action("personal_sign")),
            Some(json!({"dataToSign": "gm", "pkpPublicKey": pk, "sigName": "sig"})),
            &the_owner,
        )
        .await
        .expect("personal_sign");
    assert_eq!(out.response, "success");
    let d = candela_api::auth::eip191_hash(b"gm");
    assert_eq!(recover(&out.signatures["sig"].signature, &d), pkp_addr);
    // Lit.Auth and isPermittedAction over a mint-grant-burn PKP
    let gate = lit_action("auth_gate");
    let gate_cid = candela_cid::cid_v0(gate.as_bytes());
    let bound = mint(&client, &owner(), &[&gate_cid], true);
    let caller = owner();
    let caller_addr =
        derive::checksum_address(&derive::eth_address(caller.verifying_key().as_affine()));
    let out = client
        .execute(
            &ActionSource::Code(gate),
            Some(json!({"owner": caller_addr, "publicKey": pk_hex(&bound)})),
            &caller,
        )
        .await
        .expect("auth_gate");
    assert_eq!(
        out.response,
        format!(r#"{{"current":"{gate_cid}","permitted":true}}"#)
    );
    assert_eq!(out.signatures.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_action_share_is_named_and_left_out() {
    let net = TestNet::start(4, &[]);
    let client = net.client();
    let the_owner = owner();
    let rec = mint(&client, &the_owner, &[], false);
    let auth = client.wallet_auth(&the_owner, 600);
    let rid = new_request_id();
    let digest = random_digest();
    let body = Client::execute_request(
        &ActionSource::Code(PRIME.into()),
        Some(json!({"number": 7, "toSign": digest.to_vec(), "publicKey": pk_hex(&rec)})),
        &auth,
    );
    let answers = client.execute_raw(&rid, &body).await;
    assert!(answers.values().all(|a| a.is_ok()), "{answers:?}");
    let honest = client
        .verify_execute(&rid, &answers)
        .expect("honest answers combine");
    assert!(honest.faults.is_empty(), "{:?}", honest.faults);
    let signers = answers[&0].as_ref().expect("ok").signed_data["prime"]
        .candela
        .signers
        .clone();
    assert_eq!(signers.len(), 3);
    let liar = signers[1];
    let mut tampered: BTreeMap<u32, Result<_, String>> = answers.clone();
    if let Some(Ok(r)) = tampered.get_mut(&liar) {
        let share = &mut r
            .signed_data
            .get_mut("prime")
            .expect("share")
            .signature_share;
        let mut b = hex::decode(&*share).expect("hex");
        b[31] ^= 1;
        *share = hex::encode(b);
    }
    let err = client
        .verify_execute(&rid, &tampered)
        .expect_err("t shares needed");
    crate::common::assert_only_liar_named(err, 2, liar);
    // a node that reports another response is outvoted and named
    let mut odd = answers.clone();
    let outsider = (0..4u32)
        .find(|i| !signers.contains(i))
        .expect("one node is not a signer");
    if let Some(Ok(r)) = odd.get_mut(&outsider) {
        r.response = "something else".into();
    }
    let out = client.verify_execute(&rid, &odd).expect("3 of 4 agree");
    assert!(
        out.faults
            .iter()
            .any(|f| f.node == outsider && f.misbehaved),
        "{:?}",
        out.faults
    );
    assert!(!out.nodes[outsider as usize].response_agreed);
    assert_eq!(
        recover(&out.signatures["prime"].signature, &digest),
        derive::checksum_address(&rec.eth_address())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_that_talk_between_nodes_agree_over_the_network() {
    let net = TestNet::start(3, &[]);
    let client = net.client();
    let addr = start_http_server().await;
    let the_owner = owner();
    let rec = mint(&client, &the_owner, &[], false);
    let pk = pk_hex(&rec);
    let pkp_addr = derive::checksum_address(&rec.eth_address());
    // fetch + broadcastAndCollect + sign the agreed price
    let out = client
        .execute(
            &ActionSource::Code(lit_action("price_oracle")),
            Some(json!({"apiBase": format!("http://{addr}"), "publicKey": pk})),
            &the_owner,
        )
        .await
        .expect("price_oracle");
    assert_eq!(out.response, r#"{"median":3141.59,"nodes":3}"#);
    assert_eq!(out.signatures.len(), 1);
    // runOnce: one node computes, every node returns its result
    let out = client
        .execute(
            &ActionSource::Code(lit_action("run_once_tx")),
            Some(json!({"recipient": "0x19E7E376E7C213B7E7e7e46cc70A5dD086DAff2A"})),
            &owner(),
        )
        .await
        .expect("run_once_tx");
    let v: Value = serde_json::from_str(&out.response).expect("json");
    assert_eq!(v["txHash"].as_str().map(str::len), Some(66));
    assert!(out.nodes.iter().all(|n| n.response_agreed));
    // signAndCombineEcdsa: nodes exchange shares and each combines
    let out = client
        .execute(
            &ActionSource::Code(lit_action("sign_and_combine")),
            Some(json!({"payload": "combine me", "publicKey": pk})),
            &the_owner,
        )
        .await
        .expect("sign_and_combine");
    let v: Value = serde_json::from_str(&out.response).expect("json");
    assert_eq!(v["recovered"], v["expected"], "{v}");
    assert_eq!(v["expected"], pkp_addr.as_str());
    assert!(
        out.signatures.is_empty(),
        "the combined signature stays in the action"
    );
    // Lit.Actions.call runs a deployed child, verified by its CID
    let child =
        r#"(async () => { Lit.Actions.setResponse({response: JSON.stringify({hello: who}) }) })()"#;
    let (child_cid, _) = client
        .deploy_action(child.as_bytes())
        .await
        .expect("deploy");
    let out = client
        .execute(
            &ActionSource::Code(lit_action("child_call")),
            Some(json!({"childCid": child_cid})),
            &owner(),
        )
        .await
        .expect("child_call");
    assert_eq!(out.response, r#"{"child":{"hello":"parent"}}"#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_action_is_verified_against_its_cid_before_it_runs() {
    let net = TestNet::start(4, &[]);
    let client = net.client();
    let code = "Lit.Actions.setResponse({response: 'genuine'})";
    let (cid, _) = client.deploy_action(code.as_bytes()).await.expect("deploy");
    // Corrupt node 1's copy behind its back.
    let db = rusqlite::Connection::open(net.path().join("node-1/node.sqlite")).expect("db");
    db.busy_timeout(std::time::Duration::from_secs(5))
        .expect("busy");
    let n = db
        .execute(
            "UPDATE actions SET code = ?1 WHERE cid = ?2",
            rusqlite::params![
                b"Lit.Actions.setResponse({response: 'forged'})".to_vec(),
                cid
            ],
        )
        .expect("update");
    assert_eq!(n, 1);
    drop(db);
    let out = client
        .execute(&ActionSource::IpfsId(cid.clone()), None, &owner())
        .await
        .expect("3 of 4 nodes still run the genuine code");
    assert_eq!(out.response, "genuine");
    let bad = &out.nodes[1];
    assert!(!bad.ok && !bad.response_agreed, "{bad:?}");
    let why = bad.error.as_deref().unwrap_or("");
    assert!(
        why.contains("NodeActionCorrupted") && why.contains("fails its CID check"),
        "{why}"
    );
    assert!(out.faults.iter().any(|f| f.node == 1), "{:?}", out.faults);
}

/// JSON-RPC to a real anvil (`candela_registry::anvil`).
trait Rpc {
    async fn rpc(&self, method: &str, params: serde_json::Value) -> serde_json::Value;
}

impl Rpc for Anvil {
    async fn rpc(&self, method: &str, params: serde_json::Value) -> serde_json::Value {
        let http = reqwest::Client::new();
        for _ in 0..100 {
            let r = http
                .post(&self.url)
                .json(&serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
                .send()
                .await;
            if let Ok(r) = r {
                let v: serde_json::Value = r.json().await.expect("json");
                return v["result"].clone();
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("anvil did not answer {method}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_rpc_url_get_latest_nonce_and_ethers_provider_read_a_real_anvil_chain() {
    let anvil = Anvil::start().expect("anvil (bash contracts/setup.sh installs it)");
    let accounts = anvil.rpc("eth_accounts", serde_json::json!([])).await;
    let from = accounts[0].as_str().expect("account").to_string();
    // two transactions: the account's nonce becomes 2
    for _ in 0..2 {
        let tx = serde_json::json!([{"from": from, "to": accounts[1], "value": "0x1"}]);
        assert!(anvil.rpc("eth_sendTransaction", tx).await.is_string());
    }
    let rpc_flag = format!("anvil={}", anvil.url);
    let net = crate::common::TestNet::start(3, &["--chain-rpc", &rpc_flag]);
    let client = net.client();
    let code = format!(
        r#"(async () => {{
            const url = await Lit.Actions.getRpcUrl({{ chain: "anvil" }});
            const nonce = await Lit.Actions.getLatestNonce({{ address: "{from}", chain: "anvil" }});
            // ethers' provider reads go through the node's fetch
            const provider = new ethers.providers.JsonRpcProvider(url);
            const block = await provider.getBlockNumber();
            const count = await provider.getTransactionCount("{from}");
            Lit.Actions.setResponse({{ response: JSON.stringify({{ url, nonce, block, count }}) }});
        }})();"#
    );
    let out = client
        .execute(&ActionSource::Code(code), None, &crate::common::owner())
        .await
        .expect("execute");
    let v: serde_json::Value = serde_json::from_str(&out.response).expect("json response");
    assert_eq!(v["url"], anvil.url.as_str());
    assert_eq!(v["nonce"], "0x2", "{v}");
    assert_eq!(v["block"], 2, "{v}");
    assert_eq!(v["count"], 2, "{v}");
    // an unknown chain is a clear error
    let err = client
        .execute(
            &ActionSource::Code("(async () => { await Lit.Actions.getLatestNonce({ address: '0x0000000000000000000000000000000000000001', chain: 'nope' }); })();".into()),
            None,
            &crate::common::owner(),
        )
        .await
        .expect_err("unknown chain");
    assert!(err.to_string().contains("no RPC URL for chain"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lits_documented_sign_and_broadcast_code_sends_a_transaction_from_the_pkp_on_anvil() {
    let anvil = Anvil::start().expect("anvil (bash contracts/setup.sh installs it)");
    let rpc_flag = format!("anvil={}", anvil.url);
    let net = crate::common::TestNet::start(3, &["--chain-rpc", &rpc_flag]);
    let client = net.client();
    let the_owner = owner();
    let rec = mint(&client, &the_owner, &[], false);
    let pkp_addr = derive::checksum_address(&rec.eth_address());
    // Fund the PKP, as a user would before sending from it.
    let funded = anvil
        .rpc(
            "anvil_setBalance",
            json!([pkp_addr, "0x8AC7230489E80000"]), // 10 ETH
        )
        .await;
    assert!(funded.is_null(), "{funded}");
    let recipient = "0x19E7E376E7C213B7E7e7e46cc70A5dD086DAff2A";
    let gas_price = anvil.rpc("eth_gasPrice", json!([])).await;
    let unsigned = json!({
        "to": recipient,
        "value": "0x2386F26FC10000", // 0.01 ETH
        "gasLimit": 21000,
        "gasPrice": gas_price,
        "nonce": 0,
        "chainId": 31337,
    });
    let file = net.path().join("lit_send_transaction.js");
    std::fs::write(&file, lit_action("lit_send_transaction")).expect("write action");
    let params = json!({
        "unsignedTransaction": unsigned,
        "publicKey": pk_hex(&rec).trim_start_matches("0x"),
        "sigName": "sig1",
        "chain": "anvil",
    })
    .to_string();
    let network = net.network_path();
    let key = hex::encode(the_owner.to_bytes());
    let (ok, stdout, stderr) = cli(&[
        "action",
        "run",
        file.to_str().expect("utf-8 path"),
        "--json",
        "--params",
        &params,
        "--network",
        network.to_str().expect("utf-8 path"),
        "--private-key",
        &key,
    ]);
    assert!(ok, "{stdout}\n{stderr}");
    let out: Value = serde_json::from_str(&stdout).expect("action run --json prints JSON");
    let hash = out["response"].as_str().unwrap_or_default().to_string();
    assert_eq!(
        hash.len(),
        66,
        "the response is the transaction hash: {out}"
    );
    assert!(
        out["logs"]
            .as_str()
            .unwrap_or_default()
            .contains(&format!("Recovered Address: {pkp_addr}")),
        "{out}"
    );
    // The chain mined it, from the PKP, to the recipient.
    let receipt = anvil.rpc("eth_getTransactionReceipt", json!([hash])).await;
    assert_eq!(receipt["status"], "0x1", "{receipt}");
    assert_eq!(
        receipt["from"].as_str().map(str::to_lowercase),
        Some(pkp_addr.to_lowercase()),
        "the transaction recovers to the PKP, not a stranger: {receipt}"
    );
    assert_eq!(
        receipt["to"].as_str().map(str::to_lowercase),
        Some(recipient.to_lowercase())
    );
    let balance = anvil
        .rpc("eth_getBalance", json!([recipient, "latest"]))
        .await;
    assert_eq!(balance, "0x2386f26fc10000", "{balance}");

    // An error thrown inside a runOnce callback: every node returns Lit's
    // "[ERROR]", and the error itself shows in `action run`'s output.
    let boom = net.path().join("boom.js");
    std::fs::write(
        &boom,
        r#"(async () => {
            const r = await Lit.Actions.runOnce({ waitForResponse: true, name: "sender" }, async () => {
                throw new Error("nonce too low: the RPC refused it");
            });
            Lit.Actions.setResponse({ response: r });
        })();"#,
    )
    .expect("write action");
    let (ok, stdout, stderr) = cli(&[
        "action",
        "run",
        boom.to_str().expect("utf-8 path"),
        "--json",
        "--network",
        network.to_str().expect("utf-8 path"),
        "--private-key",
        &key,
    ]);
    assert!(ok, "{stdout}\n{stderr}");
    let out: Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(out["response"], "[ERROR]", "{out}");
    assert!(
        stdout.contains("nonce too low: the RPC refused it"),
        "the callback's error is visible: {stdout}"
    );
}

/// Lit's `http_headers` test on a network: the execute request's HTTP
/// headers reach the action as `Lit.Headers` (lower-case names, repeated
/// ones joined with ", ").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_actions_lit_headers_are_the_execute_requests_http_headers() {
    let net = TestNet::start(3, &[]);
    let client = net.client();
    let wallet = owner();
    let code = "Lit.Actions.setResponse({response: JSON.stringify({\
        custom: Lit.Headers.get('x-candela-test'), \
        repeated: Lit.Headers.get('x-repeated'), \
        missing: Lit.Headers.get('x-not-sent')})});";
    let auth = client.wallet_auth(&wallet, 600);
    let body = Client::execute_request(&ActionSource::Code(code.to_string()), None, &auth);
    let node = &client.network().nodes[0];
    let r = reqwest::Client::new()
        .post(format!("{}/web/execute/v1", node.url))
        .header(candela_api::REQUEST_ID_HEADER, new_request_id())
        .header("X-Candela-Test", "hello")
        .header("x-repeated", "a")
        .header("x-repeated", "b")
        .json(&body)
        .send()
        .await
        .expect("send");
    assert!(
        r.status().is_success(),
        "{}",
        r.text().await.unwrap_or_default()
    );
    let answer: Value = r.json().await.expect("json");
    let response: Value =
        serde_json::from_str(answer["response"].as_str().expect("response")).expect("json");
    assert_eq!(
        response,
        json!({"custom": "hello", "repeated": "a, b", "missing": null})
    );
}
