//! End-to-end: `candela listen` as a real process, running real actions on
//! a real devnet (node processes on loopback) for events from real sources:
//! its own clock, signed webhooks, a real anvil chain with a real ERC20
//! contract, and an HTTP server polled on loopback.
//!
//! Every action here fetches `/hit` on a counter server of the test, so the
//! test sees how many times each node ran the action for each event: once
//! per node (`NODES` hits) means the event ran exactly once.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::*;
use alloy::primitives::Address;
use alloy::providers::{Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use candela_registry::anvil::test_tokens::TestTokens;
use candela_registry::anvil::{dev_key, Anvil};
use hmac::Mac;
use serde_json::{json, Value};

const NODES: usize = 3;

/// Counts each (event, node run) and remembers the `value` each run sent.
#[derive(Clone, Default)]
struct Counter {
    hits: Arc<Mutex<BTreeMap<String, Vec<String>>>>,
    /// Events whose `/hit` arrived (counted in `hits` only once answered).
    arrivals: Arc<Mutex<Vec<String>>>,
    /// The value `/poll` serves under `price`.
    price: Arc<AtomicU64>,
    /// Served with every poll, so the body changes even when the price does not.
    polls: Arc<AtomicU64>,
    /// Each `/hit` answers after this many ms.
    delay_ms: Arc<AtomicU64>,
}

impl Counter {
    fn hits(&self) -> BTreeMap<String, Vec<String>> {
        self.hits.lock().unwrap().clone()
    }
}

#[derive(serde::Deserialize)]
struct Hit {
    event: String,
    value: Option<String>,
}

async fn start_counter() -> (SocketAddr, Counter) {
    use axum::extract::{Query, State};
    use axum::routing::get;
    let counter = Counter::default();
    let app = axum::Router::new()
        .route(
            "/hit",
            get(
                |State(c): State<Counter>, Query(h): Query<Hit>| async move {
                    c.arrivals.lock().unwrap().push(h.event.clone());
                    let delay = c.delay_ms.load(Ordering::SeqCst);
                    if delay > 0 {
                        tokio::time::sleep(Duration::from_millis(delay)).await;
                    }
                    c.hits
                        .lock()
                        .unwrap()
                        .entry(h.event)
                        .or_default()
                        .push(h.value.unwrap_or_default());
                    "ok"
                },
            ),
        )
        .route(
            "/poll",
            get(|State(c): State<Counter>| async move {
                axum::Json(json!({
                    "price": c.price.load(Ordering::SeqCst),
                    "served": c.polls.fetch_add(1, Ordering::SeqCst),
                }))
            }),
        )
        .with_state(counter.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, counter)
}

/// The action every trigger runs: report `(eventId, value)` to the counter,
/// answer `value`.
const COUNTING_ACTION: &str = r#"(async () => {
  const url = jsParams.counter + "/hit?event=" + encodeURIComponent(jsParams.id) +
    "&value=" + encodeURIComponent(String(jsParams.value));
  await fetch(url);
  Lit.Actions.setResponse({ response: String(jsParams.value) });
})();"#;

/// An action that always fails.
const FAILING_ACTION: &str = r#"(async () => {
  throw new Error("deliberate failure for " + jsParams.id);
})();"#;

/// A `candela listen` process, killed when dropped.
struct ListenProc {
    child: Child,
    log: PathBuf,
}

impl ListenProc {
    fn start(config: &Path, key: &str, log: &Path) -> ListenProc {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let child = Command::new(BIN)
            .args(["listen", "--config"])
            .arg(config)
            .env("LISTEN_KEY", key)
            .env("CANDELA_LOG", "info")
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("spawn candela listen");
        ListenProc {
            child,
            log: log.to_path_buf(),
        }
    }

