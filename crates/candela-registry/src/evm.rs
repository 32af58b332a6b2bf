//! The EVM registry: Candela's Solidity contracts (`contracts/`: `PKPNFT`,
//! `PKPPermissions`, `Staking`, `Secp256k1KeyDeriver`) over JSON-RPC.
//!
//! * The key id of a PKP is chosen on-chain by `PKPNFT.mintNext`, which also
//!   derives the public key there; every record read back is checked with
//!   [`PkpRecord::check_derivation`] against the root the caller expects.
//! * Mutations are real transactions signed by the owner's key (the PKP
//!   contracts check `msg.sender`). The owner's account pays the gas. Input
//!   is validated before anything is sent, and a transaction the contract
//!   would refuse fails its gas estimate, so a refused mutation sends
//!   nothing; the contracts' custom errors become the matching
//!   [`RegistryError`] variants.
//! * [`Registry::mint_with`] takes one transaction for a plain mint
//!   (`mintNext`) and for one action with scope 1 that is burned
//!   (`mintGrantAndBurnNext`); otherwise `mintNext`, one
//!   `batchAddRemoveAuthMethods` with every grant, then `burn`, in that
//!   order: a failure part-way leaves the PKP with its owner (the error
//!   names it), never burned with grants missing.
//! * A mint's gas is estimated and then raised by [`MINT_GAS_MARGIN_PERCENT`]:
//!   the derivation's cost depends on the key id the mined block yields, not
//!   the one the estimate saw (contracts/README.md, "Gas depends on the key
//!   id").
//! * The node set is `Staking`'s validator set, administered by the
//!   `Staking` owner. A node's `Staking` address is [`node_address`] of its
//!   identity key; its URL is stored next to Lit's `ip`/`port`, so the host
//!   must be an IPv4 literal.
//! * Order of [`Registry::permissions`]: the contract keeps each PKP's auth
//!   methods in an insertion-ordered set whose removal moves the last entry
//!   into the hole, so after a revoke the order is the contract's, not
//!   strictly "first granted". The `user_pubkey` of an auth method is stored
//!   once per auth method (not per PKP), as in Lit: the latest grant's wins.
//! * [`Registry`] is synchronous. The registry owns a small multi-threaded
//!   tokio runtime; each call is spawned on it and the caller waits on a
//!   channel, so it may be called from plain threads and from inside another
//!   tokio runtime alike (it blocks that thread for the round trips, like
//!   any blocking I/O).
//! * Contracts are deployed from the ABI + bytecode JSON files that
//!   `bash contracts/setup.sh` writes to `contracts/out/`, read at run time
//!   (the build does not depend on them). The interfaces the registry calls
//!   are declared below with `sol!`; a test checks each selector against the
//!   compiled ABI.
use std::collections::BTreeSet;
use std::future::Future;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use alloy::network::{Ethereum, TransactionBuilder};
use alloy::primitives::{keccak256, Bytes, U256};
use alloy::providers::{Provider, ProviderBuilder, RootProvider};
use alloy::rpc::types::{Filter, TransactionReceipt, TransactionRequest};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol;
use alloy::sol_types::{SolCall, SolEvent, SolValue};
use alloy::transports::RpcError;
use candela_crypto::derive;
use candela_crypto::AffinePoint;
use serde::{Deserialize, Serialize};

pub use alloy::primitives::Address;

use crate::{
    signer_address, validate_auth_method, validate_scopes, AuthMethod, KickTally, KickVote,
    Permission, PkpKeyType, PkpRecord, RegisteredNode, RegisteredNodeSet, Registry, RegistryError,
    SigningKey, AUTH_METHOD_TYPE_ACTION, BURNED_OWNER, MAX_SCOPE_ID, SCOPE_SIGN_ANYTHING,
};

/// Extra gas added to a mint's estimate, in percent. The contracts README
/// asks for at least 20 %; the derivation's theoretical worst case is about
/// 0.24 M gas above a ~0.78 M average (and estimates can land on a cheap key
/// id), so 40 % also covers the rare worst cases. Unused gas is not charged.
pub const MINT_GAS_MARGIN_PERCENT: u64 = 40;
/// Gas margin of every other transaction, over its estimate.
pub const TX_GAS_MARGIN_PERCENT: u64 = 20;

/// Epoch length and timeout of a freshly deployed `Staking` (deploy.mjs's
/// defaults).
const EPOCH_LENGTH_SECS: u64 = 3600;
const EPOCH_TIMEOUT_SECS: u64 = 60;

/// How long one call may take before it fails with a clear error.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// Placeholder for an address a revert does not name; replaced by the real
/// one (read from the chain) before the error is returned.
const UNNAMED: &str = "another address";

sol! {
    #[sol(rpc)]
    #[derive(Debug)]
    interface IPKPNFT {
        event PKPMinted(uint256 indexed tokenId, bytes pubkey);

        error CallerNotOwner();
        error DerivationMismatch();
        error ERC721NonexistentToken(uint256 tokenId);
        error ERC721InsufficientApproval(address operator, uint256 tokenId);
        error ERC721IncorrectOwner(address sender, uint256 tokenId, address owner);
        error ERC721InvalidReceiver(address receiver);
        error InvalidPubkey();
        error PkpCollision(uint256 tokenId);
        error PkpPermissionsNotSet();
        error RootPubkeyLocked();
        error RootPubkeyNotSet();
        error UnsupportedKeyType(uint256 keyType);
        error WrongMintCost(uint256 sent, uint256 required);
        error AlreadySet();
        error ZeroAddress();
        error StakingNotSet();
        error KeyAlreadyClaimed(bytes32 derivedKeyId);
        error InvalidClaimSignatures(bytes32 derivedKeyId);

        struct Signature {
            bytes32 r;
            bytes32 s;
            uint8 v;
        }

        function mintNext(uint256 keyType) external payable returns (uint256);
        function claimAndMint(uint256 keyType, bytes32 derivedKeyId, Signature[] signatures) external payable returns (uint256);
        function mintGrantAndBurnNext(uint256 keyType, bytes ipfsCID) external payable returns (uint256);
        function burn(uint256 tokenId) external;
        function transferFrom(address from, address to, uint256 tokenId) external;
        function mintCost() external view returns (uint256);
        function getPubkey(uint256 tokenId) external view returns (bytes);
        function getDerivedKeyId(uint256 tokenId) external view returns (bytes32);
        function getKeyType(uint256 tokenId) external view returns (uint256);
        function tokenIdFormula() external pure returns (uint256);
        function isBurned(uint256 tokenId) external view returns (bool);
        function ownerOf(uint256 tokenId) external view returns (address);
        function balanceOf(address owner) external view returns (uint256);
        function tokenOfOwnerByIndex(address owner, uint256 index) external view returns (uint256);
        function getRootPubkey() external view returns (bytes);
        function setRootPubkey(bytes pubkey) external;
        function setPkpPermissionsAddress(address pkpPermissions) external;
        function setStakingAddress(address staking) external;
        function getPkpPermissionsAddress() external view returns (address);
    }

    // batchAddRemoveAuthMethods is Lit's seven-argument call.
    #[sol(rpc)]
    #[derive(Debug)]
    #[allow(clippy::too_many_arguments)]
    interface IPKPPermissions {
        struct AuthMethod {
            uint256 authMethodType;
            bytes id;
            bytes userPubkey;
        }

        error NotPKPOwner(uint256 tokenId, address caller);
        error PKPBurned(uint256 tokenId);
        error UnknownPKP(uint256 tokenId);
        error InvalidIpfsCID(bytes ipfsCID);
        error InvalidAuthMethodType(uint256 authMethodType);
        error InvalidAddressId(bytes id);
        error WebAuthnPubkeyMismatch();
        error LengthMismatch();

        function addPermittedAuthMethod(uint256 tokenId, AuthMethod authMethod, uint256[] scopes) external;
        function removePermittedAuthMethod(uint256 tokenId, uint256 authMethodType, bytes id) external;
        function batchAddRemoveAuthMethods(
            uint256 tokenId,
            uint256[] permittedAuthMethodTypesToAdd,
            bytes[] permittedAuthMethodIdsToAdd,
            bytes[] permittedAuthMethodPubkeysToAdd,
            uint256[][] permittedAuthMethodScopesToAdd,
            uint256[] permittedAuthMethodTypesToRemove,
            bytes[] permittedAuthMethodIdsToRemove
        ) external;
        function getPermittedAuthMethods(uint256 tokenId) external view returns (AuthMethod[]);
        function getPermittedAuthMethodScopes(uint256 tokenId, uint256 authMethodType, bytes id, uint256 maxScopeId) external view returns (bool[]);
        function isPermittedAuthMethod(uint256 tokenId, uint256 authMethodType, bytes id) external view returns (bool);
        function isPermittedAction(uint256 tokenId, bytes ipfsCID) external view returns (bool);
        function isPermittedAddress(uint256 tokenId, address user) external view returns (bool);
        function getPermittedActions(uint256 tokenId) external view returns (bytes[]);
        function getPermittedAddresses(uint256 tokenId) external view returns (address[]);
        function getAuthMethodId(uint256 authMethodType, bytes id) external pure returns (uint256);
    }

    #[sol(rpc)]
    #[derive(Debug)]
    interface IStaking {
        struct Epoch {
            uint256 epochLength;
            uint256 number;
            uint256 endTime;
            uint256 retries;
            uint256 timeout;
        }

        struct Validator {
            uint32 ip;
            uint128 ipv6;
            uint32 port;
            address nodeAddress;
            uint256 reward;
            uint256 senderPubKey;
            uint256 receiverPubKey;
        }

        error CallerNotOwner();
        error InvalidThreshold(uint256 threshold, uint256 activeCount);
        error InvalidValidator(uint256 index);
        error DuplicateValidator(address nodeAddress);
        error NotAValidator(address nodeAddress);
        error LengthMismatch();
        error MustBeValidatorInNextEpochToKick(address stakerAddress);
        error CannotVoteTwice(address stakerAddress);
        error CannotKickBelowCurrentValidatorThreshold();

        struct KickVote {
            uint256 epochNumber;
            address voter;
            address target;
        }

        function owner() external view returns (address owner_);
        function epoch() external view returns (Epoch);
        function getActiveUnkickedValidatorStructsAndCounts() external view returns (Epoch, uint256, Validator[]);
        function getValidatorsStructsInCurrentEpoch() external view returns (Validator[]);
        function currentValidatorCountForConsensus() external view returns (uint256);
        function getKickedValidators() external view returns (address[]);
        function adminKickValidatorInNextEpoch(address validatorStakerAddress) external;
        function adminRejoinValidator(address staker) external;
        function getNodeUrl(address nodeAddress) external view returns (string);
        function getNodeIdentityKey(address nodeAddress) external view returns (bytes32);
        function setValidators(Validator[] newValidators, string[] urls, uint256 threshold) external;
        function setValidatorsKickedOut(Validator[] newValidators, string[] urls, uint256 threshold, uint256[] kickedOut) external;
        function getValidatorsInCurrentEpoch() external view returns (address[]);
        function getKickedOutIndices() external view returns (uint256[]);
        function getKickVotes() external view returns (KickVote[]);
        function getVotingStatusToKickValidator(uint256 epochNumber, address validatorStakerAddress, address voterStakerAddress) external view returns (uint256, bool);
        function kickValidatorInNextEpoch(address validatorStakerAddress, uint256 reason, bytes data) external;
        function advanceEpoch() external;
    }
}

/// The `Staking` address of a node registered before nodes had wallets:
/// the low 20 bytes of `keccak256(identity_key)`, an address nobody holds a
/// key for.
pub fn node_address(identity_key: &[u8; 32]) -> Address {
    Address::from_slice(&keccak256(identity_key)[12..])
}

