//! Node configuration (a JSON file written by `candela devnet`).
use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Presignature pool settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PoolConfig {
    /// Free presignatures the pool leader keeps in stock.
    pub target: usize,
    /// Generation sessions the leader runs at once.
    pub refill_concurrency: usize,
    /// Presignatures per generation session (their triples run side by side).
    pub batch: usize,
    /// A generation session that has not finished by then is abandoned.
    pub session_timeout_secs: u64,
    /// The longest a request waits in line for a presignature when the pool
    /// is empty before it is refused; a client that says it waits less
    /// ([`candela_api::MAX_WAIT_HEADER`]) is answered before its deadline.
    pub assign_wait_ms: u64,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            target: 64,
            refill_concurrency: 2,
            batch: 4,
            session_timeout_secs: 120,
            assign_wait_ms: 20_000,
        }
    }
}

/// How actions run on this node: the sandbox limits (Lit's node defaults)
/// and the policy of the action's `fetch`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ActionsConfig {
    /// Wall-clock time of one run, in milliseconds.
    pub wall_time_ms: u64,
    /// Heap bytes of each JavaScript runtime.
    pub memory_bytes: usize,
    /// Bytes of an action's source code (also the upload cap).
    pub code_bytes: usize,
    /// Bytes of the response.
    pub response_bytes: usize,
    /// Bytes of console output per run.
    pub console_bytes: usize,
    /// `fetch` calls per run.
    pub fetches: u32,
    /// Signatures per run.
    pub signatures: u32,
    /// Depth of nested `Lit.Actions.call`.
    pub call_depth: u32,
    /// `broadcastAndCollect` calls per run.
    pub broadcasts: u32,
    /// Timeout of one `fetch`, in milliseconds.
    pub fetch_timeout_ms: u64,
    /// Largest `fetch` response body, in bytes.
    pub fetch_max_response_bytes: usize,
    /// Allow `fetch` to loopback addresses (devnets only; private and
    /// link-local addresses stay refused).
    pub fetch_allow_loopback: bool,
    /// How long `broadcastAndCollect`, `runOnce` and `signAndCombineEcdsa`
    /// wait for the other nodes, in milliseconds.
    pub collect_timeout_ms: u64,
    /// JSON-RPC URL per chain name, for `Lit.Actions.getRpcUrl`.
    pub rpc_urls: BTreeMap<String, String>,
    /// Actions this node runs at once; further executions are refused
    /// (503) until one finishes.
    pub max_concurrent: usize,
    /// Executions whose record (inputs, clock, fetch answers) this node
    /// keeps for `candela action replay`, newest first (0: none).
    pub record_runs: usize,
    /// Largest record kept, in bytes; a larger one is not kept.
    pub record_max_bytes: usize,
}

impl Default for ActionsConfig {
    fn default() -> Self {
        // the sandbox's own defaults (Lit's), so the two cannot drift apart
        let limits = candela_actions::Limits::default();
        ActionsConfig {
            wall_time_ms: limits.wall_time.as_millis() as u64,
            memory_bytes: limits.memory_bytes,
            code_bytes: limits.code_bytes,
            response_bytes: limits.response_bytes,
            console_bytes: limits.console_bytes,
            fetches: limits.fetches,
            signatures: limits.signatures,
            call_depth: limits.call_depth,
            broadcasts: limits.broadcasts,
            fetch_timeout_ms: 10_000,
            fetch_max_response_bytes: 10 * 1024 * 1024,
            fetch_allow_loopback: false,
            collect_timeout_ms: 10_000,
            rpc_urls: BTreeMap::new(),
            max_concurrent: 64,
            record_runs: 100,
            record_max_bytes: 4 * 1024 * 1024,
        }
    }
}

/// How requests authenticate, and how much one identity may ask.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AuthConfig {
    /// SIWE domains accepted; empty accepts any.
    pub allowed_domains: Vec<String>,
    /// Check that SIWE nonces are the network's (see the handshake's
    /// `latestBlockhash`).
    pub check_nonce: bool,
    /// JSON-RPC URLs of other chains whose recent block hashes are accepted
    /// as SIWE nonces besides the registry chain's: Ethereum mainnet here
    /// lets Lit JS SDK apps with internet access keep working past the
    /// SDK's first 30 s, when it takes its nonce from Lit's block indexer
    /// (an Ethereum block hash) instead of the handshake.
    pub nonce_chain_rpc_urls: Vec<String>,
    /// Requests one identity may make per minute (0: unlimited).
    pub requests_per_minute: u32,
    /// Actions one identity may run at once (0: unlimited).
    pub concurrent_actions: u32,
    /// Longest validity (`Expiration Time` - `Issued At`) of a wallet SIWE
    /// message presented on its own (a plain `authSig`, a wallet auth
    /// method), in seconds; one without `Expiration Time` is refused.
    pub max_auth_sig_lifetime_seconds: u64,
    /// Oldest `Issued At` of a wallet SIWE message presented on its own, in
    /// seconds before now.
    pub max_auth_sig_age_seconds: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            allowed_domains: Vec::new(),
            check_nonce: true,
            nonce_chain_rpc_urls: Vec::new(),
            requests_per_minute: 600,
            concurrent_actions: 16,
            max_auth_sig_lifetime_seconds: candela_api::auth::DEFAULT_MAX_AUTH_SIG_SECONDS
                .unsigned_abs(),
            max_auth_sig_age_seconds: candela_api::auth::DEFAULT_MAX_AUTH_SIG_SECONDS
                .unsigned_abs(),
        }
    }
}

