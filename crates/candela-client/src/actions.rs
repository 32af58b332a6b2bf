//! Actions: deploy code to every node and run it with one request id,
//! verifying every share and the nodes' agreement on the response.
use std::collections::{BTreeMap, HashMap};

use base64::Engine;
use candela_api::auth::AuthSig;
use candela_api::v7::{
    ActionUploadRequest, ActionUploadResponse, ExecuteRequest, ExecuteResponse, PkpSignResponse,
};
use candela_api::{EXCLUDE_HEADER, REQUEST_ID_HEADER};
use candela_crypto::derive;
use candela_crypto::ecdsa::Signature;
use candela_crypto::AffinePoint;
use k256::ecdsa::SigningKey;

use crate::{answer, join_all, new_request_id, Client, ClientError, NodeFault, RequestAuth};

/// How long a rerun after a caught liar waits, so the spent notices of the
/// first attempt reach every node before the new assignment is made.
const RERUN_SETTLE: std::time::Duration = std::time::Duration::from_millis(400);

/// The action to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionSource {
    /// The source code itself (sent base64; the nodes compute its CID).
    Code(String),
    /// The CIDv0 of an action the nodes store.
    IpfsId(String),
}

impl ActionSource {
    /// As a request carries it: `(code in base64, ipfsId)`.
    pub fn wire(&self) -> (Option<String>, Option<String>) {
        match self {
            ActionSource::Code(c) => (
                Some(base64::engine::general_purpose::STANDARD.encode(c.as_bytes())),
                None,
            ),
            ActionSource::IpfsId(id) => (None, Some(id.clone())),
        }
    }
}

/// What one node did for an operation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeReport {
    /// The node's index.
    pub node: u32,
    /// The node's URL.
    pub url: String,
    /// True when the node answered successfully.
    pub ok: bool,
    /// The node's error, when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// True when the node's response is the one the network agreed on.
    pub response_agreed: bool,
}

/// A signature an action asked for, combined and verified.
#[derive(Debug, Clone)]
pub struct ActionSignature {
    /// The signature, verified under `public_key`.
    pub signature: Signature,
    /// The PKP key.
    pub public_key: AffinePoint,
    /// The signed digest.
    pub digest: [u8; 32],
    /// Signers left out of this signature.
    pub faults: Vec<NodeFault>,
}

/// The result of running an action on the network.
#[derive(Debug, Clone)]
pub struct ExecuteOutcome {
    /// The request id used.
    pub request_id: String,
    /// The response at least `threshold` nodes agree on.
    pub response: String,
    /// The logs of the lowest-indexed agreeing node.
    pub logs: String,
    /// The logs of the other agreeing nodes whose logs differ from `logs`,
    /// by node index: what only some nodes printed (the error a `runOnce`
    /// callback threw on the one node that ran it, for instance).
    pub other_logs: BTreeMap<u32, String>,
    /// Every signature the action asked for, by `sigName`.
    pub signatures: BTreeMap<String, ActionSignature>,
    /// What each node did.
    pub nodes: Vec<NodeReport>,
    /// Nodes that failed, disagreed or sent a bad share.
    pub faults: Vec<NodeFault>,
    /// The keys the action claimed (`Lit.Actions.claimKey`), by the key id
    /// it passed, with the nodes' verified signatures (see
    /// [`Client::key_claims`]); mint one with [`Client::mint_claimed`].
    pub claims: BTreeMap<String, crate::KeyClaim>,
}

impl Client {
    /// Upload an action's code to every node; returns its CID and what each
    /// node did. Fails when fewer than `threshold` nodes stored it.
    pub async fn deploy_action(
        &self,
        code: &[u8],
    ) -> Result<(String, Vec<NodeReport>), ClientError> {
        let cid = candela_cid::cid_v0(code);
        let body = ActionUploadRequest {
            code: base64::engine::general_purpose::STANDARD.encode(code),
            ipfs_id: Some(cid.clone()),
        };
        let calls = self.net.nodes.iter().map(|n| {
            let req = self
                .http
                .post(format!("{}/web/action/upload/v1", n.url))
                .timeout(self.timeout)
                .json(&body);
            let (index, url) = (n.index, n.url.clone());
            async move { (index, url, answer::<ActionUploadResponse>(req).await) }
        });
        let mut reports = Vec::new();
        for (node, url, r) in join_all(calls).await {
            let error = match r {
                Ok(a) if a.ipfs_id == cid => None,
                Ok(a) => Some(format!("stored it under {} instead of {cid}", a.ipfs_id)),
                Err(e) => Some(e),
            };
            reports.push(NodeReport {
                node,
                url,
                ok: error.is_none(),
                error,
                response_agreed: false,
            });
        }
        reports.sort_by_key(|r| r.node);
        let stored = reports.iter().filter(|r| r.ok).count();
        if stored < self.net.threshold {
            let why = reports
                .iter()
                .filter_map(|r| {
                    r.error
                        .as_ref()
                        .map(|e| format!("node {} ({}): {e}", r.node, r.url))
                })
                .collect::<Vec<_>>()
                .join("; ");
            return Err(ClientError::Deploy(format!(
                "only {stored} of the {} nodes needed stored {cid}; {why}",
                self.net.threshold
            )));
        }
        Ok((cid, reports))
    }