/// A node's address in `Staking` (`Validator.nodeAddress`): its wallet's
/// address ([`crate::claim::node_wallet`]), which signs its key claims and
/// which `PKPNFT.claimAndMint` checks, as Lit's node addresses are; for a
/// node registered without a wallet, [`node_address`] of its identity key.
pub fn staking_address(node: &RegisteredNode) -> Address {
    if node.wallet_address == [0u8; 20] {
        node_address(&node.identity_key)
    } else {
        Address::from(node.wallet_address)
    }
}

/// Where a deployment lives; the same JSON shape `contracts/deploy.mjs`
/// prints, so either can be read with `serde_json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EvmAddresses {
    /// The chain id.
    pub chain_id: u64,
    /// The account that deployed (and administers) the contracts.
    pub deployer: Address,
    /// `PKPNFT`.
    pub pkp_nft: Address,
    /// `PKPPermissions`.
    pub pkp_permissions: Address,
    /// `Staking`.
    pub staking: Address,
    /// `Secp256k1KeyDeriver`.
    pub key_deriver: Address,
}

/// The creation bytecode of the four contracts, from `contracts/out/*.json`.
#[derive(Debug, Clone)]
pub struct Artifacts {
    staking: Bytes,
    key_deriver: Bytes,
    pkp_nft: Bytes,
    pkp_permissions: Bytes,
}

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

impl Artifacts {
    /// `contracts/out` of this source tree, or `$CANDELA_CONTRACTS_OUT`
    /// (for tests and tools that run inside the checkout).
    pub fn default_dir() -> PathBuf {
        std::env::var_os("CANDELA_CONTRACTS_OUT")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contracts/out"))
    }

    /// Whether the contracts were compiled into this binary.
    pub fn embedded_available() -> bool {
        !embedded::EMBEDDED_ARTIFACTS.is_empty()
    }

    /// The artifacts an installed binary deploys: `$CANDELA_CONTRACTS_OUT`,
    /// else the ones compiled into the binary, else a checkout's
    /// `contracts/out` (found from the working directory or the
    /// executable), else an error saying how to get them.
    pub fn find() -> Result<Artifacts, RegistryError> {
        if let Some(dir) = std::env::var_os("CANDELA_CONTRACTS_OUT") {
            return Self::load(Path::new(&dir));
        }
        if Self::embedded_available() {
            return Self::parse(|name| {
                embedded::EMBEDDED_ARTIFACTS
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, text)| ((*text).to_string(), format!("{name} (embedded)")))
                    .ok_or_else(|| RegistryError::Chain(format!("contract {name} is not embedded")))
            });
        }
        match crate::locate::in_checkout("contracts/out/PKPNFT.json") {
            Some(p) => Self::load(p.parent().unwrap_or(Path::new("."))),
            None => Err(RegistryError::Chain(
                "the registry contracts are not compiled into this candela binary and none \
                 were found: in a Candela checkout run `bash contracts/setup.sh` (then rebuild \
                 to embed them), or set CANDELA_CONTRACTS_OUT to a directory holding \
                 Staking.json, Secp256k1KeyDeriver.json, PKPNFT.json and PKPPermissions.json"
                    .into(),
            )),
        }
    }

    /// Read the four artifacts from `dir`.
    pub fn load(dir: &Path) -> Result<Artifacts, RegistryError> {
        Self::parse(|name| {
            let path = dir.join(format!("{name}.json"));
            let text = std::fs::read_to_string(&path).map_err(|e| {
                RegistryError::Chain(format!(
                    "contract artifact {} not readable ({e}): run `bash contracts/setup.sh`",
                    path.display()
                ))
            })?;
            Ok((text, path.display().to_string()))
        })
    }

    /// The artifacts from `text_of(name)`: (JSON text, where it came from).
    fn parse(
        text_of: impl Fn(&str) -> Result<(String, String), RegistryError>,
    ) -> Result<Artifacts, RegistryError> {
        let read = |name: &str| -> Result<Bytes, RegistryError> {
            let (text, origin) = text_of(name)?;
            let v: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| RegistryError::Encoding(format!("{origin}: {e}")))?;
            let code = v["bytecode"].as_str().unwrap_or_default();
            let code = hex::decode(code.trim_start_matches("0x"))
                .map_err(|e| RegistryError::Encoding(format!("{origin}: {e}")))?;
            if code.is_empty() {
                return Err(RegistryError::Encoding(format!("{origin}: no bytecode")));
            }
            Ok(code.into())
        };
        Ok(Artifacts {
            staking: read("Staking")?,
            key_deriver: read("Secp256k1KeyDeriver")?,
            pkp_nft: read("PKPNFT")?,
            pkp_permissions: read("PKPPermissions")?,
        })
    }
}

struct Inner {
    url: String,
    provider: RootProvider<Ethereum>,
    addresses: EvmAddresses,
    /// Held from a mutation's first transaction to its last receipt, so two
    /// calls signed by one key never pick the same nonce.
    tx_lock: tokio::sync::Mutex<()>,
}

/// The PKP registry on an EVM chain. See the module documentation.
pub struct EvmRegistry {
    inner: Arc<Inner>,
    rt: Rt,
}

/// The registry's own runtime. Dropping a runtime blocks, which tokio
/// forbids inside another runtime; shutting it down in the background never
/// does, so this may be dropped anywhere.
struct Rt(Option<tokio::runtime::Runtime>);

impl Drop for Rt {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

fn runtime() -> Result<Rt, RegistryError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("candela-evm-registry")
        .enable_all()
        .build()
        .map(|rt| Rt(Some(rt)))
        .map_err(|e| RegistryError::Chain(format!("cannot start the RPC runtime: {e}")))
}

/// Run `fut` on `rt` and wait for it from any thread (also from inside
/// another tokio runtime).
fn block_on<T: Send + 'static>(
    rt: &Rt,
    fut: impl Future<Output = Result<T, RegistryError>> + Send + 'static,
) -> Result<T, RegistryError> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let rt = rt.0.as_ref().expect("runtime present until drop");
    rt.spawn(async move {
        let out = match tokio::time::timeout(CALL_TIMEOUT, fut).await {
            Ok(out) => out,
            Err(_) => Err(RegistryError::Chain(format!(
                "no answer from the chain within {CALL_TIMEOUT:?}"
            ))),
        };
        let _ = tx.send(out);
    });
    rx.recv()
        .map_err(|_| RegistryError::Chain("the RPC task ended without an answer".into()))?
}

fn parse_url(url: &str) -> Result<reqwest_url::Url, RegistryError> {
    url.parse()
        .map_err(|e| RegistryError::Chain(format!("bad RPC URL {url:?}: {e}")))
}

mod reqwest_url {
    pub use alloy::transports::http::reqwest::Url;
}

fn hex_id(token_id: &[u8; 32]) -> String {
    format!("0x{}", hex::encode(token_id))
}

fn checksum(a: Address) -> String {
    derive::checksum_address(&a.into_array())
}

fn uncompressed(pk: &AffinePoint) -> Vec<u8> {
    derive::point_to_bytes(pk, false)
}

/// Turn an alloy contract error into a registry error: the contracts'
/// custom errors become the matching variants, an unreachable chain says so.
///
/// A revert does not always name everything the variant carries: the PKP
/// owner of a [`RegistryError::NotOwner`] and the addresses of a
/// [`RegistryError::NotAdmin`] are then [`UNNAMED`], and a nonexistent
/// token is [`RegistryError::UnknownPkp`] even when it was burned;
/// [`Inner::explain`] and the node-set path complete them from the chain.
fn contract_err(url: &str, what: &str, e: alloy::contract::Error) -> RegistryError {
    if let Some(err) = e.as_decoded_interface_error::<IPKPPermissions::IPKPPermissionsErrors>() {
        use IPKPPermissions::IPKPPermissionsErrors as P;
        return match err {
            P::PKPBurned(x) => RegistryError::Burned(u256_hex(x.tokenId)),
            P::UnknownPKP(x) => RegistryError::UnknownPkp(u256_hex(x.tokenId)),
            P::NotPKPOwner(x) => RegistryError::NotOwner {
                token_id: u256_hex(x.tokenId),
                owner: UNNAMED.into(),
                signer: checksum(x.caller),
            },
            P::InvalidAuthMethodType(_) | P::InvalidAddressId(_) | P::InvalidIpfsCID(_) => {
                RegistryError::Invalid(format!("{what}: the contract refused {err:?}"))
            }
            P::WebAuthnPubkeyMismatch(_) => RegistryError::Invalid(format!(
                "{what}: this WebAuthn credential is registered with another user public key"
            )),
            other => RegistryError::Chain(format!("{what}: reverted with {other:?}")),
        };
    }
    if let Some(err) = e.as_decoded_interface_error::<IPKPNFT::IPKPNFTErrors>() {
        use IPKPNFT::IPKPNFTErrors as N;
        return match err {
            N::ERC721NonexistentToken(x) => RegistryError::UnknownPkp(u256_hex(x.tokenId)),
            N::ERC721IncorrectOwner(x) => RegistryError::NotOwner {
                token_id: u256_hex(x.tokenId),
                owner: checksum(x.owner),
                signer: checksum(x.sender),
            },
            N::ERC721InsufficientApproval(x) => RegistryError::NotOwner {
                token_id: u256_hex(x.tokenId),
                owner: UNNAMED.into(),
                signer: checksum(x.operator),
            },
            N::ERC721InvalidReceiver(x) => RegistryError::Invalid(format!(
                "{what}: a PKP cannot be given to {}",
                checksum(x.receiver)
            )),
            // Same selector as Staking's (both are `Owned`).
            N::CallerNotOwner(_) => RegistryError::NotAdmin {
                admin: UNNAMED.into(),
                signer: UNNAMED.into(),
            },
            other => RegistryError::Chain(format!("{what}: reverted with {other:?}")),
        };
    }
    if let Some(err) = e.as_decoded_interface_error::<IStaking::IStakingErrors>() {
        use IStaking::IStakingErrors as S;
        return match err {
            S::CallerNotOwner(_) => RegistryError::NotAdmin {
                admin: UNNAMED.into(),
                signer: UNNAMED.into(),
            },
            S::InvalidThreshold(x) => RegistryError::Invalid(format!(
                "{what}: threshold {} needs at least that many active nodes, and {} would remain",
                x.threshold, x.activeCount
            )),
            S::NotAValidator(x) => RegistryError::Invalid(format!(
                "{what}: {} is not a node of the current set in that state (already kicked, or not kicked)",
                checksum(x.nodeAddress)
            )),
            S::InvalidValidator(_) | S::DuplicateValidator(_) => {
                RegistryError::Invalid(format!("{what}: the contract refused {err:?}"))
            }
            S::MustBeValidatorInNextEpochToKick(x) => RegistryError::Invalid(format!(
                "{what}: {} is not the wallet of a member of the committee",
                checksum(x.stakerAddress)
            )),
            S::CannotVoteTwice(x) => RegistryError::Invalid(format!(
                "{what}: {} already voted against that member in this epoch",
                checksum(x.stakerAddress)
            )),
            S::CannotKickBelowCurrentValidatorThreshold(_) => RegistryError::Invalid(format!(
                "{what}: a kick would leave fewer than two members"
            )),
            other => RegistryError::Chain(format!("{what}: reverted with {other:?}")),
        };
    }
    match &e {
        alloy::contract::Error::TransportError(t) => transport_err(url, what, t),
        _ => RegistryError::Chain(format!("{what}: {e}")),
    }
}

fn u256_hex(x: U256) -> String {
    hex_id(&x.to_be_bytes())
}

/// An auth method type read from the chain (a uint256 there).
fn auth_method_type(x: U256) -> Result<u64, RegistryError> {
    u64::try_from(x)
        .map_err(|_| RegistryError::Encoding(format!("auth method type {x} does not fit in u64")))
}

