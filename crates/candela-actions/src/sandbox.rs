//! One action in one fresh QuickJS runtime, on a thread of its own, with a
//! small event loop.
//!
//! Threading: QuickJS is single-threaded and an action may spin for its whole
//! wall time, so it must never run on a tokio worker. Each action (and each
//! child action of `Lit.Actions.call`) gets a dedicated OS thread that owns its
//! runtime from creation to drop. Host operations are spawned as tasks on the
//! caller's tokio runtime and report back over a channel; the JavaScript
//! thread blocks on that channel (with the run's deadline and the next timer
//! as timeouts) only when it has no JavaScript job left to run.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use base64::Engine as _;
use rand_core::{OsRng, RngCore};
use rquickjs::function::Opt;
use rquickjs::promise::PromiseState;
use rquickjs::{
    qjs, Context, Ctx, Exception, Function, Object, Persistent, Promise, Runtime, TypedArray, Value,
};

use crate::context::{AuthContext, ExecutionOutcome};
use crate::engine::{self, CompilerIntrinsics, SandboxIntrinsics};
use crate::error::{ActionError, Limit};
use crate::host::{FetchResponse, Host, SignRequest};
use crate::op_limits::{self, OpLimitError};
use crate::ops::{self, OpValue, Scope, StartError};
use crate::Limits;

/// State shared by every action of one run (the top-level one and its children).
pub(crate) struct Run {
    pub host: Arc<dyn Host>,
    pub limits: Limits,
    pub handle: tokio::runtime::Handle,
    pub deadline: Instant,
    /// Set when the run must stop: a limit was hit or the caller went away.
    pub stop: AtomicBool,
    /// Set by the allocator of any of the run's runtimes that hit the memory limit.
    pub out_of_memory: Arc<AtomicBool>,
    /// Heap bytes in use by all of the run's runtimes together (the
    /// top-level action and every `call` child): the memory limit bounds
    /// this sum, not each runtime alone.
    pub memory_used: Arc<AtomicUsize>,
    state: Mutex<RunState>,
}

#[derive(Default)]
struct RunState {
    outcome: ExecutionOutcome,
    signatures_started: u32,
    contract_calls: u32,
    /// Fetches counted by the `fetch` wrapper and not yet started.
    fetch_tickets: u32,
    /// The operations refused for a limit, one per limit (see `crate::op_limits`).
    refused: Vec<OpLimitError>,
    fatal: Option<ActionError>,
}

