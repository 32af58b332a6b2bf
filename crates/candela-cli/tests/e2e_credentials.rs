//! End-to-end: credentials carry no more authority than they were given
//! (issue 15, item 3), at real nodes.
//!
//! - A capability (a wallet's SIWE delegation to a session key, a
//!   network-signed `lit.bls` capability) is valid only inside the session
//!   signature that delegates to it: whoever saw one session signature (any
//!   node) cannot present its capability as a plain `authSig` or as an auth
//!   method.
//! - A plain wallet `authSig` grants only what its ReCap lists, must carry an
//!   `Expiration Time` within the node's `maxAuthSigLifetimeSeconds`, and is
//!   refused once its `Issued At` is older than `maxAuthSigAgeSeconds`, on
//!   `pkp/sign`, `execute` and `encryption/sign` alike.
//! - Permission to run an action does not let it sign with the caller's
//!   PKPs: that needs a `pkp-signing` grant for the PKP in the caller's
//!   credential, unless the PKP permits the action's CID.

use std::time::Duration;

use crate::common::*;
use base64::Engine;
use candela_api::auth::{network_nonce, nonce_window, AuthSig, WALLET_AUTH_URI};
use candela_api::session::{recap_resource, wallet_requests, PendingSession, SessionSignedMessage};
use candela_client::{Ability, ActionSource, PkpAuth, RequestAuth, ResourceAbilityRequest};
use candela_crypto::derive;
use serde_json::{json, Value};

