//! The Candela Rust SDK.
//!
//! A [`Client`] sends each operation to every node with one request id,
//! verifies every share it gets back against the presignature commitments
//! that the other nodes report, names each node that failed or lied, and
//! combines the valid shares into an ordinary ECDSA signature that it
//! verifies before returning.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod actions;
mod claims;
mod encryption;
pub mod explain;
mod pkp_session;
mod schnorr;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use candela_api::auth::{network_nonce, nonce_window, AuthSig};
use candela_api::network::NetworkInfo;
pub use candela_api::session::{Ability, ResourceAbilityRequest, Session};
use candela_api::v7::{ErrorBody, NodeStatus, PkpSignRequest, PkpSignResponse};
use candela_api::{EXCLUDE_HEADER, MAX_WAIT_HEADER, REQUEST_ID_HEADER};
use candela_crypto::derive;
use candela_crypto::ecdsa::Signature;
use candela_crypto::AffinePoint;
pub use candela_registry::claim::KeyClaim;
use k256::ecdsa::SigningKey;
use rand_core::RngCore;

pub use actions::{ActionSignature, ActionSource, ExecuteOutcome, NodeReport};
pub use candela_frost::{KeyType, SigningScheme};
pub use encryption::{Decrypted, Encrypted};
pub use explain::{
    explain, json_field_differences, Difference, Explanation, FieldDifference, ValueGroup,
};
pub use pkp_session::PkpAuth;
pub use schnorr::{combine as combine_schnorr, schnorr_address, SchnorrOutcome, TypedKey};

/// A node that did not contribute a valid share, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NodeFault {
    /// The node's index.
    pub node: u32,
    /// The node's URL.
    pub url: String,
    /// What went wrong.
    pub reason: String,
    /// True when the node answered with something provably wrong (a bad
    /// share, a forged commitment), not merely an error or silence.
    pub misbehaved: bool,
}

impl std::fmt::Display for NodeFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "node {} ({}): {}", self.node, self.url, self.reason)
    }
}

fn list(faults: &[NodeFault]) -> String {
    faults
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Client failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// Fewer than the threshold of valid shares.
    #[error("not enough valid shares: {valid} of {needed} required; {}", list(.faults))]
    NotEnoughShares {
        /// Threshold.
        needed: usize,
        /// Valid shares received.
        valid: usize,
        /// Every node that did not contribute, with the reason.
        faults: Vec<NodeFault>,
    },
    /// Local decryption failed: the ciphertext was altered or was not made
    /// for the conditions and data hash it came with.
    #[error("decryption failed: {0}")]
    Decryption(String),
    /// The shares verified one by one but the sum does not (should not happen).
    #[error("combined signature failed to verify: {0}")]
    Combine(String),
    /// The network description is unusable.
    #[error("network description: {0}")]
    Network(String),
    /// Bad input from the caller.
    #[error("{0}")]
    Input(String),
    /// Fewer than the threshold of nodes stored an action.
    #[error("deploy failed: {0}")]
    Deploy(String),
    /// Fewer than the threshold of nodes ran the action to the same response.
    #[error("action failed: {agreed} of {needed} required nodes agree on a response; {}", list(.faults))]
    ActionFailed {
        /// Threshold.
        needed: usize,
        /// The most nodes that agreed on one response.
        agreed: usize,
        /// Every node that failed or disagreed, with the reason.
        faults: Vec<NodeFault>,
    },
    /// The nodes' responses differ because the action made them differ (it
    /// called `decryptToSingleNode`, whose plaintext only one node holds,
    /// or `encrypt`, whose ciphertext each node randomizes), so no response
    /// is the network's; no node is at fault for that.
    #[error("the action's response differs from node to node by design (it called decryptToSingleNode or encrypt): {} responses from {} nodes", .responses.values().collect::<std::collections::BTreeSet<_>>().len(), .responses.len())]
    ResponsePerNode {
        /// Each answering node's response, by node index.
        responses: std::collections::BTreeMap<u32, String>,
        /// Nodes that failed (no response), with the reason.
        faults: Vec<NodeFault>,
    },
    /// A signature an action asked for is unusable.
    #[error("signature {sig_name}: {reason}")]
    ActionSignature {
        /// The signature's name.
        sig_name: String,
        /// Why.
        reason: String,
    },
}

