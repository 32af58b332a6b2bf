//! The test host: real behaviour, no mocks. `fetch` goes through a real
//! reqwest client to a real HTTP server on the loopback interface that the
//! test starts; signing uses real secp256k1 keys held by the host and records
//! every request; the other operations answer from tables the test fills.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use candela_actions::{
    execute, ActionError, ExecutionContext, ExecutionOutcome, FetchRequest, FetchResponse, Host,
    HostError, Limits, SignRequest,
};
use k256::ecdsa::SigningKey;

/// A host for tests. Build with `TestHost::new()`, adjust its tables, wrap in `Arc`.
#[derive(Default)]
pub struct TestHost {
    pub http: reqwest::Client,
    /// Private keys by uncompressed public key hex (no 0x).
    pub keys: HashMap<String, SigningKey>,
    /// Every signing request received, in order.
    pub signed: Mutex<Vec<SignRequest>>,
    /// Child action code by CID.
    pub actions: HashMap<String, String>,
    /// RPC URLs by chain.
    pub rpc_urls: HashMap<String, String>,
    /// Whether this node is the runOnce leader.
    pub leader: bool,
    /// runOnce values published (or, for a follower, preset) by name.
    pub run_once_values: Mutex<HashMap<String, String>>,
    /// Values the "other nodes" contribute to broadcastAndCollect.
    pub peer_values: Vec<String>,
    /// Permitted action CIDs (for isPermittedAction / getPermittedActions).
    pub permitted_actions: Vec<String>,
    /// Ops switched off.
    pub disabled: Vec<String>,
}

impl TestHost {
    pub fn new() -> Self {
        TestHost {
            http: reqwest::Client::new(),
            ..Default::default()
        }
    }

    /// Adds a key from a 32-byte seed and returns its uncompressed public key hex with 0x.
    pub fn add_key(&mut self, seed: u8) -> String {
        let key = SigningKey::from_slice(&[seed; 32]).expect("valid key");
        let pk = hex::encode(key.verifying_key().to_encoded_point(false).as_bytes());
        self.keys.insert(pk.clone(), key);
        format!("0x{pk}")
    }

    fn key_for(&self, public_key: &str) -> Result<&SigningKey, HostError> {
        let pk = public_key.trim_start_matches("0x").to_lowercase();
        self.keys
            .get(&pk)
            .ok_or_else(|| HostError::Denied(format!("no key share for PKP {public_key}")))
    }
}

#[async_trait]
impl Host for TestHost {
    fn op_enabled(&self, op: &str) -> bool {
        !self.disabled.iter().any(|d| d == op)
    }

