//! Threshold Schnorr signing (FROST, `candela-frost`): Ed25519 and
//! secp256k1 taproot signatures with a PKP's key for those curves.
//!
//! A PKP keeps its one key id; its Ed25519 and taproot keys are the FROST
//! roots tweaked with that id ([`Tweak::pkp`]), so one PKP token has a key
//! per curve.
//!
//! The path of one signature (`pkp/sign` with a Schnorr `signingScheme`,
//! or [`Node::sign_share_schnorr`] for the action host):
//! 1. the node binds its request: `H(scheme, derived key, message)`
//!    ([`schnorr_binding`]);
//! 2. it asks the coordinator (the lowest live index not excluded) for the
//!    request's assignment; the coordinator, once per request id, asks `t`
//!    signers for a fresh commitment each (FROST round 1 is done ahead of
//!    time: every node keeps its own sealed pool of nonces made against its
//!    root share) and signs the list with the binding
//!    ([`SignedSchnorrAssignment`]); a later asker with another binding is
//!    refused;
//! 3. the node checks the coordinator's signature and that the binding is
//!    its own request's; a node outside the signing set stops here;
//! 4. a signer checks that the commitment listed for it is one of its own
//!    unused ones, removes its nonces from the pool and deletes their
//!    sealed row durably (`synchronous=FULL`; concurrent signatures share
//!    one transaction, see [`crate::group_commit`]) BEFORE it computes its
//!    share, so a nonce never signs twice, across restarts too.
//!
//! The FROST binding factors hash the message, the derived key and every
//! signer's commitment, so the share is only good for this (key, message).
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use candela_api::schnorr::{
    equivocating_coordinator, schnorr_binding, SchnorrCommitmentWire, SchnorrShareWire,
    SchnorrSignResponse, SignedSchnorrAssignment,
};
use candela_api::v7::PkpSignRequest;
use candela_frost::frost_core::round1::SigningCommitments;
use candela_frost::frost_core::round1::SigningNonces;
use candela_frost::roots::{FrostPools, FrostRoots};
use candela_frost::{
    make_commitments, sign_share, signing_package, CommitmentPool, Ed25519Sha512, FrostError,
    FrostKeyShare, KeyType, Secp256K1Sha256TR, SigningScheme, Suite,
};
use zeroize::Zeroizing;

use crate::config::Misbehaviour;
use crate::error::ApiError;
use crate::node::Node;
use crate::peer::PeerBody;
use crate::scheme_signing::KeySource;
use crate::store::Store;

/// Name under which nodes before per-nonce rows kept both pools as one
/// sealed blob (read once to carry on after its ids, then deleted).
const POOLS_SECRET: &str = "frost-nonce-pools";
/// A pool with fewer unused nonces than this is refilled...
const POOL_LOW: usize = 16;
/// ... up to this many.
const POOL_TARGET: usize = 64;
/// When requests in flight hold most unused nonces, more are made, up to
/// this many unused in all.
const POOL_MAX: usize = 1024;
/// A commitment handed to a coordinator stays reserved for its request
/// this long; then it may be handed out again (its nonce was never used).
const RESERVATION: Duration = Duration::from_secs(120);

/// The coordinator forgets an assignment this long after making it (every
/// request has timed out by then: actions run for 30 s at most).
const ASSIGNMENT_TTL: Duration = Duration::from_secs(120);

/// The schemes `pkp/sign` serves, for error messages.
const SERVED: &str = "EcdsaK256Sha256, SchnorrEd25519Sha512 or SchnorrK256Taproot";

/// The FROST suites the node signs with, tied to where their root share
/// and nonce pool live.
pub(crate) trait NodeSuite: Suite {
    /// This suite's root share, if generated.
    fn root(roots: &FrostRoots) -> Option<&FrostKeyShare<Self>>;
    /// Where this suite's root share is kept.
    fn root_slot(roots: &mut FrostRoots) -> &mut Option<FrostKeyShare<Self>>;
    /// This suite's nonce pool.
    fn pool(pools: &mut FrostPools) -> &mut CommitmentPool<Self>;
}

impl NodeSuite for Ed25519Sha512 {
    fn root(roots: &FrostRoots) -> Option<&FrostKeyShare<Self>> {
        roots.ed25519.as_ref()
    }
    fn root_slot(roots: &mut FrostRoots) -> &mut Option<FrostKeyShare<Self>> {
        &mut roots.ed25519
    }
    fn pool(pools: &mut FrostPools) -> &mut CommitmentPool<Self> {
        &mut pools.ed25519
    }
}

impl NodeSuite for Secp256K1Sha256TR {
    fn root(roots: &FrostRoots) -> Option<&FrostKeyShare<Self>> {
        roots.k256_taproot.as_ref()
    }
    fn root_slot(roots: &mut FrostRoots) -> &mut Option<FrostKeyShare<Self>> {
        &mut roots.k256_taproot
    }
    fn pool(pools: &mut FrostPools) -> &mut CommitmentPool<Self> {
        &mut pools.k256_taproot
    }
}

/// The scheme a `pkp/sign` request asks for: absent is
/// `EcdsaK256Sha256`; a name that is not Lit's, or a scheme `pkp/sign`
/// does not serve, is refused (400) naming what is served.
pub(crate) fn requested_scheme(name: Option<&str>) -> Result<SigningScheme, ApiError> {
    let Some(name) = name else {
        return Ok(SigningScheme::EcdsaK256Sha256);
    };
    match name.parse::<SigningScheme>() {
        Ok(s) if s == SigningScheme::EcdsaK256Sha256 || s.is_frost() => Ok(s),
        Ok(s) => Err(ApiError::bad_request(
            "NodeUnsupportedSigningScheme",
            format!("signingScheme {s} is not served by pkp/sign; expected {SERVED}"),
        )),
        Err(FrostError::UnsupportedScheme(s)) => Err(ApiError::bad_request(
            "NodeUnsupportedSigningScheme",
            format!("signingScheme {s} is not served by Candela; expected {SERVED}"),
        )),
        Err(_) => Err(ApiError::bad_request(
            "NodeInvalidSigningScheme",
            format!("unknown signingScheme {name:?}; expected {SERVED}"),
        )),
    }
}

/// A FROST error as the API reports it.
fn frost_error(e: FrostError) -> ApiError {
    match e {
        FrostError::MessageLength { .. } => {
            ApiError::bad_request("NodeInvalidToSign", e.to_string())
        }
        FrostError::NoRootKey { .. } => ApiError::unavailable("NodeNotReady", e.to_string()),
        other => ApiError::internal(other),
    }
}

/// What a node worked out for one Schnorr request that its combining step
/// reuses: the derived key's public package and, if this node signed, the
/// signers' commitments as decoded and checked then (decoding checks that
/// every point is in the prime-order group, a scalar multiplication each).
pub(crate) struct FrostRequest<C: Suite> {
    public: candela_frost::frost_core::keys::PublicKeyPackage<C>,
    commitments: Option<BTreeMap<u32, SigningCommitments<C>>>,
}