    /// Run an action on every node with a fresh request id, authorised by
    /// `owner`'s session. Actions are not retried (they may have effects
    /// outside the network) except once when a signature lacks shares, or
    /// the nodes could not agree, because a node was caught lying (a bad
    /// share, or a coordinator that signed conflicting assignments): the
    /// rerun leaves it out of the signing sets and of coordination. Nodes caught lying are named in the result.
    pub async fn execute(
        &self,
        source: &ActionSource,
        js_params: Option<serde_json::Value>,
        owner: &SigningKey,
    ) -> Result<ExecuteOutcome, ClientError> {
        let auth = RequestAuth::Session(self.session(owner));
        let first = self
            .execute_once(&new_request_id(), source, js_params.clone(), &auth)
            .await;
        let result = match first {
            Err(
                ClientError::NotEnoughShares { faults, .. }
                | ClientError::ActionFailed { faults, .. },
            ) if self.learn(&faults) => {
                // Nodes that followed a lying coordinator took presignatures
                // the honest coordinator does not know are spent until their
                // spent notices arrive (flushed every 100 ms): let them land.
                tokio::time::sleep(RERUN_SETTLE).await;
                self.execute_once(&new_request_id(), source, js_params, &auth)
                    .await
            }
            other => other,
        };
        match result {
            Ok(mut o) => {
                self.learn(&o.faults);
                self.name_liars(&mut o.faults);
                Ok(o)
            }
            Err(mut e) => {
                match &mut e {
                    ClientError::NotEnoughShares { faults, .. }
                    | ClientError::ActionFailed { faults, .. } => {
                        self.learn(faults);
                        self.name_liars(faults);
                    }
                    _ => {}
                }
                Err(e)
            }
        }
    }

    /// The body sent to every node for one execution.
    pub fn execute_request(
        source: &ActionSource,
        js_params: Option<serde_json::Value>,
        auth: &AuthSig,
    ) -> ExecuteRequest {
        let (code, ipfs_id) = source.wire();
        ExecuteRequest {
            code,
            ipfs_id,
            js_params,
            auth_sig: auth.clone(),
            auth_methods: None,
            epoch: 1,
            record_run: false,
        }
    }

    /// Send one execution to every node and verify the answers.
    pub async fn execute_once(
        &self,
        request_id: &str,
        source: &ActionSource,
        js_params: Option<serde_json::Value>,
        auth: &RequestAuth,
    ) -> Result<ExecuteOutcome, ClientError> {
        let answers = self
            .execute_answers(request_id, source, js_params, auth)
            .await;
        self.verify_execute(request_id, &answers)
    }

    /// Send one execution to every node; each node's raw answer or error,
    /// unverified (see [`Client::verify_execute`] and [`crate::explain()`]).
    pub async fn execute_answers(
        &self,
        request_id: &str,
        source: &ActionSource,
        js_params: Option<serde_json::Value>,
        auth: &RequestAuth,
    ) -> BTreeMap<u32, Result<ExecuteResponse, String>> {
        let exclude = self.exclude_header();
        let calls = self.net.nodes.iter().map(|n| {
            let mut body = Self::execute_request(source, js_params.clone(), &auth.for_node(&n.url));
            body.record_run = self.record_runs;
            let req = self
                .http
                .post(format!("{}/web/execute/v1", n.url))
                .header(REQUEST_ID_HEADER, request_id)
                .header(EXCLUDE_HEADER, &exclude)
                .timeout(self.action_timeout)
                .json(&body);
            let index = n.index;
            async move { (index, answer::<ExecuteResponse>(req).await) }
        });
        join_all(calls).await.into_iter().collect()
    }

