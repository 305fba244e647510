//! One signed authority op and its wire form (spec/authority.md §1, §3).

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};

use super::*;
use crate::codec::{self, Capped, DecodeError, Fixed, Id32};
use crate::identity::{self, Pseudonym};
use crate::ids::{CircleId, OpId, PublicKey, TopicId};
use crate::invite::MAX_RULES_BYTES;
use crate::{Millis, MAX_NAME_BYTES};

/// Longest PeerId a join request may carry, in its binary form.
const MAX_PEER_BYTES: usize = 64;

/// Whether newcomers may read what was said before they arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum History {
    /// The default: a newcomer holds only the keys from its admission on.
    Protect,
    /// The admitting member also hands over every earlier epoch secret.
    Share,
}

/// Who may issue invites.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WhoInvites {
    Members,
    Moderators,
}

/// Set once, in the genesis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub history: History,
    pub invite: WhoInvites,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            history: History::Protect,
            invite: WhoInvites::Members,
        }
    }
}

/// A new epoch secret sealed to each recipient, in recipient order (§5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rekey {
    pub ephemeral: [u8; 32],
    pub entries: Vec<[u8; 48]>,
}

/// What a joiner asks for, signed by the invite key and by its pseudonym.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinBody {
    pub circle: CircleId,
    /// The invite's public key.
    pub invite: PublicKey,
    /// The joiner's pseudonym in this circle.
    pub joiner: PublicKey,
    /// The joiner's X25519 key for rekeys.
    pub kx: [u8; 32],
    pub name: String,
    /// The joiner's PeerId, binary, so an approver can reach it.
    pub peer: Vec<u8>,
    pub ts: Millis,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinRequest {
    pub body: JoinBody,
    /// `SHA-256("kindred/v1/join" || body)`.
    pub id: [u8; 32],
    body_bytes: Vec<u8>,
    invite_sig: [u8; 64],
    joiner_sig: [u8; 64],
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Create {
        name: String,
        rules: String,
        policy: Policy,
        /// The topic id the circle's locator derives (protocol.md §2).
        topic: TopicId,
        /// The owner's X25519 key for rekeys.
        kx: [u8; 32],
        owner_name: String,
        rekey: Rekey,
    },
    Appoint(PublicKey),
    Demote(PublicKey),
    Remove {
        member: PublicKey,
        reason: String,
        rekey: Rekey,
    },
    Leave,
    Rules(String),
    Invite {
        key: PublicKey,
        expires: Option<Millis>,
        uses: Option<u32>,
        approval: bool,
    },
    Revoke(PublicKey),
    Request(JoinRequest),
    Admit {
        request: JoinRequest,
        rekey: Rekey,
    },
    Rotate(Rekey),
    /// A moderator lets a removed person back: until then no invite
    /// admits them (spec/authority.md §3).
    Readmit(PublicKey),
}

impl Action {
    /// The rekey this op carries, if it opens an epoch.
    pub fn rekey(&self) -> Option<&Rekey> {
        match self {
            Action::Create { rekey, .. }
            | Action::Remove { rekey, .. }
            | Action::Admit { rekey, .. }
            | Action::Rotate(rekey) => Some(rekey),
            _ => None,
        }
    }

    /// A short lowercase name for messages and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Create { .. } => "create",
            Action::Appoint(_) => "appoint",
            Action::Demote(_) => "demote",
            Action::Remove { .. } => "remove",
            Action::Leave => "leave",
            Action::Rules(_) => "rules",
            Action::Invite { .. } => "invite",
            Action::Revoke(_) => "revoke",
            Action::Request(_) => "request",
            Action::Admit { .. } => "admit",
            Action::Rotate(_) => "rotate",
            Action::Readmit(_) => "readmit",
        }
    }
}

