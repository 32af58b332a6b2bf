//! Auth methods a request presents (`authMethods`, Lit's
//! `{authMethodType, accessToken}`), verified at this node. Candela verifies
//! Ethereum wallets (type 1, the access token is a JSON `authSig`); a type
//! it cannot verify is refused by name rather than passed over, so that an
//! action never mistakes a missing context for a refusal it did not make.
//! Verified wallets become `Lit.Auth.authMethodContexts` entries in Lit's
//! shape.
use candela_api::auth::AuthSig;
use candela_api::v7::AuthMethodWire;
use candela_crypto::derive;
use candela_registry::AUTH_METHOD_TYPE_ADDRESS;

use crate::error::ApiError;
use crate::node::Node;

/// Auth methods one request may offer.
const MAX_AUTH_METHODS: usize = 8;
/// Largest access token accepted.
const MAX_ACCESS_TOKEN: usize = 32 * 1024;

/// Refuse more than [`MAX_AUTH_METHODS`] methods or an access token over
/// [`MAX_ACCESS_TOKEN`] bytes, before anything is parsed or verified.
fn check_sizes(methods: &[AuthMethodWire]) -> Result<(), ApiError> {
    if methods.len() > MAX_AUTH_METHODS
        || methods
            .iter()
            .any(|m| m.access_token.len() > MAX_ACCESS_TOKEN)
    {
        return Err(ApiError::unauthorized(
            "NodeInvalidAuthMethod",
            format!(
                "auth material too large: at most {MAX_AUTH_METHODS} auth methods of {MAX_ACCESS_TOKEN} bytes each"
            ),
        ));
    }
    Ok(())
}

/// The wallet auth signatures of `methods`, unverified. Every method must be
/// of type 1 with a JSON `authSig` as its access token.
pub(crate) fn wallet_auth_sigs(methods: &[AuthMethodWire]) -> Result<Vec<AuthSig>, ApiError> {
    check_sizes(methods)?;
    methods
        .iter()
        .map(|m| {
            if m.auth_method_type != AUTH_METHOD_TYPE_ADDRESS {
                return Err(ApiError::bad_request(
                    "NodeInvalidAuthMethod",
                    format!(
                        "auth method type {} is not supported by Candela nodes: only type 1 (Ethereum wallet, accessToken = a JSON authSig)",
                        m.auth_method_type
                    ),
                ));
            }
            serde_json::from_str(&m.access_token).map_err(|e| {
                ApiError::bad_request(
                    "NodeInvalidAuthMethod",
                    format!("auth method type 1 wants a JSON authSig as accessToken: {e}"),
                )
            })
        })
        .collect()
}

/// Lit's `authMethodContexts` entry for a verified wallet.
/// `for_session_key` marks a context made for `sign_session_key` (Lit's
/// `usedForSignSessionKeyRequest`).
pub(crate) fn wallet_context(address: &[u8; 20], for_session_key: bool) -> serde_json::Value {
    serde_json::json!({
        "authMethodType": AUTH_METHOD_TYPE_ADDRESS,
        "userId": derive::checksum_address(address),
        "appId": "lit",
        "usedForSignSessionKeyRequest": for_session_key,
    })
}

impl Node {
    /// Verify every auth method and answer the wallets they prove, in the
    /// order given; any method that does not verify refuses the request
    /// (401 `NodeInvalidAuthMethod`, naming which one and why). Each
    /// verified wallet counts against its rate limit.
    pub(crate) async fn verified_wallets(
        &self,
        methods: &[AuthMethodWire],
    ) -> Result<Vec<[u8; 20]>, ApiError> {
        let wallets = wallet_auth_sigs(methods)?;
        let now = time::OffsetDateTime::now_utc();
        let mut addresses = Vec::with_capacity(wallets.len());
        for (i, w) in wallets.iter().enumerate() {
            let address = self
                .with_block_nonces(|p| w.verify_with(p, now))
                .await
                .map_err(|e| {
                    ApiError::unauthorized(
                        "NodeInvalidAuthMethod",
                        format!("auth method {i} (type 1) does not verify: {e}"),
                    )
                })?;
            self.rate_limiter
                .request(address, std::time::Instant::now())?;
            addresses.push(address);
        }
        Ok(addresses)
    }
}
