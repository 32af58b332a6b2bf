//! Threshold Schnorr for Candela: FROST over Ed25519 (Solana and any
//! RFC 8032 verifier) and secp256k1 taproot (BIP-340/341, Bitcoin P2TR),
//! on the Zcash Foundation's `frost-core` 3.
//!
//! Pure and sans-IO, like `candela-crypto`: a dealerless key generation
//! session ([`DkgSession`], driven by the node or by [`sim`]), PKP and
//! action-key derivation by an additive tweak ([`Tweak`]), pre-made
//! single-use signing commitments ([`CommitmentPool`]), signature shares
//! ([`sign_share`]) and aggregation that names a bad share
//! ([`aggregate`]), and chain addresses ([`address`]).
//!
//! Parties are 0-based [`PartyIndex`]es as in `candela-crypto`; the FROST
//! identifier of party `i` is `i + 1`. Read `docs/schnorr-schemes.md` for
//! the scheme names, derivations and measured cost.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod address;
mod dkg;
mod error;
mod ids;
mod pool;
pub mod roots;

mod scheme;
pub mod session;
mod sign;
pub mod sim;
mod suite;
mod tweak;

pub use dkg::{confirmation_digest, DkgSession, FrostKeyShare};
pub use error::FrostError;
pub use frost_core;
pub use frost_ed25519::Ed25519Sha512;
pub use frost_secp256k1_tr::Secp256K1Sha256TR;
pub use ids::identifier;
pub use pool::{make_commitments, CommitmentId, CommitmentPool, PrivateNonces, PublicCommitment};
pub use scheme::{KeyType, SigningScheme, MAX_ED25519_MESSAGE};
pub use sign::{aggregate, sign_share, signing_package, verify_signature};
pub use suite::Suite;
pub use tweak::{action_key_id, pkp_public_key_from_root, Tweak};

/// A party (node) index, 0-based, as in `candela-crypto`.
pub type PartyIndex = u32;

/// A scalar of a ciphersuite.
pub type Scalar<C> = frost_core::Scalar<C>;

/// A tweak of either suite, chosen by signing scheme at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnyTweak {
    /// For `SchnorrEd25519Sha512`.
    Ed25519(Tweak<Ed25519Sha512>),
    /// For `SchnorrK256Taproot`.
    K256Taproot(Tweak<Secp256K1Sha256TR>),
}

impl AnyTweak {
    /// The key type the tweak applies to.
    pub fn key_type(&self) -> KeyType {
        match self {
            Self::Ed25519(_) => KeyType::Ed25519,
            Self::K256Taproot(_) => KeyType::K256Taproot,
        }
    }

    /// The tweak scalar in its suite's canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Self::Ed25519(t) => t.to_bytes(),
            Self::K256Taproot(t) => t.to_bytes(),
        }
    }
}

/// The tweak of a Lit Action's identity key for `scheme` (see
/// [`Tweak::action`] for the exact input). ECDSA and BLS action keys are
/// not this crate's: they are refused with [`FrostError::UnsupportedScheme`].
pub fn action_key_tweak(scheme: SigningScheme, action_cid: &str) -> Result<AnyTweak, FrostError> {
    match scheme {
        SigningScheme::SchnorrEd25519Sha512 => Ok(AnyTweak::Ed25519(Tweak::action(action_cid)?)),
        SigningScheme::SchnorrK256Taproot => Ok(AnyTweak::K256Taproot(Tweak::action(action_cid)?)),
        other => Err(FrostError::UnsupportedScheme(other.as_str())),
    }
}

/// The tweak of a PKP for `scheme` and key id.
pub fn pkp_tweak(scheme: SigningScheme, key_id: &[u8]) -> Result<AnyTweak, FrostError> {
    match scheme {
        SigningScheme::SchnorrEd25519Sha512 => Ok(AnyTweak::Ed25519(Tweak::pkp(key_id)?)),
        SigningScheme::SchnorrK256Taproot => Ok(AnyTweak::K256Taproot(Tweak::pkp(key_id)?)),
        other => Err(FrostError::UnsupportedScheme(other.as_str())),
    }
}
