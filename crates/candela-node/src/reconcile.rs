//! Rollback protection: a node reconciles its presignatures with its peers'
//! used marks at start, before it signs.
//!
//! A node's database restored from a backup or a VM snapshot holds as free
//! presignatures the node has used since the copy was made; signing from one
//! again would release a second share of it (two shares of one presignature
//! for two messages give away the key). So on every start, before any
//! presignature is handed out (the store refuses with
//! [`StoreError::Syncing`](crate::store::StoreError::Syncing) and the API
//! answers 503 `NodeSyncing`), the node asks every peer which of its
//! unused presignatures they hold as used or reserved
//! ([`PeerBody::UsedQuery`]), marks those used (durably), and starts
//! signing once `t - 1` peers (with itself, t nodes) answered about every
//! one of them.
//!
//! Why t - 1: a presignature used for a request was marked used by every
//! node of its signing set (t nodes) and by every other node that served
//! the request. Answers from t - 1 peers always include one of the other
//! t - 1 signers when at most n - t of them are missing, and reaching t - 1
//! peers is what signing needs anyway. Answers are sealed to the asker and
//! carry its challenge, so a forged "nothing used" answer is refused.
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use rand_core::RngCore;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::node::{now_ms, Node};
use crate::peer::{PeerBody, PeerError, MAX_USED_QUERY};

/// How many peers must answer before a node signs: t - 1 (with the node
/// itself, t), and never more than there are peers.
pub fn peers_needed(threshold: usize, nodes: usize) -> usize {
    threshold.saturating_sub(1).min(nodes.saturating_sub(1))
}

/// Which peers have answered about which presignatures (pure).
#[derive(Debug)]
pub struct Reconciliation {
    chunks: Vec<Vec<String>>,
    answered: BTreeMap<u32, BTreeSet<usize>>,
    needed: usize,
}

impl Reconciliation {
    /// Ask about `ids` until `needed` peers answered about all of them.
    pub fn new(ids: Vec<String>, needed: usize) -> Self {
        Reconciliation {
            chunks: ids.chunks(MAX_USED_QUERY).map(<[String]>::to_vec).collect(),
            answered: BTreeMap::new(),
            needed,
        }
    }

    /// The questions: presignature ids, in chunks of [`MAX_USED_QUERY`].
    pub fn chunks(&self) -> &[Vec<String>] {
        &self.chunks
    }

    /// The chunks `peer` has not answered yet.
    pub fn pending_for(&self, peer: u32) -> Vec<usize> {
        let done = self.answered.get(&peer);
        (0..self.chunks.len())
            .filter(|c| !done.is_some_and(|d| d.contains(c)))
            .collect()
    }

    /// The ids of `used` that chunk `chunk` asked about (a peer cannot make
    /// a node mark presignatures it did not ask about).
    pub fn asked_of(&self, chunk: usize, used: Vec<String>) -> Vec<String> {
        let Some(asked) = self.chunks.get(chunk) else {
            return Vec::new();
        };
        let asked: BTreeSet<&String> = asked.iter().collect();
        used.into_iter().filter(|u| asked.contains(u)).collect()
    }

    /// `peer` answered chunk `chunk` (and its used ids are marked).
    pub fn record(&mut self, peer: u32, chunk: usize) {
        if chunk < self.chunks.len() {
            self.answered.entry(peer).or_default().insert(chunk);
        }
    }

    /// Peers that answered about every presignature.
    pub fn complete_peers(&self) -> usize {
        self.answered
            .values()
            .filter(|d| d.len() == self.chunks.len())
            .count()
    }

    /// Enough peers answered: presignatures may be handed out.
    pub fn done(&self) -> bool {
        self.chunks.is_empty() || self.complete_peers() >= self.needed
    }
}

/// The JSON answer to a [`PeerBody::UsedQuery`]: a [`PeerBody::UsedAnswer`]
/// sealed to the asker, hex.
#[derive(Serialize, Deserialize)]
struct SealedAnswer {
    sealed: String,
}

