//! Reading sources. The planning is pure (which blocks to ask for next,
//! which fires are due, whether a polled value changed, what an event looks
//! like); the IO (JSON-RPC, HTTP GET) is at the edge, in [`Chain`] and
//! [`fetch_value`].
use std::collections::BTreeMap;
use std::time::Duration;

use candela_conditions::JsonRpcChainReader;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::schedule::rfc3339;
use crate::store::NewEvent;

/// A failure reading a source (the source is read again at its next poll).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The chain's JSON-RPC endpoint failed or answered something unusable.
    #[error("{0}")]
    Chain(String),
    /// The polled URL failed or answered something unusable.
    #[error("{0}")]
    Http(String),
    /// What was read could not be recorded.
    #[error("recording what was read: {0}")]
    Record(String),
}

impl From<crate::store::StoreError> for SourceError {
    fn from(e: crate::store::StoreError) -> Self {
        SourceError::Record(e.to_string())
    }
}

/// How far a chain source has read: every block below `nextBlock` is
/// recorded; `lastLog` is the position `[block, logIndex]` of the last log
/// recorded (log sources).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainCursor {
    /// The next block to read.
    pub next_block: u64,
    /// The last log recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_log: Option<(u64, u64)>,
}

impl ChainCursor {
    /// As stored.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// Most blocks turned into events in one poll (the rest wait for the next).
pub const MAX_BLOCKS_PER_POLL: u64 = 100;
/// Largest polled body kept.
pub const MAX_POLL_BODY: usize = 1 << 20;

/// The next inclusive block range to read: from `next` up to the newest
/// block with `confirmations` blocks on top of it, at most `max` blocks.
pub fn next_range(next: u64, head: u64, confirmations: u64, max: u64) -> Option<(u64, u64)> {
    let safe = head.checked_sub(confirmations)?;
    if safe < next || max == 0 {
        return None;
    }
    Some((next, safe.min(next.saturating_add(max - 1))))
}

/// A hex quantity (`0x1a`) as a number.
pub fn quantity(v: &Value) -> Option<u64> {
    u64::from_str_radix(v.as_str()?.strip_prefix("0x")?, 16).ok()
}

fn numbers(obj: &Value, fields: &[&str]) -> Value {
    let mut out = obj.clone();
    if let Some(m) = out.as_object_mut() {
        for f in fields {
            if let Some(n) = m.get(*f).and_then(quantity) {
                m.insert((*f).to_string(), json!(n));
            }
        }
    }
    out
}

/// The event for a block as `eth_getBlockByNumber` returned it:
/// `{block}` with `number`, `timestamp`, `gasUsed`, `gasLimit`,
/// `baseFeePerGas` and `size` as JSON numbers, and `transactions` as hashes.
pub fn block_event(block: &Value) -> Result<NewEvent, SourceError> {
    let number = block
        .get("number")
        .and_then(quantity)
        .ok_or_else(|| SourceError::Chain(format!("block without a number: {block}")))?;
    let block = numbers(
        block,
        &[
            "number",
            "timestamp",
            "gasUsed",
            "gasLimit",
            "baseFeePerGas",
            "size",
        ],
    );
    Ok(NewEvent {
        key: format!("block-{number}"),
        payload: json!({ "block": block }),
    })
}

/// The event for a log as `eth_getLogs` returned it: `{log}` with
/// `blockNumber`, `logIndex` and `transactionIndex` as JSON numbers. Its key
/// is its position, `log-<block>-<index>`.
pub fn log_event(log: &Value) -> Result<(u64, u64, NewEvent), SourceError> {
    let block = log.get("blockNumber").and_then(quantity);
    let index = log.get("logIndex").and_then(quantity);
    let (Some(block), Some(index)) = (block, index) else {
        return Err(SourceError::Chain(format!(
            "log without blockNumber or logIndex: {log}"
        )));
    };
    Ok((
        block,
        index,
        NewEvent {
            key: format!("log-{block}-{index}"),
            payload: json!({
                "log": numbers(log, &["blockNumber", "logIndex", "transactionIndex"])
            }),
        },
    ))
}

/// A chain read over JSON-RPC (the same reader access-control conditions
/// use).
pub struct Chain {
    reader: JsonRpcChainReader,
    name: String,
}

impl Chain {
    /// A chain at `rpc_url`, known in errors as `name`.
    pub fn new(name: &str, rpc_url: &str) -> Result<Chain, SourceError> {
        let reader = JsonRpcChainReader::new(
            BTreeMap::from([(name.to_string(), rpc_url.to_string())]),
            Duration::from_secs(10),
        )
        .map_err(|e| SourceError::Chain(e.to_string()))?;
        Ok(Chain {
            reader,
            name: name.to_string(),
        })
    }

