//! Commitment pools: single use, persistence, and key independence.

use crate::common::{ExternalVerify, Net};
use candela_frost::{
    sign_share, CommitmentPool, Ed25519Sha512, FrostError, Secp256K1Sha256TR, Tweak,
};
use rand_core::OsRng;

#[test]
fn a_commitment_id_is_never_usable_twice() {
    let net = Net::<Ed25519Sha512>::new(3, 3, 0);
    let mut pool = CommitmentPool::new();
    let public = pool.refill(net.any_share(), 3, &mut OsRng);
    assert_eq!(public.iter().map(|c| c.id).collect::<Vec<_>>(), [0, 1, 2]);
    assert!(pool.take(1).is_ok());
    assert_eq!(pool.take(1), Err(FrostError::CommitmentUsed { id: 1 }));
    assert_eq!(pool.mark_used(1), Err(FrostError::CommitmentUsed { id: 1 }));
    assert!(pool.is_used(1));
    assert!(!pool.is_used(0));
    assert_eq!(pool.take(9), Err(FrostError::UnknownCommitment { id: 9 }));
    // Refilling continues the ids: a used id is never handed out again.
    let more = pool.refill(net.any_share(), 2, &mut OsRng);
    assert_eq!(more.iter().map(|c| c.id).collect::<Vec<_>>(), [3, 4]);
    assert_eq!(pool.take(1), Err(FrostError::CommitmentUsed { id: 1 }));
    assert_eq!(pool.len(), 4);
}

#[test]
fn a_persisted_pool_still_refuses_its_used_ids() {
    let net = Net::<Secp256K1Sha256TR>::new(3, 2, 0);
    let mut pool = CommitmentPool::new();
    let public = pool.refill(net.any_share(), 2, &mut OsRng);
    pool.take(0).unwrap();
    let stored = rmp_serde::to_vec(&pool).unwrap();
    let mut back: CommitmentPool<Secp256K1Sha256TR> = rmp_serde::from_slice(&stored).unwrap();
    assert_eq!(back.take(0), Err(FrostError::CommitmentUsed { id: 0 }));
    assert_eq!(back.commitments(1), Some(public[1].commitments));
    assert!(back.take(1).is_ok());
}

#[test]
fn signing_twice_over_one_commitment_is_refused() {
    // Nonces taken once cannot be had again, so the second signing over
    // the same commitment cannot even start.
    let mut net = Net::<Ed25519Sha512>::new(3, 2, 1);
    let sig = net.sign(&[0, 1], 0, &Tweak::root(), b"first").unwrap();
    assert_eq!(sig.len(), 64);
    let err = net.sign(&[0, 1], 0, &Tweak::root(), b"second").unwrap_err();
    assert_eq!(err, FrostError::CommitmentUsed { id: 0 });
}

fn commitment_made_before_key_and_message_signs_for_a_tweaked_key<C: ExternalVerify>(msg: &[u8]) {
    let n = 5;
    let mut net = Net::<C>::new(n, 4, 1);
    // Only now choose the PKP and the message.
    let tweak = Tweak::<C>::pkp(b"chosen after the commitments").unwrap();
    let signers = [0, 2, 3, 4];
    let package = net.package(&signers, 0, msg).unwrap();
    let mut shares = std::collections::BTreeMap::new();
    for p in signers {
        let id = net.published[&p][0].id;
        let nonces = net.pools.get_mut(&p).unwrap().take(id).unwrap();
        shares.insert(
            p,
            sign_share(&net.shares[&p], &tweak, &nonces, &package).unwrap(),
        );
    }
    let public = tweak.public_key_package(&net.any_share().public_key_package);
    let sig = candela_frost::aggregate(&package, &shares, &public).unwrap();
    assert!(C::verify(&net.public_key(&tweak), msg, &sig));
}

#[test]
fn ed25519_commitment_made_against_the_root_share_signs_for_a_later_pkp() {
    commitment_made_before_key_and_message_signs_for_a_tweaked_key::<Ed25519Sha512>(b"later");
}

#[test]
fn taproot_commitment_made_against_the_root_share_signs_for_a_later_pkp() {
    commitment_made_before_key_and_message_signs_for_a_tweaked_key::<Secp256K1Sha256TR>(&[9; 32]);
}
