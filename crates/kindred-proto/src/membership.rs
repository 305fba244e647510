//! Proving membership of a circle to a connected peer (spec/protocol.md
//! §6.1): a peer that merely subscribes to a circle's gossip topic (whose
//! string any connected peer sees) is not a member until it answers a
//! challenge only holders of the circle's key can answer.

use serde::{Deserialize, Serialize};

use crate::codec::{self, DecodeError, Id32};

pub const PROTOCOL: &str = "/kindred/member/1";
/// Cap on a challenge or an answer, checked before decoding.
pub const MAX_BYTES: usize = 256;

/// "Prove you are in the circle this tag names (for us two), over my nonce."
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    /// [`crate::TopicKeys::member_tag`] from the challenger to the prover.
    pub tag: Id32,
    /// 32 fresh random bytes.
    pub nonce: Id32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Answer {
    /// [`crate::TopicKeys::member_proof`] over the challenger's nonce.
    Proof(Id32),
    /// No circle of ours has that tag (or we will not say).
    Unknown,
}

impl Challenge {
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        codec::decode("membership challenge", bytes, MAX_BYTES)
    }
}

impl Answer {
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        codec::decode("membership answer", bytes, MAX_BYTES)
    }
}

/// Whether `answer` proves membership of `keys`'s circle to `challenger`,
/// in time that does not depend on where a wrong proof differs.
pub fn verify(
    keys: &crate::TopicKeys,
    challenger: &[u8],
    prover: &[u8],
    nonce: &[u8; 32],
    answer: &Answer,
) -> bool {
    match answer {
        Answer::Proof(p) => {
            crate::constant_time_eq(&p.0, &keys.member_proof(challenger, prover, nonce))
        }
        Answer::Unknown => false,
    }
}
