//! In-process multi-party tests of DKG, presigning, signing and share
//! verification for the network sizes Candela supports.
use std::collections::BTreeMap;

use candela_crypto::derive::{derive_public_key, pkp_tweak};
use candela_crypto::ecdsa::{combine, signature_share, verify_share};
use candela_crypto::session::{CaitSith, KeyShare, Presignature};
use candela_crypto::{sim, threshold_for, CryptoError, NodeIndex, ProjectivePoint, Scalar};
use k256::elliptic_curve::Field;
use rand_core::{OsRng, RngCore};

fn setup(
    n: u32,
    batch: usize,
) -> (
    BTreeMap<NodeIndex, KeyShare>,
    BTreeMap<NodeIndex, Vec<Presignature>>,
) {
    let t = threshold_for(n as usize);
    let keys = sim::keygen::<CaitSith>(n, t).expect("dkg");
    let all: Vec<NodeIndex> = (0..n).collect();
    let presigs = sim::presign::<CaitSith>(&keys, &all, batch).expect("presign");
    (keys, presigs)
}

fn sign_with(
    presigs: &BTreeMap<NodeIndex, Vec<Presignature>>,
    which: usize,
    signers: &[NodeIndex],
    key_id: &[u8],
    root: &k256::AffinePoint,
    digest: &[u8; 32],
) -> Result<candela_crypto::ecdsa::Signature, CryptoError> {
    let tweak = pkp_tweak(key_id)?;
    let pk = derive_public_key(root, key_id)?;
    let mut shares = Vec::new();
    for &i in signers {
        let p = &presigs[&i][which];
        let s = signature_share(p, i, signers, &tweak, digest)?;
        // every share checks out against the commitments another node holds
        let holder = signers.iter().find(|&&j| j != i).copied().unwrap_or(i);
        let cm = presigs[&holder][which].commitments[&i];
        verify_share(i, &s, &cm, &p.big_r, signers, &tweak, digest)?;
        shares.push(s);
    }
    combine(&shares, &presigs[&signers[0]][which].big_r, &pk, digest)
}

fn full_round(n: u32) {
    let t = threshold_for(n as usize);
    let (keys, presigs) = setup(n, 1);
    // DKG: every node agrees on the key, and no single share is the key.
    let root = keys[&0].public_key;
    for k in keys.values() {
        assert_eq!(k.public_key, root);
        assert_ne!((ProjectivePoint::GENERATOR * k.secret).to_affine(), root);
        assert_eq!(k.public_shares.len(), n as usize);
    }
    // Sign with the last t nodes (not the first: any t of the makers work).
    let signers: Vec<NodeIndex> = (n - t as u32..n).collect();
    let mut digest = [0u8; 32];
    OsRng.fill_bytes(&mut digest);
    let sig = sign_with(&presigs, 0, &signers, b"pkp-1", &root, &digest).expect("sign");
    let pk = derive_public_key(&root, b"pkp-1").unwrap();
    sig.verify(&pk, &digest)
        .expect("verifies with k256 and recovers");
}

#[test]
fn dkg_presign_sign_verify_n3() {
    full_round(3);
}

#[test]
fn dkg_presign_sign_verify_n5() {
    full_round(5);
}

#[test]
fn dkg_presign_sign_verify_n7() {
    full_round(7);
}

#[test]
fn dkg_presign_sign_verify_n10() {
    full_round(10);
}

#[test]
fn any_t_subset_of_the_makers_completes_a_presignature() {
    let (keys, presigs) = setup(5, 5);
    let root = keys[&0].public_key;
    let subsets: [[NodeIndex; 4]; 5] = [
        [0, 1, 2, 3],
        [0, 1, 2, 4],
        [0, 1, 3, 4],
        [0, 2, 3, 4],
        [1, 2, 3, 4],
    ];
    for (which, set) in subsets.iter().enumerate() {
        let digest = [which as u8 + 1; 32];
        sign_with(&presigs, which, set, b"k", &root, &digest).expect("every 4-of-5 subset signs");
    }
}

#[test]
fn batch_presignatures_have_distinct_nonces() {
    let (_, presigs) = setup(3, 4);
    let rs: std::collections::BTreeSet<Vec<u8>> = presigs[&0]
        .iter()
        .map(|p| candela_crypto::derive::point_to_bytes(&p.big_r, true))
        .collect();
    assert_eq!(rs.len(), 4);
    // every node agrees on each R
    for i in 1..3 {
        for (a, b) in presigs[&0].iter().zip(&presigs[&i]) {
            assert_eq!(a.big_r, b.big_r);
        }
    }
}

