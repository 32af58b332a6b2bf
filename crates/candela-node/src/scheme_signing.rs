//! Lit's named signing schemes inside an action: `signAndCombine` with a
//! Schnorr or BLS scheme, `signAsAction`, `getActionPublicKey` and
//! `verifyActionSignature`.
//!
//! Every node of the run computes its share for the same request
//! (`<request id>:<sigName>`), the shares are exchanged between the nodes,
//! and each node checks every share and combines the signature itself, so
//! the action gets the full signature at every node.
//!
//! - `SchnorrEd25519Sha512`, `SchnorrK256Taproot`: FROST, through the
//!   coordinator-signed assignment and the durable nonce pools of
//!   [`crate::schnorr`]; a signer that followed another assignment or sent
//!   a share that fails is named.
//! - `Bls12381G1ProofOfPossession`: the network's BLS root tweaked for the
//!   key, signing in the message-augmentation form
//!   ([`candela_bls::derived`]: derived keys would otherwise be related to
//!   one another and to decryption keys). Non-interactive: no nonce.
//! - `EcdsaK256Sha256`: `signAndCombine` takes the ECDSA path and answer
//!   of `signAndCombineEcdsa`; `signAsAction` signs on the same path with
//!   the action's ECDSA key ([`ecdsa_action_key_id`]).
//!
//! Whose key signs is a [`KeySource`]: a PKP (its key id, after the
//! permission check) or the running action itself (its CID; no permission
//! needed: only that exact code runs under that CID).
use std::collections::BTreeMap;

use candela_actions::{HostError, SchemeSignRequest};
use candela_api::schnorr::SignedSchnorrAssignment;
use candela_api::v7::ExecuteSignedShare;
use candela_bls::derived::{self as bls_derived, BlsTweak};
use candela_bls::{BlsError, BlsSignature, BlsSignatureShare};
use candela_crypto::derive;
use candela_frost::frost_core::VerifyingKey;
use candela_frost::{
    verify_signature, Ed25519Sha512, FrostError, Secp256K1Sha256TR, SigningScheme, Suite, Tweak,
};
use candela_registry::PkpRecord;
use serde::{Deserialize, Serialize};

use crate::actions::{host_err, ExecHost};
use crate::config::Misbehaviour;
use crate::schnorr::NodeSuite;

/// The schemes an action can name, for error messages.
pub const ACTION_SCHEMES: &str =
    "EcdsaK256Sha256, SchnorrEd25519Sha512, SchnorrK256Taproot or Bls12381G1ProofOfPossession";

/// Whose key signs.
#[derive(Debug, Clone, Copy)]
pub(crate) enum KeySource<'a> {
    /// A PKP, by its key id.
    Pkp(&'a [u8]),
    /// A Lit Action's own identity key, by the action's CID.
    Action(&'a str),
}

impl KeySource<'_> {
    /// The FROST tweak of the key (`Tweak::pkp` / `Tweak::action`).
    pub(crate) fn frost_tweak<C: Suite>(&self) -> Result<Tweak<C>, FrostError> {
        match self {
            KeySource::Pkp(id) => Tweak::pkp(id),
            KeySource::Action(cid) => Tweak::action(cid),
        }
    }

    /// The BLS tweak of the key.
    pub(crate) fn bls_tweak(&self) -> BlsTweak {
        match self {
            KeySource::Pkp(id) => BlsTweak::pkp(id),
            KeySource::Action(cid) => BlsTweak::action(cid),
        }
    }

    /// The key id reported with a share: the PKP's, or Lit's action key id
    /// `keccak256("lit_action_" ‖ cid)`.
    pub(crate) fn key_id(&self) -> Vec<u8> {
        match self {
            KeySource::Pkp(id) => id.to_vec(),
            KeySource::Action(cid) => candela_frost::action_key_id(cid).to_vec(),
        }
    }
}

