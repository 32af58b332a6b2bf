//! The evaluator against a real anvil node with real token contracts
//! (`contracts/src/test/TestERC20.sol`, `TestERC721.sol`, `TestERC1155.sol`,
//! compiled by `contracts/scripts/build.mjs` into `contracts/out/`), read
//! through the real [`JsonRpcChainReader`], and `LitAction` conditions run by
//! the real QuickJS sandbox of `candela-actions`.
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::Address;
use async_trait::async_trait;
use candela_actions::{ExecutionContext, Host, Limits};
use candela_conditions::{
    evaluate, lit_action_driver, ActionRunError, ActionRunner, ChainError, ConditionError,
    Conditions, ConditionsKind, Context, JsonRpcChainReader, NoActions,
};
use candela_registry::anvil::test_tokens::TestTokens;
use candela_registry::anvil::Anvil;
use serde_json::{json, Value};

/// Anvil's account 0 (deployer, holds the tokens).
const ALICE: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
/// Anvil's account 1 (holds ETH but no tokens; owns ERC721 token 2).
const BOB: &str = "0x70997970C51812dc3A010C7d01b50e0d17dC79C8";
/// An address with nothing at all.
const CAROL: &str = "0x1111111111111111111111111111111111111111";

struct Chain {
    _anvil: Anvil,
    url: String,
    erc20: Address,
    erc721: Address,
    erc1155: Address,
}

async fn start_chain() -> Chain {
    let anvil = Anvil::start().expect("anvil starts");
    let url = anvil.url.clone();
    let tokens = TestTokens::deploy(&url).await.expect("test tokens deploy");
    let (alice, bob): (Address, Address) = (ALICE.parse().unwrap(), BOB.parse().unwrap());
    tokens.mint_erc20(alice, 1000).await.unwrap();
    for (owner, id) in [(alice, 1u64), (bob, 2u64)] {
        tokens.mint_erc721(owner, id).await.unwrap();
    }
    tokens.mint_erc1155(alice, 7, 5).await.unwrap();
    Chain {
        _anvil: anvil,
        url,
        erc20: tokens.erc20,
        erc721: tokens.erc721,
        erc1155: tokens.erc1155,
    }
}

impl Chain {
    fn reader(&self) -> JsonRpcChainReader {
        JsonRpcChainReader::new(
            BTreeMap::from([("anvil".to_string(), self.url.clone())]),
            Duration::from_secs(5),
        )
        .unwrap()
    }
}

fn basic(sct: &str, contract: &str, method: &str, params: Value, cmp: &str, value: &str) -> Value {
    json!({
        "contractAddress": contract,
        "standardContractType": sct,
        "chain": "anvil",
        "method": method,
        "parameters": params,
        "returnValueTest": {"comparator": cmp, "value": value}
    })
}

async fn eval_with(
    list: Value,
    user: &str,
    chain: &dyn candela_conditions::ChainReader,
    actions: &dyn ActionRunner,
) -> Result<bool, ConditionError> {
    let kind = if list
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i.get("conditionType").is_some())
    {
        ConditionsKind::Unified
    } else {
        ConditionsKind::AccessControl
    };
    let conditions = Conditions::from_value(kind, &list).unwrap();
    evaluate(&conditions, &Context::for_user(user), chain, actions).await
}

async fn eval(chain: &Chain, condition: Value, user: &str) -> Result<bool, ConditionError> {
    eval_with(json!([condition]), user, &chain.reader(), &NoActions).await
}

#[tokio::test]
async fn eth_get_balance_true_and_false() {
    let chain = start_chain().await;
    let c = basic(
        "",
        "",
        "eth_getBalance",
        json!([":userAddress", "latest"]),
        ">=",
        "1000000000000000000",
    );
    assert_eq!(eval(&chain, c.clone(), BOB).await, Ok(true));
    assert_eq!(eval(&chain, c, CAROL).await, Ok(false));
    // An explicit address parameter, and a hex value.
    let c = basic(
        "",
        "",
        "eth_getBalance",
        json!([CAROL, "latest"]),
        "=",
        "0x0",
    );
    assert_eq!(eval(&chain, c, ALICE).await, Ok(true));
}

