//! The evaluator: pure logic over two traits, [`ChainReader`] for chain
//! reads and [`ActionRunner`] for `LitAction` conditions.

use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;

use alloy::dyn_abi::{DynSolType, DynSolValue, FunctionExt, JsonAbiExt};
use alloy::json_abi::{Function, Param, StateMutability};
use alloy::primitives::{Address, U256};
use async_trait::async_trait;
use serde_json::Value;

use crate::error::{ActionRunError, ChainError, ConditionError};
use crate::types::{
    output_index, parse_address, Comparator, Condition, Conditions, EvmBasicCondition,
    EvmContractCondition, Item, Operator, StandardContractType,
};

/// Read access to EVM chains, by chain name (the `chain` field of a
/// condition). [`crate::JsonRpcChainReader`] is the JSON-RPC implementation.
#[async_trait]
pub trait ChainReader: Send + Sync {
    /// `eth_call` of `data` to `to` at the latest block; the returned bytes.
    async fn eth_call(
        &self,
        chain: &str,
        to: Address,
        data: Vec<u8>,
    ) -> Result<Vec<u8>, ChainError>;
    /// `eth_getBalance` of `address` at the latest block, in wei.
    async fn balance(&self, chain: &str, address: Address) -> Result<U256, ChainError>;
    /// The timestamp (seconds) of the latest block.
    async fn latest_timestamp(&self, chain: &str) -> Result<u64, ChainError>;
}

/// Runs Lit actions for `LitAction` conditions.
#[async_trait]
pub trait ActionRunner: Send + Sync {
    /// Runs the action with CID `ipfs_id`, calls its function `method` with
    /// `params` (strings, substitutions applied) and returns what the function
    /// returned, as a string (see [`lit_action_driver`] for the conversion).
    async fn run(
        &self,
        ipfs_id: &str,
        method: &str,
        params: Vec<String>,
    ) -> Result<String, ActionRunError>;
}

/// An [`ActionRunner`] for nodes that run no actions: every `LitAction`
/// condition fails to evaluate with a clear error.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoActions;

#[async_trait]
impl ActionRunner for NoActions {
    async fn run(&self, _: &str, _: &str, _: Vec<String>) -> Result<String, ActionRunError> {
        Err(ActionRunError(
            "this node does not run Lit actions for conditions".into(),
        ))
    }
}

/// The JavaScript that runs a `LitAction` condition: the action's `code`,
/// then a call of its function `method` with `params` (as string arguments)
/// whose result becomes the response: a string as is, an object or array as
/// JSON, anything else (`true`, `42`, `undefined`) through `String(…)`.
/// `method` must be a plain identifier (the parser ensures it for parsed
/// conditions); `None` otherwise.
pub fn lit_action_driver(code: &str, method: &str, params: &[String]) -> Option<String> {
    if !crate::types::is_js_identifier(method) {
        return None;
    }
    let args = serde_json::to_string(params).ok()?;
    Some(format!(
        "{code}\n;(async () => {{\n  const __candelaResult = await {method}(...{args});\n  Lit.Actions.setResponse({{ response: (typeof __candelaResult === 'object' && __candelaResult !== null) ? JSON.stringify(__candelaResult) : String(__candelaResult) }});\n}})();\n"
    ))
}

/// Who is asking, and the values substitutions take.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// The authenticated caller's address (`:userAddress`), 0x-hex.
    pub user_address: String,
    /// The CID of the action evaluating the conditions, if any
    /// (`:currentActionIpfsId`).
    pub current_action_ipfs_id: Option<String>,
    /// Values for `:litParam:NAME` (an object; `NAME` is a key).
    pub lit_params: Value,
}

impl Context {
    /// A context for `user_address` with no action and no parameters.
    pub fn for_user(user_address: impl Into<String>) -> Context {
        Context {
            user_address: user_address.into(),
            current_action_ipfs_id: None,
            lit_params: Value::Null,
        }
    }

    /// Applies a substitution to `s`: `:userAddress`, `:currentActionIpfsId`,
    /// `:litParam:NAME`; any other string is returned unchanged.
    pub fn substitute(&self, s: &str) -> Result<String, String> {
        if s == ":userAddress" {
            if self.user_address.is_empty() {
                return Err(":userAddress: no authenticated user".into());
            }
            return Ok(self.user_address.clone());
        }
        if s == ":currentActionIpfsId" {
            return self
                .current_action_ipfs_id
                .clone()
                .ok_or_else(|| ":currentActionIpfsId: not evaluated inside an action".into());
        }
        if let Some(name) = s.strip_prefix(":litParam:") {
            return match self.lit_params.get(name) {
                Some(Value::String(v)) => Ok(v.clone()),
                Some(Value::Null) | None => Err(format!("{s}: no litParam \"{name}\" given")),
                Some(other) => Ok(other.to_string()),
            };
        }
        Ok(s.to_string())
    }
}

