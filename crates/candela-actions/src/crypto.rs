//! Hashing and secp256k1 helpers used by the Lit API and by the native side of
//! the ethers bundle.

use k256::ecdsa::{RecoveryId, Signature, SigningKey, VerifyingKey};
use k256::elliptic_curve::sec1::ToEncodedPoint;
use k256::{PublicKey, SecretKey};
use sha3::{Digest, Keccak256};

/// keccak256 of `data`.
pub fn keccak256(data: &[u8]) -> [u8; 32] {
    Keccak256::digest(data).into()
}

/// The EIP-191 (`personal_sign`) digest of `message`:
/// `keccak256("\x19Ethereum Signed Message:\n" || len(message) || message)`.
pub fn eip191_hash(message: &[u8]) -> [u8; 32] {
    let mut hasher = Keccak256::new();
    hasher.update(format!("\x19Ethereum Signed Message:\n{}", message.len()).as_bytes());
    hasher.update(message);
    hasher.finalize().into()
}

/// Decodes hex with or without a `0x` prefix.
pub fn decode_hex(text: &str) -> Result<Vec<u8>, String> {
    let t = text.trim();
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    hex::decode(t).map_err(|e| format!("invalid hex: {e}"))
}

/// Parses a secp256k1 public key given as hex: 65-byte uncompressed (`04…`),
/// 64-byte raw `x || y`, or 33-byte compressed.
pub fn parse_public_key(text: &str) -> Result<PublicKey, String> {
    let bytes = decode_hex(text)?;
    let sec1 = if bytes.len() == 64 {
        let mut v = Vec::with_capacity(65);
        v.push(4);
        v.extend_from_slice(&bytes);
        v
    } else {
        bytes
    };
    PublicKey::from_sec1_bytes(&sec1)
        .map_err(|_| format!("invalid secp256k1 public key ({} bytes)", sec1.len()))
}

/// A PKP's token id as Lit's `pubkeyToTokenId` computes it: `0x` + hex of
/// keccak256 of the public key's bytes as given (for a PKP's 65-byte
/// uncompressed key, 0x04 included, the registry's token id).
pub fn pubkey_to_token_id(public_key: &str) -> Result<String, String> {
    let text = public_key.trim();
    let text = text.strip_prefix("0x").unwrap_or(text);
    let bytes = hex::decode(text).map_err(|_| "publicKey is not hex".to_string())?;
    if bytes.is_empty() {
        return Err("publicKey must not be blank".into());
    }
    Ok(format!("0x{}", hex::encode(keccak256(&bytes))))
}

/// The uncompressed (65 bytes) or compressed (33 bytes) SEC1 encoding of `key`.
pub fn encode_public_key(key: &PublicKey, compressed: bool) -> Vec<u8> {
    key.to_encoded_point(compressed).as_bytes().to_vec()
}

/// The public key of a 32-byte private key.
pub fn public_from_private(private_key: &[u8]) -> Result<PublicKey, String> {
    SecretKey::from_slice(private_key)
        .map(|k| k.public_key())
        .map_err(|_| "invalid private key".to_string())
}

/// An RFC 6979 signature with low `s`: `(r, s, recovery id)`, as ethers' SigningKey makes it.
pub fn sign_digest(private_key: &[u8], digest: &[u8]) -> Result<([u8; 32], [u8; 32], u8), String> {
    let key = SigningKey::from_slice(private_key).map_err(|_| "invalid private key".to_string())?;
    if digest.len() != 32 {
        return Err(format!(
            "bad digest length: {} bytes, expected 32",
            digest.len()
        ));
    }
    let (sig, recid) = key
        .sign_prehash_recoverable(digest)
        .map_err(|e| format!("signing failed: {e}"))?;
    let (sig, recid) = match sig.normalize_s() {
        Some(low) => (
            low,
            RecoveryId::new(!recid.is_y_odd(), recid.is_x_reduced()),
        ),
        None => (sig, recid),
    };
    let bytes = sig.to_bytes();
    let mut r = [0u8; 32];
    let mut s = [0u8; 32];
    r.copy_from_slice(&bytes[..32]);
    s.copy_from_slice(&bytes[32..]);
    Ok((r, s, recid.to_byte()))
}

