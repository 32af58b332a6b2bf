//! Conformance suite of the sandbox: every API function, every limit, every
//! disabled capability, run through the public `execute` entry point.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::*;
use candela_actions::{
    execute, execute_with_report, ActionError, AuthContext, ExecutionContext, Host, Limit, Limits,
    SignKind,
};
use serde_json::json;

fn host() -> Arc<TestHost> {
    Arc::new(TestHost::new())
}

fn limit_of(result: &Result<candela_actions::ExecutionOutcome, ActionError>) -> Option<Limit> {
    result.as_ref().err().and_then(ActionError::exceeded_limit)
}

fn script_message(result: Result<candela_actions::ExecutionOutcome, ActionError>) -> String {
    match result {
        Err(ActionError::Script { message, .. }) => message,
        other => panic!("expected a script error, got {other:?}"),
    }
}

// ---- response, console, params, auth -------------------------------------------

#[tokio::test]
async fn set_response_keeps_strings_and_json_encodes_objects() {
    let h = host();
    let out = run(
        &h,
        r#"Lit.Actions.setResponse({response: "OK"})"#,
        json!({}),
    )
    .await
    .unwrap();
    assert_eq!(out.response, "OK");
    let out = run(
        &h,
        r#"LitActions.setResponse({response: {a: [1, "x"], b: null}})"#,
        json!({}),
    )
    .await
    .unwrap();
    assert_eq!(out.response, r#"{"a":[1,"x"],"b":null}"#);
}

#[tokio::test]
async fn console_methods_append_lines_and_format_objects_as_deno_does() {
    let out = run(
        &host(),
        r#"console.log("It"); console.info("works", 1, true); console.warn({a: {b: [1, 2]}});
           console.error(new Error("bad")); console.debug([1, "two"], undefined, null, 10n);"#,
        json!({}),
    )
    .await
    .unwrap();
    let lines: Vec<&str> = out.logs.lines().collect();
    assert_eq!(lines[0], "It");
    assert_eq!(lines[1], "works 1 true");
    assert_eq!(lines[2], r#"{ a: { b: [ 1, 2 ] } }"#);
    assert!(lines[3].starts_with("Error: bad"), "{}", out.logs);
    assert_eq!(*lines.last().unwrap(), r#"[ 1, "two" ] undefined null 10n"#);
}

#[tokio::test]
async fn js_params_are_globals_and_the_jsparams_object() {
    let out = run(
        &host(),
        r#"Lit.Actions.setResponse({response: JSON.stringify([hello, WORLD, jsParams.hello, typeof jsParams])})"#,
        json!({"hello": "hi", "WORLD": [2, 0, 2, 3]}),
    )
    .await
    .unwrap();
    assert_eq!(out.response, r#"["hi",[2,0,2,3],"hi","object"]"#);
}

#[tokio::test]
async fn lit_auth_shows_the_request_context() {
    let ctx = ExecutionContext {
        js_params: None,
        auth: AuthContext {
            action_ipfs_id_stack: vec!["QmParent".into()],
            auth_sig_address: Some("0xabc".into()),
            auth_method_contexts: vec![json!({"authMethodType": 1, "userId": "u"})],
            resources: vec![json!("lit-litaction://*")],
            custom_auth_resource: "custom".into(),
            http_headers: Vec::new(),
        },
    };
    let h: Arc<dyn Host> = host();
    let out = execute(
        r#"Lit.Actions.setResponse({response: JSON.stringify(LitAuth)});
           console.log(Lit.Auth === LitAuth, Lit.Actions === LitActions, Object.isFrozen(Lit), Object.isFrozen(Lit.Actions))"#,
        ctx,
        h,
        &Limits::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        out.response,
        r#"{"actionIpfsIdStack":["QmParent"],"authSigAddress":"0xabc","authMethodContexts":[{"authMethodType":1,"userId":"u"}],"resources":["lit-litaction://*"],"customAuthResource":"custom"}"#
    );
    assert_eq!(out.logs, "true true true true\n");
}

#[tokio::test]
async fn lit_globals_cannot_be_replaced() {
    let out = run(
        &host(),
        r#"(() => { 'use strict';
             try { Lit = 1 } catch (e) { console.log("a", e.name) }
             try { Lit.Actions.signEcdsa = () => 1 } catch (e) { console.log("b", e.name) }
           })();
           Lit = 2;
           console.log(typeof Lit.Actions.signEcdsa)"#,
        json!({}),
    )
    .await
    .unwrap();
    assert_eq!(out.logs, "a TypeError\nb TypeError\nfunction\n");
}

// ---- fetch -------------------------------------------------------------------------

#[tokio::test]
async fn fetch_reaches_a_real_loopback_server() {
    let addr = start_http_server().await;
    let code = format!(
        r#"(async () => {{
            const r = await fetch("http://{addr}/json");
            const json = await r.json();
            LitActions.setResponse({{response: json.properties.periods[0].temperature.toString()}});
            const t = await fetch("http://{addr}/json").then((r) => r.text());
            console.log(r.ok, r.status, r.headers.get("Content-Type"), t);
            const m = await fetch("http://{addr}/missing");
            console.log(m.ok, m.status, await m.text());
            const b = new Uint8Array(await (await fetch("http://{addr}/bytes")).arrayBuffer());
            console.log(Array.from(b).join(","));
            const e = await fetch("http://{addr}/echo", {{method: "POST", headers: {{"X-Test": "yes"}}, body: "payload"}});
            console.log(e.headers.get("x-echo"), await e.text());
        }})()"#
    );
    let out = run(&host(), &code, json!({})).await.unwrap();
    assert_eq!(out.response, "92");
    assert_eq!(out.fetches, 5);
    let lines: Vec<&str> = out.logs.lines().collect();
    assert_eq!(
        lines[0],
        r#"true 200 application/json {"properties":{"periods":[{"temperature":92}]}}"#
    );
    assert_eq!(lines[1], "false 404 nothing here");
    assert_eq!(lines[2], "0,1,2,254,255");
    assert_eq!(lines[3], "yes payload");
}

