//! ES-module imports of deployed actions by CID (`ipfs://<CIDv0>`), through
//! the public `execute` entry point and the test host's action table.

use std::sync::Arc;

use crate::common::*;
use candela_actions::ActionError;
use serde_json::json;

const DOUBLE: &str =
    "export function double(x) { return 2 * x; }\nexport const name = \"double\";\n";

fn cid(code: &str) -> String {
    candela_cid::cid_v0(code.as_bytes())
}

fn host_with(modules: &[(&str, &str)]) -> Arc<TestHost> {
    let mut h = TestHost::new();
    for (cid, code) in modules {
        h.actions.insert(cid.to_string(), code.to_string());
    }
    Arc::new(h)
}

fn error_text(r: Result<candela_actions::ExecutionOutcome, ActionError>) -> String {
    match r {
        Err(e) => e.to_string(),
        Ok(o) => panic!("expected a failure, got {o:?}"),
    }
}

#[tokio::test]
async fn an_action_imports_a_deployed_action_by_cid_and_uses_its_exports() {
    let id = cid(DOUBLE);
    let h = host_with(&[(&id, DOUBLE)]);
    let code = format!(
        "import {{ double, name }} from \"ipfs://{id}\";\n\
         const n = await Promise.resolve(jsParams.n);\n\
         Lit.Actions.setResponse({{ response: `${{name}}(${{n}}) = ${{double(n)}}` }});\n"
    );
    let out = run(&h, &code, json!({"n": 21})).await.expect("runs");
    assert_eq!(out.response, "double(21) = 42");
}

#[tokio::test]
async fn a_script_action_imports_by_cid_with_dynamic_import() {
    let id = cid(DOUBLE);
    let h = host_with(&[(&id, DOUBLE)]);
    let code = format!(
        "var m = await import(\"ipfs://{id}\");\nLit.Actions.setResponse({{ response: String(m.double(5)) }});\n"
    );
    let out = run(&h, &code, json!({})).await.expect("runs");
    assert_eq!(out.response, "10");
}

#[tokio::test]
async fn a_module_whose_code_does_not_hash_to_its_cid_is_refused() {
    let id = cid(DOUBLE);
    // The host serves other code under DOUBLE's CID.
    let evil = DOUBLE.replace("2 * x", "3 * x");
    let h = host_with(&[(&id, &evil)]);
    let code = format!(
        "import {{ double }} from \"ipfs://{id}\";\nLit.Actions.setResponse({{ response: String(double(1)) }});\n"
    );
    let text = error_text(run(&h, &code, json!({})).await);
    assert!(
        text.contains(&format!("import of ipfs://{id} refused")) && text.contains(&cid(&evil)),
        "{text}"
    );
    // and the same through dynamic import, which the action can catch
    let code = format!(
        "try {{ await import(\"ipfs://{id}\"); Lit.Actions.setResponse({{response: \"loaded\"}}) }}\n\
         catch (e) {{ Lit.Actions.setResponse({{ response: String(e.message) }}) }}\n"
    );
    let out = run(&h, &code, json!({})).await.expect("runs");
    assert!(out.response.contains("refused"), "{}", out.response);
}

#[tokio::test]
async fn only_ipfs_cid_specifiers_can_be_imported() {
    let h = host_with(&[]);
    for spec in [
        "js-sha3",
        "./lib.js",
        "https://example.com/x.js",
        "ipfs://QmNotACid",
    ] {
        let code =
            format!("import x from \"{spec}\";\nLit.Actions.setResponse({{response: \"no\"}});\n");
        let text = error_text(run(&h, &code, json!({})).await);
        assert!(text.contains("cannot import"), "{spec}: {text}");
    }
    let text = error_text(run(&h, "import x from \"lodash\";\n", json!({})).await);
    assert!(text.contains("candela build"), "{text}");
}

