//! Byte encodings of scalars and points (SEC1), shared by the modules.
use crate::CryptoError;
use k256::elliptic_curve::ops::Reduce;
use k256::elliptic_curve::sec1::{FromEncodedPoint, ToEncodedPoint};
use k256::elliptic_curve::PrimeField;
use k256::{AffinePoint, EncodedPoint, Scalar, U256};

/// A scalar as 32 big-endian bytes.
pub fn scalar_to_bytes(s: &Scalar) -> [u8; 32] {
    s.to_bytes().into()
}

/// A canonical 32-byte big-endian scalar; values >= n are refused.
pub fn scalar_from_bytes(b: &[u8]) -> Result<Scalar, CryptoError> {
    let arr: [u8; 32] = b
        .try_into()
        .map_err(|_| CryptoError::Encoding(format!("scalar must be 32 bytes, got {}", b.len())))?;
    Option::<Scalar>::from(Scalar::from_repr(arr.into()))
        .ok_or_else(|| CryptoError::Encoding("scalar out of range".into()))
}

/// A 32-byte digest reduced modulo the group order, as ECDSA does.
pub fn scalar_from_digest(d: &[u8; 32]) -> Scalar {
    <Scalar as Reduce<U256>>::reduce_bytes(&(*d).into())
}

/// A point as SEC1 bytes (compressed or not).
pub fn point_to_bytes(p: &AffinePoint, compressed: bool) -> Vec<u8> {
    p.to_encoded_point(compressed).as_bytes().to_vec()
}

/// Parse a SEC1 point (compressed or uncompressed); the identity is refused.
pub fn point_from_bytes(b: &[u8]) -> Result<AffinePoint, CryptoError> {
    let ep = EncodedPoint::from_bytes(b)
        .map_err(|e| CryptoError::Encoding(format!("bad SEC1 point: {e}")))?;
    if ep.is_identity() {
        return Err(CryptoError::Encoding("point is the identity".into()));
    }
    Option::<AffinePoint>::from(AffinePoint::from_encoded_point(&ep))
        .ok_or_else(|| CryptoError::Encoding("point not on secp256k1".into()))
}
