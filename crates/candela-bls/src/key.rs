//! A node's share of the BLS root key, and the key's public part.
use std::collections::BTreeMap;

use blsful::inner_types::{G1Projective, Group, Scalar};
use zeroize::{Zeroize, Zeroizing};

use crate::encoding::{
    g1_from_bytes, g1_to_bytes, public_key_to_hex, scalar_from_bytes, G1_BYTES, SCALAR_BYTES,
};
use crate::poly::check_public_shares;
use crate::sign::{self, BlsSignatureShare};
use crate::{BlsError, NodeIndex, MAX_NODE_INDEX};

/// Leading bytes of [`BlsKeyShare::to_bytes`].
const KEY_MAGIC: &[u8; 4] = b"cbks";
/// Leading bytes of [`BlsPublicKeySet::to_bytes`].
const SET_MAGIC: &[u8; 4] = b"cbps";
/// Version of both records.
const VERSION: u8 = 1;

/// A node's long-term share of the BLS root key, the output of the DKG.
///
/// The secret is zeroized on drop and never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct BlsKeyShare {
    /// This node.
    pub me: NodeIndex,
    /// Parties needed to sign or decrypt (`t`; the polynomial has degree
    /// `t - 1`).
    pub threshold: usize,
    /// Every node that took part in the key generation, ascending.
    pub participants: Vec<NodeIndex>,
    /// This node's Shamir share `x_me` of the root secret (secret).
    pub secret: Scalar,
    /// The root public key `x·G1`.
    pub public_key: G1Projective,
    /// Every participant's public share `x_j·G1`.
    pub public_shares: BTreeMap<NodeIndex, G1Projective>,
}

impl Drop for BlsKeyShare {
    fn drop(&mut self) {
        self.secret.zeroize();
    }
}

impl std::fmt::Debug for BlsKeyShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlsKeyShare")
            .field("me", &self.me)
            .field("threshold", &self.threshold)
            .field("participants", &self.participants)
            .field("secret", &"<redacted>")
            .field("public_key", &self.public_key_hex())
            .finish()
    }
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// A cursor over a record being parsed.
struct Reader<'a> {
    rest: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], BlsError> {
        if self.rest.len() < n {
            return Err(BlsError::Encoding(format!("{}: truncated", self.what)));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32, BlsError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn header(&mut self, magic: &[u8; 4]) -> Result<(), BlsError> {
        if self.take(4)? != magic {
            return Err(BlsError::Encoding(format!("{}: wrong magic", self.what)));
        }
        let v = self.take(1)?[0];
        if v != VERSION {
            return Err(BlsError::Encoding(format!(
                "{}: unknown version {v}",
                self.what
            )));
        }
        Ok(())
    }

    fn end(&self) -> Result<(), BlsError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(BlsError::Encoding(format!("{}: trailing bytes", self.what)))
        }
    }
}

/// Check a participant list: ascending, distinct, within the index limit,
/// and a threshold in `1..=n`.
pub(crate) fn check_parameters(
    participants: &[NodeIndex],
    threshold: usize,
) -> Result<(), BlsError> {
    if participants.is_empty() {
        return Err(BlsError::BadParameters("no participants".into()));
    }
    if participants.windows(2).any(|w| w[0] >= w[1]) {
        return Err(BlsError::BadParameters(
            "participants must be ascending and distinct".into(),
        ));
    }
    if participants.iter().any(|&p| p > MAX_NODE_INDEX) {
        return Err(BlsError::BadParameters(format!(
            "node indices must be at most {MAX_NODE_INDEX}"
        )));
    }
    if threshold == 0 || threshold > participants.len() {
        return Err(BlsError::BadParameters(format!(
            "threshold {threshold} for {} participants",
            participants.len()
        )));
    }
    Ok(())
}

impl BlsKeyShare {
    /// The root public key as hex: 48-byte compressed G1, 96 characters,
    /// no `0x`.
    pub fn public_key_hex(&self) -> String {
        public_key_to_hex(&self.public_key)
    }

    /// The key's public part, to publish to clients.
    pub fn public_set(&self) -> BlsPublicKeySet {
        BlsPublicKeySet {
            threshold: self.threshold,
            public_key: self.public_key,
            public_shares: self.public_shares.clone(),
        }
    }

    /// This node's signature share over `msg` (see [`sign::sign_share`]).
    pub fn sign_share(&self, msg: &[u8]) -> Result<BlsSignatureShare, BlsError> {
        sign::sign_share(self, msg)
    }

