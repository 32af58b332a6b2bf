//! The condition types and their parser.
//!
//! Parsing works on a [`serde_json::Value`] by hand (not `#[derive]`) so
//! that every refusal says where and why. Unknown fields are ignored (and
//! so dropped from the canonical form), as Lit's canonical formatters do.

use std::fmt;

use alloy::dyn_abi::DynSolType;
use alloy::primitives::Address;
use serde_json::{Map, Value};

use crate::error::ParseError;
use crate::{MAX_CONDITIONS, MAX_DEPTH, MAX_JSON_BYTES};

/// Which of Lit's three request fields a condition list came in. The field
/// decides which condition shapes are allowed and how the list is hashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConditionsKind {
    /// `accessControlConditions`: evmBasic conditions only.
    AccessControl,
    /// `evmContractConditions`: evmContract conditions only.
    EvmContract,
    /// `unifiedAccessControlConditions`: each item names its `conditionType`
    /// or is told apart by its fields (Lit's SDK drops `conditionType`).
    Unified,
}

impl ConditionsKind {
    /// All kinds, in the order [`Conditions::from_request`] looks for them.
    pub const ALL: [ConditionsKind; 3] = [
        ConditionsKind::AccessControl,
        ConditionsKind::EvmContract,
        ConditionsKind::Unified,
    ];

    /// The request field that carries this kind of list.
    pub fn field_name(self) -> &'static str {
        match self {
            ConditionsKind::AccessControl => "accessControlConditions",
            ConditionsKind::EvmContract => "evmContractConditions",
            ConditionsKind::Unified => "unifiedAccessControlConditions",
        }
    }
}

/// A parsed, validated condition list: conditions and groups alternating with
/// `and`/`or` operators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conditions {
    /// The request field it came in.
    pub kind: ConditionsKind,
    /// The top-level list.
    pub items: Vec<Item>,
}

/// One element of a condition list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A condition.
    Condition(Condition),
    /// `{"operator": "and" | "or"}` between two conditions or groups.
    Operator(Operator),
    /// A nested list (parenthesised group).
    Group(Vec<Item>),
}

/// A boolean operator between two list elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `"and"`.
    And,
    /// `"or"`.
    Or,
}

impl Operator {
    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::And => "and",
            Operator::Or => "or",
        }
    }
}

/// A single condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// Lit's "evmBasic" condition (`accessControlConditions`).
    EvmBasic(Box<EvmBasicCondition>),
    /// Lit's "evmContract" condition (`evmContractConditions`).
    EvmContract(Box<EvmContractCondition>),
}

/// The `standardContractType` values this implementation evaluates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StandardContractType {
    /// `""`: no contract (wallet address, `eth_getBalance`, `:currentActionIpfsId`).
    None,
    /// `"ERC20"`.
    Erc20,
    /// `"ERC721"`.
    Erc721,
    /// `"ERC1155"`.
    Erc1155,
    /// `"timestamp"`: the latest block's timestamp.
    Timestamp,
    /// `"LitAction"`: the return value of a Lit action.
    LitAction,
}

impl StandardContractType {
    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            StandardContractType::None => "",
            StandardContractType::Erc20 => "ERC20",
            StandardContractType::Erc721 => "ERC721",
            StandardContractType::Erc1155 => "ERC1155",
            StandardContractType::Timestamp => "timestamp",
            StandardContractType::LitAction => "LitAction",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "" => StandardContractType::None,
            "ERC20" => StandardContractType::Erc20,
            "ERC721" => StandardContractType::Erc721,
            "ERC1155" => StandardContractType::Erc1155,
            "timestamp" => StandardContractType::Timestamp,
            "LitAction" => StandardContractType::LitAction,
            _ => return None,
        })
    }
}

