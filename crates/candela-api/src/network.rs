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
    /// The registry.
    pub registry: RegistryLocation,
    /// The signing protocol in use.
    pub ecdsa_protocol: String,
}
