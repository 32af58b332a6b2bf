//! Verification and combination of ECDSA signature shares as nodes send
//! them: each share is checked against the presignature commitments that
//! most nodes report (and the PKP tweak against the root key) before t of
//! them are summed. Shared by the client and by nodes (`signAndCombineEcdsa`).
use std::collections::{BTreeMap, HashMap};

use candela_crypto::derive::{point_from_bytes, scalar_from_bytes};
use candela_crypto::ecdsa::{combine, verify_share, Signature};
use candela_crypto::session::ShareCommitment;
use candela_crypto::{AffinePoint, ProjectivePoint};

use crate::v7::PkpSignResponse;

/// A node whose share was left out of a combination, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareFault {
    /// The node's index (`u32::MAX` when the combination itself failed).
    pub node: u32,
    /// What went wrong.
    pub reason: String,
    /// True when the share or its proof was provably wrong.
    pub misbehaved: bool,
}

/// A verified combined signature.
#[derive(Debug, Clone)]
pub struct Combined {
    /// The signature, verified under the PKP key.
    pub signature: Signature,
    /// Signers whose shares were left out.
    pub faults: Vec<ShareFault>,
}

/// Why shares did not combine.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{valid} of {needed} required valid shares; {}", self.faults.iter().map(|f| format!("node {}: {}", f.node, f.reason)).collect::<Vec<_>>().join("; "))]
pub struct CombineError {
    /// Threshold.
    pub needed: usize,
    /// Valid shares.
    pub valid: usize,
    /// Signers left out, with the reason.
    pub faults: Vec<ShareFault>,
}

/// Verify every node's share of one signature against the commitments most
/// nodes report, and combine `threshold` valid shares into a signature
/// verified under `pkp` (whose tweak from `root` is checked too). Used by
/// the client for `pkp/sign` and actions, and by nodes for
/// `signAndCombineEcdsa`.
pub fn verify_and_combine_shares(
    root: &AffinePoint,
    threshold: usize,
    ok: &BTreeMap<u32, PkpSignResponse>,
    pkp: &AffinePoint,
    digest: &[u8; 32],
) -> Result<Combined, CombineError> {
    let t = threshold;
    let mut faults: Vec<ShareFault> = Vec::new();
    let mut fault = |node: u32, reason: &str, misbehaved: bool| {
        faults.push(ShareFault {
            node,
            reason: reason.to_string(),
            misbehaved,
        })
    };
    // The assignment (presignature, signers, R) most nodes report.
    let key_of =
        |r: &PkpSignResponse| (r.candela.presignature_id.clone(), r.candela.signers.clone());
    let mut votes: HashMap<(String, Vec<u32>), usize> = HashMap::new();
    for r in ok.values() {
        *votes.entry(key_of(r)).or_default() += 1;
    }
    let fail = |valid: usize, faults: Vec<ShareFault>| CombineError {
        needed: t,
        valid,
        faults,
    };
    let Some(((_, signers), _)) = votes.into_iter().max_by_key(|(_, c)| *c) else {
        return Err(fail(0, faults));
    };
    // Expected tweak: δ with δ·G = PK - PK_root.
    let expected_delta_g = ProjectivePoint::from(*pkp) - ProjectivePoint::from(*root);
    // Commitments by majority over every node that reported them.
    let mut cm_votes: HashMap<u32, HashMap<(String, String), usize>> = HashMap::new();
    let mut big_r_votes: HashMap<String, usize> = HashMap::new();
    for r in ok.values().filter(|r| r.candela.signers == signers) {
        for c in &r.candela.commitments {
            *cm_votes
                .entry(c.node)
                .or_default()
                .entry((c.k.clone(), c.sigma.clone()))
                .or_default() += 1;
        }
        if !r.signature_share.big_r.is_empty() {
            *big_r_votes
                .entry(r.signature_share.big_r.clone())
                .or_default() += 1;
        }
    }
    let parse_point = |h: &str| hex::decode(h).ok().and_then(|b| point_from_bytes(&b).ok());
    let Some(big_r) = big_r_votes
        .into_iter()
        .max_by_key(|(_, c)| *c)
        .and_then(|(h, _)| parse_point(&h))
    else {
        return Err(fail(0, faults));
    };
    let mut shares = Vec::new();
    for &s in &signers {
        let Some(r) = ok.get(&s) else {
            fault(s, "signer did not answer", false);
            continue;
        };
        if r.candela.signers != signers {
            fault(s, "reported a different signing set", true);
            continue;
        }
        let commitment = cm_votes
            .get(&s)
            .and_then(|m| m.iter().max_by_key(|(_, c)| **c))
            .and_then(|((k, sg), _)| {
                Some(ShareCommitment {
                    k: parse_point(k)?,
                    sigma: parse_point(sg)?,
                })
            });
        let tweak = hex::decode(&r.candela.tweak)
            .ok()
            .and_then(|b| scalar_from_bytes(&b).ok());
        let share = hex::decode(&r.signature_share.signature_share)
            .ok()
            .and_then(|b| scalar_from_bytes(&b).ok());
        let (Some(commitment), Some(tweak), Some(share)) = (commitment, tweak, share) else {
            fault(s, "malformed signature share", true);
            continue;
        };
        if ProjectivePoint::GENERATOR * tweak != expected_delta_g {
            fault(s, "reported a tweak that does not derive this PKP", true);
            continue;
        }
        match verify_share(s, &share, &commitment, &big_r, &signers, &tweak, digest) {
            Ok(()) => shares.push(share),
            Err(e) => fault(s, &e.to_string(), true),
        }
    }
    if shares.len() < t {
        return Err(fail(shares.len(), faults));
    }
    match combine(&shares, &big_r, pkp, digest) {
        Ok(signature) => Ok(Combined { signature, faults }),
        Err(e) => {
            fault(u32::MAX, &format!("combine: {e}"), false);
            Err(fail(shares.len(), faults))
        }
    }
}
