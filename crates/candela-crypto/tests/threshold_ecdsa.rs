//! In-process multi-party tests of DKG, presigning, signing and share
//! verification for the network sizes Candela supports.
use std::collections::BTreeMap;

use candela_crypto::derive::{derive_public_key, pkp_tweak};
use candela_crypto::ecdsa::{combine, signature_share, verify_share, x_coordinate, SigningContext};
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
    let big_r = presigs[&signers[0]][which].big_r;
    let ctx = context(&big_r, root, &tweak, digest, signers);
    let rr = ctx.rerandomize()?;
    let mut shares = Vec::new();
    for &i in signers {
        let p = &presigs[&i][which];
        let (s, nonce) = signature_share(p, i, &ctx)?;
        assert_eq!(nonce, rr.big_r, "every signer computes the same R'");
        // every share checks out against the commitments another node holds
        let holder = signers.iter().find(|&&j| j != i).copied().unwrap_or(i);
        let cm = presigs[&holder][which].commitments[&i];
        verify_share(i, &s, &cm, &ctx, &rr)?;
        shares.push(s);
    }
    combine(&shares, &rr.big_r, &pk, digest)
}

/// A signing context with a fixed presignature id and request id.
fn context<'a>(
    big_r: &'a k256::AffinePoint,
    root: &'a k256::AffinePoint,
    tweak: &'a Scalar,
    digest: &'a [u8; 32],
    signers: &'a [NodeIndex],
) -> SigningContext<'a> {
    SigningContext {
        big_r,
        root,
        tweak,
        digest,
        presignature_id: "presign-0-1-0-0",
        signers,
        request_id: "request-1",
    }
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
        let root = keys[&0].public_key;
        let signers: Vec<NodeIndex> = (0..t as u32).collect();
        let tweak = pkp_tweak(b"x").unwrap();
        let digest = [9u8; 32];
        let liar = signers[t - 1];
        let p = &presigs[&liar][0];
        let ctx = context(&p.big_r, &root, &tweak, &digest, &signers);
        let rr = ctx.rerandomize().unwrap();
        let (good, _) = signature_share(p, liar, &ctx).unwrap();
        let bad = good + Scalar::random(&mut OsRng);
        let cm = presigs[&0][0].commitments[&liar];
        assert_eq!(
            verify_share(liar, &bad, &cm, &ctx, &rr),
            Err(CryptoError::InvalidShare { culprit: liar })
        );
        // a share for another message is also caught
        let other_digest = [8u8; 32];
        let other_ctx = context(&p.big_r, &root, &tweak, &other_digest, &signers);
        let (other, _) = signature_share(p, liar, &other_ctx).unwrap();
        assert!(verify_share(liar, &other, &cm, &ctx, &rr).is_err());
        assert!(verify_share(liar, &good, &cm, &ctx, &rr).is_ok());
    }
}

#[test]
fn combine_refuses_a_set_missing_one_share() {
    let (keys, presigs) = setup(5, 1);
    let root = keys[&0].public_key;
    let signers: Vec<NodeIndex> = vec![0, 1, 2, 3];
    let tweak = pkp_tweak(b"k").unwrap();
    let digest = [1u8; 32];
    let ctx = context(&presigs[&0][0].big_r, &root, &tweak, &digest, &signers);
    let shares: Vec<Scalar> = signers[..3]
        .iter()
        .map(|&i| signature_share(&presigs[&i][0], i, &ctx).unwrap().0)
        .collect();
    let pk = derive_public_key(&root, b"k").unwrap();
    let rr = ctx.rerandomize().unwrap();
    assert_eq!(
        combine(&shares, &rr.big_r, &pk, &digest),
        Err(CryptoError::SignatureDoesNotVerify)
    );
}