/// What a condition read, ready to compare with `returnValueTest.value`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Observed {
    /// An integer: sign and magnitude.
    Number {
        negative: bool,
        magnitude: U256,
    },
    Address(Address),
    Bool(bool),
    Str(String),
    Bytes(Vec<u8>),
    Array(Vec<Observed>),
}

impl Observed {
    fn unsigned(u: U256) -> Observed {
        Observed::Number {
            negative: false,
            magnitude: u,
        }
    }

    fn from_sol(v: DynSolValue) -> Observed {
        match v {
            DynSolValue::Bool(b) => Observed::Bool(b),
            DynSolValue::Int(i, _) => Observed::Number {
                negative: i.is_negative(),
                magnitude: i.unsigned_abs(),
            },
            DynSolValue::Uint(u, _) => Observed::unsigned(u),
            DynSolValue::FixedBytes(w, size) => Observed::Bytes(w[..size].to_vec()),
            DynSolValue::Address(a) => Observed::Address(a),
            DynSolValue::Function(f) => Observed::Bytes(f.to_vec()),
            DynSolValue::Bytes(b) => Observed::Bytes(b),
            DynSolValue::String(s) => Observed::Str(s),
            DynSolValue::Array(a) | DynSolValue::FixedArray(a) | DynSolValue::Tuple(a) => {
                Observed::Array(a.into_iter().map(Observed::from_sol).collect())
            }
        }
    }

    /// A string read from outside (a parameter, an action's answer): an
    /// address if it is one, else a string.
    fn from_text(s: String) -> Observed {
        match parse_address(&s) {
            Some(a) => Observed::Address(a),
            None => Observed::Str(s),
        }
    }
}

/// A signed integer literal: optional `-`, then decimal or `0x` hex.
fn parse_number(s: &str) -> Option<(bool, U256)> {
    let s = s.trim();
    let (negative, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    if digits.is_empty() || digits.starts_with('+') {
        return None;
    }
    let magnitude = match digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        Some(h) if !h.is_empty() => U256::from_str_radix(h, 16).ok()?,
        Some(_) => return None,
        None if digits.chars().all(|c| c.is_ascii_digit()) => U256::from_str(digits).ok()?,
        None => return None,
    };
    Some((negative && !magnitude.is_zero(), magnitude))
}

fn cmp_numbers(a: (bool, U256), b: (bool, U256)) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a.0, b.0) {
        (false, false) => a.1.cmp(&b.1),
        (true, true) => b.1.cmp(&a.1),
        (false, true) => Ordering::Greater,
        (true, false) => Ordering::Less,
    }
}

