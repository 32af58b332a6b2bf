//! Hybrid encryption of large data: round trips from empty to 100 MiB in
//! bounded memory, and every kind of tampering refused with its own error.
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::OnceLock;

use candela_bls::hybrid::{container_len, header_len, CHUNK_BYTES, TAG_BYTES};
use candela_bls::{
    combine, decrypt_bytes_with_shares, decrypt_either_with_key, decrypt_stream_with_key,
    decrypt_stream_with_shares, decryption_share, encrypt_bytes, encrypt_stream, sim, BlsError,
    BlsKeyShare, BlsPublicKeySet, BlsSignatureShare, Corruption, Fault, NodeIndex,
};
use sha2::{Digest, Sha256};

const ID: &[u8] = b"lit-accesscontrolcondition://aaaa/bbbb";
const OTHER_ID: &[u8] = b"lit-accesscontrolcondition://cccc/dddd";

struct Fixture {
    keys: BTreeMap<NodeIndex, BlsKeyShare>,
    public: BlsPublicKeySet,
}

/// One 5-node key with threshold 4 for every test.
fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let keys = sim::dkg(5, 4).expect("dkg");
        let public = keys[&0].public_set();
        Fixture { keys, public }
    })
}

/// Decryption shares for `identity` from `nodes`.
fn shares(identity: &[u8], nodes: &[NodeIndex]) -> Vec<BlsSignatureShare> {
    let f = fixture();
    nodes
        .iter()
        .map(|i| decryption_share(&f.keys[i], identity).expect("share"))
        .collect()
}

fn encrypt(plaintext: &[u8]) -> Vec<u8> {
    encrypt_bytes(&fixture().public.public_key, ID, plaintext).expect("encrypt")
}

fn decrypt(container: &[u8]) -> Result<Vec<u8>, BlsError> {
    decrypt_bytes_with_shares(&fixture().public, ID, &shares(ID, &[0, 1, 2, 3]), container)
}

/// Deterministic pseudo-random bytes (xorshift64*).
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut g = Generator::new(len as u64, seed);
    let mut out = vec![0u8; len];
    g.read_exact(&mut out).expect("generate");
    out
}

/// A reader that yields `left` pseudo-random bytes and hashes what it
/// yields, without holding them.
struct Generator {
    left: u64,
    state: u64,
    hash: Sha256,
}

impl Generator {
    fn new(len: u64, seed: u64) -> Self {
        Generator {
            left: len,
            state: seed | 1,
            hash: Sha256::new(),
        }
    }
}

impl Read for Generator {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        // Odd-sized reads exercise the chunker's refill loop.
        let n = buf.len().min(self.left as usize).min(40_000);
        for word in buf[..n].chunks_mut(8) {
            self.state ^= self.state >> 12;
            self.state ^= self.state << 25;
            self.state ^= self.state >> 27;
            let v = self.state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
            word.copy_from_slice(&v[..word.len()]);
        }
        self.hash.update(&buf[..n]);
        self.left -= n as u64;
        Ok(n)
    }
}

/// A writer that only hashes and counts.
#[derive(Default)]
struct HashingWriter {
    hash: Sha256,
    len: u64,
}

impl Write for HashingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.hash.update(buf);
        self.len += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The writing end of a bounded in-memory pipe.
struct PipeWriter(SyncSender<Vec<u8>>);

impl Write for PipeWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .send(buf.to_vec())
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The reading end: at most a few chunks are ever in flight.
struct PipeReader {
    rx: Receiver<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
    max_in_flight: usize,
}

