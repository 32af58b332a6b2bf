//! The globals built on first use from scripts under src/js/ (`WebAssembly`,
//! `crypto.subtle`, `Deno`, `Request` / `Response`): each script is compiled once per process and
//! evaluated in a sandbox only when its action first touches the global.
//! A script evaluates to a function of (natives, shared helpers), called here
//! with the native functions it needs.

use std::sync::{Arc, OnceLock};

use rquickjs::{Ctx, Exception, Function, Object, Value};

use crate::engine::{self, CompileOptions};
use crate::sandbox::Run;

/// A script's bytecode, compiled on first use (or why it did not compile).
type Compiled = OnceLock<Result<Vec<u8>, String>>;

/// A script's source and bytecode cache by extension name.
fn source(name: &str) -> Option<(&'static str, &'static Compiled)> {
    static WASM: Compiled = OnceLock::new();
    static SUBTLE: Compiled = OnceLock::new();
    static DENO: Compiled = OnceLock::new();
    static WEB: Compiled = OnceLock::new();
    static INSPECT: Compiled = OnceLock::new();
    Some(match name {
        "wasm" => (include_str!("js/wasm.js"), &WASM),
        "subtle" => (include_str!("js/subtle.js"), &SUBTLE),
        "deno" => (include_str!("js/deno.js"), &DENO),
        "web" => (include_str!("js/web.js"), &WEB),
        "inspect" => (include_str!("js/inspect.js"), &INSPECT),
        _ => return None,
    })
}

/// Builds extension `name` in `ctx`: its script's function called with its natives and `shared`.
pub(crate) fn load<'js>(
    ctx: &Ctx<'js>,
    run: &Arc<Run>,
    name: &str,
    shared: Value<'js>,
) -> rquickjs::Result<Value<'js>> {
    let (text, cache) =
        source(name).ok_or_else(|| Exception::throw_type(ctx, &format!("no extension {name}")))?;
    let bytecode = cache
        .get_or_init(|| {
            engine::compile_standalone(
                text,
                &format!("candela:{name}.js"),
                CompileOptions {
                    top_level_await: false,
                    strip: false,
                },
            )
        })
        .as_ref()
        .map_err(|e| Exception::throw_internal(ctx, &format!("extension {name}: {e}")))?;
    let factory: Function = engine::run_bytecode(ctx, bytecode)?
        .into_function()
        .ok_or_else(|| Exception::throw_internal(ctx, "extension did not yield a function"))?;
    let natives = match name {
        "wasm" => crate::wasm::natives(ctx, run)?,
        "subtle" => crate::subtle::natives(ctx)?,
        _ => Object::new(ctx.clone())?,
    };
    factory.call((natives, shared))
}
