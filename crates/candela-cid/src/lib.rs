//! IPFS CIDv0 (`Qm...`) of a byte string, exactly as `ipfs add --only-hash`
//! computes it with kubo's defaults.
//!
//! Those defaults are: UnixFS `File` nodes in dag-pb (leaves too: no raw
//! leaves), a fixed-size chunker of [`CHUNK_SIZE`] bytes, the balanced DAG
//! layout with at most [`MAX_CHILDREN`] links per node, a sha2-256 multihash
//! and base58btc text. A file of at most one chunk is a single leaf block; a
//! larger one is a tree whose root's hash is the CID.
//!
//! The 34-byte multihash (`0x12 0x20` + the 32-byte digest) is how Lit's
//! contracts store action CIDs: [`parse_cid_v0`] and [`multihash_to_cid_v0`]
//! convert between it and the text form.
//!
//! ```
//! assert_eq!(
//!     candela_cid::cid_v0(b"hello world\n"),
//!     "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
//! );
//! ```
//!
//! Nothing here stores blocks: only the hashes are computed, streaming, with
//! memory bounded by one chunk plus one pending link list per tree level.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::fmt;
use std::io::{self, Read};

use sha2::{Digest, Sha256};

/// Chunk size of kubo's default chunker (`size-262144`, 256 KiB).
pub const CHUNK_SIZE: usize = 262_144;

/// Most links per node in kubo's default balanced layout.
pub const MAX_CHILDREN: usize = 174;

/// CIDv0 of the empty file.
pub const EMPTY_FILE_CID: &str = "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH";

/// Length in bytes of a CIDv0 multihash: `0x12 0x20` + a 32-byte digest.
pub const MULTIHASH_LEN: usize = 34;

/// Length in characters of a CIDv0 string.
pub const CID_V0_LEN: usize = 46;

