//! Session signatures, as Lit defines them.
//!
//! A client makes an ed25519 **session key** and has a wallet sign a SIWE
//! **capability** message (EIP-191) whose URI is `lit:session:<session key>`
//! and whose ReCap resource (`urn:recap:<base64url JSON>`) grants abilities
//! on resources: `{"att": {"lit-pkp://*": {"Threshold/Signing": [{}]}}, "prf": []}`.
//! For each node, the session key then signs
//! `{sessionKey, resourceAbilityRequests, capabilities, issuedAt, expiration, nodeAddress}`
//! (JSON); that signature is the request's `authSig`, with
//! `derivedVia: "litSessionSignViaNacl"` and `algo: "ed25519"`.
//!
//! A node accepts it when: the ed25519 signature is the session key's; the
//! message names this node; it is within its validity; the requested
//! resource and ability are among the message's requests; and a capability
//! signed by a wallet (checked as an [`AuthSig`] with the node's domain and
//! nonce rules) delegates to this session key and grants that ability on that
//! resource. The wallet's address is then the caller.
use std::collections::BTreeMap;

use base64::Engine;
use ed25519_dalek::{Signature as EdSignature, Signer, SigningKey as EdSigningKey, Verifier};
use k256::ecdsa::SigningKey;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::auth::{AuthError, AuthPolicy, AuthSig, CLOCK_SKEW_SECONDS};

/// `derivedVia` of a session signature.
pub const SESSION_DERIVATION: &str = "litSessionSignViaNacl";
/// Largest session-signed message accepted (capabilities included).
pub const MAX_SESSION_MESSAGE: usize = 64 * 1024;

/// What a request asks to do (Lit's `LIT_ABILITY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Ability {
    /// Sign with a PKP (`pkp/sign`).
    #[serde(rename = "pkp-signing")]
    PkpSigning,
    /// Run an action (`execute`).
    #[serde(rename = "lit-action-execution")]
    LitActionExecution,
    /// Decrypt data under access control conditions.
    #[serde(rename = "access-control-condition-decryption")]
    AccessControlConditionDecryption,
    /// Sign under access control conditions.
    #[serde(rename = "access-control-condition-signing")]
    AccessControlConditionSigning,
}

impl Ability {
    /// The resource prefix the ability applies to.
    pub fn resource_prefix(self) -> &'static str {
        match self {
            Ability::PkpSigning => "lit-pkp",
            Ability::LitActionExecution => "lit-litaction",
            Ability::AccessControlConditionDecryption | Ability::AccessControlConditionSigning => {
                "lit-accesscontrolcondition"
            }
        }
    }

    /// The ReCap `namespace/ability` that grants it.
    pub fn recap(self) -> &'static str {
        match self {
            Ability::PkpSigning | Ability::AccessControlConditionSigning => "Threshold/Signing",
            Ability::LitActionExecution => "Threshold/Execution",
            Ability::AccessControlConditionDecryption => "Threshold/Decryption",
        }
    }

    /// Parse Lit's ability name (`pkp-signing`, ...).
    pub fn parse(name: &str) -> Option<Ability> {
        serde_json::from_value(serde_json::Value::String(name.to_string())).ok()
    }
}

/// A Lit resource: `{resource, resourcePrefix}`; `resource` is `*` or an id
/// (a PKP token id, an action CID, a condition hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LitResource {
    /// The id, or `*`.
    pub resource: String,
    /// `lit-pkp`, `lit-litaction` or `lit-accesscontrolcondition`.
    pub resource_prefix: String,
}

impl LitResource {
    /// `prefix://resource`, the key ReCap uses.
    pub fn key(&self) -> String {
        format!("{}://{}", self.resource_prefix, self.resource)
    }

    /// Whether this (possibly wildcard) resource covers `id`.
    pub fn covers(&self, prefix: &str, id: &str) -> bool {
        self.resource_prefix == prefix && (self.resource == "*" || same_id(&self.resource, id))
    }
}

/// Host (lowercase) and port of an `http(s)://host[:port][/]` URL, the
/// port defaulting by scheme.
fn node_endpoint(url: &str) -> Option<(String, u16)> {
    let (rest, default_port) = if let Some(r) = url.strip_prefix("https://") {
        (r, 443)
    } else if let Some(r) = url.strip_prefix("http://") {
        (r, 80)
    } else {
        return None;
    };
    let authority = rest.split('/').next()?;
    let (host, port) = match authority.rsplit_once(':') {
        // an IPv6 literal without a port ends in `]`
        Some((h, p)) if !p.ends_with(']') => (h, p.parse().ok()?),
        _ => (authority, default_port),
    };
    (!host.is_empty()).then(|| (host.to_ascii_lowercase(), port))
}

/// Whether a session's `nodeAddress` names the node at `node_url`: the same
/// host and port. Lit's SDK writes the URL it derives from the chain
/// (`http://ip:port`, `https://` for port 443), which may differ from the
/// registered URL in scheme, default port or a trailing slash.
pub fn same_node(node_address: &str, node_url: &str) -> bool {
    match (node_endpoint(node_address), node_endpoint(node_url)) {
        (Some(a), Some(b)) => a == b,
        _ => node_address.trim_end_matches('/') == node_url.trim_end_matches('/'),
    }
}

fn same_id(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.trim_start_matches("0x").to_ascii_lowercase();
    norm(a) == norm(b)
}

/// One `{resource, ability}` a session asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceAbilityRequest {
    /// The resource.
    pub resource: LitResource,
    /// The ability.
    pub ability: Ability,
}

impl ResourceAbilityRequest {
    /// `ability` on `resource` (`*` for any).
    pub fn new(ability: Ability, resource: &str) -> ResourceAbilityRequest {
        ResourceAbilityRequest {
            resource: LitResource {
                resource: resource.to_string(),
                resource_prefix: ability.resource_prefix().to_string(),
            },
            ability,
        }
    }
}

/// What the session key signs for one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionSignedMessage {
    /// The session public key (hex, 32 bytes).
    pub session_key: String,
    /// What the session may do.
    pub resource_ability_requests: Vec<ResourceAbilityRequest>,
    /// Wallet-signed SIWE messages delegating to the session key.
    pub capabilities: Vec<AuthSig>,
    /// RFC 3339.
    pub issued_at: String,
    /// RFC 3339.
    pub expiration: String,
    /// The node this signature is for (its base URL).
    pub node_address: String,
}

/// The ReCap grants of a SIWE message: resource key → `namespace/ability`s.
pub type Grants = BTreeMap<String, BTreeMap<String, Vec<serde_json::Value>>>;

#[derive(Serialize, Deserialize)]
struct Recap {
    att: Grants,
    #[serde(default)]
    prf: Vec<serde_json::Value>,
}

