//! Repair: a node that lost its key shares (its store, not its identity)
//! gets new shares of the same root keys from the others, and no key is
//! reconstructed anywhere.
//!
//! A repair is a reshare to the same node set (`candela-reshare`) in which
//! the node that lost its shares only receives: `t` other nodes deal fresh
//! sharings of their Lagrange-weighted shares, every node (the repaired one
//! too) gets a new share, and the shares from before no longer combine with
//! the new ones, exactly as in a refresh.
//!
//! At start, a node that holds no root share asks every peer for the public
//! facts of the roots it holds (group key, every node's public share,
//! threshold). If at least `t` peers give the same facts, the keys exist
//! and this node lost its shares: at most `t − 1` nodes are corrupt, so one
//! of the `t` is honest and the facts are the network's. The node then asks
//! every peer to take part in a repair (`PeerBody::Repair`, naming the
//! dealers and the roots) and receives its new shares, checking every
//! dealing against those facts. If every peer answers that it holds
//! nothing, the network is new and the node runs the key generation.
//!
//! Several nodes that lost their shares are repaired together, in one
//! reshare asked for by the lowest of them; the others take part as
//! receivers with the facts they learnt the same way. Only peers that gave
//! exactly the agreed facts deal.
//!
//! A DKLs23 network's ECDSA key is not repaired here (its share carries
//! pairwise OT state); its BLS and Schnorr roots are.
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use candela_frost::{Ed25519Sha512, Secp256K1Sha256TR};
use candela_reshare::roots::{bls_input, ecdsa_input, frost_input, FrostGroup, RootInput};
use group::{Group, GroupEncoding};
use serde::{Deserialize, Serialize};

use super::frost_keygen::{ED25519_SECRET, K256TR_SECRET};
use super::keygen::{BLS_SECRET, ROOT_SECRET};
use super::refresh::Occasion;
use super::{futures_join_all, now_ms, Node};
use crate::error::ApiError;
use crate::peer::PeerBody;
use crate::schnorr::NodeSuite;

/// The public facts of one root key, as a node that holds it tells them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RootPublics {
    /// The root's name (`ecdsa`, `bls`, `ed25519`, `k256-taproot`).
    pub(crate) label: String,
    /// Shares needed to use it.
    pub(crate) threshold: usize,
    /// The root public key (the group's encoding, hex).
    pub(crate) group_key: String,
    /// Every node's public share, by node index (hex).
    pub(crate) public_shares: BTreeMap<u32, String>,
}

fn decode_point<G: GroupEncoding>(hex_point: &str) -> anyhow::Result<G> {
    let bytes = hex::decode(hex_point)?;
    let mut repr = G::Repr::default();
    if repr.as_ref().len() != bytes.len() {
        anyhow::bail!("a group element of {} bytes", bytes.len());
    }
    repr.as_mut().copy_from_slice(&bytes);
    Option::from(G::from_bytes(&repr)).ok_or_else(|| anyhow::anyhow!("not a group element"))
}

impl RootPublics {
    fn of<G: Group + GroupEncoding>(label: &str, threshold: usize, input: &RootInput<G>) -> Self {
        RootPublics {
            label: label.to_string(),
            threshold,
            group_key: hex::encode(input.group_key.to_bytes()),
            public_shares: input
                .public_shares
                .iter()
                .map(|(&i, p)| (i, hex::encode(p.to_bytes())))
                .collect(),
        }
    }

    /// The group key and the public shares as group elements.
    pub(crate) fn decode<G: Group + GroupEncoding>(&self) -> anyhow::Result<(G, BTreeMap<u32, G>)> {
        let group_key = decode_point::<G>(&self.group_key)?;
        let shares = self
            .public_shares
            .iter()
            .map(|(&i, p)| Ok((i, decode_point::<G>(p)?)))
            .collect::<anyhow::Result<_>>()?;
        Ok((group_key, shares))
    }
}

/// What a node that holds no root share learns from its peers' answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NetworkKeys {
    /// Every peer answered and none holds a root: a new network.
    NotYet,
    /// At least `threshold` peers gave these same facts: the keys exist.
    Exist(Vec<RootPublics>),
    /// Neither yet (peers missing, or answers that disagree).
    Unknown,
}