#[tokio::test]
async fn fetch_failure_is_a_catchable_rejection() {
    let out = run(
        &host(),
        r#"(async () => { try { await fetch("http://127.0.0.1:1/nothing") } catch (e) { console.log("caught", e.message.startsWith("fetch failed")) } })()"#,
        json!({}),
    )
    .await
    .unwrap();
    assert_eq!(out.logs, "caught true\n");
}

// ---- signing -----------------------------------------------------------------------

#[tokio::test]
async fn sign_ecdsa_sends_32_bytes_to_the_host_and_records_the_request() {
    let mut h = TestHost::new();
    let pk = h.add_key(1);
    let h = Arc::new(h);
    let out = run(
        &h,
        r#"(async () => {
            const a = await LitActions.signEcdsa({toSign: new Uint8Array(32).fill(7), publicKey, sigName: "s1"});
            const b = await Lit.Actions.signEcdsa({toSign: Array.from({length: 32}, (_, i) => i), publicKey, sigName: "s2"});
            Lit.Actions.setResponse({response: a + "," + b});
        })()"#,
        json!({"publicKey": pk}),
    )
    .await
    .unwrap();
    assert_eq!(out.response, "success,success");
    assert_eq!(out.signatures.len(), 2);
    assert_eq!(out.signatures[0].to_sign, [7u8; 32]);
    assert_eq!(out.signatures[0].sig_name, "s1");
    assert_eq!(out.signatures[0].kind, SignKind::Raw);
    assert_eq!(
        out.signatures[1].to_sign.to_vec(),
        (0u8..32).collect::<Vec<_>>()
    );
    assert_eq!(*h.signed.lock().unwrap(), out.signatures);
}

#[tokio::test]
async fn sign_ecdsa_rejects_anything_but_32_bytes_with_a_clear_error() {
    let h = host();
    for (to_sign, expect) in [
        (
            "[1, 2, 3]",
            "toSign must be exactly 32 bytes (a hash), got 3 bytes",
        ),
        (
            "'0x' + '11'.repeat(32)",
            "toSign must be a Uint8Array or an array of numbers, got string",
        ),
        (
            "new Array(32).fill(256)",
            "toSign must be bytes: element 0 is 256",
        ),
        ("undefined", "toSign must not be empty"),
    ] {
        let code = format!(
            r#"(async () => {{ try {{ await LitActions.signEcdsa({{toSign: {to_sign}, publicKey: "0x04", sigName: "s"}}) }} catch (e) {{ console.log(e.message) }} }})()"#
        );
        let out = run(&h, &code, json!({})).await.unwrap();
        assert!(out.logs.contains(expect), "{to_sign}: {}", out.logs);
        assert!(out.signatures.is_empty());
    }
}

#[tokio::test]
async fn eth_personal_sign_signs_the_eip191_hash() {
    let mut h = TestHost::new();
    let pk = h.add_key(2);
    let h = Arc::new(h);
    let out = run(
        &h,
        r#"(async () => { const r = await Lit.Actions.ethPersonalSignMessageEcdsa({message: "hello world", publicKey, sigName: "sig"}); Lit.Actions.setResponse({response: r}) })()"#,
        json!({"publicKey": pk}),
    )
    .await
    .unwrap();
    assert_eq!(out.response, "success");
    assert_eq!(out.signatures[0].kind, SignKind::EthPersonalMessage);
    assert_eq!(
        out.signatures[0].to_sign,
        candela_actions::hashing::eip191_hash(b"hello world")
    );
}

