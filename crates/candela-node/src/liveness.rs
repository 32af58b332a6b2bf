//! Heartbeats: which peers are live, and which restarted.
//!
//! Every 500 ms a node sends each peer a signed [`PeerBody::Ping`] carrying
//! a random challenge and its own boot id (`POST /peer/v1/ping`); the peer
//! answers a [`PeerBody::Pong`] sealed to the pinger that carries the
//! challenge back and the peer's boot id. Both directions are authenticated
//! with the identity keys of the node set: a ping or pong that does not
//! verify (a stranger's, a replayed or a forged one) counts neither as
//! liveness nor as a restart notice, so it cannot cancel the sessions a
//! restart would cancel.
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand_core::RngCore;

use crate::node::{now_ms, Node};
use crate::peer::{Authenticated, Directory, Identity, PeerBody, PeerError};

/// A peer is live if it was heard from (an authenticated ping or pong)
/// this recently.
pub const LIVE_WINDOW: Duration = Duration::from_millis(5000);
/// How often a node pings each peer.
pub const PING_INTERVAL: Duration = Duration::from_millis(500);
/// Largest ping or pong body accepted, in bytes.
pub const MAX_PING_BODY: u64 = 256;

/// A peer's boot id and when it last changed (None: not since first seen).
type PeerBoot = (u64, Option<Instant>);

/// What a node knows of its peers' liveness and restarts.
pub struct Liveness {
    me: u32,
    /// When each peer was last heard from.
    live: Mutex<Vec<Option<Instant>>>,
    /// Each peer's boot id as last seen, and when it last changed.
    boots: Mutex<Vec<Option<PeerBoot>>>,
}

impl Liveness {
    /// Nothing known yet about `n` nodes; this node is `me`.
    pub fn new(n: usize, me: u32) -> Self {
        Liveness {
            me,
            live: Mutex::new(vec![None; n]),
            boots: Mutex::new(vec![None; n]),
        }
    }

    /// Peer `i` was heard from at `at` (an authenticated ping or pong)
    /// with boot id `boot`; a boot id other than the last one seen is a
    /// restart.
    pub fn observe(&self, i: u32, boot: u64, at: Instant) {
        let i = i as usize;
        {
            let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
            if live.len() <= i {
                // a member added to the node set
                live.resize(i + 1, None);
            }
            live[i] = Some(at);
        }
        let mut boots = self.boots.lock().unwrap_or_else(|p| p.into_inner());
        if boots.len() <= i {
            boots.resize(i + 1, None);
        }
        let Some(slot) = boots.get_mut(i) else { return };
        match *slot {
            Some((seen, _)) if seen != boot => {
                tracing::info!(node = i, "peer restarted");
                *slot = Some((boot, Some(at)));
            }
            Some(_) => {}
            None => *slot = Some((boot, None)),
        }
    }

    /// A message to peer `i` could not be delivered at `at`: it counts as
    /// not live until it is heard from again (its last sign of life is
    /// moved back to just outside [`LIVE_WINDOW`]).
    pub fn unreachable(&self, i: u32, at: Instant) {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        let Some(slot) = live.get_mut(i as usize) else {
            return;
        };
        if let (Some(t), Some(cut)) = (*slot, at.checked_sub(LIVE_WINDOW)) {
            if t > cut {
                *slot = Some(cut);
            }
        }
    }

    /// The nodes heard from within [`LIVE_WINDOW`] of `now`, and this node.
    pub fn live_set(&self, now: Instant) -> BTreeSet<u32> {
        let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        let mut s: BTreeSet<u32> = live
            .iter()
            .enumerate()
            .filter(|(_, t)| t.is_some_and(|t| now.saturating_duration_since(t) < LIVE_WINDOW))
            .map(|(i, _)| i as u32)
            .collect();
        s.insert(self.me);
        s
    }

    /// Whether node `i` was seen to restart after `since`.
    pub fn restarted_since(&self, i: u32, since: Instant) -> bool {
        let boots = self.boots.lock().unwrap_or_else(|p| p.into_inner());
        matches!(boots.get(i as usize), Some(Some((_, Some(at)))) if *at > since)
    }

    /// How long node `i` has not been heard from (zero for this node, and
    /// for a node never heard from yet: a session's own timeout covers a
    /// participant that never shows up).
    pub fn silent_for(&self, i: u32) -> Duration {
        if i == self.me {
            return Duration::ZERO;
        }
        let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        match live.get(i as usize).copied().flatten() {
            Some(t) => t.elapsed(),
            None => Duration::ZERO,
        }
    }
}

