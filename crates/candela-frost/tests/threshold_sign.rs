//! Key generation and threshold signing for n = 3, 5, 7, 10 with
//! t = floor(2n/3)+1, both suites, verified by independent libraries.

use crate::common::{random_subset, threshold_for, ExternalVerify, Net};
use candela_frost::{Ed25519Sha512, Secp256K1Sha256TR, Tweak};

fn dkg_then_random_subset_signs_and_verifies<C: ExternalVerify>(msg: &[u8]) {
    for n in [3u32, 5, 7, 10] {
        let t = threshold_for(n);
        let mut net = Net::<C>::new(n, t, 2);
        // Every party ends with the same group key and confirmation digest.
        let digest = net.any_share().confirmation_digest().unwrap();
        for share in net.shares.values() {
            assert_eq!(share.confirmation_digest().unwrap(), digest);
            assert_eq!(share.group_key(), net.any_share().group_key());
            assert_eq!(
                share.public_key_package.verifying_shares().len(),
                n as usize
            );
        }
        for round in 0..2 {
            let signers = random_subset(n, t);
            let root = Tweak::<C>::root();
            let sig = net.sign(&signers, round, &root, msg).unwrap();
            assert_eq!(sig.len(), 64);
            assert!(
                C::verify(&net.public_key(&root), msg, &sig),
                "n={n} t={t} signers={signers:?}"
            );
        }
    }
}

#[test]
fn ed25519_dkg_and_random_t_subset_signature_verifies_with_ed25519_dalek() {
    dkg_then_random_subset_signs_and_verifies::<Ed25519Sha512>(b"a solana transaction message");
}

#[test]
fn taproot_dkg_and_random_t_subset_signature_verifies_with_k256_bip340() {
    dkg_then_random_subset_signs_and_verifies::<Secp256K1Sha256TR>(&[7u8; 32]);
}

#[test]
fn fewer_than_t_signers_are_refused_as_too_few() {
    let mut net = Net::<Ed25519Sha512>::new(5, 4, 2);
    let err = net.sign(&[0, 1, 2], 0, &Tweak::root(), b"m").unwrap_err();
    assert_eq!(
        err,
        candela_frost::FrostError::TooFewSigners { got: 3, need: 4 }
    );
    // The aggregator refuses too, whatever the signers did.
    let package = net.package(&[0, 1, 2, 3], 1, b"m").unwrap();
    let mut shares = net
        .shares_for(&[0, 1, 2, 3], 1, &Tweak::root(), &package)
        .unwrap();
    shares.remove(&3);
    let public = net.any_share().public_key_package.clone();
    let err = candela_frost::aggregate(&package, &shares, &public).unwrap_err();
    assert_eq!(
        err,
        candela_frost::FrostError::TooFewSigners { got: 3, need: 4 }
    );
}
