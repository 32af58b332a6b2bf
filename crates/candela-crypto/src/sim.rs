//! An in-process simulator: runs every party's session to completion by
//! moving messages in memory. Used by tests and benchmarks; the node uses
//! the same sessions over HTTP.
use std::collections::{BTreeMap, VecDeque};

use crate::session::{BoxedSession, EcdsaBackend, KeyShare, Outgoing, Presignature, Step};
use crate::{CryptoError, NodeIndex};

/// Run all parties' sessions until each returns; outputs by node.
pub fn run<T>(
    mut sessions: Vec<(NodeIndex, BoxedSession<T>)>,
) -> Result<BTreeMap<NodeIndex, T>, CryptoError> {
    let ids: Vec<NodeIndex> = sessions.iter().map(|(i, _)| *i).collect();
    let mut out = BTreeMap::new();
    let mut queue: VecDeque<(NodeIndex, NodeIndex, Vec<u8>)> = VecDeque::new();
    while out.len() < sessions.len() {
        let mut progressed = false;
        for (me, s) in sessions.iter_mut() {
            if out.contains_key(me) {
                continue;
            }
            loop {
                match s.poke()? {
                    Step::Wait => break,
                    Step::Send(Outgoing::Broadcast(m)) => {
                        progressed = true;
                        for &to in &ids {
                            if to != *me {
                                queue.push_back((*me, to, m.clone()));
                            }
                        }
                    }
                    Step::Send(Outgoing::Private(to, m)) => {
                        progressed = true;
                        queue.push_back((*me, to, m));
                    }
                    Step::Done(v) => {
                        progressed = true;
                        out.insert(*me, v);
                        break;
                    }
                }
            }
        }
        while let Some((from, to, m)) = queue.pop_front() {
            progressed = true;
            if let Some((_, s)) = sessions.iter_mut().find(|(i, _)| *i == to) {
                s.receive(from, m);
            }
        }
        if !progressed {
            return Err(CryptoError::Protocol("simulation stalled".into()));
        }
    }
    Ok(out)
}

/// Distributed key generation among nodes `0..n`.
pub fn keygen<B: EcdsaBackend>(
    n: u32,
    threshold: usize,
) -> Result<BTreeMap<NodeIndex, KeyShare>, CryptoError> {
    let parts: Vec<NodeIndex> = (0..n).collect();
    let sessions = parts
        .iter()
        .map(|&i| B::keygen(&parts, i, threshold).map(|s| (i, s)))
        .collect::<Result<Vec<_>, _>>()?;
    run(sessions)
}

/// A batch of presignatures among `participants`.
pub fn presign<B: EcdsaBackend>(
    keys: &BTreeMap<NodeIndex, KeyShare>,
    participants: &[NodeIndex],
    count: usize,
) -> Result<BTreeMap<NodeIndex, Vec<Presignature>>, CryptoError> {
    let sessions = participants
        .iter()
        .map(|&i| {
            let key = keys
                .get(&i)
                .ok_or_else(|| CryptoError::BadParameters(format!("no key for node {i}")))?;
            B::presign_batch(participants, i, key, count).map(|s| (i, s))
        })
        .collect::<Result<Vec<_>, _>>()?;
    run(sessions)
}
