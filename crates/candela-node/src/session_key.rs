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
use candela_registry::{
    AUTH_METHOD_TYPE_ADDRESS, BURNED_OWNER, SCOPE_PERSONAL_SIGN, SCOPE_SIGN_ANYTHING,
};

use crate::auth_methods::{wallet_auth_sigs, wallet_context};
use crate::error::ApiError;
use crate::node::Node;

/// Lit's refusal when no offered auth method may authorise a session
/// (`sign_session_key` asks for scope 2 in Lit's node); Candela's reasons
/// follow it.
const NO_SCOPE: &str =
    "None of the AuthMethods, AuthSig or Lit Actions meet the required scope [2]";

/// Whether a custom auth action's response authorises the session, in the
/// forms Lit's custom auth actions answer: `"true"` (or JSON `true`), or
/// `(true, '<resource>')` whose resource the session then carries as
/// `Lit.Auth.customAuthResource`. Lit's node accepts any response that
/// contains `true`; here `"false, not true"` or `"untrue"` is a refusal.
pub(crate) fn custom_auth_says_yes(response: &str) -> bool {
    let r = response.trim();
    if r == "true" || serde_json::from_str::<serde_json::Value>(r).is_ok_and(|v| v == true) {
        return true;
    }
    r.strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .and_then(|inner| inner.split_once(','))
        .is_some_and(|(yes, _resource)| yes.trim() == "true")
}

impl Node {
    /// Whether the auth method may authorise a session for the PKP, read
    /// from the registry off the async workers: as in Lit, it must be
    /// permitted with scope 2 (personal sign) or scope 1 (sign anything,
    /// which includes it). `Err(reason)` names an auth method permitted
    /// without either; `Ok(false)` one not permitted at all.
    async fn permits(
        &self,
        token_id: [u8; 32],
        auth_method_type: u64,
        id: Vec<u8>,
    ) -> Result<Result<bool, String>, ApiError> {
        let registry = self.registry.clone();
        let scopes =
            crate::node::blocking(move || registry.permission(&token_id, auth_method_type, &id))
                .await?
                .map_err(crate::node::registry_error)?;
        Ok(match scopes {
            None => Ok(false),
            Some(s) if s.contains(&SCOPE_SIGN_ANYTHING) || s.contains(&SCOPE_PERSONAL_SIGN) => {
                Ok(true)
            }
            Some(s) => Err(format!(
                "permitted with scopes {s:?}, without scope 1 (sign anything) or 2 (personal sign)"
            )),
        })
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
            let permitted = if owner {
                Ok(true)
            } else {
                self.permits(pkp.token_id, AUTH_METHOD_TYPE_ADDRESS, address.to_vec())
                    .await?
            };
            match permitted {
                Ok(true) => {
                    allowed = true;
                    break;
                }
                Ok(false) => refusals.push(format!(
                    "{} is not a permitted auth method of PKP {}",
                    derive::checksum_address(&address),
                    derive::checksum_address(&pkp.eth_address())
                )),
                Err(why) => refusals.push(format!(
                    "{} is {why} on PKP {}",
                    derive::checksum_address(&address),
                    derive::checksum_address(&pkp.eth_address())
                )),
            }
        }
        if !allowed && !custom {
            return Err(ApiError::forbidden(
                "NodeUnauthorized",
                format!("{NO_SCOPE}: {}", refusals.join("; ")),
            ));
        }
        // What the session's capability will state as its resolved auth
        // context (Lit's `lit-resolvedauthcontext://*`).
        let mut action_ipfs_ids: Vec<String> = Vec::new();
        let mut custom_auth_resource = String::new();
        let wallet_contexts = contexts.clone();
        self.claim_request(request_id, "sign-session-key")?;
        if !allowed {
            // Custom auth: a permitted action decides, by answering `true`.
            let (code, cid) =
                self.load_action(req.code.as_deref(), req.lit_action_ipfs_id.as_deref())?;
            let action =
                candela_registry::AuthMethod::action(&cid).map_err(crate::node::registry_error)?;
            let permitted = self
                .permits(
                    pkp.token_id,
                    candela_registry::AUTH_METHOD_TYPE_ACTION,
                    action.id,
                )
                .await?;
            if permitted != Ok(true) {
                refusals.push(match permitted {
                    Err(why) => format!(
                        "action {cid} is {why} on PKP {}",
                        derive::checksum_address(&pkp.eth_address())
                    ),
                    _ => format!(
                        "action {cid} is not a permitted auth method of PKP {}",
                        derive::checksum_address(&pkp.eth_address())
                    ),
                });
                return Err(ApiError::forbidden(
                    "NodeUnauthorized",
                    format!("{NO_SCOPE}: {}", refusals.join("; ")),
                ));
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
            if !custom_auth_says_yes(&run.response) {
                return Err(ApiError::forbidden(
                    "NodeUnauthorized",
                    format!(
                        "Authentication failed for session_sig signing via Lit Action: the custom auth action {cid} did not authorise this session (it answered {:?}, not \"true\" nor \"(true, '<resource>')\")",
                        run.response
                    ),
                ));
            }
            action_ipfs_ids.push(cid);
            custom_auth_resource = run.response;
        }
        // The message signed is the client's with the auth context added,
        // as Lit's node builds it; a client's own claim to one is refused.
        let auth_context = serde_json::json!({
            "actionIpfsIds": action_ipfs_ids,
            "authMethodContexts": wallet_contexts,
            "authSigAddress": null,
            "customAuthResource": custom_auth_resource,
            "resources": [],
        });
        let siwe_message =
            candela_api::session::with_resolved_auth_context(&req.siwe_message, &auth_context)
                .map_err(|e| {
                    ApiError::bad_request("NodeInvalidAuthContextResource", e.to_string())
                })?;
        if siwe_message.len() > MAX_SIGNED_MESSAGE {
            // a capability every node would refuse later: say so now
            return Err(ApiError::bad_request(
                "NodeInvalidAuthContextResource",
                format!(
                    "the session message with its auth context would be {} bytes, over the {MAX_SIGNED_MESSAGE} a capability may have (the custom auth action's response is {} bytes)",
                    siwe_message.len(),
                    auth_context["customAuthResource"].as_str().map_or(0, str::len)
                ),
            ));
        }
        let digest = pkp_session_digest(&siwe_message);
        let share = self.bls_share(&bls, &digest)?;
        Ok(SignSessionKeyResponse {
            result: "success".into(),
            signature_share: BTreeMap::from([("ProofOfPossession".to_string(), share.to_hex())]),
            curve_type: "BLS".into(),
            share_index: self.me,
            siwe_message,
            data_signed: hex::encode(digest),
            bls_root_pubkey: bls.public_key_hex(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::custom_auth_says_yes;

    #[test]
    fn custom_auth_answers_in_lits_forms_and_nothing_that_merely_contains_true() {
        for yes in [
            "true",
            " true ",
            "(true, 'Anything your want to use in executeJs')",
            "(true,'x')",
            "(true, '')",
        ] {
            assert!(custom_auth_says_yes(yes), "{yes}");
        }
        for no in [
            "false",
            "",
            "untrue",
            "false, not true",
            "(false, 'true')",
            "(true 'x')",
            "\"true\" or not",
            "TRUE",
        ] {
            assert!(!custom_auth_says_yes(no), "{no}");
        }
    }
}
