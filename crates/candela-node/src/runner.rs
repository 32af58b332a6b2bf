//! Drives sans-IO protocol sessions: each runs on its own OS thread (the
//! work is CPU-bound), takes messages from a channel, and hands outgoing
//! messages to the node's outbox. Messages for a session this node has not
//! started yet are buffered until it starts.
use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use candela_crypto::session::{BoxedSession, Outgoing, Step};
use candela_crypto::CryptoError;

/// A message a session wants delivered to one peer.
#[derive(Debug)]
pub struct Outbound {
    /// Session id.
    pub session: String,
    /// Recipient.
    pub to: u32,
    /// Must be encrypted to the recipient.
    pub private: bool,
    /// Payload.
    pub data: Vec<u8>,
    /// The session cannot finish without this recipient: when it cannot be
    /// reached the session ends at once (see [`SessionLimits`]).
    pub abort_if_unreachable: bool,
}

/// How long a session may run, and whether it needs every participant.
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    /// Deadline for the next message while the session waits.
    pub timeout: Duration,
    /// Every participant is needed to the end (a signing set, a
    /// presignature batch): a recipient that cannot be reached ends the
    /// session at once instead of at the deadline, so that the caller can
    /// start again with other participants.
    pub needs_every_peer: bool,
}

impl SessionLimits {
    /// A session that needs every participant, with `timeout` per wait.
    pub fn every_peer_needed(timeout: Duration) -> Self {
        SessionLimits {
            timeout,
            needs_every_peer: true,
        }
    }
}

impl From<Duration> for SessionLimits {
    /// A session that may go on without some participants (an agreement
    /// round), with `timeout` per wait.
    fn from(timeout: Duration) -> Self {
        SessionLimits {
            timeout,
            needs_every_peer: false,
        }
    }
}

/// Why a session ended without output.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The protocol failed (possibly naming a culprit).
    #[error(transparent)]
    Protocol(#[from] CryptoError),
    /// Not every participant took part in time.
    #[error("session timed out")]
    Timeout,
    /// The session id is already in use.
    #[error("session {0} already exists")]
    Duplicate(String),
    /// Cancelled by the node (a participant went away).
    #[error("session cancelled: {0}")]
    Cancelled(String),
    /// The peer that asked for the session already has
    /// [`MAX_SESSIONS_PER_PEER`] sessions running here.
    #[error("node {0} already has {MAX_SESSIONS_PER_PEER} sessions running here")]
    TooManySessions(u32),
}

/// Why a message for a session was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DeliverError {
    /// The sender already holds [`MAX_PENDING_PER_PEER`] buffers of sessions
    /// this node has not started.
    #[error("node {0} has too many messages for sessions not started here")]
    TooManyPending(u32),
    /// The sender's buffered messages would pass
    /// [`MAX_PENDING_BYTES_PER_PEER`], or the session's buffer is full.
    #[error("node {0} has too many bytes buffered for sessions not started here")]
    PendingFull(u32),
}

/// Sender index that marks a cancellation, never a real node.
const CANCEL: u32 = u32::MAX;

enum Slot {
    /// Running.
    Active(mpsc::Sender<(u32, Vec<u8>)>),
    /// Messages that arrived before the session started: who sent the
    /// first one (it counts against that peer), the messages, since when.
    Pending(u32, Vec<(u32, Vec<u8>)>, Instant),
    Closed(Instant),
}

/// Largest number of messages buffered for a session not yet started.
const MAX_PENDING: usize = 20_000;
/// How long buffered and closed sessions are remembered.
const RETAIN: Duration = Duration::from_secs(300);
/// Sessions one peer may have running on this node at its request at once
/// (presignature batches it leads).
pub const MAX_SESSIONS_PER_PEER: usize = 16;
/// Buffers of not-yet-started sessions one peer may open at once.
pub const MAX_PENDING_PER_PEER: usize = 64;
/// Bytes one peer may have buffered for sessions not started yet.
pub const MAX_PENDING_BYTES_PER_PEER: usize = 128 * 1024 * 1024;

/// What one peer holds in this node's hub.
#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
struct PeerUse {
    active: usize,
    pending: usize,
    pending_bytes: usize,
}