/// Multihash code of sha2-256.
const SHA2_256_CODE: u8 = 0x12;
/// Digest length of sha2-256.
const SHA2_256_LEN: u8 = 0x20;
/// UnixFS `Data.Type` value of a file.
const UNIXFS_FILE: u64 = 2;

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CidError {
    /// The string does not have the 46 characters of a CIDv0.
    #[error("invalid CIDv0 length: expected {CID_V0_LEN} characters (\"Qm...\"), got {0}")]
    InvalidLength(usize),
    /// The string looks like a CIDv1 (multibase prefix `b`, e.g. `bafy...`).
    #[error(
        "not a CIDv0: this looks like a CIDv1 (base32, \"b...\"); \
         only base58btc CIDv0 strings (\"Qm...\", {CID_V0_LEN} characters) are accepted"
    )]
    CidV1NotSupported,
    /// The string is not valid base58btc.
    #[error("invalid base58btc in CIDv0: {0}")]
    InvalidBase58(String),
    /// The decoded multihash does not have 34 bytes.
    #[error("invalid CIDv0 multihash length: expected {MULTIHASH_LEN} bytes, got {0}")]
    InvalidMultihashLength(usize),
    /// The multihash is not sha2-256 with a 32-byte digest.
    #[error(
        "unsupported multihash prefix 0x{code:02x} 0x{len:02x}: \
         CIDv0 requires sha2-256 with a 32-byte digest (0x12 0x20)"
    )]
    UnsupportedMultihash {
        /// First byte found (the hash function code).
        code: u8,
        /// Second byte found (the digest length).
        len: u8,
    },
    /// The content does not hash to the expected CID.
    #[error("content does not match CID: expected {expected}, content hashes to {actual}")]
    Mismatch {
        /// The CID the content was checked against.
        expected: String,
        /// The CID the content actually has.
        actual: String,
    },
    /// [`Hasher::with_chunking`] was given unusable parameters.
    #[error("invalid chunking parameters: {0}")]
    InvalidChunking(&'static str),
    /// Reading the content failed.
    #[error("I/O error while reading content: {0}")]
    Io(#[from] io::Error),
}

/// CIDv0 of `data`, as `ipfs add --only-hash` prints it with kubo's defaults.
pub fn cid_v0(data: &[u8]) -> String {
    let mut hasher = Hasher::new();
    hasher.update(data);
    hasher.finalize()
}

/// CIDv0 of everything `reader` yields, without holding it all in memory.
///
/// Fails only if reading fails ([`CidError::Io`]).
pub fn cid_v0_reader<R: Read>(reader: R) -> Result<String, CidError> {
    let mut hasher = Hasher::new();
    hasher.update_reader(reader)?;
    Ok(hasher.finalize())
}

/// Validates a CIDv0 string and returns its 34-byte multihash
/// (`0x12 0x20` + the sha2-256 digest).
///
/// The string must be exactly the 46-character base58btc form, with no
/// surrounding whitespace.
pub fn parse_cid_v0(s: &str) -> Result<[u8; MULTIHASH_LEN], CidError> {
    let chars = s.chars().count();
    if chars != CID_V0_LEN {
        if s.starts_with('b') {
            return Err(CidError::CidV1NotSupported);
        }
        return Err(CidError::InvalidLength(chars));
    }
    let bytes = bs58::decode(s)
        .into_vec()
        .map_err(|e| CidError::InvalidBase58(e.to_string()))?;
    check_multihash(&bytes)
}

/// CIDv0 string of a 34-byte sha2-256 multihash; the inverse of
/// [`parse_cid_v0`].
pub fn multihash_to_cid_v0(mh: &[u8]) -> Result<String, CidError> {
    let mh = check_multihash(mh)?;
    Ok(bs58::encode(mh).into_string())
}

/// Checks that `data` has the CIDv0 `cid`.
///
/// Fails with the parse error if `cid` is not a valid CIDv0, and with
/// [`CidError::Mismatch`] if the content hashes to another CID.
pub fn verify(data: &[u8], cid: &str) -> Result<(), CidError> {
    let expected = parse_cid_v0(cid)?;
    let mut hasher = Hasher::new();
    hasher.update(data);
    compare(cid, &expected, hasher.finalize_multihash())
}

/// Streaming [`verify`]: checks that everything `reader` yields has the
/// CIDv0 `cid`. The CID is parsed before anything is read.
pub fn verify_reader<R: Read>(reader: R, cid: &str) -> Result<(), CidError> {
    let expected = parse_cid_v0(cid)?;
    let mut hasher = Hasher::new();
    hasher.update_reader(reader)?;
    compare(cid, &expected, hasher.finalize_multihash())
}

fn compare(
    cid: &str,
    expected: &[u8; MULTIHASH_LEN],
    actual: [u8; MULTIHASH_LEN],
) -> Result<(), CidError> {
    if *expected == actual {
        Ok(())
    } else {
        Err(CidError::Mismatch {
            expected: cid.to_owned(),
            actual: bs58::encode(actual).into_string(),
        })
    }
}

fn check_multihash(mh: &[u8]) -> Result<[u8; MULTIHASH_LEN], CidError> {
    let out: [u8; MULTIHASH_LEN] = mh
        .try_into()
        .map_err(|_| CidError::InvalidMultihashLength(mh.len()))?;
    if out[0] != SHA2_256_CODE || out[1] != SHA2_256_LEN {
        return Err(CidError::UnsupportedMultihash {
            code: out[0],
            len: out[1],
        });
    }
    Ok(out)
}

/// A finished subtree: what its parent's link and UnixFS metadata need.
#[derive(Clone, Copy)]
struct Child {
    /// sha2-256 multihash of the subtree's root block.
    multihash: [u8; MULTIHASH_LEN],
    /// Root block size plus the `Tsize` of all its links (dag-pb `Tsize`).
    tsize: u64,
    /// Bytes of file content under this subtree (UnixFS `filesize`).
    filesize: u64,
}

/// Incremental CIDv0 computation: feed bytes with [`Hasher::update`] (or
/// through [`std::io::Write`]), then call [`Hasher::finalize`].
///
/// The result depends only on the concatenation of the bytes fed, not on how
/// they were split across calls.
pub struct Hasher {
    chunk_size: usize,
    max_children: usize,
    /// The current, not yet full, chunk.
    buf: Vec<u8>,
    /// Pending children per tree level; level 0 holds leaves.
    levels: Vec<Vec<Child>>,
    /// Whether any leaf has been emitted.
    any_leaf: bool,
    /// Reused buffer for serializing inner nodes.
    scratch: Vec<u8>,
}

impl Default for Hasher {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hasher")
            .field("chunk_size", &self.chunk_size)
            .field("max_children", &self.max_children)
            .field("buffered", &self.buf.len())
            .field("levels", &self.levels.len())
            .finish()
    }
}

