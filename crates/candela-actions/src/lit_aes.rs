//! `Lit.Actions.aesDecrypt`, as Lit's node computes it: AES-256-CBC with a
//! 32-byte key, the first 16 bytes of the ciphertext being the IV. The
//! padding is removed the way Lit's cipher library (libaes 0.7) removes it:
//! the last byte says how many bytes to drop, and the dropped bytes are not
//! checked. The plaintext is answered as lowercase hex, without `0x`.

use cbc::cipher::{block_padding::NoPadding, BlockDecryptMut, KeyIvInit};

/// Why `aesDecrypt` could not decrypt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum AesDecryptError {
    /// The key is not 32 bytes (Lit's text).
    #[error("Could not convert symmetric key to length 32")]
    KeyLength,
    /// Fewer than 16 bytes: no IV (Lit's text).
    #[error("Ciphertext is too short")]
    TooShort,
    /// After the IV, no whole number of 16-byte blocks (Lit's node panics
    /// on this input; here it is an error).
    #[error("Ciphertext is not a whole number of 16-byte blocks after its 16-byte IV ({0} bytes)")]
    NotBlocks(usize),
    /// The padding length byte is larger than the plaintext (libaes' text).
    #[error("Corrupted padded bytes, possible invalid key")]
    Padding,
}

/// Decrypts `ciphertext_with_iv` under `symmetric_key` and returns the
/// plaintext as lowercase hex.
pub(crate) fn aes_decrypt(
    symmetric_key: &[u8],
    ciphertext_with_iv: &[u8],
) -> Result<String, AesDecryptError> {
    let key = <&[u8; 32]>::try_from(symmetric_key).map_err(|_| AesDecryptError::KeyLength)?;
    if ciphertext_with_iv.len() < 16 {
        return Err(AesDecryptError::TooShort);
    }
    let (iv, body) = ciphertext_with_iv.split_at(16);
    if body.is_empty() || body.len() % 16 != 0 {
        return Err(AesDecryptError::NotBlocks(body.len()));
    }
    let decryptor = cbc::Decryptor::<aes::Aes256>::new_from_slices(key, iv)
        .map_err(|_| AesDecryptError::KeyLength)?;
    let mut plain = decryptor
        .decrypt_padded_vec_mut::<NoPadding>(body)
        .map_err(|_| AesDecryptError::NotBlocks(body.len()))?;
    let pad = plain.last().copied().map_or(0, usize::from);
    if pad > plain.len() {
        return Err(AesDecryptError::Padding);
    }
    plain.truncate(plain.len() - pad);
    Ok(hex::encode(plain))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cbc::cipher::{block_padding::Pkcs7, BlockEncryptMut};

    fn encrypt(key: &[u8; 32], iv: &[u8; 16], plain: &[u8]) -> Vec<u8> {
        let body = cbc::Encryptor::<aes::Aes256>::new(key.into(), iv.into())
            .encrypt_padded_vec_mut::<Pkcs7>(plain);
        [iv.as_slice(), &body].concat()
    }

    #[test]
    fn decrypts_what_aes_256_cbc_with_the_iv_first_encrypted() {
        let key = [7u8; 32];
        let iv = [9u8; 16];
        for plain in [&b""[..], b"hello", &[0xab; 16], &[1u8; 33]] {
            let ct = encrypt(&key, &iv, plain);
            assert_eq!(aes_decrypt(&key, &ct).unwrap(), hex::encode(plain));
        }
    }

    #[test]
    fn refuses_as_lit_does() {
        let key = [7u8; 32];
        assert_eq!(
            aes_decrypt(&[1; 16], &[0; 32]),
            Err(AesDecryptError::KeyLength)
        );
        assert_eq!(aes_decrypt(&key, &[0; 15]), Err(AesDecryptError::TooShort));
        assert_eq!(
            aes_decrypt(&key, &[0; 16]),
            Err(AesDecryptError::NotBlocks(0))
        );
        assert_eq!(
            aes_decrypt(&key, &[0; 40]),
            Err(AesDecryptError::NotBlocks(24))
        );
    }
}
