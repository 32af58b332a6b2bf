//! The BLS DKG ends together: with the agreement step, every honest node
//! keeps the new key or none does; a node that signs two different
//! confirmations is named and a retry without it succeeds.
use std::collections::BTreeMap;
use std::sync::Arc;

use candela_bls::{agreed_keygen, threshold_for, BlsKeyShare};
use candela_crypto::agree::VoteKeys;
use candela_crypto::sim::{run_with, SimVoteKeys, VoteCheat};
use candela_crypto::{CryptoError, NodeIndex};

const CONTEXT: &[u8] = b"bls-agreement-test";

fn run(
    parts: &[NodeIndex],
    t: usize,
    keys: &BTreeMap<NodeIndex, Arc<SimVoteKeys>>,
    cheat: Option<VoteCheat>,
) -> BTreeMap<NodeIndex, Result<BlsKeyShare, CryptoError>> {
    let sessions = parts
        .iter()
        .map(|&i| {
            let k: Arc<dyn VoteKeys> = keys[&i].clone();
            (i, agreed_keygen(parts, i, t, CONTEXT, k).unwrap())
        })
        .collect();
    let cheat = cheat.map(|c| {
        let cheater = match &c {
            VoteCheat::Equivocate { cheater, .. } | VoteCheat::Withhold { cheater, .. } => *cheater,
        };
        let k: Arc<dyn VoteKeys> = keys[&cheater].clone();
        (c, k, CONTEXT.to_vec())
    });
    run_with(sessions, cheat)
}

fn same_key(outs: Vec<&Result<BlsKeyShare, CryptoError>>) {
    let keys: Vec<&BlsKeyShare> = outs.iter().map(|r| r.as_ref().expect("kept")).collect();
    for k in &keys {
        assert_eq!(k.public_key, keys[0].public_key);
        assert_eq!(k.public_shares, keys[0].public_shares);
    }
}

#[test]
fn bls_honest_nodes_all_keep_one_key_n4_n5_n7() {
    for n in [4u32, 5, 7] {
        let parts: Vec<NodeIndex> = (0..n).collect();
        let keys = SimVoteKeys::for_nodes(&parts);
        let out = run(&parts, threshold_for(n as usize), &keys, None);
        same_key(out.values().collect());
    }
}

#[test]
fn bls_equivocating_node_is_named_every_honest_node_discards_and_a_retry_without_it_keeps() {
    for n in [4u32, 5, 7] {
        let t = threshold_for(n as usize);
        let parts: Vec<NodeIndex> = (0..n).collect();
        let keys = SimVoteKeys::for_nodes(&parts);
        let cheater = n / 2;
        let victims: Vec<NodeIndex> = parts
            .iter()
            .copied()
            .filter(|&p| p != cheater && p % 2 == 1)
            .collect();
        let out = run(
            &parts,
            t,
            &keys,
            Some(VoteCheat::Equivocate { cheater, victims }),
        );
        for (i, r) in &out {
            if *i == cheater {
                continue;
            }
            match r {
                Err(CryptoError::KeygenDiscarded { culprits, .. }) => {
                    assert_eq!(culprits, &vec![cheater])
                }
                other => panic!("n={n}: node {i}: {other:?}"),
            }
        }
        let rest: Vec<NodeIndex> = parts.iter().copied().filter(|&p| p != cheater).collect();
        let out = run(&rest, t, &keys, None);
        same_key(out.values().collect());
        let k = out[&rest[0]].as_ref().unwrap();
        assert_eq!(k.participants, rest);
        // the retried key signs with any t of the remaining nodes
        let shares: Vec<_> = rest[..t]
            .iter()
            .map(|i| out[i].as_ref().unwrap().sign_share(b"m").unwrap())
            .collect();
        let sig = candela_bls::combine(&shares).unwrap();
        candela_bls::verify(&k.public_key, b"m", &sig).unwrap();
    }
}

#[test]
fn bls_withheld_confirmation_reaches_everyone_by_relay() {
    let n = 5u32;
    let parts: Vec<NodeIndex> = (0..n).collect();
    let keys = SimVoteKeys::for_nodes(&parts);
    let out = run(
        &parts,
        threshold_for(5),
        &keys,
        Some(VoteCheat::Withhold {
            cheater: 4,
            only: vec![2],
        }),
    );
    same_key(
        out.iter()
            .filter(|(i, _)| **i != 4)
            .map(|(_, r)| r)
            .collect(),
    );
}