    /// SIGKILL: a crash, nothing flushed or finished.
    fn crash(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM: a clean stop; the exit status once it exits.
    fn terminate(&mut self) -> std::process::ExitStatus {
        // SAFETY: kill(2) on a process this test started; no memory effects.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "listener ignored SIGTERM: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Wait until the webhook server accepts connections.
    async fn wait_port(&self, addr: SocketAddr) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "webhook server did not start: {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for ListenProc {
    fn drop(&mut self) {
        self.crash();
    }
}

/// A listener set up against a devnet: a config file in a temp dir.
struct Setup {
    net: TestNet,
    dir: tempfile::TempDir,
    key: String,
    counter: Counter,
    counter_url: String,
}

impl Setup {
    async fn new() -> Setup {
        let net = TestNet::start(NODES, &[]);
        let (addr, counter) = start_counter().await;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("count.js"), COUNTING_ACTION).unwrap();
        std::fs::write(dir.path().join("fail.js"), FAILING_ACTION).unwrap();
        Setup {
            net,
            dir,
            key: hex::encode(owner().to_bytes()),
            counter,
            counter_url: format!("http://{addr}"),
        }
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("triggers.toml")
    }

    /// Write triggers.toml: the header, then `triggers` (TOML text).
    fn write_config(&self, header: &str, triggers: &str) {
        let text = format!(
            "network = {:?}\nprivate_key_env = \"LISTEN_KEY\"\n{header}\n{triggers}",
            self.net.network_path().display().to_string()
        );
        std::fs::write(self.config_path(), text).unwrap();
    }

    /// A counting trigger's params, with `value` as given.
    fn params(&self, value: &str) -> String {
        format!(
            "params = {{ counter = {:?}, id = \"{{{{eventId}}}}\", value = {value:?} }}",
            self.counter_url
        )
    }

    fn listen(&self) -> ListenProc {
        ListenProc::start(
            &self.config_path(),
            &self.key,
            &self.dir.path().join("listen.log"),
        )
    }

    fn status_cli(&self, json: bool) -> String {
        let mut cmd = Command::new(BIN);
        cmd.args(["listen", "status", "--config"])
            .arg(self.config_path());
        if json {
            cmd.arg("--json");
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "listen status failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `candela listen status --json`, the entry of `trigger`.
    fn status(&self, trigger: &str) -> Value {
        let all: Value = serde_json::from_str(&self.status_cli(true)).unwrap();
        all.as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == trigger)
            .cloned()
            .unwrap_or_else(|| panic!("no trigger {trigger} in status"))
    }

    /// Wait until `pred` holds for the trigger's status.
    async fn wait_status(
        &self,
        proc: &ListenProc,
        trigger: &str,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let timeout = Duration::from_secs(120);
        let deadline = Instant::now() + timeout;
        loop {
            if self.config_path().with_extension("db").exists() {
                let s = self.status(trigger);
                if pred(&s) {
                    return s;
                }
                if Instant::now() > deadline {
                    panic!(
                        "{trigger}: {what} not reached in {timeout:?}; status {s:#}\nlistener log:\n{}",
                        proc.log()
                    );
                }
            } else {
                assert!(Instant::now() < deadline, "no listener database");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Every event the counter saw was run by every node exactly once.
    fn assert_each_event_ran_once_per_node(&self) -> BTreeMap<String, Vec<String>> {
        let hits = self.counter.hits();
        for (event, runs) in &hits {
            assert_eq!(
                runs.len(),
                NODES,
                "event {event} ran {} times across the nodes (expected once per node): {runs:?}",
                runs.len()
            );
        }
        hits
    }
}

fn n(v: &Value, field: &str) -> u64 {
    v[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} in {v}"))
}

fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

fn hmac_header(secret: &[u8], body: &[u8]) -> String {
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
    m.update(body);
    format!("sha256={}", hex::encode(m.finalize().into_bytes()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interval_and_cron_triggers_fire_on_schedule_and_record_each_action_result() {
    let s = Setup::new().await;
    s.write_config(
        "",
        &format!(
            "[[trigger]]\nname = \"every-second\"\naction.file = \"count.js\"\n{}\n[trigger.source]\ntype = \"interval\"\nevery = \"1s\"\n\n\
             [[trigger]]\nname = \"even-seconds\"\naction.file = \"count.js\"\n{}\n[trigger.source]\ntype = \"cron\"\nschedule = \"*/2 * * * * *\"\n",
            s.params("{{event.scheduledAtMs}}").replace("{{eventId}}", "{{trigger}}/{{eventId}}"),
            s.params("{{event.scheduledAtMs}}").replace("{{eventId}}", "{{trigger}}/{{eventId}}"),
        ),
    );
    let proc = s.listen();
    let interval = s
        .wait_status(&proc, "every-second", "3 runs", |v| {
            n(v, "runsSucceeded") >= 3
        })
        .await;
    let cron = s
        .wait_status(&proc, "even-seconds", "2 runs", |v| {
            n(v, "runsSucceeded") >= 2
        })
        .await;
    drop(proc);
    for st in [&interval, &cron] {
        // The recorded result is the action's response for that fire.
        let last = &st["lastDelivered"];
        assert_eq!(last["state"], "delivered");
        assert_eq!(
            last["response"].as_str().unwrap(),
            last["payload"]["scheduledAtMs"].to_string(),
            "{st:#}"
        );
        assert_eq!(n(st, "runsFailed"), 0, "{st:#}");
        assert_eq!(st["deadLetters"], json!([]));
    }
    // Every fire ran on every node once; both triggers fired.
    let hits = s.assert_each_event_ran_once_per_node();
    for name in ["every-second", "even-seconds"] {
        let fires = hits
            .keys()
            .filter(|k| k.starts_with(&format!("{name}/fire-")))
            .count();
        assert!(fires >= 2, "{name}: {hits:?}");
    }
    // Cron fires fall on even seconds exactly.
    let cron_at = n(&cron["lastDelivered"]["payload"], "scheduledAtMs");
    assert_eq!(cron_at % 2000, 0, "cron fired at {cron_at}");
    // Interval fires keep their phase: whole seconds apart.
    let a = n(&interval["lastDelivered"]["payload"], "scheduledAtMs") as i64;
    let anchor = interval["cursor"]["anchor"].as_i64().unwrap();
    assert_eq!(
        (a - anchor) % 1000,
        0,
        "interval fire {a} off its anchor {anchor}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_with_the_right_hmac_runs_the_action_and_a_wrong_or_missing_one_gets_401_and_runs_nothing(
) {
    let s = Setup::new().await;
    let addr = free_addr();
    let secret = "webhook-shared-secret";
    s.write_config(
        &format!("[webhook]\nlisten = \"{addr}\"\n"),
        &format!(
            "[[trigger]]\nname = \"hook\"\naction.file = \"count.js\"\n{}\n[trigger.source]\ntype = \"webhook\"\npath = \"/hooks/orders\"\nsecret_env = \"HOOK_SECRET\"\n",
            s.params("{{event.body.order}}"),
        ),
    );
    // The secret comes from the environment of the listener process.
    std::env::set_var("HOOK_SECRET", secret);
    let proc = s.listen();
    let url = format!("http://{addr}/hooks/orders");
    let http = reqwest::Client::new();
    proc.wait_port(addr).await;
    let body = br#"{"order": "A-17"}"#.to_vec();
    let post = |sig: Option<String>, id: &str| {
        let mut req = http
            .post(&url)
            .header("X-Candela-Event-Id", id)
            .body(body.clone());
        if let Some(sig) = sig {
            req = req.header("X-Candela-Signature", sig);
        }
        req.send()
    };
    // Wrong secret, tampered body, and no signature: all 401.
    let wrong = post(Some(hmac_header(b"not-the-secret", &body)), "e1")
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let tampered = post(
        Some(hmac_header(secret.as_bytes(), br#"{"order": "B-1"}"#)),
        "e1",
    )
    .await
    .unwrap();
    assert_eq!(tampered.status(), 401);
    let missing = post(None, "e1").await.unwrap();
    assert_eq!(missing.status(), 401);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let st = s.status("hook");
    assert_eq!(
        n(&st, "eventsSeen"),
        0,
        "a refused webhook records nothing: {st:#}"
    );
    assert!(
        s.counter.hits().is_empty(),
        "a refused webhook runs nothing"
    );
    // The right signature: 202, then the action runs once.
    let sent = Instant::now();
    let ok = post(Some(hmac_header(secret.as_bytes(), &body)), "e1")
        .await
        .unwrap();
    assert_eq!(ok.status(), 202);
    let answer: Value = ok.json().await.unwrap();
    assert_eq!(answer, json!({"eventId": "hook-e1", "duplicate": false}));
    let st = s
        .wait_status(&proc, "hook", "delivery", |v| n(v, "runsSucceeded") == 1)
        .await;
    eprintln!(
        "webhook accepted → action result recorded: {:?}",
        sent.elapsed()
    );
    assert_eq!(st["lastDelivered"]["response"], "A-17");
    assert_eq!(st["lastDelivered"]["key"], "hook-e1");
    // The same event id again: accepted as a duplicate, not run again.
    let again = post(Some(hmac_header(secret.as_bytes(), &body)), "e1")
        .await
        .unwrap();
    assert_eq!(again.status(), 202);
    assert_eq!(again.json::<Value>().await.unwrap()["duplicate"], true);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let st = s.status("hook");
    assert_eq!(
        (
            n(&st, "eventsSeen"),
            n(&st, "duplicates"),
            n(&st, "runsSucceeded")
        ),
        (1, 1, 1)
    );
    let hits = s.assert_each_event_ran_once_per_node();
    assert_eq!(hits.keys().collect::<Vec<_>>(), vec!["hook-e1"]);
    // SIGTERM stops it cleanly.
    let mut proc = proc;
    assert!(proc.terminate().success(), "{}", proc.log());
    assert_eq!(hits["hook-e1"], vec!["A-17"; NODES]);
}

/// The Transfer(address,address,uint256) event's topic.
const TRANSFER: &str = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef";

/// A real anvil with a deployed TestERC20, and a way to mint.
struct Token {
    anvil: Anvil,
    tokens: TestTokens,
    address: Address,
}

impl Token {
    fn provider(&self) -> impl Provider {
        ProviderBuilder::new()
            .wallet(PrivateKeySigner::from_signing_key(dev_key(0)))
            .connect_http(self.anvil.url.parse().unwrap())
    }

    async fn deploy() -> Token {
        let anvil = Anvil::start().expect("anvil starts");
        let tokens = TestTokens::deploy(&anvil.url)
            .await
            .expect("test tokens deploy");
        let address = tokens.erc20;
        Token {
            anvil,
            tokens,
            address,
        }
    }

    /// Mint `amount` to a fixed holder (one Transfer log per call).
    async fn mint(&self, amount: u64) {
        let holder: Address = "0x70997970C51812dc3A010C7d01b50e0d17dC79C8"
            .parse()
            .unwrap();
        self.tokens.mint_erc20(holder, amount).await.expect("mint");
    }

    async fn mine(&self, blocks: u64) {
        let p = self.provider();
        for _ in 0..blocks {
            let _: Value = p
                .raw_request("evm_mine".into(), ())
                .await
                .expect("evm_mine");
        }
    }

    async fn head(&self) -> u64 {
        self.provider().get_block_number().await.unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_new_anvil_block_runs_the_action_once_with_its_number() {
    let s = Setup::new().await;
    let chain = Token::deploy().await;
    s.write_config(
        "",
        &format!(
            "[[trigger]]\nname = \"blocks\"\naction.file = \"count.js\"\n{}\n[trigger.source]\ntype = \"evm_blocks\"\nrpc_url = {:?}\npoll = \"200ms\"\n",
            s.params("{{event.block.number}}"),
            chain.anvil.url,
        ),
    );
    let proc = s.listen();
    // The first start begins after the head of that moment.
    let st = s
        .wait_status(&proc, "blocks", "a cursor", |v| !v["cursor"].is_null())
        .await;
    let first = n(&st["cursor"], "nextBlock");
    assert_eq!(first, chain.head().await + 1);
    let blocks = 20;
    let started = Instant::now();
    chain.mine(blocks).await;
    let st = s
        .wait_status(&proc, "blocks", "every block", |v| {
            n(v, "runsSucceeded") == blocks
        })
        .await;
    let took = started.elapsed();
    eprintln!(
        "{blocks} blocks mined → {blocks} actions run and recorded in {took:?} ({:.1} events/s)",
        blocks as f64 / took.as_secs_f64()
    );
    assert_eq!(n(&st, "eventsSeen"), blocks);
    let hits = s.assert_each_event_ran_once_per_node();
    let mut numbers: Vec<u64> = hits
        .iter()
        .map(|(k, v)| {
            assert_eq!(k, &format!("block-{}", v[0]));
            v[0].parse().unwrap()
        })
        .collect();
    numbers.sort();
    assert_eq!(numbers, (first..first + blocks).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erc20_transfer_logs_are_each_run_exactly_once_across_a_listener_crash() {
    let s = Setup::new().await;
    let chain = Token::deploy().await;
    // Each run takes a while, so the crash lands while one is in flight.
    s.counter.delay_ms.store(300, Ordering::SeqCst);
    s.write_config(
        "",
        &format!(
            "[[trigger]]\nname = \"transfers\"\naction.file = \"count.js\"\n{}\n[trigger.source]\ntype = \"evm_logs\"\nrpc_url = {:?}\naddress = \"{}\"\ntopics = [\"{TRANSFER}\"]\nstart_block = 0\npoll = \"200ms\"\nmax_block_range = 3\n",
            s.params("{{event.log.data}}"),
            chain.anvil.url,
            chain.address,
        ),
    );
    // A backlog before the listener starts, more while it runs, more while
    // it is down, more after it is back.
    for amount in 1..=4 {
        chain.mint(amount).await;
    }
    let mut proc = s.listen();
    chain.mint(5).await;
    // Crash once two events are recorded and a third is running on the
    // nodes (its request reached them; its answer is not recorded yet).
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let hits = s.counter.hits();
        let in_flight = s
            .counter
            .arrivals
            .lock()
            .unwrap()
            .iter()
            .any(|e| !hits.contains_key(e));
        if hits.len() >= 2 && in_flight {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no run in flight: {}",
            proc.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    proc.crash();
    let before = s.status("transfers");
    for amount in 6..=8 {
        chain.mint(amount).await;
    }
    let proc = s.listen();
    for amount in 9..=10 {
        chain.mint(amount).await;
    }
    let st = s
        .wait_status(&proc, "transfers", "all 10 runs", |v| {
            n(v, "runsSucceeded") == 10 && n(v, "pending") == 0
        })
        .await;
    let log = proc.log();
    drop(proc);
    eprintln!(
        "crashed with {} delivered and {} pending",
        n(&before, "runsSucceeded"),
        n(&before, "pending"),
    );
    // The attempt in flight at the crash was sent again with its request id
    // and the nodes refused to run it twice.
    assert!(log.contains("resending an attempt left in flight"), "{log}");
    assert!(
        log.contains("the nodes had already run this attempt"),
        "{log}"
    );
    assert_eq!(n(&st, "eventsSeen"), 10, "{st:#}");
    assert_eq!(n(&st, "runsFailed"), 0, "{st:#}");
    assert_eq!(st["deadLetters"], json!([]));
    // The cursor is past the last block and names the last log.
    let head = chain.head().await;
    assert_eq!(n(&st["cursor"], "nextBlock"), head + 1, "{st:#}");
    assert_eq!(st["cursor"]["lastLog"][0], json!(head));
    // Every Transfer ran on every node exactly once, none missed.
    let hits = s.assert_each_event_ran_once_per_node();
    assert_eq!(hits.len(), 10, "{hits:?}");
    let mut amounts: Vec<u64> = hits
        .values()
        .map(|v| u64::from_str_radix(v[0].trim_start_matches("0x"), 16).unwrap())
        .collect();
    amounts.sort();
    assert_eq!(amounts, (1..=10).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_poll_fires_only_when_the_watched_value_changes() {
    let s = Setup::new().await;
    s.counter.price.store(1, Ordering::SeqCst);
    s.write_config(
        "",
        &format!(
            "[[trigger]]\nname = \"price\"\naction.file = \"count.js\"\n{}\n[trigger.source]\ntype = \"http_poll\"\nurl = \"{}/poll\"\nevery = \"200ms\"\npointer = \"/price\"\n",
            s.params("{{event.value}}"),
            s.counter_url,
        ),
    );
    let proc = s.listen();
    // The body changes at every poll (`served`), the price does not: no event.
    s.wait_status(&proc, "price", "a baseline", |v| !v["cursor"].is_null())
        .await;
    let polls = s.counter.polls.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        s.counter.polls.load(Ordering::SeqCst) >= polls + 3,
        "it keeps polling"
    );
    assert_eq!(n(&s.status("price"), "eventsSeen"), 0);
    s.counter.price.store(2, Ordering::SeqCst);
    s.wait_status(&proc, "price", "the first change run", |v| {
        n(v, "runsSucceeded") == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        n(&s.status("price"), "eventsSeen"),
        1,
        "an unchanged value fires nothing"
    );
    s.counter.price.store(3, Ordering::SeqCst);
    let st = s
        .wait_status(&proc, "price", "the second change run", |v| {
            n(v, "runsSucceeded") == 2
        })
        .await;
    drop(proc);
    assert_eq!(n(&st, "eventsSeen"), 2);
    assert_eq!(st["lastDelivered"]["payload"]["previous"], json!(2));
    assert_eq!(st["lastDelivered"]["payload"]["value"], json!(3));
    let hits = s.assert_each_event_ran_once_per_node();
    assert_eq!(hits["change-1"][0], "2");
    assert_eq!(hits["change-2"][0], "3");
    assert_eq!(hits.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_action_is_retried_with_backoff_then_shown_as_a_dead_letter_by_status() {
    let s = Setup::new().await;
    let addr = free_addr();
    s.write_config(
        &format!("[webhook]\nlisten = \"{addr}\"\n"),
        "[[trigger]]\nname = \"doomed\"\naction.file = \"fail.js\"\nparams = { id = \"{{eventId}}\" }\nretry = { max_attempts = 3, initial_backoff = \"300ms\", multiplier = 2.0 }\n[trigger.source]\ntype = \"webhook\"\npath = \"/doomed\"\nsecret = \"inline-secret\"\n",
    );
    let proc = s.listen();
    proc.wait_port(addr).await;
    let body = b"{}";
    let resp = reqwest::Client::new()
        .post(format!("http://{addr}/doomed"))
        .header("X-Candela-Event-Id", "only")
        .header("X-Candela-Signature", hmac_header(b"inline-secret", body))
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let started = Instant::now();
    let st = s
        .wait_status(&proc, "doomed", "a dead letter", |v| {
            n(v, "deadLetterCount") == 1
        })
        .await;
    let took = started.elapsed();
    // Three attempts, waiting 300 ms then 600 ms between them.
    assert!(
        took >= Duration::from_millis(900),
        "backoff respected: {took:?}"
    );
    assert_eq!(n(&st, "runsFailed"), 3, "{st:#}");
    assert_eq!(n(&st, "runsSucceeded"), 0);
    assert_eq!(n(&st, "pending"), 0);
    let dead = &st["deadLetters"][0];
    assert_eq!(dead["key"], "hook-only");
    assert_eq!(dead["attempts"], 3);
    assert_eq!(dead["state"], "dead");
    let error = dead["lastError"].as_str().unwrap();
    assert!(
        error.contains("deliberate failure for hook-only"),
        "{error}"
    );
    // Each attempt had its own request id (the last one is kept).
    assert!(
        dead["requestId"].as_str().unwrap().ends_with("-3"),
        "{dead}"
    );
    // The text form lists it too.
    let text = s.status_cli(false);
    assert!(
        text.contains("dead letter hook-only after 3 attempts"),
        "{text}"
    );
    assert!(text.contains("runs failed 3"), "{text}");
    // counts per trigger and its latest events, at a glance
    assert!(text.contains("delivered 0  retried 1  dead 1"), "{text}");
    assert!(text.contains("hook-only dead after 3 attempts"), "{text}");
    // `--config` defaults to ./triggers.toml
    let here = Command::new(BIN)
        .args(["listen", "status"])
        .current_dir(s.dir.path())
        .output()
        .unwrap();
    // (the same status; the action's path is shown as the file names it)
    let here = String::from_utf8_lossy(&here.stdout);
    assert_eq!(
        here.lines().skip(1).collect::<Vec<_>>(),
        text.lines().skip(1).collect::<Vec<_>>()
    );
    assert!(here.starts_with("doomed (webhook, file:fail.js)"), "{here}");
    // the listener's log file (not a terminal) has no colour codes
    let log = std::fs::read_to_string(s.dir.path().join("listen.log")).unwrap();
    assert!(!log.is_empty() && !log.contains('\u{1b}'), "{log}");
    // `listen requeue` gives it a fresh retry budget; the running listener
    // tries three more times (attempts 4 to 6) and it is a dead letter again.
    let out = Command::new(BIN)
        .args(["listen", "requeue", "--trigger", "doomed", "--config"])
        .arg(s.config_path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");
    let st = s
        .wait_status(&proc, "doomed", "a second dead letter", |v| {
            n(v, "runsFailed") == 6 && n(v, "deadLetterCount") == 1
        })
        .await;
    drop(proc);
    let dead = &st["deadLetters"][0];
    assert_eq!(dead["attempts"], 6);
    assert!(
        dead["requestId"].as_str().unwrap().ends_with("-6"),
        "{dead}"
    );
}
