//! Key generation that ends together: an agreement step after a DKG.
//!
//! Without it, a node can send a good confirmation to some peers and a bad
//! one to others, so that part of the network keeps a key and part retries
//! forever. [`Agreement`] wraps any key-generation [`Session`] whose output
//! is a [`Candidate`] and adds:
//!
//! 1. **Vote.** When the inner DKG ends, each node signs one vote with its
//!    long-term identity key ([`VoteKeys`]): `Accept(statement)`, where the
//!    statement is what the node confirms (its public key and public share,
//!    [`Candidate::statement`]), or `Reject(reason)` when its DKG failed or
//!    timed out.
//! 2. **Relay** (Dolev–Strong authenticated broadcast, `f + 1` rounds with
//!    `f = n - t`). A vote received in round `r` counts only if it carries
//!    at least `r` valid signatures by distinct participants, the voter's
//!    first; a node that takes a new vote adds its own signature and relays
//!    it in the next round. After the last round every honest node holds the
//!    same set of votes for every voter, whatever up to `f` dishonest nodes
//!    do, as long as honest messages arrive before the round's deadline
//!    ([`Session::expire`]).
//! 3. **Decide**, on that agreed set only: keep the key iff every
//!    participant cast exactly one vote, every vote is `Accept`, and
//!    [`Candidate::conclude`] accepts the statements. The decision is a pure
//!    function of data every honest node holds alike, so either every honest
//!    node keeps the key or none does.
//!
//! A voter with two different signed votes in the agreed set is **proven**
//! to have equivocated (both signatures are its own): it is named in
//! [`CryptoError::KeygenDiscarded`] and the caller leaves it out of the
//! retry. An honest node never signs two votes for one session, so it is
//! never named this way.
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::session::{BoxedSession, Outgoing, Session, Step};
use crate::{CryptoError, NodeIndex};

/// Domain of the signed vote statement.
const VOTE_DOMAIN: &[u8] = b"candela-keygen-agreement-v1/vote";
/// Largest statement a candidate may confirm (bytes).
const MAX_STATEMENT: usize = 4096;
/// Largest signature a [`VoteKeys`] implementation may produce (bytes).
const MAX_SIGNATURE: usize = 256;

/// Frame kind of an inner-protocol message.
const KIND_INNER: u8 = 0;
/// Frame kind of an agreement-round message.
const KIND_ROUND: u8 = 1;

/// Long-term signing keys of the participants, for votes whose signatures
/// third parties can check (ed25519 identity keys in the node).
pub trait VoteKeys: Send + Sync {
    /// Sign `message` with this node's key.
    fn sign(&self, message: &[u8]) -> Vec<u8>;
    /// True if `signature` is `signer`'s signature of `message`.
    fn verify(&self, signer: NodeIndex, message: &[u8], signature: &[u8]) -> bool;
}

/// What a key-generation session produced, before the network agrees to
/// keep it.
pub trait Candidate: Send + 'static {
    /// The key share kept when everyone agrees.
    type Output: Send + 'static;
    /// What this node confirms to the others (deterministic bytes, at most
    /// 4096): its public key and public share, or a transcript hash.
    fn statement(&self) -> Vec<u8>;
    /// Given every participant's agreed statement (this node's included),
    /// produce the share to keep, or name the participants whose signed
    /// statement is inconsistent. Must depend only on `statements` and on
    /// facts every honest node shares, so that every honest node decides
    /// alike.
    fn conclude(
        self,
        statements: &BTreeMap<NodeIndex, Vec<u8>>,
    ) -> Result<Self::Output, Inconsistent>;
}

/// Why [`Candidate::conclude`] refused the agreed statements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inconsistent {
    /// Participants whose signed statement is provably wrong (may be empty
    /// when the fault cannot be attributed).
    pub culprits: Vec<NodeIndex>,
    /// What is wrong.
    pub reason: String,
}

/// One node's vote.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum Vote {
    /// The DKG ended here with this statement.
    Accept(Vec<u8>),
    /// The DKG failed or timed out here.
    Reject(String),
}

