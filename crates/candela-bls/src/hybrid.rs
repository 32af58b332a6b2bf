//! Hybrid encryption of large data: a fresh symmetric data key under
//! identity-based encryption ([`crate::ibe`]), the data itself under
//! XChaCha20-Poly1305 in the STREAM construction (crate
//! `chacha20poly1305`, `aead::stream::EncryptorBE32` / `DecryptorBE32`).
//!
//! [`crate::ibe::encrypt`] holds the whole plaintext in memory (about three
//! times its size) and is slow for big data. Here the data is read and
//! written in chunks of [`CHUNK_BYTES`], so memory stays bounded (one chunk
//! buffer) whatever the size, and the data can come from any
//! [`std::io::Read`] and go to any [`std::io::Write`].
//!
//! Decryption takes the same `t` decryption shares as [`crate::ibe`] (the
//! nodes' signature shares over the identity): they are combined and the
//! result verified under the public key ([`crate::combine_verified`]) before
//! the data key is opened.
//!
//! # Container format, version 1
//!
//! Integers are big-endian. `L` is the length of the data-key ciphertext.
//!
//! | offset   | bytes | field |
//! |----------|-------|-------|
//! | 0        | 4     | magic `"cbhy"` ([`MAGIC`]) |
//! | 4        | 1     | version `0x01` ([`VERSION`]) |
//! | 5        | 32    | SHA-256 of the identity bytes |
//! | 37       | 19    | STREAM nonce prefix, random per container |
//! | 56       | 2     | `L`, u16 (115 with blsful 4; at most [`MAX_KEY_CIPHERTEXT_BYTES`]) |
//! | 58       | `L`   | [`crate::ibe::encrypt`] of the 32-byte data key to the identity bytes |
//! | 58 + `L` | …     | the chunks |
//!
//! The header is bytes `0 .. 58 + L` (173 bytes in practice).
//!
//! The plaintext is cut into chunks of exactly [`CHUNK_BYTES`] (64 KiB)
//! followed by one **final** chunk of `0 ..= CHUNK_BYTES - 1` bytes (so a
//! plaintext whose length is a multiple of 64 KiB, the empty one included,
//! ends with an empty final chunk). Chunk `i` (from 0) is stored as its
//! XChaCha20-Poly1305 ciphertext (same length as the plaintext chunk)
//! followed by the 16-byte Poly1305 tag: `CHUNK_BYTES + 16` bytes for every
//! chunk but the last, which is shorter. Each chunk is sealed with
//!
//! - key: the data key;
//! - nonce (24 bytes, STREAM BE32): the 19-byte nonce prefix, chunk index
//!   `i` as u32, then the last-chunk flag byte (`1` for the final chunk,
//!   `0` otherwise);
//! - associated data: the whole header (bytes `0 .. 58 + L`).
//!
//! A container therefore has [`container_len`] bytes:
//! `58 + L + len + 16·(⌊len / CHUNK_BYTES⌋ + 1)`.
//!
//! What the checks catch: a chunk altered, moved or taken from another
//! container fails its tag (index and key in the nonce); a container cut at
//! a chunk boundary has no final chunk; one cut inside a chunk, or with
//! bytes appended, fails the final chunk's tag (the flag is in the nonce);
//! a header altered or swapped in from another container changes the
//! associated data of every chunk (and, from another container, the key),
//! so chunk 0 fails. The identity hash lets decryption name a container
//! made for another identity ([`BlsError::WrongIdentity`]) before it asks
//! anything of the key.
//!
//! Throughput (`cargo bench -p candela-bls --bench bls -- hybrid_16MiB`,
//! 2-core machine, 16 MiB): encryption about 890 MiB/s, decryption with
//! combining and verifying 4 shares about 720 MiB/s; the fixed cost is the
//! IBE of the data key (about 2.4 ms) and, to decrypt, the share
//! combination and pairing checks (about 6.5 ms).
//!
//! Decryption writes each chunk as soon as it authenticates: on an error,
//! what was already written is unauthenticated as a whole (it may be a
//! prefix of the plaintext) and **must be discarded**.
use std::io::{Read, Write};

