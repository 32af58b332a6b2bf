//! The FROST root keys (Ed25519 and secp256k1 taproot): one dealerless key
//! generation each among the node set, over the same session runner and
//! retry loop as the ECDSA and BLS roots ([`Node::generate_root`]).
//!
//! Agreement: `candela-frost`'s [`DkgSession`] ends with a confirmation
//! round in which every party broadcasts the digest of the public key
//! package it computed; a node keeps its share only when every other
//! party's digest equals its own, so every node that keeps a share holds a
//! share of the same key. (This is weaker than the signed Dolev–Strong
//! agreement of the ECDSA and BLS roots: a node whose last confirmation is
//! lost retries alone; see `docs/schnorr-schemes.md`.)
use std::collections::BTreeSet;
use std::sync::Arc;

use candela_crypto::agree::VoteKeys;
use candela_crypto::session::{BoxedSession, Outgoing, Session, Step};
use candela_crypto::CryptoError;
use candela_frost::session::{Outgoing as FrostOutgoing, Session as _, Step as FrostStep};
use candela_frost::{DkgSession, Ed25519Sha512, FrostKeyShare, Secp256K1Sha256TR, Suite};

use super::keygen::{RootShare, StartKeygen};
use super::Node;
use crate::schnorr::NodeSuite;

/// Name of the sealed Ed25519 root share in the store.
pub(crate) const ED25519_SECRET: &str = "frost-ed25519-root-share";
/// Name of the sealed taproot root share in the store.
pub(crate) const K256TR_SECRET: &str = "frost-k256tr-root-share";

impl<C: Suite> RootShare for FrostKeyShare<C> {
    fn sealed_bytes(&self) -> Result<Vec<u8>, String> {
        serde_json::to_vec(self).map_err(|e| e.to_string())
    }
}

/// A stored root share.
pub(crate) fn share_from_bytes<C: Suite>(bytes: &[u8]) -> anyhow::Result<FrostKeyShare<C>> {
    Ok(serde_json::from_slice(bytes)?)
}

/// A FROST session driven by the node's session runner.
struct Driven<C: Suite>(DkgSession<C>);

impl<C: Suite> Session for Driven<C> {
    type Output = FrostKeyShare<C>;

    fn poke(&mut self) -> Result<Step<FrostKeyShare<C>>, CryptoError> {
        match self.0.poke() {
            Ok(FrostStep::Wait) => Ok(Step::Wait),
            Ok(FrostStep::Send(FrostOutgoing::Broadcast(m))) => {
                Ok(Step::Send(Outgoing::Broadcast(m)))
            }
            Ok(FrostStep::Send(FrostOutgoing::Private(to, m))) => {
                Ok(Step::Send(Outgoing::Private(to, m)))
            }
            Ok(FrostStep::Done(share)) => Ok(Step::Done(share)),
            Err(e) => Err(CryptoError::Protocol(e.to_string())),
        }
    }

    fn receive(&mut self, from: u32, message: Vec<u8>) {
        self.0.receive(from, message)
    }
}

/// Start one node's side of a FROST key generation.
fn start<C: Suite>(
    parts: &[u32],
    me: u32,
    threshold: usize,
) -> Result<BoxedSession<FrostKeyShare<C>>, CryptoError> {
    let t = u16::try_from(threshold)
        .map_err(|_| CryptoError::BadParameters("threshold too large".into()))?;
    let session = DkgSession::<C>::new(parts, me, t, &mut rand_core::OsRng)
        .map_err(|e| CryptoError::BadParameters(e.to_string()))?;
    Ok(Box::new(Driven(session)))
}

impl Node {
    /// Generate the FROST roots this node does not hold yet (Ed25519, then
    /// taproot), store them sealed, and fill their nonce pools.
    pub(super) async fn generate_frost_roots(
        &self,
        keys: &Arc<dyn VoteKeys>,
        excluded: &mut BTreeSet<u32>,
    ) {
        self.generate_frost_root::<Ed25519Sha512>(
            "dkg-ed25519-root",
            ED25519_SECRET,
            keys,
            excluded,
        )
        .await;
        self.generate_frost_root::<Secp256K1Sha256TR>(
            "dkg-k256tr-root",
            K256TR_SECRET,
            keys,
            excluded,
        )
        .await;
    }

    async fn generate_frost_root<C: NodeSuite>(
        &self,
        name: &str,
        secret: &str,
        keys: &Arc<dyn VoteKeys>,
        excluded: &mut BTreeSet<u32>,
    ) {
        let starter: &StartKeygen<FrostKeyShare<C>> =
            &|parts, me, t, _context, _keys| start::<C>(parts, me, t);
        let have = || self.schnorr.has_root::<C>();
        if let Some(share) = self
            .generate_root(name, secret, have, starter, keys, excluded)
            .await
        {
            tracing::info!(
                root = %hex::encode(C::public_key_bytes(share.group_key()).unwrap_or_default()),
                key_type = %C::KEY_TYPE,
                "FROST root generated"
            );
            self.schnorr.set_root(share);
            if let Err(e) = self.schnorr.refill::<C>(&self.store) {
                tracing::error!(error = %e.message, "cannot fill the Schnorr nonce pool");
            }
        }
    }
}
