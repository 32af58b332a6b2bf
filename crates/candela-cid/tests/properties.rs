//! Property tests over seeded pseudo-random cases (deterministic, no extra
//! dependencies): tamper detection, parse/format round trips and errors for
//! invalid CID strings.

use candela_cid::{
    cid_v0, multihash_to_cid_v0, parse_cid_v0, verify, CidError, Hasher, CHUNK_SIZE, EMPTY_FILE_CID,
};

/// splitmix64: small, deterministic, good enough to pick test cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

fn assert_mismatch(data: &[u8], cid: &str) {
    match verify(data, cid) {
        Err(CidError::Mismatch { expected, actual }) => {
            assert_eq!(expected, cid);
            assert_eq!(actual, cid_v0(data));
            assert_ne!(actual, expected);
        }
        other => panic!("expected Mismatch, got {other:?}"),
    }
}

#[test]
fn verify_rejects_any_one_byte_change() {
    let mut rng = Rng(1);
    // Lengths around the leaf boundary too, where a change lands in
    // different chunks of a multi-chunk file.
    let mut lens: Vec<usize> = (0..200).map(|_| rng.below(3000)).collect();
    lens.extend([
        1,
        CHUNK_SIZE - 1,
        CHUNK_SIZE,
        CHUNK_SIZE + 1,
        3 * CHUNK_SIZE + 5,
    ]);
    for len in lens {
        let data = rng.bytes(len);
        let cid = cid_v0(&data);
        verify(&data, &cid).expect("original verifies");
        if len == 0 {
            assert_mismatch(&[0], &cid);
            continue;
        }
        let positions = [0, len - 1, rng.below(len), rng.below(len)];
        for pos in positions {
            let mut tampered = data.clone();
            tampered[pos] ^= 1 + rng.below(255) as u8;
            assert_mismatch(&tampered, &cid);
        }
        // Truncation and extension by one byte.
        assert_mismatch(&data[..len - 1], &cid);
        let mut longer = data.clone();
        longer.push(0);
        assert_mismatch(&longer, &cid);
    }
}

#[test]
fn multihash_round_trips() {
    let mut rng = Rng(2);
    for _ in 0..2000 {
        let mut mh = [0u8; 34];
        mh[0] = 0x12;
        mh[1] = 0x20;
        for b in &mut mh[2..] {
            *b = rng.next() as u8;
        }
        let cid = multihash_to_cid_v0(&mh).expect("valid multihash");
        assert_eq!(cid.len(), 46);
        assert!(cid.starts_with("Qm"), "{cid}");
        assert_eq!(parse_cid_v0(&cid).expect("parses"), mh);
    }
    // Extreme digests.
    for fill in [0x00, 0xff] {
        let mut mh = [fill; 34];
        mh[0] = 0x12;
        mh[1] = 0x20;
        let cid = multihash_to_cid_v0(&mh).expect("valid");
        assert_eq!(parse_cid_v0(&cid).expect("parses"), mh);
    }
}

#[test]
fn content_cid_round_trips() {
    let mut rng = Rng(3);
    for _ in 0..300 {
        let len = rng.below(5000);
        let data = rng.bytes(len);
        let cid = cid_v0(&data);
        let mh = parse_cid_v0(&cid).expect("own output parses");
        assert_eq!(multihash_to_cid_v0(&mh).expect("formats"), cid);
    }
}

#[test]
fn split_points_do_not_matter() {
    let mut rng = Rng(4);
    let data = rng.bytes(2 * CHUNK_SIZE + 1234);
    let whole = cid_v0(&data);
    for _ in 0..20 {
        let mut h = Hasher::new();
        let mut rest = data.as_slice();
        while !rest.is_empty() {
            let n = (1 + rng.below(CHUNK_SIZE + 10)).min(rest.len());
            let (head, tail) = rest.split_at(n);
            h.update(head);
            rest = tail;
        }
        assert_eq!(h.finalize(), whole);
    }
    let mut h = Hasher::new();
    std::io::copy(&mut data.as_slice(), &mut h).expect("copy");
    assert_eq!(h.finalize(), whole);
}

