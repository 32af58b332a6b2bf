//! Randomness in the sandbox comes from the operating system: `Math.random`
//! is seeded per run from the OS RNG (QuickJS seeds it from the clock, so
//! runs started in the same microsecond drew the same numbers), and
//! `crypto.getRandomValues` reads the OS RNG on every call. Neither is
//! deterministic across nodes, as in Lit (Deno) and every browser.

use std::collections::HashSet;
use std::sync::Arc;

use crate::common::*;
use serde_json::json;

/// Starts `runs` runs of `code` at once and returns their responses.
async fn responses_of_simultaneous_runs(code: &'static str, runs: usize) -> Vec<String> {
    let host = Arc::new(TestHost::new());
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..runs {
        let host = host.clone();
        set.spawn(async move { run(&host, code, json!({})).await });
    }
    let mut responses = Vec::with_capacity(runs);
    while let Some(joined) = set.join_next().await {
        let outcome = joined
            .expect("the run's task finished")
            .expect("the run succeeded");
        responses.push(outcome.response);
    }
    responses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn math_random_differs_between_runs_started_at_the_same_instant() {
    let responses = responses_of_simultaneous_runs(
        "Lit.Actions.setResponse({ response: String(Math.random()) })",
        20,
    )
    .await;
    let distinct: HashSet<&String> = responses.iter().collect();
    assert_eq!(
        distinct.len(),
        responses.len(),
        "20 runs drew the same first Math.random(): {responses:?}"
    );
}

/// The seed itself cannot be observed from outside, and runs started together
/// seldom share a microsecond on a small machine, so the test above alone
/// does not tell the generators apart. The low bit does: QuickJS's built-in
/// generator fills 52 bits (so `x * 2 ** 53` is always even), the sandbox's
/// OS-seeded one fills 53.
#[tokio::test]
async fn math_random_gives_53_bit_numbers_in_the_unit_interval() {
    let out = run(
        &Arc::new(TestHost::new()),
        r#"const xs = Array.from({ length: 20000 }, () => Math.random());
           const inRange = xs.every((x) => typeof x === 'number' && x >= 0 && x < 1);
           const on53BitGrid = xs.every((x) => Number.isInteger(x * 2 ** 53));
           const usesLowBits = xs.some((x) => (x * 2 ** 53) % 2 === 1);
           const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
           const distinct = new Set(xs).size;
           const shape = [Math.random.name, Math.random.length, Object.keys(Math).includes('random')];
           Lit.Actions.setResponse({ response: JSON.stringify({ inRange, on53BitGrid, usesLowBits, mean, distinct, shape }) });"#,
        json!({}),
    )
    .await
    .expect("the action runs");
    let result: serde_json::Value = serde_json::from_str(&out.response).expect("JSON response");
    assert_eq!(result["inRange"], true, "{result}");
    assert_eq!(result["on53BitGrid"], true, "{result}");
    assert_eq!(result["usesLowBits"], true, "{result}");
    assert_eq!(result["distinct"], 20000, "{result}");
    assert_eq!(result["shape"], json!(["random", 0, false]), "{result}");
    let mean = result["mean"].as_f64().expect("a number");
    // The mean of 20000 uniform draws has a standard deviation of about 0.002.
    assert!((mean - 0.5).abs() < 0.02, "mean {mean}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_random_values_differs_between_calls_and_runs() {
    let responses = responses_of_simultaneous_runs(
        r#"const a = crypto.getRandomValues(new Uint8Array(32));
           const b = crypto.getRandomValues(new Uint32Array(8));
           const hex = (u8) => Array.from(u8, (x) => x.toString(16).padStart(2, '0')).join('');
           Lit.Actions.setResponse({ response: hex(a) + ' ' + hex(new Uint8Array(b.buffer)) })"#,
        10,
    )
    .await;
    let mut seen = HashSet::new();
    for response in &responses {
        let (a, b) = response.split_once(' ').expect("two hex strings");
        assert_eq!(a.len(), 64, "{response}");
        assert_ne!(a, b, "two calls returned the same bytes");
        assert_ne!(a, "0".repeat(64), "getRandomValues left the array zeroed");
        assert!(
            seen.insert(a.to_owned()),
            "two runs got the same bytes: {a}"
        );
        assert!(
            seen.insert(b.to_owned()),
            "two runs got the same bytes: {b}"
        );
    }
}
