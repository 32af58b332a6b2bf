//! Dealerless key generation: DKLs23's DKG (Protocol 9.1 of ePrint
//! 2023/602) with the setup of every pair's base OTs, as a sans-IO session
//! of three message rounds.
//!
//! 1. private: `p_i(j)` to every node `j`;
//! 2. broadcast: commitments to the proof of `p(i)·G` and to the chain-code
//!    contribution; private: commitment to the pair's zero-share seed;
//! 3. broadcast: the proof and the chain-code contribution; private: the
//!    seed opened and the pair's base-OT setup (both directions).
//!
//! Then every node checks the proofs and that the points `p(j)·G` lie on
//! one polynomial, and finishes the base OTs (the slow part: seconds).
use std::collections::{BTreeMap, VecDeque};

use candela_crypto::session::{Outgoing, Step};
use dkls23::protocols::dkg::{
    BroadcastDerivationPhase2to4, BroadcastDerivationPhase3to4, ProofCommitment,
    TransmitInitMulPhase3to4, TransmitInitZeroSharePhase2to4, TransmitInitZeroSharePhase3to4,
};
use dkls23::protocols::{Parameters, PartyIndex};
use dkls23::utilities::hashes::HashOutput;
use dkls23::utilities::proofs::DLogProof;
use dkls23::DkgSession;
use k256_v14::Secp256k1;
use sha2::{Digest, Sha256};

use crate::convert::point_from_v14;
use crate::error::from_abort;
use crate::share::{node_of, party_index, DklsKeyShare};
use crate::wire::{decode, encode, KeygenMessage};
use crate::{DklsError, DklsSession, NodeIndex};

/// Domain separation tag of the DKG session id.
pub const KEYGEN_SESSION_DST: &[u8] = b"candela-dkls23-keygen-v1";

/// One node's side of a key generation among `participants`.
pub struct DklsKeygen {
    me: NodeIndex,
    my_index: PartyIndex,
    threshold: usize,
    participants: Vec<NodeIndex>,
    session: Option<DkgSession<Secp256k1>>,
    started: bool,
    round: u8,
    outbox: VecDeque<Outgoing>,
    fault: Option<DklsError>,
    my_proof: Option<ProofCommitment<Secp256k1>>,
    fragments: BTreeMap<NodeIndex, k256_v14::Scalar>,
    commitments: BTreeMap<NodeIndex, (HashOutput, BroadcastDerivationPhase2to4)>,
    zero_commitments: BTreeMap<NodeIndex, TransmitInitZeroSharePhase2to4>,
    openings: BTreeMap<NodeIndex, (DLogProof<Secp256k1>, BroadcastDerivationPhase3to4)>,
    setups: BTreeMap<
        NodeIndex,
        (
            TransmitInitZeroSharePhase3to4,
            TransmitInitMulPhase3to4<Secp256k1>,
        ),
    >,
}

impl std::fmt::Debug for DklsKeygen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DklsKeygen")
            .field("me", &self.me)
            .field("participants", &self.participants)
            .field("round", &self.round)
            .finish_non_exhaustive()
    }
}

