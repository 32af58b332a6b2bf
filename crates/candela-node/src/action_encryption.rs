//! Access-control encryption inside actions: `Lit.Actions.encrypt`,
//! `decryptAndCombine`, `decryptToSingleNode` and `checkConditions`.
//!
//! Decryption inside an action follows the same rule as `/web/encryption/sign/`:
//! each node evaluates the conditions itself (for the `authSig` given, or
//! else for the execution's caller, with `:currentActionIpfsId` set to the
//! running action) and gives its decryption share only if they hold. The
//! shares travel between nodes encrypted to each recipient, every share is
//! verified against its node's public share before use, and the plaintext
//! exists only inside the action: on every node for `decryptAndCombine`, on
//! one node for `decryptToSingleNode` (the run's chosen node, derived from
//! the network's threshold signature on the request id, not from anything
//! the client chooses alone).
use std::sync::atomic::Ordering;

use base64::Engine;
use candela_actions::HostError;
use candela_api::session::Ability;
use candela_bls::BlsSignatureShare;
use candela_conditions::{
    data_hash, identity, parse_data_hash, Conditions, ConditionsKind, Context,
};
use candela_crypto::derive;
use serde_json::{json, Value};

use crate::actions::{host_err, ExecHost};

/// The operations this module answers.
pub(crate) const OPS: &[&str] = &[
    "encrypt",
    "decryptAndCombine",
    "decryptToSingleNode",
    "checkConditions",
];

/// A node that refuses to give its share says so to the others, so that no
/// node waits for it; the value starts with this marker.
const REFUSED: &str = "refused:";

fn failed(op: &str, e: impl std::fmt::Display) -> HostError {
    HostError::failed(format!("{op}: {e}"))
}

/// The conditions of an `encrypt` / `decrypt…` call: one of Lit's three
/// condition fields of `args`.
fn conditions_field(op: &str, args: &Value) -> Result<Conditions, HostError> {
    Conditions::from_request(args).map_err(|e| failed(op, e))
}

/// The conditions of `checkConditions({conditions})`: a list whose kind is
/// told by its items (`conditionType`: unified; `functionAbi`: EVM contract;
/// otherwise evmBasic).
fn conditions_list(args: &Value) -> Result<Conditions, HostError> {
    let list = args
        .get("conditions")
        .ok_or_else(|| failed("checkConditions", "missing conditions"))?;
    let any = |field: &str| {
        list.as_array()
            .is_some_and(|items| items.iter().any(|c| c.get(field).is_some()))
    };
    let kind = if any("conditionType") {
        ConditionsKind::Unified
    } else if any("functionAbi") {
        ConditionsKind::EvmContract
    } else {
        ConditionsKind::AccessControl
    };
    Conditions::from_value(kind, list).map_err(|e| failed("checkConditions", e))
}

impl ExecHost {
    /// Answer one of [`OPS`].
    pub(crate) async fn encryption_op(&self, op: &str, args: Value) -> Result<Value, HostError> {
        match op {
            "encrypt" => self.encrypt(&args),
            "checkConditions" => {
                let conditions = conditions_list(&args)?;
                let ctx = self.condition_context(op, &args, &conditions, "*").await?;
                let holds = self
                    .node
                    .conditions_hold(&self.request_id, &conditions, &ctx, self.caller)
                    .await
                    .map_err(host_err)?;
                Ok(Value::Bool(holds))
            }
            "decryptAndCombine" | "decryptToSingleNode"
                if self.kind == crate::actions::RunKind::CustomAuth =>
            {
                Err(HostError::Denied(crate::actions::CUSTOM_AUTH_LIMITS.into()))
            }
            "decryptAndCombine" => self.decrypt(op, &args, false).await,
            "decryptToSingleNode" => self.decrypt(op, &args, true).await,
            other => Err(HostError::Unsupported(other.to_string())),
        }
    }

    /// `encrypt({accessControlConditions, to_encrypt})`: `{ciphertext,
    /// dataToEncryptHash}` in Lit's one-piece format (what the Lit JS SDK's
    /// `encrypt` and `candela encrypt --lit` write), so that the SDK's
    /// `decrypt` opens it as well as Candela's client and actions.
    fn encrypt(&self, args: &Value) -> Result<Value, HostError> {
        let op = "encrypt";
        let conditions = conditions_field(op, args)?;
        let plaintext: Vec<u8> = serde_json::from_value(args["to_encrypt"].clone())
            .map_err(|_| failed(op, "to_encrypt must be bytes"))?;
        let bls = self
            .node
            .bls_key()
            .ok_or_else(|| failed(op, "the network's BLS key is not generated yet"))?;
        let hash = data_hash(&plaintext);
        let id = identity(&conditions.hash(), &hash);
        let container =
            candela_bls::ibe::encrypt(&bls.public_set().public_key, id.as_bytes(), &plaintext)
                .map_err(|e| failed(op, e))?;
        // each node encrypts with its own randomness: a response carrying
        // the ciphertext differs from node to node by design
        self.single_node.store(true, Ordering::Relaxed);
        Ok(json!({
            "ciphertext": base64::engine::general_purpose::STANDARD.encode(container),
            "dataToEncryptHash": hex::encode(hash),
        }))
    }