/// A transaction request calling `call` on `to` (sender, nonce and gas are
/// filled when it is sent).
fn call_tx(to: Address, call: impl SolCall) -> TransactionRequest {
    TransactionRequest::default()
        .with_to(to)
        .with_input(call.abi_encode())
}

/// Refuse any malformed grant of a mint before a transaction is sent.
fn validate_grants(grants: &[Permission]) -> Result<(), RegistryError> {
    for g in grants {
        g.method.validate()?;
        validate_scopes(&g.scopes)?;
    }
    Ok(())
}

/// What a mint mints: the registry's next key id of a type, or the key id
/// an action claimed.
enum MintKind {
    Next(PkpKeyType),
    Claimed(crate::claim::KeyClaim),
}

/// The action multihash when `mint_with` can be one `mintGrantAndBurnNext`:
/// exactly one grant, an action with no user key and scopes {1}, burned.
fn one_transaction_action(grants: &[Permission], burn: bool) -> Option<Vec<u8>> {
    match grants {
        [g] if burn
            && g.method.auth_method_type == AUTH_METHOD_TYPE_ACTION
            && g.method.user_pubkey.is_empty()
            && g.scopes.len() == 1
            && g.scopes.contains(&SCOPE_SIGN_ANYTHING) =>
        {
            Some(g.method.id.clone())
        }
        _ => None,
    }
}

/// `batchAddRemoveAuthMethods` adding every grant (and removing nothing).
fn batch_grant_call(
    token_id: [u8; 32],
    grants: &[Permission],
) -> IPKPPermissions::batchAddRemoveAuthMethodsCall {
    IPKPPermissions::batchAddRemoveAuthMethodsCall {
        tokenId: U256::from_be_bytes(token_id),
        permittedAuthMethodTypesToAdd: grants
            .iter()
            .map(|g| U256::from(g.method.auth_method_type))
            .collect(),
        permittedAuthMethodIdsToAdd: grants.iter().map(|g| g.method.id.clone().into()).collect(),
        permittedAuthMethodPubkeysToAdd: grants
            .iter()
            .map(|g| g.method.user_pubkey.clone().into())
            .collect(),
        permittedAuthMethodScopesToAdd: grants.iter().map(|g| scopes_arg(&g.scopes)).collect(),
        permittedAuthMethodTypesToRemove: Vec::new(),
        permittedAuthMethodIdsToRemove: Vec::new(),
    }
}

fn scopes_arg(scopes: &BTreeSet<u64>) -> Vec<U256> {
    scopes.iter().map(|s| U256::from(*s)).collect()
}

/// A mint that failed after its PKP was minted: say which PKP, and that it
/// is still its owner's and not burned.
fn part_way(token_id: [u8; 32], owner: Address, stage: &str, e: RegistryError) -> RegistryError {
    let context = format!(
        "PKP {} was minted to {} and is not burned, but {stage} failed",
        hex_id(&token_id),
        checksum(owner)
    );
    match e {
        RegistryError::Chain(m) => RegistryError::Chain(format!("{context}: {m}")),
        RegistryError::Invalid(m) => RegistryError::Invalid(format!("{context}: {m}")),
        other => other,
    }
}

/// Lit's validator struct for one node: the URL's IPv4 host and port, the
/// node address of [`staking_address`], the identity key as `senderPubKey`
/// and the encryption key as `receiverPubKey`.
fn validator(node: &RegisteredNode) -> Result<IStaking::Validator, RegistryError> {
    let invalid = |why: &str| RegistryError::Invalid(format!("node URL {:?}: {why}", node.url));
    let url: reqwest_url::Url = node.url.parse().map_err(|e| invalid(&format!("{e}")))?;
    let ip: Ipv4Addr = url
        .host_str()
        .and_then(|h| h.parse().ok())
        .ok_or_else(|| {
            invalid("the EVM registry records the node's IPv4 address and port (Lit's validator struct): the host must be an IPv4 literal")
        })?;
    let port = url
        .port_or_known_default()
        .filter(|p| *p != 0)
        .ok_or_else(|| invalid("no port"))?;
    Ok(IStaking::Validator {
        ip: u32::from(ip),
        ipv6: 0,
        port: u32::from(port),
        nodeAddress: staking_address(node),
        reward: U256::ZERO,
        senderPubKey: U256::from_be_bytes(node.identity_key),
        receiverPubKey: U256::from_be_bytes(node.encryption_key),
    })
}

fn transport_err(url: &str, what: &str, e: &alloy::transports::TransportError) -> RegistryError {
    match e {
        RpcError::Transport(kind) => RegistryError::Chain(format!(
            "{what}: cannot reach the chain at {url} ({kind}); is the node running?"
        )),
        other => RegistryError::Chain(format!("{what}: {other}")),
    }
}

fn pending_err(
    url: &str,
    what: &str,
    e: alloy::providers::PendingTransactionError,
) -> RegistryError {
    match e {
        alloy::providers::PendingTransactionError::TransportError(t) => {
            transport_err(url, what, &t)
        }
        other => RegistryError::Chain(format!("{what}: {other}")),
    }
}

/// `e`, or, when the chain said the sender cannot pay for gas, an error
/// that says to fund the sending key.
fn unfunded_or(url: &str, what: &str, e: RegistryError) -> RegistryError {
    let text = e.to_string();
    let lower = text.to_lowercase();
    if lower.contains("insufficient funds") || lower.contains("gas required exceeds allowance") {
        RegistryError::Unfunded(format!(
            "{what}: the sending key's account cannot pay for gas on the chain at {url}; \
             fund it with the chain's native coin (on a devnet: send from the funded \
             development key `candela devnet` prints, or use that key) [{text}]"
        ))
    } else {
        e
    }
}

fn check_status(what: &str, r: &TransactionReceipt) -> Result<(), RegistryError> {
    if r.status() {
        Ok(())
    } else {
        Err(RegistryError::Chain(format!(
            "{what}: transaction {} reverted in block {:?} (gas used {})",
            r.transaction_hash, r.block_number, r.gas_used
        )))
    }
}

/// The token id a mint transaction minted (its `PKPMinted` event).
fn minted_token_id(nft: Address, r: &TransactionReceipt) -> Result<[u8; 32], RegistryError> {
    r.inner
        .logs()
        .iter()
        .filter(|l| l.address() == nft)
        .find_map(|l| l.log_decode::<IPKPNFT::PKPMinted>().ok())
        .map(|l| l.inner.data.tokenId.to_be_bytes())
        .ok_or_else(|| RegistryError::Chain("mint: no PKPMinted event in the receipt".into()))
}

impl Inner {
    /// A provider that signs with `key` (nonce, gas and chain id filled).
    fn signing(&self, key: &SigningKey) -> impl Provider<Ethereum> + Clone {
        let signer = PrivateKeySigner::from_signing_key(key.clone());
        ProviderBuilder::new()
            .wallet(signer)
            .connect_provider(self.provider.clone())
    }

    async fn record(&self, token_id: [u8; 32]) -> Result<PkpRecord, RegistryError> {
        let nft = IPKPNFT::new(self.addresses.pkp_nft, &self.provider);
        let id = U256::from_be_bytes(token_id);
        let url = &self.url;
        let pubkey = nft
            .getPubkey(id)
            .call()
            .await
            .map_err(|e| contract_err(url, "getPubkey", e))?;
        if pubkey.is_empty() {
            return Err(RegistryError::UnknownPkp(hex_id(&token_id)));
        }
        let public_key = derive::parse_public_key(&hex::encode(&pubkey))
            .map_err(|e| RegistryError::Encoding(format!("getPubkey: {e}")))?;
        let key_id = nft
            .getDerivedKeyId(id)
            .call()
            .await
            .map_err(|e| contract_err(url, "getDerivedKeyId", e))?;
        let key_type = nft
            .getKeyType(id)
            .call()
            .await
            .map_err(|e| contract_err(url, "getKeyType", e))?;
        let key_type = PkpKeyType::from_number(u64::try_from(key_type).unwrap_or(0))?;
        let burned = nft
            .isBurned(id)
            .call()
            .await
            .map_err(|e| contract_err(url, "isBurned", e))?;
        let owner = if burned {
            BURNED_OWNER
        } else {
            nft.ownerOf(id)
                .call()
                .await
                .map_err(|e| contract_err(url, "ownerOf", e))?
                .into_array()
        };
        let rec = PkpRecord {
            token_id,
            key_id: key_id.0,
            public_key,
            owner,
            key_type,
        };
        if derive::token_id(&rec.public_key) != token_id {
            return Err(RegistryError::NotDerived(derive::public_key_hex(
                &rec.public_key,
            )));
        }
        Ok(rec)
    }

    /// Read a minted record back and check it derives from `root`.
    async fn minted(
        &self,
        r: &TransactionReceipt,
        root: &AffinePoint,
    ) -> Result<PkpRecord, RegistryError> {
        let token_id = minted_token_id(self.addresses.pkp_nft, r)?;
        let rec = self.record(token_id).await?;
        rec.check_derivation(root)?;
        Ok(rec)
    }

    async fn check_root(&self, root: &AffinePoint) -> Result<(), RegistryError> {
        let nft = IPKPNFT::new(self.addresses.pkp_nft, &self.provider);
        let on_chain = nft
            .getRootPubkey()
            .call()
            .await
            .map_err(|e| contract_err(&self.url, "getRootPubkey", e))?;
        if on_chain.as_ref() != uncompressed(root).as_slice() {
            return Err(RegistryError::Chain(format!(
                "the chain's root key 0x{} is not the network's root key {}",
                hex::encode(&on_chain),
                derive::public_key_hex(root)
            )));
        }
        Ok(())
    }

    /// Send `tx` with `provider` (which signs it), wait for its receipt and
    /// check that it succeeded. A transaction the contract would refuse
    /// fails its gas estimate, so nothing is sent.
    async fn send_tx<P: Provider<Ethereum>>(
        &self,
        provider: &P,
        what: &str,
        tx: TransactionRequest,
    ) -> Result<TransactionReceipt, RegistryError> {
        let url = &self.url;
        let mut tx = tx;
        if tx.gas.is_none() {
            // Storage refunds (clearing an old node set, revoking) can make
            // an exact estimate fall short: give every transaction a margin.
            let estimate = provider
                .estimate_gas(tx.clone())
                .await
                .map_err(|e| unfunded_or(url, what, contract_err(url, what, e.into())))?;
            tx.set_gas_limit(estimate + estimate * TX_GAS_MARGIN_PERCENT / 100);
        }
        let r = provider
            .send_transaction(tx)
            .await
            .map_err(|e| unfunded_or(url, what, contract_err(url, what, e.into())))?
            .get_receipt()
            .await
            .map_err(|e| pending_err(url, what, e))?;
        check_status(what, &r)?;
        Ok(r)
    }

    /// One transaction on an existing PKP, signed by `key`; a refusal is
    /// completed by [`Inner::explain`].
    async fn mutate_pkp(
        &self,
        key: &SigningKey,
        token_id: [u8; 32],
        what: &str,
        tx: TransactionRequest,
    ) -> Result<(), RegistryError> {
        let from = Address::from(signer_address(key));
        let result = {
            let _serialised = self.tx_lock.lock().await;
            let provider = self.signing(key);
            self.send_tx(&provider, what, tx.with_from(from)).await
        };
        match result {
            Ok(_) => Ok(()),
            Err(e) => Err(self.explain(token_id, e).await),
        }
    }

