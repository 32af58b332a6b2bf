//! Actions written the way existing Lit Actions are (tests/actions/*.js), run unchanged.

use std::sync::Arc;

use crate::common::*;
use candela_actions::{execute, AuthContext, ExecutionContext, Host, Limits, SignKind};
use serde_json::{json, Value};

fn action(name: &str) -> String {
    let path = format!("{}/tests/actions/{name}.js", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn keccak_hex(data: &[u8]) -> [u8; 32] {
    candela_actions::hashing::keccak256(data)
}

async fn signer_host() -> (Arc<TestHost>, String) {
    let mut h = TestHost::new();
    let pk = h.add_key(0x42);
    (Arc::new(h), pk)
}

#[tokio::test]
async fn prime_number_signs_only_primes() {
    let (h, pk) = signer_host().await;
    let to_sign: Vec<u8> = (0..32).collect();
    let out = run(
        &h,
        &action("prime_number"),
        json!({"number": 7919, "toSign": to_sign, "publicKey": pk}),
    )
    .await
    .unwrap();
    assert_eq!(out.response, r#"{"signed":true,"sigShare":"success"}"#);
    assert_eq!(out.signatures.len(), 1);
    assert_eq!(out.signatures[0].to_sign.to_vec(), to_sign);
    assert_eq!(out.signatures[0].sig_name, "primeSig");

    let out = run(
        &h,
        &action("prime_number"),
        json!({"number": 91, "toSign": to_sign, "publicKey": pk}),
    )
    .await
    .unwrap();
    assert_eq!(
        out.response,
        r#"{"signed":false,"reason":"91 is not a prime number"}"#
    );
    assert!(out.signatures.is_empty());
}

#[tokio::test]
async fn hello_world_signs_the_keccak_of_the_message() {
    ensure_ethers();
    let (h, pk) = signer_host().await;
    let out = run(&h, &action("hello_world"), json!({"publicKey": pk}))
        .await
        .unwrap();
    assert_eq!(
        out.response,
        r#"{"message":"Hello World","sigShare":"success"}"#
    );
    assert_eq!(out.signatures[0].to_sign, keccak_hex(b"Hello World"));
}

#[tokio::test]
async fn personal_sign_example_signs_the_eip191_digest() {
    let (h, pk) = signer_host().await;
    let out = run(
        &h,
        &action("personal_sign"),
        json!({"dataToSign": "gm", "pkpPublicKey": pk, "sigName": "sig"}),
    )
    .await
    .unwrap();
    assert_eq!(out.response, "success");
    assert_eq!(out.signatures[0].kind, SignKind::EthPersonalMessage);
    assert_eq!(
        out.signatures[0].to_sign,
        candela_actions::hashing::eip191_hash(b"gm")
    );
}

#[tokio::test]
async fn weather_condition_fetches_then_signs() {
    ensure_ethers();
    let addr = start_http_server().await;
    let (h, pk) = signer_host().await;
    let out = run(
        &h,
        &action("weather_condition"),
        json!({"apiBase": format!("http://{addr}"), "publicKey": pk}),
    )
    .await
    .unwrap();
    assert_eq!(out.response, r#"{"temp":92,"signed":true}"#);
    assert_eq!(out.logs, "current temp 92\n");
    assert_eq!(out.signatures[0].to_sign, keccak_hex(br#"{"temp":92}"#));
}

#[tokio::test]
async fn price_oracle_agrees_and_signs_an_abi_encoded_price() {
    ensure_ethers();
    let addr = start_http_server().await;
    let mut h = TestHost::new();
    let pk = h.add_key(1);
    h.peer_values = vec!["3100".into(), "3200".into()];
    let h = Arc::new(h);
    let out = run(
        &h,
        &action("price_oracle"),
        json!({"apiBase": format!("http://{addr}"), "publicKey": pk}),
    )
    .await
    .unwrap();
    assert_eq!(out.response, r#"{"median":3141.59,"nodes":3}"#);
    assert_eq!(out.signatures.len(), 1);
}

#[tokio::test]
async fn verify_then_sign_checks_the_callers_signature() {
    ensure_ethers();
    let (h, pk) = signer_host().await;
    // Made with ethers 5.7.2: new Wallet("0x" + "11".repeat(32)).signMessage("let me in")
    let wallet = "0x19E7E376E7C213B7E7e7e46cc70A5dD086DAff2A";
    let sign = r#"(async () => { const w = new ethers.Wallet("0x" + "11".repeat(32)); Lit.Actions.setResponse({response: await w.signMessage("let me in")}) })()"#;
    let sig = run(&h, sign, json!({})).await.unwrap().response;
    let out = run(
        &h,
        &action("verify_then_sign"),
        json!({"message": "let me in", "userSignature": sig, "allowed": [wallet], "publicKey": pk}),
    )
    .await
    .unwrap();
    assert_eq!(
        out.response,
        format!(r#"{{"ok":true,"signer":"{wallet}"}}"#)
    );
    assert_eq!(
        out.signatures[0].to_sign,
        candela_actions::hashing::eip191_hash(b"let me in")
    );
    let out = run(&h, &action("verify_then_sign"), json!({"message": "let me in", "userSignature": sig, "allowed": ["0x0000000000000000000000000000000000000001"], "publicKey": pk}))
        .await
        .unwrap();
    assert!(out.response.starts_with(r#"{"ok":false"#));
    assert!(out.signatures.is_empty());
}

#[tokio::test]
async fn multiple_signatures_get_their_own_names() {
    ensure_ethers();
    let (h, pk) = signer_host().await;
    let out = run(
        &h,
        &action("multiple_signatures"),
        json!({"messages": ["a", "b", "c"], "publicKey": pk}),
    )
    .await
    .unwrap();
    assert_eq!(out.response, r#"["sig0","sig1","sig2"]"#);
    let names: Vec<_> = out.signatures.iter().map(|s| s.sig_name.as_str()).collect();
    assert_eq!(names, ["sig0", "sig1", "sig2"]);
    assert_eq!(out.signatures[2].to_sign, keccak_hex(b"c"));
}

#[tokio::test]
async fn run_once_tx_returns_the_leaders_hash() {
    ensure_ethers();
    let mut h = TestHost::new();
    h.leader = true;
    let h = Arc::new(h);
    let out = run(
        &h,
        &action("run_once_tx"),
        json!({"recipient": "0x19E7E376E7C213B7E7e7e46cc70A5dD086DAff2A"}),
    )
    .await
    .unwrap();
    let v: Value = serde_json::from_str(&out.response).unwrap();
    let hash = v["txHash"].as_str().unwrap();
    assert_eq!(hash.len(), 66);
    assert_eq!(h.run_once_values.lock().unwrap()["txSender"], hash);
}

#[tokio::test]
async fn auth_gate_uses_lit_auth() {
    ensure_ethers();
    let mut h = TestHost::new();
    let pk = h.add_key(2);
    h.permitted_actions = vec!["QmGate".into()];
    let h = Arc::new(h);
    let ctx = ExecutionContext {
        js_params: Some(json!({"owner": "0xAbC", "publicKey": pk})),
        auth: AuthContext {
            action_ipfs_id_stack: vec!["QmGate".into()],
            auth_sig_address: Some("0xabc".into()),
            ..Default::default()
        },
    };
    let dynh: Arc<dyn Host> = h.clone();
    let out = execute(&action("auth_gate"), ctx, dynh, &Limits::default())
        .await
        .unwrap();
    assert_eq!(out.response, r#"{"current":"QmGate","permitted":true}"#);
    use sha2::Digest;
    let expected: [u8; 32] = sha2::Sha256::digest(b"QmGate").into();
    assert_eq!(out.signatures[0].to_sign, expected);
}

#[tokio::test]
async fn sign_and_combine_recovers_the_pkp_address() {
    ensure_ethers();
    let (h, pk) = signer_host().await;
    let out = run(
        &h,
        &action("sign_and_combine"),
        json!({"payload": "combine me", "publicKey": pk}),
    )
    .await
    .unwrap();
    let v: Value = serde_json::from_str(&out.response).unwrap();
    assert_eq!(v["recovered"], v["expected"]);
}

#[tokio::test]
async fn child_call_wraps_the_childs_response() {
    let mut h = TestHost::new();
    h.actions.insert(
        "QmChild".into(),
        r#"(async () => { Lit.Actions.setResponse({response: JSON.stringify({hello: who}) }) })()"#
            .into(),
    );
    let h = Arc::new(h);
    let out = run(&h, &action("child_call"), json!({"childCid": "QmChild"}))
        .await
        .unwrap();
    assert_eq!(out.response, r#"{"child":{"hello":"parent"}}"#);
}

#[tokio::test]
async fn wallet_entropy_uses_crypto_random_values() {
    ensure_ethers();
    let out = run(
        &Arc::new(TestHost::new()),
        &action("wallet_entropy"),
        json!({}),
    )
    .await
    .unwrap();
    assert_eq!(out.response, r#"{"same":true,"length":65}"#);
}
