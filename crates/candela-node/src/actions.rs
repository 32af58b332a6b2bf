//! Actions over the network: the immutable action store, `POST
//! /web/execute/v1`, and the node's [`Host`] for the JavaScript sandbox.
//!
//! One [`ExecHost`] serves one execution. Its signing operations use the same
//! coordinator flow as `pkp/sign` (the request id of a signature is
//! `{X-Request-Id}:{sigName}`, which every node derives alike); each share is
//! computed only after its presignature was marked used durably, and is kept
//! in the host until the run finishes. A run that fails drops its shares:
//! their presignatures stay used and are never used again.
//!
//! Values shared between the nodes running one execution
//! (`broadcastAndCollect`, `runOnce`, `signAndCombineEcdsa`) travel as
//! authenticated peer messages keyed by request id and topic, into a
//! [`Mailbox`] that each run waits on.
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine;
use candela_actions::{
    ActionError, AuthContext, ExecutionContext, FetchRequest, FetchResponse, Host, HostError,
    Limits, SchemeSignRequest, SignRequest,
};
use candela_api::v7::{
    ActionUploadRequest, ActionUploadResponse, ExecuteRequest, ExecuteResponse, ExecuteSignedShare,
    PkpSignResponse,
};
use candela_crypto::derive;
use candela_registry::Registry;
use sha2::{Digest, Sha256};

use crate::config::ActionsConfig;
use crate::error::ApiError;
use crate::node::Node;
use crate::peer::{CollectItem, PeerBody};
use candela_api::session::Ability;

/// Longest `sigName` accepted.
const MAX_SIG_NAME: usize = 128;
/// Largest value an action shares with the other nodes (`broadcastAndCollect`,
/// `runOnce`).
pub const MAX_SHARED_VALUE: usize = 1024 * 1024;
/// Values in the mailbox are forgotten after this long.
const MAILBOX_TTL: Duration = Duration::from_secs(300);

/// The sandbox limits a node's configuration sets.
pub fn limits(cfg: &ActionsConfig) -> Limits {
    Limits {
        wall_time: Duration::from_millis(cfg.wall_time_ms),
        memory_bytes: cfg.memory_bytes,
        code_bytes: cfg.code_bytes,
        response_bytes: cfg.response_bytes,
        console_bytes: cfg.console_bytes,
        fetches: cfg.fetches,
        signatures: cfg.signatures,
        call_depth: cfg.call_depth,
        broadcasts: cfg.broadcasts,
        ..Limits::default()
    }
}

/// Largest request body of the upload and execute endpoints: base64 of the
/// largest code plus room for parameters and auth.
pub fn body_limit(cfg: &ActionsConfig) -> usize {
    cfg.code_bytes.div_ceil(3) * 4 + 1024 * 1024
}

/// Largest `jsParams` of an execution, in bytes of JSON.
pub const MAX_JS_PARAMS_BYTES: usize = 1024 * 1024;

/// Refuse an execute body whose `jsParams` is larger than
/// [`MAX_JS_PARAMS_BYTES`] (413), measured on the raw JSON before it is
/// parsed into values. A body that does not parse is left to the parser to
/// explain.
pub fn check_js_params_size(body: &[u8]) -> Result<(), ApiError> {
    #[derive(serde::Deserialize)]
    struct Peek<'a> {
        #[serde(borrow, rename = "jsParams", default)]
        js_params: Option<&'a serde_json::value::RawValue>,
    }
    if let Ok(Peek {
        js_params: Some(raw),
    }) = serde_json::from_slice::<Peek>(body)
    {
        let len = raw.get().len();
        if len > MAX_JS_PARAMS_BYTES {
            return Err(ApiError::too_large(format!(
                "jsParams is {len} bytes of JSON; at most {MAX_JS_PARAMS_BYTES} bytes are accepted"
            )));
        }
    }
    Ok(())
}

// ---- mailbox ----

/// The values of one key, by sender, with the time the first arrived.
type Slot = (Instant, BTreeMap<u32, String>);

/// Values other nodes sent for one execution, by key, then by sender.
#[derive(Default)]
pub struct Mailbox {
    inner: Mutex<HashMap<String, Slot>>,
    notify: tokio::sync::Notify,
}

impl Mailbox {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Slot>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Record `from`'s value for `key` (the first value of a sender wins).
    pub fn put(&self, key: &str, from: u32, value: String) {
        self.lock()
            .entry(key.to_string())
            .or_insert_with(|| (Instant::now(), BTreeMap::new()))
            .1
            .entry(from)
            .or_insert(value);
        self.notify.notify_waiters();
    }

    fn get(&self, key: &str) -> BTreeMap<u32, String> {
        self.lock()
            .get(key)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    /// Wait until `done` holds for the values of `key`, or the deadline;
    /// returns the values either way.
    pub(crate) async fn wait(
        &self,
        key: &str,
        deadline: tokio::time::Instant,
        done: impl Fn(&BTreeMap<u32, String>) -> bool,
    ) -> BTreeMap<u32, String> {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let values = self.get(key);
            if done(&values) {
                return values;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.get(key);
            }
        }
    }

    /// Forget old entries.
    pub fn gc(&self) {
        self.lock().retain(|_, (at, _)| at.elapsed() < MAILBOX_TTL);
    }
}

/// The associated data of a private shared value: binds its ciphertext to
/// one execution and topic.
pub(crate) fn private_collect_session(request_id: &str, topic: &str) -> String {
    format!("collect\u{0}{request_id}\u{0}{topic}")
}

pub(crate) fn mailbox_key(request_id: &str, topic: &str) -> String {
    format!("{request_id}\u{0}{topic}")
}

// ---- fetch policy ----

/// Whether an action's `fetch` may connect to `ip`: public addresses only,
/// plus loopback when the node allows it (devnets).
pub fn ip_allowed(ip: IpAddr, allow_loopback: bool) -> bool {
    refused_range(ip, allow_loopback).is_none()
}

/// The special-purpose range `ip` belongs to when an action's `fetch` may
/// not connect to it (its name and prefix, for the error), or `None` for a
/// public address (and loopback when `allow_loopback`).
///
/// Besides the private, link-local, shared, reserved and documentation
/// ranges, every IPv6 range that carries or reaches an IPv4 address is
/// refused whatever the address it embeds: NAT64 (`64:ff9b::/96` and the
/// local-use `64:ff9b:1::/48`), 6to4 (`2002::/16`), Teredo (`2001::/32`),
/// IPv4-compatible (`::/96`) and IPv4-translated (`::ffff:0:0:0/96`)
/// addresses, so that none of them can be used to reach a private IPv4
/// address through a translator. IPv4-mapped addresses (`::ffff:0:0/96`)
/// are judged as the IPv4 address they map. The IPv4 protocol-assignment
/// block `192.0.0.0/24` is refused too.
pub fn refused_range(ip: IpAddr, allow_loopback: bool) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            if v4.is_loopback() {
                return (!allow_loopback).then_some("loopback (127.0.0.0/8)");
            }
            let ranges: [(bool, &'static str); 12] = [
                (o[0] == 10, "private (10.0.0.0/8)"),
                (
                    o[0] == 172 && (o[1] & 0xf0) == 16,
                    "private (172.16.0.0/12)",
                ),
                (o[0] == 192 && o[1] == 168, "private (192.168.0.0/16)"),
                (v4.is_link_local(), "link-local (169.254.0.0/16)"),
                (o[0] == 0, "this network (0.0.0.0/8)"),
                (
                    o[0] == 100 && (o[1] & 0xc0) == 64,
                    "shared address space (100.64.0.0/10)",
                ),
                (
                    o[0] == 192 && o[1] == 0 && o[2] == 0,
                    "IETF protocol assignments (192.0.0.0/24)",
                ),
                (
                    o[0] == 198 && (o[1] & 0xfe) == 18,
                    "benchmarking (198.18.0.0/15)",
                ),
                (v4.is_documentation(), "documentation"),
                (v4.is_multicast(), "multicast (224.0.0.0/4)"),
                (v4.is_broadcast(), "broadcast (255.255.255.255)"),
                (o[0] >= 240, "reserved (240.0.0.0/4)"),
            ];
            ranges.iter().find(|(hit, _)| *hit).map(|(_, name)| *name)
        }
        IpAddr::V6(v6) => {
            if v6.is_loopback() {
                return (!allow_loopback).then_some("loopback (::1)");
            }
            if let Some(v4) = v6.to_ipv4_mapped() {
                return refused_range(IpAddr::V4(v4), allow_loopback);
            }
            let seg = v6.segments();
            let ranges: [(bool, &'static str); 12] = [
                (v6.is_unspecified(), "unspecified (::)"),
                (
                    seg[..6] == [0; 6],
                    "IPv4-compatible (::/96), deprecated and translated to IPv4",
                ),
                (
                    seg[..5] == [0, 0, 0, 0, 0xffff] && seg[5] == 0,
                    "IPv4-translated (::ffff:0:0:0/96)",
                ),
                (
                    seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0],
                    "NAT64 (64:ff9b::/96), translated to IPv4",
                ),
                (
                    seg[0] == 0x64 && seg[1] == 0xff9b && seg[2] == 1,
                    "local-use NAT64 (64:ff9b:1::/48), translated to IPv4",
                ),
                (seg[0] == 0x2002, "6to4 (2002::/16), relayed to IPv4"),
                (
                    seg[0] == 0x2001 && seg[1] == 0,
                    "Teredo (2001::/32), relayed to IPv4",
                ),
                (
                    seg[0] == 0x2001 && seg[1] == 0x0db8,
                    "documentation (2001:db8::/32)",
                ),
                ((seg[0] & 0xffc0) == 0xfec0, "site-local (fec0::/10)"),
                ((seg[0] & 0xfe00) == 0xfc00, "unique local (fc00::/7)"),
                ((seg[0] & 0xffc0) == 0xfe80, "link-local (fe80::/10)"),
                (v6.is_multicast(), "multicast (ff00::/8)"),
            ];
            ranges.iter().find(|(hit, _)| *hit).map(|(_, name)| *name)
        }
    }
}

