//! End-to-end: authentication at real nodes — session signatures bound to
//! one node and to their capabilities, the SIWE domain and network nonce,
//! and per-identity rate limits.

use crate::common::*;
use candela_api::auth::AuthSig;
use candela_client::{Ability, ActionSource, PkpAuth, RequestAuth, ResourceAbilityRequest};
use candela_crypto::derive;
use serde_json::{json, Value};

/// POST a pkp/sign body to one node; its status and JSON answer.
async fn sign_at(url: &str, auth: &AuthSig, pkp: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{url}/web/pkp/sign/v1"))
        .header("X-Request-Id", candela_client::new_request_id())
        .json(&json!({"toSign": random_digest().to_vec(), "pubkey": pkp, "authSig": auth, "epoch": 1}))
        .send()
        .await
        .expect("send");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_bound_to_their_node_and_capabilities_and_wallet_sigs_to_domain_and_nonce() {
    let net = TestNet::start(3, &[]);
    let client = net.client();
    let nodes: Vec<String> = client
        .network()
        .nodes
        .iter()
        .map(|n| n.url.clone())
        .collect();
    let owner = owner();
    let reg = registry(&client);
    let pkp = reg.mint(&owner, client.root_public_key()).expect("mint");
    let pk = derive::public_key_hex(&pkp.public_key);

    // the handshake publishes the nonce the client computes
    let hs: Value = reqwest::Client::new()
        .post(format!("{}/web/handshake", nodes[0]))
        .json(&json!({"clientPublicKey": "test", "challenge": "0x00"}))
        .send()
        .await
        .expect("handshake")
        .json()
        .await
        .expect("json");
    assert_eq!(hs["latestBlockhash"], client.nonce());

    // the client's session signs at every node
    let signed = client
        .pkp_sign(&owner, &pkp.public_key, random_digest())
        .await
        .expect("session signing");
    assert!(signed.faults.is_empty());

    // a session signature made for node 0 is refused by node 1
    let session = client.session(&owner);
    let (status, body) = sign_at(&nodes[1], &session.sign_for(&nodes[0]), &pk).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or("")
            .contains("was made for"),
        "{body}"
    );

    // a session that may only run actions cannot sign with a PKP
    let exec_only = client.new_session(
        &owner,
        vec![ResourceAbilityRequest::new(
            Ability::LitActionExecution,
            "*",
        )],
        std::time::Duration::from_secs(600),
    );
    let (status, body) = sign_at(&nodes[0], &exec_only.sign_for(&nodes[0]), &pk).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or("")
            .contains("missing capability"),
        "{body}"
    );
    // ...but runs an action, where Lit.Auth names the wallet behind it
    let code =
        "(async () => { Lit.Actions.setResponse({ response: Lit.Auth.authSigAddress }); })();";
    let out = client
        .execute_once(
            &candela_client::new_request_id(),
            &ActionSource::Code(code.into()),
            None,
            &RequestAuth::Session(std::sync::Arc::new(exec_only)),
        )
        .await
        .expect("execution session");
    assert_eq!(
        out.response,
        derive::checksum_address(&derive::eth_address(owner.verifying_key().as_affine()))
    );

    // wallet auth signatures: the network nonce and an accepted domain
    let good = client.wallet_auth(&owner, 600);
    assert_eq!(sign_at(&nodes[0], &good, &pk).await.0, 200);
    let random_nonce = AuthSig::create(&owner, "localhost", "lit:session:x", 600);
    let (status, body) = sign_at(&nodes[0], &random_nonce, &pk).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["message"].as_str().unwrap_or("").contains("nonce"),
        "{body}"
    );
    let wrong_domain = AuthSig::create_with_nonce(
        &owner,
        "evil.example",
        "lit:session:x",
        600,
        &client.nonce(),
    );
    let (status, body) = sign_at(&nodes[0], &wrong_domain, &pk).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["message"].as_str().unwrap_or("").contains("domain"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identity_over_its_rate_limit_gets_429_and_others_are_still_served() {
    let net = TestNet::start(3, &["--rate-limit-per-minute", "3"]);
    let client = net.client();
    let node = client.network().nodes[0].url.clone();
    let (busy, other) = (owner(), owner());
    let reg = registry(&client);
    let pkp = reg.mint(&busy, client.root_public_key()).expect("mint");
    let pk = derive::public_key_hex(&pkp.public_key);
    let auth = client.wallet_auth(&busy, 600);
    for _ in 0..3 {
        let (status, body) = sign_at(&node, &auth, &pk).await;
        assert_ne!(status, 429, "{body}");
    }
    let (status, body) = sign_at(&node, &auth, &pk).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["errorCode"], "NodeRateLimited", "{body}");
    assert!(
        body["message"].as_str().unwrap_or("").contains("retry in"),
        "{body}"
    );
    // another identity has its own budget (refused for not owning the PKP,
    // not for the rate)
    let (status, body) = sign_at(&node, &client.wallet_auth(&other, 600), &pk).await;
    assert_eq!(status, 403, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cli_session_is_reusable_by_later_commands_within_its_capabilities() {
    let net = TestNet::start(3, &[]);
    let client = net.client();
    let network = net.network_path().display().to_string();
    let owner = owner();
    let key = hex::encode(owner.to_bytes());
    let pkp = registry(&client)
        .mint(&owner, client.root_public_key())
        .expect("mint");
    let pk = derive::public_key_hex(&pkp.public_key);
    let run = |args: &[&str]| {
        std::process::Command::new(BIN)
            .args(args)
            .output()
            .expect("run candela")
    };
    let make_session = |resources: &str, file: &std::path::Path| {
        let out = run(&[
            "auth",
            "session",
            "--network",
            &network,
            "--private-key",
            &key,
            "--resources",
            resources,
            "--expires",
            "10m",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).expect("session json");
        assert!(v["capability"]["signedMessage"]
            .as_str()
            .unwrap_or("")
            .contains("urn:recap:"));
        std::fs::write(file, &out.stdout).expect("write session");
    };
    let signing = net.path().join("signing.json");
    make_session("pkp-signing:*", &signing);
    let hash = format!("0x{}", hex::encode(random_digest()));
    let signing_s = signing.display().to_string();
    let out = run(&[
        "pkp",
        "sign",
        "--network",
        &network,
        "--session",
        &signing_s,
        "--pkp",
        &pk,
        "--hash",
        &hash,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // a PKP session from the CLI: the network signs it, the PKP signs with it
    let pkp_session = net.path().join("pkp-session.json");
    let out = run(&[
        "auth",
        "session",
        "--network",
        &network,
        "--private-key",
        &key,
        "--pkp",
        &pk,
        "--resources",
        "pkp-signing:*",
        "--expires",
        "10m",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["capability"]["derivedVia"], "lit.bls");
    std::fs::write(&pkp_session, &out.stdout).expect("write");
    let out = run(&[
        "pkp",
        "sign",
        "--network",
        &network,
        "--session",
        &pkp_session.display().to_string(),
        "--pkp",
        &pk,
        "--hash",
        &hash,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // the same session cannot run actions: it was not granted that
    let out = run(&[
        "action",
        "run",
        "--network",
        &network,
        "--session",
        &signing_s,
        "--cid",
        &candela_cid::cid_v0(b"x"),
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("missing capability"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pkp_session_signed_by_the_network_lets_the_pkp_act_as_itself() {
    let net = TestNet::start(3, &[]);
    let client = net.client();
    let (owner, stranger) = (owner(), owner());
    let reg = registry(&client);
    let pkp = reg.mint(&owner, client.root_public_key()).expect("mint");
    let pkp_address = derive::checksum_address(&pkp.eth_address());
    let requests = candela_client::default_session_requests();
    let ttl = std::time::Duration::from_secs(600);

    // the owner's wallet is a permitted auth method: the network signs
    let session = client
        .pkp_session(
            PkpAuth::Wallet(&owner),
            &pkp.public_key,
            requests.clone(),
            ttl,
        )
        .await
        .expect("PKP session");
    assert_eq!(session.capability.derived_via, "lit.bls");
    assert_eq!(session.capability.address, pkp_address);
    let auth = RequestAuth::Session(session.clone());
    let digest = random_digest();
    let signed = client
        .pkp_sign_with(&auth, &pkp.public_key, digest)
        .await
        .expect("the PKP signs through its own session");
    signed
        .signature
        .verify(&pkp.public_key, &digest)
        .expect("verifies");
    let code =
        "(async () => { Lit.Actions.setResponse({ response: Lit.Auth.authSigAddress }); })();";
    let out = client
        .execute_once(
            &candela_client::new_request_id(),
            &ActionSource::Code(code.into()),
            None,
            &auth,
        )
        .await
        .expect("execute");
    assert_eq!(out.response, pkp_address, "the caller is the PKP itself");

    // a capability whose message was changed after the network signed it
    let mut forged = session.to_file();
    forged.capability.signed_message = forged
        .capability
        .signed_message
        .replace("Threshold", "Threshold ");
    let forged = candela_client::Session::from_file(&forged).expect("file");
    let nodes = client.network().nodes.clone();
    let (status, body) = sign_at(
        &nodes[0].url,
        &forged.sign_for(&nodes[0].url),
        &derive::public_key_hex(&pkp.public_key),
    )
    .await;
    assert_eq!(status, 401, "{body}");

    // a wallet that is not a permitted auth method gets nothing...
    let err = client
        .pkp_session(
            PkpAuth::Wallet(&stranger),
            &pkp.public_key,
            requests.clone(),
            ttl,
        )
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("NodeUnauthorized"), "{err}");
    // ...until the owner permits it
    reg.grant(
        &owner,
        &pkp.token_id,
        &candela_registry::Permission::new(
            candela_registry::AuthMethod::address(derive::eth_address(
                stranger.verifying_key().as_affine(),
            )),
            [1],
        ),
    )
    .expect("grant");
    client
        .pkp_session(PkpAuth::Wallet(&stranger), &pkp.public_key, requests, ttl)
        .await
        .expect("now permitted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_auth_by_a_permitted_action_authorises_a_pkp_session_only_when_it_answers_true() {
    let net = TestNet::start(3, &[]);
    let client = net.client();
    // a custom auth method: a one-time code checked by the action
    let code = r#"(async () => {
        Lit.Actions.setResponse({ response: jsParams.code === "4242" ? "true" : "false" });
    })();"#;
    let (cid, _) = client.deploy_action(code.as_bytes()).await.expect("deploy");
    let reg = registry(&client);
    // mint-grant-burn: only this action can ever authorise sessions for it
    let pkp = reg
        .mint_with_actions(&owner(), client.root_public_key(), &[&cid], true)
        .expect("mint");
    let source = ActionSource::IpfsId(cid.clone());
    let requests = candela_client::default_session_requests();
    let ttl = std::time::Duration::from_secs(600);
    let session = client
        .pkp_session(
            PkpAuth::Action {
                source: &source,
                js_params: Some(json!({"code": "4242"})),
            },
            &pkp.public_key,
            requests.clone(),
            ttl,
        )
        .await
        .expect("the action says yes");
    let digest = random_digest();
    let signed = client
        .pkp_sign_with(&RequestAuth::Session(session), &pkp.public_key, digest)
        .await
        .expect("signs");
    signed
        .signature
        .verify(&pkp.public_key, &digest)
        .expect("verifies");
    let err = client
        .pkp_session(
            PkpAuth::Action {
                source: &source,
                js_params: Some(json!({"code": "0000"})),
            },
            &pkp.public_key,
            requests.clone(),
            ttl,
        )
        .await
        .err()
        .expect("the action says no");
    assert!(err.to_string().contains("did not authorise"), "{err}");
    // an action that is not bound to the PKP cannot authorise anything
    let other = ActionSource::Code(
        "(async () => { Lit.Actions.setResponse({ response: \"true\" }); })();".into(),
    );
    let err = client
        .pkp_session(
            PkpAuth::Action {
                source: &other,
                js_params: None,
            },
            &pkp.public_key,
            requests,
            ttl,
        )
        .await
        .err()
        .expect("unbound action");
    assert!(
        err.to_string().contains("is not a permitted auth method"),
        "{err}"
    );
    // Lit's refusal text comes first (lit-node `session_sigs.rs`,
    // `only_permitted_lit_action_can_sign_session_sig`)
    assert!(
        err.to_string().contains(
            "None of the AuthMethods, AuthSig or Lit Actions meet the required scope [2]"
        ),
        "{err}"
    );
}

/// The hash of the latest block of the chain at `rpc_url`, after mining one.
async fn fresh_block_hash(rpc_url: &str) -> String {
    let rpc = |method: &str, params: Value| {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        async move {
            let r: Value = reqwest::Client::new()
                .post(rpc_url)
                .json(&body)
                .send()
                .await
                .expect("rpc")
                .json()
                .await
                .expect("json");
            r["result"].clone()
        }
    };
    rpc("evm_mine", json!([])).await;
    let block = rpc("eth_getBlockByNumber", json!(["latest", false])).await;
    block["hash"].as_str().expect("a block hash").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_hashes_of_a_configured_nonce_chain_are_nonces_beside_the_registry_chains() {
    // a second chain stands in for Ethereum mainnet, whose block hashes the
    // Lit JS SDK takes as nonces once it is online for 30 s
    let mainnet = candela_registry::anvil::Anvil::start().expect("anvil");
    let net = TestNet::start(
        3,
        &[
            "--chain",
            "anvil",
            "--nonce-chain-rpc",
            mainnet.url.as_str(),
            // a nonce chain that never answers (nothing listens there)
            "--nonce-chain-rpc",
            "http://127.0.0.1:9",
        ],
    );
    let client = net.client();
    let url = client.network().nodes[0].url.clone();
    // a funded account of the registry's anvil pays for the mint
    let owner = candela_registry::anvil::dev_key(3);
    let pkp = registry(&client)
        .mint(&owner, client.root_public_key())
        .expect("mint");
    let pk = derive::public_key_hex(&pkp.public_key);
    let with_nonce = |nonce: &str| {
        AuthSig::create_with_nonce(&owner, "localhost", "lit:session:candela", 600, nonce)
    };

    let mainnet_hash = fresh_block_hash(&mainnet.url).await;
    let (status, body) = sign_at(&url, &with_nonce(&mainnet_hash), &pk).await;
    assert_eq!(status, 200, "a block hash of the nonce chain: {body}");

    let rpc_url = client.network().rpc_url.clone().expect("an EVM registry");
    let registry_hash = fresh_block_hash(&rpc_url).await;
    let (status, body) = sign_at(&url, &with_nonce(&registry_hash), &pk).await;
    assert_eq!(status, 200, "a block hash of the registry chain: {body}");

    // a hash of no block, which the silent chain could not rule out
    let neither = format!("0x{}", hex::encode(random_digest()));
    let (status, body) = sign_at(&url, &with_nonce(&neither), &pk).await;
    assert_eq!(status, 401, "a hash of no block: {body}");
    assert_eq!(body["errorCode"], "NodeInvalidAuthSig", "{body}");
    let message = body["message"].as_str().unwrap_or("");
    assert!(
        message.contains("nonce") && message.contains("nonce chain 1 did not answer"),
        "{body}"
    );
}

/// A custom auth action runs for `sign_session_key` without any auth
/// signature behind it: whoever asks for a session picks its `jsParams`. It
/// may decide, never act: `signEcdsa` fails with Lit's text (and takes no
/// presignature), `signAndCombine` with a Schnorr scheme and `signAsAction`
/// fail alike (and spend no nonce), and decrypting and broadcasting are
/// refused too, even when the action is a permitted action of the PKP it
/// would sign with.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_auth_action_cannot_sign_decrypt_or_broadcast_and_spends_no_presignature() {
    let net = TestNet::start(3, &[]);
    let client = net.client();
    let code = r#"(async () => {
        const refusals = [];
        const attempt = async (f) => { try { await f(); refusals.push("done"); } catch (e) { refusals.push(String(e && e.message || e)); } };
        await attempt(() => Lit.Actions.signEcdsa({ toSign: jsParams.toSign, publicKey: jsParams.publicKey, sigName: "stolen" }));
        await attempt(() => Lit.Actions.signAndCombineEcdsa({ toSign: jsParams.toSign, publicKey: jsParams.publicKey, sigName: "stolen2" }));
        await attempt(() => Lit.Actions.broadcastAndCollect({ name: "x", value: "1" }));
        await attempt(() => Lit.Actions.decryptAndCombine({ accessControlConditions: [], ciphertext: "", dataToEncryptHash: "", chain: "ethereum", authSig: null }));
        await attempt(() => Lit.Actions.signAndCombine({ toSign: jsParams.toSign, publicKey: jsParams.publicKey, sigName: "stolen3", signingScheme: "SchnorrEd25519Sha512" }));
        await attempt(() => Lit.Actions.signAsAction({ toSign: jsParams.toSign, sigName: "stolen4", signingScheme: "SchnorrEd25519Sha512" }));
        const ok = refusals[0].includes("You can not sign without providing an auth_sig.")
          && refusals[1].includes("You can not sign without providing an auth_sig.")
          && refusals[2].includes("may not decrypt nor broadcast")
          && refusals[3].includes("may not decrypt nor broadcast")
          && refusals[4].includes("You can not sign without providing an auth_sig.")
          && refusals[5].includes("You can not sign without providing an auth_sig.");
        Lit.Actions.setResponse({ response: ok ? "true" : JSON.stringify(refusals) });
    })();"#;
    let (cid, _) = client.deploy_action(code.as_bytes()).await.expect("deploy");
    // the action is both the PKP's custom auth method and a permitted action
    let pkp = registry(&client)
        .mint_with_actions(&owner(), client.root_public_key(), &[&cid], true)
        .expect("mint");
    net.wait_pool(2).await;
    let used = |st: Vec<Option<candela_api::v7::NodeStatus>>| -> u64 {
        st.iter()
            .flatten()
            .map(|s| s.presignatures_used + s.schnorr_nonces_used)
            .sum()
    };
    let before = used(client.statuses().await);
    let source = ActionSource::IpfsId(cid.clone());
    let session = client
        .pkp_session(
            PkpAuth::Action {
                source: &source,
                js_params: Some(json!({
                    "toSign": random_digest().to_vec(),
                    "publicKey": derive::public_key_hex(&pkp.public_key),
                })),
            },
            &pkp.public_key,
            candela_client::default_session_requests(),
            std::time::Duration::from_secs(600),
        )
        .await;
    assert!(
        session.is_ok(),
        "every node refused the action's signing, decryption and broadcast: {:?}",
        session.err()
    );
    assert_eq!(
        used(client.statuses().await),
        before,
        "no presignature nor Schnorr nonce was taken for a custom auth run"
    );
}

/// Lit's custom auth resource, as its `session_sigs.rs` test answers it.
const LIT_CUSTOM_RESOURCE: &str = "(true, 'Anything your want to use in executeJs')";

/// Ports Lit's `sign_lit_actions_with_custom_auth_resource_lit_action_session_sig`
/// (lit-node `tests/integration/session_sigs.rs`): a custom auth action
/// answers `(true, '<resource>')`; the session's SIWE carries Lit's
/// `lit-resolvedauthcontext://*` resource with that resource in its auth
/// context, and a later execution with the session sees it as
/// `Lit.Auth.customAuthResource` (and the custom auth action's CID in
/// `Lit.Auth.actionIpfsIdStack`), then signs with the PKP as in Lit's test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_lit_actions_with_custom_auth_resource_lit_action_session_sig() {
    let net = TestNet::start(3, &[]);
    let client = net.client();
    let auth_code = format!(
        r#"(async () => {{
        LitActions.setResponse({{ response: jsParams.code === "4242" ? "{LIT_CUSTOM_RESOURCE}" : "false" }});
    }})();"#
    );
    let (auth_cid, _) = client
        .deploy_action(auth_code.as_bytes())
        .await
        .expect("deploy");
    let pkp = registry(&client)
        .mint_with_actions(&owner(), client.root_public_key(), &[&auth_cid], true)
        .expect("mint");
    let session = client
        .pkp_session(
            PkpAuth::Action {
                source: &ActionSource::IpfsId(auth_cid.clone()),
                js_params: Some(json!({"code": "4242"})),
            },
            &pkp.public_key,
            candela_client::default_session_requests(),
            std::time::Duration::from_secs(600),
        )
        .await
        .expect("the custom auth action says (true, resource)");
    // the network-signed capability states the resolved auth context
    let signed = session.to_file().capability.signed_message;
    assert!(
        signed.contains("'Auth': 'Auth' for 'lit-resolvedauthcontext://*'"),
        "{signed}"
    );
    let context = candela_api::session::resolved_auth_context_in(&signed)
        .expect("a readable recap")
        .expect("an auth context");
    assert_eq!(
        context["customAuthResource"], LIT_CUSTOM_RESOURCE,
        "{context}"
    );
    assert_eq!(context["actionIpfsIds"], json!([auth_cid]), "{context}");

    // Lit's CUSTOM_AUTH_RESOURCE_VALID_PKP_SIGNING_LIT_ACTION_CODE, with
    // this network's custom auth CID
    let signing_code = format!(
        r#"(async () => {{
        let utf8Encode = new TextEncoder();
        const toSign = utf8Encode.encode('This message is exactly 32 bytes');
        const isValidCustomAuthResource = Lit.Auth.customAuthResource === "{LIT_CUSTOM_RESOURCE}";
        if (Lit.Auth.actionIpfsIdStack.includes("{auth_cid}") && isValidCustomAuthResource) {{
            console.log("Custom Authorization Successful!");
            const sigShare = await LitActions.signEcdsa({{ toSign, publicKey, sigName }});
        }}
        Lit.Actions.setResponse({{ response: JSON.stringify({{ resource: Lit.Auth.customAuthResource, stack: Lit.Auth.actionIpfsIdStack }}) }});
    }})();"#
    );
    let source = ActionSource::Code(signing_code.clone());
    let out = client
        .execute_once(
            &candela_client::new_request_id(),
            &source,
            Some(json!({
                "publicKey": derive::public_key_hex(&pkp.public_key),
                "sigName": "sig1",
            })),
            &RequestAuth::Session(session),
        )
        .await
        .expect("runs with the custom auth session");
    let seen: Value = serde_json::from_str(&out.response).expect("JSON response");
    assert_eq!(seen["resource"], LIT_CUSTOM_RESOURCE, "{seen}");
    let own_cid = candela_cid::cid_v0(signing_code.as_bytes());
    assert_eq!(seen["stack"], json!([auth_cid, own_cid]), "{seen}");
    let sig = out.signatures.get("sig1").expect("the PKP signed");
    let digest: [u8; 32] = *b"This message is exactly 32 bytes";
    sig.signature
        .verify(&pkp.public_key, &digest)
        .expect("verifies under the PKP");

    // a wallet's own session has no custom auth resource
    let plain = client
        .execute(
            &source,
            Some(json!({"publicKey": "", "sigName": "x"})),
            &owner(),
        )
        .await
        .expect("runs with a wallet session");
    let seen: Value = serde_json::from_str(&plain.response).expect("JSON response");
    assert_eq!(seen["resource"], "", "{seen}");
    assert!(plain.signatures.is_empty());
}

/// Attacker: a custom auth action's answer authorises only in Lit's forms
/// (`"true"`, `(true, '<resource>')`): an answer that merely contains
/// `true` ("untrue", `(false, 'true')`) is refused with Lit's text, and a
/// client cannot state its own auth context in the session it asks for
/// (Lit: "Can't define Auth Context resources in capability").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_auth_answers_that_only_contain_true_and_self_stated_auth_contexts_are_refused() {
    let net = TestNet::start(3, &[]);
    let client = net.client();
    let code = r#"(async () => { Lit.Actions.setResponse({ response: jsParams.answer }); })();"#;
    let (cid, _) = client.deploy_action(code.as_bytes()).await.expect("deploy");
    let pkp = registry(&client)
        .mint_with_actions(&owner(), client.root_public_key(), &[&cid], true)
        .expect("mint");
    let source = ActionSource::IpfsId(cid.clone());
    let ask = |answer: &str| {
        client.pkp_session(
            PkpAuth::Action {
                source: &source,
                js_params: Some(json!({ "answer": answer })),
            },
            &pkp.public_key,
            candela_client::default_session_requests(),
            std::time::Duration::from_secs(600),
        )
    };
    for answer in ["untrue", "(false, 'true')", "false, not true"] {
        let err = ask(answer).await.err().expect("refused");
        assert!(
            err.to_string()
                .contains("Authentication failed for session_sig signing via Lit Action"),
            "{answer}: {err}"
        );
    }
    ask("true").await.expect("\"true\" authorises");

    // a session message that already names lit-resolvedauthcontext://*
    let pending = candela_api::session::PendingSession::new(
        pkp.eth_address(),
        candela_client::default_session_requests(),
        "localhost",
        &client.nonce(),
        time::Duration::minutes(10),
    );
    let forged = candela_api::session::with_resolved_auth_context(
        &pending.siwe_message,
        &json!({"actionIpfsIds": [cid], "authMethodContexts": [], "authSigAddress": null,
                "customAuthResource": "(true, 'admin')", "resources": []}),
    )
    .expect("the client can write one");
    let url = client.network().nodes[0].url.clone();
    let r = reqwest::Client::new()
        .post(format!("{url}/web/sign_session_key/v1"))
        .header("X-Request-Id", candela_client::new_request_id())
        .json(&json!({
            "sessionKey": format!("lit:session:{}", pending.public_key_hex()),
            "authMethods": [], "pkpPublicKey": derive::public_key_hex(&pkp.public_key),
            "siweMessage": forged, "curveType": "BLS", "epoch": 1,
            "litActionIpfsId": cid, "jsParams": {"answer": "true"},
        }))
        .send()
        .await
        .expect("send");
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["errorCode"], "NodeInvalidAuthContextResource",
        "{body}"
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap_or("")
            .contains("Can't define Auth Context resources in capability"),
        "{body}"
    );
}

