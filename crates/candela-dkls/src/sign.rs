//! Signing: DKLs23 Protocol 3.6 among exactly `threshold` signers, three
//! message rounds after the digest is known, then a local combine.
//!
//! There are no presignatures: the digest enters phase 1 and every session
//! id of the pair multiplications, and the crate's safety argument for
//! derived keys (BIP-32, BOLT 3, and the PKP tweak here) relies on that.
//!
//! 1. private: commitment to the instance point, OT-extension message;
//! 2. private: decommitment, multiplication answers, consistency values;
//! 3. broadcast: `u_i`, `w_i`;
//! 4. local: `s = Σw / Σu`, checked as a signature under the derived key.
//!
//! The PKP key is `root + δ·G`: every signer adds the public tweak `δ` to
//! its Shamir share (the Lagrange coefficients of any signing set sum to
//! one), as `dkls23`'s own BIP-32 and BOLT 3 derivations do. The derived
//! key reuses the root's base-OT state; the derived public key is part of
//! every multiplication's session id, so sessions under different keys
//! never share an id.
use std::collections::{BTreeMap, VecDeque};

use candela_crypto::session::{Outgoing, Step};
use dkls23::protocols::signing::{
    Broadcast3to4, KeepPhase1to2, KeepPhase2to3, SignData, TransmitPhase1to2, TransmitPhase2to3,
    UniqueKeep1to2, UniqueKeep2to3,
};
use dkls23::protocols::PartyIndex;
use dkls23::secp256k1::Party;
use k256::ecdsa::signature::hazmat::PrehashVerifier;
use k256::ecdsa::{RecoveryId, Signature, VerifyingKey};
use k256::{AffinePoint, ProjectivePoint, Scalar};
use k256_v14::Secp256k1;

use crate::convert::{point_to_v14, scalar_to_v14};
use crate::error::from_abort;
use crate::session_id::{SeenSessions, SessionId};
use crate::share::{node_of, party_index, DklsKeyShare};
use crate::wire::{decode, encode, SignMessage};
use crate::{DklsError, DklsSession, ExclusionList, NodeIndex};

/// What to sign and with whom.
#[derive(Clone, Copy, Debug)]
pub struct SignRequest<'a> {
    /// The signing set: exactly `threshold` participants, this node among
    /// them (any order).
    pub signers: &'a [NodeIndex],
    /// The PKP's additive tweak `δ`: the key is `root + δ·G`.
    pub tweak: Scalar,
    /// The 32-byte digest to sign (ECDSA prehash).
    pub digest: [u8; 32],
    /// The request this signature answers (unique per request).
    pub request_id: &'a [u8],
}

/// A finished signature: standard k256 ECDSA (low-s) and its recovery id,
/// verified under `public_key`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DklsSignature {
    /// `(r, s)`, `s` in the lower half.
    pub signature: Signature,
    /// Recovery id for `public_key` and the digest.
    pub recovery_id: RecoveryId,
    /// The derived public key `root + δ·G` it verifies under.
    pub public_key: AffinePoint,
}

impl DklsSignature {
    /// Ethereum's 65-byte `r || s || v` with `v = 27 + recovery id`.
    pub fn to_eth_bytes(&self) -> [u8; 65] {
        let mut out = [0u8; 65];
        out[..64].copy_from_slice(&self.signature.to_bytes());
        out[64] = 27 + self.recovery_id.to_byte();
        out
    }
}

/// The derived public key `root + δ·G`.
pub fn derived_public_key(root: &AffinePoint, tweak: &Scalar) -> Result<AffinePoint, DklsError> {
    let pk = ProjectivePoint::from(*root) + ProjectivePoint::GENERATOR * tweak;
    if pk == ProjectivePoint::IDENTITY {
        return Err(DklsError::BadParameters(
            "tweak gives the identity key".into(),
        ));
    }
    Ok(pk.to_affine())
}

