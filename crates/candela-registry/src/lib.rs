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

pub mod anvil;
pub mod claim;
#[cfg(test)]
mod conformance;
pub mod evm;
pub mod locate;
pub mod signed_op;
mod sqlite;

use std::collections::BTreeSet;

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
    /// The sending key cannot pay for a transaction's gas.
    #[error("EVM registry: {0}")]
    Unfunded(String),
    /// A malformed argument: an auth method of type 0, an address id that
    /// is not 20 bytes, a scope id out of range, a transfer to the zero
    /// address, an invalid node set.
    #[error("invalid registry input: {0}")]
    Invalid(String),
    /// A key claim (`Lit.Actions.claimKey`) that may not be minted: too
    /// few valid node signatures, already minted, or a registry that cannot
    /// check claims.
    #[error("key claim: {0}")]
    Claim(String),
    /// The key that tried to change the node set is not the registry's
    /// administrator.
    #[error("the node set is administered by {admin}, not by the signer {signer}")]
    NotAdmin {
        /// The administrator's address (checksummed).
        admin: String,
        /// The signer's address (checksummed).
        signer: String,
    },
}

/// The Ethereum address of the key that signs a mutation.
pub fn signer_address(key: &SigningKey) -> [u8; 20] {
    derive::eth_address(key.verifying_key().as_affine())
}

/// The zero address: the owner of a burned PKP.
pub const BURNED_OWNER: [u8; 20] = [0u8; 20];

/// Lit's auth method scope "none" (scope id 0).
pub const SCOPE_NONE: u64 = 0;
/// Lit's auth method scope "sign anything" (scope id 1).
pub const SCOPE_SIGN_ANYTHING: u64 = 1;
/// Lit's auth method scope "personal sign" (scope id 2): EIP-191 messages only.
pub const SCOPE_PERSONAL_SIGN: u64 = 2;
/// Scope ids are `0..MAX_SCOPE_ID`; a larger one is refused
/// ([`RegistryError::Invalid`]) so that every registry reads back exactly
/// what was granted.
pub const MAX_SCOPE_ID: u64 = 16;

/// Auth method type 1: an Ethereum address (id = the 20 address bytes).
pub const AUTH_METHOD_TYPE_ADDRESS: u64 = 1;
/// Auth method type 2: a Lit Action (id = the 34-byte CIDv0 multihash).
pub const AUTH_METHOD_TYPE_ACTION: u64 = 2;
/// Auth method type 3: a WebAuthn credential.
pub const AUTH_METHOD_TYPE_WEBAUTHN: u64 = 3;

/// `uint256(keccak256(abi.encode(uint256 authMethodType, bytes id)))`, as
/// Lit's `PKPPermissions.getAuthMethodId`.
pub fn auth_method_id(auth_method_type: u64, id: &[u8]) -> [u8; 32] {
    use alloy::primitives::{keccak256, Bytes, U256};
    use alloy::sol_types::SolValue;
    let encoded = (U256::from(auth_method_type), Bytes::copy_from_slice(id)).abi_encode_params();
    keccak256(encoded).0
}

/// One way of using a PKP, as Lit's `PKPPermissions.AuthMethod`:
/// an address, an action, or any other auth method (Google, Discord,
/// WebAuthn, a custom type) identified by its type and id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AuthMethod {
    /// The auth method type (1 address, 2 action, 3 WebAuthn, ...; 0 is
    /// refused).
    pub auth_method_type: u64,
    /// The type-specific id bytes.
    pub id: Vec<u8>,
    /// The user's public key, where the type has one (else empty).
    pub user_pubkey: Vec<u8>,
}

impl AuthMethod {
    /// The action with CIDv0 `ipfs_id` (id = its 34-byte multihash).
    pub fn action(ipfs_id: &str) -> Result<AuthMethod, RegistryError> {
        Ok(AuthMethod {
            auth_method_type: AUTH_METHOD_TYPE_ACTION,
            id: candela_cid::parse_cid_v0(ipfs_id)?.to_vec(),
            user_pubkey: Vec::new(),
        })
    }

