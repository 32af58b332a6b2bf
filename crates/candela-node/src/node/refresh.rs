//! Proactive refresh: on a schedule, the nodes reshare every root key among
//! themselves (`candela-reshare`, the same node set and threshold). The keys,
//! and so every PKP and address, stay; every share changes, and shares from
//! before a refresh do not combine with shares from after it.
//!
//! Epochs are aligned to the Unix clock (`epoch = ⌊now / interval⌋`), so
//! every node starts the same refresh at the same moment without a leader.
//! A refresh needs every node live (each one's share changes); otherwise it
//! waits for the next epoch.
//!
//! Durability: a node stores its new share sealed as *pending* before it
//! confirms it (the session's `before_confirm` hook), and installs it when
//! every node has confirmed. A node that stops between the two installs the
//! pending share at its next start if a peer reports that refresh complete
//! (same epoch and digest), and drops it otherwise; so no node ever holds a
//! share of a sharing the others left.
//!
//! After the ECDSA root is installed, presignatures made with the old share
//! are discarded (marked used, durably) and batches still running are
//! dropped when they finish ([`Node::key_generation`]); Schnorr nonces are
//! discarded the same way. A DKLs23 network's ECDSA key is not refreshed
//! here (its key share carries pairwise OT state).
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use candela_crypto::session::{BoxedSession, KeyShare, Outgoing, Session, Step};
use candela_crypto::CryptoError;
use candela_frost::{Ed25519Sha512, FrostKeyShare, Secp256K1Sha256TR};
use candela_reshare::roots::{
    bls_input, bls_share, ecdsa_input, ecdsa_share, frost_input, frost_share, FrostGroup, RootInput,
};
use candela_reshare::{
    Committee, NewShare, OldShare, Outgoing as ReshareOutgoing, ReshareOutput, ReshareParams,
    ReshareSession, Step as ReshareStep,
};
use group::{Group, GroupEncoding};
use serde::{Deserialize, Serialize};

use super::frost_keygen::{ED25519_SECRET, K256TR_SECRET};
use super::keygen::{BLS_SECRET, ROOT_SECRET};
use super::repair::RootPublics;
use super::Node;
use crate::schnorr::NodeSuite;

/// Sealed record of the refreshes this node completed.
const REFRESH_STATE: &str = "refresh-state";
/// How long one refresh session may take.
const REFRESH_TIMEOUT: Duration = Duration::from_secs(60);

/// The refreshes a node completed: the last epoch and, per root, the
/// digest every node confirmed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct RefreshState {
    /// The epoch of the last completed refresh (0: none).
    pub(crate) epoch: u64,
    /// Per root label: the hex digest of its last completed refresh.
    pub(crate) digests: BTreeMap<String, String>,
}

/// A new share stored before it is confirmed.
#[derive(Serialize, Deserialize)]
struct Pending {
    epoch: u64,
    digest: String,
    share: String,
}

fn pending_name(secret: &str) -> String {
    format!("{secret}.pending")
}

/// The epoch a Unix time falls in, for a refresh interval.
pub(crate) fn epoch_at(unix_secs: u64, interval_secs: u64) -> u64 {
    unix_secs / interval_secs.max(1)
}

/// A reshare session driven by the node's session runner.
struct Driven<G: Group + GroupEncoding>(ReshareSession<G>);

impl<G: Group + GroupEncoding> Session for Driven<G> {
    type Output = ReshareOutput<G>;

    fn poke(&mut self) -> Result<Step<ReshareOutput<G>>, CryptoError> {
        match self.0.poke() {
            Ok(ReshareStep::Wait) => Ok(Step::Wait),
            Ok(ReshareStep::Send(ReshareOutgoing::Broadcast(m))) => {
                Ok(Step::Send(Outgoing::Broadcast(m)))
            }
            Ok(ReshareStep::Send(ReshareOutgoing::Private(to, m))) => {
                Ok(Step::Send(Outgoing::Private(to, m)))
            }
            Ok(ReshareStep::Done(out)) => Ok(Step::Done(out)),
            Err(e) => Err(CryptoError::Protocol(e.to_string())),
        }
    }

