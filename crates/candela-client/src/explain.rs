//! Explaining disagreement: given every node's raw answer to one execution,
//! name each value that differs between nodes and which nodes gave it.
//!
//! [`explain`] is a pure function over the answers, so it serves the CLI's
//! `candela action run --explain` and tests alike. JSON responses are
//! compared path by path (`response.price`, `response.items[2]`); other
//! responses as whole strings. Logs are compared line by line, signed data
//! per `sigName` (digest and public key), and failed nodes by their error.
use std::collections::{BTreeMap, BTreeSet};

use candela_api::v7::ExecuteResponse;
use serde::Serialize;

/// The placeholder for a value a node did not give (a missing JSON key,
/// log line or signature).
pub const MISSING: &str = "(missing)";

/// One distinct value of a [`Difference`] and the nodes that gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValueGroup {
    /// The value: compact JSON for a JSON response, else the raw text.
    pub value: String,
    /// The nodes that gave it, ascending.
    pub nodes: Vec<u32>,
}

/// A place where the nodes' answers differ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// Where: `response`, `response.a.b[1]`, `logs[3]`,
    /// `signedData.sig1.dataSigned`, `error`.
    pub path: String,
    /// Each distinct value with its nodes, the most common first.
    pub values: Vec<ValueGroup>,
}

/// What [`explain`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Explanation {
    /// True when every node answered and all answers are the same.
    pub all_agree: bool,
    /// The nodes whose answers were compared, ascending.
    pub nodes: Vec<u32>,
    /// Every difference, in the order response, signed data, logs, error.
    pub differences: Vec<Difference>,
}

impl Difference {
    /// One line: `response.price: 101.2 on nodes 0,2; 101.3 on node 1`.
    pub fn line(&self) -> String {
        let parts: Vec<String> = self
            .values
            .iter()
            .map(|g| {
                let ids: Vec<String> = g.nodes.iter().map(u32::to_string).collect();
                let noun = if g.nodes.len() == 1 { "node" } else { "nodes" };
                format!("{} on {noun} {}", g.value, ids.join(","))
            })
            .collect();
        format!("{}: {}", self.path, parts.join("; "))
    }
}

impl std::fmt::Display for Explanation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<String> = self.nodes.iter().map(u32::to_string).collect();
        if self.differences.is_empty() {
            return writeln!(
                f,
                "all {} nodes ({}) gave the same answer",
                self.nodes.len(),
                ids.join(",")
            );
        }
        writeln!(
            f,
            "the nodes ({}) differ in {} place{}:",
            ids.join(","),
            self.differences.len(),
            if self.differences.len() == 1 { "" } else { "s" }
        )?;
        for d in &self.differences {
            writeln!(f, "  {}", d.line())?;
        }
        Ok(())
    }
}

