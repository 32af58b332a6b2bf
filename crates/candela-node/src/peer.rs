//! Peer messages: every message between nodes is signed by the sender's
//! ed25519 identity key and checked against the node set; protocol messages
//! meant for one node are also encrypted to it (x25519 static-static key
//! agreement, HKDF-SHA256, XChaCha20-Poly1305).
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use std::path::Path;

use hkdf::Hkdf;
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use x25519_dalek::{PublicKey, StaticSecret};

use candela_api::network::NodeInfo;

/// How old a peer message may be before it is refused.
pub const MAX_MESSAGE_AGE_MS: u64 = 120_000;

/// Peer-message failures; each names what was wrong.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PeerError {
    /// The envelope did not decode.
    #[error("malformed peer message")]
    Malformed,
    /// The claimed sender is not in the node set.
    #[error("unknown sender {0}")]
    UnknownSender(u32),
    /// The message is for another node.
    #[error("message addressed to node {0}")]
    WrongRecipient(u32),
    /// The signature does not verify under the sender's identity key.
    #[error("bad signature from node {0}")]
    BadSignature(u32),
    /// Too old or from the future.
    #[error("stale peer message from node {0}")]
    Stale(u32),
    /// An encrypted payload did not open.
    #[error("private message from node {0} failed to decrypt")]
    Decrypt(u32),
    /// A key in the node set is malformed.
    #[error("bad key in node set: {0}")]
    BadKey(String),
    /// The same message was delivered before (inside its freshness window).
    #[error("replayed peer message from node {0}")]
    Replayed(u32),
    /// The body is longer than its signed header says, or than
    /// [`MAX_BODY_BYTES`].
    #[error("peer message from node {0} is too large")]
    TooLarge(u32),
    /// Too many messages to remember for replay protection right now.
    #[error("too many recent peer messages; try again shortly")]
    Busy,
    /// A reply does not answer this node's question.
    #[error("reply from node {0} does not answer the question asked")]
    WrongReply(u32),
}

/// One value of a [`PeerBody::Collects`] batch: the fields of
/// [`PeerBody::Collect`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CollectItem {
    /// The execution's request id.
    pub request_id: String,
    /// What the value is for, e.g. `bc/{name}`.
    pub topic: String,
    /// The value (hex of its ciphertext when private).
    pub value: String,
    /// Encrypted to the recipient (decryption shares).
    #[serde(default)]
    pub private: bool,
}

