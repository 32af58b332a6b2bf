//! Recording a run's external inputs and replaying them.
//!
//! [`RecordingHost`] wraps a node's [`Host`] and notes every answer that
//! came from outside the sandbox: clock readings, `fetch` responses, RPC
//! answers, values other nodes shared (`runOnce`, `broadcastAndCollect`),
//! child action code and generic operations. A [`RunRecord`] holds them
//! with the run's inputs; [`ReplayHost`] answers the same operations from
//! the record, so [`crate::execute_with_report`] can run the action again,
//! anywhere, with the same inputs. Signing is never repeated in a replay:
//! `signEcdsa` succeeds without producing a share, `signAndCombineEcdsa`
//! returns the recorded combined signature.
//!
//! A record never holds secrets the action handled:
//! - a `fetch` is recorded as its method and its URL without user info,
//!   query or fragment; its request headers and body (where an action puts
//!   an API key) are not kept. A replay matches fetches on that and their
//!   order.
//! - the plaintext `decryptAndCombine` / `decryptToSingleNode` returned is
//!   withheld ([`HostCall::withheld`]), and is scrubbed (with every string
//!   of at least [`MIN_SCRUBBED_BYTES`] bytes inside it, when it is JSON)
//!   from everything else the record keeps: the response, logs, error and
//!   every other recorded request and answer. A replay stops at such a
//!   decryption with an error saying why.
//! - the `authSig` an operation was given and the `to_encrypt` plaintext of
//!   `encrypt` are left out of the recorded requests.
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::context::AuthContext;
use crate::error::HostError;
use crate::host::{FetchRequest, FetchResponse, Host, SchemeSignRequest, SignRequest};

/// One host operation of a run and its answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostCall {
    /// The operation (`fetch`, `getRpcUrl`, `runOnce.collect`, …).
    pub op: String,
    /// What the action asked, as JSON.
    pub request: Value,
    /// The answer, when the operation succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<Value>,
    /// The error, when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Why the answer was not recorded (it was a secret, such as decrypted
    /// plaintext): a replay cannot go past this call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withheld: Option<String>,
}

/// Shortest secret (in bytes) scrubbed from the rest of a record: shorter
/// ones would match ordinary text everywhere.
pub const MIN_SCRUBBED_BYTES: usize = 6;

/// What stands in a record where a secret was.
pub const WITHHELD: &str = "[withheld]";

/// Why a decryption's answer is not in the record.
pub const PLAINTEXT_WITHHELD: &str =
    "decrypted plaintext is never recorded; a replay cannot go past this decryption";

/// The operations whose answer is decrypted plaintext.
const DECRYPT_OPS: &[&str] = &["decryptAndCombine", "decryptToSingleNode"];

/// A URL as a record keeps it: scheme, host, port and path; user info,
/// query and fragment (where secrets travel) are dropped.
fn recorded_url(url: &str) -> String {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    let url = &url[..end];
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let auth_end = rest.find('/').unwrap_or(rest.len());
            let (authority, path) = rest.split_at(auth_end);
            let host = authority.rsplit('@').next().unwrap_or(authority);
            format!("{scheme}://{host}{path}")
        }
        None => url.to_string(),
    }
}

/// What a record keeps of the request of operation `op`: the same for the
/// recorder and the replay, so that they match.
pub fn recorded_request(op: &str, request: &Value) -> Value {
    match op {
        "fetch" => json!({
            "url": recorded_url(request["url"].as_str().unwrap_or_default()),
            "method": request["method"],
        }),
        "callOp" => {
            let mut r = request.clone();
            if let Some(args) = r.get_mut("args").and_then(Value::as_object_mut) {
                args.remove("authSig");
                if request["op"] == "encrypt" {
                    args.remove("to_encrypt");
                }
            }
            r
        }
        _ => request.clone(),
    }
}