    /// The Ethereum address `address` (id = its 20 bytes).
    pub fn address(address: [u8; 20]) -> AuthMethod {
        AuthMethod {
            auth_method_type: AUTH_METHOD_TYPE_ADDRESS,
            id: address.to_vec(),
            user_pubkey: Vec::new(),
        }
    }

    /// `keccak256(abi.encode(type, id))`.
    pub fn id_hash(&self) -> [u8; 32] {
        auth_method_id(self.auth_method_type, &self.id)
    }

    /// Refuse what the contracts refuse: type 0, an address id that is not
    /// 20 bytes, an action id that is not a sha2-256 multihash.
    pub fn validate(&self) -> Result<(), RegistryError> {
        validate_auth_method(self.auth_method_type, &self.id)
    }

    /// The action's CIDv0, for an action auth method.
    pub fn ipfs_cid(&self) -> Option<String> {
        (self.auth_method_type == AUTH_METHOD_TYPE_ACTION)
            .then(|| candela_cid::multihash_to_cid_v0(&self.id).ok())
            .flatten()
    }

    /// The address, for an address auth method.
    pub fn eth_address(&self) -> Option<[u8; 20]> {
        (self.auth_method_type == AUTH_METHOD_TYPE_ADDRESS)
            .then(|| self.id.as_slice().try_into().ok())
            .flatten()
    }
}

/// The checks of [`AuthMethod::validate`] on a type and id.
pub fn validate_auth_method(auth_method_type: u64, id: &[u8]) -> Result<(), RegistryError> {
    match auth_method_type {
        0 => Err(RegistryError::Invalid(
            "auth method type 0 (none) cannot be permitted".into(),
        )),
        t if t > i64::MAX as u64 => Err(RegistryError::Invalid(format!(
            "auth method type {t} is out of range (1..2^63)"
        ))),
        AUTH_METHOD_TYPE_ADDRESS if id.len() != 20 => Err(RegistryError::Invalid(format!(
            "an address auth method id is 20 bytes, not {}",
            id.len()
        ))),
        AUTH_METHOD_TYPE_ACTION => {
            candela_cid::multihash_to_cid_v0(id)?;
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Refuse scope ids at or above [`MAX_SCOPE_ID`].
pub fn validate_scopes(scopes: &BTreeSet<u64>) -> Result<(), RegistryError> {
    match scopes.iter().find(|s| **s >= MAX_SCOPE_ID) {
        Some(s) => Err(RegistryError::Invalid(format!(
            "scope id {s} is out of range (0..{MAX_SCOPE_ID})"
        ))),
        None => Ok(()),
    }
}

/// An auth method permitted on a PKP, with its scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    /// What is permitted.
    pub method: AuthMethod,
    /// Its scope ids on this PKP (may be empty: permitted, no scope).
    pub scopes: BTreeSet<u64>,
}

impl Permission {
    /// `method` with the given scopes.
    pub fn new(method: AuthMethod, scopes: impl IntoIterator<Item = u64>) -> Permission {
        Permission {
            method,
            scopes: scopes.into_iter().collect(),
        }
    }
}

/// One node of the node set, as the registry records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredNode {
    /// The node's base URL, `http://IP:PORT` (the EVM registry also stores
    /// IP and port in Lit's validator struct).
    pub url: String,
    /// ed25519 identity key: signs every peer message.
    pub identity_key: [u8; 32],
    /// x25519 key for private peer messages.
    pub encryption_key: [u8; 32],
    /// The node's Ethereum address ([`claim::node_wallet`] of its identity
    /// seed): its `Staking` node address, and the signer of its key claims
    /// (`Lit.Actions.claimKey`), as Lit's node wallets are. Zero for a node
    /// registered before nodes had wallets: its claim signatures do not
    /// count until it is registered again.
    pub wallet_address: [u8; 20],
}

/// The node set and threshold every node and client reads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RegisteredNodeSet {
    /// The nodes, in index order (node `i` has Shamir x-coordinate `i + 1`).
    pub nodes: Vec<RegisteredNode>,
    /// Parties needed to sign (1..=the committee's size).
    pub threshold: usize,
    /// Indices of members kicked out of the committee: they stay listed so
    /// that every other member keeps its index, hold no share once the
    /// keys moved, and take no part in signing. An index leaves this set
    /// when a new machine replaces its member.
    pub kicked: BTreeSet<u32>,
}

