//! One node's side of a reshare, driven without IO.
use std::collections::{BTreeMap, VecDeque};

use group::{Group, GroupEncoding};
use rand_core::{CryptoRng, RngCore};

use crate::encoding::{decode, encode_confirm, encode_deal, encode_share, Message};
use crate::receive::{check_dealing, confirmation_digest, public_result};
use crate::{deal, Dealing, NewShare, NodeIndex, OldShare, Receiver, ReshareError, ReshareParams};

/// A message the session wants sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// To every other participant of the reshare.
    Broadcast(Vec<u8>),
    /// To one participant only (must travel encrypted and authenticated).
    Private(NodeIndex, Vec<u8>),
}

/// What a poked session asks of its driver.
#[derive(Debug)]
pub enum Step<T> {
    /// Nothing to do until another message arrives.
    Wait,
    /// Send this message, then poke again.
    Send(Outgoing),
    /// The reshare finished.
    Done(T),
}

/// What this node does in a reshare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Role {
    /// It deals its old share.
    pub dealer: bool,
    /// It receives a new share.
    pub member: bool,
}

/// The end of a reshare for one node.
#[derive(Debug)]
pub struct ReshareOutput<G: Group> {
    /// This node's new share, if it is in the new committee.
    pub new_share: Option<NewShare<G>>,
    /// The digest every new member confirmed. Once a node holds this output
    /// every new member has the new key: old shares may be erased.
    pub digest: [u8; 32],
}

/// One node's side of a reshare: a dealer, a new member, or both.
pub struct ReshareSession<G: Group + GroupEncoding> {
    params: ReshareParams,
    me: NodeIndex,
    group_key: G,
    old_public_shares: BTreeMap<NodeIndex, G>,
    old_share: Option<OldShare<G>>,
    rng: Box<FillBytes>,
    started: bool,
    outbox: VecDeque<Outgoing>,
    receiver: Option<Receiver<G>>,
    dealings: BTreeMap<NodeIndex, Dealing<G>>,
    early_shares: BTreeMap<NodeIndex, G::Scalar>,
    digest: Option<[u8; 32]>,
    new_share: Option<NewShare<G>>,
    confirmations: BTreeMap<NodeIndex, [u8; 32]>,
    error: Option<ReshareError>,
    before_confirm: Option<Box<BeforeConfirm<G>>>,
}

/// Called with the new share (and the digest to be confirmed) before this
/// node confirms it: the place to store the share durably, so that a node
/// never confirms a share it could lose.
pub type BeforeConfirm<G> = dyn FnMut(&NewShare<G>, &[u8; 32]) -> Result<(), String> + Send;

/// A source of random bytes (a CSPRNG given to [`ReshareSession::new`]).
type FillBytes = dyn FnMut(&mut [u8]) + Send;

/// An RNG fed from a closure, so the session does not carry a generic RNG.
struct FillRng<'a>(&'a mut (dyn FnMut(&mut [u8]) + Send));

impl RngCore for FillRng<'_> {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        (self.0)(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        (self.0)(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        (self.0)(dest)
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        (self.0)(dest);
        Ok(())
    }
}
// The closure is given an OS or test CSPRNG by `ReshareSession::new`.
impl CryptoRng for FillRng<'_> {}

