//! `crypto.subtle` against Node's webcrypto: the same script runs in the
//! sandbox and in the real `node` binary, and every output (digests, MACs,
//! ciphertexts, exported keys, error names and texts) must be identical.
//! Signatures for the verify checks are made by node with fresh keys, and
//! verified in the sandbox. One deliberate difference: exporting a
//! non-extractable key fails with the standard's `InvalidAccessError` (Node
//! 20 names it `InvalidAccessException`). `node` must be installed: the test fails (it does
//! not skip) without it.

use std::process::Command;
use std::sync::Arc;

use crate::common::*;
use serde_json::{json, Value};

fn host() -> Arc<TestHost> {
    Arc::new(TestHost::new())
}

/// An async function `compute(subtle)` that returns a JSON-able object; it runs
/// unchanged in the sandbox and in node.
const COMPUTE: &str = r#"
async function compute(subtle) {
  const enc = new TextEncoder();
  const hex = (b) => Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, "0")).join("");
  const bytes = (n, seed) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 255);
  const err = async (p) => { try { await p; return "no error"; } catch (e) { return `${e.name}: ${e.message}`; } };
  const out = {};
  const long = bytes(100000, 7);
  for (const h of ["SHA-1", "SHA-256", "SHA-384", "SHA-512"]) {
    out[`digest ${h}`] = hex(await subtle.digest(h, enc.encode("abc")));
    out[`digest ${h} long`] = hex(await subtle.digest({ name: h }, long));
    const key = await subtle.importKey("raw", bytes(40, 3), { name: "HMAC", hash: h }, true, ["sign", "verify"]);
    const mac = await subtle.sign("HMAC", key, long);
    out[`hmac ${h}`] = hex(mac);
    out[`hmac ${h} verify`] = await subtle.verify("HMAC", key, mac, long);
    out[`hmac ${h} verify tampered`] = await subtle.verify("HMAC", key, mac, bytes(10, 1));
    out[`hmac ${h} jwk`] = await subtle.exportKey("jwk", key);
  }
  out["digest lower-case name"] = hex(await subtle.digest("sha-256", new Uint8Array(0)));
  out["digest of an ArrayBuffer"] = hex(await subtle.digest("SHA-256", enc.encode("abc").buffer));
  for (const bits of [128, 192, 256]) {
    const gcm = await subtle.importKey("raw", bytes(bits / 8, 11), { name: "AES-GCM" }, true, ["encrypt", "decrypt"]);
    out[`aes-gcm ${bits} algorithm`] = gcm.algorithm;
    const ct = await subtle.encrypt({ name: "AES-GCM", iv: bytes(12, 5), additionalData: enc.encode("aad") }, gcm, enc.encode("attack at dawn"));
    out[`aes-gcm ${bits}`] = hex(ct);
    out[`aes-gcm ${bits} iv16`] = hex(await subtle.encrypt({ name: "AES-GCM", iv: bytes(16, 9) }, gcm, long.subarray(0, 1000)));
    out[`aes-gcm ${bits} roundtrip`] = new TextDecoder().decode(await subtle.decrypt({ name: "AES-GCM", iv: bytes(12, 5), additionalData: enc.encode("aad") }, gcm, ct));
    const bad = new Uint8Array(ct); bad[0] ^= 1;
    out[`aes-gcm ${bits} tampered`] = await err(subtle.decrypt({ name: "AES-GCM", iv: bytes(12, 5), additionalData: enc.encode("aad") }, gcm, bad));
    out[`aes-gcm ${bits} jwk`] = await subtle.exportKey("jwk", gcm);
    const cbc = await subtle.importKey("raw", bytes(bits / 8, 13), "AES-CBC", true, ["encrypt", "decrypt"]);
    const cct = await subtle.encrypt({ name: "AES-CBC", iv: bytes(16, 2) }, cbc, long.subarray(0, 1001));
    out[`aes-cbc ${bits}`] = hex(cct);
    out[`aes-cbc ${bits} roundtrip`] = hex(await subtle.decrypt({ name: "AES-CBC", iv: bytes(16, 2) }, cbc, cct)) === hex(long.subarray(0, 1001));
    out[`aes-cbc ${bits} bad padding`] = await err(subtle.decrypt({ name: "AES-CBC", iv: bytes(16, 2) }, cbc, bytes(32, 1)));
    out[`aes-cbc ${bits} jwk`] = await subtle.exportKey("jwk", cbc);
    const fromJwk = await subtle.importKey("jwk", await subtle.exportKey("jwk", cbc), "AES-CBC", true, ["encrypt", "decrypt"]);
    out[`aes-cbc ${bits} jwk reimport`] = hex(await subtle.exportKey("raw", fromJwk));
  }
  out["unknown digest"] = await err(subtle.digest("SHA-999", new Uint8Array(1)));
  out["unknown algorithm import"] = await err(subtle.importKey("raw", new Uint8Array(16), { name: "FOO" }, true, ["sign"]));
  out["bad aes key length"] = await err(subtle.importKey("raw", new Uint8Array(15), { name: "AES-GCM" }, true, ["encrypt"]));
  const encOnly = await subtle.importKey("raw", new Uint8Array(16), { name: "AES-GCM" }, false, ["encrypt"]);
  out["key used for the wrong operation"] = await err(subtle.decrypt({ name: "AES-GCM", iv: new Uint8Array(12) }, encOnly, new Uint8Array(32)));
  out["data that is not bytes"] = await err(subtle.digest("SHA-256", "abc"));
  out["result is an ArrayBuffer"] = (await subtle.digest("SHA-256", new Uint8Array(1))) instanceof ArrayBuffer;
  return out;
}
"#;