#[tokio::test]
async fn sign_and_combine_returns_the_hosts_combined_signature() {
    let mut h = TestHost::new();
    let pk = h.add_key(3);
    let h = Arc::new(h);
    let out = run(
        &h,
        r#"(async () => { const s = await Lit.Actions.signAndCombineEcdsa({toSign: new Uint8Array(32).fill(1), publicKey, sigName: "c"}); Lit.Actions.setResponse({response: s}) })()"#,
        json!({"publicKey": pk}),
    )
    .await
    .unwrap();
    let sig: serde_json::Value = serde_json::from_str(&out.response).unwrap();
    // Lit's shape: exactly r (compressed R, 66 hex), s (64 hex), v (0 or 1).
    let keys: Vec<&String> = sig.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["r", "s", "v"], "{sig}");
    let r = sig["r"].as_str().unwrap();
    assert_eq!(r.len(), 66, "{sig}");
    assert!(r.starts_with("02") || r.starts_with("03"), "{sig}");
    assert_eq!(sig["s"].as_str().unwrap().len(), 64, "{sig}");
    assert!(sig["v"] == 0 || sig["v"] == 1, "{sig}");
    assert_eq!(out.signatures[0].kind, SignKind::Combined);
}

#[tokio::test]
async fn lits_documented_join_signature_pattern_recovers_the_pkp_address() {
    // Lit's documented pattern: parse, drop r's first byte, prefix s, join;
    // the joined signature must recover to the PKP's own address, many times
    // over (so both recovery ids and both prefixes are exercised).
    let mut h = TestHost::new();
    let pk = h.add_key(3);
    let h = Arc::new(h);
    let out = run(
        &h,
        r#"(async () => {
            const seen = { v0: 0, v1: 0, ok: 0, n: 0 };
            for (let i = 0; i < 8; i++) {
                const toSign = ethers.utils.arrayify(ethers.utils.keccak256(ethers.utils.toUtf8Bytes("tx " + i)));
                const signature = await Lit.Actions.signAndCombineEcdsa({ toSign, publicKey, sigName: "sig" + i });
                const jsonSignature = JSON.parse(signature);
                jsonSignature.r = "0x" + jsonSignature.r.substring(2);
                jsonSignature.s = "0x" + jsonSignature.s;
                const hexSignature = ethers.utils.joinSignature(jsonSignature);
                const recovered = ethers.utils.recoverAddress(toSign, hexSignature);
                if (recovered === ethers.utils.computeAddress("0x" + publicKey.replace(/^0x/, ""))) seen.ok++;
                seen[jsonSignature.v === 0 ? "v0" : "v1"]++;
                seen.n++;
            }
            Lit.Actions.setResponse({ response: JSON.stringify(seen) });
        })()"#,
        json!({"publicKey": pk}),
    )
    .await
    .unwrap();
    let seen: serde_json::Value = serde_json::from_str(&out.response).unwrap();
    assert_eq!(seen["ok"], 8, "{seen}");
}

#[tokio::test]
async fn host_refusal_reaches_the_action_as_an_error() {
    let out = run(
        &host(),
        r#"(async () => { try { await LitActions.signEcdsa({toSign: new Uint8Array(32), publicKey: "0x04ab", sigName: "s"}) } catch (e) { console.log(e.message) } })()"#,
        json!({}),
    )
    .await
    .unwrap();
    assert_eq!(out.logs, "permission denied: no key share for PKP 0x04ab\n");
}

// ---- runOnce, broadcast, call, chain data, generic ops ----------------------------------

#[tokio::test]
async fn run_once_on_the_leader_runs_the_function_and_publishes_its_result() {
    let mut h = TestHost::new();
    h.leader = true;
    let h = Arc::new(h);
    let out = run(
        &h,
        r#"(async () => {
            let runs = 0;
            const r = await Lit.Actions.runOnce({waitForResponse: true, name: "tx"}, async () => { runs++; return "0xhash"; });
            Lit.Actions.setResponse({response: r + ":" + runs});
        })()"#,
        json!({}),
    )
    .await
    .unwrap();
    assert_eq!(out.response, "0xhash:1");
    assert_eq!(h.run_once_values.lock().unwrap()["tx"], "0xhash");
}