impl Run {
    pub fn new(host: Arc<dyn Host>, limits: Limits, handle: tokio::runtime::Handle) -> Self {
        let deadline = Instant::now() + limits.wall_time;
        Run {
            host,
            limits,
            handle,
            deadline,
            stop: AtomicBool::new(false),
            out_of_memory: Arc::new(AtomicBool::new(false)),
            memory_used: Arc::new(AtomicUsize::new(0)),
            state: Mutex::new(RunState::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, RunState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records `err` as the error that ends the run (the first one wins) and stops every action.
    pub fn fail(&self, err: ActionError) -> ActionError {
        let recorded = self.lock().fatal.get_or_insert(err).clone();
        self.stop.store(true, Ordering::SeqCst);
        recorded
    }

    /// Ends the run because limit `limit` (bound `max`) was exceeded.
    pub fn fail_limit(&self, limit: Limit, max: u64) -> ActionError {
        self.fail(ActionError::limit(limit, max))
    }

    pub fn fatal(&self) -> Option<ActionError> {
        self.lock().fatal.clone()
    }

    pub(crate) fn must_stop(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
            || self.out_of_memory.load(Ordering::SeqCst)
            || Instant::now() >= self.deadline
    }

    /// Counts one use of a counted resource, as Lit does: the count rises
    /// first, and a use over the limit is refused (the action gets Lit's
    /// text as an `Error` it may catch; the run goes on).
    pub fn count(&self, limit: Limit) -> Result<(), OpLimitError> {
        let max = match limit {
            Limit::Fetches => self.limits.fetches,
            Limit::Signatures => self.limits.signatures,
            Limit::Broadcasts => self.limits.broadcasts,
            Limit::ContractCalls => self.limits.contract_calls,
            _ => return Ok(()),
        };
        let mut s = self.lock();
        let counter = match limit {
            Limit::Fetches => &mut s.outcome.fetches,
            Limit::Signatures => &mut s.signatures_started,
            Limit::ContractCalls => &mut s.contract_calls,
            _ => &mut s.outcome.broadcasts,
        };
        *counter = counter.saturating_add(1);
        if *counter > max {
            return Err(Self::refuse_locked(&mut s, limit, max.into()));
        }
        if limit == Limit::Fetches {
            s.fetch_tickets += 1;
        }
        Ok(())
    }

    /// Takes the ticket the `fetch` wrapper's count left for one request.
    pub fn take_fetch_ticket(&self) -> bool {
        let mut s = self.lock();
        if s.fetch_tickets == 0 {
            return false;
        }
        s.fetch_tickets -= 1;
        true
    }

    /// Refuses one operation for `limit` (bound `max`) and remembers it.
    pub fn refuse(&self, limit: Limit, max: u64) -> OpLimitError {
        Self::refuse_locked(&mut self.lock(), limit, max)
    }

    fn refuse_locked(s: &mut RunState, limit: Limit, max: u64) -> OpLimitError {
        let err = OpLimitError::new(limit, max);
        // one entry per limit: an action refused in a loop must not grow this
        if !s.refused.iter().any(|r| r.limit == limit) {
            s.refused.push(err.clone());
        }
        err
    }

    /// The refusals so far.
    fn refused(&self) -> Vec<OpLimitError> {
        self.lock().refused.clone()
    }

    pub fn record_signature(&self, request: SignRequest) {
        self.lock().outcome.signatures.push(request);
    }

    pub fn count_call(&self) {
        self.lock().outcome.calls += 1;
    }

    pub fn response(&self) -> String {
        self.lock().outcome.response.clone()
    }

    fn set_response(&self, response: String) -> Result<(), OpLimitError> {
        if response.len() > self.limits.response_bytes {
            return Err(self.refuse(Limit::ResponseSize, self.limits.response_bytes as u64));
        }
        self.lock().outcome.response = response;
        Ok(())
    }

    fn print(&self, line: &str) -> Result<(), OpLimitError> {
        let max = self.limits.console_bytes;
        let mut s = self.lock();
        let needed = line.len() + "\n".len();
        if s.outcome.logs.len() + needed <= max {
            s.outcome.logs.push_str(line);
            s.outcome.logs.push('\n');
            return Ok(());
        }
        Err(Self::refuse_locked(
            &mut s,
            Limit::ConsoleOutput,
            max as u64,
        ))
    }

    pub fn outcome(&self) -> ExecutionOutcome {
        self.lock().outcome.clone()
    }
}

type Completion = (u32, Result<OpValue, String>);

/// Per-action bookkeeping shared by the native functions and the event loop.
struct Local {
    next_id: u32,
    tasks: HashMap<u32, tokio::task::JoinHandle<()>>,
    timers: BTreeSet<(Instant, u32)>,
    timer_due: HashMap<u32, Instant>,
    tx: mpsc::Sender<Completion>,
}

impl Local {
    fn next_id(&mut self) -> u32 {
        self.next_id = self.next_id.wrapping_add(1);
        self.next_id
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        for (_, task) in self.tasks.drain() {
            task.abort();
        }
    }
}

/// Unhandled promise rejections seen by the tracker: (promise, reason).
type Unhandled = Rc<RefCell<Vec<(Persistent<Value<'static>>, Persistent<Value<'static>>)>>>;

/// Runs one action to completion on the current (dedicated) thread.
pub(crate) fn run_blocking(
    run: &Arc<Run>,
    code: &str,
    auth: AuthContext,
    params: Option<serde_json::Value>,
    depth: u32,
) -> Result<(), ActionError> {
    let internal = |e: rquickjs::Error| ActionError::Internal(e.to_string());
    // this thread runs this action only: its frames are read against its source
    op_limits::set_source(code);
    let rt = Runtime::new_with_alloc(engine::BudgetAllocator::new(
        run.limits.memory_bytes,
        run.memory_used.clone(),
        run.out_of_memory.clone(),
    ))
    .map_err(internal)?;
    rt.set_max_stack_size(run.limits.stack_bytes);
    rt.set_loader(
        crate::modules::CidResolver,
        crate::modules::CidLoader::new(run.clone()),
    );
    {
        let run = run.clone();
        rt.set_interrupt_handler(Some(Box::new(move || run.must_stop())));
    }
    let unhandled: Unhandled = Rc::new(RefCell::new(Vec::new()));
    {
        let unhandled = unhandled.clone();
        rt.set_host_promise_rejection_tracker(Some(Box::new(
            move |ctx: Ctx<'_>, promise: Value<'_>, reason: Value<'_>, handled: bool| {
                let mut list = unhandled.borrow_mut();
                if handled {
                    let raw = promise.as_raw();
                    list.retain(|(p, _)| !same_object(&ctx, p, raw));
                } else {
                    list.push((
                        Persistent::save(&ctx, promise),
                        Persistent::save(&ctx, reason),
                    ));
                }
            },
        )));
    }

    // Compile in a context that has the compiler, then drop it.
    let bytecode = {
        let compiler = Context::custom::<CompilerIntrinsics>(&rt).map_err(internal)?;
        let compiled = compiler.with(|ctx| crate::modules::compile_action(run, &ctx, code));
        compiled.map_err(|message| classify_message(run, message, None, true))?
    };
    let prelude = engine::prelude_bytecode().map_err(ActionError::Internal)?;
    let context = Context::custom::<SandboxIntrinsics>(&rt).map_err(internal)?;

    let (tx, rx) = mpsc::channel::<Completion>();
    let local = Rc::new(RefCell::new(Local {
        next_id: 0,
        tasks: HashMap::new(),
        timers: BTreeSet::new(),
        timer_due: HashMap::new(),
        tx,
    }));
    let scope = Rc::new(Scope {
        run: run.clone(),
        depth,
        auth: auth.clone(),
    });

    let auth_json = auth_json(&auth);
    let headers_json = serde_json::to_string(&auth.http_headers).unwrap_or_else(|_| "[]".into());
    let params_json = match params {
        Some(v @ serde_json::Value::Object(_)) => v.to_string(),
        _ => "{}".to_string(),
    };

    let result = event_loop(
        run,
        &rt,
        &context,
        &bytecode,
        prelude,
        &local,
        &scope,
        &rx,
        &unhandled,
        &auth_json,
        &params_json,
        &headers_json,
    );
    // Persistent handles must go before the runtime does.
    unhandled.borrow_mut().clear();
    drop(local);
    result
}

fn same_object(ctx: &Ctx<'_>, saved: &Persistent<Value<'static>>, raw: qjs::JSValue) -> bool {
    match saved.clone().restore(ctx) {
        // SAFETY: reading the pointer part of two live JSValues, no dereference.
        Ok(v) => unsafe { qjs::JS_VALUE_GET_PTR(v.as_raw()) == qjs::JS_VALUE_GET_PTR(raw) },
        Err(_) => false,
    }
}

fn auth_json(auth: &AuthContext) -> String {
    /// `Lit.Auth`: Lit's keys (its node's `AuthContext`), in Lit's order, and no others.
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct LitAuth<'a> {
        action_ipfs_id_stack: &'a [String],
        auth_sig_address: &'a Option<String>,
        auth_method_contexts: &'a [serde_json::Value],
        resources: &'a [serde_json::Value],
        custom_auth_resource: &'a str,
    }
    let value = LitAuth {
        action_ipfs_id_stack: &auth.action_ipfs_id_stack,
        auth_sig_address: &auth.auth_sig_address,
        auth_method_contexts: &auth.auth_method_contexts,
        resources: &auth.resources,
        custom_auth_resource: &auth.custom_auth_resource,
    };
    serde_json::to_string(&value).unwrap_or_else(|_| "{}".into())
}

/// Turns an engine error text into the run's error: a recorded limit wins, then
/// the limits the engine itself enforces (time, memory, stack).
fn classify_message(
    run: &Run,
    message: String,
    stack: Option<String>,
    syntax: bool,
) -> ActionError {
    if let Some(fatal) = run.fatal() {
        return fatal;
    }
    if run.out_of_memory.load(Ordering::SeqCst) || message.contains("out of memory") {
        return run.fail_limit(Limit::Memory, run.limits.memory_bytes as u64);
    }
    if Instant::now() >= run.deadline {
        return run.fail_limit(Limit::WallTime, run.limits.wall_time.as_millis() as u64);
    }
    if message.contains("stack overflow") || message.contains("call stack size exceeded") {
        return run.fail_limit(Limit::Stack, run.limits.stack_bytes as u64);
    }
    if run.stop.load(Ordering::SeqCst) {
        return ActionError::Internal("the run was cancelled".into());
    }
    if syntax {
        // the parser's message says what; the stack says where
        let message = match stack.as_deref().and_then(crate::error::action_location) {
            Some(at) if !message.contains(&at) => format!("{message} at {at}"),
            _ => message,
        };
        ActionError::Syntax { message }
    } else {
        // Lit's text for an uncaught error (with the action's frames);
        // a refused operation nobody caught ends the run as its limit.
        let message = if message.starts_with("Uncaught ") {
            op_limits::uncaught_text("", &message, stack.as_deref())
        } else {
            message
        };
        if let Some(limit) = op_limits::uncaught_refusal(&run.refused(), &message) {
            return limit;
        }
        ActionError::Script { message, stack }
    }
}

fn classify_exception(run: &Run, ctx: &Ctx<'_>, prefix: &str) -> ActionError {
    let (message, stack) = engine::describe(&ctx.catch());
    classify_message(run, format!("{prefix}{message}"), stack, false)
}

#[allow(clippy::too_many_arguments)]
fn event_loop(
    run: &Arc<Run>,
    rt: &Runtime,
    context: &Context,
    bytecode: &[u8],
    prelude: &[u8],
    local: &Rc<RefCell<Local>>,
    scope: &Rc<Scope>,
    rx: &mpsc::Receiver<Completion>,
    unhandled: &Unhandled,
    auth_json: &str,
    params_json: &str,
    headers_json: &str,
) -> Result<(), ActionError> {
    // Install the API, then start the action.
    let (complete, top) = context.with(|ctx| {
        let setup = engine::run_bytecode(&ctx, prelude)
            .map_err(|_| classify_exception(run, &ctx, "prelude: "))?;
        let setup = setup
            .into_function()
            .ok_or_else(|| ActionError::Internal("prelude did not yield a function".into()))?;
        let native =
            natives(&ctx, local, scope).map_err(|_| classify_exception(run, &ctx, "natives: "))?;
        let installed: Value = setup
            .call((native, auth_json, params_json, headers_json))
            .map_err(|_| classify_exception(run, &ctx, "prelude: "))?;
        // A string: the jsParams could not be made globals (Lit's text follows).
        if let Some(refused) = installed.as_string() {
            let refused = refused.to_string().unwrap_or_default();
            return Err(ActionError::Script {
                message: format!(
                    "Error building main worker: Error injecting params as globals: {refused}"
                ),
                stack: None,
            });
        }
        let complete = installed
            .into_function()
            .ok_or_else(|| ActionError::Internal("prelude did not yield `complete`".into()))?;
        let top =
            engine::run_bytecode(&ctx, bytecode).map_err(|_| classify_exception(run, &ctx, ""))?;
        let top = top.into_promise();
        // The top-level promise is judged below, not as an unhandled rejection.
        if let Some(p) = &top {
            let raw = p.as_raw();
            unhandled
                .borrow_mut()
                .retain(|(s, _)| !same_object(&ctx, s, raw));
        }
        Ok::<_, ActionError>((
            Persistent::save(&ctx, complete),
            top.map(|p| Persistent::save(&ctx, p)),
        ))
    })?;

    loop {
        // Run every queued job (promise reactions).
        loop {
            match rt.execute_pending_job() {
                Ok(true) => {}
                Ok(false) => break,
                Err(_) => {
                    return Err(context.with(|ctx| classify_exception(run, &ctx, "")));
                }
            }
        }
        if let Some(fatal) = run.fatal() {
            return Err(fatal);
        }
        if run.must_stop() {
            return Err(classify_message(run, "interrupted".into(), None, false));
        }
        if let Some(err) = context.with(|ctx| take_unhandled(run, &ctx, unhandled)) {
            return Err(err);
        }
        let (busy, next_timer) = {
            let l = local.borrow();
            (
                !l.tasks.is_empty() || !l.timers.is_empty(),
                l.timers.first().map(|(due, _)| *due),
            )
        };
        if !busy {
            return context.with(|ctx| settle_top(run, &ctx, top.clone()));
        }

        let now = Instant::now();
        let wake = next_timer.map_or(run.deadline, |t| t.min(run.deadline));
        match rx.recv_timeout(wake.saturating_duration_since(now)) {
            Ok((id, result)) => {
                local.borrow_mut().tasks.remove(&id);
                context.with(|ctx| deliver(run, &ctx, &complete, id, result))?;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let due: Vec<u32> = {
                    let mut l = local.borrow_mut();
                    let now = Instant::now();
                    let mut due = Vec::new();
                    while let Some(&(at, id)) = l.timers.first() {
                        if at > now {
                            break;
                        }
                        l.timers.pop_first();
                        l.timer_due.remove(&id);
                        due.push(id);
                    }
                    due
                };
                for id in due {
                    context.with(|ctx| {
                        let complete = complete
                            .clone()
                            .restore(&ctx)
                            .map_err(|e| ActionError::Internal(e.to_string()))?;
                        complete
                            .call::<_, ()>((id, 2, Value::new_undefined(ctx.clone())))
                            .map_err(|_| classify_exception(run, &ctx, "Uncaught "))
                    })?;
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(ActionError::Internal("operation channel closed".into()));
            }
        }
    }
}

fn take_unhandled(run: &Run, ctx: &Ctx<'_>, unhandled: &Unhandled) -> Option<ActionError> {
    let first = unhandled.borrow_mut().drain(..).next()?;
    let reason = first.1.restore(ctx).ok()?;
    let (message, stack) = engine::describe(&reason);
    Some(classify_message(
        run,
        format!("Uncaught (in promise) {message}"),
        stack,
        false,
    ))
}

fn settle_top(
    run: &Run,
    ctx: &Ctx<'_>,
    top: Option<Persistent<Promise<'static>>>,
) -> Result<(), ActionError> {
    let Some(top) = top else { return Ok(()) };
    let top = top
        .restore(ctx)
        .map_err(|e| ActionError::Internal(e.to_string()))?;
    match top.state() {
        PromiseState::Resolved => Ok(()),
        PromiseState::Rejected => {
            let _ = top.result::<Value>();
            Err(classify_exception(run, ctx, "Uncaught "))
        }
        PromiseState::Pending => Err(ActionError::Script {
            message:
                "the action's top-level await never settled (nothing left that could settle it)"
                    .into(),
            stack: None,
        }),
    }
}

fn deliver(
    run: &Run,
    ctx: &Ctx<'_>,
    complete: &Persistent<Function<'static>>,
    id: u32,
    result: Result<OpValue, String>,
) -> Result<(), ActionError> {
    let complete = complete
        .clone()
        .restore(ctx)
        .map_err(|e| ActionError::Internal(e.to_string()))?;
    let outcome = match result {
        Ok(value) => op_value_to_js(ctx, value).and_then(|v| complete.call::<_, ()>((id, 0, v))),
        Err(message) => complete.call::<_, ()>((id, 1, message)),
    };
    outcome.map_err(|_| classify_exception(run, ctx, ""))
}

fn op_value_to_js<'js>(ctx: &Ctx<'js>, value: OpValue) -> rquickjs::Result<Value<'js>> {
    Ok(match value {
        OpValue::Str(s) => rquickjs::String::from_str(ctx.clone(), &s)?.into_value(),
        OpValue::Bool(b) => Value::new_bool(ctx.clone(), b),
        OpValue::Json(v) => ctx.json_parse(v.to_string())?,
        OpValue::Fetch(r) => fetch_response_to_js(ctx, r)?.into_value(),
    })
}

