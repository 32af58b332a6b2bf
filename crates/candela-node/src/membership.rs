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
use candela_api::network::NodeInfo;
use candela_registry::RegisteredNodeSet;

use crate::peer::{Directory, PeerError};

/// The members a node talks to: their public facts and the directory of
/// their keys that signs, checks, seals and opens peer messages.
pub struct Members {
    /// The node set, in index order.
    pub nodes: Vec<NodeInfo>,
    /// The members' identity and encryption keys.
    pub(crate) directory: Directory,
}

impl Members {
    /// The members of `nodes` (indices 0..n in order).
    pub fn new(nodes: Vec<NodeInfo>) -> Result<Members, PeerError> {
        let directory = Directory::new(&nodes)?;
        Ok(Members { nodes, directory })
    }
}

/// What a node does about the registry's node set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Follow {
    /// Nothing changed.
    Same,
    /// These members were replaced (same index, new identity or URL):
    /// adopt the new set.
    Replaced(Vec<u32>),
    /// The registry's set is one this node cannot follow while it runs;
    /// it keeps the set it has and says why.
    Refused(String),
}

/// Compare the node set a node runs with (`current`, threshold
/// `threshold`, this node at `me`) with the registry's `next`.
///
/// Only replacements are followed: the same number of members and the same
/// threshold, this node still at its index with its own identity, and no
/// identity moved from one index to another (a moved identity would carry
/// its share's x-coordinate to another index).
pub fn follow(current: &[NodeInfo], threshold: usize, me: u32, next: &RegisteredNodeSet) -> Follow {
    let next_infos = crate::node::node_infos(next);
    if next_infos.len() != current.len() || next.threshold != threshold {
        return Follow::Refused(format!(
            "the registry's node set has {} members (threshold {}), this node runs with {} \
             (threshold {}): changing the size of the set needs an epoch change, not a \
             replacement",
            next_infos.len(),
            next.threshold,
            current.len(),
            threshold
        ));
    }
    let mine = &current[me as usize];
    if next_infos[me as usize].identity_key != mine.identity_key {
        return Follow::Refused(format!(
            "this node ({}) is no longer member {me} of the registry's node set",
            mine.identity_key
        ));
    }
    let mut replaced = Vec::new();
    for (i, (old, new)) in current.iter().zip(&next_infos).enumerate() {
        let moved = current
            .iter()
            .enumerate()
            .any(|(j, other)| j != i && other.identity_key == new.identity_key);
        if moved {
            return Follow::Refused(format!(
                "member {i} of the registry's node set is the identity of another member of \
                 this node's set: members keep their index"
            ));
        }
        if old != new {
            replaced.push(i as u32);
        }
    }
    if replaced.is_empty() {
        Follow::Same
    } else {
        Follow::Replaced(replaced)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candela_registry::RegisteredNode;

    fn node(seed: u8, port: u16) -> RegisteredNode {
        RegisteredNode {
            url: format!("http://127.0.0.1:{port}"),
            identity_key: [seed; 32],
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
        }
    }

    #[test]
    fn an_unchanged_set_is_followed_as_the_same() {
        let current = crate::node::node_infos(&set(&[1, 2, 3, 4], 3));
        assert_eq!(follow(&current, 3, 0, &set(&[1, 2, 3, 4], 3)), Follow::Same);
    }

    #[test]
    fn a_member_replaced_under_its_index_is_adopted() {
        let current = crate::node::node_infos(&set(&[1, 2, 3, 4], 3));
        assert_eq!(
            follow(&current, 3, 0, &set(&[1, 9, 3, 8], 3)),
            Follow::Replaced(vec![1, 3])
        );
        // a new URL alone (the same machine moved) is a replacement too
        let mut moved = set(&[1, 2, 3, 4], 3);
        moved.nodes[2].url = "http://10.0.0.7:7470".into();
        assert_eq!(follow(&current, 3, 0, &moved), Follow::Replaced(vec![2]));
    }

    #[test]
    fn a_set_of_another_size_or_threshold_is_not_followed_as_a_replacement() {
        let current = crate::node::node_infos(&set(&[1, 2, 3, 4], 3));
        assert!(matches!(
            follow(&current, 3, 0, &set(&[1, 2, 3, 4, 5], 4)),
            Follow::Refused(_)
        ));
        assert!(matches!(
            follow(&current, 3, 0, &set(&[1, 2, 3, 4], 2)),
            Follow::Refused(_)
        ));
    }

    #[test]
    fn a_node_replaced_itself_does_not_follow_and_an_identity_never_moves_index() {
        let current = crate::node::node_infos(&set(&[1, 2, 3, 4], 3));
        // this node (index 1, identity 2) was replaced
        assert!(matches!(
            follow(&current, 3, 1, &set(&[1, 9, 3, 4], 3)),
            Follow::Refused(_)
        ));
        // identities 3 and 4 swapped places: their shares' x-coordinates
        // would be wrong
        assert!(matches!(
            follow(&current, 3, 0, &set(&[1, 2, 4, 3], 3)),
            Follow::Refused(_)
        ));
    }

    #[test]
    fn after_a_replacement_the_old_identity_is_refused_and_the_new_one_accepted() {
        use crate::peer::{three_identities, Identity, PeerBody};
        let (ids, infos) = three_identities();
        let old = Members::new(infos.clone()).unwrap();
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
        let new = Members::new(next).unwrap();
        assert!(
            new.directory.open(0, &from_old, now).is_err(),
            "a message of the replaced identity must be refused"
        );
        let from_new = new.directory.seal(&new_id, 1, 0, now, &ping);
        let (from, _) = new.directory.open(0, &from_new, now).unwrap();
        assert_eq!(from, 1);
    }
}