/// The error an action's `fetch` gets for an address it may not reach.
fn refused_text(ip: IpAddr, range: &str) -> String {
    format!("{ip} is an address actions may not reach: it is in the {range} range")
}

/// Resolves names for `fetch` and refuses a name if any of its addresses is
/// not allowed, so that the address connected to is the address checked.
struct PolicyResolver {
    allow_loopback: bool,
}

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow = self.allow_loopback;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if addrs.is_empty() {
                return Err(format!("{host} does not resolve").into());
            }
            if let Some((ip, range)) = addrs
                .iter()
                .find_map(|a| refused_range(a.ip(), allow).map(|r| (a.ip(), r)))
            {
                return Err(format!("{host} resolves to {}", refused_text(ip, range)).into());
            }
            let out: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(out)
        })
    }
}

fn literal_host_refused(url: &reqwest::Url, allow_loopback: bool) -> Option<String> {
    let host = url.host_str()?;
    let ip: IpAddr = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()?;
    refused_range(ip, allow_loopback).map(|range| refused_text(ip, range))
}

/// The URL of an action's `fetch`, checked before anything is sent: http or
/// https only, and a literal IP address must be one actions may reach
/// (a name is checked by the fetch client's resolver, a redirect by its
/// redirect policy).
pub(crate) fn check_fetch_url(text: &str, allow_loopback: bool) -> Result<reqwest::Url, HostError> {
    let url = reqwest::Url::parse(text)
        .map_err(|e| HostError::failed(format!("invalid URL {text}: {e}")))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(HostError::failed(format!(
            "fetch supports http and https only, not {}",
            url.scheme()
        )));
    }
    if let Some(why) = literal_host_refused(&url, allow_loopback) {
        return Err(HostError::Denied(why));
    }
    Ok(url)
}

/// One JSON-RPC call to an operator-configured chain endpoint (trusted
/// configuration, so not subject to the actions' fetch policy).
pub async fn json_rpc(
    url: &str,
    method: &str,
    params: serde_json::Value,
    timeout: Duration,
) -> Result<serde_json::Value, String> {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    let client = CLIENT.get_or_init(reqwest::Client::new);
    let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let resp = client
        .post(url)
        .timeout(timeout)
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("{method} to {url}: {e}"))?;
    let v: serde_json::Value = resp
        .json()
        .await
        .map_err(|e| format!("{method} to {url}: malformed answer: {e}"))?;
    if let Some(err) = v.get("error") {
        return Err(format!("{method} to {url}: {err}"));
    }
    v.get("result")
        .cloned()
        .ok_or_else(|| format!("{method} to {url}: no result in {v}"))
}

/// The HTTP client of actions' `fetch`: the destination policy applies to
/// every connection, redirects included.
pub fn fetch_client(cfg: &ActionsConfig) -> anyhow::Result<reqwest::Client> {
    let allow = cfg.fetch_allow_loopback;
    let redirect = reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= 5 {
            return attempt.error("too many redirects");
        }
        if let Some(why) = literal_host_refused(attempt.url(), allow) {
            return attempt.error(why);
        }
        attempt.follow()
    });
    Ok(reqwest::Client::builder()
        .dns_resolver(Arc::new(PolicyResolver {
            allow_loopback: allow,
        }))
        .redirect(redirect)
        .connect_timeout(Duration::from_millis(cfg.fetch_timeout_ms.min(5000)))
        .no_proxy()
        .build()?)
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
}

// ---- node side ----

impl Node {
    /// `POST /web/action/upload/v1`: store code under its CID (checked
    /// against the CID the uploader names, if any). Idempotent.
    pub fn upload_action(
        &self,
        req: ActionUploadRequest,
    ) -> Result<ActionUploadResponse, ApiError> {
        let code = decode_code(&req.code, self.cfg.actions.code_bytes)?;
        if std::str::from_utf8(&code).is_err() {
            return Err(ApiError::bad_request(
                "NodeInvalidCode",
                "an action must be UTF-8 text",
            ));
        }
        let cid = candela_cid::cid_v0(&code);
        if let Some(expected) = &req.ipfs_id {
            candela_cid::verify(&code, expected)
                .map_err(|e| ApiError::bad_request("NodeActionCidMismatch", e.to_string()))?;
        }
        self.store
            .put_action(&cid, &code)
            .map_err(ApiError::internal)?;
        Ok(ActionUploadResponse { ipfs_id: cid })
    }

    /// The code stored under `cid`, verified against it before use.
    pub fn stored_action(&self, cid: &str) -> Result<String, ApiError> {
        candela_cid::parse_cid_v0(cid)
            .map_err(|e| ApiError::bad_request("NodeInvalidIpfsId", e.to_string()))?;
        let code = self
            .store
            .get_action(cid)
            .map_err(ApiError::internal)?
            .ok_or_else(|| {
                ApiError::not_found(
                    "NodeActionNotFound",
                    format!("no action {cid} on this node; deploy it first"),
                )
            })?;
        candela_cid::verify(&code, cid).map_err(|e| {
            tracing::error!(%cid, error = %e, "a stored action fails its CID check");
            ApiError {
                status: axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                code: "NodeActionCorrupted".into(),
                message: format!("this node's copy of {cid} fails its CID check: {e}"),
                logs: None,
            }
        })?;
        String::from_utf8(code)
            .map_err(|_| ApiError::bad_request("NodeInvalidCode", "the action is not UTF-8"))
    }

    /// `POST /web/execute/v1`: run an action on this node and answer its
    /// response, logs and this node's signature shares.
    pub async fn execute(
        self: &Arc<Self>,
        request_id: &str,
        req: ExecuteRequest,
    ) -> Result<ExecuteResponse, ApiError> {
        self.execute_with_headers(request_id, req, Vec::new()).await
    }

    /// [`Node::execute`] with the request's HTTP headers (lower-case names,
    /// in order), which the action reads as `Lit.Headers`.
    pub async fn execute_with_headers(
        self: &Arc<Self>,
        request_id: &str,
        req: ExecuteRequest,
        http_headers: Vec<(String, String)>,
    ) -> Result<ExecuteResponse, ApiError> {
        candela_api::session::check_auth_size(&req.auth_sig)
            .map_err(|e| ApiError::unauthorized("NodeInvalidAuthSig", e.to_string()))?;
        // Who asks, before any code is loaded: by the claimed CID when there
        // is one, else once the code's CID is computed.
        let early_caller = match &req.ipfs_id {
            Some(cid) => Some(
                self.authenticate_caller(&req.auth_sig, Ability::LitActionExecution, cid)
                    .await?,
            ),
            None => None,
        };
        let (code, cid) = self.load_action(req.code.as_deref(), req.ipfs_id.as_deref())?;
        if self.key().is_none() {
            return Err(ApiError::unavailable(
                "NodeNotReady",
                "root key not generated yet",
            ));
        }
        let credential = match early_caller {
            Some(c) => c,
            None => {
                self.authenticate_caller(&req.auth_sig, Ability::LitActionExecution, &cid)
                    .await?
            }
        };
        let caller = credential.address;
        let contexts = self
            .verified_wallets(req.auth_methods.as_deref().unwrap_or_default())
            .await?
            .iter()
            .map(|w| crate::auth_methods::wallet_context(w, false))
            .collect();
        let _run = self.rate_limiter.run(caller)?;
        let _slot = self.action_slot()?;
        self.claim_request(request_id, "execute")?;
        let run = self
            .run_action_with(
                request_id,
                &code,
                &cid,
                caller,
                Some(credential),
                req.js_params.clone(),
                contexts,
                RunOptions {
                    record: req.record_run,
                    kind: RunKind::Execute,
                    http_headers,
                },
            )
            .await?;
        Ok(ExecuteResponse {
            success: true,
            signed_data: run.signed_data,
            claim_data: run.claim_data,
            decrypted_data: serde_json::Map::new(),
            response: run.response,
            logs: run.logs,
            response_per_node: run.response_per_node,
        })
    }

