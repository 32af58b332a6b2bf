//! End-to-end: the nodes enforce the registry's permissions, on the embedded
//! SQLite registry and on the EVM contracts of `contracts/` on a real anvil
//! (`candela devnet --chain anvil`): the same scenario runs on both.

use crate::common::*;
use candela_client::{ActionSource, Client};
use candela_crypto::derive;
use candela_registry::{signer_address, AuthMethod, Permission, PkpRecord, BURNED_OWNER};
use k256::ecdsa::SigningKey;
use serde_json::{json, Value};

const PRIME: &str = include_str!("../../../examples/actions/prime.js");

/// Anvil's funded development accounts 1 and 2: on the EVM registry every
/// mutation is a transaction paid by its signer.
fn dev_key(i: usize) -> SigningKey {
    candela_registry::anvil::dev_key(i + 1)
}

fn pk_hex(rec: &PkpRecord) -> String {
    derive::public_key_hex(&rec.public_key)
}

async fn run_prime(
    client: &Client,
    source: &ActionSource,
    pkp: &PkpRecord,
    caller: &SigningKey,
) -> Result<candela_client::ExecuteOutcome, candela_client::ClientError> {
    let params =
        json!({"number": 13, "toSign": random_digest().to_vec(), "publicKey": pk_hex(pkp)});
    client.execute(source, Some(params), caller).await
}

/// Reads every permission function from inside an action.
fn reads_action(token_id: &str, address: &str, custom_id: &[u8], cid: &str) -> String {
    let custom: Vec<u8> = custom_id.to_vec();
    format!(
        r#"(async () => {{
            const tokenId = "{token_id}";
            const userId = new Uint8Array({custom:?});
            const out = {{
                isPermittedAction: await Lit.Actions.isPermittedAction({{ tokenId, ipfsId: "{cid}" }}),
                isPermittedAddress: await Lit.Actions.isPermittedAddress({{ tokenId, address: "{address}" }}),
                isPermittedAuthMethod: await Lit.Actions.isPermittedAuthMethod({{ tokenId, authMethodType: 6, userId }}),
                actions: await Lit.Actions.getPermittedActions({{ tokenId }}),
                addresses: await Lit.Actions.getPermittedAddresses({{ tokenId }}),
                authMethods: await Lit.Actions.getPermittedAuthMethods({{ tokenId }}),
                scopes: await Lit.Actions.getPermittedAuthMethodScopes({{ tokenId, authMethodType: 6, userId, maxScopeId: 4 }}),
            }};
            Lit.Actions.setResponse({{ response: JSON.stringify(out) }});
        }})();"#
    )
}