/// A member's vote to kick another out of the committee, as the registry
/// records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KickVote {
    /// The epoch the vote was cast in (votes count in their epoch only).
    pub epoch: u64,
    /// The voting member's index.
    pub voter: u32,
    /// The member it votes to kick.
    pub target: u32,
}

/// What a kick vote did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KickTally {
    /// Distinct members that voted to kick the target in this epoch.
    pub votes: usize,
    /// Votes needed (the committee's threshold).
    pub needed: usize,
    /// Whether this vote kicked the target: a new epoch started without it.
    pub kicked: bool,
}

/// The threshold of a committee of `n` members: more than two thirds.
pub fn two_thirds_threshold(n: usize) -> usize {
    2 * n / 3 + 1
}

impl RegisteredNodeSet {
    /// Every listed node as the peer layer and clients see it, by index
    /// (kicked members included, in their place).
    pub fn node_infos(&self) -> Vec<candela_api::network::NodeInfo> {
        self.nodes
            .iter()
            .enumerate()
            .map(|(i, n)| candela_api::network::NodeInfo {
                index: i as u32,
                url: n.url.clone(),
                identity_key: hex::encode(n.identity_key),
                encryption_key: hex::encode(n.encryption_key),
                wallet_address: (n.wallet_address != [0u8; 20])
                    .then(|| hex::encode(n.wallet_address)),
            })
            .collect()
    }

    /// The committee's members as clients see them (`network.json`):
    /// [`RegisteredNodeSet::node_infos`] without the kicked members.
    pub fn committee_infos(&self) -> Vec<candela_api::network::NodeInfo> {
        self.node_infos()
            .into_iter()
            .filter(|n| !self.kicked.contains(&n.index))
            .collect()
    }

    /// The committee: every member's index but the kicked ones, ascending.
    pub fn committee(&self) -> Vec<u32> {
        (0..self.nodes.len() as u32)
            .filter(|i| !self.kicked.contains(i))
            .collect()
    }

    /// Refuse an empty set, a threshold out of 1..=the committee's size,
    /// a kicked index out of the set, duplicate identity keys, wallet
    /// addresses or URLs, and URLs that are not `http(s)://`.
    pub fn validate(&self) -> Result<(), RegistryError> {
        let n = self.nodes.len();
        if let Some(k) = self.kicked.iter().find(|&&k| k as usize >= n) {
            return Err(RegistryError::Invalid(format!(
                "kicked member {k} is not in the set of {n}"
            )));
        }
        let committee = n - self.kicked.len();
        if committee == 0 || self.threshold == 0 || self.threshold > committee {
            return Err(RegistryError::Invalid(format!(
                "threshold {} for a committee of {committee} nodes",
                self.threshold
            )));
        }
        let mut keys = BTreeSet::new();
        let mut urls = BTreeSet::new();
        let mut wallets = BTreeSet::new();
        for (i, node) in self.nodes.iter().enumerate() {
            if node.wallet_address != [0u8; 20] && !wallets.insert(node.wallet_address) {
                return Err(RegistryError::Invalid(format!(
                    "node {i}: duplicate wallet address"
                )));
            }
            if !(node.url.starts_with("http://") || node.url.starts_with("https://")) {
                return Err(RegistryError::Invalid(format!(
                    "node {i}: URL {:?} is not http(s)",
                    node.url
                )));
            }
            if node.identity_key == [0u8; 32] || !keys.insert(node.identity_key) {
                return Err(RegistryError::Invalid(format!(
                    "node {i}: zero or duplicate identity key"
                )));
            }
            if !urls.insert(node.url.as_str()) {
                return Err(RegistryError::Invalid(format!(
                    "node {i}: duplicate URL {}",
                    node.url
                )));
            }
        }
        Ok(())
    }
}
/// What kind of key a PKP is: the one signing scheme family it may sign
/// with. Lit's names; the numbers are Lit's `CurveType` where Lit has one
/// (K256 2, Ed25519 3, BLS12381G1 10) and Candela's own for taproot (11,
/// Lit signs taproot with its K256 keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub enum PkpKeyType {
    /// secp256k1 ECDSA (`EcdsaK256Sha256`): Ethereum and EVM chains.
    #[default]
    K256,
    /// Ed25519 (`SchnorrEd25519Sha512`): Solana and other Ed25519 chains.
    Ed25519,
    /// secp256k1 BIP-340 taproot (`SchnorrK256Taproot`): Bitcoin P2TR.
    K256Taproot,
    /// BLS12-381, public key in G1 (`Bls12381G1ProofOfPossession`).
    Bls12381G1,
}

