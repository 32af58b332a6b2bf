//! The registry chain's recent blocks, for SIWE nonces (EVM registry only):
//! the handshake publishes the latest block hash as `latestBlockhash`, and
//! auth messages may carry any recent block hash of that chain as nonce
//! (the rule is [`candela_api::auth::block_nonce_fresh`]).
//!
//! A poller keeps the head fresh; a block hash a message names is looked up
//! once (`eth_getBlockByHash`) and remembered, so sessions stay valid across
//! node restarts for as long as the rule allows.
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use candela_api::auth::{BlockLookup, BlockStamp, ChainBlocks};
use candela_conditions::JsonRpcChainReader;
use serde_json::{json, Value};

/// The chain name of the registry chain in [`JsonRpcChainReader`].
const REGISTRY: &str = "registry";

/// How many looked-up block hashes a node remembers; past that it forgets
/// them all and looks up again (a bound on memory that callers cannot grow).
const MAX_REMEMBERED: usize = 100_000;

/// How often the head is read.
pub const HEAD_POLL: Duration = Duration::from_secs(1);

/// The registry chain as far as nonces need it.
#[derive(Debug)]
pub struct RegistryChain {
    reader: JsonRpcChainReader,
    head_number: AtomicU64,
    head_hash: Mutex<Option<String>>,
    blocks: Mutex<HashMap<String, Option<BlockStamp>>>,
}

/// Why the chain could not be read.
#[derive(Debug, thiserror::Error)]
#[error("registry chain: {0}")]
pub struct ChainReadError(String);

impl RegistryChain {
    /// The chain at JSON-RPC `rpc_url`.
    pub fn new(rpc_url: &str) -> Result<Self, ChainReadError> {
        let reader = JsonRpcChainReader::new(
            BTreeMap::from([(REGISTRY.to_string(), rpc_url.to_string())]),
            Duration::from_secs(5),
        )
        .map_err(|e| ChainReadError(e.to_string()))?;
        Ok(RegistryChain {
            reader,
            head_number: AtomicU64::new(0),
            head_hash: Mutex::new(None),
            blocks: Mutex::new(HashMap::new()),
        })
    }

    /// The latest block hash seen (`0x` hex), reading the chain if none was
    /// seen yet.
    pub async fn latest_hash(&self) -> Result<String, ChainReadError> {
        if let Some(h) = self.head_hash.lock().map_err(poisoned)?.clone() {
            return Ok(h);
        }
        self.refresh_head().await
    }

    /// Read the chain's latest block; returns its hash.
    pub async fn refresh_head(&self) -> Result<String, ChainReadError> {
        let block = self
            .reader
            .request(REGISTRY, "eth_getBlockByNumber", json!(["latest", false]))
            .await
            .map_err(|e| ChainReadError(e.to_string()))?;
        let (hash, stamp) =
            parse_block(&block).ok_or_else(|| ChainReadError(format!("not a block: {block}")))?;
        self.head_number.fetch_max(stamp.number, Ordering::Relaxed);
        *self.head_hash.lock().map_err(poisoned)? = Some(hash.clone());
        self.remember(hash.clone(), Some(stamp))?;
        Ok(hash)
    }

    /// Look `hash` (lowercase `0x` hex) up on the chain and remember what
    /// the chain said.
    pub async fn learn(&self, hash: &str) -> Result<(), ChainReadError> {
        let block = self
            .reader
            .request(REGISTRY, "eth_getBlockByHash", json!([hash, false]))
            .await
            .map_err(|e| ChainReadError(e.to_string()))?;
        let stamp = match &block {
            Value::Null => None,
            b => Some(
                parse_block(b)
                    .ok_or_else(|| ChainReadError(format!("not a block: {b}")))?
                    .1,
            ),
        };
        self.remember(hash.to_string(), stamp)
    }

    fn remember(&self, hash: String, stamp: Option<BlockStamp>) -> Result<(), ChainReadError> {
        let mut blocks = self.blocks.lock().map_err(poisoned)?;
        if blocks.len() >= MAX_REMEMBERED {
            blocks.clear();
        }
        blocks.insert(hash, stamp);
        Ok(())
    }

    /// Keep the head fresh until the process ends.
    pub async fn poll_head(self: Arc<Self>) {
        loop {
            if let Err(e) = self.refresh_head().await {
                tracing::debug!(error = %e, "registry chain head");
            }
            tokio::time::sleep(HEAD_POLL).await;
        }
    }
}

impl ChainBlocks for RegistryChain {
    fn head(&self) -> u64 {
        self.head_number.load(Ordering::Relaxed)
    }

    fn lookup(&self, hash: &str) -> BlockLookup {
        let Ok(blocks) = self.blocks.lock() else {
            return BlockLookup::NotLookedUp;
        };
        match blocks.get(hash) {
            Some(Some(stamp)) => BlockLookup::Block(*stamp),
            Some(None) => BlockLookup::NotOnChain,
            None => BlockLookup::NotLookedUp,
        }
    }
}

fn poisoned<T>(_: T) -> ChainReadError {
    ChainReadError("lock poisoned".into())
}

/// `(hash, stamp)` of a JSON-RPC block object.
fn parse_block(block: &Value) -> Option<(String, BlockStamp)> {
    let quantity = |k: &str| {
        let s = block.get(k)?.as_str()?;
        u64::from_str_radix(s.strip_prefix("0x")?, 16).ok()
    };
    let hash = block.get("hash")?.as_str()?.to_ascii_lowercase();
    Some((
        hash,
        BlockStamp {
            number: quantity("number")?,
            timestamp: i64::try_from(quantity("timestamp")?).ok()?,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_rpc_block_gives_its_hash_number_and_time() {
        let b = json!({"hash": "0xABCD", "number": "0x1f", "timestamp": "0x65000000"});
        let (hash, stamp) = parse_block(&b).expect("a block");
        assert_eq!(hash, "0xabcd");
        assert_eq!(stamp.number, 31);
        assert_eq!(stamp.timestamp, 0x6500_0000);
        assert!(parse_block(&json!({"hash": "0x1", "number": "12"})).is_none());
    }
}