/// Recovers the public key that signed `digest` with `(r, s, recovery id)`.
pub fn recover_public_key(
    digest: &[u8],
    r: &[u8],
    s: &[u8],
    recovery_id: u8,
) -> Result<PublicKey, String> {
    if digest.len() != 32 || r.len() != 32 || s.len() != 32 {
        return Err("recover: digest, r and s must be 32 bytes each".into());
    }
    let sig = Signature::from_scalars(
        <[u8; 32]>::try_from(r).map_err(|_| "bad r")?,
        <[u8; 32]>::try_from(s).map_err(|_| "bad s")?,
    )
    .map_err(|e| format!("invalid signature: {e}"))?;
    let recid = RecoveryId::from_byte(recovery_id).ok_or("invalid recovery id")?;
    // ethers accepts high-s signatures when recovering: recover with the
    // normalised signature and the flipped parity in that case.
    let (sig, recid) = match sig.normalize_s() {
        Some(low) => (
            low,
            RecoveryId::new(!recid.is_y_odd(), recid.is_x_reduced()),
        ),
        None => (sig, recid),
    };
    VerifyingKey::recover_from_prehash(digest, &sig, recid)
        .map(|k| PublicKey::from(&k))
        .map_err(|e| format!("cannot recover public key: {e}"))
}

/// ECDH as ethers' `computeSharedSecret`: the x coordinate of `private * public`.
pub fn shared_secret(private_key: &[u8], public_key: &PublicKey) -> Result<[u8; 32], String> {
    let secret = SecretKey::from_slice(private_key).map_err(|_| "invalid private key")?;
    let point = (public_key.to_projective() * *secret.to_nonzero_scalar()).to_affine();
    let encoded = point.to_encoded_point(false);
    let x = encoded
        .x()
        .ok_or("the shared point is the point at infinity")?;
    let mut out = [0u8; 32];
    out.copy_from_slice(x);
    Ok(out)
}

/// The sum of two public keys (ethers' `SigningKey._addPoint`), compressed.
pub fn add_points(a: &PublicKey, b: &PublicKey) -> Result<Vec<u8>, String> {
    let sum = a.to_projective() + b.to_projective();
    PublicKey::from_affine(sum.into())
        .map(|k| encode_public_key(&k, true))
        .map_err(|_| "the sum is the point at infinity".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keccak_of_empty_input_is_the_known_constant() {
        assert_eq!(
            hex::encode(keccak256(b"")),
            "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
        );
    }

    #[test]
    fn eip191_hash_of_hello_world_matches_known_value() {
        // ethers.utils.hashMessage("hello world")
        assert_eq!(
            hex::encode(eip191_hash(b"hello world")),
            "d9eba16ed0ecae432b71fe008c98cc872bb4cc214d3220a36f365326cf807d68"
        );
    }

    #[test]
    fn sign_then_recover_gives_back_the_key_and_low_s() {
        let sk = [7u8; 32];
        let digest = keccak256(b"x");
        let (r, s, v) = sign_digest(&sk, &digest).unwrap();
        let pk = recover_public_key(&digest, &r, &s, v).unwrap();
        assert_eq!(pk, public_from_private(&sk).unwrap());
        assert!(s[0] < 0x80, "s is in the low half");
    }

    #[test]
    fn token_id_hashes_the_key_bytes_as_given_like_lit() {
        let pk = public_from_private(&[9u8; 32]).unwrap();
        let full = encode_public_key(&pk, false);
        let compressed = encode_public_key(&pk, true);
        let a = pubkey_to_token_id(&format!("0x{}", hex::encode(&full))).unwrap();
        assert_eq!(a, format!("0x{}", hex::encode(keccak256(&full))));
        assert_eq!(
            a,
            pubkey_to_token_id(&hex::encode(&full)).unwrap(),
            "0x optional"
        );
        assert_eq!(
            pubkey_to_token_id(&hex::encode(&compressed)).unwrap(),
            format!("0x{}", hex::encode(keccak256(&compressed))),
            "a compressed key is hashed as given, as Lit does"
        );
        assert!(pubkey_to_token_id("0x").is_err());
        assert!(pubkey_to_token_id("zz").is_err());
    }
}