impl Node {
    /// At start: reconcile every presignature not marked used here with the
    /// peers' used marks, then let the store hand presignatures out.
    pub(crate) async fn reconcile_presignatures(self: Arc<Self>) {
        let ids = match self.unused_presignature_ids() {
            Ok(ids) => ids,
            Err(e) => {
                tracing::error!(error = %e, "cannot list presignatures; this node will not sign");
                return;
            }
        };
        let peers: Vec<u32> = self
            .committee()
            .into_iter()
            .filter(|&p| p != self.me)
            .collect();
        let mut rec = Reconciliation::new(ids, peers_needed(self.threshold(), self.node_count()));
        if !rec.done() {
            tracing::info!(
                presignatures = rec.chunks().iter().map(Vec::len).sum::<usize>(),
                "reconciling presignatures with the peers' used marks before signing"
            );
        }
        let mut marked = 0usize;
        let mut discarded = 0usize;
        while !rec.done() {
            let mut calls = tokio::task::JoinSet::new();
            for &p in &peers {
                for c in rec.pending_for(p) {
                    let node = Arc::clone(&self);
                    let ids = rec.chunks()[c].clone();
                    calls.spawn(async move { (p, c, node.query_used(p, ids).await) });
                }
            }
            while let Some(r) = calls.join_next().await {
                let Ok((p, c, answer)) = r else { continue };
                match answer {
                    Ok((used, missing)) => {
                        let used = rec.asked_of(c, used);
                        let missing = rec.asked_of(c, missing);
                        let done = self
                            .store
                            .mark_used(&used)
                            .and_then(|n| Ok((n, self.store.discard_missing_at(p, &missing)?)));
                        match done {
                            Ok((n, lost)) => {
                                marked += n;
                                discarded += lost;
                                rec.record(p, c);
                            }
                            Err(e) => tracing::error!(error = %e, "cannot mark presignatures used"),
                        }
                    }
                    Err(e) => tracing::debug!(node = p, error = %e, "no used marks from peer yet"),
                }
            }
            if !rec.done() {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        self.store.set_reconciled();
        if marked > 0 {
            tracing::warn!(
                marked,
                "presignatures free here were used at peers (a restored or rolled-back database): marked used"
            );
        }
        if discarded > 0 {
            tracing::warn!(
                discarded,
                "presignatures free here were never stored by a peer that takes part in them \
                 (it stopped mid-generation): discarded"
            );
        }
        tracing::info!("presignatures reconciled; signing enabled");
    }

    fn unused_presignature_ids(&self) -> Result<Vec<String>, crate::store::StoreError> {
        let mut ids = Vec::new();
        let mut after = 0i64;
        loop {
            let page = self.store.unused_presignatures(after, 4096)?;
            let Some(&(last, _)) = page.last() else {
                return Ok(ids);
            };
            after = last;
            ids.extend(page.into_iter().map(|(_, id)| id));
        }
    }

    /// Ask `peer` which of `ids` it holds as used and which it does not
    /// hold at all; checks that the answer is sealed by that peer to this
    /// node and answers this question.
    async fn query_used(
        &self,
        peer: u32,
        ids: Vec<String>,
    ) -> Result<(Vec<String>, Vec<String>), String> {
        let challenge = rand_core::OsRng.next_u64();
        let r = self
            .post_peer(peer, &PeerBody::UsedQuery { challenge, ids })
            .await
            .map_err(|e| e.to_string())?;
        if !r.status().is_success() {
            return Err(format!("status {}", r.status()));
        }
        let answer: SealedAnswer = r.json().await.map_err(|e| e.to_string())?;
        let bytes = hex::decode(answer.sealed).map_err(|e| e.to_string())?;
        let (from, body) = self
            .members()
            .directory
            .open(self.me, &bytes, now_ms())
            .map_err(|e| e.to_string())?;
        match body {
            PeerBody::UsedAnswer {
                challenge: c,
                used,
                missing,
            } if from == peer && c == challenge => Ok((used, missing)),
            _ => Err(PeerError::WrongReply(from).to_string()),
        }
    }

    /// Answer a peer's [`PeerBody::UsedQuery`]: which of `ids` this node
    /// holds as used or reserved, sealed to the asker.
    pub(crate) fn answer_used_query(
        &self,
        from: u32,
        challenge: u64,
        ids: Vec<String>,
    ) -> Result<serde_json::Value, ApiError> {
        if ids.len() > MAX_USED_QUERY {
            return Err(ApiError::bad_request(
                "PeerMessageRefused",
                format!("at most {MAX_USED_QUERY} presignatures per query"),
            ));
        }
        let used = self.store.used_among(&ids).map_err(ApiError::internal)?;
        let missing = self.store.missing_among(&ids).map_err(ApiError::internal)?;
        let sealed = self.members().directory.seal(
            &self.identity,
            self.me,
            from,
            now_ms(),
            &PeerBody::UsedAnswer {
                challenge,
                used,
                missing,
            },
        );
        Ok(serde_json::to_value(SealedAnswer {
            sealed: hex::encode(sealed),
        })
        .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signing_waits_for_t_minus_one_peers_to_answer_about_every_presignature() {
        assert_eq!(peers_needed(4, 5), 3);
        assert_eq!(peers_needed(3, 3), 2);
        assert_eq!(peers_needed(1, 1), 0);
        let ids: Vec<String> = (0..MAX_USED_QUERY + 1).map(|i| format!("p{i}")).collect();
        let mut rec = Reconciliation::new(ids, 2);
        assert_eq!(rec.chunks().len(), 2);
        assert!(!rec.done());
        rec.record(1, 0);
        rec.record(1, 1);
        rec.record(2, 0);
        assert!(
            !rec.done(),
            "node 2 has not answered about every presignature"
        );
        assert_eq!(rec.pending_for(2), vec![1]);
        rec.record(2, 1);
        assert!(rec.done());
        // nothing to ask about: nothing can be reused
        assert!(Reconciliation::new(Vec::new(), 3).done());
    }

    #[test]
    fn a_peer_can_only_mark_presignatures_the_node_asked_about() {
        let rec = Reconciliation::new(vec!["a".into(), "b".into()], 1);
        assert_eq!(
            rec.asked_of(0, vec!["b".into(), "zzz".into()]),
            vec!["b".to_string()]
        );
        assert!(rec.asked_of(5, vec!["a".into()]).is_empty());
    }
}
