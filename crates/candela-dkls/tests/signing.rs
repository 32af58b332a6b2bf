//! Key generation and signing among all parties in process, for n = 3, 5,
//! 7 and 10 with t = floor(2n/3) + 1: a random signing set signs for the
//! root key and for a PKP key, and plain k256 verifies both.

use std::time::Instant;

use crate::common::{k256_verifies, keygen, random_digest, random_signers, threshold};
use candela_crypto::derive::{derive_public_key, pkp_tweak};
use candela_dkls::sim;
use k256::Scalar;

fn keygen_then_sign_root_and_pkp(n: u32) {
    let t = threshold(n as usize);
    let start = Instant::now();
    let shares = keygen(n, format!("signing-test-{n}").as_bytes());
    eprintln!("n = {n}: key generation {:?}", start.elapsed());
    let root = shares[&0].public_key();
    assert!(shares.values().all(|s| s.public_key() == root));

    // Root key (tweak 0), then a PKP key derived by candela-crypto.
    let key_id = format!("pkp-for-n{n}").into_bytes();
    let tweak = pkp_tweak(&key_id).expect("tweak");
    let pkp = derive_public_key(&root, &key_id).expect("PKP key");
    for (tweak, key) in [(Scalar::ZERO, root), (tweak, pkp)] {
        let signers = random_signers(n, t);
        let digest = random_digest();
        let start = Instant::now();
        let (out, wire) = sim::sign(&shares, &signers, tweak, digest, b"req-1", None)
            .expect("signing sessions start");
        eprintln!(
            "n = {n}, signers {signers:?}: signing {:?}, {} messages, {} bytes",
            start.elapsed(),
            wire.messages,
            wire.bytes
        );
        assert_eq!(out.len(), t);
        let sigs: Vec<_> = out
            .into_iter()
            .map(|(i, r)| r.unwrap_or_else(|e| panic!("node {i} failed: {e}")))
            .collect();
        for s in &sigs {
            assert_eq!(s, &sigs[0], "every signer ends with the same signature");
            assert_eq!(s.public_key, key);
            assert!(k256_verifies(&key, &digest, s), "plain k256 verifies");
        }
    }
}

#[test]
fn three_of_three_sign_for_root_and_pkp_keys_and_plain_k256_verifies() {
    keygen_then_sign_root_and_pkp(3);
}

#[test]
fn four_of_five_random_signers_sign_for_root_and_pkp_keys_and_plain_k256_verifies() {
    keygen_then_sign_root_and_pkp(5);
}

#[test]
fn five_of_seven_random_signers_sign_for_root_and_pkp_keys_and_plain_k256_verifies() {
    keygen_then_sign_root_and_pkp(7);
}

#[test]
#[ignore = "key generation for 10 nodes takes over a minute in a debug build"]
fn seven_of_ten_random_signers_sign_for_root_and_pkp_keys_and_plain_k256_verifies() {
    keygen_then_sign_root_and_pkp(10);
}