#[tokio::test]
async fn erc20_balance_of_true_and_false() {
    let chain = start_chain().await;
    let token = chain.erc20.to_string();
    let c = |cmp: &str, v: &str| {
        basic(
            "ERC20",
            &token,
            "balanceOf",
            json!([":userAddress"]),
            cmp,
            v,
        )
    };
    assert_eq!(eval(&chain, c(">=", "1000"), ALICE).await, Ok(true));
    assert_eq!(eval(&chain, c(">", "1000"), ALICE).await, Ok(false));
    assert_eq!(eval(&chain, c(">", "0"), BOB).await, Ok(false));
    assert_eq!(eval(&chain, c("=", "0"), BOB).await, Ok(true));
    // Lowercase contract address works too.
    let lower = basic(
        "ERC20",
        &token.to_lowercase(),
        "balanceOf",
        json!([":userAddress"]),
        "<",
        "1001",
    );
    assert_eq!(eval(&chain, lower, ALICE).await, Ok(true));
}

#[tokio::test]
async fn erc721_owner_of_true_and_false() {
    let chain = start_chain().await;
    let nft = chain.erc721.to_string();
    let owner_of = |id: &str| basic("ERC721", &nft, "ownerOf", json!([id]), "=", ":userAddress");
    assert_eq!(eval(&chain, owner_of("1"), ALICE).await, Ok(true));
    // Case does not matter for addresses.
    assert_eq!(
        eval(&chain, owner_of("1"), &ALICE.to_lowercase()).await,
        Ok(true)
    );
    assert_eq!(eval(&chain, owner_of("2"), ALICE).await, Ok(false));
    assert_eq!(eval(&chain, owner_of("2"), BOB).await, Ok(true));
    // A token that does not exist: ownerOf reverts, and that is an error
    // naming the condition, not a silent false.
    match eval(&chain, owner_of("99"), ALICE).await {
        Err(ConditionError::Chain {
            condition,
            source: ChainError::Rpc {
                method, message, ..
            },
        }) => {
            assert_eq!(condition, "#0");
            assert_eq!(method, "eth_call");
            assert!(message.contains("revert"), "{message}");
        }
        other => panic!("expected a revert error, got {other:?}"),
    }
}

#[tokio::test]
async fn erc721_balance_of_true_and_false() {
    let chain = start_chain().await;
    let nft = chain.erc721.to_string();
    let c = basic(
        "ERC721",
        &nft,
        "balanceOf",
        json!([":userAddress"]),
        ">",
        "0",
    );
    assert_eq!(eval(&chain, c.clone(), BOB).await, Ok(true));
    assert_eq!(eval(&chain, c, CAROL).await, Ok(false));
}

#[tokio::test]
async fn erc1155_balance_of_true_and_false() {
    let chain = start_chain().await;
    let token = chain.erc1155.to_string();
    let c = |id: &str| {
        basic(
            "ERC1155",
            &token,
            "balanceOf",
            json!([":userAddress", id]),
            ">=",
            "5",
        )
    };
    assert_eq!(eval(&chain, c("7"), ALICE).await, Ok(true));
    assert_eq!(eval(&chain, c("8"), ALICE).await, Ok(false));
    assert_eq!(eval(&chain, c("7"), BOB).await, Ok(false));
}

#[tokio::test]
async fn timestamp_true_and_false() {
    let chain = start_chain().await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let c = |cmp: &str, v: u64| {
        basic(
            "timestamp",
            "",
            "eth_getBlockByNumber",
            json!(["latest", "false"]),
            cmp,
            &v.to_string(),
        )
    };
    assert_eq!(eval(&chain, c(">=", now - 3600), ALICE).await, Ok(true));
    assert_eq!(eval(&chain, c(">=", now + 86_400), ALICE).await, Ok(false));
    assert_eq!(eval(&chain, c("<", now + 86_400), ALICE).await, Ok(true));
}

fn holder_info(contract: Address, key: &str, cmp: &str, value: &str) -> Value {
    json!({
        "contractAddress": contract.to_string(),
        "functionName": "holderInfo",
        "functionParams": [":userAddress"],
        "functionAbi": {
            "name": "holderInfo",
            "type": "function",
            "stateMutability": "view",
            "inputs": [{"name": "who", "type": "address", "internalType": "address"}],
            "outputs": [
                {"name": "balance", "type": "uint256", "internalType": "uint256"},
                {"name": "supply", "type": "uint256", "internalType": "uint256"},
                {"name": "holder", "type": "bool", "internalType": "bool"}
            ]
        },
        "chain": "anvil",
        "returnValueTest": {"key": key, "comparator": cmp, "value": value}
    })
}