/// A node's FROST roots, nonce pools and the Schnorr requests it serves.
#[derive(Default)]
pub(crate) struct SchnorrState {
    roots: RwLock<FrostRoots>,
    pools: Mutex<FrostPools>,
    /// Signer side: the commitment id handed out per (suite, reservation).
    reserved: Mutex<HashMap<(KeyType, Reservation), (u64, Instant)>>,
    /// Signer side: numbers the commitments reserved for coordinators'
    /// stocks.
    stock_seq: std::sync::atomic::AtomicU64,
    /// Coordinator side: commitments signers reserved for this node.
    pub(crate) stock: crate::schnorr_stock::CommitmentStock,
    /// Each root's public key package as shares carry it (hex), made once
    /// per root rather than per share.
    package_hex: RwLock<HashMap<KeyType, String>>,
    /// Coordinators caught signing two different assignments for one
    /// request ([`equivocating_coordinator`]): they coordinate no more
    /// Schnorr requests at this node.
    liars: Mutex<std::collections::BTreeSet<u32>>,
    /// Signer side: nonces spent, waiting for their durable delete.
    spends: crate::group_commit::GroupCommit<(String, u64)>,
    /// Coordinator side: the assignment of each request id, made once by
    /// whichever asker comes first while later askers of the same request
    /// wait on it; requests never wait on each other.
    assignments: Mutex<HashMap<String, Arc<PendingAssignment>>>,
}

/// What a handed-out commitment is reserved for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Reservation {
    /// One request, by id.
    Request(String),
    /// A coordinator's stock ([`crate::schnorr_stock`]): the coordinator's
    /// index and the reservation's number.
    Stock(u32, u64),
}

/// The coordinator's assignment of one request: fixed to the binding and
/// scheme of its first asker, filled once its commitments are collected.
struct PendingAssignment {
    binding: String,
    scheme: &'static str,
    made: Instant,
    assignment: tokio::sync::OnceCell<SignedSchnorrAssignment>,
}

impl SchnorrState {
    /// Load the sealed roots and pools.
    pub(crate) fn load(store: &Store) -> anyhow::Result<Self> {
        use crate::node::frost_keygen::{share_from_bytes, ED25519_SECRET, K256TR_SECRET};
        let mut roots = FrostRoots::default();
        if let Some(b) = store.get_secret(ED25519_SECRET)? {
            roots.ed25519 = Some(share_from_bytes(&b)?);
        }
        if let Some(b) = store.get_secret(K256TR_SECRET)? {
            roots.k256_taproot = Some(share_from_bytes(&b)?);
        }
        if let Some(b) = store.get_secret(POOLS_SECRET)? {
            // The old blob's unused nonces are dropped (never used, so only
            // a refill is lost); ids go on after the ones it made.
            let old: FrostPools = serde_json::from_slice(&b)?;
            store.add_nonces(suite::<Ed25519Sha512>(), old.ed25519.made(), &[])?;
            store.add_nonces(suite::<Secp256K1Sha256TR>(), old.k256_taproot.made(), &[])?;
            store.delete_secret(POOLS_SECRET)?;
        }
        let pools = FrostPools {
            ed25519: load_pool(store)?,
            k256_taproot: load_pool(store)?,
        };
        Ok(SchnorrState {
            roots: RwLock::new(roots),
            pools: Mutex::new(pools),
            ..Default::default()
        })
    }

