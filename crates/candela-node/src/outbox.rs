//! Values an execution shares with the other nodes (`broadcastAndCollect`,
//! signature shares to combine, decryption shares), queued per peer and
//! sent in batches.
//!
//! Under load many executions share values with the same peers at once;
//! one peer message per value would cost a signed envelope, an HTTP
//! request and its parsing each. Instead each peer has an outbox: a value
//! goes out at once when nothing is in flight to that peer, and values that
//! arrive while a message is in flight leave together in the next one. No
//! value waits for a timer, and a quiet node sends exactly what it did
//! before.
use std::collections::HashMap;
use std::sync::Mutex;

use crate::peer::CollectItem;

/// The largest batch in bytes of values (a single larger value still goes,
/// alone).
pub(crate) const BATCH_BYTES: usize = 4 * 1024 * 1024;

#[derive(Default)]
struct PeerOutbox {
    queued: Vec<CollectItem>,
    sending: bool,
}

/// Every peer's outbox (see the module doc).
#[derive(Default)]
pub(crate) struct Outboxes {
    boxes: Mutex<HashMap<u32, PeerOutbox>>,
}

impl Outboxes {
    /// Queue `item` for peer `to`. True when no sender is running for `to`:
    /// the caller must start one (and drain with [`Outboxes::next_batch`]).
    pub(crate) fn push(&self, to: u32, item: CollectItem) -> bool {
        let mut boxes = self.boxes.lock().unwrap_or_else(|p| p.into_inner());
        let outbox = boxes.entry(to).or_default();
        outbox.queued.push(item);
        !std::mem::replace(&mut outbox.sending, true)
    }

    /// The next batch for `to`, oldest first, of at most `max_bytes` of
    /// values (at least one item); `None` when the outbox is empty, and the
    /// sender then stops (the next push starts a new one).
    pub(crate) fn next_batch(&self, to: u32, max_bytes: usize) -> Option<Vec<CollectItem>> {
        let mut boxes = self.boxes.lock().unwrap_or_else(|p| p.into_inner());
        let outbox = boxes.entry(to).or_default();
        if outbox.queued.is_empty() {
            outbox.sending = false;
            return None;
        }
        let mut bytes = 0;
        let mut take = 0;
        for item in &outbox.queued {
            let size = item.value.len() + item.topic.len() + item.request_id.len();
            if take > 0 && bytes + size > max_bytes {
                break;
            }
            bytes += size;
            take += 1;
        }
        Some(outbox.queued.drain(..take).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(n: usize, len: usize) -> CollectItem {
        CollectItem {
            request_id: format!("r{n}"),
            topic: "t".into(),
            value: "x".repeat(len),
            private: false,
        }
    }

    #[test]
    fn values_queued_while_one_is_in_flight_leave_together_in_order_and_the_sender_stops_when_empty(
    ) {
        let o = Outboxes::default();
        assert!(o.push(1, item(0, 10)), "the first value starts a sender");
        assert_eq!(o.next_batch(1, BATCH_BYTES).unwrap().len(), 1);
        // in flight: later values queue without a second sender
        for n in 1..=5 {
            assert!(!o.push(1, item(n, 10)));
        }
        // another peer has its own outbox
        assert!(o.push(2, item(9, 10)));
        let batch = o.next_batch(1, BATCH_BYTES).unwrap();
        let ids: Vec<_> = batch.iter().map(|i| i.request_id.as_str()).collect();
        assert_eq!(ids, ["r1", "r2", "r3", "r4", "r5"]);
        assert!(o.next_batch(1, BATCH_BYTES).is_none());
        // stopped: the next value starts a sender again
        assert!(o.push(1, item(6, 10)));
    }

    #[test]
    fn a_batch_stays_within_its_size_and_a_larger_value_goes_alone() {
        let o = Outboxes::default();
        o.push(1, item(0, 100));
        o.push(1, item(1, 100));
        o.push(1, item(2, 1000));
        o.push(1, item(3, 10));
        let sizes = |b: Vec<CollectItem>| b.iter().map(|i| i.value.len()).collect::<Vec<_>>();
        assert_eq!(sizes(o.next_batch(1, 300).unwrap()), [100, 100]);
        assert_eq!(sizes(o.next_batch(1, 300).unwrap()), [1000]);
        assert_eq!(sizes(o.next_batch(1, 300).unwrap()), [10]);
        assert!(o.next_batch(1, 300).is_none());
    }
}
