//! Wire types of threshold Schnorr signing (`pkp/sign` with
//! `signingScheme` `SchnorrEd25519Sha512` or `SchnorrK256Taproot`).
//!
//! The coordinator gathers one fresh FROST commitment from each signer it
//! chooses and signs the resulting [`SignedSchnorrAssignment`]: request id,
//! scheme, signing set, commitments and the request binding
//! [`schnorr_binding`] (scheme, derived public key, message). Every signer
//! checks the signature and that the binding is its own request's before it
//! spends its nonce. Byte strings are hex; the commitments are the FROST
//! library's own serialization (`SigningCommitments::serialize`).
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::assignment::AssignmentError;

/// Domain separation of the Schnorr request binding.
const BINDING_DST: &[u8] = b"candela-schnorr-binding-v1";
/// Domain separation of the coordinator's signature.
const ASSIGNMENT_DST: &[u8] = b"candela-schnorr-assignment-v1";

/// `H(scheme, derived public key, message)`, hex: what a request asks to
/// be signed, with which key.
pub fn schnorr_binding(scheme: &str, public_key: &[u8], message: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(BINDING_DST);
    for part in [scheme.as_bytes(), public_key, message] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    hex::encode(h.finalize())
}

/// One signer's commitment in an assignment.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SchnorrCommitmentWire {
    /// The signer's node index.
    pub node: u32,
    /// The commitment's id in the signer's pool.
    pub id: u64,
    /// The FROST `SigningCommitments`, serialized, hex.
    pub commitments: String,
}

/// A coordinator's signed choice of signers and commitments for one
/// Schnorr signing request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SignedSchnorrAssignment {
    /// The signing request id.
    pub request_id: String,
    /// Lit's name of the scheme.
    pub signing_scheme: String,
    /// One commitment per signer, ascending by node: the signing set.
    pub commitments: Vec<SchnorrCommitmentWire>,
    /// [`schnorr_binding`] of the request that was assigned.
    pub binding: String,
    /// The coordinator's index.
    pub coordinator: u32,
    /// The coordinator's ed25519 signature, hex.
    pub signature: String,
}

fn framed(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
    out.extend_from_slice(bytes);
}

impl SignedSchnorrAssignment {
    fn signed_bytes(&self) -> Vec<u8> {
        let mut m = ASSIGNMENT_DST.to_vec();
        framed(&mut m, self.request_id.as_bytes());
        framed(&mut m, self.signing_scheme.as_bytes());
        m.extend_from_slice(&(self.commitments.len() as u64).to_be_bytes());
        for c in &self.commitments {
            m.extend_from_slice(&c.node.to_be_bytes());
            m.extend_from_slice(&c.id.to_be_bytes());
            framed(&mut m, c.commitments.as_bytes());
        }
        framed(&mut m, self.binding.as_bytes());
        m.extend_from_slice(&self.coordinator.to_be_bytes());
        m
    }

    /// Sign an assignment as `coordinator` with its identity key.
    pub fn sign(
        request_id: &str,
        signing_scheme: &str,
        commitments: Vec<SchnorrCommitmentWire>,
        binding: &str,
        coordinator: u32,
        key: &SigningKey,
    ) -> Self {
        let mut a = SignedSchnorrAssignment {
            request_id: request_id.to_string(),
            signing_scheme: signing_scheme.to_string(),
            commitments,
            binding: binding.to_string(),
            coordinator,
            signature: String::new(),
        };
        a.signature = hex::encode(key.sign(&a.signed_bytes()).to_bytes());
        a
    }

    /// The signing set, ascending.
    pub fn signers(&self) -> Vec<u32> {
        self.commitments.iter().map(|c| c.node).collect()
    }

    /// Check the coordinator's signature against the node set's identity
    /// keys (hex, by index) and that the signing set is `threshold`
    /// distinct nodes, ascending.
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
        let signers = self.signers();
        let ascending = signers.windows(2).all(|w| w[0] < w[1]);
        if signers.len() != threshold
            || !ascending
            || signers
                .iter()
                .any(|&s| !crate::assignment::is_member(identity_keys, s))
        {
            return Err(AssignmentError::BadSigners(signers));
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
}

/// The coordinator that `a` and `b` prove lied: two different assignments
/// for the same request, each carrying its valid signature. Anything else
/// (one of them unsigned or forged, another request, another coordinator)
/// proves nothing against the coordinator, and `None` is returned: a node
/// that relays a forged assignment cannot frame an honest coordinator.
pub fn equivocating_coordinator(
    a: &SignedSchnorrAssignment,
    b: &SignedSchnorrAssignment,
    identity_keys: &[String],
    threshold: usize,
) -> Option<u32> {
    let proof = a != b
        && a.request_id == b.request_id
        && a.coordinator == b.coordinator
        && a.verify(identity_keys, threshold).is_ok()
        && b.verify(identity_keys, threshold).is_ok();
    proof.then_some(a.coordinator)
}

/// One node's Schnorr signature share and what the client needs to check
/// it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SchnorrShareWire {
    /// Lit's name of the scheme.
    pub signing_scheme: String,
    /// This node's index.
    pub share_index: u32,
    /// The FROST signature share, serialized, hex; empty when this node is
    /// not in the signing set.
    pub signature_share: String,
    /// The PKP's key for the scheme in the chain's encoding, hex (Ed25519:
    /// 32 bytes; taproot: the 32-byte x-only output key).
    pub public_key: String,
    /// The message signed, hex.
    pub message: String,
    /// The PKP's key id, hex (the tweak's input).
    pub key_id: String,
    /// The root key's FROST `PublicKeyPackage` (group key and every node's
    /// verifying share), serialized, hex; the client tweaks it itself.
    pub root_public_key_package: String,
}