impl Read for PipeReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos == self.cur.len() {
            match self.rx.recv() {
                Ok(v) => {
                    self.max_in_flight = self.max_in_flight.max(v.len());
                    self.cur = v;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len() - self.pos);
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[test]
fn a_100_mib_file_round_trips_streamed_in_bounded_memory() {
    const LEN: u64 = 100 * 1024 * 1024;
    let f = fixture();
    let public_key = f.public.public_key;
    let (tx, rx) = sync_channel::<Vec<u8>>(4);
    // Encrypt from a generator into a pipe on one thread, decrypt from the
    // pipe into a hashing writer on this one: neither end holds the data.
    let encryptor = std::thread::spawn(move || {
        let mut input = Generator::new(LEN, 0x5eed);
        let written = encrypt_stream(&public_key, ID, &mut input, PipeWriter(tx));
        (written, input.hash.finalize())
    });
    let mut reader = PipeReader {
        rx,
        cur: Vec::new(),
        pos: 0,
        max_in_flight: 0,
    };
    let mut out = HashingWriter::default();
    let plain = decrypt_stream_with_shares(
        &f.public,
        ID,
        &shares(ID, &[4, 2, 0, 1]),
        &mut reader,
        &mut out,
    )
    .expect("decrypt");
    let (written, in_hash) = encryptor.join().expect("encryptor thread");
    assert_eq!(written.expect("encrypt"), container_len(LEN));
    assert_eq!(plain, LEN);
    assert_eq!(out.len, LEN);
    assert_eq!(out.hash.finalize(), in_hash, "sha256 of output = of input");
    // The encryptor never wrote more than one chunk at a time.
    assert!(reader.max_in_flight <= CHUNK_BYTES + TAG_BYTES);
}

#[test]
fn small_sizes_round_trip_with_the_documented_container_length() {
    for len in [
        0,
        1,
        CHUNK_BYTES - 1,
        CHUNK_BYTES,
        CHUNK_BYTES + 1,
        2 * CHUNK_BYTES,
        3 * CHUNK_BYTES + 5,
    ] {
        let pt = pattern(len, len as u64 + 7);
        let ct = encrypt(&pt);
        assert_eq!(ct.len() as u64, container_len(len as u64), "len {len}");
        assert_eq!(&ct[..5], b"cbhy\x01");
        assert_eq!(&ct[5..37], Sha256::digest(ID).as_slice());
        // Nonce prefix at 37..56, then the data-key ciphertext length.
        assert_eq!(u16::from_be_bytes([ct[56], ct[57]]), 115);
        assert_eq!(header_len(), 58 + 115);
        assert_eq!(decrypt(&ct).expect("decrypt"), pt, "len {len}");
    }
    // Fresh data key and nonce every time.
    assert_ne!(encrypt(b"same"), encrypt(b"same"));
}

#[test]
fn decrypt_stream_with_key_takes_a_combined_key_and_verifies_it() {
    let f = fixture();
    let pt = pattern(CHUNK_BYTES + 3, 1);
    let ct = encrypt(&pt);
    let key = combine(&shares(ID, &[0, 1, 2, 3])).expect("combine");
    let mut out = Vec::new();
    decrypt_stream_with_key(&f.public.public_key, ID, &key, &ct[..], &mut out).expect("decrypt");
    assert_eq!(out, pt);
    let wrong = combine(&shares(OTHER_ID, &[0, 1, 2, 3])).expect("combine");
    assert_eq!(
        decrypt_stream_with_key(&f.public.public_key, ID, &wrong, &ct[..], Vec::new()),
        Err(BlsError::SignatureDoesNotVerify)
    );
}

#[test]
fn decrypt_either_opens_both_formats_and_checks_a_one_piece_plaintext_against_its_hash() {
    let f = fixture();
    let key = combine(&shares(ID, &[0, 1, 2, 3])).expect("combine");
    let pt = pattern(1000, 7);
    let hash: [u8; 32] = Sha256::digest(&pt).into();
    let open = |ct: &[u8], hash: &[u8; 32]| {
        let mut out = Vec::new();
        decrypt_either_with_key(&f.public.public_key, ID, &key, hash, ct, &mut out).map(|_| out)
    };
    // Candela's container: the identity in its header binds the hash.
    assert_eq!(open(&encrypt(&pt), &hash).expect("container"), pt);
    // Lit's one-piece ciphertext.
    let lit = candela_bls::encrypt(&f.public.public_key, ID, &pt).expect("encrypt");
    assert!(!candela_bls::hybrid::is_container(&lit));
    assert_eq!(open(&lit, &hash).expect("one piece"), pt);
    // An encryptor that lies about what it sealed is caught.
    let other: [u8; 32] = Sha256::digest(b"something else").into();
    assert_eq!(open(&lit, &other), Err(BlsError::DataHashMismatch));
    // A key for another identity is refused before anything is opened.
    let wrong = combine(&shares(OTHER_ID, &[0, 1, 2, 3])).expect("combine");
    assert_eq!(
        decrypt_either_with_key(&f.public.public_key, ID, &wrong, &hash, &lit, Vec::new()),
        Err(BlsError::SignatureDoesNotVerify)
    );
    // A one-piece ciphertext made for another identity does not open.
    let elsewhere = candela_bls::encrypt(&f.public.public_key, OTHER_ID, &pt).expect("encrypt");
    assert_eq!(open(&elsewhere, &hash), Err(BlsError::DecryptionFailed));
}

fn flip(ct: &[u8], at: usize) -> Vec<u8> {
    let mut v = ct.to_vec();
    v[at] ^= 0x01;
    v
}

#[test]
fn an_altered_header_is_refused() {
    let ct = encrypt(&pattern(1000, 2));
    let h = header_len();
    assert!(
        matches!(decrypt(&flip(&ct, 0)), Err(BlsError::BadHeader(_))),
        "magic"
    );
    assert!(
        matches!(decrypt(&flip(&ct, 4)), Err(BlsError::BadHeader(_))),
        "version"
    );
    assert_eq!(
        decrypt(&flip(&ct, 20)),
        Err(BlsError::WrongIdentity),
        "identity hash"
    );
    assert_eq!(
        decrypt(&flip(&ct, 40)),
        Err(BlsError::Corrupt {
            chunk: 0,
            reason: Corruption::Tampered
        }),
        "nonce prefix"
    );
    assert!(
        matches!(decrypt(&flip(&ct, 57)), Err(BlsError::BadHeader(_))),
        "length"
    );
    for at in [58, 58 + 60, h - 2] {
        assert!(
            matches!(decrypt(&flip(&ct, at)), Err(BlsError::BadHeader(_))),
            "data-key ciphertext byte {at}: {:?}",
            decrypt(&flip(&ct, at))
        );
    }
    for cut in [0, 3, 30, h - 1] {
        assert!(
            matches!(decrypt(&ct[..cut]), Err(BlsError::BadHeader(_))),
            "cut {cut}"
        );
    }
}

#[test]
fn a_header_from_another_container_is_refused() {
    let pt = pattern(3 * CHUNK_BYTES, 3);
    let a = encrypt(&pt);
    let b = encrypt(&pt);
    let h = header_len();
    let mut swapped = a[..h].to_vec();
    swapped.extend_from_slice(&b[h..]);
    assert_eq!(
        decrypt(&swapped),
        Err(BlsError::Corrupt {
            chunk: 0,
            reason: Corruption::Tampered
        })
    );
}

/// Start of chunk `i` in a container.
fn chunk_at(i: usize) -> usize {
    header_len() + i * (CHUNK_BYTES + TAG_BYTES)
}

#[test]
fn a_tampered_middle_chunk_is_refused_and_located() {
    let ct = encrypt(&pattern(3 * CHUNK_BYTES + 100, 4));
    assert_eq!(
        decrypt(&flip(&ct, chunk_at(1) + 12_345)),
        Err(BlsError::Corrupt {
            chunk: 1,
            reason: Corruption::Tampered
        })
    );
    // The tag of a full chunk.
    assert_eq!(
        decrypt(&flip(&ct, chunk_at(2) - 1)),
        Err(BlsError::Corrupt {
            chunk: 1,
            reason: Corruption::Tampered
        })
    );
}

#[test]
fn a_tampered_final_tag_is_refused() {
    let ct = encrypt(&pattern(2 * CHUNK_BYTES + 10, 5));
    assert_eq!(
        decrypt(&flip(&ct, ct.len() - 1)),
        Err(BlsError::Corrupt {
            chunk: 2,
            reason: Corruption::Tampered
        })
    );
}

#[test]
fn reordered_chunks_are_refused() {
    let ct = encrypt(&pattern(3 * CHUNK_BYTES, 6));
    let mut v = ct[..chunk_at(0)].to_vec();
    v.extend_from_slice(&ct[chunk_at(1)..chunk_at(2)]);
    v.extend_from_slice(&ct[chunk_at(0)..chunk_at(1)]);
    v.extend_from_slice(&ct[chunk_at(2)..]);
    assert_eq!(
        decrypt(&v),
        Err(BlsError::Corrupt {
            chunk: 0,
            reason: Corruption::Tampered
        })
    );
}

#[test]
fn truncation_is_refused() {
    let ct = encrypt(&pattern(2 * CHUNK_BYTES + 10, 7));
    // At a chunk boundary: the final chunk is missing.
    for (i, cut) in [(0u64, chunk_at(0)), (1, chunk_at(1)), (2, chunk_at(2))] {
        assert_eq!(
            decrypt(&ct[..cut]),
            Err(BlsError::Corrupt {
                chunk: i,
                reason: Corruption::Truncated
            }),
            "cut after chunk {i}"
        );
    }
    // Inside a chunk: that chunk fails as a final chunk.
    for (i, cut) in [
        (0u64, chunk_at(0) + 5),
        (1, chunk_at(1) + 100),
        (2, ct.len() - 1),
    ] {
        assert_eq!(
            decrypt(&ct[..cut]),
            Err(BlsError::Corrupt {
                chunk: i,
                reason: Corruption::Tampered
            }),
            "cut inside chunk {i}"
        );
    }
}

#[test]
fn appended_garbage_is_refused() {
    for (len, last) in [(10usize, 0u64), (2 * CHUNK_BYTES, 2)] {
        let ct = encrypt(&pattern(len, 8));
        for extra in [1usize, 100, CHUNK_BYTES, 2 * CHUNK_BYTES] {
            let mut v = ct.clone();
            v.extend(std::iter::repeat_n(0xa5u8, extra));
            assert_eq!(
                decrypt(&v),
                Err(BlsError::Corrupt {
                    chunk: last,
                    reason: Corruption::Tampered
                }),
                "len {len}, {extra} bytes appended"
            );
        }
    }
}

#[test]
fn a_container_for_another_identity_is_refused() {
    let f = fixture();
    let ct = encrypt(b"for ID only");
    // Asked to decrypt as OTHER_ID (with OTHER_ID's or ID's shares).
    for id_of_shares in [OTHER_ID, ID] {
        assert_eq!(
            decrypt_bytes_with_shares(
                &f.public,
                OTHER_ID,
                &shares(id_of_shares, &[0, 1, 2, 3]),
                &ct
            ),
            Err(BlsError::WrongIdentity)
        );
    }
    // The identity hash rewritten to OTHER_ID: the OTHER_ID key verifies but
    // does not open the data key.
    let mut forged = ct.clone();
    forged[5..37].copy_from_slice(&Sha256::digest(OTHER_ID));
    assert!(matches!(
        decrypt_bytes_with_shares(
            &f.public,
            OTHER_ID,
            &shares(OTHER_ID, &[0, 1, 2, 3]),
            &forged
        ),
        Err(BlsError::BadHeader(_))
    ));
    // Shares for another identity, presented for ID: not a valid key for ID.
    assert!(matches!(
        decrypt_bytes_with_shares(&f.public, ID, &shares(OTHER_ID, &[0, 1, 2, 3]), &ct),
        Err(BlsError::Culprit { .. })
    ));
}

#[test]
fn fewer_than_threshold_shares_are_refused() {
    let f = fixture();
    let ct = encrypt(b"needs four");
    assert_eq!(
        decrypt_bytes_with_shares(&f.public, ID, &shares(ID, &[0, 1, 2]), &ct),
        Err(BlsError::NotEnoughShares { needed: 4, have: 3 })
    );
    let mut dup = shares(ID, &[0, 1, 2]);
    dup.push(dup[0]);
    assert_eq!(
        decrypt_bytes_with_shares(&f.public, ID, &dup, &ct),
        Err(BlsError::NotEnoughShares { needed: 4, have: 3 })
    );
}

#[test]
fn a_tampered_share_is_named() {
    let f = fixture();
    let ct = encrypt(&pattern(CHUNK_BYTES + 1, 9));
    let mut s = shares(ID, &[0, 1, 2, 3]);
    // Node 2 answers with its share over another identity.
    s[2] = shares(OTHER_ID, &[2])[0];
    assert_eq!(
        decrypt_bytes_with_shares(&f.public, ID, &s, &ct),
        Err(BlsError::Culprit {
            node: 2,
            reason: Fault::InvalidSignatureShare
        })
    );
    // The bad share left out, a fifth node's share in its place: it works.
    let good = shares(ID, &[0, 1, 3, 4]);
    assert_eq!(
        decrypt_bytes_with_shares(&f.public, ID, &good, &ct).expect("decrypt"),
        pattern(CHUNK_BYTES + 1, 9)
    );
}

/// A writer that fails after `left` bytes.
struct FailingWriter {
    left: usize,
}

impl Write for FailingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.len() > self.left {
            return Err(std::io::Error::other("disk full"));
        }
        self.left -= buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn io_errors_are_reported_as_io() {
    let f = fixture();
    let pt = pattern(2 * CHUNK_BYTES, 10);
    let err = encrypt_stream(
        &f.public.public_key,
        ID,
        &pt[..],
        FailingWriter { left: 1000 },
    )
    .expect_err("writer fails");
    assert!(
        matches!(
            err,
            BlsError::Io {
                kind: std::io::ErrorKind::Other,
                ..
            }
        ),
        "{err:?}"
    );
    let ct = encrypt(&pt);
    let err = decrypt_stream_with_shares(
        &f.public,
        ID,
        &shares(ID, &[0, 1, 2, 3]),
        &ct[..],
        FailingWriter { left: 1000 },
    )
    .expect_err("writer fails");
    assert!(matches!(err, BlsError::Io { .. }), "{err:?}");
}
