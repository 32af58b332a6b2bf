//! Key generation ends together: with the agreement step, either every
//! honest node keeps the new root key or none does, a node that signs two
//! different confirmations is named, and a retry without it succeeds.
use std::collections::BTreeMap;

use candela_crypto::session::{CaitSith, KeyShare};
use candela_crypto::sim::{self, SimVoteKeys, VoteCheat};
use candela_crypto::{threshold_for, CryptoError, NodeIndex};

type Outcomes = BTreeMap<NodeIndex, Result<KeyShare, CryptoError>>;

fn honest(out: &Outcomes, cheater: NodeIndex) -> Vec<&Result<KeyShare, CryptoError>> {
    out.iter()
        .filter(|(i, _)| **i != cheater)
        .map(|(_, r)| r)
        .collect()
}

/// Every outcome is a kept key, all the same key.
fn all_keep(outs: &[&Result<KeyShare, CryptoError>]) -> KeyShare {
    let keys: Vec<&KeyShare> = outs
        .iter()
        .map(|r| r.as_ref().expect("an honest node kept the key"))
        .collect();
    for k in &keys {
        assert_eq!(k.public_key, keys[0].public_key);
        assert_eq!(k.public_shares, keys[0].public_shares);
    }
    keys[0].clone()
}

#[test]
fn honest_nodes_all_keep_one_key_n4_n5_n7() {
    for n in [4u32, 5, 7] {
        let t = threshold_for(n as usize);
        let parts: Vec<NodeIndex> = (0..n).collect();
        let keys = SimVoteKeys::for_nodes(&parts);
        let out = sim::agreed_keygen(&parts, t, &keys, None).unwrap();
        let all: Vec<_> = out.values().collect();
        let k = all_keep(&all);
        assert_eq!(k.public_shares.len(), n as usize);
    }
}

#[test]
fn an_equivocating_node_is_named_and_every_honest_node_discards_then_a_retry_without_it_keeps() {
    for n in [4u32, 5, 7] {
        let t = threshold_for(n as usize);
        let parts: Vec<NodeIndex> = (0..n).collect();
        let keys = SimVoteKeys::for_nodes(&parts);
        for cheater in [0, n / 2, n - 1] {
            // The cheater's bad confirmation goes to about half the others.
            let victims: Vec<NodeIndex> = parts
                .iter()
                .copied()
                .filter(|&p| p != cheater && p % 2 == 0)
                .collect();
            let out = sim::agreed_keygen(
                &parts,
                t,
                &keys,
                Some(VoteCheat::Equivocate { cheater, victims }),
            )
            .unwrap();
            for r in honest(&out, cheater) {
                match r {
                    Err(CryptoError::KeygenDiscarded { culprits, .. }) => {
                        assert_eq!(culprits, &vec![cheater], "n={n}")
                    }
                    other => panic!(
                        "n={n} cheater={cheater}: honest node kept or failed otherwise: {other:?}"
                    ),
                }
            }
            // Retry without the proven culprit: every remaining node keeps
            // one key, with the same threshold.
            let rest: Vec<NodeIndex> = parts.iter().copied().filter(|&p| p != cheater).collect();
            let out = sim::agreed_keygen(&rest, t, &keys, None).unwrap();
            let all: Vec<_> = out.values().collect();
            let k = all_keep(&all);
            assert_eq!(k.participants, rest);
            assert_eq!(k.threshold, t);
        }
    }
}

#[test]
fn a_confirmation_withheld_from_some_reaches_them_by_relay_and_all_keep() {
    for n in [4u32, 5, 7] {
        let t = threshold_for(n as usize);
        let parts: Vec<NodeIndex> = (0..n).collect();
        let keys = SimVoteKeys::for_nodes(&parts);
        let cheater = n - 1;
        let out = sim::agreed_keygen(
            &parts,
            t,
            &keys,
            Some(VoteCheat::Withhold {
                cheater,
                only: vec![0],
            }),
        )
        .unwrap();
        all_keep(&honest(&out, cheater));
    }
}

#[test]
fn a_node_silent_in_the_agreement_makes_every_honest_node_discard_alike() {
    for n in [4u32, 5, 7] {
        let t = threshold_for(n as usize);
        let parts: Vec<NodeIndex> = (0..n).collect();
        let keys = SimVoteKeys::for_nodes(&parts);
        let cheater = 1;
        let out = sim::agreed_keygen(
            &parts,
            t,
            &keys,
            Some(VoteCheat::Withhold {
                cheater,
                only: vec![],
            }),
        )
        .unwrap();
        for r in honest(&out, cheater) {
            match r {
                // silence is not proof: nobody is named
                Err(CryptoError::KeygenDiscarded { culprits, reason }) => {
                    assert!(culprits.is_empty());
                    assert!(reason.contains("no confirmation from [1]"), "{reason}");
                }
                other => panic!("n={n}: {other:?}"),
            }
        }
    }
}

#[test]
fn an_agreed_key_presigns_and_signs() {
    let n = 5u32;
    let t = threshold_for(n as usize);
    let parts: Vec<NodeIndex> = (0..n).collect();
    let keys = SimVoteKeys::for_nodes(&parts);
    let out = sim::agreed_keygen(&parts, t, &keys, None).unwrap();
    let shares: BTreeMap<NodeIndex, KeyShare> =
        out.into_iter().map(|(i, r)| (i, r.unwrap())).collect();
    let presigs = sim::presign::<CaitSith>(&shares, &parts, 1).unwrap();
    let root = shares[&0].public_key;
    let signers: Vec<NodeIndex> = (0..t as u32).collect();
    let tweak = candela_crypto::derive::pkp_tweak(b"k").unwrap();
    let digest = [7u8; 32];
    let ctx = candela_crypto::ecdsa::SigningContext {
        big_r: &presigs[&0][0].big_r,
        root: &root,
        tweak: &tweak,
        digest: &digest,
        presignature_id: "p",
        signers: &signers,
        request_id: "r",
    };
    let shared: Vec<_> = signers
        .iter()
        .map(|&i| candela_crypto::ecdsa::signature_share(&presigs[&i][0], i, &ctx).unwrap())
        .collect();
    let s: Vec<_> = shared.iter().map(|(s, _)| *s).collect();
    let pk = candela_crypto::derive::derive_public_key(&root, b"k").unwrap();
    let sig = candela_crypto::ecdsa::combine(&s, &shared[0].1, &pk, &digest).unwrap();
    let vk = k256::ecdsa::VerifyingKey::from_affine(pk).unwrap();
    let eth = sig.to_eth_bytes();
    let plain = k256::ecdsa::Signature::from_slice(&eth[..64]).unwrap();
    k256::ecdsa::signature::hazmat::PrehashVerifier::verify_prehash(&vk, &digest, &plain)
        .expect("the agreed key's signature verifies with k256");
}
