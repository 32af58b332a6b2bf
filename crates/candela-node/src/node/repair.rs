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
//! A DKLs23 network's ECDSA key is not repaired here (its share carries
//! pairwise OT state); its BLS and Schnorr roots are.
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use candela_frost::{Ed25519Sha512, Secp256K1Sha256TR};
use candela_reshare::roots::{bls_input, ecdsa_input, frost_input, FrostGroup, RootInput};
use group::{Group, GroupEncoding};
use serde::{Deserialize, Serialize};

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

/// The dealers of a repair of `requester`: the first `threshold` live nodes
/// other than it, or `None` if there are not enough.
pub(crate) fn repair_dealers(
    live: &BTreeSet<u32>,
    requester: u32,
    threshold: usize,
) -> Option<Vec<u32>> {
    let dealers: Vec<u32> = live
        .iter()
        .copied()
        .filter(|&p| p != requester)
        .take(threshold)
        .collect();
    (dealers.len() == threshold).then_some(dealers)
}

/// Check a repair request of node `from` against this node's view: the
/// requester is a member and does not deal, the dealers are members in
/// ascending order and at least `threshold`, and the roots are ones this
/// node holds, in the order it holds them.
pub(crate) fn check_repair_request(
    from: u32,
    nodes: usize,
    threshold: usize,
    dealers: &[u32],
    roots: &[String],
    held: &[&str],
) -> Result<(), String> {
    if from as usize >= nodes {
        return Err(format!("node {from} is not in the node set"));
    }
    if dealers.contains(&from) {
        return Err("the node being repaired cannot deal".into());
    }
    if dealers.len() < threshold || dealers.windows(2).any(|w| w[0] >= w[1]) {
        return Err(format!(
            "dealers must be at least {threshold} distinct nodes in ascending order"
        ));
    }
    if let Some(d) = dealers.iter().find(|&&d| d as usize >= nodes) {
        return Err(format!("dealer {d} is not in the node set"));
    }
    if roots.is_empty() {
        return Err("no root to repair".into());
    }
    let expected: Vec<&str> = held
        .iter()
        .copied()
        .filter(|h| roots.iter().any(|r| r == h))
        .collect();
    if expected.len() != roots.len() || expected.iter().zip(roots).any(|(e, r)| *e != r) {
        return Err(format!(
            "roots {roots:?}: this node holds {held:?} (in that order)"
        ));
    }
    Ok(())
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

    /// Take part in repairing peer `from`'s shares (see the module doc):
    /// checked here, run in the background, one reshare at a time.
    pub(crate) fn accept_repair(
        self: &Arc<Self>,
        from: u32,
        id: u64,
        dealers: Vec<u32>,
        roots: Vec<String>,
    ) -> Result<serde_json::Value, ApiError> {
        check_repair_request(
            from,
            self.node_count(),
            self.threshold,
            &dealers,
            &roots,
            &self.held_roots(),
        )
        .map_err(|e| ApiError::bad_request("NodeRepairRefused", e))?;
        let guard = Arc::clone(&self.resharing)
            .try_lock_owned()
            .map_err(|_| ApiError::conflict("NodeRepairRefused", "a reshare is running"))?;
        tracing::warn!(from, id, ?dealers, ?roots, "repairing the shares of a peer");
        let node = Arc::clone(self);
        tokio::spawn(async move {
            let _one_at_a_time = guard;
            let result = Arc::clone(&node)
                .reshare_roots(Occasion::Repair(id), &dealers, &roots, &BTreeMap::new())
                .await;
            match result {
                Ok(()) => tracing::warn!(from, id, "peer repaired; every share changed"),
                Err(e) => tracing::warn!(from, id, error = %e, "repair of a peer failed"),
            }
        });
        Ok(serde_json::json!({"ok": true}))
    }

    /// At start: if this node holds no root share but the network's keys
    /// exist, get new shares of them from the others (see the module doc).
    /// Returns when this node holds them, or at once on a new network.
    pub(super) async fn repair_if_lost(self: &Arc<Self>) {
        if !self.held_roots().is_empty() {
            return;
        }
        let peers: Vec<u32> = (0..self.node_count() as u32)
            .filter(|&p| p != self.me)
            .collect();
        let facts = loop {
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
            match judge_network_keys(&answers, self.threshold) {
                NetworkKeys::NotYet => return,
                NetworkKeys::Exist(facts) => break facts,
                NetworkKeys::Unknown => tokio::time::sleep(ASK_AGAIN).await,
            }
        };
        let labels: Vec<String> = facts.iter().map(|f| f.label.clone()).collect();
        let agreed: BTreeMap<String, RootPublics> =
            facts.into_iter().map(|f| (f.label.clone(), f)).collect();
        tracing::warn!(roots = ?labels, "this node holds no share of the network's keys: asking for a repair");
        loop {
            let live = self.live_set();
            let dealers = repair_dealers(&live, self.me, self.threshold);
            let everyone_live = peers.iter().all(|p| live.contains(p));
            let (Some(dealers), true) = (dealers, everyone_live) else {
                // a repair changes every node's share: all must take part
                tokio::time::sleep(ASK_AGAIN).await;
                continue;
            };
            let guard = self.resharing.lock().await;
            let id = now_ms();
            let body = PeerBody::Repair {
                id,
                dealers: dealers.clone(),
                roots: labels.clone(),
            };
            let asks = peers
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
            let refused: Vec<String> = futures_join_all(asks)
                .await
                .into_iter()
                .filter_map(Result::err)
                .collect();
            let result = if refused.is_empty() {
                Arc::clone(self)
                    .reshare_roots(Occasion::Repair(id), &dealers, &labels, &agreed)
                    .await
            } else {
                Err(anyhow::anyhow!("refused: {}", refused.join("; ")))
            };
            drop(guard);
            match result {
                Ok(()) => {
                    tracing::warn!(id, roots = ?labels, "repaired: this node holds new shares of every root");
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn the_repaired_node_never_deals_and_the_dealers_are_threshold_live_nodes() {
        let live = BTreeSet::from([0, 1, 2, 3, 4]);
        assert_eq!(repair_dealers(&live, 1, 4), Some(vec![0, 2, 3, 4]));
        assert_eq!(repair_dealers(&BTreeSet::from([0, 1, 2, 3]), 1, 4), None);
    }

    #[test]
    fn a_repair_request_is_checked_against_the_node_set_and_the_roots_held() {
        let held = ["ecdsa", "bls", "ed25519"];
        let roots = |r: &[&str]| r.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let ok = check_repair_request(1, 5, 4, &[0, 2, 3, 4], &roots(&["ecdsa", "bls"]), &held);
        assert_eq!(ok, Ok(()));
        let bad = [
            check_repair_request(7, 5, 4, &[0, 2, 3, 4], &roots(&["bls"]), &held),
            check_repair_request(1, 5, 4, &[0, 1, 2, 3], &roots(&["bls"]), &held),
            check_repair_request(1, 5, 4, &[0, 2, 3], &roots(&["bls"]), &held),
            check_repair_request(1, 5, 4, &[0, 3, 2, 4], &roots(&["bls"]), &held),
            check_repair_request(1, 5, 4, &[0, 2, 3, 9], &roots(&["bls"]), &held),
            check_repair_request(1, 5, 4, &[0, 2, 3, 4], &roots(&[]), &held),
            check_repair_request(1, 5, 4, &[0, 2, 3, 4], &roots(&["k256-taproot"]), &held),
            check_repair_request(1, 5, 4, &[0, 2, 3, 4], &roots(&["bls", "ecdsa"]), &held),
        ];
        for (i, b) in bad.iter().enumerate() {
            assert!(b.is_err(), "case {i} must be refused");
        }
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