#[tokio::test]
async fn evm_contract_named_output_true_and_false() {
    let chain = start_chain().await;
    let reader = chain.reader();
    let run = |c: Value, user: &'static str| {
        let reader = &reader;
        async move {
            let conditions =
                Conditions::from_value(ConditionsKind::EvmContract, &json!([c])).unwrap();
            evaluate(&conditions, &Context::for_user(user), reader, &NoActions).await
        }
    };
    let t = chain.erc20;
    assert_eq!(
        run(holder_info(t, "holder", "=", "true"), ALICE).await,
        Ok(true)
    );
    assert_eq!(
        run(holder_info(t, "holder", "=", "true"), BOB).await,
        Ok(false)
    );
    assert_eq!(
        run(holder_info(t, "balance", ">=", "1000"), ALICE).await,
        Ok(true)
    );
    assert_eq!(
        run(holder_info(t, "balance", ">", "1000"), ALICE).await,
        Ok(false)
    );
    // `supply` is the same for everyone.
    assert_eq!(
        run(holder_info(t, "supply", "=", "1000"), BOB).await,
        Ok(true)
    );
    // A mistyped comparison is an error, not false.
    assert!(matches!(
        run(holder_info(t, "holder", ">", "1"), ALICE).await,
        Err(ConditionError::Comparison { .. })
    ));
}

/// A real `ActionRunner`: the code by CID (checked against the CID), run in
/// candela-actions' QuickJS sandbox with a host that offers nothing.
struct SandboxRunner {
    code: HashMap<String, String>,
}

struct NoHost;

#[async_trait]
impl Host for NoHost {}

impl SandboxRunner {
    fn with(code: &[&str]) -> (SandboxRunner, Vec<String>) {
        let cids: Vec<String> = code
            .iter()
            .map(|c| candela_cid::cid_v0(c.as_bytes()))
            .collect();
        let map = cids
            .iter()
            .cloned()
            .zip(code.iter().map(|c| c.to_string()))
            .collect();
        (SandboxRunner { code: map }, cids)
    }
}

#[async_trait]
impl ActionRunner for SandboxRunner {
    async fn run(
        &self,
        ipfs_id: &str,
        method: &str,
        params: Vec<String>,
    ) -> Result<String, ActionRunError> {
        let code = self
            .code
            .get(ipfs_id)
            .ok_or_else(|| ActionRunError(format!("no action {ipfs_id}")))?;
        candela_cid::verify(code.as_bytes(), ipfs_id).map_err(|e| ActionRunError(e.to_string()))?;
        let script = lit_action_driver(code, method, &params)
            .ok_or_else(|| ActionRunError(format!("bad method {method}")))?;
        let outcome = candela_actions::execute(
            &script,
            ExecutionContext::with_params(json!({})),
            Arc::new(NoHost),
            &Limits::default(),
        )
        .await
        .map_err(|e| ActionRunError(e.to_string()))?;
        Ok(outcome.response)
    }
}

const THRESHOLD_ACTION: &str = r#"
const go = async (maxTemp, who) => {
  const temperature = 35; // what a weather API would say
  return temperature < Number(maxTemp) && who.startsWith("0x");
};
"#;

const FAILING_ACTION: &str = r#"
const go = async () => { throw new Error("weather service down"); };
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lit_action_true_and_false() {
    let (runner, cids) = SandboxRunner::with(&[THRESHOLD_ACTION, FAILING_ACTION]);
    let reader = JsonRpcChainReader::new(BTreeMap::new(), Duration::from_secs(1)).unwrap();
    let action = |cid: &str, params: Value, cmp: &str, value: &str| {
        json!([basic(
            "LitAction",
            &format!("ipfs://{cid}"),
            "go",
            params,
            cmp,
            value
        )])
    };
    let run = |list: Value, lit_params: Value| {
        let (runner, reader) = (&runner, &reader);
        async move {
            let c = Conditions::from_value(ConditionsKind::AccessControl, &list).unwrap();
            let ctx = Context {
                user_address: ALICE.into(),
                current_action_ipfs_id: None,
                lit_params,
            };
            evaluate(&c, &ctx, reader, runner).await
        }
    };
    let t = &cids[0];
    assert_eq!(
        run(
            action(t, json!(["40", ":userAddress"]), "=", "true"),
            json!({})
        )
        .await,
        Ok(true)
    );
    assert_eq!(
        run(
            action(t, json!(["30", ":userAddress"]), "=", "true"),
            json!({})
        )
        .await,
        Ok(false)
    );
    assert_eq!(
        run(
            action(t, json!(["30", ":userAddress"]), "!=", "true"),
            json!({})
        )
        .await,
        Ok(true)
    );
    // :litParam: substitution feeds the action.
    assert_eq!(
        run(
            action(t, json!([":litParam:max", ":userAddress"]), "=", "true"),
            json!({"max": 50})
        )
        .await,
        Ok(true)
    );
    match run(
        action(t, json!([":litParam:max", ":userAddress"]), "=", "true"),
        json!({}),
    )
    .await
    {
        Err(ConditionError::Parameter { condition, message }) => {
            assert_eq!(condition, "#0");
            assert!(message.contains("max"), "{message}");
        }
        other => panic!("expected a parameter error, got {other:?}"),
    }
    // An action that throws is an error naming the action.
    match run(action(&cids[1], json!([]), "=", "true"), json!({})).await {
        Err(ConditionError::Action {
            ipfs_id, source, ..
        }) => {
            assert_eq!(ipfs_id, cids[1]);
            assert!(source.0.contains("weather service down"), "{}", source.0);
        }
        other => panic!("expected an action error, got {other:?}"),
    }
}

