//! The node-facing holder of both roots.

use crate::common::Net;
use candela_frost::address::BitcoinNetwork;
use candela_frost::roots::{Derivation, FrostPools, FrostRoots};
use candela_frost::{Ed25519Sha512, FrostError, KeyType, Secp256K1Sha256TR, SigningScheme, Tweak};
use rand_core::OsRng;

#[test]
fn roots_without_a_key_type_refuse_it_by_name() {
    let roots = FrostRoots::default();
    assert!(roots.key_types().is_empty());
    assert_eq!(
        roots.public_key(SigningScheme::SchnorrK256Taproot, Derivation::Root),
        Err(FrostError::NoRootKey {
            key_type: "K256Taproot"
        })
    );
    assert_eq!(
        roots.public_key(SigningScheme::EcdsaK256Sha256, Derivation::Root),
        Err(FrostError::UnsupportedScheme("EcdsaK256Sha256"))
    );
}

#[test]
fn roots_round_trip_and_derive_the_same_keys_as_the_shares() {
    let ed = Net::<Ed25519Sha512>::new(3, 2, 0);
    let tr = Net::<Secp256K1Sha256TR>::new(3, 2, 0);
    let roots = FrostRoots {
        ed25519: Some(ed.shares[&1].clone()),
        k256_taproot: Some(tr.shares[&1].clone()),
    };
    let stored = rmp_serde::to_vec(&roots).unwrap();
    let back: FrostRoots = rmp_serde::from_slice(&stored).unwrap();
    assert_eq!(back, roots);
    assert_eq!(back.key_types(), [KeyType::Ed25519, KeyType::K256Taproot]);
    assert_eq!(
        back.public_key(SigningScheme::SchnorrEd25519Sha512, Derivation::Pkp(b"k"))
            .unwrap(),
        ed.public_key(&Tweak::pkp(b"k").unwrap())
    );
    assert_eq!(
        back.public_key(SigningScheme::SchnorrK256Taproot, Derivation::Action("QmX"))
            .unwrap(),
        tr.public_key(&Tweak::action("QmX").unwrap())
    );
    assert_eq!(
        back.confirmation_digest(KeyType::Ed25519).unwrap(),
        ed.shares[&0].confirmation_digest().unwrap()
    );
    let sol = back.solana_address(Derivation::Pkp(b"k")).unwrap();
    assert_eq!(
        bs58::decode(sol).into_vec().unwrap(),
        ed.public_key(&Tweak::pkp(b"k").unwrap())
    );
    let btc = back
        .p2tr_address(Derivation::Pkp(b"k"), BitcoinNetwork::Mainnet)
        .unwrap();
    assert!(btc.starts_with("bc1p"), "{btc}");
}

#[test]
fn pools_round_trip_keeping_used_ids_used() {
    let ed = Net::<Ed25519Sha512>::new(3, 2, 0);
    let mut pools = FrostPools::default();
    pools.ed25519.refill(ed.any_share(), 2, &mut OsRng);
    pools.ed25519.take(0).unwrap();
    let mut back: FrostPools = rmp_serde::from_slice(&rmp_serde::to_vec(&pools).unwrap()).unwrap();
    assert_eq!(
        back.ed25519.take(0),
        Err(FrostError::CommitmentUsed { id: 0 })
    );
    assert!(back.k256_taproot.is_empty());
}
