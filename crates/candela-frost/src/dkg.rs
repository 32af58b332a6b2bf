//! Dealerless key generation (FROST's Pedersen DKG with proofs of
//! knowledge, `frost_core::keys::dkg` part1/part2/part3) as a sans-IO
//! session, followed by a confirmation round in which every party
//! broadcasts the digest of the public key package it computed.
//!
//! Messages: round 1 is a broadcast of the party's commitment and proof;
//! round 2 sends each other party its secret share privately; round 3
//! broadcasts the 32-byte confirmation digest. The session ends only when
//! every party's digest equals this node's, so every honest node that
//! finishes holds a share of the same key.
use std::collections::BTreeMap;

use frost_core::keys::dkg::{self, round1, round2};
use frost_core::keys::{KeyPackage, PublicKeyPackage};
use frost_core::{Ciphersuite, Identifier, VerifyingKey};
use rand_core::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ids::{identifier, party_of};
use crate::session::{Outgoing, Session, Step};
use crate::{FrostError, PartyIndex, Suite};

const TAG_ROUND1: u8 = 1;
const TAG_ROUND2: u8 = 2;
const TAG_CONFIRM: u8 = 3;

/// A node's long-term FROST key share of one root key (secret: the node
/// seals it before storing; this type only provides serde).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound = "C: Ciphersuite")]
pub struct FrostKeyShare<C: Ciphersuite> {
    /// This node.
    pub me: PartyIndex,
    /// Parties needed to sign.
    pub threshold: u16,
    /// Every party of the key generation, ascending.
    pub participants: Vec<PartyIndex>,
    /// This node's key package (secret signing share inside).
    pub key_package: KeyPackage<C>,
    /// The group key and every party's verifying share.
    pub public_key_package: PublicKeyPackage<C>,
}

impl<C: Suite> FrostKeyShare<C> {
    /// The root group public key.
    pub fn group_key(&self) -> &VerifyingKey<C> {
        self.public_key_package.verifying_key()
    }

    /// The digest every party compares after key generation.
    pub fn confirmation_digest(&self) -> Result<[u8; 32], FrostError> {
        confirmation_digest(&self.public_key_package, &self.participants)
    }
}

/// `SHA-256("candela-frost-confirm-v1" || suite id || threshold ||
/// group key || for each party ascending: index || verifying share)`,
/// with every variable-length field length-prefixed.
pub fn confirmation_digest<C: Suite>(
    public: &PublicKeyPackage<C>,
    participants: &[PartyIndex],
) -> Result<[u8; 32], FrostError> {
    let enc = |e: frost_core::Error<C>| FrostError::Encoding(e.to_string());
    let mut h = Sha256::new();
    let mut field = |b: &[u8]| {
        h.update((b.len() as u32).to_be_bytes());
        h.update(b);
    };
    field(b"candela-frost-confirm-v1");
    field(C::ID.as_bytes());
    field(&public.min_signers().unwrap_or(0).to_be_bytes());
    field(&public.verifying_key().serialize().map_err(enc)?);
    let mut sorted = participants.to_vec();
    sorted.sort_unstable();
    for p in sorted {
        let id = identifier::<C>(p)?;
        let share = public
            .verifying_shares()
            .get(&id)
            .ok_or_else(|| FrostError::BadParameters(format!("no verifying share for {p}")))?;
        field(&p.to_be_bytes());
        field(&share.serialize().map_err(enc)?);
    }
    Ok(h.finalize().into())
}

/// One party's side of a FROST key generation.
pub struct DkgSession<C: Suite> {
    me: PartyIndex,
    threshold: u16,
    participants: Vec<PartyIndex>,
    round1_secret: Option<round1::SecretPackage<C>>,
    round1_out: Option<Vec<u8>>,
    round2_secret: Option<round2::SecretPackage<C>>,
    round2_out: Vec<(PartyIndex, Vec<u8>)>,
    round1_in: BTreeMap<Identifier<C>, round1::Package<C>>,
    round2_in: BTreeMap<Identifier<C>, round2::Package<C>>,
    confirm_in: BTreeMap<PartyIndex, [u8; 32]>,
    result: Option<FrostKeyShare<C>>,
    confirm_sent: bool,
    fault: Option<FrostError>,
}

impl<C: Suite> DkgSession<C> {
    /// Start a key generation among `participants` (distinct indices,
    /// `me` among them) with signing threshold `threshold`.
    pub fn new<R: RngCore + CryptoRng>(
        participants: &[PartyIndex],
        me: PartyIndex,
        threshold: u16,
        rng: &mut R,
    ) -> Result<Self, FrostError> {
        let mut parts = participants.to_vec();
        parts.sort_unstable();
        parts.dedup();
        if parts.len() != participants.len() {
            return Err(FrostError::BadParameters("duplicate participants".into()));
        }
        if !parts.contains(&me) {
            return Err(FrostError::BadParameters(format!(
                "party {me} is not a participant"
            )));
        }
        let n = u16::try_from(parts.len())
            .map_err(|_| FrostError::BadParameters("too many participants".into()))?;
        if threshold < 2 || threshold > n {
            return Err(FrostError::BadParameters(format!(
                "threshold {threshold} must be between 2 and {n}"
            )));
        }
        for p in &parts {
            identifier::<C>(*p)?;
        }
        let (secret, package) = dkg::part1::<C, _>(identifier::<C>(me)?, n, threshold, rng)
            .map_err(|e| FrostError::Frost(e.to_string()))?;
        let bytes = package
            .serialize()
            .map_err(|e| FrostError::Encoding(e.to_string()))?;
        Ok(Self {
            me,
            threshold,
            participants: parts,
            round1_secret: Some(secret),
            round1_out: Some(frame(TAG_ROUND1, &bytes)),
            round2_secret: None,
            round2_out: Vec::new(),
            round1_in: BTreeMap::new(),
            round2_in: BTreeMap::new(),
            confirm_in: BTreeMap::new(),
            result: None,
            confirm_sent: false,
            fault: None,
        })
    }