/// What `signAndCombine` (non-ECDSA schemes) and `signAsAction` resolve
/// to, as a JSON string with the field names of Lit's `SignedDataOutput`.
/// Candela's values are plain lowercase hex of the chain encodings (Lit
/// nests a JSON-encoded string in `signature`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedOutput {
    /// Ed25519 / BIP-340: 64 bytes; BLS: the 96-byte compressed G2 point.
    pub signature: String,
    /// Ed25519: 32 bytes; taproot: the 32-byte x-only output key; BLS: the
    /// 48-byte compressed G1 key.
    pub verifying_key: String,
    /// The signed message.
    pub signed_data: String,
    /// Always `null` (ECDSA only in Lit).
    pub recovery_id: Option<u8>,
}

impl SignedOutput {
    fn json(
        signature: &[u8],
        verifying_key: &[u8],
        message: &[u8],
        recovery_id: Option<u8>,
    ) -> Result<String, HostError> {
        serde_json::to_string(&SignedOutput {
            signature: hex::encode(signature),
            verifying_key: hex::encode(verifying_key),
            signed_data: hex::encode(message),
            recovery_id,
        })
        .map_err(|e| HostError::failed(e.to_string()))
    }
}

/// Refuse to sign with `scheme` for a PKP of another key type, naming both
/// (a `K256` PKP signs ECDSA only, an `Ed25519` one Ed25519 only, ...).
pub fn check_pkp_key_type(scheme: SigningScheme, pkp: &PkpRecord) -> Result<(), FrostError> {
    let key: candela_frost::KeyType = pkp.key_type.as_str().parse()?;
    scheme.check_key_type(key)
}

/// The scheme an action names for `op`, checked: Lit's names that Candela
/// does not serve and unknown names are refused naming what is served;
/// `Bls12381` gets Lit's own refusal.
pub(crate) fn action_scheme(op: &str, name: &str) -> Result<SigningScheme, HostError> {
    if name == "Bls12381" {
        return Err(HostError::failed(
            "Bls12381 is not supported in this context. Use Bls12381G1ProofOfPossession instead",
        ));
    }
    match name.parse::<SigningScheme>() {
        Ok(s) => Ok(s),
        Err(FrostError::UnsupportedScheme(s)) => Err(HostError::failed(format!(
            "{op}: signingScheme {s} is not served by Candela; expected {ACTION_SCHEMES}"
        ))),
        Err(_) => Err(HostError::failed(format!(
            "{op}: unknown signingScheme {name:?}; expected {ACTION_SCHEMES}"
        ))),
    }
}

/// The key id of a Lit Action's ECDSA identity key:
/// `sha256("candela-ecdsa-action-key-v1" ‖ keccak256("lit_action_" ‖ cid))`.
/// PKP key ids are drawn by the registry (at random, or from block data on
/// a chain), never chosen by a user, so no PKP can take an action's key.
pub(crate) fn ecdsa_action_key_id(cid: &str) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"candela-ecdsa-action-key-v1");
    h.update(candela_frost::action_key_id(cid));
    h.finalize().into()
}

/// One node's FROST share as the nodes exchange it.
#[derive(Serialize, Deserialize)]
struct FrostShareMessage {
    assignment: SignedSchnorrAssignment,
    share: String,
}

fn strip_0x(s: &str) -> &str {
    s.strip_prefix("0x").unwrap_or(s)
}

impl ExecHost {
    /// Sign `request` with `scheme` and the key of `source`, and combine.
    pub(crate) async fn sign_with_scheme(
        &self,
        op: &str,
        scheme: SigningScheme,
        source: KeySource<'_>,
        request: &SchemeSignRequest,
    ) -> Result<String, HostError> {
        scheme
            .check_message(&request.to_sign)
            .map_err(|e| HostError::failed(format!("{op}: {e}")))?;
        let rid = format!("{}:{}", self.request_id, request.sig_name);
        let topic = format!("combine/{}", request.sig_name);
        let msg = &request.to_sign;
        match scheme {
            SigningScheme::SchnorrEd25519Sha512 => {
                self.frost_sign::<Ed25519Sha512>(op, &rid, &topic, source, msg)
                    .await
            }
            SigningScheme::SchnorrK256Taproot => {
                self.frost_sign::<Secp256K1Sha256TR>(op, &rid, &topic, source, msg)
                    .await
            }
            SigningScheme::Bls12381G1ProofOfPossession => {
                self.bls_sign(op, &topic, source, msg).await
            }
            SigningScheme::EcdsaK256Sha256 => match source {
                KeySource::Action(cid) => self.ecdsa_action_sign(op, &rid, cid, request).await,
                // signAndCombine routes this scheme to signAndCombineEcdsa
                KeySource::Pkp(_) => Err(HostError::failed(format!(
                    "{op}: EcdsaK256Sha256 signs through signAndCombineEcdsa's path"
                ))),
            },
        }
    }

