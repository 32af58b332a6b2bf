//! Cost of a run: a fresh sandbox with a trivial action, an action that uses
//! ethers to hash a message and recover its signer, and the trivial action
//! again once ethers has been compiled in the process (untouched ethers is free).
//! Then the lazily built globals: `crypto.subtle.digest("SHA-256")` of 1 MiB
//! against sha2 in Rust, and a wasm `add` called 1,000,000 times from
//! JavaScript against the same loop in plain JavaScript.

use std::sync::Arc;

use candela_actions::{execute, ExecutionContext, Host, Limits};
use criterion::{criterion_group, criterion_main, Criterion};

/// A host with no operations: these actions need none.
struct NoHost;
impl Host for NoHost {}

const TRIVIAL: &str = r#"Lit.Actions.setResponse({response: "ok"})"#;

const ETHERS: &str = r#"
const digest = ethers.utils.hashMessage(message);
const signer = ethers.utils.recoverAddress(digest, signature);
Lit.Actions.setResponse({response: signer});
"#;

fn run(
    rt: &tokio::runtime::Runtime,
    host: &Arc<dyn Host>,
    code: &str,
    params: serde_json::Value,
) -> String {
    rt.block_on(execute(
        code,
        ExecutionContext::with_params(params),
        host.clone(),
        &Limits::default(),
    ))
    .expect("the action runs")
    .response
}

/// Sixteen SHA-256 digests of 1 MiB through crypto.subtle, in one action.
const DIGESTS: &str = r#"(async () => {
    const data = new Uint8Array(1 << 20).fill(7);
    let last;
    for (let i = 0; i < 16; i++) last = await crypto.subtle.digest("SHA-256", data);
    Lit.Actions.setResponse({response: String(new Uint8Array(last)[0])});
})()"#;

/// The wasm module of Lit's `wasm` test: `add(i32, i32) -> i32`.
const ADD_WASM: &str = "0,97,115,109,1,0,0,0,1,7,1,96,2,127,127,1,127,3,2,1,0,7,7,1,3,97,100,100,0,0,10,9,1,7,0,32,0,32,1,106,11";

fn add_loop(with_wasm: bool) -> String {
    let add = if with_wasm {
        format!("new WebAssembly.Instance(new WebAssembly.Module(new Uint8Array([{ADD_WASM}]))).exports.add")
    } else {
        "(a, b) => (a + b) | 0".to_owned()
    };
    format!(
        r#"const add = {add};
let acc = 0;
for (let i = 0; i < 1000000; i++) acc = add(acc, i);
Lit.Actions.setResponse({{response: String(acc)}});"#
    )
}

fn bench_lazy_globals(c: &mut Criterion, rt: &tokio::runtime::Runtime, host: &Arc<dyn Host>) {
    use sha2::Digest as _;
    let mut group = c.benchmark_group("lazy globals");
    group.sample_size(10);
    let data = vec![7u8; 1 << 20];
    let expected = sha2::Sha256::digest(&data)[0].to_string();
    assert_eq!(run(rt, host, DIGESTS, serde_json::json!({})), expected);
    group.bench_function(
        "fresh sandbox + 16 x crypto.subtle.digest SHA-256 of 1 MiB",
        |b| b.iter(|| run(rt, host, DIGESTS, serde_json::json!({}))),
    );
    group.bench_function("16 x sha2::Sha256 of 1 MiB in Rust", |b| {
        b.iter(|| {
            let mut last = [0u8; 32];
            for _ in 0..16 {
                last = sha2::Sha256::digest(std::hint::black_box(&data)).into();
            }
            last
        })
    });
    let wasm = add_loop(true);
    let js = add_loop(false);
    assert_eq!(
        run(rt, host, &wasm, serde_json::json!({})),
        run(rt, host, &js, serde_json::json!({}))
    );
    group.bench_function("fresh sandbox + wasm add x 1,000,000 from JS", |b| {
        b.iter(|| run(rt, host, &wasm, serde_json::json!({})))
    });
    group.bench_function("fresh sandbox + JS add x 1,000,000", |b| {
        b.iter(|| run(rt, host, &js, serde_json::json!({})))
    });
    group.finish();
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let host: Arc<dyn Host> = Arc::new(NoHost);

    c.bench_function("fresh sandbox + trivial action", |b| {
        b.iter(|| run(&rt, &host, TRIVIAL, serde_json::json!({})))
    });
    bench_lazy_globals(c, &rt, &host);

    if candela_actions::ethers_status() != candela_actions::EthersStatus::Available {
        eprintln!(
            "ethers bundle missing: {}; skipping the ethers benchmarks",
            candela_actions::SETUP_HINT
        );
        return;
    }
    // A signature made once, inside the sandbox, with ethers itself.
    let signature = run(
        &rt,
        &host,
        r#"(async () => Lit.Actions.setResponse({response: await new ethers.Wallet("0x" + "11".repeat(32)).signMessage("hello candela")}))()"#,
        serde_json::json!({}),
    );
    let params = serde_json::json!({"message": "hello candela", "signature": signature});
    assert_eq!(
        run(&rt, &host, ETHERS, params.clone()),
        "0x19E7E376E7C213B7E7e7e46cc70A5dD086DAff2A"
    );
    c.bench_function("ethers: hashMessage + recoverAddress", |b| {
        b.iter(|| run(&rt, &host, ETHERS, params.clone()))
    });
    c.bench_function("trivial action, ethers compiled in process", |b| {
        b.iter(|| run(&rt, &host, TRIVIAL, serde_json::json!({})))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = bench
}
criterion_main!(benches);
