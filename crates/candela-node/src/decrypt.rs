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
    evaluate, identity, lit_action_driver, parse_data_hash, ActionRunError, ActionRunner,
    Conditions, Context, JsonRpcChainReader,
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
        // A condition action runs for whoever asks to decrypt: it may read
        // and fetch, never sign, and keeps no record.
        let run = self
            .node
            .run_action_with(
                &rid,
                &driver,
                &cid,
                self.caller,
                None,
                None,
                Vec::new(),
                crate::actions::RunOptions {
                    record: false,
                    kind: crate::actions::RunKind::Condition,
                    http_headers: Vec::new(),
                },
            )
            .await
            .map_err(|e| ActionRunError(format!("{}: {}", e.code, e.message)))?;
        Ok(run.response)
    }
}

impl Node {
    /// Evaluate `conditions` at this node for `ctx`: chain reads over
    /// JSON-RPC to the chains this node is configured for, `LitAction`
    /// conditions in its sandbox (run for `caller`).
    pub(crate) async fn conditions_hold(
        self: &Arc<Self>,
        request_id: &str,
        conditions: &Conditions,
        ctx: &Context,
        caller: [u8; 20],
    ) -> Result<bool, ApiError> {
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
        evaluate(conditions, ctx, &reader, &runner)
            .await
            .map_err(|e| {
                ApiError::bad_request("NodeAccessControlConditionsCheckFailed", e.to_string())
            })
    }

    /// This node's decryption share for data with hash `data_hash`
    /// encrypted under `conditions`, only if they hold for `ctx`.
    pub(crate) async fn decryption_share_for(
        self: &Arc<Self>,
        request_id: &str,
        conditions: &Conditions,
        data_hash: &[u8; 32],
        ctx: &Context,
        caller: [u8; 20],
    ) -> Result<candela_bls::BlsSignatureShare, ApiError> {
        let bls = self
            .bls_key()
            .ok_or_else(|| ApiError::unavailable("NodeNotReady", "BLS key not generated yet"))?;
        if !self
            .conditions_hold(request_id, conditions, ctx, caller)
            .await?
        {
            return Err(ApiError::forbidden(
                "NodeAccessControlConditionsReturnedNotAuthorized",
                // Lit's text first (lit-node `action_client.rs`), then why
                format!(
                    "Access control conditions check failed.  Check that you are allowed to decrypt this item. (the access control conditions do not hold for {})",
                    ctx.user_address
                ),
            ));
        }
        let id = identity(&conditions.hash(), data_hash);
        self.bls_share(&bls, id.as_bytes())
    }

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
        let data_hash = parse_data_hash(&req.data_to_encrypt_hash).ok_or_else(|| {
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
        let caller = self
            .authenticate(
                &req.auth_sig,
                Ability::AccessControlConditionDecryption,
                &resource,
            )
            .await?;
        self.claim_request(request_id, "encryption-sign")?;
        let ctx = Context::for_user(derive::checksum_address(&caller));
        let share = self
            .decryption_share_for(request_id, &conditions, &data_hash, &ctx, caller)
            .await?;
        Ok(EncryptionSignResponse {
            signature_share: std::collections::BTreeMap::from([(
                "ProofOfPossession".to_string(),
                share.to_hex(),
            )]),
            share_index: self.me,
        })
    }
}
