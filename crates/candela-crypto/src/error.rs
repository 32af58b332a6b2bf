//! Typed errors of the cryptographic layer.
use crate::NodeIndex;

/// Everything that can go wrong in the pure cryptographic code.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CryptoError {
    /// The protocol parameters are inconsistent (threshold, participant list).
    #[error("bad protocol parameters: {0}")]
    BadParameters(String),
    /// A peer sent something that made the protocol fail.
    #[error("protocol failed: {0}")]
    Protocol(String),
    /// A node's published commitment is inconsistent with the others.
    #[error("node {culprit} published an inconsistent commitment")]
    InconsistentCommitment {
        /// The node at fault.
        culprit: NodeIndex,
    },
    /// A node's signature share does not match its commitments.
    #[error("node {culprit} returned an invalid signature share")]
    InvalidShare {
        /// The node at fault.
        culprit: NodeIndex,
    },
    /// Fewer shares than the threshold were supplied.
    #[error("need {needed} shares, have {have}")]
    NotEnoughShares {
        /// How many shares are required.
        needed: usize,
        /// How many were supplied.
        have: usize,
    },
    /// The combined signature does not verify under the public key.
    #[error("combined signature does not verify")]
    SignatureDoesNotVerify,
    /// Bytes that should encode a scalar, point or record do not.
    #[error("malformed encoding: {0}")]
    Encoding(String),
}

impl CryptoError {
    /// The node to blame, if the error is attributable to one.
    pub fn culprit(&self) -> Option<NodeIndex> {
        match self {
            CryptoError::InconsistentCommitment { culprit }
            | CryptoError::InvalidShare { culprit } => Some(*culprit),
            _ => None,
        }
    }
}
