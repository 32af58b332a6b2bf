//! Misbehaviour: a node that alters its messages is named where DKLs23
//! identifies it, and the exclusion list keeps it out of later signing
//! sets. The nodes are 3, 7 and 12 (DKLs23 parties 1, 2, 3), so a wrong
//! index mapping would name the wrong node.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use crate::common::{cached_keygen, random_digest};
use candela_dkls::wire::{decode, encode, KeygenMessage, SignMessage};
use candela_dkls::{
    sim, DklsError, DklsKeyShare, DklsSign, DklsSignature, ExclusionList, NodeIndex, SignRequest,
};
use k256::Scalar;

const NODES: [NodeIndex; 3] = [3, 7, 12];

fn shares() -> &'static BTreeMap<NodeIndex, DklsKeyShare> {
    static SHARES: OnceLock<BTreeMap<NodeIndex, DklsKeyShare>> = OnceLock::new();
    SHARES.get_or_init(|| cached_keygen(&NODES, 3, "blame-3-of-3"))
}

/// Sign among all three nodes, letting `cheat` alter `cheater`'s signing
/// messages in flight.
fn sign_with(
    cheater: NodeIndex,
    mut cheat: impl FnMut(&mut SignMessage),
) -> BTreeMap<NodeIndex, Result<DklsSignature, DklsError>> {
    let mut hook = |from: NodeIndex, _to: NodeIndex, bytes: &mut Vec<u8>| {
        if from != cheater {
            return;
        }
        let mut m: SignMessage = decode(bytes).expect("own messages decode");
        cheat(&mut m);
        *bytes = encode(&m).expect("encodes");
    };
    let (out, _) = sim::sign(
        shares(),
        &NODES,
        Scalar::from(11u64),
        random_digest(),
        b"blame",
        Some(&mut hook),
    )
    .expect("sessions start");
    out
}

fn assert_named(
    out: &BTreeMap<NodeIndex, Result<DklsSignature, DklsError>>,
    cheater: NodeIndex,
    leaks: bool,
) {
    for (&node, outcome) in out.iter().filter(|(n, _)| **n != cheater) {
        match outcome {
            Err(DklsError::Blamed {
                party,
                leaks_ot_state,
                reason,
            }) => {
                assert_eq!(*party, cheater, "node {node} names the cheater ({reason})");
                assert_eq!(*leaks_ot_state, leaks, "node {node}: {reason}");
            }
            other => panic!("node {node} should blame {cheater}, got {other:?}"),
        }
    }
}

#[test]
fn a_signer_altering_its_round2_consistency_values_is_named_as_an_ot_state_leak() {
    let out = sign_with(7, |m| {
        if let SignMessage::Round2(m) = m {
            std::mem::swap(&mut m.gamma_u, &mut m.gamma_v);
        }
    });
    assert_named(&out, 7, true);
}

#[test]
fn a_signer_altering_its_ot_extension_message_is_named_as_an_ot_state_leak() {
    let out = sign_with(12, |m| {
        if let SignMessage::Round1(m) = m {
            m.mul_transmit.verify_x[0] ^= 1;
        }
    });
    assert_named(&out, 12, true);
}

#[test]
fn a_signer_opening_another_value_than_it_committed_to_is_named() {
    let out = sign_with(3, |m| {
        if let SignMessage::Round2(m) = m {
            m.salt[0] ^= 1;
        }
    });
    assert_named(&out, 3, false);
}

#[test]
fn a_message_claiming_another_sender_blames_the_node_that_sent_it() {
    let out = sign_with(3, |m| {
        if let SignMessage::Round1(m) = m {
            m.parties = m.parties.reverse();
        }
    });
    assert_named(&out, 3, false);
}

#[test]
fn malformed_bytes_blame_the_node_that_sent_them() {
    let mut hook = |from: NodeIndex, _to: NodeIndex, bytes: &mut Vec<u8>| {
        if from == 12 {
            bytes.truncate(bytes.len() / 2);
        }
    };
    let (out, _) = sim::sign(
        shares(),
        &NODES,
        Scalar::ZERO,
        random_digest(),
        b"malformed",
        Some(&mut hook),
    )
    .expect("sessions start");
    assert_named(&out, 12, false);
}