use chacha20poly1305::aead::stream::{DecryptorBE32, EncryptorBE32};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305};
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::Corruption;
use crate::key::BlsPublicKeySet;
use crate::sign::{self, BlsSignature, BlsSignatureShare};
use crate::{ibe, BlsError, G1Projective};

/// Leading bytes of a container.
pub const MAGIC: &[u8; 4] = b"cbhy";
/// The container version this module writes and reads.
pub const VERSION: u8 = 1;
/// Plaintext bytes in every chunk but the final one (64 KiB).
pub const CHUNK_BYTES: usize = 64 * 1024;
/// Bytes a chunk's ciphertext adds to its plaintext (the Poly1305 tag).
pub const TAG_BYTES: usize = 16;
/// The largest data-key ciphertext a header may carry.
pub const MAX_KEY_CIPHERTEXT_BYTES: usize = 1024;

/// Length of the data key.
const KEY_BYTES: usize = 32;
/// Length of the STREAM nonce prefix (24-byte XChaCha nonce less the 4-byte
/// counter and the flag byte).
const NONCE_PREFIX_BYTES: usize = 19;
/// Length of the identity hash.
const ID_HASH_BYTES: usize = 32;
/// Header bytes before the data-key ciphertext.
const FIXED_HEADER_BYTES: usize = 4 + 1 + ID_HASH_BYTES + NONCE_PREFIX_BYTES + 2;

/// Length of the header this crate writes.
pub fn header_len() -> usize {
    FIXED_HEADER_BYTES + key_ciphertext_len()
}

fn key_ciphertext_len() -> usize {
    KEY_BYTES + ibe::ciphertext_overhead(KEY_BYTES)
}

/// Length of the container [`encrypt_stream`] writes for `plaintext_len`
/// bytes.
pub fn container_len(plaintext_len: u64) -> u64 {
    let chunks = plaintext_len / CHUNK_BYTES as u64 + 1;
    header_len() as u64 + plaintext_len + chunks * TAG_BYTES as u64
}

/// A parsed container header.
struct Header {
    /// The header's bytes, the associated data of every chunk.
    bytes: Vec<u8>,
}

impl Header {
    fn new(
        identity: &[u8],
        nonce: &[u8; NONCE_PREFIX_BYTES],
        key_ct: &[u8],
    ) -> Result<Self, BlsError> {
        let len = u16::try_from(key_ct.len())
            .ok()
            .filter(|&l| usize::from(l) <= MAX_KEY_CIPHERTEXT_BYTES)
            .ok_or_else(|| {
                BlsError::BadParameters(format!(
                    "data-key ciphertext of {} bytes does not fit the header",
                    key_ct.len()
                ))
            })?;
        let mut bytes = Vec::with_capacity(FIXED_HEADER_BYTES + key_ct.len());
        bytes.extend_from_slice(MAGIC);
        bytes.push(VERSION);
        bytes.extend_from_slice(&Sha256::digest(identity));
        bytes.extend_from_slice(nonce);
        bytes.extend_from_slice(&len.to_be_bytes());
        bytes.extend_from_slice(key_ct);
        Ok(Header { bytes })
    }

    /// Read a header off the front of a container.
    fn read(reader: &mut impl Read) -> Result<Self, BlsError> {
        let mut bytes = vec![0u8; FIXED_HEADER_BYTES];
        if read_full(reader, &mut bytes)? < FIXED_HEADER_BYTES {
            return Err(BlsError::BadHeader("cut short".into()));
        }
        if &bytes[..4] != MAGIC {
            return Err(BlsError::BadHeader(
                "wrong magic: not a hybrid container".into(),
            ));
        }
        if bytes[4] != VERSION {
            return Err(BlsError::BadHeader(format!("unknown version {}", bytes[4])));
        }
        let len = usize::from(u16::from_be_bytes([
            bytes[FIXED_HEADER_BYTES - 2],
            bytes[FIXED_HEADER_BYTES - 1],
        ]));
        if len > MAX_KEY_CIPHERTEXT_BYTES {
            return Err(BlsError::BadHeader(format!(
                "data-key ciphertext of {len} bytes, more than {MAX_KEY_CIPHERTEXT_BYTES}"
            )));
        }
        bytes.resize(FIXED_HEADER_BYTES + len, 0);
        if read_full(reader, &mut bytes[FIXED_HEADER_BYTES..])? < len {
            return Err(BlsError::BadHeader("cut short".into()));
        }
        Ok(Header { bytes })
    }

