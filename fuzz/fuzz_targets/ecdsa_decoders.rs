//! ECDSA decoders a node runs on what it stored or was sent: key shares,
//! presignatures, public keys and addresses.
#![no_main]
use candela_crypto::session::{KeyShare, Presignature};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(k) = KeyShare::from_bytes(data) {
        let again = KeyShare::from_bytes(&k.to_bytes()).expect("a parsed key share round-trips");
        assert_eq!(again.secret, k.secret);
    }
    let _ = Presignature::from_bytes(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = candela_crypto::derive::parse_public_key(text);
        let _ = candela_crypto::derive::parse_address(text);
    }
});