    /// Complete a refusal from the chain's state: a nonexistent token that
    /// was burned is [`RegistryError::Burned`], and
    /// [`RegistryError::NotOwner`] names the real owner.
    async fn explain(&self, token_id: [u8; 32], e: RegistryError) -> RegistryError {
        let nft = IPKPNFT::new(self.addresses.pkp_nft, &self.provider);
        let id = U256::from_be_bytes(token_id);
        match e {
            RegistryError::UnknownPkp(t) => match nft.isBurned(id).call().await {
                Ok(true) => RegistryError::Burned(t),
                Ok(false) => RegistryError::UnknownPkp(t),
                Err(e) => contract_err(&self.url, "isBurned", e),
            },
            RegistryError::NotOwner {
                token_id: t,
                owner,
                signer,
            } if owner == UNNAMED => {
                let owner = nft.ownerOf(id).call().await.map(checksum).unwrap_or(owner);
                RegistryError::NotOwner {
                    token_id: t,
                    owner,
                    signer,
                }
            }
            other => other,
        }
    }

    /// Mint (see [`Registry::mint_with`]); `grants` are already validated.
    async fn mint_with(
        &self,
        key: SigningKey,
        root: AffinePoint,
        kind: MintKind,
        grants: Vec<Permission>,
        burn: bool,
    ) -> Result<PkpRecord, RegistryError> {
        self.check_root(&root).await?;
        let _serialised = self.tx_lock.lock().await;
        let url = &self.url;
        let from = Address::from(signer_address(&key));
        let provider = self.signing(&key);
        let nft = IPKPNFT::new(self.addresses.pkp_nft, &provider);
        let cost = nft
            .mintCost()
            .call()
            .await
            .map_err(|e| contract_err(url, "mintCost", e))?;
        let (call, one_tx_action) = match kind {
            MintKind::Next(key_type) => {
                let key_type = U256::from(key_type.number());
                let one_tx_action = one_transaction_action(&grants, burn);
                let call = match &one_tx_action {
                    Some(multihash) => nft
                        .mintGrantAndBurnNext(key_type, multihash.clone().into())
                        .into_transaction_request(),
                    None => nft.mintNext(key_type).into_transaction_request(),
                };
                (call, one_tx_action)
            }
            MintKind::Claimed(claim) => {
                let signatures = claim
                    .signatures
                    .values()
                    .map(|sig| IPKPNFT::Signature {
                        r: alloy::primitives::B256::from_slice(&sig[..32]),
                        s: alloy::primitives::B256::from_slice(&sig[32..64]),
                        v: sig[64],
                    })
                    .collect();
                let call = nft
                    .claimAndMint(
                        U256::from(PkpKeyType::K256.number()),
                        claim.derived_key_id.into(),
                        signatures,
                    )
                    .into_transaction_request();
                (call, None)
            }
        };
        let mut tx = call.with_from(from).with_value(cost);
        let estimate = provider
            .estimate_gas(tx.clone())
            .await
            .map_err(|e| contract_err(url, "mint", e.into()))?;
        tx.set_gas_limit(estimate + estimate * MINT_GAS_MARGIN_PERCENT / 100);
        let receipt = self.send_tx(&provider, "mint", tx).await?;
        let token_id = minted_token_id(self.addresses.pkp_nft, &receipt)?;
        if one_tx_action.is_none() {
            if !grants.is_empty() {
                let tx = call_tx(
                    self.addresses.pkp_permissions,
                    batch_grant_call(token_id, &grants),
                );
                self.send_tx(&provider, "batchAddRemoveAuthMethods", tx.with_from(from))
                    .await
                    .map_err(|e| part_way(token_id, from, "granting its permissions", e))?;
            }
            if burn {
                let tx = call_tx(
                    self.addresses.pkp_nft,
                    IPKPNFT::burnCall {
                        tokenId: U256::from_be_bytes(token_id),
                    },
                );
                self.send_tx(&provider, "burn", tx.with_from(from))
                    .await
                    .map_err(|e| part_way(token_id, from, "burning it", e))?;
            }
        }
        self.minted(&receipt, &root).await
    }

    /// The scopes `0..MAX_SCOPE_ID` of one auth method on a PKP.
    async fn scopes(
        &self,
        token_id: U256,
        auth_method_type: U256,
        id: Bytes,
    ) -> Result<BTreeSet<u64>, RegistryError> {
        let bits = IPKPPermissions::new(self.addresses.pkp_permissions, &self.provider)
            .getPermittedAuthMethodScopes(token_id, auth_method_type, id, U256::from(MAX_SCOPE_ID))
            .call()
            .await
            .map_err(|e| contract_err(&self.url, "getPermittedAuthMethodScopes", e))?;
        Ok((0..MAX_SCOPE_ID)
            .zip(bits)
            .filter_map(|(scope, set)| set.then_some(scope))
            .collect())
    }

    async fn auth_methods(&self, token_id: [u8; 32]) -> Result<Vec<AuthMethod>, RegistryError> {
        IPKPPermissions::new(self.addresses.pkp_permissions, &self.provider)
            .getPermittedAuthMethods(U256::from_be_bytes(token_id))
            .call()
            .await
            .map_err(|e| contract_err(&self.url, "getPermittedAuthMethods", e))?
            .into_iter()
            .map(|m| {
                Ok(AuthMethod {
                    auth_method_type: auth_method_type(m.authMethodType)?,
                    id: m.id.to_vec(),
                    user_pubkey: m.userPubkey.to_vec(),
                })
            })
            .collect()
    }

    async fn permissions(&self, token_id: [u8; 32]) -> Result<Vec<Permission>, RegistryError> {
        let id = U256::from_be_bytes(token_id);
        let mut out = Vec::new();
        for method in self.auth_methods(token_id).await? {
            let scopes = self
                .scopes(
                    id,
                    U256::from(method.auth_method_type),
                    method.id.clone().into(),
                )
                .await?;
            out.push(Permission { method, scopes });
        }
        Ok(out)
    }

    async fn is_permitted(
        &self,
        token_id: U256,
        auth_method_type: U256,
        id: Bytes,
    ) -> Result<bool, RegistryError> {
        IPKPPermissions::new(self.addresses.pkp_permissions, &self.provider)
            .isPermittedAuthMethod(token_id, auth_method_type, id)
            .call()
            .await
            .map_err(|e| contract_err(&self.url, "isPermittedAuthMethod", e))
    }

    async fn epoch(&self) -> Result<u64, RegistryError> {
        let staking = IStaking::new(self.addresses.staking, &self.provider);
        let epoch = staking
            .epoch()
            .call()
            .await
            .map_err(|e| contract_err(&self.url, "epoch", e))?;
        u64::try_from(epoch.number)
            .map_err(|_| RegistryError::Encoding("Staking epoch number above 2^64".into()))
    }

