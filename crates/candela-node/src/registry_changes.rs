//! `POST /candela/registry/v1/change`: a registry change its owner signed
//! ([`SignedChange`]), applied by the node to the registry it writes (the
//! SQLite registry of a devnet), so that clients never write the nodes'
//! registry file themselves. On an EVM registry the node refuses: the
//! owner sends the change to the chain.
use std::sync::Arc;

use candela_crypto::derive;
use candela_registry::signed_op::SignedChange;
use candela_registry::PkpRecord;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::node::{blocking, now_ms, registry_error, Node};

/// A PKP as the change endpoint answers it.
pub fn record_json(rec: &PkpRecord) -> Value {
    json!({
        "tokenId": format!("0x{}", hex::encode(rec.token_id)),
        "keyId": format!("0x{}", hex::encode(rec.key_id)),
        "publicKey": derive::public_key_hex(&rec.public_key),
        "ethAddress": derive::checksum_address(&rec.eth_address()),
        "owner": derive::checksum_address(&rec.owner),
        "burned": rec.owner == candela_registry::BURNED_OWNER,
        "keyType": rec.key_type.as_str(),
    })
}

impl Node {
    /// Check and apply one signed change; `{"applied": true, "pkp": …}`
    /// (the PKP for a mint, else null).
    pub(crate) async fn apply_registry_change(
        self: &Arc<Self>,
        signed: SignedChange,
    ) -> Result<Value, ApiError> {
        let key = self
            .key()
            .ok_or_else(|| ApiError::unavailable("NodeNotReady", "root key not generated yet"))?;
        let registry = Arc::clone(&self.registry);
        let root = key.public_key;
        let minted = blocking(move || registry.apply_signed(&signed, &root, now_ms()))
            .await?
            .map_err(registry_error)?;
        Ok(json!({
            "applied": true,
            "pkp": minted.as_ref().map(record_json),
        }))
    }
}
