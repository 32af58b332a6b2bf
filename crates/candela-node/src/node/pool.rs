//! The presignature pool: the pool leader (the live node of lowest index)
//! keeps enough presignatures made, in batches among the live nodes; every
//! node joins the batches it is asked to and stores its shares.
//!
//! A batch belongs to the root share it was made with: one that finishes
//! after a refresh installed a new share is dropped
//! ([`Node::key_generation`]).
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use candela_crypto::session::{CaitSith, EcdsaBackend, KeyShare};

use super::{futures_join_all, now_ms, Node, SESSION_SILENCE};
use crate::error::ApiError;
use crate::peer::PeerBody;

impl Node {
    fn is_pool_leader(&self) -> bool {
        let live = self.live_set();
        (0..self.me).all(|i| !live.contains(&i))
    }

    pub(super) async fn pool_loop(self: Arc<Self>) {
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        loop {
            tick.tick().await;
            if !self.is_pool_leader() {
                continue;
            }
            let Some(key) = self.key() else { continue };
            let (free, _) = self.store.presignature_counts().unwrap_or((0, 0));
            let batch = self.cfg.pool.batch.max(1);
            let running = self.in_flight.load(Ordering::SeqCst);
            if free as usize + running * batch >= self.cfg.pool.target
                || running >= self.cfg.pool.refill_concurrency.max(1)
            {
                continue;
            }
            // Only nodes holding a share of the key (a node proven at fault
            // in the key generation holds none).
            let parts: Vec<u32> = self
                .live_set()
                .into_iter()
                .filter(|p| key.participants.contains(p))
                .collect();
            if parts.len() < self.threshold() {
                continue;
            }
            let seq = self.session_counter.fetch_add(1, Ordering::SeqCst);
            let session = format!("presign-{}-{}-{}", self.me, now_ms(), seq);
            self.in_flight.fetch_add(1, Ordering::SeqCst);
            let node = Arc::clone(&self);
            tokio::spawn(async move {
                node.lead_presign(session, parts, batch, key).await;
                node.in_flight.fetch_sub(1, Ordering::SeqCst);
            });
        }
    }

    async fn lead_presign(
        self: &Arc<Self>,
        session: String,
        parts: Vec<u32>,
        count: usize,
        _key: Arc<KeyShare>,
    ) {
        let body = PeerBody::StartPresign {
            session: session.clone(),
            participants: parts.clone(),
            count: count as u32,
        };
        let mut calls = Vec::new();
        for &p in parts.iter().filter(|&&p| p != self.me) {
            let body = body.clone();
            let node = Arc::clone(self);
            calls.push(async move {
                (
                    p,
                    node.post_peer(p, &body)
                        .await
                        .map(|r| r.status().is_success())
                        .unwrap_or(false),
                )
            });
        }
        let answers = futures_join_all(calls).await;
        if let Some((p, _)) = answers.iter().find(|(_, ok)| !ok) {
            tracing::debug!(%session, "node {p} did not join; abandoning session");
            return;
        }
        if let Err(e) = self.join_presign(self.me, session.clone(), parts, count) {
            tracing::warn!(%session, error = %e.message, "cannot run own presign session");
            return;
        }
        // wait until our own session stores its output (join_presign spawns it)
        let deadline = Instant::now() + Duration::from_secs(self.cfg.pool.session_timeout_secs);
        while Instant::now() < deadline && !self.take_finished(&session) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn take_finished(&self, session: &str) -> bool {
        self.finished
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(session)
    }

    pub(crate) fn join_presign(
        self: &Arc<Self>,
        leader: u32,
        session: String,
        parts: Vec<u32>,
        count: usize,
    ) -> Result<(), ApiError> {
        if !session.starts_with(&format!("presign-{leader}-")) {
            return Err(ApiError::bad_request(
                "PeerMessageRefused",
                "session id does not name its leader",
            ));
        }
        let members = self.members();
        if !parts.contains(&self.me)
            || parts.iter().any(|p| !members.committee.contains(p))
            || count == 0
            || count > 64
        {
            return Err(ApiError::bad_request(
                "PeerMessageRefused",
                "bad presign parameters",
            ));
        }
        let key = self
            .key()
            .ok_or_else(|| ApiError::unavailable("NodeNotReady", "root key not generated yet"))?;
        // Presignatures belong to the key share they were made with: a
        // batch that finishes after a refresh installed a new share is
        // dropped (see `node/refresh.rs`).
        let generation = self.key_generation();
        let proto = CaitSith::presign_batch(&parts, self.me, &key, count)
            .map_err(|e| ApiError::bad_request("PeerMessageRefused", e.to_string()))?;
        let opened = if leader == self.me {
            self.hub.run(
                session.clone(),
                self.me,
                parts.clone(),
                proto,
                self.outbox.clone(),
                Duration::from_secs(self.cfg.pool.session_timeout_secs),
            )
        } else {
            // a peer may have at most MAX_SESSIONS_PER_PEER running here
            self.hub.run_opened_by(
                leader,
                session.clone(),
                self.me,
                parts.clone(),
                proto,
                self.outbox.clone(),
                Duration::from_secs(self.cfg.pool.session_timeout_secs),
            )
        };
        let rx = opened.map_err(|e| match e {
            crate::runner::RunError::TooManySessions(_) => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "PeerMessageRefused",
                e.to_string(),
            ),
            e => ApiError::conflict("PeerMessageRefused", e.to_string()),
        })?;
        let node = Arc::clone(self);
        let started = Instant::now();
        let watched = Arc::clone(self);
        let watch_start = started;
        let watch_session = session.clone();
        let watch_parts = parts.clone();
        let watchdog = tokio::spawn(async move {
            // A session cannot finish without every participant: cancel it
            // as soon as one stops answering heartbeats or restarted (a
            // restarted node lost the session's state).
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                if let Some(gone) = watch_parts.iter().find(|&&p| {
                    watched.silent_for(p) > SESSION_SILENCE
                        || watched.restarted_since(p, watch_start)
                }) {
                    watched
                        .hub
                        .cancel(&watch_session, &format!("participant {gone} is not live"));
                    return;
                }
            }
        });
        tokio::spawn(async move {
            let outcome = rx.await;
            watchdog.abort();
            match outcome {
                Ok(Ok(presigs)) => {
                    let items: Vec<(String, Vec<u32>, Vec<u8>)> = presigs
                        .iter()
                        .enumerate()
                        .map(|(j, p)| {
                            (
                                format!("{session}-{j}"),
                                p.participants.clone(),
                                p.to_bytes(),
                            )
                        })
                        .collect();
                    let current = node
                        .key_generation
                        .lock()
                        .unwrap_or_else(|p| p.into_inner());
                    if *current != generation {
                        tracing::info!(%session, "presignatures made with a share replaced since: dropped");
                    } else {
                        match node.store.insert_presignatures(&items) {
                            Ok(()) => {
                                node.stats
                                    .generated
                                    .fetch_add(items.len() as u64, Ordering::Relaxed);
                                node.stats.presign_ms.fetch_add(
                                    started.elapsed().as_millis() as u64,
                                    Ordering::Relaxed,
                                );
                            }
                            Err(e) => tracing::error!(error = %e, "cannot store presignatures"),
                        }
                    }
                    drop(current);
                }
                Ok(Err(e)) => tracing::warn!(%session, error = %e, "presign session failed"),
                Err(_) => {}
            }
            if leader == node.me {
                node.finished
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(session);
            }
        });
        Ok(())
    }
}
