//! Signing on a DKLs23 network ([`candela_dkls`]): no presignatures; once
//! the digest is known, exactly `t` signers run three rounds among
//! themselves and each ends with the full signature.
//!
//! The path of one signature (`pkp/sign`, an action's `signEcdsa`):
//! 1. the node binds its request, `H(PKP, digest)`, and asks the
//!    coordinator for the request's signed assignment (the same
//!    [`SignedAssignment`] as on a cait-sith network; its presignature id
//!    is [`ASSIGNMENT_LABEL`]); the coordinator picks `t` live signers, none
//!    on its [`ExclusionList`], rotating the set by request id;
//! 2. the node checks the assignment (coordinator's signature, request,
//!    binding); a node outside the set answers without a signature;
//! 3. a signer derives the session id ([`SessionId::derive`]: root key,
//!    tweak, digest, signers, request id), records it durably and refuses
//!    one recorded before, then runs the rounds with the other signers
//!    over the peer channel (postcard bytes in the signed peer envelope,
//!    sealed to the recipient);
//! 4. it answers the full signature in the response's `candela.signature`;
//!    a signer the protocol blames is excluded from every later set.
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use candela_api::assignment::{request_binding, SignedAssignment};
use candela_api::v7::{PkpSignResponse, ShareProof, SignatureShareWire};
use candela_crypto::derive::{self, point_to_bytes, scalar_to_bytes};
use candela_crypto::session::{KeyShare, Session, Step};
use candela_crypto::{CryptoError, Scalar};
use candela_dkls::{
    DklsError, DklsKeyShare, DklsSession, DklsSign, DklsSignature, ExclusionList, SessionId,
    SignRequest,
};
use candela_registry::PkpRecord;

use crate::error::ApiError;
use crate::node::Node;
use crate::runner::{RunError, SessionLimits};
use crate::store::Store;

/// Name of the DKLs23 root key share in the store.
pub(crate) const DKLS_SECRET: &str = "dkls23-root-share";
/// Name of the persisted [`ExclusionList`] in the store.
const EXCLUSIONS_SECRET: &str = "dkls23-exclusions";
/// What a DKLs23 assignment carries where a cait-sith one names its
/// presignature.
pub(crate) const ASSIGNMENT_LABEL: &str = "dkls23";
/// How long one signing round may take before the session is given up
/// (the client then retries with another request id, and the coordinator
/// picks a set from the nodes still live).
const SIGN_TIMEOUT: Duration = Duration::from_secs(8);

/// The name of a DKLs23 signing session starts so. Every signer of such a
/// session is needed: one that cannot be reached ends it at once
/// ([`SessionLimits::every_peer_needed`]) rather than at [`SIGN_TIMEOUT`].
const SIGN_SESSION_PREFIX: &str = "dkls23-sign-";

/// This node's DKLs23 state: its key share, once generated, and the nodes
/// excluded from signing for good.
pub(crate) struct DklsState {
    share: RwLock<Option<Arc<DklsKeyShare>>>,
    exclusions: Mutex<ExclusionList>,
}

impl DklsState {
    /// Load the share and the exclusion list from the store.
    pub(crate) fn load(store: &Store) -> anyhow::Result<Self> {
        let share = match store.get_secret(DKLS_SECRET)? {
            Some(bytes) => Some(Arc::new(DklsKeyShare::from_bytes(&bytes)?)),
            None => None,
        };
        let exclusions = match store.get_secret(EXCLUSIONS_SECRET)? {
            Some(bytes) => ExclusionList::from_bytes(&bytes)?,
            None => ExclusionList::new(),
        };
        Ok(DklsState {
            share: RwLock::new(share),
            exclusions: Mutex::new(exclusions),
        })
    }

    /// The key share, once generated.
    pub(crate) fn share(&self) -> Option<Arc<DklsKeyShare>> {
        self.share.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Keep a newly generated share (already sealed in the store).
    pub(crate) fn set_share(&self, share: DklsKeyShare) {
        *self.share.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(share));
    }