/// Verifies node's signatures in the sandbox (the same script runs in node).
const VERIFY: &str = r#"
async function verifyAll(subtle, v) {
  const unhex = (h) => Uint8Array.from(h.match(/../g), (x) => parseInt(x, 16));
  const data = unhex(v.data);
  const other = unhex(v.data.replace(/^../, "ff"));
  const out = {};
  const p256 = await subtle.importKey("raw", unhex(v.p256Raw), { name: "ECDSA", namedCurve: "P-256" }, true, ["verify"]);
  out.p256 = await subtle.verify({ name: "ECDSA", hash: "SHA-256" }, p256, unhex(v.p256Sig), data);
  out.p256Other = await subtle.verify({ name: "ECDSA", hash: "SHA-256" }, p256, unhex(v.p256Sig), other);
  out.p256Sha384 = await subtle.verify({ name: "ECDSA", hash: "SHA-384" }, p256, unhex(v.p256Sig384), data);
  out.p256Jwk = await subtle.exportKey("jwk", p256);
  const p256FromJwk = await subtle.importKey("jwk", v.p256Jwk, { name: "ECDSA", namedCurve: "P-256" }, true, ["verify"]);
  out.p256FromJwk = await subtle.verify({ name: "ECDSA", hash: "SHA-256" }, p256FromJwk, unhex(v.p256Sig), data);
  const ed = await subtle.importKey("raw", unhex(v.edRaw), { name: "Ed25519" }, true, ["verify"]);
  out.ed25519 = await subtle.verify({ name: "Ed25519" }, ed, unhex(v.edSig), data);
  out.ed25519Other = await subtle.verify("Ed25519", ed, unhex(v.edSig), other);
  out.ed25519Jwk = await subtle.exportKey("jwk", ed);
  return out;
}
"#;

