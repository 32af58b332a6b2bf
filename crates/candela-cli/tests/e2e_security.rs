//! End-to-end security checks on real node processes: key shares are sealed
//! at rest, no secret reaches the logs, and a forged peer message is refused
//! while the node keeps working.

use std::path::Path;

use crate::common::*;
use base64::Engine;
use candela_client::{ActionSource, RequestAuth};
use candela_crypto::derive;
use candela_node::peer::{Directory, Identity, PeerBody};
use candela_node::store::Store;
use serde_json::{json, Value};

/// The plaintext secrets of node `i` of the devnet in `dir`, read the way the
/// node reads them (storage key file, identity file, sealed store).
struct NodeSecrets {
    /// (what, bytes) of every secret this node holds.
    items: Vec<(String, Vec<u8>)>,
}

fn node_secrets(dir: &Path, i: usize) -> NodeSecrets {
    let node_dir = dir.join(format!("node-{i}"));
    let storage_key = hex::decode(
        std::fs::read_to_string(node_dir.join("storage.key"))
            .expect("storage key")
            .trim(),
    )
    .expect("storage key hex");
    let identity = Identity::open_sealed(
        &std::fs::read_to_string(node_dir.join("identity.key")).expect("identity"),
        &storage_key,
        "identity.key",
    )
    .expect("the identity file is sealed with the storage key");
    let store = Store::open(&node_dir.join("node.sqlite"), &storage_key).expect("store opens");
    let ecdsa_blob = store
        .get_secret("ecdsa-root-share")
        .expect("read")
        .expect("an ECDSA root share is stored");
    let ecdsa =
        candela_crypto::session::KeyShare::from_bytes(&ecdsa_blob).expect("ECDSA share parses");
    let bls_blob = store
        .get_secret("bls-root-share")
        .expect("read")
        .expect("a BLS root share is stored");
    let bls = candela_bls::BlsKeyShare::from_bytes(&bls_blob).expect("BLS share parses");
    let ecdsa_secret: Vec<u8> = ecdsa.secret.to_bytes().to_vec();
    let bls_secret: Vec<u8> = bls.secret.to_be_bytes().to_vec();
    let rev = |v: &[u8]| v.iter().rev().copied().collect::<Vec<u8>>();
    NodeSecrets {
        items: vec![
            (
                format!("node {i} ECDSA share (big-endian)"),
                ecdsa_secret.clone(),
            ),
            (
                format!("node {i} ECDSA share (little-endian)"),
                rev(&ecdsa_secret),
            ),
            (
                format!("node {i} BLS share (big-endian)"),
                bls_secret.clone(),
            ),
            (
                format!("node {i} BLS share (little-endian)"),
                rev(&bls_secret),
            ),
            (format!("node {i} storage key"), storage_key),
            (
                format!("node {i} identity signing key"),
                identity.signing.to_bytes().to_vec(),
            ),
            (
                format!("node {i} identity encryption key"),
                identity.x25519.to_bytes().to_vec(),
            ),
        ],
    }
}

/// Node `i`'s identity, opened with its storage key.
fn node_identity(dir: &Path, i: usize) -> Identity {
    let node_dir = dir.join(format!("node-{i}"));
    let key = hex::decode(
        std::fs::read_to_string(node_dir.join("storage.key"))
            .expect("storage key")
            .trim(),
    )
    .expect("storage key hex");
    Identity::open_sealed(
        &std::fs::read_to_string(node_dir.join("identity.key")).expect("identity"),
        &key,
        "identity.key",
    )
    .expect("identity opens")
}

/// The encodings a secret could appear in when printed.
fn encodings(secret: &[u8]) -> Vec<(String, Vec<u8>)> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(secret);
    let b64url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
    vec![
        ("raw".into(), secret.to_vec()),
        ("hex".into(), hex::encode(secret).into_bytes()),
        ("HEX".into(), hex::encode_upper(secret).into_bytes()),
        // base64 without its padding, so it matches inside longer strings too
        (
            "base64".into(),
            b64.trim_end_matches('=').as_bytes().to_vec(),
        ),
        ("base64url".into(), b64url.into_bytes()),
        (
            "byte list".into(),
            format!("{secret:?}").replace(' ', "").into_bytes(),
        ),
        (
            "byte list spaced".into(),
            format!("{secret:?}").into_bytes(),
        ),
    ]
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// Every file under `dir` whose name passes `pick`, with its bytes.
fn files(dir: &Path, pick: &dyn Fn(&str) -> bool) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if pick(&p.file_name().unwrap_or_default().to_string_lossy()) {
                out.push((
                    p.display().to_string(),
                    std::fs::read(&p).unwrap_or_default(),
                ));
            }
        }
    }
    out
}

