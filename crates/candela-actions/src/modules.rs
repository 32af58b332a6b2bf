//! ES-module imports of deployed actions by CID:
//! `import { f } from "ipfs://<CIDv0>"` (or `await import("ipfs://…")`).
//!
//! The resolver accepts only that form: anything else (a package name, a
//! relative path, a URL) is refused with a hint to bundle it with
//! `candela build`. The loader asks the host for the module's source
//! ([`crate::Host::load_module`], which the node answers from its action
//! store), refuses it unless its bytes hash to the CID of the specifier,
//! compiles it within the run's limits and hands it to QuickJS, which
//! links and evaluates it once per run however often it is imported.
//!
//! An action itself is compiled as a global script with top-level await,
//! as every Lit action is; only when that fails and its text parses as an
//! ES module (it has `import`/`export` declarations) is it run as a module
//! (see [`compile_action`]).
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use rquickjs::loader::{ImportAttributes, Loader, Resolver};
use rquickjs::module::Declared;
use rquickjs::{Ctx, Exception, Module, Runtime};

use crate::engine::{self, CompileOptions, CompilerIntrinsics};
use crate::sandbox::Run;

/// The scheme of an importable specifier: `ipfs://` followed by a CIDv0.
pub const IMPORT_SCHEME: &str = "ipfs://";

/// The operation name hosts switch imports off with ([`crate::Host::op_enabled`]).
pub const IMPORT_OP: &str = "import";

/// Most modules one action may load.
pub const MAX_MODULES: usize = 64;

/// The name the top-level action has as a module.
pub(crate) const ACTION_MODULE_NAME: &str = "action.js";

/// Compiles an action: as a global script with top-level await; if that is
/// a syntax error but the code compiles as an ES module, as a module.
pub(crate) fn compile_action(run: &Run, ctx: &Ctx<'_>, code: &str) -> Result<Vec<u8>, String> {
    let script = engine::compile(
        ctx,
        code,
        ACTION_MODULE_NAME,
        CompileOptions {
            top_level_await: true,
            strip: false,
        },
    );
    let script_error = match script {
        Ok(bytecode) => return Ok(bytecode),
        Err(e) => e,
    };
    match compile_module(run, code, ACTION_MODULE_NAME) {
        Ok(bytecode) => Ok(bytecode),
        Err(module_error) if module_error == script_error => Err(script_error),
        Err(module_error) => Err(format!(
            "{script_error} (and as an ES module: {module_error})"
        )),
    }
}

/// Compiles `code` as the ES module `name`, in a runtime of its own under
/// the run's memory and stack limits (the sandbox context cannot compile),
/// on a thread of its own: a dynamic import may come from deep in the
/// action's stack, and the compiler gets the whole stack limit again.
fn compile_module(run: &Run, code: &str, name: &str) -> Result<Vec<u8>, String> {
    let stack = run.limits.stack_bytes;
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("candela-module-compiler".into())
            .stack_size(stack.saturating_add(2 * 1024 * 1024))
            .spawn_scoped(scope, || compile_module_here(run, code, name))
            .map_err(|e| format!("cannot start the module compiler thread: {e}"))?
            .join()
            .map_err(|_| "the module compiler thread panicked".to_string())?
    })
}

fn compile_module_here(run: &Run, code: &str, name: &str) -> Result<Vec<u8>, String> {
    let rt = Runtime::new_with_alloc(engine::BudgetAllocator::new(
        run.limits.memory_bytes,
        run.memory_used.clone(),
        run.out_of_memory.clone(),
    ))
    .map_err(|e| e.to_string())?;
    rt.set_max_stack_size(run.limits.stack_bytes);
    rt.set_loader(CompileTimeImports, CompileTimeImports);
    let ctx = rquickjs::Context::custom::<CompilerIntrinsics>(&rt).map_err(|e| e.to_string())?;
    ctx.with(|ctx| engine::compile_module(&ctx, code, name))
}

/// QuickJS resolves a module's imports while compiling it. At that point
/// nothing is fetched: every specifier stands for an empty module. The
/// real imports are resolved and loaded ([`CidResolver`], [`CidLoader`])
/// when the compiled module is linked in the sandbox.
struct CompileTimeImports;

impl Resolver for CompileTimeImports {
    fn resolve<'js>(
        &mut self,
        _ctx: &Ctx<'js>,
        _base: &str,
        name: &str,
        _attributes: Option<ImportAttributes<'js>>,
    ) -> rquickjs::Result<String> {
        Ok(name.to_string())
    }
}

impl Loader for CompileTimeImports {
    fn load<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        name: &str,
        _attributes: Option<ImportAttributes<'js>>,
    ) -> rquickjs::Result<Module<'js, Declared>> {
        Module::declare(ctx.clone(), name, "")
    }
}

