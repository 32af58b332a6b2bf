//! Root key generation: the ECDSA and BLS root keys come from dealerless
//! DKGs among the node set, each followed by the agreement step of
//! [`candela_crypto::agree`], so that either every honest node keeps the new
//! key or none does. A node proven to have signed two different
//! confirmations is left out of the retry (for both keys); a retry needs at
//! least `t` nodes.
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use candela_api::network::NodeInfo;
use candela_bls::BlsKeyShare;
use candela_crypto::agree::VoteKeys;
use candela_crypto::derive;
use candela_crypto::session::{BoxedSession, CaitSith, KeyShare};
use candela_crypto::CryptoError;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use super::Node;
use crate::peer::Identity;
use crate::runner::RunError;

/// Name of the root ECDSA key share in the store.
pub(super) const ROOT_SECRET: &str = "ecdsa-root-share";
/// Name of the root BLS key share in the store.
pub(super) const BLS_SECRET: &str = "bls-root-share";
/// How long one key generation (DKG and agreement) may take before its
/// current round is given up.
const KEYGEN_TIMEOUT: Duration = Duration::from_secs(60);

/// A root key share the node stores sealed.
pub(super) trait RootShare {
    /// The bytes to seal.
    fn sealed_bytes(&self) -> Result<Vec<u8>, String>;
}

impl RootShare for KeyShare {
    fn sealed_bytes(&self) -> Result<Vec<u8>, String> {
        Ok(self.to_bytes())
    }
}

impl RootShare for BlsKeyShare {
    fn sealed_bytes(&self) -> Result<Vec<u8>, String> {
        Ok(self.to_bytes().to_vec())
    }
}

/// The node identity keys (ed25519, listed in the node set) as the keys
/// that sign key-generation confirmations: a confirmation is checkable by
/// every node, so two conflicting ones prove their signer dishonest.
pub(crate) struct IdentityVoteKeys {
    signing: SigningKey,
    verifying: Vec<VerifyingKey>,
}

