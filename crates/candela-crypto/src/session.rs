//! Sans-IO multi-party sessions and the threshold ECDSA backend trait.
//!
//! A [`Session`] is one node's side of a protocol run: the caller pokes it
//! for messages to send and feeds it the messages it receives, in any order.
//! [`CaitSith`] implements [`EcdsaBackend`] with the cait-sith protocol
//! (Cronokirby, "Threshold ECDSA via triples"): a DKG, then batches of
//! presignatures, each from two OT-based Beaver triples, ending with a round
//! in which every node publishes commitments to its presignature shares so
//! that clients can verify signature shares later.
use std::collections::BTreeMap;

use cait_sith::protocol::{Action, Participant, Protocol};
use cait_sith::triples::{TripleGenerationOutput, TriplePub, TripleShare};
use cait_sith::{KeygenOutput, PresignArguments, PresignOutput};
use k256::{ProjectivePoint, Secp256k1};
use serde::{Deserialize, Serialize};

use crate::encoding::{point_from_bytes, point_to_bytes, scalar_from_bytes, scalar_to_bytes};
use crate::{AffinePoint, CryptoError, NodeIndex, Scalar};

/// A message a session wants sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// To every other participant.
    Broadcast(Vec<u8>),
    /// To one participant only (must travel encrypted).
    Private(NodeIndex, Vec<u8>),
}

/// What a poked session asks of its driver.
#[derive(Debug)]
pub enum Step<T> {
    /// Nothing to do until another message arrives.
    Wait,
    /// Send this message, then poke again.
    Send(Outgoing),
    /// The protocol finished with this output.
    Done(T),
}

/// One node's side of a multi-party protocol, driven without IO.
pub trait Session: Send {
    /// What the protocol produces.
    type Output;
    /// Advance as far as possible.
    fn poke(&mut self) -> Result<Step<Self::Output>, CryptoError>;
    /// Deliver a message from another participant.
    fn receive(&mut self, from: NodeIndex, message: Vec<u8>);
    /// The driver's deadline for the current round passed: go on without
    /// the messages still missing, if the protocol can. Returns `false`
    /// (the default) when it cannot, and the driver then gives up.
    fn expire(&mut self) -> bool {
        false
    }
}

/// A boxed session.
pub type BoxedSession<T> = Box<dyn Session<Output = T>>;

/// A node's long-term share of the root ECDSA key.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyShare {
    /// This node.
    pub me: NodeIndex,
    /// Parties needed to sign.
    pub threshold: usize,
    /// Every node that took part in the key generation.
    pub participants: Vec<NodeIndex>,
    /// This node's Shamir share `x_i` (secret).
    pub secret: Scalar,
    /// The root public key `x·G`.
    pub public_key: AffinePoint,
    /// Every node's public share `x_j·G`, agreed on in the confirmation round.
    pub public_shares: BTreeMap<NodeIndex, AffinePoint>,
}

impl std::fmt::Debug for KeyShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyShare")
            .field("me", &self.me)
            .field("threshold", &self.threshold)
            .field("participants", &self.participants)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Public commitments to one node's presignature shares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShareCommitment {
    /// `k_i·G`.
    pub k: AffinePoint,
    /// `sigma_i·G`.
    pub sigma: AffinePoint,
}

/// A node's share of one presignature, with everyone's commitments.
#[derive(Clone, PartialEq, Eq)]
pub struct Presignature {
    /// The nodes that made it; any `threshold` of them can complete it.
    pub participants: Vec<NodeIndex>,
    /// Parties needed to complete it.
    pub threshold: usize,
    /// The nonce point `R = k^-1·G`; `r = x(R)`.
    pub big_r: AffinePoint,
    /// This node's Shamir share of `k` (secret).
    pub k: Scalar,
    /// This node's Shamir share of `k·x` (secret).
    pub sigma: Scalar,
    /// Every participant's commitments.
    pub commitments: BTreeMap<NodeIndex, ShareCommitment>,
}

impl std::fmt::Debug for Presignature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presignature")
            .field("participants", &self.participants)
            .field("big_r", &hex::encode(point_to_bytes(&self.big_r, true)))
            .field("k", &"<redacted>")
            .finish()
    }
}

#[derive(Serialize, Deserialize)]
struct KeyShareRecord {
    me: NodeIndex,
    threshold: usize,
    participants: Vec<NodeIndex>,
    secret: [u8; 32],
    public_key: Vec<u8>,
    public_shares: Vec<(NodeIndex, Vec<u8>)>,
}

