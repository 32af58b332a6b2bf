//! The sans-IO session shape, as in `candela-crypto`: the driver pokes a
//! session for messages to send and feeds it the messages it receives.
use crate::{FrostError, PartyIndex};

/// A message a session wants sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// To every other participant.
    Broadcast(Vec<u8>),
    /// To one participant only (must travel encrypted and authenticated).
    Private(PartyIndex, Vec<u8>),
}

/// What a poked session asks of its driver.
#[derive(Debug)]
pub enum Step<T> {
    /// Nothing to do until another message arrives.
    Wait,
    /// Send this message, then poke again.
    Send(Outgoing),
    /// The protocol finished with this output.
    Done(T),
}

/// One node's side of a multi-party protocol, driven without IO.
pub trait Session: Send {
    /// What the protocol produces.
    type Output;
    /// Advance as far as possible.
    fn poke(&mut self) -> Result<Step<Self::Output>, FrostError>;
    /// Deliver a message from another participant (`from` must be
    /// authenticated by the transport).
    fn receive(&mut self, from: PartyIndex, message: Vec<u8>);
}

impl<S: Session + ?Sized> Session for Box<S> {
    type Output = S::Output;

    fn poke(&mut self) -> Result<Step<Self::Output>, FrostError> {
        (**self).poke()
    }

    fn receive(&mut self, from: PartyIndex, message: Vec<u8>) {
        (**self).receive(from, message)
    }
}
