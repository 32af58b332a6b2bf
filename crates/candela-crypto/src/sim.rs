//! An in-process simulator: runs every party's session to completion by
//! moving messages in memory. Used by tests and benchmarks; the node uses
//! the same sessions over HTTP.
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use crate::agree::{equivocated, is_agreement_message, VoteKeys};
use crate::session::{
    BoxedSession, CaitSith, EcdsaBackend, KeyShare, Outgoing, Presignature, Step,
};
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

/// Vote keys for simulated nodes: each node an ECDSA key (k256), everyone
/// knowing everyone's public key, as the node set lists identity keys.
pub struct SimVoteKeys {
    me: NodeIndex,
    signing: k256::ecdsa::SigningKey,
    verifying: BTreeMap<NodeIndex, k256::ecdsa::VerifyingKey>,
}

impl SimVoteKeys {
    /// Fresh keys for nodes `ids`, one [`VoteKeys`] per node.
    pub fn for_nodes(ids: &[NodeIndex]) -> BTreeMap<NodeIndex, Arc<SimVoteKeys>> {
        let signing: BTreeMap<NodeIndex, k256::ecdsa::SigningKey> = ids
            .iter()
            .map(|&i| (i, k256::ecdsa::SigningKey::random(&mut rand_core::OsRng)))
            .collect();
        let verifying: BTreeMap<NodeIndex, k256::ecdsa::VerifyingKey> = signing
            .iter()
            .map(|(&i, k)| (i, *k.verifying_key()))
            .collect();
        signing
            .into_iter()
            .map(|(me, signing)| {
                (
                    me,
                    Arc::new(SimVoteKeys {
                        me,
                        signing,
                        verifying: verifying.clone(),
                    }),
                )
            })
            .collect()
    }

    /// The node these keys sign for.
    pub fn me(&self) -> NodeIndex {
        self.me
    }
}

impl VoteKeys for SimVoteKeys {
    fn sign(&self, message: &[u8]) -> Vec<u8> {
        use k256::ecdsa::signature::Signer;
        let sig: k256::ecdsa::Signature = self.signing.sign(message);
        sig.to_bytes().to_vec()
    }

    fn verify(&self, signer: NodeIndex, message: &[u8], signature: &[u8]) -> bool {
        use k256::ecdsa::signature::Verifier;
        let (Some(vk), Ok(sig)) = (
            self.verifying.get(&signer),
            k256::ecdsa::Signature::from_slice(signature),
        ) else {
            return false;
        };
        vk.verify(message, &sig).is_ok()
    }
}

/// How a dishonest node misbehaves in the agreement step, enacted by
/// [`run_with`] on its messages in flight.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VoteCheat {
    /// `cheater` signs a second, different confirmation and sends it to
    /// `victims` instead of its real one (good confirmations to some peers,
    /// bad ones to others).
    Equivocate {
        /// The dishonest node.
        cheater: NodeIndex,
        /// The nodes that get the other confirmation.
        victims: Vec<NodeIndex>,
    },
    /// `cheater` sends its agreement messages to nobody but `only`.
    Withhold {
        /// The dishonest node.
        cheater: NodeIndex,
        /// The nodes that still hear from it.
        only: Vec<NodeIndex>,
    },
}