/// `returnValueTest.comparator`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Comparator {
    /// `"="`.
    Eq,
    /// `"!="`.
    Ne,
    /// `">"`.
    Gt,
    /// `">="`.
    Ge,
    /// `"<"`.
    Lt,
    /// `"<="`.
    Le,
    /// `"contains"`: substring of a string, or element of an array.
    Contains,
    /// `"!contains"`: the negation of `contains`.
    NotContains,
}

impl Comparator {
    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Comparator::Eq => "=",
            Comparator::Ne => "!=",
            Comparator::Gt => ">",
            Comparator::Ge => ">=",
            Comparator::Lt => "<",
            Comparator::Le => "<=",
            Comparator::Contains => "contains",
            Comparator::NotContains => "!contains",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "=" => Comparator::Eq,
            "!=" => Comparator::Ne,
            ">" => Comparator::Gt,
            ">=" => Comparator::Ge,
            "<" => Comparator::Lt,
            "<=" => Comparator::Le,
            "contains" => Comparator::Contains,
            "!contains" => Comparator::NotContains,
            _ => return None,
        })
    }
}

impl fmt::Display for Comparator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `returnValueTest`: how the value read is compared with `value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnValueTest {
    /// `key`: for evmContract conditions, the name of the output to compare
    /// (`""` or absent: the only output). Ignored (and not hashed) for
    /// evmBasic conditions.
    pub key: Option<String>,
    /// `comparator`.
    pub comparator: Comparator,
    /// `value`: a string; may be `:userAddress` or another substitution.
    pub value: String,
}

/// An evmBasic condition (Lit's `AccsDefaultParams`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvmBasicCondition {
    /// `contractAddress`: a 0x address, `""`, or `ipfs://CID` for `LitAction`.
    pub contract_address: String,
    /// `chain`: a chain name the node maps to an RPC URL.
    pub chain: String,
    /// `standardContractType`.
    pub standard_contract_type: StandardContractType,
    /// `method`.
    pub method: String,
    /// `parameters`, with substitutions (`:userAddress`, …) not yet applied.
    pub parameters: Vec<String>,
    /// `returnValueTest` (its `key` is ignored).
    pub return_value_test: ReturnValueTest,
}

/// One `inputs`/`outputs` entry of a function ABI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbiParam {
    /// `name` (may be empty).
    pub name: String,
    /// `type`, a Solidity type such as `uint256` or `address[]` (tuples are
    /// refused: Lit's canonical form drops `components`, so their shape
    /// would not be covered by the hash).
    pub ty: String,
}

/// `functionAbi` of an evmContract condition: a JSON ABI fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionAbi {
    /// `name`.
    pub name: String,
    /// `inputs`.
    pub inputs: Vec<AbiParam>,
    /// `outputs`.
    pub outputs: Vec<AbiParam>,
    /// `constant` (legacy; hashed as `false` when absent, as Lit does).
    pub constant: Option<bool>,
    /// `stateMutability` (`view`, `pure`, …).
    pub state_mutability: Option<String>,
}

/// An evmContract condition (Lit's `AccsEVMParams`): any view function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvmContractCondition {
    /// `contractAddress`.
    pub contract_address: String,
    /// `functionName` (must equal `functionAbi.name`).
    pub function_name: String,
    /// `functionParams`, one string per ABI input, with substitutions.
    pub function_params: Vec<String>,
    /// `functionAbi`.
    pub function_abi: FunctionAbi,
    /// `chain`.
    pub chain: String,
    /// `returnValueTest`, whose `key` selects the output.
    pub return_value_test: ReturnValueTest,
}

impl Conditions {
    /// Parses the JSON text of a condition list of `kind`.
    pub fn parse(kind: ConditionsKind, json: &str) -> Result<Conditions, ParseError> {
        if json.len() > MAX_JSON_BYTES {
            return Err(ParseError::TooLarge {
                size: json.len(),
                max: MAX_JSON_BYTES,
            });
        }
        let value: Value =
            serde_json::from_str(json).map_err(|e| ParseError::Json(e.to_string()))?;
        Self::parse_list(kind, &value)
    }

