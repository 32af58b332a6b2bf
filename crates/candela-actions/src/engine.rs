//! QuickJS plumbing: compiling source to bytecode in a context that may
//! evaluate, and running bytecode in the sandbox context, which may not.
//!
//! The sandbox context is built without QuickJS's `Eval` intrinsic, so every
//! path to the compiler from inside an action (`eval`, `Function`,
//! `(function(){}).constructor`, the async and generator function
//! constructors) fails inside the engine with "eval is not supported". Our own
//! code (the action, the prelude, the ethers bundle) is compiled elsewhere and
//! loaded as bytecode, which needs no compiler.

use std::ffi::CString;
use std::sync::OnceLock;

use rquickjs::context::intrinsic;
use rquickjs::{qjs, Context, Ctx, Runtime, Value};

/// Intrinsics of the sandbox context: everything but `Eval`.
pub(crate) type SandboxIntrinsics = (
    intrinsic::Date,
    intrinsic::RegExpCompiler,
    intrinsic::RegExp,
    intrinsic::Json,
    intrinsic::Proxy,
    intrinsic::MapSet,
    intrinsic::TypedArrays,
    intrinsic::Promise,
    intrinsic::Performance,
    intrinsic::WeakRef,
    intrinsic::DOMException,
);

/// Intrinsics of a compile-only context (parsing needs the RegExp compiler for literals).
pub(crate) type CompilerIntrinsics = (intrinsic::Eval, intrinsic::RegExpCompiler);

/// How to compile a script.
#[derive(Clone, Copy)]
pub(crate) struct CompileOptions {
    /// Allow top-level `await`: evaluating the bytecode then yields a promise.
    pub top_level_await: bool,
    /// Drop source text and line tables (smaller bytecode, no line numbers in stacks).
    pub strip: bool,
}

/// The message of the exception pending in `ctx`.
pub(crate) fn take_exception_message(ctx: &Ctx<'_>) -> String {
    describe(&ctx.catch()).0
}

/// `String(value)` and `value.stack` of a thrown value.
pub(crate) fn describe(value: &Value<'_>) -> (String, Option<String>) {
    if let Some(obj) = value.as_object() {
        let name: Option<String> = obj.get("name").ok();
        let message: Option<String> = obj.get("message").ok();
        let stack: Option<String> = obj.get::<_, Option<String>>("stack").ok().flatten();
        let text = match (name, message) {
            (Some(n), Some(m)) if m.is_empty() => n,
            (Some(n), Some(m)) => format!("{n}: {m}"),
            (None, Some(m)) => m,
            _ => to_display_string(value),
        };
        let stack = stack.filter(|s| !s.trim().is_empty());
        return (text, stack);
    }
    (to_display_string(value), None)
}

fn to_display_string(value: &Value<'_>) -> String {
    if let Some(s) = value.as_string() {
        return s.to_string().unwrap_or_default();
    }
    let ctx = value.ctx();
    match ctx.json_stringify(value.clone()) {
        Ok(Some(s)) => s.to_string().unwrap_or_default(),
        _ => format!("{:?}", value.type_of()),
    }
}

/// Compiles `source` in `ctx` (which must have the `Eval` intrinsic) to bytecode.
/// Returns the syntax error's message on failure.
pub(crate) fn compile(
    ctx: &Ctx<'_>,
    source: &str,
    filename: &str,
    options: CompileOptions,
) -> Result<Vec<u8>, String> {
    let mut flags = qjs::JS_EVAL_TYPE_GLOBAL;
    if options.top_level_await {
        flags |= qjs::JS_EVAL_FLAG_ASYNC;
    }
    compile_with_flags(ctx, source, filename, flags, options.strip)
}

/// Compiles `source` as an ES module named `name` in `ctx` (which must have
/// the `Eval` intrinsic) to bytecode. Its imports are resolved when the
/// bytecode is run (see `crate::modules`). Returns the syntax error's
/// message on failure.
pub(crate) fn compile_module(ctx: &Ctx<'_>, source: &str, name: &str) -> Result<Vec<u8>, String> {
    compile_with_flags(ctx, source, name, qjs::JS_EVAL_TYPE_MODULE, false)
}