#[derive(Default)]
struct Slots {
    slots: HashMap<String, Slot>,
    per_peer: HashMap<u32, PeerUse>,
}

impl Slots {
    fn usage(&mut self, peer: u32) -> &mut PeerUse {
        self.per_peer.entry(peer).or_default()
    }

    /// Give back what a pending buffer counted against its peers.
    fn release_pending(&mut self, owner: u32, buf: &[(u32, Vec<u8>)]) {
        let u = self.usage(owner);
        u.pending = u.pending.saturating_sub(1);
        for (from, data) in buf {
            let u = self.usage(*from);
            u.pending_bytes = u.pending_bytes.saturating_sub(data.len());
        }
    }
}

/// The sessions of one node.
#[derive(Default)]
pub struct SessionHub {
    inner: Mutex<Slots>,
}

impl SessionHub {
    fn lock(&self) -> std::sync::MutexGuard<'_, Slots> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hand a message to a session, or buffer it until the session starts.
    /// A peer may hold at most [`MAX_PENDING_PER_PEER`] buffers and
    /// [`MAX_PENDING_BYTES_PER_PEER`] bytes for sessions not started here.
    pub fn deliver(&self, session: &str, from: u32, data: Vec<u8>) -> Result<(), DeliverError> {
        let mut g = self.lock();
        let len = data.len();
        match g.slots.get_mut(session) {
            Some(Slot::Active(tx)) => {
                let _ = tx.send((from, data));
                return Ok(());
            }
            Some(Slot::Closed(_)) => return Ok(()),
            Some(Slot::Pending(..)) | None => {}
        }
        if g.usage(from).pending_bytes + len > MAX_PENDING_BYTES_PER_PEER {
            return Err(DeliverError::PendingFull(from));
        }
        match g.slots.get_mut(session) {
            Some(Slot::Pending(_, buf, _)) => {
                if buf.len() >= MAX_PENDING {
                    return Err(DeliverError::PendingFull(from));
                }
                buf.push((from, data));
            }
            _ => {
                if g.usage(from).pending >= MAX_PENDING_PER_PEER {
                    return Err(DeliverError::TooManyPending(from));
                }
                g.usage(from).pending += 1;
                g.slots.insert(
                    session.to_string(),
                    Slot::Pending(from, vec![(from, data)], Instant::now()),
                );
            }
        }
        g.usage(from).pending_bytes += len;
        Ok(())
    }

    /// Stop a running session (its result becomes [`RunError::Cancelled`]).
    pub fn cancel(&self, session: &str, reason: &str) {
        if let Some(Slot::Active(tx)) = self.lock().slots.get(session) {
            let _ = tx.send((CANCEL, reason.as_bytes().to_vec()));
        }
    }

    /// True if the session was started here (running or finished).
    pub fn started(&self, session: &str) -> bool {
        matches!(
            self.lock().slots.get(session),
            Some(Slot::Active(_)) | Some(Slot::Closed(_))
        )
    }

    /// Forget old buffers and closed sessions.
    pub fn gc(&self) {
        let now = Instant::now();
        let mut g = self.lock();
        let expired: Vec<String> = g
            .slots
            .iter()
            .filter(|(_, s)| match s {
                Slot::Active(_) => false,
                Slot::Pending(_, _, t) | Slot::Closed(t) => now.duration_since(*t) >= RETAIN,
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in expired {
            if let Some(Slot::Pending(owner, buf, _)) = g.slots.remove(&k) {
                g.release_pending(owner, &buf);
            }
        }
        g.per_peer.retain(|_, u| *u != PeerUse::default());
    }

    /// Start a session this node opened itself (see [`SessionHub::run_for`]).
    pub fn run<T: Send + 'static>(
        self: &Arc<Self>,
        session: String,
        me: u32,
        participants: Vec<u32>,
        proto: BoxedSession<T>,
        outbox: tokio::sync::mpsc::UnboundedSender<Outbound>,
        limits: impl Into<SessionLimits>,
    ) -> Result<tokio::sync::oneshot::Receiver<Result<T, RunError>>, RunError> {
        self.run_for(
            None,
            session,
            me,
            participants,
            proto,
            outbox,
            limits.into(),
        )
    }

    /// Start a session that peer `opener` asked for, refused with
    /// [`RunError::TooManySessions`] when that peer already has
    /// [`MAX_SESSIONS_PER_PEER`] running here.
    #[allow(clippy::too_many_arguments)]
    pub fn run_opened_by<T: Send + 'static>(
        self: &Arc<Self>,
        opener: u32,
        session: String,
        me: u32,
        participants: Vec<u32>,
        proto: BoxedSession<T>,
        outbox: tokio::sync::mpsc::UnboundedSender<Outbound>,
        limits: impl Into<SessionLimits>,
    ) -> Result<tokio::sync::oneshot::Receiver<Result<T, RunError>>, RunError> {
        self.run_for(
            Some(opener),
            session,
            me,
            participants,
            proto,
            outbox,
            limits.into(),
        )
    }

