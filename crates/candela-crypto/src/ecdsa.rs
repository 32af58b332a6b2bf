//! Completing a presignature: a node's weighted share, the client's check of
//! each share against the presignature's commitments, and the combine.
//!
//! A presignature is `(R, k_i, σ_i)` with `R = k^-1·G` and `σ = k·x` for the
//! root key `x`. Used as it is with a public additive tweak `δ` (PKP key
//! `x + δ`), it is forgeable across keys: whoever learns `R` before fixing
//! its digest can pick `m_A = m_B + r·(δ_B − δ_A)` so that shares for
//! (PKP A, `m_A`) sum to a signature of PKP B on `m_B` (Groth and Shoup,
//! "On the security of ECDSA with additive key derivation and
//! presignatures", Eurocrypt 2022). So every presignature is rerandomized at
//! use by a scalar nobody can know before the digest and key are fixed:
//!
//! `ρ = H("candela-presig-rerandomize-v1", R, PK_root, δ, m, presignature id,
//! signing set, request id)` (hash to scalar, RFC 9380 XMD-SHA-256), and
//!
//! - nonce `R' = ρ·R` (so `k' = k/ρ`, since `R' = (k/ρ)^-1·G`), `r' = x(R')`;
//! - `k_i' = k_i/ρ`, `σ_i' = (σ_i + δ·k_i)/ρ`, a sharing of `k'·(x + δ)`;
//! - node `i` of signing set `S` returns `s_i = λ_i^S·(m·k_i' + r'·σ_i')`;
//!   the sum is `k'·(m + r'·(x + δ))`, an ECDSA signature under `x + δ`
//!   with nonce `R'`;
//! - the client checks `s_i·G == λ_i^S·(m·K_i' + r'·S_i')` with
//!   `K_i' = K_i/ρ` and `S_i' = (S_i + δ·K_i)/ρ`.
//!
//! A related digest chosen from `R` now changes `ρ` and with it `R'`, so the
//! Groth–Shoup relation cannot be met except by chance.
use k256::ecdsa::{RecoveryId, Signature as K256Signature, VerifyingKey};
use k256::elliptic_curve::hash2curve::{ExpandMsgXmd, GroupDigest};
use k256::elliptic_curve::ops::Reduce;
use k256::elliptic_curve::point::AffineCoordinates;
use k256::elliptic_curve::scalar::IsHigh;
use k256::elliptic_curve::subtle::ConditionallySelectable;
use k256::{Secp256k1, U256};
use sha2::Sha256;

use crate::encoding::{point_to_bytes, scalar_from_digest, scalar_to_bytes};
use crate::lagrange::coefficient;
use crate::session::{Presignature, ShareCommitment};
use crate::{AffinePoint, CryptoError, NodeIndex, ProjectivePoint, Scalar};

/// Domain separation tag of the presignature rerandomizer `ρ`.
pub const RERANDOMIZE_DST: &[u8] = b"candela-presig-rerandomize-v1";

/// `r = x(R) mod n`.
pub fn x_coordinate(big_r: &AffinePoint) -> Scalar {
    <Scalar as Reduce<U256>>::reduce_bytes(&big_r.x())
}

/// Everything a signature is bound to; `ρ` is a hash of all of it.
#[derive(Clone, Copy, Debug)]
pub struct SigningContext<'a> {
    /// The presignature's nonce point `R` (before rerandomization).
    pub big_r: &'a AffinePoint,
    /// The root public key the PKP is derived from.
    pub root: &'a AffinePoint,
    /// The PKP tweak `δ`.
    pub tweak: &'a Scalar,
    /// The 32-byte digest being signed.
    pub digest: &'a [u8; 32],
    /// The presignature's id.
    pub presignature_id: &'a str,
    /// The signing set the coordinator fixed.
    pub signers: &'a [NodeIndex],
    /// The request the signature belongs to.
    pub request_id: &'a str,
}

