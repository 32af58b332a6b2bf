//! The coordinator's signed assignment of a presignature and a signing set
//! to one signing request.
//!
//! The coordinator fixes, once per request id, which presignature signs and
//! which nodes sign, and records with it the binding `H(PKP, digest)` of the
//! request that asked first. It signs the assignment with its identity key.
//! Every node checks the signature and compares the binding with its own
//! request before it touches the presignature; every node returns the
//! assignment it followed, so a client that sees two different assignments
//! signed by one coordinator for one request can prove the coordinator lied,
//! and blames it rather than the nodes that followed it.
use candela_crypto::derive::point_to_bytes;
use candela_crypto::AffinePoint;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Domain separation of the request binding.
const BINDING_DST: &[u8] = b"candela-request-binding-v1";
/// Domain separation of the coordinator's signature.
const ASSIGNMENT_DST: &[u8] = b"candela-assignment-v1";

/// Why an assignment is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssignmentError {
    /// The signature does not verify under the named coordinator's key.
    #[error("the assignment is not signed by coordinator {0}")]
    BadSignature(u32),
    /// The coordinator is not a node of the set.
    #[error("coordinator {0} is not a node of the set")]
    UnknownCoordinator(u32),
    /// The assignment is for another request id.
    #[error("the assignment is for request {got}, not {expected}")]
    OtherRequest {
        /// The request id asked about.
        expected: String,
        /// The request id in the assignment.
        got: String,
    },
    /// The assignment binds another PKP or digest than this request's.
    #[error("request {0} is assigned to another PKP or digest than this one")]
    OtherBinding(String),
    /// The signing set is not `threshold` distinct nodes of the set.
    #[error("malformed signing set {0:?}")]
    BadSigners(Vec<u32>),
}

/// `H(PKP public key, digest)`: what a request asks to be signed.
pub fn request_binding(pkp: &AffinePoint, digest: &[u8; 32]) -> String {
    let mut h = Sha256::new();
    h.update(BINDING_DST);
    h.update(point_to_bytes(pkp, true));
    h.update(digest);
    hex::encode(h.finalize())
}

/// A coordinator's signed choice of presignature and signing set for one
/// request (Candela extension of the share proof).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SignedAssignment {
    /// The signing request id (an action's signature: `{request id}:{sigName}`).
    pub request_id: String,
    /// The presignature to use.
    pub presignature_id: String,
    /// The signing set, ascending.
    pub signers: Vec<u32>,
    /// [`request_binding`] of the request that was assigned, hex.
    pub binding: String,
    /// The index of the coordinator that signed.
    pub coordinator: u32,
    /// The coordinator's ed25519 signature, hex.
    pub signature: String,
}

