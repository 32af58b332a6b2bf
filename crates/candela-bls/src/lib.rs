//! Pure threshold BLS12-381 for Candela's second root key.
//!
//! Nothing in this crate performs IO, reads a clock or spawns a thread.
//!
//! - [`dkg`]: a distributed key generation without a dealer, as a sans-IO
//!   [`candela_crypto::session::Session`] (Feldman commitments published
//!   commit-then-reveal, private shares point to point, a confirmation round
//!   over the transcript, blame for a dealer whose share fails), and
//!   [`agreed_keygen`], the same followed by the agreement step of
//!   [`candela_crypto::agree`] so that every honest node keeps the key or
//!   none does.
//! - [`key`]: a node's [`BlsKeyShare`] (sealed-storage bytes) and the public
//!   [`BlsPublicKeySet`] that clients use to verify shares.
//! - [`sign`]: threshold signature shares, share verification, combination
//!   and verification (blsful `Bls12381G2Impl`, proof-of-possession scheme:
//!   public keys in G1, signatures in G2).
//! - [`ibe`]: identity-based encryption (blsful's time-lock construction):
//!   a decryption share is a signature share over the identity.
//! - [`hybrid`]: encryption of large data, streamed in bounded memory: a
//!   fresh data key under [`ibe`], the data under XChaCha20-Poly1305 (STREAM)
//!   in a versioned container.
//! - [`derived`]: signatures by derived keys (PKPs, action identity keys)
//!   in the message-augmentation form, which keeps them unrelated to one
//!   another and to decryption keys.
//! - [`sim`]: an in-process simulator used by tests and benchmarks.
//! - [`encoding`]: byte and hex forms of points and scalars.
//!
//! Node `i` (a [`NodeIndex`]) has Shamir x-coordinate `i + 1`, as in
//! `candela-crypto`; that x-coordinate is also blsful's share identifier and
//! the identifier byte of the 97-byte share wire form, so node indices are
//! limited to `0..=254`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod derived;
pub mod dkg;
pub mod encoding;
pub mod error;
mod fast;
pub mod hybrid;
pub mod ibe;
pub mod key;
mod poly;
pub mod sign;
pub mod sim;

pub use blsful::inner_types::{G1Projective, G2Projective, Scalar};
pub use blsful::Bls12381G2Impl;
pub use candela_crypto::{threshold_for, NodeIndex};
pub use dkg::{agreed_keygen, keygen, BlsDkg};
pub use error::{BlsError, Corruption, Fault};
pub use hybrid::{
    decrypt_bytes_with_shares, decrypt_either_with_key, decrypt_stream_with_key,
    decrypt_stream_with_shares, encrypt_bytes, encrypt_stream,
};
pub use ibe::{
    decrypt_with_key, decrypt_with_shares, decrypt_with_shares_unattributed, decryption_share,
    encrypt, verify_decryption_share,
};
pub use key::{BlsKeyShare, BlsPublicKeySet};
pub use sign::{
    combine, combine_verified, sign_share, verify, verify_share, verify_shares, BlsSignature,
    BlsSignatureShare,
};

/// The largest node index this crate accepts: the share identifier
/// (`index + 1`) must fit the one identifier byte of the wire form.
pub const MAX_NODE_INDEX: NodeIndex = 254;

/// The signature scheme used everywhere in this crate, the one Lit uses for
/// its BLS network key (domain separation tag
/// `BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_`).
pub const SCHEME: blsful::SignatureSchemes = blsful::SignatureSchemes::ProofOfPossession;
