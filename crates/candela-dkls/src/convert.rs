//! Crossing between the workspace's k256 0.13 and the k256 0.14 that
//! `dkls23` uses: only through their byte encodings (32-byte big-endian
//! scalars, 33-byte compressed SEC1 points), never by arithmetic of our own.
use k256::elliptic_curve::group::GroupEncoding as _;
use k256_v14::elliptic_curve::group::GroupEncoding as _;
use k256_v14::elliptic_curve::PrimeField as _;

use crate::DklsError;

/// A k256 0.13 scalar as a k256 0.14 scalar.
pub(crate) fn scalar_to_v14(s: &k256::Scalar) -> Result<k256_v14::Scalar, DklsError> {
    let bytes: [u8; 32] = s.to_bytes().into();
    Option::from(k256_v14::Scalar::from_repr(bytes.into()))
        .ok_or_else(|| DklsError::Encoding("scalar out of range".into()))
}

/// A k256 0.14 scalar as a k256 0.13 scalar.
pub(crate) fn scalar_from_v14(s: &k256_v14::Scalar) -> Result<k256::Scalar, DklsError> {
    let bytes: [u8; 32] = s.to_repr().into();
    Option::from(<k256::Scalar as k256::elliptic_curve::PrimeField>::from_repr(bytes.into()))
        .ok_or_else(|| DklsError::Encoding("scalar out of range".into()))
}

/// A k256 0.14 point as a k256 0.13 point.
pub(crate) fn point_from_v14(p: &k256_v14::AffinePoint) -> Result<k256::AffinePoint, DklsError> {
    let bytes: [u8; 33] = p
        .to_bytes()
        .as_slice()
        .try_into()
        .map_err(|_| DklsError::Encoding("point is not 33 bytes".into()))?;
    point_from_sec1(&bytes)
}

/// A k256 0.13 point as a k256 0.14 point.
pub(crate) fn point_to_v14(p: &k256::AffinePoint) -> Result<k256_v14::AffinePoint, DklsError> {
    let bytes: [u8; 33] = p
        .to_bytes()
        .as_slice()
        .try_into()
        .map_err(|_| DklsError::Encoding("point is not 33 bytes".into()))?;
    Option::from(k256_v14::AffinePoint::from_bytes(&bytes.into()))
        .ok_or_else(|| DklsError::Encoding("not a curve point".into()))
}

/// A compressed SEC1 point (33 bytes) as a k256 0.13 point.
pub fn point_from_sec1(bytes: &[u8; 33]) -> Result<k256::AffinePoint, DklsError> {
    Option::from(k256::AffinePoint::from_bytes(bytes.into()))
        .ok_or_else(|| DklsError::Encoding("not a compressed SEC1 point".into()))
}

/// A k256 0.13 point as compressed SEC1 (33 bytes).
pub fn point_to_sec1(p: &k256::AffinePoint) -> [u8; 33] {
    let mut out = [0u8; 33];
    out.copy_from_slice(p.to_bytes().as_slice());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use k256::elliptic_curve::Field;

    #[test]
    fn points_and_scalars_cross_versions_unchanged() {
        let s = k256::Scalar::random(&mut rand_core::OsRng);
        let p = (k256::ProjectivePoint::GENERATOR * s).to_affine();
        let p14 = point_to_v14(&p).expect("point converts");
        assert_eq!(point_from_v14(&p14).expect("point converts back"), p);
        let s14 = scalar_to_v14(&s).expect("scalar converts");
        // s·G computed by k256 0.14 is the same point as by 0.13.
        let p_again = (k256_v14::ProjectivePoint::GENERATOR * s14).to_affine();
        assert_eq!(point_from_v14(&p_again).expect("converts"), p);
        assert_eq!(point_from_sec1(&point_to_sec1(&p)).expect("parses"), p);
    }
}
