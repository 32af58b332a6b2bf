//! The node: its state, its background loops (heartbeats, root-key DKG,
//! presignature pool) and the signing logic behind the HTTP handlers.
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;
use candela_api::auth::{AuthError, AuthPolicy, AuthSig};
use candela_api::network::NodeInfo;
use candela_api::session::Ability;
use candela_api::v7::NodeStatus;
use candela_bls::BlsKeyShare;
use candela_crypto::derive;
use candela_crypto::session::KeyShare;
use candela_registry::{PkpRecord, RegisteredNodeSet, Registry, RegistryError};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use crate::config::{Misbehaviour, NodeConfig};
use crate::error::ApiError;
use crate::peer::{Identity, PeerBody};
use crate::runner::{Outbound, SessionHub};
use crate::store::Store;

mod dkls_keygen;
pub(crate) mod frost_keygen;
mod keygen;
mod pool;
mod refresh;
mod repair;
use keygen::{BLS_SECRET, ROOT_SECRET};

/// A generation session is cancelled when a participant was silent this long.
const SESSION_SILENCE: Duration = Duration::from_secs(10);

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[derive(Default)]
struct Stats {
    generated: AtomicU64,
    presign_ms: AtomicU64,
}

/// A running node.
pub struct Node {
    /// Configuration.
    pub cfg: NodeConfig,
    /// This node's index.
    pub me: u32,
    /// The node set and its keys, and the committee that holds the keys;
    /// swapped when the registry replaces a member or the committee moves
    /// to a new node set ([`crate::membership`]).
    pub(crate) members: RwLock<Arc<crate::membership::Members>>,
    pub(crate) identity: Identity,
    pub(crate) store: Store,
    pub(crate) registry: Arc<dyn Registry>,
    key: RwLock<Option<Arc<KeyShare>>>,
    /// DKLs23 state (a DKLs23 network's key share, its exclusions).
    pub(crate) dkls: crate::dkls_signing::DklsState,
    bls: RwLock<Option<Arc<BlsKeyShare>>>,
    pub(crate) hub: Arc<SessionHub>,
    pub(crate) outbox: UnboundedSender<Outbound>,
    pub(crate) http: reqwest::Client,
    /// Which peers are live and which restarted (heartbeats).
    pub(crate) liveness: crate::liveness::Liveness,
    /// Ids of the peer messages accepted inside their freshness window.
    pub(crate) replay: crate::peer::ReplayGuard,
    stats: Stats,
    in_flight: AtomicUsize,
    pub(crate) assign_lock: tokio::sync::Mutex<()>,
    /// Requests waiting for a presignature at this coordinator, served in
    /// arrival order (tokio's mutex is fair: first to wait, first served).
    pub(crate) pool_line: tokio::sync::Mutex<()>,
    /// How many requests are in [`Node::pool_line`].
    pub(crate) pool_waiting: AtomicUsize,
    session_counter: AtomicU64,
    finished: Mutex<BTreeSet<String>>,
    /// How many ECDSA root shares this node has installed in this process
    /// (the first, then one per refresh): presignature batches record it
    /// and are dropped when it changed before they finish.
    pub(crate) key_generation: Mutex<u64>,
    /// Held while the root shares are being reshared (a refresh, or a
    /// repair of this node or a peer): one reshare at a time.
    pub(crate) resharing: Arc<tokio::sync::Mutex<()>>,
    /// On a node that lost its shares: the public facts of the roots that
    /// its peers agreed on (see `node/repair.rs`).
    pub(crate) agreed_roots: Mutex<Vec<repair::RootPublics>>,
    /// Reshares this node accepted (id → requester, roots), and those their
    /// requester aborted.
    pub(crate) reshares: Mutex<repair::AcceptedReshares>,
    pub(crate) mailbox: crate::actions::Mailbox,
    /// Shared values waiting to go to each peer (see [`crate::outbox`]).
    pub(crate) outboxes: crate::outbox::Outboxes,
    pub(crate) action_http: reqwest::Client,
    pub(crate) action_slots: Arc<tokio::sync::Semaphore>,
    pub(crate) rate_limiter: Arc<crate::limits::RateLimiter>,
    /// Nodes a client asked to leave out of the signing sets of a request
    /// (by request id), for as long as the request runs.
    exclusions: Mutex<std::collections::HashMap<String, Vec<u32>>>,
    /// PKP records whose key this node has checked to derive from the root
    /// (key id, public key, token id): the root never changes, so a record
    /// checked once is not recomputed for every signature.
    derived_pkps: Mutex<std::collections::HashSet<Vec<u8>>>,
    /// Presignatures this node used, to tell their other participants.
    pub(crate) spent: crate::spent::SpentNotices,
    /// A random id of this run of the process, sent in signed pings and
    /// pongs: a peer that sees it change knows this node restarted.
    pub boot_id: u64,
    /// Tests only ([`Misbehaviour::StaleData`]): the last execution answer.
    stale_execution: Mutex<Option<candela_api::v7::ExecuteResponse>>,
    /// With an EVM registry (and nonce checks on): the registry chain's
    /// blocks, whose recent hashes are SIWE nonces.
    pub(crate) chain: Option<Arc<crate::chain_blocks::NonceChain>>,
    /// Every chain whose recent block hashes are SIWE nonces: the registry
    /// chain first (when there is one), then `auth.nonceChainRpcUrls`.
    nonce_chains: Vec<Arc<crate::chain_blocks::NonceChain>>,
    /// FROST roots, nonce pools and Schnorr assignments.
    pub(crate) schnorr: crate::schnorr::SchnorrState,
    /// The registry epoch whose committee holds the keys (the handshake's
    /// `epoch`); see [`crate::membership::held_epoch`].
    pub(crate) epoch: AtomicU64,
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
    set.node_infos()
}