/// What one node says to another.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum PeerBody {
    /// A message of a running protocol session.
    Protocol {
        /// Session id.
        session: String,
        /// Encrypted to the recipient.
        private: bool,
        /// Payload (ciphertext when private): MessagePack `bin`, not an
        /// array of integers (protocol messages run to tens of kilobytes).
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
    },
    /// Join a presignature session started by the pool leader.
    StartPresign {
        /// Session id.
        session: String,
        /// Who takes part.
        participants: Vec<u32>,
        /// Presignatures in the batch.
        count: u32,
    },
    /// Ask the coordinator which presignature and signers a request uses.
    Assign {
        /// The request id.
        request_id: String,
        /// Nodes the client asked to leave out of the signing set.
        #[serde(default)]
        exclude: Vec<u32>,
        /// `H(PKP, digest)` of the asker's request: the coordinator records
        /// the first and refuses another for the same request id.
        binding: String,
        /// How long the asker will wait for the assignment, in milliseconds
        /// (its caller's remaining budget); the coordinator keeps the request
        /// in line for a presignature that long at most.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        wait_ms: Option<u64>,
    },
    /// Ask the coordinator for the signers and commitments of a Schnorr
    /// signing request (see [`crate::schnorr`]).
    SchnorrAssign {
        /// The request id.
        request_id: String,
        /// Lit's name of the scheme.
        scheme: String,
        /// Nodes the client asked to leave out of the signing set.
        #[serde(default)]
        exclude: Vec<u32>,
        /// `schnorr_binding` of the asker's request.
        binding: String,
    },
    /// The coordinator asks a signer for a fresh commitment for a request.
    SchnorrCommit {
        /// The request id.
        request_id: String,
        /// Lit's name of the scheme.
        scheme: String,
    },
    /// A coordinator asks a signer for commitments reserved for its stock
    /// ([`crate::schnorr_stock`]), answered as a JSON list.
    SchnorrCommitBatch {
        /// Lit's name of the scheme.
        scheme: String,
        /// How many (at most [`crate::schnorr_stock::STOCK_BATCH`]).
        count: u32,
    },
    /// Which root keys does the recipient hold? Asked by a node that holds
    /// none at start (see `node/repair.rs`); answered with the public facts
    /// of each (a JSON list, empty on a new network).
    RootPublics,
    /// The sender asked for reshare `id` ([`PeerBody::Repair`]) but a
    /// participant refused it: stop taking part.
    AbortReshare {
        /// The id of the request.
        id: u64,
    },
    /// Take part in repairing the shares of `receivers` (the sender and
    /// every other node that lost its shares): reshare `roots`, in this
    /// order, among every node, dealt by `dealers`, under the sender's `id`.
    Repair {
        /// Chosen by the sender; names the reshare sessions.
        id: u64,
        /// The nodes that deal (at least the threshold, ascending).
        dealers: Vec<u32>,
        /// The nodes that hold no share (ascending): nodes that lost them,
        /// and members joining.
        receivers: Vec<u32>,
        /// The committee the keys move to: these members (ascending), with
        /// `new_threshold` (the committee of now for a plain repair).
        new_members: Vec<u32>,
        /// Shares needed in that committee.
        new_threshold: u32,
        /// The roots, by label, in reshare order.
        roots: Vec<String>,
    },
    /// A value an action shares with the other nodes running the same
    /// execution (`broadcastAndCollect`, `runOnce`, `signAndCombineEcdsa`).
    Collect {
        /// The execution's request id.
        request_id: String,
        /// What the value is for, e.g. `bc/{name}`.
        topic: String,
        /// The value (hex of its ciphertext when private).
        value: String,
        /// Encrypted to the recipient (decryption shares).
        #[serde(default)]
        private: bool,
    },
    /// Several [`PeerBody::Collect`] values in one message (see
    /// [`crate::outbox`]).
    Collects {
        /// The values, oldest first.
        items: Vec<CollectItem>,
    },
    /// A heartbeat (`/peer/v1/ping`), answered with [`PeerBody::Pong`].
    Ping {
        /// Random; the answer must carry it back.
        challenge: u64,
        /// The sender's boot id (a new one means the sender restarted).
        boot: u64,
    },
    /// The answer to a [`PeerBody::Ping`], sealed to the pinger.
    Pong {
        /// The ping's challenge.
        challenge: u64,
        /// The answering node's boot id.
        boot: u64,
    },
    /// Which of these presignatures does the recipient hold as used (or
    /// reserved)? Asked by a node at start, before it signs, so that a
    /// node restored from an old copy of its database never reuses one.
    UsedQuery {
        /// Random; the answer must carry it back.
        challenge: u64,
        /// Presignature ids (at most [`MAX_USED_QUERY`]).
        ids: Vec<String>,
    },
    /// The sender used these presignatures (see [`crate::spent`]).
    PresignaturesSpent {
        /// Presignature and request id pairs (at most [`MAX_USED_QUERY`]).
        uses: Vec<crate::spent::PresignatureUse>,
    },
    /// The answer to a [`PeerBody::UsedQuery`], sealed to the asker.
    UsedAnswer {
        /// The query's challenge.
        challenge: u64,
        /// The ids of the query this node holds as used or reserved.
        used: Vec<String>,
        /// The ids of the query this node does not hold at all.
        #[serde(default)]
        missing: Vec<String>,
    },
}

/// Most presignature ids asked about in one [`PeerBody::UsedQuery`].
pub const MAX_USED_QUERY: usize = 1024;

/// Largest signed header of a peer message, in bytes. A sender that is not
/// a member of the node set can make a node read at most this much (plus
/// the 2-byte length and one transport chunk) before it is refused.
pub const MAX_HEADER_BYTES: usize = 512;
/// Largest body of an authenticated peer message, in bytes.
pub const MAX_BODY_BYTES: u64 = 64 * 1024 * 1024;
/// Peer messages remembered at once for replay protection; past this a node
/// refuses new messages until old ones leave the freshness window.
pub const MAX_REMEMBERED: usize = 500_000;

/// The signed header that precedes a peer message's body on the wire:
/// `[u16 big-endian header length][msgpack Header][body]`. The signature
/// covers the SHA-256 of the body, so a receiver checks who sent a message
/// and how long it is before it reads (or buffers) the body.
#[derive(Serialize, Deserialize)]
struct Header {
    from: u32,
    to: u32,
    sent_ms: u64,
    /// Random message id: a second message with the same sender and id
    /// inside the freshness window is a replay.
    id: [u8; 16],
    body_len: u64,
    body_hash: [u8; 32],
    sig: Vec<u8>,
}

/// A header whose signature verified: what the body must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    /// The sender.
    pub from: u32,
    /// The message id.
    pub id: [u8; 16],
    /// When the sender sealed it.
    pub sent_ms: u64,
    body_len: u64,
    body_hash: [u8; 32],
}

/// Remembers the ids of peer messages accepted inside the freshness window
/// ([`MAX_MESSAGE_AGE_MS`]), so that a captured message cannot be delivered
/// twice. Older messages are refused as stale, so they need not be kept.
#[derive(Default)]
pub struct ReplayGuard {
    inner: std::sync::Mutex<ReplayState>,
}

#[derive(Default)]
struct ReplayState {
    seen: std::collections::HashSet<(u32, [u8; 16])>,
    /// (forget after, sender, id), in the order they were accepted.
    order: std::collections::VecDeque<(u64, u32, [u8; 16])>,
}

impl ReplayState {
    fn prune(&mut self, now_ms: u64) {
        while let Some(&(until, from, id)) = self.order.front() {
            if until >= now_ms {
                break;
            }
            self.order.pop_front();
            self.seen.remove(&(from, id));
        }
    }
}