/// A full run: DKG (at start), presignatures, a PKP signature, an action
/// that signs, an encryption decrypted through the network.
async fn full_run(net: &TestNet) {
    let client = net.client();
    net.wait_pool(2).await;
    let the_owner = owner();
    let rec = crate::common::registry(&client)
        .mint(&the_owner, client.root_public_key())
        .expect("mint");
    let d = random_digest();
    client
        .pkp_sign(&the_owner, &rec.public_key, d)
        .await
        .expect("sign")
        .signature
        .verify(&rec.public_key, &d)
        .expect("verifies");
    let code = r#"(async () => {
        await Lit.Actions.signEcdsa({ toSign, publicKey, sigName: "s" });
        Lit.Actions.setResponse({ response: "signed" });
    })();"#;
    let out = client
        .execute(
            &ActionSource::Code(code.into()),
            Some(json!({"toSign": random_digest().to_vec(), "publicKey": derive::public_key_hex(&rec.public_key)})),
            &the_owner,
        )
        .await
        .expect("action");
    assert_eq!(out.response, "signed");
    let address =
        derive::checksum_address(&derive::eth_address(the_owner.verifying_key().as_affine()));
    let conditions = json!({"accessControlConditions": [{
        "contractAddress": "", "standardContractType": "", "chain": "ethereum", "method": "",
        "parameters": [":userAddress"],
        "returnValueTest": {"comparator": "=", "value": address}
    }]});
    let enc = client
        .encrypt(&conditions, b"sealed words")
        .expect("encrypt");
    let plain = client
        .decrypt(&enc, &RequestAuth::Session(client.session(&the_owner)))
        .await
        .expect("decrypt");
    assert_eq!(plain.plaintext, b"sealed words");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_shares_and_node_secrets_are_never_in_the_clear_in_the_database_files() {
    let mut net = TestNet::start(3, &[]);
    full_run(&net).await;
    // stop the nodes so that what is in memory has been written out
    net.stop();
    let dir = net.path().to_path_buf();
    let mut found = Vec::new();
    for i in 0..3 {
        let secrets = node_secrets(&dir, i);
        let db_files = files(&dir.join(format!("node-{i}")), &|name| {
            name.starts_with("node.sqlite") || name == "identity.key"
        });
        assert!(
            db_files.iter().any(|(_, b)| b.len() > 4096),
            "node {i}: no database written: {:?}",
            db_files.iter().map(|(p, _)| p).collect::<Vec<_>>()
        );
        for (what, secret) in &secrets.items {
            for (enc, needle) in encodings(secret) {
                for (path, bytes) in &db_files {
                    if contains(bytes, &needle) {
                        found.push(format!("{what} ({enc}) in {path}"));
                    }
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "secrets in the clear:\n{}",
        found.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_share_storage_key_or_identity_secret_appears_in_debug_logs() {
    // the devnet passes CANDELA_LOG on to its nodes
    std::env::set_var(
        "CANDELA_LOG",
        "debug,candela_node=trace,candela_crypto=trace",
    );
    let mut net = TestNet::start(3, &[]);
    std::env::remove_var("CANDELA_LOG");
    full_run(&net).await;
    net.stop();
    let dir = net.path().to_path_buf();
    let logs = files(&dir, &|name| name.ends_with(".log"));
    assert_eq!(logs.len(), 3, "one log per node");
    let total: usize = logs.iter().map(|(_, b)| b.len()).sum();
    assert!(
        logs.iter().all(|(_, b)| contains(b, b"DEBUG")),
        "the nodes logged at debug level ({total} bytes)"
    );
    let mut found = Vec::new();
    for i in 0..3 {
        for (what, secret) in node_secrets(&dir, i).items {
            for (enc, needle) in encodings(&secret) {
                if enc == "raw" {
                    continue; // logs are text
                }
                for (path, bytes) in &logs {
                    if contains(bytes, &needle) {
                        found.push(format!("{what} ({enc}) in {path}"));
                    }
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "secrets in the logs:\n{}",
        found.join("\n")
    );
}

/// POST raw bytes to node `url`'s peer endpoint: status and JSON answer.
async fn post_peer(url: &str, bytes: Vec<u8>) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{url}/peer/v1/message"))
        .body(bytes)
        .send()
        .await
        .expect("send");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_peer_messages_are_refused_and_the_node_keeps_working() {
    let net = TestNet::start(3, &[]);
    let client = net.client();
    let nodes = client.network().nodes.clone();
    let directory = Directory::new(&nodes).expect("directory");
    let node1 = node_identity(net.path(), 1);
    let stranger = Identity::generate();
    let now = candela_node::node::now_ms();
    let body = PeerBody::Collect {
        request_id: "forged".into(),
        topic: "bc/x".into(),
        value: "1".into(),
        private: false,
    };
    let genuine = directory.seal(&node1, 1, 0, now, &body);
    let mut bad_sig = genuine.clone();
    // the signature is the envelope's last field: flip its last byte
    if let Some(b) = bad_sig.last_mut() {
        *b ^= 1;
    }
    let ten_minutes = 10 * 60 * 1000;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("wrong signature", bad_sig, "bad signature from node 1"),
        (
            "wrong sender index (node 1's key, claiming node 2)",
            directory.seal(&node1, 2, 0, now, &body),
            "bad signature from node 2",
        ),
        (
            "sealed by a key not in the node set",
            directory.seal(&stranger, 1, 0, now, &body),
            "bad signature from node 1",
        ),
        (
            "a sender index outside the node set",
            directory.seal(&stranger, 7, 0, now, &body),
            "unknown sender 7",
        ),
        (
            "old timestamp (a replay from ten minutes ago)",
            directory.seal(&node1, 1, 0, now - ten_minutes, &body),
            "stale peer message from node 1",
        ),
        (
            "timestamp in the future",
            directory.seal(&node1, 1, 0, now + ten_minutes, &body),
            "stale peer message from node 1",
        ),
        (
            "addressed to another node",
            directory.seal(&node1, 1, 2, now, &body),
            "message addressed to node 2",
        ),
        (
            "not an envelope",
            b"\x93garbage".to_vec(),
            "malformed peer message",
        ),
        ("empty body", Vec::new(), "malformed peer message"),
    ];
    let the_owner = owner();
    let rec = crate::common::registry(&client)
        .mint(&the_owner, client.root_public_key())
        .expect("mint");
    for (name, bytes, says) in cases {
        let (status, answer) = post_peer(&nodes[0].url, bytes).await;
        assert_eq!(status, 403, "{name}: {answer}");
        assert_eq!(
            answer["errorCode"], "PeerMessageRefused",
            "{name}: {answer}"
        );
        assert!(
            answer["message"].as_str().unwrap_or("").contains(says),
            "{name}: {answer}"
        );
        // the network still signs with node 0 in it
        let d = random_digest();
        let out = client
            .pkp_sign(&the_owner, &rec.public_key, d)
            .await
            .unwrap_or_else(|e| panic!("after {name}: {e}"));
        assert!(out.faults.is_empty(), "after {name}: {:?}", out.faults);
    }
    // the genuine message is accepted: the refusals above were for what was forged
    let (status, answer) = post_peer(&nodes[0].url, genuine.clone()).await;
    assert_eq!(status, 200, "{answer}");
    // and refused when delivered again inside its freshness window (a replay)
    let (status, answer) = post_peer(&nodes[0].url, genuine).await;
    assert_eq!(status, 403, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap_or("")
            .contains("replayed peer message from node 1"),
        "{answer}"
    );
}

/// Send an HTTP request head announcing `declared` body bytes, then only
/// `sent` of them, and read the answer without sending the rest: the status
/// and the answer's text, or None when the node waits for more.
async fn post_partially(url: &str, path: &str, declared: usize, sent: &[u8]) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = url.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/octet-stream\r\nContent-Length: {declared}\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.expect("head");
    s.write_all(sent).await.expect("body start");
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(std::time::Duration::from_secs(10), s.read(&mut buf))
        .await
        .ok()?
        .ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_large_peer_bodies_and_forged_pings_are_refused_on_their_signed_header() {
    let net = TestNet::start(3, &[]);
    let client = net.client();
    let nodes = client.network().nodes.clone();
    let directory = Directory::new(&nodes).expect("directory");
    let stranger = Identity::generate();
    let now = candela_node::node::now_ms();
    // a 60 MiB protocol message signed by a key outside the node set: the
    // node answers 403 after its header, with the body not sent yet
    let big = PeerBody::Protocol {
        session: "flood".into(),
        private: false,
        data: vec![1u8; 16],
    };
    let sealed = directory.seal(&stranger, 1, 0, now, &big);
    let header_len = 2 + u16::from_be_bytes([sealed[0], sealed[1]]) as usize;
    let answer = post_partially(
        &nodes[0].url,
        "/peer/v1/message",
        60 * 1024 * 1024,
        &sealed[..header_len],
    )
    .await
    .expect("refused before the body was sent");
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert!(answer.contains("bad signature from node 1"), "{answer}");
    // a ping signed by a stranger claiming to be node 1 is refused, and
    // an unsigned one is not answered with the boot id
    let forged = directory.seal(
        &stranger,
        1,
        0,
        now,
        &PeerBody::Ping {
            challenge: 7,
            boot: 42,
        },
    );
    let r = reqwest::Client::new()
        .post(format!("{}/peer/v1/ping", nodes[0].url))
        .body(forged)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 403);
    let r = reqwest::get(format!("{}/peer/v1/ping", nodes[0].url))
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 405, "no unauthenticated ping");
    // the node set's own pings still work: every node sees every peer
    net.wait_live(3).await;
    let live: Vec<usize> = client
        .statuses()
        .await
        .iter()
        .flatten()
        .map(|s| s.live_peers.len())
        .collect();
    assert_eq!(live, vec![3, 3, 3]);
}