/// The rerandomized nonce of one signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rerandomized {
    /// `ρ`.
    pub rho: Scalar,
    /// `ρ^-1`.
    pub rho_inv: Scalar,
    /// `R' = ρ·R`, the signature's nonce point.
    pub big_r: AffinePoint,
}

fn framed(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
    out.extend_from_slice(bytes);
}

impl SigningContext<'_> {
    /// `ρ` and `R' = ρ·R` for this context. Every input is length-framed,
    /// so no two contexts hash the same bytes.
    pub fn rerandomize(&self) -> Result<Rerandomized, CryptoError> {
        let mut msg = Vec::with_capacity(256);
        framed(&mut msg, &point_to_bytes(self.big_r, true));
        framed(&mut msg, &point_to_bytes(self.root, true));
        framed(&mut msg, &scalar_to_bytes(self.tweak));
        framed(&mut msg, self.digest);
        framed(&mut msg, self.presignature_id.as_bytes());
        let signers: Vec<u8> = self.signers.iter().flat_map(|s| s.to_be_bytes()).collect();
        framed(&mut msg, &signers);
        framed(&mut msg, self.request_id.as_bytes());
        let rho = Secp256k1::hash_to_scalar::<ExpandMsgXmd<Sha256>>(&[&msg], &[RERANDOMIZE_DST])
            .map_err(|e| CryptoError::Encoding(format!("hash_to_scalar: {e}")))?;
        let rho_inv = Option::<Scalar>::from(rho.invert())
            .ok_or_else(|| CryptoError::BadParameters("rerandomizer is zero".into()))?;
        let big_r = ProjectivePoint::from(*self.big_r) * rho;
        if big_r == ProjectivePoint::IDENTITY {
            return Err(CryptoError::BadParameters(
                "rerandomized nonce is the identity".into(),
            ));
        }
        Ok(Rerandomized {
            rho,
            rho_inv,
            big_r: big_r.to_affine(),
        })
    }
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

/// Node `me`'s share of the signature in `ctx` (whose `big_r` must be this
/// presignature's), rerandomized and weighted for the signing set; with the
/// nonce point `R'` it belongs to.
pub fn signature_share(
    presig: &Presignature,
    me: NodeIndex,
    ctx: &SigningContext<'_>,
) -> Result<(Scalar, AffinePoint), CryptoError> {
    check_signers(ctx.signers, presig.threshold, &presig.participants)?;
    if *ctx.big_r != presig.big_r {
        return Err(CryptoError::BadParameters(
            "signing context names another presignature's nonce".into(),
        ));
    }
    let rr = ctx.rerandomize()?;
    let lambda = coefficient(ctx.signers, me)?;
    let m = scalar_from_digest(ctx.digest);
    let r = x_coordinate(&rr.big_r);
    let k = presig.k * rr.rho_inv;
    let sigma = (presig.sigma + *ctx.tweak * presig.k) * rr.rho_inv;
    Ok((lambda * (m * k + r * sigma), rr.big_r))
}

/// Check node `node`'s share against its commitments, rerandomized as in
/// `ctx` (`rr` from [`SigningContext::rerandomize`]); names it on failure.
pub fn verify_share(
    node: NodeIndex,
    share: &Scalar,
    commitment: &ShareCommitment,
    ctx: &SigningContext<'_>,
    rr: &Rerandomized,
) -> Result<(), CryptoError> {
    let lambda =
        coefficient(ctx.signers, node).map_err(|_| CryptoError::InvalidShare { culprit: node })?;
    let m = scalar_from_digest(ctx.digest);
    let r = x_coordinate(&rr.big_r);
    let big_k = ProjectivePoint::from(commitment.k);
    let big_s = ProjectivePoint::from(commitment.sigma);
    // λ·(m·K/ρ + r'·(S + δ·K)/ρ) = λ/ρ·((m + r'·δ)·K + r'·S)
    let expected = (big_k * (m + r * ctx.tweak) + big_s * r) * (lambda * rr.rho_inv);
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
