//! The crate's one error type.
use thiserror::Error;

use crate::PartyIndex;

/// Everything that can go wrong in key generation, derivation or signing.
///
/// Variants that carry a `party` name the node at fault, so the caller can
/// report or exclude it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum FrostError {
    /// A signing scheme name that is not one of Lit's names.
    #[error("unknown signing scheme {0:?}")]
    UnknownScheme(String),
    /// A key type name that is not one of Lit's names.
    #[error("unknown key type {0:?}")]
    UnknownKeyType(String),
    /// A known scheme this crate cannot sign with (ECDSA and BLS live elsewhere).
    #[error("signing scheme {0} is not a FROST scheme of this crate")]
    UnsupportedScheme(&'static str),
    /// A key of one type was offered for a scheme that needs another.
    #[error("signing scheme {scheme} needs a {expected} key, got a {got} key")]
    WrongKeyType {
        /// The scheme asked for.
        scheme: &'static str,
        /// The key type the scheme needs.
        expected: &'static str,
        /// The key type that was offered.
        got: &'static str,
    },
    /// A message whose length the scheme refuses.
    #[error("signing scheme {scheme} signs {rule}; got {got} bytes")]
    MessageLength {
        /// The scheme asked for.
        scheme: &'static str,
        /// What the scheme accepts, in words.
        rule: &'static str,
        /// The length offered.
        got: usize,
    },
    /// Bad parameters: party counts, threshold, indices.
    #[error("bad parameters: {0}")]
    BadParameters(String),
    /// A party sent a message that does not parse or breaks the protocol.
    #[error("party {party} sent a bad message: {reason}")]
    BadMessage {
        /// The sender.
        party: PartyIndex,
        /// What was wrong.
        reason: String,
    },
    /// A party's DKG contribution failed verification (proof of knowledge or
    /// secret share).
    #[error("party {party} sent an invalid key-generation package")]
    BadDkgPackage {
        /// The party at fault.
        party: PartyIndex,
    },
    /// A party confirmed a different group key than this node holds.
    #[error("party {party} holds a different public key package")]
    InconsistentKey {
        /// The party whose confirmation differs.
        party: PartyIndex,
    },
    /// A signature share failed verification.
    #[error("party {party} sent an invalid signature share")]
    BadShare {
        /// The party at fault.
        party: PartyIndex,
    },
    /// Fewer signature shares than the key's threshold.
    #[error("{got} signature shares, the key needs {need}")]
    TooFewSigners {
        /// Shares offered.
        got: usize,
        /// The threshold.
        need: u16,
    },
    /// A commitment id that was already taken for a signature.
    #[error("commitment {id} was already used")]
    CommitmentUsed {
        /// The commitment id.
        id: u64,
    },
    /// A commitment id this pool never made.
    #[error("commitment {id} is unknown")]
    UnknownCommitment {
        /// The commitment id.
        id: u64,
    },
    /// The node holds no root key of this type (no DKG has run for it).
    #[error("no {key_type} root key: run its key generation first")]
    NoRootKey {
        /// The missing key type.
        key_type: &'static str,
    },
    /// Bytes that do not decode.
    #[error("encoding: {0}")]
    Encoding(String),
    /// Any other failure reported by the FROST library.
    #[error("frost: {0}")]
    Frost(String),
}
