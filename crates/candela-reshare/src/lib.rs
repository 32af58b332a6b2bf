//! Resharing a threshold key to a new node set without changing the key.
//!
//! A network holds a secret `x` as Shamir shares `x_i` among the old
//! committee `P` (threshold `t`). To move it to a new committee `P'`
//! (threshold `t'`), a set `D ⊆ P` of at least `t` old members (the
//! *dealers*) each share their Lagrange-weighted share `λ_i·x_i` afresh,
//! with a random polynomial of degree `t' − 1`, and publish Feldman
//! commitments to it. Because `Σ_{i∈D} λ_i·x_i = x`, the sum of the
//! dealt polynomials is a new sharing of the same `x`; each member `j` of
//! `P'` sums what it received into its new share. Nothing reconstructs `x`,
//! and the public key `x·G` is unchanged.
//!
//! Every receiver checks each dealer's share against its commitments, and
//! each dealer's constant term against the dealer's known public share
//! (`C_i0 = λ_i·X_i`), so a bad dealer is named; it also checks that the
//! constant terms sum to the group key. The new committee then compares a
//! digest of the result (the group key and every new public share); a
//! member whose digest differs is named. Old members erase their shares only
//! when every new member has confirmed the same digest.
//!
//! The same protocol gives:
//! - **proactive refresh**: `P' = P` (shares change, the key does not, and
//!   shares from before and after a refresh do not combine);
//! - **repair**: a member that lost its share is a receiver only, and gets a
//!   new share of the same key from `t` others.
//!
//! The crate is generic over any prime-order group of the `group` crate
//! (secp256k1, BLS12-381 G1/G2, Ed25519's prime-order subgroup): no curve
//! arithmetic is written here, only calls to the curve crates' field and
//! group operations. It is sans-IO: [`ReshareSession`] is poked for
//! messages and fed the messages it receives; the transport must
//! authenticate senders and encrypt private messages.
#![deny(missing_docs)]

mod committee;
mod deal;
mod encoding;
mod error;
mod receive;
pub mod roots;
mod session;

pub use committee::{lagrange_at_zero, x_of, Committee, ReshareParams};
pub use deal::{deal, Dealing, DealtShares};
pub use error::ReshareError;
pub use receive::{confirmation_digest, evaluate_commitments, NewShare, Receiver};
pub use session::{BeforeConfirm, Outgoing, ReshareOutput, ReshareSession, Role, Step};

/// A node's index; its Shamir x-coordinate is `index + 1`.
pub type NodeIndex = u32;

/// A node's share of the key before the reshare, with the public facts every
/// participant agrees on.
#[derive(Clone)]
pub struct OldShare<G: group::Group> {
    /// This node's index in the old committee.
    pub me: NodeIndex,
    /// The secret share `x_me` (zeroized on drop).
    pub secret: G::Scalar,
}

impl<G: group::Group> Drop for OldShare<G> {
    fn drop(&mut self) {
        // `ff` fields are `Copy`; overwrite the value in place.
        self.secret = G::Scalar::ZERO;
    }
}

impl<G: group::Group> std::fmt::Debug for OldShare<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OldShare")
            .field("me", &self.me)
            .field("secret", &"<redacted>")
            .finish()
    }
}

use ff::Field as _;
