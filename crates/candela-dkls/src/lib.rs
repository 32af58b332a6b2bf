//! Threshold ECDSA for Candela over DKLs23 (Doerner, Kondi, Lee, shelat,
//! "Threshold ECDSA in Three Rounds", ePrint 2023/765), using the `dkls23`
//! crate (0xCarbon) through its public API.
//!
//! Nothing here performs IO, reads a clock or spawns a thread. Key
//! generation ([`DklsKeygen`]) and signing ([`DklsSign`]) are sans-IO
//! sessions of the same shape as `candela_crypto::session`: poke for
//! messages to send, feed received messages in any order, get the output.
//!
//! - Key generation is dealerless and slow (seconds: every pair of nodes
//!   runs its base OTs once); its share is large (~52 KB per other node).
//!   The node runs it inside the agreement step ([`agreed_keygen`]).
//! - Signing needs the digest first: three message rounds among exactly
//!   `threshold` signers, then a local combine that yields a standard k256
//!   signature with recovery id. There is no presignature pool.
//! - An abort the crate blames on a node ([`DklsError::Blamed`]) must
//!   exclude that node from signing for good ([`ExclusionList`]): the
//!   base-OT state is reused by every signature.
//! - Session ids ([`SessionId`]) are derived from the root key, tweak,
//!   digest, signer set and request id, and refused when seen before.
//!
//! The crate uses k256 0.14; this crate's interface uses the workspace's
//! k256 0.13, converting through byte encodings only ([`convert`]).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod agree;
pub mod convert;
pub mod error;
pub mod exclusion;
pub mod keygen;
pub mod session_id;
pub mod share;
pub mod sign;
pub mod sim;
pub mod wire;

use candela_crypto::session::Step;

pub use agree::agreed_keygen;
pub use candela_crypto::NodeIndex;
pub use error::DklsError;
pub use exclusion::ExclusionList;
pub use keygen::DklsKeygen;
pub use session_id::{SeenSessions, SessionId};
pub use share::DklsKeyShare;
pub use sign::{derived_public_key, verify_signature, DklsSign, DklsSignature, SignRequest};

/// One node's side of a multi-party protocol, driven without IO (the shape
/// of `candela_crypto::session::Session`, with this crate's error).
pub trait DklsSession: Send {
    /// What the protocol produces.
    type Output;
    /// Advance as far as possible.
    fn poke(&mut self) -> Result<Step<Self::Output>, DklsError>;
    /// Deliver a message from another participant.
    fn receive(&mut self, from: NodeIndex, message: Vec<u8>);
}

/// A boxed session.
pub type BoxedDklsSession<T> = Box<dyn DklsSession<Output = T>>;

/// Start key generation (see [`DklsKeygen::new`]).
pub fn keygen(
    participants: &[NodeIndex],
    me: NodeIndex,
    threshold: usize,
    context: &[u8],
) -> Result<BoxedDklsSession<DklsKeyShare>, DklsError> {
    Ok(Box::new(DklsKeygen::new(
        participants,
        me,
        threshold,
        context,
    )?))
}

/// Start signing (see [`DklsSign::new`]).
pub fn sign(
    share: &DklsKeyShare,
    request: &SignRequest<'_>,
    excluded: &ExclusionList,
    seen: &mut dyn SeenSessions,
) -> Result<BoxedDklsSession<DklsSignature>, DklsError> {
    Ok(Box::new(DklsSign::new(share, request, excluded, seen)?))
}
