//! BLS decoders a node runs on what others send or what it stored: shares,
//! signatures, key shares, public key sets, hybrid container headers.
#![no_main]
use candela_bls::sign::BlsSignature;
use candela_bls::{BlsKeyShare, BlsPublicKeySet, BlsSignatureShare};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = BlsSignatureShare::from_bytes(data);
    let _ = BlsSignature::from_bytes(data);
    if let Ok(k) = BlsKeyShare::from_bytes(data) {
        let again = BlsKeyShare::from_bytes(&k.to_bytes()).expect("a parsed key share round-trips");
        assert_eq!(again.to_bytes(), k.to_bytes());
    }
    if let Ok(s) = BlsPublicKeySet::from_bytes(data) {
        assert_eq!(
            BlsPublicKeySet::from_bytes(&s.to_bytes())
                .map(|t| t.to_bytes())
                .ok(),
            Some(s.to_bytes())
        );
    }
    let _ = candela_bls::hybrid::check_identity(data, b"lit-accesscontrolcondition://x/y");
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(s) = BlsSignatureShare::from_hex(text) {
            assert_eq!(
                BlsSignatureShare::from_hex(&s.to_hex())
                    .ok()
                    .map(|t| t.to_bytes()),
                Some(s.to_bytes())
            );
        }
        let _ = BlsSignature::from_hex(text);
    }
});