    fn receive(&mut self, from: u32, message: Vec<u8>) {
        self.0.receive(from, &message)
    }
}

/// One root key as a reshare sees it: its public facts, this node's share
/// if it holds one, and how to store the new share.
pub(super) struct Root<G: Group> {
    pub(super) label: &'static str,
    pub(super) secret: &'static str,
    pub(super) threshold: usize,
    pub(super) group_key: G,
    pub(super) public_shares: BTreeMap<u32, G>,
    /// `None` on a node that lost its share (it receives only).
    pub(super) old_share: Option<OldShare<G>>,
    pub(super) to_bytes: fn(&NewShare<G>) -> Result<Vec<u8>, String>,
}

impl<G: Group> Root<G> {
    fn held(
        label: &'static str,
        secret: &'static str,
        input: RootInput<G>,
        threshold: usize,
        to_bytes: fn(&NewShare<G>) -> Result<Vec<u8>, String>,
    ) -> Self {
        Root {
            label,
            secret,
            threshold,
            group_key: input.group_key,
            public_shares: input.public_shares.clone(),
            old_share: Some(input.old_share.clone()),
            to_bytes,
        }
    }
}

/// Why a root is reshared: the scheduled refresh of an epoch, or the repair
/// of a node that lost its shares (see `node/repair.rs`).
#[derive(Debug, Clone, Copy)]
pub(super) enum Occasion {
    /// Proactive refresh at this epoch.
    Refresh(u64),
    /// A repair, by the id its requester chose.
    Repair(u64),
}

impl Occasion {
    pub(super) fn session(&self, label: &str) -> String {
        match self {
            Occasion::Refresh(epoch) => format!("refresh-{label}-{epoch}"),
            Occasion::Repair(id) => format!("repair-{label}-{id}"),
        }
    }

    /// The number that separates this reshare's messages from every other's.
    fn domain(&self) -> u64 {
        match self {
            Occasion::Refresh(epoch) | Occasion::Repair(epoch) => *epoch,
        }
    }
}

fn ecdsa_bytes(s: &NewShare<k256::ProjectivePoint>) -> Result<Vec<u8>, String> {
    Ok(ecdsa_share(s).to_bytes())
}

fn bls_bytes(s: &NewShare<candela_bls::G1Projective>) -> Result<Vec<u8>, String> {
    Ok(bls_share(s).to_bytes().to_vec())
}

fn frost_bytes<C: FrostGroup + candela_frost::Suite>(
    s: &NewShare<C::G>,
) -> Result<Vec<u8>, String> {
    let share = frost_share::<C>(s).map_err(|e| e.to_string())?;
    serde_json::to_vec(&share).map_err(|e| e.to_string())
}

