//! PKP sessions: a session whose capability the network signs (BLS) for a
//! PKP after one of the PKP's auth methods checks out at each node.
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use candela_api::auth::{pkp_session_digest, AuthSig, BLS_DERIVATION};
use candela_api::session::PendingSession;
use candela_api::v7::{AuthMethodWire, SignSessionKeyRequest};
use candela_api::REQUEST_ID_HEADER;
use candela_bls::encoding::public_key_from_hex;
use candela_bls::{BlsPublicKeySet, BlsSignature, BlsSignatureShare};
use candela_crypto::derive;
use candela_crypto::AffinePoint;
use k256::ecdsa::SigningKey;

use crate::{
    answer, join_all, new_request_id, ActionSource, Client, ClientError, NodeFault,
    ResourceAbilityRequest, Session,
};

/// How a PKP session is authorised at the nodes.
pub enum PkpAuth<'a> {
    /// A wallet that is a permitted auth method (type 1) of the PKP.
    Wallet(&'a SigningKey),
    /// Custom auth: an action that is a permitted auth method (type 2) of
    /// the PKP and answers `true` (`Lit.Actions.setResponse({response: "true"})`).
    Action {
        /// The action.
        source: &'a ActionSource,
        /// Its parameters.
        js_params: Option<serde_json::Value>,
    },
}

/// The part of a node's answer that carries its BLS share.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ShareAnswer {
    signature_share: std::collections::BTreeMap<String, String>,
    /// The message the node signed, when it says (`sign_session_key`).
    #[serde(default)]
    siwe_message: Option<String>,
}

/// Each node's answer to a BLS share request: its index, URL and answer.
type ShareAnswers = Vec<(u32, String, Result<ShareAnswer, String>)>;

/// Whether `signed`, the message a node signed for a PKP session, is the
/// client's `asked` with nothing added but the network's resolved auth
/// context (Lit's `lit-resolvedauthcontext://*`).
/// The ReCap's JSON is compared as JSON (a node built with another key
/// order writes the same object differently), the rest as text.
fn only_adds_auth_context(asked: &str, signed: &str) -> bool {
    use candela_api::session::{recap_object, resolved_auth_context, with_resolved_auth_context};
    let Ok(msg) = signed.parse::<siwe::Message>() else {
        return false;
    };
    let Ok(Some(context)) = resolved_auth_context(&msg) else {
        return false;
    };
    let Ok(expected) = with_resolved_auth_context(asked, &context) else {
        return false;
    };
    let Ok(expected) = expected.parse::<siwe::Message>() else {
        return false;
    };
    // everything but the recap resource, as text
    let without_recap = |m: &siwe::Message| {
        let mut m = m.clone();
        m.resources
            .retain(|r| !r.as_str().starts_with("urn:recap:"));
        m.to_string()
    };
    matches!(
        (recap_object(&expected), recap_object(&msg)),
        (Ok(Some(a)), Ok(Some(b))) if a == b
    ) && without_recap(&expected) == without_recap(&msg)
}

/// The BLS public key set `network.json` describes, if it has one: the
/// root key and every node's public share, checked to lie on one polynomial.
pub(crate) fn parse_bls_public_set(
    net: &candela_api::network::NetworkInfo,
) -> Result<Option<BlsPublicKeySet>, ClientError> {
    let Some(key) = net.bls_public_key.as_deref() else {
        return Ok(None);
    };
    if net.bls_public_shares.is_empty() {
        return Ok(None);
    }
    let bad = |e: candela_bls::BlsError| ClientError::Network(format!("BLS public key set: {e}"));
    let shares = net
        .bls_public_shares
        .iter()
        .map(|(i, hex_share)| Ok((*i, public_key_from_hex(hex_share).map_err(bad)?)))
        .collect::<Result<_, ClientError>>()?;
    BlsPublicKeySet::new(
        net.threshold,
        public_key_from_hex(key).map_err(bad)?,
        shares,
    )
    .map(Some)
    .map_err(bad)
}

