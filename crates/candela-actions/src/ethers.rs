//! The `ethers` global: real ethers 5.7.2 from npm, bundled by `js/setup.sh`
//! into one script whose entry exposes every `ethers` / `ethers.utils` key as
//! a lazy getter over the @ethersproject package it comes from, with
//! keccak256, sha256/sha512 and secp256k1 (sign, recover, public keys, ECDH)
//! backed by the native functions below.
//!
//! Where the bundle comes from, in order: embedded at build time (when the
//! setup script ran before `cargo build`), the file named by the
//! `CANDELA_ETHERS_BUNDLE` environment variable, or `js/dist/ethers.bundle.js`
//! in this crate's source directory. It is compiled to QuickJS bytecode once
//! per process and loaded into a sandbox only when its action first reads the
//! `ethers` global.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rquickjs::{Ctx, Exception, Function, Object, TypedArray, Value};

use crate::crypto;
use crate::engine;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/ethers_bundle.rs"));
}

/// What to do when `ethers` is missing.
pub const SETUP_HINT: &str =
    "run crates/candela-actions/js/setup.sh (needs node and npm) to build the ethers and jwt bundles";

/// Whether the ethers bundle can be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EthersStatus {
    /// The bundle was found.
    Available,
    /// No bundle: touching `ethers` fails with a message containing [`SETUP_HINT`].
    Missing,
}

/// Whether `ethers` is available to actions.
pub fn ethers_status() -> EthersStatus {
    match source() {
        Source::Embedded(_) => EthersStatus::Available,
        Source::File(path) if path.is_file() => EthersStatus::Available,
        Source::File(_) => EthersStatus::Missing,
    }
}

/// Where the bundle comes from.
enum Source {
    Embedded(&'static str),
    File(PathBuf),
}

/// `CANDELA_ETHERS_BUNDLE` if set (it overrides an embedded bundle), else the
/// embedded bundle, else `js/dist/ethers.bundle.js` in the source tree.
fn source() -> Source {
    if let Some(p) = std::env::var_os("CANDELA_ETHERS_BUNDLE") {
        return Source::File(PathBuf::from(p));
    }
    if let Some(src) = embedded::EMBEDDED {
        return Source::Embedded(src);
    }
    Source::File(PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/js/dist/ethers.bundle.js"
    )))
}

fn bundle_source() -> Result<String, String> {
    match source() {
        Source::Embedded(src) => Ok(src.to_owned()),
        Source::File(path) => std::fs::read_to_string(&path).map_err(|_| {
            format!(
                "ethers is not available in this sandbox: the bundle {} was not found; {SETUP_HINT}",
                path.display()
            )
        }),
    }
}

/// The bundle's bytecode; compiled on first success and kept for the process.
fn bytecode() -> Result<Arc<Vec<u8>>, String> {
    static CACHE: Mutex<Option<Arc<Vec<u8>>>> = Mutex::new(None);
    engine::cached_bundle(&CACHE, "ethers.bundle.js", bundle_source)
}

/// Evaluates the bundle in `ctx` and returns the `ethers` object.
pub(crate) fn load<'js>(ctx: &Ctx<'js>) -> rquickjs::Result<Value<'js>> {
    let bc = bytecode().map_err(|e| Exception::throw_reference(ctx, &e))?;
    engine::run_bytecode(ctx, &bc)?;
    let globals = ctx.globals();
    let factory: Function = globals.get("__candelaEthersFactory")?;
    globals.remove("__candelaEthersFactory")?;
    factory.call((natives(ctx)?,))
}

fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

fn bytes(arr: &TypedArray<'_, u8>) -> Vec<u8> {
    // SAFETY: copied before any JavaScript runs again.
    unsafe { arr.as_bytes() }
        .map(<[u8]>::to_vec)
        .unwrap_or_default()
}

fn err<'a, 'js: 'a>(ctx: &'a Ctx<'js>) -> impl Fn(String) -> rquickjs::Error + use<'a, 'js> {
    move |e| Exception::throw_message(ctx, &e)
}

/// The native functions the bundle's shims call (see js/shims/).
fn natives<'js>(ctx: &Ctx<'js>) -> rquickjs::Result<Object<'js>> {
    use sha2::Digest as _;
    let n = Object::new(ctx.clone())?;
    n.set(
        "keccak256",
        Function::new(ctx.clone(), |d: TypedArray<'js, u8>| {
            hex0x(&crypto::keccak256(&bytes(&d)))
        })?,
    )?;
    n.set(
        "sha256",
        Function::new(ctx.clone(), |d: TypedArray<'js, u8>| {
            hex0x(&sha2::Sha256::digest(bytes(&d)))
        })?,
    )?;
    n.set(
        "sha512",
        Function::new(ctx.clone(), |d: TypedArray<'js, u8>| {
            hex0x(&sha2::Sha512::digest(bytes(&d)))
        })?,
    )?;
    n.set(
        "publicKey",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, secret: TypedArray<'js, u8>, compressed: bool| {
                let pk = crypto::public_from_private(&bytes(&secret)).map_err(err(&ctx))?;
                Ok::<_, rquickjs::Error>(hex0x(&crypto::encode_public_key(&pk, compressed)))
            },
        )?,
    )?;
    n.set(
        "convertPublicKey",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, key: TypedArray<'js, u8>, compressed: bool| {
                let pk = crypto::parse_public_key(&hex::encode(bytes(&key))).map_err(err(&ctx))?;
                Ok::<_, rquickjs::Error>(hex0x(&crypto::encode_public_key(&pk, compressed)))
            },
        )?,
    )?;
    n.set(
        "sign",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, secret: TypedArray<'js, u8>, digest: TypedArray<'js, u8>| {
                let (r, s, v) =
                    crypto::sign_digest(&bytes(&secret), &bytes(&digest)).map_err(err(&ctx))?;
                let o = Object::new(ctx.clone())?;
                o.set("r", hex0x(&r))?;
                o.set("s", hex0x(&s))?;
                o.set("recoveryParam", v)?;
                Ok::<_, rquickjs::Error>(o)
            },
        )?,
    )?;
    n.set(
        "recover",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>,
             digest: TypedArray<'js, u8>,
             r: TypedArray<'js, u8>,
             s: TypedArray<'js, u8>,
             v: u8| {
                let pk = crypto::recover_public_key(&bytes(&digest), &bytes(&r), &bytes(&s), v)
                    .map_err(err(&ctx))?;
                Ok::<_, rquickjs::Error>(hex0x(&crypto::encode_public_key(&pk, false)))
            },
        )?,
    )?;
    n.set(
        "sharedSecret",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, secret: TypedArray<'js, u8>, public: TypedArray<'js, u8>| {
                let pk =
                    crypto::parse_public_key(&hex::encode(bytes(&public))).map_err(err(&ctx))?;
                let shared = crypto::shared_secret(&bytes(&secret), &pk).map_err(err(&ctx))?;
                Ok::<_, rquickjs::Error>(hex0x(&shared))
            },
        )?,
    )?;
    n.set(
        "addPoints",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, a: TypedArray<'js, u8>, b: TypedArray<'js, u8>| {
                let a = crypto::parse_public_key(&hex::encode(bytes(&a))).map_err(err(&ctx))?;
                let b = crypto::parse_public_key(&hex::encode(bytes(&b))).map_err(err(&ctx))?;
                Ok::<_, rquickjs::Error>(hex0x(&crypto::add_points(&a, &b).map_err(err(&ctx))?))
            },
        )?,
    )?;
    Ok(n)
}