    /// One of the node's action slots (503 when every one is busy).
    pub(crate) fn action_slot(&self) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
        Arc::clone(&self.action_slots)
            .try_acquire_owned()
            .map_err(|_| {
                ApiError::unavailable(
                    "NodeActionsBusy",
                    format!(
                        "this node is already running {} actions; try again shortly",
                        self.cfg.actions.max_concurrent
                    ),
                )
            })
    }

    /// The code of an action given as base64 `code` (checked against
    /// `ipfs_id` when both are given) or by `ipfs_id` from the store, and its
    /// CID.
    pub(crate) fn load_action(
        &self,
        code: Option<&str>,
        ipfs_id: Option<&str>,
    ) -> Result<(String, String), ApiError> {
        match (code, ipfs_id) {
            (Some(code), ipfs_id) => {
                let bytes = decode_code(code, self.cfg.actions.code_bytes)?;
                if let Some(expected) = ipfs_id {
                    candela_cid::verify(&bytes, expected).map_err(|e| {
                        ApiError::bad_request("NodeActionCidMismatch", e.to_string())
                    })?;
                }
                let cid = candela_cid::cid_v0(&bytes);
                let code = String::from_utf8(bytes).map_err(|_| {
                    ApiError::bad_request("NodeInvalidCode", "the code is not UTF-8")
                })?;
                Ok((code, cid))
            }
            (None, Some(cid)) => Ok((self.stored_action(cid)?, cid.to_string())),
            (None, None) => Err(ApiError::bad_request(
                "NodeInvalidRequest",
                "give the action as code (base64) or ipfsId",
            )),
        }
    }

    /// Run `code` (whose CID is `cid`) for `caller` under this node's limits,
    /// for an already claimed request id, with signing allowed and no run
    /// record kept. The action signs only with PKPs that permit its CID:
    /// `caller`'s credential lends it nothing (see [`Node::run_action_with`]).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn run_action(
        self: &Arc<Self>,
        request_id: &str,
        code: &str,
        cid: &str,
        caller: [u8; 20],
        js_params: Option<serde_json::Value>,
        auth_method_contexts: Vec<serde_json::Value>,
        kind: RunKind,
    ) -> Result<ActionRun, ApiError> {
        self.run_action_with(
            request_id,
            code,
            cid,
            caller,
            None,
            js_params,
            auth_method_contexts,
            RunOptions {
                record: false,
                kind,
                http_headers: Vec::new(),
            },
        )
        .await
    }

    /// [`Node::run_action`] with the run's [`RunOptions`], for a caller
    /// whose verified `credential` may let the action sign through the
    /// caller's wallet, with the PKPs it grants `pkp-signing` on.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn run_action_with(
        self: &Arc<Self>,
        request_id: &str,
        code: &str,
        cid: &str,
        caller: [u8; 20],
        credential: Option<candela_api::session::Caller>,
        js_params: Option<serde_json::Value>,
        auth_method_contexts: Vec<serde_json::Value>,
        options: RunOptions,
    ) -> Result<ActionRun, ApiError> {
        // A PKP session the network signed after custom auth carries the
        // auth context it resolved then (Lit's `lit-resolvedauthcontext`):
        // its custom auth resource, and the custom auth action's CID ahead
        // of this run's in `actionIpfsIdStack`, as in Lit.
        let session_context = credential.as_ref().and_then(|c| c.auth_context());
        let custom_auth_resource = credential
            .as_ref()
            .map(|c| c.custom_auth_resource().to_string())
            .unwrap_or_default();
        let mut action_ipfs_id_stack: Vec<String> = session_context
            .and_then(|c| c.get("actionIpfsIds"))
            .and_then(|ids| ids.as_array())
            .map(|ids| {
                ids.iter()
                    .filter_map(|id| id.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        action_ipfs_id_stack.push(cid.to_string());
        let host = Arc::new(ExecHost {
            kind: options.kind,
            beacon: tokio::sync::OnceCell::new(),
            node: Arc::clone(self),
            request_id: request_id.to_string(),
            caller,
            credential,
            action_cid: cid.to_string(),
            permissions: Arc::new(crate::permit::PermissionCache::new(Arc::clone(
                &self.registry,
            ))),
            names: Mutex::new(BTreeSet::new()),
            shares: Mutex::new(BTreeMap::new()),
            leaders: Mutex::new(HashMap::new()),
            decryptions: std::sync::atomic::AtomicU32::new(0),
            single_node: std::sync::atomic::AtomicBool::new(false),
            claims: Mutex::new(serde_json::Map::new()),
        });
        let ctx = ExecutionContext {
            js_params,
            auth: AuthContext {
                action_ipfs_id_stack,
                auth_sig_address: Some(derive::checksum_address(&caller)),
                auth_method_contexts,
                custom_auth_resource,
                http_headers: options.http_headers.clone(),
                ..AuthContext::default()
            },
        };
        let limits = limits(&self.cfg.actions);
        let dyn_host: Arc<dyn Host> = host.clone();
        // A record is kept only when the caller asked for one (and the node
        // keeps records at all); otherwise nothing is noted.
        let report = if options.record && self.cfg.actions.record_runs > 0 {
            let recorder = Arc::new(candela_actions::replay::RecordingHost::new(dyn_host));
            let recording: Arc<dyn Host> = recorder.clone();
            let run_ctx = ctx.clone();
            let report = candela_actions::execute_with_report(code, ctx, recording, &limits).await;
            self.keep_run(request_id, caller, cid, code, run_ctx, &recorder, &report)
                .await;
            report
        } else {
            candela_actions::execute_with_report(code, ctx, dyn_host, &limits).await
        };
        let logs = report.outcome.logs.clone();
        if let Some(e) = report.error {
            // The shares computed so far are dropped with the host; their
            // presignatures stay used.
            return Err(match &e {
                ActionError::LimitExceeded { .. } => {
                    ApiError::action_failed("NodeActionLimitExceeded", e.to_string(), logs)
                }
                ActionError::Script { stack, .. } => {
                    // the error, then where in the action it was thrown
                    let at = stack.as_deref().and_then(candela_actions::action_location);
                    let message = match at {
                        Some(at) => format!("{e}\n    at {at}"),
                        None => e.to_string(),
                    };
                    ApiError::action_failed("NodeJsExecutionError", message, logs)
                }
                ActionError::Syntax { .. } => {
                    ApiError::action_failed("NodeJsSyntaxError", e.to_string(), logs)
                }
                _ => ApiError::internal(e),
            });
        }
        let signed_data =
            std::mem::take(&mut *host.shares.lock().unwrap_or_else(|p| p.into_inner()));
        let claim_data =
            std::mem::take(&mut *host.claims.lock().unwrap_or_else(|p| p.into_inner()));
        Ok(ActionRun {
            signed_data,
            response: report.outcome.response,
            logs,
            response_per_node: host.single_node.load(std::sync::atomic::Ordering::Relaxed),
            claim_data,
        })
    }

    /// A peer's value for an execution (`broadcastAndCollect`, `runOnce`,
    /// `signAndCombineEcdsa`).
    pub(crate) fn deliver_collect(&self, from: u32, request_id: &str, topic: &str, value: String) {
        if value.len() > MAX_SHARED_VALUE * 2 {
            tracing::warn!(from, topic, "dropping an oversized shared value");
            return;
        }
        self.mailbox
            .put(&mailbox_key(request_id, topic), from, value);
    }

    /// Send this node's value for `topic` to every other node (in the
    /// background, with a few retries).
    fn publish(self: &Arc<Self>, request_id: &str, topic: &str, value: &str) {
        self.deliver_collect(self.me, request_id, topic, value.to_string());
        for to in self.committee() {
            if to == self.me {
                continue;
            }
            self.post_collect(
                to,
                CollectItem {
                    request_id: request_id.to_string(),
                    topic: topic.to_string(),
                    value: value.to_string(),
                    private: false,
                },
            );
        }
    }

    /// Post a shared value to node `to` in the background, with a few
    /// retries, batched with the values queued for `to` meanwhile (see
    /// [`crate::outbox`]).
    fn post_collect(self: &Arc<Self>, to: u32, item: CollectItem) {
        if !self.outboxes.push(to, item) {
            return; // the running sender takes it
        }
        let node = Arc::clone(self);
        tokio::spawn(async move {
            while let Some(mut batch) = node.outboxes.next_batch(to, crate::outbox::BATCH_BYTES) {
                let body = match batch.len() {
                    1 => {
                        let CollectItem {
                            request_id,
                            topic,
                            value,
                            private,
                        } = batch.remove(0);
                        PeerBody::Collect {
                            request_id,
                            topic,
                            value,
                            private,
                        }
                    }
                    _ => PeerBody::Collects { items: batch },
                };
                for attempt in 0..3u64 {
                    if let Ok(r) = node.post_peer(to, &body).await {
                        if r.status().is_success() {
                            break;
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(100 * (attempt + 1))).await;
                }
            }
        });
    }

    /// Take in one value a peer shared (opening it first when it was
    /// encrypted to this node).
    pub(crate) fn receive_collect(&self, from: u32, item: CollectItem) -> Result<(), ApiError> {
        let CollectItem {
            request_id,
            topic,
            value,
            private,
        } = item;
        let value = if private {
            let refused = |why: String| ApiError::forbidden("PeerMessageRefused", why);
            let sealed = hex::decode(&value).map_err(|e| refused(e.to_string()))?;
            let session = private_collect_session(&request_id, &topic);
            let plain = self
                .members()
                .directory
                .decrypt(&self.identity, self.me, from, &session, &sealed)
                .map_err(|e| refused(e.to_string()))?;
            String::from_utf8(plain).map_err(|e| refused(e.to_string()))?
        } else {
            value
        };
        self.deliver_collect(from, &request_id, &topic, value);
        Ok(())
    }

    /// Send this node's value for `topic` to node `to` only, encrypted to it
    /// (in the background, with a few retries).
    pub(crate) fn send_private(
        self: &Arc<Self>,
        to: u32,
        request_id: &str,
        topic: &str,
        value: &str,
    ) {
        if to == self.me {
            self.deliver_collect(self.me, request_id, topic, value.to_string());
            return;
        }
        let session = private_collect_session(request_id, topic);
        let sealed = match self.members().directory.encrypt(
            &self.identity,
            self.me,
            to,
            &session,
            value.as_bytes(),
        ) {
            Ok(c) => hex::encode(c),
            Err(e) => {
                tracing::warn!(error = %e, "cannot encrypt a shared value to node {to}");
                return;
            }
        };
        self.post_collect(
            to,
            CollectItem {
                request_id: request_id.to_string(),
                topic: topic.to_string(),
                value: sealed,
                private: true,
            },
        );
    }
}

/// Domain of the message the nodes sign for a run's leader beacon: no
/// other message the network's BLS key signs (condition identities
/// `lit-accesscontrolcondition://…`, 32-byte session digests) can equal it.
const LEADER_BEACON_DOMAIN: &str = "candela-run-leader-v1:";

/// The message every node signs with its share of the network's BLS key
/// for the leader beacon of execution `request_id`.
pub(crate) fn leader_beacon_message(request_id: &str) -> Vec<u8> {
    let digest = Sha256::digest(request_id.as_bytes());
    format!("{LEADER_BEACON_DOMAIN}{}", hex::encode(digest)).into_bytes()
}

/// The leader beacon of a run: sha256 of the network's threshold BLS
/// signature of [`leader_beacon_message`], combined from valid `shares`
/// (each checked against its node's public share). `None` when fewer than
/// `threshold` valid shares are given.
///
/// A BLS signature is unique: any `threshold` valid shares give the same
/// value at every node, and no node (nor any coalition smaller than the
/// threshold) can bias it or know it before the honest nodes release their
/// shares, which they do only once the run has started, after its request
/// id was claimed. The client chooses the request id but cannot compute
/// the signature, so it cannot grind request ids offline to pick the node.
pub(crate) fn leader_beacon(
    public: &candela_bls::BlsPublicKeySet,
    request_id: &str,
    shares: Vec<candela_bls::BlsSignatureShare>,
) -> Result<[u8; 32], String> {
    let msg = leader_beacon_message(request_id);
    let mut problems = Vec::new();
    let mut valid: Vec<candela_bls::BlsSignatureShare> = shares
        .into_iter()
        .filter(|s| match public.public_share(s.node()) {
            Ok(_) => true,
            Err(e) => {
                problems.push(e.to_string());
                false
            }
        })
        .collect();
    for e in candela_bls::verify_shares(public, &msg, &valid) {
        if let Some(node) = e.culprit() {
            valid.retain(|s| s.node() != node);
        }
        problems.push(e.to_string());
    }
    if valid.len() < public.threshold {
        return Err(format!(
            "{} valid leader-beacon shares of the {} needed ({})",
            valid.len(),
            public.threshold,
            problems.join("; ")
        ));
    }
    valid.truncate(public.threshold);
    let sig = candela_bls::combine(&valid).map_err(|e| e.to_string())?;
    let mut h = Sha256::new();
    h.update(LEADER_BEACON_DOMAIN.as_bytes());
    h.update(sig.to_bytes());
    Ok(h.finalize().into())
}

/// The chosen node for `name` (a `runOnce` name, or a `decryptToSingleNode`
/// topic) among `live`: the first in the order of
/// `sha256(beacon || name || index)`. Every node with the same beacon and
/// live set computes the same node; `None` only for an empty set.
pub(crate) fn leader_from_beacon(
    beacon: &[u8; 32],
    name: &str,
    live: &BTreeSet<u32>,
) -> Option<u32> {
    live.iter().copied().min_by_key(|i| {
        let mut h = Sha256::new();
        h.update(beacon);
        h.update((name.len() as u64).to_be_bytes());
        h.update(name.as_bytes());
        h.update(i.to_be_bytes());
        <[u8; 32]>::from(h.finalize())
    })
}

/// Lit's refusal of code over the size bound, word for word.
fn code_too_large(len: usize, max: usize) -> ApiError {
    ApiError::too_large(format!(
        "Code payload is too large ({len} bytes). Max length is {max} bytes."
    ))
}

/// The number of bytes `b64` (standard base64, padded) decodes to, read
/// from its length alone.
fn base64_decoded_len(b64: &str) -> usize {
    let padding = b64.bytes().rev().take(2).filter(|&b| b == b'=').count();
    (b64.len() / 4 * 3).saturating_sub(padding)
}

fn decode_code(b64: &str, max: usize) -> Result<Vec<u8>, ApiError> {
    let b64 = b64.trim();
    // refused before decoding: the payload's size is known from its length
    let len = base64_decoded_len(b64);
    if len > max + 3 {
        return Err(code_too_large(len, max));
    }
    let code = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| {
            ApiError::bad_request("NodeInvalidCode", format!("code is not base64: {e}"))
        })?;
    if code.len() > max {
        return Err(code_too_large(code.len(), max));
    }
    Ok(code)
}

/// Parse a token id as Lit gives it: `0x` hex or a decimal string.
fn parse_token_id(v: &serde_json::Value) -> Result<[u8; 32], HostError> {
    let text = match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => return Err(HostError::failed("tokenId must be a string")),
    };
    let bad = || HostError::failed(format!("invalid tokenId {text}"));
    if let Some(h) = text.strip_prefix("0x") {
        let bytes = hex::decode(h).map_err(|_| bad())?;
        if bytes.len() > 32 {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        out[32 - bytes.len()..].copy_from_slice(&bytes);
        return Ok(out);
    }
    let mut out = [0u8; 32];
    for c in text.chars() {
        let d = c.to_digit(10).ok_or_else(bad)?;
        let mut carry = d;
        for b in out.iter_mut().rev() {
            let v = u32::from(*b) * 10 + carry;
            *b = (v & 0xff) as u8;
            carry = v >> 8;
        }
        if carry != 0 {
            return Err(bad());
        }
    }
    Ok(out)
}

/// How one run of an action is held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunOptions {
    /// Keep a replay record of the run: the execute request's `recordRun`.
    pub record: bool,
    /// Why the action runs, which decides what it may do.
    pub kind: RunKind,
    /// The request's HTTP headers, for `Lit.Headers` (empty when the run
    /// is not an HTTP request's).
    pub http_headers: Vec<(String, String)>,
}

/// Why an action runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunKind {
    /// `executeJs`: everything the caller's credential and the PKPs'
    /// permissions allow.
    Execute,
    /// An access-control condition: it runs for whoever asks to decrypt and
    /// must never make the network sign.
    Condition,
    /// A custom auth action of `sign_session_key`: it only decides whether
    /// a session may be made, with no auth signature behind it, so it may
    /// not sign, decrypt nor broadcast.
    CustomAuth,
}

