//! The native half of `WebAssembly` (src/js/wasm.js shapes the JavaScript API
//! around these): modules compiled and run by the pure-Rust `wasmi`
//! interpreter, inside the run's limits.
//!
//! - Time: every call runs on fuel, handed out in slices; between slices the
//!   run's stop flag and deadline are checked, so a runaway loop ends at the
//!   wall-time limit like a JavaScript one.
//! - Memory: linear memories and tables grow only through [`Budget`], which
//!   charges their bytes to the run's shared memory count (the one the
//!   JavaScript heaps use), so wasm memory is capped by what the run has left.
//! - Size: a module larger than the run's code-size limit is refused.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use rquickjs::function::Rest;
use rquickjs::{ArrayBuffer, BigInt, Ctx, Exception, Function, Object, TypedArray, Value};
use wasmi::{
    Engine, Extern, ExternType, Func, Instance, Linker, Module, ResourceLimiter, ResumableCall,
    Store, Val, ValType,
};
use wasmi_core::LimiterError;

use crate::error::Limit;
use crate::sandbox::Run;

/// Fuel of one slice of a call; the run's deadline is checked between slices.
const FUEL_SLICE: u64 = 20_000_000;
/// Fuel per millisecond left for a module's start function, which cannot be
/// sliced (it stops a little before the deadline rather than after it).
const START_FUEL_PER_MS: u64 = 100_000;
/// Nested wasm calls before a call traps.
const MAX_RECURSION_DEPTH: usize = 10_000;
/// Bytes of wasmi's value stack (per call in progress; outside the run's memory count).
const MAX_STACK_HEIGHT: usize = 8 * 1024 * 1024;
/// Table elements a module may hold.
const MAX_TABLE_ELEMENTS: usize = 1_000_000;
/// Bytes a table element is charged as.
const TABLE_ELEMENT_BYTES: usize = 16;

/// The process's wasm engine (fuel metering on).
fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = wasmi::Config::default();
        config.consume_fuel(true);
        // Deep enough for recursive code (wasmi's own default is 1000 frames);
        // the value stack is bounded, and a deeper call traps with a RuntimeError.
        config.set_max_recursion_depth(MAX_RECURSION_DEPTH);
        config.set_max_stack_height(MAX_STACK_HEIGHT);
        Engine::new(&config)
    })
}

/// Charges growing memories and tables to the run's shared byte count.
pub(crate) struct Budget {
    used: Arc<AtomicUsize>,
    limit: usize,
    charged: usize,
}

impl Budget {
    fn charge(&mut self, bytes: usize) -> bool {
        let limit = self.limit;
        let ok = self
            .used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                used.checked_add(bytes).filter(|&t| t <= limit)
            })
            .is_ok();
        if ok {
            self.charged += bytes;
        }
        ok
    }
}

impl Drop for Budget {
    fn drop(&mut self) {
        let charged = self.charged;
        let _ = self
            .used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |u| {
                Some(u.saturating_sub(charged))
            });
    }
}

impl ResourceLimiter for Budget {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> Result<bool, LimiterError> {
        if maximum.is_some_and(|m| desired > m) {
            return Ok(false);
        }
        Ok(self.charge(desired.saturating_sub(current)))
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> Result<bool, LimiterError> {
        if desired > MAX_TABLE_ELEMENTS || maximum.is_some_and(|m| desired > m) {
            return Ok(false);
        }
        Ok(self.charge(desired.saturating_sub(current) * TABLE_ELEMENT_BYTES))
    }

    fn instances(&self) -> usize {
        1000
    }

    fn tables(&self) -> usize {
        1000
    }

