//! End-to-end: Lit's node-side operations on a real devnet whose nodes
//! read a real anvil chain (issue 22). Each test is named after the Lit
//! behaviour it checks (lit-node `functions/action_client.rs`), and runs
//! several checks on one devnet.

use alloy::primitives::Address;
use candela_client::ActionSource;
use candela_registry::anvil::test_tokens::TestTokens;
use candela_registry::anvil::Anvil;
use serde_json::{json, Value};

/// lit-node `CallContract`, `GetRpcUrl` and `BroadcastAndCollect` in
/// `action_client.rs`, on one devnet:
/// - `callContract` runs an ethers-serialized unsigned transaction as
///   `eth_call` on the named chain and answers the returned bytes as `0x`
///   hex (an ERC20's `balanceOf` and `symbol`, decoded by ethers);
/// - an unknown chain rejects the call; the 31st call of a run is refused
///   with Lit's text, which the action can catch;
/// - `getRpcUrl` of an unknown chain resolves to "Error getting RPC URL: …";
/// - `broadcastAndCollect` answers the other nodes' values first and the
///   node's own value last;
/// - `claimKey` (Lit's v7 claim flow): each node's answer carries the claim
///   under `claimData[keyId]`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_contract_get_rpc_url_broadcast_and_collect_and_claim_key_as_lits_node() {
    let anvil = Anvil::start().expect("anvil (bash contracts/setup.sh installs it)");
    let tokens = TestTokens::deploy(&anvil.url)
        .await
        .expect("test tokens deploy");
    let holder: Address = "0x70997970C51812dc3A010C7d01b50e0d17dC79C8"
        .parse()
        .expect("address");
    tokens.mint_erc20(holder, 1234).await.expect("mint");
    let rpc_flag = format!("anvil={}", anvil.url);
    let net = crate::common::TestNet::start(3, &["--chain-rpc", &rpc_flag]);
    let client = net.client();

    let code = r#"(async () => {
        const iface = new ethers.utils.Interface([
            "function balanceOf(address) view returns (uint256)",
            "function symbol() view returns (string)",
        ]);
        const call = async (data) => Lit.Actions.callContract({
            chain: "anvil",
            txn: ethers.utils.serializeTransaction({ to: token, data }),
        });
        const out = {};
        const raw = await call(iface.encodeFunctionData("balanceOf", [holder]));
        out.raw = raw;
        out.balance = iface.decodeFunctionResult("balanceOf", raw)[0].toString();
        out.symbol = iface.decodeFunctionResult("symbol", await call(iface.encodeFunctionData("symbol", [])))[0];
        try {
            await Lit.Actions.callContract({ chain: "nope", txn: ethers.utils.serializeTransaction({ to: token }) });
            out.unknownChain = "resolved";
        } catch (e) {
            out.unknownChain = e.message;
        }
        // three calls so far; the limit is 30 per run
        out.calls = 3;
        try {
            for (;;) {
                await call(iface.encodeFunctionData("symbol", []));
                out.calls += 1;
            }
        } catch (e) {
            out.refusal = `${e.name}: ${e.message}`;
        }
        out.rpcUrl = await Lit.Actions.getRpcUrl({ chain: "filecoin" });
        const mine = ethers.utils.hexlify(crypto.getRandomValues(new Uint8Array(16)));
        const values = await Lit.Actions.broadcastAndCollect({ name: "who", value: mine });
        out.collected = values.length;
        out.ownLast = values[values.length - 1] === mine && values.indexOf(mine) === values.length - 1;
        Lit.Actions.setResponse({ response: JSON.stringify(out) });
    })();"#;
    let params = json!({
        "token": format!("{:#x}", tokens.erc20),
        "holder": format!("{holder:#x}"),
    });
    let out = client
        .execute(
            &ActionSource::Code(code.into()),
            Some(params),
            &crate::common::owner(),
        )
        .await
        .expect("execute");
    assert!(out.faults.is_empty(), "{:?}", out.faults);
    let v: Value = serde_json::from_str(&out.response).expect("json response");
    assert_eq!(v["balance"], "1234", "{v}");
    assert_eq!(v["raw"], format!("0x{:064x}", 1234), "{v}");
    assert_eq!(v["symbol"], "TST", "{v}");
    assert!(
        v["unknownChain"]
            .as_str()
            .is_some_and(|m| m.contains("no RPC URL for chain \"nope\"")),
        "{v}"
    );
    assert_eq!(v["calls"], 30, "{v}");
    assert_eq!(
        v["refusal"],
        "Error: You may invoke contract calls more than 30 times per session and you have attempted to exceed that limit.",
        "{v}"
    );
    assert!(
        v["rpcUrl"]
            .as_str()
            .is_some_and(|u| u.starts_with("Error getting RPC URL: ")),
        "{v}"
    );
    assert_eq!(v["collected"], 3, "{v}");
    assert_eq!(v["ownLast"], true, "{v}");

    // lit-node `ClaimKeyIdentifier`: claimKey resolves to "success" and each
    // node's answer carries the claim under claimData[keyId]: the derived key
    // id keccak256("{cid}_{keyId}") and the node's signature of it (EIP-191
    // by the node's wallet, the address network.json lists, as Lit's nodes
    // sign with their node wallets).
    let claimer = "(async () => {\n  const r = await Lit.Actions.claimKey({ keyId: 'user-1' });\n  Lit.Actions.setResponse({ response: r });\n})();";
    let (cid, _) = client
        .deploy_action(claimer.as_bytes())
        .await
        .expect("deploy");
    let body = candela_client::Client::execute_request(
        &ActionSource::IpfsId(cid.clone()),
        None,
        &client.wallet_auth(&crate::common::owner(), 600),
    );
    let answers = client
        .execute_raw(&candela_client::new_request_id(), &body)
        .await;
    let derived = candela_node::claim_key::derived_key_id(&cid, "user-1");
    {
        use sha3::Digest;
        let want: [u8; 32] = sha3::Keccak256::digest(format!("{cid}_user-1").as_bytes()).into();
        assert_eq!(derived, want);
    }
    assert_eq!(answers.len(), 3);
    for (i, a) in &answers {
        let r = a.as_ref().expect("every node answers");
        assert_eq!(r.response, "success");
        let claim = &r.claim_data["user-1"];
        assert_eq!(claim["derivedKeyId"], hex::encode(derived), "{claim}");
        let node = &client.network().nodes[*i as usize];
        let wallet: [u8; 20] = hex::decode(node.wallet_address.as_deref().expect("a wallet"))
            .expect("hex")
            .try_into()
            .expect("20 bytes");
        let sig: [u8; 65] = hex::decode(claim["signature"].as_str().expect("signature"))
            .expect("hex")
            .try_into()
            .expect("65 bytes, r || s || v");
        assert_eq!(
            candela_node::claim_key::claim_signer(&derived, &sig),
            Some(wallet),
            "the node's wallet signed the claim under EIP-191, as Lit's nodes do"
        );
    }
}