/// The committee's members as clients see them (`network.json`): the node
/// set without its kicked members, each with its index.
pub fn committee_infos(set: &RegisteredNodeSet) -> Vec<NodeInfo> {
    set.committee_infos()
}

impl Node {
    /// Load keys and storage and start the background loops.
    pub fn start(cfg: NodeConfig) -> anyhow::Result<Arc<Node>> {
        let storage_key = load_storage_key(&cfg)?;
        let identity = load_identity(&cfg, &storage_key)?;
        let registry: Arc<dyn Registry> = Arc::from(candela_registry::open(&cfg.registry)?);
        let set = read_node_set(registry.as_ref())?;
        candela_crypto::check_threshold(set.committee().len(), set.threshold)
            .map_err(|e| anyhow::anyhow!("the registry's node set is refused: {e}"))?;
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
        let registered_wallet = set.nodes[me as usize].wallet_address;
        if registered_wallet != [0u8; 20] && registered_wallet != identity.wallet_address() {
            tracing::warn!(
                registered = %hex::encode(registered_wallet),
                own = %hex::encode(identity.wallet_address()),
                "the registry lists another wallet address for this node: its key claims will not count"
            );
        }
        let registry_committee = crate::membership::Committee::of_set(&set);
        let mut members =
            crate::membership::Members::with_committee(nodes, registry_committee.clone())?;
        std::fs::create_dir_all(&cfg.data_dir)?;
        let store = Store::open(&cfg.data_dir.join("node.sqlite"), &storage_key)?;
        let key = match store.get_secret(ROOT_SECRET)? {
            Some(bytes) => Some(Arc::new(KeyShare::from_bytes(&bytes)?)),
            None => None,
        };
        let dkls = crate::dkls_signing::DklsState::load(&store)?;
        let key = match (key, dkls.share()) {
            (None, Some(d)) => Some(Arc::new(crate::dkls_signing::root_key_share(&d)?)),
            (key, _) => key,
        };
        let bls = match store.get_secret(BLS_SECRET)? {
            Some(bytes) => Some(Arc::new(BlsKeyShare::from_bytes(&bytes)?)),
            None => None,
        };
        let schnorr = crate::schnorr::SchnorrState::load(&store)?;
        if let Some(b) = &bls {
            // restarted during an epoch change, before the keys moved: run
            // with the committee that holds them, and move them
            let held = crate::membership::Committee::holding(&b.public_shares, b.threshold);
            let registry = registry_committee;
            if held != registry {
                if held.span() <= members.nodes.len() {
                    members.committee = held.members.clone();
                    members.threshold = held.threshold;
                    members.target = Some(registry);
                } else {
                    // the committee shrank: the leaving members are no longer
                    // in the registry; the committee this node last ran with
                    // names them
                    match crate::membership::remembered_committee(&store)? {
                        Some(kept) if kept.len() == held.span() => {
                            let mut nodes = members.nodes.clone();
                            nodes.extend(kept[nodes.len()..].iter().cloned());
                            members =
                                crate::membership::Members::with_committee(nodes, held.clone())?;
                            members.target = Some(registry);
                        }
                        _ => tracing::warn!(
                            ?held,
                            ?registry,
                            "this node holds shares of a larger committee than the registry's, \
                             and does not know its leaving members: it waits to be repaired"
                        ),
                    }
                }
            }
        }
        if members.target.is_none() {
            crate::membership::remember_committee(&store, &members)?;
        }
        let node_count = members.nodes.len();
        let epoch = crate::membership::held_epoch(registry.epoch()?, members.target.is_some());
        let (outbox, outbox_rx) = unbounded_channel();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(cfg.peer_timeout_ms.max(500) * 5))
            .connect_timeout(Duration::from_millis(500))
            .pool_max_idle_per_host(32)
            .build()?;
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
            members: RwLock::new(Arc::new(members)),
            identity,
            store,
            registry,
            key: RwLock::new(key),
            dkls,
            bls: RwLock::new(bls),
            hub: Arc::new(SessionHub::default()),
            outbox,
            http,
            liveness: crate::liveness::Liveness::new(node_count, me),
            replay: crate::peer::ReplayGuard::default(),
            stats: Stats::default(),
            in_flight: AtomicUsize::new(0),
            assign_lock: tokio::sync::Mutex::new(()),
            pool_line: tokio::sync::Mutex::new(()),
            pool_waiting: AtomicUsize::new(0),
            session_counter: AtomicU64::new(0),
            finished: Mutex::new(BTreeSet::new()),
            key_generation: Mutex::new(0),
            resharing: Arc::new(tokio::sync::Mutex::new(())),
            agreed_roots: Mutex::new(Vec::new()),
            reshares: Mutex::new(Default::default()),
            mailbox: crate::actions::Mailbox::default(),
            outboxes: crate::outbox::Outboxes::default(),
            action_http: crate::actions::fetch_client(&cfg.actions)?,
            action_slots: Arc::new(tokio::sync::Semaphore::new(
                cfg.actions.max_concurrent.max(1),
            )),
            rate_limiter: crate::limits::RateLimiter::new(crate::limits::RateLimits {
                per_minute: cfg.auth.requests_per_minute,
                concurrent: cfg.auth.concurrent_actions,
            }),
            exclusions: Mutex::new(std::collections::HashMap::new()),
            derived_pkps: Mutex::new(std::collections::HashSet::new()),
            spent: crate::spent::SpentNotices::default(),
            boot_id: rand_core::RngCore::next_u64(&mut rand_core::OsRng),
            stale_execution: Mutex::new(None),
            chain,
            nonce_chains,
            schnorr,
            epoch: AtomicU64::new(epoch),
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
        tokio::spawn(Arc::clone(&node).spent_notice_loop());
        tokio::spawn(Arc::clone(&node).reconcile_presignatures());
        tokio::spawn(Arc::clone(&node).bootstrap_then_pool());
        tokio::spawn(Arc::clone(&node).refresh_loop());
        tokio::spawn(Arc::clone(&node).membership_loop());
        tokio::spawn(Arc::clone(&node).kick_vote_loop());
        for chain in &node.nonce_chains {
            tokio::spawn(Arc::clone(chain).poll_head());
        }
        Ok(node)
    }

    /// The node set this node runs with now.
    pub fn members(&self) -> Arc<crate::membership::Members> {
        self.members
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// How many members the committee holding the keys has.
    pub fn node_count(&self) -> usize {
        self.members().committee.len()
    }

    /// The members of the committee holding the keys, ascending.
    pub fn committee(&self) -> Vec<u32> {
        self.members().committee.clone()
    }

    /// Shares needed, in the committee holding the keys.
    pub fn threshold(&self) -> usize {
        self.members().threshold
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
    pub(crate) fn excluded_for(&self, request_id: &str) -> Vec<u32> {
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

    /// The registry epoch whose committee holds the keys.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Relaxed)
    }

    /// Readiness and pool figures.
    pub fn status(&self) -> NodeStatus {
        let (free, used) = self.store.presignature_counts().unwrap_or((0, 0));
        let key = self.key();
        let bls = self.bls_key();
        let (ed25519_public_key, k256_taproot_public_key) = self.schnorr.public_keys();
        let (schnorr_nonces_free, schnorr_nonces_used) = self.schnorr.nonce_counts();
        let refresh = self.refresh_state();
        NodeStatus {
            index: self.me,
            ready: key.is_some()
                && bls.is_some()
                && self.schnorr.ready()
                && self.store.reconciled(),
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
            chains: self.cfg.actions.rpc_urls.keys().cloned().collect(),
            ed25519_public_key,
            k256_taproot_public_key,
            frost_root_keys: self.schnorr.root_verifying_keys(),
            schnorr_nonces_free,
            schnorr_nonces_used,
            refresh_epoch: refresh.epoch,
            network_epoch: self.epoch(),
            refresh_digests: refresh.digests,
        }
    }

    /// The identity key (hex).
    pub fn identity_key_hex(&self) -> String {
        self.identity.identity_key_hex()
    }

    // ---- peer transport ----

    /// Send `body` to peer `to` and read its JSON answer: an unreachable
    /// peer or an unreadable answer is `unavailable` with `code`, a refusal
    /// the peer's own error.
    pub(crate) async fn ask_peer<T: serde::de::DeserializeOwned>(
        &self,
        to: u32,
        body: &PeerBody,
        code: &'static str,
    ) -> Result<T, ApiError> {
        let r = self
            .post_peer(to, body)
            .await
            .map_err(|e| ApiError::unavailable(code, e.to_string()))?;
        if !r.status().is_success() {
            let status = r.status();
            let text = r.text().await.unwrap_or_default();
            return Err(ApiError::from_peer(status.as_u16(), &text));
        }
        r.json()
            .await
            .map_err(|e| ApiError::unavailable(code, e.to_string()))
    }

    pub(crate) async fn post_peer(
        &self,
        to: u32,
        body: &PeerBody,
    ) -> Result<reqwest::Response, reqwest::Error> {
        self.post_peer_within(to, body, Duration::from_millis(self.cfg.peer_timeout_ms))
            .await
    }

    pub(crate) async fn post_peer_within(
        &self,
        to: u32,
        body: &PeerBody,
        timeout: Duration,
    ) -> Result<reqwest::Response, reqwest::Error> {
        let url = format!("{}/peer/v1/message", self.members().nodes[to as usize].url);
        if self.cfg.misbehave == Some(Misbehaviour::SlowLinks) {
            tokio::time::sleep(Misbehaviour::SLOW_LINK_DELAY).await;
        }
        let bytes = self
            .members()
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
                    match node.members().directory.encrypt(
                        &node.identity,
                        node.me,
                        m.to,
                        &m.session,
                        &m.data,
                    ) {
                        Ok(d) => d,
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot encrypt to node {}", m.to);
                            return;
                        }
                    }
                } else {
                    m.data
                };
                // a session that needs every participant ends as soon as
                // one cannot be reached, so that its caller starts again
                // with another set at once
                let fail_fast = m.abort_if_unreachable;
                let session = m.session.clone();
                let body = PeerBody::Protocol {
                    session: m.session,
                    private: m.private,
                    data,
                };
                let mut unreachable = false;
                for attempt in 0..5u64 {
                    match node.post_peer(m.to, &body).await {
                        Ok(r) if r.status().is_success() => return,
                        Ok(r) => {
                            unreachable = false;
                            tracing::debug!(status = %r.status(), "peer {} refused a protocol message", m.to)
                        }
                        Err(e) => {
                            unreachable = true;
                            tracing::debug!(error = %e, "peer {} unreachable", m.to);
                            if fail_fast && attempt >= 1 {
                                break;
                            }
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(100 * (attempt + 1))).await;
                }
                if fail_fast {
                    if unreachable {
                        // out of the next signing sets until heard from again
                        node.peer_unreachable(m.to);
                    }
                    node.hub
                        .cancel(&session, &format!("participant {} cannot be reached", m.to));
                }
            });
        }
    }

    /// Handle a message from peer `from`, already authenticated (signed
    /// header, body hash, freshness, replay: see [`crate::peer::PeerReader`]);
    /// returns a JSON reply.
    pub async fn handle_peer(
        self: &Arc<Self>,
        from: u32,
        body: PeerBody,
    ) -> Result<serde_json::Value, ApiError> {
        match body {
            PeerBody::Protocol {
                session,
                private,
                data,
            } => {
                let data = if private {
                    self.members()
                        .directory
                        .decrypt(&self.identity, self.me, from, &session, &data)
                        .map_err(|e| ApiError::forbidden("PeerMessageRefused", e.to_string()))?
                } else {
                    data
                };
                self.hub.deliver(&session, from, data).map_err(|e| {
                    ApiError::new(
                        StatusCode::TOO_MANY_REQUESTS,
                        "PeerMessageRefused",
                        e.to_string(),
                    )
                })?;
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
                binding,
                wait_ms,
            } => {
                let wait_until = self.wait_until(wait_ms);
                let a = self
                    .assign_local(&request_id, &exclude, &binding, wait_until)
                    .await?;
                Ok(serde_json::to_value(a).unwrap_or_default())
            }
            PeerBody::Collect {
                request_id,
                topic,
                value,
                private,
            } => {
                self.receive_collect(
                    from,
                    crate::peer::CollectItem {
                        request_id,
                        topic,
                        value,
                        private,
                    },
                )?;
                Ok(serde_json::json!({"ok": true}))
            }
            PeerBody::Collects { items } => {
                // each value stands alone: one that does not open is
                // dropped and named, the others are delivered
                let mut refused = 0;
                for item in items {
                    if let Err(e) = self.receive_collect(from, item) {
                        tracing::warn!(from, error = %e.message, "a shared value refused");
                        refused += 1;
                    }
                }
                Ok(serde_json::json!({"ok": true, "refused": refused}))
            }
            PeerBody::SchnorrAssign {
                request_id,
                scheme,
                exclude,
                binding,
            } => {
                let a = self
                    .schnorr_assign_local(&request_id, &scheme, &exclude, &binding)
                    .await?;
                Ok(serde_json::to_value(a).unwrap_or_default())
            }
            PeerBody::SchnorrCommit { request_id, scheme } => {
                let c = self.schnorr_commit(&request_id, &scheme)?;
                Ok(serde_json::to_value(c).unwrap_or_default())
            }
            PeerBody::SchnorrCommitBatch { scheme, count } => {
                let batch = self.schnorr_commit_batch(from, &scheme, count)?;
                Ok(serde_json::to_value(batch).unwrap_or_default())
            }
            PeerBody::AbortReshare { id } => {
                self.abort_reshare(from, id);
                Ok(serde_json::json!({"ok": true}))
            }
            PeerBody::RootPublics => {
                Ok(serde_json::to_value(self.root_publics()).unwrap_or_default())
            }
            PeerBody::Repair {
                id,
                dealers,
                receivers,
                roots,
                new_members,
                new_threshold,
            } => self.accept_repair(
                from,
                id,
                dealers,
                receivers,
                roots,
                crate::membership::Committee {
                    members: new_members,
                    threshold: new_threshold as usize,
                },
            ),
            PeerBody::UsedQuery { challenge, ids } => self.answer_used_query(from, challenge, ids),
            PeerBody::PresignaturesSpent { uses } => self.accept_spent_notice(from, uses),
            PeerBody::Ping { .. } | PeerBody::Pong { .. } | PeerBody::UsedAnswer { .. } => {
                Err(ApiError::bad_request(
                    "PeerMessageRefused",
                    "pings go to /peer/v1/ping; answers are not messages",
                ))
            }
        }
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
        Ok(self.authenticate_caller(auth, ability, id).await?.address)
    }

    /// [`Node::authenticate`], answering what the request's credential
    /// grants besides who asks (see [`candela_api::session::Caller::allows`]).
    pub(crate) async fn authenticate_caller(
        &self,
        auth: &AuthSig,
        ability: Ability,
        id: &str,
    ) -> Result<candela_api::session::Caller, ApiError> {
        let caller = self
            .with_block_nonces(|policy| {
                candela_api::session::verify_request_auth(
                    auth,
                    ability,
                    id,
                    &self.members().nodes[self.me as usize].url,
                    policy,
                    time::OffsetDateTime::now_utc(),
                )
            })
            .await
            .map_err(|e| ApiError::unauthorized("NodeInvalidAuthSig", e.to_string()))?;
        self.rate_limiter.request(caller.address, Instant::now())?;
        Ok(caller)
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

    /// The domain, nonce and lifetime rules of this node.
    pub(crate) fn auth_policy(&self) -> AuthPolicy {
        AuthPolicy {
            max_lifetime: time::Duration::seconds(
                i64::try_from(self.cfg.auth.max_auth_sig_lifetime_seconds).unwrap_or(i64::MAX),
            ),
            max_age: time::Duration::seconds(
                i64::try_from(self.cfg.auth.max_auth_sig_age_seconds).unwrap_or(i64::MAX),
            ),
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
        let mut record = pkp.key_id.to_vec();
        record.extend_from_slice(&candela_crypto::derive::point_to_bytes(
            &pkp.public_key,
            false,
        ));
        record.extend_from_slice(&pkp.token_id);
        let known = self
            .derived_pkps
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&record);
        if !known {
            pkp.check_derivation(&key.public_key)
                .map_err(|e| ApiError::forbidden("NodePkpNotDerived", e.to_string()))?;
            let mut checked = self.derived_pkps.lock().unwrap_or_else(|p| p.into_inner());
            if checked.len() >= 65_536 {
                checked.clear();
            }
            checked.insert(record);
        }
        Ok(pkp)
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
        RegistryError::Chain(_) | RegistryError::Unfunded(_) => {
            ApiError::unavailable("NodeRegistryUnavailable", e.to_string())
        }
        RegistryError::NotOwner { .. } => ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "NodeNotPkpOwner",
            e.to_string(),
        ),
        RegistryError::Burned(_) => ApiError::conflict("NodePkpBurned", e.to_string()),
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

/// The node's identity, sealed at rest with the storage key; a plaintext
/// identity file (written by an older version) is sealed in place first.
fn load_identity(cfg: &NodeConfig, storage_key: &[u8]) -> anyhow::Result<Identity> {
    let (identity, origin) = Identity::load(&cfg.identity_file, storage_key)?;
    if origin == crate::peer::IdentityOrigin::Migrated {
        tracing::warn!(
            file = %cfg.identity_file.display(),
            "the identity file held the identity key in the clear: it is now sealed with the storage key"
        );
    }
    Ok(identity)
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

/// Run `futs` concurrently; their outputs in the order of `futs` (a future
/// that panicked is left out).
async fn futures_join_all<F>(futs: Vec<F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let mut set = tokio::task::JoinSet::new();
    for (i, f) in futs.into_iter().enumerate() {
        set.spawn(async move { (i, f.await) });
    }
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        if let Ok(v) = r {
            out.push(v);
        }
    }
    // in the order of `futs`, so callers can pair outputs with inputs
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, v)| v).collect()
}
