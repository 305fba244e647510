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

/// Fetching circle actions by id (`/kindred/ops/1`): a member whose node
/// holds an op whose parents it cannot read (they travelled under a key it
/// never held, on the other side of a partition) asks a member for them.
pub const OPS_PROTOCOL: &str = "/kindred/ops/1";
/// Most ops asked for at once, and most heads named.
pub const MAX_OPS_WANTED: usize = 64;
/// Most ops in one answer.
pub const MAX_OPS_ANSWER: usize = 512;
/// Longest ops request (spec/authority.md §6): 64 wanted ids and 64 heads
/// with their framing fit.
pub const MAX_OPS_REQUEST_BYTES: usize = 8 * 1024;
pub const LABEL_OPS_REQUEST: &[u8] = b"kindred/v1/ops-request";

/// Signed by the asking member's pseudonym and bound to both PeerIds, so
/// only a member can fetch a circle's actions, and only for itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpsRequest {
    pub circle: crate::ids::CircleId,
    pub member: crate::ids::PublicKey,
    /// Ops the asker knows are missing (parents it lacks).
    pub want: Vec<OpId>,
    /// The asker's authority heads: the answer adds what lies beyond them.
    pub heads: Vec<OpId>,
    sig: [u8; 64],
}

#[derive(Serialize, Deserialize)]
struct WireOpsRequest(
    Id32,
    Id32,
    Capped<Id32, MAX_OPS_WANTED>,
    Capped<Id32, MAX_OPS_WANTED>,
    Fixed<64>,
);

fn ops_signing_input(
    circle: &crate::ids::CircleId,
    want: &[OpId],
    heads: &[OpId],
    asker: &[u8],
    answerer: &[u8],
) -> Vec<u8> {
    let mut input = LABEL_OPS_REQUEST.to_vec();
    input.extend_from_slice(circle.as_bytes());
    for peer in [asker, answerer] {
        input.extend_from_slice(&(peer.len() as u16).to_be_bytes());
        input.extend_from_slice(peer);
    }
    for list in [want, heads] {
        input.extend_from_slice(&(list.len() as u16).to_be_bytes());
        for w in list {
            input.extend_from_slice(w.as_bytes());
        }
    }
    input
}

impl OpsRequest {
    pub fn sign(
        circle: crate::ids::CircleId,
        member: &crate::identity::Pseudonym,
        want: Vec<OpId>,
        heads: Vec<OpId>,
        asker: &[u8],
        answerer: &[u8],
    ) -> OpsRequest {
        let want: Vec<OpId> = want.into_iter().take(MAX_OPS_WANTED).collect();
        let heads: Vec<OpId> = heads.into_iter().take(MAX_OPS_WANTED).collect();
        let sig = member.sign(&ops_signing_input(&circle, &want, &heads, asker, answerer));
        OpsRequest {
            circle,
            member: member.public_key(),
            want,
            heads,
            sig,
        }
    }

    /// Whether the pseudonym named really asked, on this connection.
    pub fn verify(&self, asker: &[u8], answerer: &[u8]) -> bool {
        crate::identity::verify(
            &self.member,
            &ops_signing_input(&self.circle, &self.want, &self.heads, asker, answerer),
            &self.sig,
        )
    }

    pub fn encode(&self) -> Vec<u8> {
        codec::encode(&WireOpsRequest(
            Fixed(self.circle.0),
            Fixed(self.member.0),
            Capped(self.want.iter().map(|w| Fixed(w.0)).collect()),
            Capped(self.heads.iter().map(|w| Fixed(w.0)).collect()),
            Fixed(self.sig),
        ))
    }

    pub fn decode(bytes: &[u8]) -> Result<OpsRequest, DecodeError> {
        let WireOpsRequest(c, m, want, heads, sig) =
            codec::decode("ops request", bytes, MAX_OPS_REQUEST_BYTES)?;
        Ok(OpsRequest {
            circle: crate::ids::CircleId(c.0),
            member: crate::ids::PublicKey(m.0),
            want: want.0.into_iter().map(|w| OpId(w.0)).collect(),
            heads: heads.0.into_iter().map(|w| OpId(w.0)).collect(),
            sig: sig.0,
        })
    }
}

/// The ops asked for that the member holds (nothing for a non-member).
pub fn encode_ops(ops: &[Vec<u8>]) -> Vec<u8> {
    codec::encode(&Capped::<ByteBuf, MAX_OPS_ANSWER>(
        ops.iter()
            .take(MAX_OPS_ANSWER)
            .map(|o| ByteBuf::from(o.clone()))
            .collect(),
    ))
}

pub fn decode_ops(bytes: &[u8]) -> Result<Vec<Vec<u8>>, DecodeError> {
    let ops: Capped<ByteBuf, MAX_OPS_ANSWER> =
        codec::decode("ops answer", bytes, MAX_JOIN_REPLY_BYTES)?;
    Ok(ops.0.into_iter().map(|o| o.into_vec()).collect())
}

#[cfg(test)]
mod ops_tests {
    use super::*;

    #[test]
    fn an_ops_request_is_bound_to_its_peers() {
        let me = crate::identity::Pseudonym::from_seed([1; 32]);
        let r = OpsRequest::sign(
            crate::ids::CircleId([2; 32]),
            &me,
            vec![OpId([3; 32])],
            vec![OpId([4; 32])],
            b"a",
            b"b",
        );
        let back = OpsRequest::decode(&r.encode()).unwrap();
        assert!(back.verify(b"a", b"b"));
        assert!(!back.verify(b"a", b"c"));
        assert!(!back.verify(b"b", b"a"));
        assert_eq!(
            decode_ops(&encode_ops(&[vec![1, 2]])).unwrap(),
            vec![vec![1, 2]]
        );
    }
}
