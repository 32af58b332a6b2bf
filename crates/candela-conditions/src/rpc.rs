//! [`JsonRpcChainReader`]: chain reads over Ethereum JSON-RPC with reqwest.

use std::collections::BTreeMap;
use std::time::Duration;

use alloy::primitives::{Address, U256};
use async_trait::async_trait;
use serde_json::{json, Value};

use crate::error::ChainError;
use crate::eval::ChainReader;

/// The default time limit of one JSON-RPC request.
pub const DEFAULT_RPC_TIMEOUT: Duration = Duration::from_secs(10);

/// A [`ChainReader`] that sends JSON-RPC requests to one URL per chain name.
#[derive(Debug, Clone)]
pub struct JsonRpcChainReader {
    urls: BTreeMap<String, String>,
    client: reqwest::Client,
}

impl JsonRpcChainReader {
    /// A reader for `urls` (chain name → JSON-RPC URL) whose requests
    /// (connection included) give up after `timeout`.
    pub fn new(urls: BTreeMap<String, String>, timeout: Duration) -> Result<Self, ChainError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| ChainError::Unreachable {
                chain: String::new(),
                url: String::new(),
                message: format!("cannot build the HTTP client: {e}"),
            })?;
        Ok(JsonRpcChainReader { urls, client })
    }

    /// The configured chain names.
    pub fn chains(&self) -> impl Iterator<Item = &str> {
        self.urls.keys().map(String::as_str)
    }

    /// Sends one JSON-RPC request to `chain` and returns its `result`.
    pub async fn request(
        &self,
        chain: &str,
        method: &str,
        params: Value,
    ) -> Result<Value, ChainError> {
        let url = self
            .urls
            .get(chain)
            .ok_or_else(|| ChainError::NotConfigured(chain.to_string()))?;
        let unreachable = |message: String| ChainError::Unreachable {
            chain: chain.to_string(),
            url: url.clone(),
            message,
        };
        let bad = |message: String| ChainError::BadResponse {
            chain: chain.to_string(),
            method: method.to_string(),
            message,
        };
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let response = self
            .client
            .post(url)
            .json(&body)
            .send()
            .await
            .map_err(|e| {
                unreachable(if e.is_timeout() {
                    format!("no answer within the time limit ({e})")
                } else {
                    e.to_string()
                })
            })?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let answer: Value = serde_json::from_str(&text).map_err(|_| {
            if status.is_success() {
                bad(format!("not JSON: {}", truncate(&text)))
            } else {
                unreachable(format!("HTTP {status}: {}", truncate(&text)))
            }
        })?;
        if let Some(err) = answer.get("error").filter(|e| !e.is_null()) {
            let mut message = err
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("unknown error")
                .to_string();
            if let Some(data) = err.get("data").filter(|d| !d.is_null()) {
                message.push_str(&format!(" (data: {data})"));
            }
            return Err(ChainError::Rpc {
                chain: chain.to_string(),
                method: method.to_string(),
                message,
            });
        }
        answer
            .get("result")
            .cloned()
            .ok_or_else(|| bad(format!("no result: {}", truncate(&text))))
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(200).collect()
}

fn hex_quantity(v: &Value) -> Option<U256> {
    let s = v.as_str()?.strip_prefix("0x")?;
    if s.is_empty() {
        return None;
    }
    U256::from_str_radix(s, 16).ok()
}

#[async_trait]
impl ChainReader for JsonRpcChainReader {
    async fn eth_call(
        &self,
        chain: &str,
        to: Address,
        data: Vec<u8>,
    ) -> Result<Vec<u8>, ChainError> {
        let result = self
            .request(
                chain,
                "eth_call",
                json!([{"to": to.to_string(), "data": format!("0x{}", hex::encode(data))}, "latest"]),
            )
            .await?;
        result
            .as_str()
            .and_then(|s| s.strip_prefix("0x"))
            .and_then(|s| hex::decode(s).ok())
            .ok_or_else(|| ChainError::BadResponse {
                chain: chain.to_string(),
                method: "eth_call".into(),
                message: format!("result {result} is not 0x-hex bytes"),
            })
    }

    async fn balance(&self, chain: &str, address: Address) -> Result<U256, ChainError> {
        let result = self
            .request(
                chain,
                "eth_getBalance",
                json!([address.to_string(), "latest"]),
            )
            .await?;
        hex_quantity(&result).ok_or_else(|| ChainError::BadResponse {
            chain: chain.to_string(),
            method: "eth_getBalance".into(),
            message: format!("result {result} is not a hex quantity"),
        })
    }

    async fn latest_timestamp(&self, chain: &str) -> Result<u64, ChainError> {
        let result = self
            .request(chain, "eth_getBlockByNumber", json!(["latest", false]))
            .await?;
        result
            .get("timestamp")
            .and_then(hex_quantity)
            .and_then(|t| u64::try_from(t).ok())
            .ok_or_else(|| ChainError::BadResponse {
                chain: chain.to_string(),
                method: "eth_getBlockByNumber".into(),
                message: "no hex timestamp in the latest block".into(),
            })
    }
}
