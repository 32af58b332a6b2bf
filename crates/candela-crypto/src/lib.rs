//! Pure threshold cryptography for Candela.
//!
//! Nothing in this crate performs IO, reads a clock or spawns a thread. The
//! multi-party protocols are sans-IO [`session::Session`]s: the caller moves
//! their messages (over HTTP in the node, in memory in [`sim`]).
//!
//! - [`session`]: the narrow backend trait ([`session::EcdsaBackend`]) and the
//!   cait-sith implementation of distributed key generation and batched
//!   presignature generation.
//! - [`ecdsa`]: a node's signature share from a presignature, its
//!   verification against published commitments, and the combine step.
//! - [`derive`]: PKP key derivation (additive tweak), token ids, addresses.
//! - [`sim`]: an in-process simulator used by tests and benchmarks.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod derive;
pub mod ecdsa;
mod encoding;
pub mod error;
pub mod lagrange;
pub mod session;
pub mod sim;

pub use error::CryptoError;
pub use k256::{AffinePoint, ProjectivePoint, Scalar};

/// A node's position in the node set, starting at 0. Its Shamir x-coordinate
/// is `index + 1`.
pub type NodeIndex = u32;

/// The threshold for `n` nodes: more than two thirds, `floor(2n/3) + 1`.
pub fn threshold_for(n: usize) -> usize {
    2 * n / 3 + 1
}

#[cfg(test)]
mod tests {
    use super::threshold_for;

    #[test]
    fn threshold_is_more_than_two_thirds() {
        assert_eq!(threshold_for(3), 3);
        assert_eq!(threshold_for(4), 3);
        assert_eq!(threshold_for(5), 4);
        assert_eq!(threshold_for(7), 5);
        assert_eq!(threshold_for(10), 7);
        for n in 3..=10 {
            assert!(3 * threshold_for(n) > 2 * n);
        }
    }
}
