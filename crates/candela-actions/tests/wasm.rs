//! `WebAssembly` on the wasmi interpreter, inside the sandbox's limits: the
//! JavaScript API's shapes, numbers of every type across the boundary,
//! exported memory readable from JavaScript, and the limits (a runaway loop
//! ends at the wall-time limit, wasm memory counts toward the memory limit,
//! a malformed or oversized module is a clear error and the next run works).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::*;
use candela_actions::{ActionError, Limit, Limits};
use serde_json::json;

fn host() -> Arc<TestHost> {
    Arc::new(TestHost::new())
}

/// `code` with the binary of the WebAssembly text `wat` as the global `wasmBytes`.
fn with_module(wat: &str, code: &str) -> String {
    let bytes = wat::parse_str(wat).expect("valid wat");
    let list: Vec<String> = bytes.iter().map(u8::to_string).collect();
    format!(
        "const wasmBytes = new Uint8Array([{}]);\n{code}",
        list.join(",")
    )
}

async fn response(code: &str) -> serde_json::Value {
    let out = run(&host(), code, json!({}))
        .await
        .unwrap_or_else(|e| panic!("the action failed: {e}"));
    serde_json::from_str(&out.response).expect("JSON response")
}

const NUMBERS: &str = r#"
(module
  (func (export "add32") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "add64") (param i64 i64) (result i64) (i64.add (local.get 0) (local.get 1)))
  (func (export "mulf32") (param f32 f32) (result f32) (f32.mul (local.get 0) (local.get 1)))
  (func (export "divf64") (param f64 f64) (result f64) (f64.div (local.get 0) (local.get 1)))
  (func (export "pair") (param i32) (result i32 i64) (local.get 0) (i64.extend_i32_s (local.get 0)))
  (func (export "boom") unreachable)
  (global (export "answer") (mut i32) (i32.const 42))
)"#;

#[tokio::test]
async fn exported_functions_take_and_return_i32_i64_f32_and_f64() {
    let code = with_module(
        NUMBERS,
        r#"
        const { instance, module } = await WebAssembly.instantiate(wasmBytes);
        const e = instance.exports;
        let i64FromNumber;
        try { e.add64(1, 2) } catch (err) { i64FromNumber = err.name }
        let trap;
        try { e.boom() } catch (err) { trap = [err instanceof WebAssembly.RuntimeError, err.name] }
        e.answer.value = 7;
        Lit.Actions.setResponse({response: JSON.stringify({
            add32: e.add32(2147483647, 1),
            add32Coerced: e.add32("5", 2.9),
            add64: String(e.add64(9007199254740993n, 1n)),
            add64Type: typeof e.add64(1n, 2n),
            i64FromNumber,
            mulf32: e.mulf32(1.1, 3),
            divf64: e.divf64(1, 3),
            pair: e.pair(-3).map(String),
            trap,
            global: e.answer.value,
            moduleExports: WebAssembly.Module.exports(module).map((x) => `${x.name}:${x.kind}`),
            instanceExports: Object.keys(e),
            isInstance: instance instanceof WebAssembly.Instance,
            arity: e.add32.length,
        })});
        "#,
    );
    let v = response(&format!("(async () => {{ {code} }})()")).await;
    assert_eq!(v["add32"], -2147483648i64);
    assert_eq!(v["add32Coerced"], 7);
    assert_eq!(v["add64"], "9007199254740994");
    assert_eq!(v["add64Type"], "bigint");
    assert_eq!(v["i64FromNumber"], "TypeError");
    assert_eq!(v["mulf32"], f64::from(1.1f32 * 3.0f32));
    assert_eq!(v["divf64"], 1.0 / 3.0);
    assert_eq!(v["pair"], json!(["-3", "-3"]));
    assert_eq!(v["trap"], json!([true, "RuntimeError"]));
    assert_eq!(v["global"], 7);
    assert_eq!(
        v["moduleExports"],
        // in the module's order, as the JavaScript API lists them
        json!([
            "add32:function",
            "add64:function",
            "mulf32:function",
            "divf64:function",
            "pair:function",
            "boom:function",
            "answer:global"
        ])
    );
    assert_eq!(
        v["instanceExports"],
        json!(["add32", "add64", "mulf32", "divf64", "pair", "boom", "answer"])
    );
    assert_eq!(v["isInstance"], true);
    assert_eq!(v["arity"], 2);
}