impl Node {
    /// The ECDSA root shares installed in this process so far.
    pub(crate) fn key_generation(&self) -> u64 {
        *self
            .key_generation
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// The refreshes this node completed.
    pub(crate) fn refresh_state(&self) -> RefreshState {
        self.store
            .get_secret(REFRESH_STATE)
            .ok()
            .flatten()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    fn record_refresh(&self, epoch: u64, label: &str, digest: &str) -> anyhow::Result<()> {
        let mut state = self.refresh_state();
        state.epoch = state.epoch.max(epoch);
        state.digests.insert(label.to_string(), digest.to_string());
        self.store
            .put_secret(REFRESH_STATE, &serde_json::to_vec(&state)?)?;
        Ok(())
    }

    /// Refresh the root shares at every epoch boundary, if configured.
    pub(super) async fn refresh_loop(self: Arc<Self>) {
        Arc::clone(&self).recover_pending_refreshes().await;
        let Some(interval) = self.cfg.refresh_interval_secs.filter(|s| *s > 0) else {
            return;
        };
        loop {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            let epoch = epoch_at(now.as_secs(), interval) + 1;
            let start = Duration::from_secs(epoch * interval);
            tokio::time::sleep(start.saturating_sub(now)).await;
            if epoch <= self.refresh_state().epoch {
                continue;
            }
            if let Err(e) = Arc::clone(&self).refresh_all(epoch).await {
                tracing::warn!(epoch, error = %e, "refresh skipped");
            }
        }
    }

    /// Reshare every root key this node holds, one after the other.
    pub(crate) async fn refresh_all(self: Arc<Self>, epoch: u64) -> anyhow::Result<()> {
        let everyone: Vec<u32> = self.committee();
        let live = self.live_set();
        if let Some(down) = everyone.iter().find(|p| !live.contains(p)) {
            anyhow::bail!("node {down} is not live; a refresh changes every node's share");
        }
        let dkls = self.cfg.ecdsa == crate::config::EcdsaProtocol::Dkls23;
        let (Some(key), Some(_)) = (self.key(), self.bls_key()) else {
            if !dkls {
                anyhow::bail!("root keys not generated yet");
            }
            return Ok(());
        };
        let _one_at_a_time = self.resharing.lock().await;
        tracing::info!(epoch, "refreshing the root shares");
        let labels: Vec<String> = self.held_roots().into_iter().map(String::from).collect();
        let dealers: Vec<u32> = everyone.iter().copied().take(key.threshold).collect();
        Arc::clone(&self)
            .reshare_roots(
                Occasion::Refresh(epoch),
                &dealers,
                &labels,
                &BTreeMap::new(),
                &self.members().holders(),
            )
            .await?;
        tracing::info!(epoch, "root shares refreshed");
        Ok(())
    }

    /// The roots this node holds a share of, in the order every reshare
    /// takes them (a DKLs23 network's ECDSA key is not reshared: its share
    /// carries pairwise OT state).
    pub(super) fn held_roots(&self) -> Vec<&'static str> {
        let dkls = self.cfg.ecdsa == crate::config::EcdsaProtocol::Dkls23;
        let mut labels = Vec::new();
        if !dkls && self.key().is_some() {
            labels.push("ecdsa");
        }
        if self.bls_key().is_some() {
            labels.push("bls");
        }
        if self.schnorr.root_share::<Ed25519Sha512>().is_some() {
            labels.push("ed25519");
        }
        if self.schnorr.root_share::<Secp256K1Sha256TR>().is_some() {
            labels.push("k256-taproot");
        }
        labels
    }

    /// This node's view of a root: from its own share, or (when it lost
    /// it) from the public facts its peers agree on.
    fn root<G: Group + GroupEncoding>(
        held: Option<Root<G>>,
        label: &'static str,
        secret: &'static str,
        to_bytes: fn(&NewShare<G>) -> Result<Vec<u8>, String>,
        agreed: &BTreeMap<String, RootPublics>,
    ) -> anyhow::Result<Root<G>> {
        if let Some(root) = held {
            return Ok(root);
        }
        let publics = agreed.get(label).ok_or_else(|| {
            anyhow::anyhow!("no share of root {label}, and no agreed public facts")
        })?;
        let (group_key, public_shares) = publics.decode::<G>()?;
        Ok(Root {
            label,
            secret,
            threshold: publics.threshold,
            group_key,
            public_shares,
            old_share: None,
            to_bytes,
        })
    }

    /// Reshare the roots named by `labels` in order, dealt by `dealers`, to
    /// the committee `new`, and install each
    /// new share. A node without a share of a root takes its public facts
    /// from `agreed`. A dealer outside the new committee gets no new share
    /// (see [`Node::leave_committee`]).
    pub(super) async fn reshare_roots(
        self: Arc<Self>,
        occasion: Occasion,
        dealers: &[u32],
        labels: &[String],
        agreed: &BTreeMap<String, RootPublics>,
        new: &crate::membership::Committee,
    ) -> anyhow::Result<()> {
        let aborted = |node: &Node| match occasion {
            Occasion::Repair(id) => node
                .reshares
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .aborted(id),
            Occasion::Refresh(_) => false,
        };
        if !new.contains(self.me) {
            for label in labels {
                if aborted(&self) {
                    anyhow::bail!("aborted by its requester");
                }
                Arc::clone(&self)
                    .deal_only(occasion, label, dealers, new)
                    .await?;
            }
            return Ok(());
        }
        for label in labels {
            if aborted(&self) {
                anyhow::bail!("aborted by its requester");
            }
            match label.as_str() {
                "ecdsa" => {
                    let held = self.key().map(|k| {
                        Root::held(
                            "ecdsa",
                            ROOT_SECRET,
                            ecdsa_input(&k),
                            k.threshold,
                            ecdsa_bytes,
                        )
                    });
                    let root = Self::root(held, "ecdsa", ROOT_SECRET, ecdsa_bytes, agreed)?;
                    let share = Arc::clone(&self)
                        .reshare_root(occasion, root, dealers, new)
                        .await?;
                    self.install_ecdsa(ecdsa_share(&share))?;
                }
                "bls" => {
                    let held = self.bls_key().map(|k| {
                        Root::held("bls", BLS_SECRET, bls_input(&k), k.threshold, bls_bytes)
                    });
                    let root = Self::root(held, "bls", BLS_SECRET, bls_bytes, agreed)?;
                    let share = Arc::clone(&self)
                        .reshare_root(occasion, root, dealers, new)
                        .await?;
                    *self.bls.write().unwrap_or_else(|p| p.into_inner()) =
                        Some(Arc::new(bls_share(&share)));
                }
                "ed25519" => {
                    Arc::clone(&self)
                        .reshare_frost::<Ed25519Sha512>(
                            occasion,
                            "ed25519",
                            ED25519_SECRET,
                            dealers,
                            agreed,
                            new,
                        )
                        .await?
                }
                "k256-taproot" => {
                    Arc::clone(&self)
                        .reshare_frost::<Secp256K1Sha256TR>(
                            occasion,
                            "k256-taproot",
                            K256TR_SECRET,
                            dealers,
                            agreed,
                            new,
                        )
                        .await?
                }
                other => anyhow::bail!("unknown root {other}"),
            }
        }
        Ok(())
    }

    async fn reshare_frost<C: FrostGroup + NodeSuite>(
        self: Arc<Self>,
        occasion: Occasion,
        label: &'static str,
        secret: &'static str,
        dealers: &[u32],
        agreed: &BTreeMap<String, RootPublics>,
        new: &crate::membership::Committee,
    ) -> anyhow::Result<()> {
        let root = self.frost_root::<C>(label, secret, agreed)?;
        let dealt = Arc::clone(&self)
            .reshare_root(occasion, root, dealers, new)
            .await?;
        let share: FrostKeyShare<C> = frost_share::<C>(&dealt)?;
        self.schnorr
            .replace_root::<C>(share, &self.store)
            .map_err(|e| anyhow::anyhow!(e.message))
    }

    /// This node's view of a FROST root (see [`Node::root`]).
    fn frost_root<C: FrostGroup + NodeSuite>(
        &self,
        label: &'static str,
        secret: &'static str,
        agreed: &BTreeMap<String, RootPublics>,
    ) -> anyhow::Result<Root<C::G>> {
        let held = match self.schnorr.root_share::<C>() {
            Some(share) => Some(Root::held(
                label,
                secret,
                frost_input(&share)?,
                share.threshold as usize,
                frost_bytes::<C>,
            )),
            None => None,
        };
        Self::root(held, label, secret, frost_bytes::<C>, agreed)
    }

    /// Install a refreshed ECDSA root share; discard the presignatures made
    /// with the old one.
    fn install_ecdsa(&self, share: KeyShare) -> anyhow::Result<()> {
        let mut generation = self
            .key_generation
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        *self.key.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(share));
        *generation += 1;
        let free: Vec<String> = self.store.free_presignatures()?.into_iter().collect();
        let n = self.store.mark_used(&free)?;
        tracing::info!(discarded = n, "presignatures of the old share discarded");
        Ok(())
    }