    /// Who the conditions are evaluated for: the `authSig` of `args` when
    /// given (checked like a request's), else the execution's caller; the
    /// running action is `:currentActionIpfsId`.
    async fn condition_context(
        &self,
        op: &str,
        args: &Value,
        conditions: &Conditions,
        data: &str,
    ) -> Result<Context, HostError> {
        let user = match args.get("authSig").filter(|v| !v.is_null()) {
            Some(sig) => {
                let sig: candela_api::auth::AuthSig = serde_json::from_value(sig.clone())
                    .map_err(|e| failed(op, format!("authSig: {e}")))?;
                let resource = format!("{}/{data}", hex::encode(conditions.hash()));
                self.node
                    .authenticate(&sig, Ability::AccessControlConditionDecryption, &resource)
                    .await
                    .map_err(host_err)?
            }
            None => self.caller,
        };
        Ok(Context {
            user_address: derive::checksum_address(&user),
            current_action_ipfs_id: Some(self.action_cid.clone()),
            lit_params: Value::Null,
        })
    }

    /// `decryptAndCombine` (every node ends with the plaintext) or
    /// `decryptToSingleNode` (only the run's chosen node does; the others
    /// get `""`, as in Lit).
    async fn decrypt(&self, op: &str, args: &Value, single: bool) -> Result<Value, HostError> {
        let conditions = conditions_field(op, args)?;
        let hash_text = args["dataToEncryptHash"].as_str().unwrap_or_default();
        let hash = parse_data_hash(hash_text)
            .ok_or_else(|| failed(op, "dataToEncryptHash must be 32 bytes of hex"))?;
        let container = base64::engine::general_purpose::STANDARD
            .decode(args["ciphertext"].as_str().unwrap_or_default())
            .map_err(|e| failed(op, format!("ciphertext is not base64: {e}")))?;
        let id = identity(&conditions.hash(), &hash);
        candela_bls::hybrid::check_identity_before_opening(&container, id.as_bytes()).map_err(
            |e| {
                failed(
                    op,
                    format!("the ciphertext was not made for these conditions and this dataToEncryptHash: {e}"),
                )
            },
        )?;
        let bls = self
            .node
            .bls_key()
            .ok_or_else(|| failed(op, "the network's BLS key is not generated yet"))?;
        let public = bls.public_set();
        let ctx = self
            .condition_context(op, args, &conditions, &hex::encode(hash))
            .await?;
        let mine = self
            .node
            .decryption_share_for(&self.request_id, &conditions, &hash, &ctx, self.caller)
            .await;
        let value = match &mine {
            Ok(share) => share.to_hex(),
            Err(e) => format!("{REFUSED}{}: {}", e.code, e.message),
        };
        let n = self.decryptions.fetch_add(1, Ordering::Relaxed);
        let topic = format!("decrypt/{n}/{}", hex::encode(hash));
        let values = if single {
            self.single_node.store(true, Ordering::Relaxed);
            let leader = self.leader(&topic).await?;
            self.node
                .send_private(leader, &self.request_id, &topic, &value);
            if leader != self.node.me {
                // Lit's answer on the nodes that do not decrypt
                return mine.map(|_| Value::String(String::new())).map_err(host_err);
            }
            self.collect(&topic).await
        } else {
            self.exchange(&topic, &value, true).await?
        };
        mine.map_err(host_err)?;
        // verify every share against its node's public share (one batch
        // check); combine t valid ones
        let mut valid = Vec::new();
        let mut problems = Vec::new();
        for (from, v) in values {
            if let Some(why) = v.strip_prefix(REFUSED) {
                problems.push(format!("node {from} refused: {why}"));
                continue;
            }
            match BlsSignatureShare::from_hex(&v) {
                Ok(s) if s.node() == from => valid.push(s),
                _ => problems.push(format!("node {from} sent an unreadable decryption share")),
            }
        }
        for e in candela_bls::verify_shares(&public, id.as_bytes(), &valid) {
            if let Some(node) = e.culprit() {
                valid.retain(|s| s.node() != node);
            }
            problems.push(format!("invalid decryption share: {e}"));
        }
        if valid.len() < public.threshold {
            return Err(failed(
                op,
                format!(
                    "{} valid decryption shares of the {} needed ({})",
                    valid.len(),
                    public.threshold,
                    problems.join("; ")
                ),
            ));
        }
        valid.truncate(public.threshold);
        let key = candela_bls::combine(&valid).map_err(|e| failed(op, e))?;
        let mut plaintext = Vec::new();
        candela_bls::hybrid::decrypt_either_with_key(
            &public.public_key,
            id.as_bytes(),
            &key,
            &hash,
            &container,
            &mut plaintext,
        )
        .map_err(|e| failed(op, e))?;
        Ok(Value::String(
            String::from_utf8_lossy(&plaintext).into_owned(),
        ))
    }

    /// The chosen node of `decryptToSingleNode`: wait for every live node's
    /// share (or the collect timeout).
    async fn collect(&self, topic: &str) -> std::collections::BTreeMap<u32, String> {
        let live = self.node.live_set();
        self.node
            .mailbox
            .wait(
                &crate::actions::mailbox_key(&self.request_id, topic),
                self.deadline(),
                |v| live.iter().all(|i| v.contains_key(i)),
            )
            .await
    }
}
