//! BLS signatures by keys derived from the root: PKPs of key type
//! `Bls12381G1` and Lit Action identity keys (`Bls12381G1ProofOfPossession`
//! in Lit's `signAndCombine` and `signAsAction`).
//!
//! Derivation is the additive tweak every Candela curve uses: for a key id
//! `k`, `δ = hash_to_scalar(k)` under a domain of its own, the derived key
//! is `PK_root + δ·G1` and node `i`'s share becomes `x_i + δ` (Lagrange
//! coefficients sum to one, so no protocol round is needed).
//!
//! **Why the message is augmented.** BLS signatures are deterministic and
//! the plain (`_NUL_`/`_POP_`) schemes hash the message alone. With keys
//! that differ by a public offset, `σ_B = σ_A + (δ_B − δ_A)·H(m)`: one
//! signature by any derived key would give every other derived key's
//! signature on the same message, and, since the network's decryption
//! shares are proof-of-possession signatures over a ciphertext's identity
//! ([`crate::ibe`]), a proof-of-possession signature by a derived key over
//! an identity would give that ciphertext's decryption key. So derived keys
//! sign in the IETF message-augmentation form instead: `σ = sk·H(pk ‖ m)`
//! with the `_AUG_` tag. The hash input starts with the signing key itself,
//! so signatures of different keys are over independent points, and the
//! tag differs from the one decryption uses.
use blsful::inner_types::{G1Projective, Scalar};
use sha2::Sha256;
use sha3::{Digest, Keccak256};

use crate::encoding::g1_to_bytes;
use crate::sign::{combine, BlsSignature, BlsSignatureShare};
use crate::{BlsError, BlsKeyShare, BlsPublicKeySet, Fault};

/// Domain separation tag of derived-key signatures: the IETF BLS
/// message-augmentation scheme with signatures in G2.
pub const AUG_DST: &[u8] = b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_AUG_";

/// Domain of the PKP tweak on BLS12-381.
pub const PKP_DOMAIN: &[u8] = b"candela-bls-pkp-v1";

/// Domain of the action identity key tweak on BLS12-381.
pub const ACTION_DOMAIN: &[u8] = b"candela-bls-action-v1";

/// An additive key tweak `δ` on BLS12-381.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct BlsTweak(Scalar);

impl std::fmt::Debug for BlsTweak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BlsTweak({})", hex::encode(self.0.to_be_bytes()))
    }
}

impl BlsTweak {
    /// The tweak of a PKP: `δ = hash_to_scalar(key_id, PKP_DOMAIN)`.
    pub fn pkp(key_id: &[u8]) -> Self {
        Self(Scalar::hash::<blsful::inner_types::ExpandMsgXmd<Sha256>>(
            key_id, PKP_DOMAIN,
        ))
    }

    /// The tweak of a Lit Action's identity key:
    /// `δ = hash_to_scalar(keccak256("lit_action_" ‖ cid), ACTION_DOMAIN)`
    /// (the keccak input is Lit's; the domain keeps action keys apart from
    /// PKPs whatever key id a PKP has).
    pub fn action(action_cid: &str) -> Self {
        let mut h = Keccak256::new();
        h.update(b"lit_action_");
        h.update(action_cid.as_bytes());
        let id: [u8; 32] = h.finalize().into();
        Self(Scalar::hash::<blsful::inner_types::ExpandMsgXmd<Sha256>>(
            &id,
            ACTION_DOMAIN,
        ))
    }

    /// The derived public key `root + δ·G1`.
    pub fn public_key(&self, root: &G1Projective) -> G1Projective {
        root + G1Projective::GENERATOR * self.0
    }

    /// The derived public key as 48 compressed bytes (the `pk` that
    /// prefixes every message it signs).
    pub fn public_key_bytes(&self, root: &G1Projective) -> [u8; 48] {
        g1_to_bytes(&self.public_key(root))
    }
}

/// This node's share of the derived key's signature over `msg`:
/// `(x_me + δ)·H_aug(pk ‖ msg)`.
pub fn sign_share(
    key: &BlsKeyShare,
    tweak: &BlsTweak,
    msg: &[u8],
) -> Result<BlsSignatureShare, BlsError> {
    let pk = tweak.public_key_bytes(&key.public_key);
    let secret = zeroize::Zeroizing::new(key.secret + tweak.0);
    let value = crate::fast::sign_with(&secret, msg, AUG_DST, &pk)?;
    BlsSignatureShare::new(key.me, value)
}