    /// Run the reshare of one root among every node; the new share is
    /// stored (pending) before this node confirms it and installed in the
    /// store once everyone has.
    async fn reshare_root<G: Group + GroupEncoding>(
        self: Arc<Self>,
        occasion: Occasion,
        root: Root<G>,
        dealers: &[u32],
        new: &crate::membership::Committee,
    ) -> anyhow::Result<NewShare<G>> {
        let (out, name) = Arc::clone(&self)
            .run_reshare(occasion, &root, dealers, new)
            .await?;
        let new = out
            .new_share
            .ok_or_else(|| anyhow::anyhow!("{name}: no new share for a member"))?;
        self.store.put_secret(
            root.secret,
            &(root.to_bytes)(&new).map_err(anyhow::Error::msg)?,
        )?;
        self.store.put_secret(&pending_name(root.secret), b"")?;
        let epoch = match occasion {
            Occasion::Refresh(epoch) => epoch,
            Occasion::Repair(_) => self.refresh_state().epoch,
        };
        self.record_refresh(epoch, root.label, &hex::encode(out.digest))?;
        Ok(new)
    }

    /// Run one reshare session of `root`, from the committee of its public
    /// shares to `new`; its output and session name.
    async fn run_reshare<G: Group + GroupEncoding>(
        self: Arc<Self>,
        occasion: Occasion,
        root: &Root<G>,
        dealers: &[u32],
        new: &crate::membership::Committee,
    ) -> anyhow::Result<(ReshareOutput<G>, String)> {
        let old = Committee::new(root.public_shares.keys().copied().collect(), root.threshold)?;
        let committee = Committee::new(new.members.clone(), new.threshold)?;
        let params = ReshareParams::new(
            root.label,
            occasion.domain(),
            old,
            committee,
            dealers.to_vec(),
        )?;
        let everyone = params.participants();
        let old_share = root
            .old_share
            .clone()
            .filter(|_| params.dealers.contains(&self.me));
        // a repair leaves the refresh epoch where it is
        let epoch = match occasion {
            Occasion::Refresh(epoch) => epoch,
            Occasion::Repair(_) => self.refresh_state().epoch,
        };
        let node = Arc::clone(&self);
        let (secret, to_bytes) = (root.secret, root.to_bytes);
        let session = ReshareSession::new(
            params,
            self.me,
            root.group_key,
            root.public_shares.clone(),
            old_share,
            rand_core::OsRng,
        )?
        .before_confirm(move |share, digest| {
            let pending = Pending {
                epoch,
                digest: hex::encode(digest),
                share: hex::encode(to_bytes(share)?),
            };
            let bytes = serde_json::to_vec(&pending).map_err(|e| e.to_string())?;
            node.store
                .put_secret(&pending_name(secret), &bytes)
                .map_err(|e| e.to_string())
        });
        let proto: BoxedSession<ReshareOutput<G>> = Box::new(Driven(session));
        let name = occasion.session(root.label);
        let rx = self
            .hub
            .run(
                name.clone(),
                self.me,
                everyone,
                proto,
                self.outbox.clone(),
                REFRESH_TIMEOUT,
            )
            .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        let out = rx
            .await
            .map_err(|_| anyhow::anyhow!("{name}: session thread vanished"))?
            .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        Ok((out, name))
    }