/// A vote with its signature chain (the voter's first).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
struct Entry {
    voter: NodeIndex,
    /// The encoded [`Vote`], exactly as the voter signed it.
    vote: Vec<u8>,
    sigs: Vec<(NodeIndex, Vec<u8>)>,
}

/// One node's message in one agreement round.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
struct RoundMsg {
    round: u32,
    entries: Vec<Entry>,
}

/// A proof that `voter` signed two different votes in one session: both
/// signed votes, checkable by anyone with the voter's public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Equivocation {
    /// The node that signed both.
    pub voter: NodeIndex,
    /// The first vote (encoded) and its signature by the voter.
    pub first: (Vec<u8>, Vec<u8>),
    /// The second vote (encoded) and its signature by the voter.
    pub second: (Vec<u8>, Vec<u8>),
}

impl Equivocation {
    /// Check the proof against the voter's key for session `context` among
    /// `participants`.
    pub fn verify(&self, keys: &dyn VoteKeys, context: &[u8], participants: &[NodeIndex]) -> bool {
        self.first.0 != self.second.0
            && keys.verify(
                self.voter,
                &vote_message(context, participants, self.voter, &self.first.0),
                &self.first.1,
            )
            && keys.verify(
                self.voter,
                &vote_message(context, participants, self.voter, &self.second.0),
                &self.second.1,
            )
    }
}

/// The bytes every signer of a vote signs.
pub fn vote_message(
    context: &[u8],
    participants: &[NodeIndex],
    voter: NodeIndex,
    vote: &[u8],
) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(VOTE_DOMAIN);
    h.update((context.len() as u64).to_be_bytes());
    h.update(context);
    h.update((participants.len() as u64).to_be_bytes());
    for p in participants {
        h.update(p.to_be_bytes());
    }
    h.update(voter.to_be_bytes());
    h.update((vote.len() as u64).to_be_bytes());
    h.update(vote);
    let mut m = VOTE_DOMAIN.to_vec();
    m.extend_from_slice(&h.finalize());
    m
}

/// The number of relay rounds for `n` participants and threshold `t`:
/// `f + 1` with `f = n - t` dishonest nodes tolerated, at least 2.
pub fn rounds_for(n: usize, t: usize) -> usize {
    (n.saturating_sub(t) + 1).max(2)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The inner DKG runs.
    Inner,
    /// Our message of this round is out; waiting for everyone's.
    Round(usize),
    /// Output or error returned.
    Over,
}

/// One node's side of a key generation followed by the agreement step (see
/// the [module docs](self)).
pub struct Agreement<C: Candidate> {
    me: NodeIndex,
    participants: Vec<NodeIndex>,
    context: Vec<u8>,
    rounds: usize,
    keys: Arc<dyn VoteKeys>,
    inner: Option<BoxedSession<C>>,
    candidate: Option<C>,
    phase: Phase,
    /// Round messages by round and sender, not yet processed.
    inbox: BTreeMap<usize, BTreeMap<NodeIndex, RoundMsg>>,
    /// Senders whose message of the current round arrived.
    heard: BTreeSet<NodeIndex>,
    /// Votes taken, per voter (at most two distinct), with their chains.
    extracted: BTreeMap<NodeIndex, Vec<Entry>>,
    /// Entries to relay in the next round (already signed by us).
    relay: Vec<Entry>,
}

impl<C: Candidate> Agreement<C> {
    /// Wrap `inner`, this node's key-generation session among
    /// `participants` (ascending, distinct). `context` names the run (the
    /// session id and attempt): votes of another run never count here.
    pub fn new(
        inner: BoxedSession<C>,
        participants: &[NodeIndex],
        me: NodeIndex,
        threshold: usize,
        context: &[u8],
        keys: Arc<dyn VoteKeys>,
    ) -> Result<Self, CryptoError> {
        if !participants.contains(&me) {
            return Err(CryptoError::BadParameters(format!(
                "node {me} is not a participant"
            )));
        }
        if participants.windows(2).any(|w| w[0] >= w[1]) {
            return Err(CryptoError::BadParameters(
                "participants must be ascending and distinct".into(),
            ));
        }
        if threshold == 0 || threshold > participants.len() {
            return Err(CryptoError::BadParameters(format!(
                "threshold {threshold} for {} participants",
                participants.len()
            )));
        }
        Ok(Agreement {
            me,
            participants: participants.to_vec(),
            context: context.to_vec(),
            rounds: rounds_for(participants.len(), threshold),
            keys,
            inner: Some(inner),
            candidate: None,
            phase: Phase::Inner,
            inbox: BTreeMap::new(),
            heard: BTreeSet::new(),
            extracted: BTreeMap::new(),
            relay: Vec::new(),
        })
    }

