//! End-to-end: what a node keeps of an action run, who may read it, and
//! what actions run for someone else (access-control conditions) may do.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use crate::common::*;
use candela_client::{ActionSource, Client, RequestAuth};
use candela_crypto::derive;
use serde_json::{json, Value};

/// What the loopback API saw: the `x-api-key` header and body of each call.
type Seen = Arc<Mutex<Vec<(String, String)>>>;

/// A loopback API that wants an `x-api-key` header and answers a price.
async fn start_keyed_api() -> (SocketAddr, Seen) {
    use axum::http::HeaderMap;
    use axum::routing::post;
    let seen: Seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let app = axum::Router::new().route(
        "/price",
        post(move |headers: HeaderMap, body: String| {
            let log = log.clone();
            async move {
                let key = headers
                    .get("x-api-key")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                log.lock().unwrap().push((key, body));
                axum::Json(json!({"usd": 3141}))
            }
        }),
    );
    (serve_loopback(app).await, seen)
}

/// Conditions that hold only inside the action with CID `cid`.
fn only_action(cid: &str) -> Value {
    json!([{
        "contractAddress": "", "standardContractType": "", "chain": "ethereum", "method": "",
        "parameters": [":currentActionIpfsId"],
        "returnValueTest": {"comparator": "=", "value": cid}
    }])
}

/// An action that decrypts an API key only it may decrypt and calls an
/// API with it in a header and in the body.
const KEYED_FETCH: &str = r#"(async () => {
  const { accessControlConditions, ciphertext, dataToEncryptHash, url } = jsParams;
  const apiKey = await Lit.Actions.decryptAndCombine({ accessControlConditions, ciphertext, dataToEncryptHash, authSig: null, chain: 'ethereum' });
  const r = await fetch(url, { method: 'POST', headers: { 'x-api-key': apiKey, 'content-type': 'application/json' }, body: JSON.stringify({ auth: apiKey, q: 'eth' }) });
  const { usd } = await r.json();
  Lit.Actions.setResponse({ response: JSON.stringify({ usd }) });
})();"#;

const API_KEY: &str = "sk-live-candela-0f9e8d7c6b5a";

/// Deploy [`KEYED_FETCH`], encrypt [`API_KEY`] for it; its CID and params.
async fn keyed_fetch(client: &Client, api: SocketAddr) -> (String, Value) {
    let (cid, _) = client
        .deploy_action(KEYED_FETCH.as_bytes())
        .await
        .expect("deploy");
    let enc = client
        .encrypt(
            &json!({"accessControlConditions": only_action(&cid)}),
            API_KEY.as_bytes(),
        )
        .expect("encrypt");
    let params = json!({
        "accessControlConditions": enc.conditions["accessControlConditions"],
        "ciphertext": enc.ciphertext,
        "dataToEncryptHash": enc.data_to_encrypt_hash,
        "url": format!("http://{api}/price"),
    });
    (cid, params)
}