    /// Deal this node's share of root `label` to the committee `new`, which
    /// this node is not in (it leaves the node set).
    async fn deal_only(
        self: Arc<Self>,
        occasion: Occasion,
        label: &str,
        dealers: &[u32],
        new: &crate::membership::Committee,
    ) -> anyhow::Result<()> {
        let none = BTreeMap::new();
        match label {
            "ecdsa" => {
                let k = self
                    .key()
                    .ok_or_else(|| anyhow::anyhow!("no ECDSA share"))?;
                let root = Root::held(
                    "ecdsa",
                    ROOT_SECRET,
                    ecdsa_input(&k),
                    k.threshold,
                    ecdsa_bytes,
                );
                self.run_reshare(occasion, &root, dealers, new).await?;
            }
            "bls" => {
                let k = self
                    .bls_key()
                    .ok_or_else(|| anyhow::anyhow!("no BLS share"))?;
                let root = Root::held("bls", BLS_SECRET, bls_input(&k), k.threshold, bls_bytes);
                self.run_reshare(occasion, &root, dealers, new).await?;
            }
            "ed25519" => {
                let root = self.frost_root::<Ed25519Sha512>("ed25519", ED25519_SECRET, &none)?;
                self.run_reshare(occasion, &root, dealers, new).await?;
            }
            "k256-taproot" => {
                let root =
                    self.frost_root::<Secp256K1Sha256TR>("k256-taproot", K256TR_SECRET, &none)?;
                self.run_reshare(occasion, &root, dealers, new).await?;
            }
            other => anyhow::bail!("unknown root {other}"),
        }
        Ok(())
    }

