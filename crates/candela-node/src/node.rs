//! The node: its state, its background loops (heartbeats, root-key DKG,
//! presignature pool) and the signing logic behind the HTTP handlers.
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use candela_api::auth::{AuthError, AuthPolicy, AuthSig};
use candela_api::network::NodeInfo;
use candela_api::session::Ability;
use candela_api::v7::{
    CommitmentWire, NodeStatus, PkpSignRequest, PkpSignResponse, ShareProof, SignatureShareWire,
};
use candela_bls::BlsKeyShare;
use candela_crypto::derive::{self, point_to_bytes, scalar_to_bytes};
use candela_crypto::ecdsa::{signature_share, signing_commitments};
use candela_crypto::session::{BoxedSession, CaitSith, EcdsaBackend, KeyShare, Presignature};
use candela_registry::{PkpRecord, RegisteredNodeSet, Registry, RegistryError};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use crate::config::{Misbehaviour, NodeConfig};
use crate::error::ApiError;
use crate::peer::{Directory, Identity, PeerBody};
use crate::runner::{Outbound, SessionHub};
use crate::store::{Store, Take};

/// Name of the root key share in the store.
const ROOT_SECRET: &str = "ecdsa-root-share";
const BLS_SECRET: &str = "bls-root-share";
/// A peer is live if it answered a ping this recently.
const LIVE_WINDOW: Duration = Duration::from_millis(5000);
/// A generation session is cancelled when a participant was silent this long.
const SESSION_SILENCE: Duration = Duration::from_secs(10);

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The coordinator's answer for one request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Assignment {
    /// The presignature to use.
    pub presignature_id: String,
    /// The signing set.
    pub signers: Vec<u32>,
}

#[derive(Default)]
struct Stats {
    generated: AtomicU64,
    presign_ms: AtomicU64,
}

/// A peer's boot id and when it last changed (None: not since first seen).
type PeerBoot = (u64, Option<Instant>);

/// A running node.
pub struct Node {
    /// Configuration.
    pub cfg: NodeConfig,
    /// This node's index.
    pub me: u32,
    /// The node set.
    pub nodes: Vec<NodeInfo>,
    /// Parties needed.
    pub threshold: usize,
    pub(crate) identity: Identity,
    pub(crate) directory: Directory,
    pub(crate) store: Store,
    pub(crate) registry: Arc<dyn Registry>,
    key: RwLock<Option<Arc<KeyShare>>>,
    bls: RwLock<Option<Arc<BlsKeyShare>>>,
    hub: Arc<SessionHub>,
    outbox: UnboundedSender<Outbound>,
    http: reqwest::Client,
    live: Mutex<Vec<Option<Instant>>>,
    stats: Stats,
    in_flight: AtomicUsize,
    assign_lock: tokio::sync::Mutex<()>,
    session_counter: AtomicU64,
    finished: Mutex<BTreeSet<String>>,
    pub(crate) mailbox: crate::actions::Mailbox,
    pub(crate) action_http: reqwest::Client,
    pub(crate) action_slots: Arc<tokio::sync::Semaphore>,
    pub(crate) rate_limiter: Arc<crate::limits::RateLimiter>,
    /// Nodes a client asked to leave out of the signing sets of a request
    /// (by request id), for as long as the request runs.
    exclusions: Mutex<std::collections::HashMap<String, Vec<u32>>>,
    /// A random id of this run of the process, answered to pings: a peer
    /// that sees it change knows this node restarted.
    pub boot_id: u64,
    /// Each peer's boot id as last seen, and when it last changed.
    peer_boots: Mutex<Vec<Option<PeerBoot>>>,
    /// Tests only ([`Misbehaviour::StaleData`]): the last execution answer.
    stale_execution: Mutex<Option<candela_api::v7::ExecuteResponse>>,
    /// With an EVM registry (and nonce checks on): the registry chain's
    /// blocks, whose recent hashes are SIWE nonces.
    pub(crate) chain: Option<Arc<crate::chain_blocks::NonceChain>>,
    /// Every chain whose recent block hashes are SIWE nonces: the registry
    /// chain first (when there is one), then `auth.nonceChainRpcUrls`.
    nonce_chains: Vec<Arc<crate::chain_blocks::NonceChain>>,
}

/// A root key share the node stores sealed.
trait RootShare {
    /// The bytes to seal.
    fn sealed_bytes(&self) -> Vec<u8>;
}

impl RootShare for KeyShare {
    fn sealed_bytes(&self) -> Vec<u8> {
        self.to_bytes()
    }
}

impl RootShare for BlsKeyShare {
    fn sealed_bytes(&self) -> Vec<u8> {
        self.to_bytes().to_vec()
    }
}