    async fn node_set(&self) -> Result<Option<RegisteredNodeSet>, RegistryError> {
        let url = &self.url;
        let staking = IStaking::new(self.addresses.staking, &self.provider);
        // The key's participants are the current epoch's whole set: a node
        // kicked from the SDK's view (`getActiveUnkickedValidatorStructsAndCounts`)
        // keeps its index and its share until the set is replaced.
        let validators = staking
            .getValidatorsStructsInCurrentEpoch()
            .call()
            .await
            .map_err(|e| contract_err(url, "getValidatorsStructsInCurrentEpoch", e))?;
        let threshold = staking
            .currentValidatorCountForConsensus()
            .call()
            .await
            .map_err(|e| contract_err(url, "currentValidatorCountForConsensus", e))?;
        if validators.is_empty() {
            return Ok(None);
        }
        let mut nodes = Vec::with_capacity(validators.len());
        for v in validators {
            let stored = staking
                .getNodeUrl(v.nodeAddress)
                .call()
                .await
                .map_err(|e| contract_err(url, "getNodeUrl", e))?;
            let url = if !stored.is_empty() {
                stored
            } else if v.ip == 0 && v.ipv6 != 0 {
                format!("http://[{}]:{}", Ipv6Addr::from(v.ipv6), v.port)
            } else {
                format!("http://{}:{}", Ipv4Addr::from(v.ip), v.port)
            };
            let identity_key = v.senderPubKey.to_be_bytes();
            // a node address derived from the identity key has no wallet
            let wallet_address = if v.nodeAddress == node_address(&identity_key) {
                [0u8; 20]
            } else {
                v.nodeAddress.into_array()
            };
            nodes.push(RegisteredNode {
                url,
                identity_key,
                encryption_key: v.receiverPubKey.to_be_bytes(),
                wallet_address,
            });
        }
        let threshold = usize::try_from(threshold)
            .map_err(|_| RegistryError::Encoding(format!("threshold {threshold} out of range")))?;
        let kicked = staking
            .getKickedOutIndices()
            .call()
            .await
            .map_err(|e| contract_err(url, "getKickedOutIndices", e))?
            .into_iter()
            .map(|i| {
                u32::try_from(i)
                    .map_err(|_| RegistryError::Encoding(format!("kicked index {i} out of range")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Some(RegisteredNodeSet {
            nodes,
            threshold,
            kicked,
        }))
    }

    /// An owner-only `Staking` call (`what`), signed by `key`; a signer that
    /// is not the `Staking` owner is [`RegistryError::NotAdmin`] naming the
    /// owner.
    async fn staking_admin(
        &self,
        key: SigningKey,
        what: &str,
        call: impl SolCall,
    ) -> Result<(), RegistryError> {
        let from = Address::from(signer_address(&key));
        let result = {
            let _serialised = self.tx_lock.lock().await;
            let provider = self.signing(&key);
            let tx = call_tx(self.addresses.staking, call).with_from(from);
            self.send_tx(&provider, what, tx).await
        };
        match result {
            Ok(_) => Ok(()),
            Err(RegistryError::NotAdmin { .. }) => {
                let admin = IStaking::new(self.addresses.staking, &self.provider)
                    .owner()
                    .call()
                    .await
                    .map_err(|e| contract_err(&self.url, "owner", e))?;
                Err(RegistryError::NotAdmin {
                    admin: checksum(admin),
                    signer: checksum(from),
                })
            }
            Err(e) => Err(e),
        }
    }
    /// `Staking.kickValidatorInNextEpoch` sent by the member whose node
    /// wallet is `key`, against member `target` (its index); the tally.
    async fn vote_to_kick(&self, key: SigningKey, target: u32) -> Result<KickTally, RegistryError> {
        let url = &self.url;
        let staking = IStaking::new(self.addresses.staking, &self.provider);
        let listed = staking
            .getValidatorsInCurrentEpoch()
            .call()
            .await
            .map_err(|e| contract_err(url, "getValidatorsInCurrentEpoch", e))?;
        let target_address = *listed.get(target as usize).ok_or_else(|| {
            RegistryError::Invalid(format!("node {target} is not a member of the committee"))
        })?;
        let epoch = staking
            .epoch()
            .call()
            .await
            .map_err(|e| contract_err(url, "epoch", e))?
            .number;
        let needed = staking
            .currentValidatorCountForConsensus()
            .call()
            .await
            .map_err(|e| contract_err(url, "currentValidatorCountForConsensus", e))?;
        let from = Address::from(signer_address(&key));
        {
            let _serialised = self.tx_lock.lock().await;
            let provider = self.signing(&key);
            let call = IStaking::kickValidatorInNextEpochCall {
                validatorStakerAddress: target_address,
                reason: U256::from(1u8),
                data: Bytes::new(),
            };
            let tx = call_tx(self.addresses.staking, call).with_from(from);
            self.send_tx(&provider, "kickValidatorInNextEpoch", tx)
                .await?;
        }
        let (votes, _) = staking
            .getVotingStatusToKickValidator(epoch, target_address, from)
            .call()
            .await
            .map(|r| (r._0, r._1))
            .map_err(|e| contract_err(url, "getVotingStatusToKickValidator", e))?;
        let to_usize = |x: U256| usize::try_from(x).unwrap_or(usize::MAX);
        Ok(KickTally {
            votes: to_usize(votes),
            needed: to_usize(needed),
            kicked: votes >= needed,
        })
    }

    async fn owned_by(&self, owner: [u8; 20]) -> Result<Vec<PkpRecord>, RegistryError> {
        let url = &self.url;
        let nft = IPKPNFT::new(self.addresses.pkp_nft, &self.provider);
        let mut ids = Vec::new();
        if owner == BURNED_OWNER {
            // Burned tokens are not enumerable: scan the mint events.
            let filter = Filter::new()
                .address(self.addresses.pkp_nft)
                .event_signature(IPKPNFT::PKPMinted::SIGNATURE_HASH)
                .from_block(0);
            let logs = self
                .provider
                .get_logs(&filter)
                .await
                .map_err(|e| transport_err(url, "PKPMinted logs", &e))?;
            for log in logs {
                let id = log
                    .log_decode::<IPKPNFT::PKPMinted>()
                    .map_err(|e| RegistryError::Encoding(format!("PKPMinted: {e}")))?
                    .inner
                    .data
                    .tokenId;
                let burned = nft
                    .isBurned(id)
                    .call()
                    .await
                    .map_err(|e| contract_err(url, "isBurned", e))?;
                if burned {
                    ids.push(id);
                }
            }
        } else {
            let who = Address::from(owner);
            let n = nft
                .balanceOf(who)
                .call()
                .await
                .map_err(|e| contract_err(url, "balanceOf", e))?;
            let n: u64 = n
                .try_into()
                .map_err(|_| RegistryError::Encoding("balanceOf out of range".into()))?;
            for i in 0..n {
                ids.push(
                    nft.tokenOfOwnerByIndex(who, U256::from(i))
                        .call()
                        .await
                        .map_err(|e| contract_err(url, "tokenOfOwnerByIndex", e))?,
                );
            }
        }
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(self.record(id.to_be_bytes()).await?);
        }
        Ok(out)
    }
}

impl EvmRegistry {
    /// Connect to a deployment. Checks that the chain answers, has the
    /// expected chain id and holds the `PKPNFT` contract; no signer is kept,
    /// since each mutation is signed by the key passed to it.
    pub fn connect(rpc_url: &str, addresses: EvmAddresses) -> Result<EvmRegistry, RegistryError> {
        let url = parse_url(rpc_url)?;
        let rt = runtime()?;
        let inner = Arc::new(Inner {
            url: rpc_url.to_string(),
            provider: RootProvider::new_http(url),
            addresses,
            tx_lock: tokio::sync::Mutex::new(()),
        });
        let i = inner.clone();
        block_on(&rt, async move {
            let chain_id = i
                .provider
                .get_chain_id()
                .await
                .map_err(|e| transport_err(&i.url, "connect", &e))?;
            if chain_id != i.addresses.chain_id {
                return Err(RegistryError::Chain(format!(
                    "chain id {chain_id} at {}, expected {}",
                    i.url, i.addresses.chain_id
                )));
            }
            let code = i
                .provider
                .get_code_at(i.addresses.pkp_nft)
                .await
                .map_err(|e| transport_err(&i.url, "connect", &e))?;
            if code.is_empty() {
                return Err(RegistryError::Chain(format!(
                    "no PKPNFT contract at {} on {}",
                    i.addresses.pkp_nft, i.url
                )));
            }
            // contracts from before token ids followed Lit's formula hash
            // the 64-byte key: refuse them rather than disagree on every id
            let formula = IPKPNFT::new(i.addresses.pkp_nft, &i.provider)
                .tokenIdFormula()
                .call()
                .await;
            if !matches!(formula, Ok(v) if v == U256::from(2u8)) {
                return Err(RegistryError::Chain(format!(
                    "the PKPNFT contract at {} on {} computes PKP token ids by an earlier \
                     formula (keccak256 of the 64-byte key; Lit and Candela now hash the 65 \
                     bytes with 0x04): deploy the current contracts (`candela contracts \
                     deploy`, or a new `candela devnet --chain anvil --dir NEW_DIR`)",
                    i.addresses.pkp_nft, i.url
                )));
            }
            Ok(())
        })?;
        Ok(EvmRegistry { inner, rt })
    }

    /// Deploy Staking, Secp256k1KeyDeriver, PKPNFT and PKPPermissions with
    /// `deployer_key` (their administrator), wire them together and set the
    /// root key, as `contracts/deploy.mjs` does; the bytecode comes from
    /// [`Artifacts::find`].
    pub fn deploy(
        rpc_url: &str,
        deployer_key: &SigningKey,
        root_pubkey: &AffinePoint,
    ) -> Result<(EvmRegistry, EvmAddresses), RegistryError> {
        let artifacts = Artifacts::find()?;
        Self::deploy_with(rpc_url, deployer_key, root_pubkey, &artifacts)
    }

    /// [`EvmRegistry::deploy`] with given artifacts.
    pub fn deploy_with(
        rpc_url: &str,
        deployer_key: &SigningKey,
        root_pubkey: &AffinePoint,
        artifacts: &Artifacts,
    ) -> Result<(EvmRegistry, EvmAddresses), RegistryError> {
        let addresses = Self::deploy_contracts_with(rpc_url, deployer_key, artifacts)?;
        let reg = Self::connect(rpc_url, addresses)?;
        reg.set_root_pubkey(deployer_key, root_pubkey)?;
        Ok((reg, addresses))
    }

    /// Deploy the contracts of [`Artifacts::find`] and wire them
    /// together, without the root key: a network sets it
    /// ([`EvmRegistry::set_root_pubkey`]) once its key generation is done,
    /// after its node set is registered.
    pub fn deploy_contracts(
        rpc_url: &str,
        deployer_key: &SigningKey,
    ) -> Result<EvmAddresses, RegistryError> {
        let artifacts = Artifacts::find()?;
        Self::deploy_contracts_with(rpc_url, deployer_key, &artifacts)
    }

    /// [`EvmRegistry::deploy_contracts`] with given artifacts.
    pub fn deploy_contracts_with(
        rpc_url: &str,
        deployer_key: &SigningKey,
        artifacts: &Artifacts,
    ) -> Result<EvmAddresses, RegistryError> {
        let url = parse_url(rpc_url)?;
        let rt = runtime()?;
        let key = deployer_key.clone();
        let art = artifacts.clone();
        let rpc = rpc_url.to_string();
        let addresses = block_on(&rt, async move {
            let provider = ProviderBuilder::new()
                .wallet(PrivateKeySigner::from_signing_key(key.clone()))
                .connect_http(url);
            let admin = Address::from(signer_address(&key));
            let chain_id = provider
                .get_chain_id()
                .await
                .map_err(|e| transport_err(&rpc, "deploy", &e))?;
            let deploy = |code: &Bytes, args: Vec<u8>, name: &'static str| {
                let mut input = code.to_vec();
                input.extend(args);
                let tx = TransactionRequest::default()
                    .with_from(admin)
                    .with_deploy_code(input);
                let provider = &provider;
                let rpc = &rpc;
                async move {
                    let r = provider
                        .send_transaction(tx)
                        .await
                        .map_err(|e| transport_err(rpc, name, &e))?
                        .get_receipt()
                        .await
                        .map_err(|e| pending_err(rpc, name, e))?;
                    check_status(name, &r)?;
                    r.contract_address.ok_or_else(|| {
                        RegistryError::Chain(format!("deploy {name}: no contract address"))
                    })
                }
            };
            let staking = deploy(
                &art.staking,
                (
                    admin,
                    U256::from(EPOCH_LENGTH_SECS),
                    U256::from(EPOCH_TIMEOUT_SECS),
                )
                    .abi_encode_params(),
                "deploy Staking",
            )
            .await?;
            let key_deriver =
                deploy(&art.key_deriver, vec![], "deploy Secp256k1KeyDeriver").await?;
            let pkp_nft = deploy(
                &art.pkp_nft,
                (admin, key_deriver).abi_encode_params(),
                "deploy PKPNFT",
            )
            .await?;
            let pkp_permissions = deploy(
                &art.pkp_permissions,
                (admin, pkp_nft).abi_encode_params(),
                "deploy PKPPermissions",
            )
            .await?;
            let nft = IPKPNFT::new(pkp_nft, &provider);
            for (what, call) in [
                (
                    "setPkpPermissionsAddress",
                    nft.setPkpPermissionsAddress(pkp_permissions)
                        .into_transaction_request(),
                ),
                (
                    "setStakingAddress",
                    nft.setStakingAddress(staking).into_transaction_request(),
                ),
            ] {
                let r = provider
                    .send_transaction(call)
                    .await
                    .map_err(|e| contract_err(&rpc, what, e.into()))?
                    .get_receipt()
                    .await
                    .map_err(|e| pending_err(&rpc, what, e))?;
                check_status(what, &r)?;
            }
            Ok(EvmAddresses {
                chain_id,
                deployer: admin,
                pkp_nft,
                pkp_permissions,
                staking,
                key_deriver,
            })
        })?;
        drop(rt);
        Ok(addresses)
    }

    /// The network root key the contracts derive PKP keys from, if set.
    pub fn root_pubkey(&self) -> Result<Option<AffinePoint>, RegistryError> {
        let on_chain = self.run(|i| async move {
            IPKPNFT::new(i.addresses.pkp_nft, &i.provider)
                .getRootPubkey()
                .call()
                .await
                .map_err(|e| contract_err(&i.url, "getRootPubkey", e))
        })?;
        if on_chain.is_empty() {
            return Ok(None);
        }
        derive::parse_public_key(&hex::encode(&on_chain))
            .map(Some)
            .map_err(|e| RegistryError::Encoding(format!("getRootPubkey: {e}")))
    }

    /// Set the network root key (once; only the deployer may).
    pub fn set_root_pubkey(
        &self,
        admin: &SigningKey,
        root: &AffinePoint,
    ) -> Result<(), RegistryError> {
        let key = admin.clone();
        let root = uncompressed(root);
        self.run(move |i| async move {
            let _serialised = i.tx_lock.lock().await;
            let provider = i.signing(&key);
            let r = IPKPNFT::new(i.addresses.pkp_nft, &provider)
                .setRootPubkey(root.into())
                .send()
                .await
                .map_err(|e| contract_err(&i.url, "setRootPubkey", e))?
                .get_receipt()
                .await
                .map_err(|e| pending_err(&i.url, "setRootPubkey", e))?;
            check_status("setRootPubkey", &r)
        })
    }

    /// Hide the node with `identity_key` from the node set Lit's SDK reads
    /// (`Staking.adminKickValidatorInNextEpoch`): SDK clients then connect
    /// to, and wait for, the other nodes only. The node keeps its index and
    /// key share (the nodes read the whole current set), so it can be let
    /// back in with [`EvmRegistry::rejoin_node`]. Only the `Staking` owner
    /// may; refused if fewer than t nodes would remain visible.
    pub fn kick_node(
        &self,
        admin: &SigningKey,
        identity_key: &[u8; 32],
    ) -> Result<(), RegistryError> {
        let call = IStaking::adminKickValidatorInNextEpochCall {
            validatorStakerAddress: self.staking_address_of(identity_key)?,
        };
        self.staking_admin_tx(admin, "adminKickValidatorInNextEpoch", call)
    }

    /// Start Staking's next epoch (`advanceEpoch`): nodes kicked for it
    /// leave the committee, keeping their index.
    pub fn advance_epoch(&self, admin: &SigningKey) -> Result<(), RegistryError> {
        // advanceEpoch frees storage: a fixed limit rather than an estimate
        // its refund would make fall short
        let key = admin.clone();
        self.run(move |i| async move {
            let _serialised = i.tx_lock.lock().await;
            let provider = i.signing(&key);
            let tx = call_tx(i.addresses.staking, IStaking::advanceEpochCall {})
                .with_from(Address::from(signer_address(&key)))
                .with_gas_limit(1_000_000);
            i.send_tx(&provider, "advanceEpoch", tx).await.map(|_| ())
        })
    }

    /// The `Staking` address of the registered node with `identity_key`.
    fn staking_address_of(&self, identity_key: &[u8; 32]) -> Result<Address, RegistryError> {
        let set = Registry::node_set(self)?.unwrap_or(RegisteredNodeSet {
            nodes: Vec::new(),
            threshold: 0,
            ..Default::default()
        });
        set.nodes
            .iter()
            .find(|n| &n.identity_key == identity_key)
            .map(staking_address)
            .ok_or_else(|| {
                RegistryError::Invalid(format!(
                    "no node with identity key {} is registered",
                    hex::encode(identity_key)
                ))
            })
    }

    /// Show a kicked node to Lit's SDK again (`Staking.adminRejoinValidator`).
    pub fn rejoin_node(
        &self,
        admin: &SigningKey,
        identity_key: &[u8; 32],
    ) -> Result<(), RegistryError> {
        let call = IStaking::adminRejoinValidatorCall {
            staker: self.staking_address_of(identity_key)?,
        };
        self.staking_admin_tx(admin, "adminRejoinValidator", call)
    }

    /// The identity keys of the nodes currently kicked from the SDK's view.
    pub fn kicked_nodes(&self) -> Result<Vec<[u8; 32]>, RegistryError> {
        self.run(move |i| async move {
            let staking = IStaking::new(i.addresses.staking, &i.provider);
            let kicked = staking
                .getKickedValidators()
                .call()
                .await
                .map_err(|e| contract_err(&i.url, "getKickedValidators", e))?;
            let mut keys = Vec::with_capacity(kicked.len());
            for a in kicked {
                let key = staking
                    .getNodeIdentityKey(a)
                    .call()
                    .await
                    .map_err(|e| contract_err(&i.url, "getNodeIdentityKey", e))?;
                keys.push(key.0);
            }
            Ok(keys)
        })
    }

    fn staking_admin_tx(
        &self,
        admin: &SigningKey,
        what: &'static str,
        call: impl SolCall + Send + 'static,
    ) -> Result<(), RegistryError> {
        let key = admin.clone();
        self.run(move |i| async move { i.staking_admin(key, what, call).await })
    }

    /// The deployment this registry talks to.
    pub fn addresses(&self) -> EvmAddresses {
        self.inner.addresses
    }

    fn run<T: Send + 'static, F>(&self, f: impl FnOnce(Arc<Inner>) -> F) -> Result<T, RegistryError>
    where
        F: Future<Output = Result<T, RegistryError>> + Send + 'static,
    {
        block_on(&self.rt, f(self.inner.clone()))
    }
}

impl EvmRegistry {
    /// One transaction on an existing PKP, signed by `owner`.
    fn mutate_pkp(
        &self,
        owner: &SigningKey,
        token_id: &[u8; 32],
        what: &'static str,
        tx: TransactionRequest,
    ) -> Result<(), RegistryError> {
        let key = owner.clone();
        let token_id = *token_id;
        self.run(move |i| async move { i.mutate_pkp(&key, token_id, what, tx).await })
    }
}

impl Registry for EvmRegistry {
    fn by_public_key(&self, public_key: &AffinePoint) -> Result<PkpRecord, RegistryError> {
        let token_id = derive::token_id(public_key);
        let pk = *public_key;
        self.run(move |i| async move {
            match i.record(token_id).await {
                Ok(rec) if rec.public_key == pk => Ok(rec),
                Ok(_) | Err(RegistryError::UnknownPkp(_)) => {
                    Err(RegistryError::UnknownPkp(derive::public_key_hex(&pk)))
                }
                Err(e) => Err(e),
            }
        })
    }