/// Input, which error it must give, and a phrase its message must contain.
type Case = (String, fn(&CidError) -> bool, &'static str);

#[test]
fn invalid_cid_strings_give_clear_errors() {
    let valid = EMPTY_FILE_CID;
    let cases: Vec<Case> = vec![
        (
            String::new(),
            |e| matches!(e, CidError::InvalidLength(0)),
            "expected 46",
        ),
        (
            valid[..45].to_owned(),
            |e| matches!(e, CidError::InvalidLength(45)),
            "got 45",
        ),
        (
            format!("{valid}Q"),
            |e| matches!(e, CidError::InvalidLength(47)),
            "got 47",
        ),
        (
            format!(" {}", &valid[1..]),
            |e| matches!(e, CidError::InvalidBase58(_)),
            "base58",
        ),
        (
            format!("{valid}\n"),
            |e| matches!(e, CidError::InvalidLength(47)),
            "46",
        ),
        (
            // '0', 'O', 'I' and 'l' are not in the base58 alphabet.
            format!("Qm0{}", &valid[3..]),
            |e| matches!(e, CidError::InvalidBase58(_)),
            "invalid character '0'",
        ),
        (
            "bafybeibwzifw52ttrkqlikfzext5akxu7lz4xiwjgwzmqcpdzmp3n5vnbe".to_owned(),
            |e| matches!(e, CidError::CidV1NotSupported),
            "CIDv1",
        ),
        (
            // 46 base58 characters that decode to a 34-byte multihash with
            // another prefix.
            bs58_46_with_prefix(0x13, 0x20),
            |e| {
                matches!(
                    e,
                    CidError::UnsupportedMultihash {
                        code: 0x13,
                        len: 0x20
                    }
                )
            },
            "0x12 0x20",
        ),
        (
            "1".repeat(46),
            |e| matches!(e, CidError::InvalidMultihashLength(46)),
            "34 bytes",
        ),
        (
            // 46 characters, but only 33 bytes once decoded.
            multihash_to_cid_v0_unchecked(&[0xff; 33]),
            |e| matches!(e, CidError::InvalidMultihashLength(33)),
            "got 33",
        ),
    ];
    for (input, is_expected, hint) in cases {
        let err = parse_cid_v0(&input).expect_err(&input);
        assert!(is_expected(&err), "{input:?}: wrong error {err:?}");
        let msg = err.to_string();
        assert!(
            msg.contains(hint),
            "{input:?}: message {msg:?} lacks {hint:?}"
        );
        // verify() reports the same problem before hashing anything.
        assert!(is_expected(&verify(b"", &input).expect_err(&input)));
    }
}

/// Encodes `code len` + 32 bytes so that the base58 text is 46 characters.
fn bs58_46_with_prefix(code: u8, len: u8) -> String {
    let mut mh = [0xabu8; 34];
    mh[0] = code;
    mh[1] = len;
    let cid = multihash_to_cid_v0_unchecked(&mh);
    assert_eq!(cid.len(), 46);
    cid
}

/// Base58btc without the multihash check, by hand, to build bad inputs
/// without a dev-dependency on bs58.
fn multihash_to_cid_v0_unchecked(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    let mut digits: Vec<u8> = Vec::new(); // little-endian base58 digits
    for &b in bytes {
        let mut carry = b as u32;
        for d in digits.iter_mut() {
            carry += (*d as u32) << 8;
            *d = (carry % 58) as u8;
            carry /= 58;
        }
        while carry > 0 {
            digits.push((carry % 58) as u8);
            carry /= 58;
        }
    }
    let zeros = bytes.iter().take_while(|&&b| b == 0).count();
    std::iter::repeat_n(b'1', zeros)
        .chain(digits.iter().rev().map(|&d| ALPHABET[d as usize]))
        .map(char::from)
        .collect()
}

#[test]
fn hand_base58_agrees_with_crate() {
    let mut rng = Rng(5);
    for _ in 0..100 {
        let mut mh = [0u8; 34];
        mh[0] = 0x12;
        mh[1] = 0x20;
        for b in &mut mh[2..] {
            *b = rng.next() as u8;
        }
        assert_eq!(
            multihash_to_cid_v0_unchecked(&mh),
            multihash_to_cid_v0(&mh).expect("valid")
        );
    }
}

#[test]
fn corrupted_characters_never_parse_to_the_same_multihash() {
    let mut rng = Rng(6);
    let alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0OIl";
    for _ in 0..2000 {
        let len = rng.below(100);
        let data = rng.bytes(len);
        let cid = cid_v0(&data);
        let original = parse_cid_v0(&cid).expect("valid");
        let pos = rng.below(46);
        let replacement = alphabet.as_bytes()[rng.below(alphabet.len())] as char;
        if cid.as_bytes()[pos] as char == replacement {
            continue;
        }
        let mut corrupted: Vec<char> = cid.chars().collect();
        corrupted[pos] = replacement;
        let corrupted: String = corrupted.into_iter().collect();
        match parse_cid_v0(&corrupted) {
            Ok(mh) => assert_ne!(mh, original, "{corrupted}"),
            Err(
                CidError::InvalidBase58(_)
                | CidError::UnsupportedMultihash { .. }
                | CidError::InvalidMultihashLength(_),
            ) => {}
            Err(e) => panic!("{corrupted}: unexpected {e:?}"),
        }
        if "0OIl".contains(replacement) {
            assert!(matches!(
                parse_cid_v0(&corrupted),
                Err(CidError::InvalidBase58(_))
            ));
        }
    }
}

#[test]
fn multihash_to_cid_rejects_bad_multihashes() {
    assert!(matches!(
        multihash_to_cid_v0(&[0x12, 0x20]),
        Err(CidError::InvalidMultihashLength(2))
    ));
    assert!(matches!(
        multihash_to_cid_v0(&[0u8; 35]),
        Err(CidError::InvalidMultihashLength(35))
    ));
    let mut mh = [0u8; 34];
    mh[0] = 0x12;
    mh[1] = 0x14;
    assert!(matches!(
        multihash_to_cid_v0(&mh),
        Err(CidError::UnsupportedMultihash {
            code: 0x12,
            len: 0x14
        })
    ));
}
