//! Chaum–Pedersen proofs that two points have the same discrete logarithm
//! to two bases (`P1 = x·G` and `P2 = x·B`), made non-interactive with a
//! domain-separated SHA-256 challenge (Fiat–Shamir).
//!
//! A presignature maker uses them to tie its commitment `K_j = k_j·G` to
//! `k_j·R`: since `k·R = G` for the nonce `R = k⁻¹·G`, the points `k_j·R`
//! interpolate to `G`, a check that holds at every batch size, even with
//! exactly `t` makers (see [`crate::session`]).
use k256::elliptic_curve::Field;
use rand_core::OsRng;
use sha2::{Digest, Sha256};

use crate::encoding::{point_to_bytes, scalar_from_digest, scalar_to_bytes};
use crate::{ProjectivePoint, Scalar};

/// Domain of the challenge hash.
const DOMAIN: &[u8] = b"candela-dleq-v1";

/// A proof that `log_G(P1) = log_B(P2)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DleqProof {
    /// The challenge.
    pub c: Scalar,
    /// The response `w + c·x`.
    pub z: Scalar,
}

fn challenge(
    context: &[u8],
    base: &ProjectivePoint,
    p1: &ProjectivePoint,
    p2: &ProjectivePoint,
    a1: &ProjectivePoint,
    a2: &ProjectivePoint,
) -> Scalar {
    let mut h = Sha256::new();
    h.update(DOMAIN);
    h.update((context.len() as u64).to_be_bytes());
    h.update(context);
    for p in [base, p1, p2, a1, a2] {
        let b = point_to_bytes(&p.to_affine(), true);
        h.update([b.len() as u8]);
        h.update(b);
    }
    scalar_from_digest(&h.finalize().into())
}

/// Prove that `x·G` and `x·base` share the logarithm `x`; returns the two
/// points and the proof. `context` binds the proof to its use.
pub fn prove(
    x: &Scalar,
    base: &ProjectivePoint,
    context: &[u8],
) -> (ProjectivePoint, ProjectivePoint, DleqProof) {
    let p1 = ProjectivePoint::GENERATOR * x;
    let p2 = *base * x;
    let w = Scalar::random(&mut OsRng);
    let a1 = ProjectivePoint::GENERATOR * w;
    let a2 = *base * w;
    let c = challenge(context, base, &p1, &p2, &a1, &a2);
    (p1, p2, DleqProof { c, z: w + c * x })
}

/// Check a proof that `log_G(p1) = log_base(p2)`.
pub fn verify(
    p1: &ProjectivePoint,
    base: &ProjectivePoint,
    p2: &ProjectivePoint,
    proof: &DleqProof,
    context: &[u8],
) -> bool {
    let a1 = ProjectivePoint::GENERATOR * proof.z - *p1 * proof.c;
    let a2 = *base * proof.z - *p2 * proof.c;
    challenge(context, base, p1, p2, &a1, &a2) == proof.c
}

impl DleqProof {
    /// 64 bytes: `c || z`.
    pub fn to_bytes(&self) -> [u8; 64] {
        let mut out = [0u8; 64];
        out[..32].copy_from_slice(&scalar_to_bytes(&self.c));
        out[32..].copy_from_slice(&scalar_to_bytes(&self.z));
        out
    }

    /// Parse [`DleqProof::to_bytes`].
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        if b.len() != 64 {
            return None;
        }
        Some(DleqProof {
            c: crate::encoding::scalar_from_bytes(&b[..32]).ok()?,
            z: crate::encoding::scalar_from_bytes(&b[32..]).ok()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proof_verifies_and_a_wrong_statement_does_not() {
        let x = Scalar::random(&mut OsRng);
        let base = ProjectivePoint::GENERATOR * Scalar::random(&mut OsRng);
        let (p1, p2, proof) = prove(&x, &base, b"ctx");
        assert!(verify(&p1, &base, &p2, &proof, b"ctx"));
        assert!(!verify(&p1, &base, &p2, &proof, b"other ctx"));
        let wrong = p2 + ProjectivePoint::GENERATOR;
        assert!(!verify(&p1, &base, &wrong, &proof, b"ctx"));
        assert!(!verify(&(p1 + base), &base, &p2, &proof, b"ctx"));
        assert_eq!(DleqProof::from_bytes(&proof.to_bytes()), Some(proof));
        assert_eq!(DleqProof::from_bytes(&[0u8; 63]), None);
    }
}