/// The registry's node set; a devnet writes it just before starting the
/// nodes, so wait a few seconds for it.
fn read_node_set(registry: &dyn Registry) -> anyhow::Result<RegisteredNodeSet> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(set) = registry.node_set()? {
            return Ok(set);
        }
        if Instant::now() > deadline {
            anyhow::bail!("the registry has no node set");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The node set as the peer layer and clients see it.
pub fn node_infos(set: &RegisteredNodeSet) -> Vec<NodeInfo> {
    set.nodes
        .iter()
        .enumerate()
        .map(|(i, n)| NodeInfo {
            index: i as u32,
            url: n.url.clone(),
            identity_key: hex::encode(n.identity_key),
            encryption_key: hex::encode(n.encryption_key),
        })
        .collect()
}

impl Node {
    /// Load keys and storage and start the background loops.
    pub fn start(cfg: NodeConfig) -> anyhow::Result<Arc<Node>> {
        let identity = Identity::from_secret_string(&std::fs::read_to_string(&cfg.identity_file)?)?;
        let registry: Arc<dyn Registry> = Arc::from(candela_registry::open(&cfg.registry)?);
        let set = read_node_set(registry.as_ref())?;
        let nodes = node_infos(&set);
        let me = nodes
            .iter()
            .position(|n| n.identity_key == identity.identity_key_hex())
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "this node's identity key {} is not in the registry's node set",
                    identity.identity_key_hex()
                )
            })? as u32;
        let directory = Directory::new(&nodes)?;
        let storage_key = load_storage_key(&cfg)?;
        std::fs::create_dir_all(&cfg.data_dir)?;
        let store = Store::open(&cfg.data_dir.join("node.sqlite"), &storage_key)?;
        let key = match store.get_secret(ROOT_SECRET)? {
            Some(bytes) => Some(Arc::new(KeyShare::from_bytes(&bytes)?)),
            None => None,
        };
        let bls = match store.get_secret(BLS_SECRET)? {
            Some(bytes) => Some(Arc::new(BlsKeyShare::from_bytes(&bytes)?)),
            None => None,
        };
        let (outbox, outbox_rx) = unbounded_channel();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(cfg.peer_timeout_ms.max(500) * 5))
            .connect_timeout(Duration::from_millis(500))
            .pool_max_idle_per_host(32)
            .build()?;
        let n = nodes.len();
        let chain = match &cfg.registry {
            candela_api::network::RegistryLocation::Evm { rpc_url, .. } if cfg.auth.check_nonce => {
                Some(Arc::new(crate::chain_blocks::NonceChain::new(
                    "registry",
                    rpc_url,
                    crate::chain_blocks::HEAD_POLL,
                )?))
            }
            _ => None,
        };
        let mut nonce_chains: Vec<_> = chain.iter().cloned().collect();
        if cfg.auth.check_nonce {
            for (i, url) in cfg.auth.nonce_chain_rpc_urls.iter().enumerate() {
                nonce_chains.push(Arc::new(crate::chain_blocks::NonceChain::new(
                    &format!("nonce chain {i}"),
                    url,
                    crate::chain_blocks::OTHER_HEAD_POLL,
                )?));
            }
        }
        let node = Arc::new(Node {
            me,
            threshold: set.threshold,
            nodes,
            identity,
            directory,
            store,
            registry,
            key: RwLock::new(key),
            bls: RwLock::new(bls),
            hub: Arc::new(SessionHub::default()),
            outbox,
            http,
            live: Mutex::new(vec![None; n]),
            stats: Stats::default(),
            in_flight: AtomicUsize::new(0),
            assign_lock: tokio::sync::Mutex::new(()),
            session_counter: AtomicU64::new(0),
            finished: Mutex::new(BTreeSet::new()),
            mailbox: crate::actions::Mailbox::default(),
            action_http: crate::actions::fetch_client(&cfg.actions)?,
            action_slots: Arc::new(tokio::sync::Semaphore::new(
                cfg.actions.max_concurrent.max(1),
            )),
            rate_limiter: crate::limits::RateLimiter::new(crate::limits::RateLimits {
                per_minute: cfg.auth.requests_per_minute,
                concurrent: cfg.auth.concurrent_actions,
            }),
            exclusions: Mutex::new(std::collections::HashMap::new()),
            boot_id: rand_core::RngCore::next_u64(&mut rand_core::OsRng),
            peer_boots: Mutex::new(vec![None; n]),
            stale_execution: Mutex::new(None),
            chain,
            nonce_chains,
            cfg,
        });
        if let Some(m) = node.cfg.misbehave {
            tracing::warn!(
                misbehaviour = ?m,
                "this node is built to MISBEHAVE (a test setting): never run it in a real network"
            );
        }
        tokio::spawn(Arc::clone(&node).outbox_loop(outbox_rx));
        tokio::spawn(Arc::clone(&node).heartbeat_loop());
        tokio::spawn(Arc::clone(&node).bootstrap_then_pool());
        for chain in &node.nonce_chains {
            tokio::spawn(Arc::clone(chain).poll_head());
        }
        Ok(node)
    }

    /// The root key share, once the DKG has run.
    pub fn key(&self) -> Option<Arc<KeyShare>> {
        self.key.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// This node's BLS share over `msg` (a decryption share when `msg` is
    /// an identity). A node built to misbehave signs another message.
    pub(crate) fn bls_share(
        &self,
        bls: &BlsKeyShare,
        msg: &[u8],
    ) -> Result<candela_bls::BlsSignatureShare, ApiError> {
        let share = match self.cfg.misbehave {
            Some(Misbehaviour::BadBlsShare) => bls.sign_share(&Misbehaviour::corrupt_message(msg)),
            _ => bls.sign_share(msg),
        };
        share.map_err(ApiError::internal)
    }

    /// Leave `exclude` out of the signing sets of `request_id` (and of the
    /// signatures its action asks for) while the request runs; the guard
    /// forgets it.
    pub(crate) fn exclude_while(
        self: &Arc<Self>,
        request_id: &str,
        exclude: Vec<u32>,
    ) -> Option<ExclusionGuard> {
        if exclude.is_empty() {
            return None;
        }
        self.exclusions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(request_id.to_string(), exclude);
        Some(ExclusionGuard {
            node: Arc::clone(self),
            request_id: request_id.to_string(),
        })
    }

    /// The nodes excluded for `request_id` (an action's signature
    /// `{request id}:{sigName}` inherits its execution's).
    fn excluded_for(&self, request_id: &str) -> Vec<u32> {
        let base = request_id.split(':').next().unwrap_or(request_id);
        self.exclusions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(base)
            .cloned()
            .unwrap_or_default()
    }

    /// Tests only: what a node that misbehaves answers for an execution
    /// instead of `honest` (unchanged for an honest node).
    pub(crate) fn misbehave_execution(
        &self,
        mut honest: candela_api::v7::ExecuteResponse,
    ) -> candela_api::v7::ExecuteResponse {
        match self.cfg.misbehave {
            Some(Misbehaviour::WrongActionResponse) => {
                honest.response = Misbehaviour::wrong_response(&honest.response);
                honest
            }
            Some(Misbehaviour::StaleData) => {
                let mut last = self
                    .stale_execution
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                let previous = last.replace(honest.clone());
                previous.unwrap_or_else(|| {
                    honest.response = String::new();
                    honest.logs = String::new();
                    honest
                })
            }
            _ => honest,
        }
    }

    /// The BLS root key share, once its DKG has run.
    pub fn bls_key(&self) -> Option<Arc<BlsKeyShare>> {
        self.bls.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn live_set(&self) -> BTreeSet<u32> {
        let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let mut s: BTreeSet<u32> = live
            .iter()
            .enumerate()
            .filter(|(_, t)| t.is_some_and(|t| now.duration_since(t) < LIVE_WINDOW))
            .map(|(i, _)| i as u32)
            .collect();
        s.insert(self.me);
        s
    }

    /// Whether node `i` was seen to restart after `since` (its state of any
    /// session running then is gone).
    fn restarted_since(&self, i: u32, since: Instant) -> bool {
        let boots = self.peer_boots.lock().unwrap_or_else(|p| p.into_inner());
        matches!(boots.get(i as usize), Some(Some((_, Some(at)))) if *at > since)
    }

    /// How long node `i` has not answered a heartbeat (zero for this node).
    fn silent_for(&self, i: u32) -> Duration {
        if i == self.me {
            return Duration::ZERO;
        }
        let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        match live.get(i as usize).copied().flatten() {
            Some(t) => t.elapsed(),
            // never answered yet (this node just started): the session's own
            // timeout covers a participant that never shows up
            None => Duration::ZERO,
        }
    }

    /// Readiness and pool figures.
    pub fn status(&self) -> NodeStatus {
        let (free, used) = self.store.presignature_counts().unwrap_or((0, 0));
        let key = self.key();
        let bls = self.bls_key();
        NodeStatus {
            index: self.me,
            ready: key.is_some() && bls.is_some(),
            root_public_key: self.root_public_key_hex(),
            bls_public_key: bls.as_ref().map(|k| k.public_key_hex()),
            bls_public_shares: bls
                .map(|k| {
                    k.public_shares
                        .iter()
                        .map(|(i, p)| (*i, candela_bls::encoding::public_key_to_hex(p)))
                        .collect()
                })
                .unwrap_or_default(),
            presignatures_free: free,
            presignatures_used: used,
            presignatures_generated: self.stats.generated.load(Ordering::Relaxed),
            presign_seconds: self.stats.presign_ms.load(Ordering::Relaxed) as f64 / 1000.0,
            live_peers: self.live_set().into_iter().collect(),
        }
    }

    /// The identity key (hex).
    pub fn identity_key_hex(&self) -> String {
        self.identity.identity_key_hex()
    }

    // ---- peer transport ----

    pub(crate) async fn post_peer(
        &self,
        to: u32,
        body: &PeerBody,
    ) -> Result<reqwest::Response, reqwest::Error> {
        self.post_peer_within(to, body, Duration::from_millis(self.cfg.peer_timeout_ms))
            .await
    }

    async fn post_peer_within(
        &self,
        to: u32,
        body: &PeerBody,
        timeout: Duration,
    ) -> Result<reqwest::Response, reqwest::Error> {
        let url = format!("{}/peer/v1/message", self.nodes[to as usize].url);
        if self.cfg.misbehave == Some(Misbehaviour::SlowLinks) {
            tokio::time::sleep(Misbehaviour::SLOW_LINK_DELAY).await;
        }
        let bytes = self
            .directory
            .seal(&self.identity, self.me, to, now_ms(), body);
        self.http
            .post(url)
            .header("content-type", "application/octet-stream")
            .timeout(timeout)
            .body(bytes)
            .send()
            .await
    }

    async fn outbox_loop(self: Arc<Self>, mut rx: UnboundedReceiver<Outbound>) {
        while let Some(m) = rx.recv().await {
            let node = Arc::clone(&self);
            tokio::spawn(async move {
                let data = if m.private {
                    match node
                        .directory
                        .encrypt(&node.identity, node.me, m.to, &m.session, &m.data)
                    {
                        Ok(d) => d,
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot encrypt to node {}", m.to);
                            return;
                        }
                    }
                } else {
                    m.data
                };
                let body = PeerBody::Protocol {
                    session: m.session,
                    private: m.private,
                    data,
                };
                for attempt in 0..5u64 {
                    match node.post_peer(m.to, &body).await {
                        Ok(r) if r.status().is_success() => return,
                        Ok(r) => {
                            tracing::debug!(status = %r.status(), "peer {} refused a protocol message", m.to)
                        }
                        Err(e) => tracing::debug!(error = %e, "peer {} unreachable", m.to),
                    }
                    tokio::time::sleep(Duration::from_millis(100 * (attempt + 1))).await;
                }
            });
        }
    }

    /// Handle an authenticated message from a peer; returns a JSON reply.
    pub async fn handle_peer(
        self: &Arc<Self>,
        bytes: &[u8],
    ) -> Result<serde_json::Value, ApiError> {
        let (from, body) = self
            .directory
            .open(self.me, bytes, now_ms())
            .map_err(|e| ApiError::forbidden("PeerMessageRefused", e.to_string()))?;
        match body {
            PeerBody::Protocol {
                session,
                private,
                data,
            } => {
                let data = if private {
                    self.directory
                        .decrypt(&self.identity, self.me, from, &session, &data)
                        .map_err(|e| ApiError::forbidden("PeerMessageRefused", e.to_string()))?
                } else {
                    data
                };
                self.hub.deliver(&session, from, data);
                Ok(serde_json::json!({"ok": true}))
            }
            PeerBody::StartPresign {
                session,
                participants,
                count,
            } => {
                self.join_presign(from, session, participants, count as usize)?;
                Ok(serde_json::json!({"ok": true}))
            }
            PeerBody::Assign {
                request_id,
                exclude,
            } => {
                let a = self.assign_local(&request_id, &exclude).await?;
                Ok(serde_json::to_value(a).unwrap_or_default())
            }
            PeerBody::Collect {
                request_id,
                topic,
                value,
                private,
            } => {
                let value = if private {
                    let refused = |why: String| ApiError::forbidden("PeerMessageRefused", why);
                    let sealed = hex::decode(&value).map_err(|e| refused(e.to_string()))?;
                    let session = crate::actions::private_collect_session(&request_id, &topic);
                    let plain = self
                        .directory
                        .decrypt(&self.identity, self.me, from, &session, &sealed)
                        .map_err(|e| refused(e.to_string()))?;
                    String::from_utf8(plain).map_err(|e| refused(e.to_string()))?
                } else {
                    value
                };
                self.deliver_collect(from, &request_id, &topic, value);
                Ok(serde_json::json!({"ok": true}))
            }
        }
    }

    async fn heartbeat_loop(self: Arc<Self>) {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tick.tick().await;
            let mut pings = Vec::new();
            for (i, n) in self.nodes.iter().enumerate() {
                if i as u32 == self.me {
                    continue;
                }
                let req = self
                    .http
                    .get(format!("{}/peer/v1/ping", n.url))
                    .timeout(Duration::from_millis(1500));
                pings.push(async move {
                    let boot = match req.send().await {
                        Ok(r) if r.status().is_success() => Some(
                            r.text()
                                .await
                                .ok()
                                .and_then(|t| t.trim().parse::<u64>().ok()),
                        ),
                        _ => None,
                    };
                    (i, boot)
                });
            }
            for (i, boot) in futures_join_all(pings).await {
                let Some(boot) = boot else { continue };
                self.live.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(Instant::now());
                if let Some(boot) = boot {
                    let mut boots = self.peer_boots.lock().unwrap_or_else(|p| p.into_inner());
                    match boots[i] {
                        Some((seen, _)) if seen != boot => {
                            tracing::info!(node = i, "peer restarted");
                            boots[i] = Some((boot, Some(Instant::now())));
                        }
                        Some(_) => {}
                        None => boots[i] = Some((boot, None)),
                    }
                }
            }
            self.hub.gc();
            self.mailbox.gc();
        }
    }

    // ---- root key generation ----

    async fn bootstrap_then_pool(self: Arc<Self>) {
        let ecdsa = |parts: &[u32], me: u32, t: usize| CaitSith::keygen(parts, me, t);
        let share = self
            .generate_root("dkg-ecdsa-root", ROOT_SECRET, || self.key(), ecdsa)
            .await;
        if let Some(share) = share {
            tracing::info!(root = %derive::public_key_hex(&share.public_key), "root key generated");
            *self.key.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(share));
        }
        let bls = |parts: &[u32], me: u32, t: usize| {
            candela_bls::keygen(parts, me, t, b"candela-bls-root")
        };
        let share = self
            .generate_root("dkg-bls-root", BLS_SECRET, || self.bls_key(), bls)
            .await;
        if let Some(share) = share {
            tracing::info!(root = %share.public_key_hex(), "BLS root key generated");
            *self.bls.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(share));
        }
        self.pool_loop().await;
    }

    /// Run a DKG among every node of the set until it succeeds, unless
    /// `existing` already has the key; the share is stored sealed before it
    /// is returned.
    async fn generate_root<T, E, S>(
        &self,
        name: &str,
        secret_name: &str,
        existing: impl Fn() -> Option<E>,
        start: S,
    ) -> Option<T>
    where
        T: Send + 'static + RootShare,
        S: Fn(&[u32], u32, usize) -> Result<BoxedSession<T>, candela_crypto::CryptoError>,
    {
        let mut attempt = 0u32;
        while existing().is_none() {
            // A DKG over every node of the set: wait until all are reachable.
            if self.live_set().len() < self.nodes.len() {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            let parts: Vec<u32> = (0..self.nodes.len() as u32).collect();
            let session = format!("{name}-{attempt}");
            tracing::info!(%session, "starting distributed key generation");
            let proto = match start(&parts, self.me, self.threshold) {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(error = %e, "cannot start keygen");
                    return None;
                }
            };
            let run = self.hub.run(
                session.clone(),
                self.me,
                parts,
                proto,
                self.outbox.clone(),
                Duration::from_secs(60),
            );
            match run {
                Ok(rx) => match rx.await {
                    Ok(Ok(share)) => {
                        if let Err(e) = self.store.put_secret(secret_name, &share.sealed_bytes()) {
                            tracing::error!(error = %e, "cannot store key share");
                            return None;
                        }
                        return Some(share);
                    }
                    Ok(Err(e)) => tracing::warn!(error = %e, %session, "keygen failed; retrying"),
                    Err(_) => tracing::warn!(%session, "keygen thread vanished"),
                },
                Err(e) => tracing::warn!(error = %e, "keygen not started"),
            }
            attempt += 1;
        }
        None
    }

    // ---- presignature pool ----

    fn is_pool_leader(&self) -> bool {
        let live = self.live_set();
        (0..self.me).all(|i| !live.contains(&i))
    }

    async fn pool_loop(self: Arc<Self>) {
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        loop {
            tick.tick().await;
            if !self.is_pool_leader() {
                continue;
            }
            let Some(key) = self.key() else { continue };
            let (free, _) = self.store.presignature_counts().unwrap_or((0, 0));
            let batch = self.cfg.pool.batch.max(1);
            let running = self.in_flight.load(Ordering::SeqCst);
            if free as usize + running * batch >= self.cfg.pool.target
                || running >= self.cfg.pool.refill_concurrency.max(1)
            {
                continue;
            }
            let parts: Vec<u32> = self.live_set().into_iter().collect();
            if parts.len() < self.threshold {
                continue;
            }
            let seq = self.session_counter.fetch_add(1, Ordering::SeqCst);
            let session = format!("presign-{}-{}-{}", self.me, now_ms(), seq);
            self.in_flight.fetch_add(1, Ordering::SeqCst);
            let node = Arc::clone(&self);
            tokio::spawn(async move {
                node.lead_presign(session, parts, batch, key).await;
                node.in_flight.fetch_sub(1, Ordering::SeqCst);
            });
        }
    }

    async fn lead_presign(
        self: &Arc<Self>,
        session: String,
        parts: Vec<u32>,
        count: usize,
        _key: Arc<KeyShare>,
    ) {
        let body = PeerBody::StartPresign {
            session: session.clone(),
            participants: parts.clone(),
            count: count as u32,
        };
        let mut calls = Vec::new();
        for &p in parts.iter().filter(|&&p| p != self.me) {
            let body = body.clone();
            let node = Arc::clone(self);
            calls.push(async move {
                (
                    p,
                    node.post_peer(p, &body)
                        .await
                        .map(|r| r.status().is_success())
                        .unwrap_or(false),
                )
            });
        }
        let answers = futures_join_all(calls).await;
        if let Some((p, _)) = answers.iter().find(|(_, ok)| !ok) {
            tracing::debug!(%session, "node {p} did not join; abandoning session");
            return;
        }
        if let Err(e) = self.join_presign(self.me, session.clone(), parts, count) {
            tracing::warn!(%session, error = %e.message, "cannot run own presign session");
            return;
        }
        // wait until our own session stores its output (join_presign spawns it)
        let deadline = Instant::now() + Duration::from_secs(self.cfg.pool.session_timeout_secs);
        while Instant::now() < deadline && !self.take_finished(&session) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn take_finished(&self, session: &str) -> bool {
        self.finished
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(session)
    }

    fn join_presign(
        self: &Arc<Self>,
        leader: u32,
        session: String,
        parts: Vec<u32>,
        count: usize,
    ) -> Result<(), ApiError> {
        if !session.starts_with(&format!("presign-{leader}-")) {
            return Err(ApiError::bad_request(
                "PeerMessageRefused",
                "session id does not name its leader",
            ));
        }
        if !parts.contains(&self.me)
            || parts.iter().any(|&p| p as usize >= self.nodes.len())
            || count == 0
            || count > 64
        {
            return Err(ApiError::bad_request(
                "PeerMessageRefused",
                "bad presign parameters",
            ));
        }
        let key = self
            .key()
            .ok_or_else(|| ApiError::unavailable("NodeNotReady", "root key not generated yet"))?;
        let proto = CaitSith::presign_batch(&parts, self.me, &key, count)
            .map_err(|e| ApiError::bad_request("PeerMessageRefused", e.to_string()))?;
        let rx = self
            .hub
            .run(
                session.clone(),
                self.me,
                parts.clone(),
                proto,
                self.outbox.clone(),
                Duration::from_secs(self.cfg.pool.session_timeout_secs),
            )
            .map_err(|e| ApiError::conflict("PeerMessageRefused", e.to_string()))?;
        let node = Arc::clone(self);
        let started = Instant::now();
        let watched = Arc::clone(self);
        let watch_start = started;
        let watch_session = session.clone();
        let watch_parts = parts.clone();
        let watchdog = tokio::spawn(async move {
            // A session cannot finish without every participant: cancel it
            // as soon as one stops answering heartbeats or restarted (a
            // restarted node lost the session's state).
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                if let Some(gone) = watch_parts.iter().find(|&&p| {
                    watched.silent_for(p) > SESSION_SILENCE
                        || watched.restarted_since(p, watch_start)
                }) {
                    watched
                        .hub
                        .cancel(&watch_session, &format!("participant {gone} is not live"));
                    return;
                }
            }
        });
        tokio::spawn(async move {
            let outcome = rx.await;
            watchdog.abort();
            match outcome {
                Ok(Ok(presigs)) => {
                    let items: Vec<(String, Vec<u32>, Vec<u8>)> = presigs
                        .iter()
                        .enumerate()
                        .map(|(j, p)| {
                            (
                                format!("{session}-{j}"),
                                p.participants.clone(),
                                p.to_bytes(),
                            )
                        })
                        .collect();
                    match node.store.insert_presignatures(&items) {
                        Ok(()) => {
                            node.stats
                                .generated
                                .fetch_add(items.len() as u64, Ordering::Relaxed);
                            node.stats
                                .presign_ms
                                .fetch_add(started.elapsed().as_millis() as u64, Ordering::Relaxed);
                        }
                        Err(e) => tracing::error!(error = %e, "cannot store presignatures"),
                    }
                }
                Ok(Err(e)) => tracing::warn!(%session, error = %e, "presign session failed"),
                Err(_) => {}
            }
            if leader == node.me {
                node.finished
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(session);
            }
        });
        Ok(())
    }

    // ---- coordination ----

    /// As coordinator: fix the presignature and signing set of a request.
    async fn assign_local(
        &self,
        request_id: &str,
        exclude: &[u32],
    ) -> Result<Assignment, ApiError> {
        // An empty pool is usually a refill away: queue briefly before refusing.
        let deadline = Instant::now() + Duration::from_millis(self.cfg.pool.assign_wait_ms);
        loop {
            match self.try_assign(request_id, exclude).await {
                Err(e) if e.code == "NodePresignaturePoolEmpty" && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
                other => return other,
            }
        }
    }

    async fn try_assign(&self, request_id: &str, exclude: &[u32]) -> Result<Assignment, ApiError> {
        let _guard = self.assign_lock.lock().await;
        let live = self.live_set();
        let t = self.threshold;
        let chosen = self
            .store
            .assign(request_id, |all| {
                // Leave out the nodes the client excludes (ones it caught
                // lying), unless too few makers would remain.
                let kept: Vec<u32> = all
                    .iter()
                    .copied()
                    .filter(|p| !exclude.contains(p))
                    .collect();
                let parts = if kept.len() >= t { &kept[..] } else { all };
                // Prefer nodes seen live; fill up from the other makers
                // rather than refuse (a slow heartbeat is not a dead node;
                // a dead signer makes the attempt fail and the client retry).
                let mut signers: Vec<u32> = parts
                    .iter()
                    .copied()
                    .filter(|p| live.contains(p))
                    .take(t)
                    .collect();
                for &p in parts {
                    if signers.len() < t && !signers.contains(&p) {
                        signers.push(p);
                    }
                }
                signers.sort_unstable();
                (signers.len() == t).then_some(signers)
            })
            .map_err(ApiError::internal)?;
        match chosen {
            Some((presignature_id, signers)) => Ok(Assignment {
                presignature_id,
                signers,
            }),
            None => Err(ApiError::unavailable(
                "NodePresignaturePoolEmpty",
                "no presignature available for the live nodes; try again shortly",
            )),
        }
    }

    /// Ask the coordinators, in index order, for this request's assignment.
    async fn assignment(self: &Arc<Self>, request_id: &str) -> Result<Assignment, ApiError> {
        let live = self.live_set();
        let exclude = self.excluded_for(request_id);
        let mut last = ApiError::unavailable("NodeNoCoordinator", "no coordinator reachable");
        for c in 0..self.nodes.len() as u32 {
            if !live.contains(&c) {
                continue;
            }
            if c == self.me {
                return self.assign_local(request_id, &exclude).await;
            }
            let body = PeerBody::Assign {
                request_id: request_id.to_string(),
                exclude: exclude.clone(),
            };
            let wait =
                Duration::from_millis(self.cfg.pool.assign_wait_ms + self.cfg.peer_timeout_ms);
            match self.post_peer_within(c, &body, wait).await {
                Ok(r) if r.status().is_success() => {
                    return r
                        .json::<Assignment>()
                        .await
                        .map_err(|e| ApiError::unavailable("NodeNoCoordinator", e.to_string()));
                }
                Ok(r) => {
                    let status = r.status();
                    let text = r.text().await.unwrap_or_default();
                    // the coordinator answered: its refusal is the answer
                    return Err(ApiError::from_peer(status.as_u16(), &text));
                }
                Err(e) => {
                    last = ApiError::unavailable(
                        "NodeNoCoordinator",
                        format!("coordinator {c} unreachable: {e}"),
                    )
                }
            }
        }
        Err(last)
    }

    // ---- signing ----

    /// `POST /web/pkp/sign/v1`: owner-authorised signing of a 32-byte digest.
    pub async fn pkp_sign(
        self: &Arc<Self>,
        request_id: &str,
        req: PkpSignRequest,
    ) -> Result<PkpSignResponse, ApiError> {
        let digest: [u8; 32] = req.to_sign.as_slice().try_into().map_err(|_| {
            ApiError::bad_request(
                "NodeInvalidToSign",
                format!("toSign must be 32 bytes, got {}", req.to_sign.len()),
            )
        })?;
        let pk = derive::parse_public_key(&req.pubkey)
            .map_err(|e| ApiError::bad_request("NodeInvalidPubkey", format!("pubkey: {e}")))?;
        let token = hex::encode(derive::token_id(&pk));
        let caller = self
            .authenticate(&req.auth_sig, Ability::PkpSigning, &token)
            .await?;
        let wallets = self
            .verified_wallets(req.auth_methods.as_deref().unwrap_or_default())
            .await?;
        let pkp = self.signable_pkp(&pk).await?;
        let cache = crate::permit::PermissionCache::new(self.registry.clone());
        let pkp = blocking(move || {
            cache
                .authorise_any(&pkp, std::iter::once(caller).chain(wallets))
                .map(|_| pkp)
        })
        .await?
        .map_err(permit_error)?;
        self.claim_request(request_id, "pkp-sign")?;
        self.sign_share(request_id, &digest, &pkp).await
    }

    /// Who asks, from the request's `authSig` (a wallet auth signature or a
    /// session signature made for this node) for `ability` on resource `id`,
    /// counted against that identity's rate limit.
    pub(crate) async fn authenticate(
        &self,
        auth: &AuthSig,
        ability: Ability,
        id: &str,
    ) -> Result<[u8; 20], ApiError> {
        let caller = self
            .with_block_nonces(|policy| {
                candela_api::session::verify_request_auth(
                    auth,
                    ability,
                    id,
                    &self.nodes[self.me as usize].url,
                    policy,
                    time::OffsetDateTime::now_utc(),
                )
            })
            .await
            .map_err(|e| ApiError::unauthorized("NodeInvalidAuthSig", e.to_string()))?;
        self.rate_limiter.request(caller.address, Instant::now())?;
        Ok(caller.address)
    }

    /// Run `verify` under this node's auth policy; when it stops at a block
    /// hash nonce the node has not looked up, look it up on the registry
    /// chain and run it again (a few times: a session may carry several
    /// capabilities). Lookups happen only after the signature that carries
    /// the nonce has verified.
    pub(crate) async fn with_block_nonces<T>(
        &self,
        verify: impl Fn(&AuthPolicy) -> Result<T, AuthError>,
    ) -> Result<T, AuthError> {
        use candela_api::auth::{BlockLookup, ChainBlocks};
        let policy = self.auth_policy();
        let mut result = verify(&policy);
        for _ in 0..4 {
            let Err(AuthError::UnknownBlock(hash)) = &result else {
                break;
            };
            let hash = hash.clone();
            let mut silent = Vec::new();
            for chain in &self.nonce_chains {
                if chain.lookup(&hash) != BlockLookup::NotLookedUp {
                    continue;
                }
                if let Err(e) = chain.learn(&hash).await {
                    tracing::warn!(error = %e, "cannot look a nonce's block up");
                    silent.push(chain.name().to_string());
                }
            }
            result = verify(&policy);
            if !silent.is_empty() && matches!(result, Err(AuthError::UnknownBlock(_))) {
                return Err(AuthError::StaleNonce(format!(
                    "{hash} ({} did not answer)",
                    silent.join(", ")
                )));
            }
        }
        result
    }

    /// The domain and nonce rules of this node.
    pub(crate) fn auth_policy(&self) -> AuthPolicy {
        AuthPolicy {
            allowed_domains: self.cfg.auth.allowed_domains.clone(),
            nonce_seed: self.nonce_seed(),
            chain_blocks: self
                .nonce_chains
                .iter()
                .map(|c| Arc::clone(c) as Arc<dyn candela_api::auth::ChainBlocks>)
                .collect(),
            bls_public_key: self.bls_key().map(|k| k.public_key_hex()),
        }
    }

    /// The input of the network nonce: the root public key, once generated.
    fn nonce_seed(&self) -> Option<String> {
        if !self.cfg.auth.check_nonce {
            return None;
        }
        self.root_public_key_hex()
    }

    /// The root ECDSA public key (SEC1 hex), once generated.
    fn root_public_key_hex(&self) -> Option<String> {
        self.key().map(|k| derive::public_key_hex(&k.public_key))
    }

    /// The nonce the handshake publishes (`latestBlockhash`): with an EVM
    /// registry, the registry chain's latest block hash; otherwise the
    /// network nonce of the current window.
    pub async fn latest_nonce(&self) -> Result<String, ApiError> {
        match &self.chain {
            Some(chain) => chain
                .latest_hash()
                .await
                .map_err(|e| ApiError::unavailable("NodeChainUnavailable", e.to_string())),
            None => Ok(self.current_nonce()),
        }
    }

    /// The network nonce of the current window (what nodes without an EVM
    /// registry publish, and what Candela's client computes itself).
    pub fn current_nonce(&self) -> String {
        let seed = self.root_public_key_hex().unwrap_or_default();
        candela_api::auth::network_nonce(
            &seed,
            candela_api::auth::nonce_window(time::OffsetDateTime::now_utc()),
        )
    }

    /// Record a request id once on this node; a second use is a replay (409).
    pub(crate) fn claim_request(&self, request_id: &str, kind: &str) -> Result<(), ApiError> {
        if !self
            .store
            .claim_request(request_id, kind)
            .map_err(ApiError::internal)?
        {
            return Err(ApiError::conflict(
                "NodeRequestReplayed",
                format!("request id {request_id} was already used"),
            ));
        }
        Ok(())
    }

    /// The PKP with this key, if the registry knows it and it is derived
    /// from the root key (checked by every node before it signs).
    pub(crate) async fn signable_pkp(
        &self,
        pk: &candela_crypto::AffinePoint,
    ) -> Result<PkpRecord, ApiError> {
        let key = self
            .key()
            .ok_or_else(|| ApiError::unavailable("NodeNotReady", "root key not generated yet"))?;
        let registry = self.registry.clone();
        let pk = *pk;
        let pkp = blocking(move || registry.by_public_key(&pk))
            .await?
            .map_err(registry_error)?;
        pkp.check_derivation(&key.public_key)
            .map_err(|e| ApiError::forbidden("NodePkpNotDerived", e.to_string()))?;
        Ok(pkp)
    }

    /// This node's share of a signature of `digest` with `pkp`, for a
    /// (unique, already authorised) `request_id`: the coordinator fixes the
    /// presignature and signing set, the presignature is marked used durably
    /// before the share is computed, and a node outside the signing set
    /// answers an empty share. Shared by `pkp/sign` and actions.
    pub(crate) async fn sign_share(
        self: &Arc<Self>,
        request_id: &str,
        digest: &[u8; 32],
        pkp: &PkpRecord,
    ) -> Result<PkpSignResponse, ApiError> {
        let pk = pkp.public_key;
        let tweak = derive::pkp_tweak(&pkp.key_id).map_err(ApiError::internal)?;
        let assignment = self.assignment(request_id).await?;
        let presig = match self.take_when_stored(&assignment, request_id).await? {
            Take::Taken(bytes) => Presignature::from_bytes(&bytes).map_err(ApiError::internal)?,
            Take::AlreadyUsed => {
                return Err(ApiError::conflict(
                    "NodePresignatureUsed",
                    format!(
                        "presignature {} was already used; retry with a new request id",
                        assignment.presignature_id
                    ),
                ))
            }
            Take::Missing if !assignment.signers.contains(&self.me) => {
                return Ok(self.sign_response(
                    digest,
                    &pk,
                    &tweak,
                    &assignment,
                    None,
                    String::new(),
                ));
            }
            Take::Missing => {
                return Err(ApiError::unavailable(
                    "NodePresignatureMissing",
                    format!(
                        "this node does not hold presignature {}",
                        assignment.presignature_id
                    ),
                ))
            }
        };
        let share = if assignment.signers.contains(&self.me) {
            let mut s = signature_share(&presig, self.me, &assignment.signers, &tweak, digest)
                .map_err(ApiError::internal)?;
            if self.cfg.misbehave == Some(Misbehaviour::BadEcdsaShare) {
                s += candela_crypto::Scalar::ONE;
            }
            hex::encode(scalar_to_bytes(&s))
        } else {
            String::new()
        };
        Ok(self.sign_response(digest, &pk, &tweak, &assignment, Some(&presig), share))
    }

    /// Take the assigned presignature; if this node's generation session is
    /// a moment behind the coordinator's, wait briefly for it to be stored.
    async fn take_when_stored(&self, a: &Assignment, request_id: &str) -> Result<Take, ApiError> {
        let deadline = Instant::now() + Duration::from_millis(3000);
        loop {
            let take = self
                .store
                .take_presignature(&a.presignature_id, request_id)
                .map_err(ApiError::internal)?;
            match take {
                Take::Missing if a.signers.contains(&self.me) && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                other => return Ok(other),
            }
        }
    }

    fn sign_response(
        &self,
        digest: &[u8; 32],
        pk: &candela_crypto::AffinePoint,
        tweak: &candela_crypto::Scalar,
        a: &Assignment,
        presig: Option<&Presignature>,
        share: String,
    ) -> PkpSignResponse {
        let commitments = presig
            .and_then(|p| signing_commitments(p, &a.signers).ok())
            .unwrap_or_default()
            .into_iter()
            .map(|(node, c)| CommitmentWire {
                node,
                k: hex::encode(point_to_bytes(&c.k, true)),
                sigma: hex::encode(point_to_bytes(&c.sigma, true)),
            })
            .collect();
        PkpSignResponse {
            success: true,
            signature_share: SignatureShareWire {
                digest: hex::encode(digest),
                share_index: self.me,
                signature_share: share,
                big_r: presig
                    .map(|p| hex::encode(point_to_bytes(&p.big_r, true)))
                    .unwrap_or_default(),
                public_key: hex::encode(point_to_bytes(pk, false)),
                sig_type: "K256".into(),
            },
            candela: ShareProof {
                presignature_id: a.presignature_id.clone(),
                signers: a.signers.clone(),
                tweak: hex::encode(scalar_to_bytes(tweak)),
                commitments,
            },
        }
    }
}

