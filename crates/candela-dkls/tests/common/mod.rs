//! Helpers shared by the integration tests.
#![allow(dead_code)]
use std::collections::BTreeMap;

use candela_dkls::{sim, wire, DklsKeyShare, DklsSignature, NodeIndex};
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

/// Key shares for `participants` and `threshold`, generated once and kept
/// in cargo's per-target temporary directory, so that tests in separate
/// processes (nextest) share one slow key generation. Shares that no longer
/// parse (an older encoding) are generated again.
pub fn cached_keygen(
    participants: &[NodeIndex],
    threshold: usize,
    name: &str,
) -> BTreeMap<NodeIndex, DklsKeyShare> {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "candela-dkls-fixture-{name}-v{}.bin",
        wire::WIRE_VERSION
    ));
    let parse = |bytes: &[u8]| -> Option<BTreeMap<NodeIndex, DklsKeyShare>> {
        let stored: Vec<(NodeIndex, Vec<u8>)> = wire::decode(bytes).ok()?;
        let shares: BTreeMap<_, _> = stored
            .into_iter()
            .map(|(i, b)| DklsKeyShare::from_bytes(&b).ok().map(|s| (i, s)))
            .collect::<Option<_>>()?;
        let ok = shares.keys().copied().eq(participants.iter().copied())
            && shares.values().all(|s| s.threshold() == threshold);
        ok.then_some(shares)
    };
    if let Some(shares) = std::fs::read(&path).ok().and_then(|b| parse(&b)) {
        return shares;
    }
    let (out, _) = sim::keygen_among(participants, threshold, name.as_bytes(), None)
        .expect("key generation starts");
    let shares: BTreeMap<NodeIndex, DklsKeyShare> = out
        .into_iter()
        .map(|(i, r)| (i, r.expect("key generation succeeds")))
        .collect();
    let stored: Vec<(NodeIndex, Vec<u8>)> = shares
        .iter()
        .map(|(i, s)| (*i, s.to_bytes().expect("share serializes")))
        .collect();
    // Write then rename, so a concurrent reader never sees half a file.
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    if std::fs::write(&tmp, wire::encode(&stored).expect("encodes")).is_ok() {
        let _ = std::fs::rename(&tmp, &path);
    }
    shares
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