#[tokio::test]
async fn run_once_on_a_follower_waits_for_the_leaders_result() {
    let h = TestHost::new();
    h.run_once_values
        .lock()
        .unwrap()
        .insert("tx".into(), "from-leader".into());
    let h = Arc::new(h);
    let out = run(
        &h,
        r#"(async () => {
            let runs = 0;
            const r = await Lit.Actions.runOnce({waitForResponse: true, name: "tx"}, async () => { runs++; return "mine"; });
            const n = await Lit.Actions.runOnce({waitForResponse: false, name: "other"}, async () => { runs++; return "x"; });
            Lit.Actions.setResponse({response: r + ":" + runs + ":" + n});
        })()"#,
        json!({}),
    )
    .await
    .unwrap();
    assert_eq!(out.response, "from-leader:0:undefined");
}

#[tokio::test]
async fn broadcast_and_collect_returns_every_nodes_value() {
    let mut h = TestHost::new();
    h.peer_values = vec!["1".into(), "3".into()];
    let h = Arc::new(h);
    let out = run(
        &h,
        r#"(async () => { const v = await Lit.Actions.broadcastAndCollect({name: "price", value: "2"}); Lit.Actions.setResponse({response: JSON.stringify(v)}) })()"#,
        json!({}),
    )
    .await
    .unwrap();
    assert_eq!(out.response, r#"["1","3","2"]"#);
    assert_eq!(out.broadcasts, 1);
}

#[tokio::test]
async fn call_runs_a_child_action_with_its_params_and_cid_on_the_stack() {
    let mut h = TestHost::new();
    h.actions.insert(
        "QmChild".into(),
        r#"(async () => {
            console.log("child", Link, LitAuth.actionIpfsIdStack.join(","), "actionIpfsIds" in LitAuth);
            LitActions.setResponse({response: "child:" + Link});
        })()"#
            .into(),
    );
    let h = Arc::new(h);
    let ctx = ExecutionContext {
        js_params: None,
        auth: AuthContext {
            action_ipfs_id_stack: vec!["QmParent".into()],
            ..Default::default()
        },
    };
    let dynh: Arc<dyn Host> = h.clone();
    let out = execute(
        r#"(async () => {
            console.log("start");
            const r = await LitActions.call({ipfsId: "QmChild", params: {Link: "L1"}});
            console.log("parent got", r);
        })()"#,
        ctx,
        dynh,
        &Limits::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        out.logs,
        "start\nchild L1 QmParent,QmChild false\nparent got child:L1\n"
    );
    assert_eq!(out.calls, 1);
    assert_eq!(out.response, "child:L1");
}

#[tokio::test]
async fn a_failing_child_rejects_the_parents_call() {
    let mut h = TestHost::new();
    h.actions
        .insert("QmBad".into(), r#"throw new Error("child broke")"#.into());
    let h = Arc::new(h);
    let out = run(
        &h,
        r#"(async () => { try { await Lit.Actions.call({ipfsId: "QmBad"}) } catch (e) { console.log(e.message) } try { await Lit.Actions.call({ipfsId: "QmNone"}) } catch (e) { console.log(e.message) } })()"#,
        json!({}),
    )
    .await
    .unwrap();
    // the child's uncaught error as Lit passes it to the parent
    assert_eq!(
        out.logs,
        "Uncaught Error: child broke\n    at <user_provided_script>:1:7\nno action with CID QmNone\n"
    );
}

#[tokio::test]
async fn chain_helpers_and_token_ids() {
    let mut h = TestHost::new();
    h.rpc_urls
        .insert("ethereum".into(), "http://127.0.0.1:8545".into());
    let pk = h.add_key(4);
    let h = Arc::new(h);
    let out = run(
        &h,
        r#"(async () => {
            console.log(await Lit.Actions.getRpcUrl({chain: "ethereum"}));
            console.log(await Lit.Actions.getLatestNonce({address: "0x" + "ab".repeat(20), chain: "ethereum"}));
            console.log(Lit.Actions.pubkeyToTokenId({publicKey}));
            console.log(await Lit.Actions.pubkeyToTokenId({publicKey}));
        })()"#,
        json!({"publicKey": pk}),
    )
    .await
    .unwrap();
    // Lit's formula: keccak256 of the key's bytes as given (the 65 bytes
    // with 0x04 for a PKP key)
    let token = candela_actions::hashing::pubkey_to_token_id(&pk).unwrap();
    let raw = hex::decode(&pk[2..]).unwrap();
    assert_eq!(raw.len(), 65);
    assert_eq!(
        token,
        format!(
            "0x{}",
            hex::encode(candela_actions::hashing::keccak256(&raw))
        )
    );
    assert_eq!(
        out.logs,
        format!("http://127.0.0.1:8545\n0x2a\n{token}\n{token}\n")
    );
}

