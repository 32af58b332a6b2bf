//! Request and response bodies of the node HTTP API, in Lit v7's shapes.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::auth::AuthSig;

/// `POST /web/pkp/sign/v1`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PkpSignRequest {
    /// The 32-byte digest to sign, as a JSON array of numbers.
    pub to_sign: Vec<u8>,
    /// The PKP public key (SEC1 hex, `0x` optional).
    pub pubkey: String,
    /// Who is asking.
    pub auth_sig: AuthSig,
    /// Auth methods besides `authSig`: each is verified by every node, and
    /// a wallet (type 1) that may sign with the PKP authorises the request
    /// when the `authSig`'s own wallet may not.
    #[serde(default)]
    pub auth_methods: Option<Vec<AuthMethodWire>>,
    /// The network epoch the client believes in.
    #[serde(default)]
    pub epoch: u64,
    /// Lit's `signingScheme` (`EcdsaK256Sha256`, `SchnorrEd25519Sha512`,
    /// `SchnorrK256Taproot`); absent means `EcdsaK256Sha256`. A Schnorr
    /// scheme is answered with a [`crate::schnorr::SchnorrSignResponse`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_scheme: Option<String>,
}

/// One node's ECDSA signature share, as Lit v7 returns it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SignatureShareWire {
    /// The signed digest, hex.
    pub digest: String,
    /// This node's index in the node set.
    pub share_index: u32,
    /// 32-byte big-endian scalar hex, weighted for the signing set; empty
    /// when this node is not in the signing set.
    pub signature_share: String,
    /// The presignature's nonce point, compressed SEC1 hex.
    pub big_r: String,
    /// The PKP public key, uncompressed SEC1 hex.
    pub public_key: String,
    /// `K256`.
    pub sig_type: String,
}

/// Commitments `K_j = k_j·G`, `S_j = σ_j·G` of one signer (compressed hex).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CommitmentWire {
    /// Node index.
    pub node: u32,
    /// `k_j·G`.
    pub k: String,
    /// `σ_j·G`.
    pub sigma: String,
}

/// What a client needs to verify each share before combining (Candela
/// extension; clients that do not know it ignore it).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ShareProof {
    /// The presignature used.
    pub presignature_id: String,
    /// The signing set chosen by the coordinator.
    pub signers: Vec<u32>,
    /// The PKP tweak `δ` (hex scalar); the client checks `δ·G = PK - PK_root`.
    pub tweak: String,
    /// The signers' commitments, as this node stored them (before
    /// rerandomization; the client rerandomizes them itself).
    pub commitments: Vec<CommitmentWire>,
    /// The presignature's own nonce point `R` (compressed SEC1 hex), from
    /// which the client recomputes `ρ` and `R' = ρ·R`; the share's `bigR`
    /// is `R'`. Empty from a node outside the signing set, which reveals
    /// nothing about the presignature.
    #[serde(default)]
    pub presignature_big_r: String,
    /// The coordinator's signed assignment this node followed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignment: Option<crate::assignment::SignedAssignment>,
    /// On a DKLs23 network, from a signer: the full signature the signing
    /// set produced, Ethereum's 65 bytes `r || s || v` (`v = 27 + recovery
    /// id`) in hex; the client verifies it with k256 under the PKP key.
    /// Empty on a cait-sith network and from nodes outside the set.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub signature: String,
}

/// Response of `POST /web/pkp/sign/v1`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PkpSignResponse {
    /// Always true on a 2xx.
    pub success: bool,
    /// This node's share.
    pub signature_share: SignatureShareWire,
    /// Verification material.
    pub candela: ShareProof,
}

/// A non-2xx answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `NodeUnknownPkp`.
    pub error_code: String,
    /// What went wrong, for people.
    pub message: String,
    /// The request id, when there is one.
    pub correlation_id: String,
    /// Console output of an action that failed, as far as it got (execute
    /// only; absent elsewhere).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs: Option<String>,
}

