//! Auth signatures: an EIP-4361 (SIWE) message signed with EIP-191
//! (`personal_sign`) by an Ethereum key, in Lit's `authSig` shape.
use candela_crypto::derive::{checksum_address, eth_address};
use k256::ecdsa::{RecoveryId, Signature, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha3::{Digest, Keccak256};
use time::OffsetDateTime;

/// Lit's `authSig`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AuthSig {
    /// `0x` + 65-byte `r || s || v` hex.
    pub sig: String,
    /// Always `web3.eth.personal.sign` for wallet signatures.
    pub derived_via: String,
    /// The SIWE message that was signed.
    pub signed_message: String,
    /// The signer's address (EIP-55); for a session signature, the session
    /// public key (hex).
    pub address: String,
    /// `ed25519` for session signatures; absent for wallet signatures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algo: Option<String>,
}

/// What a node requires of a wallet-signed SIWE message beyond its
/// signature and validity times.
///
/// Nonces: with neither `nonce_seed` nor any `chain_blocks` set any nonce
/// is accepted; otherwise the nonce must pass one of the rules that are set.
///
/// Lifetimes: a wallet SIWE message presented on its own (a plain `authSig`
/// or an auth method's access token, not a capability inside a session)
/// must carry an `Expiration Time` at most [`AuthPolicy::max_lifetime`]
/// after its `Issued At`, and be used at most [`AuthPolicy::max_age`] after
/// its `Issued At`.
#[derive(Debug, Clone)]
pub struct AuthPolicy {
    /// Accepted SIWE domains; empty accepts any.
    pub allowed_domains: Vec<String>,
    /// The network's nonce secret input (its root public key, hex); when
    /// set, a message's nonce may be the network nonce of the time window
    /// of its `Issued At` (or a neighbouring window), see [`network_nonce`].
    pub nonce_seed: Option<String>,
    /// Chains whose recent block hashes are nonces: the registry chain
    /// (EVM registry) and any the node is configured to accept (such as
    /// Ethereum mainnet, whose block hashes the Lit JS SDK takes as nonces).
    /// A message's nonce may be the hash of a recent block of any of them,
    /// judged against that chain's head, see [`block_nonce_fresh`].
    pub chain_blocks: Vec<std::sync::Arc<dyn ChainBlocks>>,
    /// The network's BLS public key (hex): capabilities the network signed
    /// for a PKP (`derivedVia: "lit.bls"`) verify against it.
    pub bls_public_key: Option<String>,
    /// Longest validity (`Expiration Time` - `Issued At`) of a wallet SIWE
    /// message presented on its own.
    pub max_lifetime: time::Duration,
    /// Oldest `Issued At` (from now) of a wallet SIWE message presented on
    /// its own.
    pub max_age: time::Duration,
}

/// Default [`AuthPolicy::max_lifetime`] and [`AuthPolicy::max_age`]: 24 h,
/// the validity the Lit JS SDK v7 gives the wallet auth methods
/// (`EthWalletProvider`) and sessions it makes.
pub const DEFAULT_MAX_AUTH_SIG_SECONDS: i64 = 24 * 3600;

impl Default for AuthPolicy {
    fn default() -> Self {
        AuthPolicy {
            allowed_domains: Vec::new(),
            nonce_seed: None,
            chain_blocks: Vec::new(),
            bls_public_key: None,
            max_lifetime: time::Duration::seconds(DEFAULT_MAX_AUTH_SIG_SECONDS),
            max_age: time::Duration::seconds(DEFAULT_MAX_AUTH_SIG_SECONDS),
        }
    }
}

/// The SIWE URI prefix of a capability that delegates to a session key:
/// `lit:session:<session public key, 32 bytes hex>`.
pub const SESSION_URI_PREFIX: &str = "lit:session:";

