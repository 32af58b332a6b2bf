//! Lit's own runtime tests, ported: each test here is named after the test in
//! Lit's `lit-actions` (tests/it.rs) or `lit-node` (functions/tests.rs) whose
//! action and expectation it runs, through the public `execute` entry point.
//! Uncaught errors read as in Lit: `Uncaught Name: message`.

use std::sync::Arc;

use crate::common::*;
use candela_actions::{
    execute, ActionError, AuthContext, ExecutionContext, ExecutionOutcome, Host, Limits,
};
use serde_json::json;

fn host() -> Arc<TestHost> {
    Arc::new(TestHost::new())
}

/// The first line of a failed run's script error.
fn first_error_line(result: Result<ExecutionOutcome, ActionError>) -> String {
    match result {
        Err(ActionError::Script { message, .. }) => {
            message.lines().next().unwrap_or_default().to_owned()
        }
        other => panic!("expected a script error, got {other:?}"),
    }
}

async fn run_ok(code: &str) -> ExecutionOutcome {
    run(&host(), code, json!({}))
        .await
        .unwrap_or_else(|e| panic!("the action failed: {e}"))
}

#[tokio::test]
async fn lit_namespace() {
    let out = run_ok(
        r#"
        console.log(
            Object.keys(Lit.Actions).length > 0,
            Object.keys(Lit.Auth).length > 0,
            Object.keys(Lit.Headers).length === 0,
            Lit.Actions === LitActions,
            Lit.Actions === globalThis.LitActions,
            Lit.Auth === LitAuth,
            Lit.Auth === globalThis.LitAuth,
            Lit.Headers === LitHeaders,
            Lit.Headers === globalThis.LitHeaders,
            Lit === globalThis.Lit,
        )
    "#,
    )
    .await;
    // Lit's test has `Object.keys(Lit.Auth).length === 0` because its test
    // client sends no auth context; Lit.Auth here always has Lit's keys.
    assert_eq!(
        out.logs,
        "true true true true true true true true true true\n"
    );
}

#[tokio::test]
async fn lit_namespace_protection() {
    let out = run_ok(
        r#"
        "use strict";
        const errors = [];
        const run = (fn) => { try { fn() } catch (err) { errors.push(err) } };
        run(() => delete globalThis.Lit);
        run(() => delete globalThis.LitActions);
        run(() => delete globalThis.LitAuth);
        run(() => delete globalThis.LitHeaders);
        run(() => delete Lit.Actions);
        run(() => delete Lit.Actions.signEcdsa);
        run(() => delete Lit.Auth);
        run(() => delete Lit.Headers);
        run(() => Lit = {});
        run(() => LitActions = {});
        run(() => LitAuth = {});
        run(() => LitHeaders = {});
        run(() => Lit.Actions = {});
        run(() => Lit.Auth = {});
        run(() => Lit.Headers = {});
        console.log(errors.length, errors.every((e) => e instanceof TypeError));
    "#,
    )
    .await;
    // Lit's 15 attempts each throw a TypeError (V8's texts differ from QuickJS's).
    assert_eq!(out.logs, "15 true\n");
}

/// lit-node's `http_headers` test: the request's headers as `Lit.Headers`.
#[tokio::test]
async fn http_headers() {
    let ctx = ExecutionContext {
        js_params: None,
        auth: AuthContext {
            http_headers: vec![
                ("user-agent".into(), "lit_node".into()),
                ("X-Request-ID".into(), "some-id".into()),
                ("accept".into(), "text/plain, text/html".into()),
            ],
            ..AuthContext::default()
        },
    };
    let code = r#"
        console.log(Lit.Headers)
        console.assert(LitHeaders.has("user-agent"), "LitHeaders.has")
        console.assert(LitHeaders.get("x-request-id") === "some-id", "LitHeaders.get")
        console.assert(Array.from(LitHeaders.keys()).length === 3, "LitHeaders.keys")
    "#;
    let h: Arc<dyn Host> = host();
    let out = execute(code, ctx, h, &Limits::default())
        .await
        .expect("the action runs");
    assert_eq!(
        out.logs,
        "Headers {\n  accept: \"text/plain, text/html\",\n  \"user-agent\": \"lit_node\",\n  \"x-request-id\": \"some-id\"\n}\n"
    );
}

