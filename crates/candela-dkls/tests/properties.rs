//! Properties of signing beyond the happy path, on one 3-of-4 key
//! (generated once, see `crate::common::cached_keygen`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use crate::common::{cached_keygen, k256_verifies, random_digest};
use candela_crypto::derive::{derive_public_key, pkp_tweak};
use candela_dkls::{
    sim, DklsError, DklsKeyShare, DklsSign, ExclusionList, NodeIndex, SessionId, SignRequest,
};
use k256::Scalar;

fn shares() -> &'static BTreeMap<NodeIndex, DklsKeyShare> {
    static SHARES: OnceLock<BTreeMap<NodeIndex, DklsKeyShare>> = OnceLock::new();
    SHARES.get_or_init(|| cached_keygen(&[0, 1, 2, 3], 3, "properties-3-of-4"))
}

fn sign_ok(
    shares: &BTreeMap<NodeIndex, DklsKeyShare>,
    signers: &[NodeIndex],
    tweak: Scalar,
    digest: [u8; 32],
) -> candela_dkls::DklsSignature {
    let (out, _) = sim::sign(shares, signers, tweak, digest, b"req", None).expect("starts");
    let mut sigs = out.into_values().map(|r| r.expect("signer succeeds"));
    sigs.next().expect("one signature")
}

#[test]
fn a_signature_for_pkp_a_never_verifies_for_pkp_b_or_the_root() {
    let shares = shares();
    let root = shares[&0].public_key();
    let (a, b) = (b"pkp-a".as_slice(), b"pkp-b".as_slice());
    let pk_a = derive_public_key(&root, a).expect("key A");
    let pk_b = derive_public_key(&root, b).expect("key B");
    let digest = random_digest();
    let sig = sign_ok(shares, &[0, 1, 3], pkp_tweak(a).expect("tweak"), digest);
    assert!(k256_verifies(&pk_a, &digest, &sig));
    assert!(!k256_verifies(&pk_b, &digest, &sig));
    assert!(!k256_verifies(&root, &digest, &sig));
}

#[test]
fn signer_sets_not_of_threshold_size_or_without_this_node_are_refused() {
    let shares = shares();
    let share = &shares[&0];
    assert_eq!(share.threshold(), 3);
    let digest = random_digest();
    let refused = |signers: &[NodeIndex]| {
        let request = SignRequest {
            signers,
            tweak: Scalar::ZERO,
            digest,
            request_id: b"r",
        };
        let mut seen = BTreeSet::new();
        DklsSign::new(share, &request, &ExclusionList::new(), &mut seen).err()
    };
    for signers in [
        &[0u32, 1][..],
        &[0],
        &[0, 1, 2, 3],
        &[0, 1, 1],
        &[1, 2, 3],
        &[0, 1, 9],
    ] {
        assert!(
            matches!(refused(signers), Some(DklsError::BadParameters(_))),
            "{signers:?} must be refused"
        );
    }
    assert!(
        refused(&[0, 2, 3]).is_none(),
        "a set of exactly t is accepted"
    );
}

#[test]
fn a_session_id_seen_before_is_refused_and_a_new_request_id_is_not() {
    let shares = shares();
    let share = &shares[&1];
    let digest = random_digest();
    let mut seen = BTreeSet::new();
    let request = |id: &'static [u8]| SignRequest {
        signers: &[0, 1, 2],
        tweak: Scalar::from(9u64),
        digest,
        request_id: id,
    };
    let first = DklsSign::new(share, &request(b"one"), &ExclusionList::new(), &mut seen)
        .expect("first use is accepted");
    assert_eq!(
        first.session_id(),
        SessionId::derive(
            &share.public_key(),
            &Scalar::from(9u64),
            &digest,
            &[2, 1, 0],
            b"one"
        )
    );
    let again = DklsSign::new(share, &request(b"one"), &ExclusionList::new(), &mut seen);
    assert!(matches!(again, Err(DklsError::SessionIdReused(_))));
    assert!(DklsSign::new(share, &request(b"two"), &ExclusionList::new(), &mut seen).is_ok());
    // A refused request leaves no trace in the seen-set.
    let mut excluded = ExclusionList::new();
    excluded.exclude(2, "test");
    let mut fresh = BTreeSet::new();
    assert!(matches!(
        DklsSign::new(share, &request(b"three"), &excluded, &mut fresh),
        Err(DklsError::Excluded(2))
    ));
    assert!(fresh.is_empty());
}

#[test]
fn a_key_share_round_trips_through_bytes_and_the_copies_still_sign() {
    let shares = shares();
    let mut copies = BTreeMap::new();
    for (&i, share) in shares {
        let bytes = share.to_bytes().expect("serializes");
        let back = DklsKeyShare::from_bytes(&bytes).expect("parses");
        assert_eq!(back.to_bytes().expect("serializes"), bytes);
        assert_eq!(back.public_key(), share.public_key());
        assert_eq!(back.participants(), share.participants());
        assert_eq!(back.public_shares(), share.public_shares());
        copies.insert(i, back);
    }
    let bytes = shares[&0].to_bytes().expect("serializes");
    eprintln!("key share of 1 node in 4: {} bytes", bytes.len());
    // Truncated or altered bytes are refused, not misread.
    assert!(DklsKeyShare::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    let digest = random_digest();
    let root = shares[&0].public_key();
    let sig = sign_ok(&copies, &[1, 2, 3], Scalar::ZERO, digest);
    assert!(k256_verifies(&root, &digest, &sig));
}

#[test]
fn different_signing_sets_of_one_key_sign_the_same_digest_under_one_key() {
    let shares = shares();
    let root = shares[&0].public_key();
    let digest = random_digest();
    for signers in [[0u32, 1, 2], [1, 2, 3], [0, 2, 3]] {
        let sig = sign_ok(shares, &signers, Scalar::ZERO, digest);
        assert!(k256_verifies(&root, &digest, &sig), "{signers:?}");
    }
}