/// Verify node `share.node()`'s share against its tweaked public share;
/// a failure names the node.
pub fn verify_share(
    public: &BlsPublicKeySet,
    tweak: &BlsTweak,
    msg: &[u8],
    share: &BlsSignatureShare,
) -> Result<(), BlsError> {
    let node_key = tweak.public_key(public.public_share(share.node())?);
    let pk = tweak.public_key_bytes(&public.public_key);
    if crate::fast::verify_with(&node_key, msg, AUG_DST, &pk, share.value()) {
        Ok(())
    } else {
        Err(BlsError::Culprit {
            node: share.node(),
            reason: Fault::InvalidSignatureShare,
        })
    }
}

/// Verify a derived-key signature over `msg` under the derived public key
/// `public_key` (the message is augmented with that key).
pub fn verify(public_key: &G1Projective, msg: &[u8], sig: &BlsSignature) -> Result<(), BlsError> {
    let pk = g1_to_bytes(public_key);
    if crate::fast::verify_with(public_key, msg, AUG_DST, &pk, &sig.0) {
        Ok(())
    } else {
        Err(BlsError::SignatureDoesNotVerify)
    }
}

/// Combine `threshold` shares and verify the result under the derived key;
/// when it does not verify, check every share, leave out and name the ones
/// that fail, and combine `threshold` valid ones. Returns the signature and
/// the errors naming bad shares (empty on the happy path, which costs one
/// verification, not one per share); fewer than `threshold` valid shares is
/// an error naming a culprit, or [`BlsError::NotEnoughShares`].
pub fn combine_verified(
    public: &BlsPublicKeySet,
    tweak: &BlsTweak,
    msg: &[u8],
    shares: &[BlsSignatureShare],
) -> Result<(BlsSignature, Vec<BlsError>), BlsError> {
    let derived = tweak.public_key(&public.public_key);
    let known: Vec<BlsSignatureShare> = shares
        .iter()
        .filter(|s| public.public_share(s.node()).is_ok())
        .copied()
        .collect();
    if known.len() >= public.threshold {
        if let Ok(sig) = combine(&known[..public.threshold]) {
            if verify(&derived, msg, &sig).is_ok() {
                return Ok((sig, Vec::new()));
            }
        }
    }
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for s in shares {
        match verify_share(public, tweak, msg, s) {
            Ok(()) => good.push(*s),
            Err(e) => bad.push(e),
        }
    }
    if good.len() < public.threshold {
        return Err(bad.into_iter().next().unwrap_or(BlsError::NotEnoughShares {
            needed: public.threshold,
            have: good.len(),
        }));
    }
    good.truncate(public.threshold);
    let sig = combine(&good)?;
    verify(&derived, msg, &sig)?;
    Ok((sig, bad))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shares_of(
        keys: &std::collections::BTreeMap<u32, BlsKeyShare>,
        tweak: &BlsTweak,
        msg: &[u8],
    ) -> Vec<BlsSignatureShare> {
        keys.values()
            .map(|k| sign_share(k, tweak, msg).expect("share"))
            .collect()
    }

    #[test]
    fn threshold_shares_of_a_derived_key_combine_to_a_signature_only_that_key_verifies() {
        let keys = crate::sim::dkg(4, 3).expect("dkg");
        let public = keys[&0].public_set();
        let a = BlsTweak::pkp(b"key-a");
        let b = BlsTweak::pkp(b"key-b");
        let msg = b"transfer 1 to alice";
        let shares = shares_of(&keys, &a, msg);
        let (sig, bad) = combine_verified(&public, &a, msg, &shares[1..]).expect("combine");
        assert!(bad.is_empty());
        assert!(verify(&a.public_key(&public.public_key), msg, &sig).is_ok());
        assert!(verify(&b.public_key(&public.public_key), msg, &sig).is_err());
        assert!(verify(&a.public_key(&public.public_key), b"other", &sig).is_err());
        assert!(verify(&public.public_key, msg, &sig).is_err());
    }

    #[test]
    fn a_signature_by_one_derived_key_shifted_by_the_tweak_difference_is_not_another_keys_signature(
    ) {
        // The related-key forgery the plain scheme allows: σ_B = σ_A + (δ_B − δ_A)·H(m).
        let keys = crate::sim::dkg(3, 2).expect("dkg");
        let public = keys[&0].public_set();
        let (a, b) = (BlsTweak::pkp(b"mine"), BlsTweak::pkp(b"victim"));
        let msg = b"pay the attacker";
        let (sig_a, _) =
            combine_verified(&public, &a, msg, &shares_of(&keys, &a, msg)).expect("sign");
        let pk_a = a.public_key_bytes(&public.public_key);
        // What the attacker can compute from σ_A and the public tweaks, for
        // either hash input a related-key attack could hope for.
        for h_input_key in [pk_a, b.public_key_bytes(&public.public_key)] {
            let h = blsful::inner_types::G2Projective::hash::<
                blsful::inner_types::ExpandMsgXmd<Sha256>,
            >(&[&h_input_key[..], msg].concat(), AUG_DST);
            let forged = BlsSignature(sig_a.0 + h * (b.0 - a.0));
            assert!(verify(&b.public_key(&public.public_key), msg, &forged).is_err());
        }
    }

    #[test]
    fn a_derived_key_signature_over_a_ciphertext_identity_is_not_its_decryption_key() {
        let keys = crate::sim::dkg(3, 2).expect("dkg");
        let public = keys[&0].public_set();
        let identity = b"candela-acc-v1:some-conditions";
        let ct = crate::ibe::encrypt(&public.public_key, identity, b"secret").expect("encrypt");
        let t = BlsTweak::pkp(b"attacker-pkp");
        let (sig, _) =
            combine_verified(&public, &t, identity, &shares_of(&keys, &t, identity)).expect("sign");
        // Remove the public tweak part as an attacker would: δ·H(pk ‖ id).
        let pk = t.public_key_bytes(&public.public_key);
        let h = blsful::inner_types::G2Projective::hash::<blsful::inner_types::ExpandMsgXmd<Sha256>>(
            &[&pk[..], identity].concat(),
            AUG_DST,
        );
        let untweaked = BlsSignature(sig.0 - h * t.0);
        assert!(crate::ibe::decrypt_with_key(&ct, &untweaked).is_err());
        assert!(crate::ibe::decrypt_with_key(&ct, &sig).is_err());
        // Control: had the derived key signed in the plain proof-of-possession
        // form, the same subtraction would open the ciphertext.
        let naive: Vec<BlsSignatureShare> = keys
            .values()
            .map(|k| {
                let mut tweaked = k.clone();
                tweaked.secret += t.0;
                crate::sign::sign_share(&tweaked, identity).expect("share")
            })
            .collect();
        let naive_sig = combine(&naive[..2]).expect("combine");
        let h_pop = blsful::inner_types::G2Projective::hash::<
            blsful::inner_types::ExpandMsgXmd<Sha256>,
        >(identity, crate::fast::pop_dst());
        let opened = BlsSignature(naive_sig.0 - h_pop * t.0);
        assert_eq!(
            crate::ibe::decrypt_with_key(&ct, &opened).expect("the naive scheme leaks the key"),
            b"secret"
        );
    }

    #[test]
    fn a_bad_share_is_named_and_the_rest_still_combine() {
        let keys = crate::sim::dkg(4, 3).expect("dkg");
        let public = keys[&0].public_set();
        let t = BlsTweak::action("QmSomeAction");
        let msg = b"hello";
        let mut shares = shares_of(&keys, &t, msg);
        // node 2 signs another message
        shares[2] = sign_share(&keys[&2], &t, b"other").expect("share");
        let (sig, bad) = combine_verified(&public, &t, msg, &shares).expect("combine");
        assert!(matches!(
            bad.as_slice(),
            [BlsError::Culprit { node: 2, .. }]
        ));
        assert!(verify(&t.public_key(&public.public_key), msg, &sig).is_ok());
        // with two bad shares only two of four remain: refused, a culprit named
        shares[1] = sign_share(&keys[&1], &t, b"other").expect("share");
        assert!(matches!(
            combine_verified(&public, &t, msg, &shares),
            Err(BlsError::Culprit { .. })
        ));
    }

    #[test]
    fn action_keys_and_pkp_keys_with_the_same_input_differ() {
        let id = {
            let mut h = Keccak256::new();
            h.update(b"lit_action_QmX");
            <[u8; 32]>::from(h.finalize())
        };
        assert_ne!(BlsTweak::action("QmX"), BlsTweak::pkp(&id));
        assert_eq!(BlsTweak::action("QmX"), BlsTweak::action("QmX"));
    }
}
