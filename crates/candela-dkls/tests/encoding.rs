//! The binary encoding of every message: each message a run sends decodes
//! and re-encodes to the same bytes, and the sizes are reported.

use std::collections::BTreeMap;

use crate::common::random_digest;
use candela_dkls::wire::{decode, encode, KeygenMessage, SignMessage, WIRE_VERSION};
use candela_dkls::{sim, DklsError, NodeIndex};
use dkls23::protocols::signing::Broadcast3to4;
use k256::Scalar;

#[test]
fn every_keygen_and_signing_message_round_trips_through_the_binary_encoding() {
    let nodes: Vec<NodeIndex> = vec![0, 1, 2];
    let mut keygen_kinds: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut hook = |_: NodeIndex, _: NodeIndex, bytes: &mut Vec<u8>| {
        assert_eq!(bytes[0], WIRE_VERSION);
        let m: KeygenMessage = decode(bytes).expect("decodes");
        assert_eq!(
            &encode(&m).expect("encodes"),
            bytes,
            "re-encodes identically"
        );
        let kind = match m {
            KeygenMessage::Fragment(_) => "fragment",
            KeygenMessage::Commitments { .. } => "commitments",
            KeygenMessage::ZeroSeedCommitment(_) => "zero-seed commitment",
            KeygenMessage::Openings { .. } => "openings",
            KeygenMessage::Setup { .. } => "pair setup",
        };
        *keygen_kinds.entry(kind).or_default() += bytes.len();
    };
    let (out, wire) = sim::keygen_among(&nodes, 3, b"encoding", Some(&mut hook)).expect("starts");
    let shares: BTreeMap<_, _> = out
        .into_iter()
        .map(|(i, r)| (i, r.expect("key generation succeeds")))
        .collect();
    eprintln!("keygen 3 nodes: {wire:?}, bytes by kind {keygen_kinds:?}");
    assert_eq!(keygen_kinds.len(), 5, "all five kinds were sent");

    let mut sign_kinds: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut hook = |_: NodeIndex, _: NodeIndex, bytes: &mut Vec<u8>| {
        let m: SignMessage = decode(bytes).expect("decodes");
        assert_eq!(
            &encode(&m).expect("encodes"),
            bytes,
            "re-encodes identically"
        );
        let kind = match m {
            SignMessage::Round1(_) => "round 1",
            SignMessage::Round2(_) => "round 2",
            SignMessage::Round3(_) => "round 3",
        };
        *sign_kinds.entry(kind).or_default() += bytes.len();
    };
    let (out, wire) = sim::sign(
        &shares,
        &nodes,
        Scalar::from(5u64),
        random_digest(),
        b"enc",
        Some(&mut hook),
    )
    .expect("starts");
    assert!(out.values().all(Result::is_ok));
    eprintln!("sign 3 of 3: {wire:?}, bytes by round {sign_kinds:?}");
    assert_eq!(sign_kinds.len(), 3);
}

#[test]
fn bytes_with_another_version_trailing_data_or_truncation_are_refused() {
    // Any two scalars make a well-formed last-round message.
    let m = SignMessage::Round3(Broadcast3to4::<k256_v14::Secp256k1> {
        u: k256_v14::Scalar::ONE,
        w: k256_v14::Scalar::ONE,
    });
    let bytes = encode(&m).expect("encodes");
    let mut other_version = bytes.clone();
    other_version[0] = WIRE_VERSION + 1;
    let mut trailing = bytes.clone();
    trailing.push(0);
    for bad in [
        &other_version[..],
        &trailing[..],
        &bytes[..bytes.len() - 1],
        &[][..],
    ] {
        assert!(matches!(
            decode::<SignMessage>(bad),
            Err(DklsError::Encoding(_))
        ));
    }
    assert!(decode::<SignMessage>(&bytes).is_ok());
}