    /// Serialize for sealed storage (secret included: encrypt before
    /// storing). Layout, integers big-endian: `"cbks"`, version `1`,
    /// `me` u32, `threshold` u32, `n` u32, `n` participant u32s, the 32-byte
    /// secret, the 48-byte public key, then the `n` 48-byte public shares in
    /// participant order: `97 + 52·n` bytes.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let n = self.participants.len();
        let mut out = Zeroizing::new(Vec::with_capacity(
            4 + 1 + 12 + 4 * n + SCALAR_BYTES + G1_BYTES * (n + 1),
        ));
        out.extend_from_slice(KEY_MAGIC);
        out.push(VERSION);
        put_u32(&mut out, self.me);
        put_u32(&mut out, u32::try_from(self.threshold).unwrap_or(u32::MAX));
        put_u32(&mut out, u32::try_from(n).unwrap_or(u32::MAX));
        for &p in &self.participants {
            put_u32(&mut out, p);
        }
        let mut secret = self.secret.to_be_bytes();
        out.extend_from_slice(&secret);
        secret.zeroize();
        out.extend_from_slice(&g1_to_bytes(&self.public_key));
        for p in &self.participants {
            let share = self
                .public_shares
                .get(p)
                .copied()
                .unwrap_or_else(G1Projective::identity);
            out.extend_from_slice(&g1_to_bytes(&share));
        }
        out
    }

    /// Parse what [`BlsKeyShare::to_bytes`] wrote, checking that the secret
    /// matches this node's public share and that the public shares lie on
    /// one polynomial of degree `threshold - 1` through the public key.
    pub fn from_bytes(b: &[u8]) -> Result<Self, BlsError> {
        let mut r = Reader {
            rest: b,
            what: "BLS key share",
        };
        r.header(KEY_MAGIC)?;
        let me = r.u32()?;
        let threshold = r.u32()? as usize;
        let n = r.u32()? as usize;
        if n > MAX_NODE_INDEX as usize + 1 {
            return Err(BlsError::Encoding(
                "BLS key share: too many participants".into(),
            ));
        }
        let participants = (0..n).map(|_| r.u32()).collect::<Result<Vec<_>, _>>()?;
        check_parameters(&participants, threshold)?;
        if !participants.contains(&me) {
            return Err(BlsError::Encoding(
                "BLS key share: owner is not a participant".into(),
            ));
        }
        let secret = scalar_from_bytes(r.take(SCALAR_BYTES)?)?;
        let public_key = g1_from_bytes(r.take(G1_BYTES)?)?;
        let mut public_shares = BTreeMap::new();
        for &p in &participants {
            public_shares.insert(p, g1_from_bytes(r.take(G1_BYTES)?)?);
        }
        r.end()?;
        let key = BlsKeyShare {
            me,
            threshold,
            participants,
            secret,
            public_key,
            public_shares,
        };
        if key.public_shares.get(&me) != Some(&(G1Projective::GENERATOR * key.secret)) {
            return Err(BlsError::Encoding(
                "BLS key share: secret does not match its public share".into(),
            ));
        }
        check_public_shares(&key.public_shares, key.threshold, &key.public_key)?;
        Ok(key)
    }
}

/// The public part of the BLS root key: what clients need to verify each
/// node's signature or decryption share and name a node whose share fails.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlsPublicKeySet {
    /// Shares needed to combine.
    pub threshold: usize,
    /// The root public key.
    pub public_key: G1Projective,
    /// Every node's public share.
    pub public_shares: BTreeMap<NodeIndex, G1Projective>,
}

impl BlsPublicKeySet {
    /// Build a set, checking that the public shares lie on one polynomial of
    /// degree `threshold - 1` through the public key.
    pub fn new(
        threshold: usize,
        public_key: G1Projective,
        public_shares: BTreeMap<NodeIndex, G1Projective>,
    ) -> Result<Self, BlsError> {
        let nodes: Vec<NodeIndex> = public_shares.keys().copied().collect();
        check_parameters(&nodes, threshold)?;
        check_public_shares(&public_shares, threshold, &public_key)?;
        Ok(BlsPublicKeySet {
            threshold,
            public_key,
            public_shares,
        })
    }

    /// The root public key as hex (48-byte compressed G1, no `0x`).
    pub fn public_key_hex(&self) -> String {
        public_key_to_hex(&self.public_key)
    }

    /// A node's public share.
    pub fn public_share(&self, node: NodeIndex) -> Result<&G1Projective, BlsError> {
        self.public_shares
            .get(&node)
            .ok_or(BlsError::UnknownNode { node })
    }

    /// Verify one node's share over `msg` against its public share; a
    /// failure names the node.
    pub fn verify_share(&self, msg: &[u8], share: &BlsSignatureShare) -> Result<(), BlsError> {
        sign::verify_share(self.public_share(share.node())?, msg, share)
    }

    /// Serialize: `"cbps"`, version `1`, `threshold` u32, `n` u32, the
    /// 48-byte public key, then `n` times (node u32, 48-byte public share):
    /// `61 + 52·n` bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let n = self.public_shares.len();
        let mut out = Vec::with_capacity(4 + 1 + 8 + G1_BYTES + (4 + G1_BYTES) * n);
        out.extend_from_slice(SET_MAGIC);
        out.push(VERSION);
        put_u32(&mut out, u32::try_from(self.threshold).unwrap_or(u32::MAX));
        put_u32(&mut out, u32::try_from(n).unwrap_or(u32::MAX));
        out.extend_from_slice(&g1_to_bytes(&self.public_key));
        for (&i, p) in &self.public_shares {
            put_u32(&mut out, i);
            out.extend_from_slice(&g1_to_bytes(p));
        }
        out
    }

    /// Parse and check what [`BlsPublicKeySet::to_bytes`] wrote.
    pub fn from_bytes(b: &[u8]) -> Result<Self, BlsError> {
        let mut r = Reader {
            rest: b,
            what: "BLS public key set",
        };
        r.header(SET_MAGIC)?;
        let threshold = r.u32()? as usize;
        let n = r.u32()? as usize;
        if n > MAX_NODE_INDEX as usize + 1 {
            return Err(BlsError::Encoding(
                "BLS public key set: too many shares".into(),
            ));
        }
        let public_key = g1_from_bytes(r.take(G1_BYTES)?)?;
        let mut shares = BTreeMap::new();
        for _ in 0..n {
            let i = r.u32()?;
            let p = g1_from_bytes(r.take(G1_BYTES)?)?;
            if shares.insert(i, p).is_some() {
                return Err(BlsError::Encoding(format!(
                    "BLS public key set: node {i} twice"
                )));
            }
        }
        r.end()?;
        BlsPublicKeySet::new(threshold, public_key, shares)
    }
}