/// Applies `comparator` to `observed` and `expected` (the substituted
/// `returnValueTest.value`). `Err` when the comparison makes no sense.
fn compare(observed: &Observed, comparator: Comparator, expected: &str) -> Result<bool, String> {
    use std::cmp::Ordering;
    use Comparator as C;
    let ordering = |o: Ordering| -> bool {
        match comparator {
            C::Eq => o == Ordering::Equal,
            C::Ne => o != Ordering::Equal,
            C::Gt => o == Ordering::Greater,
            C::Ge => o != Ordering::Less,
            C::Lt => o == Ordering::Less,
            C::Le => o != Ordering::Greater,
            C::Contains | C::NotContains => false,
        }
    };
    let equality_only = |what: &str| -> Result<(), String> {
        match comparator {
            C::Eq | C::Ne => Ok(()),
            _ => Err(format!(
                "comparator \"{comparator}\" does not apply to {what}"
            )),
        }
    };
    match observed {
        Observed::Number {
            negative,
            magnitude,
        } => {
            if matches!(comparator, C::Contains | C::NotContains) {
                return Err(format!(
                    "comparator \"{comparator}\" does not apply to a number"
                ));
            }
            let want = parse_number(expected)
                .ok_or_else(|| format!("value \"{expected}\" is not an integer"))?;
            Ok(ordering(cmp_numbers((*negative, *magnitude), want)))
        }
        Observed::Address(a) => match comparator {
            C::Contains | C::NotContains => {
                let found = a
                    .to_string()
                    .to_lowercase()
                    .contains(&expected.to_lowercase());
                Ok(found == (comparator == C::Contains))
            }
            _ => {
                equality_only("an address")?;
                let want = parse_address(expected)
                    .ok_or_else(|| format!("value \"{expected}\" is not an address"))?;
                Ok((*a == want) == (comparator == C::Eq))
            }
        },
        Observed::Bool(b) => {
            equality_only("a boolean")?;
            let want = match expected.trim() {
                "true" => true,
                "false" => false,
                _ => return Err(format!("value \"{expected}\" is not true or false")),
            };
            Ok((*b == want) == (comparator == C::Eq))
        }
        Observed::Bytes(bytes) => {
            if matches!(comparator, C::Contains | C::NotContains) {
                let needle = expected.trim_start_matches("0x").to_lowercase();
                let found = hex::encode(bytes).contains(&needle);
                return Ok(found == (comparator == C::Contains));
            }
            equality_only("bytes")?;
            let want = hex::decode(expected.trim_start_matches("0x"))
                .map_err(|_| format!("value \"{expected}\" is not 0x-hex bytes"))?;
            Ok((*bytes == want) == (comparator == C::Eq))
        }
        Observed::Str(s) => match comparator {
            C::Eq => Ok(s == expected),
            C::Ne => Ok(s != expected),
            C::Contains => Ok(s.contains(expected)),
            C::NotContains => Ok(!s.contains(expected)),
            _ => {
                let have = parse_number(s).ok_or_else(|| {
                    format!("comparator \"{comparator}\" needs a number, got \"{s}\"")
                })?;
                let want = parse_number(expected)
                    .ok_or_else(|| format!("value \"{expected}\" is not an integer"))?;
                Ok(ordering(cmp_numbers(have, want)))
            }
        },
        Observed::Array(items) => match comparator {
            C::Contains | C::NotContains => {
                let found = items
                    .iter()
                    .any(|i| compare(i, C::Eq, expected).unwrap_or(false));
                Ok(found == (comparator == C::Contains))
            }
            _ => Err(format!(
                "comparator \"{comparator}\" does not apply to an array (use contains)"
            )),
        },
    }
}

/// Evaluates `conditions` for `ctx`: `Ok(true)` if they hold, `Ok(false)` if
/// they do not, `Err` if one could not be evaluated (chain not configured,
/// RPC down, a revert, a missing parameter, a failed action, …), naming it.
///
/// Operators apply left to right without precedence, short-circuiting:
/// `a or b and c` is `(a or b) and c`; once the running result is `false`
/// before an `and` (or `true` before an `or`), the next element is skipped
/// (not evaluated, so it cannot fail either).
pub async fn evaluate(
    conditions: &Conditions,
    ctx: &Context,
    chain: &dyn ChainReader,
    actions: &dyn ActionRunner,
) -> Result<bool, ConditionError> {
    eval_list(&conditions.items, String::new(), ctx, chain, actions).await
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

fn eval_list<'a>(
    items: &'a [Item],
    prefix: String,
    ctx: &'a Context,
    chain: &'a dyn ChainReader,
    actions: &'a dyn ActionRunner,
) -> BoxFuture<'a, Result<bool, ConditionError>> {
    Box::pin(async move {
        let name = |i: usize| {
            if prefix.is_empty() {
                format!("#{i}")
            } else {
                format!("{prefix}.{i}")
            }
        };
        let mut acc = match items.first() {
            Some(first) => eval_item(first, name(0), ctx, chain, actions).await?,
            None => return Ok(false),
        };
        let mut i = 1;
        while i + 1 < items.len() {
            let op = match &items[i] {
                Item::Operator(op) => *op,
                // The parser guarantees alternation; treat anything else as `and`.
                _ => Operator::And,
            };
            let needed = match op {
                Operator::And => acc,
                Operator::Or => !acc,
            };
            if needed {
                acc = eval_item(&items[i + 1], name(i + 1), ctx, chain, actions).await?;
            }
            i += 2;
        }
        Ok(acc)
    })
}