/// The combine/verify step: turn the protocol's `(r, s, recovery id)` into
/// a k256 signature, and check with plain k256 both that it verifies under
/// `public_key` and that the recovery id recovers that key.
pub fn verify_signature(
    public_key: &AffinePoint,
    digest: &[u8; 32],
    r: [u8; 32],
    s: [u8; 32],
    recovery_id: u8,
) -> Result<DklsSignature, DklsError> {
    let signature = Signature::from_scalars(r, s).map_err(|_| DklsError::SignatureDoesNotVerify)?;
    let vk =
        VerifyingKey::from_affine(*public_key).map_err(|_| DklsError::SignatureDoesNotVerify)?;
    vk.verify_prehash(digest, &signature)
        .map_err(|_| DklsError::SignatureDoesNotVerify)?;
    let recovery_id =
        RecoveryId::from_byte(recovery_id).ok_or(DklsError::SignatureDoesNotVerify)?;
    let recovered = VerifyingKey::recover_from_prehash(digest, &signature, recovery_id)
        .map_err(|_| DklsError::SignatureDoesNotVerify)?;
    if recovered != vk {
        return Err(DklsError::SignatureDoesNotVerify);
    }
    Ok(DklsSignature {
        signature,
        recovery_id,
        public_key: *public_key,
    })
}

/// The share of the derived key `root + δ·G`: the same party with `δ`
/// added to its Shamir share and its public key moved to the derived key.
fn tweaked_party(
    share: &DklsKeyShare,
    tweak: &Scalar,
    derived: &AffinePoint,
) -> Result<Party, DklsError> {
    let mut party = share.party.clone();
    if bool::from(k256::elliptic_curve::Field::is_zero(tweak)) {
        return Ok(party);
    }
    let delta = scalar_to_v14(tweak)?;
    let pk = point_to_v14(derived)?;
    party.poly_point += delta;
    party.pk = pk;
    party.derivation_data.poly_point = party.poly_point;
    party.derivation_data.pk = pk;
    Ok(party)
}

type Round1Keep = (
    UniqueKeep1to2<Secp256k1>,
    BTreeMap<PartyIndex, KeepPhase1to2<Secp256k1>>,
);
type Round2Keep = (
    UniqueKeep2to3<Secp256k1>,
    BTreeMap<PartyIndex, KeepPhase2to3<Secp256k1>>,
);

/// One node's side of a signing session.
pub struct DklsSign {
    me: NodeIndex,
    my_index: PartyIndex,
    participants: Vec<NodeIndex>,
    signers: Vec<NodeIndex>,
    party: Party,
    data: SignData,
    session_id: SessionId,
    public_key: AffinePoint,
    digest: [u8; 32],
    started: bool,
    round: u8,
    outbox: VecDeque<Outgoing>,
    fault: Option<DklsError>,
    keep1: Option<Round1Keep>,
    keep2: Option<Round2Keep>,
    x_coord: Option<String>,
    round1: BTreeMap<NodeIndex, TransmitPhase1to2>,
    round2: BTreeMap<NodeIndex, TransmitPhase2to3<Secp256k1>>,
    round3: BTreeMap<NodeIndex, Broadcast3to4<Secp256k1>>,
}

impl std::fmt::Debug for DklsSign {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DklsSign")
            .field("me", &self.me)
            .field("signers", &self.signers)
            .field("session_id", &self.session_id)
            .field("round", &self.round)
            .finish_non_exhaustive()
    }
}

