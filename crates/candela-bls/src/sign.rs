//! Threshold BLS signatures: a node's share, its verification, combination
//! and verification of the result.
//!
//! Everything uses blsful's `Bls12381G2Impl` with the proof-of-possession
//! scheme ([`crate::SCHEME`]): public keys and public shares in G1 (48 bytes
//! compressed), signatures and signature shares in G2 (96 bytes compressed).
//!
//! Wire form of a share (97 bytes, 194 hex characters, no `0x`): one
//! identifier byte, the node's Shamir x-coordinate `index + 1`, then the
//! 96-byte compressed G2 point. blsful's own serialization differs (see
//! [`BlsSignatureShare::to_blsful`]); this crate converts.
use std::collections::BTreeSet;

use blsful::inner_types::{G1Projective, G2Projective, Scalar};
use blsful::vsss_rs::{GroupShare, PrimeFieldShare};
use blsful::{Bls12381G2Impl, InnerPointShareG2, SecretKeyShare, Signature, SignatureShare};

use crate::encoding::{g2_from_bytes, g2_to_bytes, hex_decode, G2_BYTES};
use crate::key::BlsPublicKeySet;
use crate::poly::x_of;
use crate::{BlsError, BlsKeyShare, Fault, NodeIndex, MAX_NODE_INDEX, SCHEME};

/// Length of a share's wire form: identifier byte + compressed G2.
pub const SHARE_BYTES: usize = 1 + G2_BYTES;

/// One node's share of a BLS signature (or of an IBE decryption key).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct BlsSignatureShare {
    node: NodeIndex,
    value: G2Projective,
}

impl std::fmt::Debug for BlsSignatureShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlsSignatureShare")
            .field("node", &self.node)
            .field("value", &hex::encode(g2_to_bytes(&self.value)))
            .finish()
    }
}

impl BlsSignatureShare {
    /// A share from its parts (`node` must be at most [`MAX_NODE_INDEX`]).
    pub fn new(node: NodeIndex, value: G2Projective) -> Result<Self, BlsError> {
        if node > MAX_NODE_INDEX {
            return Err(BlsError::BadParameters(format!(
                "node index {node} above {MAX_NODE_INDEX}"
            )));
        }
        Ok(BlsSignatureShare { node, value })
    }

    /// The node that made it.
    pub fn node(&self) -> NodeIndex {
        self.node
    }

    /// The share's G2 point `x_node·H(msg)`.
    pub fn value(&self) -> &G2Projective {
        &self.value
    }

    /// The wire form: identifier byte `node + 1`, then the 96-byte
    /// compressed G2 point.
    pub fn to_bytes(&self) -> [u8; SHARE_BYTES] {
        let mut out = [0u8; SHARE_BYTES];
        // `node <= MAX_NODE_INDEX` (254) is checked on construction.
        out[0] = u8::try_from(self.node + 1).unwrap_or(u8::MAX);
        out[1..].copy_from_slice(&g2_to_bytes(&self.value));
        out
    }

    /// Parse the wire form.
    pub fn from_bytes(b: &[u8]) -> Result<Self, BlsError> {
        if b.len() != SHARE_BYTES {
            return Err(BlsError::Encoding(format!(
                "signature share must be {SHARE_BYTES} bytes, got {}",
                b.len()
            )));
        }
        if b[0] == 0 {
            return Err(BlsError::Encoding("share identifier 0".into()));
        }
        let node = NodeIndex::from(b[0]) - 1;
        BlsSignatureShare::new(node, g2_from_bytes(&b[1..])?)
    }

    /// The wire form as hex (194 characters, no `0x`).
    pub fn to_hex(&self) -> String {
        hex::encode(self.to_bytes())
    }

    /// Parse [`BlsSignatureShare::to_hex`] (a leading `0x` is accepted).
    pub fn from_hex(s: &str) -> Result<Self, BlsError> {
        Self::from_bytes(&hex_decode(s)?)
    }

    /// As blsful's type: identifier `node + 1` as a full scalar. blsful
    /// serializes that type differently from the wire form here: raw, a
    /// 32-byte big-endian identifier then the 96-byte point (128 bytes);
    /// through `Vec::<u8>::try_from`, serde_bare of `(scheme, share)`.
    pub fn to_blsful(&self) -> SignatureShare<Bls12381G2Impl> {
        SignatureShare::ProofOfPossession(InnerPointShareG2(GroupShare::from((
            x_of(self.node),
            self.value,
        ))))
    }

