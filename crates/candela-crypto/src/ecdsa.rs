//! Completing a presignature: a node's weighted share, the client's check of
//! each share against the presignature's commitments, and the combine.
//!
//! With presignature `(R, k_i, σ_i)`, PKP tweak `δ`, digest `m` and signing
//! set `S`, node `i` returns `s_i = λ_i^S · ((m + r·δ)·k_i + r·σ_i)`, where
//! `r = x(R)`. Since `σ = k·x`, the sum is `k·(m + r·(x + δ))`: an ECDSA
//! signature under the PKP key `x + δ`. The share is checked by
//! `s_i·G == λ_i^S · ((m + r·δ)·K_i + r·S_i)`.
use k256::ecdsa::{RecoveryId, Signature as K256Signature, VerifyingKey};
use k256::elliptic_curve::ops::Reduce;
use k256::elliptic_curve::point::AffineCoordinates;
use k256::elliptic_curve::scalar::IsHigh;
use k256::elliptic_curve::subtle::ConditionallySelectable;
use k256::U256;

use crate::encoding::{scalar_from_digest, scalar_to_bytes};
use crate::lagrange::coefficient;
use crate::session::{Presignature, ShareCommitment};
use crate::{AffinePoint, CryptoError, NodeIndex, ProjectivePoint, Scalar};

/// `r = x(R) mod n`.
pub fn x_coordinate(big_r: &AffinePoint) -> Scalar {
    <Scalar as Reduce<U256>>::reduce_bytes(&big_r.x())
}

fn check_signers(
    signers: &[NodeIndex],
    threshold: usize,
    participants: &[NodeIndex],
) -> Result<(), CryptoError> {
    if signers.len() != threshold {
        return Err(CryptoError::BadParameters(format!(
            "signing set has {} nodes, threshold is {threshold}",
            signers.len()
        )));
    }
    if let Some(bad) = signers.iter().find(|s| !participants.contains(s)) {
        return Err(CryptoError::BadParameters(format!(
            "node {bad} did not take part in this presignature"
        )));
    }
    Ok(())
}

/// Node `me`'s share of the signature over `digest` under the key tweaked by
/// `tweak`, already weighted for `signers`.
pub fn signature_share(
    presig: &Presignature,
    me: NodeIndex,
    signers: &[NodeIndex],
    tweak: &Scalar,
    digest: &[u8; 32],
) -> Result<Scalar, CryptoError> {
    check_signers(signers, presig.threshold, &presig.participants)?;
    let lambda = coefficient(signers, me)?;
    let m = scalar_from_digest(digest);
    let r = x_coordinate(&presig.big_r);
    Ok(lambda * ((m + r * tweak) * presig.k + r * presig.sigma))
}

/// Check node `node`'s share against its commitments; names it on failure.
pub fn verify_share(
    node: NodeIndex,
    share: &Scalar,
    commitment: &ShareCommitment,
    big_r: &AffinePoint,
    signers: &[NodeIndex],
    tweak: &Scalar,
    digest: &[u8; 32],
) -> Result<(), CryptoError> {
    let lambda =
        coefficient(signers, node).map_err(|_| CryptoError::InvalidShare { culprit: node })?;
    let m = scalar_from_digest(digest);
    let r = x_coordinate(big_r);
    let expected = (ProjectivePoint::from(commitment.k) * (m + r * tweak)
        + ProjectivePoint::from(commitment.sigma) * r)
        * lambda;
    if ProjectivePoint::GENERATOR * share == expected {
        Ok(())
    } else {
        Err(CryptoError::InvalidShare { culprit: node })
    }
}

/// A standard ECDSA signature with its recovery id (low-s normalised).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signature {
    /// `r`.
    pub r: Scalar,
    /// `s`, in the lower half of the order.
    pub s: Scalar,
    /// Recovery id (0 or 1; 2 and 3 only if `x(R) >= n`).
    pub recid: u8,
}

impl Signature {
    /// `r` as 32 big-endian bytes.
    pub fn r_bytes(&self) -> [u8; 32] {
        scalar_to_bytes(&self.r)
    }
    /// `s` as 32 big-endian bytes.
    pub fn s_bytes(&self) -> [u8; 32] {
        scalar_to_bytes(&self.s)
    }
    /// Ethereum's 65-byte `r || s || v` with `v = 27 + recid`.
    pub fn to_eth_bytes(&self) -> [u8; 65] {
        let mut out = [0u8; 65];
        out[..32].copy_from_slice(&self.r_bytes());
        out[32..64].copy_from_slice(&self.s_bytes());
        out[64] = 27 + self.recid;
        out
    }
    /// Verify with k256 and check that recovery yields `public_key`.
    pub fn verify(&self, public_key: &AffinePoint, digest: &[u8; 32]) -> Result<(), CryptoError> {
        let sig = K256Signature::from_scalars(self.r_bytes(), self.s_bytes())
            .map_err(|_| CryptoError::SignatureDoesNotVerify)?;
        let vk = VerifyingKey::from_affine(*public_key)
            .map_err(|_| CryptoError::SignatureDoesNotVerify)?;
        use k256::ecdsa::signature::hazmat::PrehashVerifier;
        vk.verify_prehash(digest, &sig)
            .map_err(|_| CryptoError::SignatureDoesNotVerify)?;
        let recid = RecoveryId::from_byte(self.recid).ok_or(CryptoError::SignatureDoesNotVerify)?;
        let recovered = VerifyingKey::recover_from_prehash(digest, &sig, recid)
            .map_err(|_| CryptoError::SignatureDoesNotVerify)?;
        if recovered != vk {
            return Err(CryptoError::SignatureDoesNotVerify);
        }
        Ok(())
    }
}

/// Sum weighted shares into a signature and verify it under `public_key`.
pub fn combine(
    shares: &[Scalar],
    big_r: &AffinePoint,
    public_key: &AffinePoint,
    digest: &[u8; 32],
) -> Result<Signature, CryptoError> {
    let mut s: Scalar = shares.iter().copied().sum();
    let r = x_coordinate(big_r);
    let mut recid = u8::from(bool::from(big_r.y_is_odd()));
    if scalar_to_bytes(&r).as_slice() != big_r.x().as_slice() {
        recid |= 2;
    }
    let high = s.is_high();
    s.conditional_assign(&(-s), high);
    if bool::from(high) {
        recid ^= 1;
    }
    let sig = Signature { r, s, recid };
    sig.verify(public_key, digest)?;
    Ok(sig)
}

/// The commitments of the signing set, to send along with shares.
pub fn signing_commitments(
    presig: &Presignature,
    signers: &[NodeIndex],
) -> Result<Vec<(NodeIndex, ShareCommitment)>, CryptoError> {
    signers
        .iter()
        .map(|s| {
            presig
                .commitments
                .get(s)
                .map(|c| (*s, *c))
                .ok_or_else(|| CryptoError::BadParameters(format!("no commitment for node {s}")))
        })
        .collect()
}
