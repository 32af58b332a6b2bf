//! # candela-actions
//!
//! The JavaScript sandbox of a Candela node: it runs immutable actions written
//! for Lit Protocol's Lit Actions API, unchanged, in QuickJS.
//!
//! - [`execute`] runs one action in a fresh runtime and context and returns its
//!   [`ExecutionOutcome`] (response, logs, signing requests) or an
//!   [`ActionError`].
//! - Everything the action asks of the outside world (HTTP, signing, other
//!   nodes, child actions, chain data) goes through the [`Host`] trait, which
//!   the node implements. The crate knows nothing about nodes.
//! - Every run is bounded by [`Limits`]. Wall time and memory end the run
//!   with [`ActionError::LimitExceeded`]; an operation over any other limit
//!   is refused as Lit's node refuses it, with Lit's text as a JavaScript
//!   `Error` the action may catch, and a refusal not caught ends the run as
//!   [`ActionError::LimitExceeded`] for that limit.
//!
//! Globals an action sees: `Lit` (`{Actions, Auth, Headers}`, frozen),
//! `LitActions`, `LitAuth`, `LitHeaders` (the request's HTTP headers, from
//! [`AuthContext::http_headers`]), `jsParams` and each of its keys, `console`,
//! `fetch`, `Headers`, `Request`, `Response`, `TextEncoder`, `TextDecoder`,
//! `atob`, `btoa`, `crypto` (`getRandomValues`, `randomUUID`, `subtle`),
//! `setTimeout` & co, `global`, and, built on first touch only: `ethers` (v5,
//! see [`ethers_status`]), `jwt` (jsonwebtoken 8.5.1), `crypto.subtle` (Web
//! Crypto on RustCrypto crates), `WebAssembly` (the wasmi interpreter, inside
//! the run's limits) and `Deno` (Lit's shape: every permission refused).
//! There is no `eval`, no `Function` constructor (both throw `EvalError`), no
//! file system, process, environment or `Worker`; `localStorage` throws
//! Lit's `NotSupported` error. The only
//! modules an action can import are other deployed actions, as
//! `import { f } from "ipfs://<CIDv0>"`, loaded through
//! [`Host::load_module`] and refused unless their bytes hash to that CID.
//!
//! Threading: each action runs on a dedicated OS thread (QuickJS may spin
//! for the whole wall time and must not hold a tokio worker); host operations
//! run as tasks on the tokio runtime that called [`execute`].
#![deny(missing_docs)]

mod context;
mod crypto;
mod engine;
mod error;
mod ethers;
mod extensions;
mod host;
mod jwt;
mod limits;
mod lit_aes;
mod modules;
mod op_limits;
mod ops;
pub mod replay;
mod sandbox;
mod subtle;
mod text;
mod wasm;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;

pub use context::{AuthContext, ExecutionContext, ExecutionOutcome};
pub use error::{action_location, ActionError, HostError, Limit};
pub use ethers::{ethers_status, EthersStatus, SETUP_HINT};
pub use host::{
    lit_combined_signature_json, FetchRequest, FetchResponse, Host, SchemeSignRequest, SignKind,
    SignRequest, GENERIC_OPS, OPS,
};
pub use limits::Limits;
pub use modules::{IMPORT_OP, IMPORT_SCHEME, MAX_MODULES};

/// Hashing helpers used by the API, public so hosts and tests can agree with it.
pub mod hashing {
    pub use crate::crypto::{eip191_hash, keccak256, pubkey_to_token_id};
}

/// What a run produced, even when it failed: the node may want the logs of a
/// failed action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionReport {
    /// Response, logs, signing requests and counters as they stood at the end.
    pub outcome: ExecutionOutcome,
    /// `None` when the action finished, else why it did not.
    pub error: Option<ActionError>,
}

impl ExecutionReport {
    /// The outcome if the run finished, else its error.
    pub fn into_result(self) -> Result<ExecutionOutcome, ActionError> {
        match self.error {
            None => Ok(self.outcome),
            Some(e) => Err(e),
        }
    }
}

/// Runs `code` as a Lit action with request context `ctx`, asking `host` for
/// everything outside the sandbox, within `limits`.
///
/// Must be called from within a tokio runtime (host operations are spawned
/// on it). The JavaScript itself runs on a dedicated thread, so this future
/// never blocks the runtime. Dropping the future stops the action.
pub async fn execute(
    code: &str,
    ctx: ExecutionContext,
    host: Arc<dyn Host>,
    limits: &Limits,
) -> Result<ExecutionOutcome, ActionError> {
    execute_with_report(code, ctx, host, limits)
        .await
        .into_result()
}

/// Like [`execute`], but returns the partial outcome (logs, signing requests)
/// together with the error when the run fails.
pub async fn execute_with_report(
    code: &str,
    ctx: ExecutionContext,
    host: Arc<dyn Host>,
    limits: &Limits,
) -> ExecutionReport {
    let handle = match tokio::runtime::Handle::try_current() {
        Ok(h) => h,
        Err(_) => {
            return ExecutionReport {
                outcome: ExecutionOutcome::default(),
                error: Some(ActionError::Internal(
                    "execute must be called from within a tokio runtime".into(),
                )),
            }
        }
    };
    let run = Arc::new(sandbox::Run::new(host, limits.clone(), handle));
    let guard = StopOnDrop(run.clone());
    let result = run_action(run.clone(), code.to_owned(), ctx.auth, ctx.js_params, 0).await;
    drop(guard);
    ExecutionReport {
        outcome: run.outcome(),
        error: result.err(),
    }
}

/// Stops every action of a run when the caller stops waiting for it.
struct StopOnDrop(Arc<sandbox::Run>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop.store(true, Ordering::SeqCst);
    }
}

/// Runs one action (top-level or child) on its own thread.
pub(crate) fn run_action(
    run: Arc<sandbox::Run>,
    code: String,
    auth: AuthContext,
    params: Option<serde_json::Value>,
    depth: u32,
) -> Pin<Box<dyn Future<Output = Result<(), ActionError>> + Send>> {
    Box::pin(async move {
        if code.len() > run.limits.code_bytes {
            // Lit refuses the code before running it; a child's refusal
            // reaches its parent's `call` as an error the parent may catch.
            let err = ActionError::code_too_large(code.len(), run.limits.code_bytes);
            return Err(if depth == 0 { run.fail(err) } else { err });
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        // QuickJS's own stack bound plus room for the Rust frames around it.
        let stack = run.limits.stack_bytes.saturating_add(2 * 1024 * 1024);
        let thread_run = run.clone();
        std::thread::Builder::new()
            .name(format!("candela-action-{depth}"))
            .stack_size(stack)
            .spawn(move || {
                let result = sandbox::run_blocking(&thread_run, &code, auth, params, depth);
                let _ = tx.send(result);
            })
            .map_err(|e| ActionError::Internal(format!("cannot start the action thread: {e}")))?;
        rx.await
            .map_err(|_| ActionError::Internal("the action thread panicked".into()))?
    })
}
