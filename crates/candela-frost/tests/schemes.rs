//! Scheme names, key types and message rules give clear errors.

use crate::common::Net;
use candela_frost::{
    Ed25519Sha512, FrostError, KeyType, Secp256K1Sha256TR, SigningScheme, Tweak,
    MAX_ED25519_MESSAGE,
};

#[test]
fn lit_scheme_names_parse_and_map_to_key_types() {
    let cases = [
        ("EcdsaK256Sha256", KeyType::K256),
        ("SchnorrEd25519Sha512", KeyType::Ed25519),
        ("SchnorrK256Taproot", KeyType::K256Taproot),
        ("Bls12381G1ProofOfPossession", KeyType::Bls12381G1),
    ];
    for (name, key) in cases {
        let s: SigningScheme = name.parse().unwrap();
        assert_eq!(s.to_string(), name);
        assert_eq!(s.key_type(), key);
        assert_eq!(key.to_string().parse::<KeyType>().unwrap(), key);
    }
}

#[test]
fn unknown_scheme_is_refused_naming_the_string() {
    let err = "schnorrEd25519Sha512".parse::<SigningScheme>().unwrap_err();
    assert_eq!(
        err,
        FrostError::UnknownScheme("schnorrEd25519Sha512".into())
    );
    assert!(err.to_string().contains("schnorrEd25519Sha512"));
    let err = serde_json::from_str::<SigningScheme>("\"Ed25519\"").unwrap_err();
    assert!(err.to_string().contains("unknown signing scheme"), "{err}");
    assert_eq!(
        "Secp256k1".parse::<KeyType>(),
        Err(FrostError::UnknownKeyType("Secp256k1".into()))
    );
}

#[test]
fn wrong_key_type_for_scheme_is_refused_naming_the_expected_type() {
    let err = SigningScheme::SchnorrK256Taproot
        .check_key_type(KeyType::K256)
        .unwrap_err();
    assert_eq!(
        err,
        FrostError::WrongKeyType {
            scheme: "SchnorrK256Taproot",
            expected: "K256Taproot",
            got: "K256",
        }
    );
    assert_eq!(
        err.to_string(),
        "signing scheme SchnorrK256Taproot needs a K256Taproot key, got a K256 key"
    );
    assert!(SigningScheme::SchnorrEd25519Sha512
        .check_key_type(KeyType::Ed25519)
        .is_ok());
}

#[test]
fn taproot_refuses_messages_that_are_not_32_bytes() {
    for len in [0, 31, 33, 64] {
        assert_eq!(
            SigningScheme::SchnorrK256Taproot.check_message(&vec![0; len]),
            Err(FrostError::MessageLength {
                scheme: "SchnorrK256Taproot",
                rule: "exactly 32-byte messages",
                got: len,
            })
        );
    }
    // And the signing path enforces it.
    let net = Net::<Secp256K1Sha256TR>::new(3, 2, 1);
    assert!(matches!(
        net.package(&[0, 1], 0, b"not a sighash"),
        Err(FrostError::MessageLength { got: 13, .. })
    ));
}

#[test]
fn ed25519_signs_any_length_up_to_the_bound() {
    let mut net = Net::<Ed25519Sha512>::new(3, 2, 2);
    let sig = net.sign(&[0, 2], 0, &Tweak::root(), b"").unwrap();
    assert_eq!(sig.len(), 64);
    assert!(net
        .package(&[0, 1], 1, &vec![0; MAX_ED25519_MESSAGE])
        .is_ok());
    assert!(matches!(
        net.package(&[0, 1], 1, &vec![0; MAX_ED25519_MESSAGE + 1]),
        Err(FrostError::MessageLength { .. })
    ));
}

#[test]
fn key_generation_refuses_bad_parameters() {
    use candela_frost::DkgSession;
    let mut rng = rand_core::OsRng;
    let parts = [0, 1, 2];
    assert!(matches!(
        DkgSession::<Ed25519Sha512>::new(&parts, 0, 4, &mut rng),
        Err(FrostError::BadParameters(_))
    ));
    assert!(matches!(
        DkgSession::<Ed25519Sha512>::new(&parts, 0, 1, &mut rng),
        Err(FrostError::BadParameters(_))
    ));
    assert!(matches!(
        DkgSession::<Ed25519Sha512>::new(&parts, 7, 2, &mut rng),
        Err(FrostError::BadParameters(_))
    ));
    assert!(matches!(
        DkgSession::<Ed25519Sha512>::new(&[0, 1, 1], 0, 2, &mut rng),
        Err(FrostError::BadParameters(_))
    ));
}