    fn memories(&self) -> usize {
        100
    }
}

/// The wasm state of one sandbox: its store, modules, instances and the
/// exported functions handed to JavaScript (by index).
struct State {
    store: Store<Budget>,
    /// Each module with its export names in the module's order.
    modules: Vec<(Module, Vec<String>)>,
    /// Each instance with its module's export order.
    instances: Vec<(Instance, Vec<String>)>,
    funcs: Vec<(Func, Vec<ValType>, Vec<ValType>)>,
}

type Shared = Rc<RefCell<State>>;

fn js_error(ctx: &Ctx<'_>, class: &str, message: impl std::fmt::Display) -> rquickjs::Error {
    Exception::throw_message(ctx, &format!("{class}: {message}"))
}

fn bytes(arr: &TypedArray<'_, u8>) -> Vec<u8> {
    // SAFETY: copied before any JavaScript runs again.
    unsafe { arr.as_bytes() }
        .map(<[u8]>::to_vec)
        .unwrap_or_default()
}

/// The names of a (valid) module's exports in the order the module lists
/// them, which the JavaScript API keeps (wasmi lists them by name).
fn export_order(code: &[u8]) -> Vec<String> {
    let mut names = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(code) {
        if let Ok(wasmparser::Payload::ExportSection(reader)) = payload {
            names.extend(reader.into_iter().flatten().map(|e| e.name.to_owned()));
        }
    }
    names
}

/// Sorts `items` by where their name stands in `order`.
fn in_module_order<T>(items: &mut [(String, T)], order: &[String]) {
    items.sort_by_key(|(name, _)| order.iter().position(|n| n == name).unwrap_or(usize::MAX));
}

fn kind_name(ty: &ExternType) -> &'static str {
    match ty {
        ExternType::Func(_) => "function",
        ExternType::Memory(_) => "memory",
        ExternType::Table(_) => "table",
        ExternType::Global(_) => "global",
    }
}

/// A JavaScript value as a wasm value of type `ty` (the JS API's ToWebAssemblyValue).
fn to_wasm<'js>(ctx: &Ctx<'js>, value: &Value<'js>, ty: ValType) -> rquickjs::Result<Val> {
    let number = |v: &Value<'js>| -> rquickjs::Result<f64> {
        if let Some(n) = v.as_number() {
            return Ok(n);
        }
        if v.is_undefined() {
            return Ok(f64::NAN);
        }
        if v.is_null() {
            return Ok(0.0);
        }
        if let Some(b) = v.as_bool() {
            return Ok(if b { 1.0 } else { 0.0 });
        }
        let number: Function = ctx.globals().get("Number")?;
        number.call((v.clone(),))
    };
    Ok(match ty {
        ValType::I32 => {
            let n = number(value)?;
            // ToInt32: wrap modulo 2^32
            let n = if n.is_finite() { n.trunc() } else { 0.0 };
            Val::I32((n.rem_euclid(4_294_967_296.0) as u64 as u32) as i32)
        }
        ValType::I64 => {
            let big = value.as_big_int().cloned().ok_or_else(|| {
                Exception::throw_type(ctx, "Cannot convert a non-BigInt value to an i64 parameter (pass a BigInt, e.g. 5n)")
            })?;
            Val::I64(big.to_i64()?)
        }
        ValType::F32 => Val::F32(wasmi::F32::from_float(number(value)? as f32)),
        ValType::F64 => Val::F64(wasmi::F64::from_float(number(value)?)),
        other => {
            return Err(js_error(
                ctx,
                "TypeError",
                format!("parameters of type {other:?} are not supported"),
            ))
        }
    })
}

/// A wasm value as a JavaScript value (i64 as BigInt, as the JS API says).
fn to_js<'js>(ctx: &Ctx<'js>, value: &Val) -> rquickjs::Result<Value<'js>> {
    Ok(match value {
        Val::I32(v) => Value::new_int(ctx.clone(), *v),
        Val::I64(v) => BigInt::from_i64(ctx.clone(), *v)?.into_value(),
        Val::F32(v) => Value::new_float(ctx.clone(), f64::from(v.to_float())),
        Val::F64(v) => Value::new_float(ctx.clone(), v.to_float()),
        _ => Value::new_undefined(ctx.clone()),
    })
}

