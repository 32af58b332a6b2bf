//! PKP records and ownership for Candela.
//!
//! The [`Registry`] trait is what nodes and clients use. Two implementations:
//! [`SqliteRegistry`], the embedded one (one SQLite file in WAL mode shared
//! by the nodes of a devnet on one machine), and [`EvmRegistry`], the
//! Solidity contracts of `contracts/` read and written over JSON-RPC. The
//! registry, not the minter, chooses each PKP's key id, and the PKP key is
//! the derivation of that key id from the network's root key, so nobody can
//! register a key of their choosing.
//!
//! Every mutation is authorised by the owner's secp256k1 key (a
//! [`SigningKey`]): the EVM registry signs a real transaction with it, the
//! SQLite registry checks that the key's address is the PKP's owner.
//!
//! The trait is synchronous and object safe. Callers in async code should
//! treat it like any blocking I/O (`spawn_blocking` where latency matters);
//! [`EvmRegistry`] runs its JSON-RPC client on its own small tokio runtime, so
//! calling it from inside another runtime is safe (it never nests
//! `block_on`).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(test)]
mod conformance;
pub mod evm;
mod sqlite;

use candela_crypto::derive;
use candela_crypto::AffinePoint;
pub use evm::{EvmAddresses, EvmRegistry};
pub use k256::ecdsa::SigningKey;
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
    /// An action id is not a valid CIDv0.
    #[error("invalid action CID: {0}")]
    InvalidCid(#[from] candela_cid::CidError),
    /// The PKP was burned (its owner is the zero address): nothing about it
    /// can change any more.
    #[error("PKP {0} is burned; its permissions cannot change")]
    Burned(String),
    /// The key that authorised a mutation is not the PKP owner's.
    #[error("PKP {token_id} is owned by {owner}, not by the signer {signer}")]
    NotOwner {
        /// The PKP's token id (0x-hex).
        token_id: String,
        /// The owner's address (checksummed), when known.
        owner: String,
        /// The signer's address (checksummed).
        signer: String,
    },
    /// The EVM chain could not be reached or refused a transaction.
    #[error("EVM registry: {0}")]
    Chain(String),
}

/// The Ethereum address of the key that signs a mutation.
pub fn signer_address(key: &SigningKey) -> [u8; 20] {
    derive::eth_address(key.verifying_key().as_affine())
}

/// The zero address: the owner of a burned PKP.
pub const BURNED_OWNER: [u8; 20] = [0u8; 20];

/// Lit's auth method scope "sign anything" (scope id 1).
pub const SCOPE_SIGN_ANYTHING: u64 = 1;

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
///
/// Mutations take the owner's signing key: the minted PKP belongs to that
/// key's address, and a change to an existing PKP is refused
/// ([`RegistryError::NotOwner`]) unless the key is its owner's.
pub trait Registry: Send + Sync {
    /// Mint a PKP owned by `owner`'s address: the registry picks an
    /// unpredictable, unique key id and records the derived key, which is
    /// checked against `root` before it is returned.
    fn mint(&self, owner: &SigningKey, root: &AffinePoint) -> Result<PkpRecord, RegistryError>;
    /// Look a PKP up by its public key.
    fn by_public_key(&self, public_key: &AffinePoint) -> Result<PkpRecord, RegistryError>;
    /// Look a PKP up by token id.
    fn by_token_id(&self, token_id: &[u8; 32]) -> Result<PkpRecord, RegistryError>;
    /// Every PKP owned by `owner`.
    fn owned_by(&self, owner: [u8; 20]) -> Result<Vec<PkpRecord>, RegistryError>;
    /// Permit the action with CIDv0 `ipfs_id` to use the PKP `token_id` with
    /// `scope`, authorised by the PKP owner's key. Idempotent; refused for a
    /// burned PKP and for any key but the owner's.
    fn add_permitted_action(
        &self,
        owner: &SigningKey,
        token_id: &[u8; 32],
        ipfs_id: &str,
        scope: u64,
    ) -> Result<(), RegistryError>;
    /// Whether the action with CIDv0 `ipfs_id` is permitted to use the PKP.
    fn is_permitted_action(
        &self,
        token_id: &[u8; 32],
        ipfs_id: &str,
    ) -> Result<bool, RegistryError>;
    /// The CIDs of every action permitted to use the PKP, in the order they
    /// were permitted.
    fn permitted_actions(&self, token_id: &[u8; 32]) -> Result<Vec<String>, RegistryError>;
    /// Mint a PKP for `owner`, permit each action of `ipfs_ids` (scope
    /// [`SCOPE_SIGN_ANYTHING`]) and, when `burn` is set, give it to the zero
    /// address so that nothing about it can change afterwards.
    ///
    /// SQLite does all of it in one transaction. The EVM registry does it in
    /// one transaction when there is at most one action (`mintNext`, or
    /// `mintGrantAndBurnNext` when burning); otherwise it mints, permits and
    /// burns in that order, one transaction each, so a failure part-way
    /// leaves the PKP with its owner and never burns it with actions missing.
    /// Every CID is checked before anything is written.
    fn mint_with_actions(
        &self,
        owner: &SigningKey,
        root: &AffinePoint,
        ipfs_ids: &[&str],
        burn: bool,
    ) -> Result<PkpRecord, RegistryError>;
}