#[tokio::test]
async fn generic_ops_reach_the_host_and_can_be_disabled() {
    let mut h = TestHost::new();
    h.permitted_actions = vec!["QmA".into()];
    h.disabled = vec!["getRpcUrl".into()];
    let h = Arc::new(h);
    let out = run(
        &h,
        r#"(async () => {
            console.log(await Lit.Actions.isPermittedAction({tokenId: "1", ipfsId: "QmA"}));
            console.log(await Lit.Actions.isPermittedAction({tokenId: "1", ipfsId: "QmB"}));
            console.log(JSON.stringify(await Lit.Actions.getPermittedActions({tokenId: "1"})));
            for (const f of [() => Lit.Actions.checkConditions({conditions: [{}], chain: "ethereum"}), () => Lit.Actions.getRpcUrl({chain: "x"})]) {
                try { await f() } catch (e) { console.log(e.message) }
            }
        })()"#,
        json!({}),
    )
    .await
    .unwrap();
    assert_eq!(
        out.logs,
        "true\nfalse\n[\"QmA\"]\ncheckConditions is not supported by this node\ngetRpcUrl is not supported by this node\n"
    );
}

// ---- web globals -------------------------------------------------------------------------

#[tokio::test]
async fn text_base64_random_and_timers_work() {
    let out = run(
        &host(),
        r#"(async () => {
            const b = new TextEncoder().encode("héllo");
            console.log(b.length, new TextDecoder().decode(b));
            console.log(btoa("hello"), atob("aGVsbG8="));
            const r = crypto.getRandomValues(new Uint8Array(16));
            console.log(r.length, r.some((x) => x !== 0), crypto.randomUUID().length);
            console.log(Lit.Actions.uint8arrayToString(Lit.Actions.uint8arrayFromString("abc"), "base16"));
            const order = [];
            await new Promise((res) => { setTimeout(() => order.push(2), 20); setTimeout(() => { order.push(3); res(); }, 40); setTimeout(() => order.push(1), 5); });
            const cancelled = setTimeout(() => order.push("never"), 1);
            clearTimeout(cancelled);
            let ticks = 0;
            await new Promise((res) => { const id = setInterval(() => { if (++ticks === 3) { clearInterval(id); res(); } }, 1); });
            console.log(order.join(","), ticks);
        })()"#,
        json!({}),
    )
    .await
    .unwrap();
    assert_eq!(
        out.logs,
        "6 héllo\naGVsbG8= hello\n16 true 36\n616263\n1,2,3 3\n"
    );
}

#[tokio::test]
async fn top_level_await_is_supported() {
    let out = run(
        &host(),
        r#"const v = await new Promise((r) => setTimeout(() => r(41), 5)); Lit.Actions.setResponse({response: String(v + 1)})"#,
        json!({}),
    )
    .await
    .unwrap();
    assert_eq!(out.response, "42");
}

#[tokio::test]
async fn the_run_ends_when_pending_work_settles_not_when_the_script_returns() {
    let addr = start_http_server().await;
    let code = format!(
        r#"fetch("http://{addr}/json").then((r) => r.json()).then((j) => setTimeout(() => Lit.Actions.setResponse({{response: "late " + j.properties.periods[0].temperature}}), 10));"#
    );
    let out = run(&host(), &code, json!({})).await.unwrap();
    assert_eq!(out.response, "late 92");
}

// ---- script errors -----------------------------------------------------------------------

#[tokio::test]
async fn exceptions_become_script_errors_with_stack() {
    let r = run(
        &host(),
        "function f() { throw new TypeError('boom') }\nf()",
        json!({}),
    )
    .await;
    match r {
        Err(ActionError::Script { message, stack }) => {
            assert_eq!(
                message,
                "Uncaught TypeError: boom\n    at f (<user_provided_script>:1:22)\n    at <user_provided_script>:2:1"
            );
            assert!(stack.unwrap().contains("action.js:1"));
        }
        other => panic!("{other:?}"),
    }
    let r = run(
        &host(),
        r#"(async () => { throw new Error("later") })()"#,
        json!({}),
    )
    .await;
    assert_eq!(
        script_message(r).lines().next(),
        Some("Uncaught (in promise) Error: later")
    );
    let r = run(&host(), "let x = ;", json!({})).await;
    assert!(matches!(r, Err(ActionError::Syntax { .. })), "{r:?}");
}

#[tokio::test]
async fn logs_of_a_failed_run_are_kept_in_the_report() {
    let h: Arc<dyn Host> = host();
    let report = execute_with_report(
        r#"console.log("before"); throw new Error("x")"#,
        ExecutionContext::default(),
        h,
        &Limits::default(),
    )
    .await;
    assert_eq!(report.outcome.logs, "before\n");
    assert!(report.error.is_some());
}

// ---- disabled capabilities -------------------------------------------------------------------

