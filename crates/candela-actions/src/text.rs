//! The encodings of `Lit.Actions.uint8arrayFromString` / `uint8arrayToString`
//! (the `uint8arrays` package names: utf8, ascii, latin1, base16/hex, base64,
//! base64pad, base64url, base64urlpad).

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;

/// Bytes of `text` in `encoding`.
pub(crate) fn from_string(text: &str, encoding: &str) -> Result<Vec<u8>, String> {
    match encoding {
        "utf8" | "utf-8" => Ok(text.as_bytes().to_vec()),
        "ascii" | "latin1" | "binary" => text
            .chars()
            .map(|c| {
                u8::try_from(c as u32).map_err(|_| format!("character {c:?} is not {encoding}"))
            })
            .collect(),
        "base16" | "hex" => crate::crypto::decode_hex(text),
        "base64" | "base64pad" => STANDARD_NO_PAD
            .decode(text.trim_end_matches('='))
            .map_err(|e| format!("invalid base64: {e}")),
        "base64url" | "base64urlpad" => URL_SAFE_NO_PAD
            .decode(text.trim_end_matches('='))
            .map_err(|e| format!("invalid base64url: {e}")),
        other => Err(format!("unsupported encoding {other:?}")),
    }
}

/// `bytes` as a string in `encoding`.
pub(crate) fn to_string(bytes: &[u8], encoding: &str) -> Result<String, String> {
    match encoding {
        "utf8" | "utf-8" => Ok(String::from_utf8_lossy(bytes).into_owned()),
        "ascii" | "latin1" | "binary" => Ok(bytes.iter().map(|&b| char::from(b)).collect()),
        "base16" | "hex" => Ok(hex::encode(bytes)),
        "base64" => Ok(STANDARD_NO_PAD.encode(bytes)),
        "base64pad" => Ok(STANDARD.encode(bytes)),
        "base64url" => Ok(URL_SAFE_NO_PAD.encode(bytes)),
        "base64urlpad" => Ok(URL_SAFE.encode(bytes)),
        other => Err(format!("unsupported encoding {other:?}")),
    }
}
