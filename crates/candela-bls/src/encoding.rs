//! Byte and hex encodings of BLS12-381 points and scalars.
//!
//! Points use the standard compressed form (ZCash / IETF): 48 bytes in G1,
//! 96 bytes in G2. Scalars are 32 bytes big-endian. Hex is lower case
//! without `0x` (a leading `0x` is accepted when parsing).
use blsful::inner_types::{G1Projective, G2Projective, Scalar};

use crate::BlsError;

/// Length of a compressed G1 point (a public key or public share).
pub const G1_BYTES: usize = 48;
/// Length of a compressed G2 point (a signature).
pub const G2_BYTES: usize = 96;
/// Length of a scalar.
pub const SCALAR_BYTES: usize = 32;

/// A G1 point, compressed.
pub fn g1_to_bytes(p: &G1Projective) -> [u8; G1_BYTES] {
    p.to_compressed()
}

/// Parse a compressed G1 point (checked to be on the curve and in the
/// prime-order subgroup); the identity is refused.
pub fn g1_from_bytes(b: &[u8]) -> Result<G1Projective, BlsError> {
    let arr: [u8; G1_BYTES] = b.try_into().map_err(|_| {
        BlsError::Encoding(format!(
            "G1 point must be {G1_BYTES} bytes, got {}",
            b.len()
        ))
    })?;
    let p = Option::<G1Projective>::from(G1Projective::from_compressed(&arr))
        .ok_or_else(|| BlsError::Encoding("not a compressed G1 point".into()))?;
    if bool::from(p.is_identity()) {
        return Err(BlsError::Encoding("G1 point is the identity".into()));
    }
    Ok(p)
}

/// A G2 point, compressed.
pub fn g2_to_bytes(p: &G2Projective) -> [u8; G2_BYTES] {
    p.to_compressed()
}

/// Parse a compressed G2 point (checked to be on the curve and in the
/// prime-order subgroup); the identity is refused.
pub fn g2_from_bytes(b: &[u8]) -> Result<G2Projective, BlsError> {
    let arr: [u8; G2_BYTES] = b.try_into().map_err(|_| {
        BlsError::Encoding(format!(
            "G2 point must be {G2_BYTES} bytes, got {}",
            b.len()
        ))
    })?;
    if arr.iter().skip(1).all(|b| *b == 0) && arr[0] & 0x40 != 0 {
        return Err(BlsError::Encoding("G2 point is the identity".into()));
    }
    crate::fast::g2_decompress(&arr)
        .ok_or_else(|| BlsError::Encoding("not a compressed G2 point in the subgroup".into()))
}

/// A scalar as 32 big-endian bytes.
pub fn scalar_to_bytes(s: &Scalar) -> [u8; SCALAR_BYTES] {
    s.to_be_bytes()
}

/// A canonical 32-byte big-endian scalar; values >= the group order are
/// refused.
pub fn scalar_from_bytes(b: &[u8]) -> Result<Scalar, BlsError> {
    let arr: [u8; SCALAR_BYTES] = b.try_into().map_err(|_| {
        BlsError::Encoding(format!(
            "scalar must be {SCALAR_BYTES} bytes, got {}",
            b.len()
        ))
    })?;
    Option::<Scalar>::from(Scalar::from_be_bytes(&arr))
        .ok_or_else(|| BlsError::Encoding("scalar out of range".into()))
}

/// Decode hex, with or without a leading `0x`.
pub fn hex_decode(s: &str) -> Result<Vec<u8>, BlsError> {
    let s = s.trim();
    let s = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    hex::decode(s).map_err(|e| BlsError::Encoding(format!("bad hex: {e}")))
}

/// A BLS public key (or public share) as hex: 96 characters, no `0x`.
pub fn public_key_to_hex(p: &G1Projective) -> String {
    hex::encode(g1_to_bytes(p))
}

/// Parse what [`public_key_to_hex`] wrote (a leading `0x` is accepted).
pub fn public_key_from_hex(s: &str) -> Result<G1Projective, BlsError> {
    g1_from_bytes(&hex_decode(s)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use blsful::inner_types::Group;

    #[test]
    fn generator_round_trips_through_hex_and_identity_is_refused() {
        let g = G1Projective::GENERATOR;
        let h = public_key_to_hex(&g);
        assert_eq!(h.len(), 96);
        assert_eq!(public_key_from_hex(&h).unwrap(), g);
        assert_eq!(public_key_from_hex(&format!("0x{h}")).unwrap(), g);
        let id = G1Projective::identity().to_compressed();
        assert!(g1_from_bytes(&id).is_err());
        assert!(g1_from_bytes(&[0u8; 47]).is_err());
        let g2 = G2Projective::GENERATOR;
        assert_eq!(g2_from_bytes(&g2_to_bytes(&g2)).unwrap(), g2);
    }

    #[test]
    fn scalars_above_the_order_are_refused() {
        assert!(scalar_from_bytes(&[0xff; 32]).is_err());
        let s = Scalar::from(12345u64);
        assert_eq!(scalar_from_bytes(&scalar_to_bytes(&s)).unwrap(), s);
    }
}
