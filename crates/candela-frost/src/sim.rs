//! An in-process driver: runs every party's session by moving messages in
//! memory. Used by tests and benchmarks; a node drives the same sessions
//! over its transport.
use std::collections::{BTreeMap, VecDeque};

use rand_core::{CryptoRng, RngCore};

use crate::session::{Outgoing, Session, Step};
use crate::{DkgSession, FrostError, FrostKeyShare, PartyIndex, Suite};

/// Run all parties' sessions to completion; outputs by party.
pub fn run<S: Session>(
    mut sessions: Vec<(PartyIndex, S)>,
) -> Result<BTreeMap<PartyIndex, S::Output>, FrostError> {
    let ids: Vec<PartyIndex> = sessions.iter().map(|(i, _)| *i).collect();
    let mut out = BTreeMap::new();
    let mut queue: VecDeque<(PartyIndex, PartyIndex, Vec<u8>)> = VecDeque::new();
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
                        for &to in ids.iter().filter(|to| **to != *me) {
                            queue.push_back((*me, to, m.clone()));
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
            return Err(FrostError::Frost("simulation stalled".into()));
        }
    }
    Ok(out)
}

/// A FROST key generation among parties `0..n` with threshold `t`.
pub fn keygen<C: Suite, R: RngCore + CryptoRng>(
    n: u32,
    t: u16,
    rng: &mut R,
) -> Result<BTreeMap<PartyIndex, FrostKeyShare<C>>, FrostError> {
    let parts: Vec<PartyIndex> = (0..n).collect();
    let sessions = parts
        .iter()
        .map(|&i| DkgSession::<C>::new(&parts, i, t, rng).map(|s| (i, s)))
        .collect::<Result<Vec<_>, _>>()?;
    run(sessions)
}