#[tokio::test]
async fn eval_and_every_function_constructor_are_disabled() {
    let out = run(
        &host(),
        r#"
        const attempts = {
            eval: () => eval("1 + 1"),
            indirectEval: () => (0, globalThis["ev" + "al"])("1"),
            newFunction: () => new Function("return 1")(),
            callFunction: () => Function("return 1")(),
            viaConstructor: () => (function () {}).constructor("return 1")(),
            asyncFunction: () => (async function () {}).constructor("return 1"),
            generatorFunction: () => (function* () {}).constructor("yield 1"),
            asyncGenerator: () => (async function* () {}).constructor("yield 1"),
            protoConstructor: () => Object.getPrototypeOf(() => 0).constructor("return 1")(),
        };
        for (const [name, attempt] of Object.entries(attempts)) {
            try { attempt(); console.log(name, "ALLOWED"); } catch (e) { console.log(name, "blocked"); }
        }"#,
        json!({}),
    )
    .await
    .unwrap();
    assert!(!out.logs.contains("ALLOWED"), "{}", out.logs);
    assert_eq!(out.logs.lines().count(), 9);
}

#[tokio::test]
async fn no_modules_filesystem_process_or_environment() {
    let out = run(
        &host(),
        r#"(async () => {
            for (const m of ["std", "os", "fs", "node:fs"]) {
                try { await import(m); console.log(m, "ALLOWED") } catch (e) { console.log(m, "blocked") }
            }
            console.log(typeof require, typeof process, typeof std, typeof os, typeof scriptArgs, typeof print);
            // Deno exists, shaped as Lit shows it, and refuses file access (tests/lit_conformance.rs).
            try { Deno.readTextFileSync("/etc/passwd"); console.log("Deno ALLOWED") } catch (e) { console.log(e.name) }
        })()"#,
        json!({}),
    )
    .await
    .unwrap();
    assert!(!out.logs.contains("ALLOWED"), "{}", out.logs);
    assert!(
        out.logs
            .ends_with("undefined undefined undefined undefined undefined undefined\nNotCapable\n"),
        "{}",
        out.logs
    );
}

// ---- limits ------------------------------------------------------------------------------------

fn assert_limit(
    r: &Result<candela_actions::ExecutionOutcome, ActionError>,
    limit: Limit,
    words: &str,
) {
    assert_eq!(limit_of(r), Some(limit), "{r:?}");
    let text = r.as_ref().unwrap_err().to_string();
    assert!(
        text.starts_with(&format!("{limit} limit exceeded")),
        "{text}"
    );
    assert!(text.contains(words), "{text}");
}

#[tokio::test]
async fn an_infinite_loop_is_stopped_by_the_wall_time_limit() {
    let limits = Limits {
        wall_time: Duration::from_millis(300),
        ..Limits::default()
    };
    let start = Instant::now();
    let r = run_with(&host(), "while (true) {}", json!({}), &limits).await;
    assert!(start.elapsed() < Duration::from_secs(3));
    assert_limit(&r, Limit::WallTime, "maximum runtime of 300ms");
    // Also while waiting on a timer, and a catch does not save the action.
    let r = run_with(
        &host(),
        "try { await new Promise(() => setTimeout(() => 0, 60000)) } catch (e) {}",
        json!({}),
        &limits,
    )
    .await;
    assert_limit(&r, Limit::WallTime, "300ms");
    let r = run_with(
        &host(),
        "for (;;) { try { while (true) {} } catch (e) {} }",
        json!({}),
        &limits,
    )
    .await;
    assert_limit(&r, Limit::WallTime, "300ms");
}

#[tokio::test]
async fn a_memory_bomb_is_stopped_by_the_memory_limit() {
    let limits = Limits {
        memory_bytes: 32 * 1024 * 1024,
        ..Limits::default()
    };
    let r = run_with(
        &host(),
        r#"const keep = []; let i = 0; while (true) keep.push("x".repeat(4096) + i++)"#,
        json!({}),
        &limits,
    )
    .await;
    assert_limit(&r, Limit::Memory, "maximum memory of 32 MB");
    let r = run_with(
        &host(),
        "const a = []; while (true) a.push({x: [1, 2, 3]})",
        json!({}),
        &limits,
    )
    .await;
    assert_limit(&r, Limit::Memory, "32 MB");
}

/// A host whose child actions hold `mib` MiB each while they run.
fn host_with_hungry_child(mib: u32) -> Arc<TestHost> {
    let mut h = TestHost::new();
    h.actions.insert(
        "QmHungry".into(),
        format!(
            r#"const big = "y".repeat({mib} * 1024 * 1024);
            Lit.Actions.setResponse({{response: "child held " + big.length}});"#
        ),
    );
    Arc::new(h)
}