/// A verified signature and what the nodes did.
#[derive(Debug, Clone)]
pub struct SignOutcome {
    /// The request id used (the last attempt's).
    pub request_id: String,
    /// The signature, verified under `public_key`.
    pub signature: Signature,
    /// The PKP key.
    pub public_key: AffinePoint,
    /// Nodes that failed or misbehaved (they were left out).
    pub faults: Vec<NodeFault>,
    /// Attempts it took (a failed attempt retries with a new presignature).
    pub attempts: u32,
}

/// A connection to a Candela network.
#[derive(Clone)]
pub struct Client {
    net: NetworkInfo,
    root: AffinePoint,
    /// The network's BLS public key set, when `network.json` has one. The
    /// key never changes; the public shares change at every refresh, and
    /// the set is fetched again from the nodes when shares stop verifying.
    bls: Arc<std::sync::RwLock<Option<Arc<candela_bls::BlsPublicKeySet>>>>,
    http: reqwest::Client,
    /// Per-request timeout for each node.
    pub timeout: Duration,
    /// Attempts for an operation that fails without a byzantine node.
    pub attempts: u32,
    /// How long a signature may wait for a presignature in all: an attempt
    /// that found the pool empty (the coordinator already waited its
    /// turn) is retried without counting against `attempts` until then.
    pub pool_wait: Duration,
    /// Per-node timeout of an action execution (actions may run for the
    /// nodes' wall-time limit, 30 s by default).
    pub action_timeout: Duration,
    /// Session keys by wallet address, reused until they near expiry.
    sessions: Arc<Mutex<HashMap<[u8; 20], Arc<Session>>>>,
    /// How long a new session lasts.
    pub session_ttl: Duration,
    /// Ask the nodes to keep a replay record of each execution this client
    /// sends (the request's `recordRun`; off by default). A record holds
    /// the code, `jsParams`, clock readings and external answers, never
    /// decrypted plaintext nor fetch request headers and bodies, and only
    /// the caller may read it back.
    pub record_runs: bool,
    /// Nodes this client caught lying (a share or response provably
    /// wrong), with the first proof: asked to be left out of signing sets.
    liars: Arc<Mutex<BTreeMap<u32, String>>>,
}

/// How a request proves who asks: one wallet auth signature for every node,
/// or a session that signs for each node.
#[derive(Clone)]
pub enum RequestAuth {
    /// A wallet's SIWE auth signature (valid at any node).
    Wallet(AuthSig),
    /// A session key with its wallet capability.
    Session(Arc<Session>),
}

impl From<AuthSig> for RequestAuth {
    fn from(a: AuthSig) -> Self {
        RequestAuth::Wallet(a)
    }
}

impl RequestAuth {
    /// The `authSig` to send to the node at `url`.
    pub fn for_node(&self, url: &str) -> AuthSig {
        match self {
            RequestAuth::Wallet(a) => a.clone(),
            RequestAuth::Session(s) => s.sign_for(url),
        }
    }
}

/// The abilities a client session asks for: signing with PKPs, running
/// actions and decrypting, on any resource.
pub fn default_session_requests() -> Vec<ResourceAbilityRequest> {
    vec![
        ResourceAbilityRequest::new(Ability::PkpSigning, "*"),
        ResourceAbilityRequest::new(Ability::LitActionExecution, "*"),
        ResourceAbilityRequest::new(Ability::AccessControlConditionDecryption, "*"),
    ]
}

/// How long the client waits for a TCP connection to a node by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// The environment variable that sets the connect timeout, in milliseconds
/// (for a loaded machine or a distant network).
pub const CONNECT_TIMEOUT_ENV: &str = "CANDELA_CONNECT_TIMEOUT_MS";

/// The connect timeout: [`CONNECT_TIMEOUT_ENV`] when set, else
/// [`DEFAULT_CONNECT_TIMEOUT`]; a value that is not a number of
/// milliseconds from 1 to 600000 is an error naming the variable.
pub fn connect_timeout_from_env() -> Result<Duration, ClientError> {
    parse_connect_timeout(std::env::var(CONNECT_TIMEOUT_ENV).ok().as_deref())
}

