//! End-to-end: Lit's named signing schemes inside actions on a real devnet.
//! `Lit.Actions.signAndCombine` with Ed25519, taproot, BLS and ECDSA;
//! `signAsAction`, `getActionPublicKey` and `verifyActionSignature` with
//! Lit's own test scripts; a Solana transfer and a Bitcoin taproot spend
//! signed by action-bound PKPs and checked by `@solana/web3.js`,
//! `bitcoinjs-lib` and `@noble/curves` (examples/chains); bad schemes,
//! lengths and outputs refused with clear errors.

use std::path::PathBuf;
use std::process::Command;

use crate::common::*;
use candela_client::{schnorr_address, ActionSource, Client, SigningScheme};
use candela_crypto::derive;
use candela_registry::{PkpKeyType, PkpRecord};
use serde_json::{json, Value};

/// The repository root (examples live there).
fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn example_action(name: &str) -> String {
    std::fs::read_to_string(repo().join("examples/actions").join(name)).expect("example action")
}

/// Run `node examples/chains/<script> args...`; its JSON, or its stderr.
fn chains(script: &str, args: &[&str]) -> Result<Value, String> {
    let out = Command::new("node")
        .arg(repo().join("examples/chains").join(script))
        .args(args)
        .output()
        .expect("node");
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).expect("script json"))
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn hexs(v: &Value, field: &str) -> Vec<u8> {
    hex::decode(
        v[field]
            .as_str()
            .unwrap_or_else(|| panic!("{field} in {v}")),
    )
    .expect("hex")
}

/// A PKP of `key_type` owned by `owner` that the actions `codes` may sign
/// with.
fn bound_pkp(
    client: &Client,
    owner: &k256::ecdsa::SigningKey,
    key_type: PkpKeyType,
    codes: &[&str],
) -> PkpRecord {
    let reg = registry(client);
    let rec = reg
        .mint_typed(owner, client.root_public_key(), key_type, &[], false)
        .expect("mint");
    for code in codes {
        let cid = candela_cid::cid_v0(code.as_bytes());
        reg.add_permitted_action(owner, &rec.token_id, &cid, 1)
            .expect("permit action");
    }
    rec
}

async fn run(
    client: &Client,
    owner: &k256::ecdsa::SigningKey,
    code: &str,
    params: Value,
) -> Result<String, String> {
    client
        .execute(&ActionSource::Code(code.to_string()), Some(params), owner)
        .await
        .map(|o| o.response)
        .map_err(|e| e.to_string())
}

fn verify_ed25519(public_key: &[u8], message: &[u8], sig: &[u8]) {
    let vk = ed25519_dalek::VerifyingKey::from_bytes(public_key.try_into().expect("32 bytes"))
        .expect("ed25519 key");
    let sig = ed25519_dalek::Signature::from_slice(sig).expect("64 bytes");
    vk.verify_strict(message, &sig)
        .expect("ed25519 signature verifies");
}

/// The BLS verification of examples/chains (noble), message-augmented.
fn verify_bls_with_noble(out: &Value) -> Result<Value, String> {
    chains(
        "bls.mjs",
        &[
            "verify",
            "--public-key",
            out["verifying_key"].as_str().expect("key"),
            "--message",
            out["signed_data"].as_str().expect("data"),
            "--signature",
            out["signature"].as_str().expect("sig"),
            "--dst",
            "BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_AUG_",
            "--augment",
        ],
    )
}

// Lit's lit_action_scripts, unchanged.
const LIT_MULTIPLE_ED25519: &str = r#"(async () => {
  const sig1 = await Lit.Actions.signAndCombine({
    toSign: 'test message 1',
    publicKey,
    sigName: 'sig1',
    signingScheme: 'SchnorrEd25519Sha512',
  });

  const sig2 = await Lit.Actions.signAndCombine({
    toSign: 'test message 2',
    publicKey,
    sigName: 'sig2',
    signingScheme: 'SchnorrEd25519Sha512',
  });

  const sigs = {
    sig1: JSON.parse(sig1),
    sig2: JSON.parse(sig2),
  };

  Lit.Actions.setResponse({ response: JSON.stringify(sigs) });
})();
"#;

