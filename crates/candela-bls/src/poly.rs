//! Polynomial evaluation and interpolation over the BLS12-381 scalar field
//! and in G1 (Feldman commitments), on blsful's re-exported group types.
use std::collections::BTreeMap;

use blsful::inner_types::{G1Projective, Group, Scalar};
use rand_core::{OsRng, RngCore};
use zeroize::Zeroize;

use crate::{BlsError, NodeIndex};

/// The Shamir x-coordinate of a node (also blsful's share identifier).
pub(crate) fn x_of(index: NodeIndex) -> Scalar {
    Scalar::from(u64::from(index) + 1)
}

/// A uniformly random scalar from the operating system's generator.
pub(crate) fn random_scalar() -> Scalar {
    let mut wide = [0u8; 64];
    OsRng.fill_bytes(&mut wide);
    let s = Scalar::from_bytes_wide(&wide);
    wide.zeroize();
    s
}

/// `f(x) = Σ a_k x^k` (Horner).
pub(crate) fn eval_scalar(coefficients: &[Scalar], x: &Scalar) -> Scalar {
    coefficients
        .iter()
        .rev()
        .fold(Scalar::ZERO, |acc, a| acc * x + a)
}

/// `Σ C_k x^k` for commitments `C_k = a_k·G` (Horner in G1).
pub(crate) fn eval_commitments(commitments: &[G1Projective], x: &Scalar) -> G1Projective {
    commitments
        .iter()
        .rev()
        .fold(G1Projective::identity(), |acc, c| acc * x + c)
}

/// The coefficient of `me` when interpolating at `x` over `set`.
pub(crate) fn lagrange_at(
    set: &[NodeIndex],
    me: NodeIndex,
    x: &Scalar,
) -> Result<Scalar, BlsError> {
    let xm = x_of(me);
    let mut num = Scalar::ONE;
    let mut den = Scalar::ONE;
    for &j in set {
        if j == me {
            continue;
        }
        let xj = x_of(j);
        num *= xj - x;
        den *= xj - xm;
    }
    Option::<Scalar>::from(den.invert())
        .map(|inv| num * inv)
        .ok_or_else(|| BlsError::BadParameters("duplicate index in interpolation set".into()))
}

/// Check that the points `(i, P_i)` lie on one polynomial of degree `< t`
/// whose value at zero is `at_zero`: interpolating the first `t` must give
/// `at_zero` and every other point. Returns the first node that does not fit.
pub(crate) fn check_public_shares(
    shares: &BTreeMap<NodeIndex, G1Projective>,
    t: usize,
    at_zero: &G1Projective,
) -> Result<(), BlsError> {
    let nodes: Vec<NodeIndex> = shares.keys().copied().collect();
    if t == 0 || nodes.len() < t {
        return Err(BlsError::BadParameters(format!(
            "{} public shares cannot define a threshold-{t} key",
            nodes.len()
        )));
    }
    let basis = &nodes[..t];
    let interpolate = |x: &Scalar| -> Result<G1Projective, BlsError> {
        let mut acc = G1Projective::identity();
        for &j in basis {
            let p = shares
                .get(&j)
                .ok_or_else(|| BlsError::BadParameters(format!("no public share for {j}")))?;
            acc += p * lagrange_at(basis, j, x)?;
        }
        Ok(acc)
    };
    if interpolate(&Scalar::ZERO)? != *at_zero {
        return Err(BlsError::Encoding(
            "public shares do not interpolate to the public key".into(),
        ));
    }
    for (&m, p) in shares.iter().skip(t) {
        if interpolate(&x_of(m))? != *p {
            return Err(BlsError::Encoding(format!(
                "public share of node {m} is off the key's polynomial"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commitments_evaluate_like_the_polynomial() {
        let a: Vec<Scalar> = (0..4).map(|_| random_scalar()).collect();
        let c: Vec<G1Projective> = a.iter().map(|k| G1Projective::GENERATOR * k).collect();
        for i in 0..6u32 {
            let x = x_of(i);
            assert_eq!(
                G1Projective::GENERATOR * eval_scalar(&a, &x),
                eval_commitments(&c, &x)
            );
        }
    }

    #[test]
    fn lagrange_reconstructs_the_constant_term_over_any_subset() {
        let a: Vec<Scalar> = (0..3).map(|_| random_scalar()).collect();
        for set in [vec![0u32, 1, 2], vec![1, 3, 4], vec![0, 2, 4, 3]] {
            let sum = set.iter().fold(Scalar::ZERO, |acc, &i| {
                acc + lagrange_at(&set, i, &Scalar::ZERO).unwrap() * eval_scalar(&a, &x_of(i))
            });
            assert_eq!(sum, a[0]);
        }
    }

    #[test]
    fn a_public_share_off_the_polynomial_is_detected() {
        let a: Vec<Scalar> = (0..3).map(|_| random_scalar()).collect();
        let g = G1Projective::GENERATOR;
        let mut shares: BTreeMap<NodeIndex, G1Projective> = (0..5u32)
            .map(|i| (i, g * eval_scalar(&a, &x_of(i))))
            .collect();
        let pk = g * a[0];
        check_public_shares(&shares, 3, &pk).unwrap();
        shares.insert(4, g);
        assert!(check_public_shares(&shares, 3, &pk).is_err());
    }
}
