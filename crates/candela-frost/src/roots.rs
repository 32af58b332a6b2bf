//! A node's FROST root keys of both suites, ready for its sealed store,
//! with scheme-driven look-ups for the request paths.
use serde::{Deserialize, Serialize};

use crate::address::{p2tr_address, solana_address, BitcoinNetwork};
use crate::{
    CommitmentPool, Ed25519Sha512, FrostError, FrostKeyShare, KeyType, Secp256K1Sha256TR,
    SigningScheme, Tweak,
};

/// Both suites' root key shares of one node (secret: seal before storing).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrostRoots {
    /// The Ed25519 root share, once its key generation has run.
    pub ed25519: Option<FrostKeyShare<Ed25519Sha512>>,
    /// The secp256k1 taproot root share, once its key generation has run.
    pub k256_taproot: Option<FrostKeyShare<Secp256K1Sha256TR>>,
}

/// Both suites' commitment pools of one node (secret nonces: seal before
/// storing, and store after every `take`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct FrostPools {
    /// Ed25519 nonces.
    pub ed25519: CommitmentPool<Ed25519Sha512>,
    /// secp256k1 taproot nonces.
    pub k256_taproot: CommitmentPool<Secp256K1Sha256TR>,
}

/// A key the node derives, named by what it is derived from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Derivation<'a> {
    /// The root key itself.
    Root,
    /// A PKP, by key id.
    Pkp(&'a [u8]),
    /// A Lit Action's identity key, by IPFS CID.
    Action(&'a str),
}

impl FrostRoots {
    /// The key types this node holds.
    pub fn key_types(&self) -> Vec<KeyType> {
        let mut v = Vec::new();
        if self.ed25519.is_some() {
            v.push(KeyType::Ed25519);
        }
        if self.k256_taproot.is_some() {
            v.push(KeyType::K256Taproot);
        }
        v
    }

    /// The Ed25519 root share, or a clear error.
    pub fn ed25519(&self) -> Result<&FrostKeyShare<Ed25519Sha512>, FrostError> {
        self.ed25519.as_ref().ok_or(FrostError::NoRootKey {
            key_type: KeyType::Ed25519.as_str(),
        })
    }

    /// The taproot root share, or a clear error.
    pub fn k256_taproot(&self) -> Result<&FrostKeyShare<Secp256K1Sha256TR>, FrostError> {
        self.k256_taproot.as_ref().ok_or(FrostError::NoRootKey {
            key_type: KeyType::K256Taproot.as_str(),
        })
    }

    /// The confirmation digest of the root of `key_type`, for comparing
    /// with the other nodes.
    pub fn confirmation_digest(&self, key_type: KeyType) -> Result<[u8; 32], FrostError> {
        match key_type {
            KeyType::Ed25519 => self.ed25519()?.confirmation_digest(),
            KeyType::K256Taproot => self.k256_taproot()?.confirmation_digest(),
            other => Err(FrostError::NoRootKey {
                key_type: other.as_str(),
            }),
        }
    }

    /// The public key of a derived key in the chain's encoding (Ed25519: 32
    /// bytes; taproot: the 32-byte x-only output key). Refuses non-FROST
    /// schemes and missing roots.
    pub fn public_key(
        &self,
        scheme: SigningScheme,
        derivation: Derivation<'_>,
    ) -> Result<Vec<u8>, FrostError> {
        match scheme {
            SigningScheme::SchnorrEd25519Sha512 => {
                let root = self.ed25519()?;
                tweak_of(derivation)?.public_key_bytes(&root.public_key_package)
            }
            SigningScheme::SchnorrK256Taproot => {
                let root = self.k256_taproot()?;
                tweak_of(derivation)?.public_key_bytes(&root.public_key_package)
            }
            other => Err(FrostError::UnsupportedScheme(other.as_str())),
        }
    }

    /// The Solana address of an Ed25519 derived key.
    pub fn solana_address(&self, derivation: Derivation<'_>) -> Result<String, FrostError> {
        let root = self.ed25519()?;
        let vk = tweak_of::<Ed25519Sha512>(derivation)?.verifying_key(&root.public_key_package);
        solana_address(&vk)
    }

    /// The P2TR address of a taproot derived key.
    pub fn p2tr_address(
        &self,
        derivation: Derivation<'_>,
        network: BitcoinNetwork,
    ) -> Result<String, FrostError> {
        let root = self.k256_taproot()?;
        let vk = tweak_of::<Secp256K1Sha256TR>(derivation)?.verifying_key(&root.public_key_package);
        p2tr_address(&vk, network)
    }
}

/// The tweak of a derivation in suite `C`.
pub fn tweak_of<C: crate::Suite>(derivation: Derivation<'_>) -> Result<Tweak<C>, FrostError> {
    match derivation {
        Derivation::Root => Ok(Tweak::root()),
        Derivation::Pkp(id) => Tweak::pkp(id),
        Derivation::Action(cid) => Tweak::action(cid),
    }
}
