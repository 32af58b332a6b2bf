//! Membership: the node set a node talks to, and how it follows the
//! registry when a member is replaced.
//!
//! A replacement keeps the member's index (its Shamir x-coordinate) and
//! gives it a new identity, encryption key and URL: a new machine takes the
//! place of one whose disk, identity and all, is gone. The registry's
//! administrator records it (`candela node replace`); every node reads the
//! registry's node set on a short period and, when one entry changed,
//! swaps its directory, so that the old identity's messages are refused
//! from then on and the new one's accepted. The new machine starts with an
//! empty store and is repaired by the others (`node/repair.rs`): it gets
//! new shares of the same keys, and every other share changes with it.
//!
//! The decision is pure ([`follow`]); the polling lives in
//! [`crate::node::Node::membership_loop`].
use std::sync::Arc;
use std::time::Duration;

use candela_api::network::NodeInfo;
use candela_registry::RegisteredNodeSet;
use serde::{Deserialize, Serialize};

use crate::node::{blocking, Node};
use crate::peer::{Directory, PeerError};

/// A committee: the members that hold the keys (indices, ascending; a
/// kicked member's index is a hole) and the shares needed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Committee {
    /// The members' indices, ascending.
    pub members: Vec<u32>,
    /// Shares needed.
    pub threshold: usize,
}

impl Committee {
    /// Members `0..size`.
    pub fn first(size: usize, threshold: usize) -> Committee {
        Committee {
            members: (0..size as u32).collect(),
            threshold,
        }
    }

    /// The committee a registered node set names: every member but the
    /// kicked ones.
    pub fn of_set(set: &RegisteredNodeSet) -> Committee {
        Committee {
            members: set.committee(),
            threshold: set.threshold,
        }
    }

    /// The committee of the members holding `public_shares`.
    pub fn holding<V>(
        public_shares: &std::collections::BTreeMap<u32, V>,
        threshold: usize,
    ) -> Self {
        Committee {
            members: public_shares.keys().copied().collect(),
            threshold,
        }
    }

    /// Whether member `i` is in it.
    pub fn contains(&self, i: u32) -> bool {
        self.members.binary_search(&i).is_ok()
    }

    /// How many members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether it has no member.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The highest index plus one: how many listed nodes it needs.
    pub fn span(&self) -> usize {
        self.members.last().map_or(0, |&m| m as usize + 1)
    }
}

/// The members a node talks to, and the committee that holds the keys.
pub struct Members {
    /// Every node this node talks to, in index order: the registry's node
    /// set (kicked members included, in their place) and, while the
    /// committee moves to a smaller set, the members leaving it.
    pub nodes: Vec<NodeInfo>,
    /// Their identity and encryption keys.
    pub(crate) directory: Directory,
    /// The members of the committee holding the keys, ascending.
    pub committee: Vec<u32>,
    /// Shares needed in that committee.
    pub threshold: usize,
    /// The registry's committee when the keys have not moved to it yet
    /// (an epoch change is due).
    pub target: Option<Committee>,
}

impl Members {
    /// The members of `nodes` (indices 0..n in order), all of them the
    /// committee, with `threshold`.
    pub fn new(nodes: Vec<NodeInfo>, threshold: usize) -> Result<Members, PeerError> {
        let committee = Committee::first(nodes.len(), threshold);
        Members::with_committee(nodes, committee)
    }

    /// The members of `nodes` (indices 0..n in order) with `committee`
    /// holding the keys.
    pub fn with_committee(
        nodes: Vec<NodeInfo>,
        committee: Committee,
    ) -> Result<Members, PeerError> {
        let directory = Directory::new(&nodes)?;
        Ok(Members {
            nodes,
            directory,
            committee: committee.members,
            threshold: committee.threshold,
            target: None,
        })
    }

    /// The committee holding the keys.
    pub fn holders(&self) -> Committee {
        Committee {
            members: self.committee.clone(),
            threshold: self.threshold,
        }
    }

