//! `Lit.Actions.callContract({chain, txn})`, as Lit's node answers it: `txn`
//! is an unsigned legacy transaction, RLP-encoded, as hex (`0x` optional; an
//! odd number of digits reads with a leading `0`), the way ethers'
//! `serializeTransaction` writes it: `[nonce, gasPrice, gasLimit, to,
//! value, data]`, optionally followed by the chain id (and EIP-155's two
//! empty fields). The node runs it as `eth_call` on the chain's RPC at the
//! latest block, with a 10,000,000 gas limit when the transaction gives
//! none (or 0), and answers the returned bytes as `0x` hex.
//!
//! The sandbox counts the calls (Lit's 30 per run, `Limits::contract_calls`).

use std::time::Duration;

use candela_actions::{Host, HostError};
use serde_json::{json, Map, Value};

use crate::actions::{json_rpc, ExecHost};

/// Lit's gas limit for a call whose transaction sets none.
pub const DEFAULT_GAS: u64 = 10_000_000;

/// Why a `callContract` transaction could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxnError {
    /// `txn` is not hex.
    #[error("failed to decode hex from str: {0}")]
    Hex(String),
    /// The bytes are not the RLP list of an unsigned transaction.
    #[error("invalid RLP transaction: {0}")]
    Rlp(&'static str),
}

