//! The Web classes beside `fetch`: `Headers`, `Request`, `Response`, as
//! actions written for Lit's runtime (Deno) use them.

use std::sync::Arc;

use crate::common::*;
use serde_json::json;

fn host() -> Arc<TestHost> {
    Arc::new(TestHost::new())
}

async fn response(host: &Arc<TestHost>, code: &str) -> serde_json::Value {
    let out = run(host, code, json!({}))
        .await
        .unwrap_or_else(|e| panic!("the action failed: {e}"));
    serde_json::from_str(&out.response).expect("JSON response")
}

#[tokio::test]
async fn headers_are_case_insensitive_join_repeats_and_iterate_sorted() {
    let v = response(
        &host(),
        r#"
        const h = new Headers({"X-B": "2", "x-a": "1"});
        h.append("X-A", "3");
        Lit.Actions.setResponse({response: JSON.stringify({
            a: h.get("x-A"), has: h.has("X-B"), missing: h.get("nope"),
            entries: [...h], keys: [...h.keys()],
            tag: Object.prototype.toString.call(h),
        })});
        "#,
    )
    .await;
    assert_eq!(
        v,
        json!({"a": "1, 3", "has": true, "missing": null, "entries": [["x-a", "1, 3"], ["x-b", "2"]], "keys": ["x-a", "x-b"], "tag": "[object Headers]"})
    );
}

#[tokio::test]
async fn responses_can_be_constructed_read_once_and_cloned() {
    let v = response(
        &host(),
        r#"(async () => {
            const r = new Response("hi there", {status: 201, statusText: "Created", headers: {"X-A": "1"}});
            const copy = r.clone();
            const text = await r.text();
            let again;
            try { await r.text() } catch (e) { again = e.name }
            const j = Response.json({a: 1});
            let badStatus;
            try { new Response("", {status: 99}) } catch (e) { badStatus = e.name }
            Lit.Actions.setResponse({response: JSON.stringify({
                text, again, status: r.status, ok: r.ok, statusText: r.statusText,
                xa: r.headers.get("x-a"), type: r.headers.get("content-type"),
                copy: await copy.text(), used: r.bodyUsed,
                json: await j.json(), jsonType: j.headers.get("content-type"),
                bytes: Array.from(new Uint8Array(await new Response(new Uint8Array([1, 2, 3])).arrayBuffer())),
                empty: await new Response().text(),
                badStatus,
            })});
        })()"#,
    )
    .await;
    assert_eq!(
        v,
        json!({
            "text": "hi there", "again": "TypeError", "status": 201, "ok": true, "statusText": "Created",
            "xa": "1", "type": "text/plain;charset=UTF-8", "copy": "hi there", "used": true,
            "json": {"a": 1}, "jsonType": "application/json", "bytes": [1, 2, 3], "empty": "",
            "badStatus": "RangeError"
        })
    );
}

#[tokio::test]
async fn requests_carry_method_headers_and_body_into_fetch() {
    let h = host();
    let addr = start_http_server().await;
    let code = format!(
        r#"(async () => {{
            const req = new Request("http://{addr}/echo", {{method: "post", headers: {{"X-Test": "hello"}}, body: "payload"}});
            let getWithBody;
            try {{ new Request("http://{addr}/", {{body: "x"}}) }} catch (e) {{ getWithBody = e.name }}
            const r = await fetch(req);
            const viaInit = await fetch("http://{addr}/echo", {{method: "POST", headers: new Headers({{"x-test": "again"}}), body: new Uint8Array([104, 105])}});
            Lit.Actions.setResponse({{response: JSON.stringify({{
                method: req.method, url: req.url, getWithBody,
                echoed: r.headers.get("X-Echo"), body: await r.text(),
                echoed2: viaInit.headers.get("x-echo"), body2: await viaInit.text(),
                missing: (await fetch("http://{addr}/missing")).status,
            }})}});
        }})()"#
    );
    let v = response(&h, &code).await;
    assert_eq!(
        v,
        json!({
            "method": "POST", "url": format!("http://{addr}/echo"), "getWithBody": "TypeError",
            "echoed": "hello", "body": "payload", "echoed2": "again", "body2": "hi", "missing": 404
        })
    );
}