    /// Parses a condition list of `kind` that is already a JSON value.
    pub fn from_value(kind: ConditionsKind, value: &Value) -> Result<Conditions, ParseError> {
        let size = serde_json::to_vec(value)
            .map_err(|e| ParseError::Json(e.to_string()))?
            .len();
        if size > MAX_JSON_BYTES {
            return Err(ParseError::TooLarge {
                size,
                max: MAX_JSON_BYTES,
            });
        }
        Self::parse_list(kind, value)
    }

    /// Finds and parses the one condition list in a request body (an object
    /// with exactly one of `accessControlConditions`, `evmContractConditions`,
    /// `unifiedAccessControlConditions` set to a non-null value).
    pub fn from_request(body: &Value) -> Result<Conditions, ParseError> {
        let obj = body
            .as_object()
            .ok_or_else(|| ParseError::Request("the request must be a JSON object".into()))?;
        let present: Vec<(ConditionsKind, &Value)> = ConditionsKind::ALL
            .iter()
            .filter_map(|k| {
                obj.get(k.field_name())
                    .filter(|v| !v.is_null())
                    .map(|v| (*k, v))
            })
            .collect();
        match present.as_slice() {
            [(kind, value)] => Self::from_value(*kind, value),
            [] => Err(ParseError::Request(
                "no conditions: give one of accessControlConditions, evmContractConditions, unifiedAccessControlConditions".into(),
            )),
            _ => Err(ParseError::Request(format!(
                "more than one condition list given ({}): give exactly one",
                present
                    .iter()
                    .map(|(k, _)| k.field_name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    fn parse_list(kind: ConditionsKind, value: &Value) -> Result<Conditions, ParseError> {
        let mut count = 0usize;
        let items = parse_items(kind, value, "", 1, &mut count)?;
        Ok(Conditions { kind, items })
    }

    /// The number of conditions (operators and groups not counted).
    pub fn len(&self) -> usize {
        fn count(items: &[Item]) -> usize {
            items
                .iter()
                .map(|i| match i {
                    Item::Condition(_) => 1,
                    Item::Operator(_) => 0,
                    Item::Group(g) => count(g),
                })
                .sum()
        }
        count(&self.items)
    }

    /// The chains a node must read to evaluate these conditions (by name,
    /// as each condition's `chain` gives it): contract calls, balances and
    /// block timestamps. A wallet-address test or an action condition reads
    /// no chain.
    pub fn chains_read(&self) -> std::collections::BTreeSet<String> {
        fn walk(items: &[Item], out: &mut std::collections::BTreeSet<String>) {
            for item in items {
                match item {
                    Item::Condition(Condition::EvmContract(c)) => {
                        out.insert(c.chain.clone());
                    }
                    Item::Condition(Condition::EvmBasic(c)) => {
                        let reads = !matches!(
                            (c.standard_contract_type, c.method.as_str()),
                            (StandardContractType::None, "") | (StandardContractType::LitAction, _)
                        );
                        if reads {
                            out.insert(c.chain.clone());
                        }
                    }
                    Item::Operator(_) => {}
                    Item::Group(g) => walk(g, out),
                }
            }
        }
        let mut out = std::collections::BTreeSet::new();
        walk(&self.items, &mut out);
        out
    }

    /// Never true for a parsed list (empty lists are refused); here for
    /// completeness next to [`Conditions::len`].
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn parse_items(
    kind: ConditionsKind,
    value: &Value,
    at: &str,
    depth: usize,
    count: &mut usize,
) -> Result<Vec<Item>, ParseError> {
    let here = if at.is_empty() { "/" } else { at };
    if depth > MAX_DEPTH {
        return Err(ParseError::TooDeep {
            at: here.to_string(),
            max: MAX_DEPTH,
        });
    }
    let list = value.as_array().ok_or_else(|| ParseError::Structure {
        at: here.to_string(),
        message: "a condition list must be a JSON array".into(),
    })?;
    if list.is_empty() {
        return Err(ParseError::Empty {
            at: here.to_string(),
        });
    }
    let mut items = Vec::with_capacity(list.len());
    for (i, element) in list.iter().enumerate() {
        let path = format!("{at}/{i}");
        let expect_operator = i % 2 == 1;
        let item = match element {
            Value::Array(_) => Item::Group(parse_items(kind, element, &path, depth + 1, count)?),
            Value::Object(obj) if obj.contains_key("operator") => {
                Item::Operator(parse_operator(obj, &path)?)
            }
            Value::Object(obj) => {
                *count += 1;
                if *count > MAX_CONDITIONS {
                    return Err(ParseError::TooManyConditions {
                        max: MAX_CONDITIONS,
                    });
                }
                Item::Condition(parse_condition(kind, obj, &path)?)
            }
            _ => return Err(ParseError::Structure {
                at: path,
                message:
                    "each element must be a condition object, an operator object or a nested list"
                        .into(),
            }),
        };
        let is_operator = matches!(item, Item::Operator(_));
        if is_operator != expect_operator {
            return Err(ParseError::Structure {
                at: path,
                message: if is_operator {
                    "an operator must stand between two conditions or groups".into()
                } else {
                    "two conditions or groups must be joined by {\"operator\": \"and\" | \"or\"}"
                        .into()
                },
            });
        }
        items.push(item);
    }
    if items.len() % 2 == 0 {
        return Err(ParseError::Structure {
            at: format!("{at}/{}", items.len() - 1),
            message: "a list must not end with an operator".into(),
        });
    }
    Ok(items)
}

fn parse_operator(obj: &Map<String, Value>, at: &str) -> Result<Operator, ParseError> {
    match obj.get("operator") {
        Some(Value::String(s)) if s == "and" => Ok(Operator::And),
        Some(Value::String(s)) if s == "or" => Ok(Operator::Or),
        Some(Value::String(s)) => Err(ParseError::InvalidValue {
            at: at.to_string(),
            field: "operator",
            message: format!("\"{s}\" is not \"and\" or \"or\""),
        }),
        _ => Err(ParseError::WrongType {
            at: at.to_string(),
            field: "operator",
            expected: "the string \"and\" or \"or\"",
        }),
    }
}

fn parse_condition(
    kind: ConditionsKind,
    obj: &Map<String, Value>,
    at: &str,
) -> Result<Condition, ParseError> {
    let condition_type = match obj.get("conditionType") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => {
            return Err(ParseError::WrongType {
                at: at.to_string(),
                field: "conditionType",
                expected: "a string",
            })
        }
    };
    let invalid_type = |message: String| ParseError::InvalidValue {
        at: at.to_string(),
        field: "conditionType",
        message,
    };
    match kind {
        ConditionsKind::AccessControl => match condition_type {
            None | Some("evmBasic") => Ok(Condition::EvmBasic(Box::new(parse_basic(obj, at)?))),
            Some(t) => Err(invalid_type(format!(
                "\"{t}\" in accessControlConditions (only evmBasic conditions go there)"
            ))),
        },
        ConditionsKind::EvmContract => match condition_type {
            None | Some("evmContract") => {
                Ok(Condition::EvmContract(Box::new(parse_contract(obj, at)?)))
            }
            Some(t) => Err(invalid_type(format!(
                "\"{t}\" in evmContractConditions (only evmContract conditions go there)"
            ))),
        },
        ConditionsKind::Unified => match condition_type {
            Some("evmBasic") => Ok(Condition::EvmBasic(Box::new(parse_basic(obj, at)?))),
            Some("evmContract") => Ok(Condition::EvmContract(Box::new(parse_contract(obj, at)?))),
            Some(t @ ("solRpc" | "cosmos")) => Err(invalid_type(format!(
                "\"{t}\" conditions are not supported by this node (EVM chains only)"
            ))),
            Some(t) => Err(invalid_type(format!(
                "\"{t}\" is not evmBasic or evmContract"
            ))),
            // Lit's SDK sends unified conditions in their canonical form,
            // which drops `conditionType`: tell the kinds apart by their
            // fields, as Lit's nodes do.
            None if obj.contains_key("functionAbi") || obj.contains_key("functionName") => {
                Ok(Condition::EvmContract(Box::new(parse_contract(obj, at)?)))
            }
            None if obj.contains_key("standardContractType") || obj.contains_key("parameters") => {
                Ok(Condition::EvmBasic(Box::new(parse_basic(obj, at)?)))
            }
            None if obj.contains_key("path") || obj.contains_key("params") => Err(invalid_type(
                "a Solana or Cosmos condition (by its fields) is not supported by this node (EVM chains only)"
                    .to_string(),
            )),
            None => Err(ParseError::MissingField {
                at: at.to_string(),
                field: "conditionType",
            }),
        },
    }
}

fn string(obj: &Map<String, Value>, at: &str, field: &'static str) -> Result<String, ParseError> {
    match obj.get(field) {
        Some(Value::String(s)) => Ok(s.clone()),
        None | Some(Value::Null) => Err(ParseError::MissingField {
            at: at.to_string(),
            field,
        }),
        Some(_) => Err(ParseError::WrongType {
            at: at.to_string(),
            field,
            expected: "a string",
        }),
    }
}

fn strings(
    obj: &Map<String, Value>,
    at: &str,
    field: &'static str,
) -> Result<Vec<String>, ParseError> {
    let wrong = || ParseError::WrongType {
        at: at.to_string(),
        field,
        expected: "an array of strings",
    };
    match obj.get(field) {
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| v.as_str().map(str::to_string).ok_or_else(wrong))
            .collect(),
        None | Some(Value::Null) => Err(ParseError::MissingField {
            at: at.to_string(),
            field,
        }),
        Some(_) => Err(wrong()),
    }
}

fn object<'a>(
    obj: &'a Map<String, Value>,
    at: &str,
    field: &'static str,
) -> Result<&'a Map<String, Value>, ParseError> {
    match obj.get(field) {
        Some(Value::Object(o)) => Ok(o),
        None | Some(Value::Null) => Err(ParseError::MissingField {
            at: at.to_string(),
            field,
        }),
        Some(_) => Err(ParseError::WrongType {
            at: at.to_string(),
            field,
            expected: "an object",
        }),
    }
}

fn parse_chain(obj: &Map<String, Value>, at: &str) -> Result<String, ParseError> {
    let chain = string(obj, at, "chain")?;
    if chain.is_empty() {
        return Err(ParseError::InvalidValue {
            at: at.to_string(),
            field: "chain",
            message: "empty chain name".into(),
        });
    }
    Ok(chain)
}

fn parse_return_value_test(
    obj: &Map<String, Value>,
    at: &str,
    with_key: bool,
) -> Result<ReturnValueTest, ParseError> {
    let rvt = object(obj, at, "returnValueTest")?;
    let at = format!("{at}/returnValueTest");
    let comparator_str = string(rvt, &at, "comparator")?;
    let comparator =
        Comparator::parse(&comparator_str).ok_or_else(|| ParseError::InvalidValue {
            at: at.clone(),
            field: "comparator",
            message: format!(
                "\"{comparator_str}\" is not one of =, !=, >, >=, <, <=, contains, !contains"
            ),
        })?;
    let value = string(rvt, &at, "value")?;
    let key = if with_key {
        match rvt.get("key") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                return Err(ParseError::WrongType {
                    at,
                    field: "key",
                    expected: "a string",
                })
            }
        }
    } else {
        None
    };
    Ok(ReturnValueTest {
        key,
        comparator,
        value,
    })
}

/// Whether `s` may be substituted at evaluation time (and so cannot be
/// checked now).
pub(crate) fn is_substitution(s: &str) -> bool {
    s == ":userAddress" || s == ":currentActionIpfsId" || s.starts_with(":litParam:")
}

fn parse_basic(obj: &Map<String, Value>, at: &str) -> Result<EvmBasicCondition, ParseError> {
    let contract_address = string(obj, at, "contractAddress")?;
    let chain = parse_chain(obj, at)?;
    let sct = string(obj, at, "standardContractType")?;
    let standard_contract_type =
        StandardContractType::parse(&sct).ok_or_else(|| ParseError::InvalidValue {
            at: at.to_string(),
            field: "standardContractType",
            message: format!(
                "\"{sct}\" is not supported (supported: \"\", ERC20, ERC721, ERC1155, timestamp, LitAction)"
            ),
        })?;
    let method = string(obj, at, "method")?;
    let parameters = strings(obj, at, "parameters")?;
    let return_value_test = parse_return_value_test(obj, at, false)?;
    let c = EvmBasicCondition {
        contract_address,
        chain,
        standard_contract_type,
        method,
        parameters,
        return_value_test,
    };
    check_basic(&c, at)?;
    Ok(c)
}

/// Checks that the (standardContractType, method, parameters) combination is
/// one this implementation evaluates, and that the contract address is one.
fn check_basic(c: &EvmBasicCondition, at: &str) -> Result<(), ParseError> {
    use StandardContractType as T;
    let unsupported = || ParseError::InvalidValue {
        at: at.to_string(),
        field: "method",
        message: format!(
            "\"{}\" is not supported for standardContractType \"{}\"",
            c.method,
            c.standard_contract_type.as_str()
        ),
    };
    let arity = |n: &[usize]| -> Result<(), ParseError> {
        if n.contains(&c.parameters.len()) {
            Ok(())
        } else {
            Err(ParseError::InvalidValue {
                at: at.to_string(),
                field: "parameters",
                message: format!(
                    "{} \"{}\" takes {} parameter(s), got {}",
                    if c.standard_contract_type == T::None {
                        "method"
                    } else {
                        c.standard_contract_type.as_str()
                    },
                    c.method,
                    n.iter()
                        .map(|x| x.to_string())
                        .collect::<Vec<_>>()
                        .join(" or "),
                    c.parameters.len()
                ),
            })
        }
    };
    let needs_contract = || check_address(&c.contract_address, at, "contractAddress");
    match (c.standard_contract_type, c.method.as_str()) {
        (T::None, "") => arity(&[1]),
        (T::None, "eth_getBalance") => {
            arity(&[1, 2])?;
            match c.parameters.get(1).map(String::as_str) {
                None | Some("latest") => Ok(()),
                Some(other) => Err(ParseError::InvalidValue {
                    at: at.to_string(),
                    field: "parameters",
                    message: format!("block \"{other}\": only \"latest\" is supported"),
                }),
            }
        }
        (T::Erc20, "balanceOf") | (T::Erc721, "balanceOf") | (T::Erc721, "ownerOf") => {
            needs_contract()?;
            arity(&[1])
        }
        (T::Erc1155, "balanceOf") => {
            needs_contract()?;
            arity(&[2])
        }
        (T::Timestamp, "eth_getBlockByNumber") => Ok(()),
        (T::LitAction, method) => {
            let cid = c.contract_address.strip_prefix("ipfs://").unwrap_or("");
            if cid.is_empty() || !cid.chars().all(|ch| ch.is_ascii_alphanumeric()) {
                return Err(ParseError::InvalidValue {
                    at: at.to_string(),
                    field: "contractAddress",
                    message: "a LitAction condition's contractAddress must be ipfs://<CID>".into(),
                });
            }
            if !is_js_identifier(method) {
                return Err(ParseError::InvalidValue {
                    at: at.to_string(),
                    field: "method",
                    message: format!(
                        "\"{method}\" is not a JavaScript function name (the action's function to call)"
                    ),
                });
            }
            Ok(())
        }
        _ => Err(unsupported()),
    }
}

/// Whether `s` is a plain JavaScript identifier (ASCII letters, digits, `_`,
/// `$`; not starting with a digit). Used for a `LitAction` condition's
/// `method`, which is called by name.
pub(crate) fn is_js_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' || c == '$' => {}
        _ => return false,
    }
    s.len() <= 128 && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