fn fetch_response_to_js<'js>(ctx: &Ctx<'js>, r: FetchResponse) -> rquickjs::Result<Object<'js>> {
    let obj = Object::new(ctx.clone())?;
    obj.set("status", r.status)?;
    obj.set("statusText", r.status_text)?;
    obj.set("url", r.url)?;
    let headers = rquickjs::Array::new(ctx.clone())?;
    for (i, (k, v)) in r.headers.into_iter().enumerate() {
        let pair = rquickjs::Array::new(ctx.clone())?;
        pair.set(0, k)?;
        pair.set(1, v)?;
        headers.set(i, pair)?;
    }
    obj.set("headers", headers)?;
    obj.set("body", rquickjs::ArrayBuffer::new(ctx.clone(), r.body)?)?;
    Ok(obj)
}

/// Copies the bytes of a typed array (or ArrayBuffer) value.
fn bytes_of(value: &Value<'_>) -> Option<Vec<u8>> {
    if let Ok(arr) = TypedArray::<u8>::from_value(value.clone()) {
        // SAFETY: the slice is copied before any JavaScript can run again.
        return unsafe { arr.as_bytes() }.map(<[u8]>::to_vec);
    }
    if let Some(obj) = value.as_object() {
        if let Some(buf) = obj.as_array_buffer() {
            // SAFETY: as above, copied before JavaScript runs again.
            return unsafe { buf.as_bytes() }.map(<[u8]>::to_vec);
        }
    }
    None
}

