//! The listener: one source task and one delivery task per trigger, and one
//! HTTP server for the webhook triggers. Sources record events (and their
//! cursors) in the [`Store`]; delivery takes due events in order and runs
//! their action through an [`ActionRunner`].
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use candela_client::ActionSource;
use k256::ecdsa::SigningKey;
use serde_json::{json, Value};
use tokio::sync::{watch, Notify};
use tracing::Instrument;

use crate::backoff::AfterFailure;
use crate::config::{ActionRef, Config, Source, Trigger};
use crate::runner::{ActionRun, ActionRunner, RunError};
use crate::schedule::{now_ms, Schedule};
use crate::signature::{self, EVENT_ID_HEADER, SIGNATURE_HEADER};
use crate::sources::{self, Chain, ChainCursor, SourceError, MAX_BLOCKS_PER_POLL};
use crate::store::{NewEvent, Store, StoreError};

/// The longest an idle delivery task waits before looking at the queue.
pub const IDLE_RECHECK: Duration = Duration::from_secs(5);

/// Largest webhook body accepted.
pub const MAX_WEBHOOK_BODY: usize = 1 << 20;

/// Why the listener cannot start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ListenError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A trigger's private key is missing or unusable.
    #[error("trigger {trigger:?}: private key: {message}")]
    Key {
        /// The trigger.
        trigger: String,
        /// Why.
        message: String,
    },
    /// A webhook secret is missing.
    #[error("trigger {trigger:?}: webhook secret: {message}")]
    Secret {
        /// The trigger.
        trigger: String,
        /// Why.
        message: String,
    },
    /// A trigger's action file cannot be read.
    #[error("trigger {trigger:?}: reading action file {path}: {message}")]
    ActionFile {
        /// The trigger.
        trigger: String,
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The webhook address cannot be bound.
    #[error("webhook server on {addr}: {message}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        message: String,
    },
    /// A chain source cannot be set up.
    #[error("trigger {trigger:?}: {message}")]
    Source {
        /// The trigger.
        trigger: String,
        /// Why.
        message: String,
    },
}

/// A wallet key from its hex text (with or without `0x`).
pub fn parse_key(hex_key: &str) -> Result<SigningKey, String> {
    let bytes =
        hex::decode(hex_key.trim().trim_start_matches("0x")).map_err(|_| "not hex".to_string())?;
    SigningKey::from_slice(&bytes).map_err(|_| "not a valid secp256k1 private key".to_string())
}

/// A trigger ready to run: its secrets resolved and its action loaded.
pub struct Prepared {
    /// The trigger as configured.
    pub trigger: Trigger,
    /// The action as sent.
    pub action: ActionSource,
    /// The wallet key.
    pub key: SigningKey,
    /// The webhook secret, for webhook triggers.
    pub webhook_secret: Option<Vec<u8>>,
    /// Woken when a new event is recorded.
    pub notify: Notify,
}

impl Prepared {
    /// Resolve the trigger's key and secret and load its action.
    pub fn new(trigger: Trigger) -> Result<Prepared, ListenError> {
        let name = trigger.name.clone();
        let key_text = trigger
            .private_key
            .resolve()
            .map_err(|message| ListenError::Key {
                trigger: name.clone(),
                message,
            })?;
        let key = parse_key(&key_text).map_err(|message| ListenError::Key {
            trigger: name.clone(),
            message,
        })?;
        let action = match &trigger.action {
            ActionRef::Cid(c) => ActionSource::IpfsId(c.clone()),
            ActionRef::File(p) => {
                let code = std::fs::read_to_string(p).map_err(|e| ListenError::ActionFile {
                    trigger: name.clone(),
                    path: p.clone(),
                    message: e.to_string(),
                })?;
                ActionSource::Code(code)
            }
        };
        let webhook_secret = match &trigger.source {
            Source::Webhook { secret, .. } => Some(
                secret
                    .resolve()
                    .map_err(|message| ListenError::Secret {
                        trigger: name.clone(),
                        message,
                    })?
                    .into_bytes(),
            ),
            _ => None,
        };
        Ok(Prepared {
            trigger,
            action,
            key,
            webhook_secret,
            notify: Notify::new(),
        })
    }