/// The refusal a signing operation gets in a condition action.
pub(crate) const SIGNING_DISABLED: &str = "signing is disabled in access-control condition actions: a condition action may not obtain a signature share";
/// The refusal a signing operation gets in a custom auth action (Lit's text).
pub(crate) const SIGNING_NEEDS_AUTH_SIG: &str = "You can not sign without providing an auth_sig.";
/// The refusal decryption and broadcasts get in a custom auth action.
pub(crate) const CUSTOM_AUTH_LIMITS: &str =
    "a custom auth action may not decrypt nor broadcast: it runs without an auth_sig";

impl RunKind {
    /// Why this kind of run may not ask for a signature share, if it may not.
    pub(crate) fn signing_refused(self) -> Option<&'static str> {
        match self {
            RunKind::Execute => None,
            RunKind::Condition => Some(SIGNING_DISABLED),
            RunKind::CustomAuth => Some(SIGNING_NEEDS_AUTH_SIG),
        }
    }
}

/// What one run of an action produced at this node.
pub(crate) struct ActionRun {
    /// Signature shares by name.
    pub signed_data: BTreeMap<String, ExecuteSignedShare>,
    /// What the action passed to `setResponse`.
    pub response: String,
    /// Console output.
    pub logs: String,
    /// The action called `decryptToSingleNode` (see
    /// [`ExecuteResponse::response_per_node`]).
    pub response_per_node: bool,
    /// `claimKey` claims by key id.
    pub claim_data: serde_json::Map<String, serde_json::Value>,
}