/// DKLs23 does not identify who sent a wrong last-round value: the sums do
/// not give a valid signature, everyone else aborts and nobody is named
/// (so nobody honest is excluded). This is what the crate guarantees.
#[test]
fn a_wrong_last_round_value_aborts_the_others_without_naming_anyone() {
    let out = sign_with(7, |m| {
        if let SignMessage::Round3(b) = m {
            std::mem::swap(&mut b.u, &mut b.w);
        }
    });
    for (&node, outcome) in out.iter().filter(|(n, _)| **n != 7) {
        match outcome {
            Err(e @ DklsError::Aborted(_)) => assert_eq!(e.culprit(), None),
            other => panic!("node {node} should abort unattributed, got {other:?}"),
        }
    }
}

#[test]
fn a_node_blamed_once_is_refused_in_every_later_signing_set() {
    let out = sign_with(12, |m| {
        if let SignMessage::Round2(m) = m {
            std::mem::swap(&mut m.gamma_u, &mut m.gamma_v);
        }
    });
    let mut excluded = ExclusionList::new();
    for outcome in out.values() {
        if let Err(e) = outcome {
            excluded.record(e);
        }
    }
    assert!(excluded.is_excluded(12));
    assert!(!excluded.is_excluded(3) && !excluded.is_excluded(7));
    // Persisted and reloaded, the list still refuses node 12.
    let excluded =
        ExclusionList::from_bytes(&excluded.to_bytes().expect("serializes")).expect("parses");
    let request = SignRequest {
        signers: &NODES,
        tweak: Scalar::ZERO,
        digest: random_digest(),
        request_id: b"after-ban",
    };
    let mut seen = BTreeSet::new();
    assert!(matches!(
        DklsSign::new(&shares()[&3], &request, &excluded, &mut seen),
        Err(DklsError::Excluded(12))
    ));
    // With three nodes and a threshold of three, no signing set is left.
    assert!(excluded.choose_signers(&NODES, 3).is_err());
}

#[test]
fn a_keygen_proof_commitment_altered_by_one_node_aborts_the_others_naming_it() {
    let mut hook = |from: NodeIndex, _to: NodeIndex, bytes: &mut Vec<u8>| {
        if from != 7 {
            return;
        }
        let mut m: KeygenMessage = decode(bytes).expect("own messages decode");
        if let KeygenMessage::Commitments { proof, .. } = &mut m {
            proof[0] ^= 1;
        }
        *bytes = encode(&m).expect("encodes");
    };
    let (out, _) = sim::keygen_among(&NODES, 3, b"blame-keygen", Some(&mut hook)).expect("starts");
    for node in [3, 12] {
        match &out[&node] {
            Err(DklsError::Blamed { party, .. }) => assert_eq!(*party, 7),
            other => panic!("node {node} should blame 7, got {other:?}"),
        }
    }
}

/// Signers given different digests (a coordinator's inconsistency, or a
/// node's) fail with a session mismatch that blames nobody, so nobody is
/// excluded for it.
#[test]
fn signers_given_different_digests_fail_without_blaming_anyone() {
    let mut sessions = sim::sign_sessions(shares(), &NODES, Scalar::ZERO, [1u8; 32], b"r")
        .expect("sessions start");
    let other = sim::sign_sessions(shares(), &NODES, Scalar::ZERO, [2u8; 32], b"r")
        .expect("sessions start");
    // Node 12 was asked to sign another digest.
    for (slot, alt) in sessions.iter_mut().zip(other) {
        if slot.0 == 12 {
            *slot = alt;
        }
    }
    let (out, _) = sim::run(sessions, None);
    let mut excluded = ExclusionList::new();
    for (node, outcome) in &out {
        match outcome {
            Err(e @ DklsError::SessionMismatch { .. }) => {
                assert_eq!(e.culprit(), None);
                assert_eq!(excluded.record(e), None);
            }
            other => panic!("node {node} should see a session mismatch, got {other:?}"),
        }
    }
}