impl PkpKeyType {
    /// Every key type.
    pub const ALL: [PkpKeyType; 4] = [
        PkpKeyType::K256,
        PkpKeyType::Ed25519,
        PkpKeyType::K256Taproot,
        PkpKeyType::Bls12381G1,
    ];

    /// Lit's name.
    pub const fn as_str(self) -> &'static str {
        match self {
            PkpKeyType::K256 => "K256",
            PkpKeyType::Ed25519 => "Ed25519",
            PkpKeyType::K256Taproot => "K256Taproot",
            PkpKeyType::Bls12381G1 => "Bls12381G1",
        }
    }

    /// The number the registries store (the contracts' `keyType`).
    pub const fn number(self) -> u64 {
        match self {
            PkpKeyType::K256 => 2,
            PkpKeyType::Ed25519 => 3,
            PkpKeyType::Bls12381G1 => 10,
            PkpKeyType::K256Taproot => 11,
        }
    }

    /// From the number the registries store.
    pub fn from_number(n: u64) -> Result<Self, RegistryError> {
        Self::ALL
            .into_iter()
            .find(|k| k.number() == n)
            .ok_or_else(|| RegistryError::Encoding(format!("unknown key type {n}")))
    }
}

impl std::fmt::Display for PkpKeyType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for PkpKeyType {
    type Err = RegistryError;

    fn from_str(s: &str) -> Result<Self, RegistryError> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                RegistryError::Invalid(format!(
                    "unknown key type {s:?}; expected K256, Ed25519, K256Taproot or Bls12381G1"
                ))
            })
    }
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
    /// The kind of key: which scheme it signs with. The PKP's token id and
    /// `public_key` stay its secp256k1 identity whatever the type; a key
    /// of another type is derived from the same key id on that curve.
    pub key_type: PkpKeyType,
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

/// Where PKPs, their owners and permissions, and the node set are recorded.
///
/// Mutations take a signing key: the minted PKP belongs to that key's
/// address, and a change to an existing PKP is refused unless the key is its
/// owner's. Every mutation validates its input first, then checks, in this
/// order, that the PKP exists ([`RegistryError::UnknownPkp`]), is not burned
/// ([`RegistryError::Burned`]) and is owned by the signer
/// ([`RegistryError::NotOwner`]), and changes nothing when any check fails.
///
/// Reads of an unknown token id answer "not permitted" / empty lists, as the
/// contracts do; only the record lookups answer `UnknownPkp`.
pub trait Registry: Send + Sync {
    // ------------------------------------------------------------ reads

    /// Look a PKP up by its public key.
    fn by_public_key(&self, public_key: &AffinePoint) -> Result<PkpRecord, RegistryError>;
    /// Look a PKP up by token id.
    fn by_token_id(&self, token_id: &[u8; 32]) -> Result<PkpRecord, RegistryError>;
    /// Every PKP owned by `owner` ([`BURNED_OWNER`]: every burned PKP).
    fn owned_by(&self, owner: [u8; 20]) -> Result<Vec<PkpRecord>, RegistryError>;
    /// Every permission of the PKP, in the order first granted (the EVM
    /// registry may reorder after a revoke: the contract's set moves its
    /// last entry into the removed slot). An auth method's `user_pubkey` is
    /// per PKP on SQLite and global on the EVM (the latest grant wins, as in
    /// Lit's contract).
    fn permissions(&self, token_id: &[u8; 32]) -> Result<Vec<Permission>, RegistryError>;
    /// The scopes of one auth method on the PKP, or `None` when it is not
    /// permitted. One indexed read: this is the signing path's check.
    fn permission(
        &self,
        token_id: &[u8; 32],
        auth_method_type: u64,
        id: &[u8],
    ) -> Result<Option<BTreeSet<u64>>, RegistryError>;
    /// The node set, or `None` if it was never set.
    fn node_set(&self) -> Result<Option<RegisteredNodeSet>, RegistryError>;
    /// The number of the registry's current epoch: it grows by one each
    /// time the node set is replaced ([`Registry::set_node_set`]) and
    /// never goes back. SQLite counts from 1 at the first node set; the
    /// EVM registry is the `Staking` contract's `epoch().number` (1 at
    /// deployment, so 2 at the first node set). 0 while no node set exists.
    fn epoch(&self) -> Result<u64, RegistryError>;