    fn name(&self) -> &str {
        &self.trigger.name
    }
}

/// What one delivery step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// No event was due.
    Idle,
    /// The action ran; its response.
    Delivered(String),
    /// An attempt sent before a stop had reached the nodes (some or all);
    /// recorded as delivered, its response unknown, never sent again.
    DeliveredEarlier,
    /// The attempt failed and will be retried.
    Retrying(String),
    /// The attempt failed and the event is now a dead letter.
    DeadLettered(String),
}

/// Attempt the trigger's next due event, if any: start the attempt
/// durably, run the action, record the outcome.
pub async fn deliver_next<R: ActionRunner + ?Sized>(
    store: &Store,
    runner: &R,
    p: &Prepared,
) -> Result<Step, StoreError> {
    let name = p.name();
    let Some(ev) = store.next_due(name, now_ms())? else {
        return Ok(Step::Idle);
    };
    let (attempt, request_id) = if ev.in_flight {
        let rid = ev
            .request_id
            .clone()
            .unwrap_or_else(|| store.request_id(name, &ev.key, ev.attempts));
        tracing::info!(event = %ev.key, attempt = ev.attempts, "resending an attempt left in flight by a stop");
        (ev.attempts, rid)
    } else {
        let attempt = ev.attempts + 1;
        let rid = store.request_id(name, &ev.key, attempt);
        store.begin_attempt(ev.seq, attempt, &rid)?;
        (attempt, rid)
    };
    let fail = |message: String, permanent: bool| -> Result<Step, StoreError> {
        let now = now_ms();
        let decision = if permanent {
            AfterFailure::DeadLetter
        } else {
            p.trigger
                .retry
                .after_failure(attempt.saturating_sub(ev.retry_base))
        };
        match decision {
            AfterFailure::RetryIn(d) => {
                let at = now.saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
                store.fail(ev.seq, &message, Some(at), now)?;
                tracing::warn!(event = %ev.key, attempt, retry_in_ms = d.as_millis() as u64, error = %message, "action failed; will retry");
                Ok(Step::Retrying(message))
            }
            AfterFailure::DeadLetter => {
                store.fail(ev.seq, &message, None, now)?;
                tracing::error!(event = %ev.key, attempt, error = %message, "action failed; event dead-lettered");
                Ok(Step::DeadLettered(message))
            }
        }
    };
    let params = match p.trigger.params.render(name, &ev.key, &ev.payload) {
        Ok(v) => v,
        // The same event renders the same way every time: no retry.
        Err(e) => return fail(format!("jsParams: {e}"), true),
    };
    let started = std::time::Instant::now();
    let run = ActionRun {
        trigger: name.to_string(),
        request_id: request_id.clone(),
        action: p.action.clone(),
        params,
        key: p.key.clone(),
    };
    match runner.run(&run).await {
        Ok(out) => {
            store.succeed(ev.seq, Some(&out.response), now_ms())?;
            tracing::info!(event = %ev.key, attempt, request_id = %request_id, ms = started.elapsed().as_millis() as u64, "action ran");
            Ok(Step::Delivered(out.response))
        }
        Err(RunError::AlreadyRun(detail)) => {
            store.succeed(ev.seq, None, now_ms())?;
            tracing::info!(event = %ev.key, attempt, request_id = %request_id, %detail, "the nodes had already run this attempt (before a stop); recorded as delivered, response unknown, not sent again");
            Ok(Step::DeliveredEarlier)
        }
        Err(RunError::Failed(e)) => fail(e, false),
    }
}

async fn wait_stop(stop: &mut watch::Receiver<bool>) {
    while !*stop.borrow() {
        if stop.changed().await.is_err() {
            return;
        }
    }
}

