//! Lit's node-side operations the sandbox answers itself or shapes (issue
//! 22): each test is named after the Lit test or behaviour it checks
//! (lit-actions `tests/it.rs`, lit-node `functions/aes.rs`,
//! `functions/action_client.rs`, `tests/lit_action_scripts/*.js`).

use std::sync::Arc;

use crate::common::*;
use aes::cipher::{block_padding::Pkcs7, BlockEncryptMut, KeyIvInit};
use candela_actions::{ActionError, ExecutionOutcome};
use serde_json::json;

fn response(result: Result<ExecutionOutcome, ActionError>) -> String {
    result.expect("the action runs").response
}

/// AES-256-CBC with the IV first, as a Lit client encrypts for `aesDecrypt`.
fn encrypt(key: &[u8; 32], iv: &[u8; 16], plain: &[u8]) -> Vec<u8> {
    let body = cbc::Encryptor::<aes::Aes256>::new(key.into(), iv.into())
        .encrypt_padded_vec_mut::<Pkcs7>(plain);
    [iv.as_slice(), &body].concat()
}

/// lit-actions `aes_decrypt` and lit-node `functions/aes.rs`: the key and
/// ciphertext are byte arrays, the IV is the ciphertext's first 16 bytes,
/// the answer is the plaintext as lowercase hex (no `0x`); Lit's argument
/// checks and refusals are errors the action can catch.
#[tokio::test]
async fn aes_decrypt() {
    let key = [0x42u8; 32];
    let iv = [0x24u8; 16];
    let plain = "a secret held only by the action, longer than one block";
    let ciphertext = encrypt(&key, &iv, plain.as_bytes());
    let code = r#"(async () => {
        const out = {};
        out.plain = await Lit.Actions.aesDecrypt({ symmetricKey: key, ciphertext });
        // Uint8Arrays as well as arrays
        out.typed = await Lit.Actions.aesDecrypt({ symmetricKey: new Uint8Array(key), ciphertext: new Uint8Array(ciphertext) });
        const failures = [
          () => Lit.Actions.aesDecrypt({ symmetricKey: [], ciphertext }),
          () => Lit.Actions.aesDecrypt({ symmetricKey: key, ciphertext: [] }),
          () => Lit.Actions.aesDecrypt({ symmetricKey: key.slice(0, 16), ciphertext }),
          () => Lit.Actions.aesDecrypt({ symmetricKey: key, ciphertext: ciphertext.slice(0, 15) }),
        ];
        out.errors = [];
        for (const f of failures) {
          try { await f(); out.errors.push('resolved'); } catch (e) { out.errors.push(`${e.name}: ${e.message}`); }
        }
        Lit.Actions.setResponse({ response: JSON.stringify(out) });
    })()"#;
    let out = response(
        run(
            &Arc::new(TestHost::new()),
            code,
            json!({ "key": key.to_vec(), "ciphertext": ciphertext }),
        )
        .await,
    );
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["plain"], hex::encode(plain), "{v}");
    assert_eq!(v["typed"], v["plain"], "{v}");
    assert_eq!(
        v["errors"],
        json!([
            "RangeError: symmetricKey must not be empty",
            "RangeError: ciphertext must not be empty",
            "Error: Could not convert symmetric key to length 32",
            "Error: Ciphertext is too short",
        ]),
        "{v}"
    );
}

/// A host may switch `aesDecrypt` off like any other operation.
#[tokio::test]
async fn aes_decrypt_can_be_switched_off() {
    let mut h = TestHost::new();
    h.disabled = vec!["aesDecrypt".into()];
    let out = response(
        run(
            &Arc::new(h),
            r#"(async () => {
                try { await Lit.Actions.aesDecrypt({ symmetricKey: [1], ciphertext: [2] }); }
                catch (e) { Lit.Actions.setResponse({ response: e.message }); }
            })()"#,
            json!({}),
        )
        .await,
    );
    assert_eq!(out, "aesDecrypt is not supported by this node");
}

/// lit-node `tests/lit_action_scripts/get_rpc_url.js` and `GetRpcUrl` in
/// `action_client.rs`: a chain the node cannot resolve is not a rejection
/// but the string "Error getting RPC URL: …"; a known chain is its URL.
#[tokio::test]
async fn get_rpc_url() {
    let mut h = TestHost::new();
    h.rpc_urls
        .insert("anvil".into(), "http://127.0.0.1:8545".into());
    let out = response(
        run(
            &Arc::new(h),
            r#"(async () => {
                const unknown = await Lit.Actions.getRpcUrl({ chain: 'filecoin' });
                const known = await Lit.Actions.getRpcUrl({ chain: 'anvil' });
                Lit.Actions.setResponse({ response: JSON.stringify({ unknown, known }) });
            })()"#,
            json!({}),
        )
        .await,
    );
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["known"], "http://127.0.0.1:8545");
    assert_eq!(
        v["unknown"],
        "Error getting RPC URL: unknown chain filecoin"
    );
}