/// Lit's v7 claim flow end to end (lit-node `ClaimKeyIdentifier`, then
/// js-sdk v7 `claimKeyId`'s mint of the claimed key): an action claims a
/// key id, the client reads the claim (the derived key id and the nodes'
/// signatures) from the execution, mints the claimed PKP in the registry,
/// and the PKP signs. Its public key is the network's derivation of
/// `keccak256("{cid}_{keyId}")`. Attacker checks: a claim with fewer than
/// threshold node signatures, with signatures moved onto another key id
/// or made by a key outside the node set is refused by the registry, and a
/// claimed key id is minted once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claim_key_then_mint_the_claimed_pkp_which_signs() {
    claim_then_mint(
        &crate::common::TestNet::start(3, &[]),
        crate::common::owner(),
    )
    .await;
}

/// The same flow on a network whose registry is the EVM contracts on
/// anvil: `PKPNFT.claimAndMint` (Lit's ABI) recovers each node's EIP-191
/// signature and counts only `Staking`'s node addresses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claim_key_then_mint_the_claimed_pkp_on_the_evm_registry() {
    // a funded development account pays for the mint
    let owner = candela_registry::anvil::dev_key(1);
    claim_then_mint(
        &crate::common::TestNet::start(3, &["--chain", "anvil"]),
        owner,
    )
    .await;
}

