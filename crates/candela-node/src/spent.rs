//! Spent notices: a node that used a presignature tells the presignature's
//! other participants, so that none of them hands it out again as
//! coordinator.
//!
//! The coordinator that assigned a presignature holds it as reserved, but
//! another node may coordinate the next request: after a failover, or after
//! a coordinator that handed different askers different presignatures was
//! left out. Without the notice that node would assign a presignature some
//! signer already used and the request would fail (never sign twice: the
//! signer refuses). With it, the participants reserve the presignature for
//! the request that used it, which only that request can still take.
//!
//! Notices are batched per peer and sent every [`FLUSH_EVERY`], so the cost
//! is a few messages a second whatever the signing rate. A node can only
//! reserve presignatures it takes part in: a lying notice burns what its
//! sender could already spoil by refusing to sign.
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::node::Node;
use crate::peer::{PeerBody, MAX_USED_QUERY};

/// How often a node sends the notices it has collected.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// One presignature used for one request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PresignatureUse {
    /// The presignature's id.
    pub presignature_id: String,
    /// The request it was used for.
    pub request_id: String,
}

/// Notices waiting to be sent, per recipient.
#[derive(Default)]
pub struct SpentNotices {
    pending: Mutex<BTreeMap<u32, Vec<PresignatureUse>>>,
}

impl SpentNotices {
    /// `me` used `presignature_id` for `request_id`: queue a notice to each
    /// other participant.
    pub fn record(&self, me: u32, participants: &[u32], presignature_id: &str, request_id: &str) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        for &p in participants.iter().filter(|&&p| p != me) {
            pending.entry(p).or_default().push(PresignatureUse {
                presignature_id: presignature_id.to_string(),
                request_id: request_id.to_string(),
            });
        }
    }

    /// Take what is waiting: per recipient, messages of at most
    /// [`MAX_USED_QUERY`] notices.
    pub fn drain(&self) -> Vec<(u32, Vec<PresignatureUse>)> {
        let pending = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        pending
            .into_iter()
            .flat_map(|(to, uses)| {
                uses.chunks(MAX_USED_QUERY)
                    .map(|c| (to, c.to_vec()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

impl Node {
    /// Send the collected notices every [`FLUSH_EVERY`] (best effort: a
    /// peer that misses one refuses the presignature when asked to sign
    /// with it, and the client retries).
    pub(crate) async fn spent_notice_loop(self: Arc<Self>) {
        let mut tick = tokio::time::interval(FLUSH_EVERY);
        loop {
            tick.tick().await;
            for (to, uses) in self.spent.drain() {
                let node = Arc::clone(&self);
                tokio::spawn(async move {
                    let body = PeerBody::PresignaturesSpent { uses };
                    if let Err(e) = node.post_peer(to, &body).await {
                        tracing::debug!(to, error = %e, "spent notice not delivered");
                    }
                });
            }
        }
    }

    /// A peer used these presignatures: reserve each one the sender takes
    /// part in for the request that used it.
    pub(crate) fn accept_spent_notice(
        &self,
        from: u32,
        uses: Vec<PresignatureUse>,
    ) -> Result<serde_json::Value, ApiError> {
        if uses.len() > MAX_USED_QUERY {
            return Err(ApiError::bad_request(
                "PeerMessageRefused",
                format!("at most {MAX_USED_QUERY} notices per message"),
            ));
        }
        let reserved = self.store.reserve_spent(&uses, from)?;
        Ok(serde_json::json!({ "reserved": reserved }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_go_to_every_other_participant_in_bounded_messages() {
        let notices = SpentNotices::default();
        notices.record(1, &[0, 1, 2, 3], "p1", "r1");
        for i in 0..(MAX_USED_QUERY + 1) {
            notices.record(1, &[1, 4], &format!("q{i}"), "r2");
        }
        let out = notices.drain();
        let to: Vec<u32> = out.iter().map(|(t, _)| *t).collect();
        assert_eq!(to, vec![0, 2, 3, 4, 4], "never to itself; node 4's split");
        assert_eq!(out[0].1[0].presignature_id, "p1");
        assert_eq!(out[3].1.len(), MAX_USED_QUERY);
        assert_eq!(out[4].1.len(), 1);
        assert!(notices.drain().is_empty(), "drained once");
    }
}