/// A verified op: its signature checked, its body canonical, its fields
/// within limits. Whether it is *allowed* is for the state to say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Op {
    pub id: OpId,
    /// `None` only in the genesis.
    pub circle: Option<CircleId>,
    pub author: PublicKey,
    /// Sorted and distinct.
    pub parents: Vec<OpId>,
    pub ts: Millis,
    pub action: Action,
    encoded: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpError {
    #[error("circle action: {0}")]
    Decode(#[from] DecodeError),
    #[error("circle action: its signature does not verify")]
    BadSignature,
    #[error("circle action: join request signature by the {0} does not verify")]
    BadJoinSignature(&'static str),
    #[error("circle action: {field} {why}")]
    BadField { field: &'static str, why: String },
}

fn bad(field: &'static str, why: impl Into<String>) -> OpError {
    OpError::BadField {
        field,
        why: why.into(),
    }
}

#[derive(Serialize, Deserialize)]
struct WireSigned(ByteBuf, Fixed<64>);

#[derive(Serialize, Deserialize)]
struct WireBody(
    Option<Id32>,
    Id32,
    Capped<Id32, MAX_AUTH_PARENTS>,
    u64,
    WireAction,
);

#[derive(Serialize, Deserialize)]
struct WireRekey(Id32, Capped<Fixed<48>, MAX_MEMBERS>);

#[derive(Serialize, Deserialize)]
struct WireJoin(ByteBuf, Fixed<64>, Fixed<64>);

#[derive(Serialize, Deserialize)]
struct WireJoinBody(Id32, Id32, Id32, Id32, String, ByteBuf, u64);

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum WireAction {
    Create(String, String, Policy, Id32, Id32, String, WireRekey),
    Appoint(Id32),
    Demote(Id32),
    Remove(Id32, String, WireRekey),
    Leave,
    Rules(String),
    Invite(Id32, Option<u64>, Option<u32>, bool),
    Revoke(Id32),
    Request(WireJoin),
    Admit(WireJoin, WireRekey),
    Rotate(WireRekey),
    Readmit(Id32),
}

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

fn signing_input(label: &[u8], body: &[u8]) -> Vec<u8> {
    let mut input = Vec::with_capacity(label.len() + body.len());
    input.extend_from_slice(label);
    input.extend_from_slice(body);
    input
}

fn pk(id: Id32) -> PublicKey {
    PublicKey(id.0)
}

fn check_text(field: &'static str, text: &str, max: usize) -> Result<(), OpError> {
    if text.len() > max {
        return Err(bad(field, format!("is over {max} bytes")));
    }
    Ok(())
}

fn check_name(field: &'static str, name: &str) -> Result<(), OpError> {
    crate::text::check_name(name, MAX_NAME_BYTES).map_err(|e| bad(field, e.to_string()))
}

impl Rekey {
    fn to_wire(&self) -> WireRekey {
        WireRekey(
            Fixed(self.ephemeral),
            Capped(self.entries.iter().map(|e| Fixed(*e)).collect()),
        )
    }

    fn from_wire(w: WireRekey) -> Rekey {
        Rekey {
            ephemeral: w.0 .0,
            entries: w.1 .0.into_iter().map(|e| e.0).collect(),
        }
    }
}

impl JoinBody {
    fn check(&self) -> Result<(), OpError> {
        check_name("join request name", &self.name)?;
        if self.peer.is_empty() || self.peer.len() > MAX_PEER_BYTES {
            return Err(bad("join request peer", "has the wrong length"));
        }
        Ok(())
    }
}

impl JoinRequest {
    /// Signs a request with the invite's key and the joiner's pseudonym.
    pub fn sign(
        body: JoinBody,
        invite_key: &Pseudonym,
        joiner: &Pseudonym,
    ) -> Result<JoinRequest, OpError> {
        if invite_key.public_key() != body.invite {
            return Err(bad("join request invite", "does not match the invite key"));
        }
        if joiner.public_key() != body.joiner {
            return Err(bad("join request joiner", "does not match the signing key"));
        }
        body.check()?;
        let body_bytes = codec::encode(&WireJoinBody(
            Fixed(body.circle.0),
            Fixed(body.invite.0),
            Fixed(body.joiner.0),
            Fixed(body.kx),
            body.name.clone(),
            ByteBuf::from(body.peer.clone()),
            body.ts,
        ));
        let input = signing_input(LABEL_JOIN_REQUEST, &body_bytes);
        Ok(JoinRequest {
            id: sha256(&[LABEL_JOIN_ID, &body_bytes]),
            invite_sig: invite_key.sign(&input),
            joiner_sig: joiner.sign(&input),
            body,
            body_bytes,
        })
    }

    /// Decodes and verifies a request's bytes (as sent over a join session).
    pub fn decode(bytes: &[u8]) -> Result<JoinRequest, OpError> {
        let wire: WireJoin = codec::decode("join request", bytes, MAX_OP_BYTES)?;
        Self::from_wire(wire)
    }

    pub fn encode(&self) -> Vec<u8> {
        codec::encode(&self.to_wire())
    }

    fn to_wire(&self) -> WireJoin {
        WireJoin(
            ByteBuf::from(self.body_bytes.clone()),
            Fixed(self.invite_sig),
            Fixed(self.joiner_sig),
        )
    }

    fn from_wire(w: WireJoin) -> Result<JoinRequest, OpError> {
        let WireJoin(body_bytes, invite_sig, joiner_sig) = w;
        let b: WireJoinBody = codec::decode_canonical("join request", &body_bytes, MAX_OP_BYTES)?;
        let body = JoinBody {
            circle: CircleId(b.0 .0),
            invite: pk(b.1),
            joiner: pk(b.2),
            kx: b.3 .0,
            name: b.4,
            peer: b.5.into_vec(),
            ts: b.6,
        };
        body.check()?;
        let input = signing_input(LABEL_JOIN_REQUEST, &body_bytes);
        if !identity::verify(&body.invite, &input, &invite_sig.0) {
            return Err(OpError::BadJoinSignature("invite key"));
        }
        if !identity::verify(&body.joiner, &input, &joiner_sig.0) {
            return Err(OpError::BadJoinSignature("joiner"));
        }
        Ok(JoinRequest {
            id: sha256(&[LABEL_JOIN_ID, &body_bytes]),
            body,
            body_bytes: body_bytes.into_vec(),
            invite_sig: invite_sig.0,
            joiner_sig: joiner_sig.0,
        })
    }
}

fn action_to_wire(a: &Action) -> WireAction {
    match a {
        Action::Create {
            name,
            rules,
            policy,
            topic,
            kx,
            owner_name,
            rekey,
        } => WireAction::Create(
            name.clone(),
            rules.clone(),
            *policy,
            Fixed(topic.0),
            Fixed(*kx),
            owner_name.clone(),
            rekey.to_wire(),
        ),
        Action::Appoint(m) => WireAction::Appoint(Fixed(m.0)),
        Action::Demote(m) => WireAction::Demote(Fixed(m.0)),
        Action::Remove {
            member,
            reason,
            rekey,
        } => WireAction::Remove(Fixed(member.0), reason.clone(), rekey.to_wire()),
        Action::Leave => WireAction::Leave,
        Action::Rules(r) => WireAction::Rules(r.clone()),
        Action::Invite {
            key,
            expires,
            uses,
            approval,
        } => WireAction::Invite(Fixed(key.0), *expires, *uses, *approval),
        Action::Revoke(k) => WireAction::Revoke(Fixed(k.0)),
        Action::Request(r) => WireAction::Request(r.to_wire()),
        Action::Admit { request, rekey } => WireAction::Admit(request.to_wire(), rekey.to_wire()),
        Action::Rotate(r) => WireAction::Rotate(r.to_wire()),
        Action::Readmit(m) => WireAction::Readmit(Fixed(m.0)),
    }
}

fn action_from_wire(w: WireAction) -> Result<Action, OpError> {
    Ok(match w {
        WireAction::Create(name, rules, policy, topic, kx, owner_name, rekey) => Action::Create {
            name,
            rules,
            policy,
            topic: TopicId(topic.0),
            kx: kx.0,
            owner_name,
            rekey: Rekey::from_wire(rekey),
        },
        WireAction::Appoint(m) => Action::Appoint(pk(m)),
        WireAction::Demote(m) => Action::Demote(pk(m)),
        WireAction::Remove(m, reason, rekey) => Action::Remove {
            member: pk(m),
            reason,
            rekey: Rekey::from_wire(rekey),
        },
        WireAction::Leave => Action::Leave,
        WireAction::Rules(r) => Action::Rules(r),
        WireAction::Invite(k, expires, uses, approval) => Action::Invite {
            key: pk(k),
            expires,
            uses,
            approval,
        },
        WireAction::Revoke(k) => Action::Revoke(pk(k)),
        WireAction::Request(r) => Action::Request(JoinRequest::from_wire(r)?),
        WireAction::Admit(r, rekey) => Action::Admit {
            request: JoinRequest::from_wire(r)?,
            rekey: Rekey::from_wire(rekey),
        },
        WireAction::Rotate(r) => Action::Rotate(Rekey::from_wire(r)),
        WireAction::Readmit(m) => Action::Readmit(pk(m)),
    })
}

/// The limits an op's fields must keep, whoever wrote it.
fn check_fields(
    circle: Option<CircleId>,
    parents: &[OpId],
    action: &Action,
) -> Result<(), OpError> {
    let genesis = matches!(action, Action::Create { .. });
    if genesis != circle.is_none() {
        return Err(bad("circle", "must be absent exactly in the genesis"));
    }
    if genesis != parents.is_empty() {
        return Err(bad("parents", "must be empty exactly in the genesis"));
    }
    if parents.len() > MAX_AUTH_PARENTS {
        return Err(bad("parents", format!("more than {MAX_AUTH_PARENTS}")));
    }
    if parents.windows(2).any(|w| w[0] >= w[1]) {
        return Err(bad("parents", "are not sorted and distinct"));
    }
    match action {
        Action::Create {
            name,
            rules,
            owner_name,
            ..
        } => {
            check_name("circle name", name)?;
            check_name("owner name", owner_name)?;
            check_text("rules", rules, MAX_RULES_BYTES)?;
        }
        Action::Remove { reason, .. } => check_text("reason", reason, MAX_REASON_BYTES)?,
        Action::Rules(rules) => check_text("rules", rules, MAX_RULES_BYTES)?,
        Action::Request(r) | Action::Admit { request: r, .. } if Some(r.body.circle) != circle => {
            return Err(bad("join request", "names another circle"));
        }
        _ => {}
    }
    Ok(())
}

impl Op {
    /// Signs a new op. `parents` are sorted here.
    pub fn sign(
        circle: Option<CircleId>,
        author: &Pseudonym,
        mut parents: Vec<OpId>,
        ts: Millis,
        action: Action,
    ) -> Result<Op, OpError> {
        parents.sort();
        parents.dedup();
        check_fields(circle, &parents, &action)?;
        let body = codec::encode(&WireBody(
            circle.map(|c| Fixed(c.0)),
            Fixed(author.public_key().0),
            Capped(parents.iter().map(|p| Fixed(p.0)).collect()),
            ts,
            action_to_wire(&action),
        ));
        if body.len() > MAX_OP_BYTES - 128 {
            return Err(bad("op", format!("would be over {MAX_OP_BYTES} bytes")));
        }
        let sig = author.sign(&signing_input(LABEL_AUTH_SIG, &body));
        let id = OpId(sha256(&[LABEL_AUTH_OP, &body, &sig]));
        let encoded = codec::encode(&WireSigned(ByteBuf::from(body), Fixed(sig)));
        Ok(Op {
            id,
            circle,
            author: author.public_key(),
            parents,
            ts,
            action,
            encoded,
        })
    }

    /// Decodes and verifies an op from untrusted bytes.
    pub fn decode(bytes: &[u8]) -> Result<Op, OpError> {
        let WireSigned(body, sig) = codec::decode("circle action", bytes, MAX_OP_BYTES)?;
        let w: WireBody = codec::decode_canonical("circle action", &body, MAX_OP_BYTES)?;
        let author = pk(w.1);
        if !identity::verify(&author, &signing_input(LABEL_AUTH_SIG, &body), &sig.0) {
            return Err(OpError::BadSignature);
        }
        let circle = w.0.map(|c| CircleId(c.0));
        let parents: Vec<OpId> = w.2 .0.into_iter().map(|p| OpId(p.0)).collect();
        let action = action_from_wire(w.4)?;
        check_fields(circle, &parents, &action)?;
        Ok(Op {
            id: OpId(sha256(&[LABEL_AUTH_OP, &body, &sig.0])),
            circle,
            author,
            parents,
            ts: w.3,
            action,
            encoded: bytes.to_vec(),
        })
    }

    /// The op's bytes as sent and stored.
    pub fn encoded(&self) -> &[u8] {
        &self.encoded
    }
}