const MEMORY: &str = r#"
(module
  (memory (export "memory") 1)
  (data (i32.const 0) "hello")
  (func (export "store") (param i32 i32) (i32.store8 (local.get 0) (local.get 1)))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
)"#;

#[tokio::test]
async fn exported_memory_is_readable_from_javascript() {
    let code = with_module(
        MEMORY,
        r#"
        const { exports } = new WebAssembly.Instance(new WebAssembly.Module(wasmBytes));
        const first = new TextDecoder().decode(new Uint8Array(exports.memory.buffer, 0, 5));
        exports.store(0, 72); // "H"
        const second = new TextDecoder().decode(new Uint8Array(exports.memory.buffer, 0, 5));
        const pages = exports.memory.buffer.byteLength / 65536;
        const old = exports.memory.grow(1);
        Lit.Actions.setResponse({response: JSON.stringify({first, second, pages, old, after: exports.memory.buffer.byteLength / 65536})});
        "#,
    );
    let v = response(&code).await;
    assert_eq!(
        v,
        json!({"first": "hello", "second": "Hello", "pages": 1, "old": 1, "after": 2})
    );
}

#[tokio::test]
async fn a_runaway_wasm_loop_is_stopped_at_the_wall_time_limit() {
    let code = with_module(
        r#"(module (func (export "spin") (loop (br 0))))"#,
        r#"new WebAssembly.Instance(new WebAssembly.Module(wasmBytes)).exports.spin();"#,
    );
    let limits = Limits {
        wall_time: Duration::from_millis(300),
        ..Limits::default()
    };
    let started = Instant::now();
    let r = run_with(&host(), &code, json!({}), &limits).await;
    let took = started.elapsed();
    assert_eq!(
        r.as_ref().err().and_then(ActionError::exceeded_limit),
        Some(Limit::WallTime),
        "{r:?}"
    );
    assert!(took < Duration::from_secs(2), "stopped after {took:?}");
}

#[tokio::test]
async fn a_wasm_loop_caught_by_the_action_still_ends_the_run() {
    let code = with_module(
        r#"(module (func (export "spin") (loop (br 0))))"#,
        r#"try { new WebAssembly.Instance(new WebAssembly.Module(wasmBytes)).exports.spin(); } catch (e) {}
           Lit.Actions.setResponse({response: "escaped"});"#,
    );
    let limits = Limits {
        wall_time: Duration::from_millis(200),
        ..Limits::default()
    };
    let r = run_with(&host(), &code, json!({}), &limits).await;
    assert_eq!(
        r.as_ref().err().and_then(ActionError::exceeded_limit),
        Some(Limit::WallTime),
        "{r:?}"
    );
}

#[tokio::test]
async fn wasm_memory_counts_toward_the_memory_limit() {
    let limits = Limits {
        memory_bytes: 32 * 1024 * 1024,
        ..Limits::default()
    };
    // Growing by 1 MiB works; growing by 64 MiB (over the run's 32 MiB) fails as memory.grow does: -1.
    let code = with_module(
        MEMORY,
        r#"
        const { exports } = new WebAssembly.Instance(new WebAssembly.Module(wasmBytes));
        const small = exports.grow(16);
        const big = exports.grow(1024);
        let viaJs;
        try { exports.memory.grow(1024); viaJs = "grew" } catch (e) { viaJs = e.name }
        Lit.Actions.setResponse({response: JSON.stringify({small, big, viaJs})});
        "#,
    );
    let out = run_with(&host(), &code, json!({}), &limits)
        .await
        .expect("the action runs");
    let v: serde_json::Value = serde_json::from_str(&out.response).expect("json");
    assert_eq!(v, json!({"small": 1, "big": -1, "viaJs": "RangeError"}));

    // A module whose initial memory alone is over the budget does not instantiate.
    let code = with_module(
        r#"(module (memory (export "m") 1024))"#,
        r#"
        let err;
        try { new WebAssembly.Instance(new WebAssembly.Module(wasmBytes)) } catch (e) { err = `${e.name}: ${e.message}` }
        Lit.Actions.setResponse({response: err});
        "#,
    );
    let out = run_with(&host(), &code, json!({}), &limits)
        .await
        .expect("the action runs");
    assert!(
        out.response.starts_with("RangeError: ") && out.response.contains("memory budget"),
        "{}",
        out.response
    );
}