impl Hasher {
    /// A hasher with kubo's defaults ([`CHUNK_SIZE`], [`MAX_CHILDREN`]).
    pub fn new() -> Self {
        Self {
            chunk_size: CHUNK_SIZE,
            max_children: MAX_CHILDREN,
            buf: Vec::new(),
            levels: Vec::new(),
            any_leaf: false,
            scratch: Vec::new(),
        }
    }

    /// A hasher with another chunk size and fan-out.
    ///
    /// `chunk_size` matches `ipfs add --chunker=size-<chunk_size>`; kubo has
    /// no flag for `max_children`. Anything but the defaults gives CIDs that
    /// a default `ipfs add` does not. Needs `chunk_size >= 1` and
    /// `max_children >= 2`.
    pub fn with_chunking(chunk_size: usize, max_children: usize) -> Result<Self, CidError> {
        if chunk_size == 0 {
            return Err(CidError::InvalidChunking("chunk_size must be at least 1"));
        }
        if max_children < 2 {
            return Err(CidError::InvalidChunking("max_children must be at least 2"));
        }
        Ok(Self {
            chunk_size,
            max_children,
            ..Self::new()
        })
    }

    /// Feeds more content.
    pub fn update(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.buf.is_empty() && data.len() >= self.chunk_size {
                // Whole chunk available: hash it in place, no copy.
                let (chunk, rest) = data.split_at(self.chunk_size);
                self.push_leaf_bytes(chunk);
                data = rest;
                continue;
            }
            let take = (self.chunk_size - self.buf.len()).min(data.len());
            let (head, rest) = data.split_at(take);
            self.buf.extend_from_slice(head);
            data = rest;
            if self.buf.len() == self.chunk_size {
                let chunk = std::mem::take(&mut self.buf);
                self.push_leaf_bytes(&chunk);
                self.buf = chunk;
                self.buf.clear();
            }
        }
    }

    /// Feeds everything `reader` yields, until end of file.
    pub fn update_reader<R: Read>(&mut self, mut reader: R) -> Result<(), CidError> {
        let mut block = vec![0u8; 64 * 1024];
        loop {
            match reader.read(&mut block) {
                Ok(0) => return Ok(()),
                Ok(n) => self.update(block.get(..n).unwrap_or(&block)),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(CidError::Io(e)),
            }
        }
    }

    /// The CIDv0 string of everything fed.
    pub fn finalize(self) -> String {
        bs58::encode(self.finalize_multihash()).into_string()
    }

    /// The 34-byte multihash (`0x12 0x20` + digest) of everything fed.
    pub fn finalize_multihash(mut self) -> [u8; MULTIHASH_LEN] {
        // The last, partial chunk; or the single empty leaf of an empty file.
        if !self.buf.is_empty() || !self.any_leaf {
            let chunk = std::mem::take(&mut self.buf);
            self.push_leaf_bytes(&chunk);
        }
        // Close the partial batch on each level, bottom up. A level that is
        // the top one and holds a single child is the root (this is also how
        // a one-chunk file becomes its own leaf).
        let mut k = 0;
        loop {
            let higher_pending = self.levels.iter().skip(k + 1).any(|l| !l.is_empty());
            let level = match self.levels.get_mut(k) {
                Some(level) => std::mem::take(level),
                // Unreachable: the loop returns at the top non-empty level.
                None => return empty_file_multihash(),
            };
            if !higher_pending {
                if let [root] = level.as_slice() {
                    return root.multihash;
                }
            }
            if !level.is_empty() {
                let node = self.inner_node(&level);
                self.push(k + 1, node);
            }
            k += 1;
        }
    }

    fn push_leaf_bytes(&mut self, chunk: &[u8]) {
        self.any_leaf = true;
        let leaf = leaf_node(chunk);
        self.push(0, leaf);
    }

    /// Adds a child on `level`, and folds a full batch into a node one level
    /// up (the balanced layout fills each node before starting the next).
    fn push(&mut self, level: usize, child: Child) {
        let mut level = level;
        let mut child = child;
        loop {
            while self.levels.len() <= level {
                self.levels.push(Vec::new());
            }
            let full = match self.levels.get_mut(level) {
                Some(pending) => {
                    pending.push(child);
                    if pending.len() < self.max_children {
                        return;
                    }
                    std::mem::take(pending)
                }
                None => return,
            };
            child = self.inner_node(&full);
            level += 1;
        }
    }

    /// dag-pb node with one link per child and UnixFS `File` data carrying
    /// `filesize` and one `blocksizes` entry per child (no `Data` bytes).
    fn inner_node(&mut self, children: &[Child]) -> Child {
        let filesize: u64 = children.iter().map(|c| c.filesize).sum();

        let mut unixfs_len = 2 + 1 + varint_len(filesize);
        for c in children {
            unixfs_len += 1 + varint_len(c.filesize);
        }

        let block = &mut self.scratch;
        block.clear();
        // PBNode: Links (field 2) are written before Data (field 1), as every
        // IPFS implementation does.
        for c in children {
            // PBLink { Hash = 1, Name = 2 (always present, empty), Tsize = 3 }
            let link_len = 2 + MULTIHASH_LEN + 2 + 1 + varint_len(c.tsize);
            block.push(0x12);
            put_varint(block, link_len as u64);
            block.push(0x0a);
            block.push(MULTIHASH_LEN as u8);
            block.extend_from_slice(&c.multihash);
            block.extend_from_slice(&[0x12, 0x00]);
            block.push(0x18);
            put_varint(block, c.tsize);
        }
        block.push(0x0a);
        put_varint(block, unixfs_len as u64);
        // UnixFS Data { Type = 1, filesize = 3, blocksizes = 4 (unpacked) }
        block.extend_from_slice(&[0x08, UNIXFS_FILE as u8]);
        block.push(0x18);
        put_varint(block, filesize);
        for c in children {
            block.push(0x20);
            put_varint(block, c.filesize);
        }

        let tsize = block.len() as u64 + children.iter().map(|c| c.tsize).sum::<u64>();
        Child {
            multihash: multihash(&[block.as_slice()]),
            tsize,
            filesize,
        }
    }
}