/// Replace every secret in `text`.
fn scrub_str(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), WITHHELD);
        }
    }
    out
}

/// Replace every secret in `bytes`.
fn scrub_bytes(bytes: &[u8], secrets: &[String]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for s in secrets {
        let needle = s.as_bytes();
        let mut next = Vec::with_capacity(out.len());
        let mut i = 0;
        while i < out.len() {
            if out[i..].starts_with(needle) {
                next.extend_from_slice(WITHHELD.as_bytes());
                i += needle.len();
            } else {
                next.push(out[i]);
                i += 1;
            }
        }
        out = next;
    }
    out
}

/// Replace every secret in every string of `v`.
fn scrub_value(v: &mut Value, secrets: &[String]) {
    match v {
        Value::String(s) => *s = scrub_str(s, secrets),
        Value::Array(items) => items.iter_mut().for_each(|i| scrub_value(i, secrets)),
        Value::Object(map) => map.values_mut().for_each(|i| scrub_value(i, secrets)),
        _ => {}
    }
}

/// The secrets to look for in the rest of a record, given a decrypted
/// plaintext: itself, and every string inside it when it is JSON, each of
/// at least [`MIN_SCRUBBED_BYTES`].
fn secrets_of(plaintext: &str) -> Vec<String> {
    fn strings(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => out.push(s.clone()),
            Value::Array(items) => items.iter().for_each(|i| strings(i, out)),
            Value::Object(map) => map.values().for_each(|i| strings(i, out)),
            Value::Number(n) => out.push(n.to_string()),
            _ => {}
        }
    }
    let mut out = vec![plaintext.to_string()];
    if let Ok(v) = serde_json::from_str::<Value>(plaintext) {
        strings(&v, &mut out);
    }
    out.retain(|s| s.len() >= MIN_SCRUBBED_BYTES);
    out
}

/// Everything needed to run an execution again: its inputs, every external
/// answer in order, and what the node produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunRecord {
    /// The execution's request id.
    pub request_id: String,
    /// The CID of the action's code.
    pub action_cid: String,
    /// The action's code.
    pub code: String,
    /// The `jsParams` of the request.
    pub js_params: Option<Value>,
    /// What `Lit.Auth` showed.
    pub auth: AuthContext,
    /// The first clock reading (ms since the Unix epoch), if the action read
    /// the clock.
    pub started_at_ms: Option<f64>,
    /// Every clock reading, in order.
    pub clock: Vec<f64>,
    /// Every other external answer, in order.
    pub calls: Vec<HostCall>,
    /// The response the node returned.
    pub response: String,
    /// The node's logs.
    pub logs: String,
    /// The run's error, when it failed.
    pub error: Option<String>,
}

fn to_value<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

impl RunRecord {
    /// This record with every `secret` replaced by [`WITHHELD`] in the
    /// response, logs, error, `jsParams` and every recorded request and
    /// answer (fetch bodies included). The code is left alone.
    pub fn scrubbed(mut self, secrets: &[String]) -> RunRecord {
        if secrets.is_empty() {
            return self;
        }
        self.response = scrub_str(&self.response, secrets);
        self.logs = scrub_str(&self.logs, secrets);
        self.error = self.error.map(|e| scrub_str(&e, secrets));
        if let Some(p) = self.js_params.as_mut() {
            scrub_value(p, secrets);
        }
        for call in &mut self.calls {
            scrub_value(&mut call.request, secrets);
            call.error = call.error.take().map(|e| scrub_str(&e, secrets));
            let Some(answer) = call.answer.as_mut() else {
                continue;
            };
            if call.op == "fetch" {
                if let Ok(mut r) = serde_json::from_value::<FetchResponse>(answer.clone()) {
                    r.body = scrub_bytes(&r.body, secrets);
                    for (_, v) in &mut r.headers {
                        *v = scrub_str(v, secrets);
                    }
                    r.url = scrub_str(&r.url, secrets);
                    *answer = to_value(&r);
                    continue;
                }
            }
            scrub_value(answer, secrets);
        }
        self
    }
}

