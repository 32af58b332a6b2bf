//! The canonical JSON of a condition list, its hash, and the encryption
//! identity. See the crate documentation for the exact form.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::types::{
    AbiParam, Condition, Conditions, EvmBasicCondition, EvmContractCondition, Item,
};

/// The scheme of an encryption identity.
pub const IDENTITY_PREFIX: &str = "lit-accesscontrolcondition://";

#[derive(Serialize)]
#[serde(untagged)]
enum CanonItem<'a> {
    Basic(CanonBasic<'a>),
    Contract(CanonContract<'a>),
    Operator { operator: &'static str },
    Group(Vec<CanonItem<'a>>),
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CanonBasic<'a> {
    contract_address: &'a str,
    chain: &'a str,
    standard_contract_type: &'static str,
    method: &'a str,
    parameters: &'a [String],
    return_value_test: CanonBasicTest<'a>,
}

#[derive(Serialize)]
struct CanonBasicTest<'a> {
    comparator: &'static str,
    value: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CanonContract<'a> {
    contract_address: &'a str,
    function_name: &'a str,
    function_params: &'a [String],
    function_abi: CanonAbi<'a>,
    chain: &'a str,
    return_value_test: CanonContractTest<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CanonAbi<'a> {
    name: &'a str,
    inputs: Vec<CanonParam<'a>>,
    outputs: Vec<CanonParam<'a>>,
    constant: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    state_mutability: Option<&'a str>,
}

#[derive(Serialize)]
struct CanonParam<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    ty: &'a str,
}

#[derive(Serialize)]
struct CanonContractTest<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'a str>,
    comparator: &'static str,
    value: &'a str,
}

fn canon_basic(c: &EvmBasicCondition) -> CanonBasic<'_> {
    CanonBasic {
        contract_address: &c.contract_address,
        chain: &c.chain,
        standard_contract_type: c.standard_contract_type.as_str(),
        method: &c.method,
        parameters: &c.parameters,
        return_value_test: CanonBasicTest {
            comparator: c.return_value_test.comparator.as_str(),
            value: &c.return_value_test.value,
        },
    }
}

fn canon_params(params: &[AbiParam]) -> Vec<CanonParam<'_>> {
    params
        .iter()
        .map(|p| CanonParam {
            name: &p.name,
            ty: &p.ty,
        })
        .collect()
}

fn canon_contract(c: &EvmContractCondition) -> CanonContract<'_> {
    CanonContract {
        contract_address: &c.contract_address,
        function_name: &c.function_name,
        function_params: &c.function_params,
        function_abi: CanonAbi {
            name: &c.function_abi.name,
            inputs: canon_params(&c.function_abi.inputs),
            outputs: canon_params(&c.function_abi.outputs),
            constant: c.function_abi.constant.unwrap_or(false),
            state_mutability: c.function_abi.state_mutability.as_deref(),
        },
        chain: &c.chain,
        return_value_test: CanonContractTest {
            key: c.return_value_test.key.as_deref(),
            comparator: c.return_value_test.comparator.as_str(),
            value: &c.return_value_test.value,
        },
    }
}

fn canon_items(items: &[Item]) -> Vec<CanonItem<'_>> {
    items
        .iter()
        .map(|item| match item {
            Item::Condition(Condition::EvmBasic(c)) => CanonItem::Basic(canon_basic(c)),
            Item::Condition(Condition::EvmContract(c)) => CanonItem::Contract(canon_contract(c)),
            Item::Operator(op) => CanonItem::Operator {
                operator: op.as_str(),
            },
            Item::Group(g) => CanonItem::Group(canon_items(g)),
        })
        .collect()
}

impl Conditions {
    /// The canonical JSON text (compact, fixed key order, unknown fields
    /// dropped): byte for byte what Lit's JS SDK hashes.
    pub fn canonical_json(&self) -> String {
        // Serializing borrowed strings, bools and arrays cannot fail.
        serde_json::to_string(&canon_items(&self.items)).unwrap_or_default()
    }

    /// The SHA-256 of [`Conditions::canonical_json`].
    pub fn hash(&self) -> [u8; 32] {
        Sha256::digest(self.canonical_json().as_bytes()).into()
    }
}

/// SHA-256 of the canonical JSON of `conditions` (Lit's
/// `hashAccessControlConditions` / `hashEVMContractConditions` /
/// `hashUnifiedAccessControlConditions`, by kind).
pub fn conditions_hash(conditions: &Conditions) -> [u8; 32] {
    conditions.hash()
}

/// SHA-256 of the plaintext (Lit's `dataToEncryptHash`, as bytes).
pub fn data_hash(plaintext: &[u8]) -> [u8; 32] {
    Sha256::digest(plaintext).into()
}

/// Parse a `dataToEncryptHash` as requests carry it: 32 bytes of hex,
/// `0x` optional.
pub fn parse_data_hash(text: &str) -> Option<[u8; 32]> {
    hex::decode(text.trim_start_matches("0x"))
        .ok()
        .and_then(|b| b.try_into().ok())
}

/// The identity a ciphertext is encrypted to:
/// `lit-accesscontrolcondition://<hex conditions hash>/<hex data hash>`,
/// lowercase hex without `0x`.
pub fn identity(conditions_hash: &[u8; 32], data_hash: &[u8; 32]) -> String {
    format!(
        "{IDENTITY_PREFIX}{}/{}",
        hex::encode(conditions_hash),
        hex::encode(data_hash)
    )
}
