//! `network.json`: what a client needs to talk to a network.
use serde::{Deserialize, Serialize};

/// One node of the node set.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct NodeInfo {
    /// Position in the node set (Shamir x-coordinate is index + 1).
    pub index: u32,
    /// Base URL, e.g. `http://127.0.0.1:7470`.
    pub url: String,
    /// ed25519 identity key (hex), signs every peer message.
    pub identity_key: String,
    /// x25519 key (hex) for encrypting private peer messages.
    pub encryption_key: String,
    /// The node's Ethereum wallet address (hex, no `0x`): its `Staking`
    /// address and the signer of its key claims (`Lit.Actions.claimKey`);
    /// absent for a node registered without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wallet_address: Option<String>,
}

/// Where PKP records live.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum RegistryLocation {
    /// The embedded SQLite registry file.
    Sqlite {
        /// Path of the SQLite file.
        path: String,
    },
    /// The contracts of `contracts/` on an EVM chain.
    #[serde(rename_all = "camelCase")]
    Evm {
        /// JSON-RPC URL of the chain.
        rpc_url: String,
        /// The deployment: what `candela contracts deploy` prints
        /// (`chainId`, `deployer`, `pkpNft`, `pkpPermissions`, `staking`,
        /// `keyDeriver`).
        contracts: EvmContracts,
    },
}

/// Where the contracts of an EVM registry are.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct EvmContracts {
    /// The chain id.
    pub chain_id: u64,
    /// The account that deployed and administers the contracts (0x-hex).
    pub deployer: String,
    /// `PKPNFT` (0x-hex).
    pub pkp_nft: String,
    /// `PKPPermissions` (0x-hex).
    pub pkp_permissions: String,
    /// `Staking`: the node set (0x-hex).
    pub staking: String,
    /// `Secp256k1KeyDeriver` (0x-hex).
    pub key_deriver: String,
}

/// The node set, written before the nodes start.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct NodeSet {
    /// Every node.
    pub nodes: Vec<NodeInfo>,
    /// Parties needed: `floor(2n/3) + 1`.
    pub threshold: usize,
    /// The registry every node reads.
    pub registry: RegistryLocation,
}

/// `network.json`: the node set plus the keys the network generated.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct NetworkInfo {
    /// Every node.
    pub nodes: Vec<NodeInfo>,
    /// Parties needed to sign.
    pub threshold: usize,
    /// Root ECDSA public key, uncompressed SEC1 hex with `0x`.
    pub root_public_key: String,
    /// Root BLS public key (48-byte compressed G1, hex), when generated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bls_public_key: Option<String>,
    /// Every node's public BLS share (48-byte compressed G1, hex) by node
    /// index: a client verifies each node's BLS share against its public
    /// share and names the node whose share fails.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub bls_public_shares: std::collections::BTreeMap<u32, String>,
    /// The registry.
    pub registry: RegistryLocation,
    /// The signing protocol in use.
    pub ecdsa_protocol: String,
    /// With an EVM registry: the chain's JSON-RPC URL, which Lit's SDK takes
    /// as `rpcUrl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpc_url: Option<String>,
    /// With an EVM registry: the `Staking` contract Lit's SDK reads the node
    /// set from (`contractContext.Staking.address`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staking_address: Option<String>,
}

impl RegistryLocation {
    /// The chain's JSON-RPC URL and the `Staking` address, for an EVM
    /// registry (what `network.json` records as `rpcUrl` and
    /// `stakingAddress`).
    pub fn chain_view(&self) -> (Option<String>, Option<String>) {
        match self {
            RegistryLocation::Evm { rpc_url, contracts } => {
                (Some(rpc_url.clone()), Some(contracts.staking.clone()))
            }
            RegistryLocation::Sqlite { .. } => (None, None),
        }
    }
}