/// Answer an authenticated ping (`msg`, already opened and checked against
/// replay): record the pinger as live with its boot id, and seal the pong.
/// Anything but a ping is refused.
#[allow(clippy::too_many_arguments)]
pub fn answer_ping(
    dir: &Directory,
    identity: &Identity,
    me: u32,
    my_boot: u64,
    liveness: &Liveness,
    msg: (Authenticated, PeerBody),
    now_ms: u64,
    now: Instant,
) -> Result<Vec<u8>, PeerError> {
    let (a, body) = msg;
    let PeerBody::Ping { challenge, boot } = body else {
        return Err(PeerError::Malformed);
    };
    liveness.observe(a.from, boot, now);
    Ok(dir.seal(
        identity,
        me,
        a.from,
        now_ms,
        &PeerBody::Pong {
            challenge,
            boot: my_boot,
        },
    ))
}

/// Check peer `peer`'s answer to this node's ping with `challenge`: its
/// boot id.
pub fn read_pong(
    dir: &Directory,
    me: u32,
    peer: u32,
    challenge: u64,
    bytes: &[u8],
    now_ms: u64,
) -> Result<u64, PeerError> {
    let (from, body) = dir.open(me, bytes, now_ms)?;
    match body {
        PeerBody::Pong { challenge: c, boot } if from == peer && c == challenge => Ok(boot),
        _ => Err(PeerError::WrongReply(from)),
    }
}

impl Node {
    /// The members of the committee heard from recently, and this node
    /// (a kicked member that is still up takes no part in signing).
    pub(crate) fn live_set(&self) -> BTreeSet<u32> {
        let members = self.members();
        let mut live = self.liveness.live_set(Instant::now());
        live.retain(|i| *i == self.me || members.committee.contains(i));
        live
    }

    /// A message to peer `i` could not be delivered: leave it out of
    /// signing sets until it is heard from again.
    pub(crate) fn peer_unreachable(&self, i: u32) {
        self.liveness.unreachable(i, Instant::now())
    }

    /// Whether node `i` was seen to restart after `since` (its state of any
    /// session running then is gone).
    pub(crate) fn restarted_since(&self, i: u32, since: Instant) -> bool {
        self.liveness.restarted_since(i, since)
    }

    /// How long node `i` has not been heard from (zero for this node).
    pub(crate) fn silent_for(&self, i: u32) -> Duration {
        self.liveness.silent_for(i)
    }

    /// Ping peer `i` once; its boot id when it answered with a valid pong.
    async fn ping(&self, i: u32) -> Option<u64> {
        let challenge = rand_core::OsRng.next_u64();
        let body = PeerBody::Ping {
            challenge,
            boot: self.boot_id,
        };
        let sealed = self
            .members()
            .directory
            .seal(&self.identity, self.me, i, now_ms(), &body);
        let r = self
            .http
            .post(format!(
                "{}/peer/v1/ping",
                self.members().nodes[i as usize].url
            ))
            .header("content-type", "application/octet-stream")
            .timeout(Duration::from_millis(1500))
            .body(sealed)
            .send()
            .await
            .ok()?;
        if !r.status().is_success() {
            return None;
        }
        let bytes = r.bytes().await.ok()?;
        match read_pong(
            &self.members().directory,
            self.me,
            i,
            challenge,
            &bytes,
            now_ms(),
        ) {
            Ok(boot) => Some(boot),
            Err(e) => {
                tracing::warn!(node = i, error = %e, "refused a pong");
                None
            }
        }
    }