/// Judge the answers of every peer (`None`: it did not answer).
pub(crate) fn judge_network_keys(
    answers: &[Option<Vec<RootPublics>>],
    threshold: usize,
) -> NetworkKeys {
    let mut counts: BTreeMap<String, (usize, &Vec<RootPublics>)> = BTreeMap::new();
    for facts in answers.iter().flatten().filter(|f| !f.is_empty()) {
        let key = serde_json::to_string(facts).unwrap_or_default();
        counts.entry(key).or_insert((0, facts)).0 += 1;
    }
    if let Some((_, facts)) = counts.values().find(|(n, _)| *n >= threshold) {
        return NetworkKeys::Exist((*facts).clone());
    }
    if answers.iter().all(|a| matches!(a, Some(f) if f.is_empty())) {
        return NetworkKeys::NotYet;
    }
    NetworkKeys::Unknown
}

/// What a node that lost its shares does after a round of asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RepairPlan {
    /// Not now (a peer did not answer, or too few hold the keys).
    Wait(String),
    /// Another node that lost its shares has a lower index: it asks for
    /// the repair, and this node takes part as a receiver.
    BeAsked,
    /// Ask every peer for a repair dealt by `dealers` in which `receivers`
    /// (this node and every other that lost its shares) get new shares.
    Request {
        /// The first `threshold` peers that hold the agreed keys.
        dealers: Vec<u32>,
        /// Every node that holds nothing, this one included, ascending.
        receivers: Vec<u32>,
    },
}

/// Plan the repair of `me` from the answers of `peers` (in that order;
/// `None`: no answer) and the facts at least `threshold` of them agreed on.
///
/// A repair changes every node's share, so every peer must answer. Nodes
/// that answered that they hold nothing lost their shares too: one repair
/// gives new shares to all of them, asked for by the lowest index among
/// them (so two lost nodes never wait for each other). Only peers that
/// gave exactly the agreed facts deal.
pub(crate) fn plan_repair(
    me: u32,
    peers: &[u32],
    answers: &[Option<Vec<RootPublics>>],
    agreed: &[RootPublics],
    threshold: usize,
) -> RepairPlan {
    let mut receivers = vec![me];
    let mut holders = Vec::new();
    for (&p, answer) in peers.iter().zip(answers) {
        match answer {
            None => {
                return RepairPlan::Wait(format!(
                    "node {p} did not answer: a repair changes every node's share"
                ))
            }
            Some(facts) if facts.is_empty() => receivers.push(p),
            Some(facts) if facts.as_slice() == agreed => holders.push(p),
            Some(_) => {}
        }
    }
    receivers.sort_unstable();
    if receivers[0] != me {
        return RepairPlan::BeAsked;
    }
    holders.sort_unstable();
    if holders.len() < threshold {
        return RepairPlan::Wait(format!(
            "{} nodes hold the keys, {threshold} must deal",
            holders.len()
        ));
    }
    holders.truncate(threshold);
    RepairPlan::Request {
        dealers: holders,
        receivers,
    }
}

/// The reshares a node accepted: by id, the requester and the roots; and
/// the ids their requester aborted.
#[derive(Default)]
pub(crate) struct AcceptedReshares {
    accepted: BTreeMap<u64, (u32, Vec<String>)>,
    aborted: std::collections::BTreeSet<u64>,
}

impl AcceptedReshares {
    /// Whether reshare `id` was aborted.
    pub(crate) fn aborted(&self, id: u64) -> bool {
        self.aborted.contains(&id)
    }
}

use crate::membership::Committee;

