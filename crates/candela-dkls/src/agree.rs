//! Key generation that every honest node keeps or none does: the DKLs23
//! DKG inside `candela_crypto::agree`'s agreement step.
//!
//! The DKG's broadcast rounds assume every node sees the same message. A
//! node that sends different (each self-consistent) chain-code or proof
//! commitments to different peers can make honest nodes finish with
//! different chain codes or keys: they would then fail every signing
//! together. Wrapped here, each node signs one vote confirming a digest of
//! its outcome (root key, chain code, every public share); after the
//! authenticated-broadcast rounds every honest node holds the same votes,
//! and the share is kept only if every participant confirmed the same
//! digest. Nobody is named when digests differ (a node whose view differs
//! may be the victim), except proven equivocators of the vote itself.
use std::collections::BTreeMap;
use std::sync::Arc;

use candela_crypto::agree::{agreed, Candidate, Inconsistent, VoteKeys};
use candela_crypto::session::{BoxedSession, Session, Step};
use candela_crypto::CryptoError;
use sha2::{Digest, Sha256};

use crate::convert::point_to_sec1;
use crate::{DklsError, DklsKeyShare, DklsKeygen, DklsSession, NodeIndex};

/// Domain separation tag of the confirmed digest.
pub const STATEMENT_DST: &[u8] = b"candela-dkls23-keygen-statement-v1";

/// A finished DKLs23 key generation awaiting the network's agreement.
pub struct KeygenCandidate {
    share: DklsKeyShare,
}

impl KeygenCandidate {
    /// What this node confirms: the root key (33 bytes, compressed SEC1)
    /// and SHA-256 of the tag, root key, chain code and every node's public
    /// share (65 bytes in all).
    fn digest(&self) -> Vec<u8> {
        let s = &self.share;
        let mut h = Sha256::new();
        h.update(STATEMENT_DST);
        h.update(point_to_sec1(&s.public_key));
        h.update(s.chain_code());
        h.update((s.public_shares.len() as u64).to_be_bytes());
        for (node, p) in &s.public_shares {
            h.update(node.to_be_bytes());
            h.update(point_to_sec1(p));
        }
        let mut out = point_to_sec1(&s.public_key).to_vec();
        out.extend_from_slice(&h.finalize());
        out
    }
}

impl Candidate for KeygenCandidate {
    type Output = DklsKeyShare;

    fn statement(&self) -> Vec<u8> {
        self.digest()
    }

    fn conclude(
        self,
        statements: &BTreeMap<NodeIndex, Vec<u8>>,
    ) -> Result<DklsKeyShare, Inconsistent> {
        // Keep iff every participant confirmed one and the same outcome:
        // a function of the agreed statements alone.
        let all_confirmed = self
            .share
            .participants
            .iter()
            .all(|p| statements.contains_key(p));
        let mut distinct: Vec<&Vec<u8>> = statements.values().collect();
        distinct.sort();
        distinct.dedup();
        if !all_confirmed || distinct.len() != 1 {
            return Err(Inconsistent {
                culprits: Vec::new(),
                reason: format!(
                    "{} different key-generation outcomes confirmed by {} of {} nodes",
                    distinct.len(),
                    statements.len(),
                    self.share.participants.len()
                ),
            });
        }
        if distinct[0] != &self.digest() {
            return Err(Inconsistent {
                culprits: Vec::new(),
                reason: "the agreed outcome is not this node's".into(),
            });
        }
        Ok(self.share)
    }
}

/// [`DklsKeygen`] as a `candela_crypto` session whose output is a
/// [`KeygenCandidate`].
struct InnerKeygen(DklsKeygen);

fn to_crypto(e: DklsError) -> CryptoError {
    match e {
        DklsError::BadParameters(m) => CryptoError::BadParameters(m),
        other => CryptoError::Protocol(other.to_string()),
    }
}

impl Session for InnerKeygen {
    type Output = KeygenCandidate;

    fn poke(&mut self) -> Result<Step<KeygenCandidate>, CryptoError> {
        match self.0.poke().map_err(to_crypto)? {
            Step::Wait => Ok(Step::Wait),
            Step::Send(o) => Ok(Step::Send(o)),
            Step::Done(share) => Ok(Step::Done(KeygenCandidate { share })),
        }
    }

    fn receive(&mut self, from: NodeIndex, message: Vec<u8>) {
        self.0.receive(from, message);
    }
}

/// Key generation among `participants` followed by the agreement step, as
/// a `candela_crypto` session the node's runner drives (round deadlines
/// through `Session::expire`). `context` names the run (unique per run,
/// the same at every node); `keys` signs this node's vote and checks the
/// others'. Ends with the share at every honest node, or
/// `CryptoError::KeygenDiscarded` at every honest node.
pub fn agreed_keygen(
    participants: &[NodeIndex],
    me: NodeIndex,
    threshold: usize,
    context: &[u8],
    keys: Arc<dyn VoteKeys>,
) -> Result<BoxedSession<DklsKeyShare>, DklsError> {
    let mut sorted = participants.to_vec();
    sorted.sort_unstable();
    let inner = DklsKeygen::new(&sorted, me, threshold, context)?;
    let mut vote_context = b"candela-dkls23-agreed-keygen/".to_vec();
    vote_context.extend_from_slice(context);
    agreed(
        Box::new(InnerKeygen(inner)),
        &sorted,
        me,
        threshold,
        &vote_context,
        keys,
    )
    .map_err(|e| DklsError::BadParameters(e.to_string()))
}
