//! End-to-end: the founding use case. A PKP bound by mint-grant-burn to the
//! rebalancing action of `examples/defi-rebalance` keeps a two-token
//! portfolio at its target weights on a real Uniswap V2 (the npm packages'
//! compiled contracts) on anvil, with its guard rails, driven directly and
//! by `candela listen`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::*;
use candela_client::{ActionSource, Client};
use candela_crypto::derive;
use candela_registry::anvil::Anvil;
use candela_registry::PkpRecord;
use serde_json::{json, Value};

/// anvil's second development account: deploys Uniswap and provides the
/// liquidity and the price moves.
const DEPLOYER: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/defi-rebalance")
}

/// `node uniswap.js ARGS`, its JSON output.
fn uniswap(args: &[&str]) -> Value {
    let dir = example_dir();
    assert!(
        dir.join("node_modules/@uniswap/v2-periphery").exists(),
        "run `npm ci --prefix examples/defi-rebalance` (scripts/test.sh does) to get the Uniswap artifacts"
    );
    let out = Command::new("node")
        .arg(dir.join("uniswap.js"))
        .args(args)
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "uniswap.js {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("uniswap.js prints JSON")
}

/// An off-chain price feed on loopback whose price the test sets.
async fn price_feed(price: Arc<Mutex<f64>>) -> String {
    let app = axum::Router::new().route(
        "/price",
        axum::routing::get(move || {
            let p = *price.lock().expect("price");
            async move { axum::Json(json!({ "price": p })) }
        }),
    );
    format!("http://{}/price", serve_loopback(app).await)
}

struct Setup {
    anvil: Anvil,
    net: TestNet,
    client: Client,
    deployment: PathBuf,
    price: Arc<Mutex<f64>>,
    price_url: String,
}

async fn setup() -> Setup {
    let anvil = Anvil::start().expect("anvil (bash contracts/setup.sh installs it)");
    let rpc_flag = format!("anvil={}", anvil.url);
    let net = TestNet::start(3, &["--chain-rpc", &rpc_flag]);
    let client = net.client();
    let deployment = net.path().join("deployment.json");
    let d = uniswap(&["deploy", "--rpc", &anvil.url, "--key", DEPLOYER]);
    std::fs::write(&deployment, d.to_string()).expect("write deployment");
    let price = Arc::new(Mutex::new(2.0));
    let price_url = price_feed(price.clone()).await;
    Setup {
        anvil,
        net,
        client,
        deployment,
        price,
        price_url,
    }
}

impl Setup {
    fn deployment(&self) -> &str {
        self.deployment.to_str().expect("utf-8 path")
    }

    /// Build the action with these limits, deploy it, mint a PKP bound to
    /// it alone (mint-grant-burn) and fund it with `a` of token A, `b` of
    /// token B and 10 ETH for gas.
    async fn portfolio(&self, name: &str, limits: &[&str], a: &str, b: &str) -> Portfolio {
        let file = self.net.path().join(format!("{name}.js"));
        let mut args = vec![
            "build-action",
            "--deployment",
            self.deployment(),
            "--price-url",
            &self.price_url,
            "--out",
            file.to_str().expect("utf-8 path"),
        ];
        args.extend_from_slice(limits);
        uniswap(&args);
        let code = std::fs::read(&file).expect("action");
        let (cid, _) = self.client.deploy_action(&code).await.expect("deploy");
        let owner = owner();
        let pkp = registry(&self.client)
            .mint_with_actions(&owner, self.client.root_public_key(), &[&cid], true)
            .expect("mint-grant-burn");
        let address = derive::checksum_address(&pkp.eth_address());
        uniswap(&[
            "fund",
            "--rpc",
            &self.anvil.url,
            "--key",
            DEPLOYER,
            "--deployment",
            self.deployment(),
            "--to",
            &address,
            "--a",
            a,
            "--b",
            b,
            "--eth",
            "10",
        ]);
        Portfolio {
            cid,
            owner,
            pkp,
            address,
        }
    }

    async fn run(&self, p: &Portfolio, extra: Value) -> Value {
        let mut params = json!({ "publicKey": derive::public_key_hex(&p.pkp.public_key) });
        if let (Some(m), Some(e)) = (params.as_object_mut(), extra.as_object()) {
            m.extend(e.clone());
        }
        let out = self
            .client
            .execute(&ActionSource::IpfsId(p.cid.clone()), Some(params), &p.owner)
            .await
            .expect("the action runs");
        serde_json::from_str(&out.response).expect("JSON response")
    }

    fn state(&self, p: &Portfolio) -> Value {
        uniswap(&[
            "state",
            "--rpc",
            &self.anvil.url,
            "--deployment",
            self.deployment(),
            "--who",
            &p.address,
        ])
    }

