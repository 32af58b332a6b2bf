//! The declarative test format of `tests/NAME.test.json`, and how a case's
//! expectations are checked against what the network answered.
//!
//! ```json
//! {
//!   "action": "hello",
//!   "cases": [{
//!     "name": "greets and signs",
//!     "jsParams": { "message": "world", "publicKey": "$PKP_PUBLIC_KEY" },
//!     "expect": {
//!       "response": { "greeting": "hello, world" },
//!       "signatures": ["sig1"],
//!       "logsContain": ["signing"]
//!     }
//!   }]
//! }
//! ```
//! `response` is compared with the action's response: a JSON string equals
//! the raw response, any other JSON value equals the response parsed as
//! JSON. Each name in `signatures` must be a signature the nodes combined,
//! verified (independently of the client) under the PKP key. Each string of
//! `logsContain` must appear in the logs. `error`, instead, expects the run
//! to fail with a message containing that text. The string
//! `"$PKP_PUBLIC_KEY"` anywhere in `jsParams` becomes the run's PKP key.
use serde::Deserialize;
use serde_json::Value;

/// Placeholder in `jsParams` replaced by the PKP public key.
pub const PKP_PLACEHOLDER: &str = "$PKP_PUBLIC_KEY";

/// One test file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    /// The action under test (a name under `actions/`).
    pub action: String,
    /// Its cases, run in order.
    pub cases: Vec<Case>,
}

/// One run of the action and what it must produce.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Case {
    /// What the case checks.
    pub name: String,
    /// The action's `jsParams`.
    #[serde(default)]
    pub js_params: Option<Value>,
    /// Expectations.
    #[serde(default)]
    pub expect: Expect,
}

/// What a case expects.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Expect {
    /// The response (a string: the raw response; else the parsed JSON).
    pub response: Option<Value>,
    /// Names of signatures that must be produced and verify.
    #[serde(default)]
    pub signatures: Vec<String>,
    /// Texts the logs must contain.
    #[serde(default)]
    pub logs_contain: Vec<String>,
    /// The run must fail with an error containing this text.
    pub error: Option<String>,
}

