//! The `jwt` global: jsonwebtoken 8.5.1 from npm (the version Lit's runtime
//! bundles), built by `js/setup.sh` into one script with node's `crypto`
//! replaced by a shim whose HMAC is native (see js/shims/jwt-crypto.cjs).
//!
//! Where the bundle comes from, in order: the file named by the
//! `CANDELA_JWT_BUNDLE` environment variable, the bundle embedded at build
//! time, or `js/dist/jwt.bundle.js` in this crate's source directory. It is
//! compiled to QuickJS bytecode once per process and evaluated in a sandbox
//! only when its action first reads `jwt`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rquickjs::{Ctx, Exception, Function, Object, TypedArray, Value};

use crate::engine;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/jwt_bundle.rs"));
}

fn bundle_source() -> Result<String, String> {
    if let Some(p) = std::env::var_os("CANDELA_JWT_BUNDLE") {
        return read(PathBuf::from(p));
    }
    if let Some(src) = embedded::EMBEDDED {
        return Ok(src.to_owned());
    }
    read(PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/js/dist/jwt.bundle.js"
    )))
}

fn read(path: PathBuf) -> Result<String, String> {
    std::fs::read_to_string(&path).map_err(|_| {
        format!(
            "jwt is not available in this sandbox: the bundle {} was not found; {}",
            path.display(),
            crate::SETUP_HINT
        )
    })
}

/// The bundle's bytecode; compiled on first success and kept for the process.
fn bytecode() -> Result<Arc<Vec<u8>>, String> {
    static CACHE: Mutex<Option<Arc<Vec<u8>>>> = Mutex::new(None);
    engine::cached_bundle(&CACHE, "jwt.bundle.js", bundle_source)
}

/// Evaluates the bundle in `ctx` and returns the `jwt` object.
pub(crate) fn load<'js>(ctx: &Ctx<'js>) -> rquickjs::Result<Value<'js>> {
    let bc = bytecode().map_err(|e| Exception::throw_reference(ctx, &e))?;
    engine::run_bytecode(ctx, &bc)?;
    let globals = ctx.globals();
    let factory: Function = globals.get("__candelaJwtFactory")?;
    globals.remove("__candelaJwtFactory")?;
    let natives = Object::new(ctx.clone())?;
    natives.set(
        "hmac",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, hash: String, key: TypedArray<'js, u8>, data: TypedArray<'js, u8>| {
                // SAFETY: both copied before any JavaScript runs again.
                let key = unsafe { key.as_bytes() }
                    .map(<[u8]>::to_vec)
                    .unwrap_or_default();
                let data = unsafe { data.as_bytes() }
                    .map(<[u8]>::to_vec)
                    .unwrap_or_default();
                let mac = crate::subtle::hmac(&hash, &key, &data)
                    .ok_or_else(|| Exception::throw_type(&ctx, "jwt: unknown HMAC hash"))?;
                TypedArray::<u8>::new(ctx, mac)
            },
        )?,
    )?;
    factory.call((natives,))
}