    /// The members once the keys moved to the target committee: the nodes
    /// past its last member leave the list.
    pub fn settled(&self) -> Result<Members, PeerError> {
        let committee = self.target.clone().unwrap_or_else(|| self.holders());
        let span = committee.span().min(self.nodes.len());
        Members::with_committee(self.nodes[..span].to_vec(), committee)
    }
}

/// What a node does about the registry's node set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Follow {
    /// Nothing changed.
    Same,
    /// Adopt these members: `replaced` members got a new identity or URL
    /// under their index, and `target` (when set) is the committee the keys
    /// must move to.
    Adopt {
        /// Every node to talk to, in index order.
        nodes: Vec<NodeInfo>,
        /// Members replaced under their index.
        replaced: Vec<u32>,
        /// The registry's committee, when it is not the one holding the keys.
        target: Option<Committee>,
    },
    /// This node is not in the registry's committee any more (removed,
    /// replaced or kicked): it takes part in moving the keys away (it may
    /// deal) and then erases its shares.
    Removed,
    /// The registry's set is one this node cannot follow; it keeps the set
    /// it has and says why.
    Refused(String),
}

/// Compare the members a node runs with (`current`, this node at `me`)
/// with the registry's `next`.
///
/// Members keep their index: a member may be replaced (new identity or URL
/// under the same index), members may be added after the last index, the
/// last members may leave, and a member may be kicked (its index stays, a
/// hole in the committee); an identity never moves to another index (its
/// share's x-coordinate would be wrong). When the registry's committee
/// differs from the one holding the keys, the keys must move (`target`);
/// until they do, the members leaving stay reachable.
pub fn follow(current: &Members, me: u32, next: &RegisteredNodeSet) -> Follow {
    let next_infos = crate::node::node_infos(next);
    let mine = &current.nodes[me as usize];
    let listed = next_infos
        .get(me as usize)
        .is_some_and(|n| n.identity_key == mine.identity_key);
    for (i, new) in next_infos.iter().enumerate() {
        let moved = current
            .nodes
            .iter()
            .enumerate()
            .any(|(j, other)| j != i && other.identity_key == new.identity_key);
        if moved {
            return Follow::Refused(format!(
                "member {i} of the registry's node set is the identity of another member of \
                 this node's set: members keep their index"
            ));
        }
    }
    if !listed {
        if next_infos
            .iter()
            .any(|n| n.identity_key == mine.identity_key)
        {
            return Follow::Refused("this node's identity moved to another index".into());
        }
        return Follow::Removed;
    }
    if next.kicked.contains(&me) {
        return Follow::Removed;
    }
    let target = Committee::of_set(next);
    let target = (target != current.holders()).then_some(target);
    // while the keys move, the members leaving stay reachable
    let mut nodes = next_infos;
    if target.is_some() {
        let span = current.holders().span();
        for extra in current.nodes.iter().take(span).skip(nodes.len()) {
            nodes.push(extra.clone());
        }
    }
    let replaced: Vec<u32> = current
        .nodes
        .iter()
        .zip(&nodes)
        .enumerate()
        .filter(|(_, (old, new))| old != new)
        .map(|(i, _)| i as u32)
        .collect();
    if replaced.is_empty() && nodes.len() == current.nodes.len() && target == current.target {
        return Follow::Same;
    }
    Follow::Adopt {
        nodes,
        replaced,
        target,
    }
}

/// Where a node keeps the node list of the committee that holds its
/// shares (public facts; kept with the secrets so that one store holds
/// everything a restart needs).
const COMMITTEE_NODES: &str = "committee_nodes";

/// Remember `members`' committee (the nodes up to its last member): a node that
/// restarts while the committee shrinks finds the leaving members here,
/// as the registry no longer lists them.
pub(crate) fn remember_committee(
    store: &crate::store::Store,
    members: &Members,
) -> Result<(), crate::store::StoreError> {
    let span = members.holders().span().min(members.nodes.len());
    let committee = &members.nodes[..span];
    let json = serde_json::to_vec(committee)
        .map_err(|e| crate::store::StoreError::Corrupt(format!("committee: {e}")))?;
    store.put_secret(COMMITTEE_NODES, &json)
}