fn check_address(s: &str, at: &str, field: &'static str) -> Result<(), ParseError> {
    parse_address(s)
        .map(|_| ())
        .ok_or_else(|| ParseError::InvalidValue {
            at: at.to_string(),
            field,
            message: format!("\"{s}\" is not a 0x-prefixed 20-byte hex address"),
        })
}

/// A 0x-prefixed 40-hex-digit address in any letter case (checksums are not
/// enforced, as Lit compares addresses case-insensitively).
pub(crate) fn parse_address(s: &str) -> Option<Address> {
    let hex_part = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"))?;
    if hex_part.len() != 40 {
        return None;
    }
    let bytes = hex::decode(hex_part).ok()?;
    Some(Address::from_slice(&bytes))
}

fn parse_abi_params(
    abi: &Map<String, Value>,
    at: &str,
    field: &'static str,
) -> Result<Vec<AbiParam>, ParseError> {
    let list = match abi.get(field) {
        Some(Value::Array(a)) => a,
        None | Some(Value::Null) => {
            return Err(ParseError::MissingField {
                at: at.to_string(),
                field,
            })
        }
        Some(_) => {
            return Err(ParseError::WrongType {
                at: at.to_string(),
                field,
                expected: "an array of {name, type}",
            })
        }
    };
    list.iter()
        .enumerate()
        .map(|(i, p)| {
            let at = format!("{at}/{field}/{i}");
            let p = p.as_object().ok_or_else(|| ParseError::WrongType {
                at: at.clone(),
                field,
                expected: "an array of {name, type}",
            })?;
            let name = match p.get("name") {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(_) => {
                    return Err(ParseError::WrongType {
                        at,
                        field: "name",
                        expected: "a string",
                    })
                }
            };
            let ty = string(p, &at, "type")?;
            let parsed = DynSolType::parse(&ty).map_err(|e| ParseError::InvalidValue {
                at: at.clone(),
                field: "type",
                message: format!("\"{ty}\": {e}"),
            })?;
            if has_tuple(&parsed) || ty.starts_with("tuple") {
                return Err(ParseError::InvalidValue {
                    at,
                    field: "type",
                    message: "tuple types are not supported (Lit's canonical form drops their components)".into(),
                });
            }
            Ok(AbiParam { name, ty })
        })
        .collect()
}

