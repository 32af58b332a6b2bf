//! Keys claimed by an action (`Lit.Actions.claimKey`, Lit's v7 claim flow).
//!
//! An action claims a key id; the claimed key's id is
//! `keccak256("{actionCid}_{keyId}")` ([`derived_key_id`]), so only that
//! action can claim it. Each node of the network signs the 32 bytes of the
//! derived key id under EIP-191 with its Ethereum wallet ([`node_wallet`]),
//! as Lit's nodes sign claims with their node wallets, and the execution's
//! answer carries the signatures. A [`KeyClaim`] holding signatures of at
//! least the threshold of nodes of the registry's node set lets anyone mint
//! the claimed PKP ([`crate::Registry::mint_claimed`]): in SQLite after
//! [`KeyClaim::verify`], on an EVM chain by `PKPNFT.claimAndMint`, which
//! recovers each signer and checks it against `Staking`'s node addresses.
//! Its key id is the derived key id, so its public key is the one the
//! network derives for it, whoever mints it.

use std::collections::{BTreeMap, BTreeSet};

use candela_crypto::{derive, AffinePoint};
use k256::ecdsa::SigningKey;
use sha3::{Digest, Keccak256};

use crate::{PkpKeyType, PkpRecord, RegisteredNodeSet, RegistryError};

/// The domain of a node wallet's derivation from the node's identity seed.
pub const NODE_WALLET_DOMAIN: &[u8] = b"candela-node-wallet-v1:";

/// A node's Ethereum wallet: a secp256k1 key derived from the node's
/// Ed25519 identity seed (`keccak256(domain ‖ counter ‖ seed)`, the first
/// counter giving a valid scalar), so it rests sealed with the identity and
/// needs no storage of its own. Its address is the node's `Staking` node
/// address; it signs the node's key claims.
pub fn node_wallet(identity_seed: &[u8; 32]) -> SigningKey {
    let mut counter = 0u32;
    loop {
        let bytes = Keccak256::new()
            .chain_update(NODE_WALLET_DOMAIN)
            .chain_update(counter.to_be_bytes())
            .chain_update(identity_seed)
            .finalize();
        if let Ok(key) = SigningKey::from_bytes(&bytes) {
            return key;
        }
        counter += 1;
    }
}

/// The Ethereum address of a wallet key.
pub fn wallet_address(key: &SigningKey) -> [u8; 20] {
    derive::eth_address(key.verifying_key().as_affine())
}

/// The id of the key `key_id` claimed by the action `action_cid`, as Lit
/// derives it: `keccak256("{action_cid}_{key_id}")`.
pub fn derived_key_id(action_cid: &str, key_id: &str) -> [u8; 32] {
    Keccak256::digest(format!("{action_cid}_{key_id}").as_bytes()).into()
}

/// A node's claim signature: EIP-191 (`personal_sign`) over the 32 bytes of
/// the derived key id by its wallet, r ‖ s ‖ v with v 27 or 28, as Lit's
/// nodes sign (`wallet.sign_message(derived_key_id)`).
pub fn sign_claim(wallet: &SigningKey, derived: &[u8; 32]) -> [u8; 65] {
    candela_api::auth::sign_eip191(wallet, derived)
}

/// The address that made the claim signature `signature` over `derived`.
pub fn claim_signer(derived: &[u8; 32], signature: &[u8; 65]) -> Option<[u8; 20]> {
    candela_api::auth::recover_eip191(derived, signature)
}

/// A claimed key id with the nodes' signatures over it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyClaim {
    /// `keccak256("{actionCid}_{keyId}")`.
    pub derived_key_id: [u8; 32],
    /// Each signing node's claim signature ([`sign_claim`]), by node index
    /// (its place in the node set).
    pub signatures: BTreeMap<u32, [u8; 65]>,
}

