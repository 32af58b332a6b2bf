//! What a run is given (the request context) and what it produces.

use serde::{Deserialize, Serialize};

use crate::host::SignRequest;

/// The authentication context an action sees as `Lit.Auth`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthContext {
    /// IPFS CIDs of the running action and of its callers, outermost first.
    /// The sandbox pushes a child's CID when `Lit.Actions.call` runs it.
    pub action_ipfs_id_stack: Vec<String>,
    /// Address that signed the request's auth signature, if any.
    pub auth_sig_address: Option<String>,
    /// The auth methods the caller proved (Lit's `authMethodContexts` objects).
    pub auth_method_contexts: Vec<serde_json::Value>,
    /// Resources granted by the session (Lit's `resources`).
    pub resources: Vec<serde_json::Value>,
    /// A custom auth resource string, empty when none.
    pub custom_auth_resource: String,
    /// The HTTP headers of the request that started the run, as name/value
    /// pairs: actions see them as `Lit.Headers` (also `LitHeaders`), an
    /// unchangeable `Headers` with lower-case names where a repeated header's
    /// values are joined with ", ". Empty (the default) when the node passes
    /// none. Not part of `Lit.Auth`; `Lit.Actions.call` children see the same
    /// headers. Kept here, not on [`ExecutionContext`], so that callers that
    /// build an `ExecutionContext` field by field keep compiling.
    #[serde(default)]
    pub http_headers: Vec<(String, String)>,
}

/// The request context of one run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionContext {
    /// The `jsParams` of the request: an object whose keys become globals, also
    /// reachable as the global `jsParams`. `None` (or a non-object) gives `{}`.
    pub js_params: Option<serde_json::Value>,
    /// What `Lit.Auth` shows.
    pub auth: AuthContext,
}

impl ExecutionContext {
    /// A context with these `jsParams` and an empty auth context.
    pub fn with_params(js_params: serde_json::Value) -> Self {
        ExecutionContext {
            js_params: Some(js_params),
            auth: AuthContext::default(),
        }
    }
}

/// The result of a finished run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionOutcome {
    /// The last value given to `Lit.Actions.setResponse` (by the action or a child).
    pub response: String,
    /// Console output, one line per call.
    pub logs: String,
    /// Every signing request made, in order (children included).
    pub signatures: Vec<SignRequest>,
    /// Number of `fetch` calls, counted as Lit counts them: every call,
    /// before its request is built, so refused and failed ones too.
    pub fetches: u32,
    /// Number of broadcasts made.
    pub broadcasts: u32,
    /// Number of child actions run with `Lit.Actions.call`.
    pub calls: u32,
}