    fn by_token_id(&self, token_id: &[u8; 32]) -> Result<PkpRecord, RegistryError> {
        let token_id = *token_id;
        self.run(move |i| async move { i.record(token_id).await })
    }

    fn owned_by(&self, owner: [u8; 20]) -> Result<Vec<PkpRecord>, RegistryError> {
        self.run(move |i| async move { i.owned_by(owner).await })
    }

    fn permissions(&self, token_id: &[u8; 32]) -> Result<Vec<Permission>, RegistryError> {
        let token_id = *token_id;
        self.run(move |i| async move { i.permissions(token_id).await })
    }

    fn permission(
        &self,
        token_id: &[u8; 32],
        auth_method_type: u64,
        id: &[u8],
    ) -> Result<Option<BTreeSet<u64>>, RegistryError> {
        let token_id = U256::from_be_bytes(*token_id);
        let auth_method_type = U256::from(auth_method_type);
        let id = Bytes::copy_from_slice(id);
        self.run(move |i| async move {
            if !i
                .is_permitted(token_id, auth_method_type, id.clone())
                .await?
            {
                return Ok(None);
            }
            Ok(Some(i.scopes(token_id, auth_method_type, id).await?))
        })
    }

    fn node_set(&self) -> Result<Option<RegisteredNodeSet>, RegistryError> {
        self.run(|i| async move { i.node_set().await })
    }

    fn epoch(&self) -> Result<u64, RegistryError> {
        self.run(|i| async move { i.epoch().await })
    }

    fn mint_typed(
        &self,
        owner: &SigningKey,
        root: &AffinePoint,
        key_type: PkpKeyType,
        grants: &[Permission],
        burn: bool,
    ) -> Result<PkpRecord, RegistryError> {
        validate_grants(grants)?;
        let key = owner.clone();
        let root = *root;
        let grants = grants.to_vec();
        self.run(move |i| async move {
            i.mint_with(key, root, MintKind::Next(key_type), grants, burn)
                .await
        })
    }

    fn mint_claimed(
        &self,
        owner: &SigningKey,
        root: &AffinePoint,
        claim: &crate::claim::KeyClaim,
        grants: &[Permission],
        burn: bool,
    ) -> Result<PkpRecord, RegistryError> {
        validate_grants(grants)?;
        // the contract checks the claim too; checked here first for an
        // error that names the bad signatures
        let rec = claim.record(Registry::node_set(self)?, root, signer_address(owner))?;
        if self.by_token_id(&rec.token_id).is_ok() {
            return Err(claim.already_minted(&rec.token_id));
        }
        let key = owner.clone();
        let root = *root;
        let grants = grants.to_vec();
        let claim = claim.clone();
        self.run(move |i| async move {
            i.mint_with(key, root, MintKind::Claimed(claim), grants, burn)
                .await
        })
    }

    fn grant(
        &self,
        owner: &SigningKey,
        token_id: &[u8; 32],
        grant: &Permission,
    ) -> Result<(), RegistryError> {
        grant.method.validate()?;
        validate_scopes(&grant.scopes)?;
        let call = IPKPPermissions::addPermittedAuthMethodCall {
            tokenId: U256::from_be_bytes(*token_id),
            authMethod: IPKPPermissions::AuthMethod {
                authMethodType: U256::from(grant.method.auth_method_type),
                id: grant.method.id.clone().into(),
                userPubkey: grant.method.user_pubkey.clone().into(),
            },
            scopes: scopes_arg(&grant.scopes),
        };
        self.mutate_pkp(
            owner,
            token_id,
            "addPermittedAuthMethod",
            call_tx(self.inner.addresses.pkp_permissions, call),
        )
    }

    fn revoke(
        &self,
        owner: &SigningKey,
        token_id: &[u8; 32],
        auth_method_type: u64,
        id: &[u8],
    ) -> Result<(), RegistryError> {
        validate_auth_method(auth_method_type, id)?;
        let call = IPKPPermissions::removePermittedAuthMethodCall {
            tokenId: U256::from_be_bytes(*token_id),
            authMethodType: U256::from(auth_method_type),
            id: Bytes::copy_from_slice(id),
        };
        self.mutate_pkp(
            owner,
            token_id,
            "removePermittedAuthMethod",
            call_tx(self.inner.addresses.pkp_permissions, call),
        )
    }

    fn transfer(
        &self,
        owner: &SigningKey,
        token_id: &[u8; 32],
        to: [u8; 20],
    ) -> Result<(), RegistryError> {
        if to == BURNED_OWNER {
            return Err(RegistryError::Invalid(
                "a PKP cannot be transferred to the zero address (burn it instead)".into(),
            ));
        }
        let call = IPKPNFT::transferFromCall {
            from: Address::from(signer_address(owner)),
            to: Address::from(to),
            tokenId: U256::from_be_bytes(*token_id),
        };
        self.mutate_pkp(
            owner,
            token_id,
            "transferFrom",
            call_tx(self.inner.addresses.pkp_nft, call),
        )
    }

    fn burn(&self, owner: &SigningKey, token_id: &[u8; 32]) -> Result<(), RegistryError> {
        let call = IPKPNFT::burnCall {
            tokenId: U256::from_be_bytes(*token_id),
        };
        self.mutate_pkp(
            owner,
            token_id,
            "burn",
            call_tx(self.inner.addresses.pkp_nft, call),
        )
    }

    fn set_node_set(
        &self,
        admin: &SigningKey,
        set: &RegisteredNodeSet,
    ) -> Result<(), RegistryError> {
        set.validate()?;
        let new_validators = set
            .nodes
            .iter()
            .map(validator)
            .collect::<Result<Vec<_>, _>>()?;
        let urls = set.nodes.iter().map(|n| n.url.clone()).collect();
        let threshold = U256::from(set.threshold);
        if set.kicked.is_empty() {
            let call = IStaking::setValidatorsCall {
                newValidators: new_validators,
                urls,
                threshold,
            };
            return self.staking_admin_tx(admin, "setValidators", call);
        }
        let call = IStaking::setValidatorsKickedOutCall {
            newValidators: new_validators,
            urls,
            threshold,
            kickedOut: set.kicked.iter().map(|&k| U256::from(k)).collect(),
        };
        self.staking_admin_tx(admin, "setValidatorsKickedOut", call)
    }

    fn vote_to_kick(&self, voter: &SigningKey, target: u32) -> Result<KickTally, RegistryError> {
        let key = voter.clone();
        self.run(move |i| async move { i.vote_to_kick(key, target).await })
    }

    fn kick_votes(&self) -> Result<Vec<KickVote>, RegistryError> {
        self.run(|i| async move {
            let staking = IStaking::new(i.addresses.staking, &i.provider);
            let listed = staking
                .getValidatorsInCurrentEpoch()
                .call()
                .await
                .map_err(|e| contract_err(&i.url, "getValidatorsInCurrentEpoch", e))?;
            let votes = staking
                .getKickVotes()
                .call()
                .await
                .map_err(|e| contract_err(&i.url, "getKickVotes", e))?;
            let index = |a: Address| listed.iter().position(|&l| l == a).map(|p| p as u32);
            // votes of members no longer listed (a later node set) are left out
            Ok(votes
                .into_iter()
                .filter_map(|v| {
                    Some(KickVote {
                        epoch: u64::try_from(v.epochNumber).ok()?,
                        voter: index(v.voter)?,
                        target: index(v.target)?,
                    })
                })
                .collect())
        })
    }

    // One contract call each, where the provided method would make several.

    fn is_permitted_auth_method(
        &self,
        token_id: &[u8; 32],
        auth_method_type: u64,
        id: &[u8],
    ) -> Result<bool, RegistryError> {
        let token_id = U256::from_be_bytes(*token_id);
        let auth_method_type = U256::from(auth_method_type);
        let id = Bytes::copy_from_slice(id);
        self.run(move |i| async move { i.is_permitted(token_id, auth_method_type, id).await })
    }

