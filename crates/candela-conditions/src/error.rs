//! Typed errors: [`ParseError`] for condition JSON that is refused,
//! [`ChainError`] and [`ActionRunError`] for the outside world, and
//! [`ConditionError`] for a condition that could not be evaluated (as
//! opposed to one that evaluated to false, which is `Ok(false)`).

use thiserror::Error;

/// Why condition JSON was refused. `at` is a JSON-pointer-like path to the
/// offending element, e.g. `/2/1/returnValueTest/comparator`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    /// The input is not JSON at all.
    #[error("conditions are not valid JSON: {0}")]
    Json(String),
    /// The input is larger than [`crate::MAX_JSON_BYTES`].
    #[error("conditions JSON is {size} bytes, more than the limit of {max}")]
    TooLarge {
        /// Size of the input in bytes.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// More conditions than [`crate::MAX_CONDITIONS`].
    #[error("more than {max} conditions")]
    TooManyConditions {
        /// The limit.
        max: usize,
    },
    /// Groups nested deeper than [`crate::MAX_DEPTH`].
    #[error("conditions nested deeper than {max} levels at {at}")]
    TooDeep {
        /// Where.
        at: String,
        /// The limit.
        max: usize,
    },
    /// A list (top level or group) with nothing in it.
    #[error("empty condition list at {at}")]
    Empty {
        /// Where.
        at: String,
    },
    /// Conditions and operators do not alternate (condition, operator,
    /// condition, …, condition).
    #[error("at {at}: {message}")]
    Structure {
        /// Where.
        at: String,
        /// What is wrong.
        message: String,
    },
    /// A required field is absent.
    #[error("missing field `{field}` at {at}")]
    MissingField {
        /// Where.
        at: String,
        /// The field.
        field: &'static str,
    },
    /// A field has the wrong JSON type.
    #[error("field `{field}` at {at} must be {expected}")]
    WrongType {
        /// Where.
        at: String,
        /// The field.
        field: &'static str,
        /// The JSON type expected.
        expected: &'static str,
    },
    /// A field has a value this implementation does not accept.
    #[error("invalid `{field}` at {at}: {message}")]
    InvalidValue {
        /// Where.
        at: String,
        /// The field.
        field: &'static str,
        /// Why.
        message: String,
    },
    /// A request names no condition list, or more than one.
    #[error("{0}")]
    Request(String),
}

/// A chain read that failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ChainError {
    /// No RPC URL is configured for this chain name.
    #[error("chain \"{0}\" is not configured on this node")]
    NotConfigured(String),
    /// The RPC endpoint could not be reached or did not answer in time.
    #[error("RPC for chain \"{chain}\" at {url} is unreachable: {message}")]
    Unreachable {
        /// Chain name.
        chain: String,
        /// Endpoint.
        url: String,
        /// Transport error.
        message: String,
    },
    /// The endpoint answered with a JSON-RPC error (a revert, for example).
    #[error("RPC for chain \"{chain}\" answered {method} with an error: {message}")]
    Rpc {
        /// Chain name.
        chain: String,
        /// JSON-RPC method.
        method: String,
        /// The error the endpoint gave.
        message: String,
    },
    /// The endpoint answered something that is not a valid answer.
    #[error("RPC for chain \"{chain}\" gave a malformed answer to {method}: {message}")]
    BadResponse {
        /// Chain name.
        chain: String,
        /// JSON-RPC method.
        method: String,
        /// What is wrong.
        message: String,
    },
}

/// A Lit action run for a `LitAction` condition that failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0}")]
pub struct ActionRunError(pub String);

/// A condition that could not be evaluated. `condition` names it by its
/// position, e.g. `#2` or `#2.0` (first element of the group at index 2).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConditionError {
    /// The conditions were refused before evaluation.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// Reading the chain failed.
    #[error("condition {condition}: {source}")]
    Chain {
        /// Which condition.
        condition: String,
        /// Why.
        source: ChainError,
    },
    /// Running the Lit action failed.
    #[error("condition {condition}: Lit action {ipfs_id} failed: {source}")]
    Action {
        /// Which condition.
        condition: String,
        /// The action's CID.
        ipfs_id: String,
        /// Why.
        source: ActionRunError,
    },
    /// A parameter could not be substituted or encoded (a `:litParam:` that
    /// was not given, no current action, a malformed address, …).
    #[error("condition {condition}: parameter: {message}")]
    Parameter {
        /// Which condition.
        condition: String,
        /// Why.
        message: String,
    },
    /// The contract's answer could not be decoded as its ABI says.
    #[error("condition {condition}: cannot decode the contract's answer: {message}")]
    Decode {
        /// Which condition.
        condition: String,
        /// Why.
        message: String,
    },
    /// `returnValueTest` cannot be applied to the value read (e.g. `>` on an
    /// address, or a value that is not a number).
    #[error("condition {condition}: returnValueTest: {message}")]
    Comparison {
        /// Which condition.
        condition: String,
        /// Why.
        message: String,
    },
}