impl DklsSign {
    /// Start signing `request` with `share`. Refuses a signing set that is
    /// not exactly `threshold` participants including this node, that
    /// includes a node of `excluded`, or whose session id (derived from
    /// the root key, tweak, digest, signer set and request id) is in
    /// `seen`; records the session id in `seen` once every check passed.
    pub fn new(
        share: &DklsKeyShare,
        request: &SignRequest<'_>,
        excluded: &ExclusionList,
        seen: &mut dyn SeenSessions,
    ) -> Result<Self, DklsError> {
        let mut signers = request.signers.to_vec();
        signers.sort_unstable();
        signers.dedup();
        if signers.len() != request.signers.len() {
            return Err(DklsError::BadParameters("duplicate signer".into()));
        }
        if signers.len() != share.threshold {
            return Err(DklsError::BadParameters(format!(
                "signing set has {} nodes, it must have exactly the threshold {}",
                signers.len(),
                share.threshold
            )));
        }
        if let Some(s) = signers
            .iter()
            .find(|s| party_index(&share.participants, **s).is_none())
        {
            return Err(DklsError::BadParameters(format!(
                "node {s} holds no share of this key"
            )));
        }
        if !signers.contains(&share.me) {
            return Err(DklsError::BadParameters(
                "this node is not in the signing set".into(),
            ));
        }
        excluded.check(&signers)?;
        let session_id = SessionId::derive(
            &share.public_key,
            &request.tweak,
            &request.digest,
            &signers,
            request.request_id,
        );
        if seen.contains(&session_id) {
            return Err(DklsError::SessionIdReused(session_id.to_string()));
        }
        let public_key = derived_public_key(&share.public_key, &request.tweak)?;
        let party = tweaked_party(share, &request.tweak, &public_key)?;
        let mut counterparties = Vec::with_capacity(signers.len() - 1);
        for &s in signers.iter().filter(|s| **s != share.me) {
            counterparties.push(
                party_index(&share.participants, s)
                    .ok_or_else(|| DklsError::BadParameters(format!("node {s} has no index")))?,
            );
        }
        let my_index = party.party_index;
        seen.insert(session_id);
        Ok(DklsSign {
            me: share.me,
            my_index,
            participants: share.participants.clone(),
            signers,
            party,
            data: SignData {
                sign_id: session_id.0.to_vec(),
                counterparties,
                message_hash: request.digest,
            },
            session_id,
            public_key,
            digest: request.digest,
            started: false,
            round: 1,
            outbox: VecDeque::new(),
            fault: None,
            keep1: None,
            keep2: None,
            x_coord: None,
            round1: BTreeMap::new(),
            round2: BTreeMap::new(),
            round3: BTreeMap::new(),
        })
    }

    /// This session's id.
    pub fn session_id(&self) -> SessionId {
        self.session_id
    }

    /// The derived public key the signature will verify under.
    pub fn public_key(&self) -> AffinePoint {
        self.public_key
    }

    fn abort_err(&self, abort: dkls23::protocols::Abort) -> DklsError {
        from_abort(abort, |p| node_of(&self.participants, p))
    }

    fn node(&self, p: PartyIndex) -> Result<NodeIndex, DklsError> {
        node_of(&self.participants, p)
            .ok_or_else(|| DklsError::Aborted(format!("message names unknown party {p}")))
    }

    fn start(&mut self) -> Result<(), DklsError> {
        self.started = true;
        let (unique, keep, transmit) = self
            .party
            .sign_phase1(&self.data)
            .map_err(|a| self.abort_err(a))?;
        self.keep1 = Some((unique, keep));
        for m in transmit {
            let to = self.node(m.parties.receiver)?;
            self.outbox
                .push_back(Outgoing::Private(to, encode(&SignMessage::Round1(m))?));
        }
        Ok(())
    }

    fn phase2(&mut self) -> Result<(), DklsError> {
        let (unique, keep) = self
            .keep1
            .take()
            .ok_or_else(|| DklsError::Aborted("phase 2 out of order".into()))?;
        let received: Vec<TransmitPhase1to2> =
            std::mem::take(&mut self.round1).into_values().collect();
        let (unique, keep, transmit) = self
            .party
            .sign_phase2(&self.data, unique, keep, &received)
            .map_err(|a| self.abort_err(a))?;
        self.keep2 = Some((unique, keep));
        for m in transmit {
            let to = self.node(m.parties.receiver)?;
            self.outbox
                .push_back(Outgoing::Private(to, encode(&SignMessage::Round2(m))?));
        }
        Ok(())
    }

