//! The only way an action reaches the outside world: the [`Host`] trait, which
//! the node implements, and the typed requests it receives.
//!
//! Every method has a default that answers [`HostError::Unsupported`], so a
//! host provides exactly the operations it supports; [`Host::op_enabled`]
//! switches any operation off by name (the names are listed in [`OPS`]).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::HostError;

/// The operations an action can ask of its host, by the name used in
/// [`Host::op_enabled`] (the `Lit.Actions` function name, or `fetch`).
pub const OPS: &[&str] = &[
    "fetch",
    "signEcdsa",
    "ethPersonalSignMessageEcdsa",
    "signAndCombineEcdsa",
    "signAndCombine",
    "signAsAction",
    "getActionPublicKey",
    "verifyActionSignature",
    "runOnce",
    "broadcastAndCollect",
    "call",
    // `import … from "ipfs://<CIDv0>"`: see `Host::load_module`.
    "import",
    "getRpcUrl",
    "getLatestNonce",
    // Computed by the sandbox itself (no host method), but a host may switch it off.
    "aesDecrypt",
    // Generic operations, forwarded to `Host::call_op` with their JSON arguments.
    "isPermittedAction",
    "isPermittedAddress",
    "isPermittedAuthMethod",
    "getPermittedActions",
    "getPermittedAddresses",
    "getPermittedAuthMethods",
    "getPermittedAuthMethodScopes",
    "checkConditions",
    "decryptAndCombine",
    "decryptToSingleNode",
    "encrypt",
    "callContract",
    "claimKey",
];

/// The generic operations: the action's argument object is passed as JSON to
/// [`Host::call_op`] and its JSON answer is returned to the action.
pub const GENERIC_OPS: &[&str] = &[
    "isPermittedAction",
    "isPermittedAddress",
    "isPermittedAuthMethod",
    "getPermittedActions",
    "getPermittedAddresses",
    "getPermittedAuthMethods",
    "getPermittedAuthMethodScopes",
    "checkConditions",
    "decryptAndCombine",
    "decryptToSingleNode",
    "encrypt",
    "callContract",
    "claimKey",
];

/// An HTTP request made by the action's `fetch`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchRequest {
    /// Absolute URL.
    pub url: String,
    /// Upper-case method, `GET` by default.
    pub method: String,
    /// Header names and values, in the order given.
    pub headers: Vec<(String, String)>,
    /// Request body, if any.
    pub body: Option<Vec<u8>>,
}

/// The answer to a [`FetchRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchResponse {
    /// HTTP status code.
    pub status: u16,
    /// Reason phrase (may be empty).
    pub status_text: String,
    /// Final URL after redirects.
    pub url: String,
    /// Header names (lower case) and values.
    pub headers: Vec<(String, String)>,
    /// Response body.
    pub body: Vec<u8>,
}

/// How the 32 bytes of a [`SignRequest`] were produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SignKind {
    /// `signEcdsa`: the action supplied the 32-byte digest itself.
    Raw,
    /// `ethPersonalSignMessageEcdsa`: the digest is the EIP-191 hash of a message,
    /// computed by the sandbox (Lit checks a different auth scope for it).
    EthPersonalMessage,
    /// `signAndCombineEcdsa`: the host must return the combined signature.
    Combined,
}