/// Check a repair request of node `from` against this node's view.
///
/// `old` is the committee holding the keys as this node knows it, and
/// `expected` the committee the keys belong in (the registry's); the
/// request's committee `new` must be that one. A plain repair (`new` is
/// `old`) is asked for by the lowest of its receivers. In both, receivers
/// never deal, the dealers are at least the old threshold of old members in
/// ascending order, the receivers are new members, this node is a receiver
/// exactly when it holds nothing, and the roots are those it holds (or,
/// when it holds nothing, those its peers agreed on), in that order.
#[allow(clippy::too_many_arguments)]
pub(crate) fn check_repair_request(
    from: u32,
    me: u32,
    old: &Committee,
    new: &Committee,
    expected: &Committee,
    dealers: &[u32],
    receivers: &[u32],
    roots: &[String],
    held: &[&str],
    agreed: &[&str],
) -> Result<(), String> {
    if new != expected {
        return Err(format!(
            "committee {:?} (threshold {}): this node expects {:?} (threshold {})",
            new.members, new.threshold, expected.members, expected.threshold
        ));
    }
    if !old.contains(from) && !new.contains(from) {
        return Err(format!("node {from} is not in the committee"));
    }
    let ascending = |v: &[u32]| v.windows(2).all(|w| w[0] < w[1]);
    if !ascending(receivers) {
        return Err("receivers must be in ascending order".into());
    }
    if new == old && receivers.first() != Some(&from) {
        return Err("a repair is asked for by the lowest of its receivers".into());
    }
    if let Some(r) = receivers.iter().find(|&&r| !new.contains(r)) {
        return Err(format!("receiver {r} is not in the committee"));
    }
    if dealers.iter().any(|d| receivers.contains(d)) {
        return Err("a node being repaired cannot deal".into());
    }
    if dealers.len() < old.threshold || !ascending(dealers) {
        return Err(format!(
            "dealers must be at least {} distinct nodes in ascending order",
            old.threshold
        ));
    }
    if let Some(d) = dealers.iter().find(|&&d| !old.contains(d)) {
        return Err(format!("dealer {d} does not hold a share"));
    }
    if roots.is_empty() {
        return Err("no root to repair".into());
    }
    let lost = held.is_empty();
    if receivers.contains(&me) != lost {
        return Err(if lost {
            "this node holds no share and must be a receiver".into()
        } else {
            "this node holds its shares and is not to be repaired".into()
        });
    }
    let known = if lost { agreed } else { held };
    let expected_roots: Vec<&str> = known
        .iter()
        .copied()
        .filter(|h| roots.iter().any(|r| r == h))
        .collect();
    if expected_roots.len() != roots.len() || expected_roots.iter().zip(roots).any(|(e, r)| *e != r)
    {
        return Err(format!(
            "roots {roots:?}: this node knows {known:?} (in that order)"
        ));
    }
    Ok(())
}

/// The committee the agreed facts describe: how many public shares, and
/// the threshold (of the first root; every root has the same).
pub(crate) fn committee_of(facts: &[RootPublics]) -> Option<Committee> {
    facts
        .first()
        .map(|f| Committee::holding(&f.public_shares, f.threshold))
}

/// How long a node without shares waits between rounds of asking.
const ASK_AGAIN: Duration = Duration::from_secs(1);
/// How long it waits after a repair attempt failed.
const RETRY_REPAIR: Duration = Duration::from_secs(3);

impl Node {
    /// The public facts of every root this node holds, in reshare order.
    pub(crate) fn root_publics(&self) -> Vec<RootPublics> {
        let mut out = Vec::new();
        for label in self.held_roots() {
            let facts = match label {
                "ecdsa" => self
                    .key()
                    .map(|k| RootPublics::of(label, k.threshold, &ecdsa_input(&k))),
                "bls" => self
                    .bls_key()
                    .map(|k| RootPublics::of(label, k.threshold, &bls_input(&k))),
                "ed25519" => self.frost_publics::<Ed25519Sha512>(label),
                "k256-taproot" => self.frost_publics::<Secp256K1Sha256TR>(label),
                _ => None,
            };
            out.extend(facts);
        }
        out
    }

    fn frost_publics<C: FrostGroup + NodeSuite>(&self, label: &str) -> Option<RootPublics> {
        let share = self.schnorr.root_share::<C>()?;
        let input = frost_input(&share).ok()?;
        Some(RootPublics::of(label, share.threshold as usize, &input))
    }

