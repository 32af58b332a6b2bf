//! PKP derivation from the root key (DESIGN.md section 3).
//!
//! For a key id `k`: `δ = hash_to_scalar("candela-pkp-v1", k)`,
//! `PK = PK_root + δ·G`, and node i's share becomes `x_i + δ`. Because the
//! Lagrange coefficients over any signing set sum to one, the tweaked shares
//! are a valid sharing of `x + δ`, so minting needs no protocol round.
use crate::{encoding, AffinePoint, CryptoError, ProjectivePoint, Scalar};
use k256::elliptic_curve::hash2curve::{ExpandMsgXmd, GroupDigest};
use k256::Secp256k1;
use sha2::Sha256;
use sha3::{Digest, Keccak256};

/// Domain separation tag of the PKP tweak.
pub const PKP_DST: &[u8] = b"candela-pkp-v1";

/// The additive tweak `δ` of a key id.
pub fn pkp_tweak(key_id: &[u8]) -> Result<Scalar, CryptoError> {
    Secp256k1::hash_to_scalar::<ExpandMsgXmd<Sha256>>(&[key_id], &[PKP_DST])
        .map_err(|e| CryptoError::Encoding(format!("hash_to_scalar: {e}")))
}

/// The PKP public key `PK_root + δ·G` for a key id.
pub fn derive_public_key(root: &AffinePoint, key_id: &[u8]) -> Result<AffinePoint, CryptoError> {
    let delta = pkp_tweak(key_id)?;
    Ok((ProjectivePoint::from(*root) + ProjectivePoint::GENERATOR * delta).to_affine())
}

/// `keccak256(65-byte uncompressed public key, 0x04 prefix included)`: the
/// PKP's NFT token id, as Lit computes it (its PubkeyRouter, contracts-sdk
/// and `pubkeyToTokenId`).
pub fn token_id(pk: &AffinePoint) -> [u8; 32] {
    let bytes = encoding::point_to_bytes(pk, false);
    Keccak256::digest(&bytes).into()
}

/// The Ethereum address of a public key: the low 20 bytes of
/// `keccak256(x || y)` (the uncompressed key without its 0x04 prefix).
pub fn eth_address(pk: &AffinePoint) -> [u8; 20] {
    let bytes = encoding::point_to_bytes(pk, false);
    let h: [u8; 32] = Keccak256::digest(&bytes[1..]).into();
    let mut a = [0u8; 20];
    a.copy_from_slice(&h[12..]);
    a
}

/// An address in EIP-55 mixed-case checksum form, with `0x`.
pub fn checksum_address(addr: &[u8; 20]) -> String {
    let lower = hex::encode(addr);
    let hash = Keccak256::digest(lower.as_bytes());
    let mut out = String::from("0x");
    for (i, c) in lower.chars().enumerate() {
        let nibble = (hash[i / 2] >> (if i % 2 == 0 { 4 } else { 0 })) & 0xf;
        if c.is_ascii_alphabetic() && nibble >= 8 {
            out.push(c.to_ascii_uppercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Parse a `0x`-prefixed (or bare) 20-byte hex address, any case.
pub fn parse_address(s: &str) -> Result<[u8; 20], CryptoError> {
    let s = s.strip_prefix("0x").unwrap_or(s);
    let v = hex::decode(s).map_err(|e| CryptoError::Encoding(format!("address: {e}")))?;
    v.try_into()
        .map_err(|_| CryptoError::Encoding("address must be 20 bytes".into()))
}

/// Parse a SEC1 public key (hex, with or without `0x`).
pub fn parse_public_key(s: &str) -> Result<AffinePoint, CryptoError> {
    let s = s.strip_prefix("0x").unwrap_or(s);
    let v = hex::decode(s).map_err(|e| CryptoError::Encoding(format!("public key: {e}")))?;
    encoding::point_from_bytes(&v)
}

/// `0x`-hex of the uncompressed SEC1 encoding.
pub fn public_key_hex(pk: &AffinePoint) -> String {
    format!("0x{}", hex::encode(encoding::point_to_bytes(pk, false)))
}

pub use crate::encoding::{
    point_from_bytes, point_to_bytes, scalar_from_bytes, scalar_from_digest, scalar_to_bytes,
};

#[cfg(test)]
mod tests {
    use super::*;
    use k256::elliptic_curve::Field;
    use rand_core::OsRng;

    #[test]
    fn the_token_id_hashes_the_65_byte_key_and_the_address_the_64_bytes() {
        // the generator: its address is the well-known one of private key 1
        let g = AffinePoint::GENERATOR;
        assert_eq!(
            checksum_address(&eth_address(&g)),
            "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"
        );
        let full = encoding::point_to_bytes(&g, false);
        assert_eq!(full.len(), 65);
        let with_prefix: [u8; 32] = Keccak256::digest(&full).into();
        let without: [u8; 32] = Keccak256::digest(&full[1..]).into();
        assert_eq!(token_id(&g), with_prefix, "Lit: keccak256 of the 65 bytes");
        assert_ne!(token_id(&g), without);
    }

    #[test]
    fn tweaked_shares_sign_for_the_derived_key() {
        // Shamir sharing of x with threshold 2 over nodes 0,1,2.
        let x = Scalar::random(&mut OsRng);
        let a1 = Scalar::random(&mut OsRng);
        let share = |i: u32| x + a1 * crate::lagrange::x_of(i);
        let root = (ProjectivePoint::GENERATOR * x).to_affine();
        let key_id = b"some key id";
        let delta = pkp_tweak(key_id).unwrap();
        let set = [0u32, 2];
        let rebuilt: Scalar = set
            .iter()
            .map(|&i| crate::lagrange::coefficient(&set, i).unwrap() * (share(i) + delta))
            .sum();
        assert_eq!(
            (ProjectivePoint::GENERATOR * rebuilt).to_affine(),
            derive_public_key(&root, key_id).unwrap()
        );
    }

    #[test]
    fn different_key_ids_give_different_keys() {
        let root = (ProjectivePoint::GENERATOR * Scalar::random(&mut OsRng)).to_affine();
        assert_ne!(
            derive_public_key(&root, b"a").unwrap(),
            derive_public_key(&root, b"b").unwrap()
        );
    }

    #[test]
    fn address_of_known_key_matches_ethereum() {
        // private key 1 -> address 0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf
        let pk = ProjectivePoint::GENERATOR.to_affine();
        assert_eq!(
            checksum_address(&eth_address(&pk)),
            "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"
        );
    }
}
