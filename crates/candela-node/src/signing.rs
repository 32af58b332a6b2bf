//! Signing: the coordinator's signed assignment of a presignature and
//! signing set to a request, and this node's rerandomized share.
//!
//! The path every ECDSA signature takes (`pkp/sign`, an action's
//! `signEcdsa`, `signAndCombineEcdsa`, `ethPersonalSignMessageEcdsa`):
//! 1. the node binds its request: `H(PKP, digest)`;
//! 2. it asks the coordinator (the lowest live index not excluded) for the
//!    request's assignment; the coordinator records the presignature, the
//!    signing set and the binding of the first asker, durably, and signs the
//!    assignment with its identity key; a later asker with another binding
//!    is refused;
//! 3. the node checks the coordinator's signature and that the binding is
//!    its own, before touching the presignature; a node outside the signing
//!    set stops here and reveals nothing about the presignature;
//! 4. a signer marks the presignature used durably, then computes its share
//!    over the presignature rerandomized by `ρ = H(R, root, δ, m, id, S,
//!    request id)` ([`candela_crypto::ecdsa`]).
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use candela_api::assignment::{request_binding, SignedAssignment};
use candela_api::session::Ability;
use candela_api::v7::{
    CommitmentWire, PkpSignRequest, PkpSignResponse, ShareProof, SignatureShareWire,
};
use candela_crypto::derive::{self, point_to_bytes, scalar_to_bytes};
use candela_crypto::ecdsa::{signature_share, signing_commitments, SigningContext};
use candela_crypto::session::Presignature;
use candela_crypto::{AffinePoint, Scalar};
use candela_registry::PkpRecord;

use crate::config::{EcdsaProtocol, Misbehaviour};
use crate::error::ApiError;
use crate::node::{blocking, permit_error, Node};
use crate::peer::PeerBody;
use crate::store::Take;

/// What a signer computed, for the response.
struct SignerOutput<'a> {
    presig: &'a Presignature,
    share: Scalar,
    big_r: AffinePoint,
}

impl Node {
    /// `POST /web/pkp/sign/v1`: owner-authorised signing of a 32-byte digest.
    pub async fn pkp_sign(
        self: &Arc<Self>,
        request_id: &str,
        req: PkpSignRequest,
        wait_until: Instant,
    ) -> Result<PkpSignResponse, ApiError> {
        let digest: [u8; 32] = req.to_sign.as_slice().try_into().map_err(|_| {
            ApiError::bad_request(
                "NodeInvalidToSign",
                format!("toSign must be 32 bytes, got {}", req.to_sign.len()),
            )
        })?;
        let pkp = self.authorised_pkp(&req).await?;
        crate::scheme_signing::check_pkp_key_type(
            candela_frost::SigningScheme::EcdsaK256Sha256,
            &pkp,
        )
        .map_err(|e| ApiError::bad_request("NodeWrongKeyType", e.to_string()))?;
        self.claim_request(request_id, "pkp-sign")?;
        self.sign_share(request_id, &digest, &pkp, wait_until).await
    }

    /// When a request that will wait `asked` milliseconds (its caller's
    /// budget, if it said) stops waiting for a presignature: never later than
    /// the configured bound.
    pub(crate) fn wait_until(&self, asked: Option<u64>) -> Instant {
        let bound = self.cfg.pool.assign_wait_ms;
        Instant::now() + Duration::from_millis(asked.map_or(bound, |a| a.min(bound)))
    }

    /// The PKP a `pkp/sign` request names, once its caller (or one of its
    /// auth methods) is checked to be permitted to sign with it: the one
    /// permission check of every scheme.
    pub(crate) async fn authorised_pkp(&self, req: &PkpSignRequest) -> Result<PkpRecord, ApiError> {
        let pk = derive::parse_public_key(&req.pubkey)
            .map_err(|e| ApiError::bad_request("NodeInvalidPubkey", format!("pubkey: {e}")))?;
        let token = hex::encode(derive::token_id(&pk));
        let caller = self
            .authenticate(&req.auth_sig, Ability::PkpSigning, &token)
            .await?;
        let wallets = self
            .verified_wallets(req.auth_methods.as_deref().unwrap_or_default())
            .await?;
        let pkp = self.signable_pkp(&pk).await?;
        let cache = crate::permit::PermissionCache::new(self.registry.clone());
        blocking(move || {
            cache
                .authorise_any(&pkp, std::iter::once(caller).chain(wallets))
                .map(|_| pkp)
        })
        .await?
        .map_err(permit_error)
    }

    // ---- coordination ----