/// The JSON string `Lit.Actions.signAndCombineEcdsa` resolves to, in Lit's
/// exact shape: `{"r": <66 hex>, "s": <64 hex>, "v": <0|1>}`.
///
/// Lit's nodes (v7, "Datil") put the signature's nonce point `R` in `r` as a
/// compressed SEC1 point (`02`/`03` then the 32-byte x coordinate, lowercase
/// hex, no `0x`), `s` as 32 big-endian bytes (lowercase hex, no `0x`), and the
/// recovery id in `v` (0 or 1, not 27/28). Lit's documented transaction code
/// relies on this: it drops the first two characters of `r`
/// (`"0x" + r.substring(2)`) and prefixes `s` with `0x` before
/// `ethers.utils.joinSignature`. `r_x` is the signature's `r`, `s` its
/// (low) `s`, and `recid` its recovery id; the prefix byte is the parity of
/// the `R` that `(r, s, recid)` recovers with (`02 + (recid & 1)`).
pub fn lit_combined_signature_json(r_x: &[u8; 32], s: &[u8; 32], recid: u8) -> String {
    let prefix = if recid & 1 == 1 { "03" } else { "02" };
    // A struct keeps Lit's field order (r, s, v).
    #[derive(Serialize)]
    struct Rsv {
        r: String,
        s: String,
        v: u8,
    }
    let rsv = Rsv {
        r: format!("{prefix}{}", hex::encode(r_x)),
        s: hex::encode(s),
        v: recid,
    };
    // Serializing three plain fields cannot fail; fall back to the same text by hand.
    serde_json::to_string(&rsv)
        .unwrap_or_else(|_| format!(r#"{{"r":"{}","s":"{}","v":{}}}"#, rsv.r, rsv.s, rsv.v))
}

/// A request to sign a 32-byte digest with a PKP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignRequest {
    /// The digest to sign.
    pub to_sign: [u8; 32],
    /// The PKP public key as the action gave it (hex, with or without `0x`).
    pub public_key: String,
    /// The name under which the client finds this signature.
    pub sig_name: String,
    /// Where the digest came from.
    pub kind: SignKind,
}

/// A request to sign with a signing scheme named as Lit names it
/// (`signAndCombine`, `signAsAction`). The host checks the scheme, the
/// message length the scheme takes and the key type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemeSignRequest {
    /// The message (a digest or raw bytes, as the scheme takes it).
    pub to_sign: Vec<u8>,
    /// The PKP public key as the action gave it (`signAndCombine`); `None`
    /// for `signAsAction`, which signs with the running action's own key.
    pub public_key: Option<String>,
    /// The name of the signature within the run.
    pub sig_name: String,
    /// Lit's scheme name, e.g. `SchnorrEd25519Sha512`.
    pub signing_scheme: String,
}