impl ReplayGuard {
    fn lock(&self) -> std::sync::MutexGuard<'_, ReplayState> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Refuse a message already accepted (checked before its body is read).
    pub fn check(&self, m: &Authenticated, now_ms: u64) -> Result<(), PeerError> {
        let mut st = self.lock();
        st.prune(now_ms);
        if st.seen.contains(&(m.from, m.id)) {
            return Err(PeerError::Replayed(m.from));
        }
        Ok(())
    }

    /// Record a message whose body verified; a second one with the same
    /// sender and id is refused.
    pub fn remember(&self, m: &Authenticated, now_ms: u64) -> Result<(), PeerError> {
        let mut st = self.lock();
        st.prune(now_ms);
        if st.seen.contains(&(m.from, m.id)) {
            return Err(PeerError::Replayed(m.from));
        }
        if st.seen.len() >= MAX_REMEMBERED {
            return Err(PeerError::Busy);
        }
        st.seen.insert((m.from, m.id));
        st.order
            .push_back((m.sent_ms.saturating_add(MAX_MESSAGE_AGE_MS), m.from, m.id));
        Ok(())
    }

    /// Messages remembered now.
    pub fn len(&self) -> usize {
        self.lock().seen.len()
    }

    /// True when no message is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

enum ReadState {
    /// Waiting for the 2-byte header length.
    Prefix,
    /// Waiting for a header of this many bytes.
    Header(usize),
    /// The header verified; reading the body it announced.
    Body(Authenticated),
}

/// Reads one peer message as its bytes arrive: the header is checked
/// (sender in the node set, addressed to this node, signature, freshness,
/// not a replay, announced size) as soon as it is complete, and a message
/// that fails is refused before any more of its body is taken. Pure: the
/// HTTP layer feeds it the body's chunks.
pub struct PeerReader<'a> {
    dir: &'a Directory,
    replay: Option<&'a ReplayGuard>,
    me: u32,
    now_ms: u64,
    buf: Vec<u8>,
    state: ReadState,
    /// Bytes taken so far.
    taken: u64,
    /// Largest body accepted.
    max_body: u64,
}

impl<'a> PeerReader<'a> {
    /// A reader for a message to `me`, received at `now_ms`; with `replay`,
    /// a message already accepted is refused and this one is remembered.
    pub fn new(dir: &'a Directory, replay: Option<&'a ReplayGuard>, me: u32, now_ms: u64) -> Self {
        PeerReader {
            dir,
            replay,
            me,
            now_ms,
            buf: Vec::new(),
            state: ReadState::Prefix,
            taken: 0,
            max_body: MAX_BODY_BYTES,
        }
    }

    /// Accept bodies of at most `max` bytes (checked on the signed header).
    pub fn with_max_body(mut self, max: u64) -> Self {
        self.max_body = max.min(MAX_BODY_BYTES);
        self
    }

    /// Bytes taken so far.
    pub fn taken(&self) -> u64 {
        self.taken
    }

    /// The sender, once the header has verified.
    pub fn sender(&self) -> Option<u32> {
        match &self.state {
            ReadState::Body(a) => Some(a.from),
            _ => None,
        }
    }

    /// Take the next chunk of the message. An error means the message is
    /// refused: read no further.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), PeerError> {
        self.taken += chunk.len() as u64;
        if let ReadState::Body(a) = &self.state {
            if (self.buf.len() + chunk.len()) as u64 > a.body_len {
                return Err(PeerError::TooLarge(a.from));
            }
        }
        self.buf.extend_from_slice(chunk);
        loop {
            match &self.state {
                ReadState::Prefix => {
                    if self.buf.len() < 2 {
                        return Ok(());
                    }
                    let len = u16::from_be_bytes([self.buf[0], self.buf[1]]) as usize;
                    if len == 0 || len > MAX_HEADER_BYTES {
                        return Err(PeerError::Malformed);
                    }
                    self.state = ReadState::Header(len);
                }
                ReadState::Header(len) => {
                    let len = *len;
                    if self.buf.len() < 2 + len {
                        return Ok(());
                    }
                    let a = self
                        .dir
                        .open_header(self.me, &self.buf[2..2 + len], self.now_ms)?;
                    if let Some(r) = self.replay {
                        r.check(&a, self.now_ms)?;
                    }
                    self.buf.drain(..2 + len);
                    if a.body_len > self.max_body || self.buf.len() as u64 > a.body_len {
                        return Err(PeerError::TooLarge(a.from));
                    }
                    self.buf.reserve(a.body_len.min(MAX_BODY_BYTES) as usize);
                    self.state = ReadState::Body(a);
                }
                ReadState::Body(_) => return Ok(()),
            }
        }
    }

    /// The whole message has been taken: check the body against the signed
    /// header, remember the message (replay), and decode it.
    pub fn finish(self) -> Result<(Authenticated, PeerBody), PeerError> {
        let ReadState::Body(a) = self.state else {
            return Err(PeerError::Malformed);
        };
        if self.buf.len() as u64 != a.body_len
            || Sha256::digest(&self.buf).as_slice() != a.body_hash
        {
            return Err(PeerError::BadSignature(a.from));
        }
        if let Some(r) = self.replay {
            r.remember(&a, self.now_ms)?;
        }
        let body = rmp_serde::from_slice(&self.buf).map_err(|_| PeerError::Malformed)?;
        Ok((a, body))
    }
}

