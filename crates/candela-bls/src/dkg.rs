//! Distributed key generation of the BLS root key, without a dealer.
//!
//! Every node deals: it draws a random polynomial `f_i` of degree `t - 1`
//! and publishes Feldman commitments `C_i,k = a_i,k·G1`. Rounds, each a
//! message kind of [`BlsDkg`]:
//!
//! 1. **Commit**: broadcast `h_i = SHA-256(context, t, participants, i,
//!    salt_i, C_i)`. Nobody reveals before holding every hash, so no dealer
//!    can choose its polynomial after seeing the others' (no rushing bias on
//!    the public key).
//! 2. **Reveal and deal**: broadcast `(salt_i, C_i)`; send `f_i(x_j)` to each
//!    node `j` privately (`x_j = j + 1`). Each receiver checks the reveal
//!    against `h_i` and its share against the commitments
//!    (`s·G1 == Σ_k C_i,k·x_j^k`). A failure names dealer `i`
//!    ([`BlsError::Culprit`]); the receiver also broadcasts a complaint so
//!    that every node stops ([`BlsError::Accused`] there).
//! 3. **Confirm**: broadcast the transcript hash over all accepted `h_i`,
//!    with the list of `h_i`. Every node must confirm the same transcript;
//!    a difference ([`BlsError::TranscriptMismatch`]) means some dealer
//!    showed different commitments to different nodes.
//!
//! The output: the secret share `Σ_i f_i(x_me)`, the public key `Σ_i C_i,0`,
//! and every node's public share `Σ_i Σ_k C_i,k·x_j^k`.
//!
//! Messages are rmp-serde encodings of one enum. Private messages must
//! travel encrypted (the node's peer transport does this).
//!
//! Not implemented: the justification phase of Gennaro et al. (a dealer
//! answering a complaint by publishing the share). A complaint ends the
//! session everywhere; the operator restarts it without the node at fault.
use std::collections::{BTreeMap, VecDeque};

use blsful::inner_types::{G1Projective, Group, Scalar};
use candela_crypto::session::{BoxedSession, Outgoing, Session, Step};
use candela_crypto::CryptoError;
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use crate::encoding::{g1_to_bytes, scalar_from_bytes, G1_BYTES};
use crate::key::check_parameters;
use crate::poly::{eval_commitments, eval_scalar, random_scalar, x_of};
use crate::{BlsError, BlsKeyShare, Fault, NodeIndex};

/// Domain of the commitment hash.
const COMMIT_DOMAIN: &[u8] = b"candela-bls-dkg-v1/commit";
/// Domain of the transcript hash.
const TRANSCRIPT_DOMAIN: &[u8] = b"candela-bls-dkg-v1/transcript";

/// The messages of the protocol.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Msg {
    /// Round 1 (broadcast): the hash of the sender's commitment vector.
    Commit { hash: [u8; 32] },
    /// Round 2 (broadcast): the salt and the commitments, `t` compressed G1
    /// points concatenated.
    Reveal {
        salt: [u8; 32],
        commitments: Vec<u8>,
    },
    /// Round 2 (private): the sender's polynomial at the receiver's x.
    Share { value: [u8; 32] },
    /// Round 3 (broadcast): the transcript hash and every dealer's
    /// commitment hash, in participant order.
    Confirm {
        transcript: [u8; 32],
        dealers: Vec<[u8; 32]>,
    },
    /// The sender found `accused` at fault and stops.
    Complaint { accused: NodeIndex, reason: Fault },
}

impl Msg {
    pub(crate) fn encode(&self) -> Result<Vec<u8>, BlsError> {
        rmp_serde::to_vec(self).map_err(|e| BlsError::Encoding(format!("DKG message: {e}")))
    }

    pub(crate) fn decode(b: &[u8]) -> Option<Msg> {
        rmp_serde::from_slice(b).ok()
    }
}

