//! Checks the crate against `tests/vectors.json`, produced by independent
//! JavaScript implementations (`tests/gen_vectors.mjs`: ipfs-only-hash and
//! ipfs-unixfs-importer). Each input is regenerated here from its generator
//! name and length.

use std::io::Read;

use candela_cid::{
    cid_v0, cid_v0_reader, parse_cid_v0, verify, verify_reader, Hasher, CHUNK_SIZE, EMPTY_FILE_CID,
    MAX_CHILDREN,
};
use serde_json::Value;

const VECTORS: &str = include_str!("vectors.json");

struct Vector {
    name: String,
    data: Vec<u8>,
    chunk_size: usize,
    max_children: usize,
    cid: String,
    checked_by: Vec<String>,
}

/// Mirrors `generate()` in gen_vectors.mjs.
fn generate(input: &Value) -> Vec<u8> {
    let gen = input["gen"].as_str().expect("input.gen");
    let len = || input["len"].as_u64().expect("input.len") as usize;
    match gen {
        "text" => input["text"]
            .as_str()
            .expect("input.text")
            .as_bytes()
            .to_vec(),
        "pattern" => (0..len() as u64)
            .map(|i| ((i * 31 + 7) % 251) as u8)
            .collect(),
        "lcg" => {
            let mut state: u32 = 1;
            (0..len())
                .map(|_| {
                    state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (state >> 24) as u8
                })
                .collect()
        }
        "zeros" => vec![0; len()],
        other => panic!("unknown generator {other}"),
    }
}

fn vectors() -> Vec<Vector> {
    let root: Value = serde_json::from_str(VECTORS).expect("vectors.json parses");
    root["vectors"]
        .as_array()
        .expect("vectors array")
        .iter()
        .map(|v| Vector {
            name: v["name"].as_str().expect("name").to_owned(),
            data: generate(&v["input"]),
            chunk_size: v["chunk_size"].as_u64().expect("chunk_size") as usize,
            max_children: v["max_children"].as_u64().expect("max_children") as usize,
            cid: v["cid"].as_str().expect("cid").to_owned(),
            checked_by: v["checked_by"]
                .as_array()
                .expect("checked_by")
                .iter()
                .map(|s| s.as_str().expect("checked_by entry").to_owned())
                .collect(),
        })
        .collect()
}

fn is_kubo_default(v: &Vector) -> bool {
    v.chunk_size == CHUNK_SIZE && v.max_children == MAX_CHILDREN
}

/// A reader that hands out odd-sized pieces, to exercise chunk assembly.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.step = self.step % 100_003 + 7_919;
        let n = self.step.min(buf.len()).min(self.data.len());
        let (head, rest) = self.data.split_at(n);
        buf[..n].copy_from_slice(head);
        self.data = rest;
        Ok(n)
    }
}

#[test]
fn vector_file_covers_the_required_cases() {
    let vs = vectors();
    let kubo: Vec<&Vector> = vs.iter().filter(|v| is_kubo_default(v)).collect();
    let lens: Vec<usize> = kubo.iter().map(|v| v.data.len()).collect();
    for required in [
        0,
        12,
        1000,
        CHUNK_SIZE,
        CHUNK_SIZE + 1,
        MAX_CHILDREN * CHUNK_SIZE + 1,
    ] {
        assert!(lens.contains(&required), "no vector of {required} bytes");
    }
    assert!(
        lens.iter().any(|&l| (5 << 20..6 << 20).contains(&l)),
        "no ~5 MiB vector"
    );
    // Every kubo-default vector was also checked against the packages'
    // *defaults* (ipfs-only-hash with no options, ipfs-unixfs-importer with
    // the `unixfs-v0-2015` profile), not only against explicit settings.
    for v in kubo {
        for who in [
            "onlyHashExplicit",
            "importerExplicit",
            "onlyHashDefaults",
            "importerProfile",
        ] {
            assert!(v.checked_by.iter().any(|c| c == who), "{}: {who}", v.name);
        }
    }
}

#[test]
fn known_kubo_cids() {
    // Published by kubo itself, independent of the JS packages.
    assert_eq!(cid_v0(b""), EMPTY_FILE_CID);
    assert_eq!(
        cid_v0(b"hello world\n"),
        "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
    );
}

#[test]
fn kubo_default_vectors() {
    for v in vectors().iter().filter(|v| is_kubo_default(v)) {
        assert_eq!(cid_v0(&v.data), v.cid, "{}", v.name);
        verify(&v.data, &v.cid).unwrap_or_else(|e| panic!("{}: {e}", v.name));
    }
}

#[test]
fn kubo_default_vectors_streaming() {
    for v in vectors().iter().filter(|v| is_kubo_default(v)) {
        let reader = Trickle {
            data: &v.data,
            step: 0,
        };
        assert_eq!(cid_v0_reader(reader).expect("read"), v.cid, "{}", v.name);
        verify_reader(v.data.as_slice(), &v.cid).unwrap_or_else(|e| panic!("{}: {e}", v.name));
    }
}

#[test]
fn small_chunking_vectors() {
    // Deep trees (up to 7 levels) with tiny chunks and fan-out.
    let vs = vectors();
    let small: Vec<&Vector> = vs.iter().filter(|v| !is_kubo_default(v)).collect();
    assert!(small.len() >= 10);
    for v in small {
        let mut h = Hasher::with_chunking(v.chunk_size, v.max_children).expect("params");
        for piece in v.data.chunks(3) {
            h.update(piece);
        }
        assert_eq!(h.finalize(), v.cid, "{}", v.name);
    }
}

#[test]
fn vector_cids_parse_and_round_trip() {
    for v in vectors() {
        let mh = parse_cid_v0(&v.cid).unwrap_or_else(|e| panic!("{}: {e}", v.name));
        assert_eq!(candela_cid::multihash_to_cid_v0(&mh).expect("mh"), v.cid);
    }
}