/// Sleep `d`, or less if stopping; true when stopping.
async fn sleep_or_stop(d: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => *stop.borrow(),
        _ = wait_stop(stop) => true,
    }
}

fn ms_until(t: i64) -> Duration {
    Duration::from_millis(u64::try_from(t.saturating_sub(now_ms())).unwrap_or(0))
}

async fn delivery_loop<R: ActionRunner + ?Sized>(
    store: Arc<Store>,
    runner: Arc<R>,
    p: Arc<Prepared>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        if *stop.borrow() {
            return;
        }
        match deliver_next(&store, runner.as_ref(), &p).await {
            Ok(Step::Idle) => {
                // Look again at least every IDLE_RECHECK: another process
                // (`listen requeue`) may have changed the queue.
                let wake = match store.next_wakeup(p.name()) {
                    Ok(Some(t)) => ms_until(t).min(IDLE_RECHECK),
                    Ok(None) => IDLE_RECHECK,
                    Err(e) => {
                        tracing::error!(error = %e, "reading the next retry time");
                        Duration::from_secs(1)
                    }
                };
                tokio::select! {
                    _ = p.notify.notified() => {}
                    _ = tokio::time::sleep(wake) => {}
                    _ = wait_stop(&mut stop) => return,
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %e, "recording a delivery");
                if sleep_or_stop(Duration::from_secs(1), &mut stop).await {
                    return;
                }
            }
        }
    }
}

fn record(
    store: &Store,
    p: &Prepared,
    events: &[NewEvent],
    cursor: &Value,
) -> Result<(), StoreError> {
    let new = store.record(p.name(), events, Some(cursor), now_ms())?;
    if !new.is_empty() {
        tracing::info!(events = new.len(), first = %new[0], "new events");
        p.notify.notify_one();
    }
    Ok(())
}

fn source_failed(store: &Store, p: &Prepared, e: &dyn std::fmt::Display) {
    tracing::warn!(error = %e, "reading the source failed; trying again at the next poll");
    if let Err(se) = store.source_error(p.name(), &e.to_string()) {
        tracing::error!(error = %se, "counting a source error");
    }
}

async fn timer_loop(
    store: Arc<Store>,
    p: Arc<Prepared>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), StoreError> {
    let name = p.name().to_string();
    let now = now_ms();
    let cursor = store.cursor(&name)?;
    let anchor = cursor
        .as_ref()
        .and_then(|c| c.get("anchor"))
        .and_then(Value::as_i64)
        .unwrap_or(now);
    let mut last = cursor
        .as_ref()
        .and_then(|c| c.get("last"))
        .and_then(Value::as_i64)
        .unwrap_or(now);
    let (schedule, max_catch_up) = match &p.trigger.source {
        Source::Interval {
            every,
            max_catch_up,
        } => (
            Schedule::Interval {
                every: *every,
                anchor,
            },
            *max_catch_up,
        ),
        Source::Cron {
            schedule,
            max_catch_up,
        } => (Schedule::Cron(schedule.clone()), *max_catch_up),
        _ => return Ok(()),
    };
    if cursor.is_none() {
        store.record(
            &name,
            &[],
            Some(&json!({"anchor": anchor, "last": last})),
            now,
        )?;
    }
    loop {
        let now = now_ms();
        let due = schedule.due(last, now, max_catch_up);
        if due.skipped > 0 {
            tracing::warn!(
                skipped = due.skipped,
                "missed fires beyond max_catch_up were skipped"
            );
        }
        if let Some(&newest) = due.fires.last() {
            let events: Vec<NewEvent> = due
                .fires
                .iter()
                .map(|&f| sources::fire_event(f, now))
                .collect();
            record(
                &store,
                &p,
                &events,
                &json!({"anchor": anchor, "last": newest}),
            )?;
            last = newest;
        }
        let Some(next) = schedule.next_after(last) else {
            tracing::warn!("the schedule has no further fire");
            wait_stop(&mut stop).await;
            return Ok(());
        };
        if sleep_or_stop(ms_until(next), &mut stop).await {
            return Ok(());
        }
    }
}