/// The hash a dealer commits to in round 1.
pub(crate) fn commitment_hash(
    context: &[u8],
    threshold: usize,
    participants: &[NodeIndex],
    dealer: NodeIndex,
    salt: &[u8; 32],
    commitments: &[u8],
) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(COMMIT_DOMAIN);
    h.update((context.len() as u64).to_be_bytes());
    h.update(context);
    h.update((threshold as u64).to_be_bytes());
    h.update((participants.len() as u64).to_be_bytes());
    for p in participants {
        h.update(p.to_be_bytes());
    }
    h.update(dealer.to_be_bytes());
    h.update(salt);
    h.update((commitments.len() as u64).to_be_bytes());
    h.update(commitments);
    h.finalize().into()
}

/// Parse a concatenation of `t` compressed G1 points.
pub(crate) fn parse_commitments(b: &[u8], t: usize) -> Option<Vec<G1Projective>> {
    if b.len() != t * G1_BYTES {
        return None;
    }
    b.chunks_exact(G1_BYTES)
        .map(|c| {
            let arr: [u8; G1_BYTES] = c.try_into().ok()?;
            Option::<G1Projective>::from(G1Projective::from_compressed(&arr))
        })
        .collect()
}

/// Where the session stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Nothing sent yet.
    Start,
    /// Our commitment hash is out; waiting for everyone's.
    Committed,
    /// Our reveal and shares are out; waiting for everyone's.
    Revealed,
    /// Our confirmation is out; waiting for everyone's.
    Confirmed,
    /// Output or error returned.
    Over,
}

/// One node's side of the dealerless BLS DKG, a sans-IO
/// [`Session`] (see the [module docs](self)).
pub struct BlsDkg {
    me: NodeIndex,
    threshold: usize,
    participants: Vec<NodeIndex>,
    context: Vec<u8>,
    /// Our polynomial `a_0..a_{t-1}` (secret).
    coefficients: Zeroizing<Vec<Scalar>>,
    /// Our salt and concatenated commitments.
    salt: [u8; 32],
    my_commitments: Vec<u8>,
    phase: Phase,
    outbox: VecDeque<Outgoing>,
    /// Commitment hashes, ours included.
    hashes: BTreeMap<NodeIndex, [u8; 32]>,
    /// Reveals not yet checked: (salt, commitments).
    reveals: BTreeMap<NodeIndex, ([u8; 32], Vec<u8>)>,
    /// Reveals checked against their hash.
    accepted: BTreeMap<NodeIndex, Vec<G1Projective>>,
    /// Private shares received (ours included), not yet checked.
    shares: BTreeMap<NodeIndex, Scalar>,
    /// Private shares checked against their dealer's commitments.
    verified: BTreeMap<NodeIndex, Scalar>,
    confirms: BTreeMap<NodeIndex, ([u8; 32], Vec<[u8; 32]>)>,
    transcript: Option<([u8; 32], Vec<[u8; 32]>)>,
    /// A node found at fault on receipt, to blame at the next poke.
    pending_blame: Option<(NodeIndex, Fault)>,
    /// An error to return at the next poke (after the complaint is sent).
    fault: Option<BlsError>,
}

impl Drop for BlsDkg {
    fn drop(&mut self) {
        for s in self.shares.values_mut().chain(self.verified.values_mut()) {
            s.zeroize();
        }
    }
}

impl std::fmt::Debug for BlsDkg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlsDkg")
            .field("me", &self.me)
            .field("threshold", &self.threshold)
            .field("participants", &self.participants)
            .field("phase", &self.phase)
            .finish_non_exhaustive()
    }
}

/// Start this node's DKG session, boxed for the node's session runner.
/// `context` binds the commitments to one run (use the session id).
pub fn keygen(
    participants: &[NodeIndex],
    me: NodeIndex,
    threshold: usize,
    context: &[u8],
) -> Result<BoxedSession<BlsKeyShare>, CryptoError> {
    Ok(Box::new(BlsDkg::new(participants, me, threshold, context)?))
}