/// Runs `func` to completion on fuel slices, checking the run between slices.
fn call_func(
    run: &Run,
    store: &mut Store<Budget>,
    func: &Func,
    inputs: &[Val],
    outputs: &mut [Val],
) -> Result<(), CallError> {
    store.set_fuel(FUEL_SLICE).map_err(CallError::Trap)?;
    let mut call = func
        .call_resumable(&mut *store, inputs, outputs)
        .map_err(CallError::Trap)?;
    loop {
        match call {
            ResumableCall::Finished => return Ok(()),
            ResumableCall::OutOfFuel(pending) => {
                if run.must_stop() {
                    return Err(CallError::Stopped);
                }
                store.set_fuel(FUEL_SLICE).map_err(CallError::Trap)?;
                call = pending
                    .resume(&mut *store, outputs)
                    .map_err(CallError::Trap)?;
            }
            ResumableCall::HostTrap(_) => {
                // No host functions are ever linked, so none can trap.
                return Err(CallError::Trap(wasmi::Error::new("unexpected host trap")));
            }
        }
    }
}

enum CallError {
    Trap(wasmi::Error),
    Stopped,
}

/// The run-ending error for a call stopped by the run (its deadline, memory, or the caller).
fn stopped(ctx: &Ctx<'_>, run: &Run) -> rquickjs::Error {
    let err = if Instant::now() >= run.deadline {
        run.fail_limit(Limit::WallTime, run.limits.wall_time.as_millis() as u64)
    } else {
        run.fatal()
            .unwrap_or_else(|| crate::ActionError::Internal("the run was cancelled".into()))
    };
    Exception::throw_internal(ctx, &err.to_string())
}