async fn chain_loop(
    store: Arc<Store>,
    p: Arc<Prepared>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), StoreError> {
    let name = p.name().to_string();
    let (evm, logs) = match &p.trigger.source {
        Source::EvmBlocks(e) => (e.clone(), None),
        Source::EvmLogs {
            chain,
            address,
            topics,
            max_block_range,
        } => (
            chain.clone(),
            Some((address.clone(), topics.clone(), *max_block_range)),
        ),
        _ => return Ok(()),
    };
    let chain = match Chain::new(&name, &evm.rpc_url) {
        Ok(c) => c,
        Err(e) => {
            source_failed(&store, &p, &e);
            return Ok(());
        }
    };
    let per_poll = logs.as_ref().map_or(MAX_BLOCKS_PER_POLL, |l| l.2);
    let mut cursor: Option<ChainCursor> = store
        .cursor(&name)?
        .and_then(|v| serde_json::from_value(v).ok());
    loop {
        let step: Result<(), SourceError> = async {
            let head = chain.head().await?;
            let mut c = match cursor {
                Some(c) => c,
                None => {
                    // First start: from start_block, or the block after the head.
                    let c = ChainCursor {
                        next_block: evm.start_block.unwrap_or(head.saturating_add(1)),
                        last_log: None,
                    };
                    record(&store, &p, &[], &c.to_json())?;
                    c
                }
            };
            cursor = Some(c);
            while let Some((from, to)) =
                sources::next_range(c.next_block, head, evm.confirmations, per_poll)
            {
                let mut events = Vec::new();
                match &logs {
                    None => {
                        for b in from..=to {
                            events.push(sources::block_event(&chain.block(b).await?)?);
                        }
                    }
                    Some((address, topics, _)) => {
                        for l in chain.logs(address, topics, from, to).await? {
                            if l.get("removed").and_then(Value::as_bool) == Some(true) {
                                continue;
                            }
                            let (b, i, e) = sources::log_event(&l)?;
                            c.last_log = Some((b, i));
                            events.push(e);
                        }
                    }
                }
                c.next_block = to.saturating_add(1);
                record(&store, &p, &events, &c.to_json())?;
                cursor = Some(c);
                if *stop.borrow() {
                    break;
                }
            }
            Ok(())
        }
        .await;
        if let Err(e) = step {
            source_failed(&store, &p, &e);
        }
        if sleep_or_stop(evm.poll, &mut stop).await {
            return Ok(());
        }
    }
}

async fn poll_loop(
    store: Arc<Store>,
    p: Arc<Prepared>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), StoreError> {
    let Source::HttpPoll {
        url,
        every,
        pointer,
        fire_on_first,
    } = &p.trigger.source
    else {
        return Ok(());
    };
    let http = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
    {
        Ok(h) => h,
        Err(e) => {
            source_failed(&store, &p, &e);
            return Ok(());
        }
    };
    loop {
        match sources::fetch_value(&http, url, pointer.as_deref()).await {
            Ok(value) => {
                let cursor = store.cursor(p.name())?;
                let seen = sources::observe(url, cursor.as_ref(), value, *fire_on_first);
                // An unchanged value leaves the cursor as it is: no write.
                if seen.event.is_some() || cursor.is_none() {
                    let events: Vec<NewEvent> = seen.event.into_iter().collect();
                    record(&store, &p, &events, &seen.cursor)?;
                }
            }
            Err(e) => source_failed(&store, &p, &e),
        }
        if sleep_or_stop(*every, &mut stop).await {
            return Ok(());
        }
    }
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn valid_event_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.chars().all(|c| c.is_ascii_graphic())
}

