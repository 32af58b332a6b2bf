//! End-to-end: the bad-input catalogue. One real devnet; every class of bad
//! request or bad action is sent to one node and must get its clear JSON
//! error (status, `errorCode`, a message saying what is wrong) while a good
//! request sent at the same time, and another sent afterwards, succeed at
//! the same node.

use std::time::Duration;

use crate::common::*;
use base64::Engine;
use candela_api::auth::AuthSig;
use candela_client::{new_request_id, Ability, ActionSource, ResourceAbilityRequest};
use candela_crypto::derive;
use serde_json::{json, Value};

/// Fewest classes the catalogue must hold.
const MIN_CLASSES: usize = 25;

/// One bad request: where it goes and what it carries.
struct Request {
    method: reqwest::Method,
    path: &'static str,
    /// `X-Request-Id`; `None` sends none.
    request_id: Option<String>,
    body: Vec<u8>,
    /// Send the same request to every node (for actions that need the
    /// others, e.g. `decryptAndCombine`); node 0's answer is checked.
    all_nodes: bool,
}

/// One class of the catalogue: a name, the request, and the answer expected.
struct Class {
    name: &'static str,
    request: Request,
    status: u16,
    error_code: &'static str,
    /// Words the message must contain (case-insensitive) to say what is wrong.
    says: &'static str,
}

fn to_json(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

fn post(path: &'static str, body: Vec<u8>) -> Request {
    Request {
        method: reqwest::Method::POST,
        path,
        request_id: Some(new_request_id()),
        body,
        all_nodes: false,
    }
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
}

/// An execute body running `code` as `auth`, with `params`.
fn execute_body(code: &str, params: Value, auth: &AuthSig) -> Vec<u8> {
    to_json(&json!({"code": b64(code), "jsParams": params, "authSig": auth, "epoch": 1}))
}

/// An execution body of a trivial action presenting `auth_methods`.
fn execute_with_methods(auth: &AuthSig, auth_methods: Value) -> Vec<u8> {
    to_json(
        &json!({"code": b64("Lit.Actions.setResponse({response: 'x'})"), "authSig": auth,
        "authMethods": auth_methods, "epoch": 1}),
    )
}

/// A loopback HTTP server answering `ok` to every request (a fetch target).
async fn start_http_server() -> std::net::SocketAddr {
    let app = axum::Router::new().fallback(|| async { "ok" });
    serve_loopback(app).await
}

/// Send `req` to the node at `url`: its status and JSON answer (`Null`
/// when the answer is not JSON).
async fn send(http: &reqwest::Client, url: &str, req: &Request, rid: Option<&str>) -> (u16, Value) {
    let mut b = http
        .request(req.method.clone(), format!("{url}{}", req.path))
        .header("content-type", "application/json")
        .timeout(Duration::from_secs(60))
        .body(req.body.clone());
    if let Some(r) = rid {
        b = b.header("X-Request-Id", r);
    }
    match b.send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            let bytes = r.bytes().await.unwrap_or_default();
            (
                status,
                serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                    Value::String(format!(
                        "not JSON: {}",
                        String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
                    ))
                }),
            )
        }
        Err(e) => (0, Value::String(format!("transport error: {e}"))),
    }
}