impl Client {
    /// The network's BLS public key set (parsed from `network.json` once).
    pub(crate) fn bls_public_set(&self) -> Result<Arc<BlsPublicKeySet>, ClientError> {
        self.bls
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| {
                ClientError::Network(
                    "network.json has no BLS public key and shares (blsPublicKey, blsPublicShares); write it again with `candela devnet`".into(),
                )
            })
    }

    /// Fetch the BLS public shares again from the nodes' statuses (after a
    /// proactive refresh they change; the key does not). A set is adopted
    /// only if at least `threshold` nodes report it identically, it has the
    /// key this client already trusts, and its shares lie on one polynomial
    /// through that key. Returns the new set when it differs from the old.
    pub(crate) async fn refetch_bls_public_set(&self) -> Option<Arc<BlsPublicKeySet>> {
        let current = self.bls_public_set().ok()?;
        let mut votes: BTreeMap<Vec<(u32, String)>, usize> = BTreeMap::new();
        for status in self.statuses().await.into_iter().flatten() {
            let key = status.bls_public_key.as_deref().map(public_key_from_hex);
            if !matches!(key, Some(Ok(k)) if k == current.public_key) {
                continue;
            }
            let shares: Vec<(u32, String)> = status.bls_public_shares.into_iter().collect();
            *votes.entry(shares).or_default() += 1;
        }
        let (shares, _) = votes
            .into_iter()
            .filter(|(_, n)| *n >= current.threshold)
            .max_by_key(|(_, n)| *n)?;
        let parsed = shares
            .iter()
            .map(|(i, h)| public_key_from_hex(h).map(|p| (*i, p)))
            .collect::<Result<BTreeMap<_, _>, _>>()
            .ok()?;
        if parsed == current.public_shares {
            return None;
        }
        let set =
            Arc::new(BlsPublicKeySet::new(current.threshold, current.public_key, parsed).ok()?);
        *self.bls.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::clone(&set));
        tracing::info!("BLS public shares changed (a refresh); fetched them again from the nodes");
        Some(set)
    }

    /// POST the body `body_for` gives each node to `path` (one request id
    /// for all), read each node's BLS share over `msg` from
    /// `signatureShare.ProofOfPossession`, verify every share against its
    /// node's public share, and combine t valid ones into a signature that
    /// verifies under the network key. A share that names another node or
    /// fails verification is a misbehaviour, named in the faults returned
    /// with the signature; a node that answers no share is a fault.
    pub(crate) async fn combine_bls_shares(
        &self,
        path: &str,
        msg: &[u8],
        body_for: impl Fn(&candela_api::network::NodeInfo) -> serde_json::Value,
    ) -> Result<(BlsSignature, Vec<NodeFault>), ClientError> {
        let answers = self.bls_share_answers(path, body_for).await;
        self.combine_share_answers(answers, msg).await
    }

    /// POST the body `body_for` gives each node to `path` (one request id
    /// for all) and collect every node's answer.
    async fn bls_share_answers(
        &self,
        path: &str,
        body_for: impl Fn(&candela_api::network::NodeInfo) -> serde_json::Value,
    ) -> ShareAnswers {
        let rid = new_request_id();
        let calls = self.network().nodes.iter().map(|n| {
            let req = self
                .http
                .post(format!("{}{path}", n.url))
                .header(REQUEST_ID_HEADER, &rid)
                .timeout(self.action_timeout)
                .json(&body_for(n));
            let (index, url) = (n.index, n.url.clone());
            async move { (index, url, answer::<ShareAnswer>(req).await) }
        });
        join_all(calls).await
    }

    /// Verify every answered BLS share over `msg` against its node's public
    /// share and combine t valid ones (see [`Client::combine_bls_shares`]).
    async fn combine_share_answers(
        &self,
        answers: ShareAnswers,
        msg: &[u8],
    ) -> Result<(BlsSignature, Vec<NodeFault>), ClientError> {
        let public = self.bls_public_set()?;
        let mut shares = Vec::new();
        let mut faults = Vec::new();
        let mut urls = std::collections::BTreeMap::new();
        for (node, url, a) in answers {
            let share = a.and_then(|r| {
                let hex_share = r
                    .signature_share
                    .get("ProofOfPossession")
                    .ok_or_else(|| "no ProofOfPossession share".to_string())?;
                BlsSignatureShare::from_hex(hex_share).map_err(|e| e.to_string())
            });
            match share {
                Ok(s) if s.node() != node => faults.push(NodeFault {
                    node,
                    url,
                    reason: format!("answered a share for node {}", s.node()),
                    misbehaved: true,
                }),
                Ok(s) => {
                    urls.insert(node, url);
                    shares.push(s);
                }
                Err(reason) => faults.push(NodeFault {
                    node,
                    url,
                    reason,
                    misbehaved: false,
                }),
            }
        }
        // one batch check for all shares; every bad one is named. When some
        // fail, the public shares may have changed in a refresh: fetch them
        // again and check every share against the new set
        let mut public = public;
        let mut errors = candela_bls::verify_shares(&public, msg, &shares);
        if !errors.is_empty() {
            if let Some(newer) = self.refetch_bls_public_set().await {
                public = newer;
                errors = candela_bls::verify_shares(&public, msg, &shares);
            }
        }
        for e in errors {
            let node = match &e {
                candela_bls::BlsError::UnknownNode { node } => *node,
                other => other.culprit().unwrap_or(u32::MAX),
            };
            shares.retain(|s| s.node() != node);
            faults.push(NodeFault {
                node,
                url: urls.get(&node).cloned().unwrap_or_default(),
                reason: format!("invalid BLS share: {e}"),
                misbehaved: true,
            });
        }
        faults.sort_by_key(|f| f.node);
        let needed = public.threshold;
        if shares.len() < needed {
            return Err(ClientError::NotEnoughShares {
                needed,
                valid: shares.len(),
                faults,
            });
        }
        shares.truncate(needed);
        // t shares that each verified under consistent public shares
        // interpolate to the valid signature: no second pairing check
        let sig = candela_bls::combine(&shares)
            .map_err(|e| ClientError::Combine(format!("BLS shares: {e}")))?;
        Ok((sig, faults))
    }

    /// A session for the PKP `pkp`, whose capability the network signs
    /// once `auth` checks out at each node. Requests signed with it come
    /// from the PKP's own address.
    pub async fn pkp_session(
        &self,
        auth: PkpAuth<'_>,
        pkp: &AffinePoint,
        requests: Vec<ResourceAbilityRequest>,
        ttl: Duration,
    ) -> Result<Arc<Session>, ClientError> {
        let pending = PendingSession::new(
            derive::eth_address(pkp),
            requests,
            "localhost",
            &self.nonce(),
            time::Duration::seconds(ttl.as_secs() as i64),
        );
        let mut body = SignSessionKeyRequest {
            session_key: format!("lit:session:{}", pending.public_key_hex()),
            auth_methods: vec![],
            pkp_public_key: derive::public_key_hex(pkp),
            auth_sig: None,
            siwe_message: pending.siwe_message.clone(),
            curve_type: "BLS".into(),
            code: None,
            lit_action_ipfs_id: None,
            js_params: None,
            epoch: 1,
        };
        match auth {
            PkpAuth::Wallet(wallet) => {
                let token = serde_json::to_string(&self.wallet_auth_granting(wallet, 600, &[]))
                    .map_err(|e| ClientError::Input(format!("authSig: {e}")))?;
                body.auth_methods.push(AuthMethodWire {
                    auth_method_type: 1,
                    access_token: token,
                });
            }
            PkpAuth::Action { source, js_params } => {
                let (code, ipfs_id) = source.wire();
                body.code = code;
                body.lit_action_ipfs_id = ipfs_id;
                body.js_params = js_params;
            }
        }
        let body =
            serde_json::to_value(&body).map_err(|e| ClientError::Input(format!("request: {e}")))?;
        let mut answers = self
            .bls_share_answers("/web/sign_session_key/v1", |_| body.clone())
            .await;
        // The nodes sign the message asked for with the auth context they
        // resolved added (Lit's `lit-resolvedauthcontext://*`): take the
        // message most nodes signed among those that add nothing else; a
        // node that signed another message gave no usable share.
        let asked = pending.siwe_message.clone();
        let signed_of = |a: &ShareAnswer| a.siwe_message.clone().unwrap_or_else(|| asked.clone());
        let mut votes: BTreeMap<String, usize> = BTreeMap::new();
        for (_, _, a) in &answers {
            if let Ok(a) = a {
                let m = signed_of(a);
                if m == asked || only_adds_auth_context(&asked, &m) {
                    *votes.entry(m).or_default() += 1;
                }
            }
        }
        let signed = votes
            .into_iter()
            .max_by_key(|(_, n)| *n)
            .map(|(m, _)| m)
            .unwrap_or_else(|| asked.clone());
        for (_, _, a) in answers.iter_mut() {
            let other = a.as_ref().ok().map(&signed_of).filter(|m| *m != signed);
            if let Some(m) = other {
                *a = Err(format!(
                    "signed another session message than the other nodes ({} bytes, not {})",
                    m.len(),
                    signed.len()
                ));
            }
        }
        let digest = pkp_session_digest(&signed);
        let (sig, _faults) = self.combine_share_answers(answers, &digest).await?;
        let capability = AuthSig {
            sig: candela_api::auth::network_signature_json(&sig.to_hex()),
            derived_via: BLS_DERIVATION.into(),
            signed_message: signed,
            address: derive::checksum_address(&derive::eth_address(pkp)),
            algo: Some(candela_api::auth::BLS_ALGO.into()),
        };
        Ok(Arc::new(pending.finish(capability)))
    }
}

