//! `POST /web/encryption/sign/`: a decryption share for data encrypted to the
//! network's BLS key under access-control conditions. The node
//! authenticates the caller, evaluates the conditions itself (chain reads over
//! JSON-RPC, actions in its sandbox) and only then signs the identity
//! `lit-accesscontrolcondition://<conditions hash>/<data hash>`.
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use candela_api::session::Ability;
use candela_conditions::{
    evaluate, identity, lit_action_driver, ActionRunError, ActionRunner, Conditions, Context,
    JsonRpcChainReader,
};
use candela_crypto::derive;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::node::Node;

/// Lit's v7 `encryption/sign` request: one of the three condition fields,
/// the hash of the plaintext, the chain and who asks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EncryptionSignRequest {
    /// `accessControlConditions`, `evmContractConditions` or
    /// `unifiedAccessControlConditions` (exactly one), and other fields.
    #[serde(flatten)]
    pub conditions: serde_json::Map<String, serde_json::Value>,
    /// Hex of sha256 of the plaintext.
    pub data_to_encrypt_hash: String,
    /// The chain the conditions name by default.
    #[serde(default)]
    pub chain: String,
    /// Who asks (wallet auth signature or session signature).
    pub auth_sig: candela_api::auth::AuthSig,
    /// The network epoch.
    #[serde(default)]
    pub epoch: u64,
}

/// One node's decryption share.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EncryptionSignResponse {
    /// `{"ProofOfPossession": "<1-byte id + 96-byte G2, hex>"}`.
    pub signature_share: std::collections::BTreeMap<String, String>,
    /// This node's index.
    pub share_index: u32,
}

/// Runs `LitAction` conditions in this node's sandbox.
struct SandboxRunner {
    node: Arc<Node>,
    request_id: String,
    caller: [u8; 20],
}

#[async_trait]
impl ActionRunner for SandboxRunner {
    async fn run(
        &self,
        ipfs_id: &str,
        method: &str,
        params: Vec<String>,
    ) -> Result<String, ActionRunError> {
        let (code, cid) = self
            .node
            .load_action(None, Some(ipfs_id))
            .map_err(|e| ActionRunError(format!("{}: {}", e.code, e.message)))?;
        let driver = lit_action_driver(&code, method, &params)
            .ok_or_else(|| ActionRunError(format!("{method:?} is not a function name")))?;
        let rid = format!("{}:condition:{cid}", self.request_id);
        let run = self
            .node
            .run_action(&rid, &driver, &cid, self.caller, None, Vec::new())
            .await
            .map_err(|e| ActionRunError(format!("{}: {}", e.code, e.message)))?;
        Ok(run.response)
    }
}

impl Node {
    /// This node's decryption share, if the conditions hold for the caller.
    pub async fn encryption_sign(
        self: &Arc<Self>,
        request_id: &str,
        req: EncryptionSignRequest,
    ) -> Result<EncryptionSignResponse, ApiError> {
        candela_api::session::check_auth_size(&req.auth_sig)
            .map_err(|e| ApiError::unauthorized("NodeInvalidAuthSig", e.to_string()))?;
        let conditions = Conditions::from_request(&serde_json::Value::Object(req.conditions))
            .map_err(|e| {
                ApiError::bad_request("NodeInvalidAccessControlConditions", e.to_string())
            })?;
        let data_hash: [u8; 32] = hex::decode(req.data_to_encrypt_hash.trim_start_matches("0x"))
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| {
                ApiError::bad_request(
                    "NodeInvalidDataHash",
                    "dataToEncryptHash must be 32 bytes of hex (sha256 of the plaintext)",
                )
            })?;
        let resource = format!(
            "{}/{}",
            hex::encode(conditions.hash()),
            hex::encode(data_hash)
        );
        let caller = self.authenticate(
            &req.auth_sig,
            Ability::AccessControlConditionDecryption,
            &resource,
        )?;
        let bls = self
            .bls_key()
            .ok_or_else(|| ApiError::unavailable("NodeNotReady", "BLS key not generated yet"))?;
        self.claim_request(request_id, "encryption-sign")?;
        let reader = JsonRpcChainReader::new(
            self.cfg.actions.rpc_urls.clone(),
            Duration::from_millis(self.cfg.actions.fetch_timeout_ms),
        )
        .map_err(ApiError::internal)?;
        let runner = SandboxRunner {
            node: Arc::clone(self),
            request_id: request_id.to_string(),
            caller,
        };
        let ctx = Context::for_user(derive::checksum_address(&caller));
        let holds = evaluate(&conditions, &ctx, &reader, &runner)
            .await
            .map_err(|e| {
                ApiError::bad_request("NodeAccessControlConditionsCheckFailed", e.to_string())
            })?;
        if !holds {
            return Err(ApiError::forbidden(
                "NodeAccessControlConditionsReturnedNotAuthorized",
                format!(
                    "the access control conditions do not hold for {}",
                    derive::checksum_address(&caller)
                ),
            ));
        }
        let id = identity(&conditions.hash(), &data_hash);
        let share = self.bls_share(&bls, id.as_bytes())?;
        Ok(EncryptionSignResponse {
            signature_share: std::collections::BTreeMap::from([(
                "ProofOfPossession".to_string(),
                share.to_hex(),
            )]),
            share_index: self.me,
        })
    }
}