#[tokio::test]
async fn http_headers_repeated_names_join_and_cannot_be_changed() {
    let ctx = ExecutionContext {
        js_params: None,
        auth: AuthContext {
            http_headers: vec![
                ("Accept".into(), "text/plain".into()),
                ("accept".into(), "text/html".into()),
            ],
            ..AuthContext::default()
        },
    };
    let code = r#"
        const errors = [];
        for (const f of [() => LitHeaders.set("a", "b"), () => LitHeaders.append("a", "b"), () => LitHeaders.delete("accept")]) {
            try { f() } catch (e) { errors.push(`${e.name}: ${e.message}`) }
        }
        Lit.Actions.setResponse({response: JSON.stringify({accept: LitHeaders.get("accept"), frozen: Object.isFrozen(LitHeaders), errors})})
    "#;
    let h: Arc<dyn Host> = host();
    let out = execute(code, ctx, h, &Limits::default())
        .await
        .expect("the action runs");
    let v: serde_json::Value = serde_json::from_str(&out.response).expect("json");
    assert_eq!(v["accept"], "text/plain, text/html");
    assert_eq!(v["frozen"], true);
    assert_eq!(
        v["errors"],
        json!([
            "TypeError: Headers are immutable.",
            "TypeError: Headers are immutable.",
            "TypeError: Headers are immutable."
        ])
    );
}

#[tokio::test]
async fn http_headers_are_empty_when_the_request_has_none() {
    let out = run_ok(r#"console.log(Lit.Headers, [...LitHeaders.keys()].length)"#).await;
    assert_eq!(out.logs, "Headers {} 0\n");
}

#[tokio::test]
async fn fetch() {
    let h = host();
    let addr = start_http_server().await;
    let code = format!(
        r#"(async () => {{
            const r = await fetch("http://{addr}/json");
            Lit.Actions.setResponse({{response: JSON.stringify({{
                isResponse: r instanceof Response,
                isHeaders: r.headers instanceof Headers,
                contentType: r.headers.get("Content-Type"),
                ok: r.ok, status: r.status, statusText: r.statusText, url: r.url,
                body: await r.json(),
            }})}});
        }})()"#
    );
    let out = run(&h, &code, json!({})).await.expect("the action runs");
    assert_eq!(
        out.fetches, 1,
        "the fetch is counted, as Lit's op_increment_fetch_count does"
    );
    let v: serde_json::Value = serde_json::from_str(&out.response).expect("json");
    assert_eq!(v["isResponse"], true);
    assert_eq!(v["isHeaders"], true);
    assert_eq!(v["contentType"], "application/json");
    assert_eq!(v["ok"], true);
    assert_eq!(v["status"], 200);
    assert_eq!(v["statusText"], "OK");
    assert_eq!(v["url"], format!("http://{addr}/json"));
    assert_eq!(v["body"]["properties"]["periods"][0]["temperature"], 92);
}

#[tokio::test]
async fn jwt_decode() {
    let out = run(
        &host(),
        r#"
        const decoded = jwt.decode(token, { complete: true })
        LitActions.setResponse({response: decoded.payload.loggedInAs})
    "#,
        json!({"token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJsb2dnZWRJbkFzIjoiYWRtaW4iLCJpYXQiOjE0MjI3Nzk2Mzh9.gzSraSYS8EXBxLN_oWnFSRgCzcmJmMjLiuyu5CSpyHI"}),
    )
    .await
    .expect("the action runs");
    assert_eq!(out.response, "admin");
}

#[tokio::test]
async fn webcrypto() {
    let out = run_ok(
        r#"
        (async () => {
            const data = new TextEncoder().encode("Hello, World!")
            const hashed = await crypto.subtle.digest("SHA-256", data)
            Lit.Actions.setResponse({response: hashed.byteLength.toString()})
        })()
    "#,
    )
    .await;
    assert_eq!(out.response, "32");
}

#[tokio::test]
async fn localstorage_shouldnt_panic() {
    let r = run(
        &host(),
        r#"localStorage.setItem("myApp", "Deno");"#,
        json!({}),
    )
    .await;
    assert_eq!(
        first_error_line(r),
        "Uncaught NotSupported: LocalStorage is not supported in this context."
    );
}

#[tokio::test]
async fn web_worker_shouldnt_panic() {
    let r = run(
        &host(),
        r#"new Worker("file:///path/to/worker.js", {type: "module"});"#,
        json!({}),
    )
    .await;
    assert_eq!(
        first_error_line(r),
        "Uncaught ReferenceError: Worker is not defined"
    );
}

