//! The native half of `crypto.subtle` (src/js/subtle.js shapes the Web Crypto
//! API around these): digests, HMAC, AES-GCM, AES-CBC, ECDSA P-256 and
//! Ed25519 verification, all with RustCrypto crates. Bytes come in as typed
//! arrays and go out as `ArrayBuffer`s; an operation that fails for its data
//! (a wrong tag, bad padding) returns `null`, which the script turns into
//! Web Crypto's `OperationError`.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use cbc::cipher::{block_padding::Pkcs7, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use hmac::{Hmac, Mac};
use rand_core::{OsRng, RngCore};
use rquickjs::{ArrayBuffer, Ctx, Exception, Function, Object, TypedArray, Value};
use sha2::Digest as _;

/// The digest of `data` with the Web Crypto hash `name` (`SHA-1`, `SHA-256`, `SHA-384`, `SHA-512`).
pub fn digest(name: &str, data: &[u8]) -> Option<Vec<u8>> {
    Some(match name {
        "SHA-1" => sha1::Sha1::digest(data).to_vec(),
        "SHA-256" => sha2::Sha256::digest(data).to_vec(),
        "SHA-384" => sha2::Sha384::digest(data).to_vec(),
        "SHA-512" => sha2::Sha512::digest(data).to_vec(),
        _ => return None,
    })
}

/// HMAC of `data` under `key` with the Web Crypto hash `hash`.
pub fn hmac(hash: &str, key: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    fn mac<M: Mac + KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
        // HMAC takes keys of any length.
        let mut m = <M as KeyInit>::new_from_slice(key).expect("HMAC accepts any key length");
        m.update(data);
        m.finalize().into_bytes().to_vec()
    }
    Some(match hash {
        "SHA-1" => mac::<Hmac<sha1::Sha1>>(key, data),
        "SHA-256" => mac::<Hmac<sha2::Sha256>>(key, data),
        "SHA-384" => mac::<Hmac<sha2::Sha384>>(key, data),
        "SHA-512" => mac::<Hmac<sha2::Sha512>>(key, data),
        _ => return None,
    })
}

/// Whether `tag` is the HMAC of `data` under `key` (compared in constant time).
fn hmac_verify(hash: &str, key: &[u8], tag: &[u8], data: &[u8]) -> bool {
    fn check<M: Mac + KeyInit>(key: &[u8], tag: &[u8], data: &[u8]) -> bool {
        let Ok(mut m) = <M as KeyInit>::new_from_slice(key) else {
            return false;
        };
        m.update(data);
        m.verify_slice(tag).is_ok()
    }
    match hash {
        "SHA-1" => check::<Hmac<sha1::Sha1>>(key, tag, data),
        "SHA-256" => check::<Hmac<sha2::Sha256>>(key, tag, data),
        "SHA-384" => check::<Hmac<sha2::Sha384>>(key, tag, data),
        "SHA-512" => check::<Hmac<sha2::Sha512>>(key, tag, data),
        _ => false,
    }
}

/// AES-GCM with a 128-bit tag (appended to the ciphertext, as Web Crypto does).
fn aes_gcm(encrypt: bool, key: &[u8], iv: &[u8], data: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
    use aes_gcm::aead::generic_array::GenericArray;
    use aes_gcm::aes::{Aes128, Aes192, Aes256};
    use aes_gcm::AesGcm;
    // Web Crypto accepts any IV length; GCM hashes IVs other than 12 bytes, which
    // the crate supports per nonce size. The common sizes are 12 and 16 bytes.
    fn run<C>(encrypt: bool, key: &[u8], iv: &[u8], data: &[u8], aad: &[u8]) -> Option<Vec<u8>>
    where
        C: aes_gcm::aes::cipher::BlockCipher
            + aes_gcm::aes::cipher::BlockSizeUser<BlockSize = aes_gcm::aead::consts::U16>
            + aes_gcm::aes::cipher::BlockEncrypt
            + aes_gcm::aes::cipher::KeyInit,
    {
        let payload = Payload { msg: data, aad };
        macro_rules! with_nonce {
            ($n:ty) => {{
                let cipher = AesGcm::<C, $n>::new_from_slice(key).ok()?;
                let nonce = GenericArray::from_slice(iv);
                if encrypt {
                    cipher.encrypt(nonce, payload).ok()
                } else {
                    cipher.decrypt(nonce, payload).ok()
                }
            }};
        }
        match iv.len() {
            12 => with_nonce!(aes_gcm::aead::consts::U12),
            16 => with_nonce!(aes_gcm::aead::consts::U16),
            _ => None,
        }
    }
    match key.len() {
        16 => run::<Aes128>(encrypt, key, iv, data, aad),
        24 => run::<Aes192>(encrypt, key, iv, data, aad),
        32 => run::<Aes256>(encrypt, key, iv, data, aad),
        _ => None,
    }
}

/// AES-CBC with PKCS#7 padding.
fn aes_cbc(encrypt: bool, key: &[u8], iv: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    macro_rules! with_cipher {
        ($c:ty) => {{
            if encrypt {
                let e = cbc::Encryptor::<$c>::new_from_slices(key, iv).ok()?;
                Some(e.encrypt_padded_vec_mut::<Pkcs7>(data))
            } else {
                let d = cbc::Decryptor::<$c>::new_from_slices(key, iv).ok()?;
                d.decrypt_padded_vec_mut::<Pkcs7>(data).ok()
            }
        }};
    }
    match key.len() {
        16 => with_cipher!(aes::Aes128),
        24 => with_cipher!(aes::Aes192),
        32 => with_cipher!(aes::Aes256),
        _ => None,
    }
}