impl BlsDkg {
    /// A new session for node `me` among `participants` (ascending,
    /// distinct, at most [`crate::MAX_NODE_INDEX`]); `threshold` shares will
    /// be needed to sign (`candela_crypto::threshold_for(n)` in Candela).
    /// `context` binds the commitments to this run (use the session id).
    pub fn new(
        participants: &[NodeIndex],
        me: NodeIndex,
        threshold: usize,
        context: &[u8],
    ) -> Result<Self, BlsError> {
        check_parameters(participants, threshold)?;
        if !participants.contains(&me) {
            return Err(BlsError::BadParameters(format!(
                "node {me} is not a participant"
            )));
        }
        let coefficients: Zeroizing<Vec<Scalar>> =
            Zeroizing::new((0..threshold).map(|_| random_scalar()).collect());
        let mut my_commitments = Vec::with_capacity(threshold * G1_BYTES);
        for a in coefficients.iter() {
            my_commitments.extend_from_slice(&g1_to_bytes(&(G1Projective::GENERATOR * a)));
        }
        let mut salt = [0u8; 32];
        OsRng.fill_bytes(&mut salt);
        Ok(BlsDkg {
            me,
            threshold,
            participants: participants.to_vec(),
            context: context.to_vec(),
            coefficients,
            salt,
            my_commitments,
            phase: Phase::Start,
            outbox: VecDeque::new(),
            hashes: BTreeMap::new(),
            reveals: BTreeMap::new(),
            accepted: BTreeMap::new(),
            shares: BTreeMap::new(),
            verified: BTreeMap::new(),
            confirms: BTreeMap::new(),
            transcript: None,
            pending_blame: None,
            fault: None,
        })
    }

    /// This node.
    pub fn me(&self) -> NodeIndex {
        self.me
    }

    /// The nodes whose message this session waits for in its current round
    /// (for a timeout report naming them).
    pub fn waiting_for(&self) -> Vec<NodeIndex> {
        let others = self.participants.iter().copied().filter(|&p| p != self.me);
        match self.phase {
            Phase::Start | Phase::Over => Vec::new(),
            Phase::Committed => others.filter(|p| !self.hashes.contains_key(p)).collect(),
            Phase::Revealed => others
                .filter(|p| !self.accepted.contains_key(p) || !self.verified.contains_key(p))
                .collect(),
            Phase::Confirmed => others.filter(|p| !self.confirms.contains_key(p)).collect(),
        }
    }

    fn all_others<V>(&self, map: &BTreeMap<NodeIndex, V>) -> bool {
        self.participants.iter().all(|p| map.contains_key(p))
    }

    fn my_hash(&self) -> [u8; 32] {
        commitment_hash(
            &self.context,
            self.threshold,
            &self.participants,
            self.me,
            &self.salt,
            &self.my_commitments,
        )
    }

    /// Stop with `err`, after telling everyone whom it blames.
    fn blame(&mut self, node: NodeIndex, reason: Fault) -> Result<Step<BlsKeyShare>, BlsError> {
        let err = BlsError::Culprit { node, reason };
        let msg = Msg::Complaint {
            accused: node,
            reason,
        }
        .encode()?;
        // Nothing of ours goes out after the complaint.
        self.outbox.clear();
        self.fault = Some(err);
        Ok(Step::Send(Outgoing::Broadcast(msg)))
    }

    /// Check every reveal we hold a hash for, then every share whose
    /// dealer's commitments are accepted. Returns the first fault.
    fn check_pending(&mut self) -> Option<(NodeIndex, Fault)> {
        let ready: Vec<NodeIndex> = self
            .reveals
            .keys()
            .copied()
            .filter(|j| self.hashes.contains_key(j))
            .collect();
        for j in ready {
            let Some((salt, commitments)) = self.reveals.remove(&j) else {
                continue;
            };
            let expected = commitment_hash(
                &self.context,
                self.threshold,
                &self.participants,
                j,
                &salt,
                &commitments,
            );
            if self.hashes.get(&j) != Some(&expected) {
                return Some((j, Fault::CommitmentHashMismatch));
            }
            match parse_commitments(&commitments, self.threshold) {
                Some(c) => {
                    self.accepted.insert(j, c);
                }
                None => return Some((j, Fault::MalformedCommitment)),
            }
        }
        let ready: Vec<NodeIndex> = self
            .shares
            .keys()
            .copied()
            .filter(|j| self.accepted.contains_key(j))
            .collect();
        let x = x_of(self.me);
        for j in ready {
            let (Some(s), Some(c)) = (self.shares.remove(&j), self.accepted.get(&j)) else {
                continue;
            };
            if G1Projective::GENERATOR * s != eval_commitments(c, &x) {
                return Some((j, Fault::BadPrivateShare));
            }
            self.verified.insert(j, s);
        }
        None
    }

