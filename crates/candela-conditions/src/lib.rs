//! # candela-conditions
//!
//! Lit Protocol-compatible access-control conditions: the JSON types, their
//! canonical form and hash, the encryption identity, and an evaluator.
//!
//! ## Condition lists
//!
//! Three request fields carry conditions, as in Lit's v7 API
//! ([`ConditionsKind`]):
//!
//! - `accessControlConditions`: "evmBasic" conditions
//!   `{contractAddress, standardContractType, chain, method, parameters,
//!   returnValueTest: {comparator, value}}` with `standardContractType` one
//!   of `""`, `ERC20`, `ERC721`, `ERC1155`, `timestamp`, `LitAction`;
//! - `evmContractConditions`: `{contractAddress, functionName,
//!   functionParams, functionAbi, chain, returnValueTest: {key, comparator,
//!   value}}` (any view function described by a JSON ABI fragment);
//! - `unifiedAccessControlConditions`: either shape, each item with
//!   `conditionType: "evmBasic" | "evmContract"`, or without it (as Lit's
//!   SDK sends them to the nodes, in canonical form), told apart by its
//!   fields: `functionAbi` / `functionName` make an evmContract item,
//!   `standardContractType` / `parameters` an evmBasic one.
//!
//! A list alternates conditions and `{"operator": "and" | "or"}`; an element
//! may itself be a list (a group). Parsing ([`Conditions::parse`],
//! [`Conditions::from_request`]) refuses malformed input with a
//! [`ParseError`] that names the path, and caps the input at
//! [`MAX_JSON_BYTES`], [`MAX_CONDITIONS`] conditions and [`MAX_DEPTH`]
//! levels of nesting.
//!
//! ## Canonical JSON
//!
//! The canonical form is what Lit's JS SDK (`@lit-protocol/access-control-conditions`,
//! `canonicalFormatter.ts`) produces and hashes: `JSON.stringify` (compact, no
//! spaces) of the list with every object rebuilt with a fixed key order and
//! only these keys (unknown fields are dropped):
//!
//! - operator: `{"operator"}`;
//! - evmBasic: `{"contractAddress","chain","standardContractType","method","parameters","returnValueTest":{"comparator","value"}}`;
//! - evmContract: `{"contractAddress","functionName","functionParams","functionAbi":{"name","inputs":[{"name","type"}],"outputs":[{"name","type"}],"constant","stateMutability"},"chain","returnValueTest":{"key","comparator","value"}}`,
//!   where `constant` is `false` when absent, and `stateMutability` and
//!   `returnValueTest.key` are left out when absent (as `JSON.stringify`
//!   drops `undefined`);
//! - a group: the canonical list of its elements.
//!
//! `conditionType` is **not** part of the canonical form, even for unified
//! conditions (Lit's unified formatter delegates to the per-type formatters,
//! which drop it). Strings are escaped as `JSON.stringify` does (which
//! `serde_json` matches for valid UTF-8).
//!
//! [`conditions_hash`] is the SHA-256 of those bytes, and
//! [`identity`] is `lit-accesscontrolcondition://<hex conditions hash>/<hex
//! SHA-256 of the plaintext>` (Lit's `_getIdentityParamForEncryption`).
//!
//! ## Evaluation
//!
//! [`evaluate`] runs a list against a [`Context`] (the caller's address, the
//! current action's CID, `litParams`), reading chains through a
//! [`ChainReader`] ([`JsonRpcChainReader`] over JSON-RPC) and running
//! `LitAction` conditions through an [`ActionRunner`]. `Ok(false)` means the
//! conditions do not hold; `Err` means one could not be evaluated, and says
//! which (by position, `#2` or `#2.0` inside a group) and why.
//!
//! Supported evmBasic forms:
//!
//! | standardContractType | method | parameters | read |
//! |---|---|---|---|
//! | `""` | `""` | `[X]` | `X` itself (`:userAddress`, `:currentActionIpfsId`) |
//! | `""` | `eth_getBalance` | `[address, "latest"]` | balance in wei |
//! | `ERC20` / `ERC721` | `balanceOf` | `[address]` | `balanceOf(address)` |
//! | `ERC721` | `ownerOf` | `[tokenId]` | `ownerOf(uint256)` (compare with `:userAddress`) |
//! | `ERC1155` | `balanceOf` | `[address, id]` | `balanceOf(address,uint256)` |
//! | `timestamp` | `eth_getBlockByNumber` | any (`["latest","false"]`) | latest block timestamp |
//! | `LitAction` | function name | arguments | the function's return value (`contractAddress: "ipfs://CID"`) |
//!
//! Comparisons: integers (decimal or `0x` hex, optionally negative) compare
//! numerically as 256-bit values with all six of `= != > >= < <=`;
//! addresses compare case-insensitively with `=`/`!=`; booleans with
//! `"true"`/`"false"`; strings exactly, or by substring with
//! `contains`/`!contains`; arrays with `contains`/`!contains` (element
//! equality). Substitutions (`:userAddress`, `:currentActionIpfsId`,
//! `:litParam:NAME`) apply to parameters and to `returnValueTest.value`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod canonical;
mod error;
mod eval;
mod rpc;
mod types;

pub use alloy::primitives::{Address, U256};
pub use canonical::{conditions_hash, data_hash, identity, parse_data_hash, IDENTITY_PREFIX};
pub use error::{ActionRunError, ChainError, ConditionError, ParseError};
pub use eval::{evaluate, lit_action_driver, ActionRunner, ChainReader, Context, NoActions};
pub use rpc::{JsonRpcChainReader, DEFAULT_RPC_TIMEOUT};
pub use types::{
    AbiParam, Comparator, Condition, Conditions, ConditionsKind, EvmBasicCondition,
    EvmContractCondition, FunctionAbi, Item, Operator, ReturnValueTest, StandardContractType,
};

/// The largest condition JSON accepted, in bytes (64 KiB).
pub const MAX_JSON_BYTES: usize = 64 * 1024;
/// The most conditions a list may hold (groups and operators not counted).
pub const MAX_CONDITIONS: usize = 32;
/// The deepest nesting accepted (the top-level list is level 1).
pub const MAX_DEPTH: usize = 8;