async fn eval_item(
    item: &Item,
    name: String,
    ctx: &Context,
    chain: &dyn ChainReader,
    actions: &dyn ActionRunner,
) -> Result<bool, ConditionError> {
    match item {
        Item::Condition(Condition::EvmBasic(c)) => eval_basic(c, &name, ctx, chain, actions).await,
        Item::Condition(Condition::EvmContract(c)) => eval_contract(c, &name, ctx, chain).await,
        Item::Group(g) => eval_list(g, name, ctx, chain, actions).await,
        Item::Operator(_) => Err(ConditionError::Comparison {
            condition: name,
            message: "an operator where a condition was expected".into(),
        }),
    }
}

fn param_err(name: &str, message: impl Into<String>) -> ConditionError {
    ConditionError::Parameter {
        condition: name.to_string(),
        message: message.into(),
    }
}

fn chain_err(name: &str) -> impl FnOnce(ChainError) -> ConditionError + '_ {
    move |source| ConditionError::Chain {
        condition: name.to_string(),
        source,
    }
}

fn decode_err(name: &str, message: impl Into<String>) -> ConditionError {
    ConditionError::Decode {
        condition: name.to_string(),
        message: message.into(),
    }
}

/// Calls `signature` (e.g. `balanceOf(address) returns (uint256)`) on
/// `contract` with string `params` and returns its first output.
async fn call_one(
    name: &str,
    chain: &dyn ChainReader,
    chain_name: &str,
    contract: &str,
    signature: &str,
    params: &[String],
) -> Result<Observed, ConditionError> {
    let function = Function::parse(signature)
        .map_err(|e| decode_err(name, format!("internal ABI {signature}: {e}")))?;
    let to = parse_address(contract)
        .ok_or_else(|| param_err(name, format!("contractAddress \"{contract}\"")))?;
    let outputs = call(name, chain, chain_name, to, &function, params).await?;
    outputs
        .into_iter()
        .next()
        .map(Observed::from_sol)
        .ok_or_else(|| decode_err(name, "no output"))
}

async fn call(
    name: &str,
    chain: &dyn ChainReader,
    chain_name: &str,
    to: Address,
    function: &Function,
    params: &[String],
) -> Result<Vec<DynSolValue>, ConditionError> {
    let mut values = Vec::with_capacity(params.len());
    for (p, input) in params.iter().zip(&function.inputs) {
        let ty = DynSolType::parse(&input.ty)
            .map_err(|e| param_err(name, format!("type {}: {e}", input.ty)))?;
        let v = ty
            .coerce_str(p)
            .map_err(|e| param_err(name, format!("\"{p}\" is not a {}: {e}", input.ty)))?;
        values.push(v);
    }
    let data = function
        .abi_encode_input(&values)
        .map_err(|e| param_err(name, format!("encoding the call: {e}")))?;
    let answer = chain
        .eth_call(chain_name, to, data)
        .await
        .map_err(chain_err(name))?;
    function
        .abi_decode_output(&answer)
        .map_err(|e| decode_err(name, format!("{e} (answer 0x{})", hex::encode(&answer))))
}