async fn claim_then_mint(net: &crate::common::TestNet, owner: k256::ecdsa::SigningKey) {
    let client = net.client();
    let claimer = "(async () => {\n  const r = await Lit.Actions.claimKey({ keyId: 'user-1' });\n  Lit.Actions.setResponse({ response: r });\n})();";
    let (cid, _) = client
        .deploy_action(claimer.as_bytes())
        .await
        .expect("deploy");
    let out = client
        .execute(&ActionSource::IpfsId(cid.clone()), None, &owner)
        .await
        .expect("execute");
    assert_eq!(out.response, "success");
    let claim = out
        .claims
        .get("user-1")
        .expect("the claim of user-1")
        .clone();
    let derived = candela_node::claim_key::derived_key_id(&cid, "user-1");
    assert_eq!(claim.derived_key_id, derived);
    assert_eq!(claim.signatures.len(), 3, "every node signed");

    let registry = crate::common::registry(&client);
    let threshold = client.network().threshold;
    assert!(threshold >= 2, "a 3-node devnet needs 2 or more");

    // fewer than threshold signatures: the registry refuses (the client's
    // own count check is bypassed by asking the registry directly)
    let mut short = claim.clone();
    while short.signatures.len() >= threshold {
        short.signatures.pop_last();
    }
    let e = registry
        .mint_claimed(&owner, client.root_public_key(), &short, &[], false)
        .expect_err("too few signatures");
    assert!(e.to_string().contains("needed"), "{e}");
    let e = client
        .mint_claimed(registry.as_ref(), &owner, &short, &[], false)
        .expect_err("too few signatures");
    assert!(e.to_string().contains("needed"), "{e}");
    // the network's signatures moved onto another key id
    let mut moved = claim.clone();
    moved.derived_key_id = candela_node::claim_key::derived_key_id(&cid, "user-2");
    let e = registry
        .mint_claimed(&owner, client.root_public_key(), &moved, &[], false)
        .expect_err("signatures of another key id");
    assert!(e.to_string().contains("does not verify"), "{e}");
    // signatures by keys outside the node set
    let mut forged = claim.clone();
    for sig in forged.signatures.values_mut() {
        let k = k256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
        *sig = candela_node::claim_key::sign_claim(&k, &derived);
    }
    registry
        .mint_claimed(&owner, client.root_public_key(), &forged, &[], false)
        .expect_err("forged signatures");

    // the network's claim mints the PKP the network derives for the id
    let rec = client
        .mint_claimed(registry.as_ref(), &owner, &claim, &[], false)
        .expect("mint the claimed key");
    assert_eq!(rec.key_id, derived);
    assert_eq!(
        rec.public_key,
        candela_crypto::derive::derive_public_key(client.root_public_key(), &derived)
            .expect("derive")
    );
    assert_eq!(
        registry.by_public_key(&rec.public_key).expect("recorded"),
        rec
    );
    let e = client
        .mint_claimed(registry.as_ref(), &owner, &claim, &[], false)
        .expect_err("a key id is minted once");
    assert!(e.to_string().contains("already minted"), "{e}");

    // and it signs: the signature verifies under the claimed key
    let digest = crate::common::random_digest();
    let signed = client
        .pkp_sign(&owner, &rec.public_key, digest)
        .await
        .expect("the claimed PKP signs");
    signed
        .signature
        .verify(&rec.public_key, &digest)
        .expect("verifies under the claimed key");
}

/// `candela pkp claim FILE`: the CLI runs a claiming action and mints the
/// claimed PKP, the network's derivation of keccak256("{cid}_{keyId}");
/// running it again is refused (a key id is minted once), and an action
/// that claims nothing is a clear error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pkp_claim_cli_mints_the_key_an_action_claims_once() {
    let net = crate::common::TestNet::start(3, &[]);
    let client = net.client();
    let dir = tempfile::tempdir().expect("tempdir");
    let code = "(async () => {\n  await Lit.Actions.claimKey({ keyId: 'cli-user' });\n})();";
    let file = dir.path().join("claim.js");
    std::fs::write(&file, code).expect("write");
    let owner = crate::common::owner();
    let claim = |file: &std::path::Path| {
        std::process::Command::new(crate::common::BIN)
            .args(["pkp", "claim", "--json", "--network"])
            .arg(net.network_path())
            .arg("--private-key")
            .arg(hex::encode(owner.to_bytes()))
            .arg(file)
            .output()
            .expect("run candela")
    };
    let out = claim(&file);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let minted: Value = serde_json::from_slice(&out.stdout).expect("json");
    let cid = candela_cid::cid_v0(code.as_bytes());
    let derived = candela_node::claim_key::derived_key_id(&cid, "cli-user");
    assert_eq!(minted[0]["claimedKeyId"], "cli-user", "{minted}");
    assert_eq!(
        minted[0]["derivedKeyId"],
        format!("0x{}", hex::encode(derived)),
        "{minted}"
    );
    let want = candela_crypto::derive::derive_public_key(client.root_public_key(), &derived)
        .expect("derive");
    let got = candela_crypto::derive::parse_public_key(
        minted[0]["publicKey"].as_str().expect("publicKey"),
    )
    .expect("a key");
    assert_eq!(got, want, "{minted}");

    let again = claim(&file);
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("already minted"), "{err}");

    let nothing = dir.path().join("nothing.js");
    std::fs::write(&nothing, "(async () => {})();").expect("write");
    let out = claim(&nothing);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("claimed no key"), "{err}");
}