/// POST `body` to `path` at the node `url` with a fresh request id; the
/// status and JSON answer.
async fn post(url: &str, path: &str, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{url}{path}"))
        .header("X-Request-Id", candela_client::new_request_id())
        .json(&body)
        .send()
        .await
        .expect("send");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// `pkp/sign` of a random digest with `auth` (and `methods` as
/// `authMethods`).
async fn sign_at(url: &str, auth: &AuthSig, pkp: &str, methods: &[AuthSig]) -> (u16, Value) {
    let methods: Vec<Value> = methods
        .iter()
        .map(|m| json!({"authMethodType": 1, "accessToken": serde_json::to_string(m).unwrap_or_default()}))
        .collect();
    post(
        url,
        "/web/pkp/sign/v1",
        json!({"toSign": random_digest().to_vec(), "pubkey": pkp, "authSig": auth,
            "authMethods": methods, "epoch": 1}),
    )
    .await
}

const RESPOND: &str = "Lit.Actions.setResponse({ response: 'ran' });";

/// `execute` of a trivial action with `auth`.
async fn execute_at(url: &str, auth: &AuthSig) -> (u16, Value) {
    let code = base64::engine::general_purpose::STANDARD.encode(RESPOND);
    post(
        url,
        "/web/execute/v1",
        json!({"code": code, "authSig": auth, "epoch": 1}),
    )
    .await
}

/// `encryption/sign` (a decryption share) for data only `address` may
/// decrypt, with `auth`.
async fn decrypt_at(url: &str, auth: &AuthSig, address: &str) -> (u16, Value) {
    post(
        url,
        "/web/encryption/sign/",
        json!({
            "accessControlConditions": [{
                "contractAddress": "", "standardContractType": "", "chain": "ethereum",
                "method": "", "parameters": [":userAddress"],
                "returnValueTest": {"comparator": "=", "value": address},
            }],
            "dataToEncryptHash": hex::encode(random_digest()),
            "chain": "ethereum",
            "authSig": auth,
            "epoch": 1,
        }),
    )
    .await
}

/// Assert a refusal: `status`, `error_code`, and a message containing
/// `says`.
fn refused(what: &str, (status, body): (u16, Value), want: u16, error_code: &str, says: &str) {
    assert_eq!(status, want, "{what}: {body}");
    assert_eq!(body["errorCode"], error_code, "{what}: {body}");
    let message = body["message"].as_str().unwrap_or("");
    assert!(
        message.contains(says),
        "{what}: the message should say {says:?}: {body}"
    );
}

fn address(key: &k256::ecdsa::SigningKey) -> String {
    derive::checksum_address(&derive::eth_address(key.verifying_key().as_affine()))
}

const CAPABILITY: &str = "valid only inside the session signature";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capability_seen_in_one_session_signature_is_refused_as_a_plain_auth_sig_or_auth_method()
{
    let net = TestNet::start(3, &[]);
    let client = net.client();
    let url = client.network().nodes[0].url.clone();
    let (owner, attacker) = (owner(), owner());
    let reg = registry(&client);
    let pkp = reg.mint(&owner, client.root_public_key()).expect("mint");
    let pk = derive::public_key_hex(&pkp.public_key);

    // The owner's session signs at node 0: node 0 (like anyone who sees the
    // request) now holds the owner's wallet capability.
    let session = client.session(&owner);
    let seen = session.sign_for(&url);
    let (status, body) = sign_at(&url, &seen, &pk, &[]).await;
    assert_eq!(status, 200, "the session itself may sign: {body}");
    let m: SessionSignedMessage = serde_json::from_str(&seen.signed_message).expect("session");
    let stolen = m.capabilities[0].clone();
    assert_eq!(stolen.address, address(&owner));
    let grants =
        candela_api::session::recap_grants(&stolen.signed_message.parse().expect("a SIWE message"))
            .expect("recap");
    assert!(
        grants["lit-pkp://*"].contains_key("Threshold/Signing"),
        "it grants signing with every PKP of the owner: {grants:?}"
    );

    // The attack: present it as the authSig of pkp/sign.
    refused(
        "a wallet capability as authSig on pkp/sign",
        sign_at(&url, &stolen, &pk, &[]).await,
        401,
        "NodeInvalidAuthSig",
        CAPABILITY,
    );
    // ...or as an auth method (type 1) beside the attacker's own session
    let own = client.session(&attacker).sign_for(&url);
    refused(
        "a wallet capability as auth method on pkp/sign",
        sign_at(&url, &own, &pk, std::slice::from_ref(&stolen)).await,
        401,
        "NodeInvalidAuthMethod",
        CAPABILITY,
    );
    // ...on execute and encryption/sign alike
    refused(
        "a wallet capability as authSig on execute",
        execute_at(&url, &stolen).await,
        401,
        "NodeInvalidAuthSig",
        CAPABILITY,
    );
    refused(
        "a wallet capability as authSig on encryption/sign",
        decrypt_at(&url, &stolen, &address(&owner)).await,
        401,
        "NodeInvalidAuthSig",
        CAPABILITY,
    );
    // ...or to have the network sign a PKP session for the owner's PKP
    let pending = PendingSession::new(
        pkp.eth_address(),
        candela_client::default_session_requests(),
        "localhost",
        &client.nonce(),
        time::Duration::minutes(10),
    );
    let request = json!({
        "sessionKey": format!("lit:session:{}", pending.public_key_hex()),
        "authMethods": [{"authMethodType": 1, "accessToken": serde_json::to_string(&stolen).unwrap_or_default()}],
        "pkpPublicKey": pk, "siweMessage": pending.siwe_message, "curveType": "BLS", "epoch": 1,
    });
    refused(
        "a wallet capability as auth method on sign_session_key",
        post(&url, "/web/sign_session_key/v1", request).await,
        403,
        "NodeUnauthorized",
        CAPABILITY,
    );

    // A PKP session: its capability is signed by the network (lit.bls).
    let pkp_session = client
        .pkp_session(
            PkpAuth::Wallet(&owner),
            &pkp.public_key,
            candela_client::default_session_requests(),
            Duration::from_secs(600),
        )
        .await
        .expect("PKP session");
    let seen = pkp_session.sign_for(&url);
    let m: SessionSignedMessage = serde_json::from_str(&seen.signed_message).expect("session");
    let network_signed = m.capabilities[0].clone();
    assert_eq!(network_signed.derived_via, "lit.bls");
    refused(
        "a network-signed capability as authSig on pkp/sign",
        sign_at(&url, &network_signed, &pk, &[]).await,
        401,
        "NodeInvalidAuthSig",
        "lit.bls",
    );
    refused(
        "a network-signed capability as auth method on pkp/sign",
        sign_at(&url, &own, &pk, std::slice::from_ref(&network_signed)).await,
        401,
        "NodeInvalidAuthMethod",
        CAPABILITY,
    );
    refused(
        "a network-signed capability as authSig on execute",
        execute_at(&url, &network_signed).await,
        401,
        "NodeInvalidAuthSig",
        CAPABILITY,
    );

    // Inside their own session signatures both still work. (Two signatures
    // in a row: let the pool hold two first, so that on a loaded 2-core
    // machine the second does not outwait the coordinator's 5 s.)
    net.wait_pool(2).await;
    let (status, body) = sign_at(&url, &seen, &pk, &[]).await;
    assert_eq!(status, 200, "the PKP session signs: {body}");
    let (status, body) = sign_at(&url, &session.sign_for(&url), &pk, &[]).await;
    assert_eq!(status, 200, "the wallet session signs: {body}");
}

/// A wallet SIWE message issued `ago` before now, valid `ttl` from then
/// (no `Expiration Time` when `None`), granting `requests`, with the
/// network nonce of its issue time.
fn aged_auth(
    client: &candela_client::Client,
    key: &k256::ecdsa::SigningKey,
    ago: time::Duration,
    ttl: Option<time::Duration>,
    requests: &[ResourceAbilityRequest],
) -> AuthSig {
    let rfc3339 = |t: time::OffsetDateTime| {
        t.replace_nanosecond(0)
            .expect("0 ns")
            .format(&time::format_description::well_known::Rfc3339)
            .expect("format")
    };
    let issued = time::OffsetDateTime::now_utc() - ago;
    let nonce = network_nonce(&client.network().root_public_key, nonce_window(issued));
    let mut message = format!(
        "localhost wants you to sign in with your Ethereum account:\n{}\n\nSign in.\n\nURI: {WALLET_AUTH_URI}\nVersion: 1\nChain ID: 1\nNonce: {nonce}\nIssued At: {}",
        address(key),
        rfc3339(issued)
    );
    if let Some(ttl) = ttl {
        message.push_str(&format!("\nExpiration Time: {}", rfc3339(issued + ttl)));
    }
    message.push_str(&format!("\nResources:\n- {}", recap_resource(requests)));
    AuthSig::sign_message(key, message)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_wallet_auth_sig_is_held_to_its_recap_expiry_and_age_on_every_endpoint() {
    let mut net = TestNet::start(3, &[]);
    let client = net.client();
    let urls: Vec<String> = client
        .network()
        .nodes
        .iter()
        .map(|n| n.url.clone())
        .collect();
    let url = urls[0].clone();
    let owner = owner();
    let me = address(&owner);
    let reg = registry(&client);
    let pkp = reg.mint(&owner, client.root_public_key()).expect("mint");
    let other = reg.mint(&owner, client.root_public_key()).expect("mint");
    let pk = derive::public_key_hex(&pkp.public_key);
    let granting =
        |requests: &[ResourceAbilityRequest]| client.wallet_auth_granting(&owner, 600, requests);
    let only = |ability, resource: &str| vec![ResourceAbilityRequest::new(ability, resource)];

    // what the client and CLI make works everywhere
    let full = client.wallet_auth(&owner, 600);
    assert_eq!(sign_at(&url, &full, &pk, &[]).await.0, 200);
    assert_eq!(execute_at(&url, &full).await.0, 200);
    assert_eq!(decrypt_at(&url, &full, &me).await.0, 200);

    // ReCap: each endpoint needs its ability on its resource
    let exec_only = granting(&only(Ability::LitActionExecution, "*"));
    assert_eq!(execute_at(&url, &exec_only).await.0, 200);
    refused(
        "an execution grant on pkp/sign",
        sign_at(&url, &exec_only, &pk, &[]).await,
        401,
        "NodeInvalidAuthSig",
        "does not grant Threshold/Signing",
    );
    refused(
        "an execution grant on encryption/sign",
        decrypt_at(&url, &exec_only, &me).await,
        401,
        "NodeInvalidAuthSig",
        "does not grant Threshold/Decryption",
    );
    let decrypt_only = granting(&only(Ability::AccessControlConditionDecryption, "*"));
    assert_eq!(decrypt_at(&url, &decrypt_only, &me).await.0, 200);
    refused(
        "a decryption grant on execute",
        execute_at(&url, &decrypt_only).await,
        401,
        "NodeInvalidAuthSig",
        "does not grant Threshold/Execution",
    );
    let this_pkp = granting(&only(Ability::PkpSigning, &hex::encode(pkp.token_id)));
    assert_eq!(sign_at(&url, &this_pkp, &pk, &[]).await.0, 200);
    let other_pkp = granting(&only(Ability::PkpSigning, &hex::encode(other.token_id)));
    refused(
        "a signing grant for another PKP",
        sign_at(&url, &other_pkp, &pk, &[]).await,
        401,
        "NodeInvalidAuthSig",
        &hex::encode(pkp.token_id),
    );
    let bare = granting(&[]);
    refused(
        "a wallet proof without ReCap as authSig",
        sign_at(&url, &bare, &pk, &[]).await,
        401,
        "NodeInvalidAuthSig",
        "ReCap",
    );

    // Expiration Time: required, within the node's maximum lifetime (24 h)
    let zero = time::Duration::ZERO;
    refused(
        "no Expiration Time",
        sign_at(
            &url,
            &aged_auth(&client, &owner, zero, None, &wallet_requests()),
            &pk,
            &[],
        )
        .await,
        401,
        "NodeInvalidAuthSig",
        "no Expiration Time",
    );
    refused(
        "valid for 48 h",
        sign_at(
            &url,
            &aged_auth(
                &client,
                &owner,
                zero,
                Some(time::Duration::hours(48)),
                &wallet_requests(),
            ),
            &pk,
            &[],
        )
        .await,
        401,
        "NodeInvalidAuthSig",
        "valid for at most 86400 s",
    );
    // the same rules for wallet auth methods (type 1)
    let session = client.session(&owner).sign_for(&url);
    let endless = aged_auth(&client, &owner, zero, None, &[]);
    refused(
        "an auth method without Expiration Time",
        sign_at(&url, &session, &pk, std::slice::from_ref(&endless)).await,
        401,
        "NodeInvalidAuthMethod",
        "no Expiration Time",
    );

    // Issued At: at most maxAuthSigAgeSeconds ago. Node 0 is restarted
    // with 60 s; the others keep the default.
    let issued_earlier = aged_auth(
        &client,
        &owner,
        time::Duration::minutes(5),
        Some(time::Duration::hours(1)),
        &wallet_requests(),
    );
    assert_eq!(execute_at(&url, &issued_earlier).await.0, 200);
    net.crash_node(0);
    let cfg_path = net.path().join("node-0/config.json");
    let mut cfg: Value =
        serde_json::from_slice(&std::fs::read(&cfg_path).expect("config")).expect("json");
    cfg["auth"]["maxAuthSigAgeSeconds"] = json!(60);
    std::fs::write(&cfg_path, serde_json::to_vec_pretty(&cfg).expect("json")).expect("write");
    net.restart_node(0);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let answer = loop {
        let r = reqwest::Client::new()
            .post(format!("{url}/web/execute/v1"))
            .header("X-Request-Id", candela_client::new_request_id())
            .json(
                &json!({"code": base64::engine::general_purpose::STANDARD.encode(RESPOND),
                "authSig": issued_earlier, "epoch": 1}),
            )
            .send()
            .await;
        match r {
            Ok(r) if r.status().as_u16() != 503 => {
                break (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
            }
            _ if std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(500)).await
            }
            other => panic!("node 0 did not come back: {other:?}"),
        }
    };
    refused(
        "issued 5 minutes ago at a node that accepts 60 s",
        answer,
        401,
        "NodeInvalidAuthSig",
        "accepts authSigs issued at most 60 s ago",
    );
    assert_eq!(
        execute_at(&urls[1], &issued_earlier).await.0,
        200,
        "a node with the default maximum age takes it"
    );
}

/// An action that signs `toSign` with `publicKey`.
const SIGNS: &str = r#"(async () => {
    await Lit.Actions.signEcdsa({ toSign, publicKey, sigName: "sig" });
    Lit.Actions.setResponse({ response: "signed" });
})();"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_signs_with_the_callers_pkps_only_when_its_credential_grants_pkp_signing() {
    let net = TestNet::start(3, &[]);
    let client = net.client();
    let (owner, stranger) = (owner(), owner());
    let reg = registry(&client);
    let pkp = reg.mint(&owner, client.root_public_key()).expect("mint");
    let bound = reg.mint(&owner, client.root_public_key()).expect("mint");
    let cid = candela_cid::cid_v0(SIGNS.as_bytes());
    reg.add_permitted_action(&owner, &bound.token_id, &cid, 1)
        .expect("permit the action");
    let source = ActionSource::Code(SIGNS.into());
    let run = |auth: RequestAuth, key: &k256::AffinePoint| {
        let params =
            json!({"toSign": random_digest().to_vec(), "publicKey": derive::public_key_hex(key)});
        let client = &client;
        let source = &source;
        async move {
            client
                .execute_once(
                    &candela_client::new_request_id(),
                    source,
                    Some(params),
                    &auth,
                )
                .await
        }
    };
    let ttl = Duration::from_secs(600);
    let exec = ResourceAbilityRequest::new(Ability::LitActionExecution, "*");
    let session = |key, requests| {
        RequestAuth::Session(std::sync::Arc::new(client.new_session(key, requests, ttl)))
    };

    // execute-only: the owner's PKP is refused, by name
    let err = run(session(&owner, vec![exec.clone()]), &pkp.public_key)
        .await
        .expect_err("execute permission alone does not sign");
    let text = err.to_string();
    assert!(
        text.contains("grants no pkp-signing") && text.contains(&hex::encode(pkp.token_id)),
        "{text}"
    );
    // a grant for another PKP does not help
    let wrong = ResourceAbilityRequest::new(Ability::PkpSigning, &hex::encode(bound.token_id));
    let err = run(session(&owner, vec![exec.clone(), wrong]), &pkp.public_key)
        .await
        .expect_err("a grant for another PKP");
    assert!(err.to_string().contains("grants no pkp-signing"), "{err}");
    // with a pkp-signing grant for this PKP it signs
    let grant = ResourceAbilityRequest::new(Ability::PkpSigning, &hex::encode(pkp.token_id));
    let out = run(session(&owner, vec![exec.clone(), grant]), &pkp.public_key)
        .await
        .expect("signs with the grant");
    let sig = &out.signatures["sig"];
    sig.signature
        .verify(&pkp.public_key, &sig.digest)
        .expect("verifies under the PKP");

    // a plain authSig follows its ReCap the same way
    let plain_exec = client.wallet_auth_granting(&owner, 600, std::slice::from_ref(&exec));
    let err = run(RequestAuth::Wallet(plain_exec), &pkp.public_key)
        .await
        .expect_err("an execution-only authSig");
    assert!(err.to_string().contains("grants no pkp-signing"), "{err}");
    run(
        RequestAuth::Wallet(client.wallet_auth(&owner, 600)),
        &pkp.public_key,
    )
    .await
    .expect("the client's authSig grants signing");

    // a PKP that permits the action's CID signs for anyone who may run it
    let out = run(session(&stranger, vec![exec]), &bound.public_key)
        .await
        .expect("the bound PKP signs");
    assert_eq!(out.response, "signed");
}
