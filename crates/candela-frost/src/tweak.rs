//! PKP and action-key derivation by an additive tweak.
//!
//! For a key id `k`, `δ = H(domain, k)` ([`Suite::hash_to_scalar`]); the
//! derived key is `PK_root + δ·G`, every signing share becomes `x_i + δ`
//! and every verifying share `X_i + δ·G`. Lagrange coefficients over any
//! signing set sum to one, so the tweaked shares are a sharing of `x + δ`
//! and derivation needs no protocol round. The arithmetic is the
//! ciphersuite's (`Group`/`Field` of `frost-core`), none of it is ours.
//!
//! After the additive tweak each suite finishes the key for its chain
//! ([`Suite::finish_key_package`]): taproot applies the BIP-341 key-path
//! tweak, so the key that verifies is the P2TR output key.
use std::collections::BTreeMap;

use frost_core::keys::{KeyPackage, PublicKeyPackage, SigningShare, VerifyingShare};
use frost_core::{Ciphersuite, Field, Group, VerifyingKey};
use sha3::{Digest, Keccak256};

use crate::{FrostError, FrostKeyShare, Scalar, Suite};

/// An additive key tweak `δ` (zero for the root key itself).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Tweak<C: Ciphersuite>(Scalar<C>);

impl<C: Ciphersuite> std::fmt::Debug for Tweak<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bytes = <<C::Group as Group>::Field>::serialize(&self.0);
        write!(f, "Tweak({})", hex::encode(bytes.as_ref()))
    }
}

impl<C: Suite> Tweak<C> {
    /// No tweak: sign with the root key.
    pub fn root() -> Self {
        Self(<<C::Group as Group>::Field>::zero())
    }

    /// The tweak of a PKP: `δ = H(C::PKP_DOMAIN, key_id)`.
    pub fn pkp(key_id: &[u8]) -> Result<Self, FrostError> {
        Ok(Self(C::hash_to_scalar(C::PKP_DOMAIN, key_id)?))
    }

    /// The tweak of a Lit Action's identity key (`signAsAction`,
    /// `getActionPublicKey`): `δ = H(C::ACTION_DOMAIN,
    /// keccak256("lit_action_" || action_cid))`, where `action_cid` is the
    /// CID string as the action names itself (UTF-8, e.g. `"Qm…"`). The
    /// keccak input is Lit's (`get_lit_action_public_key` in Lit's SDK);
    /// the separate domain keeps action keys apart from PKPs even if a PKP
    /// key id were chosen equal to that hash.
    pub fn action(action_cid: &str) -> Result<Self, FrostError> {
        Ok(Self(C::hash_to_scalar(
            C::ACTION_DOMAIN,
            &action_key_id(action_cid),
        )?))
    }

    /// The scalar itself, as the ciphersuite's canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        <<C::Group as Group>::Field>::serialize(&self.0)
            .as_ref()
            .to_vec()
    }

    fn point(&self) -> <C::Group as Group>::Element {
        C::Group::generator() * self.0
    }

    /// This node's key package for the derived key, ready to sign.
    pub fn key_package(&self, share: &FrostKeyShare<C>) -> KeyPackage<C> {
        let kp = &share.key_package;
        let tp = self.point();
        let tweaked = KeyPackage::new(
            *kp.identifier(),
            SigningShare::new(kp.signing_share().to_scalar() + self.0),
            VerifyingShare::new(kp.verifying_share().to_element() + tp),
            VerifyingKey::new(kp.verifying_key().to_element() + tp),
            *kp.min_signers(),
        );
        C::finish_key_package(tweaked)
    }

    /// The public key package of the derived key, for aggregation.
    pub fn public_key_package(&self, public: &PublicKeyPackage<C>) -> PublicKeyPackage<C> {
        let tp = self.point();
        let shares: BTreeMap<_, _> = public
            .verifying_shares()
            .iter()
            .map(|(id, vs)| (*id, VerifyingShare::new(vs.to_element() + tp)))
            .collect();
        let tweaked = PublicKeyPackage::new(
            shares,
            VerifyingKey::new(public.verifying_key().to_element() + tp),
            public.min_signers(),
        );
        C::finish_public_package(tweaked)
    }

    /// The derived key that verifies signatures (taproot: the output key).
    pub fn verifying_key(&self, public: &PublicKeyPackage<C>) -> VerifyingKey<C> {
        *self.public_key_package(public).verifying_key()
    }

    /// The derived public key in the chain's encoding (Ed25519: 32 bytes;
    /// taproot: the 32-byte x-only output key).
    pub fn public_key_bytes(&self, public: &PublicKeyPackage<C>) -> Result<Vec<u8>, FrostError> {
        C::public_key_bytes(&self.verifying_key(public))
    }
}

/// Lit's action key id: `keccak256("lit_action_" || action_cid)`.
pub fn action_key_id(action_cid: &str) -> [u8; 32] {
    let mut h = Keccak256::new();
    h.update(b"lit_action_");
    h.update(action_cid.as_bytes());
    h.finalize().into()
}

/// The public key, in the chain's encoding, that `key_id` derives for a
/// PKP from the root verifying key `root` (frost's serialization of the
/// untweaked root key: Ed25519 32 bytes, secp256k1 33 bytes compressed),
/// as [`Tweak::public_key_bytes`] computes it from the whole public key
/// package: for clients, which know the root key but not the shares.
pub fn pkp_public_key_from_root<C: Suite>(
    root: &[u8],
    key_id: &[u8],
) -> Result<Vec<u8>, FrostError> {
    let vk = VerifyingKey::<C>::deserialize(root)
        .map_err(|e| FrostError::Encoding(format!("root verifying key: {e}")))?;
    let package = PublicKeyPackage::new(BTreeMap::new(), vk, None);
    Tweak::<C>::pkp(key_id)?.public_key_bytes(&package)
}

#[cfg(test)]
mod root_only_tests {
    use super::*;
    use crate::{Ed25519Sha512, Secp256K1Sha256TR};

    fn same_key_from_the_root_alone<C: Suite>() {
        let shares = crate::sim::keygen::<C, _>(3, 2, &mut rand_core::OsRng).expect("keygen");
        let package = &shares[&0].public_key_package;
        let root = package.verifying_key().serialize().expect("root");
        for key_id in [&b"a"[..], &[7u8; 32][..]] {
            let from_package = Tweak::<C>::pkp(key_id)
                .and_then(|t| t.public_key_bytes(package))
                .expect("package");
            assert_eq!(
                pkp_public_key_from_root::<C>(&root, key_id).expect("root"),
                from_package
            );
        }
        assert!(pkp_public_key_from_root::<C>(&[1, 2, 3], b"a").is_err());
    }

    #[test]
    fn a_pkp_key_from_the_root_key_alone_is_the_one_the_nodes_sign_with() {
        same_key_from_the_root_alone::<Ed25519Sha512>();
        same_key_from_the_root_alone::<Secp256K1Sha256TR>();
    }
}
