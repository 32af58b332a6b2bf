//! End-to-end properties of the threshold BLS crate, all parties in process.
use std::collections::BTreeMap;

use candela_bls::sign::SHARE_BYTES;
use candela_bls::sim::{self, Cheat};
use candela_bls::{
    combine, combine_verified, decrypt_with_shares, decrypt_with_shares_unattributed,
    decryption_share, encrypt, threshold_for, verify, verify_decryption_share, verify_share,
    BlsError, BlsKeyShare, BlsPublicKeySet, BlsSignatureShare, Fault, NodeIndex,
};
use candela_crypto::CryptoError;

fn keys(n: u32) -> BTreeMap<NodeIndex, BlsKeyShare> {
    sim::dkg(n, threshold_for(n as usize)).expect("dkg")
}

/// Every subset of `0..n` of size `k`.
fn subsets(n: u32, k: usize) -> Vec<Vec<NodeIndex>> {
    let mut out = Vec::new();
    for mask in 0u32..(1 << n) {
        if mask.count_ones() as usize == k {
            out.push((0..n).filter(|i| mask & (1 << i) != 0).collect());
        }
    }
    out
}

#[test]
fn dkg_gives_every_node_the_same_public_key_and_consistent_public_shares() {
    for n in [3u32, 5, 7, 10] {
        let t = threshold_for(n as usize);
        let keys = keys(n);
        assert_eq!(keys.len(), n as usize);
        let first = &keys[&0];
        assert_eq!(first.public_shares.len(), n as usize);
        for (i, k) in &keys {
            assert_eq!(k.me, *i);
            assert_eq!(k.threshold, t);
            assert_eq!(k.participants, (0..n).collect::<Vec<_>>());
            assert_eq!(k.public_key, first.public_key, "n = {n}, node {i}");
            assert_eq!(k.public_shares, first.public_shares, "n = {n}, node {i}");
            assert_eq!(
                k.public_shares[i],
                candela_bls::G1Projective::GENERATOR * k.secret
            );
            assert_eq!(k.public_key_hex().len(), 96);
        }
        // The public shares lie on one degree t-1 polynomial through the key.
        BlsPublicKeySet::new(t, first.public_key, first.public_shares.clone())
            .expect("consistent public shares");
        // Two runs give different keys.
        assert_ne!(first.public_key, sim::dkg(n, t).unwrap()[&0].public_key);
    }
}

#[test]
fn any_threshold_subset_of_shares_combines_to_a_verifying_signature_and_fewer_do_not() {
    for n in [5u32, 7] {
        let t = threshold_for(n as usize);
        let keys = keys(n);
        let pk = keys[&0].public_key;
        let public = keys[&0].public_set();
        let msg = b"candela threshold bls";
        let shares: BTreeMap<NodeIndex, BlsSignatureShare> = keys
            .iter()
            .map(|(&i, k)| (i, k.sign_share(msg).unwrap()))
            .collect();
        for (i, s) in &shares {
            verify_share(&keys[&0].public_shares[i], msg, s).expect("share verifies");
        }
        let mut reference = None;
        for set in subsets(n, t) {
            let sub: Vec<_> = set.iter().map(|i| shares[i]).collect();
            let sig = combine(&sub).unwrap();
            verify(&pk, msg, &sig).expect("t shares verify");
            assert_eq!(*reference.get_or_insert(sig), sig, "unique signature");
            assert_eq!(combine_verified(&public, msg, &sub).unwrap(), sig);
        }
        // All n shares combine to the same signature.
        let all: Vec<_> = shares.values().copied().collect();
        assert_eq!(Some(combine(&all).unwrap()), reference);
        // t - 1 shares: combining "works" but the signature is wrong.
        for set in subsets(n, t - 1).into_iter().take(5) {
            let sub: Vec<_> = set.iter().map(|i| shares[i]).collect();
            let sig = combine(&sub).unwrap();
            assert_eq!(
                verify(&pk, msg, &sig),
                Err(BlsError::SignatureDoesNotVerify)
            );
            assert_eq!(
                combine_verified(&public, msg, &sub),
                Err(BlsError::NotEnoughShares {
                    needed: t,
                    have: t - 1
                })
            );
        }
        // The signature is over this message only.
        let sig = reference.unwrap();
        assert!(verify(&pk, b"another message", &sig).is_err());
        // blsful's own verifier agrees.
        sig.to_blsful()
            .verify(&blsful::PublicKey::<blsful::Bls12381G2Impl>(pk), msg)
            .expect("blsful verifies");
    }
}