    fn exclusions(&self) -> ExclusionList {
        self.exclusions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Record a session's failure; a node it blames is excluded for good,
    /// durably.
    fn record(&self, store: &Store, outcome: &DklsError) {
        let mut list = self.exclusions.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(node) = list.record(outcome) {
            tracing::warn!(node, error = %outcome, "node excluded from DKLs23 signing for good");
            match list.to_bytes() {
                Ok(bytes) => {
                    if let Err(e) = store.put_secret(EXCLUSIONS_SECRET, &bytes) {
                        tracing::error!(error = %e, "cannot store the exclusion list");
                    }
                }
                Err(e) => tracing::error!(error = %e, "cannot encode the exclusion list"),
            }
        }
    }
}

/// The DKLs23 share's Shamir part as the node's root [`KeyShare`] (the same
/// root key and public shares; DKLs23 evaluates at the 1-based position
/// among the participants, the node set at index + 1). It gives the rest of
/// the node the root public key; a DKLs23 network makes no presignatures
/// with it.
pub(crate) fn root_key_share(share: &DklsKeyShare) -> Result<KeyShare, DklsError> {
    let aligned = share
        .participants()
        .iter()
        .enumerate()
        .all(|(i, p)| *p as usize == i);
    if !aligned {
        return Err(DklsError::BadParameters(
            "the key generation left a node out: its share is not at the node's index".into(),
        ));
    }
    Ok(KeyShare {
        me: share.me(),
        threshold: share.threshold(),
        participants: share.participants().to_vec(),
        secret: share.shamir_share()?,
        public_key: share.public_key(),
        public_shares: share.public_shares().clone(),
    })
}

/// [`DklsSign`] as a session the node's runner drives, keeping the typed
/// error (which node is blamed) for the node.
struct SignSession {
    inner: DklsSign,
    fault: Arc<Mutex<Option<DklsError>>>,
}

impl Session for SignSession {
    type Output = DklsSignature;

    fn poke(&mut self) -> Result<Step<DklsSignature>, CryptoError> {
        self.inner.poke().map_err(|e| {
            let message = e.to_string();
            *self.fault.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
            CryptoError::Protocol(message)
        })
    }

    fn receive(&mut self, from: u32, message: Vec<u8>) {
        self.inner.receive(from, message);
    }
}

/// The signing set for `request_id`: `t` of the live nodes, leaving out the
/// nodes the client excludes and those excluded for good, starting at a
/// place the request id picks (so that concurrent requests spread over the
/// nodes).
pub(crate) fn choose_dkls_signers(
    live: &std::collections::BTreeSet<u32>,
    exclude: &[u32],
    excluded: &ExclusionList,
    t: usize,
    request_id: &str,
) -> Option<Vec<u32>> {
    let candidates: Vec<u32> = live
        .iter()
        .copied()
        .filter(|p| !exclude.contains(p) && !excluded.is_excluded(*p))
        .collect();
    if candidates.len() < t || t == 0 {
        return None;
    }
    let h = <sha2::Sha256 as sha2::Digest>::digest(request_id.as_bytes());
    let start = (u64::from_be_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]])
        % candidates.len() as u64) as usize;
    let mut chosen: Vec<u32> = candidates
        .iter()
        .cycle()
        .skip(start)
        .take(t)
        .copied()
        .collect();
    chosen.sort_unstable();
    Some(chosen)
}

impl Node {
    /// The DKLs23 key share, on a DKLs23 network once generated.
    pub(crate) fn dkls_share(&self) -> Option<Arc<DklsKeyShare>> {
        self.dkls.share()
    }

    /// As coordinator of a DKLs23 network: the request's signing set,
    /// recorded with its binding.
    pub(crate) fn dkls_assign(
        &self,
        request_id: &str,
        record_as: &str,
        exclude: &[u32],
        binding: &str,
    ) -> Result<Option<crate::store::StoredAssignment>, ApiError> {
        let live = self.live_set();
        let excluded = self.dkls.exclusions();
        let t = self.threshold();
        Ok(self
            .store
            .assign_signers(record_as, binding, ASSIGNMENT_LABEL, || {
                choose_dkls_signers(&live, exclude, &excluded, t, request_id)
            })?)
    }

