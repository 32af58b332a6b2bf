//! Malformed condition JSON is refused with typed errors that say where.
use candela_conditions::{
    Conditions, ConditionsKind, ParseError, MAX_CONDITIONS, MAX_DEPTH, MAX_JSON_BYTES,
};
use serde_json::{json, Value};

fn wallet() -> Value {
    json!({
        "contractAddress": "",
        "standardContractType": "",
        "chain": "ethereum",
        "method": "",
        "parameters": [":userAddress"],
        "returnValueTest": {"comparator": "=", "value": "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"}
    })
}

fn contract() -> Value {
    json!({
        "contractAddress": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
        "functionName": "holderInfo",
        "functionParams": [":userAddress"],
        "functionAbi": {
            "name": "holderInfo",
            "stateMutability": "view",
            "inputs": [{"name": "who", "type": "address"}],
            "outputs": [
                {"name": "balance", "type": "uint256"},
                {"name": "holder", "type": "bool"}
            ]
        },
        "chain": "ethereum",
        "returnValueTest": {"key": "holder", "comparator": "=", "value": "true"}
    })
}

fn basic_err(list: Value) -> ParseError {
    Conditions::from_value(ConditionsKind::AccessControl, &list).unwrap_err()
}

fn with(mut v: Value, path: &[&str], new: Value) -> Value {
    let mut cur = &mut v;
    for p in &path[..path.len() - 1] {
        cur = &mut cur[*p];
    }
    cur[path[path.len() - 1]] = new;
    v
}

#[test]
fn well_formed_lists_parse() {
    let c = Conditions::from_value(
        ConditionsKind::AccessControl,
        &json!([wallet(), {"operator": "or"}, [wallet(), {"operator": "and"}, wallet()]]),
    )
    .unwrap();
    assert_eq!(c.len(), 3);
    Conditions::from_value(ConditionsKind::EvmContract, &json!([contract()])).unwrap();
    let mut u = contract();
    u["conditionType"] = json!("evmContract");
    let mut w = wallet();
    w["conditionType"] = json!("evmBasic");
    Conditions::from_value(ConditionsKind::Unified, &json!([w, {"operator": "and"}, u])).unwrap();
}

#[test]
fn not_json_or_not_a_list() {
    assert!(matches!(
        Conditions::parse(ConditionsKind::AccessControl, "[{"),
        Err(ParseError::Json(_))
    ));
    assert!(matches!(
        basic_err(json!({"a": 1})),
        ParseError::Structure { .. }
    ));
    assert_eq!(basic_err(json!([])), ParseError::Empty { at: "/".into() });
    assert_eq!(
        basic_err(json!([wallet(), {"operator": "and"}, []])),
        ParseError::Empty { at: "/2".into() }
    );
    assert!(matches!(basic_err(json!([42])), ParseError::Structure { at, .. } if at == "/0"));
}

#[test]
fn operators_must_alternate() {
    let e = basic_err(json!([wallet(), wallet()]));
    assert!(
        matches!(&e, ParseError::Structure { at, .. } if at == "/1"),
        "{e}"
    );
    assert!(e.to_string().contains("joined by"), "{e}");
    let e = basic_err(json!([{"operator": "and"}, wallet()]));
    assert!(
        matches!(&e, ParseError::Structure { at, .. } if at == "/0"),
        "{e}"
    );
    let e = basic_err(json!([wallet(), {"operator": "and"}]));
    assert!(e.to_string().contains("end with an operator"), "{e}");
    let e = basic_err(json!([wallet(), {"operator": "xor"}, wallet()]));
    assert!(
        matches!(&e, ParseError::InvalidValue { field: "operator", at, .. } if at == "/1"),
        "{e}"
    );
    let e = basic_err(json!([wallet(), {"operator": "AND"}, wallet()]));
    assert!(matches!(e, ParseError::InvalidValue { .. }));
    let e = basic_err(json!([wallet(), {"operator": 1}, wallet()]));
    assert!(matches!(
        e,
        ParseError::WrongType {
            field: "operator",
            ..
        }
    ));
}