/// Compare every node's answer to one execution (an `Err` is that node's
/// error) and list each value that differs, with the nodes that gave it.
pub fn explain(answers: &BTreeMap<u32, Result<ExecuteResponse, String>>) -> Explanation {
    let nodes: Vec<u32> = answers.keys().copied().collect();
    let ok: BTreeMap<u32, &ExecuteResponse> = answers
        .iter()
        .filter_map(|(i, a)| a.as_ref().ok().map(|r| (*i, r)))
        .collect();
    let mut differences = Vec::new();

    // The response: path by path when every answering node gave JSON.
    let parsed: Option<BTreeMap<u32, serde_json::Value>> = ok
        .iter()
        .map(|(i, r)| {
            serde_json::from_str::<serde_json::Value>(&r.response)
                .ok()
                .map(|v| (*i, v))
        })
        .collect();
    match parsed {
        Some(values) if !values.is_empty() => {
            let at: BTreeMap<u32, Option<&serde_json::Value>> =
                values.iter().map(|(i, v)| (*i, Some(v))).collect();
            json_diff("response", &at, &mut differences);
        }
        _ => {
            let at: BTreeMap<u32, String> =
                ok.iter().map(|(i, r)| (*i, r.response.clone())).collect();
            push_if_differs("response".into(), at, &mut differences);
        }
    }

    // Signed data, per sigName.
    let names: BTreeSet<&String> = ok.values().flat_map(|r| r.signed_data.keys()).collect();
    for name in names {
        for (field, get) in [
            (
                "dataSigned",
                (|s: &candela_api::v7::ExecuteSignedShare| s.data_signed.clone())
                    as fn(&candela_api::v7::ExecuteSignedShare) -> String,
            ),
            ("publicKey", |s| s.public_key.clone()),
        ] {
            let at: BTreeMap<u32, String> = ok
                .iter()
                .map(|(i, r)| {
                    let v = r
                        .signed_data
                        .get(name)
                        .map_or_else(|| MISSING.to_string(), get);
                    (*i, v)
                })
                .collect();
            push_if_differs(format!("signedData.{name}.{field}"), at, &mut differences);
        }
    }

    // Logs, line by line.
    let lines: BTreeMap<u32, Vec<&str>> = ok
        .iter()
        .map(|(i, r)| (*i, r.logs.lines().collect()))
        .collect();
    let most = lines.values().map(Vec::len).max().unwrap_or(0);
    for n in 0..most {
        let at: BTreeMap<u32, String> = lines
            .iter()
            .map(|(i, l)| (*i, l.get(n).map_or(MISSING, |s| *s).to_string()))
            .collect();
        push_if_differs(format!("logs[{n}]"), at, &mut differences);
    }

    // Failures.
    let at: BTreeMap<u32, String> = answers
        .iter()
        .map(|(i, a)| {
            let v = match a {
                Ok(_) => "(none)".to_string(),
                Err(e) => e.clone(),
            };
            (*i, v)
        })
        .collect();
    push_if_differs("error".into(), at, &mut differences);

    let all_agree = differences.is_empty() && ok.len() == answers.len();
    Explanation {
        all_agree,
        nodes,
        differences,
    }
}

/// Group `values` by value; record a difference when there is more than one.
fn push_if_differs(path: String, values: BTreeMap<u32, String>, out: &mut Vec<Difference>) {
    let mut groups: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for (i, v) in values {
        groups.entry(v).or_default().push(i);
    }
    if groups.len() < 2 {
        return;
    }
    let mut values: Vec<ValueGroup> = groups
        .into_iter()
        .map(|(value, nodes)| ValueGroup { value, nodes })
        .collect();
    // Most common first; ties by lowest node.
    values.sort_by(|a, b| {
        b.nodes
            .len()
            .cmp(&a.nodes.len())
            .then(a.nodes.cmp(&b.nodes))
    });
    out.push(Difference { path, values });
}

/// Walk the nodes' JSON values in step; report each leaf (or a place where
/// the types differ) whose values are not all equal.
fn json_diff(
    path: &str,
    at: &BTreeMap<u32, Option<&serde_json::Value>>,
    out: &mut Vec<Difference>,
) {
    use serde_json::Value;
    let all_objects = at.values().all(|v| matches!(v, Some(Value::Object(_))));
    let all_arrays = at.values().all(|v| matches!(v, Some(Value::Array(_))));
    if all_objects {
        let keys: BTreeSet<&String> = at
            .values()
            .flat_map(|v| match v {
                Some(Value::Object(m)) => m.keys().collect::<Vec<_>>(),
                _ => Vec::new(),
            })
            .collect();
        for key in keys {
            let child: BTreeMap<u32, Option<&Value>> = at
                .iter()
                .map(|(i, v)| (*i, v.and_then(|v| v.get(key.as_str()))))
                .collect();
            json_diff(&join_key(path, key), &child, out);
        }
    } else if all_arrays {
        let len = at
            .values()
            .map(|v| v.and_then(Value::as_array).map_or(0, Vec::len))
            .max()
            .unwrap_or(0);
        for n in 0..len {
            let child: BTreeMap<u32, Option<&Value>> = at
                .iter()
                .map(|(i, v)| (*i, v.and_then(|v| v.get(n))))
                .collect();
            json_diff(&format!("{path}[{n}]"), &child, out);
        }
    } else {
        let values: BTreeMap<u32, String> = at
            .iter()
            .map(|(i, v)| (*i, v.map_or_else(|| MISSING.to_string(), Value::to_string)))
            .collect();
        push_if_differs(path.to_string(), values, out);
    }
}

