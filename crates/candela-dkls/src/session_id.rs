//! Signing session ids: derived from everything a signature is bound to,
//! and refused when the caller has seen them before.
use std::collections::{BTreeSet, HashSet};

use k256::{AffinePoint, Scalar};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::convert::point_to_sec1;
use crate::NodeIndex;

/// Domain separation tag of signing session ids.
pub const SESSION_ID_DST: &[u8] = b"candela-dkls23-sign-session-v1";

/// The id of one signing session: `SHA-256(DST, root key, tweak, digest,
/// sorted signer set, request id)`, every field length-framed.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SessionId(pub [u8; 32]);

impl std::fmt::Debug for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SessionId({self})")
    }
}

impl std::fmt::Display for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for b in &self.0[..8] {
            write!(f, "{b:02x}")?;
        }
        f.write_str("…")
    }
}

fn framed(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_be_bytes());
    h.update(bytes);
}

impl SessionId {
    /// The session id of signing `digest` under the key `root + tweak·G`
    /// among `signers` (in any order) for request `request_id`.
    pub fn derive(
        root: &AffinePoint,
        tweak: &Scalar,
        digest: &[u8; 32],
        signers: &[NodeIndex],
        request_id: &[u8],
    ) -> SessionId {
        let mut sorted = signers.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let signer_bytes: Vec<u8> = sorted.iter().flat_map(|s| s.to_be_bytes()).collect();
        let mut h = Sha256::new();
        framed(&mut h, SESSION_ID_DST);
        framed(&mut h, &point_to_sec1(root));
        framed(&mut h, &tweak.to_bytes());
        framed(&mut h, digest);
        framed(&mut h, &signer_bytes);
        framed(&mut h, request_id);
        SessionId(h.finalize().into())
    }
}

/// The session ids a caller has already started; the node persists them.
pub trait SeenSessions {
    /// Whether `id` was started before.
    fn contains(&self, id: &SessionId) -> bool;
    /// Remember `id`.
    fn insert(&mut self, id: SessionId);
}

impl SeenSessions for BTreeSet<SessionId> {
    fn contains(&self, id: &SessionId) -> bool {
        BTreeSet::contains(self, id)
    }
    fn insert(&mut self, id: SessionId) {
        BTreeSet::insert(self, id);
    }
}

impl SeenSessions for HashSet<SessionId> {
    fn contains(&self, id: &SessionId) -> bool {
        HashSet::contains(self, id)
    }
    fn insert(&mut self, id: SessionId) {
        HashSet::insert(self, id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k256::ProjectivePoint;

    #[test]
    fn session_id_changes_with_every_input_but_not_signer_order() {
        let root = (ProjectivePoint::GENERATOR * Scalar::from(7u64)).to_affine();
        let other_root = (ProjectivePoint::GENERATOR * Scalar::from(8u64)).to_affine();
        let tweak = Scalar::from(3u64);
        let digest = [1u8; 32];
        let base = SessionId::derive(&root, &tweak, &digest, &[0, 1, 2], b"req");
        assert_eq!(
            base,
            SessionId::derive(&root, &tweak, &digest, &[2, 0, 1], b"req")
        );
        let variants = [
            SessionId::derive(&other_root, &tweak, &digest, &[0, 1, 2], b"req"),
            SessionId::derive(&root, &Scalar::from(4u64), &digest, &[0, 1, 2], b"req"),
            SessionId::derive(&root, &tweak, &[2u8; 32], &[0, 1, 2], b"req"),
            SessionId::derive(&root, &tweak, &digest, &[0, 1, 3], b"req"),
            SessionId::derive(&root, &tweak, &digest, &[0, 1, 2], b"req2"),
        ];
        for v in variants {
            assert_ne!(v, base);
        }
    }
}