/// A node's long-term secrets.
pub struct Identity {
    /// Signs peer messages.
    pub signing: SigningKey,
    /// Decrypts private protocol messages.
    pub x25519: StaticSecret,
}

impl Identity {
    /// Fresh random identity.
    pub fn generate() -> Self {
        let mut seed = [0u8; 32];
        OsRng.fill_bytes(&mut seed);
        let mut x = [0u8; 32];
        OsRng.fill_bytes(&mut x);
        Identity {
            signing: SigningKey::from_bytes(&seed),
            x25519: StaticSecret::from(x),
        }
    }

    /// Hex of the public identity key.
    pub fn identity_key_hex(&self) -> String {
        hex::encode(self.identity_key_bytes())
    }

    /// The public ed25519 identity key.
    pub fn identity_key_bytes(&self) -> [u8; 32] {
        self.signing.verifying_key().to_bytes()
    }

    /// The node's Ethereum wallet, derived from its identity seed
    /// ([`candela_registry::claim::node_wallet`]): its `Staking` address and
    /// the signer of its key claims.
    pub fn wallet(&self) -> k256::ecdsa::SigningKey {
        candela_registry::claim::node_wallet(&self.signing.to_bytes())
    }

    /// The address of [`Identity::wallet`].
    pub fn wallet_address(&self) -> [u8; 20] {
        candela_registry::claim::wallet_address(&self.wallet())
    }

    /// The public x25519 key.
    pub fn encryption_key_bytes(&self) -> [u8; 32] {
        PublicKey::from(&self.x25519).to_bytes()
    }

    /// Hex of the public x25519 key.
    pub fn encryption_key_hex(&self) -> String {
        hex::encode(self.encryption_key_bytes())
    }

    /// Serialize the secrets (`ed25519_hex:x25519_hex`).
    pub fn to_secret_string(&self) -> String {
        format!(
            "{}:{}",
            hex::encode(self.signing.to_bytes()),
            hex::encode(self.x25519.to_bytes())
        )
    }

    /// Parse what [`Identity::to_secret_string`] wrote.
    pub fn from_secret_string(s: &str) -> Result<Self, PeerError> {
        let (a, b) = s
            .trim()
            .split_once(':')
            .ok_or_else(|| PeerError::BadKey("identity file".into()))?;
        let a: [u8; 32] = hex::decode(a)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| PeerError::BadKey("ed25519".into()))?;
        let b: [u8; 32] = hex::decode(b)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| PeerError::BadKey("x25519".into()))?;
        Ok(Identity {
            signing: SigningKey::from_bytes(&a),
            x25519: StaticSecret::from(b),
        })
    }
}

/// What is wrong with an identity file.
#[derive(Debug, thiserror::Error)]
pub enum IdentityFileError {
    /// Reading or writing the file failed.
    #[error("identity file {path}: {error}")]
    Io {
        /// The file.
        path: String,
        /// What failed.
        error: std::io::Error,
    },
    /// Neither a sealed identity nor a plaintext one.
    #[error("identity file {0} is neither a sealed identity nor a plaintext one")]
    Format(String),
    /// The sealed identity did not open under this storage key.
    #[error(
        "identity file {0} does not open with this node's storage key (wrong key or tampered file)"
    )]
    Unseal(String),
    /// The storage key is not 32 bytes.
    #[error("the storage key must be 32 bytes")]
    Key,
}

/// How a sealed identity file starts; the rest is hex of
/// `nonce (24 bytes) || XChaCha20-Poly1305 ciphertext` of the secret string.
pub const SEALED_IDENTITY_PREFIX: &str = "candela-identity-sealed-v1:";
const IDENTITY_AAD: &[u8] = b"candela-identity-v1";

/// How [`Identity::load`] found the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityOrigin {
    /// It was sealed.
    Sealed,
    /// It was plaintext (an older node): it has been rewritten sealed.
    Migrated,
}

impl Identity {
    fn identity_cipher(storage_key: &[u8]) -> Result<XChaCha20Poly1305, IdentityFileError> {
        if storage_key.len() != 32 {
            return Err(IdentityFileError::Key);
        }
        XChaCha20Poly1305::new_from_slice(storage_key).map_err(|_| IdentityFileError::Key)
    }