#[test]
fn combine_refuses_duplicate_shares_and_combine_verified_names_a_bad_share() {
    let keys = keys(5);
    let public = keys[&0].public_set();
    let msg = b"m";
    let mut shares: Vec<_> = (0..4).map(|i| keys[&i].sign_share(msg).unwrap()).collect();
    assert_eq!(
        combine(&[shares[0], shares[0]]),
        Err(BlsError::DuplicateShare { node: 0 })
    );
    // Node 2 answers with a share over another message.
    shares[2] = keys[&2].sign_share(b"other").unwrap();
    assert_eq!(
        combine_verified(&public, msg, &shares),
        Err(BlsError::Culprit {
            node: 2,
            reason: Fault::InvalidSignatureShare
        })
    );
    // A share from a node outside the key.
    let stranger = BlsSignatureShare::new(9, *shares[0].value()).unwrap();
    assert_eq!(
        combine_verified(&public, msg, &[stranger]),
        Err(BlsError::UnknownNode { node: 9 })
    );
}

#[test]
fn a_dealer_whose_private_share_is_corrupted_is_named_by_the_receiver() {
    let (n, dealer, victim) = (5u32, 3, 1);
    let out = sim::dkg_with_cheater(n, 4, Cheat::CorruptShare { dealer, victim }).unwrap();
    assert_eq!(
        out[&victim],
        Err(BlsError::Culprit {
            node: dealer,
            reason: Fault::BadPrivateShare
        })
    );
    assert_eq!(out[&victim].as_ref().unwrap_err().culprit(), Some(dealer));
    // Everyone else stops on the victim's complaint instead of hanging.
    for i in (0..n).filter(|&i| i != victim) {
        assert_eq!(
            out[&i],
            Err(BlsError::Accused {
                accuser: victim,
                accused: dealer,
                reason: Fault::BadPrivateShare
            }),
            "node {i}"
        );
    }
    // Through the node's session trait the blame survives as a culprit.
    let as_crypto = CryptoError::from(out[&victim].clone().unwrap_err());
    assert_eq!(as_crypto, CryptoError::InvalidShare { culprit: dealer });
    assert_eq!(as_crypto.culprit(), Some(dealer));
}

#[test]
fn a_withheld_commitment_reveal_stalls_and_names_the_withholder() {
    let (n, dealer) = (5u32, 2);
    let out = sim::dkg_with_cheater(n, 4, Cheat::WithholdReveal { dealer }).unwrap();
    for i in (0..n).filter(|&i| i != dealer) {
        assert_eq!(
            out[&i],
            Err(BlsError::Stalled {
                waiting: vec![dealer]
            }),
            "node {i}"
        );
    }
    assert!(out[&dealer].is_err());
}

#[test]
fn a_reveal_that_does_not_match_its_commitment_hash_names_the_dealer() {
    let (n, dealer) = (5u32, 0);
    let out = sim::dkg_with_cheater(n, 4, Cheat::RevealMismatch { dealer }).unwrap();
    let mut named = 0;
    for i in (0..n).filter(|&i| i != dealer) {
        match &out[&i] {
            Err(BlsError::Culprit { node, reason }) => {
                assert_eq!((*node, *reason), (dealer, Fault::CommitmentHashMismatch));
                named += 1;
            }
            Err(BlsError::Accused { accused, .. }) => assert_eq!(*accused, dealer),
            other => panic!("node {i}: {other:?}"),
        }
    }
    assert!(named >= 1);
    assert!(out[&dealer].is_err());
}

#[test]
fn an_equivocating_dealer_is_caught_in_the_confirmation_round() {
    let (n, dealer, victim) = (5u32, 4, 0);
    let out = sim::dkg_with_cheater(n, 4, Cheat::Equivocate { dealer, victim }).unwrap();
    for i in 0..n {
        match &out[&i] {
            Err(BlsError::TranscriptMismatch { dealer: d, .. }) => {
                assert_eq!(*d, Some(dealer), "node {i}")
            }
            other => panic!("node {i}: {other:?}"),
        }
    }
}