// ---- the host ----

/// The node's [`Host`] for one execution.
pub struct ExecHost {
    pub(crate) node: Arc<Node>,
    /// Why this run runs, which bounds what it may do (see [`RunKind`]).
    pub(crate) kind: RunKind,
    /// The run's leader beacon, once computed (see [`Node::leader_beacon`]).
    pub(crate) beacon: tokio::sync::OnceCell<[u8; 32]>,
    pub(crate) request_id: String,
    pub(crate) caller: [u8; 20],
    /// What the caller's credential grants (`None`: nothing beyond running
    /// this action, as for condition actions and custom auth).
    pub(crate) credential: Option<candela_api::session::Caller>,
    pub(crate) action_cid: String,
    /// `decryptAndCombine` / `decryptToSingleNode` calls so far in this run
    /// (each exchange gets its own topic; runs are deterministic, so every
    /// node numbers its calls alike).
    pub(crate) decryptions: std::sync::atomic::AtomicU32,
    /// Set when the action calls `decryptToSingleNode` or `encrypt` (whose
    /// ciphertexts are randomized per node): its response may then differ
    /// from node to node by design.
    pub(crate) single_node: std::sync::atomic::AtomicBool,
    /// `claimKey` claims by key id (see [`crate::claim_key`]).
    pub(crate) claims: Mutex<serde_json::Map<String, serde_json::Value>>,
    /// This execution's permission reads, shared by all its signatures.
    permissions: Arc<crate::permit::PermissionCache>,
    names: Mutex<BTreeSet<String>>,
    shares: Mutex<BTreeMap<String, ExecuteSignedShare>>,
    leaders: Mutex<HashMap<String, u32>>,
}

fn check_shared_size(value: &str) -> Result<(), HostError> {
    if value.len() > MAX_SHARED_VALUE {
        return Err(HostError::failed(format!(
            "a value shared with the other nodes may be at most {MAX_SHARED_VALUE} bytes, got {}",
            value.len()
        )));
    }
    Ok(())
}

pub(crate) fn host_err(e: ApiError) -> HostError {
    if e.status == axum::http::StatusCode::FORBIDDEN {
        HostError::Denied(e.message)
    } else {
        HostError::Failed(format!("{}: {}", e.code, e.message))
    }
}

impl ExecHost {
    /// The chosen node of this run for `name` (`runOnce`,
    /// `decryptToSingleNode`): derived from the run's leader beacon, the
    /// network's threshold BLS signature on the request id (see
    /// [`leader_beacon`]), never from what the client chose alone. The
    /// beacon costs one exchange between the nodes, once per run.
    pub(crate) async fn leader(&self, name: &str) -> Result<u32, HostError> {
        let beacon = self
            .beacon
            .get_or_try_init(|| self.compute_beacon())
            .await?;
        leader_from_beacon(beacon, name, &self.node.live_set())
            .ok_or_else(|| HostError::failed("no live node to choose"))
    }

    /// Exchange this node's share of the leader beacon with the others and
    /// combine the valid ones.
    async fn compute_beacon(&self) -> Result<[u8; 32], HostError> {
        let bls = self
            .node
            .bls_key()
            .ok_or_else(|| HostError::failed("the network's BLS key is not generated yet"))?;
        let mine = self
            .node
            .bls_share(&bls, &leader_beacon_message(&self.request_id))
            .map_err(host_err)?;
        let values = self
            .exchange("leader-beacon", &mine.to_hex(), false)
            .await?;
        let shares = values
            .iter()
            .filter_map(|(from, v)| {
                candela_bls::BlsSignatureShare::from_hex(v)
                    .ok()
                    .filter(|s| s.node() == *from)
            })
            .collect();
        leader_beacon(&bls.public_set(), &self.request_id, shares)
            .map_err(|e| HostError::failed(format!("choosing the run's node: {e}")))
    }

    pub(crate) fn deadline(&self) -> tokio::time::Instant {
        tokio::time::Instant::now()
            + Duration::from_millis(self.node.cfg.actions.collect_timeout_ms)
    }

    /// Authorise and compute this node's share for one signature request.
    async fn share(&self, req: &SignRequest) -> Result<ExecuteSignedShare, HostError> {
        if let Some(why) = self.kind.signing_refused() {
            return Err(HostError::Denied(why.into()));
        }
        let name = &req.sig_name;
        self.claim_sig_name(name)?;
        let personal = req.kind == candela_actions::SignKind::EthPersonalMessage;
        let pkp = self.permitted_pkp(&req.public_key, personal).await?;
        crate::scheme_signing::check_pkp_key_type(
            candela_frost::SigningScheme::EcdsaK256Sha256,
            &pkp,
        )
        .map_err(|e| HostError::failed(e.to_string()))?;
        let rid = format!("{}:{}", self.request_id, name);
        let r = self
            .node
            .sign_share(&rid, &req.to_sign, &pkp, self.node.wait_until(None))
            .await
            .map_err(host_err)?;
        Ok(ExecuteSignedShare::from_pkp_sign_response(r, name))
    }