    fn transcript(&self) -> Result<([u8; 32], Vec<[u8; 32]>), BlsError> {
        let mut h = Sha256::new();
        h.update(TRANSCRIPT_DOMAIN);
        h.update((self.context.len() as u64).to_be_bytes());
        h.update(&self.context);
        h.update((self.threshold as u64).to_be_bytes());
        let mut dealers = Vec::with_capacity(self.participants.len());
        for p in &self.participants {
            let hash = self
                .hashes
                .get(p)
                .ok_or_else(|| BlsError::BadParameters(format!("no commitment from {p}")))?;
            h.update(p.to_be_bytes());
            h.update(hash);
            dealers.push(*hash);
        }
        Ok((h.finalize().into(), dealers))
    }

    fn finish(&mut self) -> Result<BlsKeyShare, BlsError> {
        let t = self.threshold;
        let mut secret = Scalar::ZERO;
        let mut sum = vec![G1Projective::identity(); t];
        for p in &self.participants {
            let s = self
                .verified
                .get(p)
                .ok_or_else(|| BlsError::BadParameters(format!("no share from {p}")))?;
            secret += s;
            let c = self
                .accepted
                .get(p)
                .ok_or_else(|| BlsError::BadParameters(format!("no commitments from {p}")))?;
            for (acc, ck) in sum.iter_mut().zip(c) {
                *acc += ck;
            }
        }
        let public_key = sum[0];
        if bool::from(public_key.is_identity()) {
            return Err(BlsError::BadParameters(
                "the commitments sum to the identity".into(),
            ));
        }
        let public_shares: BTreeMap<NodeIndex, G1Projective> = self
            .participants
            .iter()
            .map(|&j| (j, eval_commitments(&sum, &x_of(j))))
            .collect();
        if public_shares.get(&self.me) != Some(&(G1Projective::GENERATOR * secret)) {
            return Err(BlsError::BadParameters(
                "own share does not match the public shares".into(),
            ));
        }
        Ok(BlsKeyShare {
            me: self.me,
            threshold: t,
            participants: self.participants.clone(),
            secret,
            public_key,
            public_shares,
        })
    }