/// A good request to the node at `url`: a small action run by `auth`; it
/// must answer 200 with the response `ok`.
async fn good_request(http: &reqwest::Client, url: &str, auth: &AuthSig) -> Result<(), String> {
    let req = post(
        "/web/execute/v1",
        execute_body("Lit.Actions.setResponse({response: 'ok'})", json!({}), auth),
    );
    let (status, body) = send(http, url, &req, req.request_id.as_deref()).await;
    if status == 200 && body["response"] == "ok" {
        Ok(())
    } else {
        Err(format!("good request answered {status}: {body}"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_class_gets_a_clear_error_and_the_node_keeps_serving() {
    let net = TestNet::start(3, &["--action-wall-time-ms", "3000"]);
    let client = net.client();
    let nodes: Vec<String> = client
        .network()
        .nodes
        .iter()
        .map(|n| n.url.clone())
        .collect();
    let url = nodes[0].clone();
    let http = reqwest::Client::new();
    let fetch_target = start_http_server().await;

    let the_owner = owner();
    let stranger = owner();
    let rec = crate::common::registry(&client)
        .mint(&the_owner, client.root_public_key())
        .expect("mint");
    let pk = derive::public_key_hex(&rec.public_key);
    let auth = client.wallet_auth(&the_owner, 600);
    let stranger_auth = client.wallet_auth(&stranger, 600);
    let owner_address =
        derive::checksum_address(&derive::eth_address(the_owner.verifying_key().as_affine()));

    // auth material gone wrong in each way a node checks
    let mut expired = client.wallet_auth(&the_owner, -3600);
    expired.address = auth.address.clone();
    let wrong_nonce = AuthSig::create(&the_owner, "localhost", "lit:session:x", 600);
    let mut tampered = auth.clone();
    tampered.signed_message = tampered.signed_message.replace("Candela", "Kandela");
    let session = client.session(&the_owner);
    let mut bad_session_sig = session.sign_for(&url);
    bad_session_sig.sig = format!(
        "{}{}",
        if bad_session_sig.sig.starts_with('0') {
            "1"
        } else {
            "0"
        },
        &bad_session_sig.sig[1..]
    );
    let session_for_node1 = session.sign_for(&nodes[1]);
    let exec_only = client.new_session(
        &the_owner,
        vec![ResourceAbilityRequest::new(
            Ability::LitActionExecution,
            "*",
        )],
        Duration::from_secs(600),
    );
    let mut oversize_auth = auth.clone();
    oversize_auth
        .signed_message
        .push_str(&"x".repeat(80 * 1024));

    // a request id already used at node 0
    let used_id = new_request_id();
    let first = post(
        "/web/execute/v1",
        execute_body(
            "Lit.Actions.setResponse({response: 'ok'})",
            json!({}),
            &auth,
        ),
    );
    let (s, b) = send(&http, &url, &first, Some(&used_id)).await;
    assert_eq!(s, 200, "the first use of a request id: {b}");

    // data encrypted for the owner, and a copy with its last byte flipped
    let wallet_condition = json!([{
        "contractAddress": "", "standardContractType": "", "chain": "ethereum", "method": "",
        "parameters": [":userAddress"],
        "returnValueTest": {"comparator": "=", "value": owner_address}
    }]);
    let enc = client
        .encrypt(
            &json!({"accessControlConditions": wallet_condition}),
            b"a secret",
        )
        .expect("encrypt");
    let mut container = enc.container().expect("container");
    if let Some(last) = container.last_mut() {
        *last ^= 1;
    }
    let tampered_ciphertext = base64::engine::general_purpose::STANDARD.encode(&container);

    let sign = |to_sign: Value, pubkey: &str, auth: &AuthSig| {
        to_json(&json!({"toSign": to_sign, "pubkey": pubkey, "authSig": auth, "epoch": 1}))
    };
    let decrypt_body = |conditions: Value, hash: &str, auth: &AuthSig| {
        let mut body =
            json!({"dataToEncryptHash": hash, "chain": "ethereum", "authSig": auth, "epoch": 1});
        if let (Some(b), Some(c)) = (body.as_object_mut(), conditions.as_object()) {
            b.extend(c.clone());
        }
        to_json(&body)
    };
    let good_sign = sign(json!(random_digest().to_vec()), &pk, &auth);
    let unknown_pk =
        derive::public_key_hex(&candela_crypto::ProjectivePoint::GENERATOR.to_affine());
    let other_cid = candela_cid::cid_v0(b"something else");
    let many_conditions: Vec<Value> = (0..40)
        .flat_map(|i| {
            let c = wallet_condition[0].clone();
            if i == 0 {
                vec![c]
            } else {
                vec![json!({"operator": "or"}), c]
            }
        })
        .collect();
    let sign_in_action = r#"(async () => {
        await Lit.Actions.signEcdsa({ toSign, publicKey, sigName: "s" });
        Lit.Actions.setResponse({ response: "signed" });
    })();"#;

    let classes: Vec<Class> = vec![
        // ---- request shape ----
        Class {
            name: "malformed JSON",
            request: post("/web/pkp/sign/v1", b"{not json".to_vec()),
            status: 400,
            error_code: "NodeInvalidRequest",
            says: "malformed JSON",
        },
        Class {
            name: "empty body",
            request: post("/web/execute/v1", Vec::new()),
            status: 400,
            error_code: "NodeInvalidRequest",
            says: "malformed JSON",
        },
        Class {
            name: "body not UTF-8",
            request: post("/web/execute/v1", vec![b'{', 0xff, 0xfe, b'}']),
            status: 400,
            error_code: "NodeInvalidRequest",
            says: "malformed JSON",
        },
        Class {
            name: "wrong types",
            request: post(
                "/web/pkp/sign/v1",
                to_json(&json!({"toSign": "abc", "pubkey": 5, "authSig": auth})),
            ),
            status: 400,
            error_code: "NodeInvalidRequest",
            says: "invalid type",
        },
        Class {
            name: "missing field",
            request: post(
                "/web/pkp/sign/v1",
                to_json(&json!({"toSign": random_digest().to_vec(), "pubkey": pk})),
            ),
            status: 400,
            error_code: "NodeInvalidRequest",
            says: "missing field `authSig`",
        },
        Class {
            name: "JSON nested past the parser's depth",
            request: post(
                "/web/execute/v1",
                format!(
                    "{{\"jsParams\": {}{}}}",
                    "[".repeat(100_000),
                    "]".repeat(100_000)
                )
                .into_bytes(),
            ),
            status: 400,
            error_code: "NodeInvalidRequest",
            says: "recursion limit",
        },
        Class {
            name: "oversize body",
            request: post("/web/pkp/sign/v1", vec![b' '; 2 * 1024 * 1024]),
            status: 413,
            error_code: "NodeRequestTooLarge",
            says: "larger than",
        },
        Class {
            name: "oversize jsParams",
            request: post(
                "/web/execute/v1",
                execute_body(
                    "Lit.Actions.setResponse({response: 'x'})",
                    json!({"blob": "a".repeat(2 * 1024 * 1024)}),
                    &auth,
                ),
            ),
            status: 413,
            error_code: "NodeRequestTooLarge",
            says: "jsParams",
        },
        Class {
            name: "auth method of a type nodes cannot verify, in execute",
            request: post(
                "/web/execute/v1",
                execute_with_methods(&auth, json!([{"authMethodType": 6, "accessToken": "eyJ"}])),
            ),
            status: 400,
            error_code: "NodeInvalidAuthMethod",
            says: "type 6 is not supported",
        },
        Class {
            name: "wallet auth method with a forged signature, in execute",
            request: post(
                "/web/execute/v1",
                execute_with_methods(
                    &auth,
                    json!([{"authMethodType": 1, "accessToken": serde_json::to_string(&tampered).unwrap_or_default()}]),
                ),
            ),
            status: 401,
            error_code: "NodeInvalidAuthMethod",
            says: "does not verify",
        },
        Class {
            name: "too many auth methods, in execute",
            request: post(
                "/web/execute/v1",
                execute_with_methods(
                    &auth,
                    Value::Array(vec![json!({"authMethodType": 1, "accessToken": "{}"}); 9]),
                ),
            ),
            status: 401,
            error_code: "NodeInvalidAuthMethod",
            says: "at most 8 auth methods",
        },
        Class {
            name: "missing X-Request-Id",
            request: Request {
                request_id: None,
                ..post("/web/pkp/sign/v1", good_sign.clone())
            },
            status: 400,
            error_code: "NodeMissingRequestId",
            says: "X-Request-Id",
        },
        Class {
            name: "malformed X-Request-Id",
            request: Request {
                request_id: Some("../../etc/passwd".into()),
                ..post("/web/pkp/sign/v1", good_sign.clone())
            },
            status: 400,
            error_code: "NodeInvalidRequestId",
            says: "request id must be",
        },
        Class {
            name: "duplicate request id",
            request: Request {
                request_id: Some(used_id.clone()),
                ..post(
                    "/web/execute/v1",
                    execute_body("Lit.Actions.setResponse({response: 'ok'})", json!({}), &auth),
                )
            },
            status: 409,
            error_code: "NodeRequestReplayed",
            says: "already",
        },
        Class {
            name: "unknown path",
            request: post("/web/no/such/path", b"{}".to_vec()),
            status: 404,
            error_code: "NodeNotFound",
            says: "no such endpoint",
        },
        Class {
            name: "wrong HTTP method",
            request: Request {
                method: reqwest::Method::GET,
                ..post("/web/pkp/sign/v1", Vec::new())
            },
            status: 405,
            error_code: "NodeMethodNotAllowed",
            says: "method",
        },
        // ---- signing ----
        Class {
            name: "non-32-byte toSign",
            request: post("/web/pkp/sign/v1", sign(json!(vec![1u8; 31]), &pk, &auth)),
            status: 400,
            error_code: "NodeInvalidToSign",
            says: "32 bytes",
        },
        Class {
            name: "malformed PKP public key",
            request: post(
                "/web/pkp/sign/v1",
                sign(json!(random_digest().to_vec()), "0x1234", &auth),
            ),
            status: 400,
            error_code: "NodeInvalidPubkey",
            says: "pubkey",
        },
        Class {
            name: "unknown PKP",
            request: post(
                "/web/pkp/sign/v1",
                sign(json!(random_digest().to_vec()), &unknown_pk, &auth),
            ),
            status: 404,
            error_code: "NodeUnknownPkp",
            says: "unknown",
        },
        Class {
            name: "unpermitted PKP",
            request: post(
                "/web/pkp/sign/v1",
                sign(json!(random_digest().to_vec()), &pk, &stranger_auth),
            ),
            status: 403,
            error_code: "NodeUnauthorized",
            says: "neither owns",
        },
        // ---- authentication ----
        Class {
            name: "expired auth",
            request: post(
                "/web/pkp/sign/v1",
                sign(json!(random_digest().to_vec()), &pk, &expired),
            ),
            status: 401,
            error_code: "NodeInvalidAuthSig",
            says: "expired",
        },
        Class {
            name: "wrong nonce (auth replayed from another window)",
            request: post(
                "/web/pkp/sign/v1",
                sign(json!(random_digest().to_vec()), &pk, &wrong_nonce),
            ),
            status: 401,
            error_code: "NodeInvalidAuthSig",
            says: "nonce",
        },
        Class {
            name: "tampered wallet signature",
            request: post(
                "/web/pkp/sign/v1",
                sign(json!(random_digest().to_vec()), &pk, &tampered),
            ),
            status: 401,
            error_code: "NodeInvalidAuthSig",
            says: "signature",
        },
        Class {
            name: "bad session signature",
            request: post(
                "/web/pkp/sign/v1",
                sign(json!(random_digest().to_vec()), &pk, &bad_session_sig),
            ),
            status: 401,
            error_code: "NodeInvalidAuthSig",
            says: "signature",
        },
        Class {
            name: "session for the wrong node address",
            request: post(
                "/web/pkp/sign/v1",
                sign(json!(random_digest().to_vec()), &pk, &session_for_node1),
            ),
            status: 401,
            error_code: "NodeInvalidAuthSig",
            says: "was made for",
        },
        Class {
            name: "session without the capability",
            request: post(
                "/web/pkp/sign/v1",
                sign(
                    json!(random_digest().to_vec()),
                    &pk,
                    &exec_only.sign_for(&url),
                ),
            ),
            status: 401,
            error_code: "NodeInvalidAuthSig",
            says: "missing capability",
        },
        Class {
            name: "oversize auth material",
            request: post(
                "/web/pkp/sign/v1",
                sign(json!(random_digest().to_vec()), &pk, &oversize_auth),
            ),
            status: 401,
            error_code: "NodeInvalidAuthSig",
            says: "too large",
        },
        Class {
            name: "malformed SIWE in sign_session_key",
            request: post(
                "/web/sign_session_key/v1",
                to_json(&json!({"sessionKey": "lit:session:00", "authMethods": [], "pkpPublicKey": pk,
                    "siweMessage": "not a SIWE message", "curveType": "BLS", "epoch": 1})),
            ),
            status: 400,
            error_code: "NodeInvalidSiwe",
            says: "siweMessage",
        },
        Class {
            name: "unsupported curve in sign_session_key",
            request: post(
                "/web/sign_session_key/v1",
                to_json(&json!({"sessionKey": "lit:session:00", "authMethods": [], "pkpPublicKey": pk,
                    "siweMessage": "x", "curveType": "ECDSA", "epoch": 1})),
            ),
            status: 400,
            error_code: "NodeInvalidCurve",
            says: "only BLS",
        },
        // ---- action code and CIDs ----
        Class {
            name: "neither code nor ipfsId",
            request: post(
                "/web/execute/v1",
                to_json(&json!({"jsParams": {}, "authSig": auth})),
            ),
            status: 400,
            error_code: "NodeInvalidRequest",
            says: "code",
        },
        Class {
            name: "code not base64",
            request: post(
                "/web/execute/v1",
                to_json(&json!({"code": "!!not base64!!", "authSig": auth})),
            ),
            status: 400,
            error_code: "NodeInvalidCode",
            says: "base64",
        },
        Class {
            name: "code not UTF-8",
            request: post(
                "/web/action/upload/v1",
                to_json(&json!({"code": base64::engine::general_purpose::STANDARD.encode([0xffu8, 0xfe])})),
            ),
            status: 400,
            error_code: "NodeInvalidCode",
            says: "UTF-8",
        },
        Class {
            name: "invalid CID",
            request: post(
                "/web/execute/v1",
                to_json(&json!({"ipfsId": "QmNotACid", "authSig": auth})),
            ),
            status: 400,
            error_code: "NodeInvalidIpfsId",
            says: "CID",
        },
        Class {
            name: "CID of an action the node does not store",
            request: post(
                "/web/execute/v1",
                to_json(&json!({"ipfsId": other_cid, "authSig": auth})),
            ),
            status: 404,
            error_code: "NodeActionNotFound",
            says: "deploy it first",
        },
        Class {
            name: "code not matching its CID",
            request: post(
                "/web/execute/v1",
                to_json(&json!({"code": b64("Lit.Actions.setResponse({response: 'x'})"), "ipfsId": other_cid, "authSig": auth})),
            ),
            status: 400,
            error_code: "NodeActionCidMismatch",
            says: "does not match",
        },
        Class {
            name: "upload under a CID the code does not hash to",
            request: post(
                "/web/action/upload/v1",
                to_json(&json!({"code": b64("Lit.Actions.setResponse({response: 'x'})"), "ipfsId": other_cid})),
            ),
            status: 400,
            error_code: "NodeActionCidMismatch",
            says: "does not match",
        },
        // ---- bad actions ----
        Class {
            name: "syntax error",
            request: post("/web/execute/v1", execute_body("let = ;", json!({}), &auth)),
            status: 422,
            error_code: "NodeJsSyntaxError",
            says: "SyntaxError",
        },
        Class {
            name: "uncaught exception",
            request: post(
                "/web/execute/v1",
                execute_body("throw new Error('boom')", json!({}), &auth),
            ),
            status: 422,
            error_code: "NodeJsExecutionError",
            says: "boom",
        },
        Class {
            name: "infinite loop",
            request: post("/web/execute/v1", execute_body("while (true) {}", json!({}), &auth)),
            status: 422,
            error_code: "NodeActionLimitExceeded",
            says: "wall time",
        },
        Class {
            name: "deep recursion",
            request: post(
                "/web/execute/v1",
                execute_body("function f(n) { return f(n + 1) + 1; } f(0);", json!({}), &auth),
            ),
            status: 422,
            error_code: "NodeActionLimitExceeded",
            says: "stack",
        },
        Class {
            name: "memory bomb",
            request: post(
                "/web/execute/v1",
                execute_body(
                    "const a = []; while (true) { a.push(new Array(1 << 20).fill(7)); }",
                    json!({}),
                    &auth,
                ),
            ),
            status: 422,
            error_code: "NodeActionLimitExceeded",
            says: "memory",
        },
        Class {
            name: "huge logs",
            request: post(
                "/web/execute/v1",
                execute_body(
                    "const s = 'x'.repeat(1024); for (let i = 0; i < 1000; i++) console.log(s);",
                    json!({}),
                    &auth,
                ),
            ),
            status: 422,
            error_code: "NodeActionLimitExceeded",
            says: "console",
        },
        Class {
            name: "huge response",
            request: post(
                "/web/execute/v1",
                execute_body(
                    "Lit.Actions.setResponse({response: 'x'.repeat(200 * 1024)})",
                    json!({}),
                    &auth,
                ),
            ),
            status: 422,
            error_code: "NodeActionLimitExceeded",
            says: "response",
        },
        Class {
            name: "too many fetches",
            request: post(
                "/web/execute/v1",
                execute_body(
                    "(async () => { for (let i = 0; i < 100; i++) { await fetch(url); } })();",
                    json!({"url": format!("http://{fetch_target}/")}),
                    &auth,
                ),
            ),
            status: 422,
            error_code: "NodeActionLimitExceeded",
            says: "fetch",
        },
        Class {
            name: "fetch to a link-local address",
            request: post(
                "/web/execute/v1",
                execute_body(
                    "(async () => { await fetch('http://169.254.169.254/latest/meta-data/'); })();",
                    json!({}),
                    &auth,
                ),
            ),
            status: 422,
            error_code: "NodeJsExecutionError",
            says: "may not reach",
        },
        Class {
            name: "fetch to a private address",
            request: post(
                "/web/execute/v1",
                execute_body(
                    "(async () => { await fetch('http://10.1.2.3/'); })();",
                    json!({}),
                    &auth,
                ),
            ),
            status: 422,
            error_code: "NodeJsExecutionError",
            says: "may not reach",
        },
        Class {
            name: "non-32-byte toSign in an action",
            request: post(
                "/web/execute/v1",
                execute_body(sign_in_action, json!({"toSign": [1, 2, 3], "publicKey": pk}), &auth),
            ),
            status: 422,
            error_code: "NodeJsExecutionError",
            says: "32 bytes",
        },
        Class {
            name: "unpermitted PKP in an action",
            request: post(
                "/web/execute/v1",
                execute_body(
                    sign_in_action,
                    json!({"toSign": random_digest().to_vec(), "publicKey": pk}),
                    &stranger_auth,
                ),
            ),
            status: 422,
            error_code: "NodeJsExecutionError",
            says: "not permitted",
        },
        Class {
            name: "unknown PKP in an action",
            request: post(
                "/web/execute/v1",
                execute_body(
                    sign_in_action,
                    json!({"toSign": random_digest().to_vec(), "publicKey": unknown_pk}),
                    &auth,
                ),
            ),
            status: 422,
            error_code: "NodeJsExecutionError",
            says: "unknown",
        },
        Class {
            name: "tampered ciphertext in decryptAndCombine",
            request: Request {
                all_nodes: true,
                ..post(
                    "/web/execute/v1",
                    execute_body(
                        "(async () => { const r = await Lit.Actions.decryptAndCombine({accessControlConditions, ciphertext, dataToEncryptHash, chain: 'ethereum', authSig: null}); Lit.Actions.setResponse({response: r}); })();",
                        json!({"accessControlConditions": wallet_condition, "ciphertext": tampered_ciphertext, "dataToEncryptHash": enc.data_to_encrypt_hash}),
                        &auth,
                    ),
                )
            },
            status: 422,
            error_code: "NodeJsExecutionError",
            says: "decryptAndCombine",
        },
        // ---- access-control conditions ----
        Class {
            name: "malformed conditions",
            request: post(
                "/web/encryption/sign/",
                decrypt_body(
                    json!({"accessControlConditions": [{"chain": "ethereum", "returnValueTest": 5}]}),
                    &enc.data_to_encrypt_hash,
                    &auth,
                ),
            ),
            status: 400,
            error_code: "NodeInvalidAccessControlConditions",
            says: "missing field `contractAddress` at /0",
        },
        Class {
            name: "no conditions",
            request: post(
                "/web/encryption/sign/",
                decrypt_body(json!({}), &enc.data_to_encrypt_hash, &auth),
            ),
            status: 400,
            error_code: "NodeInvalidAccessControlConditions",
            says: "no conditions",
        },
        Class {
            name: "oversize conditions",
            request: post(
                "/web/encryption/sign/",
                decrypt_body(
                    json!({"accessControlConditions": many_conditions}),
                    &enc.data_to_encrypt_hash,
                    &auth,
                ),
            ),
            status: 400,
            error_code: "NodeInvalidAccessControlConditions",
            says: "more than",
        },
        Class {
            name: "unsupported chain in conditions",
            request: post(
                "/web/encryption/sign/",
                decrypt_body(
                    json!({"accessControlConditions": [{
                        "contractAddress": "", "standardContractType": "", "chain": "notachain",
                        "method": "eth_getBalance", "parameters": [":userAddress", "latest"],
                        "returnValueTest": {"comparator": ">=", "value": "0"}
                    }]}),
                    &enc.data_to_encrypt_hash,
                    &auth,
                ),
            ),
            status: 400,
            error_code: "NodeAccessControlConditionsCheckFailed",
            says: "notachain",
        },
        Class {
            name: "bad dataToEncryptHash",
            request: post(
                "/web/encryption/sign/",
                decrypt_body(
                    json!({"accessControlConditions": wallet_condition}),
                    "abcd",
                    &auth,
                ),
            ),
            status: 400,
            error_code: "NodeInvalidDataHash",
            says: "32 bytes",
        },
        Class {
            name: "conditions that do not hold for the caller",
            request: post(
                "/web/encryption/sign/",
                decrypt_body(
                    json!({"accessControlConditions": wallet_condition}),
                    &enc.data_to_encrypt_hash,
                    &stranger_auth,
                ),
            ),
            status: 403,
            error_code: "NodeAccessControlConditionsReturnedNotAuthorized",
            says: "do not hold",
        },
    ];

    let mut failures = Vec::new();
    for class in &classes {
        let req = &class.request;
        let rid = req.request_id.clone();
        // the bad request, and at the same time a good one to the same node
        let bad = async {
            if req.all_nodes {
                let answers = futures_join_all(&http, &nodes, req, rid.as_deref()).await;
                answers.into_iter().next().unwrap_or((0, Value::Null))
            } else {
                send(&http, &url, req, rid.as_deref()).await
            }
        };
        let during = async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            good_request(&http, &url, &auth).await
        };
        let ((status, body), during) = tokio::join!(bad, during);
        let message = body["message"].as_str().unwrap_or("").to_lowercase();
        if status != class.status
            || body["errorCode"] != class.error_code
            || !message.contains(&class.says.to_lowercase())
        {
            failures.push(format!(
                "{}: expected {} {} saying {:?}, got {status}: {body}",
                class.name, class.status, class.error_code, class.says
            ));
        }
        if let Some(r) = &rid {
            if body.get("correlationId").is_some() && body["correlationId"] != r.as_str() {
                failures.push(format!(
                    "{}: correlationId {}",
                    class.name, body["correlationId"]
                ));
            }
        }
        if let Err(e) = during {
            failures.push(format!("{}: concurrent {e}", class.name));
        }
        if let Err(e) = good_request(&http, &url, &auth).await {
            failures.push(format!("{}: afterwards {e}", class.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        classes.len() >= MIN_CLASSES,
        "the catalogue holds {} classes, fewer than {MIN_CLASSES}",
        classes.len()
    );
    // every node is still up and the network still signs
    let out = client
        .pkp_sign(&the_owner, &rec.public_key, random_digest())
        .await
        .expect("the network still signs");
    assert!(out.faults.is_empty(), "{:?}", out.faults);
    let ok = client
        .execute(
            &ActionSource::Code("Lit.Actions.setResponse({response: 'still here'})".into()),
            None,
            &the_owner,
        )
        .await
        .expect("every node still runs actions");
    assert_eq!(ok.response, "still here");
}

/// Send `req` to every node at once; the answers in node order.
async fn futures_join_all(
    http: &reqwest::Client,
    nodes: &[String],
    req: &Request,
    rid: Option<&str>,
) -> Vec<(u16, Value)> {
    let mut handles = Vec::new();
    for n in nodes {
        let (http, n, body, path, method) = (
            http.clone(),
            n.clone(),
            req.body.clone(),
            req.path,
            req.method.clone(),
        );
        let rid = rid.map(str::to_string);
        handles.push(tokio::spawn(async move {
            let r = Request {
                method,
                path,
                request_id: rid.clone(),
                body,
                all_nodes: false,
            };
            send(&http, &n, &r, rid.as_deref()).await
        }));
    }
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap_or((0, Value::Null)));
    }
    out
}
