//! Root key generation on a DKLs23 network: [`candela_dkls::agreed_keygen`]
//! (the DKG inside the agreement step) over the node's session runner, in
//! place of cait-sith's; the share is sealed in the store, and its Shamir
//! part becomes the node's root [`candela_crypto::session::KeyShare`] (the
//! root public key every other path uses).
use std::collections::BTreeSet;
use std::sync::Arc;

use candela_crypto::agree::VoteKeys;
use candela_crypto::derive;
use candela_crypto::CryptoError;
use candela_dkls::DklsKeyShare;

use super::keygen::{RootShare, StartKeygen};
use super::Node;
use crate::dkls_signing::{root_key_share, DKLS_SECRET};

impl RootShare for DklsKeyShare {
    fn sealed_bytes(&self) -> Result<Vec<u8>, String> {
        self.to_bytes().map_err(|e| e.to_string())
    }
}

impl Node {
    /// Generate the DKLs23 root key unless this node holds it already.
    pub(super) async fn generate_dkls_root(
        &self,
        keys: &Arc<dyn VoteKeys>,
        excluded: &mut BTreeSet<u32>,
    ) {
        let start: &StartKeygen<DklsKeyShare> = &|parts, me, t, context, keys| {
            candela_dkls::agreed_keygen(parts, me, t, context, keys)
                .map_err(|e| CryptoError::BadParameters(e.to_string()))
        };
        let share = self
            .generate_root(
                "dkg-dkls23-root",
                DKLS_SECRET,
                || self.dkls_share().is_some(),
                start,
                keys,
                excluded,
            )
            .await;
        let Some(share) = share else { return };
        match root_key_share(&share) {
            Ok(key) => {
                tracing::info!(root = %derive::public_key_hex(&key.public_key), "DKLs23 root key generated");
                self.dkls.set_share(share);
                *self.key.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(key));
            }
            Err(e) => tracing::error!(error = %e, "the DKLs23 share cannot serve as the root key"),
        }
    }
}