async fn permissions_are_enforced_by_every_node(net: &TestNet) {
    let client = net.client();
    let reg = registry(&client);
    let root = client.root_public_key();
    let (owner, heir) = (dev_key(0), dev_key(1));
    let stranger = crate::common::owner();

    // 1. An action bound to a burned PKP signs for anyone; another cannot.
    let (bound_cid, _) = client
        .deploy_action(PRIME.as_bytes())
        .await
        .expect("deploy");
    let other_code = format!("{PRIME}\n// another action\n");
    let (other_cid, _) = client
        .deploy_action(other_code.as_bytes())
        .await
        .expect("deploy");
    let bound = reg
        .mint_with_actions(&owner, root, &[&bound_cid], true)
        .expect("mint-grant-burn");
    assert_eq!(bound.owner, BURNED_OWNER);
    let ok = run_prime(
        &client,
        &ActionSource::IpfsId(bound_cid.clone()),
        &bound,
        &stranger,
    )
    .await
    .expect("the bound action signs");
    assert!(ok.signatures.contains_key("prime"), "{}", ok.response);
    let err = run_prime(
        &client,
        &ActionSource::IpfsId(other_cid.clone()),
        &bound,
        &stranger,
    )
    .await
    .expect_err("an unbound action must not sign");
    assert!(
        err.to_string().contains("is not permitted to sign"),
        "{err}"
    );

    // 2. Outside actions: the owner signs; a permitted address needs scope 1.
    let pkp = reg.mint(&owner, root).expect("mint");
    client
        .pkp_sign(&owner, &pkp.public_key, random_digest())
        .await
        .expect("the owner signs");
    let denied = client
        .pkp_sign(&stranger, &pkp.public_key, random_digest())
        .await
        .expect_err("a stranger is refused");
    assert!(denied.to_string().contains("NodeUnauthorized"), "{denied}");
    let stranger_addr = signer_address(&stranger);
    reg.grant(
        &owner,
        &pkp.token_id,
        &Permission::new(AuthMethod::address(stranger_addr), [2]),
    )
    .expect("grant personal-sign scope");
    let denied = client
        .pkp_sign(&stranger, &pkp.public_key, random_digest())
        .await
        .expect_err("scope 2 alone does not sign a raw digest");
    assert!(denied.to_string().contains("without scope 1"), "{denied}");
    // inside an action, scope 2 signs an EIP-191 message the sandbox hashes
    // (ethPersonalSignMessageEcdsa) and still not a raw digest (signEcdsa)
    let key_param = json!({"publicKey": pk_hex(&pkp)});
    let personal = r#"(async () => {
        await Lit.Actions.ethPersonalSignMessageEcdsa({ message: "hello", publicKey, sigName: "p" });
    })();"#;
    let out = client
        .execute(
            &ActionSource::Code(personal.into()),
            Some(key_param.clone()),
            &stranger,
        )
        .await
        .expect("scope 2 signs a personal message inside an action");
    assert!(out.signatures.contains_key("p"), "{}", out.response);
    let raw = r#"(async () => {
        await Lit.Actions.signEcdsa({ toSign: new Uint8Array(32).fill(7), publicKey, sigName: "r" });
    })();"#;
    let err = client
        .execute(&ActionSource::Code(raw.into()), Some(key_param), &stranger)
        .await
        .expect_err("scope 2 does not sign a raw digest inside an action");
    assert!(err.to_string().contains("required scope [1]"), "{err}");
    reg.grant(
        &owner,
        &pkp.token_id,
        &Permission::new(AuthMethod::address(stranger_addr), [1]),
    )
    .expect("grant sign-anything scope");
    let signed = client
        .pkp_sign(&stranger, &pkp.public_key, random_digest())
        .await
        .expect("a permitted address with scope 1 signs");
    assert!(signed.faults.is_empty());

    // 3. The permission functions inside an action read the same registry.
    let custom_id = b"custom auth user 42".to_vec();
    reg.grant(
        &owner,
        &pkp.token_id,
        &Permission::new(
            AuthMethod {
                auth_method_type: 6,
                id: custom_id.clone(),
                user_pubkey: vec![0xab; 33],
            },
            [1, 3],
        ),
    )
    .expect("grant custom auth method");
    reg.add_permitted_action(&owner, &pkp.token_id, &other_cid, 1)
        .expect("permit action");
    let token = format!("0x{}", hex::encode(pkp.token_id));
    let code = reads_action(
        &token,
        &derive::checksum_address(&stranger_addr),
        &custom_id,
        &other_cid,
    );
    let out = client
        .execute(&ActionSource::Code(code), None, &stranger)
        .await
        .expect("reads");
    let v: Value = serde_json::from_str(&out.response).expect("json");
    assert_eq!(v["isPermittedAction"], true, "{v}");
    assert_eq!(v["isPermittedAddress"], true, "{v}");
    assert_eq!(v["isPermittedAuthMethod"], true, "{v}");
    assert_eq!(v["actions"], json!([other_cid]), "{v}");
    let lower = |k: &SigningKey| format!("0x{}", hex::encode(signer_address(k)));
    assert_eq!(
        v["addresses"],
        json!([lower(&owner), lower(&stranger)]),
        "owner first: {v}"
    );
    let methods = v["authMethods"].as_array().expect("array");
    assert_eq!(methods.len(), 3, "{v}");
    assert_eq!(methods[1]["auth_method_type"], "0x6", "{v}");
    assert_eq!(
        methods[1]["id"],
        format!("0x{}", hex::encode(&custom_id)),
        "{v}"
    );
    assert_eq!(v["scopes"], json!([false, true, false, true]), "{v}");

    // 4. Revoking and transferring take effect at the next request.
    reg.revoke(&owner, &pkp.token_id, 1, &stranger_addr)
        .expect("revoke");
    client
        .pkp_sign(&stranger, &pkp.public_key, random_digest())
        .await
        .expect_err("revoked");
    reg.transfer(&owner, &pkp.token_id, signer_address(&heir))
        .expect("transfer");
    client
        .pkp_sign(&owner, &pkp.public_key, random_digest())
        .await
        .expect_err("the old owner no longer signs");
    client
        .pkp_sign(&heir, &pkp.public_key, random_digest())
        .await
        .expect("the new owner signs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permissions_are_enforced_on_the_sqlite_registry() {
    let net = TestNet::start(3, &[]);
    permissions_are_enforced_by_every_node(&net).await;
    let out = std::process::Command::new(BIN)
        .args(["contracts", "kick", "--node", "1", "--private-key"])
        .arg(hex::encode(dev_key(0).to_bytes()))
        .arg("--network")
        .arg(net.network_path())
        .output()
        .expect("run candela");
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && e.contains("SQLite"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permissions_are_enforced_on_the_evm_registry_on_anvil() {
    let net = TestNet::start(3, &["--chain", "anvil"]);
    let info: Value =
        serde_json::from_slice(&std::fs::read(net.network_path()).expect("network.json"))
            .expect("json");
    assert_eq!(info["registry"]["kind"], "evm", "{info}");
    permissions_are_enforced_by_every_node(&net).await;

    // kicking a node from the SDK's view: refused clearly when it may not be
    let kick = |node: &str, key: &SigningKey| {
        let out = std::process::Command::new(BIN)
            .args(["contracts", "kick", "--node", node, "--private-key"])
            .arg(hex::encode(key.to_bytes()))
            .arg("--network")
            .arg(net.network_path())
            .output()
            .expect("run candela");
        assert!(!out.status.success(), "kick {node} should fail");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let owner = candela_registry::anvil::dev_key(0);
    let e = kick("1", &owner);
    assert!(
        e.contains("threshold 3") && e.contains("2 would remain"),
        "{e}"
    );
    let e = kick("1", &dev_key(0));
    assert!(e.contains("administered by"), "not the Staking owner: {e}");
    let e = kick("7", &owner);
    assert!(e.contains("the network's nodes are [0, 1, 2]"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pkp_cli_grants_revokes_transfers_shows_and_lists_as_json() {
    let net = TestNet::start(3, &[]);
    let network = net.network_path().display().to_string();
    let (owner, heir) = (dev_key(0), dev_key(1));
    let key = |k: &SigningKey| hex::encode(k.to_bytes());
    let addr = |k: &SigningKey| derive::checksum_address(&signer_address(k));
    let cli = |args: &[&str]| -> Value {
        let out = std::process::Command::new(BIN)
            .args(args)
            .args(["--network", &network, "--json"])
            .output()
            .expect("run candela");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("json")
    };
    let cli_err = |args: &[&str]| -> String {
        let out = std::process::Command::new(BIN)
            .args(args)
            .args(["--network", &network])
            .output()
            .expect("run candela");
        assert!(!out.status.success(), "{args:?} should fail");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let minted = cli(&[
        "pkp",
        "mint",
        "--private-key",
        &key(&owner),
        "--permit-address",
        &addr(&heir),
    ]);
    let token = minted["tokenId"].as_str().expect("tokenId").to_string();
    assert_eq!(
        minted["permittedAddresses"],
        json!([addr(&owner), addr(&heir)])
    );
    let cid = candela_cid::cid_v0(b"an action");
    let granted = cli(&[
        "pkp",
        "grant",
        "--private-key",
        &key(&owner),
        "--token-id",
        &token,
        "--action",
        &cid,
        "--scope",
        "1",
        "--scope",
        "2",
    ]);
    assert_eq!(granted["permittedActions"], json!([cid]));
    assert_eq!(granted["permissions"][1]["scopes"], json!([1, 2]));
    // a non-owner is refused, a malformed CID is refused, nothing changes
    let e = cli_err(&[
        "pkp",
        "grant",
        "--private-key",
        &key(&heir),
        "--token-id",
        &token,
        "--action",
        &cid,
    ]);
    assert!(e.contains("not by the signer"), "{e}");
    let e = cli_err(&[
        "pkp",
        "grant",
        "--private-key",
        &key(&owner),
        "--token-id",
        &token,
        "--action",
        "QmNotACid",
    ]);
    assert!(e.contains("CID"), "{e}");
    let e = cli_err(&["pkp", "show", "--token-id", "0x1234"]);
    assert!(e.contains("unknown PKP"), "{e}");
    let revoked = cli(&[
        "pkp",
        "revoke",
        "--private-key",
        &key(&owner),
        "--token-id",
        &token,
        "--address",
        &addr(&heir),
    ]);
    assert_eq!(revoked["permittedAddresses"], json!([addr(&owner)]));
    let moved = cli(&[
        "pkp",
        "transfer",
        "--private-key",
        &key(&owner),
        "--token-id",
        &token,
        "--to",
        &addr(&heir),
    ]);
    assert_eq!(moved["owner"], addr(&heir));
    let listed = cli(&["pkp", "list", "--owner", &addr(&heir)]);
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["tokenId"], token.as_str());
    let burned = cli(&[
        "pkp",
        "burn",
        "--private-key",
        &key(&heir),
        "--token-id",
        &token,
    ]);
    assert_eq!(burned["burned"], true);
    let e = cli_err(&[
        "pkp",
        "grant",
        "--private-key",
        &key(&heir),
        "--token-id",
        &token,
        "--action",
        &cid,
    ]);
    assert!(e.contains("burned"), "{e}");
    let shown = cli(&[
        "pkp",
        "show",
        "--pkp",
        minted["publicKey"].as_str().expect("pk"),
    ]);
    assert_eq!(shown["permissions"], burned["permissions"], "frozen");
}