/// One RLP item: a byte string or a list's payload.
enum Item<'a> {
    Bytes(&'a [u8]),
    List(&'a [u8]),
}

/// Reads one RLP item at the start of `data`; returns it and the rest.
fn item(data: &[u8]) -> Result<(Item<'_>, &[u8]), TxnError> {
    let err = TxnError::Rlp;
    let (&first, rest) = data.split_first().ok_or(err("unexpected end"))?;
    let long = |n: usize, rest: &[u8]| -> Result<(usize, usize), TxnError> {
        let len_bytes = rest.get(..n).ok_or(err("unexpected end"))?;
        if len_bytes.first() == Some(&0) {
            return Err(err("length with a leading zero"));
        }
        let len = len_bytes
            .iter()
            .try_fold(0usize, |acc, &b| {
                acc.checked_mul(256).map(|a| a + b as usize)
            })
            .ok_or(err("length too large"))?;
        if len < 56 {
            return Err(err("long form for a short length"));
        }
        Ok((n, len))
    };
    let (is_list, header, len) = match first {
        0x00..=0x7f => return Ok((Item::Bytes(&data[..1]), rest)),
        0x80..=0xb7 => (false, 0, (first - 0x80) as usize),
        0xb8..=0xbf => {
            let (n, len) = long((first - 0xb7) as usize, rest)?;
            (false, n, len)
        }
        0xc0..=0xf7 => (true, 0, (first - 0xc0) as usize),
        0xf8..=0xff => {
            let (n, len) = long((first - 0xf7) as usize, rest)?;
            (true, n, len)
        }
    };
    let body = rest.get(header..).ok_or(err("unexpected end"))?;
    let payload = body.get(..len).ok_or(err("unexpected end"))?;
    if !is_list && len == 1 && payload[0] < 0x80 {
        return Err(err("single byte not encoded as itself"));
    }
    let item = if is_list {
        Item::List(payload)
    } else {
        Item::Bytes(payload)
    };
    Ok((item, &body[len..]))
}

/// An RLP unsigned integer (at most 32 bytes, no leading zero) as `0x` hex.
fn quantity(bytes: &[u8]) -> Result<String, TxnError> {
    if bytes.len() > 32 {
        return Err(TxnError::Rlp("integer over 256 bits"));
    }
    if bytes.first() == Some(&0) {
        return Err(TxnError::Rlp("integer with a leading zero"));
    }
    let digits = hex::encode(bytes);
    let digits = digits.trim_start_matches('0');
    Ok(format!(
        "0x{}",
        if digits.is_empty() { "0" } else { digits }
    ))
}

/// The `eth_call` transaction object for `txn`, as Lit's node sends it
/// (no `from`; the chain id, if present, is read but not sent).
pub fn call_object(txn: &str) -> Result<Value, TxnError> {
    let digits = txn.strip_prefix("0x").unwrap_or(txn);
    let digits = if digits.len() % 2 == 1 {
        format!("0{digits}")
    } else {
        digits.to_string()
    };
    let raw = hex::decode(&digits).map_err(|e| TxnError::Hex(e.to_string()))?;
    let (Item::List(mut fields), _) = item(&raw)? else {
        return Err(TxnError::Rlp("not a list"));
    };
    let mut values = Vec::new();
    while !fields.is_empty() {
        let (field, rest) = item(fields)?;
        match field {
            Item::Bytes(b) => values.push(b),
            Item::List(_) => return Err(TxnError::Rlp("a list where a value belongs")),
        }
        fields = rest;
    }
    if values.len() < 6 {
        return Err(TxnError::Rlp("fewer than 6 fields"));
    }
    let mut call = Map::new();
    call.insert("nonce".into(), json!(quantity(values[0])?));
    call.insert("gasPrice".into(), json!(quantity(values[1])?));
    let gas = quantity(values[2])?;
    let gas = if gas == "0x0" {
        format!("0x{DEFAULT_GAS:x}")
    } else {
        gas
    };
    call.insert("gas".into(), json!(gas));
    match values[3].len() {
        0 => {}
        20 => {
            call.insert("to".into(), json!(format!("0x{}", hex::encode(values[3]))));
        }
        _ => return Err(TxnError::Rlp("`to` is not 20 bytes")),
    }
    call.insert("value".into(), json!(quantity(values[4])?));
    if !values[5].is_empty() {
        call.insert(
            "data".into(),
            json!(format!("0x{}", hex::encode(values[5]))),
        );
    }
    if let Some(chain_id) = values.get(6) {
        quantity(chain_id)?;
    }
    Ok(Value::Object(call))
}

impl ExecHost {
    /// `callContract`: `eth_call` of the action's transaction on `chain`.
    pub(crate) async fn call_contract(&self, args: &Value) -> Result<Value, HostError> {
        let chain = args["chain"].as_str().unwrap_or_default().to_string();
        let txn = args["txn"].as_str().unwrap_or_default();
        let call = call_object(txn).map_err(|e| HostError::failed(e.to_string()))?;
        let url = self.get_rpc_url(chain).await?;
        let result = json_rpc(
            &url,
            "eth_call",
            json!([call, "latest"]),
            Duration::from_millis(self.node.cfg.actions.fetch_timeout_ms),
        )
        .await
        .map_err(HostError::failed)?;
        let text = result
            .as_str()
            .ok_or_else(|| HostError::failed(format!("eth_call answered {result}")))?;
        let bytes = hex::decode(text.strip_prefix("0x").unwrap_or(text))
            .map_err(|e| HostError::failed(format!("eth_call answered {text}: {e}")))?;
        Ok(Value::String(format!("0x{}", hex::encode(bytes))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ethers v5 `serializeTransaction({ to, data })`: nonce, gas price and
    /// gas limit empty.
    #[test]
    fn reads_what_ethers_serialize_transaction_writes() {
        // [0x, 0x, 0x, to, 0x, 0x70a08231]
        let to = "5fbdb2315678afecb367f032d93f642f64180aa3";
        let txn = format!("0xde80808094{to}808470a08231");
        let call = call_object(&txn).expect("decodes");
        assert_eq!(
            call,
            json!({
                "nonce": "0x0", "gasPrice": "0x0", "gas": "0x989680",
                "to": format!("0x{to}"), "value": "0x0", "data": "0x70a08231",
            })
        );
        // with a gas limit and the chain id (EIP-155's 9 fields)
        let txn = format!("e5808082520894{to}808470a08231827a69 80 80").replace(' ', "");
        let call = call_object(&txn).expect("decodes");
        assert_eq!(call["gas"], "0x5208");
        assert_eq!(call.get("chainId"), None);
    }

    #[test]
    fn refuses_what_is_not_an_unsigned_transaction() {
        assert!(matches!(call_object("0xzz"), Err(TxnError::Hex(_))));
        assert!(matches!(
            call_object("0x80"),
            Err(TxnError::Rlp("not a list"))
        ));
        assert!(matches!(call_object("0xc3808080"), Err(TxnError::Rlp(_))));
        // truncated
        assert!(matches!(call_object("0xdd8080"), Err(TxnError::Rlp(_))));
    }
}