impl IdentityVoteKeys {
    /// This node's identity key and every node's public identity key.
    pub(crate) fn new(identity: &Identity, nodes: &[NodeInfo]) -> anyhow::Result<Self> {
        let verifying = nodes
            .iter()
            .map(|n| {
                let b: [u8; 32] = hex::decode(&n.identity_key)?
                    .try_into()
                    .map_err(|_| anyhow::anyhow!("identity key of node {}", n.index))?;
                Ok(VerifyingKey::from_bytes(&b)?)
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(IdentityVoteKeys {
            signing: identity.signing.clone(),
            verifying,
        })
    }
}

impl VoteKeys for IdentityVoteKeys {
    fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.signing.sign(message).to_bytes().to_vec()
    }

    fn verify(&self, signer: u32, message: &[u8], signature: &[u8]) -> bool {
        let (Some(vk), Ok(sig)) = (
            self.verifying.get(signer as usize),
            Signature::from_slice(signature),
        ) else {
            return false;
        };
        vk.verify_strict(message, &sig).is_ok()
    }
}

/// Starts one node's side of an agreed key generation: participants, this
/// node, threshold, run context, vote keys.
pub(super) type StartKeygen<T> = dyn Fn(&[u32], u32, usize, &[u8], Arc<dyn VoteKeys>) -> Result<BoxedSession<T>, CryptoError>
    + Send
    + Sync;

impl Node {
    /// Generate the root keys this node does not hold yet; start the
    /// presignature pool once the ECDSA and BLS roots exist, then generate
    /// the FROST roots.
    pub(super) async fn bootstrap_then_pool(self: Arc<Self>) {
        // a node that lost its shares of existing keys gets new ones first
        self.repair_if_lost().await;
        let keys: Arc<dyn VoteKeys> =
            match IdentityVoteKeys::new(&self.identity, &self.members().nodes) {
                Ok(k) => Arc::new(k),
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the node set's identity keys");
                    return;
                }
            };
        // Nodes proven to have equivocated in a key generation: left out of
        // every later attempt, of both keys.
        let mut excluded = BTreeSet::new();
        let dkls = self.cfg.ecdsa == crate::config::EcdsaProtocol::Dkls23;
        if dkls {
            self.generate_dkls_root(&keys, &mut excluded).await;
        }
        let ecdsa: &StartKeygen<KeyShare> =
            &|parts, me, t, context, keys| CaitSith::agreed_keygen(parts, me, t, context, keys);
        let share = self
            .generate_root(
                "dkg-ecdsa-root",
                ROOT_SECRET,
                || dkls || self.key().is_some(),
                ecdsa,
                &keys,
                &mut excluded,
            )
            .await;
        if let Some(share) = share {
            tracing::info!(root = %derive::public_key_hex(&share.public_key), "root key generated");
            *self.key.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(share));
        }
        let bls: &StartKeygen<BlsKeyShare> =
            &|parts, me, t, context, keys| candela_bls::agreed_keygen(parts, me, t, context, keys);
        let share = self
            .generate_root(
                "dkg-bls-root",
                BLS_SECRET,
                || self.bls_key().is_some(),
                bls,
                &keys,
                &mut excluded,
            )
            .await;
        if let Some(share) = share {
            tracing::info!(root = %share.public_key_hex(), "BLS root key generated");
            *self.bls.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(share));
        }
        // ECDSA signing does not wait for the FROST roots; a DKLs23
        // network signs without presignatures
        if !dkls {
            tokio::spawn(Arc::clone(&self).pool_loop());
        }
        self.generate_frost_roots(&keys, &mut excluded).await;
    }

    /// Run an agreed DKG among the node set (less the proven culprits in
    /// `excluded`) until every node keeps the key, unless `have` says this
    /// node already holds it. The share is stored sealed before it is
    /// returned. A discarded attempt that proves a node at fault adds it to
    /// `excluded`; every honest node sees the same proof and retries with
    /// the same participants under the same attempt number.
    pub(super) async fn generate_root<T>(
        &self,
        name: &str,
        secret_name: &str,
        have: impl Fn() -> bool,
        start: &StartKeygen<T>,
        keys: &Arc<dyn VoteKeys>,
        excluded: &mut BTreeSet<u32>,
    ) -> Option<T>
    where
        T: Send + 'static + RootShare,
    {
        let mut attempt = 0u32;
        while !have() {
            let parts: Vec<u32> = self
                .committee()
                .into_iter()
                .filter(|p| !excluded.contains(p))
                .collect();
            if excluded.contains(&self.me) || parts.len() < self.threshold() {
                tracing::error!(
                    ?excluded,
                    "too many nodes proven at fault: no key generation possible"
                );
                return None;
            }
            // A DKG over every participant: wait until all are reachable.
            let live = self.live_set();
            if parts.iter().any(|p| !live.contains(p)) {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            let session = format!("{name}-{attempt}");
            tracing::info!(%session, ?parts, "starting distributed key generation");
            let proto = match start(
                &parts,
                self.me,
                self.threshold(),
                session.as_bytes(),
                Arc::clone(keys),
            ) {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(error = %e, "cannot start keygen");
                    return None;
                }
            };
            let run = self.hub.run(
                session.clone(),
                self.me,
                parts,
                proto,
                self.outbox.clone(),
                KEYGEN_TIMEOUT,
            );
            match run {
                Ok(rx) => match rx.await {
                    Ok(Ok(share)) => {
                        let stored = share.sealed_bytes().and_then(|b| {
                            self.store
                                .put_secret(secret_name, &b)
                                .map_err(|e| e.to_string())
                        });
                        if let Err(e) = stored {
                            tracing::error!(error = %e, "cannot store key share");
                            return None;
                        }
                        return Some(share);
                    }
                    Ok(Err(RunError::Protocol(CryptoError::KeygenDiscarded {
                        culprits,
                        reason,
                    }))) => {
                        tracing::warn!(
                            %session, ?culprits, %reason,
                            "every node discards this key generation; retrying without the proven culprits"
                        );
                        excluded.extend(culprits);
                    }
                    Ok(Err(e)) => tracing::warn!(error = %e, %session, "keygen failed; retrying"),
                    Err(_) => tracing::warn!(%session, "keygen thread vanished"),
                },
                Err(e) => tracing::warn!(error = %e, "keygen not started"),
            }
            attempt += 1;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_vote_keys_sign_and_check_against_the_node_set() {
        let (ids, nodes) = crate::peer::three_identities();
        let k1 = IdentityVoteKeys::new(&ids[1], &nodes).unwrap();
        let k2 = IdentityVoteKeys::new(&ids[2], &nodes).unwrap();
        let sig = k1.sign(b"vote");
        assert!(k2.verify(1, b"vote", &sig));
        assert!(!k2.verify(2, b"vote", &sig));
        assert!(!k2.verify(1, b"other", &sig));
        assert!(!k2.verify(7, b"vote", &sig));
        assert!(!k2.verify(1, b"vote", b"short"));
    }
}