    /// The identity sealed under the node's storage key (the same key and
    /// cipher as the key shares in the store): the text of a sealed
    /// identity file.
    pub fn seal_with(&self, storage_key: &[u8]) -> Result<String, IdentityFileError> {
        let c = Self::identity_cipher(storage_key)?;
        let mut nonce = [0u8; 24];
        OsRng.fill_bytes(&mut nonce);
        let plain = zeroize::Zeroizing::new(self.to_secret_string());
        let ct = c
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plain.as_bytes(),
                    aad: IDENTITY_AAD,
                },
            )
            .map_err(|_| IdentityFileError::Key)?;
        let mut out = nonce.to_vec();
        out.extend(ct);
        Ok(format!("{SEALED_IDENTITY_PREFIX}{}\n", hex::encode(out)))
    }

    /// Open the text of a sealed identity file.
    pub fn open_sealed(
        text: &str,
        storage_key: &[u8],
        name: &str,
    ) -> Result<Self, IdentityFileError> {
        let c = Self::identity_cipher(storage_key)?;
        let hex_part = text
            .trim()
            .strip_prefix(SEALED_IDENTITY_PREFIX)
            .ok_or_else(|| IdentityFileError::Format(name.into()))?;
        let bytes = hex::decode(hex_part).map_err(|_| IdentityFileError::Format(name.into()))?;
        if bytes.len() < 24 {
            return Err(IdentityFileError::Format(name.into()));
        }
        let (nonce, ct) = bytes.split_at(24);
        let plain = zeroize::Zeroizing::new(
            c.decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: IDENTITY_AAD,
                },
            )
            .map_err(|_| IdentityFileError::Unseal(name.into()))?,
        );
        let text =
            std::str::from_utf8(&plain).map_err(|_| IdentityFileError::Format(name.into()))?;
        Identity::from_secret_string(text).map_err(|_| IdentityFileError::Format(name.into()))
    }

    /// Write the identity sealed under `storage_key` to `path` (mode 0600,
    /// written to a temporary file and renamed into place).
    pub fn write_sealed(&self, path: &Path, storage_key: &[u8]) -> Result<(), IdentityFileError> {
        let text = self.seal_with(storage_key)?;
        let io = |error| IdentityFileError::Io {
            path: path.display().to_string(),
            error,
        };
        let tmp = path.with_extension("sealing");
        {
            use std::io::Write;
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            let mut f = opts.open(&tmp).map_err(io)?;
            f.write_all(text.as_bytes()).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, path).map_err(io)?;
        Ok(())
    }

    /// Read a node's identity file with its storage key. A sealed file is
    /// opened; a plaintext file (written by an older version) is rewritten
    /// sealed in place before the identity is used, so that the secret no
    /// longer rests in the clear.
    pub fn load(
        path: &Path,
        storage_key: &[u8],
    ) -> Result<(Self, IdentityOrigin), IdentityFileError> {
        let name = path.display().to_string();
        let text = zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|error| {
            IdentityFileError::Io {
                path: name.clone(),
                error,
            }
        })?);
        if text.trim_start().starts_with(SEALED_IDENTITY_PREFIX) {
            return Ok((
                Self::open_sealed(&text, storage_key, &name)?,
                IdentityOrigin::Sealed,
            ));
        }
        let id =
            Identity::from_secret_string(&text).map_err(|_| IdentityFileError::Format(name))?;
        id.write_sealed(path, storage_key)?;
        Ok((id, IdentityOrigin::Migrated))
    }
}

/// The public keys of every node.
pub struct Directory {
    keys: Vec<(VerifyingKey, PublicKey)>,
}

impl Directory {
    /// Build from the node set (indices must be 0..n in order).
    pub fn new(nodes: &[NodeInfo]) -> Result<Self, PeerError> {
        let mut keys = Vec::with_capacity(nodes.len());
        for (i, n) in nodes.iter().enumerate() {
            if n.index as usize != i {
                return Err(PeerError::BadKey(format!(
                    "node {} listed at position {i}",
                    n.index
                )));
            }
            let id: [u8; 32] = hex::decode(&n.identity_key)
                .ok()
                .and_then(|v| v.try_into().ok())
                .ok_or_else(|| PeerError::BadKey(format!("identity key of node {i}")))?;
            let vk = VerifyingKey::from_bytes(&id)
                .map_err(|_| PeerError::BadKey(format!("identity key of node {i}")))?;
            let x: [u8; 32] = hex::decode(&n.encryption_key)
                .ok()
                .and_then(|v| v.try_into().ok())
                .ok_or_else(|| PeerError::BadKey(format!("encryption key of node {i}")))?;
            keys.push((vk, PublicKey::from(x)));
        }
        Ok(Directory { keys })
    }

    fn signed_bytes(h: &Header) -> Vec<u8> {
        let mut m = b"candela-peer-v2".to_vec();
        m.extend_from_slice(&h.from.to_be_bytes());
        m.extend_from_slice(&h.to.to_be_bytes());
        m.extend_from_slice(&h.sent_ms.to_be_bytes());
        m.extend_from_slice(&h.id);
        m.extend_from_slice(&h.body_len.to_be_bytes());
        m.extend_from_slice(&h.body_hash);
        m
    }