/// `params` with every `"$PKP_PUBLIC_KEY"` string replaced by `key`.
pub fn substitute(params: &Value, key: &str) -> Value {
    match params {
        Value::String(s) if s == PKP_PLACEHOLDER => Value::String(key.to_string()),
        Value::Array(a) => Value::Array(a.iter().map(|v| substitute(v, key)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), substitute(v, key)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Whether `params` uses the PKP placeholder.
pub fn uses_pkp(params: &Value) -> bool {
    match params {
        Value::String(s) => s == PKP_PLACEHOLDER,
        Value::Array(a) => a.iter().any(uses_pkp),
        Value::Object(o) => o.values().any(uses_pkp),
        _ => false,
    }
}

/// What a run produced, as far as expectations are concerned.
pub struct Observed<'a> {
    /// The agreed response, or the run's error.
    pub result: Result<&'a str, &'a str>,
    /// Logs of an agreeing node (or of any node when the run failed).
    pub logs: &'a str,
    /// Names of signatures that were combined and verified.
    pub verified_signatures: Vec<&'a str>,
}

/// Every expectation `expect` has that `seen` does not meet, in words.
pub fn check(expect: &Expect, seen: &Observed<'_>) -> Vec<String> {
    let mut failures = Vec::new();
    match (&expect.error, seen.result) {
        (Some(want), Err(got)) => {
            if !got.contains(want.as_str()) {
                failures.push(format!("expected an error containing {want:?}, got: {got}"));
            }
        }
        (Some(want), Ok(resp)) => failures.push(format!(
            "expected an error containing {want:?}, but the action succeeded with {resp:?}"
        )),
        (None, Err(got)) => failures.push(format!("the run failed: {got}")),
        (None, Ok(resp)) => {
            if let Some(want) = &expect.response {
                failures.extend(response_failures(want, resp));
            }
            for name in &expect.signatures {
                if !seen.verified_signatures.contains(&name.as_str()) {
                    failures.push(format!("no verified signature named {name:?}"));
                }
            }
        }
    }
    for text in &expect.logs_contain {
        if !seen.logs.contains(text.as_str()) {
            failures.push(format!("logs do not contain {text:?}"));
        }
    }
    failures
}

/// How `resp` fails to be `want`: nothing when it is; one line per JSON
/// field that differs when both are JSON; else one line for the whole.
fn response_failures(want: &Value, resp: &str) -> Vec<String> {
    match want {
        Value::String(s) if s == resp => Vec::new(),
        Value::String(s) => vec![format!("response: expected {s:?}, got {resp:?}")],
        other => match serde_json::from_str::<Value>(resp) {
            Ok(got) => candela_client::json_field_differences("response", other, &got)
                .into_iter()
                .map(|d| format!("{}: expected {}, got {}", d.path, d.expected, d.actual))
                .collect(),
            Err(_) => vec![format!(
                "response: expected the JSON {other}, got text that is not JSON: {resp:?}"
            )],
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok<'a>(resp: &'a str, logs: &'a str, sigs: Vec<&'a str>) -> Observed<'a> {
        Observed {
            result: Ok(resp),
            logs,
            verified_signatures: sigs,
        }
    }

    #[test]
    fn a_json_response_is_compared_parsed_and_a_string_raw() {
        let e = Expect {
            response: Some(json!({"a": 1, "b": [2]})),
            ..Expect::default()
        };
        assert!(check(&e, &ok(r#"{"b":[2],"a":1}"#, "", vec![])).is_empty());
        assert_eq!(check(&e, &ok(r#"{"a":2,"b":[2]}"#, "", vec![])).len(), 1);
        let raw = Expect {
            response: Some(json!("plain")),
            ..Expect::default()
        };
        assert!(check(&raw, &ok("plain", "", vec![])).is_empty());
        assert_eq!(check(&raw, &ok("\"plain\"", "", vec![])).len(), 1);
    }

    #[test]
    fn a_wrong_json_response_names_each_differing_field_with_both_values() {
        let e = Expect {
            response: Some(json!({"price": 101, "pair": {"base": "ETH", "quote": "USD"}})),
            ..Expect::default()
        };
        let failures = check(
            &e,
            &ok(
                r#"{"price":99,"pair":{"base":"ETH"},"extra":1}"#,
                "",
                vec![],
            ),
        );
        assert_eq!(
            failures,
            vec![
                "response.extra: expected (missing), got 1".to_string(),
                "response.pair.quote: expected \"USD\", got (missing)".to_string(),
                "response.price: expected 101, got 99".to_string(),
            ]
        );
        let text = check(&e, &ok("not json", "", vec![]));
        assert_eq!(text.len(), 1);
        assert!(text[0].contains("not JSON"), "{text:?}");
    }

    #[test]
    fn a_missing_signature_or_log_line_fails_the_case() {
        let e = Expect {
            signatures: vec!["sig1".into()],
            logs_contain: vec!["hello".into()],
            ..Expect::default()
        };
        assert!(check(&e, &ok("", "say hello\n", vec!["sig1"])).is_empty());
        assert_eq!(check(&e, &ok("", "bye\n", vec!["other"])).len(), 2);
    }

    #[test]
    fn an_expected_error_must_happen_and_match() {
        let e = Expect {
            error: Some("boom".into()),
            ..Expect::default()
        };
        let failed = Observed {
            result: Err("Error: boom"),
            logs: "",
            verified_signatures: vec![],
        };
        assert!(check(&e, &failed).is_empty());
        assert_eq!(check(&e, &ok("fine", "", vec![])).len(), 1);
    }

    #[test]
    fn the_pkp_placeholder_is_replaced_at_any_depth() {
        let p = json!({"a": "$PKP_PUBLIC_KEY", "b": [{"c": "$PKP_PUBLIC_KEY"}], "d": "x"});
        assert!(uses_pkp(&p));
        let s = substitute(&p, "0x04ab");
        assert_eq!(s, json!({"a": "0x04ab", "b": [{"c": "0x04ab"}], "d": "x"}));
        assert!(!uses_pkp(&s));
    }
}