/// The `urn:recap:` resource of a SIWE message for `requests`.
pub fn recap_resource(requests: &[ResourceAbilityRequest]) -> String {
    let mut att: Grants = BTreeMap::new();
    for r in requests {
        att.entry(r.resource.key())
            .or_default()
            .insert(r.ability.recap().to_string(), vec![serde_json::json!({})]);
    }
    let json = serde_json::to_vec(&Recap { att, prf: vec![] }).unwrap_or_default();
    format!(
        "urn:recap:{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    )
}

/// The ReCap grants of a parsed SIWE message (none if it has no recap).
pub fn recap_grants(msg: &siwe::Message) -> Result<Grants, AuthError> {
    let mut grants = Grants::new();
    for r in &msg.resources {
        let Some(b64) = r.as_str().strip_prefix("urn:recap:") else {
            continue;
        };
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(b64.trim_end_matches('='))
            .map_err(|e| AuthError::BadMessage(format!("recap is not base64url: {e}")))?;
        let recap: Recap = serde_json::from_slice(&bytes)
            .map_err(|e| AuthError::BadMessage(format!("recap JSON: {e}")))?;
        for (k, v) in recap.att {
            grants.entry(k).or_default().extend(v);
        }
    }
    Ok(grants)
}

/// Lit's resource for the auth context the network resolved when it signed
/// a PKP session (Lit's `LIT_RESOURCE_PREFIX_RAC`): only the network puts it
/// in a capability, never the session's owner.
pub const RESOLVED_AUTH_CONTEXT_RESOURCE: &str = "lit-resolvedauthcontext://*";
/// The ability under [`RESOLVED_AUTH_CONTEXT_RESOURCE`], as Lit names it.
const RESOLVED_AUTH_CONTEXT_ABILITY: &str = "Auth/Auth";
/// The key of the restriction object that carries the auth context.
const RESOLVED_AUTH_CONTEXT_KEY: &str = "auth_context";
const AUTHORIZE_PHRASE: &str =
    "I further authorize the stated URI to perform the following actions on my behalf:";

/// The recap JSON of a parsed SIWE message's last `urn:recap:` resource,
/// with its index among the resources (none if it has no recap).
fn recap_json(msg: &siwe::Message) -> Result<Option<(usize, serde_json::Value)>, AuthError> {
    let Some((i, b64)) = msg.resources.iter().enumerate().rev().find_map(|(i, r)| {
        r.as_str()
            .strip_prefix("urn:recap:")
            .map(|b| (i, b.to_string()))
    }) else {
        return Ok(None);
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(b64.trim_end_matches('='))
        .map_err(|e| AuthError::BadMessage(format!("recap is not base64url: {e}")))?;
    let json: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| AuthError::BadMessage(format!("recap JSON: {e}")))?;
    Ok(Some((i, json)))
}

/// The SIWE message the network signs for a PKP session: `siwe_message`
/// (the one the client asked for) with Lit's `lit-resolvedauthcontext://*`
/// resource added to its ReCap, granting `Auth/Auth` with the restriction
/// `{"auth_context": auth_context}`, and the matching sentence
/// (`(N) 'Auth': 'Auth' for 'lit-resolvedauthcontext://*'.`) added to its
/// statement, as Lit's node builds it. A message that already names the
/// resource is refused, as Lit refuses it ("Can't define Auth Context
/// resources in capability"): only the network may state an auth context.
/// Deterministic: every node given the same inputs writes the same text.
pub fn with_resolved_auth_context(
    siwe_message: &str,
    auth_context: &serde_json::Value,
) -> Result<String, AuthError> {
    let mut msg: siwe::Message = siwe_message
        .parse()
        .map_err(|e: siwe::ParseError| AuthError::BadMessage(e.to_string()))?;
    let (index, mut recap) = match recap_json(&msg)? {
        Some((i, r)) => (Some(i), r),
        None => (None, serde_json::json!({"att": {}, "prf": []})),
    };
    let att = recap
        .get_mut("att")
        .and_then(|a| a.as_object_mut())
        .ok_or_else(|| AuthError::BadMessage("recap has no att object".into()))?;
    if att
        .keys()
        .any(|k| k.starts_with("lit-resolvedauthcontext:"))
    {
        return Err(AuthError::BadMessage(
            "Can't define Auth Context resources in capability: only the network adds lit-resolvedauthcontext://*".into(),
        ));
    }
    let abilities: usize = att
        .values()
        .map(|v| v.as_object().map_or(0, |o| o.len()))
        .sum();
    att.insert(
        RESOLVED_AUTH_CONTEXT_RESOURCE.to_string(),
        serde_json::json!({
            RESOLVED_AUTH_CONTEXT_ABILITY: [{ RESOLVED_AUTH_CONTEXT_KEY: auth_context }]
        }),
    );
    let encoded = format!(
        "urn:recap:{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
            serde_json::to_vec(&recap)
                .map_err(|e| AuthError::BadMessage(format!("recap JSON: {e}")))?
        )
    );
    let slot = match index {
        Some(i) => i,
        None => {
            // any valid resource, overwritten below
            msg.resources.push(msg.uri.clone());
            msg.resources.len() - 1
        }
    };
    msg.resources[slot] = encoded
        .parse()
        .map_err(|e| AuthError::BadMessage(format!("recap resource: {e:?}")))?;
    let sentence = format!(
        "({}) 'Auth': 'Auth' for '{RESOLVED_AUTH_CONTEXT_RESOURCE}'.",
        abilities + 1
    );
    msg.statement = Some(match msg.statement.take() {
        Some(s) if s.contains(AUTHORIZE_PHRASE) => format!("{s} {sentence}"),
        Some(s) if !s.is_empty() => format!("{s} {AUTHORIZE_PHRASE} {sentence}"),
        _ => format!("{AUTHORIZE_PHRASE} {sentence}"),
    });
    Ok(msg.to_string())
}

/// The ReCap object (`{"att": …, "prf": …}`) of a parsed SIWE message's
/// last `urn:recap:` resource, if it has one.
pub fn recap_object(msg: &siwe::Message) -> Result<Option<serde_json::Value>, AuthError> {
    Ok(recap_json(msg)?.map(|(_, v)| v))
}

/// [`resolved_auth_context`] of a SIWE message's text.
pub fn resolved_auth_context_in(
    siwe_message: &str,
) -> Result<Option<serde_json::Value>, AuthError> {
    let msg: siwe::Message = siwe_message
        .parse()
        .map_err(|e: siwe::ParseError| AuthError::BadMessage(e.to_string()))?;
    resolved_auth_context(&msg)
}

