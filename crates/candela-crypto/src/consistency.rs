//! Do published points lie on one polynomial, and if not, who is provably
//! off it?
//!
//! Node `j` publishes `P_j = f(x_j)·G` for a secret polynomial `f` of degree
//! `< t` (a public key share, a presignature commitment). Sometimes the
//! value at zero is known independently (the *anchor*: the root public key,
//! or `G` for `k_j·R` since `k·R = G`). With `m` published points and `a`
//! anchor points, a wrong point is *detected* whenever `m + a > t`.
//!
//! Naming is harder than detecting, and the easy way is wrong: interpolate
//! the first `t` points and blame every other point that does not fit, and
//! a liar inside that first `t` makes every honest node outside it look
//! guilty. [`check_points`] therefore names nodes only when the data leaves
//! no doubt: it looks for the polynomial (through the anchor, if any) that
//! fits the most points, and names the points off it only if no other
//! polynomial could be the true one while at most `max_faults` nodes lie.
//! Two distinct polynomials of degree `< t` share at most `d = t - 1`
//! points (`t - 2` besides a shared anchor); if the best one misses `b`
//! points and another were true, at least `m - b - d` nodes would lie; so
//! the `b` are named only when `m - b - d > max_faults`. Otherwise the
//! fault is reported without names. Honest nodes are never named under the
//! fault bound.
use std::collections::BTreeMap;

use crate::lagrange::x_of;
use crate::{NodeIndex, ProjectivePoint, Scalar};

/// The points do not lie on one polynomial of degree `< t` (through the
/// anchor): `culprits` are the nodes provably off the true one, empty when
/// the data cannot say who.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffPolynomial {
    /// Nodes whose point is provably wrong (may be empty).
    pub culprits: Vec<NodeIndex>,
}

/// The Lagrange basis polynomial of `xs[i]` over `xs`, evaluated at `x`.
fn basis_at(xs: &[Scalar], i: usize, x: &Scalar) -> Option<Scalar> {
    let mut num = Scalar::ONE;
    let mut den = Scalar::ONE;
    for (j, xj) in xs.iter().enumerate() {
        if j != i {
            num *= *xj - x;
            den *= *xj - xs[i];
        }
    }
    Option::<Scalar>::from(den.invert()).map(|inv| num * inv)
}

/// Evaluate at `x` the polynomial through `pts`.
fn eval(pts: &[(Scalar, ProjectivePoint)], x: &Scalar) -> Option<ProjectivePoint> {
    let xs: Vec<Scalar> = pts.iter().map(|(x, _)| *x).collect();
    let mut acc = ProjectivePoint::IDENTITY;
    for (i, (_, p)) in pts.iter().enumerate() {
        acc += *p * basis_at(&xs, i, x)?;
    }
    Some(acc)
}

/// All `k`-subsets of `0..n`, in lexicographic order.
fn subsets(n: usize, k: usize) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    let mut cur: Vec<usize> = (0..k).collect();
    if k > n {
        return out;
    }
    loop {
        out.push(cur.clone());
        let mut i = k;
        loop {
            if i == 0 {
                return out;
            }
            i -= 1;
            if cur[i] < n - k + i {
                break;
            }
            if i == 0 {
                return out;
            }
        }
        cur[i] += 1;
        for j in i + 1..k {
            cur[j] = cur[j - 1] + 1;
        }
    }
}