/// A [`Host`] that forwards to `inner` and records every external answer.
pub struct RecordingHost {
    inner: Arc<dyn Host>,
    calls: Mutex<Vec<HostCall>>,
    clock: Mutex<Vec<f64>>,
    secrets: Mutex<Vec<String>>,
}

impl RecordingHost {
    /// Record what `inner` answers.
    pub fn new(inner: Arc<dyn Host>) -> Self {
        RecordingHost {
            inner,
            calls: Mutex::new(Vec::new()),
            clock: Mutex::new(Vec::new()),
            secrets: Mutex::new(Vec::new()),
        }
    }

    /// The secrets seen so far (decrypted plaintexts and the strings inside
    /// them), to scrub from the record with [`RunRecord::scrubbed`].
    pub fn secrets(&self) -> Vec<String> {
        self.secrets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The clock readings and host calls recorded so far.
    pub fn recorded(&self) -> (Vec<f64>, Vec<HostCall>) {
        (
            self.clock.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            self.calls.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        )
    }

    fn note<T: Serialize>(&self, op: &str, request: Value, answer: &Result<T, HostError>) {
        let (answer, error) = match answer {
            Ok(a) => (Some(to_value(a)), None),
            Err(e) => (None, Some(e.to_string())),
        };
        self.push(HostCall {
            op: op.to_string(),
            request: recorded_request(op, &request),
            answer,
            error,
            withheld: None,
        });
    }

    fn push(&self, call: HostCall) {
        self.calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(call);
    }
}

#[async_trait]
impl Host for RecordingHost {
    fn op_enabled(&self, op: &str) -> bool {
        self.inner.op_enabled(op)
    }

    fn now_ms(&self) -> f64 {
        let t = self.inner.now_ms();
        self.clock.lock().unwrap_or_else(|p| p.into_inner()).push(t);
        t
    }

    async fn fetch(&self, request: FetchRequest) -> Result<FetchResponse, HostError> {
        let req = to_value(&request);
        let r = self.inner.fetch(request).await;
        self.note("fetch", req, &r);
        r
    }

    async fn sign_ecdsa(&self, request: SignRequest) -> Result<(), HostError> {
        let req = to_value(&request);
        let r = self.inner.sign_ecdsa(request).await;
        self.note("signEcdsa", req, &r);
        r
    }

    async fn sign_and_combine_ecdsa(&self, request: SignRequest) -> Result<String, HostError> {
        let req = to_value(&request);
        let r = self.inner.sign_and_combine_ecdsa(request).await;
        self.note("signAndCombineEcdsa", req, &r);
        r
    }

    async fn sign_and_combine(&self, request: SchemeSignRequest) -> Result<String, HostError> {
        let req = to_value(&request);
        let r = self.inner.sign_and_combine(request).await;
        self.note("signAndCombine", req, &r);
        r
    }

    async fn sign_as_action(&self, request: SchemeSignRequest) -> Result<String, HostError> {
        let req = to_value(&request);
        let r = self.inner.sign_as_action(request).await;
        self.note("signAsAction", req, &r);
        r
    }

    async fn get_action_public_key(
        &self,
        signing_scheme: String,
        action_cid: String,
    ) -> Result<String, HostError> {
        let req = json!([signing_scheme, action_cid]);
        let r = self
            .inner
            .get_action_public_key(signing_scheme, action_cid)
            .await;
        self.note("getActionPublicKey", req, &r);
        r
    }

    async fn verify_action_signature(
        &self,
        signing_scheme: String,
        action_cid: String,
        to_sign: Vec<u8>,
        sign_output: String,
    ) -> Result<bool, HostError> {
        let req = json!([
            signing_scheme,
            action_cid,
            hex::encode(&to_sign),
            sign_output
        ]);
        let r = self
            .inner
            .verify_action_signature(signing_scheme, action_cid, to_sign, sign_output)
            .await;
        self.note("verifyActionSignature", req, &r);
        r
    }