    /// From blsful's type; the identifier must be a small integer `1..=255`
    /// and the scheme proof-of-possession.
    pub fn from_blsful(s: &SignatureShare<Bls12381G2Impl>) -> Result<Self, BlsError> {
        if s.scheme() != SCHEME {
            return Err(BlsError::Encoding(
                "share is not a proof-of-possession share".into(),
            ));
        }
        let inner = s.as_raw_value();
        let id: Scalar = inner.0.identifier.0;
        let bytes = id.to_be_bytes();
        if bytes[..31].iter().any(|&b| b != 0) || bytes[31] == 0 {
            return Err(BlsError::Encoding(
                "share identifier is not in 1..=255".into(),
            ));
        }
        BlsSignatureShare::new(NodeIndex::from(bytes[31]) - 1, inner.0.value.0)
    }
}

impl serde::Serialize for BlsSignatureShare {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for BlsSignatureShare {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::from_hex(&s).map_err(serde::de::Error::custom)
    }
}

/// A combined BLS signature (a G2 point).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct BlsSignature(pub G2Projective);

impl std::fmt::Debug for BlsSignature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BlsSignature({})", self.to_hex())
    }
}

impl BlsSignature {
    /// 96-byte compressed G2.
    pub fn to_bytes(&self) -> [u8; G2_BYTES] {
        g2_to_bytes(&self.0)
    }

    /// Parse 96-byte compressed G2 (subgroup-checked, identity refused).
    pub fn from_bytes(b: &[u8]) -> Result<Self, BlsError> {
        g2_from_bytes(b).map(BlsSignature)
    }

    /// Hex of [`BlsSignature::to_bytes`] (192 characters, no `0x`).
    pub fn to_hex(&self) -> String {
        hex::encode(self.to_bytes())
    }

    /// Parse [`BlsSignature::to_hex`] (a leading `0x` is accepted).
    pub fn from_hex(s: &str) -> Result<Self, BlsError> {
        Self::from_bytes(&hex_decode(s)?)
    }

    /// As blsful's proof-of-possession signature.
    pub fn to_blsful(&self) -> Signature<Bls12381G2Impl> {
        Signature::ProofOfPossession(self.0)
    }
}

impl serde::Serialize for BlsSignature {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for BlsSignature {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::from_hex(&s).map_err(serde::de::Error::custom)
    }
}

/// This node's signature share over `msg`: `x_me·H(msg)` with blsful's
/// proof-of-possession signing, identifier `me + 1`.
pub fn sign_share(key: &BlsKeyShare, msg: &[u8]) -> Result<BlsSignatureShare, BlsError> {
    let value = crate::fast::sign(&key.secret, msg)?;
    BlsSignatureShare::new(key.me, value)
}

/// The same share computed by blsful (the reference [`sign_share`] is
/// tested against).
pub fn sign_share_reference(key: &BlsKeyShare, msg: &[u8]) -> Result<BlsSignatureShare, BlsError> {
    // The temporary blsful share zeroizes itself on drop.
    let sks = SecretKeyShare::<Bls12381G2Impl>(PrimeFieldShare::<Scalar>::from((
        x_of(key.me),
        key.secret,
    )));
    let share = sks.sign(SCHEME, msg)?;
    BlsSignatureShare::new(key.me, share.as_raw_value().0.value.0)
}

/// Verify one node's share over `msg` against that node's public share
/// `x_node·G1`; a failure names the node
/// ([`BlsError::Culprit`] with [`Fault::InvalidSignatureShare`]).
pub fn verify_share(
    public_share: &G1Projective,
    msg: &[u8],
    share: &BlsSignatureShare,
) -> Result<(), BlsError> {
    if crate::fast::verify(public_share, msg, &share.value) {
        Ok(())
    } else {
        Err(BlsError::Culprit {
            node: share.node,
            reason: Fault::InvalidSignatureShare,
        })
    }
}