impl<G: Group + GroupEncoding> ReshareSession<G> {
    /// A session for node `me`. `old_share` is its share if it deals (it
    /// must if it is in `params.dealers`); `group_key` and
    /// `old_public_shares` are the public facts of the key being reshared.
    pub fn new(
        params: ReshareParams,
        me: NodeIndex,
        group_key: G,
        old_public_shares: BTreeMap<NodeIndex, G>,
        old_share: Option<OldShare<G>>,
        mut rng: impl RngCore + CryptoRng + Send + 'static,
    ) -> Result<Self, ReshareError> {
        let dealer = params.dealers.contains(&me);
        let member = params.new.contains(me);
        if !dealer && !member {
            return Err(ReshareError::BadParameters(format!(
                "node {me} neither deals nor receives in this reshare"
            )));
        }
        match &old_share {
            Some(s) if s.me != me => {
                return Err(ReshareError::BadParameters(format!(
                    "the old share belongs to node {}, not {me}",
                    s.me
                )))
            }
            None if dealer => {
                return Err(ReshareError::BadParameters(format!(
                    "node {me} deals but has no old share"
                )))
            }
            _ => {}
        }
        let receiver = if member {
            Some(Receiver::new(
                params.clone(),
                me,
                group_key,
                old_public_shares.clone(),
            )?)
        } else {
            None
        };
        Ok(ReshareSession {
            params,
            me,
            group_key,
            old_public_shares,
            old_share: if dealer { old_share } else { None },
            rng: Box::new(move |buf: &mut [u8]| rng.fill_bytes(buf)),
            started: false,
            outbox: VecDeque::new(),
            receiver,
            dealings: BTreeMap::new(),
            early_shares: BTreeMap::new(),
            digest: None,
            new_share: None,
            confirmations: BTreeMap::new(),
            error: None,
            before_confirm: None,
        })
    }

    /// Run `hook` on the new share before this node confirms it (a new
    /// member only). A hook error ends the session with
    /// [`ReshareError::Storage`].
    pub fn before_confirm(
        mut self,
        hook: impl FnMut(&NewShare<G>, &[u8; 32]) -> Result<(), String> + Send + 'static,
    ) -> Self {
        self.before_confirm = Some(Box::new(hook));
        self
    }

    /// What this node does in the reshare.
    pub fn role(&self) -> Role {
        Role {
            dealer: self.params.dealers.contains(&self.me),
            member: self.receiver.is_some(),
        }
    }

    /// The nodes this session still waits on: dealers whose dealing (or
    /// share) is missing, then new members whose confirmation is.
    pub fn waiting_for(&self) -> Vec<NodeIndex> {
        if self.digest.is_none() {
            return self
                .params
                .dealers
                .iter()
                .filter(|d| match &self.receiver {
                    Some(r) => r.waiting_for().contains(d),
                    None => !self.dealings.contains_key(d),
                })
                .copied()
                .collect();
        }
        self.params
            .new
            .members
            .iter()
            .filter(|m| !self.confirmations.contains_key(m))
            .copied()
            .collect()
    }