/// The SIWE URI prefix of Lit's other delegations (a capacity-credit
/// delegation is `lit:capability:delegation`, the SDK's
/// `SIWE_DELEGATION_URI`).
pub const CAPABILITY_URI_PREFIX: &str = "lit:capability:";

/// What a SIWE message with this URI delegates to, if it is a delegation:
/// the session key of `lit:session:<64 hex>`, or the whole URI of a
/// `lit:capability:` delegation. A delegation is valid only where it is
/// delegated (inside the session signature of that key, or as a session's
/// extra capability); it never proves its signer on its own.
pub fn delegation_of(uri: &str) -> Option<String> {
    if let Some(key) = uri.strip_prefix(SESSION_URI_PREFIX) {
        let hex = key.strip_prefix("0x").unwrap_or(key);
        if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Some(format!("session key {}", hex.to_ascii_lowercase()));
        }
        return None;
    }
    uri.starts_with(CAPABILITY_URI_PREFIX)
        .then(|| format!("a delegation ({uri})"))
}

/// `derivedVia` of a capability the network signed for a PKP.
pub const BLS_DERIVATION: &str = "lit.bls";

/// `algo` of a capability the network signed for a PKP.
pub const BLS_ALGO: &str = "LIT_BLS";

/// The `sig` of a capability the network signed, as Lit's SDK writes it:
/// `{"ProofOfPossession":"<96-byte G2 hex>"}`.
pub fn network_signature_json(signature_hex: &str) -> String {
    serde_json::json!({ "ProofOfPossession": signature_hex }).to_string()
}

/// The signature hex of a network-signed capability's `sig`: Lit's
/// `{"ProofOfPossession": hex}` form, or bare hex.
fn network_signature_hex(sig: &str) -> Option<String> {
    if sig.trim_start().starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(sig).ok()?;
        return v.get("ProofOfPossession")?.as_str().map(str::to_string);
    }
    Some(sig.to_string())
}

/// What the network signs (BLS) to authorise a PKP session:
/// `sha256("lit_session:" + hex(EIP-191 hash of the SIWE message))`.
pub fn pkp_session_digest(siwe_message: &str) -> [u8; 32] {
    use sha2::Digest as _;
    let text = format!(
        "lit_session:{}",
        hex::encode(eip191_hash(siwe_message.as_bytes()))
    );
    sha2::Sha256::digest(text.as_bytes()).into()
}

/// Length of a nonce window, in seconds.
pub const NONCE_WINDOW_SECONDS: i64 = 300;

/// The network nonce of window `window` (= unix time / 300), the value the
/// handshake publishes as `latestBlockhash`: `keccak256("candela-nonce" ||
/// seed || window)`, hex with `0x`.
pub fn network_nonce(seed: &str, window: i64) -> String {
    let mut h = Keccak256::new();
    h.update(b"candela-nonce");
    h.update(seed.as_bytes());
    h.update(window.to_be_bytes());
    format!("0x{}", hex::encode(h.finalize()))
}

/// The window of a time.
pub fn nonce_window(t: OffsetDateTime) -> i64 {
    t.unix_timestamp().div_euclid(NONCE_WINDOW_SECONDS)
}

/// A block of the registry chain, as far as nonces need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockStamp {
    /// Block number.
    pub number: u64,
    /// Block timestamp (unix seconds).
    pub timestamp: i64,
}

/// What a node knows of a block hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockLookup {
    /// The chain has this block.
    Block(BlockStamp),
    /// The chain answered that it has no such block.
    NotOnChain,
    /// Not asked yet: the caller must look it up and verify again
    /// ([`AuthError::UnknownBlock`]).
    NotLookedUp,
}

/// The registry chain's blocks as a node has seen them (the IO lives in the
/// node; verification only reads).
pub trait ChainBlocks: std::fmt::Debug + Send + Sync {
    /// The latest block number the node has seen.
    fn head(&self) -> u64;
    /// What the node knows of the block with this hash (lowercase `0x` hex).
    fn lookup(&self, hash: &str) -> BlockLookup;
}