    fn roots(&self) -> std::sync::RwLockReadGuard<'_, FrostRoots> {
        self.roots.read().unwrap_or_else(|p| p.into_inner())
    }

    fn pools(&self) -> std::sync::MutexGuard<'_, FrostPools> {
        self.pools.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the root of suite `C` exists.
    pub(crate) fn has_root<C: NodeSuite>(&self) -> bool {
        C::root(&self.roots()).is_some()
    }

    /// Whether both roots exist.
    pub(crate) fn ready(&self) -> bool {
        self.roots().key_types().len() == 2
    }

    /// The root share of suite `C`.
    fn root<C: NodeSuite>(&self) -> Result<FrostKeyShare<C>, ApiError> {
        C::root(&self.roots()).cloned().ok_or_else(|| {
            ApiError::unavailable(
                "NodeNotReady",
                format!("{} root key not generated yet", C::KEY_TYPE),
            )
        })
    }

    /// Coordinators caught equivocating, ascending.
    fn liars(&self) -> Vec<u32> {
        self.liars
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .copied()
            .collect()
    }

    /// The public key package of suite `C`'s root as shares carry it
    /// (hex), made once per root.
    fn root_package_hex<C: NodeSuite>(&self) -> Result<String, ApiError> {
        let mut cache = self.package_hex.write().unwrap_or_else(|p| p.into_inner());
        if let Some(hex) = cache.get(&C::KEY_TYPE) {
            return Ok(hex.clone());
        }
        let hex = hex::encode(
            self.root::<C>()?
                .public_key_package
                .serialize()
                .map_err(ApiError::internal)?,
        );
        cache.insert(C::KEY_TYPE, hex.clone());
        Ok(hex)
    }

    /// Keep a newly generated root.
    pub(crate) fn set_root<C: NodeSuite>(&self, share: FrostKeyShare<C>) {
        // the cached package goes with the root it was made from
        let mut cache = self.package_hex.write().unwrap_or_else(|p| p.into_inner());
        *C::root_slot(&mut self.roots.write().unwrap_or_else(|p| p.into_inner())) = Some(share);
        cache.remove(&C::KEY_TYPE);
    }

    /// Install a refreshed root share of suite `C`: nonces made under the
    /// old share and not reserved for a request in flight are discarded
    /// (taken, durably), and the pool is refilled under the new share.
    pub(crate) fn replace_root<C: NodeSuite>(
        &self,
        share: FrostKeyShare<C>,
        store: &Store,
    ) -> Result<(), ApiError> {
        let mut pools = self.pools();
        let mut spent = Vec::new();
        {
            let reserved = self.reserved.lock().unwrap_or_else(|p| p.into_inner());
            let pool = C::pool(&mut pools);
            for id in pool.unused_ids() {
                if !reserved
                    .iter()
                    .any(|((k, _), (r, _))| *k == C::KEY_TYPE && *r == id)
                    && pool.mark_used(id).is_ok()
                {
                    spent.push((suite::<C>().to_string(), id));
                }
            }
        }
        self.set_root(share.clone());
        // a coordinator's stock of the old sharing goes too
        self.stock.clear(C::KEY_TYPE);
        store.spend_nonces(&spent).map_err(ApiError::internal)?;
        refill_locked::<C>(&mut pools, &share, store)
    }

    /// The root share of suite `C`, if generated.
    pub(crate) fn root_share<C: NodeSuite>(&self) -> Option<FrostKeyShare<C>> {
        C::root(&self.roots()).cloned()
    }

    /// The root public keys (chain encoding, hex): Ed25519, taproot.
    pub(crate) fn public_keys(&self) -> (Option<String>, Option<String>) {
        let roots = self.roots();
        let key = |s: SigningScheme| {
            roots
                .public_key(s, candela_frost::roots::Derivation::Root)
                .ok()
                .map(hex::encode)
        };
        (
            key(SigningScheme::SchnorrEd25519Sha512),
            key(SigningScheme::SchnorrK256Taproot),
        )
    }

    /// The root verifying keys as frost serializes them, hex, by key type.
    pub(crate) fn root_verifying_keys(&self) -> BTreeMap<String, String> {
        fn one<C: NodeSuite>(roots: &FrostRoots) -> Option<(String, String)> {
            let root = C::root(roots)?;
            let bytes = root.public_key_package.verifying_key().serialize().ok()?;
            Some((C::KEY_TYPE.as_str().to_string(), hex::encode(bytes)))
        }
        let roots = self.roots();
        one::<Ed25519Sha512>(&roots)
            .into_iter()
            .chain(one::<Secp256K1Sha256TR>(&roots))
            .collect()
    }

    /// Unused and used nonces, both suites.
    pub(crate) fn nonce_counts(&self) -> (u64, u64) {
        let p = self.pools();
        (
            (p.ed25519.len() + p.k256_taproot.len()) as u64,
            p.ed25519.used() + p.k256_taproot.used(),
        )
    }

    /// Refill the pool of `C` when it runs low, and store it.
    pub(crate) fn refill<C: NodeSuite>(&self, store: &Store) -> Result<(), ApiError> {
        let root = self.root::<C>()?;
        let mut pools = self.pools();
        refill_locked::<C>(&mut pools, &root, store)
    }

    /// Signer: a commitment for a request (the same one when asked again),
    /// reserved so that no other request is handed it meanwhile.
    fn commit<C: NodeSuite>(
        &self,
        me: u32,
        request_id: &str,
        store: &Store,
    ) -> Result<SchnorrCommitmentWire, ApiError> {
        self.reserve::<C>(me, Reservation::Request(request_id.to_string()), store)
    }

    /// Signer: up to `count` commitments reserved for `coordinator`'s
    /// stock, within [`crate::schnorr_stock::STOCK_PER_COORDINATOR`] held
    /// for it at once.
    fn commit_stock<C: NodeSuite>(
        &self,
        me: u32,
        coordinator: u32,
        count: usize,
        store: &Store,
    ) -> Result<Vec<SchnorrCommitmentWire>, ApiError> {
        let held = {
            let mut pools = self.pools();
            let reserved = self.reserved.lock().unwrap_or_else(|p| p.into_inner());
            let pool = C::pool(&mut pools);
            reserved
                .iter()
                .filter(|((k, r), (id, at))| {
                    *k == C::KEY_TYPE
                        && matches!(r, Reservation::Stock(c, _) if *c == coordinator)
                        && at.elapsed() < RESERVATION
                        && !pool.is_used(*id)
                })
                .count()
        };
        let count = count.min(crate::schnorr_stock::STOCK_PER_COORDINATOR.saturating_sub(held));
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            let seq = self
                .stock_seq
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            match self.reserve::<C>(me, Reservation::Stock(coordinator, seq), store) {
                Ok(c) => out.push(c),
                // what could be reserved goes; the coordinator asks again
                Err(e) if out.is_empty() => return Err(e),
                Err(_) => break,
            }
        }
        Ok(out)
    }

    /// Signer: the commitment reserved for `reservation` (the same one when
    /// asked again), reserved so that no one else is handed it meanwhile.
    fn reserve<C: NodeSuite>(
        &self,
        me: u32,
        reservation: Reservation,
        store: &Store,
    ) -> Result<SchnorrCommitmentWire, ApiError> {
        let root = self.root::<C>()?;
        let mut pools = self.pools();
        refill_locked::<C>(&mut pools, &root, store)?;
        let mut reserved = self.reserved.lock().unwrap_or_else(|p| p.into_inner());
        {
            let pool = C::pool(&mut pools);
            reserved.retain(|(k, _), (id, at)| {
                *k != C::KEY_TYPE || (at.elapsed() < RESERVATION && !pool.is_used(*id))
            });
        }
        let key = (C::KEY_TYPE, reservation);
        let id = match reserved.get(&key) {
            Some((id, _)) => *id,
            None => {
                let taken: std::collections::BTreeSet<u64> = reserved
                    .iter()
                    .filter(|((k, _), _)| *k == C::KEY_TYPE)
                    .map(|(_, (id, _))| *id)
                    .collect();
                let handable = |id: &u64| !taken.contains(id);
                // Under load most unused nonces can be reserved by requests
                // in flight: make more rather than refuse (nonces are cheap),
                // up to a bound on the pool's size.
                let free = |pool: &CommitmentPool<C>| {
                    pool.unused_ids().into_iter().filter(handable).count()
                };
                if free(C::pool(&mut pools)) < POOL_LOW
                    && C::pool(&mut pools).len() + POOL_TARGET <= POOL_MAX
                {
                    grow(C::pool(&mut pools), &root, POOL_TARGET, store)?;
                }
                let pool = C::pool(&mut pools);
                let id = pool
                    .unused_ids()
                    .into_iter()
                    .find(handable)
                    .ok_or_else(|| {
                        ApiError::unavailable(
                            "NodeNoncePoolEmpty",
                            "every Schnorr nonce is reserved; try again shortly",
                        )
                    })?;
                reserved.insert(key, (id, Instant::now()));
                id
            }
        };
        let c = C::pool(&mut pools).commitments(id).ok_or_else(|| {
            ApiError::conflict("NodeNonceUsed", format!("commitment {id} was already used"))
        })?;
        Ok(SchnorrCommitmentWire {
            node: me,
            id,
            commitments: hex::encode(c.serialize().map_err(ApiError::internal)?),
        })
    }

    /// Signer: take the nonces of commitment `id` (which must be the
    /// published `commitments`) out of the pool. They may sign only once
    /// [`SchnorrState::spend`] made that durable.
    fn take_nonces<C: NodeSuite>(
        &self,
        id: u64,
        commitments: &str,
    ) -> Result<SigningNonces<C>, ApiError> {
        let mut pools = self.pools();
        let pool = C::pool(&mut pools);
        let mine = pool
            .commitments(id)
            .map(|c| c.serialize().map(hex::encode))
            .transpose()
            .map_err(ApiError::internal)?;
        match mine {
            Some(m) if m == commitments => {}
            Some(_) => {
                return Err(ApiError::conflict(
                    "NodeAssignmentRefused",
                    format!("the assignment lists another commitment {id} than this node made"),
                ))
            }
            None => {
                return Err(ApiError::conflict(
                    "NodeNonceUsed",
                    format!(
                        "commitment {id} was already used or never made here; \
                         retry with a new request id"
                    ),
                ))
            }
        }
        pool.take(id)
            .map_err(|e| ApiError::conflict("NodeNonceUsed", e.to_string()))
    }

    /// Signer: make the spending of nonce `id` of suite `C` durable, with
    /// `write` deleting a batch of spent nonces (see [`crate::group_commit`]).
    async fn spend<C, F, Fut>(&self, id: u64, write: F) -> Result<(), ApiError>
    where
        C: NodeSuite,
        F: Fn(Vec<(String, u64)>) -> Fut,
        Fut: std::future::Future<Output = Result<(), String>>,
    {
        self.spends
            .commit((suite::<C>().to_string(), id), write)
            .await
            .map_err(|e| ApiError::internal(format!("storing a spent nonce: {e}")))
    }
}

/// The store's name of suite `C`'s nonces.
fn suite<C: NodeSuite>() -> &'static str {
    C::KEY_TYPE.as_str()
}

