//! `POST /web/sign_session_key/v1`: the network authorises a session for a
//! PKP. Each node checks that one of the offered auth methods is permitted on
//! the PKP, then returns its BLS share over
//! `sha256("lit_session:" + hex(EIP-191 hash of the SIWE message))`; the client
//! combines t shares into a capability (`derivedVia: "lit.bls"`) that every
//! node verifies against the network's BLS key.
use std::collections::BTreeMap;
use std::sync::Arc;

use candela_api::auth::{
    check_siwe_policy, check_times, pkp_session_digest, AuthSig, MAX_SIGNED_MESSAGE,
};
use candela_api::v7::{SignSessionKeyRequest, SignSessionKeyResponse};
use candela_crypto::derive;
use candela_registry::{AUTH_METHOD_TYPE_ADDRESS, BURNED_OWNER};

use crate::auth_methods::{wallet_auth_sigs, wallet_context};
use crate::error::ApiError;
use crate::node::Node;

impl Node {
    /// Whether the auth method is permitted on the PKP (any scope), read
    /// from the registry off the async workers.
    async fn permits(
        &self,
        token_id: [u8; 32],
        auth_method_type: u64,
        id: Vec<u8>,
    ) -> Result<bool, ApiError> {
        let registry = self.registry.clone();
        Ok(
            crate::node::blocking(move || registry.permission(&token_id, auth_method_type, &id))
                .await?
                .map_err(crate::node::registry_error)?
                .is_some(),
        )
    }

    /// This node's BLS share of a PKP session capability.
    pub async fn sign_session_key(
        self: &Arc<Self>,
        request_id: &str,
        req: SignSessionKeyRequest,
    ) -> Result<SignSessionKeyResponse, ApiError> {
        if req.siwe_message.len() > MAX_SIGNED_MESSAGE {
            return Err(ApiError::unauthorized(
                "NodeInvalidAuthSig",
                format!("siweMessage too large: at most {MAX_SIGNED_MESSAGE} bytes"),
            ));
        }
        let offered = wallet_auth_sigs(&req.auth_methods)?;
        if !req.curve_type.is_empty() && req.curve_type != "BLS" {
            return Err(ApiError::bad_request(
                "NodeInvalidCurve",
                format!("curveType {:?}: only BLS", req.curve_type),
            ));
        }
        let bls = self
            .bls_key()
            .ok_or_else(|| ApiError::unavailable("NodeNotReady", "BLS key not generated yet"))?;
        let msg: siwe::Message = req.siwe_message.parse().map_err(|e: siwe::ParseError| {
            ApiError::bad_request("NodeInvalidSiwe", format!("siweMessage: {e}"))
        })?;
        let pk = derive::parse_public_key(&req.pkp_public_key).map_err(|e| {
            ApiError::bad_request("NodeInvalidPubkey", format!("pkpPublicKey: {e}"))
        })?;
        let pkp = self.signable_pkp(&pk).await?;
        if msg.address != pkp.eth_address() {
            return Err(ApiError::bad_request(
                "NodeInvalidSiwe",
                format!(
                    "the SIWE message is for {}, not for the PKP {}",
                    derive::checksum_address(&msg.address),
                    derive::checksum_address(&pkp.eth_address())
                ),
            ));
        }
        let session = req.session_key.trim_start_matches("lit:session:");
        if msg.uri.as_str() != format!("lit:session:{session}") {
            return Err(ApiError::bad_request(
                "NodeInvalidSiwe",
                format!("the SIWE URI {} is not lit:session:{session}", msg.uri),
            ));
        }
        let now = time::OffsetDateTime::now_utc();
        self.with_block_nonces(|policy| {
            check_times(&msg, now).and_then(|_| check_siwe_policy(&msg, policy, now))
        })
        .await
        .map_err(|e| ApiError::unauthorized("NodeInvalidAuthSig", e.to_string()))?;

        // One offered wallet must be permitted on the PKP.
        let wallets: Vec<AuthSig> = req.auth_sig.iter().cloned().chain(offered).collect();
        let custom = req.code.is_some() || req.lit_action_ipfs_id.is_some();
        if wallets.is_empty() && !custom {
            return Err(ApiError::unauthorized(
                "NodeInvalidAuthMethod",
                "no usable auth method: offer a wallet authSig (auth method type 1) or a permitted action (code or litActionIpfsId)",
            ));
        }
        let mut refusals = Vec::new();
        let mut allowed = false;
        // Verified wallets, shown to a custom auth action as
        // `Lit.Auth.authMethodContexts`.
        let mut contexts = Vec::new();
        for w in &wallets {
            let address = match self.with_block_nonces(|p| w.verify_with(p, now)).await {
                Ok(a) => a,
                Err(e) => {
                    refusals.push(e.to_string());
                    continue;
                }
            };
            self.rate_limiter
                .request(address, std::time::Instant::now())?;
            contexts.push(wallet_context(&address, true));
            let owner = pkp.owner == address && pkp.owner != BURNED_OWNER;
            if owner
                || self
                    .permits(pkp.token_id, AUTH_METHOD_TYPE_ADDRESS, address.to_vec())
                    .await?
            {
                allowed = true;
                break;
            }
            refusals.push(format!(
                "{} is not a permitted auth method of PKP {}",
                derive::checksum_address(&address),
                derive::checksum_address(&pkp.eth_address())
            ));
        }
        if !allowed && !custom {
            return Err(ApiError::forbidden("NodeUnauthorized", refusals.join("; ")));
        }
        self.claim_request(request_id, "sign-session-key")?;
        if !allowed {
            // Custom auth: a permitted action decides, by answering `true`.
            let (code, cid) =
                self.load_action(req.code.as_deref(), req.lit_action_ipfs_id.as_deref())?;
            let action =
                candela_registry::AuthMethod::action(&cid).map_err(crate::node::registry_error)?;
            if !self
                .permits(
                    pkp.token_id,
                    candela_registry::AUTH_METHOD_TYPE_ACTION,
                    action.id,
                )
                .await?
            {
                refusals.push(format!(
                    "action {cid} is not a permitted auth method of PKP {}",
                    derive::checksum_address(&pkp.eth_address())
                ));
                return Err(ApiError::forbidden("NodeUnauthorized", refusals.join("; ")));
            }
            let caller = pkp.eth_address();
            self.rate_limiter
                .request(caller, std::time::Instant::now())?;
            let _run = self.rate_limiter.run(caller)?;
            let _slot = self.action_slot()?;
            let run = self
                .run_action(
                    request_id,
                    &code,
                    &cid,
                    caller,
                    req.js_params.clone(),
                    contexts,
                    crate::actions::RunKind::CustomAuth,
                )
                .await?;
            let said_yes = run.response.trim() == "true"
                || serde_json::from_str::<serde_json::Value>(&run.response)
                    .is_ok_and(|v| v == serde_json::Value::Bool(true));
            if !said_yes {
                return Err(ApiError::forbidden(
                    "NodeUnauthorized",
                    format!(
                        "the custom auth action {cid} did not authorise this session (it answered {:?}, not true)",
                        run.response
                    ),
                ));
            }
        }
        let digest = pkp_session_digest(&req.siwe_message);
        let share = self.bls_share(&bls, &digest)?;
        Ok(SignSessionKeyResponse {
            result: "success".into(),
            signature_share: BTreeMap::from([("ProofOfPossession".to_string(), share.to_hex())]),
            curve_type: "BLS".into(),
            share_index: self.me,
            siwe_message: req.siwe_message,
            data_signed: hex::encode(digest),
            bls_root_pubkey: bls.public_key_hex(),
        })
    }
}