/// Forgets a request's exclusions when dropped.
pub(crate) struct ExclusionGuard {
    node: Arc<Node>,
    request_id: String,
}

impl Drop for ExclusionGuard {
    fn drop(&mut self) {
        self.node
            .exclusions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.request_id);
    }
}

/// Verify an auth signature now; the caller's address.
/// Run registry calls off the async workers: the EVM registry blocks on
/// JSON-RPC.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)
}

/// A registry failure as the API reports it: an unknown PKP is 404, bad
/// input 400, a chain that is down or slow 503.
pub(crate) fn registry_error(e: RegistryError) -> ApiError {
    match e {
        RegistryError::UnknownPkp(_) => ApiError::not_found("NodeUnknownPkp", e.to_string()),
        RegistryError::InvalidCid(_) | RegistryError::Invalid(_) => {
            ApiError::bad_request("NodeInvalidRegistryInput", e.to_string())
        }
        RegistryError::Chain(_) => ApiError::unavailable("NodeRegistryUnavailable", e.to_string()),
        other => ApiError::internal(other),
    }
}

/// A refused permission check as the API reports it (403), or the registry
/// failure behind it.
pub(crate) fn permit_error(e: crate::permit::PermitError) -> ApiError {
    match e {
        crate::permit::PermitError::Denied(why) => ApiError::forbidden("NodeUnauthorized", why),
        crate::permit::PermitError::Registry(e) => registry_error(e),
    }
}

fn load_storage_key(cfg: &NodeConfig) -> anyhow::Result<zeroize::Zeroizing<Vec<u8>>> {
    let text = match &cfg.storage_key_file {
        Some(p) => std::fs::read_to_string(p)?,
        None => std::env::var("CANDELA_STORAGE_KEY").map_err(|_| {
            anyhow::anyhow!("no storageKeyFile in the config and CANDELA_STORAGE_KEY is not set")
        })?,
    };
    let key = zeroize::Zeroizing::new(hex::decode(text.trim())?);
    if key.len() != 32 {
        anyhow::bail!("the storage key must be 32 bytes of hex");
    }
    Ok(key)
}

async fn futures_join_all<F>(futs: Vec<F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let mut set = tokio::task::JoinSet::new();
    for f in futs {
        set.spawn(f);
    }
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        if let Ok(v) = r {
            out.push(v);
        }
    }
    out
}