/// Suite `C`'s pool at start: the ids go on after the stored ones, and
/// every stored unused nonce is deleted (durably) first. A nonce never
/// outlives the process that made it: this one cannot know which of them
/// its predecessor handed out, and a disk restored from an old copy brings
/// back nonces that have signed since (a second signature with one nonce
/// over another message gives away the share).
fn load_pool<C: NodeSuite>(store: &Store) -> anyhow::Result<CommitmentPool<C>> {
    let next_id = store.discard_nonces(suite::<C>())?;
    Ok(CommitmentPool::from_parts(next_id, Vec::new()))
}

/// Make `count` nonces, store them (sealed rows, `synchronous=FULL`), then
/// add them to the pool.
fn grow<C: NodeSuite>(
    pool: &mut CommitmentPool<C>,
    root: &FrostKeyShare<C>,
    count: usize,
    store: &Store,
) -> Result<(), ApiError> {
    let first = pool.made();
    let (nonces, _public) = make_commitments(root, first, count, &mut rand_core::OsRng);
    let rows = nonces
        .iter()
        .map(|(id, n)| n.serialize().map(|b| (*id, Zeroizing::new(b))))
        .collect::<Result<Vec<_>, _>>()
        .map_err(ApiError::internal)?;
    store
        .add_nonces(suite::<C>(), first + count as u64, &rows)
        .map_err(ApiError::internal)?;
    pool.extend(nonces);
    Ok(())
}

fn refill_locked<C: NodeSuite>(
    pools: &mut FrostPools,
    root: &FrostKeyShare<C>,
    store: &Store,
) -> Result<(), ApiError> {
    let pool = C::pool(pools);
    if pool.len() >= POOL_LOW {
        return Ok(());
    }
    let count = POOL_TARGET - pool.len();
    grow(pool, root, count, store)
}

/// A message other than `message` with the same length (tests only:
/// [`Misbehaviour::BadSchnorrShare`]).
fn other_message(message: &[u8]) -> Vec<u8> {
    let mut m = message.to_vec();
    match m.first_mut() {
        Some(b) => *b ^= 0x01,
        None => m.push(0),
    }
    m
}

impl Node {
    /// `POST /web/pkp/sign/v1` with a Schnorr `signingScheme`: the same
    /// permission check as ECDSA, then this node's FROST share.
    pub(crate) async fn pkp_sign_schnorr(
        self: &Arc<Self>,
        request_id: &str,
        scheme: SigningScheme,
        req: PkpSignRequest,
    ) -> Result<SchnorrSignResponse, ApiError> {
        scheme.check_message(&req.to_sign).map_err(frost_error)?;
        let pkp = self.authorised_pkp(&req).await?;
        crate::scheme_signing::check_pkp_key_type(scheme, &pkp)
            .map_err(|e| ApiError::bad_request("NodeWrongKeyType", e.to_string()))?;
        self.claim_request(request_id, "pkp-sign")?;
        self.sign_share_schnorr(request_id, scheme, &pkp.key_id, &req.to_sign)
            .await
    }

    /// This node's FROST share of a signature of `message` by the key that
    /// `key_id` derives for `scheme`, for a unique, already authorised
    /// `request_id` (the Schnorr counterpart of `sign_share`, for
    /// `pkp/sign` and the action host). A node outside the signing set
    /// answers an empty share. Refuses (400) schemes that are not FROST's
    /// and messages the scheme does not sign.
    pub async fn sign_share_schnorr(
        self: &Arc<Self>,
        request_id: &str,
        scheme: SigningScheme,
        key_id: &[u8],
        message: &[u8],
    ) -> Result<SchnorrSignResponse, ApiError> {
        self.sign_share_schnorr_from(request_id, scheme, KeySource::Pkp(key_id), message)
            .await
    }

    /// [`Node::sign_share_schnorr`] for the key of `source`: a PKP's, or a
    /// Lit Action's own identity key (`signAsAction`).
    pub(crate) async fn sign_share_schnorr_from(
        self: &Arc<Self>,
        request_id: &str,
        scheme: SigningScheme,
        source: KeySource<'_>,
        message: &[u8],
    ) -> Result<SchnorrSignResponse, ApiError> {
        match scheme {
            SigningScheme::SchnorrEd25519Sha512 => self
                .frost_share::<Ed25519Sha512>(request_id, source, message)
                .await
                .map(|(answer, _)| answer),
            SigningScheme::SchnorrK256Taproot => self
                .frost_share::<Secp256K1Sha256TR>(request_id, source, message)
                .await
                .map(|(answer, _)| answer),
            other => Err(ApiError::bad_request(
                "NodeUnsupportedSigningScheme",
                format!("{other} is not a Schnorr scheme; expected SchnorrEd25519Sha512 or SchnorrK256Taproot"),
            )),
        }
    }

    /// This node's share (see [`Node::sign_share_schnorr_from`]) and what
    /// [`Node::combine_frost`] reuses of it.
    pub(crate) async fn frost_share<C: NodeSuite>(
        self: &Arc<Self>,
        request_id: &str,
        source: KeySource<'_>,
        message: &[u8],
    ) -> Result<(SchnorrSignResponse, FrostRequest<C>), ApiError> {
        C::SCHEME.check_message(message).map_err(frost_error)?;
        let root = self.schnorr.root::<C>()?;
        let tweak = source.frost_tweak::<C>().map_err(frost_error)?;
        let key_id = source.key_id();
        let public = tweak.public_key_package(&root.public_key_package);
        let public_key = C::public_key_bytes(public.verifying_key()).map_err(frost_error)?;
        let binding = schnorr_binding(C::SCHEME.as_str(), &public_key, message);
        let a = self
            .schnorr_assignment(request_id, C::SCHEME, &binding)
            .await?;
        let mut decoded = None;
        let share = match a.commitments.iter().find(|c| c.node == self.me) {
            None => String::new(),
            Some(mine) => {
                let commitments = decoded.insert(decode_commitments::<C>(&a)?);
                let nonces = self.schnorr.take_nonces::<C>(mine.id, &mine.commitments)?;
                self.schnorr
                    .spend::<C, _, _>(mine.id, |batch| {
                        let node = Arc::clone(self);
                        async move {
                            crate::node::blocking(move || node.store.spend_nonces(&batch))
                                .await
                                .map_err(|e| e.message)?
                                .map_err(|e| e.to_string())
                        }
                    })
                    .await?;
                let signed = match self.cfg.misbehave {
                    Some(Misbehaviour::BadSchnorrShare) => other_message(message),
                    _ => message.to_vec(),
                };
                let package = signing_package(commitments, &signed).map_err(frost_error)?;
                let share = sign_share(&root, &tweak, &nonces, &package).map_err(frost_error)?;
                hex::encode(share.serialize())
            }
        };
        let answer = SchnorrSignResponse {
            success: true,
            signature_share: SchnorrShareWire {
                signing_scheme: C::SCHEME.as_str().into(),
                share_index: self.me,
                signature_share: share,
                public_key: hex::encode(&public_key),
                message: hex::encode(message),
                key_id: hex::encode(&key_id),
                root_public_key_package: self.schnorr.root_package_hex::<C>()?,
            },
            assignment: a,
        };
        Ok((
            answer,
            FrostRequest {
                public,
                commitments: decoded,
            },
        ))
    }

