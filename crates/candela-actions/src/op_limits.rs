//! Limits enforced by single operations, the way Lit's node enforces them:
//! an operation over its limit (a fetch, a signature, a broadcast, a
//! contract call, console output, the response, a child action too deep)
//! is refused with Lit's text as an ordinary JavaScript `Error`. The action
//! may catch it and go on (fall back, report, finish); only wall time and
//! memory end a run whatever the action does.
//!
//! Every refusal is remembered, so that a refusal the action did *not*
//! catch still ends the run as [`ActionError::LimitExceeded`] (naming the
//! limit), with the uncaught error's text as Lit prints it.
//!
//! The uncaught error's text itself follows Lit (V8 in Deno): `Uncaught `
//! or `Uncaught (in promise) ` before `Name: message`, then one line per
//! frame of the action's own code, `    at <user_provided_script>:LINE:COL`
//! (or `    at name (<user_provided_script>:LINE:COL)` for a named
//! function). Frames of the sandbox's own scripts are left out.

use std::cell::RefCell;
use std::sync::Arc;

use crate::error::{ActionError, Limit};

thread_local! {
    /// The source of the action running on this thread (each action has a
    /// thread of its own), to place frames as V8 does.
    static SOURCE: RefCell<Option<Arc<str>>> = const { RefCell::new(None) };
}

/// Records `code` as the source of the action running on this thread.
pub(crate) fn set_source(code: &str) {
    SOURCE.with(|s| *s.borrow_mut() = Some(Arc::from(code)));
}

/// The column V8 gives the frame at `line`:`column` (1-based): QuickJS
/// points at the callee of `new X(…)`, V8 at `new`; at the end of a
/// parenthesised callee (`})()`, the call of an IIFE), V8 points at the
/// call's `(`.
fn v8_column(line: u32, column: u32) -> u32 {
    SOURCE.with(|s| {
        let source = s.borrow();
        let Some(text) = source.as_deref() else {
            return column;
        };
        let Some(row) = text.lines().nth(line.saturating_sub(1) as usize) else {
            return column;
        };
        let chars: Vec<char> = row.chars().collect();
        let at = (column as usize).saturating_sub(1);
        if matches!(chars.get(at), Some('}' | ')')) {
            let mut j = at;
            while matches!(chars.get(j), Some('}' | ')')) {
                j += 1;
            }
            if chars.get(j) == Some(&'(') && chars.get(j - 1) == Some(&')') {
                return (j + 1) as u32;
            }
        }
        let mut i = at.min(chars.len());
        while i > 0 && chars[i - 1].is_whitespace() {
            i -= 1;
        }
        let ident = |c: char| c.is_alphanumeric() || c == '_' || c == '$';
        if i >= 3
            && chars[i - 3..i] == ['n', 'e', 'w']
            && i < column as usize
            && (i == 3 || !ident(chars[i - 4]))
        {
            return (i - 3 + 1) as u32;
        }
        column
    })
}

/// An operation refused because it would go over one of the run's limits.
/// The action sees it as a JavaScript `Error` whose message is `message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub(crate) struct OpLimitError {
    /// Which limit.
    pub limit: Limit,
    /// The configured bound.
    pub max: u64,
    /// Lit's text for this refusal.
    pub message: String,
}

impl OpLimitError {
    /// The refusal of one more use of `limit`, whose bound is `max`.
    pub fn new(limit: Limit, max: u64) -> Self {
        let message = match ActionError::limit(limit, max) {
            ActionError::LimitExceeded { message, .. } => message,
            other => other.to_string(),
        };
        OpLimitError {
            limit,
            max,
            message,
        }
    }
}

/// The name a stack trace gives the action's own code, as in Lit.
pub(crate) const USER_SCRIPT: &str = "<user_provided_script>";

/// If `message` (an uncaught error's text) is the text of a refusal in
/// `raised`, the limit error that ends the run for it.
pub(crate) fn uncaught_refusal(raised: &[OpLimitError], message: &str) -> Option<ActionError> {
    let first = message.lines().next().unwrap_or_default();
    raised
        .iter()
        .rev()
        .find(|r| first.ends_with(&format!("Error: {}", r.message)))
        .map(|r| ActionError::LimitExceeded {
            limit: r.limit,
            max: r.max,
            message: message.to_owned(),
        })
}

/// The frames of `stack` (a QuickJS stack trace) that are in the action's
/// own code (`module`), each as V8 prints it with Lit's script name.
pub(crate) fn user_frames(stack: &str, module: &str) -> Vec<String> {
    let prefix = format!("{module}:");
    stack
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            let rest = line.strip_prefix("at ")?;
            // "name (file:line:col)" or "file:line:col"
            let (name, place) = match rest.rfind(" (") {
                Some(i) if rest.ends_with(')') => (&rest[..i], &rest[i + 2..rest.len() - 1]),
                _ => ("", rest),
            };
            let position = place.strip_prefix(&prefix)?;
            let mut parts = position.split(':');
            let l: u32 = parts.next()?.parse().ok()?;
            let c = v8_column(l, parts.next()?.parse().ok()?);
            let anonymous = name.is_empty() || name == "<anonymous>" || name == "<eval>";
            Some(if anonymous {
                format!("    at {USER_SCRIPT}:{l}:{c}")
            } else {
                format!("    at {name} ({USER_SCRIPT}:{l}:{c})")
            })
        })
        .collect()
}

/// An uncaught error's text as Lit reports it: `prefix` (`Uncaught ` or
/// `Uncaught (in promise) `) and the error's `Name: message`, then the
/// frames of the action's own code.
pub(crate) fn uncaught_text(prefix: &str, message: &str, stack: Option<&str>) -> String {
    let mut text = if message.starts_with("Uncaught ") {
        message.to_owned()
    } else {
        format!("{prefix}{message}")
    };
    if let Some(stack) = stack {
        for frame in user_frames(stack, crate::modules::ACTION_MODULE_NAME) {
            text.push('\n');
            text.push_str(&frame);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_of_the_action_read_as_in_lit() {
        set_source("\n  throw new Error('x')\n})()\n");
        let stack = "    at <anonymous> (action.js:2:13)\n    at fetch (candela:prelude.js)\n    at f (action.js:3:1)\n    at action.js:4:1\n";
        assert_eq!(
            user_frames(stack, "action.js"),
            vec![
                "    at <user_provided_script>:2:9",
                "    at f (<user_provided_script>:3:3)",
                "    at <user_provided_script>:4:1",
            ]
        );
    }

    #[test]
    fn an_uncaught_refusal_is_the_limit_it_names() {
        let raised = vec![OpLimitError::new(Limit::Fetches, 2)];
        let text = format!("Uncaught (in promise) Error: {}", raised[0].message);
        match uncaught_refusal(&raised, &text) {
            Some(ActionError::LimitExceeded { limit, message, .. }) => {
                assert_eq!(limit, Limit::Fetches);
                assert_eq!(message, text);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(uncaught_refusal(&raised, "Uncaught Error: boom"), None);
    }
}