    /// This node.
    pub fn me(&self) -> NodeIndex {
        self.me
    }

    /// Proofs of equivocation held so far (complete once the session ended).
    pub fn equivocations(&self) -> Vec<Equivocation> {
        self.extracted
            .iter()
            .filter(|(_, es)| es.len() >= 2)
            .filter_map(|(&voter, es)| {
                let sig = |e: &Entry| e.sigs.first().map(|(_, s)| s.clone());
                Some(Equivocation {
                    voter,
                    first: (es[0].vote.clone(), sig(&es[0])?),
                    second: (es[1].vote.clone(), sig(&es[1])?),
                })
            })
            .collect()
    }

    fn message_for(&self, voter: NodeIndex, vote: &[u8]) -> Vec<u8> {
        vote_message(&self.context, &self.participants, voter, vote)
    }

    /// Sign and send our vote: round 1 begins.
    fn cast(&mut self, vote: Vote) -> Result<Step<C::Output>, CryptoError> {
        let bytes = rmp_serde::to_vec(&vote).map_err(|e| CryptoError::Encoding(e.to_string()))?;
        let sig = self.keys.sign(&self.message_for(self.me, &bytes));
        let entry = Entry {
            voter: self.me,
            vote: bytes,
            sigs: vec![(self.me, sig)],
        };
        self.extracted.insert(self.me, vec![entry.clone()]);
        self.phase = Phase::Round(1);
        self.heard.clear();
        self.heard.insert(self.me);
        self.send_round(1, vec![entry])
    }

    fn send_round(
        &self,
        round: usize,
        entries: Vec<Entry>,
    ) -> Result<Step<C::Output>, CryptoError> {
        let msg = RoundMsg {
            round: round as u32,
            entries,
        };
        let mut bytes = vec![KIND_ROUND];
        bytes.extend(rmp_serde::to_vec(&msg).map_err(|e| CryptoError::Encoding(e.to_string()))?);
        Ok(Step::Send(Outgoing::Broadcast(bytes)))
    }

    /// Take the valid, new entries of `msg` from `from`, received while in
    /// round `round`.
    fn absorb(&mut self, from: NodeIndex, msg: RoundMsg, round: usize) {
        for e in msg.entries {
            if !self.valid(&e, from, round) {
                continue;
            }
            let taken = self.extracted.entry(e.voter).or_default();
            if taken.len() >= 2 || taken.iter().any(|t| t.vote == e.vote) {
                continue;
            }
            taken.push(e.clone());
            if round < self.rounds && !e.sigs.iter().any(|(s, _)| *s == self.me) {
                let mut relayed = e;
                let sig = self
                    .keys
                    .sign(&self.message_for(relayed.voter, &relayed.vote));
                relayed.sigs.push((self.me, sig));
                self.relay.push(relayed);
            }
        }
    }

    /// An entry counts in `round` if it carries at least `round` valid
    /// signatures of distinct participants, the voter's first, the sender's
    /// among them.
    fn valid(&self, e: &Entry, from: NodeIndex, round: usize) -> bool {
        if !self.participants.contains(&e.voter)
            || e.vote.len() > MAX_STATEMENT + 64
            || e.sigs.len() < round
            || e.sigs.len() > self.participants.len()
            || e.sigs.first().map(|(s, _)| *s) != Some(e.voter)
            || !e.sigs.iter().any(|(s, _)| *s == from)
        {
            return false;
        }
        let mut seen = BTreeSet::new();
        let message = self.message_for(e.voter, &e.vote);
        e.sigs.iter().all(|(s, sig)| {
            self.participants.contains(s)
                && seen.insert(*s)
                && sig.len() <= MAX_SIGNATURE
                && self.keys.verify(*s, &message, sig)
        })
    }