#[test]
fn a_bad_share_is_attributed_to_its_node() {
    for n in [3u32, 5, 7, 10] {
        let t = threshold_for(n as usize);
        let (keys, presigs) = setup(n, 1);
        let _ = keys;
        let signers: Vec<NodeIndex> = (0..t as u32).collect();
        let tweak = pkp_tweak(b"x").unwrap();
        let digest = [9u8; 32];
        let liar = signers[t - 1];
        let p = &presigs[&liar][0];
        let good = signature_share(p, liar, &signers, &tweak, &digest).unwrap();
        let bad = good + Scalar::random(&mut OsRng);
        let cm = presigs[&0][0].commitments[&liar];
        assert_eq!(
            verify_share(liar, &bad, &cm, &p.big_r, &signers, &tweak, &digest),
            Err(CryptoError::InvalidShare { culprit: liar })
        );
        // a share for another message is also caught
        let other = signature_share(p, liar, &signers, &tweak, &[8u8; 32]).unwrap();
        assert!(verify_share(liar, &other, &cm, &p.big_r, &signers, &tweak, &digest).is_err());
        assert!(verify_share(liar, &good, &cm, &p.big_r, &signers, &tweak, &digest).is_ok());
    }
}

#[test]
fn combine_refuses_a_set_missing_one_share() {
    let (keys, presigs) = setup(5, 1);
    let root = keys[&0].public_key;
    let signers: Vec<NodeIndex> = vec![0, 1, 2, 3];
    let tweak = pkp_tweak(b"k").unwrap();
    let digest = [1u8; 32];
    let shares: Vec<Scalar> = signers[..3]
        .iter()
        .map(|&i| signature_share(&presigs[&i][0], i, &signers, &tweak, &digest).unwrap())
        .collect();
    let pk = derive_public_key(&root, b"k").unwrap();
    assert_eq!(
        combine(&shares, &presigs[&0][0].big_r, &pk, &digest),
        Err(CryptoError::SignatureDoesNotVerify)
    );
}

#[test]
fn signing_set_of_wrong_size_is_refused() {
    let (_, presigs) = setup(3, 1);
    let tweak = pkp_tweak(b"k").unwrap();
    assert!(matches!(
        signature_share(&presigs[&0][0], 0, &[0, 1], &tweak, &[0u8; 32]),
        Err(CryptoError::BadParameters(_))
    ));
}

#[test]
fn key_share_and_presignature_round_trip_through_bytes() {
    let (keys, presigs) = setup(3, 1);
    let k = &keys[&1];
    assert_eq!(&KeyShare::from_bytes(&k.to_bytes()).unwrap(), k);
    let p = &presigs[&2][0];
    assert_eq!(&Presignature::from_bytes(&p.to_bytes()).unwrap(), p);
    assert!(KeyShare::from_bytes(b"garbage").is_err());
}

#[test]
fn a_malformed_presign_commitment_names_its_node() {
    forged_commitment_test(true)
}

#[test]
fn a_forged_presign_commitment_names_its_node() {
    forged_commitment_test(false)
}

fn forged_commitment_test(malformed: bool) {
    use candela_crypto::session::{EcdsaBackend, Outgoing, Step};
    // Run a 3-node presign where node 2 rewrites its final broadcast.
    let keys = sim::keygen::<CaitSith>(4, 3).unwrap();
    let parts: Vec<NodeIndex> = vec![0, 1, 2, 3];
    let mut sessions: Vec<_> = parts
        .iter()
        .map(|&i| (i, CaitSith::presign_batch(&parts, i, &keys[&i], 1).unwrap()))
        .collect();
    let mut done = BTreeMap::new();
    let mut errors = Vec::new();
    let mut queue = std::collections::VecDeque::new();
    for _ in 0..10_000 {
        for (me, s) in sessions.iter_mut() {
            if done.contains_key(me) {
                continue;
            }
            loop {
                match s.poke() {
                    Ok(Step::Wait) => break,
                    Ok(Step::Send(Outgoing::Broadcast(mut m))) => {
                        if *me == 3 && m[..4] == u32::MAX.to_be_bytes() {
                            // replace node 3's sigma commitment by a valid but wrong point
                            type Items = (Vec<(Vec<u8>, Vec<u8>, Vec<u8>)>,);
                            let mut items: Items = rmp_serde::from_slice(&m[4..]).unwrap();
                            items.0[0].2 = candela_crypto::derive::point_to_bytes(
                                &ProjectivePoint::GENERATOR.to_affine(),
                                true,
                            );
                            m.truncate(4);
                            if malformed {
                                m.extend_from_slice(b"not msgpack at all");
                            } else {
                                m.extend(rmp_serde::to_vec(&items).unwrap());
                            }
                        }
                        for &to in &parts {
                            if to != *me {
                                queue.push_back((*me, to, m.clone()));
                            }
                        }
                    }
                    Ok(Step::Send(Outgoing::Private(to, m))) => queue.push_back((*me, to, m)),
                    Ok(Step::Done(v)) => {
                        done.insert(*me, v);
                        break;
                    }
                    Err(e) => {
                        errors.push((*me, e));
                        done.insert(*me, Vec::new());
                        break;
                    }
                }
            }
        }
        while let Some((from, to, m)) = queue.pop_front() {
            sessions
                .iter_mut()
                .find(|(i, _)| *i == to)
                .unwrap()
                .1
                .receive(from, m);
        }
        if done.len() == parts.len() {
            break;
        }
    }
    assert!(!errors.is_empty(), "tampering must be detected");
    for (_, e) in errors {
        assert_eq!(e.culprit(), Some(3), "{e}");
    }
}