    /// Start a session on its own thread; the receiver yields its result.
    #[allow(clippy::too_many_arguments)]
    fn run_for<T: Send + 'static>(
        self: &Arc<Self>,
        opener: Option<u32>,
        session: String,
        me: u32,
        participants: Vec<u32>,
        mut proto: BoxedSession<T>,
        outbox: tokio::sync::mpsc::UnboundedSender<Outbound>,
        limits: SessionLimits,
    ) -> Result<tokio::sync::oneshot::Receiver<Result<T, RunError>>, RunError> {
        let (tx, rx) = mpsc::channel();
        {
            let mut g = self.lock();
            if matches!(
                g.slots.get(&session),
                Some(Slot::Active(_)) | Some(Slot::Closed(_))
            ) {
                return Err(RunError::Duplicate(session));
            }
            if let Some(p) = opener {
                if g.usage(p).active >= MAX_SESSIONS_PER_PEER {
                    return Err(RunError::TooManySessions(p));
                }
                g.usage(p).active += 1;
            }
            if let Some(Slot::Pending(owner, buf, _)) = g.slots.remove(&session) {
                g.release_pending(owner, &buf);
                for m in buf {
                    let _ = tx.send(m);
                }
            }
            g.slots.insert(session.clone(), Slot::Active(tx));
        }
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let hub = Arc::clone(self);
        let session_name = session.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("session-{}", &session[..session.len().min(24)]))
            .spawn(move || {
                lower_thread_priority();
                let SessionLimits {
                    timeout,
                    needs_every_peer,
                } = limits;
                let mut deadline = Instant::now() + timeout;
                // After the deadline, a session that can go on without the
                // missing messages (an agreement round) gets this long per
                // further round.
                let grace = (timeout / 4).max(Duration::from_secs(2));
                let result = loop {
                    match proto.poke() {
                        Ok(Step::Send(Outgoing::Broadcast(m))) => {
                            for &p in participants.iter().filter(|&&p| p != me) {
                                let _ = outbox.send(Outbound {
                                    session: session.clone(),
                                    to: p,
                                    private: false,
                                    data: m.clone(),
                                    abort_if_unreachable: needs_every_peer,
                                });
                            }
                        }
                        Ok(Step::Send(Outgoing::Private(to, m))) => {
                            let _ = outbox.send(Outbound {
                                session: session.clone(),
                                to,
                                private: true,
                                data: m,
                                abort_if_unreachable: needs_every_peer,
                            });
                        }
                        Ok(Step::Done(v)) => break Ok(v),
                        Err(e) => break Err(RunError::Protocol(e)),
                        Ok(Step::Wait) => {
                            let left = deadline.saturating_duration_since(Instant::now());
                            match rx.recv_timeout(left) {
                                Ok((CANCEL, why)) => {
                                    break Err(RunError::Cancelled(
                                        String::from_utf8_lossy(&why).into_owned(),
                                    ))
                                }
                                Ok((from, data)) => {
                                    proto.receive(from, data);
                                    let mut cancelled = None;
                                    while let Ok((from, data)) = rx.try_recv() {
                                        if from == CANCEL {
                                            cancelled =
                                                Some(String::from_utf8_lossy(&data).into_owned());
                                            break;
                                        }
                                        proto.receive(from, data);
                                    }
                                    if let Some(why) = cancelled {
                                        break Err(RunError::Cancelled(why));
                                    }
                                }
                                Err(_) => {
                                    if proto.expire() {
                                        deadline = Instant::now() + grace;
                                        continue;
                                    }
                                    break Err(RunError::Timeout);
                                }
                            }
                        }
                    }
                };
                hub.close(&session, opener);
                let _ = done_tx.send(result);
            });
        if let Err(e) = spawned {
            self.close(&session_name, opener);
            return Err(RunError::Protocol(CryptoError::Protocol(format!(
                "spawn: {e}"
            ))));
        }
        Ok(done_rx)
    }
}

