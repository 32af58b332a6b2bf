//! A new member's side: check each dealing, sum the shares, and compute the
//! public result every member confirms.
use std::collections::BTreeMap;

use ff::Field;
use group::{Group, GroupEncoding};
use sha2::{Digest, Sha256};

use crate::committee::lagrange_at_zero;
use crate::{x_of, Dealing, NodeIndex, ReshareError, ReshareParams};

/// A member's share of the key after the reshare.
#[derive(Clone, PartialEq, Eq)]
pub struct NewShare<G: Group> {
    /// This node.
    pub me: NodeIndex,
    /// The new threshold.
    pub threshold: usize,
    /// The new committee, ascending.
    pub participants: Vec<NodeIndex>,
    /// The new secret share (secret).
    pub secret: G::Scalar,
    /// The group key: the same as before the reshare.
    pub public_key: G,
    /// Every new member's public share.
    pub public_shares: BTreeMap<NodeIndex, G>,
}

impl<G: Group> Drop for NewShare<G> {
    fn drop(&mut self) {
        self.secret = G::Scalar::ZERO;
    }
}

impl<G: Group> std::fmt::Debug for NewShare<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewShare")
            .field("me", &self.me)
            .field("threshold", &self.threshold)
            .field("participants", &self.participants)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Evaluate committed polynomials at node `m`: `Σ_k C_k·x_m^k`.
pub fn evaluate_commitments<G: Group>(commitments: &[G], m: NodeIndex) -> G {
    let x: G::Scalar = x_of(m);
    commitments
        .iter()
        .rev()
        .fold(G::identity(), |acc, c| acc * x + c)
}

/// Check a dealing's shape and, where the dealer's old public share is
/// known, its constant term `C_0 = λ_i·X_i`.
pub(crate) fn check_dealing<G: Group>(
    params: &ReshareParams,
    dealer: NodeIndex,
    dealing: &Dealing<G>,
    old_public_shares: &BTreeMap<NodeIndex, G>,
) -> Result<(), ReshareError> {
    let bad = |reason: String| ReshareError::BadDealing { dealer, reason };
    if dealing.commitments.len() != params.new.threshold {
        return Err(bad(format!(
            "{} commitments, the new threshold is {}",
            dealing.commitments.len(),
            params.new.threshold
        )));
    }
    if let Some(public_share) = old_public_shares.get(&dealer) {
        let lambda: G::Scalar = lagrange_at_zero(&params.dealers, dealer)?;
        if dealing.commitments[0] != *public_share * lambda {
            return Err(bad(
                "its constant term is not its weighted public share".into()
            ));
        }
    }
    Ok(())
}

/// The public result of a reshare: the group key (the sum of the constant
/// terms) and every new member's public share.
pub(crate) fn public_result<G: Group>(
    params: &ReshareParams,
    dealings: &BTreeMap<NodeIndex, Dealing<G>>,
) -> (G, BTreeMap<NodeIndex, G>) {
    let group_key = dealings
        .values()
        .fold(G::identity(), |acc, d| acc + d.commitments[0]);
    let public_shares = params
        .new
        .members
        .iter()
        .map(|&m| {
            let share = dealings.values().fold(G::identity(), |acc, d| {
                acc + evaluate_commitments(&d.commitments, m)
            });
            (m, share)
        })
        .collect();
    (group_key, public_shares)
}

/// The digest every new member confirms: the reshare's context, the group
/// key, the threshold and every new public share.
pub fn confirmation_digest<G: Group + GroupEncoding>(
    params: &ReshareParams,
    group_key: &G,
    public_shares: &BTreeMap<NodeIndex, G>,
) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"candela-reshare-confirm-v1");
    h.update(params.context);
    h.update(group_key.to_bytes());
    h.update((params.new.threshold as u64).to_be_bytes());
    for (m, p) in public_shares {
        h.update(m.to_be_bytes());
        h.update(p.to_bytes());
    }
    h.finalize().into()
}

/// A new member collecting dealings: checks each one as it arrives and
/// sums them once every dealer's is in.
pub struct Receiver<G: Group> {
    params: ReshareParams,
    me: NodeIndex,
    group_key: G,
    old_public_shares: BTreeMap<NodeIndex, G>,
    dealings: BTreeMap<NodeIndex, Dealing<G>>,
    shares: BTreeMap<NodeIndex, G::Scalar>,
}

impl<G: Group> Receiver<G> {
    /// A receiver for new member `me`. `old_public_shares` are the old
    /// members' public shares where known (each known one lets a bad
    /// dealer be named); `group_key` is the key being reshared.
    pub fn new(
        params: ReshareParams,
        me: NodeIndex,
        group_key: G,
        old_public_shares: BTreeMap<NodeIndex, G>,
    ) -> Result<Self, ReshareError> {
        if !params.new.contains(me) {
            return Err(ReshareError::BadParameters(format!(
                "node {me} is not in the new committee"
            )));
        }
        Ok(Receiver {
            params,
            me,
            group_key,
            old_public_shares,
            dealings: BTreeMap::new(),
            shares: BTreeMap::new(),
        })
    }

    /// Accept `dealer`'s dealing and this member's share of it, after
    /// checking the share against the commitments (Feldman).
    pub fn accept(
        &mut self,
        dealer: NodeIndex,
        dealing: Dealing<G>,
        share: G::Scalar,
    ) -> Result<(), ReshareError> {
        if !self.params.dealers.contains(&dealer) || self.dealings.contains_key(&dealer) {
            return Err(ReshareError::Unexpected {
                party: dealer,
                what: "dealing",
            });
        }
        check_dealing(&self.params, dealer, &dealing, &self.old_public_shares)?;
        if G::generator() * share != evaluate_commitments(&dealing.commitments, self.me) {
            return Err(ReshareError::BadDealing {
                dealer,
                reason: format!(
                    "the share sent to node {} does not match its commitments",
                    self.me
                ),
            });
        }
        self.dealings.insert(dealer, dealing);
        self.shares.insert(dealer, share);
        Ok(())
    }

    /// The dealers whose dealing has not arrived.
    pub fn waiting_for(&self) -> Vec<NodeIndex> {
        self.params
            .dealers
            .iter()
            .filter(|d| !self.dealings.contains_key(d))
            .copied()
            .collect()
    }

    /// Sum the dealings into the new share, once every dealer's is in.
    /// `None` while some are missing.
    pub fn finish(&self) -> Result<Option<NewShare<G>>, ReshareError> {
        if !self.waiting_for().is_empty() {
            return Ok(None);
        }
        let (group_key, public_shares) = public_result(&self.params, &self.dealings);
        if group_key != self.group_key {
            return Err(ReshareError::WrongSum);
        }
        let secret = self.shares.values().fold(G::Scalar::ZERO, |acc, s| acc + s);
        Ok(Some(NewShare {
            me: self.me,
            threshold: self.params.new.threshold,
            participants: self.params.new.members.clone(),
            secret,
            public_key: group_key,
            public_shares,
        }))
    }
}

impl<G: Group> Drop for Receiver<G> {
    fn drop(&mut self) {
        for s in self.shares.values_mut() {
            *s = G::Scalar::ZERO;
        }
    }
}