    /// Ask the coordinators (live, not excluded), in index order, for the
    /// request's assignment and check what comes back.
    async fn schnorr_assignment(
        self: &Arc<Self>,
        request_id: &str,
        scheme: SigningScheme,
        binding: &str,
    ) -> Result<SignedSchnorrAssignment, ApiError> {
        let live = self.live_set();
        let mut exclude = self.excluded_for(request_id);
        for liar in self.schnorr.liars() {
            if !exclude.contains(&liar) {
                exclude.push(liar);
            }
        }
        let candidates: Vec<u32> = self
            .committee()
            .into_iter()
            .filter(|c| live.contains(c))
            .collect();
        let preferred: Vec<u32> = candidates
            .iter()
            .copied()
            .filter(|c| !exclude.contains(c))
            .collect();
        let order = if preferred.is_empty() {
            candidates
        } else {
            preferred
        };
        let mut last = ApiError::unavailable("NodeNoCoordinator", "no coordinator reachable");
        for c in order {
            let a = if c == self.me {
                self.schnorr_assign_local(request_id, scheme.as_str(), &exclude, binding)
                    .await?
            } else {
                let body = PeerBody::SchnorrAssign {
                    request_id: request_id.to_string(),
                    scheme: scheme.as_str().to_string(),
                    exclude: exclude.clone(),
                    binding: binding.to_string(),
                };
                let wait = Duration::from_millis(self.cfg.peer_timeout_ms * 3);
                match self.post_peer_within(c, &body, wait).await {
                    Ok(r) if r.status().is_success() => {
                        r.json::<SignedSchnorrAssignment>().await.map_err(|e| {
                            ApiError::unavailable("NodeNoCoordinator", e.to_string())
                        })?
                    }
                    Ok(r) => {
                        let status = r.status();
                        let text = r.text().await.unwrap_or_default();
                        return Err(ApiError::from_peer(status.as_u16(), &text));
                    }
                    Err(e) => {
                        last = ApiError::unavailable(
                            "NodeNoCoordinator",
                            format!("coordinator {c} unreachable: {e}"),
                        );
                        continue;
                    }
                }
            };
            let refuse = |why: String| ApiError::conflict("NodeAssignmentRefused", why);
            if a.coordinator != c {
                return Err(refuse(format!(
                    "coordinator {c} answered an assignment signed as {}",
                    a.coordinator
                )));
            }
            if a.signing_scheme != scheme.as_str() {
                return Err(refuse(format!(
                    "coordinator {c} assigned a {} request, not {scheme}",
                    a.signing_scheme
                )));
            }
            a.verify(&self.identity_keys(), self.threshold())
                .and_then(|()| a.check_request(request_id, binding))
                .map_err(|e| refuse(format!("{e}; retry with a new request id")))?;
            return Ok(a);
        }
        Err(last)
    }

    /// As coordinator: fix (or look up) the signers and commitments of a
    /// request bound to `binding`, and sign the assignment.
    pub(crate) async fn schnorr_assign_local(
        self: &Arc<Self>,
        request_id: &str,
        scheme: &str,
        exclude: &[u32],
        binding: &str,
    ) -> Result<SignedSchnorrAssignment, ApiError> {
        let scheme = match scheme.parse::<SigningScheme>() {
            Ok(s) if s.is_frost() => s,
            _ => {
                return Err(ApiError::bad_request(
                    "PeerMessageRefused",
                    format!("{scheme:?} is not a Schnorr scheme"),
                ))
            }
        };
        // Tests only: a lying coordinator makes every asker a fresh choice.
        let record_as = match self.cfg.misbehave {
            Some(Misbehaviour::LyingCoordinator) => format!(
                "{request_id}#lie-{}",
                rand_core::RngCore::next_u64(&mut rand_core::OsRng)
            ),
            _ => request_id.to_string(),
        };
        let pending = {
            let mut all = self
                .schnorr
                .assignments
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            // forget old assignments now and then, not on every request
            if all.len() % 256 == 255 {
                all.retain(|_, p| p.made.elapsed() < ASSIGNMENT_TTL);
            }
            Arc::clone(all.entry(record_as.clone()).or_insert_with(|| {
                Arc::new(PendingAssignment {
                    binding: binding.to_string(),
                    scheme: scheme.as_str(),
                    made: Instant::now(),
                    assignment: tokio::sync::OnceCell::new(),
                })
            }))
        };
        if pending.binding != binding || pending.scheme != scheme.as_str() {
            return Err(ApiError::conflict(
                "NodeAssignmentConflict",
                format!(
                    "request {request_id} is already assigned to another key, message or scheme; \
                     retry with a new request id"
                ),
            ));
        }
        pending
            .assignment
            .get_or_try_init(|| {
                self.collect_assignment(request_id, &record_as, scheme, exclude, binding)
            })
            .await
            .cloned()
    }

    /// As coordinator: ask `t` live signers (those not excluded first) for a
    /// commitment each (from the stock, or reserved for `reserve_as`, the
    /// request id but for a lying coordinator in tests) and sign the list
    /// with the request's binding.
    async fn collect_assignment(
        self: &Arc<Self>,
        request_id: &str,
        reserve_as: &str,
        scheme: SigningScheme,
        exclude: &[u32],
        binding: &str,
    ) -> Result<SignedSchnorrAssignment, ApiError> {
        let participants = match scheme {
            SigningScheme::SchnorrEd25519Sha512 => {
                self.schnorr.root::<Ed25519Sha512>()?.participants
            }
            _ => self.schnorr.root::<Secp256K1Sha256TR>()?.participants,
        };
        let live = self.live_set();
        let t = self.threshold();
        // Live nodes not excluded first, then live excluded ones (only when
        // too few honest-looking nodes are left).
        let mut order: Vec<u32> = participants
            .iter()
            .copied()
            .filter(|p| live.contains(p) && !exclude.contains(p))
            .collect();
        order.extend(
            participants
                .iter()
                .copied()
                .filter(|p| live.contains(p) && exclude.contains(p)),
        );
        let mut got: Vec<SchnorrCommitmentWire> = Vec::new();
        let mut next = 0;
        while got.len() < t && next < order.len() {
            let want = (t - got.len()).min(order.len() - next);
            let batch: Vec<u32> = order[next..next + want].to_vec();
            next += want;
            let mut calls = tokio::task::JoinSet::new();
            for p in batch {
                // (a lying coordinator, in tests, reserves fresh commitments
                // for each of its choices, so that they differ)
                if reserve_as == request_id {
                    if let Some(c) = self.stocked_commitment(scheme, p) {
                        got.push(c);
                        continue;
                    }
                }
                let node = Arc::clone(self);
                let rid = reserve_as.to_string();
                calls.spawn(async move { node.commitment_from(p, &rid, scheme).await });
            }
            while let Some(r) = calls.join_next().await {
                match r {
                    Ok(Ok(c)) => got.push(c),
                    Ok(Err(e)) => tracing::debug!(error = %e.message, "no commitment"),
                    Err(_) => {}
                }
            }
        }
        if got.len() < t {
            return Err(ApiError::unavailable(
                "NodeTooFewLiveNodes",
                format!(
                    "only {} of the {t} signers needed gave a Schnorr commitment; try again shortly",
                    got.len()
                ),
            ));
        }
        got.sort_by_key(|c| c.node);
        Ok(SignedSchnorrAssignment::sign(
            request_id,
            scheme.as_str(),
            got,
            binding,
            self.me,
            &self.identity.signing,
        ))
    }

