//! End to end: on a SQLite registry, `candela pkp mint|grant|...` go
//! through the nodes as changes the owner signed, never by writing the
//! registry file; a node applies a change once, for its own network, before
//! it expires, and only from the PKP's owner.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::common::*;
use candela_crypto::derive;
use candela_registry::signed_op::{GrantWire, RegistryChange, SignedChange};
use candela_registry::{AuthMethod, Permission, SCOPE_SIGN_ANYTHING};
use serde_json::Value;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// POST a signed change to node 0: (status, body).
async fn post(net: &TestNet, signed: &SignedChange) -> (u16, Value) {
    let url = format!(
        "{}/candela/registry/v1/change",
        net.client().network().nodes[0].url
    );
    let r = reqwest::Client::new()
        .post(url)
        .json(signed)
        .send()
        .await
        .expect("send");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_mints_through_the_nodes_without_touching_the_registry_file() {
    let net = TestNet::start(3, &[]);
    let client = net.client();
    // a network.json whose registry file the CLI cannot reach
    let mut desc: Value =
        serde_json::from_slice(&std::fs::read(net.network_path()).expect("read")).expect("json");
    let text = desc["registry"].to_string();
    assert!(text.contains("sqlite") || text.contains("path"), "{text}");
    desc["registry"]["path"] = Value::String("/nonexistent/registry.sqlite".into());
    let elsewhere = net.path().join("network-elsewhere.json");
    std::fs::write(&elsewhere, serde_json::to_vec(&desc).expect("json")).expect("write");

    let the_owner = owner();
    let out = std::process::Command::new(BIN)
        .args(["pkp", "mint", "--json", "--network"])
        .arg(&elsewhere)
        .arg("--private-key")
        .arg(hex::encode(the_owner.to_bytes()))
        .output()
        .expect("mint");
    assert!(
        out.status.success(),
        "mint through the nodes: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let minted: Value = serde_json::from_slice(&out.stdout).expect("mint json");
    let token = candela_cli_token(&minted);
    let rec = registry(&client)
        .by_token_id(&token)
        .expect("the nodes' registry has it");
    assert_eq!(
        rec.owner,
        derive::eth_address(the_owner.verifying_key().as_affine())
    );
    // and the PKP signs
    let d = random_digest();
    client
        .pkp_sign(&the_owner, &rec.public_key, d)
        .await
        .expect("sign")
        .signature
        .verify(&rec.public_key, &d)
        .expect("verifies");
}

fn candela_cli_token(minted: &Value) -> [u8; 32] {
    let hex_id = minted["tokenId"].as_str().expect("tokenId");
    hex::decode(hex_id.trim_start_matches("0x"))
        .expect("hex")
        .try_into()
        .expect("32 bytes")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_change_is_applied_once_on_its_network_before_expiry_by_the_owner_only() {
    let net = TestNet::start(3, &[]);
    let client = net.client();
    let root = derive::public_key_hex(client.root_public_key());
    let the_owner = owner();
    let mint = RegistryChange::Mint {
        grants: vec![],
        burn: false,
        key_type: None,
    };
    let signed = SignedChange::sign(mint.clone(), &the_owner, &root, now_ms(), 60_000);
    let (status, body) = post(&net, &signed).await;
    assert_eq!(status, 200, "{body}");
    let token = candela_cli_token(&body["pkp"]);

    // replayed: refused, nothing minted twice
    let before = registry(&client)
        .owned_by(derive::eth_address(the_owner.verifying_key().as_affine()))
        .expect("list")
        .len();
    let (status, body) = post(&net, &signed).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("already applied"), "{body}");
    let after = registry(&client)
        .owned_by(derive::eth_address(the_owner.verifying_key().as_affine()))
        .expect("list")
        .len();
    assert_eq!(before, after, "a replay mints nothing");

    // signed for another network, or expired: refused
    let other = SignedChange::sign(mint.clone(), &the_owner, "04deadbeef", now_ms(), 60_000);
    let (status, body) = post(&net, &other).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("another network"), "{body}");
    let old = SignedChange::sign(mint, &the_owner, &root, now_ms() - 120_000, 60_000);
    let (status, body) = post(&net, &old).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("expired"), "{body}");

    // a stranger cannot grant on the owner's PKP
    let grant = RegistryChange::Grant {
        token_id: format!("0x{}", hex::encode(token)),
        grant: GrantWire::from_permission(&Permission::new(
            AuthMethod::address([7u8; 20]),
            [SCOPE_SIGN_ANYTHING],
        )),
    };
    let stranger = SignedChange::sign(grant.clone(), &owner(), &root, now_ms(), 60_000);
    let (status, body) = post(&net, &stranger).await;
    assert_eq!(status, 403, "{body}");
    assert!(!registry(&client)
        .is_permitted_address(&token, [7u8; 20])
        .expect("read"));
    // the owner can
    let by_owner = SignedChange::sign(grant, &the_owner, &root, now_ms(), 60_000);
    let (status, body) = post(&net, &by_owner).await;
    assert_eq!(status, 200, "{body}");
    assert!(registry(&client)
        .is_permitted_address(&token, [7u8; 20])
        .expect("read"));
}