/// Check that `points` lie on one polynomial of degree `< t` (whose value at
/// zero is `anchor`, when given); returns the value at zero. On failure,
/// names the nodes provably off the true polynomial when at most
/// `max_faults` nodes lie (see the [module docs](self)).
pub fn check_points(
    points: &BTreeMap<NodeIndex, ProjectivePoint>,
    anchor: Option<ProjectivePoint>,
    t: usize,
    max_faults: usize,
) -> Result<ProjectivePoint, OffPolynomial> {
    let nodes: Vec<(NodeIndex, Scalar, ProjectivePoint)> =
        points.iter().map(|(&i, p)| (i, x_of(i), *p)).collect();
    let m = nodes.len();
    let free = if anchor.is_some() {
        t.saturating_sub(1)
    } else {
        t
    };
    let unknown = OffPolynomial {
        culprits: Vec::new(),
    };
    if t == 0 || m < free || (anchor.is_none() && m == 0) {
        return Err(unknown);
    }
    let polynomial = |basis: &[usize]| -> Vec<(Scalar, ProjectivePoint)> {
        let mut pts: Vec<(Scalar, ProjectivePoint)> =
            anchor.iter().map(|a| (Scalar::ZERO, *a)).collect();
        pts.extend(basis.iter().map(|&b| (nodes[b].1, nodes[b].2)));
        pts
    };
    // Which nodes fit the polynomial through `basis` (and the anchor).
    let fits = |basis: &[usize]| -> Option<Vec<bool>> {
        let pts = polynomial(basis);
        nodes
            .iter()
            .enumerate()
            .map(|(k, (_, x, p))| {
                if basis.contains(&k) {
                    Some(true)
                } else {
                    eval(&pts, x).map(|v| v == *p)
                }
            })
            .collect()
    };
    // Fast path: everything fits the first basis.
    let first: Vec<usize> = (0..free).collect();
    if let Some(f) = fits(&first) {
        if f.iter().all(|&b| b) {
            return match anchor {
                Some(a) => Ok(a),
                None => eval(&polynomial(&first), &Scalar::ZERO).ok_or(unknown),
            };
        }
    }
    // Slow path: the polynomial that fits the most points.
    let mut best: Option<Vec<bool>> = None;
    let mut best_count = 0usize;
    for basis in subsets(m, free) {
        let Some(f) = fits(&basis) else { continue };
        let count = f.iter().filter(|&&b| b).count();
        if count > best_count {
            best_count = count;
            best = Some(f);
        }
    }
    let Some(best) = best else {
        return Err(unknown);
    };
    let misses = m - best_count;
    let shared = if anchor.is_some() {
        t.saturating_sub(2)
    } else {
        t.saturating_sub(1)
    };
    // If another polynomial were the true one, at least this many would lie.
    let liars_otherwise = m.saturating_sub(misses).saturating_sub(shared);
    if misses == 0 || liars_otherwise <= max_faults {
        return Err(unknown);
    }
    Err(OffPolynomial {
        culprits: nodes
            .iter()
            .zip(best)
            .filter(|(_, fit)| !fit)
            .map(|((i, _, _), _)| *i)
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k256::elliptic_curve::Field;
    use rand_core::OsRng;

    fn shares(n: u32, t: usize) -> (ProjectivePoint, BTreeMap<NodeIndex, ProjectivePoint>) {
        let a: Vec<Scalar> = (0..t).map(|_| Scalar::random(&mut OsRng)).collect();
        let f = |x: Scalar| a.iter().rev().fold(Scalar::ZERO, |acc, c| acc * x + c);
        let g = ProjectivePoint::GENERATOR;
        (g * a[0], (0..n).map(|i| (i, g * f(x_of(i)))).collect())
    }

    #[test]
    fn subsets_are_all_there() {
        assert_eq!(subsets(5, 2).len(), 10);
        assert_eq!(subsets(4, 4), vec![vec![0, 1, 2, 3]]);
        assert_eq!(subsets(3, 0), vec![Vec::<usize>::new()]);
    }

    #[test]
    fn consistent_points_give_the_value_at_zero() {
        let (zero, pts) = shares(7, 5);
        assert_eq!(check_points(&pts, None, 5, 2), Ok(zero));
        assert_eq!(check_points(&pts, Some(zero), 5, 2), Ok(zero));
        let four: BTreeMap<_, _> = pts.iter().take(5).map(|(i, p)| (*i, *p)).collect();
        assert_eq!(check_points(&four, Some(zero), 5, 2), Ok(zero));
    }

    #[test]
    fn a_liar_inside_the_first_basis_is_named_and_nobody_else() {
        for (n, t) in [(5u32, 4usize), (7, 5), (10, 7)] {
            let f = n as usize - t;
            for liar in 0..n {
                let (zero, mut pts) = shares(n, t);
                *pts.get_mut(&liar).unwrap() += ProjectivePoint::GENERATOR;
                // with the anchor: n + 1 constraints
                let e = check_points(&pts, Some(zero), t, f).unwrap_err();
                assert_eq!(e.culprits, vec![liar], "n={n} liar={liar}");
            }
        }
    }

    #[test]
    fn exactly_t_points_with_the_anchor_detect_but_never_blame() {
        for (n, t) in [(4u32, 3usize), (5, 4), (7, 5)] {
            let (zero, pts) = shares(n, t);
            let mut some: BTreeMap<_, _> = pts.into_iter().take(t).collect();
            *some.get_mut(&0).unwrap() += ProjectivePoint::GENERATOR;
            assert_eq!(
                check_points(&some, Some(zero), t, n as usize - t),
                Err(OffPolynomial { culprits: vec![] })
            );
        }
    }

    #[test]
    fn without_an_anchor_one_extra_point_detects_only() {
        let (_, pts) = shares(5, 4);
        let mut pts = pts;
        *pts.get_mut(&1).unwrap() += ProjectivePoint::GENERATOR;
        assert_eq!(
            check_points(&pts, None, 4, 1),
            Err(OffPolynomial { culprits: vec![] })
        );
    }
}
