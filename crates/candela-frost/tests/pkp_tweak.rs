//! PKP and action keys derived by an additive tweak sign with commitments
//! made against the root share before the key or message was chosen.

use crate::common::{random_subset, threshold_for, ExternalVerify, Net};
use candela_frost::address::{p2tr_address, solana_address, BitcoinNetwork};
use candela_frost::{
    action_key_tweak, pkp_tweak, AnyTweak, Ed25519Sha512, FrostError, Secp256K1Sha256TR,
    SigningScheme, Suite, Tweak,
};

fn pkp_signature_verifies_only_under_its_own_key<C: ExternalVerify>(msg: &[u8]) {
    let n = 7;
    let t = threshold_for(n);
    // Commitments are made now, before any PKP or message exists.
    let mut net = Net::<C>::new(n, t, 3);
    let pkp_a = Tweak::<C>::pkp(b"pkp key id A").unwrap();
    let pkp_b = Tweak::<C>::pkp(b"pkp key id B").unwrap();
    let (pk_root, pk_a, pk_b) = (
        net.public_key(&Tweak::root()),
        net.public_key(&pkp_a),
        net.public_key(&pkp_b),
    );
    assert_ne!(pk_a, pk_root);
    assert_ne!(pk_a, pk_b);

    let sig = net.sign(&random_subset(n, t), 0, &pkp_a, msg).unwrap();
    assert!(C::verify(&pk_a, msg, &sig), "PKP signature verifies");
    assert!(!C::verify(&pk_root, msg, &sig), "not under the root key");
    assert!(!C::verify(&pk_b, msg, &sig), "not under another PKP");

    // A different signing set, fresh commitments, the other PKP.
    let sig_b = net.sign(&random_subset(n, t), 1, &pkp_b, msg).unwrap();
    assert!(C::verify(&pk_b, msg, &sig_b));
    assert!(!C::verify(&pk_a, msg, &sig_b));

    // The action identity key signs the same way.
    let action = Tweak::<C>::action("QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG").unwrap();
    let pk_action = net.public_key(&action);
    let sig_act = net.sign(&random_subset(n, t), 2, &action, msg).unwrap();
    assert!(C::verify(&pk_action, msg, &sig_act));
    assert!(!C::verify(&pk_root, msg, &sig_act));
}

#[test]
fn ed25519_pkp_signature_verifies_under_pkp_key_and_not_root_or_other_pkp() {
    pkp_signature_verifies_only_under_its_own_key::<Ed25519Sha512>(b"solana message");
}

#[test]
fn taproot_pkp_signature_verifies_under_pkp_key_and_not_root_or_other_pkp() {
    pkp_signature_verifies_only_under_its_own_key::<Secp256K1Sha256TR>(&[0x42; 32]);
}

#[test]
fn the_same_key_id_derives_the_same_key_on_every_node() {
    let net = Net::<Ed25519Sha512>::new(5, 4, 0);
    let tweak = Tweak::pkp(b"id").unwrap();
    let keys: Vec<_> = net
        .shares
        .values()
        .map(|s| tweak.public_key_bytes(&s.public_key_package).unwrap())
        .collect();
    assert!(keys.windows(2).all(|w| w[0] == w[1]));
    // And every node's tweaked key package agrees with the public package.
    for s in net.shares.values() {
        let kp = tweak.key_package(s);
        let public = tweak.public_key_package(&s.public_key_package);
        assert_eq!(kp.verifying_key(), public.verifying_key());
        assert_eq!(
            Some(kp.verifying_share()),
            public.verifying_shares().get(kp.identifier())
        );
    }
}

#[test]
fn pkp_and_action_domains_are_separate_per_suite_and_purpose() {
    let id = candela_frost::action_key_id("QmCid");
    let pkp = Tweak::<Ed25519Sha512>::pkp(&id).unwrap();
    let action = Tweak::<Ed25519Sha512>::action("QmCid").unwrap();
    assert_ne!(
        pkp, action,
        "a PKP whose key id equals the action id is another key"
    );
    assert_ne!(
        Tweak::<Ed25519Sha512>::pkp(b"x").unwrap().to_bytes(),
        Tweak::<Secp256K1Sha256TR>::pkp(b"x").unwrap().to_bytes()
    );
    assert_ne!(
        Tweak::<Ed25519Sha512>::action("QmA").unwrap(),
        Tweak::<Ed25519Sha512>::action("QmB").unwrap()
    );
}

#[test]
fn action_key_id_is_keccak256_of_lit_action_prefix_and_cid() {
    use sha3::{Digest, Keccak256};
    let cid = "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG";
    let expected: [u8; 32] = Keccak256::digest(format!("lit_action_{cid}").as_bytes()).into();
    assert_eq!(candela_frost::action_key_id(cid), expected);
}

#[test]
fn action_key_tweak_by_scheme_picks_the_suite_and_refuses_non_frost_schemes() {
    let cid = "QmCid";
    assert_eq!(
        action_key_tweak(SigningScheme::SchnorrEd25519Sha512, cid).unwrap(),
        AnyTweak::Ed25519(Tweak::action(cid).unwrap())
    );
    assert_eq!(
        action_key_tweak(SigningScheme::SchnorrK256Taproot, cid).unwrap(),
        AnyTweak::K256Taproot(Tweak::action(cid).unwrap())
    );
    assert_eq!(
        action_key_tweak(SigningScheme::EcdsaK256Sha256, cid),
        Err(FrostError::UnsupportedScheme("EcdsaK256Sha256"))
    );
    assert_eq!(
        pkp_tweak(SigningScheme::Bls12381G1ProofOfPossession, b"k"),
        Err(FrostError::UnsupportedScheme("Bls12381G1ProofOfPossession"))
    );
}

#[test]
fn addresses_encode_the_key_that_verifies() {
    let net = Net::<Ed25519Sha512>::new(3, 3, 0);
    let tweak = Tweak::pkp(b"k").unwrap();
    let vk = tweak.verifying_key(&net.any_share().public_key_package);
    let addr = solana_address(&vk).unwrap();
    assert_eq!(
        bs58::decode(&addr).into_vec().unwrap(),
        Ed25519Sha512::public_key_bytes(&vk).unwrap()
    );

    let net = Net::<Secp256K1Sha256TR>::new(3, 3, 0);
    let tweak = Tweak::pkp(b"k").unwrap();
    let vk = tweak.verifying_key(&net.any_share().public_key_package);
    let addr = p2tr_address(&vk, BitcoinNetwork::Regtest).unwrap();
    assert!(addr.starts_with("bcrt1p"), "{addr}");
    let (_, version, program) = bech32::segwit::decode(&addr).unwrap();
    assert_eq!(version, bech32::segwit::VERSION_1);
    assert_eq!(program, Secp256K1Sha256TR::public_key_bytes(&vk).unwrap());
}