    async fn run_once_is_leader(&self, name: String) -> Result<bool, HostError> {
        let r = self.inner.run_once_is_leader(name.clone()).await;
        self.note("runOnce.isLeader", json!(name), &r);
        r
    }

    async fn run_once_publish(&self, name: String, value: String) -> Result<(), HostError> {
        self.inner.run_once_publish(name, value).await
    }

    async fn run_once_collect(&self, name: String) -> Result<String, HostError> {
        let r = self.inner.run_once_collect(name.clone()).await;
        self.note("runOnce.collect", json!(name), &r);
        r
    }

    async fn broadcast_and_collect(
        &self,
        name: String,
        value: String,
    ) -> Result<Vec<String>, HostError> {
        let req = json!({"name": name, "value": value});
        let r = self.inner.broadcast_and_collect(name, value).await;
        self.note("broadcastAndCollect", req, &r);
        r
    }

    async fn load_action(&self, ipfs_id: String) -> Result<String, HostError> {
        let r = self.inner.load_action(ipfs_id.clone()).await;
        self.note("loadAction", json!(ipfs_id), &r);
        r
    }

    async fn load_module(&self, ipfs_id: String) -> Result<String, HostError> {
        let r = self.inner.load_module(ipfs_id.clone()).await;
        self.note("loadModule", json!(ipfs_id), &r);
        r
    }

    async fn get_rpc_url(&self, chain: String) -> Result<String, HostError> {
        let r = self.inner.get_rpc_url(chain.clone()).await;
        self.note("getRpcUrl", json!(chain), &r);
        r
    }

    async fn get_latest_nonce(&self, address: String, chain: String) -> Result<String, HostError> {
        let req = json!({"address": address, "chain": chain});
        let r = self.inner.get_latest_nonce(address, chain).await;
        self.note("getLatestNonce", req, &r);
        r
    }

    async fn call_op(&self, op: String, args: Value) -> Result<Value, HostError> {
        let req = json!({"op": op, "args": args});
        let decrypts = DECRYPT_OPS.contains(&op.as_str());
        let r = self.inner.call_op(op, args).await;
        if decrypts {
            if let Ok(Value::String(plaintext)) = &r {
                self.secrets
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend(secrets_of(plaintext));
            }
            // the plaintext (or the null of a node that is not the chosen
            // one) is never recorded
            self.push(HostCall {
                op: "callOp".into(),
                request: recorded_request("callOp", &req),
                answer: None,
                error: r.as_ref().err().map(ToString::to_string),
                withheld: r.is_ok().then(|| PLAINTEXT_WITHHELD.to_string()),
            });
            return r;
        }
        self.note("callOp", req, &r);
        r
    }
}

/// A [`Host`] that answers every operation from a [`RunRecord`]: nothing
/// leaves the process and nothing is signed.
pub struct ReplayHost {
    calls: Mutex<Vec<(HostCall, bool)>>,
    clock: Mutex<VecDeque<f64>>,
    last_time: f64,
    divergences: Mutex<Vec<String>>,
}

/// What `signEcdsa` leaves in a replay's place of a share.
pub const NOT_SIGNED_IN_REPLAY: &str = "not signed in replay";

impl ReplayHost {
    /// Answer from `record`.
    pub fn new(record: &RunRecord) -> Self {
        ReplayHost {
            calls: Mutex::new(record.calls.iter().cloned().map(|c| (c, false)).collect()),
            clock: Mutex::new(record.clock.iter().copied().collect()),
            last_time: record.clock.last().copied().unwrap_or(0.0),
            divergences: Mutex::new(Vec::new()),
        }
    }