    /// Take part in the repair (or the move of the keys to the registry's
    /// committee) that peer `from` asks for (see the module doc): checked
    /// here, run in the background, one reshare at a time. A node that holds
    /// nothing takes part as a receiver, with the public facts its peers
    /// agreed on.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn accept_repair(
        self: &Arc<Self>,
        from: u32,
        id: u64,
        dealers: Vec<u32>,
        receivers: Vec<u32>,
        roots: Vec<String>,
        new: Committee,
    ) -> Result<serde_json::Value, ApiError> {
        let agreed: Vec<RootPublics> = self
            .agreed_roots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let agreed_labels: Vec<&str> = agreed.iter().map(|f| f.label.as_str()).collect();
        let held = self.held_roots();
        let members = self.members();
        let current = members.holders();
        let (old, expected) = if held.is_empty() {
            let old = committee_of(&agreed).ok_or_else(|| {
                ApiError::conflict("NodeRepairRefused", "this node has not learnt the keys yet")
            })?;
            (old, current)
        } else {
            let expected = members.target.clone().unwrap_or_else(|| current.clone());
            (current, expected)
        };
        check_repair_request(
            from,
            self.me,
            &old,
            &new,
            &expected,
            &dealers,
            &receivers,
            &roots,
            &held,
            &agreed_labels,
        )
        .map_err(|e| ApiError::bad_request("NodeRepairRefused", e))?;
        let agreed: BTreeMap<String, RootPublics> =
            agreed.into_iter().map(|f| (f.label.clone(), f)).collect();
        let guard = Arc::clone(&self.resharing)
            .try_lock_owned()
            .map_err(|_| ApiError::conflict("NodeRepairRefused", "a reshare is running"))?;
        self.reshares
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .accepted
            .insert(id, (from, roots.clone()));
        tracing::warn!(
            from,
            id,
            ?dealers,
            ?receivers,
            ?roots,
            ?new,
            "resharing the keys (repair or committee change)"
        );
        let node = Arc::clone(self);
        tokio::spawn(async move {
            let _one_at_a_time = guard;
            let result = Arc::clone(&node)
                .reshare_roots(Occasion::Repair(id), &dealers, &roots, &agreed, &new)
                .await;
            match result {
                Ok(()) => {
                    tracing::warn!(from, id, ?receivers, ?new, "reshared; every share changed");
                    node.settle_committee(&new);
                }
                Err(e) => tracing::warn!(from, id, error = %e, "reshare failed"),
            }
        });
        Ok(serde_json::json!({"ok": true}))
    }

    /// At start: if this node holds no root share but the network's keys
    /// exist, get new shares of them from the others (see the module doc),
    /// together with every other node that lost its shares. Returns when
    /// this node holds them, or at once on a new network.
    pub(super) async fn repair_if_lost(self: &Arc<Self>) {
        if !self.held_roots().is_empty() {
            return;
        }
        let peers: Vec<u32> = self
            .committee()
            .into_iter()
            .filter(|&p| p != self.me)
            .collect();
        let mut said = String::new();
        loop {
            // repaired as a receiver of another lost node's repair
            if !self.held_roots().is_empty() {
                tracing::warn!("repaired: this node holds new shares of every root");
                return;
            }
            let asks = peers
                .iter()
                .map(|&p| {
                    let node = Arc::clone(self);
                    async move {
                        node.ask_peer::<Vec<RootPublics>>(
                            p,
                            &PeerBody::RootPublics,
                            "PeerUnreachable",
                        )
                        .await
                        .ok()
                    }
                })
                .collect();
            let answers = futures_join_all(asks).await;
            let facts = match judge_network_keys(&answers, self.threshold()) {
                NetworkKeys::NotYet => return,
                NetworkKeys::Exist(facts) => facts,
                NetworkKeys::Unknown => {
                    tokio::time::sleep(ASK_AGAIN).await;
                    continue;
                }
            };
            *self.agreed_roots.lock().unwrap_or_else(|p| p.into_inner()) = facts.clone();
            let current = self.members().holders();
            let plan = if committee_of(&facts).as_ref() != Some(&current) {
                // the keys are held by another committee than the
                // registry's: the move to it gives this node its shares
                RepairPlan::BeAsked
            } else {
                plan_repair(self.me, &peers, &answers, &facts, current.threshold)
            };
            let (dealers, receivers) = match plan {
                RepairPlan::Request { dealers, receivers } => (dealers, receivers),
                other => {
                    let now = format!("{other:?}");
                    if now != said {
                        tracing::warn!(plan = %now, "this node holds no share of the network's keys: waiting to be repaired");
                        said = now;
                    }
                    tokio::time::sleep(ASK_AGAIN).await;
                    continue;
                }
            };
            let labels: Vec<String> = facts.iter().map(|f| f.label.clone()).collect();
            let agreed: BTreeMap<String, RootPublics> =
                facts.into_iter().map(|f| (f.label.clone(), f)).collect();
            tracing::warn!(roots = ?labels, ?receivers, "this node holds no share of the network's keys: asking for a repair");
            let guard = self.resharing.lock().await;
            let id = now_ms();
            let body = PeerBody::Repair {
                id,
                dealers: dealers.clone(),
                receivers: receivers.clone(),
                roots: labels.clone(),
                new_members: current.members.clone(),
                new_threshold: current.threshold as u32,
            };
            let result = match self.ask_to_reshare(&peers, id, &body).await {
                Ok(()) => {
                    Arc::clone(self)
                        .reshare_roots(Occasion::Repair(id), &dealers, &labels, &agreed, &current)
                        .await
                }
                Err(e) => Err(e),
            };
            drop(guard);
            match result {
                Ok(()) => {
                    tracing::warn!(id, roots = ?labels, ?receivers, "repaired: these nodes hold new shares of every root");
                    return;
                }
                Err(e) => {
                    tracing::warn!(id, error = %e, "repair failed; trying again");
                    tokio::time::sleep(RETRY_REPAIR).await;
                }
            }
        }
    }
}