    /// The PKP's swaps on the pair, as the chain records them.
    fn swaps(&self, p: &Portfolio) -> Vec<Value> {
        uniswap(&[
            "history",
            "--rpc",
            &self.anvil.url,
            "--deployment",
            self.deployment(),
            "--who",
            &p.address,
        ])["swaps"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Someone else trades on the pool: the price moves.
    fn move_price(&self, sell: &str, amount: &str) {
        uniswap(&[
            "swap",
            "--rpc",
            &self.anvil.url,
            "--key",
            DEPLOYER,
            "--deployment",
            self.deployment(),
            "--sell",
            sell,
            "--amount",
            amount,
        ]);
    }
}

struct Portfolio {
    cid: String,
    owner: k256::ecdsa::SigningKey,
    pkp: PkpRecord,
    address: String,
}

fn weight(state: &Value) -> f64 {
    state["weightA"].as_f64().expect("weightA")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_bound_pkp_rebalances_on_uniswap_once_and_its_guard_rails_refuse() {
    let s = setup().await;
    // All in token A: weight 1.0 against a target of 0.5.
    let p = s.portfolio("rebalance", &[], "1000", "0").await;
    let before = s.state(&p);
    assert!((weight(&before) - 1.0).abs() < 1e-9, "{before}");

    let started = Instant::now();
    let out = s.run(&p, json!({})).await;
    let took = started.elapsed();
    assert_eq!(out["status"], "traded", "{out}");
    assert_eq!(out["sold"], "A", "{out}");
    assert!(
        out["approveTx"].is_string(),
        "the first trade approves the router: {out}"
    );
    let after = s.state(&p);
    assert!(
        (weight(&after) - 0.5).abs() <= 0.02,
        "the portfolio is back within tolerance: {after}"
    );
    let swaps = s.swaps(&p);
    assert_eq!(swaps.len(), 1, "exactly one swap: {swaps:?}");
    assert_eq!(swaps[0]["tx"], out["txHash"]);
    assert_eq!(
        swaps[0]["from"].as_str().map(str::to_lowercase),
        Some(p.address.to_lowercase()),
        "sent by the PKP"
    );
    eprintln!("one rebalance (run to mined swap, with approval): {took:?}");

    // Run again right after: within tolerance, nothing to do.
    let again = s.run(&p, json!({})).await;
    assert_eq!(again["status"], "balanced", "{again}");
    assert_eq!(s.swaps(&p).len(), 1);

    // Guard rails, each a refusal that trades nothing.
    let evil_router = s
        .run(
            &p,
            json!({ "router": "0x000000000000000000000000000000000000dEaD" }),
        )
        .await;
    assert_eq!(evil_router["status"], "refused");
    assert!(
        evil_router["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("router"),
        "{evil_router}"
    );
    let d: Value =
        serde_json::from_str(&std::fs::read_to_string(&s.deployment).expect("read")).expect("json");
    let other = d["otherPair"].as_str().expect("otherPair");
    let bad_token = s.run(&p, json!({ "pair": other })).await;
    assert_eq!(bad_token["status"], "refused");
    assert!(
        bad_token["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("is not on the allow-list"),
        "{bad_token}"
    );
    // The pool moves away from the off-chain price: refused, not traded.
    s.move_price("a", "20000");
    *s.price.lock().expect("price") = 2.0;
    let moved = s.state(&p);
    assert!(
        (moved["price"].as_f64().unwrap_or(0.0) - 2.0).abs() > 0.2,
        "{moved}"
    );
    let manipulated = s.run(&p, json!({})).await;
    assert_eq!(manipulated["status"], "refused", "{manipulated}");
    assert!(
        manipulated["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("off-chain price"),
        "{manipulated}"
    );
    assert_eq!(s.swaps(&p).len(), 1, "no refusal traded");
    // Once the off-chain price agrees, the action trades the imbalance away.
    *s.price.lock().expect("price") = moved["price"].as_f64().expect("price");
    let follow = s.run(&p, json!({})).await;
    assert_eq!(follow["status"], "traded", "{follow}");
    assert_eq!(follow["sold"], "B", "A got cheaper: buy it back: {follow}");
    assert!((weight(&s.state(&p)) - 0.5).abs() <= 0.02);
    let nonces: Vec<u64> = s
        .swaps(&p)
        .iter()
        .filter_map(|x| x["nonce"].as_u64())
        .collect();
    assert_eq!(nonces.len(), 2);
    assert!(nonces[0] < nonces[1], "{nonces:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trade_size_is_capped_per_run_and_per_day() {
    let s = setup().await;
    // At most 100 (in token B) per run and 150 per day; the imbalance needs
    // about 1,000.
    let p = s
        .portfolio(
            "capped",
            &["--max-per-run", "100", "--max-per-day", "150"],
            "1000",
            "0",
        )
        .await;
    let first = s.run(&p, json!({})).await;
    assert_eq!(first["status"], "traded", "{first}");
    assert_eq!(first["capped"], true, "{first}");
    let size = |v: &Value| v["sizeInB"].as_f64().expect("sizeInB");
    assert!(
        (size(&first) - 100.0).abs() < 0.01,
        "a run trades at most 100: {first}"
    );
    let second = s.run(&p, json!({})).await;
    assert_eq!(second["status"], "traded", "{second}");
    assert_eq!(second["capped"], true, "{second}");
    assert!(
        (size(&second) - 50.0).abs() < 0.01,
        "the day's remaining 50: {second}"
    );
    let third = s.run(&p, json!({})).await;
    assert_eq!(third["status"], "refused", "{third}");
    assert!(
        third["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("daily limit"),
        "{third}"
    );
    assert_eq!(s.swaps(&p).len(), 2);
    assert!(
        weight(&s.state(&p)) > 0.52,
        "still out of balance, by the limits' choice"
    );
}

fn listener(config: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_candela"))
        .args(["listen", "--config", config.to_str().expect("utf-8 path")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("candela listen starts")
}

async fn wait_until(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_rebalances_on_sync_events_and_a_restart_neither_loses_nor_doubles_a_trade() {
    let s = setup().await;
    let p = s.portfolio("listened", &[], "500", "1000").await;
    assert!(
        (weight(&s.state(&p)) - 0.5).abs() <= 0.02,
        "starts balanced"
    );
    let d: Value =
        serde_json::from_str(&std::fs::read_to_string(&s.deployment).expect("read")).expect("json");
    let sync_topic = "0x1c411e9a96e071241c2f21f7726b17ae89e3cab4c78be50e062b03a9fffbbad1";
    let config = s.net.path().join("triggers.toml");
    std::fs::write(
        &config,
        format!(
            r#"network = "{network}"
private_key = "0x{key}"

[retry]
max_attempts = 3
initial_backoff = "1s"
max_backoff = "2s"

[[trigger]]
name = "every-few-seconds"
action.cid = "{cid}"
params = {{ publicKey = "{pk}" }}
[trigger.source]
type = "interval"
every = "3s"

[[trigger]]
name = "pool-sync"
action.cid = "{cid}"
params = {{ publicKey = "{pk}", eventId = "{{{{eventId}}}}" }}
[trigger.source]
type = "evm_logs"
rpc_url = "{rpc}"
address = "{pair}"
topics = ["{sync_topic}"]
confirmations = 0
"#,
            network = s.net.network_path().display(),
            key = hex::encode(p.owner.to_bytes()),
            cid = p.cid,
            pk = derive::public_key_hex(&p.pkp.public_key),
            rpc = s.anvil.url,
            pair = d["pair"].as_str().expect("pair"),
        ),
    )
    .expect("write triggers");
    let mut listen = listener(&config);

    // Someone sells token B: the pool price of A rises, the portfolio is
    // now heavy in A; the Sync event (or the timer) runs the action.
    s.move_price("b", "40000");
    let price = s.state(&p)["price"].as_f64().expect("price");
    *s.price.lock().expect("price") = price;
    assert!((weight(&s.state(&p)) - 0.5).abs() > 0.02);
    wait_until("the listener's rebalance", 90, || {
        (weight(&s.state(&p)) - 0.5).abs() <= 0.02
    })
    .await;
    assert_eq!(s.swaps(&p).len(), 1, "one trade for one imbalance");

    // The price moves again and the listener is killed right away, in the
    // middle of its work; restarted, it finishes: one more trade, not two.
    s.move_price("a", "60000");
    let price = s.state(&p)["price"].as_f64().expect("price");
    *s.price.lock().expect("price") = price;
    tokio::time::sleep(Duration::from_millis(700)).await;
    listen.kill().expect("kill -9");
    let _ = listen.wait();
    let mut listen = listener(&config);
    wait_until("the rebalance after the restart", 90, || {
        (weight(&s.state(&p)) - 0.5).abs() <= 0.02
    })
    .await;
    // Let any run still in flight finish before counting.
    tokio::time::sleep(Duration::from_secs(4)).await;
    listen.kill().expect("stop");
    let _ = listen.wait();
    let swaps = s.swaps(&p);
    assert_eq!(swaps.len(), 2, "neither lost nor doubled: {swaps:?}");
    assert!((weight(&s.state(&p)) - 0.5).abs() <= 0.02);
}
