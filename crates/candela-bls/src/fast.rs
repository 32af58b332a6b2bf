//! The hot paths of BLS signing and verification on `blst` (the assembly
//! library blsful's backend is built on): blsful's group arithmetic runs
//! plain double-and-add loops in Rust, about five times slower than blst's
//! own scalar multiplication, hashing to G2 and pairings.
//!
//! Same scheme, same points: signatures in G2 with the proof-of-possession
//! DST, public keys in G1. Points cross between the two libraries in their
//! standard uncompressed encodings (no square roots), and every point blst
//! reads is checked to be on the curve and in the right subgroup.
use blsful::inner_types::{G1Affine, G1Projective, G2Affine, G2Projective, Scalar};
use blsful::{Bls12381G2Impl, BlsSignaturePop};
use blst::min_pk::{PublicKey, SecretKey, Signature};
use blst::{blst_scalar, MultiPoint, BLST_ERROR};
use rand_core::{OsRng, RngCore};

use crate::BlsError;

/// The signature DST of the proof-of-possession scheme.
#[cfg(test)]
pub(crate) fn pop_dst() -> &'static [u8] {
    dst()
}

fn dst() -> &'static [u8] {
    <Bls12381G2Impl as BlsSignaturePop>::SIG_DST
}

fn to_public_key(p: &G1Projective) -> Option<PublicKey> {
    PublicKey::deserialize(&G1Affine::from(p).to_uncompressed()).ok()
}

fn to_signature(p: &G2Projective) -> Option<Signature> {
    Signature::deserialize(&G2Affine::from(p).to_uncompressed()).ok()
}

/// A point blst computed (so known to be valid) back into blsful's type.
fn from_blst(sig: &Signature) -> Result<G2Projective, BlsError> {
    Option::<G2Affine>::from(G2Affine::from_uncompressed_unchecked(&sig.serialize()))
        .map(G2Projective::from)
        .ok_or_else(|| BlsError::Encoding("blst returned an unreadable G2 point".into()))
}

/// Parse a compressed G2 point, checked by blst to be on the curve, in the
/// prime-order subgroup and not the identity.
pub(crate) fn g2_decompress(bytes: &[u8]) -> Option<G2Projective> {
    Signature::sig_validate(bytes, true)
        .ok()
        .and_then(|sig| from_blst(&sig).ok())
}

/// `secret · H(msg)`.
pub(crate) fn sign(secret: &Scalar, msg: &[u8]) -> Result<G2Projective, BlsError> {
    sign_with(secret, msg, dst(), &[])
}

/// `secret · H_dst(aug ‖ msg)`.
pub(crate) fn sign_with(
    secret: &Scalar,
    msg: &[u8],
    dst: &[u8],
    aug: &[u8],
) -> Result<G2Projective, BlsError> {
    let sk = SecretKey::from_bytes(&secret.to_be_bytes())
        .map_err(|e| BlsError::Encoding(format!("secret share not usable by blst: {e:?}")))?;
    from_blst(&sk.sign(msg, dst, aug))
}

/// Whether `sig` is a signature over `msg` under `public_key`.
pub(crate) fn verify(public_key: &G1Projective, msg: &[u8], sig: &G2Projective) -> bool {
    verify_with(public_key, msg, dst(), &[], sig)
}

/// Whether `sig` is `sk · H_dst(aug ‖ msg)` for the `sk` of `public_key`.
pub(crate) fn verify_with(
    public_key: &G1Projective,
    msg: &[u8],
    dst: &[u8],
    aug: &[u8],
    sig: &G2Projective,
) -> bool {
    let (Some(pk), Some(sig)) = (to_public_key(public_key), to_signature(sig)) else {
        return false;
    };
    sig.verify(true, msg, dst, aug, &pk, true) == BLST_ERROR::BLST_SUCCESS
}

/// Whether every `(public key, signature)` pair signs `msg`, in one
/// randomized check (64-bit random weights): a batch holding an invalid
/// pair passes with probability at most 2⁻⁶⁴.
pub(crate) fn verify_batch(msg: &[u8], pairs: &[(G1Projective, G2Projective)]) -> bool {
    let mut pks = Vec::with_capacity(pairs.len());
    let mut sigs = Vec::with_capacity(pairs.len());
    for (pk, sig) in pairs {
        match (to_public_key(pk), to_signature(sig)) {
            (Some(pk), Some(sig)) => {
                pks.push(pk);
                sigs.push(sig);
            }
            _ => return false,
        }
    }
    let rands: Vec<blst_scalar> = pairs
        .iter()
        .map(|_| {
            let mut b = [0u8; 32];
            OsRng.fill_bytes(&mut b[..8]);
            // a zero weight would let a share escape the check
            b[0] |= 1;
            blst_scalar { b }
        })
        .collect();
    let msgs: Vec<&[u8]> = pairs.iter().map(|_| msg).collect();
    let pk_refs: Vec<&PublicKey> = pks.iter().collect();
    let sig_refs: Vec<&Signature> = sigs.iter().collect();
    Signature::verify_multiple_aggregate_signatures(
        &msgs,
        dst(),
        &pk_refs,
        true,
        &sig_refs,
        true,
        &rands,
        64,
    ) == BLST_ERROR::BLST_SUCCESS
}

/// `Σ sᵢ·Pᵢ` in G2 (one multi-scalar multiplication).
pub(crate) fn linear_combination(
    terms: &[(Scalar, G2Projective)],
) -> Result<G2Projective, BlsError> {
    let bad = || BlsError::Encoding("a G2 point blst does not accept".into());
    let points = terms
        .iter()
        .map(|(_, p)| to_signature(p).ok_or_else(bad))
        .collect::<Result<Vec<Signature>, BlsError>>()?;
    let scalars: Vec<u8> = terms.iter().flat_map(|(s, _)| s.to_le_bytes()).collect();
    from_blst(&points.as_slice().mult(&scalars, 255).to_signature())
}