/// Run sessions to the end with an optional cheat; a session that waits
/// while nothing moves has its round deadline expire
/// ([`crate::session::Session::expire`]), as the node's runner does. Every
/// node's outcome.
pub fn run_with<T>(
    mut sessions: Vec<(NodeIndex, BoxedSession<T>)>,
    cheat: Option<(VoteCheat, Arc<dyn VoteKeys>, Vec<u8>)>,
) -> BTreeMap<NodeIndex, Result<T, CryptoError>> {
    let ids: Vec<NodeIndex> = sessions.iter().map(|(i, _)| *i).collect();
    let mut out: BTreeMap<NodeIndex, Result<T, CryptoError>> = BTreeMap::new();
    let mut queue: VecDeque<(NodeIndex, NodeIndex, Vec<u8>)> = VecDeque::new();
    let tamper = |from: NodeIndex, to: NodeIndex, m: Vec<u8>| -> Option<Vec<u8>> {
        let Some((cheat, keys, context)) = cheat.as_ref() else {
            return Some(m);
        };
        match cheat {
            VoteCheat::Equivocate { cheater, victims }
                if from == *cheater && victims.contains(&to) =>
            {
                Some(equivocated(&m, keys.as_ref(), context, &ids).unwrap_or(m))
            }
            VoteCheat::Withhold { cheater, only }
                if from == *cheater && !only.contains(&to) && is_agreement_message(&m) =>
            {
                None
            }
            _ => Some(m),
        }
    };
    let mut expiries = 0usize;
    while out.len() < sessions.len() {
        let mut progressed = false;
        for (me, s) in sessions.iter_mut() {
            if out.contains_key(me) {
                continue;
            }
            loop {
                match s.poke() {
                    Ok(Step::Wait) => break,
                    Ok(Step::Send(Outgoing::Broadcast(m))) => {
                        progressed = true;
                        for &to in &ids {
                            if to != *me {
                                queue.push_back((*me, to, m.clone()));
                            }
                        }
                    }
                    Ok(Step::Send(Outgoing::Private(to, m))) => {
                        progressed = true;
                        queue.push_back((*me, to, m));
                    }
                    Ok(Step::Done(v)) => {
                        progressed = true;
                        out.insert(*me, Ok(v));
                        break;
                    }
                    Err(e) => {
                        progressed = true;
                        out.insert(*me, Err(e));
                        break;
                    }
                }
            }
        }
        while let Some((from, to, m)) = queue.pop_front() {
            progressed = true;
            let Some(m) = tamper(from, to, m) else {
                continue;
            };
            if let Some((_, s)) = sessions.iter_mut().find(|(i, _)| *i == to) {
                s.receive(from, m);
            }
        }
        if !progressed {
            // Every waiting session's deadline passes.
            let mut any = false;
            for (me, s) in sessions.iter_mut() {
                if !out.contains_key(me) {
                    any |= s.expire();
                }
            }
            expiries += 1;
            if !any || expiries > 64 {
                for (me, _) in &sessions {
                    out.entry(*me)
                        .or_insert_with(|| Err(CryptoError::Protocol("simulation stalled".into())));
                }
            }
        }
    }
    out
}

/// The context [`agreed_keygen`] binds its runs to.
pub const AGREED_CONTEXT: &[u8] = b"candela-sim-agreed-keygen";

/// Root key generation with the agreement step among `participants`, with
/// an optional cheat. Every node's outcome.
pub fn agreed_keygen(
    participants: &[NodeIndex],
    threshold: usize,
    keys: &BTreeMap<NodeIndex, Arc<SimVoteKeys>>,
    cheat: Option<VoteCheat>,
) -> Result<BTreeMap<NodeIndex, Result<KeyShare, CryptoError>>, CryptoError> {
    let sessions = participants
        .iter()
        .map(|&i| {
            let k = keys
                .get(&i)
                .ok_or_else(|| CryptoError::BadParameters(format!("no vote key for node {i}")))?;
            let k: Arc<dyn VoteKeys> = k.clone();
            CaitSith::agreed_keygen(participants, i, threshold, AGREED_CONTEXT, k).map(|s| (i, s))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let cheat = match cheat {
        None => None,
        Some(c) => {
            let cheater = match &c {
                VoteCheat::Equivocate { cheater, .. } | VoteCheat::Withhold { cheater, .. } => {
                    *cheater
                }
            };
            let k = keys.get(&cheater).ok_or_else(|| {
                CryptoError::BadParameters(format!("no vote key for node {cheater}"))
            })?;
            let k: Arc<dyn VoteKeys> = k.clone();
            Some((c, k, AGREED_CONTEXT.to_vec()))
        }
    };
    Ok(run_with(sessions, cheat))
}