/// Ask node `url` for the record of `run_id` as the holder of `auth`.
async fn read_record(url: &str, run_id: &str, auth: &RequestAuth) -> (u16, String) {
    let sig = serde_json::to_string(&auth.for_node(url)).expect("auth json");
    let resp = reqwest::Client::new()
        .get(format!("{url}/candela/v1/runs/{run_id}"))
        .header(candela_node::runs::AUTH_SIG_HEADER, sig)
        .send()
        .await
        .expect("ask the node");
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_run_keeps_neither_the_decrypted_api_key_nor_the_fetch_headers_and_only_its_caller_reads_it(
) {
    let net = TestNet::start(3, &[]);
    let mut client = net.client();
    let (api, seen) = start_keyed_api().await;
    let (cid, params) = keyed_fetch(&client, api).await;
    let (caller, stranger) = (owner(), owner());
    let auth = RequestAuth::Session(client.session(&caller));

    client.record_runs = true;
    let run_id = candela_client::new_request_id();
    let out = client
        .execute_once(&run_id, &ActionSource::IpfsId(cid), Some(params), &auth)
        .await
        .expect("the action runs");
    assert_eq!(out.response, r#"{"usd":3141}"#);
    // the API really got the key, in the header and in the body
    let calls = seen.lock().unwrap().clone();
    assert_eq!(calls.len(), 3, "one call per node: {calls:?}");
    assert!(calls
        .iter()
        .all(|(k, b)| k == API_KEY && b.contains(API_KEY)));

    for node in &client.network().nodes {
        let (status, text) = read_record(&node.url, &run_id, &auth).await;
        assert_eq!(status, 200, "node {}: {text}", node.index);
        assert!(
            !text.contains(API_KEY),
            "node {} recorded the key: {text}",
            node.index
        );
        let mut record: Value = serde_json::from_str(&text).expect("record json");
        // the code names the header; nothing else in the record may
        record["code"] = Value::Null;
        assert!(!record.to_string().contains("x-api-key"), "{record}");
        assert_eq!(record["response"], r#"{"usd":3141}"#);
        let ops: Vec<&str> = record["calls"]
            .as_array()
            .expect("calls")
            .iter()
            .filter_map(|c| c["request"]["op"].as_str().or(c["op"].as_str()))
            .collect();
        assert!(ops.contains(&"decryptAndCombine"), "{ops:?}");
        let fetch = record["calls"]
            .as_array()
            .expect("calls")
            .iter()
            .find(|c| c["op"] == "fetch")
            .expect("the fetch is recorded");
        assert_eq!(
            fetch["request"],
            json!({"url": format!("http://{api}/price"), "method": "POST"})
        );
        let decrypt = record["calls"]
            .as_array()
            .expect("calls")
            .iter()
            .find(|c| c["request"]["op"] == "decryptAndCombine")
            .expect("the decryption is noted");
        assert!(decrypt.get("answer").is_none(), "{decrypt}");
        assert!(
            decrypt["withheld"]
                .as_str()
                .is_some_and(|w| w.contains("never recorded")),
            "{decrypt}"
        );

        // another wallet is refused, with its own valid session
        let other = RequestAuth::Session(client.session(&stranger));
        let (status, text) = read_record(&node.url, &run_id, &other).await;
        assert_eq!(status, 403, "{text}");
        assert!(text.contains("NodeRunNotYours"), "{text}");
        assert!(
            !text.contains(&hex::encode(derive::eth_address(
                caller.verifying_key().as_affine()
            ))),
            "the refusal does not name the caller: {text}"
        );
        // and a request with no auth at all
        let resp = reqwest::Client::new()
            .get(format!("{}/candela/v1/runs/{run_id}", node.url))
            .send()
            .await
            .expect("ask");
        assert_eq!(resp.status().as_u16(), 401);
    }

    // The replay CLI stops at the decryption and says why.
    let key = hex::encode(caller.to_bytes());
    let out = std::process::Command::new(BIN)
        .args([
            "action",
            "replay",
            &run_id,
            "--network",
            &net.network_path().display().to_string(),
            "--private-key",
            &key,
            "--json",
        ])
        .output()
        .expect("run candela");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    let r: Value = serde_json::from_str(&text).expect("replay json");
    assert!(
        r["error"]
            .as_str()
            .is_some_and(|e| e.contains("decrypted plaintext is never recorded")),
        "{r}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_record_run_no_node_keeps_a_record_of_the_run() {
    let net = TestNet::start(3, &[]);
    let client = net.client();
    assert!(!client.record_runs, "recording is off by default");
    let caller = owner();
    let auth = RequestAuth::Session(client.session(&caller));
    let run_id = candela_client::new_request_id();
    let out = client
        .execute_once(
            &run_id,
            &ActionSource::Code(
                "Lit.Actions.setResponse({response: String(Date.now() > 0)})".into(),
            ),
            None,
            &auth,
        )
        .await
        .expect("runs");
    assert_eq!(out.response, "true");
    for node in &client.network().nodes {
        let (status, text) = read_record(&node.url, &run_id, &auth).await;
        assert_eq!(status, 404, "node {}: {text}", node.index);
        assert!(text.contains("NodeRunNotFound"), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_condition_action_cannot_obtain_a_signature_share() {
    let net = TestNet::start(3, &[]);
    let client = net.client();
    let reader = owner();
    // The condition action tries every signing operation with a PKP that
    // permits it, and says what happened.
    let condition = r#"
async function go(publicKey) {
  const toSign = new Uint8Array(32).fill(7);
  const outcomes = [];
  for (const op of ['signEcdsa', 'signAndCombineEcdsa', 'ethPersonalSignMessageEcdsa']) {
    try {
      const args = { publicKey, sigName: 'cond-' + op };
      if (op === 'ethPersonalSignMessageEcdsa') args.message = 'hello'; else args.toSign = toSign;
      await Lit.Actions[op](args);
      outcomes.push('signed');
    } catch (e) {
      outcomes.push(String(e && e.message || e).includes('signing is disabled in access-control condition actions') ? 'refused' : 'other: ' + e);
    }
  }
  return outcomes.every((o) => o === 'refused') ? 'refused' : outcomes.join('|');
}"#;
    let (cid, _) = client
        .deploy_action(condition.as_bytes())
        .await
        .expect("deploy");
    let pkp = registry(&client)
        .mint_with_actions(&reader, client.root_public_key(), &[cid.as_str()], false)
        .expect("mint a PKP that permits the condition action");
    let pk = derive::public_key_hex(&pkp.public_key);
    net.wait_pool(2).await;
    let conditions = json!({"accessControlConditions": [{
        "contractAddress": format!("ipfs://{cid}"), "standardContractType": "LitAction",
        "chain": "ethereum", "method": "go", "parameters": [pk],
        "returnValueTest": {"comparator": "=", "value": "refused"}
    }]});
    let enc = client
        .encrypt(&conditions, b"opened by a condition that could not sign")
        .expect("encrypt");
    // Decryption succeeds only if, at every node, each signing attempt of
    // the condition action was refused with the clear error.
    let got = client
        .decrypt(&enc, &RequestAuth::Session(client.session(&reader)))
        .await
        .expect("every node's condition action was refused signing");
    assert_eq!(got.plaintext, b"opened by a condition that could not sign");
}
