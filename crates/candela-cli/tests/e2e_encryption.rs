//! End-to-end: data encrypted to the network's BLS key under access-control
//! conditions decrypts only for a caller for whom every node finds the
//! conditions hold.

use crate::common::*;
use candela_client::{ClientError, RequestAuth};
use candela_crypto::derive;
use candela_registry::anvil::test_tokens::TestTokens;
use candela_registry::anvil::Anvil;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_decrypts_for_the_wallet_the_conditions_name_and_not_for_another() {
    let net = TestNet::start(3, &[]);
    let client = net.client();
    let (reader, stranger) = (owner(), owner());
    let address =
        derive::checksum_address(&derive::eth_address(reader.verifying_key().as_affine()));
    let conditions = json!({"accessControlConditions": equals(":userAddress", &address)});
    let secret = b"the plans for the heist".repeat(1000);
    let enc = client.encrypt(&conditions, &secret).expect("encrypt");
    let plain = client
        .decrypt(&enc, &RequestAuth::Session(client.session(&reader)))
        .await
        .expect("the named wallet decrypts");
    assert_eq!(plain.plaintext, secret);
    assert!(plain.faulty_nodes.is_empty(), "{:?}", plain.faulty_nodes);
    let err = client
        .decrypt(&enc, &RequestAuth::Session(client.session(&stranger)))
        .await
        .expect_err("another wallet does not");
    assert!(
        err.to_string()
            .contains("NodeAccessControlConditionsReturnedNotAuthorized"),
        "{err}"
    );
}

/// One evmBasic condition: the substitution `param` (`:userAddress`,
/// `:currentActionIpfsId`) equals `value`.
fn equals(param: &str, value: &str) -> serde_json::Value {
    json!([{
        "contractAddress": "", "standardContractType": "", "chain": "ethereum", "method": "",
        "parameters": [param],
        "returnValueTest": {"comparator": "=", "value": value}
    }])
}

/// Deploy an action and encrypt `secret` so that only it may decrypt;
/// returns its CID, the ciphertext and the action's jsParams.
async fn encrypted_for_action(
    client: &candela_client::Client,
    code: &str,
    secret: &[u8],
) -> (String, candela_client::Encrypted, serde_json::Value) {
    let (cid, _) = client.deploy_action(code.as_bytes()).await.expect("deploy");
    let enc = client
        .encrypt(
            &json!({"accessControlConditions": only_action(&cid)}),
            secret,
        )
        .expect("encrypt");
    let params = json!({
        "accessControlConditions": enc.conditions["accessControlConditions"],
        "ciphertext": enc.ciphertext,
        "dataToEncryptHash": enc.data_to_encrypt_hash,
    });
    (cid, enc, params)
}

fn address_of(key: &k256::ecdsa::SigningKey) -> [u8; 20] {
    derive::eth_address(key.verifying_key().as_affine())
}