    /// A signer's commitment for a request: this node's own, or asked of
    /// the peer; a peer's answer must name the peer.
    async fn commitment_from(
        self: &Arc<Self>,
        node: u32,
        request_id: &str,
        scheme: SigningScheme,
    ) -> Result<SchnorrCommitmentWire, ApiError> {
        if node == self.me {
            return self.schnorr_commit(request_id, scheme.as_str());
        }
        let body = PeerBody::SchnorrCommit {
            request_id: request_id.to_string(),
            scheme: scheme.as_str().to_string(),
        };
        let c: SchnorrCommitmentWire = self.ask_peer(node, &body, "NodeNoCommitment").await?;
        if c.node != node {
            return Err(ApiError::unavailable(
                "NodeNoCommitment",
                format!("node {node} answered a commitment of node {}", c.node),
            ));
        }
        Ok(c)
    }

    /// As coordinator: a commitment of signer `p` from the stock it
    /// reserved for this node, if one is there; a low stock is refilled in
    /// the background. This node's own commitments are not stocked.
    fn stocked_commitment(
        self: &Arc<Self>,
        scheme: SigningScheme,
        p: u32,
    ) -> Option<SchnorrCommitmentWire> {
        if p == self.me {
            return None;
        }
        let key_type = scheme.key_type();
        let stock = &self.schnorr.stock;
        let c = stock.take(key_type, p, Instant::now(), |at| {
            self.restarted_since(p, at)
        });
        if stock.begin_refill(key_type, p) {
            let node = Arc::clone(self);
            tokio::spawn(async move {
                if let Err(e) = node.restock(scheme, p).await {
                    tracing::debug!(signer = p, error = %e.message, "no commitment stock");
                }
                node.schnorr.stock.end_refill(key_type, p);
            });
        }
        c
    }

    /// As coordinator: ask signer `p` for a batch of commitments reserved
    /// for this node ([`PeerBody::SchnorrCommitBatch`]) and stock them.
    async fn restock(&self, scheme: SigningScheme, p: u32) -> Result<(), ApiError> {
        let body = PeerBody::SchnorrCommitBatch {
            scheme: scheme.as_str().to_string(),
            count: crate::schnorr_stock::STOCK_BATCH as u32,
        };
        let batch: Vec<SchnorrCommitmentWire> = self.ask_peer(p, &body, "NodeNoCommitment").await?;
        // only the signer's own commitments, each once
        let mut seen = std::collections::HashSet::new();
        let batch: Vec<_> = batch
            .into_iter()
            .filter(|c| c.node == p && seen.insert(c.id))
            .take(crate::schnorr_stock::STOCK_PER_COORDINATOR)
            .collect();
        self.schnorr
            .stock
            .add(scheme.key_type(), p, batch, Instant::now());
        Ok(())
    }

    /// Answer a coordinator's [`PeerBody::SchnorrCommitBatch`]: commitments
    /// reserved for `coordinator`'s stock.
    pub(crate) fn schnorr_commit_batch(
        &self,
        coordinator: u32,
        scheme: &str,
        count: u32,
    ) -> Result<Vec<SchnorrCommitmentWire>, ApiError> {
        let count = (count as usize).min(crate::schnorr_stock::STOCK_BATCH);
        match scheme.parse::<SigningScheme>() {
            Ok(SigningScheme::SchnorrEd25519Sha512) => {
                self.schnorr
                    .commit_stock::<Ed25519Sha512>(self.me, coordinator, count, &self.store)
            }
            Ok(SigningScheme::SchnorrK256Taproot) => self
                .schnorr
                .commit_stock::<Secp256K1Sha256TR>(self.me, coordinator, count, &self.store),
            _ => Err(ApiError::bad_request(
                "PeerMessageRefused",
                format!("{scheme:?} is not a Schnorr scheme"),
            )),
        }
    }

    /// Answer a coordinator's [`PeerBody::SchnorrCommit`].
    pub(crate) fn schnorr_commit(
        &self,
        request_id: &str,
        scheme: &str,
    ) -> Result<SchnorrCommitmentWire, ApiError> {
        match scheme.parse::<SigningScheme>() {
            Ok(SigningScheme::SchnorrEd25519Sha512) => {
                self.schnorr
                    .commit::<Ed25519Sha512>(self.me, request_id, &self.store)
            }
            Ok(SigningScheme::SchnorrK256Taproot) => {
                self.schnorr
                    .commit::<Secp256K1Sha256TR>(self.me, request_id, &self.store)
            }
            _ => Err(ApiError::bad_request(
                "PeerMessageRefused",
                format!("{scheme:?} is not a Schnorr scheme"),
            )),
        }
    }
}

impl Node {
    /// The public key of `source` for the FROST suite `C`, in the chain's
    /// encoding (Ed25519: 32 bytes; taproot: the x-only output key).
    pub(crate) fn frost_public_key<C: NodeSuite>(
        &self,
        source: KeySource<'_>,
    ) -> Result<(Vec<u8>, candela_frost::frost_core::VerifyingKey<C>), ApiError> {
        let root = self.schnorr.root::<C>()?;
        let tweak = source.frost_tweak::<C>().map_err(frost_error)?;
        let key = tweak.verifying_key(&root.public_key_package);
        let bytes = tweak
            .public_key_bytes(&root.public_key_package)
            .map_err(frost_error)?;
        Ok((bytes, key))
    }

    /// Remember that `liar` signed two different assignments for one
    /// request (the proof is both signatures), and say so once.
    fn coordinator_lied(&self, liar: u32) {
        let new = self
            .schnorr
            .liars
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(liar);
        if new {
            tracing::warn!(
                coordinator = liar,
                "coordinator signed two different assignments for one request; \
                 it coordinates no more Schnorr requests here"
            );
        }
    }