/// The DKG session id all nodes use: a hash of the caller's `context`
/// (unique per key generation, equal at every node), the threshold and the
/// sorted participants.
fn dkg_session_id(context: &[u8], threshold: usize, participants: &[NodeIndex]) -> Vec<u8> {
    let mut h = Sha256::new();
    for part in [
        KEYGEN_SESSION_DST,
        context,
        &(threshold as u64).to_be_bytes(),
        &participants
            .iter()
            .flat_map(|p| p.to_be_bytes())
            .collect::<Vec<u8>>(),
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    h.finalize().to_vec()
}

impl DklsKeygen {
    /// Start key generation among `participants` (any order; at most 255)
    /// as node `me`, for signing sets of exactly `threshold` nodes.
    /// `context` names this run (ceremony id and attempt): unique per run
    /// and the same at every node.
    pub fn new(
        participants: &[NodeIndex],
        me: NodeIndex,
        threshold: usize,
        context: &[u8],
    ) -> Result<Self, DklsError> {
        let mut sorted = participants.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        if sorted.len() != participants.len() {
            return Err(DklsError::BadParameters("duplicate participant".into()));
        }
        let n = u8::try_from(sorted.len())
            .map_err(|_| DklsError::BadParameters("at most 255 participants".into()))?;
        let t = u8::try_from(threshold)
            .map_err(|_| DklsError::BadParameters("threshold too large".into()))?;
        let parameters = Parameters::new(t, n)
            .map_err(|e| DklsError::BadParameters(format!("threshold {threshold} of {n}: {e}")))?;
        let my_index = party_index(&sorted, me)
            .ok_or_else(|| DklsError::BadParameters(format!("node {me} is not a participant")))?;
        let sid = dkg_session_id(context, threshold, &sorted);
        Ok(DklsKeygen {
            me,
            my_index,
            threshold,
            session: Some(DkgSession::new(parameters, my_index, sid)),
            participants: sorted,
            started: false,
            round: 1,
            outbox: VecDeque::new(),
            fault: None,
            my_proof: None,
            fragments: BTreeMap::new(),
            commitments: BTreeMap::new(),
            zero_commitments: BTreeMap::new(),
            openings: BTreeMap::new(),
            setups: BTreeMap::new(),
        })
    }

    fn n(&self) -> usize {
        self.participants.len()
    }

    fn node(&self, p: PartyIndex) -> Result<NodeIndex, DklsError> {
        node_of(&self.participants, p)
            .ok_or_else(|| DklsError::Aborted(format!("message names unknown party {p}")))
    }

    fn abort_err(&self, abort: dkls23::protocols::Abort) -> DklsError {
        from_abort(abort, |p| node_of(&self.participants, p))
    }

    fn send_private(&mut self, to: NodeIndex, m: &KeygenMessage) -> Result<(), DklsError> {
        self.outbox.push_back(Outgoing::Private(to, encode(m)?));
        Ok(())
    }

    fn session(&mut self) -> Result<&mut DkgSession<Secp256k1>, DklsError> {
        self.session
            .as_mut()
            .ok_or_else(|| DklsError::Aborted("key generation already finished".into()))
    }

    fn start(&mut self) -> Result<(), DklsError> {
        self.started = true;
        let fragments = self.session()?.phase1();
        if fragments.len() != self.n() {
            return Err(DklsError::Aborted(format!(
                "{} fragments for {} participants",
                fragments.len(),
                self.n()
            )));
        }
        let participants = self.participants.clone();
        for (node, f) in participants.into_iter().zip(fragments) {
            if node == self.me {
                self.fragments.insert(node, f);
            } else {
                self.send_private(node, &KeygenMessage::Fragment(f))?;
            }
        }
        Ok(())
    }

    fn round1(&mut self) -> Result<(), DklsError> {
        let fragments: Vec<k256_v14::Scalar> = self.fragments.values().copied().collect();
        let (proof, zero, chain) = self
            .session()?
            .phase2(&fragments)
            .map_err(|a| self.abort_err(a))?;
        self.fragments.clear();
        self.commitments
            .insert(self.me, (proof.commitment, chain.clone()));
        self.outbox
            .push_back(Outgoing::Broadcast(encode(&KeygenMessage::Commitments {
                proof: proof.commitment,
                chain_code: chain,
            })?));
        self.my_proof = Some(proof);
        for m in zero {
            let to = self.node(m.parties.receiver)?;
            self.send_private(to, &KeygenMessage::ZeroSeedCommitment(m))?;
        }
        Ok(())
    }

    fn round2(&mut self) -> Result<(), DklsError> {
        let (zero, mul, chain) = self.session()?.phase3().map_err(|a| self.abort_err(a))?;
        let proof = self
            .my_proof
            .as_ref()
            .map(|p| p.proof.clone())
            .ok_or_else(|| DklsError::Aborted("own proof missing".into()))?;
        self.openings
            .insert(self.me, (proof.clone(), chain.clone()));
        self.outbox
            .push_back(Outgoing::Broadcast(encode(&KeygenMessage::Openings {
                proof,
                chain_code: chain,
            })?));
        let mut muls: BTreeMap<PartyIndex, TransmitInitMulPhase3to4<Secp256k1>> =
            mul.into_iter().map(|m| (m.parties.receiver, m)).collect();
        for z in zero {
            let receiver = z.parties.receiver;
            let to = self.node(receiver)?;
            let multiplication = muls
                .remove(&receiver)
                .ok_or_else(|| DklsError::Aborted("multiplication setup missing".into()))?;
            self.send_private(
                to,
                &KeygenMessage::Setup {
                    zero_seed: z,
                    multiplication,
                },
            )?;
        }
        Ok(())
    }

    fn round3(&mut self) -> Result<DklsKeyShare, DklsError> {
        let mut proofs = Vec::with_capacity(self.n());
        let mut chain2 = BTreeMap::new();
        let mut chain3 = BTreeMap::new();
        for (&node, (commitment, c2)) in &self.commitments {
            let (proof, c3) = self
                .openings
                .get(&node)
                .ok_or_else(|| DklsError::Aborted(format!("no openings from node {node}")))?;
            let index = party_index(&self.participants, node)
                .ok_or_else(|| DklsError::Aborted(format!("node {node} has no index")))?;
            proofs.push(ProofCommitment {
                index,
                proof: proof.clone(),
                commitment: *commitment,
            });
            chain2.insert(index, c2.clone());
            chain3.insert(index, c3.clone());
        }
        let zero2: Vec<_> = std::mem::take(&mut self.zero_commitments)
            .into_values()
            .collect();
        let (zero3, mul): (Vec<_>, Vec<_>) = std::mem::take(&mut self.setups).into_values().unzip();
        let session = self
            .session
            .take()
            .ok_or_else(|| DklsError::Aborted("key generation already finished".into()))?;
        let (party, package) = session
            .phase4(&proofs, &zero2, &zero3, &mul, &chain2, &chain3, |_| {
                String::new()
            })
            .map_err(|a| self.abort_err(a))?;
        let public_key = point_from_v14(&party.pk)?;
        let mut public_shares = BTreeMap::new();
        for &node in &self.participants {
            let index = party_index(&self.participants, node)
                .ok_or_else(|| DklsError::Aborted(format!("node {node} has no index")))?;
            let share = package
                .verifying_share(index)
                .ok_or_else(|| DklsError::Aborted(format!("no public share for node {node}")))?;
            public_shares.insert(node, point_from_v14(share)?);
        }
        Ok(DklsKeyShare {
            me: self.me,
            threshold: self.threshold,
            participants: self.participants.clone(),
            public_key,
            public_shares,
            party,
        })
    }

    /// Check a message's claimed sender and receiver against the
    /// authenticated `from` and this node; store it for its round.
    fn accept(&mut self, from: NodeIndex, message: KeygenMessage) -> Result<(), DklsError> {
        let from_index = party_index(&self.participants, from)
            .ok_or_else(|| DklsError::Aborted(format!("node {from} has no index")))?;
        let lied = |what: &str| DklsError::Blamed {
            party: from,
            reason: format!("{what} names another sender or receiver"),
            leaks_ot_state: false,
        };
        let route_ok = |p: &dkls23::protocols::PartiesMessage| {
            p.sender == from_index && p.receiver == self.my_index
        };
        match message {
            KeygenMessage::Fragment(f) => {
                self.fragments.entry(from).or_insert(f);
            }
            KeygenMessage::Commitments { proof, chain_code } => {
                if chain_code.sender_index != from_index {
                    return Err(lied("chain-code commitment"));
                }
                self.commitments.entry(from).or_insert((proof, chain_code));
            }
            KeygenMessage::ZeroSeedCommitment(z) => {
                if !route_ok(&z.parties) {
                    return Err(lied("zero-share commitment"));
                }
                self.zero_commitments.entry(from).or_insert(z);
            }
            KeygenMessage::Openings { proof, chain_code } => {
                if chain_code.sender_index != from_index {
                    return Err(lied("chain-code opening"));
                }
                self.openings.entry(from).or_insert((proof, chain_code));
            }
            KeygenMessage::Setup {
                zero_seed,
                multiplication,
            } => {
                if !route_ok(&zero_seed.parties) || !route_ok(&multiplication.parties) {
                    return Err(lied("pair setup"));
                }
                self.setups
                    .entry(from)
                    .or_insert((zero_seed, multiplication));
            }
        }
        Ok(())
    }
}

impl DklsSession for DklsKeygen {
    type Output = DklsKeyShare;

    fn poke(&mut self) -> Result<Step<DklsKeyShare>, DklsError> {
        if let Some(f) = self.fault.take() {
            return Err(f);
        }
        if let Some(m) = self.outbox.pop_front() {
            return Ok(Step::Send(m));
        }
        if !self.started {
            self.start()?;
            return self.poke();
        }
        let n = self.n();
        match self.round {
            1 if self.fragments.len() == n => {
                self.round1()?;
                self.round = 2;
                self.poke()
            }
            2 if self.commitments.len() == n && self.zero_commitments.len() == n - 1 => {
                self.round2()?;
                self.round = 3;
                self.poke()
            }
            3 if self.openings.len() == n && self.setups.len() == n - 1 => {
                let share = self.round3()?;
                self.round = 4;
                Ok(Step::Done(share))
            }
            4 => Err(DklsError::Aborted("key generation already finished".into())),
            _ => Ok(Step::Wait),
        }
    }

    fn receive(&mut self, from: NodeIndex, message: Vec<u8>) {
        if from == self.me || !self.participants.contains(&from) || self.fault.is_some() {
            return;
        }
        let result = match decode::<KeygenMessage>(&message) {
            Ok(m) => self.accept(from, m),
            Err(e) => Err(DklsError::Blamed {
                party: from,
                reason: format!("malformed key-generation message: {e}"),
                leaks_ot_state: false,
            }),
        };
        if let Err(e) = result {
            self.fault = Some(e);
        }
    }
}
