//! `jsParams` templates: a JSON object whose strings may hold
//! `{{path}}` placeholders filled from the event.
//!
//! Paths are dotted, starting at `event` (the event's data), `trigger` (the
//! trigger's name) or `eventId` (the event's idempotency key); a numeric
//! segment indexes an array (`event.log.topics.1`). A string that is exactly
//! one placeholder becomes the value itself, keeping its JSON type
//! (`"{{event.block.number}}"` → `17`); a placeholder inside other text is
//! replaced by the value's text (strings without quotes).
use serde_json::Value;

/// A template error, found when the configuration is read (syntax) or when
/// an event is rendered (a path the event does not have).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// `{{` without a closing `}}`.
    #[error("unclosed placeholder in {0:?}")]
    Unclosed(String),
    /// A path that is empty or has an empty segment.
    #[error("placeholder {{{{{0}}}}} is not a dotted path")]
    BadPath(String),
    /// A path whose first segment is not a known root.
    #[error("placeholder {{{{{0}}}}} must start with event, trigger or eventId")]
    UnknownRoot(String),
    /// The event has nothing at the path.
    #[error("the event has no value at {{{{{0}}}}}")]
    Missing(String),
}

const ROOTS: [&str; 3] = ["event", "trigger", "eventId"];

/// A checked `jsParams` template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template(Value);

enum Piece<'a> {
    Text(&'a str),
    Path(&'a str),
}

fn pieces(s: &str) -> Result<Vec<Piece<'_>>, TemplateError> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            out.push(Piece::Text(&rest[..open]));
        }
        let after = &rest[open + 2..];
        let close = after
            .find("}}")
            .ok_or_else(|| TemplateError::Unclosed(s.to_string()))?;
        let path = after[..close].trim();
        if path.is_empty() || path.split('.').any(str::is_empty) {
            return Err(TemplateError::BadPath(path.to_string()));
        }
        let root = path.split('.').next().unwrap_or_default();
        if !ROOTS.contains(&root) {
            return Err(TemplateError::UnknownRoot(path.to_string()));
        }
        out.push(Piece::Path(path));
        rest = &after[close + 2..];
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    Ok(out)
}

fn check(v: &Value) -> Result<(), TemplateError> {
    match v {
        Value::String(s) => pieces(s).map(|_| ()),
        Value::Array(a) => a.iter().try_for_each(check),
        Value::Object(o) => o.values().try_for_each(check),
        _ => Ok(()),
    }
}

fn lookup<'a>(ctx: &'a Value, path: &str) -> Result<&'a Value, TemplateError> {
    let mut v = ctx;
    for seg in path.split('.') {
        v = match v {
            Value::Object(o) => o.get(seg),
            Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
            _ => None,
        }
        .ok_or_else(|| TemplateError::Missing(path.to_string()))?;
    }
    Ok(v)
}

fn fill(v: &Value, ctx: &Value) -> Result<Value, TemplateError> {
    Ok(match v {
        Value::String(s) => {
            let ps = pieces(s)?;
            match ps.as_slice() {
                [Piece::Path(p)] => lookup(ctx, p)?.clone(),
                _ if ps.iter().all(|p| matches!(p, Piece::Text(_))) => v.clone(),
                _ => {
                    let mut out = String::new();
                    for p in ps {
                        match p {
                            Piece::Text(t) => out.push_str(t),
                            Piece::Path(p) => match lookup(ctx, p)? {
                                Value::String(s) => out.push_str(s),
                                other => out.push_str(&other.to_string()),
                            },
                        }
                    }
                    Value::String(out)
                }
            }
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| fill(x, ctx)).collect::<Result<_, _>>()?),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| Ok((k.clone(), fill(x, ctx)?)))
                .collect::<Result<_, TemplateError>>()?,
        ),
        other => other.clone(),
    })
}

impl Template {
    /// Check every placeholder of `value`.
    pub fn parse(value: Value) -> Result<Template, TemplateError> {
        check(&value)?;
        Ok(Template(value))
    }

    /// The template as written.
    pub fn raw(&self) -> &Value {
        &self.0
    }

    /// Fill the template for one event of `trigger` with idempotency key
    /// `event_id`.
    pub fn render(
        &self,
        trigger: &str,
        event_id: &str,
        event: &Value,
    ) -> Result<Value, TemplateError> {
        let ctx = serde_json::json!({"event": event, "trigger": trigger, "eventId": event_id});
        fill(&self.0, &ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t(v: Value) -> Template {
        Template::parse(v).unwrap()
    }

    #[test]
    fn a_whole_placeholder_keeps_the_json_type() {
        let ev = json!({"block": {"number": 17, "hash": "0xab"}, "list": [1, {"x": true}]});
        let out = t(json!({
            "n": "{{event.block.number}}",
            "whole": "{{ event }}",
            "deep": ["{{event.list.1.x}}"],
            "name": "{{trigger}}",
            "id": "{{eventId}}",
            "plain": "no placeholders",
            "num": 3
        }))
        .render("blocks", "block-17", &ev)
        .unwrap();
        assert_eq!(
            out,
            json!({"n": 17, "whole": ev, "deep": [true], "name": "blocks", "id": "block-17", "plain": "no placeholders", "num": 3})
        );
    }

    #[test]
    fn a_placeholder_inside_text_is_replaced_by_its_text() {
        let ev = json!({"block": {"number": 17, "hash": "0xab"}});
        let out =
            t(json!({"m": "block {{event.block.number}} ({{event.block.hash}}) for {{trigger}}"}))
                .render("b", "k", &ev)
                .unwrap();
        assert_eq!(out, json!({"m": "block 17 (0xab) for b"}));
    }

    #[test]
    fn a_missing_path_is_an_error_naming_it() {
        let err = t(json!({"n": "{{event.block.number}}"}))
            .render("b", "k", &json!({"log": {}}))
            .unwrap_err();
        assert_eq!(err, TemplateError::Missing("event.block.number".into()));
        assert_eq!(
            err.to_string(),
            "the event has no value at {{event.block.number}}"
        );
    }

    #[test]
    fn bad_placeholders_are_refused_when_parsed() {
        assert!(matches!(
            Template::parse(json!({"a": "{{event.x"})),
            Err(TemplateError::Unclosed(_))
        ));
        assert!(matches!(
            Template::parse(json!({"a": ["{{ }}"]})),
            Err(TemplateError::BadPath(_))
        ));
        assert!(matches!(
            Template::parse(json!({"a": {"b": "{{event..x}}"}})),
            Err(TemplateError::BadPath(_))
        ));
        assert_eq!(
            Template::parse(json!({"a": "{{env.HOME}}"}))
                .unwrap_err()
                .to_string(),
            "placeholder {{env.HOME}} must start with event, trigger or eventId"
        );
    }
}