#[tokio::test]
async fn the_memory_limit_bounds_a_parent_and_its_call_children_together() {
    let limits = Limits {
        memory_bytes: 32 * 1024 * 1024,
        ..Limits::default()
    };
    // 20 MiB in the parent and 20 MiB in its child: each under the limit
    // alone, over it together.
    let parent = r#"
        const mine = "x".repeat(20 * 1024 * 1024);
        const r = await Lit.Actions.call({ipfsId: "QmHungry"});
        Lit.Actions.setResponse({response: r + " parent held " + mine.length});
    "#;
    let r = run_with(&host_with_hungry_child(20), parent, json!({}), &limits).await;
    assert_limit(&r, Limit::Memory, "maximum memory of 32 MB");
    // Two children at once, 12 MiB each, under a parent holding 12 MiB.
    let r = run_with(
        &host_with_hungry_child(12),
        r#"
        const mine = "x".repeat(12 * 1024 * 1024);
        const rs = await Promise.all([
            Lit.Actions.call({ipfsId: "QmHungry"}),
            Lit.Actions.call({ipfsId: "QmHungry"}),
        ]);
        Lit.Actions.setResponse({response: rs.join(",") + mine.length});
        "#,
        json!({}),
        &limits,
    )
    .await;
    assert_eq!(limit_of(&r), Some(Limit::Memory), "{r:?}");
    // What a finished child held is given back: children one after the
    // other, each under the limit with the parent, all run.
    let out = run_with(
        &host_with_hungry_child(12),
        r#"
        const mine = "x".repeat(8 * 1024 * 1024);
        let last = "";
        for (let i = 0; i < 4; i++) last = await Lit.Actions.call({ipfsId: "QmHungry"});
        Lit.Actions.setResponse({response: last});
        "#,
        json!({}),
        &limits,
    )
    .await
    .expect("children one after another fit");
    assert_eq!(out.response, format!("child held {}", 12 * 1024 * 1024));
}

#[tokio::test]
async fn deep_recursion_is_stopped_by_the_stack_limit() {
    let r = run(
        &host(),
        "function f(n) { return f(n + 1) + 1 } f(0)",
        json!({}),
    )
    .await;
    assert_limit(&r, Limit::Stack, "stack");
    // A caught overflow is an ordinary error the action may handle.
    let out = run(
        &host(),
        "function f() { f() } try { f() } catch (e) { console.log(e.name) }",
        json!({}),
    )
    .await
    .unwrap();
    assert_eq!(out.logs, "RangeError\n");
}

#[tokio::test]
async fn fetches_over_the_limit_are_refused_and_the_action_may_go_on() {
    let addr = start_http_server().await;
    let limits = Limits {
        fetches: 2,
        ..Limits::default()
    };
    let code = format!(
        r#"(async () => {{ for (let i = 0; i < 5; i++) {{ try {{ await fetch("http://{addr}/json") }} catch (e) {{ console.log("caught") }} }} Lit.Actions.setResponse({{response: "survived"}}) }})()"#
    );
    let report = execute_with_report(
        &code,
        ExecutionContext::default(),
        host() as Arc<dyn Host>,
        &limits,
    )
    .await;
    assert_eq!(report.error, None);
    // every call counts, as in Lit; three were refused
    assert_eq!(report.outcome.fetches, 5);
    assert_eq!(report.outcome.logs, "caught\ncaught\ncaught\n");
    assert_eq!(report.outcome.response, "survived");
}

#[tokio::test]
async fn signatures_over_the_limit_are_refused_before_the_host_signs() {
    let mut h = TestHost::new();
    let pk = h.add_key(5);
    let h = Arc::new(h);
    let limits = Limits {
        signatures: 3,
        ..Limits::default()
    };
    let code = r#"(async () => { for (let i = 0; i < 5; i++) { try { await LitActions.signEcdsa({toSign: new Uint8Array(32).fill(i), publicKey, sigName: "s" + i}) } catch (e) {} } })()"#;
    let out = run_with(&h, code, json!({"publicKey": pk}), &limits)
        .await
        .expect("refusals are caught");
    assert_eq!(out.signatures.len(), 3);
    assert_eq!(h.signed.lock().unwrap().len(), 3);
    // not caught, a refusal ends the run as the limit
    let code = r#"(async () => { for (let i = 0; i < 5; i++) { await LitActions.signEcdsa({toSign: new Uint8Array(32).fill(i), publicKey, sigName: "s" + i}) } })()"#;
    let r = run_with(&h, code, json!({"publicKey": pk}), &limits).await;
    assert_limit(&r, Limit::Signatures, "sign more than 3 times");
}

