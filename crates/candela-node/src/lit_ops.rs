//! Small shapes of Lit's node answers that the node's ops share.

use std::collections::BTreeMap;

/// `broadcastAndCollect`'s answer as Lit's node orders it: the other nodes'
/// values (here by node index), then this node's own value last.
pub(crate) fn peers_first(mut values: BTreeMap<u32, String>, me: u32) -> Vec<String> {
    let own = values.remove(&me);
    values.into_values().chain(own).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_and_collect_returns_the_peers_values_first_and_its_own_last() {
        let values: BTreeMap<u32, String> = [(0, "a"), (1, "b"), (2, "c")]
            .map(|(i, v)| (i, v.to_string()))
            .into();
        assert_eq!(peers_first(values.clone(), 1), ["a", "c", "b"]);
        assert_eq!(peers_first(values.clone(), 0), ["b", "c", "a"]);
        assert_eq!(peers_first(values, 2), ["a", "b", "c"]);
    }
}