fn has_tuple(t: &DynSolType) -> bool {
    match t {
        DynSolType::Tuple(_) => true,
        DynSolType::Array(inner) | DynSolType::FixedArray(inner, _) => has_tuple(inner),
        _ => false,
    }
}

fn parse_contract(obj: &Map<String, Value>, at: &str) -> Result<EvmContractCondition, ParseError> {
    let contract_address = string(obj, at, "contractAddress")?;
    check_address(&contract_address, at, "contractAddress")?;
    let function_name = string(obj, at, "functionName")?;
    let function_params = strings(obj, at, "functionParams")?;
    let abi = object(obj, at, "functionAbi")?;
    let abi_at = format!("{at}/functionAbi");
    let name = string(abi, &abi_at, "name")?;
    let inputs = parse_abi_params(abi, &abi_at, "inputs")?;
    let outputs = parse_abi_params(abi, &abi_at, "outputs")?;
    let constant = match abi.get("constant") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            return Err(ParseError::WrongType {
                at: abi_at,
                field: "constant",
                expected: "a boolean",
            })
        }
    };
    let state_mutability = match abi.get("stateMutability") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            return Err(ParseError::WrongType {
                at: abi_at,
                field: "stateMutability",
                expected: "a string",
            })
        }
    };
    let chain = parse_chain(obj, at)?;
    let return_value_test = parse_return_value_test(obj, at, true)?;
    if name != function_name {
        return Err(ParseError::InvalidValue {
            at: at.to_string(),
            field: "functionName",
            message: format!("\"{function_name}\" differs from functionAbi.name \"{name}\""),
        });
    }
    if inputs.len() != function_params.len() {
        return Err(ParseError::InvalidValue {
            at: at.to_string(),
            field: "functionParams",
            message: format!(
                "{} given for {} ABI input(s)",
                function_params.len(),
                inputs.len()
            ),
        });
    }
    if outputs.is_empty() {
        return Err(ParseError::InvalidValue {
            at: abi_at,
            field: "outputs",
            message: "the function returns nothing to compare".into(),
        });
    }
    // Parameters that are not substitutions must coerce to their type now.
    for (i, (p, input)) in function_params.iter().zip(&inputs).enumerate() {
        if is_substitution(p) {
            continue;
        }
        let ty = DynSolType::parse(&input.ty).map_err(|e| ParseError::InvalidValue {
            at: abi_at.clone(),
            field: "inputs",
            message: e.to_string(),
        })?;
        ty.coerce_str(p).map_err(|e| ParseError::InvalidValue {
            at: format!("{at}/functionParams/{i}"),
            field: "functionParams",
            message: format!("\"{p}\" is not a {}: {e}", input.ty),
        })?;
    }
    let key = return_value_test.key.as_deref().unwrap_or("");
    output_index(&outputs, key).ok_or_else(|| ParseError::InvalidValue {
        at: format!("{at}/returnValueTest"),
        field: "key",
        message: if key.is_empty() {
            format!(
                "the function has {} outputs: name the one to compare",
                outputs.len()
            )
        } else {
            format!("no output named \"{key}\"")
        },
    })?;
    Ok(EvmContractCondition {
        contract_address,
        function_name,
        function_params,
        function_abi: FunctionAbi {
            name,
            inputs,
            outputs,
            constant,
            state_mutability,
        },
        chain,
        return_value_test,
    })
}