    /// This node's answer to a signing request on a DKLs23 network (see the
    /// module documentation).
    pub(crate) async fn dkls_sign_share(
        self: &Arc<Self>,
        request_id: &str,
        digest: &[u8; 32],
        pkp: &PkpRecord,
        wait_until: std::time::Instant,
    ) -> Result<PkpSignResponse, ApiError> {
        let share = self
            .dkls_share()
            .ok_or_else(|| ApiError::unavailable("NodeNotReady", "root key not generated yet"))?;
        let tweak = derive::pkp_tweak(&pkp.key_id).map_err(ApiError::internal)?;
        let binding = request_binding(&pkp.public_key, digest);
        let assignment = self.assignment(request_id, &binding, wait_until).await?;
        if !assignment.signers.contains(&self.me) {
            return Ok(self.dkls_response(digest, pkp, &tweak, assignment, None));
        }
        let sid = SessionId::derive(
            &share.public_key(),
            &tweak,
            digest,
            &assignment.signers,
            request_id.as_bytes(),
        );
        let sid_hex = hex::encode(sid.0);
        let claimed = self
            .store
            .claim_durably(&format!("dkls23-session/{sid_hex}"), "dkls23-sign")
            .map_err(ApiError::internal)?;
        if !claimed {
            return Err(ApiError::conflict(
                "NodeSessionReused",
                format!("signing session {sid} was already run; retry with a new request id"),
            ));
        }
        let excluded = self.dkls.exclusions();
        let request = SignRequest {
            signers: &assignment.signers,
            tweak,
            digest: *digest,
            request_id: request_id.as_bytes(),
        };
        // the durable record above is the replay guard; the crate's own
        // check runs against this empty set
        let mut fresh = std::collections::BTreeSet::new();
        let inner = DklsSign::new(&share, &request, &excluded, &mut fresh)
            .map_err(|e| ApiError::conflict("NodeSigningRefused", e.to_string()))?;
        let fault = Arc::new(Mutex::new(None));
        let session = SignSession {
            inner,
            fault: Arc::clone(&fault),
        };
        let rx = self
            .hub
            .run(
                format!("{SIGN_SESSION_PREFIX}{sid_hex}"),
                self.me,
                assignment.signers.clone(),
                Box::new(session),
                self.outbox.clone(),
                SessionLimits::every_peer_needed(SIGN_TIMEOUT),
            )
            .map_err(|e| ApiError::unavailable("NodeSigningFailed", e.to_string()))?;
        let outcome = rx
            .await
            .map_err(|_| ApiError::internal("signing session vanished"))?;
        match outcome {
            Ok(signature) => {
                Ok(self.dkls_response(digest, pkp, &tweak, assignment, Some(signature)))
            }
            Err(e) => {
                let typed = fault.lock().unwrap_or_else(|p| p.into_inner()).take();
                if let Some(typed) = &typed {
                    self.dkls.record(&self.store, typed);
                }
                let reason = typed
                    .map(|t| t.to_string())
                    .unwrap_or_else(|| e.to_string());
                let code = match e {
                    RunError::Timeout => "NodeSigningTimedOut",
                    _ => "NodeSigningFailed",
                };
                Err(ApiError::unavailable(
                    code,
                    format!("signing session {sid} failed: {reason}; retry with a new request id"),
                ))
            }
        }
    }

    fn dkls_response(
        &self,
        digest: &[u8; 32],
        pkp: &PkpRecord,
        tweak: &Scalar,
        a: SignedAssignment,
        signature: Option<DklsSignature>,
    ) -> PkpSignResponse {
        PkpSignResponse {
            success: true,
            signature_share: SignatureShareWire {
                digest: hex::encode(digest),
                share_index: self.me,
                signature_share: String::new(),
                big_r: String::new(),
                public_key: hex::encode(point_to_bytes(&pkp.public_key, false)),
                sig_type: "K256".into(),
            },
            candela: ShareProof {
                presignature_id: a.presignature_id.clone(),
                signers: a.signers.clone(),
                tweak: hex::encode(scalar_to_bytes(tweak)),
                commitments: Vec::new(),
                presignature_big_r: String::new(),
                assignment: Some(a),
                signature: signature
                    .map(|s| hex::encode(s.to_eth_bytes()))
                    .unwrap_or_default(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dkls_signing_sets_are_t_live_unexcluded_nodes_spread_by_request() {
        let live: std::collections::BTreeSet<u32> = (0..5).collect();
        let mut excluded = ExclusionList::new();
        excluded.exclude(3, "test");
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..40 {
            let set = choose_dkls_signers(&live, &[1], &excluded, 2, &format!("req-{i}")).unwrap();
            assert_eq!(set.len(), 2);
            assert!(!set.contains(&1) && !set.contains(&3));
            assert!(set.windows(2).all(|w| w[0] < w[1]));
            seen.insert(set);
        }
        // more than one set is used across requests
        assert!(seen.len() > 1);
        // too few nodes left
        assert_eq!(choose_dkls_signers(&live, &[0, 1], &excluded, 3, "r"), None);
    }
}
