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
}

/// Sender index that marks a cancellation, never a real node.
const CANCEL: u32 = u32::MAX;

enum Slot {
    Active(mpsc::Sender<(u32, Vec<u8>)>),
    Pending(Vec<(u32, Vec<u8>)>, Instant),
    Closed(Instant),
}

/// Largest number of messages buffered for a session not yet started.
const MAX_PENDING: usize = 20_000;
/// How long buffered and closed sessions are remembered.
const RETAIN: Duration = Duration::from_secs(300);

/// The sessions of one node.
#[derive(Default)]
pub struct SessionHub {
    slots: Mutex<HashMap<String, Slot>>,
}

impl SessionHub {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Slot>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hand a message to a session (or buffer it until the session starts).
    pub fn deliver(&self, session: &str, from: u32, data: Vec<u8>) {
        let mut slots = self.lock();
        match slots.get_mut(session) {
            Some(Slot::Active(tx)) => {
                let _ = tx.send((from, data));
            }
            Some(Slot::Pending(buf, _)) => {
                if buf.len() < MAX_PENDING {
                    buf.push((from, data));
                }
            }
            Some(Slot::Closed(_)) => {}
            None => {
                slots.insert(
                    session.to_string(),
                    Slot::Pending(vec![(from, data)], Instant::now()),
                );
            }
        }
    }

    /// Stop a running session (its result becomes [`RunError::Cancelled`]).
    pub fn cancel(&self, session: &str, reason: &str) {
        if let Some(Slot::Active(tx)) = self.lock().get(session) {
            let _ = tx.send((CANCEL, reason.as_bytes().to_vec()));
        }
    }

    /// True if the session was started here (running or finished).
    pub fn started(&self, session: &str) -> bool {
        matches!(
            self.lock().get(session),
            Some(Slot::Active(_)) | Some(Slot::Closed(_))
        )
    }

    /// Forget old buffers and closed sessions.
    pub fn gc(&self) {
        let now = Instant::now();
        self.lock().retain(|_, s| match s {
            Slot::Active(_) => true,
            Slot::Pending(_, t) | Slot::Closed(t) => now.duration_since(*t) < RETAIN,
        });
    }

    /// Start a session on its own thread; the receiver yields its result.
    pub fn run<T: Send + 'static>(
        self: &Arc<Self>,
        session: String,
        me: u32,
        participants: Vec<u32>,
        mut proto: BoxedSession<T>,
        outbox: tokio::sync::mpsc::UnboundedSender<Outbound>,
        timeout: Duration,
    ) -> Result<tokio::sync::oneshot::Receiver<Result<T, RunError>>, RunError> {
        let (tx, rx) = mpsc::channel();
        {
            let mut slots = self.lock();
            let early = match slots.remove(&session) {
                Some(Slot::Pending(buf, _)) => buf,
                Some(other) => {
                    slots.insert(session.clone(), other);
                    return Err(RunError::Duplicate(session));
                }
                None => Vec::new(),
            };
            for m in early {
                let _ = tx.send(m);
            }
            slots.insert(session.clone(), Slot::Active(tx));
        }
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let hub = Arc::clone(self);
        std::thread::Builder::new()
            .name(format!("session-{}", &session[..session.len().min(24)]))
            .spawn(move || {
                lower_thread_priority();
                let deadline = Instant::now() + timeout;
                let result = loop {
                    match proto.poke() {
                        Ok(Step::Send(Outgoing::Broadcast(m))) => {
                            for &p in participants.iter().filter(|&&p| p != me) {
                                let _ = outbox.send(Outbound {
                                    session: session.clone(),
                                    to: p,
                                    private: false,
                                    data: m.clone(),
                                });
                            }
                        }
                        Ok(Step::Send(Outgoing::Private(to, m))) => {
                            let _ = outbox.send(Outbound {
                                session: session.clone(),
                                to,
                                private: true,
                                data: m,
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
                                Err(_) => break Err(RunError::Timeout),
                            }
                        }
                    }
                };
                hub.lock().insert(session, Slot::Closed(Instant::now()));
                let _ = done_tx.send(result);
            })
            .map_err(|e| RunError::Protocol(CryptoError::Protocol(format!("spawn: {e}"))))?;
        Ok(done_rx)
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
                    hubs[m.to as usize].deliver(&m.session, from, m.data);
                }
            }
        }
        let router_hubs = hubs.clone();
        tokio::spawn(async move {
            while let Some((from, m)) = out_rx.recv().await {
                router_hubs[m.to as usize].deliver(&m.session, from, m.data);
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
}