    fn phase3(&mut self) -> Result<(), DklsError> {
        let (unique, keep) = self
            .keep2
            .take()
            .ok_or_else(|| DklsError::Aborted("phase 3 out of order".into()))?;
        let received: Vec<TransmitPhase2to3<Secp256k1>> =
            std::mem::take(&mut self.round2).into_values().collect();
        let (x_coord, broadcast) = self
            .party
            .sign_phase3(&self.data, unique, keep, &received)
            .map_err(|a| self.abort_err(a))?;
        self.x_coord = Some(x_coord);
        self.outbox
            .push_back(Outgoing::Broadcast(encode(&SignMessage::Round3(
                broadcast.clone(),
            ))?));
        self.round3.insert(self.me, broadcast);
        Ok(())
    }

    fn phase4(&mut self) -> Result<DklsSignature, DklsError> {
        let x_coord = self
            .x_coord
            .take()
            .ok_or_else(|| DklsError::Aborted("phase 4 out of order".into()))?;
        let received: Vec<Broadcast3to4<Secp256k1>> =
            std::mem::take(&mut self.round3).into_values().collect();
        let (s_hex, recovery_id) = self
            .party
            .sign_phase4(&self.data, &x_coord, &received, true)
            .map_err(|a| self.abort_err(a))?;
        let hex32 = |h: &str| -> Result<[u8; 32], DklsError> {
            let mut out = [0u8; 32];
            hex::decode_to_slice(h, &mut out)
                .map_err(|e| DklsError::Encoding(format!("signature hex: {e}")))?;
            Ok(out)
        };
        verify_signature(
            &self.public_key,
            &self.digest,
            hex32(&x_coord)?,
            hex32(&s_hex)?,
            recovery_id,
        )
    }

    fn accept(&mut self, from: NodeIndex, message: SignMessage) -> Result<(), DklsError> {
        let from_index = party_index(&self.participants, from)
            .ok_or_else(|| DklsError::Aborted(format!("node {from} has no index")))?;
        let lied = DklsError::Blamed {
            party: from,
            reason: "message names another sender or receiver".into(),
            leaks_ot_state: false,
        };
        let route_ok = |p: &dkls23::protocols::PartiesMessage| {
            p.sender == from_index && p.receiver == self.my_index
        };
        match message {
            SignMessage::Round1(m) => {
                if !route_ok(&m.parties) {
                    return Err(lied);
                }
                self.round1.entry(from).or_insert(m);
            }
            SignMessage::Round2(m) => {
                if !route_ok(&m.parties) {
                    return Err(lied);
                }
                self.round2.entry(from).or_insert(m);
            }
            SignMessage::Round3(m) => {
                self.round3.entry(from).or_insert(m);
            }
        }
        Ok(())
    }
}

impl DklsSession for DklsSign {
    type Output = DklsSignature;

    fn poke(&mut self) -> Result<Step<DklsSignature>, DklsError> {
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
        let others = self.signers.len() - 1;
        match self.round {
            1 if self.round1.len() == others => {
                self.phase2()?;
                self.round = 2;
                self.poke()
            }
            2 if self.round2.len() == others => {
                self.phase3()?;
                self.round = 3;
                self.poke()
            }
            3 if self.round3.len() == others + 1 => {
                let sig = self.phase4()?;
                self.round = 4;
                Ok(Step::Done(sig))
            }
            4 => Err(DklsError::Aborted("signing already finished".into())),
            _ => Ok(Step::Wait),
        }
    }

    fn receive(&mut self, from: NodeIndex, message: Vec<u8>) {
        if from == self.me || !self.signers.contains(&from) || self.fault.is_some() {
            return;
        }
        let result = match decode::<SignMessage>(&message) {
            Ok(m) => self.accept(from, m),
            Err(e) => Err(DklsError::Blamed {
                party: from,
                reason: format!("malformed signing message: {e}"),
                leaks_ot_state: false,
            }),
        };
        if let Err(e) = result {
            self.fault = Some(e);
        }
    }
}
