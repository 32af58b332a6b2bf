//! The DKLs23 key generation inside the agreement step: every honest node
//! keeps one key and chain code, or none does.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use crate::common::{k256_verifies, random_digest};
use candela_crypto::agree::{is_agreement_message, VoteKeys};
use candela_crypto::session::BoxedSession;
use candela_crypto::sim::SimVoteKeys;
use candela_crypto::CryptoError;
use candela_dkls::wire::{decode, encode, KeygenMessage};
use candela_dkls::{agreed_keygen, sim, DklsKeyShare, NodeIndex};
use k256::Scalar;

const NODES: [NodeIndex; 3] = [0, 1, 2];

/// Node 2 gives node 0 another chain-code contribution than everyone else,
/// with a matching commitment: each view is consistent on its own.
fn split_chain_code(from: NodeIndex, to: NodeIndex, inner: &mut Vec<u8>) {
    if from != 2 || to != 0 {
        return;
    }
    // One commitment and its salt for every message of the run.
    static OTHER: OnceLock<([u8; 32], Vec<u8>)> = OnceLock::new();
    let other = [9u8; 32];
    let (commitment, salt) = OTHER
        .get_or_init(|| dkls23::utilities::commits::commit(&other))
        .clone();
    let mut m: KeygenMessage = decode(inner).expect("own messages decode");
    match &mut m {
        KeygenMessage::Commitments { chain_code, .. } => chain_code.cc_commitment = commitment,
        KeygenMessage::Openings { chain_code, .. } => {
            chain_code.aux_chain_code = other;
            chain_code.cc_salt = salt;
        }
        _ => {}
    }
    *inner = encode(&m).expect("encodes");
}

fn agreed_sessions(context: &[u8]) -> Vec<(NodeIndex, BoxedSession<DklsKeyShare>)> {
    let keys = SimVoteKeys::for_nodes(&NODES);
    NODES
        .iter()
        .map(|&i| {
            let k: Arc<dyn VoteKeys> = keys[&i].clone();
            (
                i,
                agreed_keygen(&NODES, i, 3, context, k).expect("session starts"),
            )
        })
        .collect()
}

#[test]
fn agreed_keygen_ends_with_one_key_and_chain_code_everywhere_and_the_shares_sign() {
    let (out, _) = sim::run_crypto(agreed_sessions(b"agreed-honest"), None);
    let shares: BTreeMap<NodeIndex, DklsKeyShare> = out
        .into_iter()
        .map(|(i, r)| (i, r.unwrap_or_else(|e| panic!("node {i}: {e}"))))
        .collect();
    let first = &shares[&0];
    for s in shares.values() {
        assert_eq!(s.public_key(), first.public_key());
        assert_eq!(s.chain_code(), first.chain_code());
        assert_eq!(s.public_shares(), first.public_shares());
    }
    let digest = random_digest();
    let (sigs, _) =
        sim::sign(&shares, &NODES, Scalar::ZERO, digest, b"agreed", None).expect("signing starts");
    for sig in sigs.into_values() {
        let sig = sig.expect("signer succeeds");
        assert!(k256_verifies(&first.public_key(), &digest, &sig));
    }
}

#[test]
fn without_agreement_a_broadcast_equivocation_leaves_nodes_with_different_chain_codes() {
    let mut hook = |from: NodeIndex, to: NodeIndex, m: &mut Vec<u8>| split_chain_code(from, to, m);
    let (out, _) = sim::keygen_among(&NODES, 3, b"split", Some(&mut hook)).expect("starts");
    let shares: BTreeMap<NodeIndex, DklsKeyShare> = out
        .into_iter()
        .map(|(i, r)| (i, r.expect("every DKG succeeds locally")))
        .collect();
    assert_eq!(shares[&1].chain_code(), shares[&2].chain_code());
    assert_ne!(
        shares[&0].chain_code(),
        shares[&1].chain_code(),
        "node 0 was given another chain code"
    );
    // Such shares cannot sign together: the chain code is part of every
    // signing session's binding.
    let (sigs, _) = sim::sign(&shares, &NODES, Scalar::ZERO, random_digest(), b"x", None)
        .expect("signing starts");
    assert!(sigs.values().all(Result::is_err));
}

#[test]
fn with_agreement_the_same_equivocation_discards_the_key_at_every_node() {
    let mut hook = |from: NodeIndex, to: NodeIndex, m: &mut Vec<u8>| {
        if is_agreement_message(m) || m.is_empty() {
            return;
        }
        // Inner key-generation messages carry a one-byte frame.
        let mut inner = m[1..].to_vec();
        split_chain_code(from, to, &mut inner);
        m.truncate(1);
        m.extend(inner);
    };
    let (out, _) = sim::run_crypto(agreed_sessions(b"agreed-split"), Some(&mut hook));
    for (node, outcome) in out {
        match outcome {
            Err(CryptoError::KeygenDiscarded { culprits, reason }) => {
                assert!(
                    culprits.is_empty(),
                    "node {node}: nobody is proven at fault"
                );
                // Every DKG succeeded; the confirmed outcomes differ.
                assert!(
                    reason.contains("2 different key-generation outcomes"),
                    "node {node}: {reason}"
                );
            }
            other => panic!("node {node} should discard the key, got {other:?}"),
        }
    }
}