const LIT_SIGN_AS_ACTION: &str = r#"(async () => {
  // sign "hello world" and allow all the nodes to combine the signature and return it to the action.
  const signature = await Lit.Actions.signAsAction({
    toSign,
    sigName,
    signingScheme,
  });
  Lit.Actions.setResponse({ response: JSON.stringify(signature) });

})();
"#;

const LIT_GET_ACTION_PUBLIC_KEY: &str = r#"(async () => {
  // sign "hello world" and allow all the nodes to combine the signature and return it to the action.
  const publicKey = await Lit.Actions.getActionPublicKey({
    signingScheme,
    actionIpfsCid,
  });
  Lit.Actions.setResponse({ response: JSON.stringify(publicKey) });

})();
"#;

const LIT_VERIFY_ACTION_SIGNATURE: &str = r#"(async () => {
  // sign "hello world" and allow all the nodes to combine the signature and return it to the action.
  const result = await Lit.Actions.verifyActionSignature({
    signingScheme,
    actionIpfsCid,
    toSign,
    signOutput,
  });
  Lit.Actions.setResponse({ response: JSON.stringify(result.toString()) });

})();
"#;

/// Signs with `signingScheme` and answers the output, or the error text
/// when the operation throws.
const SIGN_OR_SAY_WHY: &str = r#"(async () => {
  try {
    const out = await Lit.Actions.signAndCombine({ toSign, publicKey, sigName: 'x', signingScheme });
    Lit.Actions.setResponse({ response: out });
  } catch (e) {
    Lit.Actions.setResponse({ response: 'error: ' + e.message });
  }
})();
"#;

