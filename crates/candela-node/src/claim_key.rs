//! `Lit.Actions.claimKey({keyId})`, after Lit's v7 claim flow: the claimed
//! key's id is `keccak256("{actionCid}_{keyId}")` (the running action's CID,
//! then the caller's key id), each node signs it, and the execution's answer
//! carries the claim under `claimData[keyId]` as `{signature,
//! derivedKeyId}` (hex, no `0x`, as Lit's nodes write them). The action's
//! `claimKey` resolves to `"success"`.
//!
//! As Lit's nodes do, a node signs with its wallet: an EIP-191 ECDSA
//! signature of the 32 bytes of the derived key id
//! ([`sign_claim`]) by the wallet derived from the node's identity seed,
//! whose address the registry lists as the node's (`Staking`'s node
//! address). `PKPNFT.claimAndMint` checks those signatures on chain; a
//! SQLite registry checks them the same way.

use candela_actions::HostError;
use serde_json::{json, Value};

use crate::actions::ExecHost;

pub use candela_registry::claim::{claim_signer, derived_key_id, sign_claim};

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
        let signature = sign_claim(&self.node.identity.wallet(), &derived);
        self.claims
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                key_id.to_string(),
                json!({
                    "signature": hex::encode(signature),
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
        let wallet = candela_registry::claim::node_wallet(&[3; 32]);
        let sig = sign_claim(&wallet, &got);
        assert_eq!(
            claim_signer(&got, &sig),
            Some(candela_registry::claim::wallet_address(&wallet))
        );
    }
}