#[cfg(test)]
mod tests {
    use super::only_adds_auth_context;
    use candela_api::session::{with_resolved_auth_context, PendingSession};

    #[test]
    fn a_node_may_add_the_auth_context_and_nothing_else() {
        let pending = PendingSession::new(
            [7; 20],
            crate::default_session_requests(),
            "localhost",
            &format!("0x{}", "ab".repeat(32)),
            time::Duration::minutes(10),
        );
        let asked = &pending.siwe_message;
        let context =
            serde_json::json!({"customAuthResource": "(true, 'x')", "actionIpfsIds": ["QmA"]});
        let signed = with_resolved_auth_context(asked, &context).expect("adds");
        assert!(only_adds_auth_context(asked, &signed));
        // the same recap JSON with its keys in another order is the same
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let recap = signed
            .lines()
            .find_map(|l| l.strip_prefix("- urn:recap:"))
            .expect("a recap");
        let value: serde_json::Value =
            serde_json::from_slice(&b64.decode(recap).expect("base64")).expect("json");
        let swapped = format!(r#"{{"prf":{},"att":{}}}"#, value["prf"], value["att"]);
        let reordered = signed.replace(recap, &b64.encode(swapped));
        assert_ne!(reordered, signed);
        assert!(only_adds_auth_context(asked, &reordered));
        // no auth context at all is not what a node signs now
        assert!(!only_adds_auth_context(asked, asked));
        // a longer expiry, another statement or domain: refused
        for (from, to) in [
            ("Expiration Time: ", "Expiration Time: 2099"),
            ("This session key", "That session key"),
            ("localhost wants", "evil.example wants"),
        ] {
            let changed = signed.replacen(from, to, 1);
            assert_ne!(changed, signed);
            assert!(!only_adds_auth_context(asked, &changed), "{from}");
        }
    }
}