fn parse_connect_timeout(value: Option<&str>) -> Result<Duration, ClientError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(DEFAULT_CONNECT_TIMEOUT),
        Some(v) => match v.parse::<u64>() {
            Ok(ms) if (1..=600_000).contains(&ms) => Ok(Duration::from_millis(ms)),
            _ => Err(ClientError::Input(format!(
                "{CONNECT_TIMEOUT_ENV}={v:?}: expected milliseconds from 1 to 600000"
            ))),
        },
    }
}

/// A fresh random request id.
pub fn new_request_id() -> String {
    let mut b = [0u8; 16];
    rand_core::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

impl Client {
    /// Connect to the network `network.json` describes.
    pub fn new(net: NetworkInfo) -> Result<Self, ClientError> {
        let root = derive::parse_public_key(&net.root_public_key)
            .map_err(|e| ClientError::Network(format!("root key: {e}")))?;
        let bls = pkp_session::parse_bls_public_set(&net)?.map(Arc::new);
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .connect_timeout(connect_timeout_from_env()?)
            .build()
            .map_err(|e| ClientError::Network(e.to_string()))?;
        Ok(Client {
            net,
            root,
            bls: Arc::new(std::sync::RwLock::new(bls)),
            http,
            timeout: Duration::from_secs(10),
            attempts: 3,
            pool_wait: Duration::from_secs(120),
            action_timeout: Duration::from_secs(45),
            sessions: Arc::new(Mutex::new(HashMap::new())),
            session_ttl: Duration::from_secs(3600),
            record_runs: false,
            liars: Arc::new(Mutex::new(BTreeMap::new())),
        })
    }

    /// The network's current SIWE nonce (what the handshake publishes as
    /// `latestBlockhash`).
    pub fn nonce(&self) -> String {
        network_nonce(
            &self.net.root_public_key,
            nonce_window(time::OffsetDateTime::now_utc()),
        )
    }

    /// A wallet auth signature valid at every node for `ttl_seconds` (at
    /// most the nodes' `maxAuthSigLifetimeSeconds`, 24 h by default), whose
    /// ReCap grants signing with PKPs, running actions and decrypting on
    /// any resource: a plain authSig grants only what its ReCap lists.
    pub fn wallet_auth(&self, wallet: &SigningKey, ttl_seconds: i64) -> AuthSig {
        self.wallet_auth_granting(
            wallet,
            ttl_seconds,
            &candela_api::session::wallet_requests(),
        )
    }

    /// [`Client::wallet_auth`] granting only `requests`; with none, a bare
    /// proof of the wallet (an auth method's access token), which no node
    /// accepts as a request's `authSig`.
    pub fn wallet_auth_granting(
        &self,
        wallet: &SigningKey,
        ttl_seconds: i64,
        requests: &[ResourceAbilityRequest],
    ) -> AuthSig {
        AuthSig::create_granting(
            wallet,
            "localhost",
            candela_api::auth::WALLET_AUTH_URI,
            ttl_seconds,
            &self.nonce(),
            requests,
        )
    }

    /// A new session for `wallet` with `requests`, valid for `ttl`.
    pub fn new_session(
        &self,
        wallet: &SigningKey,
        requests: Vec<ResourceAbilityRequest>,
        ttl: Duration,
    ) -> Session {
        Session::new(
            wallet,
            requests,
            "localhost",
            &self.nonce(),
            time::Duration::seconds(ttl.as_secs() as i64),
        )
    }

    /// `wallet`'s cached session, or a new one if there is none or it ends
    /// within five minutes.
    pub fn session(&self, wallet: &SigningKey) -> Arc<Session> {
        let address = derive::eth_address(wallet.verifying_key().as_affine());
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = sessions.get(&address) {
            if !s.expires_within(time::Duration::minutes(5)) {
                return Arc::clone(s);
            }
        }
        let s = Arc::new(self.new_session(wallet, default_session_requests(), self.session_ttl));
        sessions.insert(address, Arc::clone(&s));
        s
    }

    /// Load `network.json`.
    pub fn from_file(path: &std::path::Path) -> Result<Self, ClientError> {
        let bytes = std::fs::read(path)
            .map_err(|e| ClientError::Network(format!("{}: {e}", path.display())))?;
        let net: NetworkInfo = serde_json::from_slice(&bytes)
            .map_err(|e| ClientError::Network(format!("{}: {e}", path.display())))?;
        Self::new(net)
    }

    /// Follow the registry's node set (what Lit's SDK does with `Staking`):
    /// read the committee and threshold from the registry `network.json`
    /// names and, when they changed (members joined, left or were kicked
    /// by their peers' votes), talk to that committee from now on. Returns
    /// whether anything changed. Blocking: it reads the registry.
    pub fn follow_registry(&mut self) -> Result<bool, ClientError> {
        let registry = candela_registry::open(&self.net.registry)
            .map_err(|e| ClientError::Network(format!("registry: {e}")))?;
        let set = registry
            .node_set()
            .map_err(|e| ClientError::Network(format!("registry: {e}")))?
            .ok_or_else(|| ClientError::Network("the registry has no node set".into()))?;
        let nodes = set.committee_infos();
        if nodes == self.net.nodes && set.threshold == self.net.threshold {
            return Ok(false);
        }
        self.net.nodes = nodes;
        self.net.threshold = set.threshold;
        Ok(true)
    }

    /// The network description.
    pub fn network(&self) -> &NetworkInfo {
        &self.net
    }

    /// The root public key.
    pub fn root_public_key(&self) -> &AffinePoint {
        &self.root
    }

    /// The nodes this client caught lying, with the first proof. They are
    /// asked to be left out of the signing sets of later requests
    /// ([`EXCLUDE_HEADER`]; ignored by the nodes when fewer than the
    /// threshold would remain) and are named in every later result.
    pub fn caught_lying(&self) -> BTreeMap<u32, String> {
        self.liars.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Remember the nodes that misbehaved among `faults`; true when one of
    /// them was not known yet.
    fn learn(&self, faults: &[NodeFault]) -> bool {
        let mut liars = self.liars.lock().unwrap_or_else(|p| p.into_inner());
        let mut new = false;
        for f in faults.iter().filter(|f| f.misbehaved && f.node != u32::MAX) {
            if let std::collections::btree_map::Entry::Vacant(e) = liars.entry(f.node) {
                e.insert(f.reason.clone());
                new = true;
            }
        }
        new
    }

    /// Name every known liar that `faults` does not name yet (it was left
    /// out of this request's signing sets because it lied before).
    fn name_liars(&self, faults: &mut Vec<NodeFault>) {
        for (node, why) in self.caught_lying() {
            if !faults.iter().any(|f| f.node == node && f.misbehaved) {
                faults.push(self.fault(node, format!("left out: misbehaved before ({why})"), true));
            }
        }
        faults.sort_by_key(|f| f.node);
    }

    /// The [`MAX_WAIT_HEADER`] value: how long a node may keep a signing
    /// request in line for a presignature, leaving room within
    /// [`Client::timeout`] for the signing after it, so that a request
    /// that waited its turn is answered `NodePresignaturePoolEmpty` (and
    /// waits on, see [`Client::pool_wait`]) instead of timing out.
    fn node_wait_ms(&self) -> String {
        let room = Duration::from_secs(3).min(self.timeout / 2);
        self.timeout.saturating_sub(room).as_millis().to_string()
    }

    /// The [`EXCLUDE_HEADER`] value: the known liars.
    fn exclude_header(&self) -> String {
        self.caught_lying()
            .keys()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Send a registry change its owner signed (the JSON of
    /// `candela_registry::signed_op::SignedChange`) to the network: nodes
    /// in index order until one applies it. A node that refuses the change
    /// (4xx) ends the attempt with its reason; an unreachable or unready
    /// one (5xx) passes it to the next. The applying node's answer.
    pub async fn apply_registry_change(
        &self,
        signed: &serde_json::Value,
    ) -> Result<serde_json::Value, ClientError> {
        let mut last = String::from("no node in the network description");
        for n in &self.net.nodes {
            let sent = self
                .http
                .post(format!("{}/candela/registry/v1/change", n.url))
                .json(signed)
                .timeout(Duration::from_secs(30))
                .send()
                .await;
            let r = match sent {
                Ok(r) => r,
                Err(e) => {
                    last = format!("node {} ({}): {e}", n.index, n.url);
                    continue;
                }
            };
            let status = r.status();
            let text = r.text().await.unwrap_or_default();
            if status.is_success() {
                return serde_json::from_str(&text)
                    .map_err(|e| ClientError::Network(format!("node {}: {e}", n.index)));
            }
            let reason = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["message"].as_str().map(str::to_string))
                .unwrap_or(text);
            if status.is_client_error() {
                return Err(ClientError::Input(format!(
                    "node {} refused the registry change: {reason}",
                    n.index
                )));
            }
            last = format!("node {} ({status}): {reason}", n.index);
        }
        Err(ClientError::Network(format!(
            "no node applied the registry change; last: {last}"
        )))
    }

    /// Every node's status (None for nodes that did not answer).
    pub async fn statuses(&self) -> Vec<Option<NodeStatus>> {
        let calls = self.net.nodes.iter().map(|n| {
            let req = self
                .http
                .get(format!("{}/web/status", n.url))
                .timeout(Duration::from_secs(2));
            async move { req.send().await.ok()?.json::<NodeStatus>().await.ok() }
        });
        join_all(calls).await
    }

    /// Sign a 32-byte digest with a PKP owned by `owner`, retrying with a new
    /// request id (so a new presignature and signing set) when an attempt
    /// fails for want of shares; a node caught lying is left out of the
    /// next signing sets and named in the result.
    pub async fn pkp_sign(
        &self,
        owner: &SigningKey,
        pkp: &AffinePoint,
        digest: [u8; 32],
    ) -> Result<SignOutcome, ClientError> {
        let auth = RequestAuth::Session(self.session(owner));
        self.pkp_sign_with(&auth, pkp, digest).await
    }

    /// [`Client::pkp_sign`] with given auth (a saved session, a wallet
    /// auth signature).
    pub async fn pkp_sign_with(
        &self,
        auth: &RequestAuth,
        pkp: &AffinePoint,
        digest: [u8; 32],
    ) -> Result<SignOutcome, ClientError> {
        let mut last = None;
        let started = std::time::Instant::now();
        let mut attempt = 0;
        // nodes this client could not reach in the last attempt: the next
        // one asks for a signing set without them (a node that just crashed
        // still looks live to its peers for a few seconds)
        let mut unreachable: Vec<u32> = Vec::new();
        while attempt < self.attempts.max(1) {
            attempt += 1;
            let rid = new_request_id();
            let mut leave_out: std::collections::BTreeSet<u32> =
                self.caught_lying().into_keys().collect();
            leave_out.extend(unreachable.iter().copied());
            let leave_out: Vec<u32> = leave_out.into_iter().collect();
            match self
                .pkp_sign_leaving_out(&rid, auth, pkp, digest, &leave_out)
                .await
            {
                Ok(mut o) => {
                    o.attempts = attempt;
                    self.learn(&o.faults);
                    self.name_liars(&mut o.faults);
                    return Ok(o);
                }
                Err(e) => {
                    let (retry, pool_empty) = match &e {
                        ClientError::NotEnoughShares { faults, .. } => (
                            faults.iter().all(|f| {
                                // a liar is left out of the next attempt
                                !f.reason.contains("NodeUnknownPkp")
                                    && !f.reason.contains("NodeUnauthorized")
                                    && !f.reason.contains("NodeInvalid")
                            }),
                            faults
                                .iter()
                                .any(|f| f.reason.contains("NodePresignaturePoolEmpty"))
                                && !faults.iter().any(|f| f.misbehaved),
                        ),
                        _ => (false, false),
                    };
                    if let ClientError::NotEnoughShares { faults, .. } = &e {
                        self.learn(faults);
                        unreachable = faults
                            .iter()
                            .filter(|f| f.reason == UNREACHABLE || f.reason == TIMED_OUT)
                            .map(|f| f.node)
                            .collect();
                    }
                    last = Some(e);
                    if !retry {
                        break;
                    }
                    if pool_empty && started.elapsed() < self.pool_wait {
                        // waiting for a presignature is not a failed attempt
                        attempt -= 1;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                    tokio::time::sleep(Duration::from_millis(400 * u64::from(attempt))).await;
                }
            }
        }
        let mut last = last.unwrap_or_else(|| ClientError::Input("no attempt made".into()));
        if let ClientError::NotEnoughShares { faults, .. } = &mut last {
            self.name_liars(faults);
        }
        Err(last)
    }

    /// One signing attempt with a given request id and auth.
    pub async fn pkp_sign_once(
        &self,
        request_id: &str,
        auth: &RequestAuth,
        pkp: &AffinePoint,
        digest: [u8; 32],
    ) -> Result<SignOutcome, ClientError> {
        let liars: Vec<u32> = self.caught_lying().into_keys().collect();
        self.pkp_sign_leaving_out(request_id, auth, pkp, digest, &liars)
            .await
    }

    /// One signing attempt that asks the nodes to leave `leave_out` out of
    /// the signing set (they still answer; ignored by the nodes when fewer
    /// than the threshold would remain).
    pub async fn pkp_sign_leaving_out(
        &self,
        request_id: &str,
        auth: &RequestAuth,
        pkp: &AffinePoint,
        digest: [u8; 32],
        leave_out: &[u32],
    ) -> Result<SignOutcome, ClientError> {
        let exclude = leave_out
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let calls = self.net.nodes.iter().map(|n| {
            let body = PkpSignRequest {
                to_sign: digest.to_vec(),
                pubkey: derive::public_key_hex(pkp),
                auth_sig: auth.for_node(&n.url),
                auth_methods: None,
                epoch: 1,
                signing_scheme: None,
            };
            let req = self
                .http
                .post(format!("{}/web/pkp/sign/v1", n.url))
                .header(REQUEST_ID_HEADER, request_id)
                .header(EXCLUDE_HEADER, &exclude)
                .header(MAX_WAIT_HEADER, self.node_wait_ms())
                .timeout(self.timeout)
                .json(&body);
            let index = n.index;
            async move { (index, answer::<PkpSignResponse>(req).await) }
        });
        let answers = join_all(calls).await;
        let mut faults = Vec::new();
        let mut ok: BTreeMap<u32, PkpSignResponse> = BTreeMap::new();
        for (i, a) in answers {
            match a {
                Ok(r) => {
                    ok.insert(i, r);
                }
                Err(reason) => faults.push(self.fault(i, reason, false)),
            }
        }
        self.finish_sign(request_id, &ok, pkp, digest, faults)
    }

    /// Verify every node's answer for one request and combine the valid
    /// shares. On success returns the signature and the nodes left out; on
    /// failure the error names every node that did not contribute.
    pub fn verify_and_combine(
        &self,
        request_id: &str,
        answers: &BTreeMap<u32, PkpSignResponse>,
        pkp: &AffinePoint,
        digest: [u8; 32],
    ) -> Result<SignOutcome, ClientError> {
        let mut faults = Vec::new();
        for n in &self.net.nodes {
            if !answers.contains_key(&n.index) {
                faults.push(self.fault(n.index, "no answer".into(), false));
            }
        }
        self.finish_sign(request_id, answers, pkp, digest, faults)
    }

    /// Combine the answers into an outcome, or an error naming every node
    /// that did not contribute (`faults` holds those already known).
    fn finish_sign(
        &self,
        request_id: &str,
        answers: &BTreeMap<u32, PkpSignResponse>,
        pkp: &AffinePoint,
        digest: [u8; 32],
        mut faults: Vec<NodeFault>,
    ) -> Result<SignOutcome, ClientError> {
        match self.combine_sign(answers, pkp, &digest, &mut faults) {
            Ok(signature) => Ok(SignOutcome {
                request_id: request_id.into(),
                signature,
                public_key: *pkp,
                faults,
                attempts: 1,
            }),
            Err(valid) => {
                faults.sort_by_key(|f| f.node);
                Err(ClientError::NotEnoughShares {
                    needed: self.net.threshold,
                    valid,
                    faults,
                })
            }
        }
    }

    fn fault(&self, node: u32, reason: String, misbehaved: bool) -> NodeFault {
        let url = self
            .net
            .nodes
            .get(node as usize)
            .map(|n| n.url.clone())
            .unwrap_or_default();
        NodeFault {
            node,
            url,
            reason,
            misbehaved,
        }
    }

    /// Every node's identity key (hex), by node index; an empty string for
    /// an index with no member in the committee (kicked).
    pub(crate) fn identity_keys(&self) -> Vec<String> {
        let span = self.net.nodes.iter().map(|n| n.index as usize + 1).max();
        let mut keys = vec![String::new(); span.unwrap_or(0)];
        for n in &self.net.nodes {
            keys[n.index as usize] = n.identity_key.clone();
        }
        keys
    }

    /// Verify and combine; on failure returns how many valid shares there
    /// were. Faults are added to `faults` (a signer already listed there as
    /// silent is not listed twice).
    fn combine_sign(
        &self,
        ok: &BTreeMap<u32, PkpSignResponse>,
        pkp: &AffinePoint,
        digest: &[u8; 32],
        faults: &mut Vec<NodeFault>,
    ) -> Result<Signature, usize> {
        let identity_keys = self.identity_keys();
        let net = SigningNetwork {
            root: &self.root,
            threshold: self.net.threshold,
            identity_keys: &identity_keys,
        };
        let (result, share_faults) = match verify_and_combine_shares(&net, ok, pkp, digest) {
            Ok(c) => (Ok(c.signature), c.faults),
            Err(e) => (Err(e.valid), e.faults),
        };
        for f in share_faults {
            if !f.misbehaved && faults.iter().any(|g| g.node == f.node) {
                continue;
            }
            faults.push(self.fault(f.node, f.reason, f.misbehaved));
        }
        result
    }
}

pub use candela_api::combine::{
    verify_and_combine_shares, CombineError, Combined, ShareFault, SigningNetwork,
};

/// Send a request; a non-2xx answer becomes `errorCode: message`.
/// What separates a failed action's error from the console output it
/// printed up to the failure, in a node's error text.
pub const FAILED_RUN_CONSOLE: &str = "\nconsole output up to the failure:\n";

/// A fault's reason when the node refused the connection.
const UNREACHABLE: &str = "unreachable (connection refused)";
/// A fault's reason when the node did not answer in time.
const TIMED_OUT: &str = "timed out";

async fn answer<T: serde::de::DeserializeOwned>(req: reqwest::RequestBuilder) -> Result<T, String> {
    let resp = req.send().await.map_err(|e| {
        if e.is_timeout() {
            TIMED_OUT.to_string()
        } else if e.is_connect() {
            UNREACHABLE.to_string()
        } else {
            format!("request failed: {e}")
        }
    })?;
    let status = resp.status();
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| format!("reading answer: {e}"))?;
    if !status.is_success() {
        return Err(match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(b) => {
                let logs = b
                    .logs
                    .filter(|l| !l.is_empty())
                    .map(|l| format!("{FAILED_RUN_CONSOLE}{l}"))
                    .unwrap_or_default();
                format!("{} {}: {}{logs}", status.as_u16(), b.error_code, b.message)
            }
            Err(_) => format!(
                "{}: {}",
                status.as_u16(),
                String::from_utf8_lossy(&bytes)
                    .chars()
                    .take(200)
                    .collect::<String>()
            ),
        });
    }
    serde_json::from_slice(&bytes).map_err(|e| format!("malformed answer: {e}"))
}

async fn join_all<F: std::future::Future + Send + 'static>(
    futs: impl IntoIterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futs.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        if let Ok(v) = h.await {
            out.push(v);
        }
    }
    out
}

#[cfg(test)]
mod connect_timeout_tests {
    use super::*;

    #[test]
    fn the_connect_timeout_defaults_and_is_set_in_milliseconds_or_refused_by_name() {
        assert_eq!(
            parse_connect_timeout(None).unwrap(),
            DEFAULT_CONNECT_TIMEOUT
        );
        assert_eq!(
            parse_connect_timeout(Some("")).unwrap(),
            DEFAULT_CONNECT_TIMEOUT
        );
        assert_eq!(
            parse_connect_timeout(Some("2500")).unwrap(),
            Duration::from_millis(2500)
        );
        for bad in ["0", "abc", "-5", "600001"] {
            let e = parse_connect_timeout(Some(bad)).unwrap_err();
            assert!(e.to_string().contains(CONNECT_TIMEOUT_ENV), "{e}");
        }
    }
}
