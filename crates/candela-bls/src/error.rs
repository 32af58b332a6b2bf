//! Typed errors of the threshold BLS layer.
use std::fmt;

use candela_crypto::CryptoError;
use serde::{Deserialize, Serialize};

use crate::NodeIndex;

/// What a named node did wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Fault {
    /// Its revealed commitment vector does not hash to the commitment hash it
    /// sent in the first round.
    CommitmentHashMismatch,
    /// Its revealed commitment vector has the wrong length or an invalid point.
    MalformedCommitment,
    /// The private share it dealt does not match its Feldman commitments.
    BadPrivateShare,
    /// It sent bytes that do not parse as a protocol message.
    MalformedMessage,
    /// Its signature or decryption share does not verify against its public
    /// share.
    InvalidSignatureShare,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Fault::CommitmentHashMismatch => {
                "revealed commitments do not match its commitment hash"
            }
            Fault::MalformedCommitment => "revealed a malformed commitment vector",
            Fault::BadPrivateShare => "dealt a private share that fails its commitments",
            Fault::MalformedMessage => "sent a malformed message",
            Fault::InvalidSignatureShare => "returned a share that does not verify",
        })
    }
}

/// Why a hybrid container's data was refused ([`BlsError::Corrupt`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Corruption {
    /// The chunk fails authentication: it was altered, moved, cut short,
    /// taken from another container or placed under another header, or
    /// extra bytes follow the final chunk.
    Tampered,
    /// The data ends after a whole chunk, before the final chunk: the
    /// container was cut short at a chunk boundary.
    Truncated,
}

impl fmt::Display for Corruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Corruption::Tampered => {
                "does not authenticate (altered, reordered, cut short, from another container or header, or followed by extra bytes)"
            }
            Corruption::Truncated => "the data ends before the final chunk (truncated)",
        })
    }
}

impl From<std::io::Error> for BlsError {
    fn from(e: std::io::Error) -> Self {
        BlsError::Io {
            kind: e.kind(),
            message: e.to_string(),
        }
    }
}

/// Everything that can go wrong in this crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BlsError {
    /// The parameters are inconsistent (threshold, participant list, index).
    #[error("bad parameters: {0}")]
    BadParameters(String),
    /// A node is to blame: it is named, with what it did.
    #[error("node {node} {reason}")]
    Culprit {
        /// The node at fault.
        node: NodeIndex,
        /// What it did.
        reason: Fault,
    },
    /// Another node reported a fault of a third node during the key
    /// generation; this node could not check the claim (the share was
    /// private), so the session ends without a key.
    #[error("node {accuser} reports that node {accused} {reason}")]
    Accused {
        /// The node that complained.
        accuser: NodeIndex,
        /// The node it blames.
        accused: NodeIndex,
        /// What it reports.
        reason: Fault,
    },
    /// A node confirmed a different transcript of commitments than ours:
    /// some dealer showed different commitments to different nodes (or that
    /// node lies). `dealer` is the first dealer whose commitment differs.
    #[error("node {node} confirmed a different commitment transcript (first differing dealer: {dealer:?})")]
    TranscriptMismatch {
        /// The node whose confirmation differs.
        node: NodeIndex,
        /// The first dealer whose commitment hash differs, if identifiable.
        dealer: Option<NodeIndex>,
    },
    /// No message can arrive any more (in-process simulation only): the
    /// listed nodes never sent what this node waits for.
    #[error("protocol stalled waiting for nodes {waiting:?}")]
    Stalled {
        /// The nodes this node is waiting for.
        waiting: Vec<NodeIndex>,
    },
    /// Fewer shares than the threshold were supplied.
    #[error("need {needed} shares, have {have}")]
    NotEnoughShares {
        /// How many shares are required.
        needed: usize,
        /// How many were supplied.
        have: usize,
    },
    /// Two shares carry the same node.
    #[error("two shares from node {node}")]
    DuplicateShare {
        /// The node that appears twice.
        node: NodeIndex,
    },
    /// A share comes from a node that holds no key share.
    #[error("share from node {node}, which holds no key share")]
    UnknownNode {
        /// The unknown node.
        node: NodeIndex,
    },
    /// The combined signature does not verify under the public key: too few
    /// or wrong shares, or shares over another message or identity.
    #[error("combined signature does not verify under the public key (too few, wrong or mismatched shares)")]
    SignatureDoesNotVerify,
    /// The ciphertext does not open with a key that verified: it was made for
    /// another identity or key, or it was altered.
    #[error("ciphertext does not decrypt (made for another identity or key, or altered)")]
    DecryptionFailed,
    /// A one-piece ciphertext opened, but its plaintext does not hash to the
    /// `dataToEncryptHash` it came with.
    #[error("the plaintext does not hash to dataToEncryptHash")]
    DataHashMismatch,
    /// A hybrid container ([`crate::hybrid`]) was made for another identity:
    /// the identity hash in its header is not the hash of the identity given.
    #[error("the container was encrypted to another identity")]
    WrongIdentity,
    /// A hybrid container's header is not one this crate reads: wrong magic,
    /// unknown version, cut short, or a data-key ciphertext that is malformed
    /// or does not open under the verified key (the header was altered).
    #[error("bad hybrid header: {0}")]
    BadHeader(String),
    /// A hybrid container's data does not authenticate; nothing from chunk
    /// `chunk` on may be trusted, and what was already written must be
    /// discarded.
    #[error("hybrid data corrupt at chunk {chunk}: {reason}")]
    Corrupt {
        /// The zero-based chunk where the check failed.
        chunk: u64,
        /// What is wrong.
        reason: Corruption,
    },
    /// Reading the input or writing the output failed.
    #[error("io ({kind:?}): {message}")]
    Io {
        /// The IO error's kind.
        kind: std::io::ErrorKind,
        /// The IO error's message.
        message: String,
    },
    /// Bytes that should encode a point, scalar, share or record do not.
    #[error("malformed encoding: {0}")]
    Encoding(String),
    /// blsful refused an operation.
    #[error("blsful: {0}")]
    Backend(String),
    /// The session already returned its output or an error.
    #[error("session already finished")]
    Finished,
}

impl BlsError {
    /// The node to blame, if the error names one unambiguously.
    pub fn culprit(&self) -> Option<NodeIndex> {
        match self {
            BlsError::Culprit { node, .. } => Some(*node),
            _ => None,
        }
    }
}

impl From<blsful::BlsError> for BlsError {
    fn from(e: blsful::BlsError) -> Self {
        BlsError::Backend(e.to_string())
    }
}

impl From<BlsError> for CryptoError {
    fn from(e: BlsError) -> Self {
        match e {
            BlsError::Culprit {
                node,
                reason: Fault::BadPrivateShare | Fault::InvalidSignatureShare,
            } => CryptoError::InvalidShare { culprit: node },
            BlsError::Culprit { node, .. } => CryptoError::InconsistentCommitment { culprit: node },
            BlsError::BadParameters(s) => CryptoError::BadParameters(s),
            BlsError::NotEnoughShares { needed, have } => {
                CryptoError::NotEnoughShares { needed, have }
            }
            BlsError::SignatureDoesNotVerify => CryptoError::SignatureDoesNotVerify,
            BlsError::Encoding(s) => CryptoError::Encoding(s),
            other => CryptoError::Protocol(other.to_string()),
        }
    }
}