    fn identity_hash(&self) -> &[u8] {
        &self.bytes[5..5 + ID_HASH_BYTES]
    }

    fn nonce(&self) -> [u8; NONCE_PREFIX_BYTES] {
        let mut n = [0u8; NONCE_PREFIX_BYTES];
        n.copy_from_slice(&self.bytes[5 + ID_HASH_BYTES..5 + ID_HASH_BYTES + NONCE_PREFIX_BYTES]);
        n
    }

    fn key_ciphertext(&self) -> &[u8] {
        &self.bytes[FIXED_HEADER_BYTES..]
    }

    /// [`BlsError::WrongIdentity`] unless the container was made for
    /// `identity`.
    fn check_identity(&self, identity: &[u8]) -> Result<(), BlsError> {
        if self.identity_hash() == Sha256::digest(identity).as_slice() {
            Ok(())
        } else {
            Err(BlsError::WrongIdentity)
        }
    }

    /// Open the data key with a verified decryption key.
    fn open_key(&self, key: &BlsSignature) -> Result<Zeroizing<[u8; KEY_BYTES]>, BlsError> {
        let opened = Zeroizing::new(ibe::decrypt_with_key(self.key_ciphertext(), key).map_err(
            |e| match e {
                BlsError::DecryptionFailed => BlsError::BadHeader(
                    "the data key does not open under the verified key (header altered)".into(),
                ),
                BlsError::Encoding(m) => BlsError::BadHeader(format!("data-key ciphertext: {m}")),
                other => other,
            },
        )?);
        let mut data_key = Zeroizing::new([0u8; KEY_BYTES]);
        if opened.len() != KEY_BYTES {
            return Err(BlsError::BadHeader(format!(
                "data key of {} bytes, not {KEY_BYTES}",
                opened.len()
            )));
        }
        data_key.copy_from_slice(&opened);
        Ok(data_key)
    }
}

/// Fill `buf` from `reader` as far as it goes; fewer bytes than `buf.len()`
/// means the reader is at its end.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> Result<usize, BlsError> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(filled)
}

fn cipher(data_key: &[u8; KEY_BYTES]) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(data_key.into())
}

fn too_long() -> BlsError {
    BlsError::BadParameters(format!(
        "data longer than the format allows ({} chunks of {CHUNK_BYTES} bytes)",
        u32::MAX
    ))
}

/// Encrypt everything `reader` yields to `identity` under the BLS root
/// public key, writing the container (see the [module docs](self)) to
/// `writer`. Memory use is one chunk whatever the size. Returns the number
/// of bytes written ([`container_len`] of the plaintext length).
///
/// Errors: a failing reader or writer is [`BlsError::Io`]; more than
/// `(2³² − 1) · 64 KiB` of data is [`BlsError::BadParameters`].
pub fn encrypt_stream(
    public_key: &G1Projective,
    identity: &[u8],
    mut reader: impl Read,
    mut writer: impl Write,
) -> Result<u64, BlsError> {
    let mut data_key = Zeroizing::new([0u8; KEY_BYTES]);
    OsRng.fill_bytes(&mut data_key[..]);
    let mut nonce = [0u8; NONCE_PREFIX_BYTES];
    OsRng.fill_bytes(&mut nonce);
    let key_ct = ibe::encrypt(public_key, identity, &data_key[..])?;
    let header = Header::new(identity, &nonce, &key_ct)?;
    writer.write_all(&header.bytes)?;
    let mut written = header.bytes.len() as u64;

    let mut stream = EncryptorBE32::from_aead(cipher(&data_key), (&nonce).into());
    let mut buf = Zeroizing::new(Vec::with_capacity(CHUNK_BYTES + TAG_BYTES));
    loop {
        buf.resize(CHUNK_BYTES, 0);
        let n = read_full(&mut reader, &mut buf)?;
        buf.truncate(n);
        if n < CHUNK_BYTES {
            stream
                .encrypt_last_in_place(&header.bytes, &mut *buf)
                .map_err(|_| too_long())?;
            writer.write_all(&buf)?;
            written += buf.len() as u64;
            break;
        }
        stream
            .encrypt_next_in_place(&header.bytes, &mut *buf)
            .map_err(|_| too_long())?;
        writer.write_all(&buf)?;
        written += buf.len() as u64;
    }
    writer.flush()?;
    Ok(written)
}