#[tokio::test]
async fn deno_permissions() {
    let cases = [
        (
            r#"Deno.readFileSync("test.txt")"#,
            r#"Uncaught NotCapable: Requires read access to "test.txt", run again with the --allow-read flag"#,
        ),
        (
            r#"Deno.makeTempDirSync()"#,
            r#"Uncaught NotCapable: Requires write access to <TMP>, run again with the --allow-write flag"#,
        ),
        (
            r#"Deno.env.get("SHELL")"#,
            r#"Uncaught NotCapable: Requires env access to "SHELL", run again with the --allow-env flag"#,
        ),
        (
            r#"Deno.hostname()"#,
            r#"Uncaught NotCapable: Requires sys access to "hostname", run again with the --allow-sys flag"#,
        ),
        (
            r#"Deno.kill(1234)"#,
            r#"Uncaught NotCapable: Requires run access, run again with the --allow-run flag"#,
        ),
        (
            r#"Deno.dlopen("test.dll", {})"#,
            r#"Uncaught NotCapable: Requires ffi access to "test.dll", run again with the --allow-ffi flag"#,
        ),
    ];
    for (code, expected) in cases {
        let r = run(&host(), code, json!({})).await;
        assert_eq!(first_error_line(r), expected, "{code}");
    }
}

#[tokio::test]
async fn deno_permissions_async_forms_reject_with_the_same_error_class() {
    let out = run_ok(
        r#"(async () => {
            try { await Deno.readTextFile("/etc/passwd") } catch (e) {
                Lit.Actions.setResponse({response: `${e instanceof Deno.errors.NotCapable} ${e.name}: ${e.message}`})
            }
        })()"#,
    )
    .await;
    assert_eq!(
        out.response,
        r#"true NotCapable: Requires read access to "/etc/passwd", run again with the --allow-read flag"#
    );
}

