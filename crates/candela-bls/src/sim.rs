//! An in-process simulator: runs every node's DKG session by moving their
//! messages in memory, optionally with one dishonest dealer. Used by tests
//! and benchmarks; the node drives the same sessions over HTTP.
use std::collections::{BTreeMap, VecDeque};

use blsful::inner_types::G1Projective;
use candela_crypto::session::{Outgoing, Step};

use crate::dkg::{commitment_hash, parse_commitments, Msg};
use crate::encoding::{g1_to_bytes, G1_BYTES};
use crate::poly::x_of;
use crate::{BlsDkg, BlsError, BlsKeyShare, NodeIndex};

/// The context the simulator binds its sessions to.
pub const SIM_CONTEXT: &[u8] = b"candela-bls-sim";

/// How one dealer misbehaves, enacted by the simulator on its messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cheat {
    /// `dealer` sends `victim` a private share off its commitments.
    CorruptShare {
        /// The dishonest dealer.
        dealer: NodeIndex,
        /// The node that receives the bad share.
        victim: NodeIndex,
    },
    /// `dealer` sends its commitment hash but never reveals the commitments.
    WithholdReveal {
        /// The dishonest dealer.
        dealer: NodeIndex,
    },
    /// `dealer` reveals commitments that differ from the hash it sent.
    RevealMismatch {
        /// The dishonest dealer.
        dealer: NodeIndex,
    },
    /// `dealer` shows `victim` another commitment vector (with a matching
    /// hash, and consistent with the victim's share) than everyone else.
    Equivocate {
        /// The dishonest dealer.
        dealer: NodeIndex,
        /// The node shown the other vector.
        victim: NodeIndex,
    },
    /// `dealer` sends `victim` bytes that are not a protocol message.
    Garble {
        /// The dishonest sender.
        dealer: NodeIndex,
        /// The receiver.
        victim: NodeIndex,
    },
}

/// Rewrites the cheater's messages in flight.
struct Tamper {
    cheat: Cheat,
    threshold: usize,
    participants: Vec<NodeIndex>,
    held: Vec<Vec<u8>>,
}

impl Tamper {
    /// The messages to deliver in place of `m` from `from` to `to`.
    fn apply(&mut self, from: NodeIndex, to: NodeIndex, m: Vec<u8>) -> Vec<Vec<u8>> {
        let msg = Msg::decode(&m);
        match (self.cheat, msg) {
            (Cheat::CorruptShare { dealer, victim }, Some(Msg::Share { value }))
                if from == dealer && to == victim =>
            {
                let mut v = value;
                v[31] ^= 1;
                Msg::Share { value: v }.encode().into_iter().collect()
            }
            (Cheat::WithholdReveal { dealer }, Some(Msg::Reveal { .. })) if from == dealer => {
                Vec::new()
            }
            (
                Cheat::RevealMismatch { dealer },
                Some(Msg::Reveal {
                    mut salt,
                    commitments,
                }),
            ) if from == dealer => {
                salt[0] ^= 1;
                Msg::Reveal { salt, commitments }
                    .encode()
                    .into_iter()
                    .collect()
            }
            (Cheat::Equivocate { dealer, victim }, Some(Msg::Commit { .. }))
                if from == dealer && to == victim =>
            {
                self.held.push(m);
                Vec::new()
            }
            (Cheat::Equivocate { dealer, victim }, Some(Msg::Reveal { salt, commitments }))
                if from == dealer && to == victim =>
            {
                self.equivocate(dealer, victim, salt, commitments)
                    .unwrap_or_else(|| {
                        std::mem::take(&mut self.held)
                            .into_iter()
                            .chain([m])
                            .collect()
                    })
            }
            (Cheat::Garble { dealer, victim }, _) if from == dealer && to == victim => {
                vec![vec![0xc1, 0xff, 0x00]]
            }
            _ => vec![m],
        }
    }