/// The index of the output `key` selects: the named output, or the only
/// output when `key` is empty.
pub(crate) fn output_index(outputs: &[AbiParam], key: &str) -> Option<usize> {
    if key.is_empty() {
        if outputs.len() == 1 {
            Some(0)
        } else {
            None
        }
    } else {
        outputs.iter().position(|o| o.name == key)
    }
}

#[cfg(test)]
mod chains_read_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_conditions_that_read_a_chain_name_it() {
        let body = json!({"unifiedAccessControlConditions": [
            {"conditionType": "evmBasic", "contractAddress": "", "standardContractType": "",
             "chain": "ethereum", "method": "", "parameters": [":userAddress"],
             "returnValueTest": {"comparator": "=", "value": "0x0000000000000000000000000000000000000001"}},
            {"operator": "or"},
            [
                {"conditionType": "evmBasic", "contractAddress": "", "standardContractType": "",
                 "chain": "anvil", "method": "eth_getBalance", "parameters": [":userAddress", "latest"],
                 "returnValueTest": {"comparator": ">=", "value": "1"}},
                {"operator": "and"},
                {"conditionType": "evmBasic", "contractAddress": "ipfs://QmYjmhfoX9ngwd8ZfBQrcnuyhhHyq1eCqUqjZEw19W8E9K",
                 "standardContractType": "LitAction", "chain": "polygon", "method": "go", "parameters": [],
                 "returnValueTest": {"comparator": "=", "value": "true"}}
            ]
        ]});
        let conditions = Conditions::from_request(&body).expect("parses");
        let chains: Vec<String> = conditions.chains_read().into_iter().collect();
        assert_eq!(chains, vec!["anvil".to_string()]);
    }
}