#[test]
fn fields_missing_or_mistyped() {
    let mut w = wallet();
    w.as_object_mut().unwrap().remove("chain");
    assert_eq!(
        basic_err(json!([w])),
        ParseError::MissingField {
            at: "/0".into(),
            field: "chain"
        }
    );
    assert_eq!(
        basic_err(json!([with(wallet(), &["parameters"], json!([1]))])),
        ParseError::WrongType {
            at: "/0".into(),
            field: "parameters",
            expected: "an array of strings"
        }
    );
    assert_eq!(
        basic_err(json!([with(
            wallet(),
            &["returnValueTest", "value"],
            json!(5)
        )])),
        ParseError::WrongType {
            at: "/0/returnValueTest".into(),
            field: "value",
            expected: "a string"
        }
    );
    let e = basic_err(json!([with(
        wallet(),
        &["returnValueTest", "comparator"],
        json!("==")
    )]));
    assert!(
        matches!(&e, ParseError::InvalidValue { field: "comparator", at, .. } if at == "/0/returnValueTest"),
        "{e}"
    );
    assert!(matches!(
        basic_err(json!([with(wallet(), &["chain"], json!(""))])),
        ParseError::InvalidValue { field: "chain", .. }
    ));
}

#[test]
fn unsupported_condition_shapes() {
    let e = basic_err(json!([with(
        wallet(),
        &["standardContractType"],
        json!("POAP")
    )]));
    assert!(
        matches!(
            &e,
            ParseError::InvalidValue {
                field: "standardContractType",
                ..
            }
        ),
        "{e}"
    );
    let erc20 = json!({
        "contractAddress": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
        "standardContractType": "ERC20",
        "chain": "ethereum",
        "method": "totalSupply",
        "parameters": [],
        "returnValueTest": {"comparator": ">", "value": "0"}
    });
    assert!(matches!(
        basic_err(json!([erc20.clone()])),
        ParseError::InvalidValue {
            field: "method",
            ..
        }
    ));
    let bad_arity = with(
        with(erc20.clone(), &["method"], json!("balanceOf")),
        &["parameters"],
        json!([]),
    );
    assert!(matches!(
        basic_err(json!([bad_arity])),
        ParseError::InvalidValue {
            field: "parameters",
            ..
        }
    ));
    let bad_address = with(
        with(erc20, &["method"], json!("balanceOf")),
        &["contractAddress"],
        json!("0x1234"),
    );
    assert!(matches!(
        basic_err(json!([bad_address])),
        ParseError::InvalidValue {
            field: "contractAddress",
            ..
        }
    ));
    let lit_action = json!({
        "contractAddress": "QmNoScheme",
        "standardContractType": "LitAction",
        "chain": "ethereum",
        "method": "go",
        "parameters": [],
        "returnValueTest": {"comparator": "=", "value": "true"}
    });
    assert!(matches!(
        basic_err(json!([lit_action.clone()])),
        ParseError::InvalidValue {
            field: "contractAddress",
            ..
        }
    ));
    let injected = with(
        with(lit_action, &["contractAddress"], json!("ipfs://QmX")),
        &["method"],
        json!("go(); evil"),
    );
    assert!(matches!(
        basic_err(json!([injected])),
        ParseError::InvalidValue {
            field: "method",
            ..
        }
    ));
    let e = basic_err(json!([with(
        wallet(),
        &["method"],
        json!("eth_getBalance")
    )
    .as_object()
    .map(|o| {
        let mut o = o.clone();
        o.insert("parameters".into(), json!([":userAddress", "earliest"]));
        Value::Object(o)
    })
    .unwrap()]));
    assert!(e.to_string().contains("latest"), "{e}");
}

#[test]
fn condition_types_by_list() {
    let mut w = wallet();
    w["conditionType"] = json!("evmContract");
    assert!(matches!(
        basic_err(json!([w])),
        ParseError::InvalidValue {
            field: "conditionType",
            ..
        }
    ));
    // Unified items without conditionType (Lit's SDK sends them so) are told
    // apart by their fields and parse as their typed forms do; an item of
    // neither shape must say what it is; only EVM types are supported.
    let mut typed_contract = contract();
    typed_contract["conditionType"] = json!("evmContract");
    let mut typed_wallet = wallet();
    typed_wallet["conditionType"] = json!("evmBasic");
    let untyped = json!([wallet(), {"operator": "or"}, contract()]);
    let typed = json!([typed_wallet, {"operator": "or"}, typed_contract]);
    let parse = |v: &Value| Conditions::from_value(ConditionsKind::Unified, v).unwrap();
    assert_eq!(parse(&untyped), parse(&typed));
    assert_eq!(parse(&untyped).hash(), parse(&typed).hash());
    let e = Conditions::from_value(
        ConditionsKind::Unified,
        &json!([{"chain": "ethereum", "returnValueTest": {"comparator": "=", "value": "1"}}]),
    )
    .unwrap_err();
    assert_eq!(
        e,
        ParseError::MissingField {
            at: "/0".into(),
            field: "conditionType"
        }
    );
    let e = Conditions::from_value(
        ConditionsKind::Unified,
        &json!([{"method": "getBalance", "params": [":userAddress"], "chain": "solana",
            "returnValueTest": {"key": "", "comparator": ">=", "value": "1"}}]),
    )
    .unwrap_err();
    assert!(e.to_string().contains("not supported"), "{e}");
    let mut sol = wallet();
    sol["conditionType"] = json!("solRpc");
    let e = Conditions::from_value(ConditionsKind::Unified, &json!([sol])).unwrap_err();
    assert!(e.to_string().contains("not supported"), "{e}");
}

