//! Execution records for `candela action replay`.
//!
//! Recording is opt-in per request: only an execution whose request sets
//! `recordRun: true` is wrapped in a [`RecordingHost`] (no other run is
//! noted at all, condition and custom-auth actions never are). When it
//! ends the node keeps a [`RunRecord`] (code, `jsParams`, `Lit.Auth`, clock
//! readings and every external answer: fetch responses, RPC answers, values
//! shared by other nodes) in its database, sealed like its other secrets,
//! under the request id. Only the newest `actions.recordRuns` records are
//! kept (0 turns recording off on the node whatever requests ask), and a
//! record larger than `actions.recordMaxBytes` is not kept at all.
//!
//! A record never holds decrypted plaintext nor the headers and body of a
//! fetch request (see [`candela_actions::replay`]): the plaintext of
//! `decryptAndCombine` / `decryptToSingleNode` is withheld and scrubbed from
//! the response, logs and every other recorded value.
//!
//! `GET /candela/v1/runs/{requestId}` returns a record to the caller who
//! ran it, and to no one else: the request carries an auth signature (a
//! wallet auth signature or a session signature for this node, JSON in the
//! [`AUTH_SIG_HEADER`] header) for `lit-action-execution` on the action's
//! CID, and the address it proves must be the one that ran the action.
use std::sync::Arc;

use candela_actions::replay::{RecordingHost, RunRecord};
use candela_actions::{ExecutionContext, ExecutionReport};
use candela_api::auth::AuthSig;
use candela_api::session::Ability;

use crate::error::ApiError;
use crate::node::Node;

/// The header that carries the auth signature of a record request.
pub const AUTH_SIG_HEADER: &str = "x-candela-auth-sig";

impl Node {
    /// Keep the record of a finished run (best effort: a failure to keep it
    /// is logged, never the run's failure).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn keep_run(
        self: &Arc<Self>,
        request_id: &str,
        caller: [u8; 20],
        cid: &str,
        code: &str,
        ctx: ExecutionContext,
        recorder: &RecordingHost,
        report: &ExecutionReport,
    ) {
        let keep = self.cfg.actions.record_runs;
        if keep == 0 {
            return;
        }
        let (clock, calls) = recorder.recorded();
        let secrets = recorder.secrets();
        let record = RunRecord {
            request_id: request_id.to_string(),
            action_cid: cid.to_string(),
            code: code.to_string(),
            js_params: ctx.js_params,
            auth: ctx.auth,
            started_at_ms: clock.first().copied(),
            clock,
            calls,
            response: report.outcome.response.clone(),
            logs: report.outcome.logs.clone(),
            error: report.error.as_ref().map(|e| e.to_string()),
        }
        .scrubbed(&secrets);
        let bytes = match serde_json::to_vec(&record) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, request_id, "cannot encode the run record");
                return;
            }
        };
        if bytes.len() > self.cfg.actions.record_max_bytes {
            tracing::info!(
                request_id,
                bytes = bytes.len(),
                "run record larger than recordMaxBytes; not kept"
            );
            return;
        }
        let node = Arc::clone(self);
        let rid = request_id.to_string();
        let who = hex::encode(caller);
        let stored =
            crate::node::blocking(move || node.store.put_run(&rid, &who, &bytes, keep)).await;
        match stored {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, request_id, "cannot keep the run record"),
            Err(e) => tracing::warn!(error = %e.message, request_id, "cannot keep the run record"),
        }
    }

    /// The record of execution `request_id`, for the caller who ran it.
    pub async fn read_run(
        self: &Arc<Self>,
        request_id: &str,
        auth: &AuthSig,
    ) -> Result<RunRecord, ApiError> {
        let node = Arc::clone(self);
        let rid = request_id.to_string();
        let row = crate::node::blocking(move || node.store.get_run(&rid))
            .await?
            .map_err(ApiError::internal)?;
        let not_kept = || {
            ApiError::not_found(
                "NodeRunNotFound",
                format!("this node keeps no record of run {request_id}"),
            )
        };
        let (caller, bytes) = row.ok_or_else(not_kept)?;
        let record: RunRecord = serde_json::from_slice(&bytes).map_err(ApiError::internal)?;
        let asker = self
            .authenticate(auth, Ability::LitActionExecution, &record.action_cid)
            .await?;
        if hex::encode(asker) != caller {
            return Err(ApiError::forbidden(
                "NodeRunNotYours",
                format!(
                    "run {request_id} was made by another caller; only the caller who ran it may read its record"
                ),
            ));
        }
        Ok(record)
    }
}