/// The auth context a SIWE message's ReCap states under Lit's
/// `lit-resolvedauthcontext://*` (`Auth/Auth`, restriction `auth_context`),
/// if any. Meaningful only in a message the network signed.
pub fn resolved_auth_context(msg: &siwe::Message) -> Result<Option<serde_json::Value>, AuthError> {
    let Some((_, recap)) = recap_json(msg)? else {
        return Ok(None);
    };
    Ok(recap
        .pointer("/att")
        .and_then(|a| a.get(RESOLVED_AUTH_CONTEXT_RESOURCE))
        .and_then(|r| r.get(RESOLVED_AUTH_CONTEXT_ABILITY))
        .and_then(|l| l.as_array())
        .and_then(|l| l.iter().find_map(|m| m.get(RESOLVED_AUTH_CONTEXT_KEY)))
        .cloned())
}

fn grants_cover(grants: &Grants, ability: Ability, id: &str) -> bool {
    let prefix = ability.resource_prefix();
    grants.iter().any(|(key, abilities)| {
        let Some(res) = key.strip_prefix(&format!("{prefix}://")) else {
            return false;
        };
        (res == "*" || same_id(res, id))
            && (abilities.contains_key(ability.recap()) || abilities.contains_key("*/*"))
    })
}

/// What a wallet auth signature made by Candela's client grants: signing
/// with PKPs, running actions and decrypting, on any resource.
pub fn wallet_requests() -> Vec<ResourceAbilityRequest> {
    vec![
        ResourceAbilityRequest::new(Ability::PkpSigning, "*"),
        ResourceAbilityRequest::new(Ability::LitActionExecution, "*"),
        ResourceAbilityRequest::new(Ability::AccessControlConditionDecryption, "*"),
    ]
}

/// Who a verified request comes from, and what its credential grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The wallet address that signed (directly or through a capability).
    pub address: [u8; 20],
    /// The session key, when the request came through a session.
    pub session_key: Option<[u8; 32]>,
    /// What the session asks for (all of it must also be granted); `None`
    /// for a plain wallet authSig.
    session_requests: Option<Vec<ResourceAbilityRequest>>,
    /// What the caller's wallet granted: the ReCap of a plain authSig, or
    /// of every capability the caller's wallet gave this session key.
    grants: Grants,
    /// The auth context the network stated (Lit's
    /// `lit-resolvedauthcontext://*`) in a network-signed (`lit.bls`)
    /// capability of this session; never read from a wallet's own message.
    auth_context: Option<serde_json::Value>,
}

impl Caller {
    /// Whether the request's credential grants `ability` on resource `id`
    /// (beyond the one it was verified for): the session asks for it and a
    /// capability of the caller grants it, or a plain authSig's ReCap
    /// grants it. An action uses this before it signs with a PKP through
    /// its caller's wallet.
    pub fn allows(&self, ability: Ability, id: &str) -> bool {
        let asked = self.session_requests.as_ref().is_none_or(|requests| {
            requests
                .iter()
                .any(|r| r.ability == ability && r.resource.covers(ability.resource_prefix(), id))
        });
        asked && grants_cover(&self.grants, ability, id)
    }

    /// The auth context the network resolved when it signed this session's
    /// PKP capability (custom auth), if any.
    pub fn auth_context(&self) -> Option<&serde_json::Value> {
        self.auth_context.as_ref()
    }

    /// The custom auth resource of the session: what the custom auth
    /// action answered when the network signed its capability (Lit's
    /// `Lit.Auth.customAuthResource`), `""` when none.
    pub fn custom_auth_resource(&self) -> &str {
        self.auth_context
            .as_ref()
            .and_then(|c| c.get("customAuthResource"))
            .and_then(|r| r.as_str())
            .unwrap_or("")
    }
}

/// Refuse auth material larger than any valid one, before any other work.
pub fn check_auth_size(auth: &AuthSig) -> Result<(), AuthError> {
    let size = auth.signed_message.len() + auth.sig.len() + auth.address.len();
    // a network-signed capability's `sig` is a JSON-wrapped BLS signature
    let max_sig = if auth.derived_via == crate::auth::BLS_DERIVATION {
        400
    } else {
        200
    };
    if auth.signed_message.len() > MAX_SESSION_MESSAGE
        || auth.sig.len() > max_sig
        || auth.address.len() > 200
    {
        return Err(AuthError::TooLarge(size));
    }
    Ok(())
}

