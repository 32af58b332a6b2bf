//! Typed errors, and the mapping of `dkls23`'s aborts onto them.
use dkls23::protocols::{Abort, AbortKind, AbortReason, PartyIndex};

use crate::NodeIndex;

/// Everything that can go wrong in this crate.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum DklsError {
    /// The parameters are inconsistent (threshold, participants, signers).
    #[error("bad parameters: {0}")]
    BadParameters(String),
    /// A node's message failed a check that only its own messages enter:
    /// the node misbehaved (messages are authenticated by the transport).
    /// Exclude it from every future signing set ([`crate::ExclusionList`]).
    #[error("node {party} misbehaved: {reason}")]
    Blamed {
        /// The node at fault.
        party: NodeIndex,
        /// What it did.
        reason: String,
        /// `dkls23` classified the abort as `BanCounterparty`: the failed
        /// check guards the base-OT state that every signature reuses, so
        /// signing with this node again would let it learn the key.
        leaks_ot_state: bool,
    },
    /// A node's message belongs to another session (other key, digest,
    /// signer set or attempt). Its sender is not proven at fault: a
    /// coordinator that gave the signers different requests causes this too.
    #[error("node {party} answered another signing session")]
    SessionMismatch {
        /// The node whose message did not match.
        party: NodeIndex,
    },
    /// The protocol aborted and nobody can be named (for example the last
    /// round's values do not combine to a valid signature: DKLs23 does not
    /// identify who sent a bad last-round value).
    #[error("protocol aborted: {0}")]
    Aborted(String),
    /// The signing session id was already used by this caller.
    #[error("signing session id {0} was already used")]
    SessionIdReused(String),
    /// The signer set includes a node excluded for misbehaviour.
    #[error("node {0} is excluded from signing")]
    Excluded(NodeIndex),
    /// Bytes that should encode a message, key share or point do not.
    #[error("malformed encoding: {0}")]
    Encoding(String),
    /// The final signature does not verify under the derived public key.
    #[error("signature does not verify under the derived public key")]
    SignatureDoesNotVerify,
}

impl DklsError {
    /// The node proven at fault, if any.
    pub fn culprit(&self) -> Option<NodeIndex> {
        match self {
            DklsError::Blamed { party, .. } => Some(*party),
            _ => None,
        }
    }
}

/// Map a `dkls23` abort to a typed error, naming the culprit where the
/// crate identifies one; `node` maps the crate's party indices to nodes.
pub(crate) fn from_abort(
    abort: Abort,
    node: impl Fn(PartyIndex) -> Option<NodeIndex>,
) -> DklsError {
    let reason = abort.reason.to_string();
    let blame = |p: PartyIndex, leaks_ot_state: bool| match node(p) {
        Some(party) => DklsError::Blamed {
            party,
            reason: reason.clone(),
            leaks_ot_state,
        },
        None => DklsError::Aborted(format!("{reason} (unknown party {p})")),
    };
    if let AbortKind::BanCounterparty(p) = abort.kind {
        return blame(p, true);
    }
    match &abort.reason {
        // Checks of values the named counterparty alone sent (its proof,
        // its commitment and opening, its instance point, its seeds).
        AbortReason::ProofVerificationFailed { counterparty }
        | AbortReason::CommitmentMismatch { counterparty }
        | AbortReason::TrivialInstancePoint { counterparty }
        | AbortReason::ZeroShareDecommitFailed { counterparty }
        | AbortReason::OtConsistencyCheckFailed { counterparty }
        | AbortReason::GammaUInconsistency { counterparty }
        | AbortReason::MultiplicationVerificationFailed { counterparty, .. } => {
            blame(*counterparty, false)
        }
        AbortReason::ChainCodeCommitmentFailed { party } => blame(*party, false),
        AbortReason::SessionBindingMismatch { counterparty } => match node(*counterparty) {
            Some(party) => DklsError::SessionMismatch { party },
            None => DklsError::Aborted(reason),
        },
        _ => DklsError::Aborted(reason),
    }
}