fn framed(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Whether node `i` is a member of the committee whose identity keys are
/// `identity_keys` (by node index; an empty key marks an index whose member
/// is not in the committee, e.g. kicked).
pub fn is_member(identity_keys: &[String], i: u32) -> bool {
    identity_keys.get(i as usize).is_some_and(|k| !k.is_empty())
}

impl SignedAssignment {
    /// The bytes the coordinator signs.
    fn signed_bytes(&self) -> Vec<u8> {
        let mut m = ASSIGNMENT_DST.to_vec();
        framed(&mut m, self.request_id.as_bytes());
        framed(&mut m, self.presignature_id.as_bytes());
        let signers: Vec<u8> = self.signers.iter().flat_map(|s| s.to_be_bytes()).collect();
        framed(&mut m, &signers);
        framed(&mut m, self.binding.as_bytes());
        m.extend_from_slice(&self.coordinator.to_be_bytes());
        m
    }

    /// Sign an assignment as `coordinator` with its identity key.
    pub fn sign(
        request_id: &str,
        presignature_id: &str,
        signers: Vec<u32>,
        binding: &str,
        coordinator: u32,
        key: &SigningKey,
    ) -> Self {
        let mut a = SignedAssignment {
            request_id: request_id.to_string(),
            presignature_id: presignature_id.to_string(),
            signers,
            binding: binding.to_string(),
            coordinator,
            signature: String::new(),
        };
        a.signature = hex::encode(key.sign(&a.signed_bytes()).to_bytes());
        a
    }

    /// Check the coordinator's signature against the identity keys of the
    /// node set (hex, by index) and the shape of the signing set.
    pub fn verify(
        &self,
        identity_keys: &[String],
        threshold: usize,
    ) -> Result<(), AssignmentError> {
        let key_hex = identity_keys
            .get(self.coordinator as usize)
            .ok_or(AssignmentError::UnknownCoordinator(self.coordinator))?;
        let bad = || AssignmentError::BadSignature(self.coordinator);
        let key: [u8; 32] = hex::decode(key_hex)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or_else(bad)?;
        let vk = VerifyingKey::from_bytes(&key).map_err(|_| bad())?;
        let sig = hex::decode(&self.signature)
            .ok()
            .and_then(|v| Signature::from_slice(&v).ok())
            .ok_or_else(bad)?;
        vk.verify(&self.signed_bytes(), &sig).map_err(|_| bad())?;
        let ascending = self.signers.windows(2).all(|w| w[0] < w[1]);
        if self.signers.len() != threshold
            || !ascending
            || self.signers.iter().any(|&s| !is_member(identity_keys, s))
        {
            return Err(AssignmentError::BadSigners(self.signers.clone()));
        }
        Ok(())
    }

    /// Check that this assignment is for `request_id` and `binding`.
    pub fn check_request(&self, request_id: &str, binding: &str) -> Result<(), AssignmentError> {
        if self.request_id != request_id {
            return Err(AssignmentError::OtherRequest {
                expected: request_id.to_string(),
                got: self.request_id.clone(),
            });
        }
        if self.binding != binding {
            return Err(AssignmentError::OtherBinding(request_id.to_string()));
        }
        Ok(())
    }

    /// The choice itself, without the signature: two assignments by one
    /// coordinator for one request that differ here prove it lied.
    pub fn choice(&self) -> (&str, &str, &[u32], &str, u32) {
        (
            &self.request_id,
            &self.presignature_id,
            &self.signers,
            &self.binding,
            self.coordinator,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(n: usize) -> (Vec<SigningKey>, Vec<String>) {
        let sks: Vec<SigningKey> = (0..n)
            .map(|i| SigningKey::from_bytes(&[i as u8 + 1; 32]))
            .collect();
        let pks = sks
            .iter()
            .map(|k| hex::encode(k.verifying_key().to_bytes()))
            .collect();
        (sks, pks)
    }

    #[test]
    fn a_signed_assignment_verifies_only_under_its_coordinators_key_and_unchanged() {
        let (sks, pks) = keys(4);
        let a = SignedAssignment::sign("r1", "p1", vec![0, 1, 3], "b", 1, &sks[1]);
        assert_eq!(a.verify(&pks, 3), Ok(()));
        let mut other = a.clone();
        other.coordinator = 2;
        assert_eq!(other.verify(&pks, 3), Err(AssignmentError::BadSignature(2)));
        for tamper in [
            |a: &mut SignedAssignment| a.presignature_id = "p2".into(),
            |a: &mut SignedAssignment| a.signers = vec![0, 1, 2],
            |a: &mut SignedAssignment| a.binding = "c".into(),
            |a: &mut SignedAssignment| a.request_id = "r2".into(),
        ] {
            let mut t = a.clone();
            tamper(&mut t);
            assert_eq!(t.verify(&pks, 3), Err(AssignmentError::BadSignature(1)));
        }
        let forged = SignedAssignment::sign("r1", "p1", vec![0, 1, 3], "b", 1, &sks[0]);
        assert_eq!(
            forged.verify(&pks, 3),
            Err(AssignmentError::BadSignature(1))
        );
        let short = SignedAssignment::sign("r1", "p1", vec![0, 1], "b", 1, &sks[1]);
        assert!(matches!(
            short.verify(&pks, 3),
            Err(AssignmentError::BadSigners(_))
        ));
        let far = SignedAssignment::sign("r1", "p1", vec![0, 1], "b", 9, &sks[1]);
        assert_eq!(
            far.verify(&pks, 2),
            Err(AssignmentError::UnknownCoordinator(9))
        );
    }

    #[test]
    fn a_signing_set_naming_a_kicked_member_is_refused_and_one_across_the_hole_accepted() {
        // member 1 of four was kicked: its key is blanked, index 3 stays
        let (sks, mut pks) = keys(4);
        pks[1] = String::new();
        let across = SignedAssignment::sign("r1", "p1", vec![0, 2, 3], "b", 0, &sks[0]);
        assert_eq!(across.verify(&pks, 3), Ok(()));
        let with_kicked = SignedAssignment::sign("r1", "p1", vec![0, 1, 3], "b", 0, &sks[0]);
        assert!(matches!(
            with_kicked.verify(&pks, 3),
            Err(AssignmentError::BadSigners(_))
        ));
        // nor does the kicked member coordinate
        let by_kicked = SignedAssignment::sign("r1", "p1", vec![0, 2, 3], "b", 1, &sks[1]);
        assert_eq!(
            by_kicked.verify(&pks, 3),
            Err(AssignmentError::BadSignature(1))
        );
    }

    #[test]
    fn the_binding_separates_pkps_and_digests() {
        let g = candela_crypto::ProjectivePoint::GENERATOR;
        let p1 = (g * candela_crypto::Scalar::from(2u64)).to_affine();
        let p2 = (g * candela_crypto::Scalar::from(3u64)).to_affine();
        let b = request_binding(&p1, &[1; 32]);
        assert_ne!(b, request_binding(&p2, &[1; 32]));
        assert_ne!(b, request_binding(&p1, &[2; 32]));
        let (sks, _) = keys(1);
        let a = SignedAssignment::sign("r", "p", vec![0], &b, 0, &sks[0]);
        assert_eq!(a.check_request("r", &b), Ok(()));
        assert!(matches!(
            a.check_request("r", &request_binding(&p1, &[2; 32])),
            Err(AssignmentError::OtherBinding(_))
        ));
        assert!(matches!(
            a.check_request("s", &b),
            Err(AssignmentError::OtherRequest { .. })
        ));
    }
}