#[test]
fn a_garbled_message_names_its_sender() {
    let out = sim::dkg_with_cheater(
        3,
        3,
        Cheat::Garble {
            dealer: 2,
            victim: 0,
        },
    )
    .unwrap();
    assert_eq!(
        out[&0],
        Err(BlsError::Culprit {
            node: 2,
            reason: Fault::MalformedMessage
        })
    );
}

#[test]
fn the_dkg_runs_through_the_node_session_trait() {
    let parts: Vec<NodeIndex> = (0..4).collect();
    let t = threshold_for(parts.len());
    let sessions = parts
        .iter()
        .map(|&i| candela_bls::keygen(&parts, i, t, b"session-42").map(|s| (i, s)))
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let keys = candela_crypto::sim::run(sessions).unwrap();
    let msg = b"through the runner";
    let shares: Vec<_> = keys.values().map(|k| k.sign_share(msg).unwrap()).collect();
    let sig = combine_verified(&keys[&0].public_set(), msg, &shares[..t]).unwrap();
    verify(&keys[&3].public_key, msg, &sig).unwrap();
}

#[test]
fn bad_dkg_parameters_are_refused() {
    for (parts, me, t) in [
        (vec![0u32, 1, 2], 0u32, 0usize),
        (vec![0, 1, 2], 0, 4),
        (vec![0, 1, 2], 5, 2),
        (vec![0, 2, 1], 0, 2),
        (vec![0, 0, 1], 0, 2),
        (vec![0, 255], 0, 2),
    ] {
        assert!(
            matches!(
                candela_bls::BlsDkg::new(&parts, me, t, b""),
                Err(BlsError::BadParameters(_))
            ),
            "{parts:?} {me} {t}"
        );
    }
}

#[test]
fn key_share_bytes_round_trip_and_tampering_is_refused() {
    let keys = keys(5);
    for k in keys.values() {
        let b = k.to_bytes();
        assert_eq!(b.len(), 97 + 52 * 5);
        let back = BlsKeyShare::from_bytes(&b).unwrap();
        assert_eq!(&back, k);
        // The secret does not leak through Debug.
        let dbg = format!("{k:?}");
        assert!(dbg.contains("<redacted>"));
        assert!(!dbg.contains(&hex::encode(k.secret.to_be_bytes())));
    }
    let k = &keys[&1];
    let good = k.to_bytes();
    // A flipped secret bit no longer matches the public share.
    let mut bad = good.to_vec();
    let secret_at = 4 + 1 + 12 + 4 * 5;
    bad[secret_at + 31] ^= 1;
    assert!(BlsKeyShare::from_bytes(&bad).is_err());
    // Another node's public share swapped in is off the polynomial.
    let mut bad = good.to_vec();
    let shares_at = secret_at + 32 + 48;
    let (a, b) = (shares_at, shares_at + 48 * 4);
    let last = bad[b..b + 48].to_vec();
    bad[a..a + 48].copy_from_slice(&last);
    assert!(BlsKeyShare::from_bytes(&bad).is_err());
    assert!(BlsKeyShare::from_bytes(&good[..good.len() - 1]).is_err());
    assert!(BlsKeyShare::from_bytes(b"").is_err());
}

#[test]
fn public_key_set_bytes_round_trip() {
    let keys = keys(7);
    let set = keys[&0].public_set();
    let b = set.to_bytes();
    assert_eq!(b.len(), 61 + 52 * 7);
    assert_eq!(BlsPublicKeySet::from_bytes(&b).unwrap(), set);
    assert_eq!(
        candela_bls::encoding::public_key_from_hex(&set.public_key_hex()).unwrap(),
        set.public_key
    );
}