impl KeyShare {
    /// Serialize (secret included: encrypt before storing).
    pub fn to_bytes(&self) -> Vec<u8> {
        let rec = KeyShareRecord {
            me: self.me,
            threshold: self.threshold,
            participants: self.participants.clone(),
            secret: scalar_to_bytes(&self.secret),
            public_key: point_to_bytes(&self.public_key, true),
            public_shares: self
                .public_shares
                .iter()
                .map(|(i, p)| (*i, point_to_bytes(p, true)))
                .collect(),
        };
        rmp_serde::to_vec(&rec).unwrap_or_default()
    }

    /// Parse what [`KeyShare::to_bytes`] wrote.
    pub fn from_bytes(b: &[u8]) -> Result<Self, CryptoError> {
        let rec: KeyShareRecord = rmp_serde::from_slice(b)
            .map_err(|e| CryptoError::Encoding(format!("key share: {e}")))?;
        let mut public_shares = BTreeMap::new();
        for (i, p) in rec.public_shares {
            public_shares.insert(i, point_from_bytes(&p)?);
        }
        Ok(KeyShare {
            me: rec.me,
            threshold: rec.threshold,
            participants: rec.participants,
            secret: scalar_from_bytes(&rec.secret)?,
            public_key: point_from_bytes(&rec.public_key)?,
            public_shares,
        })
    }
}

#[derive(Serialize, Deserialize)]
struct PresignatureRecord {
    participants: Vec<NodeIndex>,
    threshold: usize,
    big_r: Vec<u8>,
    k: [u8; 32],
    sigma: [u8; 32],
    commitments: Vec<(NodeIndex, Vec<u8>, Vec<u8>)>,
}

impl Presignature {
    /// Serialize (secrets included: encrypt before storing).
    pub fn to_bytes(&self) -> Vec<u8> {
        let rec = PresignatureRecord {
            participants: self.participants.clone(),
            threshold: self.threshold,
            big_r: point_to_bytes(&self.big_r, true),
            k: scalar_to_bytes(&self.k),
            sigma: scalar_to_bytes(&self.sigma),
            commitments: self
                .commitments
                .iter()
                .map(|(i, c)| {
                    (
                        *i,
                        point_to_bytes(&c.k, true),
                        point_to_bytes(&c.sigma, true),
                    )
                })
                .collect(),
        };
        rmp_serde::to_vec(&rec).unwrap_or_default()
    }

    /// Parse what [`Presignature::to_bytes`] wrote.
    pub fn from_bytes(b: &[u8]) -> Result<Self, CryptoError> {
        let rec: PresignatureRecord = rmp_serde::from_slice(b)
            .map_err(|e| CryptoError::Encoding(format!("presignature: {e}")))?;
        let mut commitments = BTreeMap::new();
        for (i, k, s) in rec.commitments {
            commitments.insert(
                i,
                ShareCommitment {
                    k: point_from_bytes(&k)?,
                    sigma: point_from_bytes(&s)?,
                },
            );
        }
        Ok(Presignature {
            participants: rec.participants,
            threshold: rec.threshold,
            big_r: point_from_bytes(&rec.big_r)?,
            k: scalar_from_bytes(&rec.k)?,
            sigma: scalar_from_bytes(&rec.sigma)?,
            commitments,
        })
    }
}

/// A threshold ECDSA protocol with presignatures whose last step is local:
/// the narrow interface the node needs, so that a second backend can be
/// added and measured beside the first.
pub trait EcdsaBackend {
    /// A short name for logs and benchmark output.
    const NAME: &'static str;
    /// Distributed key generation of the root key (no dealer).
    fn keygen(
        participants: &[NodeIndex],
        me: NodeIndex,
        threshold: usize,
    ) -> Result<BoxedSession<KeyShare>, CryptoError>;
    /// Generate `count` presignatures among `participants` in one session.
    fn presign_batch(
        participants: &[NodeIndex],
        me: NodeIndex,
        key: &KeyShare,
        count: usize,
    ) -> Result<BoxedSession<Vec<Presignature>>, CryptoError>;
}

/// The cait-sith backend (triples from OT extension, then presign).
pub struct CaitSith;

impl CaitSith {
    fn new_batch(
        participants: &[NodeIndex],
        me: NodeIndex,
        key: &KeyShare,
        count: usize,
    ) -> Result<PresignBatch, CryptoError> {
        if count == 0 {
            return Err(CryptoError::BadParameters(
                "batch size must be at least 1".into(),
            ));
        }
        if participants.len() < key.threshold {
            return Err(CryptoError::BadParameters(format!(
                "{} participants cannot make a presignature with threshold {}",
                participants.len(),
                key.threshold
            )));
        }
        if !participants.contains(&me) || participants.iter().any(|p| !key.participants.contains(p))
        {
            return Err(CryptoError::BadParameters(
                "participants must hold key shares".into(),
            ));
        }
        let parts = to_participants(participants);
        let mut triples: Vec<Option<TripleProto>> = Vec::with_capacity(2 * count);
        for _ in 0..2 * count {
            let p = cait_sith::triples::generate_triple::<Secp256k1>(
                &parts,
                Participant::from(me),
                key.threshold,
            )
            .map_err(|e| CryptoError::BadParameters(e.to_string()))?;
            triples.push(Some(Box::new(p)));
        }
        Ok(PresignBatch {
            me,
            participants: participants.to_vec(),
            key: key.clone(),
            count,
            triple_out: (0..2 * count).map(|_| None).collect(),
            triples,
            presigns: Vec::new(),
            presign_out: (0..count).map(|_| None).collect(),
            early: Vec::new(),
            commitments: BTreeMap::new(),
            commitments_sent: false,
            proofs: BTreeMap::new(),
            proofs_out: None,
            lie: None,
            fault: None,
        })
    }

