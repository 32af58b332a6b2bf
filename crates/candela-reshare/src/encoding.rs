//! The reshare's wire messages: a tag, the reshare's context, then fixed-size
//! group elements and scalars in their curve crate's canonical encoding.
use ff::PrimeField;
use group::{Group, GroupEncoding};

use crate::{Dealing, NodeIndex, ReshareError};

const DEAL: u8 = 1;
const SHARE: u8 = 2;
const CONFIRM: u8 = 3;
/// More coefficients than any committee this crate accepts could need.
const MAX_COMMITMENTS: usize = 4096;

/// A decoded message.
pub(crate) enum Message<G: Group> {
    /// A dealer's commitments (broadcast).
    Deal(Dealing<G>),
    /// A dealer's share for the receiver (private).
    Share(G::Scalar),
    /// A new member's confirmation digest (broadcast).
    Confirm([u8; 32]),
}

fn point_len<G: GroupEncoding>() -> usize {
    G::Repr::default().as_ref().len()
}

fn scalar_len<F: PrimeField>() -> usize {
    F::Repr::default().as_ref().len()
}

pub(crate) fn encode_deal<G: Group + GroupEncoding>(context: &[u8; 32], d: &Dealing<G>) -> Vec<u8> {
    let mut out = Vec::with_capacity(37 + d.commitments.len() * point_len::<G>());
    out.push(DEAL);
    out.extend_from_slice(context);
    out.extend_from_slice(&(d.commitments.len() as u32).to_be_bytes());
    for c in &d.commitments {
        out.extend_from_slice(c.to_bytes().as_ref());
    }
    out
}

pub(crate) fn encode_share<G: Group>(context: &[u8; 32], s: &G::Scalar) -> Vec<u8>
where
    G::Scalar: PrimeField,
{
    let mut out = Vec::with_capacity(33 + scalar_len::<G::Scalar>());
    out.push(SHARE);
    out.extend_from_slice(context);
    out.extend_from_slice(s.to_repr().as_ref());
    out
}

pub(crate) fn encode_confirm(context: &[u8; 32], digest: &[u8; 32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(65);
    out.push(CONFIRM);
    out.extend_from_slice(context);
    out.extend_from_slice(digest);
    out
}

/// Decode a message from `party`, refusing one made for another reshare.
pub(crate) fn decode<G: Group + GroupEncoding>(
    party: NodeIndex,
    context: &[u8; 32],
    bytes: &[u8],
) -> Result<Message<G>, ReshareError> {
    let bad = |reason: &str| ReshareError::BadMessage {
        party,
        reason: reason.to_string(),
    };
    if bytes.len() < 33 {
        return Err(bad("too short"));
    }
    let (tag, rest) = (bytes[0], &bytes[1..]);
    let (ctx, body) = rest.split_at(32);
    if ctx != context {
        return Err(ReshareError::WrongContext { party });
    }
    match tag {
        DEAL => {
            if body.len() < 4 {
                return Err(bad("dealing without a count"));
            }
            let (count, points) = body.split_at(4);
            let count = u32::from_be_bytes([count[0], count[1], count[2], count[3]]) as usize;
            let len = point_len::<G>();
            if count == 0 || count > MAX_COMMITMENTS || points.len() != count * len {
                return Err(bad("dealing of the wrong length"));
            }
            let commitments = points
                .chunks(len)
                .map(|chunk| {
                    let mut repr = G::Repr::default();
                    repr.as_mut().copy_from_slice(chunk);
                    Option::<G>::from(G::from_bytes(&repr))
                        .ok_or_else(|| bad("a commitment is not a group element"))
                })
                .collect::<Result<Vec<G>, _>>()?;
            Ok(Message::Deal(Dealing { commitments }))
        }
        SHARE => {
            let mut repr = <G::Scalar as PrimeField>::Repr::default();
            if body.len() != repr.as_ref().len() {
                return Err(bad("share of the wrong length"));
            }
            repr.as_mut().copy_from_slice(body);
            Option::<G::Scalar>::from(G::Scalar::from_repr(repr))
                .map(Message::Share)
                .ok_or_else(|| bad("the share is not a scalar"))
        }
        CONFIRM => {
            let digest: [u8; 32] = body
                .try_into()
                .map_err(|_| bad("confirmation of the wrong length"))?;
            Ok(Message::Confirm(digest))
        }
        _ => Err(bad("unknown message type")),
    }
}
