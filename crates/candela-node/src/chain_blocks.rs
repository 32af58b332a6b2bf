//! Chains whose recent block hashes are SIWE nonces: the registry chain
//! (EVM registry only), whose latest block hash the handshake publishes as
//! `latestBlockhash`, and any other chain the node is configured to accept
//! (`auth.nonceChainRpcUrls`, e.g. Ethereum mainnet, whose block hashes the
//! Lit JS SDK takes as nonces from Lit's block indexer once it has been
//! connected 30 s). Auth messages may carry any recent block hash of one of
//! them as nonce (the rule is [`candela_api::auth::block_nonce_fresh`],
//! judged against that chain's head).
//!
//! A poller keeps each head fresh; a block hash a message names is looked
//! up once per chain (`eth_getBlockByHash`) and remembered, so sessions stay
//! valid across node restarts for as long as the rule allows.
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use candela_api::auth::{BlockLookup, BlockStamp, ChainBlocks};
use candela_conditions::JsonRpcChainReader;
use serde_json::{json, Value};

/// How many looked-up block hashes a node remembers per chain; past that it
/// forgets them all and looks up again (a bound on memory that callers
/// cannot grow).
const MAX_REMEMBERED: usize = 100_000;

/// How often the registry chain's head is read.
pub const HEAD_POLL: Duration = Duration::from_secs(1);

/// How often the head of another nonce chain is read (a public chain's RPC
/// is not asked every second; Ethereum makes a block every 12 s).
pub const OTHER_HEAD_POLL: Duration = Duration::from_secs(12);

/// One chain as far as nonces need it.
#[derive(Debug)]
pub struct NonceChain {
    name: String,
    poll_every: Duration,
    reader: JsonRpcChainReader,
    head_number: AtomicU64,
    head_hash: Mutex<Option<String>>,
    blocks: Mutex<HashMap<String, Option<BlockStamp>>>,
}

/// Why the chain could not be read.
#[derive(Debug, thiserror::Error)]
#[error("chain {chain}: {message}")]
pub struct ChainReadError {
    chain: String,
    message: String,
}

impl NonceChain {
    /// The chain at JSON-RPC `rpc_url`, called `name` in logs and errors,
    /// whose head [`NonceChain::poll_head`] reads every `poll_every`.
    pub fn new(name: &str, rpc_url: &str, poll_every: Duration) -> Result<Self, ChainReadError> {
        let reader = JsonRpcChainReader::new(
            BTreeMap::from([(name.to_string(), rpc_url.to_string())]),
            Duration::from_secs(5),
        )
        .map_err(|e| ChainReadError {
            chain: name.to_string(),
            message: e.to_string(),
        })?;
        Ok(NonceChain {
            name: name.to_string(),
            poll_every,
            reader,
            head_number: AtomicU64::new(0),
            head_hash: Mutex::new(None),
            blocks: Mutex::new(HashMap::new()),
        })
    }

    /// The latest block hash seen (`0x` hex), reading the chain if none was
    /// seen yet.
    pub async fn latest_hash(&self) -> Result<String, ChainReadError> {
        if let Some(h) = self
            .head_hash
            .lock()
            .map_err(|_| self.error("lock poisoned"))?
            .clone()
        {
            return Ok(h);
        }
        self.refresh_head().await
    }

    /// The name the chain goes by in logs and errors.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn error(&self, message: impl std::fmt::Display) -> ChainReadError {
        ChainReadError {
            chain: self.name.clone(),
            message: message.to_string(),
        }
    }

    /// Read the chain's latest block; returns its hash.
    pub async fn refresh_head(&self) -> Result<String, ChainReadError> {
        let block = self
            .reader
            .request(&self.name, "eth_getBlockByNumber", json!(["latest", false]))
            .await
            .map_err(|e| self.error(e))?;
        let (hash, stamp) =
            parse_block(&block).ok_or_else(|| self.error(format!("not a block: {block}")))?;
        self.head_number.fetch_max(stamp.number, Ordering::Relaxed);
        *self
            .head_hash
            .lock()
            .map_err(|_| self.error("lock poisoned"))? = Some(hash.clone());
        self.remember(hash.clone(), Some(stamp))?;
        Ok(hash)
    }

    /// Look `hash` (lowercase `0x` hex) up on the chain and remember what
    /// the chain said.
    pub async fn learn(&self, hash: &str) -> Result<(), ChainReadError> {
        let block = self
            .reader
            .request(&self.name, "eth_getBlockByHash", json!([hash, false]))
            .await
            .map_err(|e| self.error(e))?;
        let stamp = match &block {
            Value::Null => None,
            b => Some(
                parse_block(b)
                    .ok_or_else(|| self.error(format!("not a block: {b}")))?
                    .1,
            ),
        };
        self.remember(hash.to_string(), stamp)
    }

    fn remember(&self, hash: String, stamp: Option<BlockStamp>) -> Result<(), ChainReadError> {
        let mut blocks = self
            .blocks
            .lock()
            .map_err(|_| self.error("lock poisoned"))?;
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
                tracing::debug!(error = %e, "nonce chain head");
            }
            tokio::time::sleep(self.poll_every).await;
        }
    }
}

impl ChainBlocks for NonceChain {
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
