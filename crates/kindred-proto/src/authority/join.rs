//! The join session (spec/invite.md §4): a joiner sends its signed join
//! request to any member over `/kindred/join/1`; the member answers with
//! the circle's ops (from which the joiner opens its own rekey entry), a
//! "waiting for a moderator", or the reason it was refused.

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use super::{MAX_OPS, MAX_OP_BYTES};
use crate::codec::{self, Capped, DecodeError, Fixed, Id32};
use crate::ids::OpId;

pub const JOIN_PROTOCOL: &str = "/kindred/join/1";
/// A join request is one op's worth at most; checked before decoding.
pub const MAX_JOIN_REQUEST_BYTES: usize = MAX_OP_BYTES;
/// The longest answer: a circle's ops are usually far below this.
pub const MAX_JOIN_REPLY_BYTES: usize = 16 * 1024 * 1024;
/// The longest refusal reason shown to the joiner.
pub const MAX_REASON_CHARS: usize = 300;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JoinReply {
    /// Every op the member holds, and (policy `share`) the secrets of the
    /// epochs before the admission, by the op that opened each.
    Admitted {
        ops: Vec<Vec<u8>>,
        history: Vec<(OpId, [u8; 32])>,
        /// Members' contact codes (each signed by its node, vouching for
        /// the pseudonym), so the newcomer can write to members who
        /// published theirs before it arrived.
        cards: Vec<String>,
    },
    /// The invite needs a moderator's approval; ask again later.
    Waiting,
    /// Final: the invite does not (or no longer) let this person in.
    Refused(String),
    /// This node cannot judge it (it is not in that circle): ask another.
    NotHere,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Wire {
    Admitted(
        Capped<ByteBuf, MAX_OPS>,
        Capped<(Id32, Id32), 4096>,
        Capped<String, { super::MAX_MEMBERS }>,
    ),
    Waiting,
    Refused(String),
    #[serde(rename = "not-here")]
    NotHere,
}

impl JoinReply {
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(&match self {
            JoinReply::Admitted {
                ops,
                history,
                cards,
            } => Wire::Admitted(
                Capped(ops.iter().map(|o| ByteBuf::from(o.clone())).collect()),
                Capped(
                    history
                        .iter()
                        .map(|(op, s)| (Fixed(op.0), Fixed(*s)))
                        .collect(),
                ),
                Capped(cards.clone()),
            ),
            JoinReply::Waiting => Wire::Waiting,
            JoinReply::Refused(r) => Wire::Refused(r.clone()),
            JoinReply::NotHere => Wire::NotHere,
        })
    }

    pub fn decode(bytes: &[u8]) -> Result<JoinReply, DecodeError> {
        Ok(
            match codec::decode("join answer", bytes, MAX_JOIN_REPLY_BYTES)? {
                Wire::Admitted(ops, history, cards) => JoinReply::Admitted {
                    ops: ops.0.into_iter().map(|o| o.into_vec()).collect(),
                    history: history
                        .0
                        .into_iter()
                        .map(|(o, s)| (OpId(o.0), s.0))
                        .collect(),
                    cards: cards.0,
                },
                Wire::Waiting => JoinReply::Waiting,
                Wire::Refused(r) => JoinReply::Refused(r.chars().take(MAX_REASON_CHARS).collect()),
                Wire::NotHere => JoinReply::NotHere,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        for r in [
            JoinReply::Admitted {
                ops: vec![vec![1, 2], vec![3]],
                history: vec![(OpId([4; 32]), [5; 32])],
                cards: vec!["kindredc1abc".into()],
            },
            JoinReply::Waiting,
            JoinReply::NotHere,
            JoinReply::Refused("this invite expired".into()),
        ] {
            assert_eq!(JoinReply::decode(&r.encode()).unwrap(), r);
        }
        let long = JoinReply::Refused("x".repeat(5000)).encode();
        assert!(
            matches!(JoinReply::decode(&long), Ok(JoinReply::Refused(r)) if r.len() == MAX_REASON_CHARS)
        );
        assert!(JoinReply::decode(&[0xff; 10]).is_err());
    }
}
