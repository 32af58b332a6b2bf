//! Nodes excluded from signing for good.
//!
//! DKLs23 reuses each pair's base-OT state in every signature. A node whose
//! message fails a check of that state has learnt something about it, and
//! signing with it again would let it extract the key; `dkls23` therefore
//! requires that it be banned. [`ExclusionList`] is that ban as data: the
//! node records every [`DklsError::Blamed`] outcome, persists the list and
//! picks signing sets from the nodes it does not name.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{DklsError, NodeIndex};

/// Nodes excluded from signing, each with the reason it was excluded.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExclusionList {
    excluded: BTreeMap<NodeIndex, String>,
}

impl ExclusionList {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Record the outcome of a session: a node the error blames is
    /// excluded. Returns the node newly excluded, if any.
    pub fn record(&mut self, outcome: &DklsError) -> Option<NodeIndex> {
        let DklsError::Blamed { party, reason, .. } = outcome else {
            return None;
        };
        if self.excluded.contains_key(party) {
            return None;
        }
        self.excluded.insert(*party, reason.clone());
        Some(*party)
    }

    /// Exclude `node` (for example on evidence from elsewhere).
    pub fn exclude(&mut self, node: NodeIndex, reason: impl Into<String>) {
        self.excluded.entry(node).or_insert_with(|| reason.into());
    }

    /// Whether `node` is excluded.
    pub fn is_excluded(&self, node: NodeIndex) -> bool {
        self.excluded.contains_key(&node)
    }

    /// The excluded nodes with their reasons.
    pub fn iter(&self) -> impl Iterator<Item = (NodeIndex, &str)> {
        self.excluded.iter().map(|(n, r)| (*n, r.as_str()))
    }

    /// Refuse a signing set that includes an excluded node.
    pub fn check(&self, signers: &[NodeIndex]) -> Result<(), DklsError> {
        match signers.iter().find(|s| self.is_excluded(**s)) {
            Some(&s) => Err(DklsError::Excluded(s)),
            None => Ok(()),
        }
    }

    /// The first `threshold` nodes of `candidates` (in the caller's order of
    /// preference) that are not excluded.
    pub fn choose_signers(
        &self,
        candidates: &[NodeIndex],
        threshold: usize,
    ) -> Result<Vec<NodeIndex>, DklsError> {
        let mut chosen: Vec<NodeIndex> = Vec::with_capacity(threshold);
        for &c in candidates {
            if !self.is_excluded(c) && !chosen.contains(&c) {
                chosen.push(c);
                if chosen.len() == threshold {
                    return Ok(chosen);
                }
            }
        }
        Err(DklsError::BadParameters(format!(
            "only {} of {} candidates are not excluded, {threshold} are needed",
            chosen.len(),
            candidates.len()
        )))
    }

    /// Serialize for the node's store ([`crate::wire`]'s encoding).
    pub fn to_bytes(&self) -> Result<Vec<u8>, DklsError> {
        crate::wire::encode(self)
    }

    /// Parse what [`ExclusionList::to_bytes`] wrote.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DklsError> {
        crate::wire::decode(bytes)
    }
}
