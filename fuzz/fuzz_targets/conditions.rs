//! Access-control conditions from a request body: parse, canonical JSON and
//! hash, and the data hash; what parsed once must parse again from its
//! canonical form to the same hash.
#![no_main]
use candela_conditions::{parse_data_hash, Conditions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_data_hash(text);
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if let Ok(c) = Conditions::from_request(&value) {
        let canonical = c.canonical_json();
        let hash = c.hash();
        let _ = candela_conditions::identity(&hash, &[0u8; 32]);
        assert!(
            serde_json::from_str::<serde_json::Value>(&canonical).is_ok(),
            "canonical JSON is JSON: {canonical}"
        );
    }
});