    /// Where the replay asked something the record does not hold exactly
    /// (answered with the next recorded call of the same operation, or
    /// failed).
    pub fn divergences(&self) -> Vec<String> {
        self.divergences
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn diverged(&self, why: String) {
        self.divergences
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(why);
    }

    /// The recorded answer to `op` with `request`: the first unused call
    /// with the same request (as a record keeps it), else the first unused
    /// call of the same op.
    fn answer(&self, op: &str, request: &Value) -> Result<Value, HostError> {
        let request = &recorded_request(op, request);
        let mut calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        let exact = calls
            .iter()
            .position(|(c, used)| !used && c.op == op && &c.request == request);
        let pos = match exact {
            Some(p) => p,
            None => {
                let next = calls.iter().position(|(c, used)| !used && c.op == op);
                drop(calls);
                match next {
                    Some(_) => self.diverged(format!(
                        "{op} {request}: not in the record; answered with the next recorded {op}"
                    )),
                    None => {
                        let why = format!("{op} {request}: not in the record");
                        self.diverged(why.clone());
                        return Err(HostError::failed(format!("replay: {why}")));
                    }
                }
                calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
                match calls.iter().position(|(c, used)| !used && c.op == op) {
                    Some(p) => p,
                    None => {
                        return Err(HostError::failed(format!("replay: {op} not in the record")))
                    }
                }
            }
        };
        calls[pos].1 = true;
        let call = &calls[pos].0;
        if let Some(why) = &call.withheld {
            let why = format!("{op}: {why}");
            drop(calls);
            self.diverged(why.clone());
            return Err(HostError::failed(format!("replay: {why}")));
        }
        match (&call.answer, &call.error) {
            (_, Some(e)) => Err(HostError::Failed(e.clone())),
            (Some(a), None) => Ok(a.clone()),
            (None, None) => Ok(Value::Null),
        }
    }

    fn typed<T: serde::de::DeserializeOwned>(
        &self,
        op: &str,
        request: Value,
    ) -> Result<T, HostError> {
        let v = self.answer(op, &request)?;
        serde_json::from_value(v).map_err(|e| {
            HostError::failed(format!(
                "replay: the recorded {op} answer is malformed: {e}"
            ))
        })
    }
}

#[async_trait]
impl Host for ReplayHost {
    fn now_ms(&self) -> f64 {
        self.clock
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front()
            .unwrap_or(self.last_time)
    }

    async fn fetch(&self, request: FetchRequest) -> Result<FetchResponse, HostError> {
        self.typed("fetch", to_value(&request))
    }

    async fn sign_ecdsa(&self, request: SignRequest) -> Result<(), HostError> {
        // Consume the recorded call so the order stays aligned; never sign.
        let _ = self.answer("signEcdsa", &to_value(&request));
        Ok(())
    }

    async fn sign_and_combine_ecdsa(&self, request: SignRequest) -> Result<String, HostError> {
        self.typed("signAndCombineEcdsa", to_value(&request))
    }

    async fn sign_and_combine(&self, request: SchemeSignRequest) -> Result<String, HostError> {
        self.typed("signAndCombine", to_value(&request))
    }

    async fn sign_as_action(&self, request: SchemeSignRequest) -> Result<String, HostError> {
        self.typed("signAsAction", to_value(&request))
    }

    async fn get_action_public_key(
        &self,
        signing_scheme: String,
        action_cid: String,
    ) -> Result<String, HostError> {
        self.typed("getActionPublicKey", json!([signing_scheme, action_cid]))
    }

    async fn verify_action_signature(
        &self,
        signing_scheme: String,
        action_cid: String,
        to_sign: Vec<u8>,
        sign_output: String,
    ) -> Result<bool, HostError> {
        self.typed(
            "verifyActionSignature",
            json!([
                signing_scheme,
                action_cid,
                hex::encode(&to_sign),
                sign_output
            ]),
        )
    }