/// `GET /web/status`: readiness and presignature pool figures.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    /// This node's index.
    pub index: u32,
    /// True once the root key shares (ECDSA and BLS) exist and the node has
    /// reconciled its presignatures with its peers' used marks after starting
    /// (until then it answers 503 `NodeSyncing`).
    pub ready: bool,
    /// The root public key, when ready.
    pub root_public_key: Option<String>,
    /// The network's BLS root public key (48-byte compressed G1, hex), once generated.
    #[serde(default)]
    pub bls_public_key: Option<String>,
    /// Every node's public BLS share (48-byte compressed G1, hex) by node
    /// index, once generated: clients verify each decryption or session
    /// share against it and name the node whose share fails.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub bls_public_shares: std::collections::BTreeMap<u32, String>,
    /// Unused presignatures this node holds.
    pub presignatures_free: u64,
    /// Presignatures used (or assigned) so far.
    pub presignatures_used: u64,
    /// Presignatures this node has helped generate since start.
    pub presignatures_generated: u64,
    /// Seconds spent generating them (wall time, summed over sessions).
    pub presign_seconds: f64,
    /// Peers this node currently sees as live.
    pub live_peers: Vec<u32>,
    /// The chains (by name) this node reads for actions and access-control
    /// conditions.
    #[serde(default)]
    pub chains: Vec<String>,
    /// The network's FROST Ed25519 root public key (32 bytes, hex), once
    /// generated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ed25519_public_key: Option<String>,
    /// The network's FROST secp256k1 taproot root key (x-only output key of
    /// the untweaked root, 32 bytes, hex), once generated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k256_taproot_public_key: Option<String>,
    /// The FROST root verifying keys as frost serializes them (Ed25519 32
    /// bytes; taproot the untweaked root, 33 bytes compressed), hex, by key
    /// type name: what a client derives a PKP's Ed25519 or taproot key from.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub frost_root_keys: BTreeMap<String, String>,
    /// Unused Schnorr nonces (both suites) this node holds.
    #[serde(default)]
    pub schnorr_nonces_free: u64,
    /// Schnorr nonces this node has used (each once).
    #[serde(default)]
    pub schnorr_nonces_used: u64,
    /// The epoch of the last proactive refresh of the root shares this node
    /// completed (0: none yet). Keys never change in a refresh; shares do.
    #[serde(default)]
    pub refresh_epoch: u64,
    /// The registry epoch whose committee holds this node's shares: it
    /// follows the registry's epoch once the keys moved to its node set.
    #[serde(default)]
    pub network_epoch: u64,
    /// For each root key (`ecdsa`, `bls`, `ed25519`, `k256-taproot`): the
    /// confirmation digest (hex) of the last refresh of it this node
    /// completed. Every node of the network reports the same digest.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub refresh_digests: std::collections::BTreeMap<String, String>,
}

/// `POST /web/handshake`.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct HandshakeRequest {
    /// A client nonce (echoed back).
    #[serde(default)]
    pub challenge: Option<String>,
    /// Ignored by Candela.
    #[serde(default)]
    pub client_public_key: Option<String>,
}

/// Answer of `POST /web/handshake`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HandshakeResponse {
    /// This node's identity key.
    pub server_public_key: String,
    /// The root ECDSA key (uncompressed hex).
    pub hd_root_pubkeys: Vec<String>,
    /// Epoch number.
    pub epoch: u64,
    /// The nonce auth messages must carry: with an EVM registry, the hash
    /// of a recent block of the registry chain (`0x` + 64 hex); with the
    /// SQLite registry, the network nonce of the current time window.
    pub latest_blockhash: String,
    /// The network's BLS public key (hex, 48-byte compressed G1, no `0x`),
    /// Lit's `networkPublicKey`: session capabilities signed by the network
    /// (PKP sessions) verify against it.
    #[serde(default)]
    pub network_public_key: Option<String>,
    /// The key data is encrypted to (Lit's `subnetPublicKey`): the same BLS
    /// key, as Candela has one network key.
    #[serde(default)]
    pub subnet_public_key: Option<String>,
    /// Lit's `networkPublicKeySet`: the same BLS key (Lit's SDK only checks
    /// that it is present before combining ECDSA shares).
    #[serde(default)]
    pub network_public_key_set: Option<String>,
    /// The node's index.
    pub node_index: u32,
    /// Threshold.
    pub threshold: usize,
}

/// `POST /web/action/upload/v1`: store an action's code on a node.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionUploadRequest {
    /// The action's UTF-8 source, base64.
    pub code: String,
    /// The CIDv0 the uploader expects; the node refuses code that does not
    /// hash to it. When absent the node computes it.
    #[serde(default)]
    pub ipfs_id: Option<String>,
}

/// Answer of `POST /web/action/upload/v1`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ActionUploadResponse {
    /// The CIDv0 the code is stored under.
    pub ipfs_id: String,
}

/// `POST /web/execute/v1`: run an action on every node.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecuteRequest {
    /// The action's UTF-8 source, base64 (or give `ipfsId`).
    #[serde(default)]
    pub code: Option<String>,
    /// The CIDv0 of an action the nodes store (or give `code`; with both,
    /// the code must hash to this CID).
    #[serde(default)]
    pub ipfs_id: Option<String>,
    /// Parameters: each key becomes a global of the action.
    #[serde(default)]
    pub js_params: Option<serde_json::Value>,
    /// Who is asking.
    pub auth_sig: AuthSig,
    /// Auth methods the caller proves besides its `authSig`: each is
    /// verified by every node and shown to the action as an entry of
    /// `Lit.Auth.authMethodContexts` (Candela verifies type 1, Ethereum
    /// wallets; other types are refused).
    #[serde(default)]
    pub auth_methods: Option<Vec<AuthMethodWire>>,
    /// The network epoch the client believes in.
    #[serde(default)]
    pub epoch: u64,
    /// Candela extension: keep a replay record of this run on each node
    /// (`candela action replay`), readable only by this caller. Off when
    /// absent; decrypted plaintext and fetch request headers and bodies are
    /// never recorded.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub record_run: bool,
}