async fn eval_basic(
    c: &EvmBasicCondition,
    name: &str,
    ctx: &Context,
    chain: &dyn ChainReader,
    actions: &dyn ActionRunner,
) -> Result<bool, ConditionError> {
    use StandardContractType as T;
    let params = c
        .parameters
        .iter()
        .map(|p| ctx.substitute(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| param_err(name, e))?;
    let expected = ctx
        .substitute(&c.return_value_test.value)
        .map_err(|e| param_err(name, e))?;
    let first = || params.first().cloned().unwrap_or_default();
    let observed = match (c.standard_contract_type, c.method.as_str()) {
        (T::None, "") => Observed::from_text(first()),
        (T::None, "eth_getBalance") => {
            let who = parse_address(&first())
                .ok_or_else(|| param_err(name, format!("\"{}\" is not an address", first())))?;
            Observed::unsigned(
                chain
                    .balance(&c.chain, who)
                    .await
                    .map_err(chain_err(name))?,
            )
        }
        (T::Erc20, "balanceOf") | (T::Erc721, "balanceOf") => {
            call_one(
                name,
                chain,
                &c.chain,
                &c.contract_address,
                "balanceOf(address) returns (uint256)",
                &params,
            )
            .await?
        }
        (T::Erc721, "ownerOf") => {
            call_one(
                name,
                chain,
                &c.chain,
                &c.contract_address,
                "ownerOf(uint256) returns (address)",
                &params,
            )
            .await?
        }
        (T::Erc1155, "balanceOf") => {
            call_one(
                name,
                chain,
                &c.chain,
                &c.contract_address,
                "balanceOf(address,uint256) returns (uint256)",
                &params,
            )
            .await?
        }
        (T::Timestamp, "eth_getBlockByNumber") => Observed::unsigned(U256::from(
            chain
                .latest_timestamp(&c.chain)
                .await
                .map_err(chain_err(name))?,
        )),
        (T::LitAction, method) => {
            let ipfs_id = c
                .contract_address
                .strip_prefix("ipfs://")
                .unwrap_or(&c.contract_address);
            let answer = actions
                .run(ipfs_id, method, params)
                .await
                .map_err(|source| ConditionError::Action {
                    condition: name.to_string(),
                    ipfs_id: ipfs_id.to_string(),
                    source,
                })?;
            Observed::Str(answer)
        }
        (t, m) => {
            return Err(param_err(
                name,
                format!("method \"{m}\" is not supported for \"{}\"", t.as_str()),
            ))
        }
    };
    compare(&observed, c.return_value_test.comparator, &expected).map_err(|message| {
        ConditionError::Comparison {
            condition: name.to_string(),
            message,
        }
    })
}

async fn eval_contract(
    c: &EvmContractCondition,
    name: &str,
    ctx: &Context,
    chain: &dyn ChainReader,
) -> Result<bool, ConditionError> {
    let params = c
        .function_params
        .iter()
        .map(|p| ctx.substitute(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| param_err(name, e))?;
    let expected = ctx
        .substitute(&c.return_value_test.value)
        .map_err(|e| param_err(name, e))?;
    let to_param = |p: &crate::types::AbiParam| Param {
        ty: p.ty.clone(),
        name: p.name.clone(),
        components: vec![],
        internal_type: None,
    };
    let function = Function {
        name: c.function_abi.name.clone(),
        inputs: c.function_abi.inputs.iter().map(to_param).collect(),
        outputs: c.function_abi.outputs.iter().map(to_param).collect(),
        state_mutability: StateMutability::View,
    };
    let to = parse_address(&c.contract_address)
        .ok_or_else(|| param_err(name, format!("contractAddress \"{}\"", c.contract_address)))?;
    let outputs = call(name, chain, &c.chain, to, &function, &params).await?;
    let key = c.return_value_test.key.as_deref().unwrap_or("");
    let index = output_index(&c.function_abi.outputs, key)
        .ok_or_else(|| decode_err(name, format!("no output \"{key}\"")))?;
    let value = outputs
        .into_iter()
        .nth(index)
        .ok_or_else(|| decode_err(name, format!("output {index} missing")))?;
    compare(
        &Observed::from_sol(value),
        c.return_value_test.comparator,
        &expected,
    )
    .map_err(|message| ConditionError::Comparison {
        condition: name.to_string(),
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_compare_with_sign_and_hex() {
        let n = |s: &str| parse_number(s).unwrap();
        assert_eq!(cmp_numbers(n("-5"), n("3")), std::cmp::Ordering::Less);
        assert_eq!(cmp_numbers(n("0x10"), n("16")), std::cmp::Ordering::Equal);
        assert_eq!(cmp_numbers(n("-0"), n("0")), std::cmp::Ordering::Equal);
        assert!(parse_number("1e3").is_none());
        assert!(parse_number("").is_none());
        assert!(parse_number("0x").is_none());
    }

    #[test]
    fn addresses_compare_case_insensitively() {
        let a = Observed::from_text("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266".into());
        assert_eq!(
            compare(
                &a,
                Comparator::Eq,
                "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"
            ),
            Ok(true)
        );
        assert_eq!(
            compare(
                &a,
                Comparator::Ne,
                "0xF39FD6E51AAD88F6F4CE6AB8827279CFFFB92266"
            ),
            Ok(false)
        );
        assert!(compare(&a, Comparator::Gt, "0x00").is_err());
    }

    #[test]
    fn strings_and_arrays() {
        let s = Observed::Str("hello world".into());
        assert_eq!(compare(&s, Comparator::Contains, "lo w"), Ok(true));
        assert_eq!(compare(&s, Comparator::NotContains, "xyz"), Ok(true));
        assert_eq!(compare(&s, Comparator::Eq, "hello"), Ok(false));
        let arr = Observed::Array(vec![Observed::unsigned(U256::from(3u8))]);
        assert_eq!(compare(&arr, Comparator::Contains, "3"), Ok(true));
        assert_eq!(compare(&arr, Comparator::Contains, "4"), Ok(false));
    }
}