    async fn run_once_is_leader(&self, name: String) -> Result<bool, HostError> {
        self.typed("runOnce.isLeader", json!(name))
    }

    async fn run_once_publish(&self, _name: String, _value: String) -> Result<(), HostError> {
        Ok(())
    }

    async fn run_once_collect(&self, name: String) -> Result<String, HostError> {
        self.typed("runOnce.collect", json!(name))
    }

    async fn broadcast_and_collect(
        &self,
        name: String,
        value: String,
    ) -> Result<Vec<String>, HostError> {
        self.typed("broadcastAndCollect", json!({"name": name, "value": value}))
    }

    async fn load_action(&self, ipfs_id: String) -> Result<String, HostError> {
        self.typed("loadAction", json!(ipfs_id))
    }

    async fn load_module(&self, ipfs_id: String) -> Result<String, HostError> {
        self.typed("loadModule", json!(ipfs_id))
    }

    async fn get_rpc_url(&self, chain: String) -> Result<String, HostError> {
        self.typed("getRpcUrl", json!(chain))
    }

    async fn get_latest_nonce(&self, address: String, chain: String) -> Result<String, HostError> {
        self.typed(
            "getLatestNonce",
            json!({"address": address, "chain": chain}),
        )
    }

    async fn call_op(&self, op: String, args: Value) -> Result<Value, HostError> {
        self.answer("callOp", &json!({"op": op, "args": args}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{execute_with_report, ExecutionContext, Limits};

    /// A host with a real clock and a fetch whose answer changes per call.
    struct Changing(std::sync::atomic::AtomicU32);

    #[async_trait]
    impl Host for Changing {
        async fn fetch(&self, request: FetchRequest) -> Result<FetchResponse, HostError> {
            let n = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(FetchResponse {
                status: 200,
                status_text: "OK".into(),
                url: request.url,
                headers: vec![("content-type".into(), "text/plain".into())],
                body: format!("answer {n}").into_bytes(),
            })
        }
    }

    const CODE: &str = r#"
        const t0 = Date.now();
        const d = new Date();
        const body = await (await fetch("http://example.test/x")).text();
        console.log("body " + body);
        Lit.Actions.setResponse({ response: JSON.stringify({ t0, iso: d.toISOString(), body, isDate: d instanceof Date }) });
    "#;

    async fn record_once() -> RunRecord {
        let inner: Arc<dyn Host> = Arc::new(Changing(std::sync::atomic::AtomicU32::new(7)));
        let rec = Arc::new(RecordingHost::new(inner));
        let host: Arc<dyn Host> = rec.clone();
        let report = execute_with_report(
            CODE,
            ExecutionContext::with_params(json!({})),
            host,
            &Limits::default(),
        )
        .await;
        assert!(report.error.is_none(), "{:?}", report.error);
        let (clock, calls) = rec.recorded();
        RunRecord {
            request_id: "r1".into(),
            action_cid: "QmTest".into(),
            code: CODE.into(),
            js_params: Some(json!({})),
            auth: AuthContext::default(),
            started_at_ms: clock.first().copied(),
            clock,
            calls,
            response: report.outcome.response,
            logs: report.outcome.logs,
            error: None,
        }
    }

    #[tokio::test]
    async fn a_replay_answers_fetch_and_the_clock_from_the_record_and_matches() {
        let record = record_once().await;
        assert_eq!(
            record.clock.len(),
            2,
            "Date.now and new Date read the host clock"
        );
        assert_eq!(record.calls.len(), 1);
        // Wait so that a real clock would differ.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let replay = Arc::new(ReplayHost::new(&record));
        let host: Arc<dyn Host> = replay.clone();
        let report = execute_with_report(
            &record.code,
            ExecutionContext {
                js_params: record.js_params.clone(),
                auth: record.auth.clone(),
            },
            host,
            &Limits::default(),
        )
        .await;
        assert!(report.error.is_none(), "{:?}", report.error);
        assert_eq!(report.outcome.response, record.response);
        assert_eq!(report.outcome.logs, record.logs);
        assert!(
            record.response.contains(r#""body":"answer 7""#),
            "{}",
            record.response
        );
        assert!(record.response.contains(r#""isDate":true"#));
        assert!(replay.divergences().is_empty());
    }

    #[tokio::test]
    async fn a_fetch_missing_from_the_record_fails_and_is_named() {
        let mut record = record_once().await;
        record.calls.clear();
        let replay = Arc::new(ReplayHost::new(&record));
        let host: Arc<dyn Host> = replay.clone();
        let report = execute_with_report(
            &record.code,
            ExecutionContext::default(),
            host,
            &Limits::default(),
        )
        .await;
        let err = report.error.expect("fails").to_string();
        assert!(err.contains("not in the record"), "{err}");
        assert_eq!(replay.divergences().len(), 1);
    }

    /// A host whose decryption yields an API key and whose fetch echoes
    /// the request's headers and body in its answer.
    struct Secretive;

    const API_KEY: &str = "sk-live-5f3a9c27e1";

    #[async_trait]
    impl Host for Secretive {
        async fn fetch(&self, request: FetchRequest) -> Result<FetchResponse, HostError> {
            let echo = format!("{:?} {:?}", request.headers, request.body);
            Ok(FetchResponse {
                status: 200,
                status_text: "OK".into(),
                url: request.url,
                headers: vec![("x-echo".into(), echo.clone())],
                body: format!("price 42; you sent {echo}").into_bytes(),
            })
        }

        async fn call_op(&self, op: String, _args: Value) -> Result<Value, HostError> {
            match op.as_str() {
                "decryptAndCombine" => Ok(Value::String(format!(r#"{{"apiKey":"{API_KEY}"}}"#))),
                other => Err(HostError::Unsupported(other.into())),
            }
        }
    }

    const SECRET_CODE: &str = r#"
        const plain = await Lit.Actions.decryptAndCombine({
            accessControlConditions: [], ciphertext: "c", dataToEncryptHash: "h",
            authSig: {sig: "0xwallet-signature"}, chain: "ethereum" });
        const { apiKey } = JSON.parse(plain);
        const r = await fetch("https://api.example.test/v1/price?key=" + apiKey, {
            method: "POST",
            headers: { "x-api-key": apiKey, "authorization": "Bearer " + apiKey },
            body: JSON.stringify({ token: apiKey }),
        });
        const text = await r.text();
        console.log("key " + apiKey);
        Lit.Actions.setResponse({ response: text.slice(0, 8) + " " + apiKey.length });
    "#;

    #[tokio::test]
    async fn a_record_holds_no_decrypted_plaintext_nor_fetch_request_headers_or_body() {
        let rec = Arc::new(RecordingHost::new(Arc::new(Secretive)));
        let host: Arc<dyn Host> = rec.clone();
        let report = execute_with_report(
            SECRET_CODE,
            ExecutionContext::default(),
            host,
            &Limits::default(),
        )
        .await;
        assert!(report.error.is_none(), "{:?}", report.error);
        let (clock, calls) = rec.recorded();
        let record = RunRecord {
            request_id: "r".into(),
            action_cid: "Qm".into(),
            code: SECRET_CODE.into(),
            js_params: None,
            auth: AuthContext::default(),
            started_at_ms: clock.first().copied(),
            clock,
            calls,
            response: report.outcome.response.clone(),
            logs: report.outcome.logs.clone(),
            error: None,
        }
        .scrubbed(&rec.secrets());
        // (the code is kept as it is: it holds no secret, only names)
        let text = serde_json::to_string(&RunRecord {
            code: String::new(),
            ..record.clone()
        })
        .expect("json");
        for secret in [API_KEY, "0xwallet-signature", "key=sk"] {
            assert!(!text.contains(secret), "{secret} in the record: {text}");
        }
        // the fetch's answer body is bytes: look there too
        let fetch = record
            .calls
            .iter()
            .find(|c| c.op == "fetch")
            .expect("fetch");
        assert_eq!(
            fetch.request,
            json!({"url": "https://api.example.test/v1/price", "method": "POST"})
        );
        let answer: FetchResponse =
            serde_json::from_value(fetch.answer.clone().expect("answer")).expect("fetch answer");
        let body = String::from_utf8_lossy(&answer.body);
        assert!(!body.contains(API_KEY), "{body}");
        assert!(body.contains(WITHHELD), "{body}");
        let decrypt = record
            .calls
            .iter()
            .find(|c| c.op == "callOp")
            .expect("decrypt");
        assert_eq!(decrypt.answer, None);
        assert_eq!(decrypt.withheld.as_deref(), Some(PLAINTEXT_WITHHELD));
        assert_eq!(record.logs, format!("key {WITHHELD}\n"));

        // A replay stops at the decryption and says why.
        let replay = Arc::new(ReplayHost::new(&record));
        let host: Arc<dyn Host> = replay.clone();
        let report = execute_with_report(
            &record.code,
            ExecutionContext::default(),
            host,
            &Limits::default(),
        )
        .await;
        let err = report.error.expect("stops").to_string();
        assert!(
            err.contains("decrypted plaintext is never recorded"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_replay_matches_fetches_without_their_headers_or_body() {
        const CODE: &str = r#"
            const a = await (await fetch("http://example.test/a?sig=s3cr3t", { headers: { "x-k": "1" } })).text();
            const b = await (await fetch("http://user:pw@example.test/b", { method: "POST", body: "x" })).text();
            Lit.Actions.setResponse({ response: a + "|" + b });
        "#;
        let inner: Arc<dyn Host> = Arc::new(Changing(std::sync::atomic::AtomicU32::new(1)));
        let rec = Arc::new(RecordingHost::new(inner));
        let host: Arc<dyn Host> = rec.clone();
        let report =
            execute_with_report(CODE, ExecutionContext::default(), host, &Limits::default()).await;
        assert!(report.error.is_none(), "{:?}", report.error);
        let (clock, calls) = rec.recorded();
        assert_eq!(calls[0].request["url"], "http://example.test/a");
        assert_eq!(calls[1].request["url"], "http://example.test/b");
        let record = RunRecord {
            request_id: "r".into(),
            action_cid: "Qm".into(),
            code: CODE.into(),
            js_params: None,
            auth: AuthContext::default(),
            started_at_ms: None,
            clock,
            calls,
            response: report.outcome.response.clone(),
            logs: String::new(),
            error: None,
        };
        let replay = Arc::new(ReplayHost::new(&record));
        let host: Arc<dyn Host> = replay.clone();
        let again =
            execute_with_report(CODE, ExecutionContext::default(), host, &Limits::default()).await;
        assert!(again.error.is_none(), "{:?}", again.error);
        assert_eq!(again.outcome.response, record.response);
        assert!(
            replay.divergences().is_empty(),
            "{:?}",
            replay.divergences()
        );
    }

    #[test]
    fn a_record_survives_json() {
        let r = RunRecord {
            request_id: "r".into(),
            action_cid: "Qm".into(),
            code: "1".into(),
            js_params: None,
            auth: AuthContext::default(),
            started_at_ms: Some(1.0),
            clock: vec![1.0],
            calls: vec![HostCall {
                op: "fetch".into(),
                request: json!({"url": "u"}),
                answer: None,
                error: Some("refused".into()),
                withheld: None,
            }],
            response: "x".into(),
            logs: String::new(),
            error: None,
        };
        let back: RunRecord =
            serde_json::from_str(&serde_json::to_string(&r).unwrap_or_default()).expect("parse");
        assert_eq!(back, r);
    }
}