    /// Shift the commitment polynomial by `(x^{t-1} - x_v^{t-1})·G`, which
    /// vanishes at the victim's x: its share still verifies.
    fn equivocate(
        &mut self,
        dealer: NodeIndex,
        victim: NodeIndex,
        salt: [u8; 32],
        commitments: Vec<u8>,
    ) -> Option<Vec<Vec<u8>>> {
        let t = self.threshold;
        if t < 2 {
            return None;
        }
        let mut c = parse_commitments(&commitments, t)?;
        let g = G1Projective::GENERATOR;
        let xv = x_of(victim);
        let mut xpow = xv;
        for _ in 1..t - 1 {
            xpow *= xv;
        }
        c[t - 1] += g;
        c[0] -= g * xpow;
        let mut bytes = Vec::with_capacity(t * G1_BYTES);
        for p in &c {
            bytes.extend_from_slice(&g1_to_bytes(p));
        }
        let hash = commitment_hash(SIM_CONTEXT, t, &self.participants, dealer, &salt, &bytes);
        self.held.clear();
        let commit = Msg::Commit { hash }.encode().ok()?;
        let reveal = Msg::Reveal {
            salt,
            commitments: bytes,
        }
        .encode()
        .ok()?;
        Some(vec![commit, reveal])
    }
}

/// Run every session until each returns or nothing can move; a session
/// still waiting then ends with [`BlsError::Stalled`] naming the nodes it
/// waits for. Outcomes by node.
pub fn run(sessions: Vec<BlsDkg>) -> BTreeMap<NodeIndex, Result<BlsKeyShare, BlsError>> {
    run_tampered(sessions, None)
}

fn run_tampered(
    mut sessions: Vec<BlsDkg>,
    mut tamper: Option<Tamper>,
) -> BTreeMap<NodeIndex, Result<BlsKeyShare, BlsError>> {
    let ids: Vec<NodeIndex> = sessions.iter().map(BlsDkg::me).collect();
    let mut out: BTreeMap<NodeIndex, Result<BlsKeyShare, BlsError>> = BTreeMap::new();
    let mut queue: VecDeque<(NodeIndex, NodeIndex, Vec<u8>)> = VecDeque::new();
    while out.len() < sessions.len() {
        let mut progressed = false;
        for s in sessions.iter_mut() {
            let me = s.me();
            if out.contains_key(&me) {
                continue;
            }
            loop {
                match s.step() {
                    Ok(Step::Wait) => break,
                    Ok(Step::Send(Outgoing::Broadcast(m))) => {
                        progressed = true;
                        for &to in ids.iter().filter(|&&to| to != me) {
                            queue.push_back((me, to, m.clone()));
                        }
                    }
                    Ok(Step::Send(Outgoing::Private(to, m))) => {
                        progressed = true;
                        queue.push_back((me, to, m));
                    }
                    Ok(Step::Done(v)) => {
                        progressed = true;
                        out.insert(me, Ok(v));
                        break;
                    }
                    Err(e) => {
                        progressed = true;
                        out.insert(me, Err(e));
                        break;
                    }
                }
            }
        }
        while let Some((from, to, m)) = queue.pop_front() {
            progressed = true;
            let delivered = match tamper.as_mut() {
                Some(t) => t.apply(from, to, m),
                None => vec![m],
            };
            if let Some(s) = sessions.iter_mut().find(|s| s.me() == to) {
                for m in delivered {
                    s.deliver(from, &m);
                }
            }
        }
        if !progressed {
            for s in &sessions {
                out.entry(s.me()).or_insert_with(|| {
                    Err(BlsError::Stalled {
                        waiting: s.waiting_for(),
                    })
                });
            }
        }
    }
    out
}

fn sessions(n: u32, threshold: usize) -> Result<Vec<BlsDkg>, BlsError> {
    let parts: Vec<NodeIndex> = (0..n).collect();
    parts
        .iter()
        .map(|&i| BlsDkg::new(&parts, i, threshold, SIM_CONTEXT))
        .collect()
}

/// A dealerless DKG among nodes `0..n` with threshold `threshold`; the first
/// node's error if any fails.
pub fn dkg(n: u32, threshold: usize) -> Result<BTreeMap<NodeIndex, BlsKeyShare>, BlsError> {
    run(sessions(n, threshold)?)
        .into_iter()
        .map(|(i, r)| r.map(|k| (i, k)))
        .collect()
}

/// A DKG among nodes `0..n` in which one dealer cheats as `cheat` says;
/// every node's outcome.
pub fn dkg_with_cheater(
    n: u32,
    threshold: usize,
    cheat: Cheat,
) -> Result<BTreeMap<NodeIndex, Result<BlsKeyShare, BlsError>>, BlsError> {
    let tamper = Tamper {
        cheat,
        threshold,
        participants: (0..n).collect(),
        held: Vec::new(),
    };
    Ok(run_tampered(sessions(n, threshold)?, Some(tamper)))
}