    fn is_permitted_action(
        &self,
        token_id: &[u8; 32],
        ipfs_id: &str,
    ) -> Result<bool, RegistryError> {
        let multihash = candela_cid::parse_cid_v0(ipfs_id)?;
        let id = U256::from_be_bytes(*token_id);
        self.run(move |i| async move {
            IPKPPermissions::new(i.addresses.pkp_permissions, &i.provider)
                .isPermittedAction(id, multihash.to_vec().into())
                .call()
                .await
                .map_err(|e| contract_err(&i.url, "isPermittedAction", e))
        })
    }

    fn is_permitted_address(
        &self,
        token_id: &[u8; 32],
        address: [u8; 20],
    ) -> Result<bool, RegistryError> {
        let id = U256::from_be_bytes(*token_id);
        self.run(move |i| async move {
            IPKPPermissions::new(i.addresses.pkp_permissions, &i.provider)
                .isPermittedAddress(id, Address::from(address))
                .call()
                .await
                .map_err(|e| contract_err(&i.url, "isPermittedAddress", e))
        })
    }

    fn permitted_actions(&self, token_id: &[u8; 32]) -> Result<Vec<String>, RegistryError> {
        let id = U256::from_be_bytes(*token_id);
        let list = self.run(move |i| async move {
            IPKPPermissions::new(i.addresses.pkp_permissions, &i.provider)
                .getPermittedActions(id)
                .call()
                .await
                .map_err(|e| contract_err(&i.url, "getPermittedActions", e))
        })?;
        list.iter()
            .map(|mh| Ok(candela_cid::multihash_to_cid_v0(mh)?))
            .collect()
    }

    fn permitted_addresses(&self, token_id: &[u8; 32]) -> Result<Vec<[u8; 20]>, RegistryError> {
        let id = U256::from_be_bytes(*token_id);
        let list = self.run(move |i| async move {
            IPKPPermissions::new(i.addresses.pkp_permissions, &i.provider)
                .getPermittedAddresses(id)
                .call()
                .await
                .map_err(|e| contract_err(&i.url, "getPermittedAddresses", e))
        })?;
        // The contract lists an owner who is also permitted explicitly twice.
        let mut out: Vec<[u8; 20]> = Vec::with_capacity(list.len());
        for a in list {
            let a = a.into_array();
            if !out.contains(&a) {
                out.push(a);
            }
        }
        Ok(out)
    }

    fn permitted_auth_methods(
        &self,
        token_id: &[u8; 32],
    ) -> Result<Vec<AuthMethod>, RegistryError> {
        let token_id = *token_id;
        self.run(move |i| async move { i.auth_methods(token_id).await })
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::{self, Keys};

    use crate::anvil::{dev_key, free_port, Anvil};

    fn start_anvil() -> Anvil {
        Anvil::start().unwrap_or_else(|e| panic!("{e}"))
    }

    fn artifacts() -> Artifacts {
        Artifacts::load(&Artifacts::default_dir()).unwrap_or_else(|e| panic!("{e}"))
    }

    fn deploy(anvil: &Anvil, root: &AffinePoint) -> (EvmRegistry, EvmAddresses) {
        EvmRegistry::deploy_with(&anvil.url, &dev_key(0), root, &artifacts()).unwrap()
    }

    #[test]
    fn evm_passes_the_registry_conformance_suite() {
        let anvil = start_anvil();
        let root = conformance::random_root();
        let (reg, _) = deploy(&anvil, &root);
        let keys = Keys {
            owner: dev_key(1),
            other: dev_key(2),
        };
        let reg: Box<dyn Registry> = Box::new(reg);
        conformance::run_all_with(reg.as_ref(), &root, &keys);
    }

    #[test]
    fn contracts_without_lits_token_id_formula_are_refused_at_connect() {
        let anvil = start_anvil();
        let (_, addresses) = deploy(&anvil, &conformance::random_root());
        // a contract that is no current PKPNFT (it has no tokenIdFormula),
        // as an older deployment's PKPNFT has none
        let old = EvmAddresses {
            pkp_nft: addresses.staking,
            ..addresses
        };
        let err = EvmRegistry::connect(&anvil.url, old)
            .err()
            .expect("refused");
        assert!(err.to_string().contains("earlier formula"), "{err}");
        // the current contracts connect
        EvmRegistry::connect(&anvil.url, addresses).expect("current contracts");
    }

    #[test]
    fn evm_kick_votes_are_recorded_by_staking_and_the_threshold_kicks_a_member_out() {
        let anvil = start_anvil();
        let (reg, _) = deploy(&anvil, &conformance::random_root());
        // the node wallets pay for their votes
        let wallets: Vec<SigningKey> = (0..5).map(|_| conformance::random_key()).collect();
        let rt = tokio::runtime::Runtime::new().unwrap();
        for w in &wallets {
            let to = signer_address(w);
            rt.block_on(crate::anvil::test_tokens::fund(
                &anvil.url,
                to,
                10u128.pow(18),
            ))
            .unwrap();
        }
        conformance::kick_votes(&reg, &dev_key(0), &wallets);
    }

    #[test]
    fn evm_node_set_roundtrip() {
        // A fresh deployment: its Staking has no validators yet. The
        // deployer administers it.
        let anvil = start_anvil();
        let root = conformance::random_root();
        let (reg, _) = deploy(&anvil, &root);
        conformance::node_set_roundtrip(&reg, &dev_key(0), &dev_key(1));
    }

    #[test]
    fn auth_method_id_matches_the_contract() {
        let anvil = start_anvil();
        let (reg, _) = deploy(&anvil, &conformance::random_root());
        let action = candela_cid::parse_cid_v0(conformance::CID_A)
            .unwrap()
            .to_vec();
        let custom: Vec<u8> = (0..100u8).collect();
        for (ty, id) in [
            (
                crate::AUTH_METHOD_TYPE_ADDRESS,
                signer_address(&dev_key(1)).to_vec(),
            ),
            (AUTH_METHOD_TYPE_ACTION, action),
            (6, custom),
            (u64::MAX, Vec::new()),
        ] {
            let on_chain = reg
                .run({
                    let id = id.clone();
                    move |i| async move {
                        Ok(
                            IPKPPermissions::new(i.addresses.pkp_permissions, &i.provider)
                                .getAuthMethodId(U256::from(ty), id.into())
                                .call()
                                .await
                                .unwrap(),
                        )
                    }
                })
                .unwrap();
            assert_eq!(
                on_chain.to_be_bytes::<32>(),
                crate::auth_method_id(ty, &id),
                "{ty}"
            );
        }
    }

    fn node(port: u16, url: &str) -> RegisteredNode {
        let mut identity_key = [0u8; 32];
        identity_key[..2].copy_from_slice(&port.to_be_bytes());
        identity_key[31] = 1;
        RegisteredNode {
            url: url.to_string(),
            identity_key,
            encryption_key: [port as u8; 32],
            wallet_address: crate::claim::wallet_address(&crate::claim::node_wallet(&identity_key)),
        }
    }

    #[test]
    fn a_kicked_node_leaves_the_sdks_view_but_keeps_its_place_in_the_key_set() {
        let anvil = start_anvil();
        let (reg, _) = deploy(&anvil, &conformance::random_root());
        let admin = dev_key(0);
        let set = RegisteredNodeSet {
            nodes: (0..4)
                .map(|i| node(7001 + i, &format!("http://10.0.0.{}:{}", i + 1, 7001 + i)))
                .collect(),
            threshold: 3,
            ..Default::default()
        };
        reg.set_node_set(&admin, &set).unwrap();
        let sdk_view = || {
            reg.run(|i| async move {
                let s = IStaking::new(i.addresses.staking, &i.provider);
                let all = s
                    .getActiveUnkickedValidatorStructsAndCounts()
                    .call()
                    .await
                    .unwrap();
                Ok(all._2.iter().map(|v| v.port).collect::<Vec<_>>())
            })
            .unwrap()
        };
        let kicked = set.nodes[3].identity_key;
        reg.kick_node(&admin, &kicked).unwrap();
        assert_eq!(sdk_view(), vec![7001, 7002, 7003]);
        assert_eq!(
            reg.node_set().unwrap(),
            Some(set.clone()),
            "nodes keep the whole set"
        );
        assert_eq!(reg.kicked_nodes().unwrap(), vec![kicked]);
        // not below t, not twice, only by the admin
        let e = reg
            .kick_node(&admin, &set.nodes[2].identity_key)
            .unwrap_err();
        assert!(e.to_string().contains("threshold 3"), "{e}");
        let e = reg.kick_node(&admin, &kicked).unwrap_err();
        assert!(
            e.to_string().contains("not a node of the current set"),
            "{e}"
        );
        let e = reg.rejoin_node(&dev_key(1), &kicked).unwrap_err();
        assert!(matches!(e, RegistryError::NotAdmin { .. }), "{e}");
        let e = reg
            .kick_node(&dev_key(2), &set.nodes[2].identity_key)
            .unwrap_err();
        assert!(matches!(e, RegistryError::NotAdmin { .. }), "{e}");
        reg.rejoin_node(&admin, &kicked).unwrap();
        assert_eq!(sdk_view(), vec![7001, 7002, 7003, 7004]);
        assert!(reg.kicked_nodes().unwrap().is_empty());
    }

    #[test]
    fn node_urls_need_an_ipv4_host_and_default_to_ip_and_port() {
        let anvil = start_anvil();
        let (reg, addrs) = deploy(&anvil, &conformance::random_root());
        let admin = dev_key(0);
        // Lit's validator struct holds an IPv4 address (or IPv6, which
        // Candela does not write) and a port: a host name is refused.
        for url in [
            "http://localhost:7001",
            "http://[::1]:7001",
            "http://10.0.0.1:0",
        ] {
            let set = RegisteredNodeSet {
                nodes: vec![node(7001, url)],
                threshold: 1,
                ..Default::default()
            };
            let e = reg.set_node_set(&admin, &set).unwrap_err();
            assert!(matches!(e, RegistryError::Invalid(_)), "{url}: {e}");
        }
        assert_eq!(reg.node_set().unwrap(), None);
        // The URL is stored as given; ip and port are Lit's view of it, and
        // the node address is derived from the identity key.
        let set = RegisteredNodeSet {
            nodes: vec![
                node(7001, "http://10.0.0.1:7001/"),
                node(7002, "https://10.0.0.2"),
            ],
            threshold: 2,
            ..Default::default()
        };
        reg.set_node_set(&admin, &set).unwrap();
        assert_eq!(reg.node_set().unwrap(), Some(set.clone()));
        let (v, key) = reg
            .run({
                let n = set.nodes[1].clone();
                move |i| async move {
                    let s = IStaking::new(i.addresses.staking, &i.provider);
                    let all = s
                        .getActiveUnkickedValidatorStructsAndCounts()
                        .call()
                        .await
                        .unwrap();
                    let key = s
                        .getNodeIdentityKey(staking_address(&n))
                        .call()
                        .await
                        .unwrap();
                    Ok((all._2[1].clone(), key))
                }
            })
            .unwrap();
        assert_eq!(key.0, set.nodes[1].identity_key);
        assert_eq!(
            (Ipv4Addr::from(v.ip), v.port),
            ("10.0.0.2".parse().unwrap(), 443)
        );
        assert_eq!(
            v.nodeAddress.into_array(),
            set.nodes[1].wallet_address,
            "a node's Staking address is its wallet's"
        );
        // A validator registered without a URL (as Lit's tooling does) reads
        // back as http://ip:port.
        let mut call = IStaking::setValidatorsCall {
            newValidators: vec![validator(&node(7003, "http://10.0.0.3:7003")).unwrap()],
            urls: Vec::new(),
            threshold: U256::from(1),
        };
        call.newValidators[0].reward = U256::from(5);
        reg.run(move |i| async move {
            let tx = call_tx(addrs.staking, call).with_from(addrs.deployer);
            i.send_tx(&i.signing(&dev_key(0)), "setValidators", tx)
                .await
                .map(|_| ())
        })
        .unwrap();
        let read = reg.node_set().unwrap().unwrap();
        assert_eq!(read.nodes, vec![node(7003, "http://10.0.0.3:7003")]);
        assert_eq!(read.threshold, 1);
    }

    fn block_number(reg: &EvmRegistry) -> u64 {
        reg.run(|i| async move { Ok(i.provider.get_block_number().await.unwrap()) })
            .unwrap()
    }

    #[test]
    fn mint_with_takes_one_transaction_where_the_contract_allows() {
        let anvil = start_anvil();
        let root = conformance::random_root();
        let (reg, _) = deploy(&anvil, &root);
        let owner = dev_key(1);
        let action = |cid: &str, scopes: &[u64]| {
            Permission::new(AuthMethod::action(cid).unwrap(), scopes.iter().copied())
        };
        let cid_b = conformance::cid_b();
        // (grants, burn, transactions): anvil mines one block per transaction.
        let cases: Vec<(Vec<Permission>, bool, u64)> = vec![
            (vec![], false, 1),
            (vec![action(conformance::CID_A, &[1])], true, 1),
            (vec![], true, 2),
            (vec![action(conformance::CID_A, &[1])], false, 2),
            (vec![action(conformance::CID_A, &[1, 2])], true, 3),
            (
                vec![action(conformance::CID_A, &[1]), action(&cid_b, &[1])],
                true,
                3,
            ),
        ];
        for (grants, burn, txs) in cases {
            let before = block_number(&reg);
            let rec = reg.mint_with(&owner, &root, &grants, burn).unwrap();
            assert_eq!(block_number(&reg) - before, txs, "{grants:?} burn={burn}");
            assert_eq!(reg.permissions(&rec.token_id).unwrap(), grants);
            let expected_owner = if burn {
                BURNED_OWNER
            } else {
                signer_address(&owner)
            };
            assert_eq!(rec.owner, expected_owner);
        }
    }

    #[test]
    fn a_mint_that_fails_part_way_keeps_its_owner_and_is_not_burned() {
        let anvil = start_anvil();
        let root = conformance::random_root();
        let (reg, _) = deploy(&anvil, &root);
        let owner = dev_key(1);
        // A WebAuthn credential is pinned to the user key it was first
        // registered with: a grant with another key passes local validation
        // and is refused by the contract, after the mint.
        let webauthn = |pubkey: &[u8]| AuthMethod {
            auth_method_type: crate::AUTH_METHOD_TYPE_WEBAUTHN,
            id: b"credential-1".to_vec(),
            user_pubkey: pubkey.to_vec(),
        };
        let first = reg
            .mint_with(
                &owner,
                &root,
                &[Permission::new(webauthn(b"key-1"), [1])],
                false,
            )
            .unwrap();
        let before = conformance::token_ids(&reg.owned_by(signer_address(&owner)).unwrap());
        let burned_before = conformance::token_ids(&reg.owned_by(BURNED_OWNER).unwrap());
        let grants = [
            Permission::new(AuthMethod::action(conformance::CID_A).unwrap(), [1]),
            Permission::new(webauthn(b"key-2"), [1]),
        ];
        let e = reg.mint_with(&owner, &root, &grants, true).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, RegistryError::Invalid(_)), "{e}");
        assert!(
            msg.contains("is not burned") && msg.contains("WebAuthn"),
            "{msg}"
        );
        let after = conformance::token_ids(&reg.owned_by(signer_address(&owner)).unwrap());
        let new: Vec<_> = after.difference(&before).copied().collect();
        assert_eq!(new.len(), 1, "the PKP was minted and kept by its owner");
        assert!(msg.contains(&hex::encode(new[0])), "{msg}");
        assert_eq!(
            conformance::token_ids(&reg.owned_by(BURNED_OWNER).unwrap()),
            burned_before
        );
        // None of the batch landed; the owner can still grant and burn.
        assert!(reg.permissions(&new[0]).unwrap().is_empty());
        reg.grant(&owner, &new[0], &grants[0]).unwrap();
        reg.burn(&owner, &new[0]).unwrap();
        assert_eq!(reg.by_token_id(&new[0]).unwrap().owner, BURNED_OWNER);
        assert_eq!(
            reg.permissions(&first.token_id).unwrap(),
            vec![Permission::new(webauthn(b"key-1"), [1])]
        );
    }

