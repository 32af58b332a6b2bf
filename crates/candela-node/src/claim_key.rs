//! `Lit.Actions.claimKey({keyId})`, after Lit's v7 claim flow: the claimed
//! key's id is `keccak256("{actionCid}_{keyId}")` (the running action's CID,
//! then the caller's key id), each node signs it, and the execution's answer
//! carries the claim under `claimData[keyId]` as `{signature,
//! derivedKeyId}` (hex, no `0x`, as Lit's nodes write them). The action's
//! `claimKey` resolves to `"success"`.
//!
//! Lit's nodes sign with their staker wallet (an EIP-191 ECDSA signature
//! that Lit's PKP contract checks when the key is minted). Candela nodes
//! have no staker wallet: a node signs with its Ed25519 identity key (the
//! one `network.json` lists for it), over [`CLAIM_DOMAIN`] followed by the
//! 32 bytes of the derived key id, so that a claim signature can never be
//! read as any other message the identity key signs.

use candela_actions::HostError;
use ed25519_dalek::Signer;
use serde_json::{json, Value};

use crate::actions::ExecHost;

pub use candela_registry::claim::{claim_message, derived_key_id, CLAIM_DOMAIN};

impl ExecHost {
    /// `claimKey`: derive the key id, sign it, keep the claim for the
    /// execution's answer.
    pub(crate) async fn claim_key(&self, args: &Value) -> Result<Value, HostError> {
        let key_id = args["keyId"]
            .as_str()
            .filter(|k| !k.trim().is_empty())
            .ok_or_else(|| HostError::failed("keyId must not be blank"))?;
        if self.action_cid.is_empty() {
            return Err(HostError::failed(
                "Could not find IPFS ID for this action, aborting claim operation",
            ));
        }
        let derived = derived_key_id(&self.action_cid, key_id);
        let signature = self.node.identity.signing.sign(&claim_message(&derived));
        self.claims
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                key_id.to_string(),
                json!({
                    "signature": hex::encode(signature.to_bytes()),
                    "derivedKeyId": hex::encode(derived),
                }),
            );
        Ok(Value::String("success".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha3::{Digest, Keccak256};

    #[test]
    fn derived_key_id_is_keccak_of_cid_underscore_key_id() {
        let got = derived_key_id("QmA", "user-1");
        let want: [u8; 32] = Keccak256::digest(b"QmA_user-1").into();
        assert_eq!(got, want);
        assert_ne!(derived_key_id("QmB", "user-1"), got);
        assert!(claim_message(&got).starts_with(CLAIM_DOMAIN));
    }
}