    /// Send an execute body to every node; each node's answer or error.
    pub async fn execute_raw(
        &self,
        request_id: &str,
        body: &ExecuteRequest,
    ) -> BTreeMap<u32, Result<ExecuteResponse, String>> {
        let calls = self.net.nodes.iter().map(|n| {
            let req = self
                .http
                .post(format!("{}/web/execute/v1", n.url))
                .header(REQUEST_ID_HEADER, request_id)
                .timeout(self.action_timeout)
                .json(body);
            let index = n.index;
            async move { (index, answer::<ExecuteResponse>(req).await) }
        });
        join_all(calls).await.into_iter().collect()
    }

    /// Verify every node's answer to one execution: pick the response at
    /// least `threshold` nodes agree on, then verify and combine each
    /// signature from the agreeing nodes' shares. Names every node that
    /// failed, disagreed or sent a bad share.
    pub fn verify_execute(
        &self,
        request_id: &str,
        answers: &BTreeMap<u32, Result<ExecuteResponse, String>>,
    ) -> Result<ExecuteOutcome, ClientError> {
        let t = self.net.threshold;
        let mut faults = Vec::new();
        let mut votes: HashMap<&str, usize> = HashMap::new();
        for n in &self.net.nodes {
            match answers.get(&n.index) {
                Some(Ok(r)) => *votes.entry(r.response.as_str()).or_default() += 1,
                Some(Err(e)) => faults.push(self.fault(n.index, e.clone(), false)),
                None => faults.push(self.fault(n.index, "no answer".into(), false)),
            }
        }
        // Responses that differ by the action's design: at least t nodes
        // say the run called decryptToSingleNode or encrypt (honest nodes run the same
        // code path, so one node alone cannot claim it).
        let per_node = answers
            .values()
            .filter(|a| matches!(a, Ok(r) if r.response_per_node))
            .count()
            >= t;
        // Deterministic choice among equally voted responses.
        let agreed = votes
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .filter(|(_, c)| **c >= t)
            .map(|(r, _)| r.to_string());
        let Some(agreed) = agreed else {
            if per_node {
                faults.sort_by_key(|f| f.node);
                return Err(ClientError::ResponsePerNode {
                    responses: answers
                        .iter()
                        .filter_map(|(i, a)| a.as_ref().ok().map(|r| (*i, r.response.clone())))
                        .collect(),
                    faults,
                });
            }
            let best = votes.values().copied().max().unwrap_or(0);
            // A coordinator that signed conflicting assignments can make
            // the nodes that followed it fail differently: name it.
            for lie in self.lying_coordinators(answers) {
                faults.push(self.fault(lie.coordinator, lie.reason(), true));
            }
            for (i, a) in answers {
                if a.is_ok() {
                    faults.push(self.fault(
                        *i,
                        "response not agreed by enough nodes".into(),
                        false,
                    ));
                }
            }
            faults.sort_by_key(|f| f.node);
            return Err(ClientError::ActionFailed {
                needed: t,
                agreed: best,
                faults,
            });
        };
        let agreeing: BTreeMap<u32, &ExecuteResponse> = answers
            .iter()
            .filter_map(|(i, a)| a.as_ref().ok().map(|r| (*i, r)))
            .filter(|(_, r)| r.response == agreed)
            .collect();
        for (i, a) in answers {
            if matches!(a, Ok(r) if r.response != agreed && !per_node) {
                faults.push(self.fault(
                    *i,
                    "its response differs from the agreed response".into(),
                    true,
                ));
            }
        }
        let mut names: Vec<&String> = agreeing
            .values()
            .flat_map(|r| r.signed_data.keys())
            .collect();
        names.sort();
        names.dedup();
        let mut signatures = BTreeMap::new();
        for name in names {
            let sig = match self.combine_action_signature(name, &agreeing) {
                Ok(sig) => sig,
                Err(ClientError::NotEnoughShares {
                    needed,
                    valid,
                    faults: mut sig_faults,
                }) => {
                    // a signer left out for its response is the reason
                    for f in faults.iter().filter(|f| f.misbehaved) {
                        if !sig_faults.iter().any(|g| g.node == f.node && g.misbehaved) {
                            sig_faults.push(f.clone());
                        }
                    }
                    sig_faults.sort_by_key(|f| f.node);
                    return Err(ClientError::NotEnoughShares {
                        needed,
                        valid,
                        faults: sig_faults,
                    });
                }
                Err(e) => return Err(e),
            };
            for f in &sig.faults {
                if !faults
                    .iter()
                    .any(|g| g.node == f.node && g.reason == f.reason)
                {
                    faults.push(f.clone());
                }
            }
            signatures.insert(name.clone(), sig);
        }
        faults.sort_by_key(|f| f.node);
        let nodes = self
            .net
            .nodes
            .iter()
            .map(|n| {
                let error = match answers.get(&n.index) {
                    Some(Ok(_)) => None,
                    Some(Err(e)) => Some(e.clone()),
                    None => Some("no answer".to_string()),
                };
                NodeReport {
                    node: n.index,
                    url: n.url.clone(),
                    ok: error.is_none(),
                    error,
                    response_agreed: agreeing.contains_key(&n.index),
                }
            })
            .collect();
        let logs = agreeing
            .values()
            .next()
            .map(|r| r.logs.clone())
            .unwrap_or_default();
        let other_logs = agreeing
            .iter()
            .filter(|(_, r)| r.logs != logs)
            .map(|(i, r)| (*i, r.logs.clone()))
            .collect();
        Ok(ExecuteOutcome {
            request_id: request_id.to_string(),
            response: agreed,
            logs,
            other_logs,
            signatures,
            nodes,
            faults,
            claims: self.key_claims(answers),
        })
    }

