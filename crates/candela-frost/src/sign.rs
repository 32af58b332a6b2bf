//! FROST round 2 and aggregation, with Candela's checks around them.
use std::collections::BTreeMap;

use frost_core::round1::{SigningCommitments, SigningNonces};
use frost_core::round2::{self, SignatureShare};
use frost_core::SigningPackage;

use crate::ids::{identifier, party_of};
use crate::{FrostError, FrostKeyShare, PartyIndex, Suite, Tweak};

/// Build the signing package every signer and the aggregator use, from each
/// chosen signer's commitment and the message (checked against the
/// scheme's length rule).
pub fn signing_package<C: Suite>(
    commitments: &BTreeMap<PartyIndex, SigningCommitments<C>>,
    message: &[u8],
) -> Result<SigningPackage<C>, FrostError> {
    C::SCHEME.check_message(message)?;
    let mut by_id = BTreeMap::new();
    for (p, c) in commitments {
        by_id.insert(identifier::<C>(*p)?, *c);
    }
    Ok(SigningPackage::new(by_id, message))
}

/// This node's signature share for the key `tweak` derives from its root
/// share, with nonces taken from its commitment pool.
pub fn sign_share<C: Suite>(
    share: &FrostKeyShare<C>,
    tweak: &Tweak<C>,
    nonces: &SigningNonces<C>,
    package: &SigningPackage<C>,
) -> Result<SignatureShare<C>, FrostError> {
    C::SCHEME.check_message(package.message())?;
    let got = package.signing_commitments().len();
    if got < share.threshold as usize {
        return Err(FrostError::TooFewSigners {
            got,
            need: share.threshold,
        });
    }
    let key_package = tweak.key_package(share);
    round2::sign(package, nonces, &key_package).map_err(|e| FrostError::Frost(e.to_string()))
}

/// Verify every share and combine them into a signature in the chain's
/// standard 64-byte format. `public` is the derived key's public package
/// ([`Tweak::public_key_package`]). An invalid share is named:
/// [`FrostError::BadShare`].
pub fn aggregate<C: Suite>(
    package: &SigningPackage<C>,
    shares: &BTreeMap<PartyIndex, SignatureShare<C>>,
    public: &frost_core::keys::PublicKeyPackage<C>,
) -> Result<Vec<u8>, FrostError> {
    C::SCHEME.check_message(package.message())?;
    if let Some(need) = public.min_signers() {
        if shares.len() < need as usize {
            return Err(FrostError::TooFewSigners {
                got: shares.len(),
                need,
            });
        }
    }
    let parties: Vec<PartyIndex> = shares.keys().copied().collect();
    let mut by_id = BTreeMap::new();
    for (p, s) in shares {
        by_id.insert(identifier::<C>(*p)?, *s);
    }
    let sig = frost_core::aggregate(package, &by_id, public).map_err(|e| {
        match e.culprits().first().and_then(|id| party_of(id, &parties)) {
            Some(party) => FrostError::BadShare { party },
            None => FrostError::Frost(e.to_string()),
        }
    })?;
    C::signature_bytes(&sig)
}

/// Verify a signature in the chain's 64-byte encoding (as [`aggregate`]
/// returns it) over `message` under `key`; a malformed or wrong signature
/// is an error.
pub fn verify_signature<C: Suite>(
    key: &frost_core::VerifyingKey<C>,
    message: &[u8],
    signature: &[u8],
) -> Result<(), FrostError> {
    let sig = frost_core::Signature::<C>::deserialize(signature)
        .map_err(|e| FrostError::Encoding(format!("signature: {e}")))?;
    key.verify(message, &sig)
        .map_err(|e| FrostError::Frost(e.to_string()))
}