/// What node prints for `script` (which must print one line of JSON).
fn node(script: &str) -> Value {
    let output = Command::new("node")
        .arg("-e")
        .arg(script)
        .output()
        .unwrap_or_else(|e| {
            panic!("this test compares the sandbox with node, which could not be run: {e}")
        });
    assert!(
        output.status.success(),
        "node failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("node printed JSON")
}

async fn sandbox(code: &str, params: Value) -> Value {
    let out = run(&host(), code, params)
        .await
        .unwrap_or_else(|e| panic!("the action failed: {e}"));
    serde_json::from_str(&out.response).expect("the action answered JSON")
}

#[tokio::test]
async fn digests_hmac_aes_and_key_formats_agree_with_node_webcrypto() {
    let expected = node(&format!(
        "{COMPUTE}\ncompute(globalThis.crypto.subtle).then((o) => console.log(JSON.stringify(o)));"
    ));
    let actual = sandbox(
        &format!("{COMPUTE}\n(async () => Lit.Actions.setResponse({{response: JSON.stringify(await compute(crypto.subtle))}}))()"),
        json!({}),
    )
    .await;
    let (expected, actual) = (
        expected.as_object().expect("object"),
        actual.as_object().expect("object"),
    );
    assert!(expected.len() > 60, "node answered every check");
    let differ: Vec<String> = expected
        .iter()
        .filter(|(k, v)| actual.get(*k) != Some(*v))
        .map(|(k, v)| {
            format!(
                "  {k}\n      node:    {v}\n      candela: {}",
                actual.get(k).unwrap_or(&Value::Null)
            )
        })
        .collect();
    assert!(
        differ.is_empty(),
        "{} of {} results differ from node:\n{}",
        differ.len(),
        expected.len(),
        differ.join("\n")
    );
    assert_eq!(expected.len(), actual.len());
}

#[tokio::test]
async fn ecdsa_p256_and_ed25519_signatures_made_by_node_verify_in_the_sandbox() {
    // node makes fresh keys and signs; the sandbox must accept exactly what node accepts.
    let vectors = node(&format!(
        r#"{VERIFY}
(async () => {{
  const s = crypto.subtle;
  const hex = (b) => Buffer.from(b).toString("hex");
  const data = crypto.getRandomValues(new Uint8Array(200));
  const p = await s.generateKey({{ name: "ECDSA", namedCurve: "P-256" }}, true, ["sign", "verify"]);
  const e = await s.generateKey({{ name: "Ed25519" }}, true, ["sign", "verify"]);
  const v = {{
    data: hex(data),
    p256Raw: hex(await s.exportKey("raw", p.publicKey)),
    p256Jwk: await s.exportKey("jwk", p.publicKey),
    p256Sig: hex(await s.sign({{ name: "ECDSA", hash: "SHA-256" }}, p.privateKey, data)),
    p256Sig384: hex(await s.sign({{ name: "ECDSA", hash: "SHA-384" }}, p.privateKey, data)),
    edRaw: hex(await s.exportKey("raw", e.publicKey)),
    edSig: hex(await s.sign({{ name: "Ed25519" }}, e.privateKey, data)),
  }};
  v.expected = await verifyAll(s, v);
  console.log(JSON.stringify(v));
}})();"#
    ));
    let expected = vectors["expected"].clone();
    assert_eq!(expected["p256"], true);
    assert_eq!(expected["p256Other"], false);
    assert_eq!(expected["ed25519"], true);
    let actual = sandbox(
        &format!("{VERIFY}\n(async () => Lit.Actions.setResponse({{response: JSON.stringify(await verifyAll(crypto.subtle, v))}}))()"),
        json!({ "v": vectors }),
    )
    .await;
    assert_eq!(actual, expected);
}

#[tokio::test]
async fn unknown_algorithms_reject_with_a_catchable_not_supported_error() {
    let out = sandbox(
        r#"(async () => {
            const seen = [];
            for (const f of [
                () => crypto.subtle.digest("MD5", new Uint8Array(1)),
                () => crypto.subtle.encrypt({name: "RSA-OAEP"}, null, new Uint8Array(1)),
                () => crypto.subtle.sign({name: "RSASSA-PKCS1-v1_5"}, null, new Uint8Array(1)),
            ]) {
                try { await f(); seen.push("no error") } catch (e) { seen.push([e instanceof DOMException, e.name, e.message]) }
            }
            Lit.Actions.setResponse({response: JSON.stringify(seen)})
        })()"#,
        json!({}),
    )
    .await;
    let one = json!([true, "NotSupportedError", "Unrecognized algorithm name"]);
    assert_eq!(out, json!([one, one, one]));
}

#[tokio::test]
async fn crypto_keys_cannot_be_made_or_read_by_the_action() {
    let out = sandbox(
        r#"(async () => {
            const key = await crypto.subtle.importKey("raw", new Uint8Array(16), {name: "AES-GCM"}, false, ["encrypt"]);
            let exported;
            try { await crypto.subtle.exportKey("raw", key); exported = "exported" } catch (e) { exported = `${e.name}: ${e.message}` }
            let made;
            try { new CryptoKey(); made = "made" } catch (e) { made = e.name }
            Lit.Actions.setResponse({response: JSON.stringify({
                tag: Object.prototype.toString.call(key),
                own: Object.keys(key).sort(),
                made,
                exported,
                frozenSubtle: Object.isFrozen(crypto.subtle),
            })})
        })()"#,
        json!({}),
    )
    .await;
    assert_eq!(
        out,
        json!({"tag": "[object CryptoKey]", "own": ["algorithm", "extractable", "type", "usages"], "made": "TypeError", "exported": "InvalidAccessError: key is not extractable", "frozenSubtle": true})
    );
}