    /// [`Session::poke`] with this crate's detailed error.
    pub fn step(&mut self) -> Result<Step<BlsKeyShare>, BlsError> {
        if let Some(m) = self.outbox.pop_front() {
            return Ok(Step::Send(m));
        }
        if let Some(e) = self.fault.take() {
            self.phase = Phase::Over;
            self.outbox.clear();
            return Err(e);
        }
        if let Some((node, reason)) = self.pending_blame.take() {
            return self.blame(node, reason);
        }
        if self.phase == Phase::Start {
            let hash = self.my_hash();
            self.hashes.insert(self.me, hash);
            self.phase = Phase::Committed;
            return Ok(Step::Send(Outgoing::Broadcast(
                Msg::Commit { hash }.encode()?,
            )));
        }
        if self.phase == Phase::Over {
            return Err(BlsError::Finished);
        }
        if let Some((node, reason)) = self.check_pending() {
            return self.blame(node, reason);
        }
        if self.phase == Phase::Committed {
            if !self.all_others(&self.hashes) {
                return Ok(Step::Wait);
            }
            let reveal = Msg::Reveal {
                salt: self.salt,
                commitments: self.my_commitments.clone(),
            };
            self.outbox.push_back(Outgoing::Broadcast(reveal.encode()?));
            for &j in &self.participants {
                let mut value = eval_scalar(&self.coefficients, &x_of(j));
                if j == self.me {
                    self.shares.insert(j, value);
                } else {
                    let msg = Msg::Share {
                        value: value.to_be_bytes(),
                    };
                    self.outbox.push_back(Outgoing::Private(j, msg.encode()?));
                }
                value.zeroize();
            }
            self.reveals
                .insert(self.me, (self.salt, self.my_commitments.clone()));
            self.phase = Phase::Revealed;
            if let Some((node, reason)) = self.check_pending() {
                return self.blame(node, reason);
            }
            return self.step();
        }
        if self.phase == Phase::Revealed {
            if !self.all_others(&self.verified) {
                return Ok(Step::Wait);
            }
            let (transcript, dealers) = self.transcript()?;
            self.confirms.insert(self.me, (transcript, dealers.clone()));
            self.transcript = Some((transcript, dealers.clone()));
            self.phase = Phase::Confirmed;
            return Ok(Step::Send(Outgoing::Broadcast(
                Msg::Confirm {
                    transcript,
                    dealers,
                }
                .encode()?,
            )));
        }
        // Phase::Confirmed
        if !self.all_others(&self.confirms) {
            return Ok(Step::Wait);
        }
        let Some((mine, my_dealers)) = self.transcript.clone() else {
            return Err(BlsError::BadParameters("no transcript".into()));
        };
        for (&node, (theirs, their_dealers)) in &self.confirms {
            if *theirs != mine || *their_dealers != my_dealers {
                let dealer = self
                    .participants
                    .iter()
                    .zip(my_dealers.iter())
                    .zip(
                        their_dealers
                            .iter()
                            .map(Some)
                            .chain(std::iter::repeat(None)),
                    )
                    .find(|((_, a), b)| Some(*a) != *b)
                    .map(|((p, _), _)| *p);
                self.phase = Phase::Over;
                return Err(BlsError::TranscriptMismatch { node, dealer });
            }
        }
        self.phase = Phase::Over;
        self.finish().map(Step::Done)
    }

    /// [`Session::receive`]: store a message from `from` for the next poke.
    /// The first message of each kind from a node counts; repeats are
    /// ignored, as are messages from outsiders or from ourselves.
    pub fn deliver(&mut self, from: NodeIndex, message: &[u8]) {
        if from == self.me || !self.participants.contains(&from) || self.phase == Phase::Over {
            return;
        }
        let Some(msg) = Msg::decode(message) else {
            self.pending_blame
                .get_or_insert((from, Fault::MalformedMessage));
            return;
        };
        match msg {
            Msg::Commit { hash } => {
                self.hashes.entry(from).or_insert(hash);
            }
            Msg::Reveal { salt, commitments } => {
                if !self.accepted.contains_key(&from) {
                    self.reveals.entry(from).or_insert((salt, commitments));
                }
            }
            Msg::Share { value } => {
                if self.verified.contains_key(&from) || self.shares.contains_key(&from) {
                    return;
                }
                match scalar_from_bytes(&value) {
                    Ok(s) => {
                        self.shares.insert(from, s);
                    }
                    Err(_) => {
                        self.pending_blame
                            .get_or_insert((from, Fault::BadPrivateShare));
                    }
                }
            }
            Msg::Confirm {
                transcript,
                dealers,
            } => {
                self.confirms.entry(from).or_insert((transcript, dealers));
            }
            Msg::Complaint { accused, reason } => {
                if self.fault.is_none() {
                    self.fault = Some(BlsError::Accused {
                        accuser: from,
                        accused,
                        reason,
                    });
                }
            }
        }
    }
}

/// Domain of the statement a node confirms in the agreement step.
const STATEMENT_DOMAIN: &[u8] = b"candela-bls-dkg-v1/agreed-key";

/// The DKG followed by the agreement step of
/// [`candela_crypto::agree`]: every honest node keeps the BLS root key or
/// none does, and a node that signs two different confirmations is named
/// ([`CryptoError::KeygenDiscarded`]). `context` names the run (session id
/// and attempt); `keys` signs this node's confirmation and checks the
/// others'.
pub fn agreed_keygen(
    participants: &[NodeIndex],
    me: NodeIndex,
    threshold: usize,
    context: &[u8],
    keys: std::sync::Arc<dyn candela_crypto::agree::VoteKeys>,
) -> Result<BoxedSession<BlsKeyShare>, CryptoError> {
    let inner: BoxedSession<BlsKeyShare> =
        Box::new(BlsDkg::new(participants, me, threshold, context)?);
    candela_crypto::agree::agreed(inner, participants, me, threshold, context, keys)
}

