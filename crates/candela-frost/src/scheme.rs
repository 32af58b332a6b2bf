//! Lit's names for key types and signing schemes, and the rules tying them.
//!
//! The signing scheme strings are exactly those of Lit's node
//! (`lit-node-core` `SigningScheme`, whose `Display`/`FromStr` and
//! human-readable serde form use the variant name verbatim, PascalCase):
//! `"Bls12381"`, `"EcdsaK256Sha256"`, `"EcdsaP256Sha256"`,
//! `"EcdsaP384Sha384"`, `"SchnorrEd25519Sha512"`, `"SchnorrK256Sha256"`,
//! `"SchnorrP256Sha256"`, `"SchnorrP384Sha384"`,
//! `"SchnorrRistretto25519Sha512"`, `"SchnorrEd448Shake256"`,
//! `"SchnorrRedJubjubBlake2b512"`, `"SchnorrK256Taproot"`,
//! `"SchnorrRedDecaf377Blake2b512"`, `"SchnorrkelSubstrate"`,
//! `"Bls12381G1ProofOfPossession"`. These are the strings `Lit.Actions`
//! takes as `signingScheme` (`signAsAction`, `getActionPublicKey`,
//! `verifyActionSignature`). Candela knows the four it can serve; any other
//! string, Lit's or not, parses to a clear error.
//!
//! Key types: Lit's node keys its root keys by curve (`CurveType::K256`,
//! `Ed25519`, `BLS12381G1`); its FROST library names the taproot flavour
//! `K256Taproot`. Candela holds a separate root per key type, so taproot
//! keys (made by the FROST DKG here) are a type of their own, distinct from
//! the cait-sith ECDSA root `K256`.
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::FrostError;

/// The kind of root key a node holds, with Lit's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum KeyType {
    /// secp256k1, threshold ECDSA (cait-sith, `candela-crypto`).
    K256,
    /// Ed25519, FROST (this crate).
    Ed25519,
    /// secp256k1 with BIP-340 x-only keys, FROST taproot (this crate).
    K256Taproot,
    /// BLS12-381, public keys in G1 (`candela-bls`).
    Bls12381G1,
}

impl KeyType {
    /// Lit's name of the key type.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::K256 => "K256",
            Self::Ed25519 => "Ed25519",
            Self::K256Taproot => "K256Taproot",
            Self::Bls12381G1 => "Bls12381G1",
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyType {
    type Err = FrostError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "K256" => Ok(Self::K256),
            "Ed25519" => Ok(Self::Ed25519),
            "K256Taproot" => Ok(Self::K256Taproot),
            "Bls12381G1" => Ok(Self::Bls12381G1),
            _ => Err(FrostError::UnknownKeyType(s.to_string())),
        }
    }
}

/// A signing scheme Candela serves, with Lit's exact names (serde uses the
/// same strings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum SigningScheme {
    /// Threshold ECDSA over secp256k1, 32-byte prehashed messages.
    EcdsaK256Sha256,
    /// FROST(Ed25519, SHA-512): RFC 8032 signatures, as Solana verifies.
    SchnorrEd25519Sha512,
    /// FROST(secp256k1, SHA-256)-TR: BIP-340 signatures for taproot.
    SchnorrK256Taproot,
    /// BLS12-381 signatures in G2 with the proof-of-possession ciphersuite.
    Bls12381G1ProofOfPossession,
}

/// Lit's scheme names that Candela recognises but does not serve.
const LIT_UNSERVED: [&str; 11] = [
    "Bls12381",
    "EcdsaP256Sha256",
    "EcdsaP384Sha384",
    "SchnorrK256Sha256",
    "SchnorrP256Sha256",
    "SchnorrP384Sha384",
    "SchnorrRistretto25519Sha512",
    "SchnorrEd448Shake256",
    "SchnorrRedJubjubBlake2b512",
    "SchnorrRedDecaf377Blake2b512",
    "SchnorrkelSubstrate",
];

/// Largest Ed25519 message accepted (a Solana transaction is at most 1232
/// bytes; this leaves room for any off-chain message).
pub const MAX_ED25519_MESSAGE: usize = 64 * 1024;