    fn others(&self) -> usize {
        self.participants.len() - 1
    }

    fn culprit(&self, e: &frost_core::Error<C>) -> FrostError {
        match e
            .culprits()
            .first()
            .and_then(|id| party_of(id, &self.participants))
        {
            Some(party) => FrostError::BadDkgPackage { party },
            None => FrostError::Frost(e.to_string()),
        }
    }

    fn start_round2(&mut self) -> Result<(), FrostError> {
        let Some(secret) = self.round1_secret.take() else {
            return Ok(());
        };
        let (secret2, packages) =
            dkg::part2(secret, &self.round1_in).map_err(|e| self.culprit(&e))?;
        for (id, package) in packages {
            let to = party_of(&id, &self.participants)
                .ok_or_else(|| FrostError::Frost("round 2 package for an unknown party".into()))?;
            let bytes = package
                .serialize()
                .map_err(|e| FrostError::Encoding(e.to_string()))?;
            self.round2_out.push((to, frame(TAG_ROUND2, &bytes)));
        }
        self.round2_secret = Some(secret2);
        Ok(())
    }

    fn finish_keygen(&mut self) -> Result<(), FrostError> {
        let Some(secret) = self.round2_secret.take() else {
            return Ok(());
        };
        let (key_package, public_key_package) =
            dkg::part3(&secret, &self.round1_in, &self.round2_in).map_err(|e| self.culprit(&e))?;
        self.result = Some(FrostKeyShare {
            me: self.me,
            threshold: self.threshold,
            participants: self.participants.clone(),
            key_package,
            public_key_package,
        });
        Ok(())
    }
}

impl<C: Suite> Session for DkgSession<C> {
    type Output = FrostKeyShare<C>;

    fn poke(&mut self) -> Result<Step<FrostKeyShare<C>>, FrostError> {
        if let Some(f) = self.fault.take() {
            return Err(f);
        }
        // Round 1: broadcast commitment and proof of knowledge.
        if let Some(m) = self.round1_out.take() {
            return Ok(Step::Send(Outgoing::Broadcast(m)));
        }
        if self.round1_in.len() < self.others() {
            return Ok(Step::Wait);
        }
        // Round 2: verify the proofs, send each party its share.
        self.start_round2()?;
        if let Some((to, m)) = self.round2_out.pop() {
            return Ok(Step::Send(Outgoing::Private(to, m)));
        }
        if self.round2_in.len() < self.others() {
            return Ok(Step::Wait);
        }
        // Round 3: verify the shares, then confirm the public key package.
        self.finish_keygen()?;
        let Some(result) = self.result.as_ref() else {
            return Err(FrostError::Frost("key generation produced nothing".into()));
        };
        let mine = result.confirmation_digest()?;
        if !self.confirm_sent {
            self.confirm_sent = true;
            return Ok(Step::Send(Outgoing::Broadcast(frame(TAG_CONFIRM, &mine))));
        }
        if self.confirm_in.len() < self.others() {
            return Ok(Step::Wait);
        }
        if let Some((&party, _)) = self.confirm_in.iter().find(|(_, d)| **d != mine) {
            return Err(FrostError::InconsistentKey { party });
        }
        match self.result.take() {
            Some(r) => Ok(Step::Done(r)),
            None => Err(FrostError::Frost("key generation already finished".into())),
        }
    }

    fn receive(&mut self, from: PartyIndex, message: Vec<u8>) {
        if from == self.me || !self.participants.contains(&from) {
            return;
        }
        let Ok(id) = identifier::<C>(from) else {
            return;
        };
        let bad = |reason: &str| FrostError::BadMessage {
            party: from,
            reason: reason.to_string(),
        };
        let Some((&tag, body)) = message.split_first() else {
            self.fault.get_or_insert(bad("empty message"));
            return;
        };
        match tag {
            TAG_ROUND1 => match round1::Package::<C>::deserialize(body) {
                Ok(p) => {
                    self.round1_in.entry(id).or_insert(p);
                }
                Err(_) => {
                    self.fault
                        .get_or_insert(bad("round 1 package does not decode"));
                }
            },
            TAG_ROUND2 => match round2::Package::<C>::deserialize(body) {
                Ok(p) => {
                    self.round2_in.entry(id).or_insert(p);
                }
                Err(_) => {
                    self.fault
                        .get_or_insert(bad("round 2 package does not decode"));
                }
            },
            TAG_CONFIRM => match <[u8; 32]>::try_from(body) {
                Ok(d) => {
                    self.confirm_in.entry(from).or_insert(d);
                }
                Err(_) => {
                    self.fault
                        .get_or_insert(bad("confirmation is not 32 bytes"));
                }
            },
            _ => {
                self.fault.get_or_insert(bad("unknown message tag"));
            }
        }
    }
}

fn frame(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(1 + body.len());
    m.push(tag);
    m.extend_from_slice(body);
    m
}