    // -------------------------------------------------------- mutations

    /// Mint a PKP of `key_type` owned by `owner`'s address: the registry
    /// picks an unpredictable, unique key id and records the derived key (checked
    /// against `root` before it is returned); then grants each of `grants`
    /// and, when `burn` is set, burns it, so that nothing about it can
    /// change afterwards ("mint, grant, burn").
    ///
    /// SQLite does all of it in one transaction; the EVM registry in one
    /// transaction for a plain mint (`mintNext`) and for one action with
    /// scope 1 and burn (`mintGrantAndBurnNext`), otherwise as mint, one
    /// batched grant, burn, in that order, so a failure part-way leaves the
    /// PKP with its owner and never burns it with grants missing. Every
    /// grant is validated before anything is written.
    fn mint_typed(
        &self,
        owner: &SigningKey,
        root: &AffinePoint,
        key_type: PkpKeyType,
        grants: &[Permission],
        burn: bool,
    ) -> Result<PkpRecord, RegistryError>;
    /// Permit `grant.method` on the PKP and add `grant.scopes` to its scopes
    /// (a union: granting again never removes a scope). The auth method's
    /// `user_pubkey` is recorded.
    fn grant(
        &self,
        owner: &SigningKey,
        token_id: &[u8; 32],
        grant: &Permission,
    ) -> Result<(), RegistryError>;
    /// Remove the auth method from the PKP, with all its scopes.
    /// Revoking what is not permitted is a no-op (after the owner check).
    fn revoke(
        &self,
        owner: &SigningKey,
        token_id: &[u8; 32],
        auth_method_type: u64,
        id: &[u8],
    ) -> Result<(), RegistryError>;
    /// Give the PKP to `to` (not the zero address: use [`Registry::burn`]).
    fn transfer(
        &self,
        owner: &SigningKey,
        token_id: &[u8; 32],
        to: [u8; 20],
    ) -> Result<(), RegistryError>;
    /// Burn the PKP: its owner becomes [`BURNED_OWNER`] and its permissions
    /// are frozen forever.
    fn burn(&self, owner: &SigningKey, token_id: &[u8; 32]) -> Result<(), RegistryError>;
    /// Replace the node set. Only the registry's administrator may: on
    /// SQLite the key that first set it, on the EVM the `Staking` owner.
    fn set_node_set(
        &self,
        admin: &SigningKey,
        set: &RegisteredNodeSet,
    ) -> Result<(), RegistryError>;

    /// Member `voter` (signing with its node wallet,
    /// [`claim::node_wallet`]) votes to kick member `target` out of the
    /// committee, as it found `target` unreachable for too long. The vote
    /// is recorded for the current epoch (a member's second vote for the
    /// same target counts once). When members of the committee as many as
    /// its threshold voted so, the target is kicked: a new epoch starts
    /// whose committee leaves it out (it keeps its index, in
    /// [`RegisteredNodeSet::kicked`]), with the two-thirds threshold of the
    /// members that remain, and the nodes move the keys to it. A voter or
    /// target outside the committee, a vote for oneself, or a kick that
    /// would leave fewer than two members is refused.
    fn vote_to_kick(&self, voter: &SigningKey, target: u32) -> Result<KickTally, RegistryError>;

