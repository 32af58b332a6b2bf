//! Cost of a run: a fresh sandbox with a trivial action, an action that uses
//! ethers to hash a message and recover its signer, and the trivial action
//! again once ethers has been compiled in the process (untouched ethers is free).

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

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let host: Arc<dyn Host> = Arc::new(NoHost);

    c.bench_function("fresh sandbox + trivial action", |b| {
        b.iter(|| run(&rt, &host, TRIVIAL, serde_json::json!({})))
    });

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
