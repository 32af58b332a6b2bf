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
//! - [`agree`]: the agreement step after a key generation, so that every
//!   honest node keeps the new key or none does, naming proven equivocators.
//! - [`derive`]: PKP key derivation (additive tweak), token ids, addresses.
//! - [`sim`]: an in-process simulator used by tests and benchmarks.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod agree;
pub mod consistency;
pub mod derive;
pub mod dleq;
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

/// Refuse a threshold that is not safe for `n` nodes.
///
/// The threshold is a safety property, not a setting. Any two signing sets
/// of `t` nodes share at least `2t - n` nodes; only with `t > 2n/3` does
/// that overlap exceed the `n/3` faulty nodes the network tolerates, so
/// every two sets share an honest node that refuses to use one
/// presignature for two requests, even when two honest coordinators have
/// disjoint views of who is live. Above `n` no set can sign at all.
pub fn check_threshold(n: usize, t: usize) -> Result<(), CryptoError> {
    let least = threshold_for(n);
    if n == 0 || t < least || t > n {
        return Err(CryptoError::BadParameters(format!(
            "threshold {t} for {n} nodes is not safe: it must be between floor(2n/3)+1 = {least} and n = {n}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{check_threshold, threshold_for};

    #[test]
    fn a_threshold_of_two_thirds_or_less_or_above_n_is_refused() {
        for n in 1..=31 {
            for t in 0..=n + 1 {
                let safe = t > 2 * n / 3 && t <= n;
                assert_eq!(check_threshold(n, t).is_ok(), safe, "n = {n}, t = {t}");
            }
        }
        let why = check_threshold(7, 4).unwrap_err().to_string();
        assert!(
            why.contains("threshold 4 for 7 nodes") && why.contains("= 5"),
            "{why}"
        );
    }

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