impl Node {
    /// Peer `from` aborted the reshare `id` it asked for: cancel its
    /// sessions here and start none of the rest.
    pub(crate) fn abort_reshare(&self, from: u32, id: u64) {
        tracing::debug!(from, id, "abort of a reshare asked");
        let mut reshares = self.reshares.lock().unwrap_or_else(|p| p.into_inner());
        let Some((requester, roots)) = reshares.accepted.get(&id).cloned() else {
            return;
        };
        if requester != from {
            return;
        }
        reshares.aborted.insert(id);
        drop(reshares);
        tracing::warn!(from, id, "reshare aborted by its requester");
        for label in roots {
            self.hub.cancel(
                &Occasion::Repair(id).session(&label),
                "aborted by its requester",
            );
        }
    }

    /// Ask every one of `participants` to take part in the reshare `body`
    /// names; if any refuses, tell those that accepted to stop, and fail.
    pub(crate) async fn ask_to_reshare(
        self: &Arc<Self>,
        participants: &[u32],
        id: u64,
        body: &PeerBody,
    ) -> anyhow::Result<()> {
        let asks = participants
            .iter()
            .map(|&p| {
                let (node, body) = (Arc::clone(self), body.clone());
                async move {
                    node.ask_peer::<serde_json::Value>(p, &body, "NodeRepairRefused")
                        .await
                        .map_err(|e| format!("node {p}: {}", e.message))
                }
            })
            .collect();
        let answers = futures_join_all(asks).await;
        let refused: Vec<&String> = answers.iter().filter_map(|a| a.as_ref().err()).collect();
        if refused.is_empty() {
            return Ok(());
        }
        let accepted: Vec<u32> = participants
            .iter()
            .zip(&answers)
            .filter(|(_, a)| a.is_ok())
            .map(|(&p, _)| p)
            .collect();
        for p in accepted {
            if let Err(e) = self
                .ask_peer::<serde_json::Value>(p, &PeerBody::AbortReshare { id }, "PeerUnreachable")
                .await
            {
                tracing::warn!(node = p, id, error = %e.message, "cannot abort a reshare");
            }
        }
        anyhow::bail!(
            "refused: {}",
            refused
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        )
    }

    /// Move every root key to the registry's committee `target`: the
    /// leader's side of an epoch change. Members
    /// of the new committee that hold nothing (joining, or lost) receive;
    /// the old threshold of holders deal, members staying first.
    pub(crate) async fn move_keys(self: Arc<Self>, target: Committee) -> anyhow::Result<()> {
        let labels: Vec<String> = self.held_roots().into_iter().map(String::from).collect();
        if labels.is_empty() {
            return Ok(());
        }
        let Ok(guard) = Arc::clone(&self.resharing).try_lock_owned() else {
            return Ok(());
        };
        let mine = self.root_publics();
        let members = self.members();
        let old = members.holders();
        // the kicked members hold shares no more; the rest are asked
        let others: Vec<u32> = (0..members.nodes.len() as u32)
            .filter(|&p| p != self.me && (old.contains(p) || target.contains(p)))
            .collect();
        let asks = others
            .iter()
            .map(|&p| {
                let node = Arc::clone(&self);
                async move {
                    node.ask_peer::<Vec<RootPublics>>(p, &PeerBody::RootPublics, "PeerUnreachable")
                        .await
                        .ok()
                }
            })
            .collect();
        let answers = futures_join_all(asks).await;
        let mut holders = vec![self.me];
        let mut receivers = Vec::new();
        for (&p, answer) in others.iter().zip(&answers) {
            match answer {
                Some(facts) if *facts == mine => holders.push(p),
                Some(facts) if facts.is_empty() && target.contains(p) => receivers.push(p),
                None if target.contains(p) => {
                    anyhow::bail!("member {p} of the new committee did not answer")
                }
                _ => {}
            }
        }
        holders.sort_by_key(|&p| (!target.contains(p), p));
        holders.truncate(old.threshold);
        if holders.len() < old.threshold {
            anyhow::bail!(
                "{} nodes hold the keys, {} must deal",
                holders.len(),
                old.threshold
            );
        }
        let mut dealers = holders;
        dealers.sort_unstable();
        let id = now_ms();
        tracing::warn!(?old, new = ?target, ?dealers, ?receivers, "moving the keys to the registry's committee");
        let body = PeerBody::Repair {
            id,
            dealers: dealers.clone(),
            receivers: receivers.clone(),
            roots: labels.clone(),
            new_members: target.members.clone(),
            new_threshold: target.threshold as u32,
        };
        let participants: Vec<u32> = target
            .members
            .iter()
            .copied()
            .chain(dealers.iter().copied())
            .filter(|&p| p != self.me)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        self.ask_to_reshare(&participants, id, &body).await?;
        let started = std::time::Instant::now();
        Arc::clone(&self)
            .reshare_roots(
                Occasion::Repair(id),
                &dealers,
                &labels,
                &BTreeMap::new(),
                &target,
            )
            .await?;
        drop(guard);
        tracing::warn!(
            ms = started.elapsed().as_millis() as u64,
            new = ?target,
            "the keys moved to the registry's committee; every share changed"
        );
        self.settle_committee(&target);
        Ok(())
    }