/// Handle one webhook POST: check its signature, record it as an event.
/// Answers 202 once the event is durably recorded, 401 (recording nothing)
/// when the signature is missing or wrong.
pub fn accept_webhook(store: &Store, p: &Prepared, headers: &HeaderMap, body: &[u8]) -> Response {
    let secret = p.webhook_secret.as_deref().unwrap_or_default();
    let header = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    if let Err(e) = signature::verify(secret, body, header) {
        tracing::warn!(error = %e, "webhook refused");
        return json_response(StatusCode::UNAUTHORIZED, json!({"error": e.to_string()}));
    }
    let key = match headers.get(EVENT_ID_HEADER).map(|v| v.to_str()) {
        Some(Ok(id)) if valid_event_id(id) => format!("hook-{id}"),
        Some(_) => {
            return json_response(
                StatusCode::BAD_REQUEST,
                json!({"error": format!("{EVENT_ID_HEADER} must be 1 to 128 printable ASCII characters")}),
            )
        }
        None => format!("hook-{}", candela_client::new_request_id()),
    };
    let event = sources::webhook_event(key.clone(), body, now_ms());
    match store.record(p.name(), std::slice::from_ref(&event), None, now_ms()) {
        Ok(new) => {
            let duplicate = new.is_empty();
            if !duplicate {
                tracing::info!(event = %key, "webhook accepted");
                p.notify.notify_one();
            }
            json_response(
                StatusCode::ACCEPTED,
                json!({"eventId": key, "duplicate": duplicate}),
            )
        }
        Err(e) => {
            tracing::error!(error = %e, "recording a webhook");
            json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"error": "the event could not be recorded"}),
            )
        }
    }
}

/// The webhook router: one POST route per webhook trigger.
pub fn webhook_router(store: Arc<Store>, triggers: &[Arc<Prepared>]) -> axum::Router {
    let mut router = axum::Router::new();
    for p in triggers {
        let Source::Webhook { path, .. } = &p.trigger.source else {
            continue;
        };
        let (store, p2) = (store.clone(), p.clone());
        let span = tracing::info_span!("trigger", name = %p.trigger.name);
        router = router.route(
            path,
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let (store, p) = (store.clone(), p2.clone());
                async move { accept_webhook(&store, &p, &headers, &body) }.instrument(span)
            }),
        );
    }
    router.layer(axum::extract::DefaultBodyLimit::max(MAX_WEBHOOK_BODY))
}

/// A running listener.
pub struct Listener<R: ActionRunner> {
    store: Arc<Store>,
    runner: Arc<R>,
    triggers: Vec<Arc<Prepared>>,
    webhook_listen: Option<SocketAddr>,
}

impl<R: ActionRunner> Listener<R> {
    /// Prepare every trigger of `config` (secrets, action files); fails on
    /// the first one that cannot run.
    pub fn new(config: &Config, store: Arc<Store>, runner: Arc<R>) -> Result<Self, ListenError> {
        let triggers = config
            .triggers
            .iter()
            .map(|t| Prepared::new(t.clone()).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Listener {
            store,
            runner,
            triggers,
            webhook_listen: config.webhook_listen,
        })
    }