    /// Combine the signers' shares of one request into a signature, at a
    /// node (the action host's `signAndCombine` / `signAsAction`). `mine`
    /// is the assignment this node checked; `answers` are every node's
    /// (assignment, share) by sender. A signer that followed another
    /// assignment, or whose share fails, is named in the error.
    pub(crate) fn combine_frost<C: NodeSuite>(
        &self,
        mine: &SignedSchnorrAssignment,
        prepared: FrostRequest<C>,
        message: &[u8],
        answers: &BTreeMap<u32, (SignedSchnorrAssignment, String)>,
    ) -> Result<(Vec<u8>, Vec<u8>), ApiError> {
        let public = prepared.public;
        let commitments = match prepared.commitments {
            Some(c) => c,
            None => decode_commitments::<C>(mine)?,
        };
        let package = signing_package(&commitments, message).map_err(frost_error)?;
        let refuse = |why: String| ApiError::conflict("NodeShareRefused", why);
        // Any node's answer may prove the coordinator equivocated: every
        // node that combines learns it in the same request.
        let keys = self.identity_keys();
        if let Some(liar) = answers
            .values()
            .find_map(|(theirs, _)| equivocating_coordinator(mine, theirs, &keys, self.threshold()))
        {
            self.coordinator_lied(liar);
        }
        let mut shares = BTreeMap::new();
        for signer in mine.signers() {
            let (theirs, share) = answers
                .get(&signer)
                .ok_or_else(|| refuse(format!("signer {signer} sent no share in time")))?;
            if theirs != mine {
                return Err(
                    match equivocating_coordinator(mine, theirs, &keys, self.threshold()) {
                        Some(liar) => refuse(format!(
                            "coordinator {liar} gave signer {signer} another assignment \
                                 for this request (both signed by it); it coordinates no more \
                                 requests here"
                        )),
                        None => refuse(format!(
                            "node {signer} sent an assignment its coordinator did not sign \
                             for this request"
                        )),
                    },
                );
            }
            let share = hex::decode(share)
                .ok()
                .and_then(|b| {
                    candela_frost::frost_core::round2::SignatureShare::<C>::deserialize(&b).ok()
                })
                .ok_or_else(|| refuse(format!("node {signer} sent an unreadable Schnorr share")))?;
            shares.insert(signer, share);
        }
        let signature =
            candela_frost::aggregate(&package, &shares, &public).map_err(|e| match e {
                FrostError::BadShare { party } => refuse(format!(
                    "node {party} sent an invalid Schnorr signature share"
                )),
                other => frost_error(other),
            })?;
        let key = C::public_key_bytes(public.verifying_key()).map_err(frost_error)?;
        Ok((signature, key))
    }
}