/// One JSON path at which an expected value and an actual one differ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldDifference {
    /// Where, starting at the `root` given to [`json_field_differences`].
    pub path: String,
    /// The expected value as compact JSON, or [`MISSING`].
    pub expected: String,
    /// The actual value as compact JSON, or [`MISSING`].
    pub actual: String,
}

/// Compare `expected` with `actual` path by path (the same walk as
/// [`explain`] uses between nodes) and list each leaf that differs.
pub fn json_field_differences(
    root: &str,
    expected: &serde_json::Value,
    actual: &serde_json::Value,
) -> Vec<FieldDifference> {
    const EXPECTED: u32 = 0;
    const ACTUAL: u32 = 1;
    let at = BTreeMap::from([(EXPECTED, Some(expected)), (ACTUAL, Some(actual))]);
    let mut found = Vec::new();
    json_diff(root, &at, &mut found);
    found
        .into_iter()
        .map(|d| {
            let value_of = |who: u32| {
                d.values
                    .iter()
                    .find(|g| g.nodes.contains(&who))
                    .map_or_else(|| MISSING.to_string(), |g| g.value.clone())
            };
            FieldDifference {
                expected: value_of(EXPECTED),
                actual: value_of(ACTUAL),
                path: d.path,
            }
        })
        .collect()
}