#[tokio::test]
async fn wallet_address_and_current_action_conditions() {
    let reader = JsonRpcChainReader::new(BTreeMap::new(), Duration::from_secs(1)).unwrap();
    let wallet = json!([basic(
        "",
        "",
        "",
        json!([":userAddress"]),
        "=",
        &ALICE.to_lowercase()
    )]);
    let c = Conditions::from_value(ConditionsKind::AccessControl, &wallet).unwrap();
    assert_eq!(
        evaluate(&c, &Context::for_user(ALICE), &reader, &NoActions).await,
        Ok(true)
    );
    assert_eq!(
        evaluate(&c, &Context::for_user(BOB), &reader, &NoActions).await,
        Ok(false)
    );
    let cid = "QmWeatherCheckCIDxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
    let current = json!([basic("", "", "", json!([":currentActionIpfsId"]), "=", cid)]);
    let c = Conditions::from_value(ConditionsKind::AccessControl, &current).unwrap();
    let mut ctx = Context::for_user(ALICE);
    ctx.current_action_ipfs_id = Some(cid.into());
    assert_eq!(evaluate(&c, &ctx, &reader, &NoActions).await, Ok(true));
    ctx.current_action_ipfs_id = Some("QmOther".into());
    assert_eq!(evaluate(&c, &ctx, &reader, &NoActions).await, Ok(false));
    ctx.current_action_ipfs_id = None;
    assert!(matches!(
        evaluate(&c, &ctx, &reader, &NoActions).await,
        Err(ConditionError::Parameter { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_unified_and_or() {
    let chain = start_chain().await;
    let reader = chain.reader();
    let (runner, cids) = SandboxRunner::with(&[THRESHOLD_ACTION]);
    let unified = |mut v: Value, t: &str| {
        v["conditionType"] = json!(t);
        v
    };
    let erc20_holder = unified(
        basic(
            "ERC20",
            &chain.erc20.to_string(),
            "balanceOf",
            json!([":userAddress"]),
            ">",
            "0",
        ),
        "evmBasic",
    );
    let owns_nft_2 = unified(
        basic(
            "ERC721",
            &chain.erc721.to_string(),
            "ownerOf",
            json!(["2"]),
            "=",
            ":userAddress",
        ),
        "evmBasic",
    );
    let warm_enough = unified(
        basic(
            "LitAction",
            &format!("ipfs://{}", cids[0]),
            "go",
            json!(["40", ":userAddress"]),
            "=",
            "true",
        ),
        "evmBasic",
    );
    let holder = unified(
        holder_info(chain.erc20, "holder", "=", "true"),
        "evmContract",
    );
    // (ERC20 holder or owner of NFT 2) and (action says yes and holderInfo.holder)
    let list = json!([
        [erc20_holder, {"operator": "or"}, owns_nft_2],
        {"operator": "and"},
        [warm_enough, {"operator": "and"}, [holder]]
    ]);
    let c = Conditions::from_value(ConditionsKind::Unified, &list).unwrap();
    let run = |user: &'static str| {
        let (c, reader, runner) = (&c, &reader, &runner);
        async move { evaluate(c, &Context::for_user(user), reader, runner).await }
    };
    assert_eq!(run(ALICE).await, Ok(true)); // ERC20 holder, holder
    assert_eq!(run(BOB).await, Ok(false)); // owns NFT 2 but holds no ERC20
    assert_eq!(run(CAROL).await, Ok(false)); // nothing
}

#[tokio::test]
async fn operators_short_circuit_left_to_right() {
    let reader = JsonRpcChainReader::new(BTreeMap::new(), Duration::from_secs(1)).unwrap();
    let yes = basic("", "", "", json!([":userAddress"]), "=", ALICE);
    let no = basic("", "", "", json!([":userAddress"]), "=", BOB);
    // A condition on a chain that is not configured: evaluating it fails.
    let broken = basic(
        "",
        "",
        "eth_getBalance",
        json!([":userAddress", "latest"]),
        ">",
        "0",
    );
    let run = |list: Value| {
        let reader = &reader;
        async move { eval_with(list, ALICE, reader, &NoActions).await }
    };
    assert_eq!(
        run(json!([yes, {"operator": "or"}, broken])).await,
        Ok(true)
    );
    assert_eq!(
        run(json!([no, {"operator": "and"}, broken])).await,
        Ok(false)
    );
    // Left to right, no precedence: (no or yes) and no = false.
    assert_eq!(
        run(json!([no, {"operator": "or"}, yes, {"operator": "and"}, no])).await,
        Ok(false)
    );
    // (yes and no) or yes = true.
    assert_eq!(
        run(json!([yes, {"operator": "and"}, no, {"operator": "or"}, yes])).await,
        Ok(true)
    );
    match run(json!([no, {"operator": "or"}, [yes, {"operator": "and"}, broken]])).await {
        Err(ConditionError::Chain { condition, source }) => {
            assert_eq!(condition, "#2.2");
            assert_eq!(source, ChainError::NotConfigured("anvil".into()));
        }
        other => panic!("expected chain-not-configured, got {other:?}"),
    }
}

#[tokio::test]
async fn chain_not_configured_is_a_clear_error() {
    let chain = start_chain().await;
    let mut c = basic(
        "ERC20",
        &chain.erc20.to_string(),
        "balanceOf",
        json!([":userAddress"]),
        ">",
        "0",
    );
    c["chain"] = json!("polygon");
    let err = eval(&chain, c, ALICE).await.unwrap_err();
    assert_eq!(
        err,
        ConditionError::Chain {
            condition: "#0".into(),
            source: ChainError::NotConfigured("polygon".into()),
        }
    );
    assert_eq!(
        err.to_string(),
        "condition #0: chain \"polygon\" is not configured on this node"
    );
}

#[tokio::test]
async fn rpc_down_is_a_clear_error() {
    // A port nothing listens on (an anvil that was stopped).
    let dead = {
        let chain = start_chain().await;
        chain.url.clone()
    };
    let reader = JsonRpcChainReader::new(
        BTreeMap::from([("anvil".to_string(), dead.clone())]),
        Duration::from_secs(2),
    )
    .unwrap();
    let c = json!([basic(
        "",
        "",
        "eth_getBalance",
        json!([":userAddress", "latest"]),
        ">",
        "0"
    )]);
    let started = std::time::Instant::now();
    let err = eval_with(c, ALICE, &reader, &NoActions).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    match &err {
        ConditionError::Chain {
            condition,
            source: ChainError::Unreachable { chain, url, .. },
        } => {
            assert_eq!(condition, "#0");
            assert_eq!(chain, "anvil");
            assert_eq!(url, &dead);
        }
        other => panic!("expected unreachable, got {other:?}"),
    }
    assert!(err.to_string().contains("unreachable"), "{err}");
}

#[tokio::test]
async fn rpc_timeout_is_a_clear_error() {
    // A listener that accepts and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let reader = JsonRpcChainReader::new(
        BTreeMap::from([("anvil".to_string(), url)]),
        Duration::from_millis(500),
    )
    .unwrap();
    let c = json!([basic(
        "timestamp",
        "",
        "eth_getBlockByNumber",
        json!(["latest", "false"]),
        ">",
        "0"
    )]);
    let err = eval_with(c, ALICE, &reader, &NoActions).await.unwrap_err();
    match &err {
        ConditionError::Chain {
            source: ChainError::Unreachable { message, .. },
            ..
        } => assert!(message.contains("time limit"), "{message}"),
        other => panic!("expected a timeout, got {other:?}"),
    }
    drop(listener);
}