/// The assignment's commitments, decoded, by signer.
fn decode_commitments<C: Suite>(
    a: &SignedSchnorrAssignment,
) -> Result<BTreeMap<u32, SigningCommitments<C>>, ApiError> {
    a.commitments
        .iter()
        .map(|c| {
            let bytes = hex::decode(&c.commitments)
                .map_err(|e| ApiError::conflict("NodeAssignmentRefused", e.to_string()))?;
            let sc = SigningCommitments::<C>::deserialize(&bytes).map_err(|e| {
                ApiError::conflict(
                    "NodeAssignmentRefused",
                    format!("commitment of node {}: {e}", c.node),
                )
            })?;
            Ok((c.node, sc))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_scheme_is_ecdsa_and_the_schnorr_schemes_are_served() {
        assert_eq!(
            requested_scheme(None).unwrap(),
            SigningScheme::EcdsaK256Sha256
        );
        for s in [
            "EcdsaK256Sha256",
            "SchnorrEd25519Sha512",
            "SchnorrK256Taproot",
        ] {
            assert_eq!(requested_scheme(Some(s)).unwrap().as_str(), s);
        }
    }

    #[test]
    fn unknown_and_unserved_schemes_are_refused_naming_what_is_served() {
        for (s, code) in [
            ("Schnorr", "NodeInvalidSigningScheme"),
            (
                "Bls12381G1ProofOfPossession",
                "NodeUnsupportedSigningScheme",
            ),
            ("SchnorrP256Sha256", "NodeUnsupportedSigningScheme"),
        ] {
            let e = requested_scheme(Some(s)).unwrap_err();
            assert_eq!(e.code, code);
            assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST);
            assert!(e.message.contains(SERVED), "{}", e.message);
        }
    }

    #[test]
    fn a_misbehaving_message_differs_and_keeps_its_length() {
        assert_ne!(other_message(&[0u8; 32]), vec![0u8; 32]);
        assert_eq!(other_message(&[0u8; 32]).len(), 32);
        assert_ne!(other_message(b""), b"".to_vec());
    }

    fn temp_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.sqlite"), &[9u8; 32]).unwrap();
        (dir, store)
    }

    /// Take and durably spend, as `frost_share` does.
    async fn take_and_spend<C: NodeSuite>(
        state: &SchnorrState,
        c: &SchnorrCommitmentWire,
        store: &Store,
    ) -> Result<SigningNonces<C>, ApiError> {
        let nonces = state.take_nonces::<C>(c.id, &c.commitments)?;
        state
            .spend::<C, _, _>(c.id, |batch| async move {
                store.spend_nonces(&batch).map_err(|e| e.to_string())
            })
            .await?;
        Ok(nonces)
    }

    #[tokio::test]
    async fn a_taken_nonce_stays_used_after_the_pools_are_loaded_again() {
        let (_dir, store) = temp_store();
        let shares =
            candela_frost::sim::keygen::<Ed25519Sha512, _>(3, 2, &mut rand_core::OsRng).unwrap();
        let state = SchnorrState::default();
        state.set_root(shares[&0].clone());
        let c = state.commit::<Ed25519Sha512>(0, "r1", &store).unwrap();
        // asked again for the same request: the same commitment
        assert_eq!(state.commit::<Ed25519Sha512>(0, "r1", &store).unwrap(), c);
        // another request gets another one
        let other = state.commit::<Ed25519Sha512>(0, "r2", &store).unwrap();
        assert_ne!(other.id, c.id);
        take_and_spend::<Ed25519Sha512>(&state, &c, &store)
            .await
            .unwrap();
        // taken twice in one life: refused
        let e = take_and_spend::<Ed25519Sha512>(&state, &c, &store)
            .await
            .unwrap_err();
        assert_eq!(e.code, "NodeNonceUsed");
        // a restart: the store says the nonce is used, the others are kept
        let again = SchnorrState::load(&store).unwrap();
        again.set_root(shares[&0].clone());
        let e = take_and_spend::<Ed25519Sha512>(&again, &c, &store)
            .await
            .unwrap_err();
        assert_eq!(e.code, "NodeNonceUsed");
        // a nonce never outlives its process: one handed out but unused
        // before the restart does not sign after it
        let e = take_and_spend::<Ed25519Sha512>(&again, &other, &store)
            .await
            .unwrap_err();
        assert_eq!(e.code, "NodeNonceUsed");
        assert_eq!(
            again.nonce_counts().0,
            0,
            "no nonce of the earlier run is kept"
        );
        // and the used commitments are never handed out again
        let next = again.commit::<Ed25519Sha512>(0, "r3", &store).unwrap();
        assert!(next.id != c.id && next.id != other.id);
    }

    #[test]
    fn a_store_from_before_nonce_rows_goes_on_after_its_ids_and_drops_its_nonces() {
        let (_dir, store) = temp_store();
        let shares =
            candela_frost::sim::keygen::<Ed25519Sha512, _>(3, 2, &mut rand_core::OsRng).unwrap();
        let mut old = FrostPools::default();
        let published = old.ed25519.refill(&shares[&0], 5, &mut rand_core::OsRng);
        store
            .put_secret(POOLS_SECRET, &serde_json::to_vec(&old).unwrap())
            .unwrap();
        let state = SchnorrState::load(&store).unwrap();
        assert!(store.get_secret(POOLS_SECRET).unwrap().is_none());
        state.set_root(shares[&0].clone());
        for p in &published {
            let hex_c = hex::encode(p.commitments.serialize().unwrap());
            assert!(state.take_nonces::<Ed25519Sha512>(p.id, &hex_c).is_err());
        }
        let c = state.commit::<Ed25519Sha512>(0, "r", &store).unwrap();
        assert!(c.id >= 5, "id {} was made before", c.id);
    }

    #[test]
    fn many_requests_in_flight_holding_nonces_make_more_instead_of_refusing_the_next() {
        let (_dir, store) = temp_store();
        let shares =
            candela_frost::sim::keygen::<Ed25519Sha512, _>(3, 2, &mut rand_core::OsRng).unwrap();
        let state = SchnorrState::default();
        state.set_root(shares[&0].clone());
        // Three times the pool's target of requests reserve a nonce each and
        // none has signed yet: every one still gets its own commitment.
        let mut ids = std::collections::BTreeSet::new();
        for i in 0..3 * POOL_TARGET {
            let c = state
                .commit::<Ed25519Sha512>(0, &format!("r{i}"), &store)
                .unwrap_or_else(|e| panic!("request {i}: {}", e.message));
            assert!(ids.insert(c.id), "request {i} got a reserved nonce");
        }
        // Reservations of the other suite are not disturbed by this one's.
        let tr = candela_frost::sim::keygen::<Secp256K1Sha256TR, _>(3, 2, &mut rand_core::OsRng)
            .unwrap();
        state.set_root(tr[&0].clone());
        let t = state.commit::<Secp256K1Sha256TR>(0, "t", &store).unwrap();
        assert_eq!(
            state.commit::<Secp256K1Sha256TR>(0, "t", &store).unwrap(),
            t
        );
        let again = state.commit::<Ed25519Sha512>(0, "r0", &store).unwrap();
        assert!(ids.contains(&again.id), "a request keeps its reservation");
    }

    #[test]
    fn a_commitment_other_than_the_one_made_is_refused_before_the_nonce_is_spent() {
        let (_dir, store) = temp_store();
        let shares =
            candela_frost::sim::keygen::<Secp256K1Sha256TR, _>(3, 2, &mut rand_core::OsRng)
                .unwrap();
        let state = SchnorrState::default();
        state.set_root(shares[&1].clone());
        let c = state.commit::<Secp256K1Sha256TR>(1, "r", &store).unwrap();
        let other = state.commit::<Secp256K1Sha256TR>(1, "s", &store).unwrap();
        let e = state
            .take_nonces::<Secp256K1Sha256TR>(c.id, &other.commitments)
            .unwrap_err();
        assert_eq!(e.code, "NodeAssignmentRefused");
        // still unspent
        state
            .take_nonces::<Secp256K1Sha256TR>(c.id, &c.commitments)
            .unwrap();
    }

    #[tokio::test]
    async fn stocked_commitments_go_to_their_coordinator_alone_within_a_cap_and_an_earlier_runs_nonces_never_sign(
    ) {
        use crate::schnorr_stock::STOCK_PER_COORDINATOR;
        let (_dir, store) = temp_store();
        let shares =
            candela_frost::sim::keygen::<Ed25519Sha512, _>(3, 2, &mut rand_core::OsRng).unwrap();
        let state = SchnorrState::default();
        state.set_root(shares[&0].clone());
        let stock = state
            .commit_stock::<Ed25519Sha512>(0, 1, 32, &store)
            .unwrap();
        let more = state
            .commit_stock::<Ed25519Sha512>(0, 1, 64, &store)
            .unwrap();
        assert_eq!(stock.len() + more.len(), STOCK_PER_COORDINATOR, "capped");
        assert!(state
            .commit_stock::<Ed25519Sha512>(0, 1, 8, &store)
            .unwrap()
            .is_empty());
        let other = state
            .commit_stock::<Ed25519Sha512>(0, 2, 8, &store)
            .unwrap();
        let mut handed = std::collections::BTreeSet::new();
        for c in stock.iter().chain(&more).chain(&other) {
            assert!(handed.insert(c.id), "commitment {} handed out twice", c.id);
        }
        // no request is handed a stocked commitment
        for i in 0..2 * POOL_TARGET {
            let c = state
                .commit::<Ed25519Sha512>(0, &format!("r{i}"), &store)
                .unwrap();
            assert!(
                handed.insert(c.id),
                "request {i} got a handed-out commitment"
            );
        }
        // a stocked commitment signs once
        take_and_spend::<Ed25519Sha512>(&state, &stock[0], &store)
            .await
            .unwrap();
        let e = take_and_spend::<Ed25519Sha512>(&state, &stock[0], &store)
            .await
            .unwrap_err();
        assert_eq!(e.code, "NodeNonceUsed");
        // after a restart none of the earlier run's nonces is handed out
        // again, nor signs when an assignment names it
        let again = SchnorrState::load(&store).unwrap();
        again.set_root(shares[&0].clone());
        let fresh = again
            .commit_stock::<Ed25519Sha512>(0, 1, 32, &store)
            .unwrap();
        let request = again.commit::<Ed25519Sha512>(0, "after", &store).unwrap();
        for c in fresh.iter().chain([&request]) {
            assert!(
                !handed.contains(&c.id),
                "commitment {} handed out again",
                c.id
            );
        }
        let e = take_and_spend::<Ed25519Sha512>(&again, &stock[1], &store)
            .await
            .unwrap_err();
        assert_eq!(e.code, "NodeNonceUsed");
    }

    #[tokio::test]
    async fn a_store_restored_from_an_old_copy_never_signs_with_a_nonce_used_since_the_copy() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        let shares =
            candela_frost::sim::keygen::<Ed25519Sha512, _>(3, 2, &mut rand_core::OsRng).unwrap();
        let (handed, copy) = {
            let store = Store::open(&path, &[9u8; 32]).unwrap();
            let state = SchnorrState::default();
            state.set_root(shares[&0].clone());
            let c = state.commit::<Ed25519Sha512>(0, "r1", &store).unwrap();
            // the snapshot, taken while the node runs: the nonce is unused in it
            let copy = dir.path().join("copy");
            std::fs::create_dir(&copy).unwrap();
            for f in ["s.sqlite", "s.sqlite-wal"] {
                if dir.path().join(f).exists() {
                    std::fs::copy(dir.path().join(f), copy.join(f)).unwrap();
                }
            }
            take_and_spend::<Ed25519Sha512>(&state, &c, &store)
                .await
                .unwrap();
            (c, copy)
        };
        // the disk is restored from the snapshot
        for f in ["s.sqlite", "s.sqlite-wal", "s.sqlite-shm"] {
            let _ = std::fs::remove_file(dir.path().join(f));
            if copy.join(f).exists() {
                std::fs::copy(copy.join(f), dir.path().join(f)).unwrap();
            }
        }
        let store = Store::open(&path, &[9u8; 32]).unwrap();
        let restored = SchnorrState::load(&store).unwrap();
        restored.set_root(shares[&0].clone());
        let e = take_and_spend::<Ed25519Sha512>(&restored, &handed, &store)
            .await
            .unwrap_err();
        assert_eq!(e.code, "NodeNonceUsed", "{}", e.message);
        let fresh = restored.commit::<Ed25519Sha512>(0, "r2", &store).unwrap();
        assert_ne!(
            fresh.commitments, handed.commitments,
            "a new request gets a new nonce"
        );
    }
}