    /// Run until `stop` turns true. Sources stop at once; a delivery in
    /// progress is given `grace` to finish (one left unfinished is resent
    /// with the same request id at the next start).
    pub async fn run(
        self,
        stop: watch::Receiver<bool>,
        grace: Duration,
    ) -> Result<(), ListenError> {
        let mut tasks = tokio::task::JoinSet::new();
        if let Some(addr) = self.webhook_listen {
            let hooks: Vec<Arc<Prepared>> = self
                .triggers
                .iter()
                .filter(|p| matches!(p.trigger.source, Source::Webhook { .. }))
                .cloned()
                .collect();
            if !hooks.is_empty() {
                let listener =
                    tokio::net::TcpListener::bind(addr)
                        .await
                        .map_err(|e| ListenError::Bind {
                            addr,
                            message: e.to_string(),
                        })?;
                let bound = listener.local_addr().unwrap_or(addr);
                tracing::info!(addr = %bound, "webhooks listening");
                let app = webhook_router(self.store.clone(), &hooks);
                let mut s = stop.clone();
                tasks.spawn(async move {
                    let _ = axum::serve(listener, app)
                        .with_graceful_shutdown(async move { wait_stop(&mut s).await })
                        .await;
                });
            }
        }
        for p in &self.triggers {
            let span = tracing::info_span!("trigger", name = %p.trigger.name, source = p.trigger.source.kind());
            let (store, p1, mut s1) = (self.store.clone(), p.clone(), stop.clone());
            let src = async move {
                loop {
                    let (store, p1, s2) = (store.clone(), p1.clone(), s1.clone());
                    let r = match p1.trigger.source {
                        Source::Interval { .. } | Source::Cron { .. } => {
                            timer_loop(store, p1, s2).await
                        }
                        Source::EvmBlocks(_) | Source::EvmLogs { .. } => {
                            chain_loop(store, p1, s2).await
                        }
                        Source::HttpPoll { .. } => poll_loop(store, p1, s2).await,
                        Source::Webhook { .. } => Ok(()),
                    };
                    let Err(e) = r else { return };
                    // The database failed: start the source again from its
                    // stored cursor.
                    tracing::error!(error = %e, "the source failed; starting it again in 1 s");
                    if sleep_or_stop(Duration::from_secs(1), &mut s1).await {
                        return;
                    }
                }
            };
            tasks.spawn(src.instrument(span.clone()));
            let deliver = delivery_loop(
                self.store.clone(),
                self.runner.clone(),
                p.clone(),
                stop.clone(),
            );
            tasks.spawn(deliver.instrument(span));
        }
        let mut s = stop.clone();
        wait_stop(&mut s).await;
        let drained =
            tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            tracing::warn!("deliveries still running at shutdown are resent at the next start");
            tasks.shutdown().await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::path::Path;
    use std::sync::Mutex;

    use super::*;
    use crate::runner::RunOutput;
    use crate::store::EventState;

    /// Answers runs from a script, in order, and remembers what it was asked.
    #[derive(Default)]
    struct Scripted {
        answers: Mutex<VecDeque<Result<RunOutput, RunError>>>,
        runs: Mutex<Vec<ActionRun>>,
    }

    impl Scripted {
        fn new(answers: Vec<Result<RunOutput, RunError>>) -> Scripted {
            Scripted {
                answers: Mutex::new(answers.into()),
                runs: Mutex::default(),
            }
        }

        fn request_ids(&self) -> Vec<String> {
            self.runs
                .lock()
                .unwrap()
                .iter()
                .map(|r| r.request_id.clone())
                .collect()
        }
    }

    #[async_trait::async_trait]
    impl ActionRunner for Scripted {
        async fn run(&self, run: &ActionRun) -> Result<RunOutput, RunError> {
            self.runs.lock().unwrap().push(run.clone());
            self.answers
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or_else(|| Err(RunError::Failed("no scripted answer".into())))
        }
    }

    const KEY: &str = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";

    fn prepared(params: &str, retry: &str, source: &str) -> Prepared {
        let text = format!(
            "network = \"n.json\"\nprivate_key = \"{KEY}\"\n[webhook]\nlisten = \"127.0.0.1:0\"\n[[trigger]]\nname = \"t\"\naction.cid = \"QmSYPYqkkDz7ZpUdrWhMnVe2WcpNMxoQZkrUchPzWAxPTR\"\n{params}\n{retry}\n[trigger.source]\n{source}\n"
        );
        let c = Config::parse(&text, Path::new("/"), Path::new("/x.db")).unwrap();
        Prepared::new(c.triggers[0].clone()).unwrap()
    }

    fn interval_trigger(params: &str, retry: &str) -> Prepared {
        prepared(params, retry, "type = \"interval\"\nevery = \"1h\"")
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("l.db")).unwrap();
        (dir, s)
    }

    fn ok(r: &str) -> Result<RunOutput, RunError> {
        Ok(RunOutput { response: r.into() })
    }

