//! Schnorr commitments a coordinator holds ahead of requests.
//!
//! Without a stock, a coordinator asks each of the `t − 1` other signers of
//! a request for a commitment while the request waits: one round trip per
//! signer and signature. With one, each signer reserves a batch of
//! commitments for that coordinator ahead of time
//! ([`crate::peer::PeerBody::SchnorrCommitBatch`]), and the coordinator
//! takes one per signer and request from its stock, asking again in the
//! background when a signer's stock runs low.
//!
//! Safety does not rest on the stock: a signer signs with a nonce only
//! after deleting it durably, so a commitment handed out twice (to two
//! coordinators, or again after a restart) still signs at most once; the
//! stock only keeps that from happening under normal operation:
//!
//! - a signer reserves a stocked commitment for its coordinator for
//!   [`crate::schnorr`]'s reservation time (120 s) and hands it to no one
//!   else meanwhile; the coordinator uses it only within half that time
//!   ([`STOCK_MAX_AGE`]);
//! - a signer never hands out again a nonce made before its last start
//!   (its reservations were lost with the process).
//!
//! This module is the coordinator's side as a plain data structure; the
//! peer traffic lives in [`crate::schnorr`].
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use candela_api::schnorr::SchnorrCommitmentWire;
use candela_frost::KeyType;

/// How many commitments a coordinator asks a signer for at once.
pub(crate) const STOCK_BATCH: usize = 32;
/// A signer's stock below this many is refilled.
pub(crate) const STOCK_LOW: usize = 16;
/// The most commitments a signer keeps reserved for one coordinator.
pub(crate) const STOCK_PER_COORDINATOR: usize = 64;
/// A stocked commitment older than this is dropped unused: the signer
/// reserved it for twice as long, so it is still the coordinator's alone.
pub(crate) const STOCK_MAX_AGE: Duration = Duration::from_secs(60);

/// One signer's stocked commitments of one suite, each with when it came.
type Queue = VecDeque<(SchnorrCommitmentWire, Instant)>;

/// One coordinator's stock, per suite and signer.
#[derive(Default)]
pub(crate) struct CommitmentStock {
    entries: Mutex<HashMap<(KeyType, u32), Queue>>,
    refilling: Mutex<HashSet<(KeyType, u32)>>,
}

impl CommitmentStock {
    /// The oldest fresh commitment of `signer` for suite `key_type`, taken
    /// out of the stock (so it goes into one assignment only); stale ones
    /// met on the way are dropped: older than [`STOCK_MAX_AGE`], or fetched
    /// at an instant `restarted_after` says the signer restarted since (a
    /// signer's nonces die with its process).
    pub(crate) fn take(
        &self,
        key_type: KeyType,
        signer: u32,
        now: Instant,
        restarted_after: impl Fn(Instant) -> bool,
    ) -> Option<SchnorrCommitmentWire> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let queue = entries.get_mut(&(key_type, signer))?;
        while let Some((c, at)) = queue.pop_front() {
            if now.saturating_duration_since(at) < STOCK_MAX_AGE && !restarted_after(at) {
                return Some(c);
            }
        }
        None
    }

    /// Add what `signer` reserved for this coordinator, received at `now`.
    pub(crate) fn add(
        &self,
        key_type: KeyType,
        signer: u32,
        commitments: Vec<SchnorrCommitmentWire>,
        now: Instant,
    ) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let queue = entries.entry((key_type, signer)).or_default();
        queue.extend(commitments.into_iter().map(|c| (c, now)));
    }

    /// How many commitments of `signer` the stock holds (fresh or not).
    pub(crate) fn len(&self, key_type: KeyType, signer: u32) -> usize {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.get(&(key_type, signer)).map_or(0, VecDeque::len)
    }

    /// Whether the caller should refill `signer`'s stock now: it is low and
    /// no refill is under way (true for one caller until [`Self::end_refill`]).
    pub(crate) fn begin_refill(&self, key_type: KeyType, signer: u32) -> bool {
        self.len(key_type, signer) < STOCK_LOW
            && self
                .refilling
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert((key_type, signer))
    }

    /// The refill [`Self::begin_refill`] allowed is over.
    pub(crate) fn end_refill(&self, key_type: KeyType, signer: u32) {
        self.refilling
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&(key_type, signer));
    }

    /// Drop every stocked commitment of suite `key_type`.
    pub(crate) fn clear(&self, key_type: KeyType) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(k, _), _| *k != key_type);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(node: u32, id: u64) -> SchnorrCommitmentWire {
        SchnorrCommitmentWire {
            node,
            id,
            commitments: format!("{node}-{id}"),
        }
    }

    #[test]
    fn each_stocked_commitment_is_taken_once_oldest_first_and_stale_or_pre_restart_ones_never() {
        let stock = CommitmentStock::default();
        let start = Instant::now();
        stock.add(KeyType::Ed25519, 2, vec![wire(2, 1), wire(2, 2)], start);
        let later = start + STOCK_MAX_AGE / 2;
        stock.add(KeyType::Ed25519, 2, vec![wire(2, 3)], later);
        let running = |_: Instant| false;
        // another suite and another signer are other queues
        assert!(stock
            .take(KeyType::K256Taproot, 2, start, running)
            .is_none());
        assert!(stock.take(KeyType::Ed25519, 3, start, running).is_none());
        let first = stock.take(KeyType::Ed25519, 2, later, running);
        assert_eq!(first.map(|c| c.id), Some(1));
        // past the first batch's age: its rest is dropped, the newer one comes
        let stale = start + STOCK_MAX_AGE;
        let next = stock.take(KeyType::Ed25519, 2, stale, running);
        assert_eq!(next.map(|c| c.id), Some(3));
        assert!(stock.take(KeyType::Ed25519, 2, stale, running).is_none());
        // what a signer gave before it restarted is dropped
        stock.add(KeyType::Ed25519, 2, vec![wire(2, 4)], start);
        stock.add(KeyType::Ed25519, 2, vec![wire(2, 5)], later);
        let restart = start + STOCK_MAX_AGE / 4;
        let after = stock.take(KeyType::Ed25519, 2, later, |at| at < restart);
        assert_eq!(after.map(|c| c.id), Some(5));
    }

    #[test]
    fn a_low_stock_is_refilled_by_one_caller_at_a_time() {
        let stock = CommitmentStock::default();
        assert!(stock.begin_refill(KeyType::Ed25519, 1));
        assert!(
            !stock.begin_refill(KeyType::Ed25519, 1),
            "one refill at a time"
        );
        assert!(stock.begin_refill(KeyType::Ed25519, 2), "per signer");
        stock.add(
            KeyType::Ed25519,
            1,
            (0..STOCK_LOW as u64).map(|i| wire(1, i)).collect(),
            Instant::now(),
        );
        stock.end_refill(KeyType::Ed25519, 1);
        assert!(!stock.begin_refill(KeyType::Ed25519, 1), "not low any more");
        stock.clear(KeyType::Ed25519);
        assert!(stock.begin_refill(KeyType::Ed25519, 1), "cleared");
    }
}