    /// Process buffered messages of rounds up to `round`.
    fn drain(&mut self, round: usize) {
        let ready: Vec<usize> = self.inbox.range(..=round).map(|(r, _)| *r).collect();
        for r in ready {
            if let Some(msgs) = self.inbox.remove(&r) {
                for (from, m) in msgs {
                    if r == round {
                        self.heard.insert(from);
                    }
                    self.absorb(from, m, round);
                }
            }
        }
    }

    /// Move to the next round, or decide after the last.
    fn advance(&mut self, round: usize) -> Result<Step<C::Output>, CryptoError> {
        if round >= self.rounds {
            self.phase = Phase::Over;
            return self.decide().map(Step::Done);
        }
        let next = round + 1;
        self.phase = Phase::Round(next);
        self.heard.clear();
        self.heard.insert(self.me);
        let entries = std::mem::take(&mut self.relay);
        self.send_round(next, entries)
    }

    fn decide(&mut self) -> Result<C::Output, CryptoError> {
        let mut equivocators = Vec::new();
        let mut silent = Vec::new();
        let mut rejected = Vec::new();
        let mut statements = BTreeMap::new();
        for &p in &self.participants {
            match self.extracted.get(&p).map(Vec::as_slice) {
                None | Some([]) => silent.push(p),
                Some([one]) => match rmp_serde::from_slice::<Vote>(&one.vote) {
                    Ok(Vote::Accept(s)) if s.len() <= MAX_STATEMENT => {
                        statements.insert(p, s);
                    }
                    Ok(Vote::Reject(why)) => rejected.push((p, why)),
                    // A signed vote that is not a vote: its signer is at fault.
                    _ => equivocators.push(p),
                },
                Some(_) => equivocators.push(p),
            }
        }
        if !equivocators.is_empty() {
            return Err(CryptoError::KeygenDiscarded {
                culprits: equivocators,
                reason: "signed conflicting or malformed confirmations".into(),
            });
        }
        if !silent.is_empty() || !rejected.is_empty() {
            let mut reason = String::new();
            if !silent.is_empty() {
                reason.push_str(&format!("no confirmation from {silent:?}"));
            }
            for (p, why) in &rejected {
                if !reason.is_empty() {
                    reason.push_str("; ");
                }
                reason.push_str(&format!("node {p} rejected: {why}"));
            }
            return Err(CryptoError::KeygenDiscarded {
                culprits: Vec::new(),
                reason,
            });
        }
        let candidate = self
            .candidate
            .take()
            .ok_or_else(|| CryptoError::KeygenDiscarded {
                culprits: Vec::new(),
                reason: "this node has no key to keep".into(),
            })?;
        candidate
            .conclude(&statements)
            .map_err(|i| CryptoError::KeygenDiscarded {
                culprits: i.culprits,
                reason: i.reason,
            })
    }
}

impl<C: Candidate> Session for Agreement<C> {
    type Output = C::Output;

    fn poke(&mut self) -> Result<Step<C::Output>, CryptoError> {
        match self.phase {
            Phase::Over => Err(CryptoError::Protocol("session already finished".into())),
            Phase::Inner => {
                let Some(inner) = self.inner.as_mut() else {
                    return self.cast(Vote::Reject("no key-generation session".into()));
                };
                match inner.poke() {
                    Ok(Step::Wait) => Ok(Step::Wait),
                    Ok(Step::Send(Outgoing::Broadcast(m))) => {
                        Ok(Step::Send(Outgoing::Broadcast(frame_inner(m))))
                    }
                    Ok(Step::Send(Outgoing::Private(to, m))) => {
                        Ok(Step::Send(Outgoing::Private(to, frame_inner(m))))
                    }
                    Ok(Step::Done(c)) => {
                        self.inner = None;
                        let statement = c.statement();
                        self.candidate = Some(c);
                        if statement.len() > MAX_STATEMENT {
                            return self.cast(Vote::Reject("statement too long".into()));
                        }
                        self.cast(Vote::Accept(statement))
                    }
                    Err(e) => {
                        self.inner = None;
                        self.cast(Vote::Reject(e.to_string()))
                    }
                }
            }
            Phase::Round(r) => {
                self.drain(r);
                if self.participants.iter().all(|p| self.heard.contains(p)) {
                    self.advance(r)
                } else {
                    Ok(Step::Wait)
                }
            }
        }
    }

