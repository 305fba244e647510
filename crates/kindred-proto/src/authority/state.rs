//! The rules: what each op needs (spec/authority.md §2, §3) and what it
//! does to the state. The same `check` judges an op at its own parents
//! (rejected if it fails) and in the resolved order (superseded if it fails).

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::op::{Action, JoinRequest, Op, Policy, WhoInvites};
use super::{
    LABEL_REKEY_DUTY, MAX_MEMBERS, MAX_PENDING_JOINS, MAX_PENDING_PER_INVITE,
    MAX_REQUESTS_PER_INVITE,
};
use crate::ids::{CircleId, OpId, PublicKey, TopicId};
use crate::Millis;

use super::refusal::{action_words, need};
pub use super::refusal::{date, handle, Refusal};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Member = 1,
    Moderator = 2,
    Owner = 3,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Moderator => "moderator",
            Role::Owner => "owner",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Standing {
    Member(Role),
    /// `epoch` is the number of the epoch current when it took effect:
    /// their posts in it and later are refused (spec/authority.md §5).
    Removed {
        by: PublicKey,
        reason: String,
        op: OpId,
        ts: Millis,
        epoch: u32,
        /// The `readmit` op that lets them join again, if a moderator
        /// signed one; until then no invite admits them.
        readmitted: Option<OpId>,
    },
    Left {
        op: OpId,
        ts: Millis,
        epoch: u32,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Person {
    pub standing: Standing,
    pub kx: [u8; 32],
    /// The name the person joined with (later names come in profiles).
    pub name: String,
    /// The op that made them a member: the genesis or their admission.
    pub since: OpId,
    pub since_ts: Millis,
    /// Their PeerId, binary (empty for the owner: the invite names it).
    pub peer: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revoked {
    pub by: PublicKey,
    pub op: OpId,
    pub ts: Millis,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InviteInfo {
    pub key: PublicKey,
    pub issuer: PublicKey,
    pub op: OpId,
    pub ts: Millis,
    pub expires: Option<Millis>,
    pub uses: Option<u32>,
    pub approval: bool,
    pub used: u32,
    /// Join requests ever recorded through it (§3: at most
    /// [`MAX_REQUESTS_PER_INVITE`]).
    pub requested: u32,
    pub revoked: Option<Revoked>,
}

/// A join request waiting for a moderator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingJoin {
    pub request: JoinRequest,
    pub op: OpId,
    pub by: PublicKey,
    pub ts: Millis,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Epoch {
    pub op: OpId,
    /// 0 for the genesis, counting applied epoch ops in resolved order.
    pub number: u32,
    /// Sorted; entry `i` of the op's rekey is for `recipients[i]`.
    pub recipients: Vec<PublicKey>,
}

/// Everything the ops of one circle say, as of some set of them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State {
    pub circle: Option<CircleId>,
    pub name: String,
    pub rules: String,
    pub policy: Policy,
    pub topic: Option<TopicId>,
    pub owner: Option<PublicKey>,
    pub people: BTreeMap<PublicKey, Person>,
    pub invites: BTreeMap<PublicKey, InviteInfo>,
    pub pending: BTreeMap<[u8; 32], PendingJoin>,
    /// In resolved order; the last is current.
    pub epochs: Vec<Epoch>,
}

impl State {
    /// The person's role if they are a member now.
    pub fn role(&self, who: &PublicKey) -> Result<Role, Refusal> {
        match self.people.get(who).map(|p| &p.standing) {
            Some(Standing::Member(r)) => Ok(*r),
            Some(Standing::Removed { by, .. }) => Err(Refusal::Removed { who: *who, by: *by }),
            Some(Standing::Left { .. }) => Err(Refusal::Left(*who)),
            None => Err(Refusal::NotMember(*who)),
        }
    }

    fn rank(&self, who: &PublicKey) -> u8 {
        self.role(who).map(|r| r as u8).unwrap_or(0)
    }

    /// Current members, sorted by key.
    pub fn members(&self) -> Vec<PublicKey> {
        self.people
            .iter()
            .filter(|(_, p)| matches!(p.standing, Standing::Member(_)))
            .map(|(k, _)| *k)
            .collect()
    }

    pub fn current_epoch(&self) -> Option<&Epoch> {
        self.epochs.last()
    }

    fn current_number(&self) -> u32 {
        self.epochs.len().saturating_sub(1) as u32
    }

    /// Whether `author` may post under the epoch `epoch_op` opened (§5):
    /// they were one of its recipients, and were not removed and have not
    /// left in it or before it.
    pub fn may_post(&self, author: &PublicKey, epoch_op: &OpId, recipients: &[PublicKey]) -> bool {
        if !recipients.contains(author) {
            return false;
        }
        let number = self.epochs.iter().position(|e| e.op == *epoch_op);
        match self.people.get(author).map(|p| &p.standing) {
            Some(Standing::Member(_)) => true,
            Some(Standing::Removed { epoch, .. } | Standing::Left { epoch, .. }) => {
                number.is_some_and(|n| (n as u32) < *epoch)
            }
            None => false,
        }
    }

    /// Whether the current epoch's key went to exactly the members (§5).
    pub fn needs_rekey(&self) -> bool {
        self.current_epoch()
            .is_some_and(|e| e.recipients != self.members())
    }

    /// Who rotates when the circle needs a rekey, first to last (§5).
    pub fn duty_order(&self) -> Vec<PublicKey> {
        let Some(epoch) = self.current_epoch() else {
            return Vec::new();
        };
        let mut order: Vec<([u8; 32], PublicKey)> = self
            .members()
            .into_iter()
            .map(|m| {
                let mut h = Sha256::new();
                h.update(LABEL_REKEY_DUTY);
                h.update(epoch.op.as_bytes());
                h.update(m.as_bytes());
                (h.finalize().into(), m)
            })
            .collect();
        order.sort();
        order.into_iter().map(|(_, m)| m).collect()
    }

    fn invite_allowed(&self, who: &PublicKey) -> bool {
        match (self.role(who), self.policy.invite) {
            (Ok(_), WhoInvites::Members) => true,
            (Ok(r), WhoInvites::Moderators) => r >= Role::Moderator,
            (Err(_), _) => false,
        }
    }

    /// The invite if a request first seen at `first_ts` may use it (§3).
    pub fn invite_works(&self, key: &PublicKey, first_ts: Millis) -> Result<&InviteInfo, Refusal> {
        let inv = self.invites.get(key).ok_or(Refusal::InviteUnknown(*key))?;
        if let Some(r) = &inv.revoked {
            return Err(Refusal::InviteRevoked { by: r.by, ts: r.ts });
        }
        if !self.invite_allowed(&inv.issuer) {
            return Err(Refusal::InviteIssuerGone(inv.issuer));
        }
        if let Some(uses) = inv.uses {
            if inv.used >= uses {
                return Err(Refusal::InviteUsedUp { uses });
            }
        }
        if let Some(at) = inv.expires {
            if first_ts >= at {
                return Err(Refusal::InviteExpired { at });
            }
        }
        Ok(inv)
    }

    /// When a request entered the circle: its `request` op, else now.
    fn first_seen(&self, request: &JoinRequest, ts: Millis) -> Millis {
        self.pending.get(&request.id).map_or(ts, |p| p.ts)
    }

    /// The least role `op` needs in this state (used for strong demotion).
    pub fn needs(&self, op: &Op) -> Role {
        match &op.action {
            Action::Create { .. } | Action::Appoint(_) | Action::Demote(_) => Role::Owner,
            Action::Remove { .. } | Action::Rules(_) => Role::Moderator,
            Action::Invite { .. } if self.policy.invite == WhoInvites::Moderators => {
                Role::Moderator
            }
            Action::Revoke(k) if self.invites.get(k).is_some_and(|i| i.issuer != op.author) => {
                Role::Moderator
            }
            Action::Admit { request, .. }
                if self
                    .invites
                    .get(&request.body.invite)
                    .is_some_and(|i| i.approval) =>
            {
                Role::Moderator
            }
            Action::Rotate(_) if !self.needs_rekey() => Role::Moderator,
            // Who removed them outranks a moderator: only the owner undoes it.
            Action::Readmit(t) => match self.people.get(t).map(|p| &p.standing) {
                Some(Standing::Removed { by, .. }) if Some(*by) == self.owner => Role::Owner,
                _ => Role::Moderator,
            },
            _ => Role::Member,
        }
    }

    /// Whether `op` is allowed in this state (spec/authority.md §2, §3).
    pub fn check(&self, op: &Op) -> Result<(), Refusal> {
        let role = self.role(&op.author)?;
        need(role, self.needs(op), action_words(&op.action))?;
        match &op.action {
            Action::Create { .. } => Err(Refusal::SecondGenesis),
            Action::Appoint(t) => match self.role(t)? {
                Role::Member => Ok(()),
                r => Err(Refusal::AlreadyRole { who: *t, role: r }),
            },
            Action::Demote(t) => match self.role(t)? {
                Role::Moderator => Ok(()),
                Role::Owner => Err(Refusal::Outranks(*t)),
                Role::Member => Err(Refusal::AlreadyRole {
                    who: *t,
                    role: Role::Member,
                }),
            },
            Action::Remove { member, .. } => {
                if *member == op.author {
                    return Err(Refusal::RemoveSelf);
                }
                if self.role(member)? >= role {
                    return Err(Refusal::Outranks(*member));
                }
                Ok(())
            }
            Action::Leave if role == Role::Owner => Err(Refusal::OwnerCannotLeave),
            Action::Leave | Action::Rules(_) | Action::Rotate(_) => Ok(()),
            Action::Invite { key, .. } => match self.invites.contains_key(key) {
                true => Err(Refusal::InviteExists),
                false => Ok(()),
            },
            Action::Revoke(k) => {
                let inv = self.invites.get(k).ok_or(Refusal::InviteUnknown(*k))?;
                if let Some(r) = &inv.revoked {
                    return Err(Refusal::InviteRevoked { by: r.by, ts: r.ts });
                }
                if inv.issuer != op.author && role as u8 <= self.rank(&inv.issuer) {
                    return Err(Refusal::Outranks(inv.issuer));
                }
                Ok(())
            }
            Action::Request(request) => {
                let b = &request.body;
                let again = self.waiting_request(&b.invite, &b.joiner).is_some();
                if again || self.pending.contains_key(&request.id) {
                    return Err(Refusal::RequestPending);
                }
                if self
                    .invites
                    .get(&b.invite)
                    .is_some_and(|i| i.requested >= MAX_REQUESTS_PER_INVITE)
                {
                    return Err(Refusal::RequestsExhausted);
                }
                self.check_joiner(request, op.ts)
            }
            Action::Admit { request, .. } => self.check_joiner(request, op.ts),
            Action::Readmit(t) => match self.people.get(t).map(|p| &p.standing) {
                Some(Standing::Removed {
                    readmitted: None, ..
                }) => Ok(()),
                Some(Standing::Removed { .. }) => Err(Refusal::AlreadyReadmitted(*t)),
                _ => Err(Refusal::NotRemoved(*t)),
            },
        }
    }

    fn check_joiner(&self, request: &JoinRequest, ts: Millis) -> Result<(), Refusal> {
        self.invite_works(&request.body.invite, self.first_seen(request, ts))?;
        let joiner = &request.body.joiner;
        if self.role(joiner).is_ok() {
            return Err(Refusal::AlreadyMember(*joiner));
        }
        // Removed means out, on every invite, until a moderator lets them back.
        if let Some(Standing::Removed {
            by,
            readmitted: None,
            ..
        }) = self.people.get(joiner).map(|p| &p.standing)
        {
            return Err(Refusal::RemovedStaysOut {
                who: *joiner,
                by: *by,
            });
        }
        if self.members().len() >= MAX_MEMBERS {
            return Err(Refusal::Full);
        }
        Ok(())
    }

    /// Who an epoch op made in this state must seal its secret to, with
    /// their X25519 keys, sorted (§5). `None` for ops that open no epoch.
    pub fn recipients(
        &self,
        op_author: &PublicKey,
        action: &Action,
    ) -> Option<Vec<(PublicKey, [u8; 32])>> {
        let members = |skip: Option<&PublicKey>| -> Vec<(PublicKey, [u8; 32])> {
            self.people
                .iter()
                .filter(|(k, p)| matches!(p.standing, Standing::Member(_)) && Some(*k) != skip)
                .map(|(k, p)| (*k, p.kx))
                .collect()
        };
        match action {
            Action::Create { kx, .. } => Some(vec![(*op_author, *kx)]),
            Action::Remove { member, .. } => Some(members(Some(member))),
            Action::Rotate(_) => Some(members(None)),
            Action::Admit { request, .. } => {
                let mut all = members(Some(&request.body.joiner));
                all.push((request.body.joiner, request.body.kx));
                all.sort_by_key(|a| a.0);
                Some(all)
            }
            _ => None,
        }
    }

    /// Applies an op already found allowed; `recipients` as `recipients`
    /// gave at the op's own parents.
    pub fn apply(&mut self, op: &Op, recipients: &[PublicKey]) {
        match &op.action {
            Action::Create {
                name,
                rules,
                policy,
                topic,
                kx,
                owner_name,
                ..
            } => {
                self.circle = Some(CircleId(op.id.0));
                self.name = name.clone();
                self.rules = rules.clone();
                self.policy = *policy;
                self.topic = Some(*topic);
                self.owner = Some(op.author);
                self.people.insert(
                    op.author,
                    Person {
                        standing: Standing::Member(Role::Owner),
                        kx: *kx,
                        name: owner_name.clone(),
                        since: op.id,
                        since_ts: op.ts,
                        peer: Vec::new(),
                    },
                );
            }
            Action::Appoint(t) => self.set_standing(t, Standing::Member(Role::Moderator)),
            Action::Demote(t) => self.set_standing(t, Standing::Member(Role::Member)),
            Action::Remove { member, reason, .. } => self.set_standing(
                member,
                Standing::Removed {
                    by: op.author,
                    reason: reason.clone(),
                    op: op.id,
                    ts: op.ts,
                    epoch: self.current_number(),
                    readmitted: None,
                },
            ),
            Action::Readmit(who) => {
                if let Some(Person {
                    standing: Standing::Removed { readmitted, .. },
                    ..
                }) = self.people.get_mut(who)
                {
                    *readmitted = Some(op.id);
                }
            }
            Action::Leave => self.set_standing(
                &op.author,
                Standing::Left {
                    op: op.id,
                    ts: op.ts,
                    epoch: self.current_number(),
                },
            ),
            Action::Rules(r) => self.rules = r.clone(),
            Action::Invite {
                key,
                expires,
                uses,
                approval,
            } => {
                self.invites.insert(
                    *key,
                    InviteInfo {
                        key: *key,
                        issuer: op.author,
                        op: op.id,
                        ts: op.ts,
                        expires: *expires,
                        uses: *uses,
                        approval: *approval,
                        used: 0,
                        requested: 0,
                        revoked: None,
                    },
                );
            }
            Action::Revoke(k) => {
                if let Some(inv) = self.invites.get_mut(k) {
                    inv.revoked = Some(Revoked {
                        by: op.author,
                        op: op.id,
                        ts: op.ts,
                    });
                }
            }
            Action::Request(request) => {
                self.pending.insert(
                    request.id,
                    PendingJoin {
                        request: request.clone(),
                        op: op.id,
                        by: op.author,
                        ts: op.ts,
                    },
                );
                let invite = request.body.invite;
                if let Some(inv) = self.invites.get_mut(&invite) {
                    inv.requested += 1;
                }
                self.trim_pending(Some(&invite), MAX_PENDING_PER_INVITE);
                self.trim_pending(None, MAX_PENDING_JOINS);
            }
            Action::Admit { request, .. } => {
                self.pending.remove(&request.id);
                if let Some(inv) = self.invites.get_mut(&request.body.invite) {
                    inv.used += 1;
                }
                let b = &request.body;
                self.people.insert(
                    b.joiner,
                    Person {
                        standing: Standing::Member(Role::Member),
                        kx: b.kx,
                        name: b.name.clone(),
                        since: op.id,
                        since_ts: op.ts,
                        peer: b.peer.clone(),
                    },
                );
            }
            Action::Rotate(_) => {}
        }
        if op.action.rekey().is_some() {
            self.epochs.push(Epoch {
                op: op.id,
                number: self.epochs.len() as u32,
                recipients: recipients.to_vec(),
            });
        }
    }

    /// The request of `joiner` through `invite` that waits for a
    /// moderator, if any: one per person per invite (§3).
    pub fn waiting_request(&self, invite: &PublicKey, joiner: &PublicKey) -> Option<&PendingJoin> {
        self.pending
            .values()
            .find(|p| p.request.body.invite == *invite && p.request.body.joiner == *joiner)
    }

    /// Drops the oldest waiting requests (by `ts`, then op id) through
    /// `invite` (or through any) beyond `max`: a flood of requests pushes
    /// out its own oldest, and the waiting list stays short enough to read.
    fn trim_pending(&mut self, invite: Option<&PublicKey>, max: usize) {
        loop {
            let of: Vec<(Millis, OpId, [u8; 32])> = self
                .pending
                .iter()
                .filter(|(_, p)| invite.is_none_or(|k| p.request.body.invite == *k))
                .map(|(id, p)| (p.ts, p.op, *id))
                .collect();
            if of.len() <= max {
                return;
            }
            if let Some((_, _, id)) = of.into_iter().min() {
                self.pending.remove(&id);
            }
        }
    }

    fn set_standing(&mut self, who: &PublicKey, standing: Standing) {
        if let Some(p) = self.people.get_mut(who) {
            p.standing = standing;
        }
    }
}