    /// Ping every peer every [`PING_INTERVAL`]; also collects garbage of
    /// the session hub and the mailbox.
    pub(crate) async fn heartbeat_loop(self: Arc<Self>) {
        let mut tick = tokio::time::interval(PING_INTERVAL);
        loop {
            tick.tick().await;
            let mut pings = tokio::task::JoinSet::new();
            for i in 0..self.members().nodes.len() as u32 {
                if i == self.me {
                    continue;
                }
                let node = Arc::clone(&self);
                pings.spawn(async move { (i, node.ping(i).await) });
            }
            while let Some(r) = pings.join_next().await {
                if let Ok((i, Some(boot))) = r {
                    self.liveness.observe(i, boot, Instant::now());
                }
            }
            self.hub.gc();
            self.mailbox.gc();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer::PeerReader;
    use crate::peer::ReplayGuard;

    fn setup() -> (Vec<Identity>, Directory) {
        let (ids, infos) = crate::peer::three_identities();
        (ids, Directory::new(&infos).unwrap())
    }

    /// What node 0's ping handler does with `bytes`: open them (replay
    /// guard on) and answer.
    fn receive(
        dir: &Directory,
        ids: &[Identity],
        live: &Liveness,
        guard: &ReplayGuard,
        bytes: &[u8],
        now_ms: u64,
        now: Instant,
    ) -> Result<Vec<u8>, PeerError> {
        let mut r = PeerReader::new(dir, Some(guard), 0, now_ms);
        r.push(bytes)?;
        answer_ping(dir, &ids[0], 0, 77, live, r.finish()?, now_ms, now)
    }

    #[test]
    fn a_peer_that_cannot_be_reached_is_not_live_until_heard_from_again() {
        let l = Liveness::new(3, 0);
        let t0 = Instant::now();
        l.observe(1, 7, t0);
        l.observe(2, 7, t0);
        assert!(l.live_set(t0).contains(&1));
        l.unreachable(1, t0 + Duration::from_millis(10));
        let now = t0 + Duration::from_millis(20);
        assert_eq!(l.live_set(now), BTreeSet::from([0, 2]));
        assert!(
            l.silent_for(1) > LIVE_WINDOW - Duration::from_millis(100),
            "it reads as silent, not as never heard"
        );
        l.observe(1, 7, now);
        assert!(l.live_set(now).contains(&1), "a ping brings it back");
        assert!(!l.restarted_since(1, t0), "not a restart");
    }

    #[test]
    fn a_forged_ping_counts_neither_as_liveness_nor_as_a_restart() {
        let (ids, dir) = setup();
        let live = Liveness::new(3, 0);
        let guard = ReplayGuard::default();
        let t0 = Instant::now();
        // node 1 pings with its boot id 5: live, first boot seen
        let ping = dir.seal(
            &ids[1],
            1,
            0,
            1000,
            &PeerBody::Ping {
                challenge: 9,
                boot: 5,
            },
        );
        let pong = receive(&dir, &ids, &live, &guard, &ping, 1000, t0).unwrap();
        assert_eq!(read_pong(&dir, 1, 0, 9, &pong, 1000), Ok(77));
        assert!(live.live_set(t0).contains(&1));
        let later = t0 + Duration::from_secs(1);
        // a stranger claiming to be node 1 with a new boot id is refused
        let stranger = Identity::generate();
        let forged = dir.seal(
            &stranger,
            1,
            0,
            1000,
            &PeerBody::Ping {
                challenge: 1,
                boot: 6,
            },
        );
        assert_eq!(
            receive(&dir, &ids, &live, &guard, &forged, 1000, later),
            Err(PeerError::BadSignature(1))
        );
        // so is node 1's own ping delivered again (a replay)
        assert_eq!(
            receive(&dir, &ids, &live, &guard, &ping, 1000, later),
            Err(PeerError::Replayed(1))
        );
        assert!(!live.restarted_since(1, t0), "no restart notice");
        // and node 2, silent so far, is not made live by a forgery
        let forged2 = dir.seal(
            &stranger,
            2,
            0,
            1000,
            &PeerBody::Ping {
                challenge: 1,
                boot: 1,
            },
        );
        assert!(receive(&dir, &ids, &live, &guard, &forged2, 1000, later).is_err());
        assert!(!live.live_set(later).contains(&2));
        // a genuine new boot id is a restart
        let restarted = dir.seal(
            &ids[1],
            1,
            0,
            1001,
            &PeerBody::Ping {
                challenge: 2,
                boot: 6,
            },
        );
        receive(&dir, &ids, &live, &guard, &restarted, 1001, later).unwrap();
        assert!(live.restarted_since(1, t0));
    }

    #[test]
    fn a_forged_or_mismatched_pong_is_refused() {
        let (ids, dir) = setup();
        let stranger = Identity::generate();
        // the pong node 0 expects from node 1 for challenge 9
        let good = dir.seal(
            &ids[1],
            1,
            0,
            1000,
            &PeerBody::Pong {
                challenge: 9,
                boot: 3,
            },
        );
        assert_eq!(read_pong(&dir, 0, 1, 9, &good, 1000), Ok(3));
        let forged = dir.seal(
            &stranger,
            1,
            0,
            1000,
            &PeerBody::Pong {
                challenge: 9,
                boot: 4,
            },
        );
        assert_eq!(
            read_pong(&dir, 0, 1, 9, &forged, 1000),
            Err(PeerError::BadSignature(1))
        );
        // an old pong (another challenge) or another node's is not an answer
        assert_eq!(
            read_pong(&dir, 0, 1, 10, &good, 1000),
            Err(PeerError::WrongReply(1))
        );
        let from2 = dir.seal(
            &ids[2],
            2,
            0,
            1000,
            &PeerBody::Pong {
                challenge: 9,
                boot: 3,
            },
        );
        assert_eq!(
            read_pong(&dir, 0, 1, 9, &from2, 1000),
            Err(PeerError::WrongReply(2))
        );
        // a bare boot id (what an unauthenticated ping used to answer) is not a pong
        assert_eq!(
            read_pong(&dir, 0, 1, 9, b"1234", 1000),
            Err(PeerError::Malformed)
        );
    }
}