/// Verify a request's `authSig` for `ability` on resource `id` at node
/// `node_url`: a session signature whose capability grants that, or a plain
/// wallet auth signature ([`AuthSig::verify_with`]: not a capability, with
/// an expiry and age within the policy) whose ReCap grants that.
/// Capabilities (a wallet's delegation to a session key, a network-signed
/// `lit.bls` capability) are refused here: they count only inside the
/// session signature of the key they delegate to.
pub fn verify_request_auth(
    auth: &AuthSig,
    ability: Ability,
    id: &str,
    node_url: &str,
    policy: &AuthPolicy,
    now: OffsetDateTime,
) -> Result<Caller, AuthError> {
    if auth.derived_via != SESSION_DERIVATION {
        let address = auth.verify_with(policy, now)?;
        let msg: siwe::Message = auth
            .signed_message
            .parse()
            .map_err(|e: siwe::ParseError| AuthError::BadMessage(e.to_string()))?;
        let grants = recap_grants(&msg)?;
        if !grants_cover(&grants, ability, id) {
            return Err(AuthError::MissingCapability(format!(
                "the authSig's ReCap does not grant {} on {}://{id} (a plain authSig grants only what its urn:recap resource lists)",
                ability.recap(),
                ability.resource_prefix()
            )));
        }
        return Ok(Caller {
            address,
            session_key: None,
            session_requests: None,
            grants,
            auth_context: None,
        });
    }
    if auth.signed_message.len() > MAX_SESSION_MESSAGE || auth.sig.len() > 200 {
        return Err(AuthError::TooLarge(
            auth.signed_message.len() + auth.sig.len(),
        ));
    }
    if auth.algo.as_deref().is_some_and(|a| a != "ed25519") {
        return Err(AuthError::UnsupportedDerivation(format!(
            "session algo {:?}",
            auth.algo
        )));
    }
    let key_bytes: [u8; 32] = hex::decode(auth.address.trim_start_matches("0x"))
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| AuthError::BadSession("the session key is not 32 bytes of hex".into()))?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(&key_bytes)
        .map_err(|_| AuthError::BadSession("the session key is not an ed25519 key".into()))?;
    let sig_bytes: [u8; 64] = hex::decode(auth.sig.trim_start_matches("0x"))
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| AuthError::BadSession("the session signature is not 64 bytes".into()))?;
    key.verify(
        auth.signed_message.as_bytes(),
        &EdSignature::from_bytes(&sig_bytes),
    )
    .map_err(|_| AuthError::BadSession("the session key did not sign this message".into()))?;
    let m: SessionSignedMessage = serde_json::from_str(&auth.signed_message)
        .map_err(|e| AuthError::BadSession(format!("session message: {e}")))?;
    if !same_id(&m.session_key, &auth.address) {
        return Err(AuthError::BadSession(
            "the message names another session key".into(),
        ));
    }
    if !same_node(&m.node_address, node_url) {
        return Err(AuthError::WrongNode(m.node_address));
    }
    let skew = time::Duration::seconds(CLOCK_SKEW_SECONDS);
    let parse = |s: &str| {
        OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
            .map_err(|_| AuthError::BadSession(format!("bad time {s:?}")))
    };
    if parse(&m.expiration)? + skew < now {
        return Err(AuthError::Expired);
    }
    if parse(&m.issued_at)? - skew > now {
        return Err(AuthError::NotYetValid);
    }
    let asked = m
        .resource_ability_requests
        .iter()
        .any(|r| r.ability == ability && r.resource.covers(ability.resource_prefix(), id));
    if !asked {
        return Err(AuthError::MissingCapability(format!(
            "the session does not request {ability:?} on {}://{id}",
            ability.resource_prefix()
        )));
    }
    let uri = format!("lit:session:{}", hex::encode(key_bytes));
    let mut last = AuthError::MissingCapability("the session has no capability".into());
    // Every capability that delegates to this key and verifies, with what
    // it grants; the caller is the signer of the first that grants the
    // ability asked for.
    let mut delegated: Vec<([u8; 20], Grants, Option<serde_json::Value>)> = Vec::new();
    let mut caller = None;
    for cap in &m.capabilities {
        let msg: siwe::Message = match cap.signed_message.parse() {
            Ok(m) => m,
            Err(e) => {
                last = AuthError::BadMessage(format!("{e}"));
                continue;
            }
        };
        if msg.uri.as_str() != uri {
            last = AuthError::MissingCapability(format!(
                "the capability is for {}, not this session key",
                msg.uri
            ));
            continue;
        }
        let address = match cap.verify_capability(policy, now) {
            Ok(a) => a,
            // the caller looks the block up and verifies again
            Err(e @ AuthError::UnknownBlock(_)) => return Err(e),
            Err(e) => {
                last = e;
                continue;
            }
        };
        let grants = recap_grants(&msg)?;
        if caller.is_none() {
            if grants_cover(&grants, ability, id) {
                caller = Some(address);
            } else {
                last = AuthError::MissingCapability(format!(
                    "no capability grants {} on {}://{id}",
                    ability.recap(),
                    ability.resource_prefix()
                ));
            }
        }
        // only the network states an auth context: a wallet's own
        // capability naming one is ignored, as Lit ignores it
        let context = if cap.derived_via == crate::auth::BLS_DERIVATION {
            resolved_auth_context(&msg)?
        } else {
            None
        };
        delegated.push((address, grants, context));
    }
    let Some(address) = caller else {
        return Err(last);
    };
    let mut grants = Grants::new();
    let mut auth_context = None;
    for (_, g, context) in delegated.into_iter().filter(|(a, _, _)| *a == address) {
        for (resource, abilities) in g {
            grants.entry(resource).or_default().extend(abilities);
        }
        auth_context = auth_context.or(context);
    }
    Ok(Caller {
        address,
        session_key: Some(key_bytes),
        session_requests: Some(m.resource_ability_requests),
        grants,
        auth_context,
    })
}

/// A session key whose capability is still to be signed: by a wallet, or,
/// for a PKP, by the network (`sign_session_key`).
pub struct PendingSession {
    key: EdSigningKey,
    /// The SIWE capability message to sign.
    pub siwe_message: String,
    requests: Vec<ResourceAbilityRequest>,
    expiration: OffsetDateTime,
}

impl PendingSession {
    /// A fresh session key and the capability message by which `address`
    /// grants it `requests` until `ttl` from now.
    pub fn new(
        address: [u8; 20],
        requests: Vec<ResourceAbilityRequest>,
        domain: &str,
        nonce: &str,
        ttl: time::Duration,
    ) -> PendingSession {
        let key = EdSigningKey::generate(&mut rand_core::OsRng);
        let now = OffsetDateTime::now_utc();
        let expiration = now + ttl;
        let session_hex = hex::encode(key.verifying_key().as_bytes());
        let address = candela_crypto::derive::checksum_address(&address);
        let actions: Vec<String> = requests
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let (ns, ab) = r.ability.recap().split_once('/').unwrap_or(("", ""));
                format!("({}) '{ns}': '{ab}' for '{}'.", i + 1, r.resource.key())
            })
            .collect();
        let siwe_message = format!(
            "{domain} wants you to sign in with your Ethereum account:\n{address}\n\nThis session key may act for this account on a Candela network. I further authorize the stated URI to perform the following actions on my behalf: {}\n\nURI: lit:session:{session_hex}\nVersion: 1\nChain ID: 1\nNonce: {nonce}\nIssued At: {}\nExpiration Time: {}\nResources:\n- {}",
            actions.join(" "),
            rfc3339(now),
            rfc3339(expiration),
            recap_resource(&requests),
        );
        PendingSession {
            key,
            siwe_message,
            requests,
            expiration,
        }
    }

    /// The session key (hex).
    pub fn public_key_hex(&self) -> String {
        hex::encode(self.key.verifying_key().as_bytes())
    }

    /// The session, with its signed capability.
    pub fn finish(self, capability: AuthSig) -> Session {
        Session {
            key: self.key,
            capability,
            requests: self.requests,
            expiration: self.expiration,
        }
    }
}

/// A session saved to a file (`candela auth session`): the session secret
/// key is in it, so keep the file private; it is only as powerful as its
/// capability and only until it expires.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionFile {
    /// The session public key (hex).
    pub session_key: String,
    /// The session secret key (hex, 32 bytes).
    pub session_secret: String,
    /// The wallet-signed capability.
    pub capability: AuthSig,
    /// What the session may do.
    pub resource_ability_requests: Vec<ResourceAbilityRequest>,
    /// RFC 3339.
    pub expiration: String,
}

