//! Node configuration (a JSON file written by `candela devnet`).
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
    /// How long the coordinator waits for a presignature when the pool is
    /// empty before refusing a request.
    pub assign_wait_ms: u64,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            target: 64,
            refill_concurrency: 2,
            batch: 4,
            session_timeout_secs: 120,
            assign_wait_ms: 5000,
        }
    }
}

/// Everything a node needs to start.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeConfig {
    /// This node's index in the node set.
    pub index: u32,
    /// Address to listen on, e.g. `127.0.0.1:7470`.
    pub listen: String,
    /// Directory for this node's database.
    pub data_dir: PathBuf,
    /// The node set file (`nodes.json`).
    pub node_set: PathBuf,
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
}

fn default_max_body() -> usize {
    1024 * 1024
}

fn default_peer_timeout() -> u64 {
    2000
}