    /// On a node the registry removed: once at least the new threshold of
    /// the new committee report (in their public status: the members no
    /// longer take this node's peer messages) the same BLS key shared among
    /// the new committee, erase this node's shares and stop.
    pub(crate) async fn retire_once_moved(self: Arc<Self>, new: Committee) {
        let Some(bls) = self.bls_key() else {
            return;
        };
        let key = bls.public_key_hex();
        let members = self.members();
        let mut moved = 0;
        for n in new
            .members
            .iter()
            .filter_map(|&i| members.nodes.get(i as usize))
        {
            let url = format!("{}/web/status", n.url.trim_end_matches('/'));
            let Ok(resp) = self.http.get(&url).send().await else {
                continue;
            };
            let Ok(status) = resp.json::<candela_api::v7::NodeStatus>().await else {
                continue;
            };
            if status.bls_public_key.as_deref() == Some(key.as_str())
                && status.bls_public_shares.len() == new.len()
            {
                moved += 1;
            }
        }
        if moved >= new.threshold {
            self.leave_committee();
        }
    }

    /// Erase every root share this node holds (it left the committee) and
    /// stop the process: a removed node serves nothing.
    pub(crate) fn leave_committee(&self) {
        for secret in [ROOT_SECRET, BLS_SECRET, ED25519_SECRET, K256TR_SECRET] {
            for name in [secret.to_string(), format!("{secret}.pending")] {
                if let Err(e) = self.store.delete_secret(&name) {
                    tracing::error!(error = %e, name, "cannot erase a share");
                }
            }
        }
        tracing::warn!("this node left the node set: its shares are erased; stopping");
        std::process::exit(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(size: usize, threshold: usize) -> Committee {
        Committee::first(size, threshold)
    }

    fn facts(label: &str, key: &str) -> RootPublics {
        RootPublics {
            label: label.into(),
            threshold: 3,
            group_key: key.into(),
            public_shares: BTreeMap::from([(0, "aa".into()), (1, "bb".into())]),
        }
    }

    #[test]
    fn the_keys_exist_only_when_threshold_peers_give_the_same_facts() {
        let honest = vec![facts("bls", "01")];
        let liar = vec![facts("bls", "02")];
        // two liars agreeing cannot reach a threshold of three
        let answers = [
            Some(liar.clone()),
            Some(liar.clone()),
            Some(honest.clone()),
            None,
        ];
        assert_eq!(judge_network_keys(&answers, 3), NetworkKeys::Unknown);
        let answers = [
            Some(liar.clone()),
            Some(honest.clone()),
            Some(honest.clone()),
            Some(honest.clone()),
        ];
        assert_eq!(
            judge_network_keys(&answers, 3),
            NetworkKeys::Exist(honest.clone())
        );
    }

    #[test]
    fn a_new_network_is_one_where_every_peer_answers_that_it_holds_nothing() {
        assert_eq!(
            judge_network_keys(&[Some(vec![]), Some(vec![]), Some(vec![])], 3),
            NetworkKeys::NotYet
        );
        // a peer that does not answer might hold the keys
        assert_eq!(
            judge_network_keys(&[Some(vec![]), None, Some(vec![])], 3),
            NetworkKeys::Unknown
        );
        // one peer claiming keys is not enough, nor is it a new network
        assert_eq!(
            judge_network_keys(
                &[Some(vec![]), Some(vec![facts("bls", "01")]), Some(vec![])],
                3
            ),
            NetworkKeys::Unknown
        );
    }

    #[test]
    fn every_lost_node_is_repaired_at_once_asked_by_the_lowest_and_only_holders_deal() {
        let agreed = vec![facts("bls", "01")];
        let peers = [0, 2, 3, 4, 5, 6];
        let holds = Some(agreed.clone());
        let lost = Some(vec![]);
        // node 1 and node 4 lost their shares; node 6 answers other facts
        let answers = [
            holds.clone(),
            holds.clone(),
            holds.clone(),
            lost.clone(),
            holds.clone(),
            Some(vec![facts("bls", "02")]),
        ];
        assert_eq!(
            plan_repair(1, &peers, &answers, &agreed, 4),
            RepairPlan::Request {
                dealers: vec![0, 2, 3, 5],
                receivers: vec![1, 4],
            }
        );
        // node 4 waits for node 1 to ask
        let peers4 = [0, 1, 2, 3, 5, 6];
        let answers4 = [
            holds.clone(),
            lost.clone(),
            holds.clone(),
            holds.clone(),
            holds.clone(),
            holds.clone(),
        ];
        assert_eq!(
            plan_repair(4, &peers4, &answers4, &agreed, 4),
            RepairPlan::BeAsked
        );
        // a silent peer, or too few holders, is a reason to wait
        let mut silent = answers.clone();
        silent[0] = None;
        assert!(matches!(
            plan_repair(1, &peers, &silent, &agreed, 4),
            RepairPlan::Wait(_)
        ));
        assert!(matches!(
            plan_repair(1, &peers, &answers, &agreed, 5),
            RepairPlan::Wait(_)
        ));
    }

    #[test]
    fn a_repair_request_is_checked_against_the_node_set_and_the_roots_held() {
        let held = ["ecdsa", "bls", "ed25519"];
        let roots = |r: &[&str]| r.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let two = roots(&["ecdsa", "bls"]);
        // node 0 holds its shares and takes part in the repair of 1 and 4
        let check = |from, me, dealers: &[u32], receivers: &[u32], r: &[String], held: &[&str]| {
            check_repair_request(
                from,
                me,
                &c(5, 3),
                &c(5, 3),
                &c(5, 3),
                dealers,
                receivers,
                r,
                held,
                &["ecdsa", "bls"],
            )
        };
        assert_eq!(check(1, 0, &[0, 2, 3], &[1, 4], &two, &held), Ok(()));
        // node 4, which lost its shares too, takes part as a receiver
        assert_eq!(check(1, 4, &[0, 2, 3], &[1, 4], &two, &[]), Ok(()));
        let bad = [
            check(7, 0, &[0, 2, 3], &[7], &two, &held),
            // a receiver deals
            check(1, 0, &[0, 1, 2], &[1], &two, &held),
            // too few dealers, not ascending, not members
            check(1, 0, &[0, 2], &[1], &two, &held),
            check(1, 0, &[0, 3, 2], &[1], &two, &held),
            check(1, 0, &[0, 2, 9], &[1], &two, &held),
            // the requester is not the lowest receiver
            check(4, 0, &[0, 2, 3], &[1, 4], &two, &held),
            // a node that holds its shares is not repaired, one that lost
            // them must be
            check(1, 0, &[2, 3, 4], &[0, 1], &two, &held),
            check(1, 4, &[0, 2, 3], &[1], &two, &[]),
            // roots
            check(1, 0, &[0, 2, 3], &[1], &roots(&[]), &held),
            check(1, 0, &[0, 2, 3], &[1], &roots(&["k256-taproot"]), &held),
            check(1, 0, &[0, 2, 3], &[1], &roots(&["bls", "ecdsa"]), &held),
            check(1, 4, &[0, 2, 3], &[1, 4], &roots(&["ed25519"]), &[]),
        ];
        for (i, b) in bad.iter().enumerate() {
            assert!(b.is_err(), "case {i} must be refused");
        }
    }

    #[test]
    fn a_move_that_kicks_a_member_out_leaves_it_neither_receiver_nor_requester() {
        let two: Vec<String> = vec!["ecdsa".into(), "bls".into()];
        let held = ["ecdsa", "bls"];
        // 5 nodes (t = 4); node 2 is kicked: the keys move to {0, 1, 3, 4}
        // (t = 3), dealt by the four others
        let hole = Committee {
            members: vec![0, 1, 3, 4],
            threshold: 3,
        };
        let check = |from, me, new: &Committee, dealers: &[u32], receivers: &[u32]| {
            check_repair_request(
                from,
                me,
                &c(5, 4),
                new,
                &hole,
                dealers,
                receivers,
                &two,
                &held,
                &["ecdsa", "bls"],
            )
        };
        assert_eq!(check(0, 1, &hole, &[0, 1, 3, 4], &[]), Ok(()));
        let bad = [
            // the kicked member cannot be given a share
            check(0, 1, &hole, &[0, 1, 3, 4], &[2]),
            // nor a committee without the hole
            check(0, 1, &c(4, 3), &[0, 1, 3, 4], &[]),
            // too few dealers for the old threshold
            check(0, 1, &hole, &[0, 1, 3], &[]),
        ];
        for (i, b) in bad.iter().enumerate() {
            assert!(b.is_err(), "case {i} must be refused");
        }
        // after the move, a request from the kicked member is refused
        let after = check_repair_request(
            2,
            1,
            &hole,
            &hole,
            &hole,
            &[0, 1, 3],
            &[2],
            &two,
            &held,
            &["ecdsa", "bls"],
        );
        assert!(after.is_err());
    }

    #[test]
    fn a_move_to_another_committee_is_checked_against_the_registry_s_committee() {
        let two: Vec<String> = vec!["ecdsa".into(), "bls".into()];
        let held = ["ecdsa", "bls"];
        // 4 nodes (t = 3) grow to 6 (t = 5): node 0 leads, 4 and 5 join
        let grow = |me, expected, dealers: &[u32], receivers: &[u32], held: &[&str]| {
            check_repair_request(
                0,
                me,
                &c(4, 3),
                &c(6, 5),
                &expected,
                dealers,
                receivers,
                &two,
                held,
                &["ecdsa", "bls"],
            )
        };
        assert_eq!(grow(1, c(6, 5), &[0, 1, 2], &[4, 5], &held), Ok(()));
        assert_eq!(grow(4, c(6, 5), &[0, 1, 2], &[4, 5], &[]), Ok(()));
        let bad = [
            // not the committee the registry names
            grow(1, c(5, 4), &[0, 1, 2], &[4, 5], &held),
            // a joining node cannot deal, and dealers must hold shares
            grow(1, c(6, 5), &[0, 1, 4], &[5], &held),
            grow(1, c(6, 5), &[0, 1], &[4, 5], &held),
            // receivers are members of the new committee
            grow(1, c(6, 5), &[0, 1, 2], &[4, 6], &held),
        ];
        for (i, b) in bad.iter().enumerate() {
            assert!(b.is_err(), "case {i} must be refused");
        }
        // 5 nodes (t = 4) shrink to 4 (t = 3): node 4 leaves and may deal
        let shrink = check_repair_request(
            0,
            4,
            &c(5, 4),
            &c(4, 3),
            &c(4, 3),
            &[0, 1, 2, 4],
            &[],
            &two,
            &held,
            &[],
        );
        assert_eq!(shrink, Ok(()));
    }

    #[test]
    fn public_facts_round_trip_through_their_encoding() {
        let key = k256::ProjectivePoint::GENERATOR * k256::Scalar::from(7u64);
        let shares = BTreeMap::from([(0, key.double()), (1, key + key.double())]);
        let input = RootInput {
            old_share: candela_reshare::OldShare {
                me: 0,
                secret: k256::Scalar::ONE,
            },
            group_key: key,
            public_shares: shares.clone(),
        };
        let facts = RootPublics::of("ecdsa", 2, &input);
        let (k, s) = facts.decode::<k256::ProjectivePoint>().unwrap();
        assert_eq!((k, s), (key, shares));
        let mut broken = facts.clone();
        broken.group_key = "02ff".into();
        assert!(broken.decode::<k256::ProjectivePoint>().is_err());
    }
}