#[tokio::test]
async fn malformed_and_oversized_modules_are_clear_errors_and_the_next_run_works() {
    let v = response(
        r#"
        const bad = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 255]);
        let sync, asyncErr;
        try { new WebAssembly.Module(bad) } catch (e) { sync = [e instanceof WebAssembly.CompileError, e.name] }
        WebAssembly.compile(new Uint8Array([1, 2, 3])).catch((e) => {
            asyncErr = e.name;
            Lit.Actions.setResponse({response: JSON.stringify({sync, asyncErr, valid: WebAssembly.validate(bad)})});
        });
        "#,
    )
    .await;
    assert_eq!(
        v,
        json!({"sync": [true, "CompileError"], "asyncErr": "CompileError", "valid": false})
    );

    let limits = Limits {
        code_bytes: 64 * 1024,
        ..Limits::default()
    };
    let out = run_with(
        &host(),
        r#"
        let err;
        try { new WebAssembly.Module(new Uint8Array(100000)) } catch (e) { err = `${e.name}: ${e.message}` }
        Lit.Actions.setResponse({response: err});
        "#,
        json!({}),
        &limits,
    )
    .await
    .expect("the action runs");
    assert_eq!(
        out.response,
        "CompileError: WebAssembly.Module(): the module is 100000 bytes, over the limit of 65536 bytes"
    );

    let code = with_module(
        NUMBERS,
        r#"Lit.Actions.setResponse({response: JSON.stringify(new WebAssembly.Instance(new WebAssembly.Module(wasmBytes)).exports.add32(1, 2))})"#,
    );
    assert_eq!(response(&code).await, json!(3));
}

#[tokio::test]
async fn modules_with_imports_fail_to_instantiate_with_a_link_error() {
    let code = with_module(
        r#"(module (import "env" "log" (func (param i32))) (func (export "f") (call 0 (i32.const 1))))"#,
        r#"
        const module = new WebAssembly.Module(wasmBytes);
        let err;
        try { new WebAssembly.Instance(module, {env: {log() {}}}) } catch (e) { err = [e instanceof WebAssembly.LinkError, e.message] }
        Lit.Actions.setResponse({response: JSON.stringify({imports: WebAssembly.Module.imports(module), err})});
        "#,
    );
    let v = response(&code).await;
    assert_eq!(
        v["imports"],
        json!([{"module": "env", "name": "log", "kind": "function"}])
    );
    assert_eq!(v["err"][0], true);
    assert_eq!(
        v["err"][1],
        "WebAssembly.Instance(): Import \"env\" \"log\": imports are not supported in Candela actions"
    );
}

#[tokio::test]
async fn deep_wasm_recursion_is_a_runtime_error_not_a_crash() {
    let code = with_module(
        r#"(module (func $down (export "down") (param i32) (result i32)
              (if (result i32) (i32.eqz (local.get 0))
                (then (i32.const 0))
                (else (i32.add (i32.const 1) (call $down (i32.sub (local.get 0) (i32.const 1))))))))"#,
        r#"
        const { down } = new WebAssembly.Instance(new WebAssembly.Module(wasmBytes)).exports;
        let deep;
        try { down(10000000) } catch (e) { deep = e.name }
        Lit.Actions.setResponse({response: JSON.stringify({shallow: down(5000), deep})});
        "#,
    );
    assert_eq!(
        response(&code).await,
        json!({"shallow": 5000, "deep": "RuntimeError"})
    );
}

#[tokio::test]
async fn a_start_function_that_never_ends_is_stopped_within_the_wall_time() {
    let code = with_module(
        r#"(module (func $spin (loop (br 0))) (start $spin))"#,
        r#"new WebAssembly.Instance(new WebAssembly.Module(wasmBytes));"#,
    );
    let limits = Limits {
        wall_time: Duration::from_millis(300),
        ..Limits::default()
    };
    let started = Instant::now();
    let r = run_with(&host(), &code, json!({}), &limits).await;
    let took = started.elapsed();
    // Its fuel runs out a little before the deadline (a RuntimeError the
    // action could catch), or the deadline comes first: either way it ends.
    match &r {
        Err(ActionError::Script { message, .. }) => {
            assert!(message.starts_with("Uncaught RuntimeError: "), "{message}")
        }
        Err(e) => assert_eq!(e.exceeded_limit(), Some(Limit::WallTime), "{e}"),
        Ok(_) => panic!("a never-ending start function let the run finish"),
    }
    assert!(took < Duration::from_secs(2), "stopped after {took:?}");
}