    /// Tests only: a presignature maker that lies about its share, publishing
    /// `K_i = (k_i + shift)·G` with a matching `Q_i` and a valid proof, as a
    /// dishonest maker that knows its secret can. Never use it in a node.
    #[doc(hidden)]
    pub fn dishonest_presign_batch(
        participants: &[NodeIndex],
        me: NodeIndex,
        key: &KeyShare,
        count: usize,
        shift: Scalar,
    ) -> Result<BoxedSession<Vec<Presignature>>, CryptoError> {
        let mut batch = Self::new_batch(participants, me, key, count)?;
        batch.lie = Some(shift);
        Ok(Box::new(batch))
    }
}

impl EcdsaBackend for CaitSith {
    const NAME: &'static str = "cait-sith 0.8";

    fn keygen(
        participants: &[NodeIndex],
        me: NodeIndex,
        threshold: usize,
    ) -> Result<BoxedSession<KeyShare>, CryptoError> {
        let parts = to_participants(participants);
        let proto = cait_sith::keygen::<Secp256k1>(&parts, Participant::from(me), threshold)
            .map_err(|e| CryptoError::BadParameters(e.to_string()))?;
        Ok(Box::new(Keygen {
            me,
            threshold,
            participants: participants.to_vec(),
            proto: Some(Box::new(proto)),
            output: None,
            early: Vec::new(),
            confirmations: BTreeMap::new(),
            confirmed_sent: false,
            fault: None,
        }))
    }

    fn presign_batch(
        participants: &[NodeIndex],
        me: NodeIndex,
        key: &KeyShare,
        count: usize,
    ) -> Result<BoxedSession<Vec<Presignature>>, CryptoError> {
        Ok(Box::new(Self::new_batch(participants, me, key, count)?))
    }
}

type TripleProto = Box<dyn Protocol<Output = TripleGenerationOutput<Secp256k1>> + Send>;
type PresignProto = Box<dyn Protocol<Output = PresignOutput<Secp256k1>> + Send>;
type KeygenProto = Box<dyn Protocol<Output = KeygenOutput<Secp256k1>> + Send>;

impl CaitSith {
    /// Distributed key generation of the root key followed by the agreement
    /// step ([`crate::agree`]): every honest node keeps the key or none
    /// does, and a node that signed two different confirmations is named.
    /// `context` names the run (session id and attempt); `keys` signs this
    /// node's confirmation and checks the others'.
    pub fn agreed_keygen(
        participants: &[NodeIndex],
        me: NodeIndex,
        threshold: usize,
        context: &[u8],
        keys: std::sync::Arc<dyn crate::agree::VoteKeys>,
    ) -> Result<BoxedSession<KeyShare>, CryptoError> {
        let parts = to_participants(participants);
        let proto = cait_sith::keygen::<Secp256k1>(&parts, Participant::from(me), threshold)
            .map_err(|e| CryptoError::BadParameters(e.to_string()))?;
        let inner: BoxedSession<KeygenCandidate> = Box::new(RawKeygen {
            me,
            threshold,
            participants: participants.to_vec(),
            proto: Some(Box::new(proto)),
        });
        crate::agree::agreed(inner, participants, me, threshold, context, keys)
    }
}

/// A node's cait-sith key-generation output before the network agrees to
/// keep it (the inner session of [`CaitSith::agreed_keygen`]).
pub struct KeygenCandidate {
    me: NodeIndex,
    threshold: usize,
    participants: Vec<NodeIndex>,
    output: KeygenOutput<Secp256k1>,
}

/// The bytes a node confirms: its public key and its public share,
/// compressed SEC1 (33 + 33 bytes).
fn keygen_statement(public_key: &AffinePoint, public_share: &AffinePoint) -> Vec<u8> {
    let mut v = point_to_bytes(public_key, true);
    v.extend(point_to_bytes(public_share, true));
    v
}

impl crate::agree::Candidate for KeygenCandidate {
    type Output = KeyShare;