/// Verify many shares over one message against their nodes' public shares
/// in one check. With random 128-bit weights `rᵢ` it tests
/// `e(Σ rᵢ·PKᵢ, H(m)) = e(g₁, Σ rᵢ·σᵢ)`: one hash to G2 and one product of
/// two pairings for any number of shares, instead of a hash and two
/// pairings per share. A batch holding an invalid share passes with
/// probability at most 2⁻¹²⁸; when the batch fails, each share is checked
/// alone so that every bad one is named.
///
/// Returns one error per share that fails ([`BlsError::Culprit`]) or whose
/// node is not in the set ([`BlsError::UnknownNode`]); empty when all are
/// valid.
pub fn verify_shares(
    public: &BlsPublicKeySet,
    msg: &[u8],
    shares: &[BlsSignatureShare],
) -> Vec<BlsError> {
    let mut errors = Vec::new();
    let mut known = Vec::with_capacity(shares.len());
    for s in shares {
        match public.public_share(s.node) {
            Ok(pk) => known.push((s, *pk)),
            Err(e) => errors.push(e),
        }
    }
    if known.is_empty() {
        return errors;
    }
    let pairs: Vec<(G1Projective, G2Projective)> =
        known.iter().map(|(s, pk)| (*pk, s.value)).collect();
    if !crate::fast::verify_batch(msg, &pairs) {
        for (s, pk) in known {
            if let Err(e) = verify_share(&pk, msg, s) {
                errors.push(e);
            }
        }
    }
    errors
}

/// Combine shares by Lagrange interpolation in G2 (blsful's
/// `Signature::from_shares`). Distinct nodes are required. The result is
/// only right with at least `threshold` valid shares and nothing here can
/// tell: **verify it** ([`verify`]) or use [`combine_verified`].
pub fn combine(shares: &[BlsSignatureShare]) -> Result<BlsSignature, BlsError> {
    let mut seen = BTreeSet::new();
    for s in shares {
        if !seen.insert(s.node) {
            return Err(BlsError::DuplicateShare { node: s.node });
        }
    }
    match shares {
        [] => Err(BlsError::NotEnoughShares { needed: 1, have: 0 }),
        // A threshold-1 key: the share is the signature.
        [one] => Ok(BlsSignature(one.value)),
        _ => {
            // Σ λᵢ·σᵢ with the Lagrange coefficients at 0, as one blst
            // multi-scalar multiplication
            let set: Vec<NodeIndex> = shares.iter().map(|s| s.node).collect();
            let terms = shares
                .iter()
                .map(|s| {
                    Ok((
                        crate::poly::lagrange_at(&set, s.node, &Scalar::ZERO)?,
                        s.value,
                    ))
                })
                .collect::<Result<Vec<_>, BlsError>>()?;
            crate::fast::linear_combination(&terms).map(BlsSignature)
        }
    }
}

/// [`combine`] by blsful (the reference the fast path is tested against).
pub fn combine_reference(shares: &[BlsSignatureShare]) -> Result<BlsSignature, BlsError> {
    let bls: Vec<SignatureShare<Bls12381G2Impl>> =
        shares.iter().map(BlsSignatureShare::to_blsful).collect();
    let sig = Signature::from_shares(&bls)?;
    Ok(BlsSignature(*sig.as_raw_value()))
}

/// Verify a signature over `msg` under a BLS public key.
pub fn verify(public_key: &G1Projective, msg: &[u8], sig: &BlsSignature) -> Result<(), BlsError> {
    if crate::fast::verify(public_key, msg, &sig.0) {
        Ok(())
    } else {
        Err(BlsError::SignatureDoesNotVerify)
    }
}

/// Combine shares and verify the result under the set's public key.
///
/// Fewer than `threshold` shares is [`BlsError::NotEnoughShares`]; a share
/// from an unknown node is [`BlsError::UnknownNode`]. When the combination
/// does not verify, every share is checked against its node's public share
/// and the first that fails is named ([`BlsError::Culprit`]); the happy
/// path costs one pairing check, not one per share.
pub fn combine_verified(
    public: &BlsPublicKeySet,
    msg: &[u8],
    shares: &[BlsSignatureShare],
) -> Result<BlsSignature, BlsError> {
    for s in shares {
        public.public_share(s.node)?;
    }
    let distinct: BTreeSet<NodeIndex> = shares.iter().map(|s| s.node).collect();
    if distinct.len() < public.threshold {
        return Err(BlsError::NotEnoughShares {
            needed: public.threshold,
            have: distinct.len(),
        });
    }
    let sig = combine(shares)?;
    if verify(&public.public_key, msg, &sig).is_ok() {
        return Ok(sig);
    }
    for s in shares {
        public.verify_share(msg, s)?;
    }
    Err(BlsError::SignatureDoesNotVerify)
}
