//! A node's DKLs23 key share: its Shamir share of the root key, the base-OT
//! state of every pair it belongs to, its zero-share seeds and the chain
//! code, with the root public key in the workspace's k256.
use std::collections::BTreeMap;

use dkls23::protocols::PartyIndex;
use dkls23::secp256k1::Party;
use k256::AffinePoint;
use serde::{Deserialize, Serialize};

use crate::convert::{point_from_sec1, point_from_v14, point_to_sec1};
use crate::{DklsError, NodeIndex};

/// A node's long-term DKLs23 share of the root key (secret: encrypt before
/// storing). About 52 KB per other participant, most of it base-OT state.
#[derive(Clone)]
pub struct DklsKeyShare {
    pub(crate) me: NodeIndex,
    pub(crate) threshold: usize,
    /// Sorted; node `participants[i]` is DKLs23 party `i + 1`.
    pub(crate) participants: Vec<NodeIndex>,
    pub(crate) public_key: AffinePoint,
    pub(crate) public_shares: BTreeMap<NodeIndex, AffinePoint>,
    pub(crate) party: Party,
}

impl std::fmt::Debug for DklsKeyShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DklsKeyShare")
            .field("me", &self.me)
            .field("threshold", &self.threshold)
            .field("participants", &self.participants)
            .field("public_key", &point_to_sec1(&self.public_key))
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Map a sorted participant list to DKLs23 party indices (1-based).
pub(crate) fn party_index(participants: &[NodeIndex], node: NodeIndex) -> Option<PartyIndex> {
    let pos = participants.binary_search(&node).ok()?;
    PartyIndex::new(u8::try_from(pos + 1).ok()?).ok()
}

/// The node behind a DKLs23 party index.
pub(crate) fn node_of(participants: &[NodeIndex], index: PartyIndex) -> Option<NodeIndex> {
    participants
        .get(usize::from(index.as_u8()).checked_sub(1)?)
        .copied()
}

/// The stored form (fields in the same order as [`ShareRecordRef`]).
#[derive(Deserialize)]
struct ShareRecord {
    me: NodeIndex,
    threshold: u32,
    participants: Vec<NodeIndex>,
    public_key: Vec<u8>,
    public_shares: Vec<(NodeIndex, Vec<u8>)>,
    party: Party,
}

/// [`ShareRecord`] borrowing the party, to serialize without a copy.
#[derive(Serialize)]
struct ShareRecordRef<'a> {
    me: NodeIndex,
    threshold: u32,
    participants: &'a [NodeIndex],
    public_key: Vec<u8>,
    public_shares: Vec<(NodeIndex, Vec<u8>)>,
    party: &'a Party,
}

fn sec1(bytes: &[u8]) -> Result<AffinePoint, DklsError> {
    let arr: [u8; 33] = bytes
        .try_into()
        .map_err(|_| DklsError::Encoding("point is not 33 bytes".into()))?;
    point_from_sec1(&arr)
}

impl DklsKeyShare {
    /// This node.
    pub fn me(&self) -> NodeIndex {
        self.me
    }

    /// Signers needed (every signing set has exactly this many).
    pub fn threshold(&self) -> usize {
        self.threshold
    }

    /// Every node that took part in the key generation, sorted.
    pub fn participants(&self) -> &[NodeIndex] {
        &self.participants
    }

    /// The root public key.
    pub fn public_key(&self) -> AffinePoint {
        self.public_key
    }

    /// The root public key, compressed SEC1.
    pub fn public_key_sec1(&self) -> [u8; 33] {
        point_to_sec1(&self.public_key)
    }

    /// The BIP-32 chain code all participants agreed on in the DKG (it is
    /// part of every signing session's ids).
    pub fn chain_code(&self) -> [u8; 32] {
        self.party.derivation_data.chain_code
    }

    /// This node's Shamir share `p(i)` of the root key (secret), at the
    /// evaluation point `i` = its 1-based position among the participants;
    /// checked against its public share.
    pub fn shamir_share(&self) -> Result<k256::Scalar, DklsError> {
        let s = crate::convert::scalar_from_v14(&self.party.poly_point)?;
        let public = (k256::ProjectivePoint::GENERATOR * s).to_affine();
        if self.public_shares.get(&self.me) != Some(&public) {
            return Err(DklsError::Encoding(
                "key share: secret does not match its public share".into(),
            ));
        }
        Ok(s)
    }

    /// Every participant's public share `p(j)·G`.
    pub fn public_shares(&self) -> &BTreeMap<NodeIndex, AffinePoint> {
        &self.public_shares
    }

    /// Serialize ([`crate::wire`]'s encoding; secret included: encrypt
    /// before storing).
    pub fn to_bytes(&self) -> Result<Vec<u8>, DklsError> {
        let rec = ShareRecordRef {
            me: self.me,
            threshold: u32::try_from(self.threshold)
                .map_err(|_| DklsError::Encoding("threshold too large".into()))?,
            participants: &self.participants,
            public_key: point_to_sec1(&self.public_key).to_vec(),
            public_shares: self
                .public_shares
                .iter()
                .map(|(n, p)| (*n, point_to_sec1(p).to_vec()))
                .collect(),
            party: &self.party,
        };
        crate::wire::encode(&rec)
    }

    /// Parse what [`DklsKeyShare::to_bytes`] wrote, checking that its parts
    /// agree with each other.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DklsError> {
        let rec: ShareRecord = crate::wire::decode(bytes)?;
        let public_key = sec1(&rec.public_key)?;
        let mut public_shares = BTreeMap::new();
        for (n, p) in &rec.public_shares {
            public_shares.insert(*n, sec1(p)?);
        }
        let bad = |what: &str| DklsError::Encoding(format!("key share: {what}"));
        if !rec.participants.windows(2).all(|w| w[0] < w[1]) {
            return Err(bad("participants not sorted"));
        }
        if party_index(&rec.participants, rec.me) != Some(rec.party.party_index) {
            return Err(bad("party index does not match the node"));
        }
        if point_from_v14(&rec.party.pk)? != public_key {
            return Err(bad("public key does not match the share"));
        }
        if usize::from(rec.party.parameters.threshold) != rec.threshold as usize
            || usize::from(rec.party.parameters.share_count) != rec.participants.len()
        {
            return Err(bad("parameters do not match"));
        }
        Ok(DklsKeyShare {
            me: rec.me,
            threshold: rec.threshold as usize,
            participants: rec.participants,
            public_key,
            public_shares,
            party: rec.party,
        })
    }
}