fn compile_with_flags(
    ctx: &Ctx<'_>,
    source: &str,
    filename: &str,
    flags: u32,
    strip: bool,
) -> Result<Vec<u8>, String> {
    let mut input = Vec::with_capacity(source.len() + 1);
    input.extend_from_slice(source.as_bytes());
    input.push(0);
    let filename = CString::new(filename).map_err(|e| e.to_string())?;
    let flags = flags | qjs::JS_EVAL_FLAG_COMPILE_ONLY;
    let mut write_flags = qjs::JS_WRITE_OBJ_BYTECODE;
    if strip {
        write_flags |= qjs::JS_WRITE_OBJ_STRIP_SOURCE | qjs::JS_WRITE_OBJ_STRIP_DEBUG;
    }
    // SAFETY: `input` is NUL-terminated and outlives the call; the returned value
    // is owned here and freed exactly once; the written buffer is copied and then
    // freed with the context's allocator, as QuickJS requires.
    unsafe {
        let raw = ctx.as_raw().as_ptr();
        let func = qjs::JS_Eval(
            raw,
            input.as_ptr().cast(),
            source.len() as _,
            filename.as_ptr(),
            flags as i32,
        );
        if qjs::JS_IsException(func) {
            return Err(take_exception_message(ctx));
        }
        let mut len = std::mem::MaybeUninit::<qjs::size_t>::uninit();
        let buf = qjs::JS_WriteObject(raw, len.as_mut_ptr(), func, write_flags as i32);
        qjs::JS_FreeValue(raw, func);
        if buf.is_null() {
            return Err(take_exception_message(ctx));
        }
        let len = len.assume_init() as usize;
        let bytes = std::slice::from_raw_parts(buf, len).to_vec();
        qjs::js_free(raw, buf.cast());
        Ok(bytes)
    }
}

/// Loads bytecode produced by [`compile`] or [`compile_module`] into `ctx` and
/// runs it, returning the completion value (a promise when compiled with
/// top-level await, or for a module, whose imports are linked first).
/// On a JavaScript exception returns `Err(rquickjs::Error::Exception)` with the
/// exception pending in `ctx`.
pub(crate) fn run_bytecode<'js>(ctx: &Ctx<'js>, bytecode: &[u8]) -> rquickjs::Result<Value<'js>> {
    // SAFETY: only bytecode written by `compile` in this process is passed here
    // (never bytes from outside); the read value is consumed by JS_EvalFunction
    // and the result is handed to rquickjs, which owns it from then on.
    unsafe {
        let raw = ctx.as_raw().as_ptr();
        let func = qjs::JS_ReadObject(
            raw,
            bytecode.as_ptr(),
            bytecode.len() as _,
            qjs::JS_READ_OBJ_BYTECODE as i32,
        );
        if qjs::JS_IsException(func) {
            return Err(rquickjs::Error::Exception);
        }
        let result = qjs::JS_EvalFunction(raw, func);
        if qjs::JS_IsException(result) {
            return Err(rquickjs::Error::Exception);
        }
        Ok(Value::from_raw(ctx.clone(), result))
    }
}

/// Compiles `source` once in a throwaway runtime (for our own scripts).
pub(crate) fn compile_standalone(
    source: &str,
    filename: &str,
    options: CompileOptions,
) -> Result<Vec<u8>, String> {
    let rt = Runtime::new().map_err(|e| e.to_string())?;
    // The ethers bundle is a few MB of source; give the parser room.
    rt.set_max_stack_size(0);
    let ctx = Context::custom::<CompilerIntrinsics>(&rt).map_err(|e| e.to_string())?;
    ctx.with(|ctx| compile(&ctx, source, filename, options))
}

/// The prelude that installs `Lit`, `console`, `fetch` & co, compiled once per process.
pub(crate) fn prelude_bytecode() -> Result<&'static [u8], String> {
    static PRELUDE: OnceLock<Result<Vec<u8>, String>> = OnceLock::new();
    PRELUDE
        .get_or_init(|| {
            compile_standalone(
                include_str!("prelude.js"),
                "candela:prelude.js",
                // Without line tables every sandbox reads and runs the prelude
                // about a quarter faster (~80 µs of a ~600 µs start); stack
                // frames inside the prelude then show no line numbers (the
                // action's own frames keep theirs).
                CompileOptions {
                    top_level_await: false,
                    strip: true,
                },
            )
        })
        .as_deref()
        .map_err(Clone::clone)
}