    /// Reserve `name` for one signature of this run: a name is used once.
    pub(crate) fn claim_sig_name(&self, name: &str) -> Result<(), HostError> {
        if name.len() > MAX_SIG_NAME {
            return Err(HostError::failed(format!(
                "sigName is longer than {MAX_SIG_NAME} bytes"
            )));
        }
        if !self
            .names
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_string())
        {
            return Err(HostError::failed(format!(
                "duplicate sigName {name:?}: each signature of a run needs its own name"
            )));
        }
        Ok(())
    }

    /// The PKP `public_key` names, once this run (its action, or its
    /// caller's credential) is checked to be permitted to sign with it.
    pub(crate) async fn permitted_pkp(
        &self,
        public_key: &str,
        personal_message: bool,
    ) -> Result<candela_registry::PkpRecord, HostError> {
        let pk = derive::parse_public_key(public_key)
            .map_err(|e| HostError::failed(format!("invalid publicKey: {e}")))?;
        let pkp = self.node.signable_pkp(&pk).await.map_err(host_err)?;
        let permissions = Arc::clone(&self.permissions);
        let who = crate::permit::Requester {
            caller: self.caller,
            action_cid: Some(self.action_cid.clone()),
            may_sign_as_caller: self
                .credential
                .as_ref()
                .is_some_and(|c| c.allows(Ability::PkpSigning, &hex::encode(pkp.token_id))),
            personal_message,
        };
        crate::node::blocking(move || permissions.authorise(&pkp, &who).map(|_| pkp))
            .await
            .map_err(host_err)?
            .map_err(|e| host_err(crate::node::permit_error(e)))
    }

    /// Exchange this node's ECDSA share of signature `sig_name` with the
    /// other nodes, verify every share and combine a signature of `digest`
    /// under `pk` (a bad share is left out and named in the error when too
    /// few remain).
    pub(crate) async fn combine_ecdsa(
        &self,
        sig_name: &str,
        share: &ExecuteSignedShare,
        pk: &candela_crypto::AffinePoint,
        digest: &[u8; 32],
    ) -> Result<candela_crypto::ecdsa::Signature, HostError> {
        let topic = format!("combine/{sig_name}");
        let mine = serde_json::to_string(share).map_err(|e| HostError::failed(e.to_string()))?;
        let values = self.exchange(&topic, &mine, false).await?;
        let answers: BTreeMap<u32, PkpSignResponse> = values
            .iter()
            .filter_map(|(i, v)| {
                serde_json::from_str::<ExecuteSignedShare>(v)
                    .ok()
                    .filter(|s| s.share_index == *i)
                    .map(|s| (*i, s.to_pkp_sign_response()))
            })
            .collect();
        let root = self
            .node
            .key()
            .ok_or_else(|| HostError::failed("root key not generated yet"))?
            .public_key;
        let identity_keys = self.node.identity_keys();
        let net = candela_api::combine::SigningNetwork {
            root: &root,
            threshold: self.node.threshold(),
            identity_keys: &identity_keys,
        };
        let sig = candela_api::combine::verify_and_combine_shares(&net, &answers, pk, digest)
            .map_err(|e| HostError::failed(e.to_string()))?;
        Ok(sig.signature)
    }

    /// Send `value` to every node and wait for every live node's value.
    /// A `private` value is encrypted to each recipient.
    pub(crate) async fn exchange(
        &self,
        topic: &str,
        value: &str,
        private: bool,
    ) -> Result<BTreeMap<u32, String>, HostError> {
        check_shared_size(value)?;
        let live = self.node.live_set();
        if private {
            for to in self.node.committee() {
                self.node.send_private(to, &self.request_id, topic, value);
            }
        } else {
            self.node.publish(&self.request_id, topic, value);
        }
        let key = mailbox_key(&self.request_id, topic);
        let values = self
            .node
            .mailbox
            .wait(&key, self.deadline(), |v| {
                live.iter().all(|i| v.contains_key(i))
            })
            .await;
        if values.len() < self.node.threshold() {
            return Err(HostError::failed(format!(
                "only {} of the {} nodes needed shared a value for {topic} in time",
                values.len(),
                self.node.threshold()
            )));
        }
        Ok(values)
    }
}

#[async_trait]
impl Host for ExecHost {
    async fn fetch(&self, request: FetchRequest) -> Result<FetchResponse, HostError> {
        let cfg = &self.node.cfg.actions;
        let url = check_fetch_url(&request.url, cfg.fetch_allow_loopback)?;
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|_| HostError::failed(format!("invalid method {}", request.method)))?;
        let mut rb = self
            .node
            .action_http
            .request(method, url)
            .timeout(Duration::from_millis(cfg.fetch_timeout_ms));
        for (k, v) in &request.headers {
            rb = rb.header(k.as_str(), v.as_str());
        }
        if let Some(body) = request.body {
            rb = rb.body(body);
        }
        let mut resp = rb
            .send()
            .await
            .map_err(|e| HostError::failed(format!("fetch failed: {}", error_chain(&e))))?;
        let max = cfg.fetch_max_response_bytes;
        if resp.content_length().is_some_and(|l| l as usize > max) {
            return Err(HostError::failed(format!(
                "fetch response is larger than {max} bytes"
            )));
        }
        let status = resp.status();
        let final_url = resp.url().to_string();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| HostError::failed(format!("fetch failed: {}", error_chain(&e))))?
        {
            if body.len() + chunk.len() > max {
                return Err(HostError::failed(format!(
                    "fetch response is larger than {max} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(FetchResponse {
            status: status.as_u16(),
            status_text: status.canonical_reason().unwrap_or("").to_string(),
            url: final_url,
            headers,
            body,
        })
    }

    async fn sign_ecdsa(&self, request: SignRequest) -> Result<(), HostError> {
        if let Some(why) = self.kind.signing_refused() {
            return Err(HostError::Denied(why.into()));
        }
        let share = self.share(&request).await?;
        self.shares
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(request.sig_name.clone(), share);
        Ok(())
    }

    async fn sign_and_combine_ecdsa(&self, request: SignRequest) -> Result<String, HostError> {
        if let Some(why) = self.kind.signing_refused() {
            return Err(HostError::Denied(why.into()));
        }
        let share = self.share(&request).await?;
        let pk = derive::parse_public_key(&request.public_key)
            .map_err(|e| HostError::failed(format!("invalid publicKey: {e}")))?;
        let sig = self
            .combine_ecdsa(&request.sig_name, &share, &pk, &request.to_sign)
            .await
            .map_err(|e| HostError::failed(format!("signAndCombineEcdsa: {e}")))?;
        // Lit's exact shape (r as a compressed point, s, v = recovery id):
        // Lit's documented code strips r's first byte before joinSignature.
        Ok(candela_actions::lit_combined_signature_json(
            &sig.r_bytes(),
            &sig.s_bytes(),
            sig.recid,
        ))
    }

    async fn sign_and_combine(&self, request: SchemeSignRequest) -> Result<String, HostError> {
        if let Some(why) = self.kind.signing_refused() {
            return Err(HostError::Denied(why.into()));
        }
        let op = "signAndCombine";
        let scheme = crate::scheme_signing::action_scheme(op, &request.signing_scheme)?;
        let public_key = request
            .public_key
            .as_deref()
            .ok_or_else(|| HostError::failed("signAndCombine: publicKey is required"))?;
        scheme
            .check_message(&request.to_sign)
            .map_err(|e| HostError::failed(format!("{op}: {e}")))?;
        self.claim_sig_name(&request.sig_name)?;
        let pkp = self.permitted_pkp(public_key, false).await?;
        crate::scheme_signing::check_pkp_key_type(scheme, &pkp)
            .map_err(|e| HostError::failed(format!("{op}: {e}")))?;
        let source = crate::scheme_signing::KeySource::Pkp(&pkp.key_id);
        self.sign_with_scheme(op, scheme, source, &request).await
    }

    async fn sign_as_action(&self, request: SchemeSignRequest) -> Result<String, HostError> {
        if let Some(why) = self.kind.signing_refused() {
            return Err(HostError::Denied(why.into()));
        }
        let op = "signAsAction";
        let scheme = crate::scheme_signing::action_scheme(op, &request.signing_scheme)?;
        scheme
            .check_message(&request.to_sign)
            .map_err(|e| HostError::failed(format!("{op}: {e}")))?;
        self.claim_sig_name(&request.sig_name)?;
        let cid = self.action_cid.clone();
        let source = crate::scheme_signing::KeySource::Action(&cid);
        self.sign_with_scheme(op, scheme, source, &request).await
    }

    async fn get_action_public_key(
        &self,
        signing_scheme: String,
        action_cid: String,
    ) -> Result<String, HostError> {
        let scheme = crate::scheme_signing::action_scheme("getActionPublicKey", &signing_scheme)?;
        self.action_public_key(scheme, &action_cid)
    }

    async fn verify_action_signature(
        &self,
        signing_scheme: String,
        action_cid: String,
        to_sign: Vec<u8>,
        sign_output: String,
    ) -> Result<bool, HostError> {
        let scheme =
            crate::scheme_signing::action_scheme("verifyActionSignature", &signing_scheme)?;
        self.verify_action_output(scheme, &action_cid, &to_sign, &sign_output)
    }

    async fn run_once_is_leader(&self, name: String) -> Result<bool, HostError> {
        let leader = self.leader(&format!("once/{name}")).await?;
        self.leaders
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name, leader);
        Ok(leader == self.node.me)
    }

    async fn run_once_publish(&self, name: String, value: String) -> Result<(), HostError> {
        check_shared_size(&value)?;
        self.node
            .publish(&self.request_id, &format!("once/{name}"), &value);
        Ok(())
    }

    async fn run_once_collect(&self, name: String) -> Result<String, HostError> {
        let known = self
            .leaders
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&name)
            .copied();
        let leader = match known {
            Some(l) => l,
            None => self.leader(&format!("once/{name}")).await?,
        };
        let key = mailbox_key(&self.request_id, &format!("once/{name}"));
        let values = self
            .node
            .mailbox
            .wait(&key, self.deadline(), |v| v.contains_key(&leader))
            .await;
        values.get(&leader).cloned().ok_or_else(|| {
            HostError::failed(format!(
                "runOnce {name}: node {leader} (the chosen node) did not share its result in time"
            ))
        })
    }

    async fn broadcast_and_collect(
        &self,
        name: String,
        value: String,
    ) -> Result<Vec<String>, HostError> {
        if self.kind == RunKind::CustomAuth {
            return Err(HostError::Denied(CUSTOM_AUTH_LIMITS.into()));
        }
        let values = self.exchange(&format!("bc/{name}"), &value, false).await?;
        Ok(crate::lit_ops::peers_first(values, self.node.me))
    }

    async fn load_action(&self, ipfs_id: String) -> Result<String, HostError> {
        self.node.stored_action(&ipfs_id).map_err(host_err)
    }

    async fn get_rpc_url(&self, chain: String) -> Result<String, HostError> {
        self.node
            .cfg
            .actions
            .rpc_urls
            .get(&chain)
            .cloned()
            .ok_or_else(|| {
                let known: Vec<&String> = self.node.cfg.actions.rpc_urls.keys().collect();
                HostError::failed(format!(
                    "no RPC URL for chain {chain:?} on this node (known: {known:?})"
                ))
            })
    }

    async fn get_latest_nonce(&self, address: String, chain: String) -> Result<String, HostError> {
        let addr = candela_crypto::derive::parse_address(&address)
            .map_err(|e| HostError::failed(format!("getLatestNonce: {e}")))?;
        let url = self.get_rpc_url(chain).await?;
        let params = serde_json::json!([format!("0x{}", hex::encode(addr)), "latest"]);
        let count = json_rpc(
            &url,
            "eth_getTransactionCount",
            params,
            Duration::from_millis(self.node.cfg.actions.fetch_timeout_ms),
        )
        .await
        .map_err(HostError::failed)?;
        count
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| HostError::failed(format!("eth_getTransactionCount answered {count}")))
    }

    async fn call_op(
        &self,
        op: String,
        args: serde_json::Value,
    ) -> Result<serde_json::Value, HostError> {
        if crate::action_encryption::OPS.contains(&op.as_str()) {
            return self.encryption_op(&op, args).await;
        }
        if op == "callContract" {
            return self.call_contract(&args).await;
        }
        if op == "claimKey" {
            return self.claim_key(&args).await;
        }
        if !PERMISSION_OPS.contains(&op.as_str()) {
            return Err(HostError::Unsupported(op));
        }
        let registry = self.node.registry.clone();
        crate::node::blocking(move || permission_op(registry.as_ref(), &op, &args))
            .await
            .map_err(host_err)?
    }
}