#[tokio::test(flavor = "multi_thread")]
async fn actions_sign_with_ed25519_taproot_bls_and_ecdsa_and_independent_libraries_verify_solana_and_bitcoin_spends(
) {
    let net = TestNet::start(3, &[]);
    let client = net.client();
    wait_schnorr(&client).await;
    let owner = owner();
    let solana = example_action("solana-transfer.js");
    let taproot = example_action("taproot-spend.js");
    let codes = [
        LIT_MULTIPLE_ED25519,
        SIGN_OR_SAY_WHY,
        solana.as_str(),
        taproot.as_str(),
    ];
    let typed =
        |key_type| derive::public_key_hex(&bound_pkp(&client, &owner, key_type, &codes).public_key);
    let pkp = typed(PkpKeyType::Ed25519);
    let pkp_tr = typed(PkpKeyType::K256Taproot);
    let pkp_bls = typed(PkpKeyType::Bls12381G1);
    let pkp_k256 = typed(PkpKeyType::K256);

    // Lit's multiple_sign_and_combine_ed25519.js: two signatures in one run.
    let out = run(
        &client,
        &owner,
        LIT_MULTIPLE_ED25519,
        json!({"publicKey": pkp}),
    )
    .await
    .expect("ed25519 run");
    let sigs: Value = serde_json::from_str(&out).expect("json");
    let ed_key = hexs(&sigs["sig1"], "verifying_key");
    for (name, text) in [("sig1", "test message 1"), ("sig2", "test message 2")] {
        let s = &sigs[name];
        assert_eq!(
            hexs(s, "signed_data"),
            text.as_bytes(),
            "strings sign as UTF-8"
        );
        assert_eq!(hexs(s, "verifying_key"), ed_key);
        assert!(s["recovery_id"].is_null());
        verify_ed25519(&ed_key, text.as_bytes(), &hexs(s, "signature"));
    }

    // BLS by the PKP, checked by noble (message augmentation), and not
    // under the root key's plain scheme.
    let bls_msg = b"a BLS message".to_vec();
    let out = run(
        &client,
        &owner,
        SIGN_OR_SAY_WHY,
        json!({"publicKey": pkp_bls, "toSign": bls_msg, "signingScheme": "Bls12381G1ProofOfPossession"}),
    )
    .await
    .expect("bls run");
    let bls: Value = serde_json::from_str(&out).unwrap_or_else(|_| panic!("{out}"));
    assert_eq!(hexs(&bls, "verifying_key").len(), 48);
    assert_eq!(hexs(&bls, "signature").len(), 96);
    verify_bls_with_noble(&bls).expect("noble verifies the BLS signature");
    let mut wrong = bls.clone();
    wrong["signed_data"] = json!(hex::encode(b"another message"));
    assert!(
        verify_bls_with_noble(&wrong).is_err(),
        "noble refuses another message"
    );

    // EcdsaK256Sha256 takes the ECDSA path and Lit's {r, s, v} answer.
    let digest = random_digest();
    let out = run(
        &client,
        &owner,
        SIGN_OR_SAY_WHY,
        json!({"publicKey": pkp_k256, "toSign": digest.to_vec(), "signingScheme": "EcdsaK256Sha256"}),
    )
    .await
    .expect("ecdsa run");
    let rsv: Value = serde_json::from_str(&out).unwrap_or_else(|_| panic!("{out}"));
    let r = hexs(&rsv, "r");
    let s = hexs(&rsv, "s");
    let sig = k256::ecdsa::Signature::from_scalars(
        <[u8; 32]>::try_from(&r[1..]).expect("r"),
        <[u8; 32]>::try_from(&s[..]).expect("s"),
    )
    .expect("signature");
    let recid = k256::ecdsa::RecoveryId::from_byte(rsv["v"].as_u64().expect("v") as u8).expect("v");
    let recovered =
        k256::ecdsa::VerifyingKey::recover_from_prehash(&digest, &sig, recid).expect("recover");
    assert_eq!(
        recovered.to_encoded_point(false).as_bytes(),
        &hex::decode(pkp_k256.trim_start_matches("0x")).expect("pkp hex")[..]
    );

    // Bad input: each refusal says what was expected.
    for (scheme, to_sign, expect) in [
        ("Rot13", vec![1u8; 32], "unknown signingScheme \"Rot13\""),
        ("EcdsaP256Sha256", vec![1u8; 32], "not served by Candela"),
        (
            "Bls12381",
            vec![1u8; 32],
            "Bls12381 is not supported in this context. Use Bls12381G1ProofOfPossession instead",
        ),
        ("SchnorrK256Taproot", vec![1u8; 31], "32"),
        ("EcdsaK256Sha256", vec![1u8; 20], "32-byte hash"),
        (
            "SchnorrK256Taproot",
            vec![1u8; 32],
            "needs a K256Taproot key, got a Ed25519 key",
        ),
        (
            "Bls12381G1ProofOfPossession",
            vec![1u8; 32],
            "needs a Bls12381G1 key, got a Ed25519 key",
        ),
    ] {
        let out = run(
            &client,
            &owner,
            SIGN_OR_SAY_WHY,
            json!({"publicKey": pkp, "toSign": to_sign, "signingScheme": scheme}),
        )
        .await
        .expect("the action catches the refusal");
        assert!(
            out.starts_with("error: ") && out.contains(expect),
            "{scheme}: {out}"
        );
    }

    // A Solana transfer: the message built by @solana/web3.js, parsed and
    // signed by the action, the transaction verified by web3.js.
    let solana_address =
        |key: &[u8]| schnorr_address(SigningScheme::SchnorrEd25519Sha512, key).expect("address");
    let from = solana_address(&ed_key);
    let to = solana_address(&[7u8; 32]);
    let blockhash = solana_address(&[9u8; 32]);
    let message = chains(
        "solana.mjs",
        &[
            "message",
            "--from",
            &from,
            "--to",
            &to,
            "--lamports",
            "5000",
            "--blockhash",
            &blockhash,
        ],
    )
    .expect("solana message");
    let message_hex = message["message"].as_str().expect("message").to_string();
    let out = run(
        &client,
        &owner,
        &solana,
        json!({"publicKey": pkp, "message": message_hex, "maxLamports": 10000}),
    )
    .await
    .expect("solana action");
    let signed: Value = serde_json::from_str(&out).unwrap_or_else(|_| panic!("{out}"));
    let verified = chains(
        "solana.mjs",
        &[
            "verify",
            "--message",
            &message_hex,
            "--signature",
            signed["signature"].as_str().expect("signature"),
            "--from",
            &from,
        ],
    )
    .expect("web3.js accepts the signed transfer");
    assert_eq!(verified["verified"], true);
    // over the limit: the action refuses and nothing is signed
    let refused = run(
        &client,
        &owner,
        &solana,
        json!({"publicKey": pkp, "message": message_hex, "maxLamports": 4999}),
    )
    .await
    .expect_err("over the limit");
    assert!(refused.contains("5000"), "{refused}");

    // A taproot key-path spend: the action computes the BIP-341 sighash
    // itself; bitcoinjs-lib agrees and noble verifies the signature.
    let probe = run(
        &client,
        &owner,
        SIGN_OR_SAY_WHY,
        json!({"publicKey": pkp_tr, "toSign": random_digest().to_vec(), "signingScheme": "SchnorrK256Taproot"}),
    )
    .await
    .expect("taproot probe");
    let probe: Value = serde_json::from_str(&probe).unwrap_or_else(|_| panic!("{probe}"));
    let q = probe["verifying_key"].as_str().expect("Q").to_string();
    let dest = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";
    let tx_args = [
        "--output-key",
        q.as_str(),
        "--prev-txid",
        "4b5e2c4a7f3d8e1b9c0a6d2f1e3b5c7a9d0e2f4a6b8c0d1e3f5a7b9c1d3e5f70",
        "--prev-vout",
        "1",
        "--prev-value",
        "100000",
        "--to",
        dest,
        "--amount",
        "90000",
    ];
    let mut unsigned_args = vec!["unsigned"];
    unsigned_args.extend_from_slice(&tx_args);
    let unsigned = chains("taproot.mjs", &unsigned_args).expect("unsigned spend");
    let mut params = unsigned.clone();
    params["publicKey"] = json!(pkp_tr);
    params["maxAmount"] = json!(95000);
    params["allowedTo"] = unsigned["outputScript"].clone();
    let out = run(&client, &owner, &taproot, params)
        .await
        .expect("taproot action");
    let signed: Value = serde_json::from_str(&out).unwrap_or_else(|_| panic!("{out}"));
    assert_eq!(
        signed["sighash"], unsigned["sighash"],
        "the action's sighash is bitcoinjs-lib's"
    );
    assert_eq!(signed["verifying_key"].as_str(), Some(q.as_str()));
    let mut verify_args = vec!["verify"];
    verify_args.extend_from_slice(&tx_args);
    let sig_hex = signed["signature"].as_str().expect("sig").to_string();
    verify_args.extend_from_slice(&["--signature", sig_hex.as_str()]);
    let spent = chains("taproot.mjs", &verify_args).expect("noble verifies the key-path spend");
    assert_eq!(spent["verified"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_as_action_keys_belong_to_the_code_and_lits_verify_script_accepts_only_their_signatures(
) {
    let net = TestNet::start(3, &[]);
    let client = net.client();
    wait_schnorr(&client).await;
    let owner = owner();
    let cid = candela_cid::cid_v0(LIT_SIGN_AS_ACTION.as_bytes());
    for (scheme, len) in [
        ("EcdsaK256Sha256", 32usize),
        ("SchnorrEd25519Sha512", 32),
        ("SchnorrK256Taproot", 32),
        ("Bls12381G1ProofOfPossession", 32),
    ] {
        let to_sign = vec![1u8; len];
        // Lit's sign_as_lit_action.js; no PKP and no permission involved.
        let out = run(
            &client,
            &owner,
            LIT_SIGN_AS_ACTION,
            json!({"toSign": to_sign, "sigName": "sig1", "signingScheme": scheme}),
        )
        .await
        .unwrap_or_else(|e| panic!("{scheme}: {e}"));
        let sign_output: String = serde_json::from_str(&out).expect("a JSON string");
        let output: Value = serde_json::from_str(&sign_output).expect("SignedDataOutput");
        // Lit's get_action_public_key.js, run as another action, names the same key.
        let key = run(
            &client,
            &owner,
            LIT_GET_ACTION_PUBLIC_KEY,
            json!({"signingScheme": scheme, "actionIpfsCid": cid}),
        )
        .await
        .expect("getActionPublicKey");
        let key: String = serde_json::from_str(&key).expect("string");
        assert_eq!(
            output["verifying_key"].as_str(),
            Some(key.as_str()),
            "{scheme}"
        );
        // Independent verification of the signature itself.
        match scheme {
            "SchnorrEd25519Sha512" => verify_ed25519(
                &hexs(&output, "verifying_key"),
                &to_sign,
                &hexs(&output, "signature"),
            ),
            "EcdsaK256Sha256" => {
                use k256::ecdsa::signature::hazmat::PrehashVerifier;
                let vk =
                    k256::ecdsa::VerifyingKey::from_sec1_bytes(&hexs(&output, "verifying_key"))
                        .expect("sec1 key");
                let sig = k256::ecdsa::Signature::from_slice(&hexs(&output, "signature"))
                    .expect("r || s");
                vk.verify_prehash(&to_sign, &sig).expect("ECDSA verifies");
                assert!(output["recovery_id"].is_u64());
            }
            "SchnorrK256Taproot" => {
                let vk = k256::schnorr::VerifyingKey::from_bytes(&hexs(&output, "verifying_key"))
                    .expect("x-only");
                let sig = k256::schnorr::Signature::try_from(&hexs(&output, "signature")[..])
                    .expect("sig");
                vk.verify_raw(&to_sign, &sig).expect("BIP-340 verifies");
            }
            _ => {
                verify_bls_with_noble(&output).expect("noble verifies");
            }
        }
        // Lit's verify_action_signature.js: "true" for the action's own
        // signature; "false" for another message, another action's CID, or
        // a signature by another key presented as this action's.
        let verify = |to_sign: Vec<u8>, cid: String, sign_output: String| {
            let client = &client;
            let owner = &owner;
            async move {
                let r = run(
                    client,
                    owner,
                    LIT_VERIFY_ACTION_SIGNATURE,
                    json!({"signingScheme": scheme, "actionIpfsCid": cid, "toSign": to_sign, "signOutput": sign_output}),
                )
                .await
                .expect("verifyActionSignature");
                serde_json::from_str::<String>(&r).expect("string")
            }
        };
        assert_eq!(
            verify(to_sign.clone(), cid.clone(), sign_output.clone()).await,
            "true"
        );
        assert_eq!(
            verify(vec![2u8; len], cid.clone(), sign_output.clone()).await,
            "false"
        );
        let other_cid = candela_cid::cid_v0(b"another action");
        assert_eq!(
            verify(to_sign.clone(), other_cid, sign_output.clone()).await,
            "false"
        );
        let mut forged = output.clone();
        let mut sig = hexs(&output, "signature");
        sig[5] ^= 1;
        forged["signature"] = json!(hex::encode(sig));
        assert_eq!(
            verify(to_sign.clone(), cid.clone(), forged.to_string()).await,
            "false",
            "{scheme}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn inside_an_action_a_bad_schnorr_share_is_named_and_a_bad_bls_share_is_left_out() {
    // 4 nodes, t = 3: the coordinator's signing set is nodes 0, 1, 2.
    let net = TestNet::start(
        4,
        &[
            "--misbehave",
            "1=bad-schnorr-share",
            "--misbehave",
            "2=bad-bls-share",
        ],
    );
    let client = net.client();
    wait_schnorr(&client).await;
    let owner = owner();
    let pkp = derive::public_key_hex(
        &bound_pkp(&client, &owner, PkpKeyType::Ed25519, &[SIGN_OR_SAY_WHY]).public_key,
    );
    let pkp_bls = derive::public_key_hex(
        &bound_pkp(&client, &owner, PkpKeyType::Bls12381G1, &[SIGN_OR_SAY_WHY]).public_key,
    );
    let out = run(
        &client,
        &owner,
        SIGN_OR_SAY_WHY,
        json!({"publicKey": pkp, "toSign": b"liar test".to_vec(), "signingScheme": "SchnorrEd25519Sha512"}),
    )
    .await
    .expect("the action catches the failure");
    assert!(
        out.starts_with("error: ")
            && out.contains("node 1 sent an invalid Schnorr signature share"),
        "{out}"
    );
    assert!(
        !out.contains("node 0 ") && !out.contains("node 2 "),
        "{out}"
    );
    // BLS needs no nonce: the bad share is left out and the rest sign.
    let out = run(
        &client,
        &owner,
        SIGN_OR_SAY_WHY,
        json!({"publicKey": pkp_bls, "toSign": b"liar test".to_vec(), "signingScheme": "Bls12381G1ProofOfPossession"}),
    )
    .await
    .expect("bls run");
    let bls: Value = serde_json::from_str(&out).unwrap_or_else(|_| panic!("{out}"));
    verify_bls_with_noble(&bls).expect("noble verifies the BLS signature made without the liar");
}

/// Signs twice with Ed25519; the first attempt may be spoilt by a lying
/// coordinator (every node sees it, so the response stays the same at
/// every node), the second must go through without it.
const SIGN_AFTER_A_LIE: &str = r#"(async () => {
  let first = 'signed';
  try {
    await Lit.Actions.signAndCombine({ toSign, publicKey, sigName: 'a', signingScheme: 'SchnorrEd25519Sha512' });
  } catch (e) {
    first = /coordinator 0 gave signer \d+ another assignment for this request \(both signed by it\)/.test(e.message)
      ? 'coordinator 0 named' : 'other error';
  }
  const second = await Lit.Actions.signAndCombine({ toSign, publicKey, sigName: 'b', signingScheme: 'SchnorrEd25519Sha512' });
  Lit.Actions.setResponse({ response: JSON.stringify({ first, second: JSON.parse(second) }) });
})();
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_coordinator_signing_two_schnorr_assignments_for_one_request_is_named_and_left_out_by_client_and_nodes(
) {
    // node 0, the first coordinator, hands every asker its own signed
    // choice of signers and commitments
    let net = TestNet::start(5, &["--misbehave", "0=lying-coordinator"]);
    let client = net.client();
    wait_schnorr(&client).await;
    let owner = owner();
    let rec = bound_pkp(&client, &owner, PkpKeyType::Ed25519, &[SIGN_AFTER_A_LIE]);

    // pkp/sign: the client holds two assignments signed by node 0 for one
    // request, names node 0 alone, and its retry leaves node 0 out.
    let auth = candela_client::RequestAuth::Session(client.session(&owner));
    let msg = random_digest();
    let o = client
        .pkp_sign_schnorr(
            &auth,
            &rec.public_key,
            SigningScheme::SchnorrEd25519Sha512,
            &msg,
        )
        .await
        .expect("the retry without the liar signs");
    assert_eq!(o.attempts, 2, "{:?}", o.faults);
    let named: Vec<u32> = o
        .faults
        .iter()
        .filter(|f| f.misbehaved)
        .map(|f| f.node)
        .collect();
    assert_eq!(named, vec![0], "{:?}", o.faults);
    verify_ed25519(&o.public_key, &msg, &o.signature);

    // Inside an action the nodes combine: every node sees the two signed
    // assignments, names node 0, and stops asking it to coordinate, so the
    // action's next signature goes through. (A fresh client: the first
    // one asks the nodes to leave node 0 out.)
    let to_sign = b"after the lie".to_vec();
    let out = run(
        &net.client(),
        &owner,
        SIGN_AFTER_A_LIE,
        json!({"publicKey": derive::public_key_hex(&rec.public_key), "toSign": to_sign}),
    )
    .await
    .expect("the run agrees at every node");
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|_| panic!("{out}"));
    assert_eq!(v["first"], "coordinator 0 named", "{out}");
    verify_ed25519(
        &hexs(&v["second"], "verifying_key"),
        &to_sign,
        &hexs(&v["second"], "signature"),
    );
    let log = std::fs::read_to_string(net.path().join("node-1/node.log")).expect("log");
    assert!(
        log.contains("coordinator signed two different assignments"),
        "node 1 says it caught node 0"
    );
}

/// Lit's `multiple_sign_and_combine_blsg1.js`, unchanged: two BLS
/// signatures in one run by a `Bls12381G1` PKP, each over its UTF-8 string,
/// both by the same key, each verified by noble (Lit's
/// `valid_sign_and_combine`); and a signature does not verify for the
/// other message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multiple_sign_and_combine_blsg1() {
    const LIT_MULTIPLE_BLSG1: &str = r#"(async () => {
  const sig1 = await Lit.Actions.signAndCombine({
    toSign: 'test message 1',
    publicKey,
    sigName: 'sig1',
    signingScheme: 'Bls12381G1ProofOfPossession',
  });

  const sig2 = await Lit.Actions.signAndCombine({
    toSign: 'test message 2',
    publicKey,
    sigName: 'sig2',
    signingScheme: 'Bls12381G1ProofOfPossession',
  });

  const sigs = {
    sig1: JSON.parse(sig1),
    sig2: JSON.parse(sig2),
  };

  Lit.Actions.setResponse({ response: JSON.stringify(sigs) });
})();"#;
    let net = TestNet::start(3, &[]);
    let client = net.client();
    let owner = owner();
    let pkp = bound_pkp(
        &client,
        &owner,
        PkpKeyType::Bls12381G1,
        &[LIT_MULTIPLE_BLSG1],
    );
    let out = run(
        &client,
        &owner,
        LIT_MULTIPLE_BLSG1,
        json!({"publicKey": derive::public_key_hex(&pkp.public_key)}),
    )
    .await
    .expect("blsg1 run");
    let sigs: Value = serde_json::from_str(&out).unwrap_or_else(|_| panic!("{out}"));
    let key = hexs(&sigs["sig1"], "verifying_key");
    assert_eq!(key.len(), 48);
    for (name, text) in [("sig1", "test message 1"), ("sig2", "test message 2")] {
        let s = &sigs[name];
        assert_eq!(hexs(s, "signed_data"), text.as_bytes(), "{name}");
        assert_eq!(hexs(s, "verifying_key"), key, "one key signs both");
        verify_bls_with_noble(s).unwrap_or_else(|e| panic!("noble verifies {name}: {e}"));
    }
    let mut swapped = sigs["sig1"].clone();
    swapped["signed_data"] = sigs["sig2"]["signed_data"].clone();
    assert!(
        verify_bls_with_noble(&swapped).is_err(),
        "sig1 is not a signature of test message 2"
    );
}