#[test]
fn evm_contract_abi_checks() {
    let err =
        |c: Value| Conditions::from_value(ConditionsKind::EvmContract, &json!([c])).unwrap_err();
    assert!(matches!(
        err(with(contract(), &["functionName"], json!("other"))),
        ParseError::InvalidValue {
            field: "functionName",
            ..
        }
    ));
    assert!(matches!(
        err(with(contract(), &["returnValueTest", "key"], json!("nope"))),
        ParseError::InvalidValue { field: "key", .. }
    ));
    // Two outputs and no key: which one?
    let e = err(with(contract(), &["returnValueTest", "key"], json!("")));
    assert!(e.to_string().contains("name the one"), "{e}");
    assert!(matches!(
        err(with(contract(), &["functionParams"], json!([]))),
        ParseError::InvalidValue {
            field: "functionParams",
            ..
        }
    ));
    assert!(matches!(
        err(with(
            contract(),
            &["functionParams"],
            json!(["not-an-address"])
        )),
        ParseError::InvalidValue {
            field: "functionParams",
            ..
        }
    ));
    assert!(matches!(
        err(with(
            contract(),
            &["functionAbi", "inputs"],
            json!([{"name": "who", "type": "uint257"}])
        )),
        ParseError::InvalidValue { field: "type", .. }
    ));
    assert!(matches!(
        err(with(
            contract(),
            &["functionAbi", "outputs"],
            json!([{"name": "t", "type": "tuple", "components": []}])
        )),
        ParseError::InvalidValue { field: "type", .. }
    ));
    assert!(matches!(
        err(with(
            contract(),
            &["functionAbi"],
            json!("holderInfo(address)")
        )),
        ParseError::WrongType {
            field: "functionAbi",
            ..
        }
    ));
}

#[test]
fn size_caps() {
    let mut list = vec![wallet()];
    for _ in 0..MAX_CONDITIONS {
        list.push(json!({"operator": "or"}));
        list.push(wallet());
    }
    assert_eq!(
        basic_err(Value::Array(list)),
        ParseError::TooManyConditions {
            max: MAX_CONDITIONS
        }
    );
    let mut deep = json!([wallet()]);
    for _ in 0..MAX_DEPTH {
        deep = json!([deep]);
    }
    assert!(matches!(basic_err(deep), ParseError::TooDeep { .. }));
    let mut ok_depth = json!([wallet()]);
    for _ in 1..MAX_DEPTH {
        ok_depth = json!([ok_depth]);
    }
    Conditions::from_value(ConditionsKind::AccessControl, &ok_depth).unwrap();
    let big = with(wallet(), &["chain"], json!("x".repeat(MAX_JSON_BYTES)));
    assert!(matches!(
        basic_err(json!([big.clone()])),
        ParseError::TooLarge { .. }
    ));
    let text = serde_json::to_string(&json!([big])).unwrap();
    assert!(matches!(
        Conditions::parse(ConditionsKind::AccessControl, &text),
        Err(ParseError::TooLarge { .. })
    ));
}

#[test]
fn from_request_needs_exactly_one_list() {
    let c = Conditions::from_request(&json!({
        "accessControlConditions": [wallet()],
        "evmContractConditions": null,
        "dataToEncryptHash": "ab"
    }))
    .unwrap();
    assert_eq!(c.kind, ConditionsKind::AccessControl);
    assert!(matches!(
        Conditions::from_request(&json!({"dataToEncryptHash": "ab"})),
        Err(ParseError::Request(m)) if m.contains("no conditions")
    ));
    assert!(matches!(
        Conditions::from_request(&json!({
            "accessControlConditions": [wallet()],
            "evmContractConditions": [contract()]
        })),
        Err(ParseError::Request(m)) if m.contains("more than one")
    ));
}
