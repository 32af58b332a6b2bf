//! Verification and combination of ECDSA signature shares as nodes send
//! them: each node's assignment is checked against its coordinator's
//! signature, each share against the rerandomized presignature commitments
//! that most signers report (and the PKP tweak against the root key) before
//! t of them are summed. Shared by the client and by nodes (`signAndCombineEcdsa`).
use std::collections::{BTreeMap, HashMap};

use candela_crypto::derive::{point_from_bytes, scalar_from_bytes};
use candela_crypto::ecdsa::{combine, verify_share, Signature, SigningContext};
use candela_crypto::session::ShareCommitment;
use candela_crypto::{AffinePoint, ProjectivePoint};

use crate::assignment::{request_binding, SignedAssignment};
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

/// The network facts a combination checks shares against.
#[derive(Clone, Copy, Debug)]
pub struct SigningNetwork<'a> {
    /// The root ECDSA public key the PKP derives from.
    pub root: &'a AffinePoint,
    /// Shares needed.
    pub threshold: usize,
    /// Every node's ed25519 identity key (hex), by index: assignments are
    /// checked against the coordinator's.
    pub identity_keys: &'a [String],
}

/// A coordinator proven to have lied: it signed several different choices
/// (presignature, signers) for one request, which an honest coordinator
/// never does (it records one choice per request id, durably).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LyingCoordinator {
    /// The coordinator's index.
    pub coordinator: u32,
    /// The request it gave different assignments for.
    pub request_id: String,
    /// How many different assignments it signed.
    pub assignments: usize,
}

impl LyingCoordinator {
    /// The fault reason shown to users.
    pub fn reason(&self) -> String {
        format!(
            "coordinator signed {} different assignments for request {}",
            self.assignments, self.request_id
        )
    }
}

/// The coordinators that signed more than one choice for one request among
/// `assignments`, each of which the caller has already checked against its
/// coordinator's identity key ([`SignedAssignment::verify`]).
pub fn lying_coordinators<'a>(
    assignments: impl IntoIterator<Item = &'a SignedAssignment>,
) -> Vec<LyingCoordinator> {
    let mut by_coordinator: BTreeMap<(u32, &str), Vec<&SignedAssignment>> = BTreeMap::new();
    for a in assignments {
        let seen = by_coordinator
            .entry((a.coordinator, a.request_id.as_str()))
            .or_default();
        if !seen.iter().any(|b| b.choice() == a.choice()) {
            seen.push(a);
        }
    }
    by_coordinator
        .into_iter()
        .filter(|(_, seen)| seen.len() > 1)
        .map(|((coordinator, rid), seen)| LyingCoordinator {
            coordinator,
            request_id: rid.to_string(),
            assignments: seen.len(),
        })
        .collect()
}