#[test]
fn signature_share_wire_form_is_identifier_byte_then_compressed_g2() {
    let keys = keys(5);
    let share = keys[&3].sign_share(b"wire").unwrap();
    let bytes = share.to_bytes();
    assert_eq!(bytes.len(), SHARE_BYTES);
    assert_eq!(SHARE_BYTES, 97);
    assert_eq!(bytes[0], 4, "identifier is index + 1");
    assert_eq!(&bytes[1..], &share.value().to_compressed()[..]);
    let hex = share.to_hex();
    assert_eq!(hex.len(), 194);
    assert_eq!(BlsSignatureShare::from_hex(&hex).unwrap(), share);
    assert_eq!(
        BlsSignatureShare::from_hex(&format!("0x{hex}")).unwrap(),
        share
    );
    assert!(BlsSignatureShare::from_bytes(&bytes[..96]).is_err());
    let mut zero = bytes;
    zero[0] = 0;
    assert!(BlsSignatureShare::from_bytes(&zero).is_err());
    // JSON is the hex string.
    let json = serde_json_like(&share);
    assert_eq!(json, hex);
    // blsful's share type: identifier is the scalar index + 1.
    let b = share.to_blsful();
    assert_eq!(
        b.as_raw_value().0.identifier.0,
        candela_bls::Scalar::from(4u64)
    );
    assert_eq!(BlsSignatureShare::from_blsful(&b).unwrap(), share);
    // And blsful verifies it against a public share with the same identifier.
    let pks = blsful::PublicKeyShare::<blsful::Bls12381G2Impl>(blsful::InnerPointShareG1(
        blsful::vsss_rs::GroupShare::from((
            candela_bls::Scalar::from(4u64),
            keys[&0].public_shares[&3],
        )),
    ));
    pks.verify(&b, b"wire").expect("blsful verifies the share");
    // The combined signature: 96 bytes, 192 hex characters.
    let sig = combine(
        &(0..4)
            .map(|i| keys[&i].sign_share(b"wire").unwrap())
            .collect::<Vec<_>>(),
    )
    .unwrap();
    assert_eq!(sig.to_hex().len(), 192);
    assert_eq!(
        candela_bls::BlsSignature::from_hex(&sig.to_hex()).unwrap(),
        sig
    );
}

/// The serde form of a share, through rmp-serde's string (no JSON crate here).
fn serde_json_like(share: &BlsSignatureShare) -> String {
    let packed = rmp_serde::to_vec(share).unwrap();
    let s: String = rmp_serde::from_slice(&packed).unwrap();
    let back: BlsSignatureShare = rmp_serde::from_slice(&packed).unwrap();
    assert_eq!(&back, share);
    s
}

fn ibe_round_trip(len: usize) {
    let keys = keys(5);
    let public = keys[&0].public_set();
    let identity = b"lit-accesscontrolcondition://abc/def";
    let plaintext: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
    let ct = encrypt(&public.public_key, identity, &plaintext).unwrap();
    assert_eq!(
        ct.len(),
        plaintext.len() + candela_bls::ibe::ciphertext_overhead(plaintext.len()),
        "ciphertext size for {len} bytes"
    );
    let shares: Vec<_> = [4u32, 0, 2, 1]
        .iter()
        .map(|i| decryption_share(&keys[i], identity).unwrap())
        .collect();
    for s in &shares {
        verify_decryption_share(&public.public_shares[&s.node()], identity, s).unwrap();
    }
    assert_eq!(
        decrypt_with_shares(&public, identity, &ct, &shares).unwrap(),
        plaintext
    );
    assert_eq!(
        decrypt_with_shares_unattributed(&public.public_key, identity, &ct, &shares).unwrap(),
        plaintext
    );
}

#[test]
fn ibe_round_trip_small_plaintexts() {
    for len in [0usize, 1, 31, 32, 33, 1024] {
        ibe_round_trip(len);
    }
}

#[test]
fn ibe_round_trip_8_mib_plaintext() {
    ibe_round_trip(8 << 20);
}

#[test]
fn decryption_with_fewer_than_threshold_shares_fails() {
    let keys = keys(5);
    let public = keys[&0].public_set();
    let id = b"id";
    let ct = encrypt(&public.public_key, id, b"secret").unwrap();
    let shares: Vec<_> = (0..3)
        .map(|i| decryption_share(&keys[&i], id).unwrap())
        .collect();
    assert_eq!(
        decrypt_with_shares(&public, id, &ct, &shares),
        Err(BlsError::NotEnoughShares { needed: 4, have: 3 })
    );
    assert_eq!(
        decrypt_with_shares_unattributed(&public.public_key, id, &ct, &shares),
        Err(BlsError::SignatureDoesNotVerify)
    );
}

