//! Why a reshare failed, naming the party at fault where the data proves it.
use crate::NodeIndex;

/// A reshare error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReshareError {
    /// The committees, thresholds or dealer set do not make a valid reshare.
    #[error("bad reshare parameters: {0}")]
    BadParameters(String),
    /// A dealer's commitments or share are wrong; the dealer is excluded
    /// and the reshare restarts without it.
    #[error("dealer {dealer} dealt a bad sharing: {reason}")]
    BadDealing {
        /// The dealer at fault.
        dealer: NodeIndex,
        /// What was wrong.
        reason: String,
    },
    /// The dealers' constant terms do not sum to the group key, and no
    /// dealer's public share was known to say which one is wrong.
    #[error("the dealings do not add up to the group key (dealer unknown)")]
    WrongSum,
    /// A message could not be decoded.
    #[error("message from node {party} does not decode: {reason}")]
    BadMessage {
        /// The sender.
        party: NodeIndex,
        /// What was wrong.
        reason: String,
    },
    /// A message belongs to another reshare (another epoch or key).
    #[error("message from node {party} belongs to another reshare")]
    WrongContext {
        /// The sender.
        party: NodeIndex,
    },
    /// A new member confirmed a different result than this node computed.
    #[error("node {party} confirmed a different result of the reshare")]
    Disagreement {
        /// The node whose confirmation differs.
        party: NodeIndex,
    },
    /// The new share could not be stored before confirming it.
    #[error("cannot store the new share: {0}")]
    Storage(String),
    /// A node sent a message its role does not allow (e.g. a non-dealer
    /// dealing, or a second dealing).
    #[error("node {party} sent an unexpected {what}")]
    Unexpected {
        /// The sender.
        party: NodeIndex,
        /// Which message.
        what: &'static str,
    },
}

impl ReshareError {
    /// The node the error names as at fault, if any.
    pub fn culprit(&self) -> Option<NodeIndex> {
        match self {
            ReshareError::BadDealing { dealer, .. } => Some(*dealer),
            ReshareError::BadMessage { party, .. }
            | ReshareError::WrongContext { party }
            | ReshareError::Disagreement { party }
            | ReshareError::Unexpected { party, .. } => Some(*party),
            ReshareError::BadParameters(_) | ReshareError::WrongSum | ReshareError::Storage(_) => {
                None
            }
        }
    }
}
