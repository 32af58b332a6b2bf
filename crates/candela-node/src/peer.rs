//! Peer messages: every message between nodes is signed by the sender's
//! ed25519 identity key and checked against the node set; protocol messages
//! meant for one node are also encrypted to it (x25519 static-static key
//! agreement, HKDF-SHA256, XChaCha20-Poly1305).
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use hkdf::Hkdf;
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
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
        /// Payload (ciphertext when private).
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
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    from: u32,
    to: u32,
    sent_ms: u64,
    body: Vec<u8>,
    sig: Vec<u8>,
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

    fn signed_bytes(from: u32, to: u32, sent_ms: u64, body: &[u8]) -> Vec<u8> {
        let mut m = b"candela-peer-v1".to_vec();
        m.extend_from_slice(&from.to_be_bytes());
        m.extend_from_slice(&to.to_be_bytes());
        m.extend_from_slice(&sent_ms.to_be_bytes());
        m.extend_from_slice(body);
        m
    }

    /// Sign a message from `me` to `to`.
    pub fn seal(
        &self,
        identity: &Identity,
        me: u32,
        to: u32,
        now_ms: u64,
        body: &PeerBody,
    ) -> Vec<u8> {
        let body = rmp_serde::to_vec(body).unwrap_or_default();
        let sig = identity
            .signing
            .sign(&Self::signed_bytes(me, to, now_ms, &body));
        rmp_serde::to_vec(&Envelope {
            from: me,
            to,
            sent_ms: now_ms,
            body,
            sig: sig.to_bytes().to_vec(),
        })
        .unwrap_or_default()
    }

    /// Check a received message addressed to `me`; returns sender and body.
    pub fn open(&self, me: u32, bytes: &[u8], now_ms: u64) -> Result<(u32, PeerBody), PeerError> {
        let env: Envelope = rmp_serde::from_slice(bytes).map_err(|_| PeerError::Malformed)?;
        let (vk, _) = self
            .keys
            .get(env.from as usize)
            .ok_or(PeerError::UnknownSender(env.from))?;
        if env.to != me {
            return Err(PeerError::WrongRecipient(env.to));
        }
        let sig = Signature::from_slice(&env.sig).map_err(|_| PeerError::BadSignature(env.from))?;
        vk.verify(
            &Self::signed_bytes(env.from, env.to, env.sent_ms, &env.body),
            &sig,
        )
        .map_err(|_| PeerError::BadSignature(env.from))?;
        if env.sent_ms + MAX_MESSAGE_AGE_MS < now_ms || env.sent_ms > now_ms + MAX_MESSAGE_AGE_MS {
            return Err(PeerError::Stale(env.from));
        }
        let body = rmp_serde::from_slice(&env.body).map_err(|_| PeerError::Malformed)?;
        Ok((env.from, body))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (Vec<Identity>, Directory) {
        let ids: Vec<Identity> = (0..3).map(|_| Identity::generate()).collect();
        let infos: Vec<NodeInfo> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| NodeInfo {
                index: i as u32,
                url: String::new(),
                identity_key: id.identity_key_hex(),
                encryption_key: id.encryption_key_hex(),
            })
            .collect();
        let dir = Directory::new(&infos).unwrap();
        (ids, dir)
    }

    #[test]
    fn a_signed_message_opens_for_its_recipient_only() {
        let (ids, dir) = setup();
        let body = PeerBody::Assign {
            request_id: "r".into(),
            exclude: Vec::new(),
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
    fn a_forged_peer_message_is_refused() {
        let (ids, dir) = setup();
        let body = PeerBody::Assign {
            request_id: "r".into(),
            exclude: Vec::new(),
        };
        // node 2 signs but claims to be node 0
        let mut env: Envelope =
            rmp_serde::from_slice(&dir.seal(&ids[2], 2, 1, 1000, &body)).unwrap();
        env.from = 0;
        let forged = rmp_serde::to_vec(&env).unwrap();
        assert_eq!(dir.open(1, &forged, 1000), Err(PeerError::BadSignature(0)));
        assert_eq!(dir.open(1, b"garbage", 1000), Err(PeerError::Malformed));
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