    /// Sign a message from `me` to `to`: the wire bytes (signed header,
    /// then body).
    pub fn seal(
        &self,
        identity: &Identity,
        me: u32,
        to: u32,
        now_ms: u64,
        body: &PeerBody,
    ) -> Vec<u8> {
        let body = rmp_serde::to_vec(body).unwrap_or_default();
        let mut id = [0u8; 16];
        OsRng.fill_bytes(&mut id);
        let mut h = Header {
            from: me,
            to,
            sent_ms: now_ms,
            id,
            body_len: body.len() as u64,
            body_hash: Sha256::digest(&body).into(),
            sig: Vec::new(),
        };
        h.sig = identity
            .signing
            .sign(&Self::signed_bytes(&h))
            .to_bytes()
            .to_vec();
        let header = rmp_serde::to_vec(&h).unwrap_or_default();
        let mut out = Vec::with_capacity(2 + header.len() + body.len());
        out.extend_from_slice(&(header.len() as u16).to_be_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(&body);
        out
    }

    /// Check a message's signed header (sender in the node set, addressed
    /// to `me`, signature, freshness, announced size) before its body is
    /// read.
    pub fn open_header(
        &self,
        me: u32,
        header: &[u8],
        now_ms: u64,
    ) -> Result<Authenticated, PeerError> {
        let h: Header = rmp_serde::from_slice(header).map_err(|_| PeerError::Malformed)?;
        let (vk, _) = self
            .keys
            .get(h.from as usize)
            .ok_or(PeerError::UnknownSender(h.from))?;
        if h.to != me {
            return Err(PeerError::WrongRecipient(h.to));
        }
        let sig = Signature::from_slice(&h.sig).map_err(|_| PeerError::BadSignature(h.from))?;
        vk.verify(&Self::signed_bytes(&h), &sig)
            .map_err(|_| PeerError::BadSignature(h.from))?;
        if h.sent_ms.saturating_add(MAX_MESSAGE_AGE_MS) < now_ms
            || h.sent_ms > now_ms.saturating_add(MAX_MESSAGE_AGE_MS)
        {
            return Err(PeerError::Stale(h.from));
        }
        if h.body_len > MAX_BODY_BYTES {
            return Err(PeerError::TooLarge(h.from));
        }
        Ok(Authenticated {
            from: h.from,
            id: h.id,
            sent_ms: h.sent_ms,
            body_len: h.body_len,
            body_hash: h.body_hash,
        })
    }

    /// Check a whole received message addressed to `me`; returns sender and
    /// body. No replay check: use a [`PeerReader`] with a [`ReplayGuard`]
    /// for messages that arrive unasked; a reply is bound to its question
    /// by a challenge instead.
    pub fn open(&self, me: u32, bytes: &[u8], now_ms: u64) -> Result<(u32, PeerBody), PeerError> {
        let mut r = PeerReader::new(self, None, me, now_ms);
        r.push(bytes)?;
        let (a, body) = r.finish()?;
        Ok((a.from, body))
    }

    fn pair_cipher(
        &self,
        identity: &Identity,
        a: u32,
        b: u32,
        other: u32,
    ) -> Result<XChaCha20Poly1305, PeerError> {
        let (_, their) = self
            .keys
            .get(other as usize)
            .ok_or(PeerError::UnknownSender(other))?;
        let shared = identity.x25519.diffie_hellman(their);
        let (lo, hi) = if a < b { (a, b) } else { (b, a) };
        let mut info = b"candela-peer-private-v1".to_vec();
        info.extend_from_slice(&lo.to_be_bytes());
        info.extend_from_slice(&hi.to_be_bytes());
        let mut key = [0u8; 32];
        Hkdf::<Sha256>::new(None, shared.as_bytes())
            .expand(&info, &mut key)
            .map_err(|_| PeerError::BadKey("hkdf".into()))?;
        XChaCha20Poly1305::new_from_slice(&key).map_err(|_| PeerError::BadKey("cipher".into()))
    }

    fn aad(session: &str, from: u32, to: u32) -> Vec<u8> {
        let mut aad = session.as_bytes().to_vec();
        aad.extend_from_slice(&from.to_be_bytes());
        aad.extend_from_slice(&to.to_be_bytes());
        aad
    }

    /// Encrypt a private protocol message from `me` to `to`.
    pub fn encrypt(
        &self,
        identity: &Identity,
        me: u32,
        to: u32,
        session: &str,
        plain: &[u8],
    ) -> Result<Vec<u8>, PeerError> {
        let c = self.pair_cipher(identity, me, to, to)?;
        let mut nonce = [0u8; 24];
        OsRng.fill_bytes(&mut nonce);
        let ct = c
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: &Self::aad(session, me, to),
                },
            )
            .map_err(|_| PeerError::Decrypt(me))?;
        let mut out = nonce.to_vec();
        out.extend(ct);
        Ok(out)
    }

    /// Decrypt a private protocol message from `from` to `me`.
    pub fn decrypt(
        &self,
        identity: &Identity,
        me: u32,
        from: u32,
        session: &str,
        data: &[u8],
    ) -> Result<Vec<u8>, PeerError> {
        if data.len() < 24 {
            return Err(PeerError::Decrypt(from));
        }
        let c = self.pair_cipher(identity, me, from, from)?;
        let (nonce, ct) = data.split_at(24);
        c.decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: ct,
                aad: &Self::aad(session, from, me),
            },
        )
        .map_err(|_| PeerError::Decrypt(from))
    }
}