/// `a.key` for identifier-like keys, else `a["key"]`.
fn join_key(path: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && !key.starts_with(|c: char| c.is_ascii_digit())
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if plain {
        format!("{path}.{key}")
    } else {
        format!("{path}[{}]", serde_json::Value::String(key.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candela_api::v7::{ExecuteSignedShare, ShareProof};

    fn answer(response: &str, logs: &str) -> Result<ExecuteResponse, String> {
        Ok(ExecuteResponse {
            success: true,
            signed_data: BTreeMap::new(),
            claim_data: Default::default(),
            decrypted_data: Default::default(),
            response: response.into(),
            logs: logs.into(),
            response_per_node: false,
        })
    }

    fn answers(
        list: Vec<Result<ExecuteResponse, String>>,
    ) -> BTreeMap<u32, Result<ExecuteResponse, String>> {
        list.into_iter()
            .enumerate()
            .map(|(i, a)| (i as u32, a))
            .collect()
    }

    #[test]
    fn expected_and_actual_json_differ_at_named_fields_only() {
        let expected = serde_json::json!({"a": 1, "b": {"c": [1, 2]}, "d": "x"});
        let actual = serde_json::json!({"a": 1, "b": {"c": [1, 3]}, "e": true});
        let d = json_field_differences("response", &expected, &actual);
        let lines: Vec<(String, String, String)> = d
            .into_iter()
            .map(|f| (f.path, f.expected, f.actual))
            .collect();
        assert_eq!(
            lines,
            vec![
                ("response.b.c[1]".into(), "2".into(), "3".into()),
                ("response.d".into(), "\"x\"".into(), MISSING.into()),
                ("response.e".into(), MISSING.into(), "true".into()),
            ]
        );
        assert!(json_field_differences("r", &expected, &expected).is_empty());
    }

    #[test]
    fn identical_answers_agree_with_no_differences() {
        let e = explain(&answers(vec![
            answer(r#"{"a":1}"#, "x\n"),
            answer(r#"{"a":1}"#, "x\n"),
            answer(r#"{"a":1}"#, "x\n"),
        ]));
        assert!(e.all_agree);
        assert!(e.differences.is_empty());
        assert_eq!(e.to_string(), "all 3 nodes (0,1,2) gave the same answer\n");
    }

    #[test]
    fn json_responses_name_the_differing_path_and_group_nodes_by_value() {
        let e = explain(&answers(vec![
            answer(r#"{"price":101.2,"ok":true,"src":"a"}"#, ""),
            answer(r#"{"price":101.3,"ok":true,"src":"a"}"#, ""),
            answer(r#"{"price":101.2,"ok":true,"src":"a"}"#, ""),
            answer(r#"{"price":101.2,"ok":true,"src":"a"}"#, ""),
            answer(r#"{"ok":true,"price":101.3,"src":"a"}"#, ""),
        ]));
        assert!(!e.all_agree);
        assert_eq!(e.differences.len(), 1);
        assert_eq!(
            e.differences[0].line(),
            "response.price: 101.2 on nodes 0,2,3; 101.3 on nodes 1,4"
        );
    }

    #[test]
    fn nested_arrays_missing_keys_and_odd_keys_get_precise_paths() {
        let e = explain(&answers(vec![
            answer(r#"{"a":{"b":[1,2,3]},"x y":"p"}"#, ""),
            answer(r#"{"a":{"b":[1,5]},"x y":"q","extra":null}"#, ""),
        ]));
        let lines: Vec<String> = e.differences.iter().map(Difference::line).collect();
        assert_eq!(
            lines,
            vec![
                "response.a.b[1]: 2 on node 0; 5 on node 1",
                "response.a.b[2]: 3 on node 0; (missing) on node 1",
                "response.extra: (missing) on node 0; null on node 1",
                r#"response["x y"]: "p" on node 0; "q" on node 1"#,
            ]
        );
    }

    #[test]
    fn a_type_change_is_reported_at_the_value_not_below_it() {
        let e = explain(&answers(vec![
            answer(r#"{"v":{"n":1}}"#, ""),
            answer(r#"{"v":[1]}"#, ""),
        ]));
        assert_eq!(e.differences.len(), 1);
        assert_eq!(e.differences[0].path, "response.v");
    }

    #[test]
    fn non_json_responses_are_compared_as_strings() {
        let e = explain(&answers(vec![
            answer("hello 1", ""),
            answer("hello 2", ""),
            answer("hello 1", ""),
        ]));
        assert_eq!(
            e.differences[0].line(),
            "response: hello 1 on nodes 0,2; hello 2 on node 1"
        );
    }

    #[test]
    fn log_lines_are_compared_by_position() {
        let e = explain(&answers(vec![
            answer("r", "start\nt=1\nend\n"),
            answer("r", "start\nt=2\nend\nmore\n"),
        ]));
        let lines: Vec<String> = e.differences.iter().map(Difference::line).collect();
        assert_eq!(
            lines,
            vec![
                "logs[1]: t=1 on node 0; t=2 on node 1",
                "logs[3]: (missing) on node 0; more on node 1"
            ]
        );
    }

    #[test]
    fn signed_digests_and_keys_are_compared_per_sig_name() {
        let share = |digest: &str| ExecuteSignedShare {
            sig_type: "K256".into(),
            signature_share: "00".into(),
            share_index: 0,
            big_r: "02".into(),
            public_key: "04aa".into(),
            data_signed: digest.into(),
            sig_name: "sig1".into(),
            candela: ShareProof {
                presignature_id: String::new(),
                signers: vec![],
                tweak: String::new(),
                commitments: vec![],
                presignature_big_r: String::new(),
                signature: String::new(),
                assignment: None,
            },
        };
        let mut list = vec![answer("r", ""), answer("r", ""), answer("r", "")];
        for (i, d) in ["11", "22", "11"].iter().enumerate() {
            if let Ok(r) = &mut list[i] {
                r.signed_data.insert("sig1".into(), share(d));
            }
        }
        let e = explain(&answers(list));
        assert_eq!(e.differences.len(), 1);
        assert_eq!(
            e.differences[0].line(),
            "signedData.sig1.dataSigned: 11 on nodes 0,2; 22 on node 1"
        );
    }

    #[test]
    fn a_failed_node_is_a_difference_even_when_the_rest_agree() {
        let e = explain(&answers(vec![
            answer("r", ""),
            Err("timed out".into()),
            answer("r", ""),
        ]));
        assert!(!e.all_agree);
        assert_eq!(
            e.differences[0].line(),
            "error: (none) on nodes 0,2; timed out on node 1"
        );
    }
}
