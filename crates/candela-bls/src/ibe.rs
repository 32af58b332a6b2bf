//! Identity-based encryption over the BLS root key, for access control.
//!
//! This is blsful's time-lock construction (the scheme Lit uses for
//! encryption with access-control conditions): the ciphertext is bound to an
//! identity `id`, and its decryption key is the BLS signature over `id`
//! under the root key (proof-of-possession scheme). A node's decryption
//! share is therefore its signature share over the identity; the client
//! combines `t` of them, verifies the combined signature against the public
//! key, and only then decrypts. Nodes never see the plaintext.
//!
//! Ciphertext wire form: blsful's serde_bare encoding of
//! `TimeCryptCiphertext<Bls12381G2Impl>`: `U` (48-byte compressed G1),
//! `V` (32 bytes), `W` (varint length, then the masked varint-length-prefixed
//! plaintext, padded to at least 32 bytes), and the scheme (one byte).
use blsful::{Bls12381G2Impl, PublicKey, TimeCryptCiphertext};

use crate::encoding::G1_BYTES;
use crate::key::BlsPublicKeySet;
use crate::sign::{self, BlsSignature, BlsSignatureShare};
use crate::{BlsError, BlsKeyShare, G1Projective, SCHEME};

/// Ciphertext bytes beyond the plaintext for a plaintext of `len` bytes.
pub fn ciphertext_overhead(len: usize) -> usize {
    let varint = |v: usize| -> usize {
        let mut n = 1;
        let mut v = v >> 7;
        while v > 0 {
            n += 1;
            v >>= 7;
        }
        n
    };
    let body = (varint(len) + len).max(32);
    G1_BYTES + 32 + varint(body) + body + 1 - len
}

/// Encrypt `plaintext` to `identity` under the BLS root public key. Random
/// per call; nothing secret is needed.
pub fn encrypt(
    public_key: &G1Projective,
    identity: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, BlsError> {
    let ct =
        PublicKey::<Bls12381G2Impl>(*public_key).encrypt_time_lock(SCHEME, plaintext, identity)?;
    Ok(Vec::<u8>::try_from(&ct)?)
}

/// This node's decryption share for `identity`: its signature share over
/// the identity bytes. Give it only to a caller that satisfies the
/// identity's conditions.
pub fn decryption_share(key: &BlsKeyShare, identity: &[u8]) -> Result<BlsSignatureShare, BlsError> {
    sign::sign_share(key, identity)
}

/// Verify one node's decryption share for `identity` against that node's
/// public share; a failure names the node.
pub fn verify_decryption_share(
    public_share: &G1Projective,
    identity: &[u8],
    share: &BlsSignatureShare,
) -> Result<(), BlsError> {
    sign::verify_share(public_share, identity, share)
}

fn parse(ciphertext: &[u8]) -> Result<TimeCryptCiphertext<Bls12381G2Impl>, BlsError> {
    let ct = TimeCryptCiphertext::<Bls12381G2Impl>::try_from(ciphertext)
        .map_err(|e| BlsError::Encoding(format!("ciphertext: {e}")))?;
    if ct.scheme != SCHEME {
        return Err(BlsError::Encoding(
            "ciphertext is not for the proof-of-possession scheme".into(),
        ));
    }
    Ok(ct)
}

fn open(ct: &TimeCryptCiphertext<Bls12381G2Impl>, key: &BlsSignature) -> Result<Vec<u8>, BlsError> {
    Option::<Vec<u8>>::from(ct.decrypt(&key.to_blsful())).ok_or(BlsError::DecryptionFailed)
}

/// Decrypt with a decryption key that is already combined **and verified**
/// (the BLS signature over the ciphertext's identity, checked with
/// [`sign::verify`] or produced by [`sign::combine_verified`]). This is the
/// second half of [`decrypt_with_shares`], for callers that open several
/// ciphertexts under one identity or combine the shares themselves, such as
/// [`crate::hybrid`].
///
/// A ciphertext made for another identity or key, or altered, is
/// [`BlsError::DecryptionFailed`]; bytes that are not a ciphertext are
/// [`BlsError::Encoding`].
pub fn decrypt_with_key(ciphertext: &[u8], key: &BlsSignature) -> Result<Vec<u8>, BlsError> {
    let ct = parse(ciphertext)?;
    open(&ct, key)
}

/// Combine decryption shares for `identity`, verify the combined key against
/// the set's public key, and decrypt.
///
/// Errors: fewer than `threshold` shares is [`BlsError::NotEnoughShares`];
/// a share that fails its node's public share is named
/// ([`BlsError::Culprit`]); a ciphertext made for another identity or key,
/// or altered, is [`BlsError::DecryptionFailed`].
pub fn decrypt_with_shares(
    public: &BlsPublicKeySet,
    identity: &[u8],
    ciphertext: &[u8],
    shares: &[BlsSignatureShare],
) -> Result<Vec<u8>, BlsError> {
    let ct = parse(ciphertext)?;
    let key = sign::combine_verified(public, identity, shares)?;
    open(&ct, &key)
}

/// [`decrypt_with_shares`] for a client that knows only the public key, not
/// the nodes' public shares: the combined key is still verified before
/// decrypting, but a bad share cannot be attributed
/// ([`BlsError::SignatureDoesNotVerify`]).
pub fn decrypt_with_shares_unattributed(
    public_key: &G1Projective,
    identity: &[u8],
    ciphertext: &[u8],
    shares: &[BlsSignatureShare],
) -> Result<Vec<u8>, BlsError> {
    let ct = parse(ciphertext)?;
    let key = sign::combine(shares)?;
    sign::verify(public_key, identity, &key)?;
    open(&ct, &key)
}