    /// Every kick vote recorded, by epoch, target and voter.
    fn kick_votes(&self) -> Result<Vec<KickVote>, RegistryError>;

    /// Mint the PKP a network claim names (Lit's v7 claim flow: an action's
    /// `Lit.Actions.claimKey`, then a mint of the claimed key): the claim
    /// must carry valid signatures of at least the threshold of nodes of
    /// this registry's node set ([`claim::KeyClaim::verify`]); the PKP's key
    /// id is the claim's derived key id, so its public key is the one the
    /// network derives for it (checked against `root`). It is owned by
    /// `owner`'s address, then granted `grants` and burned when `burn` is
    /// set, as [`Registry::mint_typed`] does. A key id is minted once: a
    /// second mint of the same claim is refused. Only `K256` keys.
    fn mint_claimed(
        &self,
        owner: &SigningKey,
        root: &AffinePoint,
        claim: &claim::KeyClaim,
        grants: &[Permission],
        burn: bool,
    ) -> Result<PkpRecord, RegistryError>;

    /// Apply a change its owner signed ([`signed_op::SignedChange`]) for
    /// the network whose root key is `root`, at most once; the minted
    /// record for a mint. Only registries a node writes itself (SQLite)
    /// take changes this way; on a chain the owner sends a transaction.
    fn apply_signed(
        &self,
        signed: &signed_op::SignedChange,
        root: &AffinePoint,
        now_ms: u64,
    ) -> Result<Option<PkpRecord>, RegistryError> {
        let _ = (signed, root, now_ms);
        Err(RegistryError::Invalid(
            "this network's registry is on a chain: send the change as a transaction to its \
             contracts (candela pkp ... does that with the network.json's chain)"
                .into(),
        ))
    }

    // ------------------------------------------------ provided helpers

    /// [`Registry::mint_typed`] of a `K256` PKP.
    fn mint_with(
        &self,
        owner: &SigningKey,
        root: &AffinePoint,
        grants: &[Permission],
        burn: bool,
    ) -> Result<PkpRecord, RegistryError> {
        self.mint_typed(owner, root, PkpKeyType::K256, grants, burn)
    }

    /// Mint a PKP with no permissions.
    fn mint(&self, owner: &SigningKey, root: &AffinePoint) -> Result<PkpRecord, RegistryError> {
        self.mint_with(owner, root, &[], false)
    }

    /// Mint a PKP permitting each action of `ipfs_ids` with scope 1, burned
    /// if `burn` is set (see [`Registry::mint_with`]).
    fn mint_with_actions(
        &self,
        owner: &SigningKey,
        root: &AffinePoint,
        ipfs_ids: &[&str],
        burn: bool,
    ) -> Result<PkpRecord, RegistryError> {
        let grants = ipfs_ids
            .iter()
            .map(|c| {
                Ok(Permission::new(
                    AuthMethod::action(c)?,
                    [SCOPE_SIGN_ANYTHING],
                ))
            })
            .collect::<Result<Vec<_>, RegistryError>>()?;
        self.mint_with(owner, root, &grants, burn)
    }

    /// Permit the action `ipfs_id` with `scope`.
    fn add_permitted_action(
        &self,
        owner: &SigningKey,
        token_id: &[u8; 32],
        ipfs_id: &str,
        scope: u64,
    ) -> Result<(), RegistryError> {
        self.grant(
            owner,
            token_id,
            &Permission::new(AuthMethod::action(ipfs_id)?, [scope]),
        )
    }

    /// Whether the auth method is permitted on the PKP.
    fn is_permitted_auth_method(
        &self,
        token_id: &[u8; 32],
        auth_method_type: u64,
        id: &[u8],
    ) -> Result<bool, RegistryError> {
        Ok(self.permission(token_id, auth_method_type, id)?.is_some())
    }

    /// Whether the action with CIDv0 `ipfs_id` is permitted on the PKP
    /// (a malformed CID is [`RegistryError::InvalidCid`]).
    fn is_permitted_action(
        &self,
        token_id: &[u8; 32],
        ipfs_id: &str,
    ) -> Result<bool, RegistryError> {
        let m = AuthMethod::action(ipfs_id)?;
        self.is_permitted_auth_method(token_id, m.auth_method_type, &m.id)
    }