    fn statement(&self) -> Vec<u8> {
        keygen_statement(
            &self.output.public_key,
            &(ProjectivePoint::GENERATOR * self.output.private_share).to_affine(),
        )
    }

    fn conclude(
        self,
        statements: &BTreeMap<NodeIndex, Vec<u8>>,
    ) -> Result<KeyShare, crate::agree::Inconsistent> {
        let (public_key, public_shares) =
            check_confirmations(statements, &self.participants, self.threshold)?;
        if public_key != self.output.public_key
            || public_shares.get(&self.me)
                != Some(&(ProjectivePoint::GENERATOR * self.output.private_share).to_affine())
        {
            // Our own confirmation is among the agreed ones, so this cannot
            // happen unless the agreed set lost it.
            return Err(crate::agree::Inconsistent {
                culprits: Vec::new(),
                reason: "the agreed key is not this node's key".into(),
            });
        }
        Ok(KeyShare {
            me: self.me,
            threshold: self.threshold,
            participants: self.participants,
            secret: self.output.private_share,
            public_key,
            public_shares,
        })
    }
}

/// Check every participant's agreed confirmation (public key, public share):
/// the public key is the one at least `threshold` of them confirm (at most
/// one key can be), and the public shares lie on one polynomial whose value
/// at zero is that key. Names the nodes whose signed confirmation is
/// provably wrong.
fn check_confirmations(
    statements: &BTreeMap<NodeIndex, Vec<u8>>,
    participants: &[NodeIndex],
    threshold: usize,
) -> Result<(AffinePoint, BTreeMap<NodeIndex, AffinePoint>), crate::agree::Inconsistent> {
    use crate::agree::Inconsistent;
    let mut parsed = BTreeMap::new();
    let mut malformed = Vec::new();
    for &p in participants {
        let parsed_one = statements.get(&p).and_then(|s| {
            if s.len() != 66 {
                return None;
            }
            Some((
                point_from_bytes(&s[..33]).ok()?,
                point_from_bytes(&s[33..]).ok()?,
            ))
        });
        match parsed_one {
            Some(v) => {
                parsed.insert(p, v);
            }
            None => malformed.push(p),
        }
    }
    if !malformed.is_empty() {
        return Err(Inconsistent {
            culprits: malformed,
            reason: "malformed confirmation".into(),
        });
    }
    // Honest nodes end cait-sith's keygen with one key; a key confirmed by
    // `threshold` nodes (more than two thirds) includes an honest one.
    let mut votes: BTreeMap<Vec<u8>, Vec<NodeIndex>> = BTreeMap::new();
    for (&p, (pk, _)) in &parsed {
        votes.entry(point_to_bytes(pk, true)).or_default().push(p);
    }
    let Some((key_bytes, _)) = votes.iter().find(|(_, v)| v.len() >= threshold) else {
        return Err(Inconsistent {
            culprits: Vec::new(),
            reason: "no public key is confirmed by a threshold of nodes".into(),
        });
    };
    let public_key = point_from_bytes(key_bytes).map_err(|e| Inconsistent {
        culprits: Vec::new(),
        reason: e.to_string(),
    })?;
    let other_key: Vec<NodeIndex> = parsed
        .iter()
        .filter(|(_, (pk, _))| *pk != public_key)
        .map(|(p, _)| *p)
        .collect();
    if !other_key.is_empty() {
        return Err(Inconsistent {
            culprits: other_key,
            reason: "confirmed another public key".into(),
        });
    }
    let points: BTreeMap<NodeIndex, ProjectivePoint> = parsed
        .iter()
        .map(|(&p, (_, share))| (p, ProjectivePoint::from(*share)))
        .collect();
    let max_faults = participants.len().saturating_sub(threshold);
    crate::consistency::check_points(
        &points,
        Some(ProjectivePoint::from(public_key)),
        threshold,
        max_faults,
    )
    .map_err(|off| Inconsistent {
        culprits: off.culprits,
        reason: "public shares do not interpolate to the public key".into(),
    })?;
    Ok((
        public_key,
        parsed.into_iter().map(|(p, (_, s))| (p, s)).collect(),
    ))
}

/// cait-sith's key generation alone: its output is a [`KeygenCandidate`].
struct RawKeygen {
    me: NodeIndex,
    threshold: usize,
    participants: Vec<NodeIndex>,
    proto: Option<KeygenProto>,
}

impl Session for RawKeygen {
    type Output = KeygenCandidate;

    fn poke(&mut self) -> Result<Step<KeygenCandidate>, CryptoError> {
        let Some(proto) = self.proto.as_mut() else {
            return Err(CryptoError::Protocol("session already finished".into()));
        };
        match poke_sub(0, proto.as_mut())? {
            Step::Done(output) => {
                self.proto = None;
                Ok(Step::Done(KeygenCandidate {
                    me: self.me,
                    threshold: self.threshold,
                    participants: self.participants.clone(),
                    output,
                }))
            }
            other => Ok(map_never(other)),
        }
    }