fn basic(
    contract: &str,
    sct: &str,
    method: &str,
    params: serde_json::Value,
    cmp: &str,
    value: &str,
) -> serde_json::Value {
    json!({
        "contractAddress": contract, "standardContractType": sct, "chain": "anvil",
        "method": method, "parameters": params,
        "returnValueTest": {"comparator": cmp, "value": value}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_reads_erc20_and_erc721_conditions_from_the_chain_and_decrypts_once_they_hold() {
    let anvil = Anvil::start().expect("anvil");
    let tokens = TestTokens::deploy(&anvil.url).await.expect("tokens");
    let rpc = format!("anvil={}", anvil.url);
    let net = TestNet::start(3, &["--chain-rpc", &rpc]);
    let client = net.client();
    let (holder, newcomer) = (owner(), owner());
    tokens
        .mint_erc20(address_of(&holder), 5)
        .await
        .expect("mint erc20");
    tokens
        .mint_erc721(address_of(&holder), 42)
        .await
        .expect("mint erc721");
    // ERC20 balance > 0 and (owns ERC721 #42 or the chain's clock has passed 2020)
    let conditions = json!({"accessControlConditions": [
        basic(&tokens.erc20.to_string(), "ERC20", "balanceOf", json!([":userAddress"]), ">", "0"),
        {"operator": "and"},
        [
            basic(&tokens.erc721.to_string(), "ERC721", "ownerOf", json!(["42"]), "=", ":userAddress"),
            {"operator": "or"},
            basic("", "timestamp", "eth_getBlockByNumber", json!(["latest"]), "<=", "1577836800"),
        ]
    ]});
    let secret = b"only token holders read this".to_vec();
    let enc = client.encrypt(&conditions, &secret).expect("encrypt");
    let got = client
        .decrypt(&enc, &RequestAuth::Session(client.session(&holder)))
        .await
        .expect("the holder of both tokens decrypts");
    assert_eq!(got.plaintext, secret);

    let err = client
        .decrypt(&enc, &RequestAuth::Session(client.session(&newcomer)))
        .await
        .expect_err("a wallet without tokens is refused");
    assert!(
        err.to_string()
            .contains("NodeAccessControlConditionsReturnedNotAuthorized"),
        "{err}"
    );
    // ERC20 alone is not enough: the ERC721 / time branch is false for it
    tokens
        .mint_erc20(address_of(&newcomer), 1)
        .await
        .expect("mint");
    let err = client
        .decrypt(&enc, &RequestAuth::Session(client.session(&newcomer)))
        .await
        .expect_err("an ERC20 holder without the ERC721 is refused");
    assert!(err.to_string().contains("NotAuthorized"), "{err}");
    // once it holds the NFT too, the same request succeeds: nodes read the chain per request
    tokens
        .mint_erc721(address_of(&newcomer), 43)
        .await
        .expect("mint");
    let only_43 = json!({"accessControlConditions": [
        basic(&tokens.erc721.to_string(), "ERC721", "ownerOf", json!(["43"]), "=", ":userAddress"),
    ]});
    let enc43 = client.encrypt(&only_43, &secret).expect("encrypt");
    let got = client
        .decrypt(&enc43, &RequestAuth::Session(client.session(&newcomer)))
        .await
        .expect("the owner of #43 decrypts");
    assert_eq!(got.plaintext, secret);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_decryption_share_is_named_and_left_out_and_too_few_valid_shares_say_which_nodes_failed(
) {
    // node 1 is built to answer BLS shares over the wrong message
    let net = TestNet::start(5, &["--misbehave", "1=bad-bls-share"]);
    let client = net.client();
    let reader = owner();
    let conditions = json!({"accessControlConditions": equals(":userAddress", &derive::checksum_address(&address_of(&reader)))});
    let enc = client.encrypt(&conditions, b"attested").expect("encrypt");
    let auth = RequestAuth::Session(client.session(&reader));
    let got = client
        .decrypt(&enc, &auth)
        .await
        .expect("4 honest of 5 suffice");
    assert_eq!(got.plaintext, b"attested");
    let named: Vec<_> = got
        .faulty_nodes
        .iter()
        .filter(|f| f.misbehaved)
        .map(|f| f.node)
        .collect();
    assert_eq!(named, vec![1], "{:?}", got.faulty_nodes);
    assert!(
        got.faulty_nodes[0].reason.contains("invalid BLS share"),
        "{:?}",
        got.faulty_nodes
    );

    // an honest node down as well: 3 valid shares of the 4 needed, a clear
    // error naming the liar and the node that did not answer
    net.crash_node(3);
    let err = client
        .decrypt(&enc, &auth)
        .await
        .expect_err("3 valid shares are too few");
    match &err {
        ClientError::NotEnoughShares {
            needed: 4,
            valid: 3,
            faults,
        } => {
            assert!(
                faults.iter().any(|f| f.node == 1 && f.misbehaved),
                "{faults:?}"
            );
            assert!(
                faults.iter().any(|f| f.node == 3 && !f.misbehaved),
                "{faults:?}"
            );
        }
        other => panic!("{other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_down_does_not_stop_decryption_and_bad_ciphertexts_and_conditions_are_refused() {
    let net = TestNet::start(5, &[]);
    let client = net.client();
    let reader = owner();
    let conditions = json!({"accessControlConditions": equals(":userAddress", &derive::checksum_address(&address_of(&reader)))});
    let secret = vec![7u8; 300_000];
    let enc = client.encrypt(&conditions, &secret).expect("encrypt");
    let auth = RequestAuth::Session(client.session(&reader));
    net.crash_node(2);
    let got = client
        .decrypt(&enc, &auth)
        .await
        .expect("4 of 5 nodes suffice");
    assert_eq!(got.plaintext, secret);
    assert_eq!(got.faulty_nodes.len(), 1);
    assert!(got.faulty_nodes[0].node == 2 && !got.faulty_nodes[0].misbehaved);

    // a ciphertext altered in its body fails to authenticate, locally
    let mut container = enc.container().unwrap();
    let mid = container.len() / 2;
    container[mid] ^= 1;
    let mut tampered = enc.clone();
    tampered.ciphertext =
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &container);
    let err = client
        .decrypt(&tampered, &auth)
        .await
        .expect_err("tampered ciphertext");
    assert!(matches!(err, ClientError::Decryption(_)), "{err}");
    assert!(err.to_string().contains("chunk"), "{err}");

    // Lit's one-piece format decrypts too (with a node down), and refuses a
    // tampered body and a plaintext that does not hash to the claimed hash
    let lit = client
        .encrypt_lit(&conditions, b"lit format")
        .expect("encrypt_lit");
    assert!(!lit
        .container()
        .unwrap()
        .starts_with(candela_bls::hybrid::MAGIC));
    let got = client.decrypt(&lit, &auth).await.expect("Lit format");
    assert_eq!(got.plaintext, b"lit format");
    let mut bytes = lit.container().unwrap();
    bytes[60] ^= 1; // in V, the masked seed: U no longer matches it
    let mut tampered = lit.clone();
    tampered.ciphertext =
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &bytes);
    let err = client
        .decrypt(&tampered, &auth)
        .await
        .expect_err("tampered Lit ciphertext");
    assert!(matches!(err, ClientError::Decryption(_)), "{err}");
    // sealed to the identity of one hash, holding other bytes
    let claimed = candela_conditions::data_hash(b"what the hash says");
    let parsed = candela_conditions::Conditions::from_request(&conditions).unwrap();
    let id = candela_conditions::identity(&parsed.hash(), &claimed);
    let key = candela_bls::encoding::public_key_from_hex(
        client.network().bls_public_key.as_deref().unwrap(),
    )
    .unwrap();
    let liar = candela_client::Encrypted {
        ciphertext: base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            candela_bls::ibe::encrypt(&key, id.as_bytes(), b"other bytes").unwrap(),
        ),
        data_to_encrypt_hash: hex::encode(claimed),
        conditions: conditions.as_object().unwrap().clone(),
    };
    let err = client
        .decrypt(&liar, &auth)
        .await
        .expect_err("hash mismatch");
    assert!(
        err.to_string()
            .contains("does not hash to dataToEncryptHash"),
        "{err}"
    );

    // the same ciphertext presented under other conditions: refused before any node is asked
    let mut swapped = enc.clone();
    swapped.conditions = json!({"accessControlConditions": equals(":userAddress", "0x0000000000000000000000000000000000000001")}).as_object().unwrap().clone();
    let err = client
        .decrypt(&swapped, &auth)
        .await
        .expect_err("other conditions");
    assert!(
        err.to_string().contains("not made for these conditions"),
        "{err}"
    );

    // malformed conditions: the client refuses to encrypt, and a node refuses with 400
    let bad = json!({"accessControlConditions": [{"chain": "ethereum", "returnValueTest": 5}]});
    assert!(matches!(
        client.encrypt(&bad, b"x"),
        Err(ClientError::Input(_))
    ));
    let url = &client.network().nodes[0].url;
    let mut body = bad.as_object().unwrap().clone();
    body.insert(
        "dataToEncryptHash".into(),
        enc.data_to_encrypt_hash.clone().into(),
    );
    body.insert("chain".into(), "ethereum".into());
    body.insert(
        "authSig".into(),
        serde_json::to_value(auth.for_node(url)).unwrap(),
    );
    let resp = reqwest::Client::new()
        .post(format!("{url}/web/encryption/sign/"))
        .header(
            candela_api::REQUEST_ID_HEADER,
            candela_client::new_request_id(),
        )
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let err: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(
        err["errorCode"], "NodeInvalidAccessControlConditions",
        "{err}"
    );
}

#[test]
fn the_cli_encrypts_and_decrypts_a_100_mib_file() {
    use sha2::Digest;
    let net = TestNet::start(3, &[]);
    let reader = owner();
    let dir = net.path();
    let conditions = equals(
        ":userAddress",
        &derive::checksum_address(&address_of(&reader)),
    );
    std::fs::write(dir.join("conditions.json"), conditions.to_string()).unwrap();
    let mut data = vec![0u8; 100 << 20];
    for (i, chunk) in data.chunks_mut(4096).enumerate() {
        chunk.fill((i % 251) as u8);
    }
    std::fs::write(dir.join("big.bin"), &data).unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(BIN)
            .args(args)
            .arg("--network")
            .arg(net.network_path())
            .current_dir(dir)
            .output()
            .expect("candela runs")
    };
    let out = run(&[
        "encrypt",
        "--conditions",
        "conditions.json",
        "--file",
        "big.bin",
        "--out",
        "big.json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("big.json")).unwrap()).unwrap();
    assert_eq!(
        printed["dataToEncryptHash"],
        hex::encode(sha2::Sha256::digest(&data))
    );
    assert!(printed["accessControlConditions"].is_array() && printed["ciphertext"].is_string());

    let key = hex::encode(reader.to_bytes());
    let out = run(&[
        "decrypt",
        "--input",
        "big.json",
        "--private-key",
        &key,
        "--out",
        "big.out",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let back = std::fs::read(dir.join("big.out")).unwrap();
    assert!(back == data, "the 100 MiB plaintext comes back unchanged");

    // a small string to stdout, and a stranger refused with a clear message and no output file
    let out = run(&[
        "encrypt",
        "--conditions",
        "conditions.json",
        "--string",
        "hello",
    ]);
    assert!(out.status.success());
    std::fs::write(dir.join("small.json"), &out.stdout).unwrap();
    let out = run(&["decrypt", "--input", "small.json", "--private-key", &key]);
    assert_eq!(
        out.stdout,
        b"hello",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stranger = hex::encode(owner().to_bytes());
    let out = run(&[
        "decrypt",
        "--input",
        "small.json",
        "--private-key",
        &stranger,
        "--out",
        "no.out",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("NotAuthorized"));
    assert!(!dir.join("no.out").exists() && !dir.join("no.out.partial").exists());
}

/// Conditions that hold only inside the action with CID `cid`.
fn only_action(cid: &str) -> serde_json::Value {
    equals(":currentActionIpfsId", cid)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_encrypt_check_conditions_and_decrypt_inside_the_network_only_where_permitted() {
    use candela_client::ActionSource;
    let net = TestNet::start(3, &[]);
    let client = net.client();
    let caller = owner();

    // an action that decrypts data only it may decrypt, on every node
    let reader = r#"(async () => {
  const { accessControlConditions, ciphertext, dataToEncryptHash } = jsParams;
  const ok = await Lit.Actions.checkConditions({ conditions: accessControlConditions, authSig: null, chain: 'ethereum' });
  const plain = await Lit.Actions.decryptAndCombine({ accessControlConditions, ciphertext, dataToEncryptHash, authSig: null, chain: 'ethereum' });
  Lit.Actions.setResponse({ response: JSON.stringify({ ok, shout: plain.toUpperCase() }) });
})();"#;
    let (reader_cid, enc, params) =
        encrypted_for_action(&client, reader, b"for the action only").await;
    let out = client
        .execute(
            &ActionSource::IpfsId(reader_cid.clone()),
            Some(params.clone()),
            &caller,
        )
        .await
        .expect("the permitted action decrypts");
    let response: serde_json::Value = serde_json::from_str(&out.response).unwrap();
    assert_eq!(
        response,
        json!({"ok": true, "shout": "FOR THE ACTION ONLY"})
    );
    assert!(
        out.nodes.iter().all(|n| n.response_agreed),
        "{:?}",
        out.nodes
    );

    // the same with Lit's one-piece ciphertext, as the Lit JS SDK's encrypt writes it
    let lit = client
        .encrypt_lit(
            &json!({"accessControlConditions": only_action(&reader_cid)}),
            b"sealed in lit's format",
        )
        .expect("encrypt");
    let lit_params = json!({
        "accessControlConditions": lit.conditions["accessControlConditions"],
        "ciphertext": lit.ciphertext,
        "dataToEncryptHash": lit.data_to_encrypt_hash,
    });
    let out = client
        .execute(
            &ActionSource::IpfsId(reader_cid.clone()),
            Some(lit_params),
            &caller,
        )
        .await
        .expect("the permitted action decrypts a one-piece ciphertext");
    let response: serde_json::Value = serde_json::from_str(&out.response).unwrap();
    assert_eq!(
        response,
        json!({"ok": true, "shout": "SEALED IN LIT'S FORMAT"})
    );

    // the same code with one more byte is another action: refused at every node
    let other = format!("{reader}\n");
    let err = client
        .execute(&ActionSource::Code(other), Some(params.clone()), &caller)
        .await
        .expect_err("another action may not decrypt");
    assert!(
        err.to_string()
            .contains("the access control conditions do not hold"),
        "{err}"
    );

    // the caller can't get the key outside the action either
    let err = client
        .decrypt(&enc, &RequestAuth::Session(client.session(&caller)))
        .await
        .expect_err("no decryption outside the action");
    assert!(
        err.to_string().contains("not evaluated inside an action"),
        "{err}"
    );

    // decryptToSingleNode: exactly one node ends with the plaintext
    let single = r#"(async () => {
  const { accessControlConditions, ciphertext, dataToEncryptHash } = jsParams;
  const plain = await Lit.Actions.decryptToSingleNode({ accessControlConditions, ciphertext, dataToEncryptHash, authSig: null, chain: 'ethereum' });
  Lit.Actions.setResponse({ response: plain === '' ? 'not here' : plain });
})();"#;
    let (single_cid, _, params) =
        encrypted_for_action(&client, single, b"one node sees this").await;
    let body = candela_client::Client::execute_request(
        &ActionSource::IpfsId(single_cid),
        Some(params),
        &client.wallet_auth(&caller, 600),
    );
    let answers = client
        .execute_raw(&candela_client::new_request_id(), &body)
        .await;
    let responses: Vec<String> = answers
        .values()
        .map(|a| a.as_ref().expect("every node answers").response.clone())
        .collect();
    assert_eq!(
        responses
            .iter()
            .filter(|r| *r == "one node sees this")
            .count(),
        1,
        "{responses:?}"
    );
    assert_eq!(
        responses.iter().filter(|r| *r == "not here").count(),
        2,
        "{responses:?}"
    );
    // Through the client: on this 3-of-3 network no response is the
    // network's, and that is reported as a response per node by design,
    // naming no node.
    assert_eq!(client.network().threshold, 3);
    let rid = candela_client::new_request_id();
    match client.verify_execute(&rid, &answers) {
        Err(ClientError::ResponsePerNode { responses, faults }) => {
            assert_eq!(responses.len(), 3, "{responses:?}");
            assert_eq!(
                responses.values().filter(|r| *r == "not here").count(),
                2,
                "{responses:?}"
            );
            assert!(faults.is_empty(), "{faults:?}");
        }
        other => panic!("expected ResponsePerNode, got {other:?}"),
    }
    // A client that needs 2 agreeing nodes takes the two nodes' response;
    // the node holding the plaintext differs by design and is no fault.
    let mut two_of_three = client.network().clone();
    two_of_three.threshold = 2;
    // (the BLS key set is 3-of-3; this client only weighs responses)
    two_of_three.bls_public_key = None;
    two_of_three.bls_public_shares.clear();
    let lenient = candela_client::Client::new(two_of_three).expect("client");
    let out = lenient
        .verify_execute(&rid, &answers)
        .expect("two nodes agree");
    assert_eq!(out.response, "not here");
    assert!(out.faults.is_empty(), "{:?}", out.faults);
    assert_eq!(out.nodes.iter().filter(|n| !n.response_agreed).count(), 1);
    // Without the nodes' word that the run used decryptToSingleNode, the
    // same odd answer is a fault, as before.
    let mut unexplained = answers.clone();
    for r in unexplained.values_mut().flatten() {
        r.response_per_node = false;
    }
    let out = lenient
        .verify_execute(&rid, &unexplained)
        .expect("two nodes agree");
    assert_eq!(out.faults.len(), 1, "{:?}", out.faults);
    assert!(out.faults[0].misbehaved);

    // Lit.Actions.encrypt inside an action (on one node), decrypted by the wallet it names
    let address = derive::checksum_address(&address_of(&caller));
    let writer = r#"(async () => {
  const out = await Lit.Actions.runOnce({ waitForResponse: true, name: 'enc' }, async () =>
    JSON.stringify(await Lit.Actions.encrypt({ accessControlConditions: jsParams.conditions, to_encrypt: new TextEncoder().encode('sealed by an action') })));
  Lit.Actions.setResponse({ response: out });
})();"#;
    let conditions = equals(":userAddress", &address);
    let out = client
        .execute(
            &ActionSource::Code(writer.into()),
            Some(json!({"conditions": conditions})),
            &caller,
        )
        .await
        .expect("the action encrypts");
    let made: serde_json::Value = serde_json::from_str(&out.response).unwrap();
    let enc = candela_client::Encrypted {
        ciphertext: made["ciphertext"].as_str().unwrap().into(),
        data_to_encrypt_hash: made["dataToEncryptHash"].as_str().unwrap().into(),
        conditions: json!({"accessControlConditions": conditions})
            .as_object()
            .unwrap()
            .clone(),
    };
    let got = client
        .decrypt(&enc, &RequestAuth::Session(client.session(&caller)))
        .await
        .expect("the named wallet decrypts what the action encrypted");
    assert_eq!(got.plaintext, b"sealed by an action");
}

#[test]
fn the_cli_refuses_to_encrypt_under_conditions_the_network_cannot_evaluate_unless_forced() {
    let net = TestNet::start(3, &[]);
    let dir = net.path();
    // a balance on a chain none of the nodes reads: nobody could ever decrypt
    let conditions = json!([{
        "contractAddress": "", "standardContractType": "", "chain": "nowherechain",
        "method": "eth_getBalance", "parameters": [":userAddress", "latest"],
        "returnValueTest": {"comparator": ">=", "value": "0"}
    }]);
    std::fs::write(dir.join("unreadable.json"), conditions.to_string()).unwrap();
    let encrypt = |extra: &[&str]| {
        std::process::Command::new(BIN)
            .args([
                "encrypt",
                "--conditions",
                "unreadable.json",
                "--string",
                "s",
            ])
            .args(extra)
            .arg("--network")
            .arg(net.network_path())
            .current_dir(dir)
            .output()
            .expect("candela runs")
    };
    let out = encrypt(&[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "refused");
    assert!(
        stderr.contains("nobody could decrypt this") && stderr.contains("nowherechain"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "nothing encrypted");
    let forced = encrypt(&["--force"]);
    assert!(
        forced.status.success(),
        "{}",
        String::from_utf8_lossy(&forced.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&forced.stdout).expect("json");
    assert!(v["ciphertext"].is_string(), "{v}");
}