impl SessionHub {
    /// A session ended: remember it closed and give back its opener's slot.
    fn close(&self, session: &str, opener: Option<u32>) {
        let mut g = self.lock();
        g.slots
            .insert(session.to_string(), Slot::Closed(Instant::now()));
        if let Some(p) = opener {
            let u = g.usage(p);
            u.active = u.active.saturating_sub(1);
        }
    }
}

/// Protocol sessions are CPU-bound background work: run them below the
/// priority of request handling so that signing latency does not depend on
/// pool refills. On Linux the nice value is per thread.
fn lower_thread_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority(2) on the calling thread (who = 0) only changes its
    // scheduling priority; no memory is touched.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 10);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candela_crypto::session::{CaitSith, EcdsaBackend};

    /// Three nodes' keygen sessions run through hubs with messages moved by
    /// a router task, including messages that arrive before a session starts.
    #[tokio::test]
    async fn keygen_runs_through_hubs_with_early_messages() {
        let hubs: Vec<Arc<SessionHub>> = (0..3).map(|_| Arc::new(SessionHub::default())).collect();
        let (out_tx, mut out_rx) = tokio::sync::mpsc::unbounded_channel::<(u32, Outbound)>();
        let parts = vec![0u32, 1, 2];
        let mut results = Vec::new();
        for i in 0..3u32 {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            let fwd = out_tx.clone();
            tokio::spawn(async move {
                while let Some(m) = rx.recv().await {
                    let _ = fwd.send((i, m));
                }
            });
            let s = CaitSith::keygen(&parts, i, 2).unwrap();
            results.push(
                hubs[i as usize]
                    .run(
                        "kg".into(),
                        i,
                        parts.clone(),
                        s,
                        tx,
                        Duration::from_secs(30),
                    )
                    .unwrap(),
            );
            if i == 0 {
                // let node 0 run ahead so its messages arrive before 1 and 2 start
                tokio::time::sleep(Duration::from_millis(50)).await;
                while let Ok((from, m)) = out_rx.try_recv() {
                    let _ = hubs[m.to as usize].deliver(&m.session, from, m.data);
                }
            }
        }
        let router_hubs = hubs.clone();
        tokio::spawn(async move {
            while let Some((from, m)) = out_rx.recv().await {
                let _ = router_hubs[m.to as usize].deliver(&m.session, from, m.data);
            }
        });
        let mut keys = Vec::new();
        for r in results {
            keys.push(r.await.unwrap().unwrap());
        }
        assert_eq!(keys[0].public_key, keys[2].public_key);
        assert!(hubs[0].started("kg"));
        assert!(matches!(
            hubs[0].run(
                "kg".into(),
                0,
                parts.clone(),
                CaitSith::keygen(&parts, 0, 2).unwrap(),
                tokio::sync::mpsc::unbounded_channel().0,
                Duration::from_secs(1)
            ),
            Err(RunError::Duplicate(_))
        ));
    }

    /// A keygen among {0, 1, 2} at node 0 that waits for ever (nobody
    /// answers it).
    fn waiting_session() -> BoxedSession<candela_crypto::session::KeyShare> {
        CaitSith::keygen(&[0, 1, 2], 0, 2).unwrap()
    }

    #[tokio::test]
    async fn a_peer_cannot_open_more_than_its_cap_of_sessions() {
        let hub = Arc::new(SessionHub::default());
        let out = tokio::sync::mpsc::unbounded_channel().0;
        let long = Duration::from_secs(60);
        let mut running = Vec::new();
        for i in 0..MAX_SESSIONS_PER_PEER {
            running.push(
                hub.run_opened_by(
                    1,
                    format!("p1-{i}"),
                    0,
                    vec![0, 1, 2],
                    waiting_session(),
                    out.clone(),
                    long,
                )
                .unwrap(),
            );
        }
        assert!(matches!(
            hub.run_opened_by(
                1,
                "p1-over".into(),
                0,
                vec![0, 1, 2],
                waiting_session(),
                out.clone(),
                long
            ),
            Err(RunError::TooManySessions(1))
        ));
        assert!(!hub.started("p1-over"));
        // another peer, and this node itself, are not held back by peer 1
        let other = hub
            .run_opened_by(
                2,
                "p2-0".into(),
                0,
                vec![0, 1, 2],
                waiting_session(),
                out.clone(),
                long,
            )
            .unwrap();
        let own = hub
            .run(
                "own-0".into(),
                0,
                vec![0, 1, 2],
                waiting_session(),
                out.clone(),
                long,
            )
            .unwrap();
        // when one of peer 1's sessions ends, it may open another
        hub.cancel("p1-0", "test");
        assert!(matches!(
            running.remove(0).await.unwrap(),
            Err(RunError::Cancelled(_))
        ));
        hub.run_opened_by(
            1,
            "p1-again".into(),
            0,
            vec![0, 1, 2],
            waiting_session(),
            out.clone(),
            long,
        )
        .unwrap();
        for s in ["p2-0", "own-0", "p1-again"]
            .into_iter()
            .map(String::from)
            .chain((1..MAX_SESSIONS_PER_PEER).map(|i| format!("p1-{i}")))
        {
            hub.cancel(&s, "done");
        }
        let _ = (other.await, own.await);
    }

    #[test]
    fn a_peer_cannot_open_unbounded_buffers_for_sessions_never_started() {
        let hub = Arc::new(SessionHub::default());
        for i in 0..MAX_PENDING_PER_PEER {
            hub.deliver(&format!("ghost-{i}"), 1, vec![1; 10]).unwrap();
        }
        assert_eq!(
            hub.deliver("ghost-over", 1, vec![1; 10]),
            Err(DeliverError::TooManyPending(1))
        );
        // messages for a buffer that exists are still taken, from anyone
        hub.deliver("ghost-0", 1, vec![2; 10]).unwrap();
        hub.deliver("ghost-0", 2, vec![2; 10]).unwrap();
        // another peer has its own allowance
        hub.deliver("other", 2, vec![1; 10]).unwrap();
        // starting a session gives its buffer back to the peer that opened it
        let out = tokio::sync::mpsc::unbounded_channel().0;
        let _rx = hub
            .run(
                "ghost-0".into(),
                0,
                vec![0, 1, 2],
                waiting_session(),
                out,
                Duration::from_millis(50),
            )
            .unwrap();
        hub.deliver("ghost-over", 1, vec![1; 10]).unwrap();
        assert_eq!(
            hub.deliver("ghost-over-2", 1, vec![1; 10]),
            Err(DeliverError::TooManyPending(1))
        );
        // a peer's buffered bytes are capped too
        assert_eq!(
            hub.deliver("ghost-1", 3, vec![0; MAX_PENDING_BYTES_PER_PEER + 1]),
            Err(DeliverError::PendingFull(3))
        );
    }

    #[tokio::test]
    async fn only_a_session_that_needs_every_peer_marks_its_messages_to_abort_when_one_is_unreachable(
    ) {
        let hub = Arc::new(SessionHub::default());
        for (name, limits, expected) in [
            (
                "all-needed",
                SessionLimits::every_peer_needed(Duration::from_secs(60)),
                true,
            ),
            ("agreement", Duration::from_secs(60).into(), false),
        ] {
            let (out, mut out_rx) = tokio::sync::mpsc::unbounded_channel();
            let _rx = hub
                .run(
                    name.into(),
                    0,
                    vec![0, 1, 2],
                    waiting_session(),
                    out,
                    limits,
                )
                .unwrap();
            // a keygen's first round goes to both other participants
            for _ in 0..2 {
                let m = tokio::time::timeout(Duration::from_secs(10), out_rx.recv())
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!(m.session, name);
                assert_eq!(m.abort_if_unreachable, expected, "{name}");
            }
            hub.cancel(name, "done");
        }
    }
}