/// Verify every node's share of one signature and combine `threshold` valid
/// shares into a signature verified under `pkp` (whose tweak from the root
/// key is checked too). Used by the client for `pkp/sign` and actions, and
/// by nodes for `signAndCombineEcdsa`.
///
/// Each answer carries the coordinator's signed assignment the node
/// followed. An assignment that is not validly signed, or that binds
/// another PKP or digest, is the answering node's fault. Two different
/// validly signed assignments by one coordinator for one request prove the
/// coordinator lied: it is named, and the nodes that followed either are
/// not. Shares are checked against the commitments most signers report,
/// rerandomized (see [`candela_crypto::ecdsa`]) with `ρ` recomputed here.
pub fn verify_and_combine_shares(
    net: &SigningNetwork<'_>,
    ok: &BTreeMap<u32, PkpSignResponse>,
    pkp: &AffinePoint,
    digest: &[u8; 32],
) -> Result<Combined, CombineError> {
    let t = net.threshold;
    let mut faults: Vec<ShareFault> = Vec::new();
    let mut fault = |node: u32, reason: &str, misbehaved: bool| {
        if !faults.iter().any(|f| f.node == node && f.reason == reason) {
            faults.push(ShareFault {
                node,
                reason: reason.to_string(),
                misbehaved,
            })
        }
    };
    let fail = |valid: usize, faults: Vec<ShareFault>| CombineError {
        needed: t,
        valid,
        faults,
    };
    // The assignments the nodes followed, each checked.
    let binding = request_binding(pkp, digest);
    let mut followed: BTreeMap<u32, &SignedAssignment> = BTreeMap::new();
    for (&i, r) in ok {
        let Some(a) = &r.candela.assignment else {
            fault(i, "answered without the coordinator's assignment", true);
            continue;
        };
        let checked = a
            .verify(net.identity_keys, t)
            .and_then(|()| a.check_request(&a.request_id, &binding));
        match checked {
            Ok(()) => {
                followed.insert(i, a);
            }
            Err(e) => fault(i, &format!("presented a bad assignment: {e}"), true),
        }
    }
    // A coordinator that signed two different choices for one request lied.
    for lie in lying_coordinators(followed.values().copied()) {
        fault(lie.coordinator, &lie.reason(), true);
    }
    // The assignment most nodes followed.
    let mut votes: HashMap<(&str, &str, &[u32], &str, u32), usize> = HashMap::new();
    for a in followed.values() {
        *votes.entry(a.choice()).or_default() += 1;
    }
    let Some((choice, _)) = votes
        .into_iter()
        .max_by_key(|(c, n)| (*n, std::cmp::Reverse(c.4)))
    else {
        return Err(fail(0, faults));
    };
    let Some(assignment) = followed.values().find(|a| a.choice() == choice).copied() else {
        return Err(fail(0, faults));
    };
    let signers = assignment.signers.clone();
    // A DKLs23 network: the signers answer the full signature.
    if let Some(signature) = full_signature(ok, &followed, choice, pkp, digest, &mut fault) {
        return Ok(Combined { signature, faults });
    }
    // Expected tweak: δ with δ·G = PK - PK_root.
    let expected_delta_g = ProjectivePoint::from(*pkp) - ProjectivePoint::from(*net.root);
    // Commitments and R by majority over the signers that followed it.
    let mut cm_votes: HashMap<u32, HashMap<(String, String), usize>> = HashMap::new();
    let mut big_r_votes: HashMap<String, usize> = HashMap::new();
    for (i, r) in ok {
        if followed.get(i).map(|a| a.choice()) != Some(choice) {
            continue;
        }
        for c in &r.candela.commitments {
            *cm_votes
                .entry(c.node)
                .or_default()
                .entry((c.k.clone(), c.sigma.clone()))
                .or_default() += 1;
        }
        if !r.candela.presignature_big_r.is_empty() {
            *big_r_votes
                .entry(r.candela.presignature_big_r.clone())
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
    let tweak = ok
        .values()
        .filter_map(|r| hex::decode(&r.candela.tweak).ok())
        .filter_map(|b| scalar_from_bytes(&b).ok())
        .find(|d| ProjectivePoint::GENERATOR * d == expected_delta_g);
    let Some(tweak) = tweak else {
        fault(
            u32::MAX,
            "no node reported the tweak that derives this PKP",
            false,
        );
        return Err(fail(0, faults));
    };
    let ctx = SigningContext {
        big_r: &big_r,
        root: net.root,
        tweak: &tweak,
        digest,
        presignature_id: &assignment.presignature_id,
        signers: &signers,
        request_id: &assignment.request_id,
    };
    let Ok(rr) = ctx.rerandomize() else {
        return Err(fail(0, faults));
    };
    let mut shares = Vec::new();
    for &s in &signers {
        let Some(r) = ok.get(&s) else {
            fault(s, "signer did not answer", false);
            continue;
        };
        match followed.get(&s) {
            Some(a) if a.choice() == choice => {}
            Some(a) => {
                // It followed a validly signed assignment: not its fault.
                fault(
                    s,
                    &format!(
                        "followed another assignment by coordinator {}",
                        a.coordinator
                    ),
                    false,
                );
                continue;
            }
            None => continue,
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
        let share = hex::decode(&r.signature_share.signature_share)
            .ok()
            .and_then(|b| scalar_from_bytes(&b).ok());
        let (Some(commitment), Some(share)) = (commitment, share) else {
            fault(s, "malformed signature share", true);
            continue;
        };
        match verify_share(s, &share, &commitment, &ctx, &rr) {
            Ok(()) => shares.push(share),
            Err(e) => fault(s, &e.to_string(), true),
        }
    }
    if shares.len() < t {
        return Err(fail(shares.len(), faults));
    }
    match combine(&shares, &rr.big_r, pkp, digest) {
        Ok(signature) => Ok(Combined { signature, faults }),
        Err(e) => {
            fault(u32::MAX, &format!("combine: {e}"), false);
            Err(fail(shares.len(), faults))
        }
    }
}

/// The first full signature (DKLs23) among the answers of nodes that
/// followed the chosen assignment that verifies under `pkp` with k256 and
/// recovers to it; a node answering one that does not is at fault.
fn full_signature(
    ok: &BTreeMap<u32, PkpSignResponse>,
    followed: &BTreeMap<u32, &SignedAssignment>,
    choice: (&str, &str, &[u32], &str, u32),
    pkp: &AffinePoint,
    digest: &[u8; 32],
    fault: &mut impl FnMut(u32, &str, bool),
) -> Option<Signature> {
    for (i, r) in ok {
        if r.candela.signature.is_empty() || followed.get(i).map(|a| a.choice()) != Some(choice) {
            continue;
        }
        match parse_eth_signature(&r.candela.signature) {
            Some(sig) if sig.verify(pkp, digest).is_ok() => return Some(sig),
            _ => fault(
                *i,
                "answered a signature that does not verify under the PKP key",
                true,
            ),
        }
    }
    None
}

/// Parse 65 bytes `r || s || v` (hex, `v = 27 + recovery id`).
pub fn parse_eth_signature(hex_sig: &str) -> Option<Signature> {
    let b = hex::decode(hex_sig.trim_start_matches("0x")).ok()?;
    if b.len() != 65 || b[64] < 27 {
        return None;
    }
    Some(Signature {
        r: scalar_from_bytes(&b[..32]).ok()?,
        s: scalar_from_bytes(&b[32..64]).ok()?,
        recid: b[64] - 27,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    #[test]
    fn a_coordinator_is_named_only_for_different_choices_on_one_request() {
        let c1 = SigningKey::from_bytes(&[2; 32]);
        let c2 = SigningKey::from_bytes(&[3; 32]);
        let a = SignedAssignment::sign("r1", "p1", vec![0, 1, 2], "b", 1, &c1);
        let same = SignedAssignment::sign("r1", "p1", vec![0, 1, 2], "b", 1, &c1);
        let other_presig = SignedAssignment::sign("r1", "p2", vec![0, 1, 2], "b", 1, &c1);
        let other_signers = SignedAssignment::sign("r1", "p1", vec![1, 2, 3], "b", 1, &c1);
        let other_request = SignedAssignment::sign("r2", "p2", vec![0, 1, 2], "b", 1, &c1);
        let by_c2 = SignedAssignment::sign("r1", "p3", vec![0, 1, 2], "b", 2, &c2);

        // following one assignment, however many nodes do, is no lie; nor
        // are choices for different requests or by different coordinators
        assert!(lying_coordinators([&a, &same, &other_request, &by_c2]).is_empty());
        let lies = lying_coordinators([&a, &same, &other_presig, &other_signers, &by_c2]);
        assert_eq!(
            lies,
            vec![LyingCoordinator {
                coordinator: 1,
                request_id: "r1".into(),
                assignments: 3
            }]
        );
        assert!(lies[0]
            .reason()
            .contains("3 different assignments for request r1"));
    }
}
