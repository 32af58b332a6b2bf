//! Typed errors of the cryptographic layer.
use crate::NodeIndex;

/// Everything that can go wrong in the pure cryptographic code.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
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
    /// A presignature batch's commitments do not fit together, and the data
    /// cannot say which maker lied (exactly `t` makers, or more liars than
    /// the bound allows): the batch is discarded everywhere and nobody is
    /// named, so no honest maker is blamed.
    #[error(
        "presignature commitments are inconsistent; no single maker among {makers:?} can be named"
    )]
    UnattributableCommitments {
        /// The makers of the batch.
        makers: Vec<NodeIndex>,
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
    /// A key generation ended without a key at every honest node (the
    /// agreement step, [`crate::agree`]): `culprits` are the nodes proven at
    /// fault by their own signatures (to leave out of the retry); it may be
    /// empty when nobody is proven at fault.
    #[error("key generation discarded everywhere (proven culprits {culprits:?}): {reason}")]
    KeygenDiscarded {
        /// Nodes proven at fault.
        culprits: Vec<NodeIndex>,
        /// What went wrong.
        reason: String,
    },
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
            CryptoError::KeygenDiscarded { culprits, .. } => culprits.first().copied(),
            _ => None,
        }
    }
}
