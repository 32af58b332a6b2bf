//! Lagrange coefficients over node indices (x-coordinate = index + 1).
use crate::{CryptoError, NodeIndex, Scalar};

/// The Shamir x-coordinate of a node.
pub fn x_of(index: NodeIndex) -> Scalar {
    Scalar::from(u64::from(index) + 1)
}

/// The coefficient of `me` when interpolating at `x` over `set`.
pub fn coefficient_at(set: &[NodeIndex], me: NodeIndex, x: &Scalar) -> Result<Scalar, CryptoError> {
    if !set.contains(&me) {
        return Err(CryptoError::BadParameters(format!(
            "node {me} is not in the set"
        )));
    }
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
    let inv = Option::<Scalar>::from(den.invert())
        .ok_or_else(|| CryptoError::BadParameters("duplicate index in set".into()))?;
    Ok(num * inv)
}

/// The coefficient of `me` when interpolating at zero over `set`.
pub fn coefficient(set: &[NodeIndex], me: NodeIndex) -> Result<Scalar, CryptoError> {
    coefficient_at(set, me, &Scalar::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k256::elliptic_curve::Field;
    use rand_core::OsRng;

    #[test]
    fn coefficients_reconstruct_a_random_polynomial_over_any_subset() {
        // f(x) = a0 + a1 x + a2 x^2, shares at x = i+1 for i in 0..5
        let a: Vec<Scalar> = (0..3).map(|_| Scalar::random(&mut OsRng)).collect();
        let f = |x: Scalar| a[0] + a[1] * x + a[2] * x * x;
        for set in [vec![0, 1, 2], vec![1, 3, 4], vec![0, 2, 4, 3]] {
            let sum: Scalar = set
                .iter()
                .map(|&i| coefficient(&set, i).unwrap() * f(x_of(i)))
                .sum();
            assert_eq!(sum, a[0]);
            let at7 = Scalar::from(7u64);
            let sum7: Scalar = set
                .iter()
                .map(|&i| coefficient_at(&set, i, &at7).unwrap() * f(x_of(i)))
                .sum();
            assert_eq!(sum7, f(at7));
        }
    }

    #[test]
    fn coefficient_of_an_outsider_is_refused() {
        assert!(coefficient(&[0, 1], 2).is_err());
    }
}