/// The runtime allocator: Rust's allocator with a byte budget. A request over
/// the budget fails (QuickJS then throws "out of memory") and is remembered,
/// so the sandbox can tell a memory-limit failure from any other error even
/// when the engine could not allocate the error object itself.
///
/// The count of bytes in use is shared by every runtime of one run (the
/// top-level action and each `Lit.Actions.call` child, which run on threads
/// of their own), so the budget bounds the run as a whole: a parent and its
/// children together never hold more than the run's memory limit.
pub(crate) struct BudgetAllocator {
    inner: rquickjs::allocator::RustAllocator,
    used: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    budget: usize,
    exceeded: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl BudgetAllocator {
    /// An allocator charging `used`, the run's shared count, against `budget`.
    pub(crate) fn new(
        budget: usize,
        used: std::sync::Arc<std::sync::atomic::AtomicUsize>,
        exceeded: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) -> Self {
        BudgetAllocator {
            inner: rquickjs::allocator::RustAllocator,
            used,
            budget,
            exceeded,
        }
    }

    /// Reserve `size` bytes of the run's budget (refused, and remembered,
    /// when the run would go over it).
    fn admit(&self, size: usize) -> bool {
        use std::sync::atomic::Ordering;
        let budget = self.budget;
        let reserved = self
            .used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                used.checked_add(size).filter(|&total| total <= budget)
            })
            .is_ok();
        if !reserved {
            self.exceeded.store(true, Ordering::SeqCst);
        }
        reserved
    }

    /// Settle a reservation of `reserved` bytes that became `actual` bytes in use.
    fn settle(&self, reserved: usize, actual: usize) {
        use std::sync::atomic::Ordering;
        if actual >= reserved {
            self.used.fetch_add(actual - reserved, Ordering::SeqCst);
        } else {
            self.release(reserved - actual);
        }
    }

    fn release(&self, size: usize) {
        use std::sync::atomic::Ordering;
        let _ = self
            .used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                Some(used.saturating_sub(size))
            });
    }
}

// SAFETY: every call is forwarded to RustAllocator, which upholds the trait's
// contract; this wrapper only refuses requests (returning null, which the
// trait allows) and keeps a byte count from `usable_size`.
unsafe impl rquickjs::allocator::Allocator for BudgetAllocator {
    fn alloc(&mut self, size: usize) -> *mut u8 {
        if !self.admit(size) {
            return std::ptr::null_mut();
        }
        let ptr = self.inner.alloc(size);
        let actual = if ptr.is_null() {
            0
        } else {
            // SAFETY: `ptr` was just returned by RustAllocator.
            unsafe { rquickjs::allocator::RustAllocator::usable_size(ptr) }
        };
        self.settle(size, actual);
        ptr
    }

    fn calloc(&mut self, count: usize, size: usize) -> *mut u8 {
        let total = count.saturating_mul(size);
        if !self.admit(total) {
            return std::ptr::null_mut();
        }
        let ptr = self.inner.calloc(count, size);
        let actual = if ptr.is_null() {
            0
        } else {
            // SAFETY: `ptr` was just returned by RustAllocator.
            unsafe { rquickjs::allocator::RustAllocator::usable_size(ptr) }
        };
        self.settle(total, actual);
        ptr
    }

    unsafe fn dealloc(&mut self, ptr: *mut u8) {
        if !ptr.is_null() {
            self.release(rquickjs::allocator::RustAllocator::usable_size(ptr));
        }
        self.inner.dealloc(ptr);
    }

    unsafe fn realloc(&mut self, ptr: *mut u8, new_size: usize) -> *mut u8 {
        let old = if ptr.is_null() {
            0
        } else {
            rquickjs::allocator::RustAllocator::usable_size(ptr)
        };
        let grow = new_size.saturating_sub(old);
        if grow > 0 && !self.admit(grow) {
            return std::ptr::null_mut();
        }
        let new = self.inner.realloc(ptr, new_size);
        if new.is_null() && new_size != 0 {
            // failed: the old block is untouched
            self.release(grow);
            return new;
        }
        let now = if new.is_null() {
            0
        } else {
            rquickjs::allocator::RustAllocator::usable_size(new)
        };
        // in use went from `old` to `now`; `grow` of it is already reserved
        self.settle(old + grow, now);
        new
    }

    unsafe fn usable_size(ptr: *mut u8) -> usize {
        rquickjs::allocator::RustAllocator::usable_size(ptr)
    }
}

/// A bundled library's bytecode (`file_name`, from `source`), compiled on
/// the first success and kept in `cache` for the life of the process.
pub(crate) fn cached_bundle(
    cache: &std::sync::Mutex<Option<std::sync::Arc<Vec<u8>>>>,
    file_name: &str,
    source: impl FnOnce() -> Result<String, String>,
) -> Result<std::sync::Arc<Vec<u8>>, String> {
    let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(bc) = cache.as_ref() {
        return Ok(bc.clone());
    }
    let bc = compile_standalone(
        &source()?,
        file_name,
        CompileOptions {
            top_level_await: false,
            strip: true,
        },
    )
    .map_err(|e| format!("{file_name} does not compile: {e}"))?;
    let bc = std::sync::Arc::new(bc);
    *cache = Some(bc.clone());
    Ok(bc)
}