/// The committee [`remember_committee`] kept, if any.
pub(crate) fn remembered_committee(
    store: &crate::store::Store,
) -> Result<Option<Vec<NodeInfo>>, crate::store::StoreError> {
    store
        .get_secret(COMMITTEE_NODES)?
        .map(|bytes| {
            serde_json::from_slice(&bytes)
                .map_err(|e| crate::store::StoreError::Corrupt(format!("committee: {e}")))
        })
        .transpose()
}

/// The registry epoch whose committee holds the keys, given the
/// registry's current epoch and whether the keys must still move to its
/// committee (then the previous epoch's committee holds them).
pub fn held_epoch(registry_epoch: u64, moving: bool) -> u64 {
    if moving {
        registry_epoch.saturating_sub(1)
    } else {
        registry_epoch
    }
}

/// How often a node reads the registry's node set.
pub const MEMBERSHIP_POLL: Duration = Duration::from_secs(2);

/// Track which members of `committee` (other than `me`) are silent: a
/// member not in `live` is silent since the first time it was seen so
/// (kept in `silent_since`), a live one is forgotten. Returns the members
/// silent for at least `after` at `now`: those to vote to kick.
pub fn kick_due(
    silent_since: &mut std::collections::BTreeMap<u32, std::time::Instant>,
    committee: &[u32],
    me: u32,
    live: &std::collections::BTreeSet<u32>,
    now: std::time::Instant,
    after: Duration,
) -> Vec<u32> {
    silent_since.retain(|p, _| committee.contains(p) && !live.contains(p));
    let mut due = Vec::new();
    for &p in committee {
        if p == me || live.contains(&p) {
            continue;
        }
        let since = *silent_since.entry(p).or_insert(now);
        if now.saturating_duration_since(since) >= after {
            due.push(p);
        }
    }
    due
}