    /// Whether `address` is permitted: explicitly, or as the owner of a
    /// live PKP.
    fn is_permitted_address(
        &self,
        token_id: &[u8; 32],
        address: [u8; 20],
    ) -> Result<bool, RegistryError> {
        if self.is_permitted_auth_method(token_id, AUTH_METHOD_TYPE_ADDRESS, &address)? {
            return Ok(true);
        }
        match self.by_token_id(token_id) {
            Ok(rec) => Ok(rec.owner == address && rec.owner != BURNED_OWNER),
            Err(RegistryError::UnknownPkp(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The CIDs of the permitted actions, in the order first granted.
    fn permitted_actions(&self, token_id: &[u8; 32]) -> Result<Vec<String>, RegistryError> {
        Ok(self
            .permissions(token_id)?
            .iter()
            .filter_map(|p| p.method.ipfs_cid())
            .collect())
    }

    /// The permitted addresses: the owner of a live PKP first, then the
    /// explicitly permitted ones in the order granted.
    fn permitted_addresses(&self, token_id: &[u8; 32]) -> Result<Vec<[u8; 20]>, RegistryError> {
        let mut out = Vec::new();
        match self.by_token_id(token_id) {
            Ok(rec) if rec.owner != BURNED_OWNER => out.push(rec.owner),
            Ok(_) | Err(RegistryError::UnknownPkp(_)) => {}
            Err(e) => return Err(e),
        }
        for p in self.permissions(token_id)? {
            if let Some(a) = p.method.eth_address() {
                if !out.contains(&a) {
                    out.push(a);
                }
            }
        }
        Ok(out)
    }

    /// Every permitted auth method (of every type), in the order granted.
    fn permitted_auth_methods(
        &self,
        token_id: &[u8; 32],
    ) -> Result<Vec<AuthMethod>, RegistryError> {
        Ok(self
            .permissions(token_id)?
            .into_iter()
            .map(|p| p.method)
            .collect())
    }

    /// Lit's `getPermittedAuthMethodScopes`: for each scope id
    /// `0..max_scope_id`, whether the auth method has it on the PKP.
    fn auth_method_scopes(
        &self,
        token_id: &[u8; 32],
        auth_method_type: u64,
        id: &[u8],
        max_scope_id: u64,
    ) -> Result<Vec<bool>, RegistryError> {
        let scopes = self
            .permission(token_id, auth_method_type, id)?
            .unwrap_or_default();
        Ok((0..max_scope_id).map(|s| scopes.contains(&s)).collect())
    }
}

/// Open the registry a node set names: the SQLite file, or the EVM
/// deployment over JSON-RPC (checked to answer and to hold the contracts).
pub fn open(
    location: &candela_api::network::RegistryLocation,
) -> Result<Box<dyn Registry>, RegistryError> {
    use candela_api::network::RegistryLocation;
    match location {
        RegistryLocation::Sqlite { path } => {
            Ok(Box::new(SqliteRegistry::open(std::path::Path::new(path))?))
        }
        RegistryLocation::Evm { .. } => Ok(Box::new(open_evm(location)?)),
    }
}

/// Open the EVM deployment a node set names, for what only the EVM registry
/// does (kicking nodes from the SDK's view); a SQLite location is
/// [`RegistryError::Invalid`].
pub fn open_evm(
    location: &candela_api::network::RegistryLocation,
) -> Result<EvmRegistry, RegistryError> {
    use candela_api::network::RegistryLocation;
    let RegistryLocation::Evm { rpc_url, contracts } = location else {
        return Err(RegistryError::Invalid(
            "this network's registry is SQLite, not EVM contracts".into(),
        ));
    };
    let value = serde_json::to_value(contracts)
        .map_err(|e| RegistryError::Encoding(format!("EVM contract addresses: {e}")))?;
    let addresses: EvmAddresses = serde_json::from_value(value)
        .map_err(|e| RegistryError::Encoding(format!("EVM contract addresses: {e}")))?;
    EvmRegistry::connect(rpc_url, addresses)
}
