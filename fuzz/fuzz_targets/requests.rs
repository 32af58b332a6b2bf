//! The v7 JSON request and response types a node or client parses, then the
//! checks a node runs on what parsed (auth size, public keys, auth).
#![no_main]
use candela_api::auth::{AuthPolicy, AuthSig};
use candela_api::session::{check_auth_size, verify_request_auth, Ability};
use candela_api::v7::*;
use libfuzzer_sys::fuzz_target;

fn check_auth(auth: &AuthSig) {
    if check_auth_size(auth).is_err() {
        return;
    }
    let policy = AuthPolicy {
        allowed_domains: vec!["localhost".into()],
        nonce_seed: Some("04".into()),
        bls_public_key: None,
        chain_blocks: Vec::new(),
        ..AuthPolicy::default()
    };
    let now = time::OffsetDateTime::from_unix_timestamp(1_700_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let _ = verify_request_auth(
        auth,
        Ability::PkpSigning,
        "1",
        "http://127.0.0.1:1",
        &policy,
        now,
    );
}

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = serde_json::from_slice::<PkpSignRequest>(data) {
        let _ = candela_crypto::derive::parse_public_key(&r.pubkey);
        check_auth(&r.auth_sig);
    }
    if let Ok(r) = serde_json::from_slice::<ExecuteRequest>(data) {
        if let Some(cid) = &r.ipfs_id {
            let _ = candela_cid::parse_cid_v0(cid);
        }
        check_auth(&r.auth_sig);
    }
    if let Ok(r) = serde_json::from_slice::<SignSessionKeyRequest>(data) {
        let _ = r.siwe_message.parse::<siwe::Message>();
        let _ = candela_crypto::derive::parse_public_key(&r.pkp_public_key);
    }
    let _ = serde_json::from_slice::<HandshakeRequest>(data);
    let _ = serde_json::from_slice::<ActionUploadRequest>(data);
    let _ = serde_json::from_slice::<PkpSignResponse>(data);
    let _ = serde_json::from_slice::<ExecuteResponse>(data);
    let _ = serde_json::from_slice::<SignSessionKeyResponse>(data);
    let _ = serde_json::from_slice::<ErrorBody>(data);
    if let Ok(a) = serde_json::from_slice::<AuthSig>(data) {
        check_auth(&a);
    }
});
