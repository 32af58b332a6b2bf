//! A dealer's side: share `λ_i·x_i` afresh among the new committee.
use std::collections::BTreeMap;

use ff::Field;
use group::Group;
use rand_core::{CryptoRng, RngCore};

use crate::committee::{eval_poly, lagrange_at_zero, x_of};
use crate::{NodeIndex, OldShare, ReshareError, ReshareParams};

/// A dealer's public commitments: `C_k = a_k·G` for each coefficient of its
/// polynomial (constant first, `t'` of them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dealing<G> {
    /// The Feldman commitments.
    pub commitments: Vec<G>,
}

/// Each new member's secret share of one dealing, by member.
pub type DealtShares<S> = BTreeMap<NodeIndex, S>;

/// Deal `old`'s Lagrange-weighted share to the new committee: the public
/// commitments, and each new member's secret share `f(x_j)` (to be sent to
/// it privately).
pub fn deal<G: Group>(
    params: &ReshareParams,
    old: &OldShare<G>,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<(Dealing<G>, DealtShares<G::Scalar>), ReshareError> {
    if !params.dealers.contains(&old.me) {
        return Err(ReshareError::BadParameters(format!(
            "node {} is not a dealer of this reshare",
            old.me
        )));
    }
    let lambda: G::Scalar = lagrange_at_zero(&params.dealers, old.me)?;
    let mut coefficients: Vec<G::Scalar> = Vec::with_capacity(params.new.threshold);
    coefficients.push(lambda * old.secret);
    for _ in 1..params.new.threshold {
        coefficients.push(G::Scalar::random(&mut *rng));
    }
    let commitments = coefficients.iter().map(|a| G::generator() * a).collect();
    let shares = params
        .new
        .members
        .iter()
        .map(|&j| (j, eval_poly(&coefficients, x_of(j))))
        .collect();
    // The coefficients are secret: overwrite them before the memory is freed.
    for c in coefficients.iter_mut() {
        *c = G::Scalar::ZERO;
    }
    Ok((Dealing { commitments }, shares))
}
