//! SIWE messages and ReCap capabilities as a node reads them: parse, check
//! times and policy, read the grants; and the message as a wallet or session
//! auth signature.
#![no_main]
use candela_api::auth::{check_siwe_policy, check_times, AuthPolicy, AuthSig};
use candela_api::session::{recap_grants, verify_request_auth, Ability, SESSION_DERIVATION};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let now = time::OffsetDateTime::from_unix_timestamp(1_700_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let policy = AuthPolicy {
        allowed_domains: vec!["localhost".into()],
        nonce_seed: Some("04".into()),
        bls_public_key: None,
        chain_blocks: vec![std::sync::Arc::new(OneBlock)],
        ..AuthPolicy::default()
    };
    if let Ok(msg) = text.parse::<siwe::Message>() {
        let _ = check_times(&msg, now);
        let _ = check_siwe_policy(&msg, &policy, now);
        let _ = recap_grants(&msg);
    }
    // the same text as the signed message of each kind of auth signature
    for derived_via in ["web3.eth.personal.sign", SESSION_DERIVATION, "lit.bls"] {
        let auth = AuthSig {
            sig: "0x".to_string() + &"11".repeat(65),
            derived_via: derived_via.into(),
            signed_message: text.to_string(),
            address: "0x0000000000000000000000000000000000000001".into(),
            algo: Some("ed25519".into()),
        };
        let _ = auth.verify_with(&policy, now);
        let _ = verify_request_auth(
            &auth,
            Ability::LitActionExecution,
            "Qm",
            "http://127.0.0.1:1",
            &policy,
            now,
        );
    }
});

/// A registry chain that knows one block (`0x11…11`), knows that hashes
/// starting `0x00` are no blocks, and has looked nothing else up: every
/// branch of the block-hash nonce rule.
#[derive(Debug)]
struct OneBlock;

impl candela_api::auth::ChainBlocks for OneBlock {
    fn head(&self) -> u64 {
        1_000
    }
    fn lookup(&self, hash: &str) -> candela_api::auth::BlockLookup {
        use candela_api::auth::{BlockLookup, BlockStamp};
        if hash.len() == 66 && hash[2..].bytes().all(|b| b == b'1') {
            BlockLookup::Block(BlockStamp {
                number: 900,
                timestamp: 1_699_999_000,
            })
        } else if hash.starts_with("0x00") {
            BlockLookup::NotOnChain
        } else {
            BlockLookup::NotLookedUp
        }
    }
}
