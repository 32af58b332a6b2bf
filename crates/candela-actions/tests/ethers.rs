//! ethers v5 in the sandbox: native primitives agree with ethers' own pure-JS
//! code, known vectors hold, and the bundle is only loaded when touched.

use std::sync::Arc;

use crate::common::*;
use serde_json::json;

async fn logs(code: &str) -> String {
    ensure_ethers();
    run(&Arc::new(TestHost::new()), code, json!({}))
        .await
        .unwrap()
        .logs
}

#[tokio::test]
async fn native_hashes_equal_the_pure_js_hashes() {
    let out = logs(
        r#"
        const pure = ethers.__candelaPure;
        const u = ethers.utils;
        const inputs = ["0x", "0x00", u.hexlify(u.toUtf8Bytes("hello")), u.hexlify(new Uint8Array(1000).map((_, i) => i * 7)), u.hexlify(u.randomBytes(77))];
        for (const x of inputs) {
            console.log(u.keccak256(x) === pure.keccak256(x), u.sha256(x) === pure.sha256(x), u.sha512(x) === pure.sha512(x));
        }
        console.log(u.keccak256(u.toUtf8Bytes("")));
        "#,
    )
    .await;
    let lines: Vec<&str> = logs_lines(&out);
    for line in &lines[..5] {
        assert_eq!(*line, "true true true");
    }
    assert_eq!(
        lines[5],
        "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    );
}

fn logs_lines(s: &str) -> Vec<&str> {
    s.lines().collect()
}

#[tokio::test]
async fn native_secp256k1_equals_the_pure_js_signing_key() {
    let out = logs(
        r#"
        const pure = ethers.__candelaPure;
        const u = ethers.utils;
        for (let i = 1; i <= 5; i++) {
            const key = u.keccak256(u.toUtf8Bytes("key" + i));
            const other = u.keccak256(u.toUtf8Bytes("other" + i));
            const digest = u.keccak256(u.toUtf8Bytes("msg" + i));
            const n = new u.SigningKey(key), p = new pure.SigningKey(key);
            const sn = n.signDigest(digest), sp = p.signDigest(digest);
            const checks = [
                n.publicKey === p.publicKey,
                n.compressedPublicKey === p.compressedPublicKey,
                u.joinSignature(sn) === u.joinSignature(sp),
                u.recoverPublicKey(digest, sp) === pure.recoverPublicKey(digest, sn),
                u.computePublicKey(n.publicKey, true) === pure.computePublicKey(p.publicKey, true),
                u.computePublicKey(n.compressedPublicKey) === pure.computePublicKey(p.compressedPublicKey),
                n.computeSharedSecret(new u.SigningKey(other).publicKey) === p.computeSharedSecret(new pure.SigningKey(other).publicKey),
                n._addPoint(new u.SigningKey(other).publicKey) === p._addPoint(new pure.SigningKey(other).publicKey),
            ];
            console.log(checks.every(Boolean), checks.join(","));
        }
        "#,
    )
    .await;
    for line in out.lines() {
        assert!(line.starts_with("true "), "{out}");
    }
    assert_eq!(out.lines().count(), 5);
}

#[tokio::test]
async fn known_wallet_vectors_hold() {
    let out = logs(
        r#"(async () => {
        const w = new ethers.Wallet("0x" + "11".repeat(32));
        console.log(w.address);
        const sig = await w.signMessage("hello");
        console.log(ethers.utils.verifyMessage("hello", sig) === w.address);
        console.log(ethers.utils.hashMessage("hello world"));
        console.log(ethers.utils.computeAddress(w.publicKey) === w.address, ethers.BigNumber.from(10).pow(18).toString());
        console.log(ethers.utils.id("transfer(address,uint256)").slice(0, 10));
        })()"#,
    )
    .await;
    assert_eq!(
        out,
        "0x19E7E376E7C213B7E7e7e46cc70A5dD086DAff2A\ntrue\n0xd9eba16ed0ecae432b71fe008c98cc872bb4cc214d3220a36f365326cf807d68\ntrue 1000000000000000000\n0xa9059cbb\n"
    );
}

#[tokio::test]
async fn ethers_is_loaded_only_when_touched() {
    let out = logs(
        r#"
        const lazy = () => typeof Object.getOwnPropertyDescriptor(globalThis, "ethers").get === "function";
        console.log(lazy());
        const k = ethers.utils.keccak256("0x");
        console.log(lazy(), Object.keys(ethers).includes("Wallet"), typeof ethers.providers.JsonRpcProvider);
        "#,
    )
    .await;
    assert_eq!(out, "true\nfalse true function\n");
}
