//! The host operations an action can start, by name. Each one validates its
//! arguments, charges its limit, and returns a `Send` future that the sandbox
//! spawns on the caller's tokio runtime.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::Value as Json;

use crate::context::AuthContext;
use crate::error::{ActionError, Limit};
use crate::host::{
    FetchRequest, FetchResponse, SchemeSignRequest, SignKind, SignRequest, GENERIC_OPS,
};
use crate::op_limits::OpLimitError;
use crate::sandbox::Run;

/// A finished operation's value, turned into a JavaScript value by the sandbox.
pub(crate) enum OpValue {
    Str(String),
    Bool(bool),
    Json(Json),
    Fetch(FetchResponse),
}

pub(crate) type OpFuture = Pin<Box<dyn Future<Output = Result<OpValue, String>> + Send>>;

/// Why an operation could not start.
pub(crate) enum StartError {
    /// Bad arguments or a disabled operation: a `TypeError` for the action.
    Js(String),
    /// A limit was hit; the run is over.
    Fatal(ActionError),
    /// Refused for a limit: an `Error` with Lit's text, which the action may catch.
    Refused(OpLimitError),
}

impl From<OpLimitError> for StartError {
    fn from(e: OpLimitError) -> Self {
        StartError::Refused(e)
    }
}

impl From<ActionError> for StartError {
    fn from(e: ActionError) -> Self {
        StartError::Fatal(e)
    }
}

/// The action an operation belongs to.
pub(crate) struct Scope {
    pub run: Arc<Run>,
    pub depth: u32,
    pub auth: AuthContext,
}

fn str_arg(op: &str, args: &Json, key: &str) -> Result<String, StartError> {
    match args.get(key) {
        Some(Json::String(s)) => Ok(s.clone()),
        _ => Err(StartError::Js(format!("{op}: {key} must be a string"))),
    }
}

fn nonempty_arg(op: &str, args: &Json, key: &str) -> Result<String, StartError> {
    let s = str_arg(op, args, key)?;
    if s.is_empty() {
        return Err(StartError::Js(format!("{op}: {key} must not be empty")));
    }
    Ok(s)
}

fn boxed<F>(f: F) -> OpFuture
where
    F: Future<Output = Result<OpValue, String>> + Send + 'static,
{
    Box::pin(f)
}