    fn receive(&mut self, from: NodeIndex, message: Vec<u8>) {
        if !self.participants.contains(&from) || from == self.me {
            return;
        }
        if let (Some((0, data)), Some(p)) = (unframe(&message), self.proto.as_mut()) {
            p.message(Participant::from(from), data.to_vec());
        }
    }
}

/// Tag of the final broadcast round of a session.
const TAG_CONFIRM: u32 = u32::MAX;

fn to_participants(ps: &[NodeIndex]) -> Vec<Participant> {
    ps.iter().map(|&p| Participant::from(p)).collect()
}

fn frame(tag: u32, data: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(4 + data.len());
    v.extend_from_slice(&tag.to_be_bytes());
    v.extend_from_slice(data);
    v
}

fn unframe(msg: &[u8]) -> Option<(u32, &[u8])> {
    if msg.len() < 4 {
        return None;
    }
    let tag = u32::from_be_bytes([msg[0], msg[1], msg[2], msg[3]]);
    Some((tag, &msg[4..]))
}

fn proto_err(e: cait_sith::protocol::ProtocolError) -> CryptoError {
    CryptoError::Protocol(e.to_string())
}

/// Poke one sub-protocol; map its action to a framed step.
fn poke_sub<T>(
    tag: u32,
    proto: &mut (dyn Protocol<Output = T> + Send),
) -> Result<Step<T>, CryptoError> {
    Ok(match proto.poke().map_err(proto_err)? {
        Action::Wait => Step::Wait,
        Action::SendMany(m) => Step::Send(Outgoing::Broadcast(frame(tag, &m))),
        Action::SendPrivate(to, m) => Step::Send(Outgoing::Private(u32::from(to), frame(tag, &m))),
        Action::Return(out) => Step::Done(out),
    })
}

#[derive(Serialize, Deserialize)]
struct KeyConfirmation {
    public_key: Vec<u8>,
    public_share: Vec<u8>,
}

struct Keygen {
    me: NodeIndex,
    threshold: usize,
    participants: Vec<NodeIndex>,
    proto: Option<KeygenProto>,
    output: Option<KeygenOutput<Secp256k1>>,
    early: Vec<(NodeIndex, Vec<u8>)>,
    confirmations: BTreeMap<NodeIndex, KeyConfirmation>,
    confirmed_sent: bool,
    fault: Option<CryptoError>,
}

impl Session for Keygen {
    type Output = KeyShare;

    fn poke(&mut self) -> Result<Step<KeyShare>, CryptoError> {
        if let Some(f) = self.fault.take() {
            return Err(f);
        }
        if let Some(proto) = self.proto.as_mut() {
            match poke_sub(0, proto.as_mut())? {
                Step::Done(out) => {
                    self.output = Some(out);
                    self.proto = None;
                }
                other => return Ok(map_never(other)),
            }
        }
        let Some(out) = self.output.as_ref() else {
            return Ok(Step::Wait);
        };
        if !self.confirmed_sent {
            self.confirmed_sent = true;
            let mine = KeyConfirmation {
                public_key: point_to_bytes(&out.public_key, true),
                public_share: point_to_bytes(
                    &(ProjectivePoint::GENERATOR * out.private_share).to_affine(),
                    true,
                ),
            };
            let bytes =
                rmp_serde::to_vec(&mine).map_err(|e| CryptoError::Encoding(e.to_string()))?;
            self.confirmations.insert(self.me, mine);
            for (from, m) in std::mem::take(&mut self.early) {
                self.receive(from, m);
            }
            return Ok(Step::Send(Outgoing::Broadcast(frame(TAG_CONFIRM, &bytes))));
        }
        if self.confirmations.len() < self.participants.len() {
            return Ok(Step::Wait);
        }
        let mut shares = BTreeMap::new();
        for (&i, c) in &self.confirmations {
            if point_from_bytes(&c.public_key)? != out.public_key {
                return Err(CryptoError::InconsistentCommitment { culprit: i });
            }
            shares.insert(i, point_from_bytes(&c.public_share)?);
        }
        let points = shares
            .iter()
            .map(|(&i, p)| (i, ProjectivePoint::from(*p)))
            .collect();
        let max_faults = self.participants.len().saturating_sub(self.threshold);
        crate::consistency::check_points(
            &points,
            Some(ProjectivePoint::from(out.public_key)),
            self.threshold,
            max_faults,
        )
        .map_err(|off| match off.culprits.first() {
            Some(&culprit) => CryptoError::InconsistentCommitment { culprit },
            None => CryptoError::Protocol("public shares do not interpolate to the key".into()),
        })?;
        Ok(Step::Done(KeyShare {
            me: self.me,
            threshold: self.threshold,
            participants: self.participants.clone(),
            secret: out.private_share,
            public_key: out.public_key,
            public_shares: shares,
        }))
    }