impl KeyClaim {
    /// Check that at least `set.threshold` distinct nodes of `set` signed
    /// the claim, each with the wallet its registration names; signatures
    /// of unknown nodes or that do not verify are named in the error when
    /// too few remain.
    pub fn verify(&self, set: &RegisteredNodeSet) -> Result<(), RegistryError> {
        let mut signers = BTreeSet::new();
        let mut bad = Vec::new();
        for (index, sig) in &self.signatures {
            let Some(node) = set
                .nodes
                .get(*index as usize)
                .filter(|_| !set.kicked.contains(index))
            else {
                bad.push(format!("node {index} is not in the committee"));
                continue;
            };
            if node.wallet_address == [0u8; 20] {
                bad.push(format!(
                    "node {index} has no wallet address in the registry (register the node set again)"
                ));
                continue;
            }
            if claim_signer(&self.derived_key_id, sig) == Some(node.wallet_address) {
                signers.insert(node.wallet_address);
            } else {
                bad.push(format!("node {index}'s signature does not verify"));
            }
        }
        if signers.len() < set.threshold {
            return Err(RegistryError::Claim(format!(
                "the claim of key id 0x{} has {} valid node signatures, {} needed{}",
                hex::encode(self.derived_key_id),
                signers.len(),
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

    /// The record of the claimed PKP, owned by `owner`, once the claim is
    /// checked against the registry's node set `set` ([`KeyClaim::verify`]):
    /// its key id is the claimed one and its key the network's derivation
    /// of it from `root`. What every registry checks before minting a claim.
    pub fn record(
        &self,
        set: Option<RegisteredNodeSet>,
        root: &AffinePoint,
        owner: [u8; 20],
    ) -> Result<PkpRecord, RegistryError> {
        let set = set.ok_or_else(|| {
            RegistryError::Claim("the registry has no node set to check the claim against".into())
        })?;
        self.verify(&set)?;
        let public_key = self.public_key(root)?;
        let rec = PkpRecord {
            token_id: derive::token_id(&public_key),
            key_id: self.derived_key_id,
            public_key,
            owner,
            key_type: PkpKeyType::K256,
        };
        rec.check_derivation(root)?;
        Ok(rec)
    }

    /// The error for a claim whose key is already minted as `token_id`.
    pub fn already_minted(&self, token_id: &[u8; 32]) -> RegistryError {
        RegistryError::Claim(format!(
            "the key id 0x{} is already minted (PKP 0x{})",
            hex::encode(self.derived_key_id),
            hex::encode(token_id)
        ))
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

    fn set(wallets: &[SigningKey], threshold: usize) -> RegisteredNodeSet {
        RegisteredNodeSet {
            nodes: wallets
                .iter()
                .enumerate()
                .map(|(i, k)| RegisteredNode {
                    url: format!("http://127.0.0.1:{}", 7000 + i),
                    identity_key: [i as u8 + 1; 32],
                    encryption_key: [i as u8; 32],
                    wallet_address: wallet_address(k),
                })
                .collect(),
            threshold,
            ..Default::default()
        }
    }

    #[test]
    fn a_node_wallet_is_a_fixed_function_of_its_identity_seed_and_differs_per_node() {
        let a = node_wallet(&[7; 32]);
        assert_eq!(a.to_bytes(), node_wallet(&[7; 32]).to_bytes());
        assert_ne!(wallet_address(&a), wallet_address(&node_wallet(&[8; 32])));
    }

    #[test]
    fn a_claim_signature_is_lits_eip191_signature_of_the_derived_key_id() {
        let wallet = node_wallet(&[1; 32]);
        let derived = derived_key_id("QmA", "user-1");
        let sig = sign_claim(&wallet, &derived);
        assert!(sig[64] == 27 || sig[64] == 28);
        // the prehash is personal_sign of the 32 raw bytes
        let (s, v) = (
            k256::ecdsa::Signature::from_slice(&sig[..64]).unwrap(),
            k256::ecdsa::RecoveryId::from_byte(sig[64] - 27).unwrap(),
        );
        let hash = candela_api::auth::eip191_hash(&derived);
        let vk = k256::ecdsa::VerifyingKey::recover_from_prehash(&hash, &s, v).unwrap();
        assert_eq!(&vk, wallet.verifying_key());
    }

    #[test]
    fn a_claim_needs_threshold_valid_signatures_of_the_node_set() {
        let keys: Vec<_> = (0..3u8).map(|i| node_wallet(&[i + 1; 32])).collect();
        let nodes = set(&keys, 2);
        let derived = derived_key_id("QmA", "user-1");
        assert_eq!(derived, <[u8; 32]>::from(Keccak256::digest(b"QmA_user-1")));
        let mut claim = KeyClaim {
            derived_key_id: derived,
            signatures: BTreeMap::from([(0, sign_claim(&keys[0], &derived))]),
        };
        // one of two needed
        let e = claim.verify(&nodes).unwrap_err().to_string();
        assert!(e.contains("1 valid node signatures, 2 needed"), "{e}");
        // a signature over another key id does not count
        claim
            .signatures
            .insert(1, sign_claim(&keys[1], &derived_key_id("QmA", "user-2")));
        assert!(claim.verify(&nodes).is_err());
        // nor one of a key outside the set
        let outsider = node_wallet(&[9; 32]);
        claim.signatures.insert(1, sign_claim(&outsider, &derived));
        assert!(claim.verify(&nodes).is_err());
        // nor node 0's signature presented again as node 1's
        claim.signatures.insert(1, sign_claim(&keys[0], &derived));
        assert!(claim.verify(&nodes).is_err());
        claim.signatures.insert(7, sign_claim(&keys[2], &derived));
        let e = claim.verify(&nodes).unwrap_err().to_string();
        assert!(e.contains("node 7 is not in the committee"), "{e}");
        // a node registered without a wallet does not count
        let mut walletless = nodes.clone();
        walletless.nodes[2].wallet_address = [0; 20];
        claim.signatures.insert(2, sign_claim(&keys[2], &derived));
        let e = claim.verify(&walletless).unwrap_err().to_string();
        assert!(e.contains("no wallet address"), "{e}");
        claim.verify(&nodes).expect("two valid signatures");
        // a kicked member's signature does not count
        let mut kicked = nodes.clone();
        kicked.kicked.insert(2);
        let e = claim.verify(&kicked).unwrap_err().to_string();
        assert!(e.contains("node 2 is not in the committee"), "{e}");
    }
}