    /// Coordinators proven to have signed different assignments for one
    /// request, from the validly signed assignments in every answer's shares.
    fn lying_coordinators(
        &self,
        answers: &BTreeMap<u32, Result<ExecuteResponse, String>>,
    ) -> Vec<candela_api::combine::LyingCoordinator> {
        let keys = self.identity_keys();
        let t = self.net.threshold;
        let assignments: Vec<_> = answers
            .values()
            .filter_map(|a| a.as_ref().ok())
            .flat_map(|r| r.signed_data.values())
            .filter_map(|s| s.candela.assignment.as_ref())
            .filter(|a| a.verify(&keys, t).is_ok())
            .collect();
        candela_api::combine::lying_coordinators(assignments)
    }

    fn combine_action_signature(
        &self,
        name: &str,
        agreeing: &BTreeMap<u32, &ExecuteResponse>,
    ) -> Result<ActionSignature, ClientError> {
        let mut faults = Vec::new();
        // The key and digest most nodes report for this name.
        let mut votes: HashMap<(&str, &str), usize> = HashMap::new();
        for r in agreeing.values() {
            if let Some(s) = r.signed_data.get(name) {
                *votes
                    .entry((s.public_key.as_str(), s.data_signed.as_str()))
                    .or_default() += 1;
            }
        }
        let bad = |reason: String| ClientError::ActionSignature {
            sig_name: name.to_string(),
            reason,
        };
        let ((pk_hex, digest_hex), _) = votes
            .into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
            .ok_or_else(|| bad("no node returned a share".into()))?;
        let pk = derive::parse_public_key(pk_hex)
            .map_err(|e| bad(format!("public key {pk_hex}: {e}")))?;
        let digest: [u8; 32] = hex::decode(digest_hex)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| bad(format!("dataSigned {digest_hex} is not 32 bytes of hex")))?;
        let mut ok: BTreeMap<u32, PkpSignResponse> = BTreeMap::new();
        for (i, r) in agreeing {
            match r.signed_data.get(name) {
                Some(s) if s.public_key == pk_hex && s.data_signed == digest_hex => {
                    ok.insert(*i, s.to_pkp_sign_response());
                }
                Some(_) => faults.push(self.fault(
                    *i,
                    format!("{name}: shared a different key or digest"),
                    true,
                )),
                None => faults.push(self.fault(*i, format!("{name}: no share"), false)),
            }
        }
        match self.combine_sign(&ok, &pk, &digest, &mut faults) {
            Ok(signature) => Ok(ActionSignature {
                signature,
                public_key: pk,
                digest,
                faults,
            }),
            Err(valid) => {
                faults.sort_by_key(|f| f.node);
                Err(ClientError::NotEnoughShares {
                    needed: self.net.threshold,
                    valid,
                    faults,
                })
            }
        }
    }
}