    /// The ECDSA identity key of the action `cid` as a PKP-shaped record
    /// (its key id from [`ecdsa_action_key_id`], no owner, not registered).
    fn ecdsa_action_record(&self, cid: &str) -> Result<PkpRecord, HostError> {
        let root = self
            .node
            .key()
            .ok_or_else(|| HostError::failed("the ECDSA root key is not ready"))?
            .public_key;
        let key_id = ecdsa_action_key_id(cid);
        let public_key = derive::derive_public_key(&root, &key_id)
            .map_err(|e| HostError::failed(e.to_string()))?;
        Ok(PkpRecord {
            token_id: derive::token_id(&public_key),
            key_id,
            public_key,
            owner: [0u8; 20],
            key_type: candela_registry::PkpKeyType::K256,
        })
    }

    /// `signAsAction` with `EcdsaK256Sha256`: the ECDSA path of PKPs (a
    /// presignature or DKLs23 session per signature, coordinator-signed
    /// assignment, shares verified at every node) under the action's key.
    async fn ecdsa_action_sign(
        &self,
        op: &str,
        rid: &str,
        cid: &str,
        request: &SchemeSignRequest,
    ) -> Result<String, HostError> {
        let digest: [u8; 32] = request.to_sign.as_slice().try_into().map_err(|_| {
            HostError::failed(format!("{op}: EcdsaK256Sha256 signs a 32-byte hash"))
        })?;
        let record = self.ecdsa_action_record(cid)?;
        let answer = self
            .node
            .sign_share(rid, &digest, &record, self.node.wait_until(None))
            .await
            .map_err(host_err)?;
        let share = ExecuteSignedShare::from_pkp_sign_response(answer, &request.sig_name);
        let sig = self
            .combine_ecdsa(&request.sig_name, &share, &record.public_key, &digest)
            .await
            .map_err(|e| HostError::failed(format!("{op}: {e}")))?;
        let mut rs = sig.r_bytes().to_vec();
        rs.extend_from_slice(&sig.s_bytes());
        SignedOutput::json(
            &rs,
            &derive::point_to_bytes(&record.public_key, false),
            &digest,
            Some(sig.recid),
        )
    }

    async fn frost_sign<C: NodeSuite>(
        &self,
        op: &str,
        rid: &str,
        topic: &str,
        source: KeySource<'_>,
        msg: &[u8],
    ) -> Result<String, HostError> {
        let (mine, prepared) = self
            .node
            .frost_share::<C>(rid, source, msg)
            .await
            .map_err(host_err)?;
        let wire = serde_json::to_string(&FrostShareMessage {
            assignment: mine.assignment.clone(),
            share: mine.signature_share.signature_share.clone(),
        })
        .map_err(|e| HostError::failed(e.to_string()))?;
        let values = self.exchange(topic, &wire, false).await?;
        let answers: BTreeMap<u32, (SignedSchnorrAssignment, String)> = values
            .iter()
            .filter_map(|(i, v)| {
                serde_json::from_str::<FrostShareMessage>(v)
                    .ok()
                    .map(|m| (*i, (m.assignment, m.share)))
            })
            .collect();
        let (signature, key) = self
            .node
            .combine_frost::<C>(&mine.assignment, prepared, msg, &answers)
            .map_err(|e| HostError::failed(format!("{op}: {}", e.message)))?;
        SignedOutput::json(&signature, &key, msg, None)
    }