#[test]
fn signing_set_of_wrong_size_is_refused() {
    let (keys, presigs) = setup(3, 1);
    let tweak = pkp_tweak(b"k").unwrap();
    let ctx = context(
        &presigs[&0][0].big_r,
        &keys[&0].public_key,
        &tweak,
        &[0u8; 32],
        &[0, 1],
    );
    assert!(matches!(
        signature_share(&presigs[&0][0], 0, &ctx),
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

/// Groth–Shoup (Eurocrypt 2022) in one process: the owner of PKP A knows R
/// before choosing its digest and picks `m_A = m_B + r·(δ_B − δ_A)`. Without
/// rerandomization (the control: shares computed as before) the sum of A's
/// shares IS a signature by PKP B on `m_B`; with it, it never is, whatever
/// nonce the attacker combines with.
#[test]
#[allow(clippy::needless_range_loop)] // `which` names the presignature in every node's pool
fn a_signature_for_one_pkp_never_verifies_for_another_pkp_on_a_related_digest() {
    for n in [4u32, 5, 7] {
        let t = threshold_for(n as usize);
        let (keys, presigs) = setup(n, 3);
        let root = keys[&0].public_key;
        let signers: Vec<NodeIndex> = (0..t as u32).collect();
        for which in 0..3 {
            let key_a = format!("pkp-a-{which}");
            let key_b = format!("pkp-b-{which}");
            let (delta_a, delta_b) = (
                pkp_tweak(key_a.as_bytes()).unwrap(),
                pkp_tweak(key_b.as_bytes()).unwrap(),
            );
            let pk_b = derive_public_key(&root, key_b.as_bytes()).unwrap();
            let mut m_b_bytes = [0u8; 32];
            OsRng.fill_bytes(&mut m_b_bytes);
            let m_b = candela_crypto::derive::scalar_from_digest(&m_b_bytes);
            let big_r = presigs[&0][which].big_r;
            let r = x_coordinate(&big_r);
            let m_a = m_b + r * (delta_b - delta_a);
            let m_a_bytes = candela_crypto::derive::scalar_to_bytes(&m_a);

            // Control: the old share formula lets the forgery through.
            let plain: Vec<Scalar> = signers
                .iter()
                .map(|&i| {
                    let p = &presigs[&i][which];
                    let lambda = candela_crypto::lagrange::coefficient(&signers, i).unwrap();
                    lambda * ((m_a + r * delta_a) * p.k + r * p.sigma)
                })
                .collect();
            assert!(
                combine(&plain, &big_r, &pk_b, &m_b_bytes).is_ok(),
                "control: without rerandomization the related-digest forgery works"
            );

            // Rerandomized: A's shares on m_A are worthless for B.
            let ctx = context(&big_r, &root, &delta_a, &m_a_bytes, &signers);
            let rr = ctx.rerandomize().unwrap();
            let shares: Vec<Scalar> = signers
                .iter()
                .map(|&i| signature_share(&presigs[&i][which], i, &ctx).unwrap().0)
                .collect();
            let pk_a = derive_public_key(&root, key_a.as_bytes()).unwrap();
            assert!(combine(&shares, &rr.big_r, &pk_a, &m_a_bytes).is_ok());
            for nonce in [rr.big_r, big_r] {
                assert_eq!(
                    combine(&shares, &nonce, &pk_b, &m_b_bytes),
                    Err(CryptoError::SignatureDoesNotVerify),
                    "n = {n}: a signature for PKP A verified for PKP B"
                );
            }
        }
    }
}

#[test]
fn the_rerandomizer_changes_with_every_input_it_binds() {
    let (keys, presigs) = setup(4, 2);
    let root = keys[&0].public_key;
    let other_root = keys[&1].public_shares[&1];
    let r0 = presigs[&0][0].big_r;
    let r1 = presigs[&0][1].big_r;
    let t0 = pkp_tweak(b"a").unwrap();
    let t1 = pkp_tweak(b"b").unwrap();
    let (d0, d1) = ([1u8; 32], [2u8; 32]);
    let (s0, s1): (Vec<NodeIndex>, Vec<NodeIndex>) = (vec![0, 1, 2], vec![1, 2, 3]);
    let base = context(&r0, &root, &t0, &d0, &s0);
    let rho = |c: &SigningContext<'_>| c.rerandomize().unwrap().rho;
    let variants = [
        SigningContext { big_r: &r1, ..base },
        SigningContext {
            root: &other_root,
            ..base
        },
        SigningContext { tweak: &t1, ..base },
        SigningContext {
            digest: &d1,
            ..base
        },
        SigningContext {
            presignature_id: "presign-0-1-0-1",
            ..base
        },
        SigningContext {
            signers: &s1,
            ..base
        },
        SigningContext {
            request_id: "request-2",
            ..base
        },
    ];
    let mut seen = std::collections::BTreeSet::new();
    seen.insert(candela_crypto::derive::scalar_to_bytes(&rho(&base)));
    for v in &variants {
        assert!(
            seen.insert(candela_crypto::derive::scalar_to_bytes(&rho(v))),
            "two contexts gave one rerandomizer: {v:?}"
        );
    }
    // and it is a pure function of its inputs: every node computes the same
    assert_eq!(rho(&base), rho(&context(&r0, &root, &t0, &d0, &s0)));
}

#[test]
fn a_share_made_for_another_context_is_named_by_the_rerandomized_check() {
    let (keys, presigs) = setup(5, 1);
    let root = keys[&0].public_key;
    let signers: Vec<NodeIndex> = vec![0, 1, 2, 3];
    let tweak = pkp_tweak(b"k").unwrap();
    let digest = [3u8; 32];
    let p = &presigs[&2][0];
    let ctx = context(&p.big_r, &root, &tweak, &digest, &signers);
    let rr = ctx.rerandomize().unwrap();
    let cm = presigs[&0][0].commitments[&2];
    // same presignature, digest and signers, but another request id
    let other = SigningContext {
        request_id: "request-other",
        ..ctx
    };
    let (share, _) = signature_share(p, 2, &other).unwrap();
    assert_eq!(
        verify_share(2, &share, &cm, &ctx, &rr),
        Err(CryptoError::InvalidShare { culprit: 2 })
    );
    // a context naming another presignature's nonce is refused outright
    let wrong_r = (ProjectivePoint::GENERATOR * Scalar::from(7u64)).to_affine();
    let wrong = SigningContext {
        big_r: &wrong_r,
        ..ctx
    };
    assert!(matches!(
        signature_share(p, 2, &wrong),
        Err(CryptoError::BadParameters(_))
    ));
}
