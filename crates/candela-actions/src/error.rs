//! Errors of a run: a script failure, a limit, a host failure, or an internal fault.

use std::fmt;

/// The limit that ended a run (see [`crate::Limits`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Limit {
    /// Wall-clock time of the whole run, nested calls included.
    WallTime,
    /// Heap memory of the run (all of its JavaScript runtimes together).
    Memory,
    /// Native stack used by JavaScript (deep recursion).
    Stack,
    /// Size of an action's source code.
    CodeSize,
    /// Size of the response set with `Lit.Actions.setResponse`.
    ResponseSize,
    /// Total size of console output.
    ConsoleOutput,
    /// Number of `fetch` calls.
    Fetches,
    /// Number of signing requests.
    Signatures,
    /// Depth of nested `Lit.Actions.call`.
    CallDepth,
    /// Number of `Lit.Actions.broadcastAndCollect` (and `decryptAndCombine`) calls.
    Broadcasts,
    /// Number of `Lit.Actions.callContract` calls.
    ContractCalls,
}

impl Limit {
    /// A short human name for the limit, as used in error messages.
    pub fn name(self) -> &'static str {
        match self {
            Limit::WallTime => "wall time",
            Limit::Memory => "memory",
            Limit::Stack => "stack size",
            Limit::CodeSize => "code size",
            Limit::ResponseSize => "response size",
            Limit::ConsoleOutput => "console output",
            Limit::Fetches => "fetch count",
            Limit::Signatures => "signature count",
            Limit::CallDepth => "call depth",
            Limit::Broadcasts => "broadcast count",
            Limit::ContractCalls => "contract call count",
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a run failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ActionError {
    /// The action exceeded one of its [`crate::Limits`]; the run was stopped.
    /// `max` is the configured bound in the limit's unit (ms, bytes or a count).
    #[error("{limit} limit exceeded: {message}")]
    LimitExceeded {
        /// Which limit.
        limit: Limit,
        /// The configured bound.
        max: u64,
        /// A sentence naming the bound, in the style of Lit's node.
        message: String,
    },
    /// The action threw (or a promise it left unhandled was rejected).
    #[error("{message}")]
    Script {
        /// The error as JavaScript prints it, e.g. `Error: boom`.
        message: String,
        /// The JavaScript stack trace, when there is one.
        stack: Option<String>,
    },
    /// The action could not be compiled.
    #[error("syntax error: {message}")]
    Syntax {
        /// The parser's message.
        message: String,
    },
    /// A fault of the sandbox itself (not of the action or of the host).
    #[error("internal sandbox error: {0}")]
    Internal(String),
}

impl ActionError {
    pub(crate) fn limit(limit: Limit, max: u64) -> Self {
        let message = match limit {
            Limit::WallTime => {
                format!("Your function exceeded the maximum runtime of {max}ms and was terminated.")
            }
            Limit::Memory => format!(
                "Your function exceeded the maximum memory of {} MB and was terminated.",
                max / (1024 * 1024)
            ),
            Limit::Stack => format!(
                "Maximum call stack size exceeded: the stack limit is {max} bytes (too deep recursion)."
            ),
            Limit::CodeSize => format!("Code payload is too large. Max length is {max} bytes."),
            Limit::ResponseSize => format!("Response is too long. Max length is {max} bytes"),
            Limit::ConsoleOutput => format!(
                "Console.log is printing something that is too long. Max length for all logs in a single request is {max} bytes"
            ),
            Limit::Fetches => format!(
                "You may not send more than {max} HTTP requests per session and you have attempted to exceed that limit."
            ),
            Limit::Signatures => format!(
                "You may not sign more than {max} times per session and you have attempted to exceed that limit."
            ),
            Limit::CallDepth => format!(
                "The recursion limit of a child action is {max} and you have attempted to exceed that limit."
            ),
            Limit::Broadcasts => format!(
                "You may not use broadcast and collect functionality more than {max} times per session and you have attempted to exceed that limit."
            ),
            // Lit's wording, "not" missing and all.
            Limit::ContractCalls => format!(
                "You may invoke contract calls more than {max} times per session and you have attempted to exceed that limit."
            ),
        };
        ActionError::LimitExceeded {
            limit,
            max,
            message,
        }
    }

    /// Code of `len` bytes over the code size bound `max`, in Lit's words.
    pub(crate) fn code_too_large(len: usize, max: usize) -> Self {
        ActionError::LimitExceeded {
            limit: Limit::CodeSize,
            max: max as u64,
            message: format!("Code payload is too large ({len} bytes). Max length is {max} bytes."),
        }
    }

    /// The limit that ended the run, if a limit did.
    pub fn exceeded_limit(&self) -> Option<Limit> {
        match self {
            ActionError::LimitExceeded { limit, .. } => Some(*limit),
            _ => None,
        }
    }
}

/// An error returned by a [`crate::Host`] operation. It reaches the action as a
/// rejected promise (a catchable JavaScript `Error` with this text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// The operation failed; the text is shown to the action.
    #[error("{0}")]
    Failed(String),
    /// The operation was refused (for example a PKP that does not permit this action).
    #[error("permission denied: {0}")]
    Denied(String),
    /// This node does not provide the operation.
    #[error("{0} is not supported by this node")]
    Unsupported(String),
}

impl HostError {
    /// A failure with the given text.
    pub fn failed(message: impl Into<String>) -> Self {
        HostError::Failed(message.into())
    }
}

/// Where in the action's own code a JavaScript stack trace points: the first
/// frame in the action's module, as `action.js:LINE:COLUMN`. Frames of the
/// runtime (the prelude, bundled libraries) are skipped.
pub fn action_location(stack: &str) -> Option<String> {
    let module = crate::modules::ACTION_MODULE_NAME;
    stack.lines().find_map(|line| {
        let start = line.find(&format!("{module}:"))?;
        let rest = &line[start..];
        let end = rest
            .find(|c: char| c == ')' || c.is_whitespace())
            .unwrap_or(rest.len());
        let location = &rest[..end];
        // module:LINE:COLUMN with numbers, or nothing
        let mut parts = location[module.len() + 1..].split(':');
        let numeric = |p: Option<&str>| p.is_some_and(|p| p.parse::<u32>().is_ok());
        (numeric(parts.next()) && numeric(parts.next())).then(|| location.to_string())
    })
}

#[cfg(test)]
mod location_tests {
    use super::action_location;

    #[test]
    fn the_location_is_the_first_frame_in_the_action_module() {
        let stack = "    at hexZeroPad (<null>:0:1)\n    at <anonymous> (action.js:10:13)\n    at f (action.js:2:1)\n";
        assert_eq!(action_location(stack).as_deref(), Some("action.js:10:13"));
        assert_eq!(
            action_location("    at action.js:3:7\n").as_deref(),
            Some("action.js:3:7")
        );
        assert_eq!(action_location("    at <anonymous> (<null>:0:1)\n"), None);
        assert_eq!(action_location("action.js:x:y"), None);
    }
}