    async fn bls_sign(
        &self,
        op: &str,
        topic: &str,
        source: KeySource<'_>,
        msg: &[u8],
    ) -> Result<String, HostError> {
        let key = self
            .node
            .bls_key()
            .ok_or_else(|| HostError::failed(format!("{op}: the BLS root key is not ready")))?;
        let tweak = source.bls_tweak();
        let signed = match self.node.cfg.misbehave {
            Some(Misbehaviour::BadBlsShare) => Misbehaviour::corrupt_message(msg),
            _ => msg.to_vec(),
        };
        let share = bls_derived::sign_share(&key, &tweak, &signed)
            .map_err(|e| HostError::failed(format!("{op}: {e}")))?;
        let values = self.exchange(topic, &share.to_hex(), false).await?;
        let shares: Vec<BlsSignatureShare> = values
            .iter()
            .filter_map(|(i, v)| {
                BlsSignatureShare::from_hex(v)
                    .ok()
                    .filter(|s| s.node() == *i)
            })
            .collect();
        let public = key.public_set();
        let (signature, bad) = bls_derived::combine_verified(&public, &tweak, msg, &shares)
            .map_err(|e| match e {
                BlsError::Culprit { node, .. } => HostError::failed(format!(
                    "{op}: node {node} sent an invalid BLS signature share, and fewer than {} valid shares remain",
                    public.threshold
                )),
                other => HostError::failed(format!("{op}: {other}")),
            })?;
        for e in bad {
            if let BlsError::Culprit { node, .. } = e {
                tracing::warn!(node, op, "left out an invalid BLS signature share");
            }
        }
        SignedOutput::json(
            &signature.to_bytes(),
            &tweak.public_key_bytes(&key.public_key),
            msg,
            None,
        )
    }

    /// The key the action `cid` signs with under `scheme`, derived once:
    /// its encoding (what `getActionPublicKey` answers) and the form that
    /// verifies its signatures.
    fn action_key(&self, scheme: SigningScheme, cid: &str) -> Result<ActionKey, HostError> {
        let source = KeySource::Action(cid);
        Ok(match scheme {
            SigningScheme::SchnorrEd25519Sha512 => {
                let (bytes, key) = self
                    .node
                    .frost_public_key::<Ed25519Sha512>(source)
                    .map_err(host_err)?;
                ActionKey::Ed25519(bytes, key)
            }
            SigningScheme::SchnorrK256Taproot => {
                let (bytes, key) = self
                    .node
                    .frost_public_key::<Secp256K1Sha256TR>(source)
                    .map_err(host_err)?;
                ActionKey::K256Taproot(bytes, key)
            }
            SigningScheme::Bls12381G1ProofOfPossession => {
                let root = self
                    .node
                    .bls_key()
                    .ok_or_else(|| HostError::failed("the BLS root key is not ready"))?;
                ActionKey::Bls(source.bls_tweak().public_key(&root.public_key))
            }
            SigningScheme::EcdsaK256Sha256 => {
                ActionKey::Ecdsa(self.ecdsa_action_record(cid)?.public_key)
            }
        })
    }

    /// `getActionPublicKey`: the hex public key `signAsAction` signs with
    /// for `scheme` and the action `cid`.
    pub(crate) fn action_public_key(
        &self,
        scheme: SigningScheme,
        cid: &str,
    ) -> Result<String, HostError> {
        Ok(hex::encode(self.action_key(scheme, cid)?.bytes()))
    }

