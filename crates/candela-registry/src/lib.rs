//! PKP records and ownership for Candela.
//!
//! The [`Registry`] trait is what nodes and clients use; [`SqliteRegistry`]
//! is the embedded implementation (one SQLite file in WAL mode shared by the
//! nodes of a devnet on one machine). The registry, not the minter, chooses
//! each PKP's key id (32 random bytes), and the PKP key is the derivation of
//! that key id from the network's root key, so nobody can register a key of
//! their choosing.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod sqlite;

use candela_crypto::derive;
use candela_crypto::AffinePoint;
pub use sqlite::SqliteRegistry;

/// Errors of the registry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// No PKP with that public key or token id.
    #[error("unknown PKP {0}")]
    UnknownPkp(String),
    /// The stored record is not the derivation of its key id: refuse it.
    #[error("PKP {0} is not derived from the network root key; refusing it")]
    NotDerived(String),
    /// The storage failed.
    #[error("registry storage: {0}")]
    Storage(#[from] rusqlite::Error),
    /// A value could not be decoded.
    #[error("registry encoding: {0}")]
    Encoding(String),
}

/// A PKP as the registry knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PkpRecord {
    /// `keccak256(uncompressed public key without 0x04)`.
    pub token_id: [u8; 32],
    /// The key id chosen by the registry; the tweak is derived from it.
    pub key_id: [u8; 32],
    /// The PKP public key.
    pub public_key: AffinePoint,
    /// The owner's Ethereum address.
    pub owner: [u8; 20],
}

impl PkpRecord {
    /// The PKP's Ethereum address.
    pub fn eth_address(&self) -> [u8; 20] {
        derive::eth_address(&self.public_key)
    }

    /// Check that the public key is the derivation of the key id from
    /// `root`; every node does this before signing.
    pub fn check_derivation(&self, root: &AffinePoint) -> Result<(), RegistryError> {
        let expected = derive::derive_public_key(root, &self.key_id)
            .map_err(|e| RegistryError::Encoding(e.to_string()))?;
        if expected != self.public_key || derive::token_id(&self.public_key) != self.token_id {
            return Err(RegistryError::NotDerived(derive::public_key_hex(
                &self.public_key,
            )));
        }
        Ok(())
    }
}

/// Where PKPs and their owners are recorded.
pub trait Registry: Send + Sync {
    /// Mint a PKP owned by `owner`: the registry picks an unpredictable,
    /// unique key id and records the derived key.
    fn mint(&self, owner: [u8; 20], root: &AffinePoint) -> Result<PkpRecord, RegistryError>;
    /// Look a PKP up by its public key.
    fn by_public_key(&self, public_key: &AffinePoint) -> Result<PkpRecord, RegistryError>;
    /// Look a PKP up by token id.
    fn by_token_id(&self, token_id: &[u8; 32]) -> Result<PkpRecord, RegistryError>;
    /// Every PKP owned by `owner`.
    fn owned_by(&self, owner: [u8; 20]) -> Result<Vec<PkpRecord>, RegistryError>;
}