    fn receive(&mut self, from: NodeIndex, message: Vec<u8>) {
        if !self.participants.contains(&from) || from == self.me {
            return;
        }
        let Some((tag, data)) = unframe(&message) else {
            return;
        };
        if tag == TAG_CONFIRM {
            if !self.confirmed_sent {
                self.early.push((from, message));
                return;
            }
            match rmp_serde::from_slice::<KeyConfirmation>(data) {
                Ok(c) => {
                    self.confirmations.entry(from).or_insert(c);
                }
                Err(_) => self.fault = Some(CryptoError::InconsistentCommitment { culprit: from }),
            }
        } else if let Some(p) = self.proto.as_mut() {
            p.message(Participant::from(from), data.to_vec());
        }
    }
}

/// Steps that are not `Done` carry no output and can change type.
fn map_never<A, B>(s: Step<A>) -> Step<B> {
    match s {
        Step::Wait => Step::Wait,
        Step::Send(o) => Step::Send(o),
        Step::Done(_) => Step::Wait,
    }
}

#[derive(Serialize, Deserialize)]
struct PresignCommitments {
    /// Per presignature of the batch: (R, K_i, S_i), compressed SEC1.
    items: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)>,
}

/// Tag of the broadcast that proves the commitments (sent right after them).
const TAG_PROOFS: u32 = u32::MAX - 1;

/// Per presignature of the batch: `Q_i = k_i·R`, `T_i = sigma_i·R`
/// (compressed SEC1) and the DLEQ proofs tying them to `K_i` and `S_i`
/// (64 bytes each).
#[derive(Serialize, Deserialize)]
struct PresignProofs {
    items: Vec<ProofItem>,
}

/// `(Q_i, T_i, proof for K_i, proof for S_i)`.
type ProofItem = (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>);

/// What a maker's DLEQ proof is bound to: its role (`k` or `sigma`), the
/// maker, the presignature's place in the batch and the makers.
fn dleq_context(
    role: &[u8],
    maker: NodeIndex,
    index: usize,
    participants: &[NodeIndex],
) -> Vec<u8> {
    let mut c = b"candela-presign-commitment-v1/".to_vec();
    c.extend_from_slice(role);
    c.extend_from_slice(&maker.to_be_bytes());
    c.extend_from_slice(&(index as u64).to_be_bytes());
    for p in participants {
        c.extend_from_slice(&p.to_be_bytes());
    }
    c
}

struct PresignBatch {
    me: NodeIndex,
    participants: Vec<NodeIndex>,
    key: KeyShare,
    count: usize,
    triples: Vec<Option<TripleProto>>,
    triple_out: Vec<Option<TripleGenerationOutput<Secp256k1>>>,
    presigns: Vec<Option<PresignProto>>,
    presign_out: Vec<Option<PresignOutput<Secp256k1>>>,
    early: Vec<(NodeIndex, Vec<u8>)>,
    commitments: BTreeMap<NodeIndex, PresignCommitments>,
    commitments_sent: bool,
    proofs: BTreeMap<NodeIndex, PresignProofs>,
    /// Our proofs message, sent right after our commitments.
    proofs_out: Option<Vec<u8>>,
    /// Tests only: publish commitments to `k_i + lie` (with valid proofs)
    /// instead of `k_i`, as a dishonest maker would.
    lie: Option<Scalar>,
    fault: Option<CryptoError>,
}

impl PresignBatch {
    fn triples_done(&self) -> bool {
        self.triple_out.iter().all(Option::is_some)
    }