impl io::Write for Hasher {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Leaf block: dag-pb node with no links and UnixFS `File` data carrying the
/// chunk (`Data`, omitted when empty) and `filesize`.
fn leaf_node(chunk: &[u8]) -> Child {
    let len = chunk.len() as u64;
    let data_field_len = if chunk.is_empty() {
        0
    } else {
        1 + varint_len(len) + chunk.len()
    };
    let unixfs_len = 2 + data_field_len + 1 + varint_len(len);

    let mut head = Vec::with_capacity(24);
    head.push(0x0a); // PBNode.Data
    put_varint(&mut head, unixfs_len as u64);
    head.extend_from_slice(&[0x08, UNIXFS_FILE as u8]); // Type = File
    if !chunk.is_empty() {
        head.push(0x12); // UnixFS Data
        put_varint(&mut head, len);
    }
    let mut tail = Vec::with_capacity(11);
    tail.push(0x18); // filesize
    put_varint(&mut tail, len);

    Child {
        multihash: multihash(&[&head, chunk, &tail]),
        tsize: (head.len() + chunk.len() + tail.len()) as u64,
        filesize: len,
    }
}

fn empty_file_multihash() -> [u8; MULTIHASH_LEN] {
    leaf_node(&[]).multihash
}

fn multihash(parts: &[&[u8]]) -> [u8; MULTIHASH_LEN] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    let mut out = [0u8; MULTIHASH_LEN];
    out[0] = SHA2_256_CODE;
    out[1] = SHA2_256_LEN;
    out[2..].copy_from_slice(&h.finalize());
    out
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn varint_len(v: u64) -> usize {
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints() {
        for v in [0u64, 1, 127, 128, 255, 300, 16_383, 16_384, u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(out.len(), varint_len(v), "{v}");
        }
        let mut out = Vec::new();
        put_varint(&mut out, 300);
        assert_eq!(out, [0xac, 0x02]);
        put_varint(&mut out, 262_144);
        assert_eq!(out, [0xac, 0x02, 0x80, 0x80, 0x10]);
    }

    #[test]
    fn empty_file_block_bytes() {
        // PBNode { Data: UnixFS { Type: File, filesize: 0 } }, no Data bytes.
        let block = [0x0a, 0x04, 0x08, 0x02, 0x18, 0x00];
        let leaf = leaf_node(&[]);
        assert_eq!(leaf.multihash, multihash(&[&block]));
        assert_eq!(leaf.tsize, 6);
        assert_eq!(cid_v0(b""), EMPTY_FILE_CID);
    }

    #[test]
    fn hello_world_block_bytes() {
        let mut block = vec![0x0a, 0x12, 0x08, 0x02, 0x12, 0x0c];
        block.extend_from_slice(b"hello world\n");
        block.extend_from_slice(&[0x18, 0x0c]);
        assert_eq!(leaf_node(b"hello world\n").multihash, multihash(&[&block]));
    }

    /// Straightforward model of the balanced layout (as the JS importer
    /// writes it: batch children into nodes, level by level, until one is
    /// left), to check the streaming fold against.
    fn reference(data: &[u8], chunk_size: usize, max_children: usize) -> [u8; MULTIHASH_LEN] {
        let mut scratch = Hasher::with_chunking(chunk_size, max_children).unwrap();
        let mut nodes: Vec<Child> = if data.is_empty() {
            vec![leaf_node(&[])]
        } else {
            data.chunks(chunk_size).map(leaf_node).collect()
        };
        if nodes.len() == 1 {
            return nodes[0].multihash;
        }
        loop {
            nodes = nodes
                .chunks(max_children)
                .map(|batch| scratch.inner_node(batch))
                .collect();
            if nodes.len() == 1 {
                return nodes[0].multihash;
            }
        }
    }

    #[test]
    fn streaming_fold_matches_reference_layout() {
        let data: Vec<u8> = (0..2000u32).map(|i| (i * 31 + 7) as u8).collect();
        for (chunk_size, max_children) in [(1, 2), (1, 3), (3, 2), (4, 3), (5, 4), (7, 174)] {
            for len in (0..200).chain([242, 243, 244, 485, 486, 487, 1000, 2000]) {
                let slice = &data[..len];
                let mut h = Hasher::with_chunking(chunk_size, max_children).unwrap();
                // Uneven feeding must not matter.
                for piece in slice.chunks(len % 5 + 1) {
                    h.update(piece);
                }
                assert_eq!(
                    h.finalize_multihash(),
                    reference(slice, chunk_size, max_children),
                    "chunk {chunk_size}, fan-out {max_children}, len {len}"
                );
            }
        }
    }

    #[test]
    fn bad_chunking_rejected() {
        assert!(matches!(
            Hasher::with_chunking(0, 174),
            Err(CidError::InvalidChunking(_))
        ));
        assert!(matches!(
            Hasher::with_chunking(1, 1),
            Err(CidError::InvalidChunking(_))
        ));
    }
}