/// Everything a node needs to start.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeConfig {
    /// Address to listen on, e.g. `127.0.0.1:7470`.
    pub listen: String,
    /// Directory for this node's database.
    pub data_dir: PathBuf,
    /// The registry: PKPs and their permissions, and the node set (this
    /// node finds its index there by its identity key) and threshold.
    pub registry: candela_api::network::RegistryLocation,
    /// This node's identity secrets.
    pub identity_file: PathBuf,
    /// The 32-byte storage key (hex) file; if absent, the environment
    /// variable `CANDELA_STORAGE_KEY` must hold it.
    #[serde(default)]
    pub storage_key_file: Option<PathBuf>,
    /// Presignature pool.
    #[serde(default)]
    pub pool: PoolConfig,
    /// Largest request body accepted, in bytes.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// How long a node waits for a peer's answer, in milliseconds.
    #[serde(default = "default_peer_timeout")]
    pub peer_timeout_ms: u64,
    /// Actions: limits and `fetch` policy.
    #[serde(default)]
    pub actions: ActionsConfig,
    /// Authentication and per-identity rate limits.
    #[serde(default)]
    pub auth: AuthConfig,
    /// Tests only: make this node misbehave in one way, so that tests can
    /// check that clients survive it and name the node. Never set by
    /// default; a node with it set logs a warning at start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub misbehave: Option<Misbehaviour>,
    /// The threshold-ECDSA protocol of this network, fixed at genesis.
    #[serde(default)]
    pub ecdsa: EcdsaProtocol,
    /// Proactive refresh: every this many seconds (aligned to the Unix
    /// clock, so every node starts at the same moment) the nodes reshare
    /// every root key among themselves. Keys do not change; shares do.
    /// Absent or 0: no scheduled refresh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_interval_secs: Option<u64>,
    /// Kick votes: a member of the committee this node has not heard from
    /// for this many seconds gets this node's vote, in the registry, to be
    /// kicked out of the committee (the threshold of members' votes kicks
    /// it, and the keys move to the members that remain). Absent or 0: this
    /// node never votes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kick_after_secs: Option<u64>,
}

/// The threshold-ECDSA protocol a network runs, chosen at genesis.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EcdsaProtocol {
    /// cait-sith: presignatures made ahead of requests, one round at
    /// signing time.
    #[default]
    CaitSith,
    /// DKLs23: three rounds among exactly `t` signers once the digest is
    /// known; no presignature pool.
    Dkls23,
}

impl EcdsaProtocol {
    /// The name written to `network.json` (`ecdsaProtocol`).
    pub fn name(self) -> &'static str {
        match self {
            EcdsaProtocol::CaitSith => {
                <candela_crypto::session::CaitSith as candela_crypto::session::EcdsaBackend>::NAME
            }
            EcdsaProtocol::Dkls23 => DKLS23_NAME,
        }
    }
}

/// The `ecdsaProtocol` name of a DKLs23 network.
pub const DKLS23_NAME: &str = "DKLs23 (dkls23 0.6)";

/// How a node built to misbehave (tests only) lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Misbehaviour {
    /// BLS shares (decryption and PKP-session shares) over the wrong message:
    /// well-formed points that fail verification.
    BadBlsShare,
    /// ECDSA signature shares (`pkp/sign` and an action's `signEcdsa`) off
    /// by one: well-formed scalars that fail verification against the
    /// presignature commitments.
    BadEcdsaShare,
    /// Schnorr (FROST) signature shares made for another message:
    /// well-formed shares that fail verification.
    BadSchnorrShare,
    /// Executions answer a different `response` than the action set.
    WrongActionResponse,
    /// Executions answer from a stale view: the response and logs of the
    /// previous execution this node ran (an empty response before the
    /// first), as a node serving a cached old answer would.
    StaleData,
    /// As coordinator, this node signs a different assignment (another
    /// presignature) for every node that asks about one request.
    LyingCoordinator,
    /// Every peer message and every HTTP answer of this node is delayed by
    /// [`Misbehaviour::SLOW_LINK_DELAY`] (a slow network link).
    SlowLinks,
}

impl Misbehaviour {
    /// How much a node with [`Misbehaviour::SlowLinks`] delays its messages.
    pub const SLOW_LINK_DELAY: std::time::Duration = std::time::Duration::from_millis(300);

    /// The response a node with [`Misbehaviour::WrongActionResponse`]
    /// answers instead of `response`.
    pub fn wrong_response(response: &str) -> String {
        format!("{response}/byzantine")
    }

    /// The message a lying node signs instead of `msg`.
    pub fn corrupt_message(msg: &[u8]) -> Vec<u8> {
        let mut m = msg.to_vec();
        m.extend_from_slice(b"/byzantine");
        m
    }
}

fn default_max_body() -> usize {
    1024 * 1024
}

fn default_peer_timeout() -> u64 {
    2000
}