    fn start_presigns(&mut self) -> Result<(), CryptoError> {
        let parts = to_participants(&self.participants);
        let keygen_out = KeygenOutput {
            private_share: self.key.secret,
            public_key: self.key.public_key,
        };
        let mut outs = std::mem::take(&mut self.triple_out).into_iter();
        for _ in 0..self.count {
            let (Some(t0), Some(t1)) = (outs.next().flatten(), outs.next().flatten()) else {
                return Err(CryptoError::Protocol("triple missing".into()));
            };
            let t0: (TripleShare<Secp256k1>, TriplePub<Secp256k1>) = t0;
            let t1: (TripleShare<Secp256k1>, TriplePub<Secp256k1>) = t1;
            let p = cait_sith::presign::<Secp256k1>(
                &parts,
                Participant::from(self.me),
                PresignArguments {
                    triple0: t0,
                    triple1: t1,
                    keygen_out: keygen_out.clone(),
                    threshold: self.key.threshold,
                },
            )
            .map_err(|e| CryptoError::BadParameters(e.to_string()))?;
            self.presigns.push(Some(Box::new(p)));
        }
        for (from, m) in std::mem::take(&mut self.early) {
            self.receive(from, m);
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<Vec<Presignature>, CryptoError> {
        let t = self.key.threshold;
        let mut result = Vec::with_capacity(self.count);
        for (j, out) in self.presign_out.iter().enumerate() {
            let out = out
                .as_ref()
                .ok_or_else(|| CryptoError::Protocol("presign missing".into()))?;
            let mut ks = BTreeMap::new();
            let mut sigmas = BTreeMap::new();
            let mut commitments = BTreeMap::new();
            for (&i, c) in &self.commitments {
                let item = c
                    .items
                    .get(j)
                    .ok_or(CryptoError::InconsistentCommitment { culprit: i })?;
                let r = point_from_bytes(&item.0)
                    .map_err(|_| CryptoError::InconsistentCommitment { culprit: i })?;
                if r != out.big_r {
                    return Err(CryptoError::InconsistentCommitment { culprit: i });
                }
                let k = point_from_bytes(&item.1)
                    .map_err(|_| CryptoError::InconsistentCommitment { culprit: i })?;
                let s = point_from_bytes(&item.2)
                    .map_err(|_| CryptoError::InconsistentCommitment { culprit: i })?;
                // Q_i = k_i·R and T_i = sigma_i·R, proven to share their
                // logarithms with K_i and S_i.
                let bad = CryptoError::InconsistentCommitment { culprit: i };
                let proof = self
                    .proofs
                    .get(&i)
                    .and_then(|p| p.items.get(j))
                    .ok_or_else(|| bad.clone())?;
                let q = ProjectivePoint::from(point_from_bytes(&proof.0).map_err(|_| bad.clone())?);
                let tp =
                    ProjectivePoint::from(point_from_bytes(&proof.1).map_err(|_| bad.clone())?);
                let proof_k =
                    crate::dleq::DleqProof::from_bytes(&proof.2).ok_or_else(|| bad.clone())?;
                let proof_s =
                    crate::dleq::DleqProof::from_bytes(&proof.3).ok_or_else(|| bad.clone())?;
                let big_r = ProjectivePoint::from(out.big_r);
                let ctx_k = dleq_context(b"k", i, j, &self.participants);
                let ctx_s = dleq_context(b"sigma", i, j, &self.participants);
                if !crate::dleq::verify(&ProjectivePoint::from(k), &big_r, &q, &proof_k, &ctx_k)
                    || !crate::dleq::verify(
                        &ProjectivePoint::from(s),
                        &big_r,
                        &tp,
                        &proof_s,
                        &ctx_s,
                    )
                {
                    return Err(bad);
                }
                ks.insert(i, q);
                sigmas.insert(i, tp);
                commitments.insert(i, ShareCommitment { k, sigma: s });
            }
            // k·R = G and sigma·R = k·x·k⁻¹·G = X: the Q_i and T_i must
            // interpolate to those at zero, which pins every K_i and S_i
            // even with exactly t makers (where a lie is detected but cannot
            // be attributed; with more makers a single liar is named and no
            // honest maker ever is).
            let max_faults = self.key.participants.len().saturating_sub(t);
            let makers = || CryptoError::UnattributableCommitments {
                makers: self.participants.clone(),
            };
            for (points, anchor) in [
                (&ks, ProjectivePoint::GENERATOR),
                (&sigmas, ProjectivePoint::from(self.key.public_key)),
            ] {
                crate::consistency::check_points(points, Some(anchor), t, max_faults).map_err(
                    |off| match off.culprits.first() {
                        Some(&culprit) => CryptoError::InconsistentCommitment { culprit },
                        None => makers(),
                    },
                )?;
            }
            result.push(Presignature {
                participants: self.participants.clone(),
                threshold: t,
                big_r: out.big_r,
                k: out.k,
                sigma: out.sigma,
                commitments,
            });
        }
        Ok(result)
    }
}

impl Session for PresignBatch {
    type Output = Vec<Presignature>;

    fn poke(&mut self) -> Result<Step<Vec<Presignature>>, CryptoError> {
        if let Some(f) = self.fault.take() {
            return Err(f);
        }
        // Phase 1: all triples of the batch run side by side.
        if !self.triples_done() {
            for (i, slot) in self.triples.iter_mut().enumerate() {
                let Some(proto) = slot.as_mut() else { continue };
                match poke_sub(i as u32, proto.as_mut())? {
                    Step::Done(out) => {
                        self.triple_out[i] = Some(out);
                        *slot = None;
                    }
                    Step::Wait => {}
                    Step::Send(o) => return Ok(Step::Send(o)),
                }
            }
            if !self.triples_done() {
                return Ok(Step::Wait);
            }
            self.start_presigns()?;
        }
        // Phase 2: presign on each pair of triples.
        let base = 2 * self.count as u32;
        for (i, slot) in self.presigns.iter_mut().enumerate() {
            let Some(proto) = slot.as_mut() else { continue };
            match poke_sub(base + i as u32, proto.as_mut())? {
                Step::Done(out) => {
                    self.presign_out[i] = Some(out);
                    *slot = None;
                }
                Step::Wait => {}
                Step::Send(o) => return Ok(Step::Send(o)),
            }
        }
        if self.presign_out.iter().any(Option::is_none) {
            return Ok(Step::Wait);
        }
        // Phase 3: publish commitments to our shares, K_i = k_i·G and
        // S_i = sigma_i·G, then Q_i = k_i·R and T_i = sigma_i·R with proofs
        // that each pair shares its logarithm.
        if !self.commitments_sent {
            self.commitments_sent = true;
            let mut items = Vec::with_capacity(self.count);
            let mut proofs = Vec::with_capacity(self.count);
            for (j, o) in self.presign_out.iter().flatten().enumerate() {
                let big_r = ProjectivePoint::from(o.big_r);
                let ctx_k = dleq_context(b"k", self.me, j, &self.participants);
                let ctx_s = dleq_context(b"sigma", self.me, j, &self.participants);
                let published_k = o.k + self.lie.unwrap_or(Scalar::ZERO);
                let (k, q, proof_k) = crate::dleq::prove(&published_k, &big_r, &ctx_k);
                let (sg, t, proof_s) = crate::dleq::prove(&o.sigma, &big_r, &ctx_s);
                items.push((
                    point_to_bytes(&o.big_r, true),
                    point_to_bytes(&k.to_affine(), true),
                    point_to_bytes(&sg.to_affine(), true),
                ));
                proofs.push((
                    point_to_bytes(&q.to_affine(), true),
                    point_to_bytes(&t.to_affine(), true),
                    proof_k.to_bytes().to_vec(),
                    proof_s.to_bytes().to_vec(),
                ));
            }
            let mine = PresignCommitments { items };
            let bytes =
                rmp_serde::to_vec(&mine).map_err(|e| CryptoError::Encoding(e.to_string()))?;
            let my_proofs = PresignProofs { items: proofs };
            let proof_bytes =
                rmp_serde::to_vec(&my_proofs).map_err(|e| CryptoError::Encoding(e.to_string()))?;
            self.commitments.insert(self.me, mine);
            self.proofs.insert(self.me, my_proofs);
            self.proofs_out = Some(frame(TAG_PROOFS, &proof_bytes));
            for (from, m) in std::mem::take(&mut self.early) {
                self.receive(from, m);
            }
            return Ok(Step::Send(Outgoing::Broadcast(frame(TAG_CONFIRM, &bytes))));
        }
        if let Some(m) = self.proofs_out.take() {
            return Ok(Step::Send(Outgoing::Broadcast(m)));
        }
        if self.commitments.len() < self.participants.len()
            || self.proofs.len() < self.participants.len()
        {
            return Ok(Step::Wait);
        }
        Ok(Step::Done(self.finish()?))
    }

    fn receive(&mut self, from: NodeIndex, message: Vec<u8>) {
        if !self.participants.contains(&from) || from == self.me {
            return;
        }
        let Some((tag, data)) = unframe(&message) else {
            return;
        };
        let base = 2 * self.count as u32;
        if tag == TAG_CONFIRM {
            if !self.commitments_sent {
                self.early.push((from, message));
            } else {
                match rmp_serde::from_slice::<PresignCommitments>(data) {
                    Ok(c) if c.items.len() == self.count => {
                        self.commitments.entry(from).or_insert(c);
                    }
                    _ => self.fault = Some(CryptoError::InconsistentCommitment { culprit: from }),
                }
            }
        } else if tag == TAG_PROOFS {
            if !self.commitments_sent {
                self.early.push((from, message));
            } else {
                match rmp_serde::from_slice::<PresignProofs>(data) {
                    Ok(p) if p.items.len() == self.count => {
                        self.proofs.entry(from).or_insert(p);
                    }
                    _ => self.fault = Some(CryptoError::InconsistentCommitment { culprit: from }),
                }
            }
        } else if tag < base {
            if let Some(Some(p)) = self.triples.get_mut(tag as usize) {
                p.message(Participant::from(from), data.to_vec());
            }
        } else if tag < base + self.count as u32 {
            let i = (tag - base) as usize;
            if self.presigns.is_empty() {
                self.early.push((from, message));
            } else if let Some(Some(p)) = self.presigns.get_mut(i) {
                p.message(Participant::from(from), data.to_vec());
            }
        }
    }
}
