//! The two FROST ciphersuites behind one trait: what differs between
//! Ed25519 and secp256k1 taproot (names, domains, output formats, the
//! BIP-341 key-path tweak) lives here; everything else is generic.
use frost_core::keys::{KeyPackage, PublicKeyPackage};
use frost_core::{Ciphersuite, Group, Signature, VerifyingKey};
use frost_ed25519::Ed25519Sha512;
use frost_secp256k1_tr::keys::Tweak as _;
use frost_secp256k1_tr::Secp256K1Sha256TR;

use crate::{FrostError, KeyType, SigningScheme};

/// A FROST ciphersuite Candela signs with.
pub trait Suite: Ciphersuite + Send + Sync + 'static {
    /// The key type of this suite's root key.
    const KEY_TYPE: KeyType;
    /// The signing scheme this suite implements.
    const SCHEME: SigningScheme;
    /// Domain of PKP tweaks.
    const PKP_DOMAIN: &'static [u8];
    /// Domain of action identity tweaks.
    const ACTION_DOMAIN: &'static [u8];

    /// Turn the (additively tweaked) key package into the one that signs
    /// for the chain. Ed25519: unchanged. Taproot: BIP-341 key-path tweak
    /// with no script tree (BIP-86), so signatures verify under the output
    /// key that the P2TR address commits to.
    fn finish_key_package(kp: KeyPackage<Self>) -> KeyPackage<Self>;

    /// The public counterpart of [`Suite::finish_key_package`].
    fn finish_public_package(pp: PublicKeyPackage<Self>) -> PublicKeyPackage<Self>;

    /// The public key in the chain's standard encoding: Ed25519 32 bytes
    /// (RFC 8032); taproot the 32-byte x-only key (BIP-340).
    fn public_key_bytes(vk: &VerifyingKey<Self>) -> Result<Vec<u8>, FrostError>;

    /// The signature in the chain's standard encoding, 64 bytes for both:
    /// Ed25519 `R || s`, BIP-340 `x(R) || s`.
    fn signature_bytes(sig: &Signature<Self>) -> Result<Vec<u8>, FrostError> {
        sig.serialize()
            .map_err(|e| FrostError::Encoding(e.to_string()))
    }

    /// A domain-separated hash to a scalar, through the ciphersuite's own
    /// hash-to-scalar `HID` (Ed25519: SHA-512 reduced mod ℓ; taproot:
    /// `hash_to_field` with `expand_message_xmd(SHA-256)`). The input is
    /// `len(domain) as u8 || domain || msg`; `HID` adds the suite's
    /// context string and `"id"`.
    fn hash_to_scalar(domain: &[u8], msg: &[u8]) -> Result<crate::Scalar<Self>, FrostError> {
        let len = u8::try_from(domain.len())
            .map_err(|_| FrostError::BadParameters("domain longer than 255 bytes".into()))?;
        let mut input = Vec::with_capacity(1 + domain.len() + msg.len());
        input.push(len);
        input.extend_from_slice(domain);
        input.extend_from_slice(msg);
        Self::HID(&input).ok_or_else(|| FrostError::Frost("ciphersuite has no HID".into()))
    }
}

impl Suite for Ed25519Sha512 {
    const KEY_TYPE: KeyType = KeyType::Ed25519;
    const SCHEME: SigningScheme = SigningScheme::SchnorrEd25519Sha512;
    const PKP_DOMAIN: &'static [u8] = b"candela-pkp-ed25519-v1";
    const ACTION_DOMAIN: &'static [u8] = b"candela-action-ed25519-v1";

    fn finish_key_package(kp: KeyPackage<Self>) -> KeyPackage<Self> {
        kp
    }

    fn finish_public_package(pp: PublicKeyPackage<Self>) -> PublicKeyPackage<Self> {
        pp
    }

    fn public_key_bytes(vk: &VerifyingKey<Self>) -> Result<Vec<u8>, FrostError> {
        vk.serialize()
            .map_err(|e| FrostError::Encoding(e.to_string()))
    }
}

impl Suite for Secp256K1Sha256TR {
    const KEY_TYPE: KeyType = KeyType::K256Taproot;
    const SCHEME: SigningScheme = SigningScheme::SchnorrK256Taproot;
    const PKP_DOMAIN: &'static [u8] = b"candela-pkp-k256tr-v1";
    const ACTION_DOMAIN: &'static [u8] = b"candela-action-k256tr-v1";

    fn finish_key_package(kp: KeyPackage<Self>) -> KeyPackage<Self> {
        kp.tweak(None::<&[u8]>)
    }

    fn finish_public_package(pp: PublicKeyPackage<Self>) -> PublicKeyPackage<Self> {
        pp.tweak(None::<&[u8]>)
    }

    fn public_key_bytes(vk: &VerifyingKey<Self>) -> Result<Vec<u8>, FrostError> {
        // Compressed SEC1 is 0x02/0x03 || x; BIP-340 keeps x only.
        let sec1 = <Self as Ciphersuite>::Group::serialize(&vk.to_element())
            .map_err(|e| FrostError::Encoding(e.to_string()))?;
        Ok(sec1.as_ref()[1..].to_vec())
    }
}
