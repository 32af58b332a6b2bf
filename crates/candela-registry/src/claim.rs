//! Keys claimed by an action (`Lit.Actions.claimKey`, Lit's v7 claim flow).
//!
//! An action claims a key id; the claimed key's id is
//! `keccak256("{actionCid}_{keyId}")` ([`derived_key_id`]), so only that
//! action can claim it. Each node of the network signs the derived key id
//! with its Ed25519 identity key, over [`claim_message`] (a domain tag then
//! the 32 bytes), and the execution's answer carries the signatures. A
//! [`KeyClaim`] holding signatures of at least the threshold of nodes of the
//! registry's node set lets anyone mint the claimed PKP
//! ([`crate::Registry::mint_claimed`]): its key id is the derived key id, so
//! its public key is the one the network derives for it, whoever mints it.
//!
//! Lit's nodes sign claims with their staker wallets (EIP-191 ECDSA) and
//! Lit's PKP contract checks them on chain; Candela nodes have no staker
//! wallet, so their identity keys sign instead.

use std::collections::BTreeMap;

use candela_crypto::{derive, AffinePoint};
use ed25519_dalek::Verifier;
use sha3::{Digest, Keccak256};

use crate::{RegisteredNodeSet, RegistryError};

/// What a node's claim signature signs, before the derived key id.
pub const CLAIM_DOMAIN: &[u8] = b"candela-claim-key-v1:";

/// The id of the key `key_id` claimed by the action `action_cid`, as Lit
/// derives it: `keccak256("{action_cid}_{key_id}")`.
pub fn derived_key_id(action_cid: &str, key_id: &str) -> [u8; 32] {
    Keccak256::digest(format!("{action_cid}_{key_id}").as_bytes()).into()
}

/// The message a node signs for the derived key id `derived`.
pub fn claim_message(derived: &[u8; 32]) -> Vec<u8> {
    [CLAIM_DOMAIN, derived.as_slice()].concat()
}

/// A claimed key id with the nodes' signatures over it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyClaim {
    /// `keccak256("{actionCid}_{keyId}")`.
    pub derived_key_id: [u8; 32],
    /// Each signing node's Ed25519 signature over
    /// [`claim_message`]`(derived_key_id)`, by node index (its place in the
    /// node set).
    pub signatures: BTreeMap<u32, [u8; 64]>,
}

impl KeyClaim {
    /// Check that at least `set.threshold` distinct nodes of `set` signed
    /// the claim; signatures of unknown nodes or that do not verify are
    /// named in the error when too few remain.
    pub fn verify(&self, set: &RegisteredNodeSet) -> Result<(), RegistryError> {
        let msg = claim_message(&self.derived_key_id);
        let mut valid = 0usize;
        let mut bad = Vec::new();
        for (index, sig) in &self.signatures {
            let Some(node) = set.nodes.get(*index as usize) else {
                bad.push(format!("node {index} is not in the node set"));
                continue;
            };
            let ok = ed25519_dalek::VerifyingKey::from_bytes(&node.identity_key)
                .map(|k| {
                    k.verify(&msg, &ed25519_dalek::Signature::from_bytes(sig))
                        .is_ok()
                })
                .unwrap_or(false);
            if ok {
                valid += 1;
            } else {
                bad.push(format!("node {index}'s signature does not verify"));
            }
        }
        if valid < set.threshold {
            return Err(RegistryError::Claim(format!(
                "the claim of key id 0x{} has {valid} valid node signatures, {} needed{}",
                hex::encode(self.derived_key_id),
                set.threshold,
                if bad.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", bad.join("; "))
                }
            )));
        }
        Ok(())
    }

    /// The public key the network derives for the claimed key id.
    pub fn public_key(&self, root: &AffinePoint) -> Result<AffinePoint, RegistryError> {
        derive::derive_public_key(root, &self.derived_key_id)
            .map_err(|e| RegistryError::Encoding(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RegisteredNode;
    use ed25519_dalek::Signer;

    fn set(keys: &[ed25519_dalek::SigningKey], threshold: usize) -> RegisteredNodeSet {
        RegisteredNodeSet {
            nodes: keys
                .iter()
                .enumerate()
                .map(|(i, k)| RegisteredNode {
                    url: format!("http://127.0.0.1:{}", 7000 + i),
                    identity_key: k.verifying_key().to_bytes(),
                    encryption_key: [i as u8; 32],
                })
                .collect(),
            threshold,
        }
    }

    #[test]
    fn a_claim_needs_threshold_valid_signatures_of_the_node_set() {
        let keys: Vec<_> = (0..3)
            .map(|_| ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng))
            .collect();
        let nodes = set(&keys, 2);
        let derived = derived_key_id("QmA", "user-1");
        assert_eq!(derived, <[u8; 32]>::from(Keccak256::digest(b"QmA_user-1")));
        let sign =
            |k: &ed25519_dalek::SigningKey, d: &[u8; 32]| k.sign(&claim_message(d)).to_bytes();
        let mut claim = KeyClaim {
            derived_key_id: derived,
            signatures: BTreeMap::from([(0, sign(&keys[0], &derived))]),
        };
        // one of two needed
        let e = claim.verify(&nodes).unwrap_err().to_string();
        assert!(e.contains("1 valid node signatures, 2 needed"), "{e}");
        // a signature over another key id does not count
        claim
            .signatures
            .insert(1, sign(&keys[1], &derived_key_id("QmA", "user-2")));
        assert!(claim.verify(&nodes).is_err());
        // nor one of a key outside the set, nor a signature of the bare id
        let outsider = ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng);
        claim.signatures.insert(1, sign(&outsider, &derived));
        assert!(claim.verify(&nodes).is_err());
        claim
            .signatures
            .insert(1, keys[1].sign(&derived).to_bytes());
        assert!(claim.verify(&nodes).is_err());
        claim.signatures.insert(7, sign(&keys[2], &derived));
        let e = claim.verify(&nodes).unwrap_err().to_string();
        assert!(e.contains("node 7 is not in the node set"), "{e}");
        claim.signatures.insert(2, sign(&keys[2], &derived));
        claim.verify(&nodes).expect("two valid signatures");
    }
}
