//! Key shares survive serialization (the node seals the bytes) and still
//! sign.

use crate::common::{ExternalVerify, Net};
use candela_frost::{Ed25519Sha512, FrostKeyShare, Secp256K1Sha256TR, Tweak};

fn round_trip_shares_still_sign<C: ExternalVerify>(msg: &[u8]) {
    let mut net = Net::<C>::new(5, 4, 1);
    for (p, share) in net.shares.iter_mut() {
        let json = serde_json::to_string(&*share).unwrap();
        let from_json: FrostKeyShare<C> = serde_json::from_str(&json).unwrap();
        assert_eq!(&from_json, share);
        let packed = rmp_serde::to_vec(&from_json).unwrap();
        let back: FrostKeyShare<C> = rmp_serde::from_slice(&packed).unwrap();
        assert_eq!(&back, share);
        assert_eq!(back.me, *p);
        assert_eq!(
            back.confirmation_digest().unwrap(),
            share.confirmation_digest().unwrap()
        );
        *share = back;
    }
    let tweak = Tweak::<C>::pkp(b"k").unwrap();
    let sig = net.sign(&[0, 1, 3, 4], 0, &tweak, msg).unwrap();
    assert!(C::verify(&net.public_key(&tweak), msg, &sig));
}

#[test]
fn ed25519_key_share_serde_round_trip_still_signs() {
    round_trip_shares_still_sign::<Ed25519Sha512>(b"m");
}

#[test]
fn taproot_key_share_serde_round_trip_still_signs() {
    round_trip_shares_still_sign::<Secp256K1Sha256TR>(&[3; 32]);
}

#[test]
fn a_key_share_of_one_suite_does_not_load_as_the_other() {
    let net = Net::<Ed25519Sha512>::new(3, 2, 0);
    let bytes = rmp_serde::to_vec(net.any_share()).unwrap();
    assert!(rmp_serde::from_slice::<FrostKeyShare<Secp256K1Sha256TR>>(&bytes).is_err());
}