/// The `Lit.Actions` functions that read the registry.
const PERMISSION_OPS: &[&str] = &[
    "isPermittedAction",
    "isPermittedAddress",
    "isPermittedAuthMethod",
    "getPermittedActions",
    "getPermittedAddresses",
    "getPermittedAuthMethods",
    "getPermittedAuthMethodScopes",
];

/// An auth method type given as a number or a decimal / 0x-hex string.
fn parse_auth_method_type(v: &serde_json::Value) -> Result<u64, HostError> {
    let bad = || HostError::failed(format!("invalid authMethodType {v}"));
    match v {
        serde_json::Value::Number(n) => n.as_u64().ok_or_else(bad),
        serde_json::Value::String(s) => match s.strip_prefix("0x").or(s.strip_prefix("0X")) {
            Some(h) => u64::from_str_radix(h, 16).map_err(|_| bad()),
            None => s.parse().map_err(|_| bad()),
        },
        _ => Err(bad()),
    }
}

/// `userId` bytes, as the prelude passes them (an array of byte values).
fn parse_user_id(v: &serde_json::Value) -> Result<Vec<u8>, HostError> {
    serde_json::from_value(v.clone()).map_err(|_| HostError::failed("userId must be bytes"))
}

/// One registry read of an action, answered in the shape Lit's nodes use:
/// CIDs as base58 strings, addresses as lowercase 0x-hex, auth methods as
/// `{auth_method_type, id, user_pubkey}` with 0x-hex values.
pub(crate) fn permission_op(
    reg: &dyn Registry,
    op: &str,
    args: &serde_json::Value,
) -> Result<serde_json::Value, HostError> {
    use serde_json::json;
    let rerr = |e: candela_registry::RegistryError| HostError::failed(format!("{op}: {e}"));
    let token = parse_token_id(&args["tokenId"])?;
    let hex0x = |b: &[u8]| format!("0x{}", hex::encode(b));
    Ok(match op {
        "isPermittedAction" => {
            let cid = args["ipfsId"]
                .as_str()
                .ok_or_else(|| HostError::failed("isPermittedAction: missing ipfsId"))?;
            json!(reg.is_permitted_action(&token, cid).map_err(rerr)?)
        }
        "isPermittedAddress" => {
            let text = args["address"]
                .as_str()
                .ok_or_else(|| HostError::failed("isPermittedAddress: missing address"))?;
            let address = derive::parse_address(text)
                .map_err(|e| HostError::failed(format!("isPermittedAddress: {e}")))?;
            json!(reg.is_permitted_address(&token, address).map_err(rerr)?)
        }
        "isPermittedAuthMethod" => {
            let t = parse_auth_method_type(&args["authMethodType"])?;
            let id = parse_user_id(&args["userId"])?;
            json!(reg.is_permitted_auth_method(&token, t, &id).map_err(rerr)?)
        }
        "getPermittedActions" => json!(reg.permitted_actions(&token).map_err(rerr)?),
        "getPermittedAddresses" => json!(reg
            .permitted_addresses(&token)
            .map_err(rerr)?
            .iter()
            .map(|a| hex0x(a))
            .collect::<Vec<_>>()),
        "getPermittedAuthMethods" => json!(reg
            .permitted_auth_methods(&token)
            .map_err(rerr)?
            .iter()
            .map(|m| json!({
                "auth_method_type": format!("0x{:X}", m.auth_method_type),
                "id": hex0x(&m.id),
                "user_pubkey": hex0x(&m.user_pubkey),
            }))
            .collect::<Vec<_>>()),
        "getPermittedAuthMethodScopes" => {
            let t = parse_auth_method_type(&args["authMethodType"])?;
            let id = parse_user_id(&args["userId"])?;
            let max = args["maxScopeId"].as_u64().unwrap_or(100).min(256);
            json!(reg.auth_method_scopes(&token, t, &id, max).map_err(rerr)?)
        }
        other => return Err(HostError::Unsupported(other.to_string())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetch_policy_refuses_private_and_link_local_addresses() {
        for ip in [
            "10.1.2.3",
            "192.168.1.1",
            "172.16.0.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "::",
        ] {
            assert!(!ip_allowed(ip.parse().unwrap(), true), "{ip} allowed");
        }
        assert!(ip_allowed("8.8.8.8".parse().unwrap(), false));
        assert!(ip_allowed("2606:4700::1111".parse().unwrap(), false));
    }

    #[test]
    fn fetch_refuses_every_ipv6_transition_range_and_192_0_0_0_24_before_connecting() {
        // (address, words the error must carry): each embeds or reaches a
        // private IPv4 address through a translator or relay, or is in a
        // range actions may not reach.
        for (ip, range) in [
            ("64:ff9b::a00:1", "NAT64 (64:ff9b::/96)"),
            ("64:ff9b::808:808", "NAT64 (64:ff9b::/96)"),
            ("64:ff9b:1::a00:1", "local-use NAT64"),
            ("2002:a00:1::1", "6to4 (2002::/16)"),
            ("2002:808:808::1", "6to4 (2002::/16)"),
            ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "Teredo (2001::/32)"),
            ("::a00:1", "IPv4-compatible (::/96)"),
            ("::808:808", "IPv4-compatible (::/96)"),
            ("::ffff:0:a00:1", "IPv4-translated"),
            ("fec0::1", "site-local (fec0::/10)"),
            ("feff::1", "site-local (fec0::/10)"),
            ("192.0.0.1", "192.0.0.0/24"),
            ("192.0.0.170", "192.0.0.0/24"),
            ("::ffff:192.0.0.8", "192.0.0.0/24"),
            ("::ffff:10.1.2.3", "private (10.0.0.0/8)"),
            ("::ffff:169.254.169.254", "link-local (169.254.0.0/16)"),
            ("::ffff:172.16.0.1", "private (172.16.0.0/12)"),
        ] {
            let addr: IpAddr = ip.parse().unwrap();
            assert!(!ip_allowed(addr, true), "{ip} allowed");
            let host = match addr {
                IpAddr::V4(_) => ip.to_string(),
                IpAddr::V6(_) => format!("[{ip}]"),
            };
            // the check is made on the URL, before a client is even asked
            match check_fetch_url(&format!("http://{host}:80/x"), true) {
                Err(HostError::Denied(why)) => {
                    assert!(why.contains("may not reach"), "{ip}: {why}");
                    assert!(why.contains(range), "{ip}: {why}");
                }
                other => panic!("{ip}: {other:?}"),
            }
        }
        // neighbours of those ranges stay reachable
        for ip in [
            "192.0.1.1",
            "191.255.255.255",
            "2003::1",
            "2001:4860:4860::8888",
            "2606:4700::1111",
        ] {
            assert!(ip_allowed(ip.parse().unwrap(), false), "{ip} refused");
        }
        assert!(check_fetch_url("http://[2606:4700::1111]/", false).is_ok());
    }

    #[test]
    fn loopback_is_reachable_only_when_allowed() {
        for ip in ["127.0.0.1", "::1", "::ffff:127.0.0.1"] {
            assert!(!ip_allowed(ip.parse().unwrap(), false), "{ip}");
            assert!(ip_allowed(ip.parse().unwrap(), true), "{ip}");
        }
    }

    fn fetch_cfg(allow_loopback: bool) -> ActionsConfig {
        ActionsConfig {
            fetch_allow_loopback: allow_loopback,
            ..ActionsConfig::default()
        }
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_unless_allowed() {
        let client = fetch_client(&fetch_cfg(false)).unwrap();
        let err = client.get("http://localhost:9/").send().await.unwrap_err();
        assert!(
            error_chain(&err).contains("may not reach"),
            "{}",
            error_chain(&err)
        );
        assert!(literal_host_refused(&"http://127.0.0.1:9/".parse().unwrap(), false).is_some());
        assert!(literal_host_refused(&"http://[::1]:9/".parse().unwrap(), false).is_some());
        assert!(literal_host_refused(&"http://127.0.0.1:9/".parse().unwrap(), true).is_none());
        assert!(literal_host_refused(&"http://example.com/".parse().unwrap(), false).is_none());
    }

    #[tokio::test]
    async fn a_redirect_to_a_private_address_is_not_followed() {
        use axum::response::Redirect;
        let app = axum::Router::new().route(
            "/go",
            axum::routing::get(|| async { Redirect::temporary("http://10.0.0.1/secret") }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let client = fetch_client(&fetch_cfg(true)).unwrap();
        let err = client
            .get(format!("http://{addr}/go"))
            .send()
            .await
            .unwrap_err();
        assert!(
            error_chain(&err).contains("10.0.0.1 is an address actions may not reach"),
            "{}",
            error_chain(&err)
        );
    }

    /// Every node's share of the leader beacon of `request_id`.
    fn beacon_shares(
        keys: &BTreeMap<u32, candela_bls::BlsKeyShare>,
        request_id: &str,
    ) -> Vec<candela_bls::BlsSignatureShare> {
        keys.values()
            .map(|k| k.sign_share(&leader_beacon_message(request_id)).unwrap())
            .collect()
    }

    #[test]
    fn the_run_leader_is_the_same_from_any_threshold_of_valid_beacon_shares() {
        let keys = candela_bls::sim::dkg(5, 4).unwrap();
        let public = keys[&0].public_set();
        let live: BTreeSet<u32> = (0..5).collect();
        let all = beacon_shares(&keys, "req-1");
        let beacon = leader_beacon(&public, "req-1", all.clone()).unwrap();
        // any 4 of the 5 shares give the same beacon
        for skip in 0..5 {
            let some: Vec<_> = all.iter().filter(|s| s.node() != skip).cloned().collect();
            assert_eq!(leader_beacon(&public, "req-1", some).unwrap(), beacon);
        }
        // a node that sends a share of another message is left out, and
        // cannot move the beacon
        let mut bent = all.clone();
        bent[2] = keys[&2]
            .sign_share(&leader_beacon_message("req-2"))
            .unwrap();
        assert_eq!(leader_beacon(&public, "req-1", bent).unwrap(), beacon);
        // with only threshold - 1 shares there is no beacon (and no leader)
        let too_few: Vec<_> = all.iter().take(3).cloned().collect();
        let err = leader_beacon(&public, "req-1", too_few).unwrap_err();
        assert!(
            err.contains("3 valid leader-beacon shares of the 4 needed"),
            "{err}"
        );
        let leader = leader_from_beacon(&beacon, "once/tx", &live).unwrap();
        assert!(live.contains(&leader));
        assert_eq!(leader_from_beacon(&beacon, "once/tx", &live), Some(leader));
    }

    #[test]
    fn the_run_leader_is_not_chosen_by_the_request_id_the_client_picks() {
        // The same request ids and names on two networks (two BLS keys):
        // the request id alone does not decide the leader, so a client
        // cannot grind request ids offline to land a run on a node it
        // chose; it would need the network's threshold signature of each.
        let a = candela_bls::sim::dkg(5, 4).unwrap();
        let b = candela_bls::sim::dkg(5, 4).unwrap();
        let live: BTreeSet<u32> = (0..5).collect();
        let mut differ = 0;
        let mut chosen = BTreeSet::new();
        for i in 0..32 {
            let rid = format!("client-chosen-{i}");
            let beacon_a =
                leader_beacon(&a[&0].public_set(), &rid, beacon_shares(&a, &rid)).unwrap();
            let beacon_b =
                leader_beacon(&b[&0].public_set(), &rid, beacon_shares(&b, &rid)).unwrap();
            let la = leader_from_beacon(&beacon_a, "once/x", &live).unwrap();
            let lb = leader_from_beacon(&beacon_b, "once/x", &live).unwrap();
            differ += usize::from(la != lb);
            chosen.insert(la);
        }
        assert!(differ > 0, "the leader followed the request id alone");
        assert!(chosen.len() > 1, "the leader never changes");
        // A beacon share is a signature of a domain-separated message that
        // is neither a condition identity nor a 32-byte session digest, so
        // no other endpoint's BLS share reveals it.
        let msg = leader_beacon_message("r");
        assert_ne!(msg.len(), 32);
        assert!(msg.starts_with(LEADER_BEACON_DOMAIN.as_bytes()));
        assert!(!msg.starts_with(b"lit-accesscontrolcondition://"));
    }

    #[test]
    fn token_ids_parse_as_hex_or_decimal() {
        let hex_id = parse_token_id(&serde_json::json!("0x0100")).unwrap();
        let dec_id = parse_token_id(&serde_json::json!("256")).unwrap();
        assert_eq!(hex_id, dec_id);
        assert_eq!(hex_id[30..], [1, 0]);
        assert!(parse_token_id(&serde_json::json!("12a")).is_err());
    }

    #[test]
    fn code_larger_than_the_limit_is_refused_before_decoding() {
        let big = base64::engine::general_purpose::STANDARD.encode(vec![b'x'; 100]);
        assert_eq!(
            decode_code(&big, 99).unwrap_err().code,
            "NodeRequestTooLarge"
        );
        assert_eq!(decode_code(&big, 100).unwrap().len(), 100);
    }

    #[test]
    fn code_payload_is_too_large_names_both_sizes_in_lits_words() {
        let code = base64::engine::general_purpose::STANDARD.encode(vec![b'x'; 14]);
        assert_eq!(
            decode_code(&code, 10).unwrap_err().message,
            "Code payload is too large (14 bytes). Max length is 10 bytes."
        );
        // refused before decoding, with the exact size too
        let big = base64::engine::general_purpose::STANDARD.encode(vec![b'x'; 1000]);
        assert_eq!(
            decode_code(&big, 10).unwrap_err().message,
            "Code payload is too large (1000 bytes). Max length is 10 bytes."
        );
    }

    #[test]
    fn js_params_larger_than_the_limit_are_refused_before_parsing() {
        let body = |n: usize| {
            serde_json::to_vec(&serde_json::json!({"code": "", "jsParams": {"s": "a".repeat(n)}}))
                .unwrap()
        };
        // {"s":"…"} is 8 bytes of JSON around the string
        assert!(check_js_params_size(&body(MAX_JS_PARAMS_BYTES - 8)).is_ok());
        let e = check_js_params_size(&body(MAX_JS_PARAMS_BYTES - 7)).unwrap_err();
        assert_eq!(e.code, "NodeRequestTooLarge");
        assert!(e.message.contains("jsParams"), "{}", e.message);
        // no jsParams, or a body the parser will explain, pass through
        assert!(check_js_params_size(br#"{"code": ""}"#).is_ok());
        assert!(check_js_params_size(b"{not json").is_ok());
    }

    #[tokio::test]
    async fn a_mailbox_wait_ends_when_the_values_arrive() {
        let m = Arc::new(Mailbox::default());
        let m2 = Arc::clone(&m);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            m2.put("k", 1, "b".into());
            m2.put("k", 1, "ignored".into());
        });
        m.put("k", 0, "a".into());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let v = m.wait("k", deadline, |v| v.len() == 2).await;
        assert_eq!(v.into_values().collect::<Vec<_>>(), vec!["a", "b"]);
    }
}
