//! The messages of this crate's sessions and their binary encoding: a
//! version byte, then the message in postcard (the compact serde format
//! `dkls23` itself uses: varint lengths, raw bytes, no field names; about
//! 7% smaller than MessagePack for these messages). The payloads are
//! `dkls23`'s own message types.
use dkls23::protocols::dkg::{
    BroadcastDerivationPhase2to4, BroadcastDerivationPhase3to4, TransmitInitMulPhase3to4,
    TransmitInitZeroSharePhase2to4, TransmitInitZeroSharePhase3to4,
};
use dkls23::protocols::signing::{Broadcast3to4, TransmitPhase1to2, TransmitPhase2to3};
use dkls23::utilities::hashes::HashOutput;
use dkls23::utilities::proofs::DLogProof;
use k256_v14::Secp256k1;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::DklsError;

/// Version byte that starts every message of this crate.
pub const WIRE_VERSION: u8 = 1;

/// A key-generation message (DKLs23's DKG, Protocol 9.1 of ePrint 2023/602,
/// with the setup of the zero-share and two-party multiplication
/// functionalities and the BIP-32 chain code).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[allow(clippy::large_enum_variant)]
pub enum KeygenMessage {
    /// Round 1, private (secret: must travel encrypted): the sender's
    /// polynomial evaluated at the receiver's index.
    Fragment(k256_v14::Scalar),
    /// Round 2, broadcast: commitments to the sender's discrete-log proof
    /// and to its part of the chain code.
    Commitments {
        /// Commitment to the proof of `p(i)·G`.
        proof: HashOutput,
        /// Commitment to the sender's chain-code contribution.
        chain_code: BroadcastDerivationPhase2to4,
    },
    /// Round 2, private: commitment to the pair's zero-share seed.
    ZeroSeedCommitment(TransmitInitZeroSharePhase2to4),
    /// Round 3, broadcast: the proof and the chain-code contribution opened.
    Openings {
        /// Proof of knowledge of `p(i)` for the point `p(i)·G`.
        proof: DLogProof<Secp256k1>,
        /// The chain-code contribution and its salt.
        chain_code: BroadcastDerivationPhase3to4,
    },
    /// Round 3, private: the zero-share seed opened and the pair's
    /// multiplication (base OT) setup.
    Setup {
        /// The zero-share seed and its salt.
        zero_seed: TransmitInitZeroSharePhase3to4,
        /// Base-OT setup of both multiplication directions.
        multiplication: TransmitInitMulPhase3to4<Secp256k1>,
    },
}

/// A signing message (DKLs23 Protocol 3.6; phase 4 is local).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[allow(clippy::large_enum_variant)]
pub enum SignMessage {
    /// Round 1, private: commitment to the instance point, first message of
    /// the pair's two multiplications (OT extension).
    Round1(TransmitPhase1to2),
    /// Round 2, private: decommitment, multiplication answer and checks.
    Round2(TransmitPhase2to3<Secp256k1>),
    /// Round 3, broadcast: the sender's `u_i` and `w_i`.
    Round3(Broadcast3to4<Secp256k1>),
}

/// Encode a message: the version byte, then postcard.
pub fn encode<T: Serialize>(message: &T) -> Result<Vec<u8>, DklsError> {
    postcard::to_extend(message, vec![WIRE_VERSION])
        .map_err(|e| DklsError::Encoding(format!("encode: {e}")))
}

/// Decode what [`encode`] wrote.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DklsError> {
    match bytes.split_first() {
        Some((&WIRE_VERSION, rest)) => {
            let (value, trailing) = postcard::take_from_bytes(rest)
                .map_err(|e| DklsError::Encoding(format!("decode: {e}")))?;
            if !trailing.is_empty() {
                return Err(DklsError::Encoding(format!(
                    "{} trailing bytes",
                    trailing.len()
                )));
            }
            Ok(value)
        }
        Some((v, _)) => Err(DklsError::Encoding(format!("unknown wire version {v}"))),
        None => Err(DklsError::Encoding("empty message".into())),
    }
}