#[test]
fn a_tampered_decryption_share_is_named() {
    let keys = keys(5);
    let public = keys[&0].public_set();
    let id = b"id";
    let ct = encrypt(&public.public_key, id, b"secret").unwrap();
    let mut shares: Vec<_> = (0..5)
        .map(|i| decryption_share(&keys[&i], id).unwrap())
        .collect();
    // Node 3's share, altered in transit: another valid G2 point.
    let other = decryption_share(&keys[&3], b"other id").unwrap();
    let mut bytes = shares[3].to_bytes();
    bytes[1..].copy_from_slice(&other.value().to_compressed());
    shares[3] = BlsSignatureShare::from_bytes(&bytes).unwrap();
    let err = decrypt_with_shares(&public, id, &ct, &shares).unwrap_err();
    assert_eq!(
        err,
        BlsError::Culprit {
            node: 3,
            reason: Fault::InvalidSignatureShare
        }
    );
    assert!(err.to_string().contains("node 3"), "{err}");
    assert!(verify_decryption_share(&public.public_shares[&3], id, &shares[3]).is_err());
    // Without public shares the failure is detected, not attributed.
    assert_eq!(
        decrypt_with_shares_unattributed(&public.public_key, id, &ct, &shares),
        Err(BlsError::SignatureDoesNotVerify)
    );
    // The four honest shares still decrypt.
    let honest: Vec<_> = shares.iter().filter(|s| s.node() != 3).copied().collect();
    assert_eq!(
        decrypt_with_shares(&public, id, &ct, &honest).unwrap(),
        b"secret"
    );
}

#[test]
fn a_ciphertext_for_identity_a_cannot_be_decrypted_with_shares_for_identity_b() {
    let keys = keys(5);
    let public = keys[&0].public_set();
    let ct = encrypt(&public.public_key, b"identity A", b"for A only").unwrap();
    let shares_b: Vec<_> = (0..4)
        .map(|i| decryption_share(&keys[&i], b"identity B").unwrap())
        .collect();
    // Claiming identity A: B's shares fail verification and are named.
    assert!(matches!(
        decrypt_with_shares(&public, b"identity A", &ct, &shares_b),
        Err(BlsError::Culprit { .. })
    ));
    // Claiming identity B: the key verifies but does not open A's ciphertext.
    assert_eq!(
        decrypt_with_shares(&public, b"identity B", &ct, &shares_b),
        Err(BlsError::DecryptionFailed)
    );
    // An altered ciphertext does not open either.
    let shares_a: Vec<_> = (0..4)
        .map(|i| decryption_share(&keys[&i], b"identity A").unwrap())
        .collect();
    // Flip a bit of V (after the 48-byte U).
    let mut altered = ct.clone();
    altered[60] ^= 1;
    assert_eq!(
        decrypt_with_shares(&public, b"identity A", &altered, &shares_a),
        Err(BlsError::DecryptionFailed)
    );
    assert!(decrypt_with_shares(&public, b"identity A", &ct[..10], &shares_a).is_err());
}

#[test]
fn a_ciphertext_from_another_key_does_not_decrypt() {
    let k1 = keys(3);
    let k2 = keys(3);
    let ct = encrypt(&k1[&0].public_key, b"id", b"x").unwrap();
    let shares: Vec<_> = k2
        .values()
        .map(|k| decryption_share(k, b"id").unwrap())
        .collect();
    assert_eq!(
        decrypt_with_shares(&k2[&0].public_set(), b"id", &ct, &shares),
        Err(BlsError::DecryptionFailed)
    );
}

#[test]
fn dkg_completes_when_messages_arrive_out_of_order() {
    // Deliver the newest message first, interleaving rounds, as a peer
    // transport with retries might.
    let parts: Vec<NodeIndex> = (0..5).collect();
    let mut sessions: Vec<candela_bls::BlsDkg> = parts
        .iter()
        .map(|&i| candela_bls::BlsDkg::new(&parts, i, 4, b"ooo").unwrap())
        .collect();
    let mut in_flight: Vec<(NodeIndex, NodeIndex, Vec<u8>)> = Vec::new();
    let mut out = BTreeMap::new();
    let mut rounds = 0;
    while out.len() < parts.len() {
        rounds += 1;
        assert!(rounds < 10_000, "no progress");
        for s in sessions.iter_mut().rev() {
            let me = s.me();
            if out.contains_key(&me) {
                continue;
            }
            loop {
                match s.step().unwrap() {
                    candela_crypto::session::Step::Wait => break,
                    candela_crypto::session::Step::Send(
                        candela_crypto::session::Outgoing::Broadcast(m),
                    ) => {
                        for &to in parts.iter().filter(|&&p| p != me) {
                            in_flight.push((me, to, m.clone()));
                        }
                    }
                    candela_crypto::session::Step::Send(
                        candela_crypto::session::Outgoing::Private(to, m),
                    ) => in_flight.push((me, to, m)),
                    candela_crypto::session::Step::Done(k) => {
                        out.insert(me, k);
                        break;
                    }
                }
            }
        }
        // Deliver only half of what is in flight, newest first.
        let keep = in_flight.len() / 2;
        let deliver: Vec<_> = in_flight.drain(keep..).rev().collect();
        for (from, to, m) in deliver {
            // A duplicate of every message, too.
            sessions[to as usize].deliver(from, &m);
            sessions[to as usize].deliver(from, &m);
        }
    }
    let pk = out[&0].public_key;
    assert!(out.values().all(|k| k.public_key == pk));
    let shares: Vec<_> = out.values().map(|k| k.sign_share(b"m").unwrap()).collect();
    verify(&pk, b"m", &combine(&shares[1..]).unwrap()).unwrap();
}