fn p256_key(bytes: &[u8]) -> Option<p256::ecdsa::VerifyingKey> {
    p256::ecdsa::VerifyingKey::from_sec1_bytes(bytes).ok()
}

/// ECDSA P-256 verification of a raw `r || s` signature over `hash(data)`.
fn p256_verify(hash: &str, key: &[u8], sig: &[u8], data: &[u8]) -> bool {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    let (Some(key), Ok(sig)) = (p256_key(key), p256::ecdsa::Signature::from_slice(sig)) else {
        return false;
    };
    let Some(prehash) = digest(hash, data) else {
        return false;
    };
    key.verify_prehash(&prehash, &sig).is_ok()
}

/// Ed25519 verification (RFC 8032, as Web Crypto does).
fn ed25519_verify(key: &[u8], sig: &[u8], data: &[u8]) -> bool {
    let Ok(key) = <[u8; 32]>::try_from(key) else {
        return false;
    };
    let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(&key) else {
        return false;
    };
    let Ok(sig) = ed25519_dalek::Signature::from_slice(sig) else {
        return false;
    };
    key.verify_strict(data, &sig).is_ok()
}

/// The bytes of a typed array, without a copy. Only for a native that is done
/// with them before it returns to JavaScript (nothing can resize or detach
/// the buffer in between).
fn borrowed<'a>(arr: &'a TypedArray<'_, u8>) -> &'a [u8] {
    // SAFETY: the slice does not outlive this native call, and no JavaScript
    // runs while the native holds it.
    unsafe { arr.as_bytes() }.unwrap_or_default()
}

fn buffer<'js>(ctx: &Ctx<'js>, out: Option<Vec<u8>>) -> rquickjs::Result<Value<'js>> {
    match out {
        Some(v) => Ok(ArrayBuffer::new(ctx.clone(), v)?.into_value()),
        None => Ok(Value::new_null(ctx.clone())),
    }
}

/// The native functions src/js/subtle.js calls.
pub(crate) fn natives<'js>(ctx: &Ctx<'js>) -> rquickjs::Result<Object<'js>> {
    type Bytes<'js> = TypedArray<'js, u8>;
    let n = Object::new(ctx.clone())?;
    n.set(
        "digest",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, name: String, data: Bytes<'js>| {
                let out = digest(&name, borrowed(&data))
                    .ok_or_else(|| Exception::throw_type(&ctx, "unknown digest"))?;
                buffer(&ctx, Some(out))
            },
        )?,
    )?;
    n.set(
        "hmac",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, hash: String, key: Bytes<'js>, data: Bytes<'js>| {
                let out = hmac(&hash, borrowed(&key), borrowed(&data))
                    .ok_or_else(|| Exception::throw_type(&ctx, "unknown HMAC hash"))?;
                buffer(&ctx, Some(out))
            },
        )?,
    )?;
    n.set(
        "hmacVerify",
        Function::new(
            ctx.clone(),
            |hash: String, key: Bytes<'js>, tag: Bytes<'js>, data: Bytes<'js>| {
                hmac_verify(&hash, borrowed(&key), borrowed(&tag), borrowed(&data))
            },
        )?,
    )?;
    n.set(
        "aesGcm",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>,
             encrypt: bool,
             key: Bytes<'js>,
             iv: Bytes<'js>,
             data: Bytes<'js>,
             aad: Bytes<'js>| {
                let out = aes_gcm(
                    encrypt,
                    borrowed(&key),
                    borrowed(&iv),
                    borrowed(&data),
                    borrowed(&aad),
                );
                buffer(&ctx, out)
            },
        )?,
    )?;
    n.set(
        "aesCbc",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, encrypt: bool, key: Bytes<'js>, iv: Bytes<'js>, data: Bytes<'js>| {
                buffer(
                    &ctx,
                    aes_cbc(encrypt, borrowed(&key), borrowed(&iv), borrowed(&data)),
                )
            },
        )?,
    )?;
    n.set(
        "p256Valid",
        Function::new(ctx.clone(), |key: Bytes<'js>| {
            p256_key(borrowed(&key)).is_some()
        })?,
    )?;
    n.set(
        "p256Uncompressed",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, key: Bytes<'js>| {
            let key = p256_key(borrowed(&key))
                .ok_or_else(|| Exception::throw_type(&ctx, "invalid P-256 public key"))?;
            TypedArray::<u8>::new(ctx, key.to_encoded_point(false).as_bytes().to_vec())
        })?,
    )?;
    n.set(
        "p256Verify",
        Function::new(
            ctx.clone(),
            |hash: String, key: Bytes<'js>, sig: Bytes<'js>, data: Bytes<'js>| {
                p256_verify(&hash, borrowed(&key), borrowed(&sig), borrowed(&data))
            },
        )?,
    )?;
    n.set(
        "ed25519Verify",
        Function::new(
            ctx.clone(),
            |key: Bytes<'js>, sig: Bytes<'js>, data: Bytes<'js>| {
                ed25519_verify(borrowed(&key), borrowed(&sig), borrowed(&data))
            },
        )?,
    )?;
    n.set(
        "randomBytes",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, n: u32| {
            let mut buf = vec![0u8; n.min(65536) as usize];
            OsRng.fill_bytes(&mut buf);
            TypedArray::<u8>::new(ctx, buf)
        })?,
    )?;
    Ok(n)
}