/// What a node confirms: a hash of the whole public outcome (threshold,
/// participants, public key, every public share).
fn key_statement(k: &BlsKeyShare) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(STATEMENT_DOMAIN);
    h.update((k.threshold as u64).to_be_bytes());
    h.update((k.participants.len() as u64).to_be_bytes());
    for p in &k.participants {
        h.update(p.to_be_bytes());
    }
    h.update(g1_to_bytes(&k.public_key));
    for (j, s) in &k.public_shares {
        h.update(j.to_be_bytes());
        h.update(g1_to_bytes(s));
    }
    h.finalize().to_vec()
}

impl candela_crypto::agree::Candidate for BlsKeyShare {
    type Output = BlsKeyShare;

    fn statement(&self) -> Vec<u8> {
        key_statement(self)
    }

    /// Keep the key when every participant confirmed the same public
    /// outcome as ours. Honest nodes that finish the DKG hold the same
    /// transcript (its confirmation round compares them), so an outcome
    /// confirmed by a threshold of nodes (more than two thirds) is the
    /// honest one, and a node that confirmed another is provably lying.
    fn conclude(
        self,
        statements: &BTreeMap<NodeIndex, Vec<u8>>,
    ) -> Result<BlsKeyShare, candela_crypto::agree::Inconsistent> {
        let mine = key_statement(&self);
        let mut groups: BTreeMap<&[u8], Vec<NodeIndex>> = BTreeMap::new();
        for (&p, s) in statements {
            groups.entry(s.as_slice()).or_default().push(p);
        }
        if groups.len() == 1 && groups.contains_key(mine.as_slice()) {
            return Ok(self);
        }
        let culprits = groups
            .iter()
            .find(|(_, v)| v.len() >= self.threshold)
            .map(|(agreed, _)| {
                statements
                    .iter()
                    .filter(|(_, s)| s.as_slice() != *agreed)
                    .map(|(p, _)| *p)
                    .collect()
            })
            .unwrap_or_default();
        Err(candela_crypto::agree::Inconsistent {
            culprits,
            reason: "nodes confirmed different BLS public keys or shares".into(),
        })
    }
}

impl Session for BlsDkg {
    type Output = BlsKeyShare;

    fn poke(&mut self) -> Result<Step<BlsKeyShare>, CryptoError> {
        self.step().map_err(CryptoError::from)
    }

    fn receive(&mut self, from: NodeIndex, message: Vec<u8>) {
        self.deliver(from, &message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_stay_small_and_round_trip() {
        let t = 4;
        let msgs = [
            Msg::Commit { hash: [0xab; 32] },
            Msg::Reveal {
                salt: [0xcd; 32],
                commitments: vec![0xef; t * G1_BYTES],
            },
            Msg::Share { value: [0x99; 32] },
            Msg::Confirm {
                transcript: [0x88; 32],
                dealers: vec![[0x77; 32]; 5],
            },
            Msg::Complaint {
                accused: 3,
                reason: Fault::BadPrivateShare,
            },
        ];
        for m in msgs {
            let b = m.encode().unwrap();
            // rmp-serde writes byte arrays as arrays of integers: at most
            // two bytes per byte, plus framing.
            let raw = match &m {
                Msg::Commit { .. } | Msg::Share { .. } => 32,
                Msg::Reveal { commitments, .. } => 32 + commitments.len(),
                Msg::Confirm { dealers, .. } => 32 * (1 + dealers.len()),
                Msg::Complaint { .. } => 1,
            };
            assert!(b.len() <= 2 * raw + 40, "{m:?}: {} bytes", b.len());
            assert_eq!(Msg::decode(&b), Some(m));
        }
    }
}
