//! Committees, the parameters of one reshare, and Lagrange coefficients.
use ff::{Field, PrimeField};
use sha2::{Digest, Sha256};

use crate::{NodeIndex, ReshareError};

/// A set of nodes holding a key with a threshold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committee {
    /// The members, ascending and distinct.
    pub members: Vec<NodeIndex>,
    /// How many members are needed to use the key.
    pub threshold: usize,
}

impl Committee {
    /// A committee, checked: members ascending and distinct, `1 ≤ t ≤ n`.
    pub fn new(members: Vec<NodeIndex>, threshold: usize) -> Result<Self, ReshareError> {
        if members.is_empty() {
            return Err(ReshareError::BadParameters(
                "a committee has no members".into(),
            ));
        }
        if members.windows(2).any(|w| w[0] >= w[1]) {
            return Err(ReshareError::BadParameters(
                "committee members must be ascending and distinct".into(),
            ));
        }
        if members.contains(&NodeIndex::MAX) {
            return Err(ReshareError::BadParameters(
                "node index out of range".into(),
            ));
        }
        if threshold == 0 || threshold > members.len() {
            return Err(ReshareError::BadParameters(format!(
                "threshold {threshold} for {} members",
                members.len()
            )));
        }
        Ok(Committee { members, threshold })
    }

    /// Whether `node` is a member.
    pub fn contains(&self, node: NodeIndex) -> bool {
        self.members.binary_search(&node).is_ok()
    }
}

/// Everything every participant of one reshare agrees on before it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReshareParams {
    /// Binds every message to this reshare: a hash of the key's label, the
    /// epoch, both committees and the dealers ([`ReshareParams::new`]).
    pub context: [u8; 32],
    /// The committee holding the key now.
    pub old: Committee,
    /// The committee that will hold it.
    pub new: Committee,
    /// The old members that deal, ascending; at least `old.threshold`.
    pub dealers: Vec<NodeIndex>,
}

impl ReshareParams {
    /// Parameters for moving the key named `label` from `old` to `new` at
    /// `epoch`, dealt by `dealers`.
    pub fn new(
        label: &str,
        epoch: u64,
        old: Committee,
        new: Committee,
        dealers: Vec<NodeIndex>,
    ) -> Result<Self, ReshareError> {
        if dealers.windows(2).any(|w| w[0] >= w[1]) {
            return Err(ReshareError::BadParameters(
                "dealers must be ascending and distinct".into(),
            ));
        }
        if let Some(d) = dealers.iter().find(|d| !old.contains(**d)) {
            return Err(ReshareError::BadParameters(format!(
                "dealer {d} is not in the old committee"
            )));
        }
        if dealers.len() < old.threshold {
            return Err(ReshareError::BadParameters(format!(
                "{} dealers, the old committee's threshold is {}",
                dealers.len(),
                old.threshold
            )));
        }
        let mut h = Sha256::new();
        h.update(b"candela-reshare-v1");
        put(&mut h, label.as_bytes());
        h.update(epoch.to_be_bytes());
        for c in [&old, &new] {
            h.update((c.threshold as u64).to_be_bytes());
            h.update((c.members.len() as u64).to_be_bytes());
            for m in &c.members {
                h.update(m.to_be_bytes());
            }
        }
        h.update((dealers.len() as u64).to_be_bytes());
        for d in &dealers {
            h.update(d.to_be_bytes());
        }
        Ok(ReshareParams {
            context: h.finalize().into(),
            old,
            new,
            dealers,
        })
    }

    /// Every node taking part: the dealers and the new members, ascending.
    pub fn participants(&self) -> Vec<NodeIndex> {
        let mut all: Vec<NodeIndex> = self
            .dealers
            .iter()
            .chain(self.new.members.iter())
            .copied()
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    }
}

fn put(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_be_bytes());
    h.update(bytes);
}

/// The Shamir x-coordinate of a node: `index + 1`.
pub fn x_of<F: PrimeField>(index: NodeIndex) -> F {
    F::from(u64::from(index) + 1)
}

/// The Lagrange coefficient of `me` for interpolating at zero over `set`.
pub fn lagrange_at_zero<F: PrimeField>(
    set: &[NodeIndex],
    me: NodeIndex,
) -> Result<F, ReshareError> {
    if !set.contains(&me) {
        return Err(ReshareError::BadParameters(format!(
            "node {me} is not in the interpolation set"
        )));
    }
    let xm: F = x_of(me);
    let mut num = F::ONE;
    let mut den = F::ONE;
    for &j in set.iter().filter(|&&j| j != me) {
        let xj: F = x_of(j);
        num *= xj;
        den *= xj - xm;
    }
    let inv = Option::<F>::from(den.invert())
        .ok_or_else(|| ReshareError::BadParameters("duplicate index in set".into()))?;
    Ok(num * inv)
}

/// Evaluate the polynomial with `coefficients` (constant first) at `x`.
pub(crate) fn eval_poly<F: Field>(coefficients: &[F], x: F) -> F {
    coefficients
        .iter()
        .rev()
        .fold(F::ZERO, |acc, c| acc * x + c)
}