/// Lit's `sign_as_action_eddsa.js`, unchanged (a script no Lit test runs;
/// what it means is plain): the action signs Lit's 32-byte message with its
/// own Ed25519 action key; the answer is the key `getActionPublicKey` names
/// for the script's CID, and the signature verifies under it.
#[tokio::test(flavor = "multi_thread")]
async fn sign_as_action_eddsa() {
    const LIT_SIGN_AS_ACTION_EDDSA: &str = r#"(async () => {
  // sign "hello world" and allow all the nodes to combine the signature and return it to the action.
  let utf8Encode = new TextEncoder();
  const toSign = utf8Encode.encode('This message is exactly 32 bytes');

  const signingScheme = 'SchnorrEd25519Sha512';
  const signature = await Lit.Actions.signAsAction({
    toSign,
    sigName,
    signingScheme,
  });
  Lit.Actions.setResponse({ response: JSON.stringify(signature) });
})();"#;
    let net = TestNet::start(3, &[]);
    let client = net.client();
    wait_schnorr(&client).await;
    let owner = owner();
    let out = run(
        &client,
        &owner,
        LIT_SIGN_AS_ACTION_EDDSA,
        json!({"sigName": "sig1"}),
    )
    .await
    .expect("signAsAction");
    let sign_output: String = serde_json::from_str(&out).expect("a JSON string");
    let output: Value = serde_json::from_str(&sign_output).expect("SignedDataOutput");
    let cid = candela_cid::cid_v0(LIT_SIGN_AS_ACTION_EDDSA.as_bytes());
    let key = run(
        &client,
        &owner,
        LIT_GET_ACTION_PUBLIC_KEY,
        json!({"signingScheme": "SchnorrEd25519Sha512", "actionIpfsCid": cid}),
    )
    .await
    .expect("getActionPublicKey");
    let key: String = serde_json::from_str(&key).expect("string");
    assert_eq!(output["verifying_key"].as_str(), Some(key.as_str()));
    verify_ed25519(
        &hexs(&output, "verifying_key"),
        b"This message is exactly 32 bytes",
        &hexs(&output, "signature"),
    );
}