/// Starts operation `name` with its JSON arguments and optional byte payload.
pub(crate) fn start(
    scope: &Scope,
    name: &str,
    args_json: &str,
    bytes: Option<Vec<u8>>,
) -> Result<OpFuture, StartError> {
    let run = &scope.run;
    if let Some(fatal) = run.fatal() {
        return Err(StartError::Fatal(fatal));
    }
    if !run.host.op_enabled(name) {
        return Err(StartError::Js(format!(
            "{name} is not supported by this node"
        )));
    }
    let args: Json = serde_json::from_str(args_json)
        .map_err(|e| StartError::Js(format!("{name}: invalid arguments: {e}")))?;
    let host = run.host.clone();
    let fail = |e: crate::HostError| e.to_string();

    match name {
        "fetch" => {
            let url = str_arg(name, &args, "url")?;
            let method = str_arg(name, &args, "method")?;
            let headers = match args.get("headers") {
                Some(Json::Array(pairs)) => pairs
                    .iter()
                    .filter_map(|p| {
                        Some((
                            p.get(0)?.as_str()?.to_owned(),
                            p.get(1)?.as_str()?.to_owned(),
                        ))
                    })
                    .collect(),
                _ => Vec::new(),
            };
            // counted (and refused over the limit) by the `fetch` wrapper
            if !run.take_fetch_ticket() {
                return Err(StartError::Js("fetch: the request was not counted".into()));
            }
            let request = FetchRequest {
                url,
                method,
                headers,
                body: bytes,
            };
            Ok(boxed(async move {
                host.fetch(request).await.map(OpValue::Fetch).map_err(fail)
            }))
        }
        "signEcdsa" | "signAndCombineEcdsa" | "ethPersonalSignMessageEcdsa" => {
            let public_key = nonempty_arg(name, &args, "publicKey")?;
            let sig_name = nonempty_arg(name, &args, "sigName")?;
            let bytes =
                bytes.ok_or_else(|| StartError::Js(format!("{name}: missing data to sign")))?;
            let (to_sign, kind) = if name == "ethPersonalSignMessageEcdsa" {
                (
                    crate::crypto::eip191_hash(&bytes),
                    SignKind::EthPersonalMessage,
                )
            } else {
                let digest = <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
                    // Lit's node text first, then which op and how long
                    StartError::Js(format!(
                        "Message length to be signed is not 32 bytes.  Please hash it before sending it to the node to sign.  You can use SHA256, Keccak256, SHA384 for example ({name}: toSign must be exactly 32 bytes (a hash), got {} bytes)",
                        bytes.len()
                    ))
                })?;
                let kind = if name == "signEcdsa" {
                    SignKind::Raw
                } else {
                    SignKind::Combined
                };
                (digest, kind)
            };
            run.count(Limit::Signatures)?;
            let request = SignRequest {
                to_sign,
                public_key,
                sig_name,
                kind,
            };
            run.record_signature(request.clone());
            if kind == SignKind::Combined {
                Ok(boxed(async move {
                    host.sign_and_combine_ecdsa(request)
                        .await
                        .map(OpValue::Str)
                        .map_err(fail)
                }))
            } else {
                Ok(boxed(async move {
                    host.sign_ecdsa(request)
                        .await
                        .map(|()| OpValue::Str("success".into()))
                        .map_err(fail)
                }))
            }
        }
        "signAndCombine" | "signAsAction" => {
            let sig_name = nonempty_arg(name, &args, "sigName")?;
            let signing_scheme = nonempty_arg(name, &args, "signingScheme")?;
            let public_key = if name == "signAndCombine" {
                Some(nonempty_arg(name, &args, "publicKey")?)
            } else {
                None
            };
            let to_sign =
                bytes.ok_or_else(|| StartError::Js(format!("{name}: missing data to sign")))?;
            if signing_scheme == "EcdsaK256Sha256" {
                if let Some(public_key) = public_key {
                    // Lit routes this scheme to signAndCombineEcdsa's path and answer.
                    let to_sign = <[u8; 32]>::try_from(to_sign.as_slice()).map_err(|_| {
                        StartError::Js(format!(
                            "{name}: EcdsaK256Sha256 signs a 32-byte hash, got {} bytes",
                            to_sign.len()
                        ))
                    })?;
                    run.count(Limit::Signatures)?;
                    let request = SignRequest {
                        to_sign,
                        public_key,
                        sig_name,
                        kind: SignKind::Combined,
                    };
                    run.record_signature(request.clone());
                    return Ok(boxed(async move {
                        host.sign_and_combine_ecdsa(request)
                            .await
                            .map(OpValue::Str)
                            .map_err(fail)
                    }));
                }
            }
            run.count(Limit::Signatures)?;
            let request = SchemeSignRequest {
                to_sign,
                public_key,
                sig_name,
                signing_scheme,
            };
            if name == "signAndCombine" {
                Ok(boxed(async move {
                    host.sign_and_combine(request)
                        .await
                        .map(OpValue::Str)
                        .map_err(fail)
                }))
            } else {
                Ok(boxed(async move {
                    host.sign_as_action(request)
                        .await
                        .map(OpValue::Str)
                        .map_err(fail)
                }))
            }
        }
        "getActionPublicKey" => {
            let scheme = nonempty_arg(name, &args, "signingScheme")?;
            let cid = nonempty_arg(name, &args, "actionIpfsCid")?;
            Ok(boxed(async move {
                host.get_action_public_key(scheme, cid)
                    .await
                    .map(OpValue::Str)
                    .map_err(fail)
            }))
        }
        "verifyActionSignature" => {
            let scheme = nonempty_arg(name, &args, "signingScheme")?;
            let cid = nonempty_arg(name, &args, "actionIpfsCid")?;
            let output = str_arg(name, &args, "signOutput")?;
            let to_sign = bytes.unwrap_or_default();
            Ok(boxed(async move {
                host.verify_action_signature(scheme, cid, to_sign, output)
                    .await
                    .map(OpValue::Bool)
                    .map_err(fail)
            }))
        }
        "runOnce" => {
            let step = str_arg(name, &args, "step")?;
            let key = str_arg(name, &args, "name")?;
            match step.as_str() {
                "isLeader" => Ok(boxed(async move {
                    host.run_once_is_leader(key)
                        .await
                        .map(OpValue::Bool)
                        .map_err(fail)
                })),
                "publish" => {
                    let value = str_arg(name, &args, "value")?;
                    Ok(boxed(async move {
                        host.run_once_publish(key, value)
                            .await
                            .map(|()| OpValue::Bool(true))
                            .map_err(fail)
                    }))
                }
                "collect" => Ok(boxed(async move {
                    host.run_once_collect(key)
                        .await
                        .map(OpValue::Str)
                        .map_err(fail)
                })),
                other => Err(StartError::Js(format!("runOnce: unknown step {other}"))),
            }
        }
        "broadcastAndCollect" => {
            let key = str_arg(name, &args, "name")?;
            let value = str_arg(name, &args, "value")?;
            run.count(Limit::Broadcasts)?;
            Ok(boxed(async move {
                host.broadcast_and_collect(key, value)
                    .await
                    .map(|values| OpValue::Json(Json::from(values)))
                    .map_err(fail)
            }))
        }
        "call" => {
            let ipfs_id = nonempty_arg(name, &args, "ipfsId")?;
            let depth = scope.depth + 1;
            if depth > run.limits.call_depth {
                return Err(run
                    .refuse(Limit::CallDepth, run.limits.call_depth.into())
                    .into());
            }
            let params = args.get("params").cloned().filter(|p| !p.is_null());
            let mut auth = scope.auth.clone();
            auth.action_ipfs_id_stack.push(ipfs_id.clone());
            run.count_call();
            let run = run.clone();
            Ok(boxed(async move {
                let code = host.load_action(ipfs_id).await.map_err(fail)?;
                crate::run_action(run.clone(), code, auth, params, depth)
                    .await
                    .map(|()| OpValue::Str(run.response()))
                    .map_err(|e| match e {
                        // the child's error as Lit passes it on: its own text
                        ActionError::LimitExceeded { message, .. }
                        | ActionError::Script { message, .. } => message,
                        other => other.to_string(),
                    })
            }))
        }
        "getRpcUrl" => {
            let chain = str_arg(name, &args, "chain")?;
            // Lit resolves, never rejects: a chain it cannot resolve
            // answers "Error getting RPC URL: …".
            Ok(boxed(async move {
                Ok(OpValue::Str(
                    host.get_rpc_url(chain)
                        .await
                        .unwrap_or_else(|e| format!("Error getting RPC URL: {e}")),
                ))
            }))
        }
        "getLatestNonce" => {
            let address = str_arg(name, &args, "address")?;
            let chain = str_arg(name, &args, "chain")?;
            Ok(boxed(async move {
                host.get_latest_nonce(address, chain)
                    .await
                    .map(OpValue::Str)
                    .map_err(fail)
            }))
        }
        "aesDecrypt" => {
            let key: Vec<u8> = args
                .get("symmetricKey")
                .and_then(|k| serde_json::from_value(k.clone()).ok())
                .ok_or_else(|| StartError::Js(format!("{name}: symmetricKey must be bytes")))?;
            let ciphertext = bytes.unwrap_or_default();
            Ok(boxed(async move {
                crate::lit_aes::aes_decrypt(&key, &ciphertext)
                    .map(OpValue::Str)
                    .map_err(|e| e.to_string())
            }))
        }
        generic if GENERIC_OPS.contains(&generic) => {
            if generic == "decryptAndCombine" || generic == "decryptToSingleNode" {
                run.count(Limit::Broadcasts)?;
            }
            if generic == "callContract" {
                run.count(Limit::ContractCalls)?;
            }
            let op = generic.to_owned();
            Ok(boxed(async move {
                host.call_op(op, args)
                    .await
                    .map(OpValue::Json)
                    .map_err(fail)
            }))
        }
        other => Err(StartError::Js(format!("unknown operation {other}"))),
    }
}