/// Answer of `POST /web/pkp/sign/v1` for a Schnorr scheme.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchnorrSignResponse {
    /// Always true on a 2xx.
    pub success: bool,
    /// This node's share.
    pub signature_share: SchnorrShareWire,
    /// The coordinator's assignment this node followed.
    pub assignment: SignedSchnorrAssignment,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> (SigningKey, Vec<String>) {
        let k = SigningKey::from_bytes(&[7u8; 32]);
        let hexes = vec![hex::encode(k.verifying_key().to_bytes()); 3];
        (k, hexes)
    }

    fn commitments() -> Vec<SchnorrCommitmentWire> {
        (0..2)
            .map(|node| SchnorrCommitmentWire {
                node,
                id: 5,
                commitments: "ab".into(),
            })
            .collect()
    }

    #[test]
    fn schnorr_assignment_verifies_and_any_changed_field_is_refused() {
        let (k, ids) = keys();
        let b = schnorr_binding("SchnorrEd25519Sha512", &[1; 32], b"m");
        let a =
            SignedSchnorrAssignment::sign("r1", "SchnorrEd25519Sha512", commitments(), &b, 0, &k);
        a.verify(&ids, 2).unwrap();
        a.check_request("r1", &b).unwrap();
        let other = schnorr_binding("SchnorrEd25519Sha512", &[1; 32], b"n");
        assert_eq!(
            a.check_request("r1", &other),
            Err(AssignmentError::OtherBinding("r1".into()))
        );
        let mut changed = a.clone();
        changed.commitments[1].id = 6;
        assert_eq!(
            changed.verify(&ids, 2),
            Err(AssignmentError::BadSignature(0))
        );
        let mut changed = a.clone();
        changed.signing_scheme = "SchnorrK256Taproot".into();
        assert_eq!(
            changed.verify(&ids, 2),
            Err(AssignmentError::BadSignature(0))
        );
        assert!(matches!(
            a.verify(&ids, 3),
            Err(AssignmentError::BadSigners(_))
        ));
    }

    #[test]
    fn two_signed_assignments_for_one_request_prove_the_coordinator_lied_and_a_forgery_proves_nothing(
    ) {
        let (k, ids) = keys();
        let b = schnorr_binding("SchnorrEd25519Sha512", &[1; 32], b"m");
        let a =
            SignedSchnorrAssignment::sign("r1", "SchnorrEd25519Sha512", commitments(), &b, 0, &k);
        let mut other_set = commitments();
        other_set[1].id = 9;
        let lie = SignedSchnorrAssignment::sign("r1", "SchnorrEd25519Sha512", other_set, &b, 0, &k);
        assert_eq!(equivocating_coordinator(&a, &lie, &ids, 2), Some(0));
        assert_eq!(equivocating_coordinator(&a, &a.clone(), &ids, 2), None);
        // a relayed assignment changed by someone else is no proof
        let mut forged = a.clone();
        forged.commitments[1].id = 9;
        assert_eq!(equivocating_coordinator(&a, &forged, &ids, 2), None);
        // nor is one for another request
        let other_request =
            SignedSchnorrAssignment::sign("r2", "SchnorrEd25519Sha512", commitments(), &b, 0, &k);
        assert_eq!(equivocating_coordinator(&a, &other_request, &ids, 2), None);
    }

    #[test]
    fn schnorr_binding_separates_scheme_key_and_message() {
        let b = schnorr_binding("SchnorrEd25519Sha512", &[1; 32], b"m");
        assert_ne!(b, schnorr_binding("SchnorrK256Taproot", &[1; 32], b"m"));
        assert_ne!(b, schnorr_binding("SchnorrEd25519Sha512", &[2; 32], b"m"));
        assert_ne!(b, schnorr_binding("SchnorrEd25519Sha512", &[1; 32], b"mm"));
    }
}