/// [`encrypt_stream`] from and to memory: the container for `plaintext`.
pub fn encrypt_bytes(
    public_key: &G1Projective,
    identity: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, BlsError> {
    let mut out = Vec::with_capacity(
        usize::try_from(container_len(plaintext.len() as u64)).unwrap_or(plaintext.len()),
    );
    encrypt_stream(public_key, identity, plaintext, &mut out)?;
    Ok(out)
}

/// Decrypt a container read from `reader` to `identity`, given the nodes'
/// decryption shares for that identity ([`crate::decryption_share`]),
/// writing the plaintext to `writer`. Returns the number of plaintext bytes
/// written.
///
/// The header is read first: a container made for another identity is
/// [`BlsError::WrongIdentity`], a malformed one [`BlsError::BadHeader`].
/// Then the shares are combined and the result verified under the set's
/// public key ([`crate::combine_verified`]): fewer than `threshold` is
/// [`BlsError::NotEnoughShares`], a share that fails its node's public share
/// names the node ([`BlsError::Culprit`]). A data chunk that does not
/// authenticate is [`BlsError::Corrupt`] with its index.
///
/// **On any error, discard what was written**: chunks are written as they
/// authenticate, and only a successful return vouches for the whole.
pub fn decrypt_stream_with_shares(
    public: &BlsPublicKeySet,
    identity: &[u8],
    shares: &[BlsSignatureShare],
    mut reader: impl Read,
    writer: impl Write,
) -> Result<u64, BlsError> {
    let header = Header::read(&mut reader)?;
    header.check_identity(identity)?;
    let key = sign::combine_verified(public, identity, shares)?;
    decrypt_body(&header, &key, reader, writer)
}

/// Check, before asking anyone for a decryption key, that the container
/// read from `container` was made for `identity` (its header carries the
/// identity's hash): [`BlsError::WrongIdentity`] if not, [`BlsError::BadHeader`]
/// if the header does not parse.
pub fn check_identity(mut container: impl Read, identity: &[u8]) -> Result<(), BlsError> {
    Header::read(&mut container)?.check_identity(identity)
}

/// [`decrypt_stream_with_shares`] with a decryption key the caller has
/// already combined (the BLS signature over `identity`): it is verified
/// under `public_key` first ([`BlsError::SignatureDoesNotVerify`]).
pub fn decrypt_stream_with_key(
    public_key: &G1Projective,
    identity: &[u8],
    key: &BlsSignature,
    mut reader: impl Read,
    writer: impl Write,
) -> Result<u64, BlsError> {
    let header = Header::read(&mut reader)?;
    header.check_identity(identity)?;
    sign::verify(public_key, identity, key)?;
    decrypt_body(&header, key, reader, writer)
}

/// Whether `ciphertext` is a container of this module (by its magic) rather
/// than Lit's one-piece time-lock ciphertext ([`ibe`], what the Lit JS SDK's
/// `encrypt` writes).
pub fn is_container(ciphertext: &[u8]) -> bool {
    ciphertext.starts_with(MAGIC)
}

/// What can be checked of either form before any decryption share is asked
/// for: a container of this module must name `identity` in its header
/// ([`check_identity`]); Lit's one-piece ciphertext names no identity and
/// shows a mismatch only when [`decrypt_either_with_key`] opens it.
pub fn check_identity_before_opening(ciphertext: &[u8], identity: &[u8]) -> Result<(), BlsError> {
    if is_container(ciphertext) {
        check_identity(ciphertext, identity)
    } else {
        Ok(())
    }
}

/// Decrypt a ciphertext in either form Candela reads, with a decryption key
/// the caller has combined (verified under `public_key` here first):
/// - a container of this module, streamed as [`decrypt_stream_with_key`];
/// - Lit's one-piece time-lock ciphertext, opened in memory; its plaintext
///   must hash (SHA-256) to `data_hash`, the `dataToEncryptHash` it came
///   with ([`BlsError::DataHashMismatch`] otherwise: the encryptor lied
///   about what it sealed), and only then is it written.
pub fn decrypt_either_with_key(
    public_key: &G1Projective,
    identity: &[u8],
    key: &BlsSignature,
    data_hash: &[u8; 32],
    ciphertext: &[u8],
    mut writer: impl Write,
) -> Result<u64, BlsError> {
    if is_container(ciphertext) {
        return decrypt_stream_with_key(public_key, identity, key, ciphertext, writer);
    }
    sign::verify(public_key, identity, key)?;
    let plaintext = Zeroizing::new(ibe::decrypt_with_key(ciphertext, key)?);
    if Sha256::digest(plaintext.as_slice()).as_slice() != data_hash {
        return Err(BlsError::DataHashMismatch);
    }
    writer.write_all(&plaintext)?;
    Ok(plaintext.len() as u64)
}

/// [`decrypt_stream_with_shares`] from and to memory: the plaintext of
/// `container`, returned only if all of it authenticates.
pub fn decrypt_bytes_with_shares(
    public: &BlsPublicKeySet,
    identity: &[u8],
    shares: &[BlsSignatureShare],
    container: &[u8],
) -> Result<Vec<u8>, BlsError> {
    let mut out = Vec::with_capacity(container.len().saturating_sub(header_len()));
    decrypt_stream_with_shares(public, identity, shares, container, &mut out)?;
    Ok(out)
}

/// Open the data key with the verified `key` and decrypt the chunks.
fn decrypt_body(
    header: &Header,
    key: &BlsSignature,
    mut reader: impl Read,
    mut writer: impl Write,
) -> Result<u64, BlsError> {
    let data_key = header.open_key(key)?;
    let mut stream = DecryptorBE32::from_aead(cipher(&data_key), (&header.nonce()).into());
    let mut buf = Zeroizing::new(Vec::with_capacity(CHUNK_BYTES + TAG_BYTES));
    let mut written = 0u64;
    let mut chunk = 0u64;
    loop {
        buf.resize(CHUNK_BYTES + TAG_BYTES, 0);
        let n = read_full(&mut reader, &mut buf)?;
        buf.truncate(n);
        let tampered = BlsError::Corrupt {
            chunk,
            reason: Corruption::Tampered,
        };
        if n == CHUNK_BYTES + TAG_BYTES {
            // A full chunk is never the final one.
            stream
                .decrypt_next_in_place(&header.bytes, &mut *buf)
                .map_err(|_| tampered)?;
            writer.write_all(&buf)?;
            written += buf.len() as u64;
            chunk += 1;
            continue;
        }
        if n == 0 {
            return Err(BlsError::Corrupt {
                chunk,
                reason: Corruption::Truncated,
            });
        }
        // A short read: the reader is at its end, this is the final chunk.
        stream
            .decrypt_last_in_place(&header.bytes, &mut *buf)
            .map_err(|_| tampered)?;
        writer.write_all(&buf)?;
        written += buf.len() as u64;
        break;
    }
    writer.flush()?;
    Ok(written)
}
