//! An in-process simulator: every party's session in one process, messages
//! moved in memory, with an optional hook that alters messages in flight
//! (for tests of misbehaviour) and a count of the bytes moved.
use std::collections::{BTreeMap, BTreeSet, VecDeque};

use candela_crypto::session::{BoxedSession, Outgoing, Step};
use candela_crypto::CryptoError;
use k256::Scalar;

use crate::{
    BoxedDklsSession, DklsError, DklsKeyShare, DklsKeygen, DklsSign, DklsSignature, ExclusionList,
    NodeIndex, SignRequest,
};

/// What a run moved over the (simulated) network.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WireStats {
    /// Point-to-point deliveries (a broadcast counts once per receiver).
    pub messages: usize,
    /// Bytes of those deliveries.
    pub bytes: usize,
}

/// A hook that sees every delivery `(from, to, bytes)` and may alter it.
pub type Tamper<'a> = &'a mut dyn FnMut(NodeIndex, NodeIndex, &mut Vec<u8>);

/// Run sessions until every one has finished or failed; each node's outcome
/// and the traffic. A run in which nothing moves while sessions still wait
/// ends them with [`DklsError::Aborted`].
pub fn run<T>(
    sessions: Vec<(NodeIndex, BoxedDklsSession<T>)>,
    tamper: Option<Tamper<'_>>,
) -> (BTreeMap<NodeIndex, Result<T, DklsError>>, WireStats) {
    drive(
        sessions,
        tamper,
        |s| s.poke(),
        |s, from, m| s.receive(from, m),
        |_| false,
        || DklsError::Aborted("simulation stalled".into()),
    )
}

/// [`run`] for `candela_crypto` sessions (the agreed key generation,
/// [`crate::agreed_keygen`]): a session that waits while nothing moves has
/// its round deadline expire, as the node's runner does.
pub fn run_crypto<T>(
    sessions: Vec<(NodeIndex, BoxedSession<T>)>,
    tamper: Option<Tamper<'_>>,
) -> (BTreeMap<NodeIndex, Result<T, CryptoError>>, WireStats) {
    drive(
        sessions,
        tamper,
        |s| s.poke(),
        |s, from, m| s.receive(from, m),
        |s| s.expire(),
        || CryptoError::Protocol("simulation stalled".into()),
    )
}

/// The simulator's loop, for any session type.
fn drive<S, T, E>(
    mut sessions: Vec<(NodeIndex, S)>,
    mut tamper: Option<Tamper<'_>>,
    poke: impl Fn(&mut S) -> Result<Step<T>, E>,
    receive: impl Fn(&mut S, NodeIndex, Vec<u8>),
    expire: impl Fn(&mut S) -> bool,
    stalled: impl Fn() -> E,
) -> (BTreeMap<NodeIndex, Result<T, E>>, WireStats) {
    let ids: Vec<NodeIndex> = sessions.iter().map(|(i, _)| *i).collect();
    let mut out: BTreeMap<NodeIndex, Result<T, E>> = BTreeMap::new();
    let mut stats = WireStats::default();
    let mut queue: VecDeque<(NodeIndex, NodeIndex, Vec<u8>)> = VecDeque::new();
    let mut expiries = 0usize;
    while out.len() < sessions.len() {
        let mut progressed = false;
        for (me, s) in sessions.iter_mut() {
            if out.contains_key(me) {
                continue;
            }
            loop {
                match poke(s) {
                    Ok(Step::Wait) => break,
                    Ok(Step::Send(Outgoing::Broadcast(m))) => {
                        progressed = true;
                        for &to in ids.iter().filter(|to| **to != *me) {
                            queue.push_back((*me, to, m.clone()));
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
        while let Some((from, to, mut m)) = queue.pop_front() {
            progressed = true;
            if let Some(t) = tamper.as_mut() {
                t(from, to, &mut m);
            }
            stats.messages += 1;
            stats.bytes += m.len();
            if let Some((_, s)) = sessions.iter_mut().find(|(i, _)| *i == to) {
                receive(s, from, m);
            }
        }
        if !progressed {
            let mut any = false;
            for (me, s) in sessions.iter_mut() {
                if !out.contains_key(me) {
                    any |= expire(s);
                }
            }
            expiries += 1;
            if !any || expiries > 64 {
                for (me, _) in &sessions {
                    out.entry(*me).or_insert_with(|| Err(stalled()));
                }
            }
        }
    }
    (out, stats)
}

/// Key generation among nodes `0..n` with `context` as the run's name.
pub fn keygen(
    n: u32,
    threshold: usize,
    context: &[u8],
) -> Result<BTreeMap<NodeIndex, DklsKeyShare>, DklsError> {
    let parts: Vec<NodeIndex> = (0..n).collect();
    let (out, _) = keygen_among(&parts, threshold, context, None)?;
    out.into_iter().map(|(i, r)| r.map(|s| (i, s))).collect()
}

/// Key generation among `participants`, with an optional tamper hook;
/// every node's outcome and the traffic.
#[allow(clippy::type_complexity)]
pub fn keygen_among(
    participants: &[NodeIndex],
    threshold: usize,
    context: &[u8],
    tamper: Option<Tamper<'_>>,
) -> Result<
    (
        BTreeMap<NodeIndex, Result<DklsKeyShare, DklsError>>,
        WireStats,
    ),
    DklsError,
> {
    let mut sessions: Vec<(NodeIndex, BoxedDklsSession<DklsKeyShare>)> = Vec::new();
    for &i in participants {
        sessions.push((
            i,
            Box::new(DklsKeygen::new(participants, i, threshold, context)?),
        ));
    }
    Ok(run(sessions, tamper))
}

/// Every signer's session for one request, each with a fresh seen-set.
pub fn sign_sessions(
    shares: &BTreeMap<NodeIndex, DklsKeyShare>,
    signers: &[NodeIndex],
    tweak: Scalar,
    digest: [u8; 32],
    request_id: &[u8],
) -> Result<Vec<(NodeIndex, BoxedDklsSession<DklsSignature>)>, DklsError> {
    let request = SignRequest {
        signers,
        tweak,
        digest,
        request_id,
    };
    let excluded = ExclusionList::new();
    signers
        .iter()
        .map(|&i| {
            let share = shares
                .get(&i)
                .ok_or_else(|| DklsError::BadParameters(format!("no share for node {i}")))?;
            let mut seen = BTreeSet::new();
            let s: BoxedDklsSession<DklsSignature> =
                Box::new(DklsSign::new(share, &request, &excluded, &mut seen)?);
            Ok((i, s))
        })
        .collect()
}

/// Sign `digest` under `root + tweak·G` among `signers`; every signer's
/// outcome and the traffic.
#[allow(clippy::type_complexity)]
pub fn sign(
    shares: &BTreeMap<NodeIndex, DklsKeyShare>,
    signers: &[NodeIndex],
    tweak: Scalar,
    digest: [u8; 32],
    request_id: &[u8],
    tamper: Option<Tamper<'_>>,
) -> Result<
    (
        BTreeMap<NodeIndex, Result<DklsSignature, DklsError>>,
        WireStats,
    ),
    DklsError,
> {
    let sessions = sign_sessions(shares, signers, tweak, digest, request_id)?;
    Ok(run(sessions, tamper))
}