/// One node's share of a signature an action asked for, keyed by `sigName`
/// in [`ExecuteResponse::signed_data`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ExecuteSignedShare {
    /// `K256`.
    pub sig_type: String,
    /// 32-byte big-endian scalar hex, weighted for the signing set; empty
    /// when this node is not in the signing set.
    pub signature_share: String,
    /// This node's index in the node set.
    pub share_index: u32,
    /// The presignature's nonce point, compressed SEC1 hex.
    pub big_r: String,
    /// The PKP public key, uncompressed SEC1 hex.
    pub public_key: String,
    /// The signed 32-byte digest, hex.
    pub data_signed: String,
    /// The name the action gave the signature.
    pub sig_name: String,
    /// Verification material (Candela extension, ignored by Lit's SDK).
    pub candela: ShareProof,
}

/// Answer of `POST /web/execute/v1`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecuteResponse {
    /// Always true on a 2xx.
    pub success: bool,
    /// This node's signature shares, by `sigName`.
    pub signed_data: BTreeMap<String, ExecuteSignedShare>,
    /// `Lit.Actions.claimKey` claims by key id: `{signature, derivedKeyId}`
    /// (the signature is the node's Ed25519 identity key's, see
    /// `candela_node::claim_key`).
    pub claim_data: serde_json::Map<String, serde_json::Value>,
    /// Decryptions (not supported yet: always empty).
    pub decrypted_data: serde_json::Map<String, serde_json::Value>,
    /// What the action passed to `Lit.Actions.setResponse`.
    pub response: String,
    /// The action's console output.
    pub logs: String,
    /// True when the run's response may differ from node to node by the
    /// action's design: it called `decryptToSingleNode`, whose plaintext
    /// only one node holds, or `encrypt`, whose ciphertext each node
    /// randomizes (Candela extension, ignored by Lit's SDK).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub response_per_node: bool,
}

impl ExecuteSignedShare {
    /// The same share in the shape of a `pkp/sign` answer, so that one
    /// verification routine serves both.
    pub fn to_pkp_sign_response(&self) -> PkpSignResponse {
        PkpSignResponse {
            success: true,
            signature_share: SignatureShareWire {
                digest: self.data_signed.clone(),
                share_index: self.share_index,
                signature_share: self.signature_share.clone(),
                big_r: self.big_r.clone(),
                public_key: self.public_key.clone(),
                sig_type: self.sig_type.clone(),
            },
            candela: self.candela.clone(),
        }
    }

    /// Build from a `pkp/sign`-shaped share and the signature's name.
    pub fn from_pkp_sign_response(r: PkpSignResponse, sig_name: &str) -> Self {
        ExecuteSignedShare {
            sig_type: r.signature_share.sig_type,
            signature_share: r.signature_share.signature_share,
            share_index: r.signature_share.share_index,
            big_r: r.signature_share.big_r,
            public_key: r.signature_share.public_key,
            data_signed: r.signature_share.digest,
            sig_name: sig_name.to_string(),
            candela: r.candela,
        }
    }
}

/// One auth method presented with a request: `{authMethodType, accessToken}`
/// (type 1, Ethereum wallet: the access token is a JSON `authSig`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AuthMethodWire {
    /// Lit's auth method type.
    pub auth_method_type: u64,
    /// The proof, type-specific.
    pub access_token: String,
}

/// `POST /web/sign_session_key/v1`: the network signs (BLS) a session
/// capability for a PKP after checking one of the PKP's auth methods.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SignSessionKeyRequest {
    /// The session key, as `lit:session:<hex>` or bare hex.
    pub session_key: String,
    /// The auth methods offered.
    #[serde(default)]
    pub auth_methods: Vec<AuthMethodWire>,
    /// The PKP's public key (hex).
    pub pkp_public_key: String,
    /// An optional wallet auth signature (used like an auth method of type 1).
    #[serde(default)]
    pub auth_sig: Option<crate::auth::AuthSig>,
    /// The SIWE capability to sign: address = the PKP's, URI =
    /// `lit:session:<session key>`, ReCap resources.
    pub siwe_message: String,
    /// Always `BLS`.
    #[serde(default)]
    pub curve_type: String,
    /// Custom auth: an action (base64 code) that must be permitted on the
    /// PKP and answer `true`.
    #[serde(default)]
    pub code: Option<String>,
    /// Custom auth by CID.
    #[serde(default)]
    pub lit_action_ipfs_id: Option<String>,
    /// Parameters of the custom auth action.
    #[serde(default)]
    pub js_params: Option<serde_json::Value>,
    /// The network epoch.
    #[serde(default)]
    pub epoch: u64,
}

/// One node's answer to `sign_session_key`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SignSessionKeyResponse {
    /// `success`.
    pub result: String,
    /// `{"ProofOfPossession": "<hex share: 1-byte id + 96-byte G2>"}`.
    pub signature_share: BTreeMap<String, String>,
    /// `BLS`.
    pub curve_type: String,
    /// This node's index.
    pub share_index: u32,
    /// The SIWE message signed.
    pub siwe_message: String,
    /// Hex of the 32 bytes signed ([`crate::auth::pkp_session_digest`]).
    pub data_signed: String,
    /// The network's BLS public key (hex).
    pub bls_root_pubkey: String,
}