    async fn fetch(&self, request: FetchRequest) -> Result<FetchResponse, HostError> {
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|e| HostError::failed(format!("bad method: {e}")))?;
        let mut builder = self.http.request(method, &request.url);
        for (k, v) in &request.headers {
            builder = builder.header(k, v);
        }
        if let Some(body) = request.body {
            builder = builder.body(body);
        }
        let resp = builder
            .send()
            .await
            .map_err(|e| HostError::failed(format!("fetch failed: {e}")))?;
        let status = resp.status();
        let url = resp.url().to_string();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect();
        let body = resp
            .bytes()
            .await
            .map_err(|e| HostError::failed(format!("fetch body: {e}")))?
            .to_vec();
        Ok(FetchResponse {
            status: status.as_u16(),
            status_text: status.canonical_reason().unwrap_or("").to_owned(),
            url,
            headers,
            body,
        })
    }

    async fn sign_ecdsa(&self, request: SignRequest) -> Result<(), HostError> {
        self.key_for(&request.public_key)?;
        self.signed.lock().unwrap().push(request);
        Ok(())
    }

    async fn sign_and_combine_ecdsa(&self, request: SignRequest) -> Result<String, HostError> {
        let key = self.key_for(&request.public_key)?;
        let (sig, recid) = key
            .sign_prehash_recoverable(&request.to_sign)
            .map_err(|e| HostError::failed(e.to_string()))?;
        self.signed.lock().unwrap().push(request);
        let bytes: [u8; 64] = sig.to_bytes().into();
        let (r, s) = bytes.split_at(32);
        let (r, s) = (
            <[u8; 32]>::try_from(r).expect("32 bytes"),
            <[u8; 32]>::try_from(s).expect("32 bytes"),
        );
        Ok(candela_actions::lit_combined_signature_json(
            &r,
            &s,
            recid.to_byte(),
        ))
    }

    async fn run_once_is_leader(&self, _name: String) -> Result<bool, HostError> {
        Ok(self.leader)
    }

    async fn run_once_publish(&self, name: String, value: String) -> Result<(), HostError> {
        self.run_once_values.lock().unwrap().insert(name, value);
        Ok(())
    }

    async fn run_once_collect(&self, name: String) -> Result<String, HostError> {
        self.run_once_values
            .lock()
            .unwrap()
            .get(&name)
            .cloned()
            .ok_or_else(|| HostError::failed(format!("no runOnce result for {name}")))
    }

    async fn broadcast_and_collect(
        &self,
        _name: String,
        value: String,
    ) -> Result<Vec<String>, HostError> {
        let mut all = self.peer_values.clone();
        all.push(value);
        Ok(all)
    }

    async fn load_action(&self, ipfs_id: String) -> Result<String, HostError> {
        self.actions
            .get(&ipfs_id)
            .cloned()
            .ok_or_else(|| HostError::failed(format!("no action with CID {ipfs_id}")))
    }

    async fn get_rpc_url(&self, chain: String) -> Result<String, HostError> {
        self.rpc_urls
            .get(&chain)
            .cloned()
            .ok_or_else(|| HostError::failed(format!("unknown chain {chain}")))
    }

    async fn get_latest_nonce(&self, address: String, chain: String) -> Result<String, HostError> {
        if !self.rpc_urls.contains_key(&chain) {
            return Err(HostError::failed(format!("unknown chain {chain}")));
        }
        Ok(format!("0x{:x}", address.len()))
    }

    async fn call_op(
        &self,
        op: String,
        args: serde_json::Value,
    ) -> Result<serde_json::Value, HostError> {
        match op.as_str() {
            "isPermittedAction" => {
                let cid = args.get("ipfsId").and_then(|v| v.as_str()).unwrap_or("");
                Ok(serde_json::Value::Bool(
                    self.permitted_actions.iter().any(|p| p == cid),
                ))
            }
            "getPermittedActions" => Ok(serde_json::json!(self.permitted_actions)),
            _ => Err(HostError::Unsupported(op)),
        }
    }
}

/// A loopback HTTP server for fetch tests; stops when the test's runtime ends.
pub async fn start_http_server() -> SocketAddr {
    use axum::routing::{get, post};
    use axum::Router;

    let app = Router::new()
        .route(
            "/json",
            get(|| async {
                axum::Json(serde_json::json!({"properties": {"periods": [{"temperature": 92}]}}))
            }),
        )
        .route(
            "/price",
            get(|| async { axum::Json(serde_json::json!({"ethereum": {"usd": 3141.59}})) }),
        )
        .route(
            "/echo",
            post(
                |headers: axum::http::HeaderMap, body: axum::body::Bytes| async move {
                    let ct = headers
                        .get("x-test")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned();
                    ([("x-echo", ct)], body)
                },
            ),
        )
        .route("/bytes", get(|| async { vec![0u8, 1, 2, 254, 255] }))
        .route(
            "/missing",
            get(|| async { (axum::http::StatusCode::NOT_FOUND, "nothing here") }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

/// Runs `code` with `params` on `host` with default limits.
pub async fn run(
    host: &Arc<TestHost>,
    code: &str,
    params: serde_json::Value,
) -> Result<ExecutionOutcome, ActionError> {
    run_with(host, code, params, &Limits::default()).await
}

/// Runs `code` with `params` on `host` with `limits`.
pub async fn run_with(
    host: &Arc<TestHost>,
    code: &str,
    params: serde_json::Value,
    limits: &Limits,
) -> Result<ExecutionOutcome, ActionError> {
    let host: Arc<dyn Host> = host.clone();
    execute(code, ExecutionContext::with_params(params), host, limits).await
}

/// Makes sure the ethers bundle exists, running the setup script once if not.
pub fn ensure_ethers() {
    use std::sync::OnceLock;
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        if candela_actions::ethers_status() == candela_actions::EthersStatus::Available {
            return;
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/js/setup.sh");
        let status = std::process::Command::new("bash")
            .arg(script)
            .status()
            .expect("run js/setup.sh");
        assert!(status.success(), "js/setup.sh failed");
        assert_eq!(
            candela_actions::ethers_status(),
            candela_actions::EthersStatus::Available,
            "setup.sh ran but the ethers bundle is still missing"
        );
    });
}