impl Node {
    /// Follow the registry's node set: every [`MEMBERSHIP_POLL`], read it,
    /// adopt replaced and added members ([`follow`]), and when the keys
    /// must move to the registry's committee, move them (the lowest live
    /// member of both committees leads; see `node/repair.rs`). A node the
    /// registry removed deals if asked, then erases its shares once the
    /// new committee holds the keys, and stops.
    pub(crate) async fn membership_loop(self: Arc<Self>) {
        let mut said = None;
        loop {
            tokio::time::sleep(MEMBERSHIP_POLL).await;
            let registry = Arc::clone(&self.registry);
            // the epoch first: a change between the two reads then shows as
            // the old epoch with the new set, never the reverse
            let read = blocking(move || {
                let epoch = registry.epoch()?;
                Ok::<_, candela_registry::RegistryError>((epoch, registry.node_set()?))
            });
            let (registry_epoch, next) = match read.await {
                Ok(Ok((epoch, Some(set)))) => (epoch, set),
                Ok(Ok((_, None))) | Err(_) => continue,
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "cannot read the registry's node set");
                    continue;
                }
            };
            let current = self.members();
            match follow(&current, self.me, &next) {
                Follow::Same => said = None,
                Follow::Adopt {
                    nodes,
                    replaced,
                    target,
                } => match Members::with_committee(nodes, current.holders()) {
                    Ok(mut members) => {
                        members.target = target.clone();
                        if target.is_none() {
                            if let Err(e) = remember_committee(&self.store, &members) {
                                tracing::warn!(error = %e, "cannot remember the committee");
                            }
                        }
                        *self.members.write().unwrap_or_else(|p| p.into_inner()) =
                            Arc::new(members);
                        tracing::info!(
                            ?replaced,
                            ?target,
                            "following the registry's node set: replaced members' new \
                             identities are followed and their old ones refused"
                        );
                    }
                    Err(e) => tracing::warn!(error = %e, "the registry's node set is refused"),
                },
                Follow::Removed => {
                    if said.as_deref() != Some("removed") {
                        tracing::warn!("this node is no longer in the registry's node set");
                        said = Some("removed".to_string());
                    }
                    Arc::clone(&self)
                        .retire_once_moved(Committee::of_set(&next))
                        .await;
                    continue;
                }
                Follow::Refused(why) => {
                    if said.as_ref() != Some(&why) {
                        tracing::warn!(reason = %why, "not following the registry's node set");
                        said = Some(why);
                    }
                }
            }
            let members = self.members();
            self.epoch.store(
                held_epoch(registry_epoch, members.target.is_some()),
                std::sync::atomic::Ordering::Relaxed,
            );
            if let Some(target) = members.target.clone() {
                let leader = self
                    .live_set()
                    .into_iter()
                    .find(|&i| target.contains(i) && members.committee.contains(&i));
                if leader == Some(self.me) {
                    if let Err(e) = Arc::clone(&self).move_keys(target.clone()).await {
                        tracing::warn!(error = %e, ?target, "moving the keys to the registry's committee failed; trying again");
                    }
                }
            }
        }
    }

    /// Kick votes (when `kick_after_secs` is set): every
    /// [`MEMBERSHIP_POLL`], note which members of the committee are not
    /// live, and vote in the registry to kick each one silent for
    /// `kick_after_secs` ([`kick_due`]), once per member and epoch. No vote
    /// while the keys move.
    pub(crate) async fn kick_vote_loop(self: Arc<Self>) {
        let Some(after) = self.cfg.kick_after_secs.filter(|s| *s > 0) else {
            return;
        };
        let after = Duration::from_secs(after);
        let mut silent_since = std::collections::BTreeMap::new();
        let mut voted = std::collections::BTreeSet::new();
        loop {
            tokio::time::sleep(MEMBERSHIP_POLL).await;
            let members = self.members();
            if members.target.is_some() || !members.committee.contains(&self.me) {
                silent_since.clear();
                continue;
            }
            let due = kick_due(
                &mut silent_since,
                &members.committee,
                self.me,
                &self.live_set(),
                std::time::Instant::now(),
                after,
            );
            let epoch = self.epoch.load(std::sync::atomic::Ordering::Relaxed);
            for target in due {
                if !voted.insert((epoch, target)) {
                    continue;
                }
                let (registry, wallet) = (Arc::clone(&self.registry), self.identity.wallet());
                match blocking(move || registry.vote_to_kick(&wallet, target)).await {
                    Ok(Ok(tally)) => tracing::warn!(
                        target,
                        epoch,
                        votes = tally.votes,
                        needed = tally.needed,
                        kicked = tally.kicked,
                        "voted to kick a member silent for {}s",
                        after.as_secs()
                    ),
                    Ok(Err(e)) => {
                        tracing::warn!(target, error = %e, "the registry refused this node's kick vote")
                    }
                    Err(e) => tracing::warn!(target, error = %e.message, "cannot vote to kick"),
                }
            }
        }
    }

    /// After a reshare to `new`: run with that committee from now on (a
    /// node outside it erases its shares and stops).
    pub(crate) fn settle_committee(&self, new: &Committee) {
        let members = self.members();
        if members.holders() == *new && members.target.is_none() {
            return;
        }
        if !new.contains(self.me) {
            self.leave_committee();
            return;
        }
        let settled = Members {
            target: Some(new.clone()),
            ..match Members::with_committee(members.nodes.clone(), members.holders()) {
                Ok(m) => m,
                Err(e) => {
                    tracing::error!(error = %e, "cannot settle the committee");
                    return;
                }
            }
        };
        match settled.settled() {
            Ok(m) => {
                if let Err(e) = remember_committee(&self.store, &m) {
                    tracing::warn!(error = %e, "cannot remember the committee");
                }
                *self.members.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(m);
                tracing::warn!(
                    members = ?new.members,
                    threshold = new.threshold,
                    "the keys moved: this node runs with the new committee"
                );
            }
            Err(e) => tracing::error!(error = %e, "cannot settle the committee"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candela_registry::RegisteredNode;

    fn node(seed: u8, port: u16) -> RegisteredNode {
        RegisteredNode {
            url: format!("http://127.0.0.1:{port}"),
            identity_key: ed25519_dalek::SigningKey::from_bytes(&[seed; 32])
                .verifying_key()
                .to_bytes(),
            encryption_key: [seed.wrapping_add(100); 32],
            wallet_address: [seed; 20],
        }
    }

    fn set(seeds: &[u8], threshold: usize) -> RegisteredNodeSet {
        RegisteredNodeSet {
            nodes: seeds
                .iter()
                .enumerate()
                .map(|(i, &s)| node(s, 7000 + i as u16))
                .collect(),
            threshold,
            ..Default::default()
        }
    }

    fn members(seeds: &[u8], threshold: usize) -> Members {
        Members::new(crate::node::node_infos(&set(seeds, threshold)), threshold).unwrap()
    }

    #[test]
    fn an_unchanged_set_is_followed_as_the_same() {
        let current = members(&[1, 2, 3, 4], 3);
        assert_eq!(follow(&current, 0, &set(&[1, 2, 3, 4], 3)), Follow::Same);
    }

    #[test]
    fn a_member_replaced_under_its_index_is_adopted() {
        let current = members(&[1, 2, 3, 4], 3);
        let Follow::Adopt {
            replaced, target, ..
        } = follow(&current, 0, &set(&[1, 9, 3, 8], 3))
        else {
            panic!("a replacement is adopted");
        };
        assert_eq!((replaced, target), (vec![1, 3], None));
        // a new URL alone (the same machine moved) is a replacement too
        let mut moved = set(&[1, 2, 3, 4], 3);
        moved.nodes[2].url = "http://10.0.0.7:7470".into();
        assert!(matches!(
            follow(&current, 0, &moved),
            Follow::Adopt { replaced, target: None, .. } if replaced == vec![2]
        ));
    }

    #[test]
    fn a_set_of_another_size_or_threshold_is_a_committee_to_move_the_keys_to() {
        let current = members(&[1, 2, 3, 4], 3);
        // two members added
        let Follow::Adopt { nodes, target, .. } = follow(&current, 0, &set(&[1, 2, 3, 4, 5, 6], 5))
        else {
            panic!("growth is adopted");
        };
        assert_eq!((nodes.len(), target), (6, Some(Committee::first(6, 5))));
        // the last member leaves: it stays reachable until the keys moved
        let Follow::Adopt { nodes, target, .. } = follow(&current, 0, &set(&[1, 2, 3], 3)) else {
            panic!("a removal is adopted");
        };
        assert_eq!(
            (nodes.len(), target.clone()),
            (4, Some(Committee::first(3, 3)))
        );
        let moving = Members {
            target,
            ..Members::new(nodes, 3).unwrap()
        };
        assert_eq!(moving.settled().unwrap().nodes.len(), 3);
        // the leaving member itself
        assert_eq!(follow(&current, 3, &set(&[1, 2, 3], 3)), Follow::Removed);
        // the threshold alone
        assert!(matches!(
            follow(&current, 0, &set(&[1, 2, 3, 4], 4)),
            Follow::Adopt {
                target: Some(t),
                ..
            } if t == Committee::first(4, 4)
        ));
    }

    #[test]
    fn a_kicked_member_leaves_a_hole_and_every_other_member_keeps_its_index() {
        let current = members(&[1, 2, 3, 4, 5], 4);
        let mut next = set(&[1, 2, 3, 4, 5], 3);
        next.kicked.insert(2);
        let Follow::Adopt {
            nodes,
            replaced,
            target,
        } = follow(&current, 0, &next)
        else {
            panic!("a kick is adopted");
        };
        let hole = Committee {
            members: vec![0, 1, 3, 4],
            threshold: 3,
        };
        // still listed (its index stays taken), no member replaced
        assert_eq!(
            (nodes.len(), replaced, target.clone()),
            (5, vec![], Some(hole.clone()))
        );
        let moving = Members {
            target,
            ..Members::new(nodes, 4).unwrap()
        };
        let settled = moving.settled().unwrap();
        assert_eq!((settled.holders(), settled.nodes.len()), (hole, 5));
        // the kicked member itself is out
        assert_eq!(follow(&current, 2, &next), Follow::Removed);
        // a kicked member's place taken by a new machine: it is replaced
        // and the committee grows back
        let mut back = set(&[1, 2, 9, 4, 5], 4);
        back.kicked.clear();
        let Follow::Adopt {
            replaced, target, ..
        } = follow(&settled, 0, &back)
        else {
            panic!("a new machine in a kicked place is adopted");
        };
        assert_eq!((replaced, target), (vec![2], Some(Committee::first(5, 4))));
    }

    #[test]
    fn a_member_silent_for_the_kick_time_is_due_a_vote_and_one_heard_from_is_not() {
        use std::collections::{BTreeMap, BTreeSet};
        use std::time::Instant;
        let after = Duration::from_secs(30);
        let t0 = Instant::now();
        let mut silent = BTreeMap::new();
        let committee = [0, 1, 3, 4];
        let live = |s: &[u32]| s.iter().copied().collect::<BTreeSet<u32>>();
        // 3 and 4 silent from t0; 2 (not in the committee) never counts
        assert!(kick_due(&mut silent, &committee, 0, &live(&[0, 1]), t0, after).is_empty());
        let at = t0 + Duration::from_secs(29);
        assert!(kick_due(&mut silent, &committee, 0, &live(&[0, 1]), at, after).is_empty());
        // 4 is heard from again before the time is up: it starts over
        let at = t0 + Duration::from_secs(29);
        assert!(kick_due(&mut silent, &committee, 0, &live(&[0, 1, 4]), at, after).is_empty());
        let at = t0 + Duration::from_secs(31);
        assert_eq!(
            kick_due(&mut silent, &committee, 0, &live(&[0, 1]), at, after),
            vec![3]
        );
        // 4 is silent again since 31 s
        let at = t0 + Duration::from_secs(60);
        assert_eq!(
            kick_due(&mut silent, &committee, 0, &live(&[0, 1]), at, after),
            vec![3]
        );
        let at = t0 + Duration::from_secs(61);
        assert_eq!(
            kick_due(&mut silent, &committee, 0, &live(&[0, 1]), at, after),
            vec![3, 4]
        );
        // this node never votes for itself, even when not in its live set
        assert!(!kick_due(&mut silent, &committee, 3, &live(&[]), at, after).contains(&3));
    }

    #[test]
    fn a_node_replaced_itself_is_removed_and_an_identity_never_moves_index() {
        let current = members(&[1, 2, 3, 4], 3);
        // this node (index 1, identity 2) was replaced
        assert_eq!(follow(&current, 1, &set(&[1, 9, 3, 4], 3)), Follow::Removed);
        // identities 3 and 4 swapped places: their shares' x-coordinates
        // would be wrong
        assert!(matches!(
            follow(&current, 0, &set(&[1, 2, 4, 3], 3)),
            Follow::Refused(_)
        ));
    }

    #[test]
    fn after_a_replacement_the_old_identity_is_refused_and_the_new_one_accepted() {
        use crate::peer::{three_identities, Identity, PeerBody};
        let (ids, infos) = three_identities();
        let old = Members::new(infos.clone(), 2).unwrap();
        let ping = PeerBody::Ping {
            challenge: 7,
            boot: 1,
        };
        let now = crate::node::now_ms();
        let from_old = old.directory.seal(&ids[1], 1, 0, now, &ping);
        assert!(old.directory.open(0, &from_old, now).is_ok());

        // member 1's machine is gone; a new identity takes index 1
        let new_id = Identity::generate();
        let mut next = infos;
        next[1].identity_key = new_id.identity_key_hex();
        next[1].encryption_key = new_id.encryption_key_hex();
        let new = Members::new(next, 2).unwrap();
        assert!(
            new.directory.open(0, &from_old, now).is_err(),
            "a message of the replaced identity must be refused"
        );
        let from_new = new.directory.seal(&new_id, 1, 0, now, &ping);
        let (from, _) = new.directory.open(0, &from_new, now).unwrap();
        assert_eq!(from, 1);
    }
}