    #[test]
    fn connect_reads_a_deployment_and_checks_it() {
        let anvil = start_anvil();
        let root = conformance::random_root();
        let (reg, addrs) = deploy(&anvil, &root);
        let rec = reg.mint(&dev_key(1), &root).unwrap();
        // The mint went out with the gas margin: its limit is well above what
        // it used.
        let (limit, used) = reg
            .run(|i| async move {
                use alloy::consensus::Transaction;
                let p = &i.provider;
                let block = p
                    .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
                    .full()
                    .await
                    .unwrap()
                    .unwrap();
                let tx = block.transactions.txns().next().unwrap().clone();
                let receipt = p
                    .get_transaction_receipt(*tx.inner.tx_hash())
                    .await
                    .unwrap()
                    .unwrap();
                Ok((tx.inner.gas_limit(), receipt.gas_used))
            })
            .unwrap();
        assert!(used > 500_000, "a mint derives a key on-chain: {used}");
        assert!(limit * 100 >= used * 125, "limit {limit}, used {used}");
        // The deployment JSON has deploy.mjs's shape and reconnects.
        let json = serde_json::to_value(addrs).unwrap();
        for k in [
            "chainId",
            "deployer",
            "pkpNft",
            "pkpPermissions",
            "staking",
            "keyDeriver",
        ] {
            assert!(json.get(k).is_some(), "{k} in {json}");
        }
        let addrs2: EvmAddresses = serde_json::from_value(json).unwrap();
        let again = EvmRegistry::connect(&anvil.url, addrs2).unwrap();
        assert_eq!(again.by_token_id(&rec.token_id).unwrap(), rec);
        // Wrong chain id, or no contract at the address: refused.
        let e = EvmRegistry::connect(
            &anvil.url,
            EvmAddresses {
                chain_id: 1,
                ..addrs
            },
        )
        .err()
        .expect("wrong chain id");
        assert!(e.to_string().contains("chain id"), "{e}");
        let e = EvmRegistry::connect(
            &anvil.url,
            EvmAddresses {
                pkp_nft: Address::repeat_byte(0x42),
                ..addrs
            },
        )
        .err()
        .expect("no contract");
        assert!(e.to_string().contains("no PKPNFT contract"), "{e}");
        // Minting for another root than the chain's is refused before any
        // transaction is sent.
        let e = reg
            .mint(&dev_key(1), &conformance::random_root())
            .unwrap_err();
        assert!(e.to_string().contains("not the network's root key"), "{e}");
    }

    #[test]
    fn the_registry_works_from_inside_a_tokio_runtime() {
        let anvil = start_anvil();
        let root = conformance::random_root();
        let url = anvil.url.clone();
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            // Deploying, connecting (also failing to) and dropping inside a
            // runtime must neither nest block_on nor panic.
            let (reg, addrs) =
                EvmRegistry::deploy_with(&url, &dev_key(0), &root, &artifacts()).unwrap();
            let rec = reg.mint(&dev_key(1), &root).unwrap();
            assert_eq!(reg.by_public_key(&rec.public_key).unwrap(), rec);
            let e = EvmRegistry::connect(
                &url,
                EvmAddresses {
                    chain_id: 7,
                    ..addrs
                },
            );
            assert!(e.is_err());
            drop(reg);
        });
    }

    #[test]
    fn a_chain_that_is_down_is_a_clear_error() {
        let url = format!("http://127.0.0.1:{}", free_port().unwrap());
        let e =
            EvmRegistry::deploy_with(&url, &dev_key(0), &conformance::random_root(), &artifacts())
                .err()
                .expect("no chain");
        assert!(
            matches!(&e, RegistryError::Chain(m) if m.contains("cannot reach the chain") && m.contains(&url)),
            "{e}"
        );
        // A chain that stops after connecting.
        let anvil = start_anvil();
        let root = conformance::random_root();
        let (reg, addrs) = deploy(&anvil, &root);
        let rec = reg.mint(&dev_key(1), &root).unwrap();
        let url = anvil.url.clone();
        drop(anvil);
        for e in [
            reg.by_token_id(&rec.token_id).unwrap_err(),
            reg.mint(&dev_key(1), &root).unwrap_err(),
            reg.add_permitted_action(&dev_key(1), &rec.token_id, conformance::CID_A, 1)
                .unwrap_err(),
            EvmRegistry::connect(&url, addrs).err().expect("down"),
        ] {
            assert!(
                matches!(&e, RegistryError::Chain(m) if m.contains("cannot reach the chain") && m.contains(&url)),
                "{e}"
            );
        }
    }

    #[test]
    fn concurrent_mutations_signed_by_one_key_all_land() {
        let anvil = start_anvil();
        let root = conformance::random_root();
        let (reg, _) = deploy(&anvil, &root);
        let owner = dev_key(1);
        let recs: Vec<PkpRecord> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| reg.mint_with_actions(&owner, &root, &[conformance::CID_A], false))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap().unwrap())
                .collect()
        });
        let ids: std::collections::BTreeSet<_> = recs.iter().map(|r| r.token_id).collect();
        assert_eq!(ids.len(), 4);
        for rec in &recs {
            rec.check_derivation(&root).unwrap();
            assert!(reg
                .is_permitted_action(&rec.token_id, conformance::CID_A)
                .unwrap());
        }
    }

    #[test]
    fn the_declared_interfaces_match_the_compiled_abi() {
        use alloy::sol_types::SolInterface;
        let dir = Artifacts::default_dir();
        for (name, functions, errors) in [
            (
                "PKPNFT",
                IPKPNFT::IPKPNFTCalls::selectors().collect::<Vec<_>>(),
                IPKPNFT::IPKPNFTErrors::selectors().collect::<Vec<_>>(),
            ),
            (
                "PKPPermissions",
                IPKPPermissions::IPKPPermissionsCalls::selectors().collect::<Vec<_>>(),
                IPKPPermissions::IPKPPermissionsErrors::selectors().collect::<Vec<_>>(),
            ),
            (
                "Staking",
                IStaking::IStakingCalls::selectors().collect::<Vec<_>>(),
                IStaking::IStakingErrors::selectors().collect::<Vec<_>>(),
            ),
        ] {
            let path = dir.join(format!("{name}.json"));
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
                panic!("{}: {e}: run `bash contracts/setup.sh`", path.display())
            });
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            let known: Vec<String> = v["methodIdentifiers"]
                .as_object()
                .unwrap()
                .values()
                .map(|s| s.as_str().unwrap().to_string())
                .collect();
            for sel in functions {
                assert!(
                    known.contains(&hex::encode(sel)),
                    "{name}: function selector {sel:?}"
                );
            }
            // The errors' selectors, from their ABI signatures (every error
            // of these contracts has elementary parameter types).
            let known_errors: Vec<String> = v["abi"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|x| x["type"] == "error")
                .map(|x| {
                    let types: Vec<&str> = x["inputs"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|i| i["type"].as_str().unwrap())
                        .collect();
                    let sig = format!("{}({})", x["name"].as_str().unwrap(), types.join(","));
                    hex::encode(&keccak256(sig)[..4])
                })
                .collect();
            for sel in errors {
                assert!(
                    known_errors.contains(&hex::encode(sel)),
                    "{name}: error selector {sel:?}"
                );
            }
        }
    }
}