#[tokio::test]
async fn deno_version() {
    let out = run_ok(r#"console.log(Deno.version)"#).await;
    assert_eq!(out.logs, "undefined\n");
}

#[tokio::test]
async fn deno_exit() {
    for code in ["Deno.exit(1)", "Deno.exit(0)", "Deno.exit()"] {
        let r = run(&host(), code, json!({})).await;
        assert_eq!(
            first_error_line(r),
            "Uncaught PermissionDenied: 'Deno.exit' is not allowed in this context.",
            "{code}"
        );
    }
}

#[tokio::test]
async fn global_is_globalthis() {
    let out = run_ok(r#"console.log(global === globalThis, typeof Worker)"#).await;
    assert_eq!(out.logs, "true undefined\n");
}

#[tokio::test]
async fn wasm() {
    let out = run_ok(
        r#"
        const wasmCode = new Uint8Array([
            0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x07, 0x01, 0x60,
            0x02, 0x7f, 0x7f, 0x01, 0x7f, 0x03, 0x02, 0x01, 0x00, 0x07, 0x07, 0x01,
            0x03, 0x61, 0x64, 0x64, 0x00, 0x00, 0x0a, 0x09, 0x01, 0x07, 0x00, 0x20,
            0x00, 0x20, 0x01, 0x6a, 0x0b
        ]);
        const wasmModule = new WebAssembly.Module(wasmCode);
        const wasmInstance = new WebAssembly.Instance(wasmModule);
        const { add } = wasmInstance.exports;
        console.log(add(123, 456));
    "#,
    )
    .await;
    assert_eq!(out.logs, "579\n");
}

#[tokio::test]
async fn eval_and_function_constructors_throw_catchable_eval_errors() {
    let out = run_ok(
        r#"
        const names = [];
        for (const f of [
            () => eval("1 + 1"),
            () => new Function("return 1"),
            () => Function("return 1"),
            () => (function () {}).constructor("return 1"),
            () => (async function () {}).constructor("return 1"),
            () => (function* () {}).constructor("return 1"),
        ]) {
            try { f(); names.push("no error") } catch (e) { names.push(e instanceof EvalError ? "EvalError" : String(e)) }
        }
        console.log(names.join(" "), (() => {}) instanceof Function, typeof Function.prototype.call);
    "#,
    )
    .await;
    assert_eq!(
        out.logs,
        "EvalError EvalError EvalError EvalError EvalError EvalError true function\n"
    );
}

#[tokio::test]
async fn new_globals_are_built_only_when_first_touched() {
    let out = run_ok(
        r#"
        const kind = (name) => {
            const d = Object.getOwnPropertyDescriptor(globalThis, name);
            return d === undefined ? "absent" : typeof d.get === "function" ? "getter" : "value";
        };
        const before = ["WebAssembly", "jwt", "Deno", "Request", "Response"].map(kind);
        const subtleBefore = typeof Object.getOwnPropertyDescriptor(crypto, "subtle").get;
        const touched = [typeof WebAssembly.Module, typeof jwt.decode, typeof Deno.exit, typeof Request, typeof Response];
        const after = ["WebAssembly", "jwt", "Deno", "Request", "Response"].map(kind);
        console.log(before.join(","), subtleBefore, touched.join(","), after.join(","), crypto.subtle === crypto.subtle);
    "#,
    )
    .await;
    assert_eq!(
        out.logs,
        "getter,getter,getter,getter,getter function function,function,function,function,function value,value,value,value,value true\n"
    );
}

/// Lit's `nop`: an action that does nothing succeeds with no error, no
/// response and no output.
#[tokio::test]
async fn nop() {
    let out = run_ok("// Do nothing").await;
    assert_eq!(out.response, "");
    assert_eq!(out.logs, "");
}

/// Lit's `uint8arrays`: `uint8arrayFromString` / `uint8arrayToString`
/// (utf8 by default), and `console.log` of a `Uint8Array` as Deno prints
/// it, Lit's expected line word for word.
#[tokio::test]
async fn uint8arrays() {
    let out = run_ok(
        r#"
        const hello = LitActions.uint8arrayFromString("hello")
        const world = LitActions.uint8arrayFromString("world", "utf8")
        console.log(LitActions.uint8arrayToString(hello), hello, LitActions.uint8arrayToString(world, "utf8"), world)
    "#,
    )
    .await;
    assert_eq!(
        out.logs,
        "hello Uint8Array(5) [ 104, 101, 108, 108, 111 ] world Uint8Array(5) [ 119, 111, 114, 108, 100 ]\n"
    );
}

/// Lit's `console_log`, both: lit-actions (`console.log("Lit Actions!")`
/// prints `Lit Actions!\n`) and lit-node (`log`, `info` and `error` each
/// print one line, in order).
#[tokio::test]
async fn console_log() {
    assert_eq!(
        run_ok(r#"console.log("Lit Actions!")"#).await.logs,
        "Lit Actions!\n"
    );
    let out = run_ok(
        r#"
        console.log("It")
        console.info("works")
        console.error("!")
    "#,
    )
    .await;
    assert_eq!(out.logs, "It\nworks\n!\n");
}

/// Lit's `set_response`, both: lit-actions (`Lit.Actions.setResponse`) and
/// lit-node (the `LitActions` alias, then `Lit.Actions`).
#[tokio::test]
async fn set_response() {
    assert_eq!(
        run_ok(r#"LitActions.setResponse({response: "Not OK"})"#)
            .await
            .response,
        "Not OK"
    );
    assert_eq!(
        run_ok(r#"Lit.Actions.setResponse({response: "OK"})"#)
            .await
            .response,
        "OK"
    );
}

/// lit-node's `fetch` (`functions/tests.rs`): the same forecast JSON read
/// twice, as JSON then as text; the response is the temperature, the log
/// the body as sent, and both fetches count. The loopback server's path is
/// `/json` where Lit's mock server's is `/forecast`.
#[tokio::test]
async fn fetch_as_lit_node_tests_it() {
    let h = host();
    let addr = start_http_server().await;
    let code = format!(
        r#"(async () => {{
            const json = await fetch("http://{addr}/json").then(r => r.json())
            const temp = json.properties.periods[0].temperature
            LitActions.setResponse({{response: temp.toString()}})
            const text = await fetch("http://{addr}/json").then(r => r.text())
            console.log(text)
        }})()"#
    );
    let out = run(&h, &code, json!({})).await.expect("the action runs");
    assert_eq!(out.response, "92");
    assert_eq!(
        out.logs,
        "{\"properties\":{\"periods\":[{\"temperature\":92}]}}\n"
    );
    assert_eq!(out.fetches, 2);
}