/// What an action needs from the node that runs it.
///
/// Futures are `Send` and are polled on the tokio runtime that called
/// [`crate::execute`]. When a run ends (finished, failed or stopped by a limit)
/// the futures of its unfinished operations are dropped, so implementations
/// must be cancel-safe: a signing operation must mark its presignature used
/// before it releases a share, never after.
#[async_trait]
pub trait Host: Send + Sync + 'static {
    /// Whether the named operation (see [`OPS`]) is available to actions. A
    /// disabled operation fails with "… is not supported by this node".
    fn op_enabled(&self, op: &str) -> bool {
        let _ = op;
        true
    }

    /// The clock `Date.now()` and `new Date()` read, in milliseconds since
    /// the Unix epoch. By default the system clock; a replay answers the
    /// recorded readings (see [`crate::replay`]).
    fn now_ms(&self) -> f64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_millis() as f64)
    }

    /// Performs an HTTP request for `fetch`.
    async fn fetch(&self, request: FetchRequest) -> Result<FetchResponse, HostError> {
        let _ = request;
        Err(HostError::Unsupported("fetch".into()))
    }

    /// Produces this node's signature share for `request` (`signEcdsa`,
    /// `ethPersonalSignMessageEcdsa`). The share itself travels back to the
    /// client with the node's answer, not through the action.
    async fn sign_ecdsa(&self, request: SignRequest) -> Result<(), HostError> {
        let _ = request;
        Err(HostError::Unsupported("signEcdsa".into()))
    }

    /// Signs `request` with the network and returns the combined signature as
    /// the JSON string `signAndCombineEcdsa` resolves to.
    async fn sign_and_combine_ecdsa(&self, request: SignRequest) -> Result<String, HostError> {
        let _ = request;
        Err(HostError::Unsupported("signAndCombineEcdsa".into()))
    }

    /// `signAndCombine` with a scheme other than `EcdsaK256Sha256` (which is
    /// [`Host::sign_and_combine_ecdsa`]): sign with the PKP's key for the
    /// scheme and return the combined signature as the JSON string Lit's
    /// `signAndCombine` resolves to.
    async fn sign_and_combine(&self, request: SchemeSignRequest) -> Result<String, HostError> {
        let _ = request;
        Err(HostError::Unsupported("signAndCombine".into()))
    }

    /// `signAsAction`: sign with the running action's own key for the
    /// scheme (derived from its CID) and return the combined signature as a
    /// JSON string.
    async fn sign_as_action(&self, request: SchemeSignRequest) -> Result<String, HostError> {
        let _ = request;
        Err(HostError::Unsupported("signAsAction".into()))
    }

    /// `getActionPublicKey`: the public key of the action `action_cid` for
    /// `signing_scheme`, as `signAsAction` reports it.
    async fn get_action_public_key(
        &self,
        signing_scheme: String,
        action_cid: String,
    ) -> Result<String, HostError> {
        let _ = (signing_scheme, action_cid);
        Err(HostError::Unsupported("getActionPublicKey".into()))
    }

    /// `verifyActionSignature`: whether `sign_output` (a `signAsAction`
    /// result) is a signature of `to_sign` by the action `action_cid`.
    async fn verify_action_signature(
        &self,
        signing_scheme: String,
        action_cid: String,
        to_sign: Vec<u8>,
        sign_output: String,
    ) -> Result<bool, HostError> {
        let _ = (signing_scheme, action_cid, to_sign, sign_output);
        Err(HostError::Unsupported("verifyActionSignature".into()))
    }

    /// `runOnce`: whether this node is the one chosen to run the function named `name`.
    async fn run_once_is_leader(&self, name: String) -> Result<bool, HostError> {
        let _ = name;
        Err(HostError::Unsupported("runOnce".into()))
    }

    /// `runOnce` on the chosen node: hands the function's result to the other nodes.
    async fn run_once_publish(&self, name: String, value: String) -> Result<(), HostError> {
        let _ = (name, value);
        Err(HostError::Unsupported("runOnce".into()))
    }

    /// `runOnce` with `waitForResponse` on the other nodes: the chosen node's result.
    async fn run_once_collect(&self, name: String) -> Result<String, HostError> {
        let _ = name;
        Err(HostError::Unsupported("runOnce".into()))
    }

    /// `broadcastAndCollect`: sends `value` to the other nodes and returns every
    /// node's value (this node's included).
    async fn broadcast_and_collect(
        &self,
        name: String,
        value: String,
    ) -> Result<Vec<String>, HostError> {
        let _ = (name, value);
        Err(HostError::Unsupported("broadcastAndCollect".into()))
    }

    /// `call`: the source code of the action with this IPFS CID (the host checks
    /// that the code hashes to the CID).
    async fn load_action(&self, ipfs_id: String) -> Result<String, HostError> {
        let _ = ipfs_id;
        Err(HostError::Unsupported("call".into()))
    }

    /// `import … from "ipfs://<CIDv0>"`: the source of the deployed action
    /// with this CID, imported as an ES module. The sandbox checks that it
    /// hashes to the CID before using it, whatever the host did. By default
    /// the same code [`Host::load_action`] serves.
    async fn load_module(&self, ipfs_id: String) -> Result<String, HostError> {
        self.load_action(ipfs_id).await
    }

    /// `getRpcUrl`: the JSON-RPC URL the node uses for `chain`.
    async fn get_rpc_url(&self, chain: String) -> Result<String, HostError> {
        let _ = chain;
        Err(HostError::Unsupported("getRpcUrl".into()))
    }

    /// `getLatestNonce`: the transaction count of `address` on `chain`, as a
    /// `0x`-prefixed hex string.
    async fn get_latest_nonce(&self, address: String, chain: String) -> Result<String, HostError> {
        let _ = (address, chain);
        Err(HostError::Unsupported("getLatestNonce".into()))
    }

    /// A generic operation (see [`GENERIC_OPS`]): `args` is the object the action
    /// passed, the answer is returned to the action as a JavaScript value.
    async fn call_op(
        &self,
        op: String,
        args: serde_json::Value,
    ) -> Result<serde_json::Value, HostError> {
        let _ = args;
        Err(HostError::Unsupported(op))
    }
}