#[tokio::test]
async fn a_module_the_node_does_not_hold_is_a_clear_error() {
    let id = cid("export const missing = 1;\n");
    let h = host_with(&[]);
    let code = format!("import {{ missing }} from \"ipfs://{id}\";\n");
    let text = error_text(run(&h, &code, json!({})).await);
    assert!(
        text.contains(&format!("import of ipfs://{id}")) && text.contains("no action"),
        "{text}"
    );
}

#[tokio::test]
async fn nested_imports_resolve_and_each_module_is_evaluated_once() {
    let base = "console.log(\"base evaluated\");\nexport const one = 1;\n";
    let base_id = cid(base);
    let middle =
        format!("import {{ one }} from \"ipfs://{base_id}\";\nexport const two = one + one;\n");
    let middle_id = cid(&middle);
    let h = host_with(&[(&base_id, base), (&middle_id, &middle)]);
    let code = format!(
        "import {{ two }} from \"ipfs://{middle_id}\";\n\
         import {{ one }} from \"ipfs://{base_id}\";\n\
         Lit.Actions.setResponse({{ response: String(one + two) }});\n"
    );
    let out = run(&h, &code, json!({})).await.expect("runs");
    assert_eq!(out.response, "3");
    assert_eq!(out.logs, "base evaluated\n");
}

#[tokio::test]
async fn an_imported_module_sees_the_lit_api_and_params() {
    let lib = "export function answer() { Lit.Actions.setResponse({ response: `hi ${jsParams.who}` }); }\n";
    let id = cid(lib);
    let h = host_with(&[(&id, lib)]);
    let code = format!("import {{ answer }} from \"ipfs://{id}\";\nanswer();\n");
    let out = run(&h, &code, json!({"who": "ada"})).await.expect("runs");
    assert_eq!(out.response, "hi ada");
}

#[tokio::test]
async fn imports_switched_off_by_the_host_are_refused() {
    let id = cid(DOUBLE);
    let mut h = TestHost::new();
    h.actions.insert(id.clone(), DOUBLE.to_string());
    h.disabled.push(candela_actions::IMPORT_OP.to_string());
    let code = format!("import {{ double }} from \"ipfs://{id}\";\n");
    let text = error_text(run(&Arc::new(h), &code, json!({})).await);
    assert!(text.contains("not supported by this node"), "{text}");
}

#[tokio::test]
async fn a_syntax_error_in_an_imported_module_names_the_module() {
    let bad = "export const = 1;\n";
    let id = cid(bad);
    let h = host_with(&[(&id, bad)]);
    let code = format!("import {{ x }} from \"ipfs://{id}\";\n");
    let text = error_text(run(&h, &code, json!({})).await);
    assert!(
        text.contains(&format!("import of ipfs://{id}: syntax error")),
        "{text}"
    );
}

#[tokio::test]
async fn an_action_with_a_syntax_error_still_reports_it_as_one() {
    let r = run(&host_with(&[]), "let = ;\n", json!({})).await;
    assert!(matches!(r, Err(ActionError::Syntax { .. })), "{r:?}");
}

#[tokio::test]
async fn a_deeply_nested_module_imported_from_deep_recursion_loads_or_hits_the_stack_limit_without_a_crash(
) {
    // A module nested deeply enough to need real compiler stack, imported
    // from a deep call chain: a stack-limit error or success, never a crash.
    let nested = format!(
        "export const v = {}1{};\n",
        "[".repeat(2000),
        "]".repeat(2000)
    );
    let id = cid(&nested);
    let h = host_with(&[(&id, &nested)]);
    let code = format!(
        "async function deep(n) {{ if (n > 0) return deep(n - 1); const m = await import(\"ipfs://{id}\"); return m.v; }}\n\
         try {{ await deep(300); Lit.Actions.setResponse({{ response: \"loaded\" }}) }}\n\
         catch (e) {{ Lit.Actions.setResponse({{ response: String(e) }}) }}\n"
    );
    let out = run(&h, &code, json!({}))
        .await
        .expect("the run itself ends normally");
    assert!(
        out.response == "loaded"
            || (out.response.contains(&format!("import of ipfs://{id}"))
                && out.response.contains("stack size exceeded")),
        "{}",
        out.response
    );
}