#[tokio::test]
async fn a_too_big_response_is_refused() {
    let limits = Limits {
        response_bytes: 10,
        ..Limits::default()
    };
    let out = run_with(&host(), r#"try { Lit.Actions.setResponse({response: "x".repeat(11)}) } catch (e) {} Lit.Actions.setResponse({response: "ok"})"#, json!({}), &limits).await.expect("the refusal is caught");
    assert_eq!(out.response, "ok");
    let r = run_with(
        &host(),
        r#"Lit.Actions.setResponse({response: "x".repeat(11)})"#,
        json!({}),
        &limits,
    )
    .await;
    assert_limit(&r, Limit::ResponseSize, "Max length is 10 bytes");
    let out = run_with(
        &host(),
        r#"Lit.Actions.setResponse({response: "x".repeat(10)})"#,
        json!({}),
        &limits,
    )
    .await
    .unwrap();
    assert_eq!(out.response.len(), 10);
}

#[tokio::test]
async fn too_much_console_output_ends_the_run_and_keeps_what_fit() {
    let limits = Limits {
        console_bytes: 8,
        ..Limits::default()
    };
    let report = execute_with_report(
        r#"console.log("ok"); console.log("too long")"#,
        ExecutionContext::default(),
        host() as Arc<dyn Host>,
        &limits,
    )
    .await;
    assert_eq!(report.outcome.logs, "ok\n");
    assert_limit(
        &report.into_result(),
        Limit::ConsoleOutput,
        "logs in a single request is 8 bytes",
    );
}

#[tokio::test]
async fn nested_calls_deeper_than_the_limit_are_refused() {
    let mut h = TestHost::new();
    h.actions.insert(
        "QmSelf".into(),
        r#"(async () => { console.log("depth", LitAuth.actionIpfsIdStack.length); await Lit.Actions.call({ipfsId: "QmSelf"}) })()"#.into(),
    );
    let h = Arc::new(h);
    let limits = Limits {
        call_depth: 2,
        ..Limits::default()
    };
    let report = execute_with_report(
        r#"(async () => { await Lit.Actions.call({ipfsId: "QmSelf"}) })()"#,
        ExecutionContext::default(),
        h as Arc<dyn Host>,
        &limits,
    )
    .await;
    assert_eq!(report.outcome.logs, "depth 1\ndepth 2\n");
    assert_limit(
        &report.into_result(),
        Limit::CallDepth,
        "recursion limit of a child action is 2",
    );
}

#[tokio::test]
async fn limits_are_shared_with_child_actions() {
    let mut h = TestHost::new();
    let pk = h.add_key(6);
    h.actions.insert(
        "QmSigner".into(),
        r#"(async () => { await LitActions.signEcdsa({toSign: new Uint8Array(32), publicKey, sigName: "child"}) })()"#.into(),
    );
    let h = Arc::new(h);
    let limits = Limits {
        signatures: 2,
        ..Limits::default()
    };
    let code = r#"(async () => { for (let i = 0; i < 3; i++) await Lit.Actions.call({ipfsId: "QmSigner", params: {publicKey}}) })()"#;
    let r = run_with(&h, code, json!({"publicKey": pk}), &limits).await;
    assert_limit(&r, Limit::Signatures, "more than 2 times");
    assert_eq!(h.signed.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn too_many_broadcasts_end_the_run() {
    let limits = Limits {
        broadcasts: 1,
        ..Limits::default()
    };
    let r = run_with(&host(), r#"(async () => { await Lit.Actions.broadcastAndCollect({name: "a", value: "1"}); await Lit.Actions.broadcastAndCollect({name: "b", value: "2"}) })()"#, json!({}), &limits).await;
    assert_limit(&r, Limit::Broadcasts, "more than 1 times");
}

#[tokio::test]
async fn code_larger_than_the_limit_is_refused() {
    let limits = Limits {
        code_bytes: 10,
        ..Limits::default()
    };
    let r = run_with(&host(), "const n = 1000", json!({}), &limits).await;
    assert_limit(
        &r,
        Limit::CodeSize,
        "Code payload is too large (14 bytes). Max length is 10 bytes.",
    );
}

#[tokio::test]
async fn execution_does_not_block_the_tokio_runtime() {
    // A current-thread runtime: if the action ran on it, the ticker could not tick.
    let limits = Limits {
        wall_time: Duration::from_millis(300),
        ..Limits::default()
    };
    let ticker = tokio::spawn(async {
        let mut n = 0;
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_millis(10)).await;
            n += 1;
        }
        n
    });
    let r = run_with(&host(), "while (true) {}", json!({}), &limits).await;
    assert_eq!(limit_of(&r), Some(Limit::WallTime));
    assert_eq!(ticker.await.unwrap(), 10);
}