#[test]
fn a_single_node_key_signs_and_decrypts_alone() {
    let keys = sim::dkg(1, 1).unwrap();
    let k = &keys[&0];
    let share = k.sign_share(b"solo").unwrap();
    let sig = combine_verified(&k.public_set(), b"solo", &[share]).unwrap();
    verify(&k.public_key, b"solo", &sig).unwrap();
    let ct = encrypt(&k.public_key, b"id", b"pt").unwrap();
    let d = decryption_share(k, b"id").unwrap();
    assert_eq!(
        decrypt_with_shares(&k.public_set(), b"id", &ct, &[d]).unwrap(),
        b"pt"
    );
}

#[test]
fn batch_share_verification_accepts_valid_shares_and_names_every_bad_one() {
    for n in [5u32, 7, 10] {
        let keys = keys(n);
        let public = keys[&0].public_set();
        let msg = b"lit-accesscontrolcondition://batch/verify";
        let shares: Vec<BlsSignatureShare> =
            keys.values().map(|k| k.sign_share(msg).unwrap()).collect();
        assert!(
            candela_bls::verify_shares(&public, msg, &shares).is_empty(),
            "n = {n}: every valid share passes the batch check"
        );
        // two liars: one signs another message, one claims another node's index
        let mut bad = shares.clone();
        bad[1] = keys[&1].sign_share(b"another message").unwrap();
        bad[3] = BlsSignatureShare::new(3, *shares[2].value()).unwrap();
        let named: Vec<_> = candela_bls::verify_shares(&public, msg, &bad)
            .iter()
            .filter_map(|e| e.culprit())
            .collect();
        assert_eq!(named, vec![1, 3], "n = {n}: both bad shares are named");
        // a share from a node outside the set
        let stranger = BlsSignatureShare::new(n + 5, *shares[0].value()).unwrap();
        let errs = candela_bls::verify_shares(&public, msg, &[shares[0], stranger]);
        assert!(
            matches!(errs.as_slice(), [BlsError::UnknownNode { node }] if *node == n + 5),
            "{errs:?}"
        );
    }
}

#[test]
fn shares_signed_on_blst_equal_blsfuls_and_verify_both_ways() {
    let keys = keys(5);
    let public = keys[&0].public_set();
    for msg in [&b""[..], b"x", b"lit-accesscontrolcondition://a/b"] {
        for k in keys.values() {
            let fast = k.sign_share(msg).unwrap();
            assert_eq!(
                fast,
                candela_bls::sign::sign_share_reference(k, msg).unwrap()
            );
            public
                .verify_share(msg, &fast)
                .expect("valid share verifies");
            assert!(public.verify_share(b"other", &fast).is_err());
        }
    }
}

#[test]
fn combining_on_blst_equals_blsfuls_lagrange_interpolation() {
    for n in [3u32, 5, 7] {
        let keys = keys(n);
        let shares: Vec<BlsSignatureShare> =
            keys.values().map(|k| k.sign_share(b"m").unwrap()).collect();
        let t = threshold_for(n as usize);
        for start in 0..=(n as usize - t) {
            let part = &shares[start..start + t];
            assert_eq!(
                combine(part).unwrap(),
                candela_bls::sign::combine_reference(part).unwrap()
            );
        }
    }
}