/// A block-hash nonce is fresh for a message issued at `issued` when the
/// block was made before the message (within clock skew) and is either among
/// the chain's last [`MAX_NONCE_BLOCK_DEPTH`] blocks or at most
/// [`MAX_NONCE_BLOCK_AGE_SECONDS`] older than the message. (The depth rule
/// keeps an idle chain's latest block usable; the age rule keeps a session's
/// capability valid for its whole lifetime on a busy chain.)
pub fn block_nonce_fresh(block: BlockStamp, head: u64, issued: OffsetDateTime) -> bool {
    let issued = issued.unix_timestamp();
    let made_before = block.timestamp <= issued + CLOCK_SKEW_SECONDS;
    let deep_enough = head.saturating_sub(block.number) <= MAX_NONCE_BLOCK_DEPTH;
    let young_enough = issued - block.timestamp <= MAX_NONCE_BLOCK_AGE_SECONDS;
    made_before && (deep_enough || young_enough)
}

/// A block within this many blocks of the chain's head is a fresh nonce.
pub const MAX_NONCE_BLOCK_DEPTH: u64 = 256;

/// A block at most this much older than the message is a fresh nonce.
pub const MAX_NONCE_BLOCK_AGE_SECONDS: i64 = 3600;

/// Whether `nonce` has the shape of a block hash (`0x` + 64 hex).
pub fn is_block_hash(nonce: &str) -> bool {
    nonce.len() == 66
        && nonce.starts_with("0x")
        && nonce[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// Why an auth signature was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthError {
    /// `derivedVia` is not one we accept.
    #[error("unsupported derivedVia {0:?}")]
    UnsupportedDerivation(String),
    /// The message is not a valid SIWE message.
    #[error("signedMessage is not a valid SIWE message: {0}")]
    BadMessage(String),
    /// The signature is malformed or does not recover to the address.
    #[error("signature does not match address {0}")]
    BadSignature(String),
    /// `address` differs from the SIWE message's address.
    #[error("authSig address does not match the signed message")]
    AddressMismatch,
    /// The message's validity ended.
    #[error("auth signature expired")]
    Expired,
    /// A session signature that does not hold together.
    #[error("invalid session signature: {0}")]
    BadSession(String),
    /// A session signature made for another node.
    #[error("this session signature was made for {0}, not for this node")]
    WrongNode(String),
    /// Not valid yet.
    #[error("auth signature is not valid yet")]
    NotYetValid,
    /// The session or its capability does not grant what is asked.
    #[error("missing capability: {0}")]
    MissingCapability(String),
    /// The SIWE domain is not one this node accepts.
    #[error("SIWE domain {0:?} is not accepted by this node")]
    WrongDomain(String),
    /// The SIWE nonce is not the network's nonce for the message's time
    /// (nor, with an EVM registry, a recent block hash of its chain).
    #[error("SIWE nonce {0:?} is not a fresh nonce of this network for the message's issue time (use the handshake's latestBlockhash)")]
    StaleNonce(String),
    /// The nonce is a block hash the node has not looked up yet: the node
    /// asks its chain, then verifies again.
    #[error("SIWE nonce {0} is a block hash this node has not looked up yet")]
    UnknownBlock(String),
    /// The auth material is larger than allowed.
    #[error("auth material too large ({0} bytes)")]
    TooLarge(usize),
    /// A capability (a wallet's SIWE delegation to a session key, a
    /// network-signed `lit.bls` capability, a capacity delegation)
    /// presented on its own, as a request's `authSig` or as an auth method.
    #[error("this is a capability, not an authSig: {0}; a capability is valid only inside the session signature that delegates to it")]
    CapabilityOutsideSession(String),
    /// A wallet SIWE message presented on its own without `Expiration Time`.
    #[error("the SIWE message has no Expiration Time: an authSig must expire at most {max_seconds} s after its Issued At")]
    NoExpiration {
        /// The node's [`AuthPolicy::max_lifetime`], in seconds.
        max_seconds: i64,
    },
    /// Its `Expiration Time` is too far after its `Issued At`.
    #[error("the SIWE message is valid for {seconds} s (Issued At to Expiration Time); this node accepts authSigs valid for at most {max_seconds} s")]
    LifetimeTooLong {
        /// `Expiration Time` - `Issued At`, in seconds.
        seconds: i64,
        /// The node's [`AuthPolicy::max_lifetime`], in seconds.
        max_seconds: i64,
    },
    /// Its `Issued At` is too long ago.
    #[error("the SIWE message was issued {seconds} s ago; this node accepts authSigs issued at most {max_seconds} s ago")]
    TooOld {
        /// Now - `Issued At`, in seconds.
        seconds: i64,
        /// The node's [`AuthPolicy::max_age`], in seconds.
        max_seconds: i64,
    },
}

/// Largest SIWE message accepted, checked before any parsing.
pub const MAX_SIGNED_MESSAGE: usize = 16 * 1024;
/// Tolerated clock skew for not-before and expiry.
pub const CLOCK_SKEW_SECONDS: i64 = 60;

/// EIP-191 `personal_sign` hash of a message.
pub fn eip191_hash(message: &[u8]) -> [u8; 32] {
    let mut h = Keccak256::new();
    h.update(format!("\x19Ethereum Signed Message:\n{}", message.len()).as_bytes());
    h.update(message);
    h.finalize().into()
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.replace_nanosecond(0)
        .unwrap_or(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn random_nonce() -> String {
    use rand_core::RngCore;
    let mut b = [0u8; 12];
    rand_core::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// The SIWE URI of the wallet auth signatures Candela's client makes: an
/// origin, as in the plain SIWE messages of the Lit JS SDK (whose default
/// is this one), never a `lit:` delegation URI ([`delegation_of`]).
pub const WALLET_AUTH_URI: &str = "https://localhost/login";

impl AuthSig {
    /// Sign a fresh SIWE message for `domain`/`uri`, valid for
    /// `ttl_seconds`, with a random nonce (for nodes that do not check it),
    /// granting [`crate::session::wallet_requests`].
    pub fn create(key: &SigningKey, domain: &str, uri: &str, ttl_seconds: i64) -> Self {
        Self::create_with_nonce(key, domain, uri, ttl_seconds, &random_nonce())
    }

    /// [`AuthSig::create`] with the network's `nonce` (the handshake's
    /// `latestBlockhash`, or [`network_nonce`] of the current window).
    pub fn create_with_nonce(
        key: &SigningKey,
        domain: &str,
        uri: &str,
        ttl_seconds: i64,
        nonce: &str,
    ) -> Self {
        Self::create_granting(
            key,
            domain,
            uri,
            ttl_seconds,
            nonce,
            &crate::session::wallet_requests(),
        )
    }

    /// A fresh SIWE message for `domain`/`uri`, valid for `ttl_seconds`,
    /// with `nonce`, whose ReCap resource grants `requests` (nodes refuse a
    /// plain authSig for anything its ReCap does not grant; with no
    /// requests the message has no ReCap, as a wallet auth method's).
    pub fn create_granting(
        key: &SigningKey,
        domain: &str,
        uri: &str,
        ttl_seconds: i64,
        nonce: &str,
        requests: &[crate::session::ResourceAbilityRequest],
    ) -> Self {
        let address = checksum_address(&eth_address(key.verifying_key().as_affine()));
        let now = OffsetDateTime::now_utc();
        let mut message = format!(
            "{domain} wants you to sign in with your Ethereum account:\n{address}\n\nSign in to a Candela network.\n\nURI: {uri}\nVersion: 1\nChain ID: 1\nNonce: {nonce}\nIssued At: {issued}\nExpiration Time: {exp}",
            issued = rfc3339(now),
            exp = rfc3339(now + time::Duration::seconds(ttl_seconds)),
        );
        if !requests.is_empty() {
            message.push_str("\nResources:\n- ");
            message.push_str(&crate::session::recap_resource(requests));
        }
        Self::sign_message(key, message)
    }

    /// Sign an arbitrary (SIWE) message with EIP-191.
    pub fn sign_message(key: &SigningKey, message: String) -> Self {
        let address = checksum_address(&eth_address(key.verifying_key().as_affine()));
        AuthSig {
            sig: format!("0x{}", hex::encode(sign_eip191(key, message.as_bytes()))),
            derived_via: "web3.eth.personal.sign".into(),
            signed_message: message,
            address,
            algo: None,
        }
    }

    /// A wallet's SIWE message presented on its own: a request's plain
    /// `authSig` (whose ReCap [`crate::session::verify_request_auth`] checks
    /// too), an auth method's access token, or `sign_session_key`'s
    /// `authSig`. Returns the wallet's address when it is a wallet signature
    /// (`web3.eth.personal.sign`, not a network-signed capability) whose URI
    /// delegates to nothing ([`delegation_of`]), whose signature and
    /// validity times hold, whose lifetime and age are within the policy's
    /// ([`check_lifetime`]), and which passes the node's domain and nonce
    /// rules.
    pub fn verify_with(
        &self,
        policy: &AuthPolicy,
        now: OffsetDateTime,
    ) -> Result<[u8; 20], AuthError> {
        if self.derived_via == BLS_DERIVATION {
            return Err(AuthError::CapabilityOutsideSession(format!(
                "a network-signed (lit.bls) capability for {}",
                self.address
            )));
        }
        let (msg, address) = self.verify_parsed(now)?;
        if let Some(to) = delegation_of(msg.uri.as_str()) {
            return Err(AuthError::CapabilityOutsideSession(format!(
                "the wallet's SIWE message delegates to {to}"
            )));
        }
        check_lifetime(&msg, policy, now)?;
        check_siwe_policy(&msg, policy, now)?;
        Ok(address)
    }

    /// A capability inside a session signature: a wallet's SIWE message,
    /// or one the network signed for a PKP (`lit.bls`). Checks its
    /// signature, validity times and the node's domain and nonce rules;
    /// the caller checks that it delegates to the session's key and what
    /// it grants.
    pub fn verify_capability(
        &self,
        policy: &AuthPolicy,
        now: OffsetDateTime,
    ) -> Result<[u8; 20], AuthError> {
        if self.derived_via == BLS_DERIVATION {
            return self.verify_network_signed(policy, now);
        }
        let (msg, address) = self.verify_parsed(now)?;
        check_siwe_policy(&msg, policy, now)?;
        Ok(address)
    }

    /// A capability the network signed with its BLS key for a PKP: the
    /// signature over [`pkp_session_digest`] must verify under the
    /// network's key, and the message's address is the PKP's.
    fn verify_network_signed(
        &self,
        policy: &AuthPolicy,
        now: OffsetDateTime,
    ) -> Result<[u8; 20], AuthError> {
        if self.signed_message.len() > MAX_SIGNED_MESSAGE || self.sig.len() > 400 {
            return Err(AuthError::TooLarge(
                self.signed_message.len() + self.sig.len(),
            ));
        }
        let key = policy.bls_public_key.as_deref().ok_or_else(|| {
            AuthError::UnsupportedDerivation("lit.bls: this node has no BLS key yet".into())
        })?;
        let key = candela_bls::encoding::public_key_from_hex(key)
            .map_err(|e| AuthError::BadSignature(format!("network key: {e}")))?;
        let sig = network_signature_hex(&self.sig)
            .and_then(|hex| candela_bls::BlsSignature::from_hex(&hex).ok())
            .ok_or_else(|| AuthError::BadSignature(self.address.clone()))?;
        candela_bls::verify(&key, &pkp_session_digest(&self.signed_message), &sig)
            .map_err(|_| AuthError::BadSignature(self.address.clone()))?;
        let (msg, claimed) = self.message_and_address()?;
        check_times(&msg, now)?;
        check_siwe_policy(&msg, policy, now)?;
        Ok(claimed)
    }
}

/// Expiry and not-before of a SIWE message, with clock skew.
pub fn check_times(msg: &siwe::Message, now: OffsetDateTime) -> Result<(), AuthError> {
    let skew = time::Duration::seconds(CLOCK_SKEW_SECONDS);
    if let Some(exp) = &msg.expiration_time {
        if *exp.as_ref() + skew < now {
            return Err(AuthError::Expired);
        }
    }
    if let Some(nbf) = &msg.not_before {
        if *nbf.as_ref() - skew > now {
            return Err(AuthError::NotYetValid);
        }
    }
    Ok(())
}

/// The lifetime rules of a wallet SIWE message presented on its own: an
/// `Expiration Time` is required, at most [`AuthPolicy::max_lifetime`]
/// after `Issued At`, and `Issued At` is at most [`AuthPolicy::max_age`]
/// before `now` (each with [`CLOCK_SKEW_SECONDS`] of slack).
pub fn check_lifetime(
    msg: &siwe::Message,
    policy: &AuthPolicy,
    now: OffsetDateTime,
) -> Result<(), AuthError> {
    let max_lifetime = policy.max_lifetime.whole_seconds();
    let issued: OffsetDateTime = *msg.issued_at.as_ref();
    let expires: OffsetDateTime = *msg
        .expiration_time
        .as_ref()
        .ok_or(AuthError::NoExpiration {
            max_seconds: max_lifetime,
        })?
        .as_ref();
    let lifetime = (expires - issued).whole_seconds();
    if lifetime > max_lifetime + CLOCK_SKEW_SECONDS {
        return Err(AuthError::LifetimeTooLong {
            seconds: lifetime,
            max_seconds: max_lifetime,
        });
    }
    let (age, max_age) = (
        (now - issued).whole_seconds(),
        policy.max_age.whole_seconds(),
    );
    if age > max_age + CLOCK_SKEW_SECONDS {
        return Err(AuthError::TooOld {
            seconds: age,
            max_seconds: max_age,
        });
    }
    Ok(())
}

/// The node's rules on a SIWE message beyond its signature: domain, issue
/// time and nonce.
pub fn check_siwe_policy(
    msg: &siwe::Message,
    policy: &AuthPolicy,
    now: OffsetDateTime,
) -> Result<(), AuthError> {
    {
        let domain = msg.domain.to_string();
        if !policy.allowed_domains.is_empty() && !policy.allowed_domains.contains(&domain) {
            return Err(AuthError::WrongDomain(domain));
        }
        let issued: OffsetDateTime = *msg.issued_at.as_ref();
        if issued - time::Duration::seconds(CLOCK_SKEW_SECONDS) > now {
            return Err(AuthError::NotYetValid);
        }
        check_nonce(&msg.nonce, issued, policy)
    }
}

/// The nonce rules of [`AuthPolicy`] for a message issued at `issued`.
fn check_nonce(nonce: &str, issued: OffsetDateTime, policy: &AuthPolicy) -> Result<(), AuthError> {
    if policy.nonce_seed.is_none() && policy.chain_blocks.is_empty() {
        return Ok(());
    }
    if let Some(seed) = &policy.nonce_seed {
        let w = nonce_window(issued);
        if (w - 1..=w + 1).any(|w| network_nonce(seed, w) == nonce) {
            return Ok(());
        }
    }
    if is_block_hash(nonce) {
        let hash = nonce.to_ascii_lowercase();
        let mut not_looked_up = false;
        for blocks in &policy.chain_blocks {
            match blocks.lookup(&hash) {
                BlockLookup::Block(b) if block_nonce_fresh(b, blocks.head(), issued) => {
                    return Ok(())
                }
                BlockLookup::NotLookedUp => not_looked_up = true,
                BlockLookup::Block(_) | BlockLookup::NotOnChain => {}
            }
        }
        if not_looked_up {
            return Err(AuthError::UnknownBlock(hash));
        }
    }
    Err(AuthError::StaleNonce(nonce.to_string()))
}

impl AuthSig {
    /// The parsed SIWE message and the claimed address, which must be the
    /// message's.
    fn message_and_address(&self) -> Result<(siwe::Message, [u8; 20]), AuthError> {
        let msg: siwe::Message = self
            .signed_message
            .parse()
            .map_err(|e: siwe::ParseError| AuthError::BadMessage(e.to_string()))?;
        let claimed = candela_crypto::derive::parse_address(&self.address)
            .map_err(|_| AuthError::AddressMismatch)?;
        if msg.address != claimed {
            return Err(AuthError::AddressMismatch);
        }
        Ok((msg, claimed))
    }

    /// Verify signature, address and validity window at `now`; returns the
    /// signer's address. This proves who signed, nothing more: a message
    /// presented as a credential goes through [`AuthSig::verify_with`] or
    /// [`AuthSig::verify_capability`].
    pub fn verify(&self, now: OffsetDateTime) -> Result<[u8; 20], AuthError> {
        self.verify_parsed(now).map(|(_, address)| address)
    }

    /// [`AuthSig::verify`], with the parsed message.
    fn verify_parsed(&self, now: OffsetDateTime) -> Result<(siwe::Message, [u8; 20]), AuthError> {
        if self.signed_message.len() > MAX_SIGNED_MESSAGE || self.sig.len() > 200 {
            return Err(AuthError::TooLarge(
                self.signed_message.len() + self.sig.len(),
            ));
        }
        if self.derived_via != "web3.eth.personal.sign" {
            return Err(AuthError::UnsupportedDerivation(self.derived_via.clone()));
        }
        let (msg, claimed) = self.message_and_address()?;
        let raw = hex::decode(self.sig.strip_prefix("0x").unwrap_or(&self.sig))
            .map_err(|_| AuthError::BadSignature(self.address.clone()))?;
        if raw.len() != 65 {
            return Err(AuthError::BadSignature(self.address.clone()));
        }
        let signer = recover_eip191(self.signed_message.as_bytes(), &raw)
            .ok_or_else(|| AuthError::BadSignature(self.address.clone()))?;
        if signer != claimed {
            return Err(AuthError::BadSignature(self.address.clone()));
        }
        check_times(&msg, now)?;
        Ok((msg, claimed))
    }
}

/// Signers recovered from EIP-191 signatures, by `SHA-256(message ‖
/// signature)`: a session's wallet signature comes with every request it
/// makes, and recovering it is the dearest step of checking one. The answer
/// for given bytes never changes; only it is kept (times are checked on
/// every use). Bounded: emptied when full.
static RECOVERED: std::sync::LazyLock<
    std::sync::Mutex<std::collections::HashMap<[u8; 32], [u8; 20]>>,
> = std::sync::LazyLock::new(Default::default);
const RECOVERED_MAX: usize = 4096;

/// Sign `message` under EIP-191 (`personal_sign`, as ethers'
/// `signMessage`): 65 bytes r ‖ s ‖ v with v 27 or 28.
pub fn sign_eip191(key: &SigningKey, message: &[u8]) -> [u8; 65] {
    let (sig, recid): (Signature, RecoveryId) =
        match key.sign_prehash_recoverable(&eip191_hash(message)) {
            Ok(v) => v,
            Err(_) => unreachable!("signing a 32-byte prehash cannot fail"),
        };
    let mut out = [0u8; 65];
    out[..64].copy_from_slice(&sig.to_bytes());
    out[64] = 27 + recid.to_byte();
    out
}

/// The address that made the 65-byte signature `raw` (r ‖ s ‖ v, v 0/1 or
/// 27/28) of `message` under EIP-191, if it is one.
pub fn recover_eip191(message: &[u8], raw: &[u8]) -> Option<[u8; 20]> {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    h.update((message.len() as u64).to_be_bytes());
    h.update(message);
    h.update(raw);
    let key: [u8; 32] = h.finalize().into();
    let cache = || RECOVERED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(a) = cache().get(&key) {
        return Some(*a);
    }
    let sig = Signature::from_slice(raw.get(..64)?).ok()?;
    let v = *raw.get(64)?;
    let recid = RecoveryId::from_byte(if v >= 27 { v - 27 } else { v })?;
    let vk = VerifyingKey::recover_from_prehash(&eip191_hash(message), &sig, recid).ok()?;
    let address = eth_address(vk.as_affine());
    let mut c = cache();
    if c.len() >= RECOVERED_MAX {
        c.clear();
    }
    c.insert(key, address);
    Some(address)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remembered_recovery_answers_only_for_the_same_message_and_signature() {
        let k = key();
        let a = AuthSig::create(&k, "localhost", "lit:session:test", 600);
        let now = OffsetDateTime::now_utc();
        let me = eth_address(k.verifying_key().as_affine());
        assert_eq!(a.verify(now).unwrap(), me);
        // again, from the memo
        assert_eq!(a.verify(now).unwrap(), me);
        // one byte of the message changed: not the memo's answer
        let mut other = a.clone();
        other.signed_message = other.signed_message.replacen("localhost", "localhosT", 1);
        assert!(other.verify(now).is_err());
        // the same signature later than its expiry: refused on time
        let later = now + time::Duration::hours(2);
        assert!(a.verify(later).is_err());
    }

    fn key() -> SigningKey {
        SigningKey::random(&mut rand_core::OsRng)
    }

    #[test]
    fn a_fresh_auth_sig_verifies_to_its_signer() {
        let k = key();
        let a = AuthSig::create(&k, "localhost", "lit:session:test", 600);
        assert_eq!(
            a.verify(OffsetDateTime::now_utc()).unwrap(),
            eth_address(k.verifying_key().as_affine())
        );
    }

    #[test]
    fn an_expired_auth_sig_is_refused() {
        let a = AuthSig::create(&key(), "localhost", "lit:session:test", 1);
        let later = OffsetDateTime::now_utc() + time::Duration::seconds(3600);
        assert_eq!(a.verify(later), Err(AuthError::Expired));
    }

    #[test]
    fn a_tampered_message_is_refused() {
        let mut a = AuthSig::create(&key(), "localhost", "lit:session:test", 600);
        a.signed_message = a.signed_message.replace("Candela", "Candelb");
        assert!(matches!(
            a.verify(OffsetDateTime::now_utc()),
            Err(AuthError::BadSignature(_))
        ));
    }

    #[test]
    fn another_signer_is_refused() {
        let a = AuthSig::create(&key(), "localhost", "lit:session:test", 600);
        let b = AuthSig::sign_message(&key(), a.signed_message.clone());
        let mut forged = a.clone();
        forged.sig = b.sig;
        assert!(matches!(
            forged.verify(OffsetDateTime::now_utc()),
            Err(AuthError::BadSignature(_))
        ));
    }

    #[test]
    fn oversize_auth_material_is_refused_before_parsing() {
        let mut a = AuthSig::create(&key(), "localhost", "lit:session:test", 600);
        a.signed_message = "x".repeat(MAX_SIGNED_MESSAGE + 1);
        assert!(matches!(
            a.verify(OffsetDateTime::now_utc()),
            Err(AuthError::TooLarge(_))
        ));
    }
}
