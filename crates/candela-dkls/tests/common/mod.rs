//! Helpers shared by the integration tests.
#![allow(dead_code)]
use std::collections::BTreeMap;

use candela_dkls::{sim, DklsKeyShare, DklsSignature, NodeIndex};
use k256::ecdsa::signature::hazmat::PrehashVerifier;
use k256::ecdsa::VerifyingKey;
use k256::AffinePoint;
use rand_core::{OsRng, RngCore};

/// The threshold for `n` nodes: floor(2n/3) + 1.
pub fn threshold(n: usize) -> usize {
    candela_crypto::threshold_for(n)
}

/// Key generation among `0..n` with the safe threshold.
pub fn keygen(n: u32, context: &[u8]) -> BTreeMap<NodeIndex, DklsKeyShare> {
    sim::keygen(n, threshold(n as usize), context).expect("key generation succeeds")
}

/// `t` distinct nodes of `0..n`, chosen at random.
pub fn random_signers(n: u32, t: usize) -> Vec<NodeIndex> {
    let mut all: Vec<NodeIndex> = (0..n).collect();
    for i in (1..all.len()).rev() {
        let j = (OsRng.next_u32() as usize) % (i + 1);
        all.swap(i, j);
    }
    all.truncate(t);
    all
}

/// 32 random bytes.
pub fn random_digest() -> [u8; 32] {
    let mut d = [0u8; 32];
    OsRng.fill_bytes(&mut d);
    d
}

/// Verify with plain k256 only: the signature under `pk` on `digest`, and
/// recovery of `pk` from the recovery id.
pub fn k256_verifies(pk: &AffinePoint, digest: &[u8; 32], sig: &DklsSignature) -> bool {
    let Ok(vk) = VerifyingKey::from_affine(*pk) else {
        return false;
    };
    let verifies = vk.verify_prehash(digest, &sig.signature).is_ok();
    let recovers = VerifyingKey::recover_from_prehash(digest, &sig.signature, sig.recovery_id).ok()
        == Some(vk);
    verifies && recovers
}