    /// At start: a share stored pending (the node stopped between confirming
    /// and installing it) is installed if a peer completed that refresh,
    /// else dropped.
    async fn recover_pending_refreshes(self: Arc<Self>) {
        let roots = [
            ("ecdsa", ROOT_SECRET),
            ("bls", BLS_SECRET),
            ("ed25519", ED25519_SECRET),
            ("k256-taproot", K256TR_SECRET),
        ];
        for (label, secret) in roots {
            let pending: Option<Pending> = self
                .store
                .get_secret(&pending_name(secret))
                .ok()
                .flatten()
                .filter(|b| !b.is_empty())
                .and_then(|b| serde_json::from_slice(&b).ok());
            let Some(pending) = pending else { continue };
            let completed = self
                .peer_completed(label, pending.epoch, &pending.digest)
                .await;
            let result = (|| -> anyhow::Result<()> {
                if completed {
                    let bytes = hex::decode(&pending.share)?;
                    self.store.put_secret(secret, &bytes)?;
                    self.load_refreshed(label, &bytes)?;
                    self.record_refresh(pending.epoch, label, &pending.digest)?;
                    tracing::warn!(
                        label,
                        epoch = pending.epoch,
                        "installed a refreshed share stored before a stop"
                    );
                }
                self.store.put_secret(&pending_name(secret), b"")?;
                Ok(())
            })();
            if let Err(e) = result {
                tracing::error!(label, error = %e, "cannot settle a pending refreshed share");
            }
        }
    }

    /// Put a refreshed root share (as stored) in use.
    fn load_refreshed(&self, label: &str, bytes: &[u8]) -> anyhow::Result<()> {
        match label {
            "ecdsa" => self.install_ecdsa(KeyShare::from_bytes(bytes)?),
            "bls" => {
                let share = candela_bls::BlsKeyShare::from_bytes(bytes)?;
                *self.bls.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(share));
                Ok(())
            }
            "ed25519" => self.load_frost::<Ed25519Sha512>(bytes),
            "k256-taproot" => self.load_frost::<Secp256K1Sha256TR>(bytes),
            other => anyhow::bail!("unknown root {other}"),
        }
    }

    fn load_frost<C: FrostGroup + NodeSuite>(&self, bytes: &[u8]) -> anyhow::Result<()> {
        let share: FrostKeyShare<C> = super::frost_keygen::share_from_bytes(bytes)?;
        self.schnorr
            .replace_root::<C>(share, &self.store)
            .map_err(|e| anyhow::anyhow!(e.message))
    }

    /// Whether some peer reports the refresh of `label` at `epoch` complete
    /// with this digest (asks each peer's status, a few times).
    async fn peer_completed(&self, label: &str, epoch: u64, digest: &str) -> bool {
        for _ in 0..20 {
            for (i, n) in self.members().nodes.iter().enumerate() {
                if i as u32 == self.me {
                    continue;
                }
                let url = format!("{}/web/status", n.url.trim_end_matches('/'));
                let Ok(resp) = self.http.get(&url).send().await else {
                    continue;
                };
                let Ok(status) = resp.json::<candela_api::v7::NodeStatus>().await else {
                    continue;
                };
                if status.refresh_digests.get(label).map(String::as_str) == Some(digest) {
                    return true;
                }
                if status.refresh_epoch > epoch {
                    // that peer went on to a later refresh without this digest
                    // for this root: the pending share is not the one
                    return false;
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_are_aligned_to_the_clock_so_every_node_computes_the_same() {
        assert_eq!(epoch_at(0, 30), 0);
        assert_eq!(epoch_at(59, 30), 1);
        assert_eq!(epoch_at(60, 30), 2);
        assert_eq!(
            epoch_at(60, 0),
            60,
            "a zero interval is treated as one second"
        );
    }
}