/// The native functions src/js/wasm.js calls; one wasm store per sandbox.
pub(crate) fn natives<'js>(ctx: &Ctx<'js>, run: &Arc<Run>) -> rquickjs::Result<Object<'js>> {
    let mut store = Store::new(
        engine(),
        Budget {
            used: run.memory_used.clone(),
            limit: run.limits.memory_bytes,
            charged: 0,
        },
    );
    store.limiter(|budget| budget as &mut dyn ResourceLimiter);
    let state: Shared = Rc::new(RefCell::new(State {
        store,
        modules: Vec::new(),
        instances: Vec::new(),
        funcs: Vec::new(),
    }));
    let max_module = run.limits.code_bytes;
    let n = Object::new(ctx.clone())?;

    n.set(
        "validate",
        Function::new(ctx.clone(), move |code: TypedArray<'js, u8>| {
            let code = bytes(&code);
            code.len() <= max_module && Module::validate(engine(), &code).is_ok()
        })?,
    )?;
    {
        let state = state.clone();
        n.set(
            "compile",
            Function::new(ctx.clone(), move |ctx: Ctx<'js>, code: TypedArray<'js, u8>| {
                let code = bytes(&code);
                if code.len() > max_module {
                    return Err(js_error(
                        &ctx,
                        "CompileError",
                        format!(
                            "WebAssembly.Module(): the module is {} bytes, over the limit of {max_module} bytes",
                            code.len()
                        ),
                    ));
                }
                let module = Module::new(engine(), &code)
                    .map_err(|e| js_error(&ctx, "CompileError", format!("WebAssembly.Module(): {e}")))?;
                let order = export_order(&code);
                let mut s = state.borrow_mut();
                s.modules.push((module, order));
                Ok(s.modules.len() as u32 - 1)
            })?,
        )?;
    }
    {
        let state = state.clone();
        n.set(
            "moduleExports",
            Function::new(ctx.clone(), move |id: u32| {
                let s = state.borrow();
                s.modules
                    .get(id as usize)
                    .map(|(m, order)| {
                        let mut exports: Vec<(String, &'static str)> = m
                            .exports()
                            .map(|e| (e.name().to_owned(), kind_name(e.ty())))
                            .collect();
                        in_module_order(&mut exports, order);
                        exports
                            .into_iter()
                            .map(|(name, kind)| vec![name, kind.to_owned()])
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default()
            })?,
        )?;
    }
    {
        let state = state.clone();
        n.set(
            "moduleImports",
            Function::new(ctx.clone(), move |id: u32| {
                let s = state.borrow();
                s.modules
                    .get(id as usize)
                    .map(|(m, _)| {
                        m.imports()
                            .map(|i| {
                                vec![
                                    i.module().to_owned(),
                                    i.name().to_owned(),
                                    kind_name(i.ty()).to_owned(),
                                ]
                            })
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default()
            })?,
        )?;
    }
    {
        let state = state.clone();
        let run = run.clone();
        n.set(
            "instantiate",
            Function::new(ctx.clone(), move |ctx: Ctx<'js>, id: u32| {
                let mut guard = state.borrow_mut();
                let s = &mut *guard;
                let (module, order) = s
                    .modules
                    .get(id as usize)
                    .cloned()
                    .ok_or_else(|| Exception::throw_type(&ctx, "unknown module"))?;
                if let Some(import) = module.imports().next() {
                    return Err(js_error(
                        &ctx,
                        "LinkError",
                        format!(
                            "WebAssembly.Instance(): Import \"{}\" \"{}\": imports are not supported in Candela actions",
                            import.module(),
                            import.name()
                        ),
                    ));
                }
                let left_ms = run.deadline.saturating_duration_since(Instant::now()).as_millis() as u64;
                s.store
                    .set_fuel(left_ms.saturating_mul(START_FUEL_PER_MS).max(1))
                    .map_err(|e| js_error(&ctx, "RuntimeError", e))?;
                let linker = Linker::<Budget>::new(engine());
                let instance = linker
                    .instantiate_and_start(&mut s.store, &module)
                    .map_err(|e| {
                        if run.must_stop() {
                            return stopped(&ctx, &run);
                        }
                        let text = e.to_string();
                        if text.contains("limiter") || text.contains("grow") || text.contains("memory") {
                            js_error(
                                &ctx,
                                "RangeError",
                                format!("WebAssembly.Instance(): the module's memory does not fit in the run's memory budget ({text})"),
                            )
                        } else if e.as_trap_code().is_some() {
                            js_error(&ctx, "RuntimeError", format!("WebAssembly.Instance(): {text}"))
                        } else {
                            js_error(&ctx, "LinkError", format!("WebAssembly.Instance(): {text}"))
                        }
                    })?;
                s.instances.push((instance, order));
                Ok(s.instances.len() as u32 - 1)
            })?,
        )?;
    }
    {
        let state = state.clone();
        n.set(
            "instanceExports",
            Function::new(ctx.clone(), move |ctx: Ctx<'js>, id: u32| {
                let mut guard = state.borrow_mut();
                let s = &mut *guard;
                let (instance, order) = s
                    .instances
                    .get(id as usize)
                    .cloned()
                    .ok_or_else(|| Exception::throw_type(&ctx, "unknown instance"))?;
                let out = rquickjs::Array::new(ctx.clone())?;
                let mut exports: Vec<(String, Extern)> = instance
                    .exports(&s.store)
                    .map(|e| (e.name().to_owned(), e.into_extern()))
                    .collect();
                in_module_order(&mut exports, &order);
                for (i, (name, ext)) in exports.into_iter().enumerate() {
                    let row = rquickjs::Array::new(ctx.clone())?;
                    row.set(0, name)?;
                    match ext {
                        Extern::Func(f) => {
                            let ty = f.ty(&s.store);
                            row.set(1, "function")?;
                            row.set(2, s.funcs.len() as u32)?;
                            row.set(3, ty.params().len() as u32)?;
                            s.funcs
                                .push((f, ty.params().to_vec(), ty.results().to_vec()));
                        }
                        Extern::Memory(_) => row.set(1, "memory")?,
                        Extern::Global(_) => row.set(1, "global")?,
                        Extern::Table(_) => row.set(1, "table")?,
                    }
                    out.set(i, row)?;
                }
                Ok::<_, rquickjs::Error>(out)
            })?,
        )?;
    }
    {
        let state = state.clone();
        let run = run.clone();
        n.set(
            "call",
            Function::new(
                ctx.clone(),
                move |ctx: Ctx<'js>, index: u32, args: Rest<Value<'js>>| {
                    let mut guard = state.borrow_mut();
                    let State { store, funcs, .. } = &mut *guard;
                    let (func, params, results) = funcs
                        .get(index as usize)
                        .ok_or_else(|| Exception::throw_type(&ctx, "unknown function"))?;
                    let mut inputs = Vec::with_capacity(params.len());
                    for (i, ty) in params.iter().enumerate() {
                        let input = match args.0.get(i) {
                            Some(arg) => to_wasm(&ctx, arg, *ty)?,
                            None => to_wasm(&ctx, &Value::new_undefined(ctx.clone()), *ty)?,
                        };
                        inputs.push(input);
                    }
                    let mut outputs: Vec<Val> =
                        results.iter().map(|t| Val::default_for_ty(*t)).collect();
                    match call_func(&run, store, func, &inputs, &mut outputs) {
                        Ok(()) => {}
                        Err(CallError::Stopped) => return Err(stopped(&ctx, &run)),
                        Err(CallError::Trap(e)) => {
                            if run.must_stop() {
                                return Err(stopped(&ctx, &run));
                            }
                            return Err(js_error(&ctx, "RuntimeError", e));
                        }
                    }
                    match outputs.len() {
                        0 => Ok(Value::new_undefined(ctx.clone())),
                        1 => to_js(&ctx, &outputs[0]),
                        _ => {
                            let arr = rquickjs::Array::new(ctx.clone())?;
                            for (i, v) in outputs.iter().enumerate() {
                                arr.set(i, to_js(&ctx, v)?)?;
                            }
                            Ok(arr.into_value())
                        }
                    }
                },
            )?,
        )?;
    }
    {
        let state = state.clone();
        n.set(
            "memoryBuffer",
            Function::new(ctx.clone(), move |ctx: Ctx<'js>, id: u32, name: String| {
                let s = state.borrow();
                let memory = s
                    .instances
                    .get(id as usize)
                    .and_then(|(i, _)| i.get_memory(&s.store, &name))
                    .ok_or_else(|| Exception::throw_type(&ctx, "unknown memory"))?;
                ArrayBuffer::new_copy(ctx.clone(), memory.data(&s.store))
            })?,
        )?;
    }
    {
        let state = state.clone();
        n.set(
            "memoryGrow",
            Function::new(
                ctx.clone(),
                move |ctx: Ctx<'js>, id: u32, name: String, delta: f64| {
                    let mut guard = state.borrow_mut();
                    let s = &mut *guard;
                    let memory = s
                        .instances
                        .get(id as usize)
                        .and_then(|(i, _)| i.get_memory(&s.store, &name))
                        .ok_or_else(|| Exception::throw_type(&ctx, "unknown memory"))?;
                    if !(delta.is_finite() && delta >= 0.0) {
                        return Err(js_error(
                            &ctx,
                            "TypeError",
                            "WebAssembly.Memory.grow(): Argument 0 must be a non-negative number",
                        ));
                    }
                    memory
                        .grow(&mut s.store, delta as u64)
                        .map(|old| old as f64)
                        .map_err(|e| {
                            js_error(
                                &ctx,
                                "RangeError",
                                format!("WebAssembly.Memory.grow(): {e}"),
                            )
                        })
                },
            )?,
        )?;
    }
    {
        let state = state.clone();
        n.set(
            "globalGet",
            Function::new(ctx.clone(), move |ctx: Ctx<'js>, id: u32, name: String| {
                let s = state.borrow();
                let global = s
                    .instances
                    .get(id as usize)
                    .and_then(|(i, _)| i.get_global(&s.store, &name))
                    .ok_or_else(|| Exception::throw_type(&ctx, "unknown global"))?;
                to_js(&ctx, &global.get(&s.store))
            })?,
        )?;
    }
    {
        let state = state.clone();
        n.set(
            "globalSet",
            Function::new(
                ctx.clone(),
                move |ctx: Ctx<'js>, id: u32, name: String, value: Value<'js>| {
                    let mut guard = state.borrow_mut();
                    let s = &mut *guard;
                    let global = s
                        .instances
                        .get(id as usize)
                        .and_then(|(i, _)| i.get_global(&s.store, &name))
                        .ok_or_else(|| Exception::throw_type(&ctx, "unknown global"))?;
                    let ty = global.ty(&s.store).content();
                    let v = to_wasm(&ctx, &value, ty)?;
                    global.set(&mut s.store, v).map_err(|e| {
                        js_error(&ctx, "TypeError", format!("WebAssembly.Global: {e}"))
                    })
                },
            )?,
        )?;
    }
    Ok(n)
}