/// The CID of an `ipfs://` specifier, or why it is not one.
pub fn parse_specifier(specifier: &str) -> Result<&str, String> {
    let Some(cid) = specifier.strip_prefix(IMPORT_SCHEME) else {
        return Err(format!(
            "cannot import {specifier:?}: an action imports only deployed actions, as \
             \"ipfs://<CIDv0>\"; bundle npm packages and local modules into the action \
             (candela build)"
        ));
    };
    candela_cid::parse_cid_v0(cid)
        .map_err(|e| format!("cannot import {specifier:?}: {cid:?} is not a CIDv0: {e}"))?;
    Ok(cid)
}

/// Checks that `code`, the module served for `cid`, hashes to `cid`.
pub fn verify_module(cid: &str, code: &[u8]) -> Result<(), String> {
    candela_cid::verify(code, cid).map_err(|e| {
        format!(
            "import of ipfs://{cid} refused: the code the node holds for it hashes to {}, \
             not to {cid} ({e})",
            candela_cid::cid_v0(code)
        )
    })
}

/// Accepts `ipfs://<CIDv0>` specifiers only.
pub(crate) struct CidResolver;

impl Resolver for CidResolver {
    fn resolve<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        _base: &str,
        name: &str,
        _attributes: Option<ImportAttributes<'js>>,
    ) -> rquickjs::Result<String> {
        parse_specifier(name)
            .map(|cid| format!("{IMPORT_SCHEME}{cid}"))
            .map_err(|message| Exception::throw_reference(ctx, &message))
    }
}

/// Loads `ipfs://` modules from the host, checked against their CIDs.
pub(crate) struct CidLoader {
    run: Arc<Run>,
    loaded: usize,
}

impl CidLoader {
    pub(crate) fn new(run: Arc<Run>) -> Self {
        CidLoader { run, loaded: 0 }
    }

    /// The module's source from the host, waiting at most until the run's
    /// deadline (and no longer once the run is stopped).
    fn fetch(&self, cid: &str) -> Result<String, String> {
        let (tx, rx) = mpsc::channel();
        let host = self.run.host.clone();
        let id = cid.to_string();
        let task = self.run.handle.spawn(async move {
            let _ = tx.send(host.load_module(id).await);
        });
        let result = loop {
            if self.run.must_stop() {
                task.abort();
                return Err(format!("import of ipfs://{cid}: the run was stopped"));
            }
            let left = self.run.deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left.min(Duration::from_millis(50))) {
                Ok(r) => break r,
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(format!("import of ipfs://{cid}: the host did not answer"))
                }
            }
        };
        result.map_err(|e| format!("import of ipfs://{cid}: {e}"))
    }

    fn load_checked(&mut self, name: &str) -> Result<Vec<u8>, String> {
        let cid = parse_specifier(name)?;
        if !self.run.host.op_enabled(IMPORT_OP) {
            return Err(format!(
                "cannot import {name}: imports are not supported by this node"
            ));
        }
        if self.loaded >= MAX_MODULES {
            return Err(format!(
                "cannot import {name}: an action may load at most {MAX_MODULES} modules"
            ));
        }
        self.loaded += 1;
        let code = self.fetch(cid)?;
        if code.len() > self.run.limits.code_bytes {
            let err = self.run.fail(crate::error::ActionError::code_too_large(
                code.len(),
                self.run.limits.code_bytes,
            ));
            return Err(format!("import of {name}: {err}"));
        }
        verify_module(cid, code.as_bytes())?;
        compile_module(&self.run, &code, &format!("{IMPORT_SCHEME}{cid}"))
            .map_err(|e| format!("import of ipfs://{cid}: syntax error: {e}"))
    }
}

impl Loader for CidLoader {
    fn load<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        name: &str,
        _attributes: Option<ImportAttributes<'js>>,
    ) -> rquickjs::Result<Module<'js, Declared>> {
        match self.load_checked(name) {
            // SAFETY: the bytecode was just written by `engine::compile_module`
            // in this process, never taken from outside.
            Ok(bytecode) => unsafe { Module::load(ctx.clone(), &bytecode) },
            Err(message) => Err(Exception::throw_reference(ctx, &message)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ipfs_cidv0_specifiers_are_accepted() {
        let cid = candela_cid::cid_v0(b"export const x = 1;\n");
        assert_eq!(parse_specifier(&format!("ipfs://{cid}")), Ok(cid.as_str()));
        for bad in [
            "js-sha3".to_string(),
            "./lib.js".to_string(),
            "https://example.com/m.js".to_string(),
            format!("ipfs://{}", &cid[..cid.len() - 1]),
            format!("ipfs:/{cid}"),
            cid.clone(),
        ] {
            assert!(parse_specifier(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_module_whose_bytes_do_not_hash_to_its_cid_is_refused() {
        let cid = candela_cid::cid_v0(b"export const x = 1;\n");
        assert!(verify_module(&cid, b"export const x = 1;\n").is_ok());
        let err = verify_module(&cid, b"export const x = 2;\n").expect_err("refused");
        assert!(err.contains("refused") && err.contains(&cid), "{err}");
    }
}