impl SigningScheme {
    /// Every scheme Candela serves.
    pub const ALL: [SigningScheme; 4] = [
        Self::EcdsaK256Sha256,
        Self::SchnorrEd25519Sha512,
        Self::SchnorrK256Taproot,
        Self::Bls12381G1ProofOfPossession,
    ];

    /// Lit's name of the scheme.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::EcdsaK256Sha256 => "EcdsaK256Sha256",
            Self::SchnorrEd25519Sha512 => "SchnorrEd25519Sha512",
            Self::SchnorrK256Taproot => "SchnorrK256Taproot",
            Self::Bls12381G1ProofOfPossession => "Bls12381G1ProofOfPossession",
        }
    }

    /// The key type that signs with this scheme.
    pub const fn key_type(self) -> KeyType {
        match self {
            Self::EcdsaK256Sha256 => KeyType::K256,
            Self::SchnorrEd25519Sha512 => KeyType::Ed25519,
            Self::SchnorrK256Taproot => KeyType::K256Taproot,
            Self::Bls12381G1ProofOfPossession => KeyType::Bls12381G1,
        }
    }

    /// Whether this crate signs with the scheme (the FROST ones).
    pub const fn is_frost(self) -> bool {
        matches!(self, Self::SchnorrEd25519Sha512 | Self::SchnorrK256Taproot)
    }

    /// Refuse a key of the wrong type for this scheme.
    pub fn check_key_type(self, key: KeyType) -> Result<(), FrostError> {
        let expected = self.key_type();
        if key == expected {
            Ok(())
        } else {
            Err(FrostError::WrongKeyType {
                scheme: self.as_str(),
                expected: expected.as_str(),
                got: key.as_str(),
            })
        }
    }

    /// Refuse a message the scheme does not sign.
    ///
    /// - `EcdsaK256Sha256`: exactly 32 bytes (a prehash, as Lit requires).
    /// - `SchnorrK256Taproot`: exactly 32 bytes. BIP-340 and FROST accept any
    ///   length, but Bitcoin signs 32-byte sighashes and Lit hashes taproot
    ///   messages before sending them (`hash_prior_to_sending`), so a
    ///   longer message is almost surely a caller that forgot to hash.
    /// - `SchnorrEd25519Sha512`: any length from 0 to
    ///   [`MAX_ED25519_MESSAGE`]; Ed25519 hashes the message itself.
    /// - `Bls12381G1ProofOfPossession`: any length up to the same bound.
    pub fn check_message(self, message: &[u8]) -> Result<(), FrostError> {
        let (ok, rule) = match self {
            Self::EcdsaK256Sha256 | Self::SchnorrK256Taproot => {
                (message.len() == 32, "exactly 32-byte messages")
            }
            Self::SchnorrEd25519Sha512 | Self::Bls12381G1ProofOfPossession => (
                message.len() <= MAX_ED25519_MESSAGE,
                "messages of at most 65536 bytes",
            ),
        };
        if ok {
            Ok(())
        } else {
            Err(FrostError::MessageLength {
                scheme: self.as_str(),
                rule,
                got: message.len(),
            })
        }
    }
}

impl fmt::Display for SigningScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SigningScheme {
    type Err = FrostError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(found) = Self::ALL.iter().find(|x| x.as_str() == s) {
            return Ok(*found);
        }
        if let Some(name) = LIT_UNSERVED.iter().find(|x| **x == s) {
            return Err(FrostError::UnsupportedScheme(name));
        }
        Err(FrostError::UnknownScheme(s.to_string()))
    }
}

impl TryFrom<String> for SigningScheme {
    type Error = FrostError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<SigningScheme> for String {
    fn from(s: SigningScheme) -> String {
        s.as_str().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_served_scheme_round_trips_through_its_lit_name() {
        for s in SigningScheme::ALL {
            assert_eq!(s.as_str().parse::<SigningScheme>().unwrap(), s);
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
            assert_eq!(serde_json::from_str::<SigningScheme>(&json).unwrap(), s);
        }
    }

    #[test]
    fn lit_scheme_not_served_is_named_unsupported() {
        assert_eq!(
            "SchnorrP256Sha256".parse::<SigningScheme>(),
            Err(FrostError::UnsupportedScheme("SchnorrP256Sha256"))
        );
    }
}