    /// `verifyActionSignature`: whether `output` (a `signAsAction` result)
    /// is the action `cid`'s signature of `to_sign` (the message given
    /// here, not the one the output names). A malformed output is `false`.
    pub(crate) fn verify_action_output(
        &self,
        scheme: SigningScheme,
        cid: &str,
        to_sign: &[u8],
        output: &str,
    ) -> Result<bool, HostError> {
        let key = self.action_key(scheme, cid)?;
        let Ok(out) = serde_json::from_str::<SignedOutput>(output) else {
            return Ok(false);
        };
        if !strip_0x(&out.verifying_key).eq_ignore_ascii_case(&hex::encode(key.bytes())) {
            return Ok(false);
        }
        let Ok(signature) = hex::decode(strip_0x(&out.signature)) else {
            return Ok(false);
        };
        Ok(key.verifies(to_sign, &signature))
    }
}

/// An action's key for one scheme.
enum ActionKey {
    Ed25519(Vec<u8>, VerifyingKey<Ed25519Sha512>),
    K256Taproot(Vec<u8>, VerifyingKey<Secp256K1Sha256TR>),
    Bls(candela_bls::G1Projective),
    Ecdsa(candela_crypto::AffinePoint),
}

impl ActionKey {
    /// The key as `signAsAction` reports it: Ed25519 32 bytes, taproot the
    /// x-only output key, BLS 48-byte compressed G1, ECDSA 65 bytes
    /// uncompressed.
    fn bytes(&self) -> Vec<u8> {
        match self {
            ActionKey::Ed25519(b, _) | ActionKey::K256Taproot(b, _) => b.clone(),
            ActionKey::Bls(pk) => candela_bls::encoding::g1_to_bytes(pk).to_vec(),
            ActionKey::Ecdsa(pk) => derive::point_to_bytes(pk, false).to_vec(),
        }
    }

    /// Whether `signature` (the scheme's encoding) signs `message`.
    fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            ActionKey::Ed25519(_, key) => verify_signature(key, message, signature).is_ok(),
            ActionKey::K256Taproot(_, key) => verify_signature(key, message, signature).is_ok(),
            ActionKey::Bls(pk) => BlsSignature::from_bytes(signature)
                .and_then(|sig| bls_derived::verify(pk, message, &sig))
                .is_ok(),
            ActionKey::Ecdsa(pk) => {
                use k256::ecdsa::signature::hazmat::PrehashVerifier;
                match (
                    k256::ecdsa::VerifyingKey::from_affine(*pk),
                    k256::ecdsa::Signature::from_slice(signature),
                ) {
                    (Ok(key), Ok(sig)) if message.len() == 32 => {
                        key.verify_prehash(message, &sig).is_ok()
                    }
                    _ => false,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn served_schemes_parse_and_others_are_refused_naming_what_is_served() {
        for s in [
            "EcdsaK256Sha256",
            "SchnorrEd25519Sha512",
            "SchnorrK256Taproot",
            "Bls12381G1ProofOfPossession",
        ] {
            assert_eq!(
                action_scheme("signAndCombine", s).map(|x| x.as_str()),
                Ok(s)
            );
        }
        let e = action_scheme("signAndCombine", "EcdsaP256Sha256").unwrap_err();
        assert!(e.to_string().contains("not served by Candela"), "{e}");
        assert!(e.to_string().contains(ACTION_SCHEMES), "{e}");
        let e = action_scheme("signAsAction", "Rot13").unwrap_err();
        assert!(
            e.to_string().contains("unknown signingScheme \"Rot13\""),
            "{e}"
        );
        let e = action_scheme("signAndCombine", "Bls12381").unwrap_err();
        assert_eq!(
            e.to_string(),
            "Bls12381 is not supported in this context. Use Bls12381G1ProofOfPossession instead"
        );
    }

    #[test]
    fn action_and_pkp_sources_derive_different_keys_from_the_same_bytes() {
        let cid = "QmWhatever";
        let id = candela_frost::action_key_id(cid);
        let a = KeySource::Action(cid);
        let p = KeySource::Pkp(&id);
        assert_eq!(a.key_id(), p.key_id());
        assert_ne!(
            a.frost_tweak::<Ed25519Sha512>().expect("tweak"),
            p.frost_tweak::<Ed25519Sha512>().expect("tweak")
        );
        assert_ne!(a.bls_tweak(), p.bls_tweak());
    }
}