    fn event(key: &str, payload: Value) -> NewEvent {
        NewEvent {
            key: key.into(),
            payload,
        }
    }

    #[tokio::test]
    async fn an_event_that_keeps_failing_is_retried_with_new_request_ids_then_dead_lettered() {
        let (_d, s) = store();
        let p = interval_trigger(
            "",
            "retry = { max_attempts = 3, initial_backoff = \"5ms\", max_backoff = \"5ms\" }",
        );
        s.record("t", &[event("e", json!({}))], None, now_ms())
            .unwrap();
        let r = Scripted::new(vec![
            Err(RunError::Failed("one".into())),
            Err(RunError::Failed("two".into())),
            Err(RunError::Failed("three".into())),
        ]);
        let mut steps = Vec::new();
        while steps.len() < 3 {
            match deliver_next(&s, &r, &p).await.unwrap() {
                Step::Idle => tokio::time::sleep(Duration::from_millis(2)).await,
                other => steps.push(other),
            }
        }
        assert_eq!(
            steps,
            vec![
                Step::Retrying("one".into()),
                Step::Retrying("two".into()),
                Step::DeadLettered("three".into())
            ]
        );
        let ids = r.request_ids();
        assert_eq!(
            ids,
            (1..=3)
                .map(|a| s.request_id("t", "e", a))
                .collect::<Vec<_>>()
        );
        // Nothing more to do: the dead letter is not retried.
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(deliver_next(&s, &r, &p).await.unwrap(), Step::Idle);
        let (c, _) = s.counters("t").unwrap();
        assert_eq!((c.runs_failed, c.dead_letter_count, c.pending), (3, 1, 0));
        assert_eq!((c.delivered, c.retried), (0, 1), "dead after retries");
        // Requeued, it gets three more attempts, numbered on (new request ids).
        s.requeue_dead("t", now_ms()).unwrap();
        let r2 = Scripted::new(vec![
            Err(RunError::Failed("four".into())),
            Err(RunError::Failed("five".into())),
            ok("six"),
        ]);
        let mut steps = Vec::new();
        while steps.len() < 3 {
            match deliver_next(&s, &r2, &p).await.unwrap() {
                Step::Idle => tokio::time::sleep(Duration::from_millis(2)).await,
                other => steps.push(other),
            }
        }
        assert_eq!(steps[2], Step::Delivered("six".into()));
        let (c, _) = s.counters("t").unwrap();
        assert_eq!((c.delivered, c.retried, c.dead_letter_count), (1, 1, 0));
        assert_eq!(
            r2.request_ids(),
            (4..=6)
                .map(|a| s.request_id("t", "e", a))
                .collect::<Vec<_>>()
        );
    }

    #[tokio::test]
    async fn a_retry_waits_for_its_backoff() {
        let (_d, s) = store();
        let p = interval_trigger(
            "",
            "retry = { initial_backoff = \"1h\", max_backoff = \"2h\" }",
        );
        s.record("t", &[event("e", json!({}))], None, now_ms())
            .unwrap();
        let r = Scripted::new(vec![Err(RunError::Failed("x".into())), ok("late")]);
        assert_eq!(
            deliver_next(&s, &r, &p).await.unwrap(),
            Step::Retrying("x".into())
        );
        assert_eq!(deliver_next(&s, &r, &p).await.unwrap(), Step::Idle);
        let wake = s.next_wakeup("t").unwrap().unwrap();
        assert!(wake >= now_ms() + 3_500_000, "due in an hour: {wake}");
    }

