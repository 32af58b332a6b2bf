//! Webhook authentication: HMAC-SHA256 of the raw request body under a
//! shared secret, sent as `X-Candela-Signature: sha256=<hex>`. Verification
//! uses the `hmac` crate's constant-time comparison.
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "X-Candela-Signature";
/// An optional header naming the event (its idempotency key): a webhook
/// sent again with the same id runs its action once.
pub const EVENT_ID_HEADER: &str = "X-Candela-Event-Id";

type HmacSha256 = Hmac<Sha256>;

/// Why a webhook was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// No signature header.
    #[error("missing {SIGNATURE_HEADER} header")]
    Missing,
    /// The header is not `sha256=` followed by 64 hex digits.
    #[error("{SIGNATURE_HEADER} must be sha256=<64 hex digits>")]
    Malformed,
    /// The signature does not match the body.
    #[error("{SIGNATURE_HEADER} does not match the body")]
    Mismatch,
}

fn mac(secret: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length; this never fails.
    <HmacSha256 as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"))
}

/// The header value for `body` under `secret`: `sha256=<hex>`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut m = mac(secret);
    m.update(body);
    format!("sha256={}", hex::encode(m.finalize().into_bytes()))
}

/// Check a signature header against `body` in constant time.
pub fn verify(secret: &[u8], body: &[u8], header: Option<&str>) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?.trim();
    let hex_sig = header
        .strip_prefix("sha256=")
        .ok_or(SignatureError::Malformed)?;
    let tag = hex::decode(hex_sig).map_err(|_| SignatureError::Malformed)?;
    if tag.len() != 32 {
        return Err(SignatureError::Malformed);
    }
    let mut m = mac(secret);
    m.update(body);
    m.verify_slice(&tag).map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_the_rfc_4231_test_vector() {
        // RFC 4231 test case 2: key "Jefe".
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn the_right_signature_is_accepted() {
        let h = sign(b"s3cret", b"{\"a\":1}");
        assert_eq!(verify(b"s3cret", b"{\"a\":1}", Some(&h)), Ok(()));
    }

    #[test]
    fn a_wrong_missing_or_malformed_signature_is_refused() {
        let h = sign(b"s3cret", b"{\"a\":1}");
        assert_eq!(
            verify(b"other", b"{\"a\":1}", Some(&h)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"s3cret", b"{\"a\":2}", Some(&h)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(verify(b"s3cret", b"x", None), Err(SignatureError::Missing));
        assert_eq!(
            verify(b"s3cret", b"x", Some("md5=00")),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(b"s3cret", b"x", Some("sha256=zz")),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(b"s3cret", b"x", Some("sha256=abcd")),
            Err(SignatureError::Malformed)
        );
        let flipped = format!("{}0", &h[..h.len() - 1]);
        let flipped = if flipped == h {
            format!("{}1", &h[..h.len() - 1])
        } else {
            flipped
        };
        assert_eq!(
            verify(b"s3cret", b"{\"a\":1}", Some(&flipped)),
            Err(SignatureError::Mismatch)
        );
    }
}
