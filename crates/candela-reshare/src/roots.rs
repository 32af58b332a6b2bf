//! The reshare's inputs and outputs for each kind of root key Candela holds:
//! the ECDSA root (`candela-crypto`), the BLS root (`candela-bls`) and the
//! FROST roots (`candela-frost`, Ed25519 and secp256k1 taproot). All use the
//! same x-coordinates (`index + 1`), so a reshared share drops into the
//! signing code unchanged.
use std::collections::BTreeMap;

use candela_bls::BlsKeyShare;
use candela_crypto::session::KeyShare;
use candela_frost::{identifier, Ed25519Sha512, FrostKeyShare, Secp256K1Sha256TR};
use curve25519_dalek::edwards::{EdwardsPoint, SubgroupPoint};
use frost_core::keys::{KeyPackage, PublicKeyPackage, SigningShare, VerifyingShare};
use frost_core::{Ciphersuite, VerifyingKey};
use group::{Group, GroupEncoding};

use crate::{NewShare, NodeIndex, OldShare, ReshareError};

/// What a node brings to a reshare of one root key.
pub struct RootInput<G: Group> {
    /// Its share (give it to the session only if it deals).
    pub old_share: OldShare<G>,
    /// The root public key.
    pub group_key: G,
    /// Every old member's public share.
    pub public_shares: BTreeMap<NodeIndex, G>,
}

/// The ECDSA root share as reshare input.
pub fn ecdsa_input(share: &KeyShare) -> RootInput<k256::ProjectivePoint> {
    RootInput {
        old_share: OldShare {
            me: share.me,
            secret: share.secret,
        },
        group_key: share.public_key.into(),
        public_shares: share
            .public_shares
            .iter()
            .map(|(&m, p)| (m, (*p).into()))
            .collect(),
    }
}

/// A reshared ECDSA root share.
pub fn ecdsa_share(new: &NewShare<k256::ProjectivePoint>) -> KeyShare {
    KeyShare {
        me: new.me,
        threshold: new.threshold,
        participants: new.participants.clone(),
        secret: new.secret,
        public_key: new.public_key.to_affine(),
        public_shares: new
            .public_shares
            .iter()
            .map(|(&m, p)| (m, p.to_affine()))
            .collect(),
    }
}

/// The BLS root share as reshare input.
pub fn bls_input(share: &BlsKeyShare) -> RootInput<candela_bls::G1Projective> {
    RootInput {
        old_share: OldShare {
            me: share.me,
            secret: share.secret,
        },
        group_key: share.public_key,
        public_shares: share.public_shares.clone(),
    }
}

/// A reshared BLS root share.
pub fn bls_share(new: &NewShare<candela_bls::G1Projective>) -> BlsKeyShare {
    BlsKeyShare {
        me: new.me,
        threshold: new.threshold,
        participants: new.participants.clone(),
        secret: new.secret,
        public_key: new.public_key,
        public_shares: new.public_shares.clone(),
    }
}

/// How a FROST ciphersuite's elements and scalars map to the `group` crate
/// types the reshare runs on.
pub trait FrostGroup: Ciphersuite {
    /// The prime-order group of the ciphersuite.
    type G: Group + GroupEncoding;
    /// An element as a reshare group element (`None` if it is not in the
    /// prime-order group).
    fn to_group(e: frost_core::Element<Self>) -> Option<Self::G>;
    /// Back to the ciphersuite's element.
    fn from_group(g: Self::G) -> frost_core::Element<Self>;
    /// A ciphersuite scalar as a reshare scalar.
    fn to_scalar(s: frost_core::Scalar<Self>) -> <Self::G as Group>::Scalar;
    /// Back to the ciphersuite's scalar.
    fn from_scalar(s: <Self::G as Group>::Scalar) -> frost_core::Scalar<Self>;
}

impl FrostGroup for Secp256K1Sha256TR {
    type G = k256::ProjectivePoint;
    fn to_group(e: k256::ProjectivePoint) -> Option<Self::G> {
        Some(e)
    }
    fn from_group(g: Self::G) -> k256::ProjectivePoint {
        g
    }
    fn to_scalar(s: k256::Scalar) -> k256::Scalar {
        s
    }
    fn from_scalar(s: k256::Scalar) -> k256::Scalar {
        s
    }
}

impl FrostGroup for Ed25519Sha512 {
    type G = SubgroupPoint;
    fn to_group(e: EdwardsPoint) -> Option<SubgroupPoint> {
        Option::from(SubgroupPoint::from_bytes(&e.compress().to_bytes()))
    }
    fn from_group(g: SubgroupPoint) -> EdwardsPoint {
        g.into()
    }
    fn to_scalar(s: curve25519_dalek::Scalar) -> curve25519_dalek::Scalar {
        s
    }
    fn from_scalar(s: curve25519_dalek::Scalar) -> curve25519_dalek::Scalar {
        s
    }
}

fn not_prime_order(what: &str) -> ReshareError {
    ReshareError::BadParameters(format!("{what} is not in the prime-order group"))
}

/// A FROST root share as reshare input.
pub fn frost_input<C: FrostGroup>(
    share: &FrostKeyShare<C>,
) -> Result<RootInput<C::G>, ReshareError> {
    let mut public_shares = BTreeMap::new();
    for &party in &share.participants {
        let id = identifier::<C>(party).map_err(|e| ReshareError::BadParameters(e.to_string()))?;
        let verifying = share
            .public_key_package
            .verifying_shares()
            .get(&id)
            .ok_or_else(|| {
                ReshareError::BadParameters(format!("no verifying share for node {party}"))
            })?;
        let point = C::to_group(verifying.to_element())
            .ok_or_else(|| not_prime_order("a verifying share"))?;
        public_shares.insert(party, point);
    }
    let group_key = C::to_group(share.public_key_package.verifying_key().to_element())
        .ok_or_else(|| not_prime_order("the group key"))?;
    Ok(RootInput {
        old_share: OldShare {
            me: share.me,
            secret: C::to_scalar(share.key_package.signing_share().to_scalar()),
        },
        group_key,
        public_shares,
    })
}

/// A reshared FROST root share, as a key package FROST signs with.
pub fn frost_share<C: FrostGroup>(new: &NewShare<C::G>) -> Result<FrostKeyShare<C>, ReshareError> {
    let threshold = u16::try_from(new.threshold)
        .map_err(|_| ReshareError::BadParameters("threshold out of range".into()))?;
    let id =
        |p: NodeIndex| identifier::<C>(p).map_err(|e| ReshareError::BadParameters(e.to_string()));
    let verifying_key = VerifyingKey::<C>::new(C::from_group(new.public_key));
    let mut verifying_shares = BTreeMap::new();
    for (&m, p) in &new.public_shares {
        verifying_shares.insert(id(m)?, VerifyingShare::<C>::new(C::from_group(*p)));
    }
    let key_package = KeyPackage::new(
        id(new.me)?,
        SigningShare::<C>::new(C::from_scalar(new.secret)),
        VerifyingShare::<C>::new(C::from_group(new.public_shares[&new.me])),
        verifying_key,
        threshold,
    );
    Ok(FrostKeyShare {
        me: new.me,
        threshold,
        participants: new.participants.clone(),
        key_package,
        public_key_package: PublicKeyPackage::new(verifying_shares, verifying_key, Some(threshold)),
    })
}
