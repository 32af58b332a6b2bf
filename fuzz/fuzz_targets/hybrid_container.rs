//! Hybrid (IBE + STREAM) decryption of a container an attacker altered:
//! every change is either refused or, when it touched nothing, gives back
//! exactly the original plaintext — never other bytes.
#![no_main]
use std::sync::OnceLock;

use candela_bls::sign::BlsSignature;
use candela_bls::G1Projective;
use libfuzzer_sys::fuzz_target;

const ID: &[u8] = b"lit-accesscontrolcondition://fuzz/fuzz";

struct Fixture {
    public_key: G1Projective,
    key: BlsSignature,
    container: Vec<u8>,
    plaintext: Vec<u8>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let shares = candela_bls::sim::dkg(3, 2).expect("dkg");
        let set = shares.values().next().expect("a share").public_set();
        let sig: Vec<_> = shares
            .values()
            .take(2)
            .map(|s| s.sign_share(ID).expect("share"))
            .collect();
        let key = candela_bls::combine(&sig).expect("combine");
        let plaintext: Vec<u8> = (0..150_000u32).map(|i| (i % 251) as u8).collect();
        let container =
            candela_bls::hybrid::encrypt_bytes(&set.public_key, ID, &plaintext).expect("encrypt");
        Fixture {
            public_key: set.public_key,
            key,
            container,
            plaintext,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    if data.len() < 5 {
        return;
    }
    let mut c = f.container.clone();
    // data: op byte, 4-byte position, then bytes to XOR in / append
    let pos = u32::from_le_bytes([data[1], data[2], data[3], data[4]]) as usize % (c.len() + 1);
    let rest = &data[5..];
    match data[0] % 3 {
        0 => {
            for (i, b) in rest.iter().enumerate() {
                if let Some(x) = c.get_mut(pos + i) {
                    *x ^= b;
                }
            }
        }
        1 => c.truncate(pos),
        _ => c.splice(pos..pos, rest.iter().copied()).for_each(drop),
    }
    let mut out = Vec::new();
    if candela_bls::hybrid::decrypt_stream_with_key(
        &f.public_key,
        ID,
        &f.key,
        c.as_slice(),
        &mut out,
    )
    .is_ok()
    {
        assert_eq!(
            out, f.plaintext,
            "an altered container decrypted to other bytes"
        );
    }
});