    fn receive(&mut self, from: NodeIndex, message: Vec<u8>) {
        if from == self.me || !self.participants.contains(&from) || self.phase == Phase::Over {
            return;
        }
        match message.split_first() {
            Some((&KIND_INNER, rest)) => {
                if let Some(inner) = self.inner.as_mut() {
                    inner.receive(from, rest.to_vec());
                }
            }
            Some((&KIND_ROUND, rest)) => {
                let Ok(m) = rmp_serde::from_slice::<RoundMsg>(rest) else {
                    return;
                };
                let r = m.round as usize;
                if r == 0 || r > self.rounds || m.entries.len() > 2 * self.participants.len() {
                    return;
                }
                // The first message of each round from each sender counts.
                self.inbox.entry(r).or_default().entry(from).or_insert(m);
            }
            _ => {}
        }
    }

    fn expire(&mut self) -> bool {
        match self.phase {
            Phase::Over => false,
            Phase::Inner => {
                self.inner = None;
                true
            }
            Phase::Round(_) => {
                // Treat the silent senders of this round as having sent
                // nothing: the next poke advances.
                self.heard.extend(self.participants.iter().copied());
                true
            }
        }
    }
}

fn frame_inner(m: Vec<u8>) -> Vec<u8> {
    let mut v = Vec::with_capacity(m.len() + 1);
    v.push(KIND_INNER);
    v.extend(m);
    v
}

/// Wrap `inner` in an [`Agreement`] and box it for a session runner.
pub fn agreed<C: Candidate>(
    inner: BoxedSession<C>,
    participants: &[NodeIndex],
    me: NodeIndex,
    threshold: usize,
    context: &[u8],
    keys: Arc<dyn VoteKeys>,
) -> Result<BoxedSession<C::Output>, CryptoError> {
    Ok(Box::new(Agreement::new(
        inner,
        participants,
        me,
        threshold,
        context,
        keys,
    )?))
}

/// What a dishonest voter does, for tests and the simulator: given one of
/// its own outgoing messages, the same message with its round-1 vote
/// replaced by a different vote, signed with `keys` (the dishonest node's
/// own key, so the two votes are a proof against it). `None` if `message`
/// is not a round-1 message.
pub fn equivocated(
    message: &[u8],
    keys: &dyn VoteKeys,
    context: &[u8],
    participants: &[NodeIndex],
) -> Option<Vec<u8>> {
    let (&KIND_ROUND, rest) = message.split_first()? else {
        return None;
    };
    let mut m: RoundMsg = rmp_serde::from_slice(rest).ok()?;
    if m.round != 1 {
        return None;
    }
    for e in &mut m.entries {
        let other = match rmp_serde::from_slice::<Vote>(&e.vote).ok()? {
            Vote::Accept(mut s) => {
                if let Some(last) = s.last_mut() {
                    *last ^= 1;
                }
                Vote::Accept(s)
            }
            Vote::Reject(_) => Vote::Accept(vec![0u8; 66]),
        };
        e.vote = rmp_serde::to_vec(&other).ok()?;
        let sig = keys.sign(&vote_message(context, participants, e.voter, &e.vote));
        e.sigs = vec![(e.voter, sig)];
    }
    let mut out = vec![KIND_ROUND];
    out.extend(rmp_serde::to_vec(&m).ok()?);
    Some(out)
}

/// True if `message` is an agreement-round message (not an inner DKG one).
pub fn is_agreement_message(message: &[u8]) -> bool {
    message.first() == Some(&KIND_ROUND)
}