    async fn call(&self, method: &str, params: Value) -> Result<Value, SourceError> {
        self.reader
            .request(&self.name, method, params)
            .await
            .map_err(|e| SourceError::Chain(e.to_string()))
    }

    /// The newest block number.
    pub async fn head(&self) -> Result<u64, SourceError> {
        let v = self.call("eth_blockNumber", json!([])).await?;
        quantity(&v).ok_or_else(|| SourceError::Chain(format!("eth_blockNumber answered {v}")))
    }

    /// Block `n` (transaction hashes only).
    pub async fn block(&self, n: u64) -> Result<Value, SourceError> {
        let v = self
            .call("eth_getBlockByNumber", json!([format!("0x{n:x}"), false]))
            .await?;
        if v.is_null() {
            return Err(SourceError::Chain(format!("block {n} is not known yet")));
        }
        Ok(v)
    }

    /// Logs of `address` matching `topics` in blocks `from..=to`.
    pub async fn logs(
        &self,
        address: &str,
        topics: &[Option<Vec<String>>],
        from: u64,
        to: u64,
    ) -> Result<Vec<Value>, SourceError> {
        let topics: Vec<Value> = topics
            .iter()
            .map(|t| match t {
                None => Value::Null,
                Some(v) if v.len() == 1 => json!(v[0]),
                Some(v) => json!(v),
            })
            .collect();
        let v = self
            .call(
                "eth_getLogs",
                json!([{
                    "address": address,
                    "topics": topics,
                    "fromBlock": format!("0x{from:x}"),
                    "toBlock": format!("0x{to:x}"),
                }]),
            )
            .await?;
        match v {
            Value::Array(a) => Ok(a),
            other => Err(SourceError::Chain(format!("eth_getLogs answered {other}"))),
        }
    }
}

/// The value a poll looks at: the body's JSON (or its text when it is not
/// JSON and no pointer is asked for), or the value at `pointer` in it.
pub fn extract(body: &[u8], pointer: Option<&str>) -> Result<Value, SourceError> {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    match (pointer, json) {
        (None, Some(v)) => Ok(v),
        (None, None) => Ok(Value::String(String::from_utf8_lossy(body).into_owned())),
        (Some(p), Some(v)) => Ok(v.pointer(p).cloned().unwrap_or(Value::Null)),
        (Some(p), None) => Err(SourceError::Http(format!(
            "the body is not JSON, so pointer {p} cannot be read"
        ))),
    }
}

fn fingerprint(v: &Value) -> String {
    // serde_json's maps are sorted, so equal values serialise equally.
    hex::encode(Sha256::digest(v.to_string().as_bytes()))
}

/// A poll's decision: the event to record (if the value changed) and the
/// cursor to store (always).
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// The change, if any.
    pub event: Option<NewEvent>,
    /// The new cursor: `{hash, changes, value}`.
    pub cursor: Value,
}

/// Compare a polled value with the cursor of the previous poll. The first
/// value ever seen is the baseline, unless `fire_on_first`.
pub fn observe(
    url: &str,
    cursor: Option<&Value>,
    value: Value,
    fire_on_first: bool,
) -> Observation {
    let hash = fingerprint(&value);
    let prev_hash = cursor.and_then(|c| c.get("hash")).and_then(Value::as_str);
    let changes = cursor
        .and_then(|c| c.get("changes"))
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let previous = cursor
        .and_then(|c| c.get("value"))
        .cloned()
        .unwrap_or(Value::Null);
    let changed = match prev_hash {
        Some(h) => h != hash,
        None => fire_on_first,
    };
    let changes = changes + u64::from(changed);
    let event = changed.then(|| NewEvent {
        key: format!("change-{changes}"),
        payload: json!({"url": url, "value": value, "previous": previous, "change": changes}),
    });
    Observation {
        event,
        cursor: json!({"hash": hash, "changes": changes, "value": value}),
    }
}

/// GET `url` and extract the watched value (non-2xx answers and bodies over
/// [`MAX_POLL_BODY`] are errors).
pub async fn fetch_value(
    http: &reqwest::Client,
    url: &str,
    pointer: Option<&str>,
) -> Result<Value, SourceError> {
    let resp = http
        .get(url)
        .send()
        .await
        .map_err(|e| SourceError::Http(format!("GET {url}: {e}")))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(SourceError::Http(format!("GET {url} answered {status}")));
    }
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_POLL_BODY as u64)
    {
        return Err(SourceError::Http(format!(
            "GET {url}: body over {MAX_POLL_BODY} bytes"
        )));
    }
    let body = resp
        .bytes()
        .await
        .map_err(|e| SourceError::Http(format!("GET {url}: reading the body: {e}")))?;
    if body.len() > MAX_POLL_BODY {
        return Err(SourceError::Http(format!(
            "GET {url}: body over {MAX_POLL_BODY} bytes"
        )));
    }
    extract(&body, pointer)
}