/// A client's session: an ed25519 key and the wallet capability that
/// delegates `requests` to it until `expiration`.
pub struct Session {
    key: EdSigningKey,
    /// The wallet-signed capability.
    pub capability: AuthSig,
    /// What the session may do.
    pub requests: Vec<ResourceAbilityRequest>,
    /// When it ends.
    pub expiration: OffsetDateTime,
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.replace_nanosecond(0)
        .unwrap_or(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl Session {
    /// A new session key, and the SIWE capability `wallet` signs for it
    /// (`domain`, the network's `nonce`, valid for `ttl`).
    pub fn new(
        wallet: &SigningKey,
        requests: Vec<ResourceAbilityRequest>,
        domain: &str,
        nonce: &str,
        ttl: time::Duration,
    ) -> Session {
        let address = candela_crypto::derive::eth_address(wallet.verifying_key().as_affine());
        let pending = PendingSession::new(address, requests, domain, nonce, ttl);
        let capability = AuthSig::sign_message(wallet, pending.siwe_message.clone());
        pending.finish(capability)
    }

    /// The session as a file (secret included).
    pub fn to_file(&self) -> SessionFile {
        SessionFile {
            session_key: self.public_key_hex(),
            session_secret: hex::encode(self.key.to_bytes()),
            capability: self.capability.clone(),
            resource_ability_requests: self.requests.clone(),
            expiration: rfc3339(self.expiration),
        }
    }

    /// A session read back from its file.
    pub fn from_file(f: &SessionFile) -> Result<Session, AuthError> {
        let secret: [u8; 32] = hex::decode(f.session_secret.trim_start_matches("0x"))
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| AuthError::BadSession("sessionSecret is not 32 bytes of hex".into()))?;
        let key = EdSigningKey::from_bytes(&secret);
        if !same_id(&hex::encode(key.verifying_key().as_bytes()), &f.session_key) {
            return Err(AuthError::BadSession(
                "sessionSecret does not match sessionKey".into(),
            ));
        }
        let expiration = OffsetDateTime::parse(
            &f.expiration,
            &time::format_description::well_known::Rfc3339,
        )
        .map_err(|_| AuthError::BadSession(format!("bad expiration {:?}", f.expiration)))?;
        Ok(Session {
            key,
            capability: f.capability.clone(),
            requests: f.resource_ability_requests.clone(),
            expiration,
        })
    }

    /// The session public key (hex).
    pub fn public_key_hex(&self) -> String {
        hex::encode(self.key.verifying_key().as_bytes())
    }

    /// Whether the session ends within `margin`.
    pub fn expires_within(&self, margin: time::Duration) -> bool {
        OffsetDateTime::now_utc() + margin >= self.expiration
    }

    /// The session signature for the node at `node_url` (its request
    /// `authSig`), valid until the session ends.
    pub fn sign_for(&self, node_url: &str) -> AuthSig {
        let message = SessionSignedMessage {
            session_key: self.public_key_hex(),
            resource_ability_requests: self.requests.clone(),
            capabilities: vec![self.capability.clone()],
            issued_at: rfc3339(OffsetDateTime::now_utc()),
            expiration: rfc3339(self.expiration),
            node_address: node_url.trim_end_matches('/').to_string(),
        };
        let signed_message = serde_json::to_string(&message).unwrap_or_default();
        AuthSig {
            sig: hex::encode(self.key.sign(signed_message.as_bytes()).to_bytes()),
            derived_via: SESSION_DERIVATION.to_string(),
            signed_message,
            address: self.public_key_hex(),
            algo: Some("ed25519".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{network_nonce, nonce_window};

    const NODE: &str = "http://127.0.0.1:7470";
    const SEED: &str = "04abcdef";

    fn wallet() -> SigningKey {
        SigningKey::random(&mut rand_core::OsRng)
    }

    fn policy() -> AuthPolicy {
        AuthPolicy {
            allowed_domains: vec!["localhost".into()],
            nonce_seed: Some(SEED.into()),
            bls_public_key: None,
            chain_blocks: Vec::new(),
            ..AuthPolicy::default()
        }
    }

    fn nonce() -> String {
        network_nonce(SEED, nonce_window(OffsetDateTime::now_utc()))
    }

    fn session(w: &SigningKey, requests: Vec<ResourceAbilityRequest>) -> Session {
        Session::new(w, requests, "localhost", &nonce(), time::Duration::hours(1))
    }

    fn exec_any() -> Vec<ResourceAbilityRequest> {
        vec![ResourceAbilityRequest::new(
            Ability::LitActionExecution,
            "*",
        )]
    }

    fn check(auth: &AuthSig, ability: Ability, id: &str) -> Result<Caller, AuthError> {
        verify_request_auth(
            auth,
            ability,
            id,
            NODE,
            &policy(),
            OffsetDateTime::now_utc(),
        )
    }

    fn address_of(w: &SigningKey) -> [u8; 20] {
        candela_crypto::derive::eth_address(w.verifying_key().as_affine())
    }

    /// Re-sign a modified session message with the session's own key.
    fn resign(s: &Session, edit: impl FnOnce(&mut SessionSignedMessage)) -> AuthSig {
        let mut auth = s.sign_for(NODE);
        let mut m: SessionSignedMessage = serde_json::from_str(&auth.signed_message).unwrap();
        edit(&mut m);
        auth.signed_message = serde_json::to_string(&m).unwrap();
        auth.sig = hex::encode(s.key.sign(auth.signed_message.as_bytes()).to_bytes());
        auth
    }

    #[test]
    fn an_auth_context_stated_by_a_wallet_itself_is_not_the_networks() {
        // the wallet writes Lit's lit-resolvedauthcontext://* resource into
        // its own capability, claiming a custom auth resource
        let w = wallet();
        let address = address_of(&w);
        let pending = PendingSession::new(
            address,
            exec_any(),
            "localhost",
            &nonce(),
            time::Duration::hours(1),
        );
        let context =
            serde_json::json!({"customAuthResource": "(true, 'admin')", "actionIpfsIds": ["QmX"]});
        let stated = with_resolved_auth_context(&pending.siwe_message, &context).unwrap();
        assert!(stated.contains("(2) 'Auth': 'Auth' for 'lit-resolvedauthcontext://*'."));
        assert_eq!(
            resolved_auth_context_in(&stated).unwrap(),
            Some(context.clone())
        );
        // the message still grants what it granted
        let msg: siwe::Message = stated.parse().unwrap();
        assert!(grants_cover(
            &recap_grants(&msg).unwrap(),
            Ability::LitActionExecution,
            "QmX"
        ));
        let s = pending.finish(AuthSig::sign_message(&w, stated.clone()));
        let caller = check(&s.sign_for(NODE), Ability::LitActionExecution, "QmX").unwrap();
        assert_eq!(caller.address, address);
        assert_eq!(caller.auth_context(), None);
        assert_eq!(caller.custom_auth_resource(), "");
        // and a message that already states one cannot get a second
        assert!(with_resolved_auth_context(&stated, &context)
            .unwrap_err()
            .to_string()
            .contains("Can't define Auth Context resources in capability"));
    }

    #[test]
    fn a_session_signature_verifies_to_the_wallet_that_delegated() {
        let w = wallet();
        let s = session(&w, exec_any());
        let caller = check(&s.sign_for(NODE), Ability::LitActionExecution, "QmX").unwrap();
        assert_eq!(caller.address, address_of(&w));
        assert_eq!(
            caller.session_key.map(hex::encode),
            Some(s.public_key_hex())
        );
        // the recap round-trips through the SIWE message
        let msg: siwe::Message = s.capability.signed_message.parse().unwrap();
        let grants = recap_grants(&msg).unwrap();
        assert!(grants["lit-litaction://*"].contains_key("Threshold/Execution"));
    }

    #[test]
    fn a_session_signature_for_one_node_is_refused_by_another() {
        let s = session(&wallet(), exec_any());
        let auth = s.sign_for("http://127.0.0.1:7471");
        assert!(matches!(
            check(&auth, Ability::LitActionExecution, "QmX"),
            Err(AuthError::WrongNode(_))
        ));
    }

    #[test]
    fn a_tampered_session_message_is_refused() {
        let s = session(&wallet(), exec_any());
        let mut auth = s.sign_for(NODE);
        auth.signed_message = auth.signed_message.replace("2026", "2027");
        assert!(matches!(
            check(&auth, Ability::LitActionExecution, "QmX"),
            Err(AuthError::BadSession(_))
        ));
    }

    #[test]
    fn a_session_signed_by_another_key_is_refused() {
        let s = session(&wallet(), exec_any());
        let other = session(&wallet(), exec_any());
        let mut auth = s.sign_for(NODE);
        auth.sig = other.sign_for(NODE).sig;
        assert!(matches!(
            check(&auth, Ability::LitActionExecution, "QmX"),
            Err(AuthError::BadSession(_))
        ));
        // a capability delegating to another session key does not count
        let stolen = resign(&s, |m| m.capabilities = vec![other.capability.clone()]);
        let e = check(&stolen, Ability::LitActionExecution, "QmX").unwrap_err();
        assert!(matches!(e, AuthError::MissingCapability(_)), "{e}");
    }

    #[test]
    fn an_expired_or_future_session_is_refused() {
        let s = session(&wallet(), exec_any());
        let expired = resign(&s, |m| m.expiration = "2020-01-01T00:00:00Z".into());
        assert_eq!(
            check(&expired, Ability::LitActionExecution, "QmX"),
            Err(AuthError::Expired)
        );
        let future = resign(&s, |m| m.issued_at = "2099-01-01T00:00:00Z".into());
        assert_eq!(
            check(&future, Ability::LitActionExecution, "QmX"),
            Err(AuthError::NotYetValid)
        );
        // the capability's own expiry counts too
        let w = wallet();
        let short = Session::new(
            &w,
            exec_any(),
            "localhost",
            &nonce(),
            time::Duration::seconds(-3600),
        );
        assert_eq!(
            check(&short.sign_for(NODE), Ability::LitActionExecution, "QmX"),
            Err(AuthError::Expired)
        );
    }

    #[test]
    fn an_ability_the_session_does_not_hold_is_refused() {
        let s = session(&wallet(), exec_any());
        let e = check(&s.sign_for(NODE), Ability::PkpSigning, "0x01").unwrap_err();
        assert!(matches!(e, AuthError::MissingCapability(_)), "{e}");
        // asking in the session message for more than the capability grants
        let greedy = resign(&s, |m| {
            m.resource_ability_requests
                .push(ResourceAbilityRequest::new(Ability::PkpSigning, "*"))
        });
        let e = check(&greedy, Ability::PkpSigning, "0x01").unwrap_err();
        assert!(matches!(e, AuthError::MissingCapability(_)), "{e}");
    }

    #[test]
    fn a_capability_for_one_resource_does_not_cover_another() {
        let s = session(
            &wallet(),
            vec![ResourceAbilityRequest::new(Ability::PkpSigning, "0xabc")],
        );
        assert!(check(&s.sign_for(NODE), Ability::PkpSigning, "abc").is_ok());
        assert!(matches!(
            check(&s.sign_for(NODE), Ability::PkpSigning, "0xabd"),
            Err(AuthError::MissingCapability(_))
        ));
    }

    #[test]
    fn a_wrong_domain_or_a_stale_nonce_is_refused() {
        let w = wallet();
        let s = Session::new(
            &w,
            exec_any(),
            "evil.example",
            &nonce(),
            time::Duration::hours(1),
        );
        assert_eq!(
            check(&s.sign_for(NODE), Ability::LitActionExecution, "QmX"),
            Err(AuthError::WrongDomain("evil.example".into()))
        );
        let s = Session::new(
            &w,
            exec_any(),
            "localhost",
            "0xdeadbeef",
            time::Duration::hours(1),
        );
        assert!(matches!(
            check(&s.sign_for(NODE), Ability::LitActionExecution, "QmX"),
            Err(AuthError::StaleNonce(_))
        ));
        // a plain wallet authSig follows the same rules
        let a = AuthSig::create_with_nonce(&w, "localhost", "lit:x", 600, &nonce());
        assert_eq!(
            check(&a, Ability::PkpSigning, "0x01").unwrap().address,
            address_of(&w)
        );
        let a = AuthSig::create(&w, "localhost", "lit:x", 600);
        assert!(matches!(
            check(&a, Ability::PkpSigning, "0x01"),
            Err(AuthError::StaleNonce(_))
        ));
    }

    /// The registry chain as a node would have looked it up.
    #[derive(Debug)]
    struct Chain {
        head: u64,
        blocks: BTreeMap<String, Option<crate::auth::BlockStamp>>,
    }

    impl crate::auth::ChainBlocks for Chain {
        fn head(&self) -> u64 {
            self.head
        }
        fn lookup(&self, hash: &str) -> crate::auth::BlockLookup {
            use crate::auth::BlockLookup;
            match self.blocks.get(hash) {
                Some(Some(b)) => BlockLookup::Block(*b),
                Some(None) => BlockLookup::NotOnChain,
                None => BlockLookup::NotLookedUp,
            }
        }
    }

    /// Verify a fresh session of `w` whose wallet capability carries `nonce`.
    fn verify_with_nonce(
        w: &SigningKey,
        nonce: &str,
        policy: &AuthPolicy,
    ) -> Result<Caller, AuthError> {
        let s = Session::new(w, exec_any(), "localhost", nonce, time::Duration::hours(1));
        verify_request_auth(
            &s.sign_for(NODE),
            Ability::LitActionExecution,
            "QmX",
            NODE,
            policy,
            OffsetDateTime::now_utc(),
        )
    }

    fn block_hash(i: u8) -> String {
        format!("0x{}", hex::encode([i; 32]))
    }

    #[test]
    fn a_recent_block_hash_of_the_registry_chain_is_a_nonce_and_others_are_not() {
        use crate::auth::BlockStamp;
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let chain = Chain {
            head: 10_000,
            blocks: BTreeMap::from([
                // the head: fresh
                (
                    block_hash(1),
                    Some(BlockStamp {
                        number: 10_000,
                        timestamp: now - 7200,
                    }),
                ),
                // deep, but minutes before the message: fresh by age
                (
                    block_hash(2),
                    Some(BlockStamp {
                        number: 9_000,
                        timestamp: now - 600,
                    }),
                ),
                // deep and two hours before the message: stale
                (
                    block_hash(3),
                    Some(BlockStamp {
                        number: 9_000,
                        timestamp: now - 7200,
                    }),
                ),
                // made after the message claims to be issued: refused
                (
                    block_hash(4),
                    Some(BlockStamp {
                        number: 10_000,
                        timestamp: now + 600,
                    }),
                ),
                // the chain has no such block
                (block_hash(5), None),
            ]),
        };
        let mut policy = policy();
        policy.chain_blocks = vec![std::sync::Arc::new(chain)];
        let w = wallet();
        let verify = |nonce: &str| verify_with_nonce(&w, nonce, &policy);
        assert!(verify(&block_hash(1)).is_ok(), "the chain's head is fresh");
        assert!(
            verify(&block_hash(2)).is_ok(),
            "a block minutes old is fresh"
        );
        assert!(matches!(
            verify(&block_hash(3)),
            Err(AuthError::StaleNonce(_))
        ));
        assert!(matches!(
            verify(&block_hash(4)),
            Err(AuthError::StaleNonce(_))
        ));
        assert!(matches!(
            verify(&block_hash(5)),
            Err(AuthError::StaleNonce(_))
        ));
        // upper-case hex is the same block
        assert!(verify(&block_hash(1).to_uppercase().replace("0X", "0x")).is_ok());
        // a block the node has not looked up yet: it must ask the chain first
        assert_eq!(
            verify(&block_hash(6)).err(),
            Some(AuthError::UnknownBlock(block_hash(6)))
        );
        // the network nonce of the window stays valid beside block hashes
        assert!(verify(&nonce()).is_ok());
        assert!(matches!(
            verify("0xdeadbeef"),
            Err(AuthError::StaleNonce(_))
        ));
    }

    #[test]
    fn a_block_hash_of_any_nonce_chain_is_a_nonce_judged_by_that_chains_head() {
        use crate::auth::BlockStamp;
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let old_block = |number| {
            Some(BlockStamp {
                number,
                timestamp: now - 7200,
            })
        };
        // block 1 is the registry's head; block 2 the other chain's head;
        // the registry has answered that it has neither block 3 nor 4
        let registry = Chain {
            head: 100,
            blocks: BTreeMap::from([
                (block_hash(1), old_block(100)),
                (block_hash(3), None),
                (block_hash(4), None),
            ]),
        };
        let mainnet = Chain {
            head: 20_000_000,
            blocks: BTreeMap::from([
                (block_hash(2), old_block(20_000_000)),
                (block_hash(4), old_block(100)),
            ]),
        };
        let mut policy = policy();
        policy.chain_blocks = vec![std::sync::Arc::new(registry), std::sync::Arc::new(mainnet)];
        let w = wallet();
        let verify = |nonce: &str| verify_with_nonce(&w, nonce, &policy);
        assert!(verify(&block_hash(1)).is_ok(), "the registry's head");
        assert!(verify(&block_hash(2)).is_ok(), "the other chain's head");
        // block 4 is number 100 of the other chain: fresh by the registry's
        // head, but deep (and old) on its own chain, so stale
        assert!(matches!(
            verify(&block_hash(4)),
            Err(AuthError::StaleNonce(_))
        ));
        // not on the registry, and the other chain was not asked yet
        assert_eq!(
            verify(&block_hash(3)).err(),
            Some(AuthError::UnknownBlock(block_hash(3)))
        );
    }

    #[test]
    fn a_session_names_its_node_by_host_and_port_as_the_lit_sdk_derives_it() {
        // the registered URL, and the URL Lit's SDK derives from the chain
        assert!(same_node("https://10.0.0.2:443", "https://10.0.0.2"));
        assert!(same_node("http://10.0.0.1:7001", "http://10.0.0.1:7001/"));
        assert!(same_node("http://10.0.0.3:8443", "https://10.0.0.3:8443"));
        assert!(same_node("http://[::1]:7001", "http://[::1]:7001/"));
        // another port or host is another node
        assert!(!same_node("http://10.0.0.1:7002", "http://10.0.0.1:7001"));
        assert!(!same_node("http://10.0.0.9:7001", "http://10.0.0.1:7001"));
        assert!(!same_node("http://10.0.0.1", "https://10.0.0.1"));
        assert!(!same_node("garbage", "http://10.0.0.1:7001"));
    }

    #[test]
    fn a_saved_session_signs_like_the_original() {
        let s = session(&wallet(), exec_any());
        let back = Session::from_file(&s.to_file()).unwrap();
        assert_eq!(back.public_key_hex(), s.public_key_hex());
        assert!(check(&back.sign_for(NODE), Ability::LitActionExecution, "QmX").is_ok());
        let mut f = s.to_file();
        f.session_key = session(&wallet(), exec_any()).public_key_hex();
        assert!(Session::from_file(&f).is_err());
    }

    #[test]
    fn oversize_session_material_is_refused_before_parsing() {
        let s = session(&wallet(), exec_any());
        let mut auth = s.sign_for(NODE);
        auth.signed_message = "x".repeat(MAX_SESSION_MESSAGE + 1);
        assert!(matches!(
            check(&auth, Ability::LitActionExecution, "QmX"),
            Err(AuthError::TooLarge(_))
        ));
    }

    fn grant(ability: Ability, resource: &str) -> Vec<ResourceAbilityRequest> {
        vec![ResourceAbilityRequest::new(ability, resource)]
    }

    /// A plain wallet authSig of `w` granting `requests`, valid for `ttl`.
    fn plain(w: &SigningKey, ttl: i64, requests: &[ResourceAbilityRequest]) -> AuthSig {
        AuthSig::create_granting(
            w,
            "localhost",
            crate::auth::WALLET_AUTH_URI,
            ttl,
            &nonce(),
            requests,
        )
    }

    #[test]
    fn a_wallet_capability_seen_in_a_session_signature_is_no_credential_on_its_own() {
        let w = wallet();
        let s = session(&w, wallet_requests());
        // what any node sees: the session signature with its capability
        let seen: SessionSignedMessage =
            serde_json::from_str(&s.sign_for(NODE).signed_message).unwrap();
        let cap = seen.capabilities[0].clone();
        // it is a genuine signature of the wallet, granting everything...
        assert_eq!(
            cap.verify(OffsetDateTime::now_utc()).unwrap(),
            address_of(&w)
        );
        // ...and still no credential as a plain authSig, for any ability
        for ability in [
            Ability::PkpSigning,
            Ability::LitActionExecution,
            Ability::AccessControlConditionDecryption,
        ] {
            let e = check(&cap, ability, "01").unwrap_err();
            assert!(matches!(e, AuthError::CapabilityOutsideSession(_)), "{e}");
            assert!(
                e.to_string().contains(&s.public_key_hex()),
                "names the session key it delegates to: {e}"
            );
        }
        // nor as a proof of the wallet (an auth method's access token)
        assert!(matches!(
            cap.verify_with(&policy(), OffsetDateTime::now_utc()),
            Err(AuthError::CapabilityOutsideSession(_))
        ));
        // a capacity-style delegation is no proof of its signer either
        let delegation = AuthSig::create_granting(
            &w,
            "localhost",
            "lit:capability:delegation",
            600,
            &nonce(),
            &[],
        );
        assert!(matches!(
            delegation.verify_with(&policy(), OffsetDateTime::now_utc()),
            Err(AuthError::CapabilityOutsideSession(_))
        ));
    }

    #[test]
    fn a_network_signed_capability_is_no_credential_on_its_own() {
        let pending = PendingSession::new(
            address_of(&wallet()),
            wallet_requests(),
            "localhost",
            &nonce(),
            time::Duration::hours(1),
        );
        let cap = AuthSig {
            sig: crate::auth::network_signature_json(&"00".repeat(96)),
            derived_via: crate::auth::BLS_DERIVATION.into(),
            signed_message: pending.siwe_message.clone(),
            address: candela_crypto::derive::checksum_address(&[7; 20]),
            algo: Some(crate::auth::BLS_ALGO.into()),
        };
        let e = check(&cap, Ability::PkpSigning, "01").unwrap_err();
        assert!(
            matches!(e, AuthError::CapabilityOutsideSession(_))
                && e.to_string().contains("lit.bls"),
            "{e}"
        );
        assert!(matches!(
            cap.verify_with(&policy(), OffsetDateTime::now_utc()),
            Err(AuthError::CapabilityOutsideSession(_))
        ));
    }

    #[test]
    fn a_plain_auth_sig_grants_only_what_its_recap_lists() {
        let w = wallet();
        let exec = plain(&w, 600, &grant(Ability::LitActionExecution, "*"));
        assert!(check(&exec, Ability::LitActionExecution, "QmX").is_ok());
        let e = check(&exec, Ability::PkpSigning, "01").unwrap_err();
        assert!(
            matches!(e, AuthError::MissingCapability(_))
                && e.to_string().contains("Threshold/Signing"),
            "{e}"
        );
        let one_pkp = plain(&w, 600, &grant(Ability::PkpSigning, "0xabc"));
        assert!(check(&one_pkp, Ability::PkpSigning, "ABC").is_ok());
        assert!(matches!(
            check(&one_pkp, Ability::PkpSigning, "abd"),
            Err(AuthError::MissingCapability(_))
        ));
        // a bare proof of the wallet (an auth method) grants nothing here
        let bare = plain(&w, 600, &[]);
        assert!(bare
            .verify_with(&policy(), OffsetDateTime::now_utc())
            .is_ok());
        assert!(matches!(
            check(&bare, Ability::LitActionExecution, "QmX"),
            Err(AuthError::MissingCapability(_))
        ));
        // what the client and CLI make grants what they use
        let full = plain(&w, 600, &wallet_requests());
        let caller = check(&full, Ability::LitActionExecution, "QmX").unwrap();
        assert!(caller.allows(Ability::PkpSigning, "01"));
        assert!(caller.allows(Ability::AccessControlConditionDecryption, "aa/bb"));
        assert!(!caller.allows(Ability::AccessControlConditionSigning, "aa"));
    }

    #[test]
    fn a_plain_auth_sig_must_expire_within_the_max_lifetime_and_be_recent() {
        let w = wallet();
        let mut strict = policy();
        strict.max_lifetime = time::Duration::hours(1);
        strict.max_age = time::Duration::minutes(10);
        let now = OffsetDateTime::now_utc();
        let at = |auth: &AuthSig, p: &AuthPolicy, when: OffsetDateTime| {
            verify_request_auth(auth, Ability::PkpSigning, "01", NODE, p, when)
        };
        // no Expiration Time at all
        let address = candela_crypto::derive::checksum_address(&address_of(&w));
        let forever = AuthSig::sign_message(
            &w,
            format!(
                "localhost wants you to sign in with your Ethereum account:\n{address}\n\nSign in.\n\nURI: https://localhost/login\nVersion: 1\nChain ID: 1\nNonce: {}\nIssued At: {}\nResources:\n- {}",
                nonce(),
                rfc3339(now),
                recap_resource(&wallet_requests())
            ),
        );
        let e = at(&forever, &strict, now).unwrap_err();
        assert!(
            matches!(e, AuthError::NoExpiration { max_seconds: 3600 }),
            "{e}"
        );
        assert!(e.to_string().contains("Expiration Time"), "{e}");
        // valid for two hours: over the lifetime
        let long = plain(&w, 7200, &wallet_requests());
        assert!(matches!(
            at(&long, &strict, now),
            Err(AuthError::LifetimeTooLong {
                max_seconds: 3600,
                ..
            })
        ));
        // half an hour: fine now, too old twenty minutes later (not expired)
        let short = plain(&w, 1800, &wallet_requests());
        assert!(at(&short, &strict, now).is_ok());
        let later = now + time::Duration::minutes(20);
        assert!(matches!(
            at(&short, &strict, later),
            Err(AuthError::TooOld {
                max_seconds: 600,
                ..
            })
        ));
        // the default policy takes the 24 h the Lit JS SDK gives, not more
        assert!(at(&plain(&w, 24 * 3600, &wallet_requests()), &policy(), now).is_ok());
        assert!(matches!(
            at(&plain(&w, 25 * 3600, &wallet_requests()), &policy(), now),
            Err(AuthError::LifetimeTooLong { .. })
        ));
    }

    #[test]
    fn a_session_caller_allows_only_what_the_session_asks_and_its_wallet_granted() {
        let w = wallet();
        let s = session(
            &w,
            vec![
                ResourceAbilityRequest::new(Ability::LitActionExecution, "*"),
                ResourceAbilityRequest::new(Ability::PkpSigning, "0xabc"),
            ],
        );
        let caller = check(&s.sign_for(NODE), Ability::LitActionExecution, "QmX").unwrap();
        assert!(caller.allows(Ability::PkpSigning, "abc"));
        assert!(!caller.allows(Ability::PkpSigning, "abd"));
        assert!(!caller.allows(Ability::AccessControlConditionDecryption, "aa/bb"));
        // an execute-only session
        let exec_only = session(&w, exec_any());
        let caller = check(
            &exec_only.sign_for(NODE),
            Ability::LitActionExecution,
            "QmX",
        )
        .unwrap();
        assert!(!caller.allows(Ability::PkpSigning, "abc"));
        // the session asking for less than its capability grants
        let full = session(&w, wallet_requests());
        let narrowed = resign(&full, |m| m.resource_ability_requests = exec_any());
        let caller = check(&narrowed, Ability::LitActionExecution, "QmX").unwrap();
        assert!(!caller.allows(Ability::PkpSigning, "abc"));
        // and asking for more than it grants gains nothing
        let greedy = resign(&exec_only, |m| {
            m.resource_ability_requests
                .push(ResourceAbilityRequest::new(Ability::PkpSigning, "*"))
        });
        let caller = check(&greedy, Ability::LitActionExecution, "QmX").unwrap();
        assert!(!caller.allows(Ability::PkpSigning, "abc"));
    }
}