    /// As coordinator: fix (or look up) the presignature and signing set of
    /// a request bound to `binding`, and sign the assignment.
    pub(crate) async fn assign_local(
        &self,
        request_id: &str,
        exclude: &[u32],
        binding: &str,
        wait_until: Instant,
    ) -> Result<SignedAssignment, ApiError> {
        // An empty pool is a refill away: a request that finds it empty
        // waits its turn in line behind the requests that came before it
        // (so a newcomer never takes the presignature an older request was
        // waiting for), until its caller stops waiting (`wait_until`). While
        // others wait, a newcomer only looks its request up (another node
        // may have asked for it already) and otherwise gets in line.
        let queue_empty = self.pool_waiting.load(Ordering::SeqCst) == 0;
        let first = self
            .try_assign(request_id, exclude, binding, queue_empty)
            .await;
        if !matches!(&first, Err(e) if e.code == "NodePresignaturePoolEmpty") {
            return first;
        }
        let deadline = wait_until;
        let _waiting = InLine::join(&self.pool_waiting);
        let turn = tokio::time::timeout_at(
            tokio::time::Instant::from_std(deadline),
            self.pool_line.lock(),
        )
        .await;
        match turn {
            Err(_) => first,
            Ok(_turn) => loop {
                match self.try_assign(request_id, exclude, binding, true).await {
                    Err(e)
                        if e.code == "NodePresignaturePoolEmpty" && Instant::now() < deadline =>
                    {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    other => break other,
                }
            },
        }
    }

    /// Look the request's assignment up, or (with `take_new`) assign it a
    /// free presignature.
    async fn try_assign(
        &self,
        request_id: &str,
        exclude: &[u32],
        binding: &str,
        take_new: bool,
    ) -> Result<SignedAssignment, ApiError> {
        if binding.len() != 64 || hex::decode(binding).is_err() {
            return Err(ApiError::bad_request(
                "PeerMessageRefused",
                "an assignment request must carry its 32-byte binding",
            ));
        }
        let _guard = self.assign_lock.lock().await;
        let live = self.live_set();
        let t = self.threshold();
        // Tests only: a lying coordinator hands every asker a fresh choice.
        let record_as = match self.cfg.misbehave {
            Some(Misbehaviour::LyingCoordinator) => format!(
                "{request_id}#lie-{}",
                rand_core::RngCore::next_u64(&mut rand_core::OsRng)
            ),
            _ => request_id.to_string(),
        };
        let chosen = if self.cfg.ecdsa == EcdsaProtocol::Dkls23 {
            let chosen = self.dkls_assign(request_id, &record_as, exclude, binding)?;
            if chosen.is_none() {
                return Err(ApiError::unavailable(
                    "NodeTooFewLiveNodes",
                    format!("fewer than {t} live nodes may sign; try again shortly"),
                ));
            }
            chosen
        } else {
            self.store.assign(&record_as, binding, |all| {
                take_new
                    .then(|| choose_signers(all, exclude, &live, t))
                    .flatten()
            })?
        };
        match chosen {
            Some(a) if a.binding != binding => Err(ApiError::conflict(
                "NodeAssignmentConflict",
                format!(
                    "request {request_id} is already assigned to another PKP or digest; \
                     retry with a new request id"
                ),
            )),
            Some(a) => Ok(SignedAssignment::sign(
                request_id,
                &a.presignature_id,
                a.signers,
                binding,
                self.me,
                &self.identity.signing,
            )),
            // no refill can come while fewer than t nodes are live: say so
            // rather than keep the request waiting for the pool
            None if live.len() < t => Err(ApiError::unavailable(
                "NodeTooFewLiveNodes",
                format!(
                    "only {} of {} nodes are live and {t} are needed to sign; \
                     no presignature can be made until more are back",
                    live.len(),
                    self.node_count()
                ),
            )),
            None => Err(ApiError::unavailable(
                "NodePresignaturePoolEmpty",
                "no presignature available for the live nodes; try again shortly",
            )),
        }
    }

    /// Ask the coordinators (live, not excluded), in index order, for this
    /// request's assignment, and check what comes back: signed by the
    /// coordinator asked, for this request and binding.
    pub(crate) async fn assignment(
        self: &Arc<Self>,
        request_id: &str,
        binding: &str,
        wait_until: Instant,
    ) -> Result<SignedAssignment, ApiError> {
        let live = self.live_set();
        let exclude = self.excluded_for(request_id);
        let mut last = ApiError::unavailable("NodeNoCoordinator", "no coordinator reachable");
        let candidates: Vec<u32> = self
            .committee()
            .into_iter()
            .filter(|c| live.contains(c))
            .collect();
        // Excluded nodes (caught lying) do not coordinate, unless every live
        // node is excluded.
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
        for c in order {
            let a = if c == self.me {
                self.assign_local(request_id, &exclude, binding, wait_until)
                    .await?
            } else {
                let budget = wait_until.saturating_duration_since(Instant::now());
                let body = PeerBody::Assign {
                    request_id: request_id.to_string(),
                    exclude: exclude.clone(),
                    binding: binding.to_string(),
                    wait_ms: Some(budget.as_millis() as u64),
                };
                let wait = budget + Duration::from_millis(self.cfg.peer_timeout_ms);
                match self.post_peer_within(c, &body, wait).await {
                    Ok(r) if r.status().is_success() => r
                        .json::<SignedAssignment>()
                        .await
                        .map_err(|e| ApiError::unavailable("NodeNoCoordinator", e.to_string()))?,
                    Ok(r) => {
                        let status = r.status();
                        let text = r.text().await.unwrap_or_default();
                        // the coordinator answered: its refusal is the answer
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
            self.check_assignment(&a, c, request_id, binding)?;
            return Ok(a);
        }
        Err(last)
    }

    /// Every node's identity key (hex), by index; an empty string for an
    /// index outside the committee (a kicked member), which then signs no
    /// assignment and is in no signing set ([`candela_api::assignment::is_member`]).
    pub(crate) fn identity_keys(&self) -> Vec<String> {
        let members = self.members();
        members
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                if members.committee.contains(&(i as u32)) {
                    n.identity_key.clone()
                } else {
                    String::new()
                }
            })
            .collect()
    }

    /// Refuse an assignment not signed by `coordinator`, or for another
    /// request or binding, before anything is taken from the store.
    fn check_assignment(
        &self,
        a: &SignedAssignment,
        coordinator: u32,
        request_id: &str,
        binding: &str,
    ) -> Result<(), ApiError> {
        let keys = self.identity_keys();
        let refuse = |why: String| ApiError::conflict("NodeAssignmentRefused", why);
        if a.coordinator != coordinator {
            return Err(refuse(format!(
                "coordinator {coordinator} answered an assignment signed as {}",
                a.coordinator
            )));
        }
        a.verify(&keys, self.threshold())
            .and_then(|()| a.check_request(request_id, binding))
            .map_err(|e| refuse(format!("{e}; retry with a new request id")))
    }

    // ---- signing ----

    /// This node's share of a signature of `digest` with `pkp`, for a
    /// (unique, already authorised) `request_id`: the coordinator fixes the
    /// presignature and signing set for this PKP and digest, the
    /// presignature is marked used durably before the share is computed, and
    /// a node outside the signing set answers an empty share that reveals
    /// nothing about the presignature. Shared by `pkp/sign` and actions.
    pub(crate) async fn sign_share(
        self: &Arc<Self>,
        request_id: &str,
        digest: &[u8; 32],
        pkp: &PkpRecord,
        wait_until: Instant,
    ) -> Result<PkpSignResponse, ApiError> {
        if self.cfg.ecdsa == EcdsaProtocol::Dkls23 {
            return self
                .dkls_sign_share(request_id, digest, pkp, wait_until)
                .await;
        }
        let key = self
            .key()
            .ok_or_else(|| ApiError::unavailable("NodeNotReady", "root key not generated yet"))?;
        let tweak = derive::pkp_tweak(&pkp.key_id).map_err(ApiError::internal)?;
        let binding = request_binding(&pkp.public_key, digest);
        let assignment = self.assignment(request_id, &binding, wait_until).await?;
        if !assignment.signers.contains(&self.me) {
            return Ok(self.sign_response(digest, pkp, &tweak, assignment, None));
        }
        let presig = match self.take_when_stored(&assignment, request_id).await? {
            Take::Taken(bytes) => Presignature::from_bytes(&bytes).map_err(ApiError::internal)?,
            Take::AlreadyUsed => {
                return Err(ApiError::conflict(
                    "NodePresignatureUsed",
                    format!(
                        "presignature {} was already used; retry with a new request id",
                        assignment.presignature_id
                    ),
                ))
            }
            Take::Missing => {
                return Err(ApiError::unavailable(
                    "NodePresignatureMissing",
                    format!(
                        "this node does not hold presignature {}",
                        assignment.presignature_id
                    ),
                ))
            }
        };
        self.spent.record(
            self.me,
            &presig.participants,
            &assignment.presignature_id,
            request_id,
        );
        let ctx = SigningContext {
            big_r: &presig.big_r,
            root: &key.public_key,
            tweak: &tweak,
            digest,
            presignature_id: &assignment.presignature_id,
            signers: &assignment.signers,
            request_id,
        };
        let (mut share, big_r) =
            signature_share(&presig, self.me, &ctx).map_err(ApiError::internal)?;
        if self.cfg.misbehave == Some(Misbehaviour::BadEcdsaShare) {
            share += Scalar::ONE;
        }
        let out = SignerOutput {
            presig: &presig,
            share,
            big_r,
        };
        Ok(self.sign_response(digest, pkp, &tweak, assignment, Some(out)))
    }

    /// Take the assigned presignature; if this node's generation session is
    /// a moment behind the coordinator's, wait briefly for it to be stored.
    async fn take_when_stored(
        &self,
        a: &SignedAssignment,
        request_id: &str,
    ) -> Result<Take, ApiError> {
        let deadline = Instant::now() + Duration::from_millis(3000);
        loop {
            let take = self
                .store
                .take_presignature(&a.presignature_id, request_id)?;
            match take {
                Take::Missing if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                other => return Ok(other),
            }
        }
    }

    fn sign_response(
        &self,
        digest: &[u8; 32],
        pkp: &PkpRecord,
        tweak: &Scalar,
        a: SignedAssignment,
        signer: Option<SignerOutput<'_>>,
    ) -> PkpSignResponse {
        let commitments = signer
            .as_ref()
            .and_then(|o| signing_commitments(o.presig, &a.signers).ok())
            .unwrap_or_default()
            .into_iter()
            .map(|(node, c)| CommitmentWire {
                node,
                k: hex::encode(point_to_bytes(&c.k, true)),
                sigma: hex::encode(point_to_bytes(&c.sigma, true)),
            })
            .collect();
        let hex_point = |p: &AffinePoint| hex::encode(point_to_bytes(p, true));
        PkpSignResponse {
            success: true,
            signature_share: SignatureShareWire {
                digest: hex::encode(digest),
                share_index: self.me,
                signature_share: signer
                    .as_ref()
                    .map(|o| hex::encode(scalar_to_bytes(&o.share)))
                    .unwrap_or_default(),
                big_r: signer
                    .as_ref()
                    .map(|o| hex_point(&o.big_r))
                    .unwrap_or_default(),
                public_key: hex::encode(point_to_bytes(&pkp.public_key, false)),
                sig_type: "K256".into(),
            },
            candela: ShareProof {
                presignature_id: a.presignature_id.clone(),
                signers: a.signers.clone(),
                tweak: hex::encode(scalar_to_bytes(tweak)),
                commitments,
                presignature_big_r: signer
                    .as_ref()
                    .map(|o| hex_point(&o.presig.big_r))
                    .unwrap_or_default(),
                assignment: Some(a),
                signature: String::new(),
            },
        }
    }
}

/// The signing set for a presignature made by `makers`: `t` of them,
/// leaving out the nodes the client excludes (ones it caught lying) unless
/// too few would remain, preferring nodes seen live and filling up from the
/// other makers rather than refusing (a slow heartbeat is not a dead node;
/// a dead signer makes the attempt fail and the client retry).
pub(crate) fn choose_signers(
    makers: &[u32],
    exclude: &[u32],
    live: &std::collections::BTreeSet<u32>,
    t: usize,
) -> Option<Vec<u32>> {
    let kept: Vec<u32> = makers
        .iter()
        .copied()
        .filter(|p| !exclude.contains(p))
        .collect();
    let parts = if kept.len() >= t { &kept[..] } else { makers };
    let mut signers: Vec<u32> = parts
        .iter()
        .copied()
        .filter(|p| live.contains(p))
        .take(t)
        .collect();
    for &p in parts {
        if signers.len() < t && !signers.contains(&p) {
            signers.push(p);
        }
    }
    signers.sort_unstable();
    (signers.len() == t).then_some(signers)
}

/// A place in the coordinator's line for presignatures, counted while held
/// (also when the waiting request is dropped).
struct InLine<'a>(&'a AtomicUsize);

impl<'a> InLine<'a> {
    fn join(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        InLine(count)
    }
}

impl Drop for InLine<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::choose_signers;

    #[test]
    fn signing_sets_leave_out_excluded_nodes_while_enough_remain() {
        let live = (0..5).collect();
        assert_eq!(
            choose_signers(&[0, 1, 2, 3, 4], &[0], &live, 4),
            Some(vec![1, 2, 3, 4])
        );
        // too few would remain: the exclusion is ignored
        assert_eq!(
            choose_signers(&[0, 1, 2, 3, 4], &[0, 1], &live, 4),
            Some(vec![0, 1, 2, 3])
        );
        assert_eq!(choose_signers(&[0, 1, 2], &[], &live, 4), None);
        // live nodes first, then the others
        let some: std::collections::BTreeSet<u32> = [1, 2, 4].into_iter().collect();
        assert_eq!(
            choose_signers(&[0, 1, 2, 3, 4], &[], &some, 4),
            Some(vec![0, 1, 2, 4])
        );
    }
}