/// Ports lit-node `session_sigs.rs`'s scope rule for sessions
/// (`only_permitted_lit_action_can_sign_session_sig`: Lit's
/// `sign_session_key` asks for scope 2, which scope 1 includes): a wallet
/// or custom auth action permitted on the PKP with no scope (or another
/// one) cannot authorise a session, refused with Lit's "None of the
/// AuthMethods, AuthSig or Lit Actions meet the required scope [2]"; with
/// scope 2 or scope 1 it can.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_needs_an_auth_method_permitted_with_scope_1_or_2() {
    use candela_registry::{AuthMethod, Permission};
    let net = TestNet::start(3, &[]);
    let client = net.client();
    let owner = owner();
    let reg = registry(&client);
    let code = "(async () => { Lit.Actions.setResponse({ response: \"true\" }); })();";
    let (cid, _) = client.deploy_action(code.as_bytes()).await.expect("deploy");
    let pkp = reg.mint(&owner, client.root_public_key()).expect("mint");
    let wallet = |scopes: &[u64]| {
        let w = k256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
        reg.grant(
            &owner,
            &pkp.token_id,
            &Permission::new(
                AuthMethod::address(derive::eth_address(w.verifying_key().as_affine())),
                scopes.iter().copied(),
            ),
        )
        .expect("grant");
        w
    };
    let (none, other, personal, anything) = (wallet(&[]), wallet(&[3]), wallet(&[2]), wallet(&[1]));
    let requests = candela_client::default_session_requests();
    let ttl = std::time::Duration::from_secs(600);
    for w in [&none, &other] {
        let err = client
            .pkp_session(PkpAuth::Wallet(w), &pkp.public_key, requests.clone(), ttl)
            .await
            .err()
            .expect("no scope 1 or 2: refused");
        let text = err.to_string();
        assert!(
            text.contains(
                "None of the AuthMethods, AuthSig or Lit Actions meet the required scope [2]"
            ) && text.contains("without scope 1 (sign anything) or 2 (personal sign)"),
            "{text}"
        );
    }
    for w in [&personal, &anything] {
        client
            .pkp_session(PkpAuth::Wallet(w), &pkp.public_key, requests.clone(), ttl)
            .await
            .expect("scope 2 or 1: a session");
    }
    // the same for a custom auth action
    let source = ActionSource::IpfsId(cid.clone());
    let custom = || {
        client.pkp_session(
            PkpAuth::Action {
                source: &source,
                js_params: None,
            },
            &pkp.public_key,
            requests.clone(),
            ttl,
        )
    };
    reg.grant(
        &owner,
        &pkp.token_id,
        &Permission::new(AuthMethod::action(&cid).expect("cid"), []),
    )
    .expect("grant the action with no scope");
    let err = custom().await.err().expect("refused");
    assert!(
        err.to_string().contains(
            "None of the AuthMethods, AuthSig or Lit Actions meet the required scope [2]"
        ),
        "{err}"
    );
    reg.grant(
        &owner,
        &pkp.token_id,
        &Permission::new(AuthMethod::action(&cid).expect("cid"), [2]),
    )
    .expect("grant scope 2");
    custom()
        .await
        .expect("scope 2: the action authorises a session");
}
