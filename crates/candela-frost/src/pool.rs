//! Pre-made signing commitments (FROST round 1 done ahead of time).
//!
//! A node makes nonces against its ROOT key share and publishes only the
//! commitments. FROST nonces do not depend on the key: the signing share
//! is mixed into the nonce generation as extra entropy only, and the
//! binding factors, computed at signing time, bind the message, every
//! signer's commitment and the group key actually signed for. So one
//! commitment serves any PKP tweak and any message chosen later.
//!
//! A nonce used twice leaks the signing share, so the pool hands out each
//! commitment's nonces at most once: [`CommitmentPool::take`] removes them
//! and the id can never be taken again. The node must persist the pool
//! after `take` and before releasing the signature share it makes.
use std::collections::BTreeMap;

use frost_core::round1::{self, SigningCommitments, SigningNonces};
use frost_core::Ciphersuite;
use rand_core::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};

use crate::{FrostError, FrostKeyShare, Suite};

/// A commitment id, unique per node and suite, increasing.
pub type CommitmentId = u64;

/// A public commitment with its id, as a node publishes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound = "C: Ciphersuite")]
pub struct PublicCommitment<C: Ciphersuite> {
    /// The id the signer will be asked to sign with.
    pub id: CommitmentId,
    /// The hiding and binding nonce commitments.
    pub commitments: SigningCommitments<C>,
}

/// Secret single-use nonces with their commitment ids.
pub type PrivateNonces<C> = Vec<(CommitmentId, SigningNonces<C>)>;

/// Make `count` nonce pairs against the root share `share`, with ids
/// `first_id..first_id + count`. The nonces are secret and single-use.
pub fn make_commitments<C: Suite, R: RngCore + CryptoRng>(
    share: &FrostKeyShare<C>,
    first_id: CommitmentId,
    count: usize,
    rng: &mut R,
) -> (PrivateNonces<C>, Vec<PublicCommitment<C>>) {
    let mut nonces = Vec::with_capacity(count);
    let mut public = Vec::with_capacity(count);
    for (id, _) in (first_id..).zip(0..count) {
        let (n, c) = round1::commit::<C, R>(share.key_package.signing_share(), rng);
        nonces.push((id, n));
        public.push(PublicCommitment { id, commitments: c });
    }
    (nonces, public)
}

/// A node's private store of unused nonces, one suite.
///
/// Ids are handed out in increasing order, so "used" needs no list that
/// grows: an id below `next_id` whose nonces are gone was taken.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(bound = "C: Ciphersuite")]
pub struct CommitmentPool<C: Ciphersuite> {
    next_id: CommitmentId,
    unused: BTreeMap<CommitmentId, SigningNonces<C>>,
}

impl<C: Ciphersuite> Default for CommitmentPool<C> {
    fn default() -> Self {
        Self {
            next_id: 0,
            unused: BTreeMap::new(),
        }
    }
}

impl<C: Suite> CommitmentPool<C> {
    /// An empty pool whose first id is 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// A pool as it was stored: the next id to make and the unused nonces
    /// (ids below `next_id`; any other is dropped).
    pub fn from_parts(next_id: CommitmentId, unused: PrivateNonces<C>) -> Self {
        Self {
            next_id,
            unused: unused.into_iter().filter(|(id, _)| *id < next_id).collect(),
        }
    }

    /// Add nonces made by [`make_commitments`] from [`CommitmentPool::made`]
    /// on (and stored durably first): ids already made are dropped, so a
    /// taken nonce never comes back.
    pub fn extend(&mut self, nonces: PrivateNonces<C>) {
        for (id, n) in nonces {
            if id >= self.next_id {
                self.next_id = id + 1;
                self.unused.insert(id, n);
            }
        }
    }

    /// Make `count` more commitments; store their nonces, return the public
    /// halves to publish.
    pub fn refill<R: RngCore + CryptoRng>(
        &mut self,
        share: &FrostKeyShare<C>,
        count: usize,
        rng: &mut R,
    ) -> Vec<PublicCommitment<C>> {
        let (nonces, public) = make_commitments(share, self.next_id, count, rng);
        self.next_id += count as CommitmentId;
        self.unused.extend(nonces);
        public
    }

    /// Number of commitments ever made (the next id).
    pub fn made(&self) -> u64 {
        self.next_id
    }

    /// Number of commitments taken (used or spent).
    pub fn used(&self) -> u64 {
        self.next_id - self.unused.len() as u64
    }

    /// The unused commitment ids, ascending.
    pub fn unused_ids(&self) -> Vec<CommitmentId> {
        self.unused.keys().copied().collect()
    }

    /// Number of unused commitments.
    pub fn len(&self) -> usize {
        self.unused.len()
    }

    /// Whether no commitment is left.
    pub fn is_empty(&self) -> bool {
        self.unused.is_empty()
    }

    /// Whether `id` was made and already taken.
    pub fn is_used(&self, id: CommitmentId) -> bool {
        id < self.next_id && !self.unused.contains_key(&id)
    }

    /// The public commitment of an unused id.
    pub fn commitments(&self, id: CommitmentId) -> Option<SigningCommitments<C>> {
        self.unused.get(&id).map(|n| *n.commitments())
    }

    /// Mark `id` used and return its nonces, exactly once. A second call
    /// for the same id is refused with [`FrostError::CommitmentUsed`].
    pub fn take(&mut self, id: CommitmentId) -> Result<SigningNonces<C>, FrostError> {
        match self.unused.remove(&id) {
            Some(n) => Ok(n),
            None if id < self.next_id => Err(FrostError::CommitmentUsed { id }),
            None => Err(FrostError::UnknownCommitment { id }),
        }
    }

    /// Same as [`CommitmentPool::take`], named for the node's flow: mark
    /// used (and persist), then sign with what is returned.
    pub fn mark_used(&mut self, id: CommitmentId) -> Result<SigningNonces<C>, FrostError> {
        self.take(id)
    }
}