fn throw_action_error(ctx: &Ctx<'_>, err: &ActionError) -> rquickjs::Error {
    Exception::throw_internal(ctx, &err.to_string())
}

/// The native bridge handed to the prelude (never a global).
fn natives<'js>(
    ctx: &Ctx<'js>,
    local: &Rc<RefCell<Local>>,
    scope: &Rc<Scope>,
) -> rquickjs::Result<Object<'js>> {
    let native = Object::new(ctx.clone())?;
    let run = scope.run.clone();

    {
        let local = local.clone();
        let scope = scope.clone();
        native.set(
            "start",
            Function::new(
                ctx.clone(),
                move |ctx: Ctx<'js>, name: String, args: String, bytes: Opt<Value<'js>>| {
                    let bytes = bytes.0.as_ref().and_then(bytes_of);
                    let future = match ops::start(&scope, &name, &args, bytes) {
                        Ok(f) => f,
                        Err(StartError::Js(message)) => {
                            return Err(Exception::throw_type(&ctx, &message))
                        }
                        Err(StartError::Refused(err)) => {
                            return Err(Exception::throw_message(&ctx, &err.message))
                        }
                        Err(StartError::Fatal(err)) => return Err(throw_action_error(&ctx, &err)),
                    };
                    let mut l = local.borrow_mut();
                    let id = l.next_id();
                    let tx = l.tx.clone();
                    let task = scope.run.handle.spawn(async move {
                        let result = future.await;
                        let _ = tx.send((id, result));
                    });
                    l.tasks.insert(id, task);
                    Ok::<u32, rquickjs::Error>(id)
                },
            )?,
        )?;
    }
    {
        let local = local.clone();
        native.set(
            "timer",
            Function::new(ctx.clone(), move |ms: f64| {
                let ms = if ms.is_finite() && ms > 0.0 { ms } else { 0.0 };
                let mut l = local.borrow_mut();
                let id = l.next_id();
                let due = Instant::now() + Duration::from_secs_f64((ms / 1000.0).min(1e9));
                l.timers.insert((due, id));
                l.timer_due.insert(id, due);
                id
            })?,
        )?;
    }
    {
        let local = local.clone();
        native.set(
            "clearTimer",
            Function::new(ctx.clone(), move |id: u32| {
                let mut l = local.borrow_mut();
                if let Some(due) = l.timer_due.remove(&id) {
                    l.timers.remove(&(due, id));
                }
            })?,
        )?;
    }
    {
        let run = run.clone();
        native.set(
            "print",
            Function::new(ctx.clone(), move |ctx: Ctx<'js>, line: String| {
                if let Some(f) = run.fatal() {
                    return Err(throw_action_error(&ctx, &f));
                }
                run.print(&line)
                    .map_err(|e| Exception::throw_message(&ctx, &e.message))
            })?,
        )?;
    }
    {
        let run = run.clone();
        native.set(
            "setResponse",
            Function::new(ctx.clone(), move |ctx: Ctx<'js>, response: String| {
                if let Some(f) = run.fatal() {
                    return Err(throw_action_error(&ctx, &f));
                }
                run.set_response(response)
                    .map_err(|e| Exception::throw_message(&ctx, &e.message))
            })?,
        )?;
    }
    {
        // The `fetch` wrapper counts each call before anything else, as
        // Lit's does: a request refused or failing later still counts.
        let run = run.clone();
        native.set(
            "countFetch",
            Function::new(ctx.clone(), move |ctx: Ctx<'js>| {
                if let Some(f) = run.fatal() {
                    return Err(throw_action_error(&ctx, &f));
                }
                run.count(Limit::Fetches)
                    .map_err(|e| Exception::throw_message(&ctx, &e.message))
            })?,
        )?;
    }
    // The action's frames of a stack as Lit prints them, for console.log.
    native.set(
        "userFrames",
        Function::new(ctx.clone(), |stack: String| {
            op_limits::user_frames(&stack, crate::modules::ACTION_MODULE_NAME).join("\n")
        })?,
    )?;
    // [state, value] of a promise, for console.log (`Promise { 1 }`).
    native.set(
        "promiseState",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, value: Value<'js>| {
            let mut out: Vec<Value<'js>> = Vec::new();
            let Some(p) = value.into_promise() else {
                return Ok::<_, rquickjs::Error>(out);
            };
            let word = |w: &str| rquickjs::String::from_str(ctx.clone(), w).map(|s| s.into_value());
            match p.state() {
                PromiseState::Pending => out.push(word("pending")?),
                PromiseState::Resolved => {
                    out.push(word("fulfilled")?);
                    out.push(
                        p.result::<Value>()
                            .transpose()?
                            .unwrap_or_else(|| Value::new_undefined(ctx.clone())),
                    );
                }
                PromiseState::Rejected => {
                    let _ = p.result::<Value>();
                    out.push(word("rejected")?);
                    out.push(ctx.catch());
                }
            }
            Ok(out)
        })?,
    )?;
    native.set(
        "pubkeyToTokenId",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, key: String| {
            crate::crypto::pubkey_to_token_id(&key)
                .map_err(|e| Exception::throw_type(&ctx, &format!("pubkeyToTokenId: {e}")))
        })?,
    )?;
    native.set(
        "utf8Encode",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, text: String| {
            TypedArray::<u8>::new(ctx, text.into_bytes())
        })?,
    )?;
    native.set(
        "utf8Decode",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, bytes: Value<'js>, fatal: Opt<bool>, ignore_bom: Opt<bool>| {
                let bytes = bytes_of(&bytes)
                    .ok_or_else(|| Exception::throw_type(&ctx, "decode: expected bytes"))?;
                let body =
                    if !ignore_bom.0.unwrap_or(false) && bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
                        &bytes[3..]
                    } else {
                        &bytes[..]
                    };
                if fatal.0.unwrap_or(false) {
                    std::str::from_utf8(body).map(str::to_owned).map_err(|e| {
                        Exception::throw_type(
                            &ctx,
                            &format!("The encoded data was not valid utf-8: {e}"),
                        )
                    })
                } else {
                    Ok(String::from_utf8_lossy(body).into_owned())
                }
            },
        )?,
    )?;
    {
        let run = run.clone();
        native.set(
            "now",
            Function::new(ctx.clone(), move || run.host.now_ms())?,
        )?;
    }
    native.set(
        "randomBytes",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, n: u32| {
            let mut buf = vec![0u8; n.min(65536) as usize];
            OsRng.fill_bytes(&mut buf);
            TypedArray::<u8>::new(ctx, buf)
        })?,
    )?;
    native.set(
        "btoa",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, text: String| {
            let mut bytes = Vec::with_capacity(text.len());
            for c in text.chars() {
                let code = c as u32;
                if code > 0xFF {
                    return Err(Exception::throw_message(
                        &ctx,
                        "InvalidCharacterError: btoa: the string has characters outside of Latin1",
                    ));
                }
                bytes.push(code as u8);
            }
            Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
        })?,
    )?;
    native.set(
        "atob",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, text: String| {
            let cleaned: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            let trimmed = cleaned.trim_end_matches('=');
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(trimmed)
                .map(|bytes| bytes.into_iter().map(char::from).collect::<String>())
                .map_err(|_| {
                    Exception::throw_message(
                        &ctx,
                        "InvalidCharacterError: atob: the string is not correctly encoded",
                    )
                })
        })?,
    )?;
    native.set(
        "encode",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, text: String, encoding: String| {
                let bytes = crate::text::from_string(&text, &encoding)
                    .map_err(|e| Exception::throw_type(&ctx, &e))?;
                TypedArray::<u8>::new(ctx, bytes)
            },
        )?,
    )?;
    native.set(
        "decode",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, bytes: Value<'js>, encoding: String| {
                let bytes = bytes_of(&bytes).ok_or_else(|| {
                    Exception::throw_type(&ctx, "uint8arrayToString: expected bytes")
                })?;
                crate::text::to_string(&bytes, &encoding)
                    .map_err(|e| Exception::throw_type(&ctx, &e))
            },
        )?,
    )?;
    native.set(
        "loadEthers",
        Function::new(ctx.clone(), |ctx: Ctx<'js>| crate::ethers::load(&ctx))?,
    )?;
    native.set(
        "loadJwt",
        Function::new(ctx.clone(), |ctx: Ctx<'js>| crate::jwt::load(&ctx))?,
    )?;
    {
        let run = run.clone();
        native.set(
            "extension",
            Function::new(
                ctx.clone(),
                move |ctx: Ctx<'js>, name: String, shared: Value<'js>| {
                    crate::extensions::load(&ctx, &run, &name, shared)
                },
            )?,
        )?;
    }
    Ok(native)
}