/// Three fresh node identities and the node set they form (tests only).
#[cfg(test)]
pub(crate) fn three_identities() -> (Vec<Identity>, Vec<NodeInfo>) {
    let ids: Vec<Identity> = (0..3).map(|_| Identity::generate()).collect();
    let infos = ids
        .iter()
        .enumerate()
        .map(|(i, id)| NodeInfo {
            index: i as u32,
            url: String::new(),
            identity_key: id.identity_key_hex(),
            encryption_key: id.encryption_key_hex(),
            wallet_address: Some(hex::encode(id.wallet_address())),
        })
        .collect();
    (ids, infos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (Vec<Identity>, Directory) {
        let (ids, infos) = three_identities();
        (ids, Directory::new(&infos).unwrap())
    }

    #[test]
    fn a_signed_message_opens_for_its_recipient_only() {
        let (ids, dir) = setup();
        let body = PeerBody::Assign {
            request_id: "r".into(),
            exclude: Vec::new(),
            binding: "b".into(),
            wait_ms: None,
        };
        let m = dir.seal(&ids[0], 0, 1, 1000, &body);
        assert_eq!(dir.open(1, &m, 1000).unwrap(), (0, body));
        assert_eq!(dir.open(2, &m, 1000), Err(PeerError::WrongRecipient(1)));
        assert_eq!(
            dir.open(1, &m, 1000 + MAX_MESSAGE_AGE_MS + 1),
            Err(PeerError::Stale(0))
        );
    }

    #[test]
    fn a_protocol_message_carries_its_payload_as_bytes_not_as_an_array_of_numbers() {
        let (ids, dir) = setup();
        // half the bytes at or above 128, which an integer array spends two
        // bytes on
        let data: Vec<u8> = (0..65_536u32).map(|i| (i * 131 % 256) as u8).collect();
        let body = PeerBody::Protocol {
            session: "s".into(),
            private: false,
            data: data.clone(),
        };
        let m = dir.seal(&ids[0], 0, 1, 1000, &body);
        assert!(
            m.len() < data.len() + 512,
            "{} bytes on the wire for {} bytes of payload",
            m.len(),
            data.len()
        );
        assert_eq!(dir.open(1, &m, 1000).unwrap(), (0, body));
    }

    #[test]
    fn a_forged_peer_message_is_refused() {
        let (ids, dir) = setup();
        let body = PeerBody::Assign {
            request_id: "r".into(),
            exclude: Vec::new(),
            binding: "b".into(),
            wait_ms: None,
        };
        // node 2 signs but claims to be node 0
        let forged = dir.seal(&ids[2], 0, 1, 1000, &body);
        assert_eq!(dir.open(1, &forged, 1000), Err(PeerError::BadSignature(0)));
        assert_eq!(dir.open(1, b"garbage", 1000), Err(PeerError::Malformed));
        assert_eq!(dir.open(1, b"", 1000), Err(PeerError::Malformed));
        // a body changed after signing no longer matches the signed hash
        let mut changed = dir.seal(&ids[0], 0, 1, 1000, &body);
        if let Some(b) = changed.last_mut() {
            *b ^= 1;
        }
        assert_eq!(dir.open(1, &changed, 1000), Err(PeerError::BadSignature(0)));
    }

    /// Feed `bytes` then `extra` chunks of 64 KiB to a reader until it
    /// refuses; how many bytes it took and its error.
    fn feed_until_refused(
        dir: &Directory,
        first: &[u8],
        extra_chunks: usize,
    ) -> (u64, Option<PeerError>) {
        let mut r = PeerReader::new(dir, None, 1, 1000);
        if let Err(e) = r.push(first) {
            return (r.taken(), Some(e));
        }
        let chunk = vec![0x5au8; 64 * 1024];
        for _ in 0..extra_chunks {
            if let Err(e) = r.push(&chunk) {
                return (r.taken(), Some(e));
            }
        }
        (r.taken(), None)
    }

    #[test]
    fn a_forged_large_peer_message_is_refused_before_its_body_is_read() {
        let (ids, dir) = setup();
        let stranger = Identity::generate();
        // a 64 MiB body behind a header signed by a key not in the node set
        let big = PeerBody::Protocol {
            session: "s".into(),
            private: false,
            data: vec![7u8; 1024],
        };
        let sealed = dir.seal(&stranger, 0, 1, 1000, &big);
        let header_len = 2 + u16::from_be_bytes([sealed[0], sealed[1]]) as usize;
        assert!(header_len <= 2 + MAX_HEADER_BYTES);
        let (taken, err) = feed_until_refused(&dir, &sealed[..header_len], 1024);
        assert_eq!(err, Some(PeerError::BadSignature(0)));
        assert_eq!(taken, header_len as u64, "refused on its header alone");
        // a header longer than the cap is refused on its length prefix
        let (taken, err) = feed_until_refused(&dir, &[0xff, 0xff], 1024);
        assert_eq!(err, Some(PeerError::Malformed));
        assert_eq!(taken, 2);
        // a member's genuine header bounds the body it is followed by
        let small = dir.seal(&ids[0], 0, 1, 1000, &big);
        let (taken, err) = feed_until_refused(&dir, &small, 1024);
        assert_eq!(err, Some(PeerError::TooLarge(0)));
        assert!(taken <= small.len() as u64 + 64 * 1024);
    }

    #[test]
    fn a_replayed_peer_message_is_refused_inside_its_freshness_window() {
        let (ids, dir) = setup();
        let guard = ReplayGuard::default();
        let body = PeerBody::Assign {
            request_id: "r".into(),
            exclude: Vec::new(),
            binding: "b".into(),
            wait_ms: None,
        };
        let read = |bytes: &[u8], now: u64| {
            let mut r = PeerReader::new(&dir, Some(&guard), 1, now);
            r.push(bytes)?;
            r.finish().map(|(a, b)| (a.from, b))
        };
        let m = dir.seal(&ids[0], 0, 1, 1000, &body);
        assert_eq!(read(&m, 1000), Ok((0, body.clone())));
        assert_eq!(read(&m, 1001), Err(PeerError::Replayed(0)));
        assert_eq!(
            read(&m, 1000 + MAX_MESSAGE_AGE_MS),
            Err(PeerError::Replayed(0)),
            "still refused at the end of its window"
        );
        // past its window it is stale, and forgotten
        assert_eq!(
            read(&m, 1001 + MAX_MESSAGE_AGE_MS),
            Err(PeerError::Stale(0))
        );
        // the same content sealed again is a new message; and the old one
        // is forgotten once past its window
        let later = 1001 + MAX_MESSAGE_AGE_MS;
        let again = dir.seal(&ids[0], 0, 1, later, &body);
        assert_eq!(read(&again, later), Ok((0, body)));
        assert_eq!(guard.len(), 1, "only the fresh message is remembered");
        // a copy with a corrupted body is not remembered in the original's place
        let other = dir.seal(
            &ids[2],
            2,
            1,
            later,
            &PeerBody::Ping {
                challenge: 1,
                boot: 2,
            },
        );
        let mut bad = other.clone();
        if let Some(b) = bad.last_mut() {
            *b ^= 1;
        }
        assert_eq!(read(&bad, later), Err(PeerError::BadSignature(2)));
        assert!(read(&other, later).is_ok());
    }

    #[test]
    fn the_identity_file_is_sealed_at_rest_and_a_plaintext_one_is_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("identity.key");
        let key = [9u8; 32];
        let id = Identity::generate();
        let secret_hex = hex::encode(id.signing.to_bytes());
        // an older node's plaintext file is rewritten sealed on load
        std::fs::write(&path, id.to_secret_string()).unwrap();
        let (loaded, origin) = Identity::load(&path, &key).unwrap();
        assert_eq!(origin, IdentityOrigin::Migrated);
        assert_eq!(loaded.identity_key_hex(), id.identity_key_hex());
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(SEALED_IDENTITY_PREFIX));
        assert!(!text.contains(&secret_hex), "signing key in the clear");
        assert!(!text.contains(&hex::encode(id.x25519.to_bytes())));
        // and opens sealed afterwards
        let (again, origin) = Identity::load(&path, &key).unwrap();
        assert_eq!(origin, IdentityOrigin::Sealed);
        assert_eq!(again.encryption_key_hex(), id.encryption_key_hex());
        // not with another key, and a tampered file is refused
        assert!(matches!(
            Identity::load(&path, &[8u8; 32]),
            Err(IdentityFileError::Unseal(_))
        ));
        let mut tampered = text.trim().to_string();
        let last = if tampered.ends_with('0') { '1' } else { '0' };
        tampered.pop();
        tampered.push(last);
        std::fs::write(&path, tampered).unwrap();
        assert!(matches!(
            Identity::load(&path, &key),
            Err(IdentityFileError::Unseal(_))
        ));
        std::fs::write(&path, "not an identity").unwrap();
        assert!(matches!(
            Identity::load(&path, &key),
            Err(IdentityFileError::Format(_))
        ));
    }

    #[test]
    fn private_messages_decrypt_only_between_the_pair() {
        let (ids, dir) = setup();
        let ct = dir.encrypt(&ids[0], 0, 1, "s", b"secret share").unwrap();
        assert_eq!(
            dir.decrypt(&ids[1], 1, 0, "s", &ct).unwrap(),
            b"secret share"
        );
        assert!(dir.decrypt(&ids[2], 2, 0, "s", &ct).is_err());
        assert!(dir.decrypt(&ids[1], 1, 0, "other-session", &ct).is_err());
    }

    #[test]
    fn identity_round_trips_through_its_secret_string() {
        let id = Identity::generate();
        let back = Identity::from_secret_string(&id.to_secret_string()).unwrap();
        assert_eq!(back.identity_key_hex(), id.identity_key_hex());
        assert_eq!(back.encryption_key_hex(), id.encryption_key_hex());
    }
}