/// The event for a scheduled fire at `at` (ms), noticed at `now`.
pub fn fire_event(at: i64, now: i64) -> NewEvent {
    NewEvent {
        key: format!("fire-{at}"),
        payload: json!({
            "scheduledAt": rfc3339(at),
            "scheduledAtMs": at,
            "firedAt": rfc3339(now),
        }),
    }
}

/// The event for a webhook: its body (JSON, or text when not JSON).
pub fn webhook_event(key: String, body: &[u8], now: i64) -> NewEvent {
    let body = serde_json::from_slice::<Value>(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()));
    let mut payload = Map::new();
    payload.insert("body".into(), body);
    payload.insert("receivedAt".into(), json!(rfc3339(now)));
    NewEvent {
        key,
        payload: Value::Object(payload),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_ranges_follow_the_head_minus_confirmations_in_bounded_steps() {
        assert_eq!(next_range(5, 4, 0, 10), None, "nothing new");
        assert_eq!(next_range(5, 5, 0, 10), Some((5, 5)));
        assert_eq!(next_range(5, 7, 2, 10), Some((5, 5)));
        assert_eq!(next_range(5, 6, 2, 10), None, "not deep enough yet");
        assert_eq!(
            next_range(0, 1, 5, 10),
            None,
            "head shallower than confirmations"
        );
        assert_eq!(next_range(5, 1000, 0, 10), Some((5, 14)));
        assert_eq!(next_range(5, 1000, 0, 1), Some((5, 5)));
        assert_eq!(
            next_range(u64::MAX - 1, u64::MAX, 0, 10),
            Some((u64::MAX - 1, u64::MAX))
        );
    }

    #[test]
    fn a_chain_cursor_is_stored_as_next_block_and_last_log() {
        let c = ChainCursor {
            next_block: 9,
            last_log: Some((8, 2)),
        };
        assert_eq!(c.to_json(), json!({"nextBlock": 9, "lastLog": [8, 2]}));
        assert_eq!(
            serde_json::from_value::<ChainCursor>(c.to_json()).unwrap(),
            c
        );
        let fresh: ChainCursor = serde_json::from_value(json!({"nextBlock": 3})).unwrap();
        assert_eq!(fresh.last_log, None);
    }

    #[test]
    fn block_and_log_events_have_numbers_and_position_keys() {
        let b =
            block_event(&json!({"number": "0x1a", "timestamp": "0x10", "hash": "0xab"})).unwrap();
        assert_eq!(b.key, "block-26");
        assert_eq!(
            b.payload,
            json!({"block": {"number": 26, "timestamp": 16, "hash": "0xab"}})
        );
        let (blk, idx, l) =
            log_event(&json!({"blockNumber": "0x2", "logIndex": "0x3", "data": "0x"})).unwrap();
        assert_eq!((blk, idx, l.key.as_str()), (2, 3, "log-2-3"));
        assert_eq!(l.payload["log"]["logIndex"], json!(3));
        assert!(log_event(&json!({"data": "0x"})).is_err());
        assert!(block_event(&json!({})).is_err());
    }

    #[test]
    fn a_poll_fires_only_when_the_watched_value_changes() {
        let url = "http://x";
        let first = observe(url, None, json!({"p": 1}), false);
        assert!(first.event.is_none(), "the first value is the baseline");
        let same = observe(url, Some(&first.cursor), json!({"p": 1}), false);
        assert!(same.event.is_none());
        let changed = observe(url, Some(&same.cursor), json!({"p": 2}), false);
        let e = changed.event.clone().unwrap();
        assert_eq!(e.key, "change-1");
        assert_eq!(e.payload["previous"], json!({"p": 1}));
        assert_eq!(e.payload["value"], json!({"p": 2}));
        // Back to an earlier value is a new change, with its own key.
        let back = observe(url, Some(&changed.cursor), json!({"p": 1}), false);
        assert_eq!(back.event.unwrap().key, "change-2");
        // fire_on_first makes the first value an event.
        assert_eq!(
            observe(url, None, json!(1), true).event.unwrap().key,
            "change-1"
        );
    }

    #[test]
    fn a_pointer_picks_the_part_of_the_body_that_matters() {
        let body = br#"{"price": 3, "ts": 99}"#;
        assert_eq!(extract(body, Some("/price")).unwrap(), json!(3));
        assert_eq!(extract(body, Some("/missing")).unwrap(), Value::Null);
        assert_eq!(extract(body, None).unwrap(), json!({"price": 3, "ts": 99}));
        assert_eq!(extract(b"plain text", None).unwrap(), json!("plain text"));
        assert!(extract(b"plain text", Some("/a")).is_err());
    }
}