    #[tokio::test]
    async fn an_attempt_in_flight_at_a_stop_is_resent_with_its_request_id_and_a_replay_counts_as_delivered(
    ) {
        let (_d, s) = store();
        let p = interval_trigger("", "");
        s.record(
            "t",
            &[event("e", json!({})), event("f", json!({}))],
            None,
            1,
        )
        .unwrap();
        // A previous process started attempt 1 of "e" and stopped.
        let due = s.next_due("t", 1).unwrap().unwrap();
        s.begin_attempt(due.seq, 1, &s.request_id("t", "e", 1))
            .unwrap();
        let r = Scripted::new(vec![
            Err(RunError::AlreadyRun(s.request_id("t", "e", 1))),
            ok("f ran"),
        ]);
        assert_eq!(
            deliver_next(&s, &r, &p).await.unwrap(),
            Step::DeliveredEarlier
        );
        assert_eq!(
            deliver_next(&s, &r, &p).await.unwrap(),
            Step::Delivered("f ran".into())
        );
        assert_eq!(
            r.request_ids(),
            vec![s.request_id("t", "e", 1), s.request_id("t", "f", 1)],
            "the in-flight attempt keeps its request id"
        );
        let delivered = s.events("t", Some(EventState::Delivered), 10).unwrap();
        assert_eq!(delivered.len(), 2);
        let e = delivered.iter().find(|x| x.key == "e").unwrap();
        assert_eq!((e.attempts, e.response.as_deref()), (1, None));
    }

    #[tokio::test]
    async fn params_are_rendered_from_the_event_and_an_unfillable_template_dead_letters_without_running(
    ) {
        let (_d, s) = store();
        let p = interval_trigger(
            "params = { n = \"{{event.block.number}}\", id = \"{{eventId}}\" }",
            "",
        );
        s.record(
            "t",
            &[
                event("good", json!({"block": {"number": 7}})),
                event("bad", json!({"log": {}})),
            ],
            None,
            1,
        )
        .unwrap();
        let r = Scripted::new(vec![ok("7")]);
        assert_eq!(
            deliver_next(&s, &r, &p).await.unwrap(),
            Step::Delivered("7".into())
        );
        assert_eq!(
            r.runs.lock().unwrap()[0].params,
            json!({"n": 7, "id": "good"})
        );
        match deliver_next(&s, &r, &p).await.unwrap() {
            Step::DeadLettered(m) => assert!(m.contains("{{event.block.number}}"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(r.runs.lock().unwrap().len(), 1, "the bad event never ran");
    }

    #[test]
    fn a_webhook_is_recorded_only_with_the_right_signature_and_once_per_event_id() {
        let (_d, s) = store();
        let p = prepared(
            "",
            "",
            "type = \"webhook\"\npath = \"/h\"\nsecret = \"sekrit\"",
        );
        let body = br#"{"x": 1}"#;
        let headers = |sig: Option<&str>, id: Option<&str>| {
            let mut h = HeaderMap::new();
            if let Some(sig) = sig {
                h.insert(SIGNATURE_HEADER, sig.parse().unwrap());
            }
            if let Some(id) = id {
                h.insert(EVENT_ID_HEADER, id.parse().unwrap());
            }
            h
        };
        let good = signature::sign(b"sekrit", body);
        let bad = signature::sign(b"guess", body);
        for h in [headers(Some(&bad), Some("1")), headers(None, Some("1"))] {
            let r = accept_webhook(&s, &p, &h, body);
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        }
        assert_eq!(s.counters("t").unwrap().0.events_seen, 0);
        let h = headers(Some(&good), Some("1"));
        assert_eq!(
            accept_webhook(&s, &p, &h, body).status(),
            StatusCode::ACCEPTED
        );
        assert_eq!(
            accept_webhook(&s, &p, &h, body).status(),
            StatusCode::ACCEPTED
        );
        // Without an id, each delivery is its own event.
        let h = headers(Some(&good), None);
        assert_eq!(
            accept_webhook(&s, &p, &h, body).status(),
            StatusCode::ACCEPTED
        );
        let (c, _) = s.counters("t").unwrap();
        assert_eq!((c.events_seen, c.duplicates), (2, 1));
        let e = s.events("t", None, 10).unwrap();
        assert!(e
            .iter()
            .any(|x| x.key == "hook-1" && x.payload["body"] == json!({"x": 1})));
    }
}