    /// Advance as far as possible.
    pub fn poke(&mut self) -> Result<Step<ReshareOutput<G>>, ReshareError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        if !self.started {
            self.started = true;
            if let Err(e) = self.start() {
                self.error = Some(e.clone());
                return Err(e);
            }
        }
        if let Some(out) = self.outbox.pop_front() {
            return Ok(Step::Send(out));
        }
        if self.digest.is_none() {
            if let Err(e) = self.try_conclude() {
                self.error = Some(e.clone());
                return Err(e);
            }
            if let Some(out) = self.outbox.pop_front() {
                return Ok(Step::Send(out));
            }
        }
        let Some(digest) = self.digest else {
            return Ok(Step::Wait);
        };
        for (&party, theirs) in &self.confirmations {
            if *theirs != digest {
                let e = ReshareError::Disagreement { party };
                self.error = Some(e.clone());
                return Err(e);
            }
        }
        if self
            .params
            .new
            .members
            .iter()
            .all(|m| self.confirmations.contains_key(m))
        {
            return Ok(Step::Done(ReshareOutput {
                new_share: self.new_share.take(),
                digest,
            }));
        }
        Ok(Step::Wait)
    }

    /// Deliver a message from `from` (authenticated by the transport).
    pub fn receive(&mut self, from: NodeIndex, bytes: &[u8]) {
        if self.error.is_some() {
            return;
        }
        if let Err(e) = self.handle(from, bytes) {
            self.error = Some(e);
        }
    }

    fn start(&mut self) -> Result<(), ReshareError> {
        let Some(old) = self.old_share.take() else {
            return Ok(());
        };
        let mut fill = &mut self.rng;
        let (dealing, mut shares) = deal(&self.params, &old, &mut FillRng(&mut fill))?;
        drop(old);
        self.outbox.push_back(Outgoing::Broadcast(encode_deal(
            &self.params.context,
            &dealing,
        )));
        for (&j, share) in &shares {
            if j != self.me {
                self.outbox.push_back(Outgoing::Private(
                    j,
                    encode_share::<G>(&self.params.context, share),
                ));
            }
        }
        let own = shares.remove(&self.me);
        self.on_dealing(self.me, dealing)?;
        if let Some(share) = own {
            self.on_share(self.me, share)?;
        }
        for s in shares.values_mut() {
            *s = <G::Scalar as ff::Field>::ZERO;
        }
        Ok(())
    }

    fn handle(&mut self, from: NodeIndex, bytes: &[u8]) -> Result<(), ReshareError> {
        match decode::<G>(from, &self.params.context, bytes)? {
            Message::Deal(dealing) => self.on_dealing(from, dealing),
            Message::Share(share) => self.on_share(from, share),
            Message::Confirm(digest) => {
                if !self.params.new.contains(from) || self.confirmations.contains_key(&from) {
                    return Err(ReshareError::Unexpected {
                        party: from,
                        what: "confirmation",
                    });
                }
                self.confirmations.insert(from, digest);
                Ok(())
            }
        }
    }

    fn on_dealing(&mut self, from: NodeIndex, dealing: Dealing<G>) -> Result<(), ReshareError> {
        if !self.params.dealers.contains(&from) || self.dealings.contains_key(&from) {
            return Err(ReshareError::Unexpected {
                party: from,
                what: "dealing",
            });
        }
        check_dealing(&self.params, from, &dealing, &self.old_public_shares)?;
        if let (Some(receiver), Some(share)) = (&mut self.receiver, self.early_shares.remove(&from))
        {
            receiver.accept(from, dealing.clone(), share)?;
        }
        self.dealings.insert(from, dealing);
        Ok(())
    }

    fn on_share(&mut self, from: NodeIndex, share: G::Scalar) -> Result<(), ReshareError> {
        let Some(receiver) = &mut self.receiver else {
            return Err(ReshareError::Unexpected {
                party: from,
                what: "share (this node is not in the new committee)",
            });
        };
        if !self.params.dealers.contains(&from)
            || self.early_shares.contains_key(&from)
            || !receiver.waiting_for().contains(&from)
        {
            return Err(ReshareError::Unexpected {
                party: from,
                what: "share",
            });
        }
        match self.dealings.get(&from) {
            Some(dealing) => receiver.accept(from, dealing.clone(), share),
            None => {
                self.early_shares.insert(from, share);
                Ok(())
            }
        }
    }

    fn try_conclude(&mut self) -> Result<(), ReshareError> {
        let outcome = match &self.receiver {
            Some(receiver) => receiver
                .finish()?
                .map(|share| (share.public_key, share.public_shares.clone(), Some(share))),
            None if self.dealings.len() == self.params.dealers.len() => {
                let (key, shares) = public_result(&self.params, &self.dealings);
                Some((key, shares, None))
            }
            None => None,
        };
        let Some((key, public_shares, share)) = outcome else {
            return Ok(());
        };
        if key != self.group_key {
            return Err(ReshareError::WrongSum);
        }
        let digest = confirmation_digest(&self.params, &key, &public_shares);
        if let (Some(share), Some(hook)) = (&share, &mut self.before_confirm) {
            hook(share, &digest).map_err(ReshareError::Storage)?;
        }
        self.digest = Some(digest);
        if share.is_some() {
            self.confirmations.insert(self.me, digest);
            self.outbox.push_back(Outgoing::Broadcast(encode_confirm(
                &self.params.context,
                &digest,
            )));
        }
        self.new_share = share;
        Ok(())
    }
}

impl<G: Group + GroupEncoding> Drop for ReshareSession<G> {
    fn drop(&mut self) {
        for s in self.early_shares.values_mut() {
            *s = <G::Scalar as ff::Field>::ZERO;
        }
    }
}
