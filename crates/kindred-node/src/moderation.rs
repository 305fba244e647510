//! What the control API offers on a circle's authority: members and their
//! roles, removal, appointing and demoting moderators, leaving, renaming,
//! invites and approvals. Each is one signed op (authority.rs sends it).

use kindred_proto::authority::{handle, Draft, InviteInfo, Role, Standing};
use kindred_proto::{Kind, PublicKey};
use serde::{Deserialize, Serialize};

use crate::service::Node;
use crate::topics::TopicState;
use crate::{now_ms, who, NodeError};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MemberView {
    pub handle: String,
    /// The pseudonym (hex public key).
    pub key: String,
    /// Their newest display name, or the one they joined with.
    pub name: String,
    /// owner, moderator or member; empty for people no longer in.
    pub role: String,
    /// member, removed or left.
    pub state: String,
    /// For the removed: who removed them, and why.
    pub removed_by: Option<String>,
    pub reason: Option<String>,
    /// When they became a member (ms since the Unix epoch).
    pub since: u64,
    pub mine: bool,
    /// Handles of other members whose name looks like this one's.
    pub similar_to: Vec<String>,
    /// For the removed: a moderator has let them back (any working invite
    /// admits them again); until then none does.
    #[serde(default)]
    pub readmitted: bool,
    /// The invite they came in with (its id), and how many people in all
    /// it let in: what removing them offers to switch off.
    #[serde(default)]
    pub invite: Option<String>,
    #[serde(default)]
    pub invite_uses: u32,
    #[serde(default)]
    pub invite_active: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InviteView {
    /// The first 12 hex digits of the invite's key: name it by this.
    pub id: String,
    pub issuer: String,
    pub uses: u32,
    pub max_uses: Option<u32>,
    pub expires: Option<u64>,
    pub approval: bool,
    /// active, revoked, expired or used up.
    pub state: String,
    /// Join requests through it waiting for a moderator: their ids.
    pub waiting: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingView {
    /// The first 12 hex digits of the request's id.
    pub id: String,
    pub handle: String,
    pub name: String,
    pub invite: String,
    pub forwarded_by: String,
    pub since: u64,
}

/// active, revoked, expired or used up.
fn invite_state(i: &InviteInfo, now: u64) -> &'static str {
    if i.revoked.is_some() {
        "revoked"
    } else if i.expires.is_some_and(|e| e <= now) {
        "expired"
    } else if i.uses.is_some_and(|u| i.used >= u) {
        "used up"
    } else {
        "active"
    }
}

/// The invite a person came in with: the one their admission used (none
/// for the owner).
fn came_with(t: &TopicState, since: &kindred_proto::OpId) -> Option<PublicKey> {
    t.auth.with(|c| match c.get(since).map(|o| &o.action) {
        Some(kindred_proto::authority::Action::Admit { request, .. }) => Some(request.body.invite),
        _ => None,
    })
}

fn role_name(s: &Standing) -> (&'static str, &'static str) {
    match s {
        Standing::Member(r) => (r.name(), "member"),
        Standing::Removed { .. } => ("", "removed"),
        Standing::Left { .. } => ("", "left"),
    }
}

impl Node {
    /// Finds a person of the circle as every PEER argument does
    /// ([`who::pick`]): a ~handle or any unique start of it, their whole
    /// pseudonym, or a display name nobody else in the circle has.
    fn person(&self, t: &TopicState, who_: &str) -> Result<PublicKey, NodeError> {
        let state = t.auth.state();
        let names = self.inner.store.names(&t.id()).unwrap_or_default();
        let all: Vec<who::Candidate<PublicKey>> = state
            .people
            .iter()
            .map(|(k, p)| {
                // The name they go by now: their newest profile, else the
                // name they joined with.
                let known = vec![names
                    .iter()
                    .find(|(a, _)| a == k)
                    .map_or_else(|| p.name.clone(), |(_, n)| n.clone())];
                who::Candidate {
                    key: *k,
                    pseudonyms: vec![k.to_hex()],
                    peer_id: None,
                    label: who::label(known.first().map(String::as_str), Some(&handle(k)), ""),
                    names: known,
                }
            })
            .collect();
        match who::pick(who_, &all) {
            who::Pick::One(k) => Ok(k),
            who::Pick::Nobody => Err(NodeError::BadInput(format!(
                "nobody in this circle is called {who_:?} or has that handle; `kindred members` lists them with their handles"
            ))),
            who::Pick::Several(labels) => Err(NodeError::BadInput(format!(
                "{who_:?} could be {}; give their ~handle",
                who::list(&labels)
            ))),
        }
    }

    pub async fn members(&self, topic: &str) -> Result<Vec<MemberView>, NodeError> {
        let t = self.inner.topics.resolve(topic)?;
        let state = t.auth.state();
        let names = self.inner.store.names(&t.id()).unwrap_or_default();
        let look_alikes = self.look_alikes(&t);
        let now = now_ms();
        let mut out: Vec<MemberView> = state
            .people
            .iter()
            .map(|(k, p)| {
                let (role, st) = role_name(&p.standing);
                let (removed_by, reason) = match &p.standing {
                    Standing::Removed { by, reason, .. } => (
                        Some(handle(by)),
                        Some(reason.clone()).filter(|r| !r.is_empty()),
                    ),
                    _ => (None, None),
                };
                let invite = came_with(&t, &p.since);
                let info = invite.and_then(|k| state.invites.get(&k));
                MemberView {
                    handle: handle(k),
                    key: k.to_hex(),
                    name: names
                        .iter()
                        .find(|(a, _)| a == k)
                        .map(|(_, n)| n.clone())
                        .unwrap_or_else(|| p.name.clone()),
                    role: role.into(),
                    state: st.into(),
                    removed_by,
                    reason,
                    since: p.since_ts,
                    mine: *k == t.me.public_key(),
                    similar_to: look_alikes.get(k).cloned().unwrap_or_default(),
                    readmitted: matches!(
                        p.standing,
                        Standing::Removed {
                            readmitted: Some(_),
                            ..
                        }
                    ),
                    invite: invite.map(|k| k.to_hex()[..12].to_string()),
                    invite_uses: info.map_or(0, |i| i.used),
                    invite_active: info.is_some_and(|i| invite_state(i, now) == "active"),
                }
            })
            .collect();
        let rank = |m: &MemberView| match (m.state.as_str(), m.role.as_str()) {
            ("member", "owner") => 0,
            ("member", "moderator") => 1,
            ("member", _) => 2,
            _ => 3,
        };
        out.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.since.cmp(&b.since)));
        Ok(out)
    }

    /// Removes someone; with `revoke_invite`, also switches off the invite
    /// they came in with (if it still works), in the same step.
    pub async fn remove(
        &self,
        topic: &str,
        who: &str,
        reason: &str,
        revoke_invite: bool,
    ) -> Result<MemberView, NodeError> {
        let t = self.inner.topics.resolve(topic)?;
        let member = self.person(&t, who)?;
        if reason.len() > kindred_proto::authority::MAX_REASON_BYTES {
            return Err(NodeError::BadInput(format!(
                "the reason is over {} bytes",
                kindred_proto::authority::MAX_REASON_BYTES
            )));
        }
        let draft = Draft::Remove {
            member,
            reason: reason.to_string(),
        };
        let invite = t
            .auth
            .state()
            .people
            .get(&member)
            .and_then(|p| came_with(&t, &p.since));
        self.act(&t, draft).await?;
        if let (true, Some(key)) = (revoke_invite, invite) {
            let active = t.auth.with(|c| {
                c.state()
                    .invites
                    .get(&key)
                    .is_some_and(|i| invite_state(i, now_ms()) == "active")
            });
            if active {
                self.act(&t, Draft::Revoke(key)).await?;
            }
        }
        self.member_view(&t, &member).await
    }

    /// Lets a removed person back: from now any working invite admits them
    /// (until then none does). Moderators; the owner for people the owner
    /// removed.
    pub async fn readmit(&self, topic: &str, who: &str) -> Result<MemberView, NodeError> {
        let t = self.inner.topics.resolve(topic)?;
        let member = self.person(&t, who)?;
        self.act(&t, Draft::Readmit(member)).await?;
        self.member_view(&t, &member).await
    }

    pub async fn promote(&self, topic: &str, who: &str) -> Result<MemberView, NodeError> {
        let t = self.inner.topics.resolve(topic)?;
        let member = self.person(&t, who)?;
        self.act(&t, Draft::Appoint(member)).await?;
        self.member_view(&t, &member).await
    }

    pub async fn demote(&self, topic: &str, who: &str) -> Result<MemberView, NodeError> {
        let t = self.inner.topics.resolve(topic)?;
        let member = self.person(&t, who)?;
        self.act(&t, Draft::Demote(member)).await?;
        self.member_view(&t, &member).await
    }

    async fn member_view(&self, t: &TopicState, who: &PublicKey) -> Result<MemberView, NodeError> {
        self.members(&t.id().to_hex())
            .await?
            .into_iter()
            .find(|m| m.key == who.to_hex())
            .ok_or_else(|| NodeError::BadInput("that person is not in this circle".into()))
    }

    /// Leaves a circle: publishes the leave, then deletes everything this
    /// node holds of it.
    pub async fn leave(&self, topic: &str) -> Result<String, NodeError> {
        let t = self.inner.topics.resolve(topic)?;
        if t.auth.state().role(&t.me.public_key()).is_ok() {
            self.act(&t, Draft::Leave).await?;
        }
        self.forget(&t).await?;
        Ok(t.name.clone())
    }

    /// Moves the circle to a new key now (moderators and the owner).
    pub async fn rotate(&self, topic: &str) -> Result<u32, NodeError> {
        let t = self.inner.topics.resolve(topic)?;
        self.act(&t, Draft::Rotate).await?;
        Ok(t.auth
            .with(|c| c.state().current_epoch().map_or(0, |e| e.number)))
    }

    /// Changes the circle's rules (moderators and the owner).
    pub async fn set_rules(&self, topic: &str, rules: &str) -> Result<(), NodeError> {
        let t = self.inner.topics.resolve(topic)?;
        if rules.len() > kindred_proto::invite::MAX_RULES_BYTES {
            return Err(NodeError::BadInput(format!(
                "rules are over the limit of {} bytes",
                kindred_proto::invite::MAX_RULES_BYTES
            )));
        }
        self.act(&t, Draft::Rules(rules.to_string())).await?;
        Ok(())
    }

    /// Changes this node's display name in one circle.
    pub async fn rename(&self, topic: &str, name: &str) -> Result<String, NodeError> {
        let t = self.inner.topics.resolve(topic)?;
        let name = self.display_name(Some(name.to_string()))?;
        self.publish(&t, Kind::Profile, name.clone()).await?;
        t.set_my_name(name.clone());
        if let Some(mut rec) = self.inner.store.topic(&t.id())? {
            rec.my_name = name.clone();
            self.inner.store.put_topic(&t.id(), &rec)?;
            self.inner.store.flush().await?;
        }
        Ok(name)
    }

    fn invite_by_id(&self, t: &TopicState, id: &str) -> Result<PublicKey, NodeError> {
        let q = id.trim().to_ascii_lowercase();
        let state = t.auth.state();
        let found: Vec<PublicKey> = state
            .invites
            .keys()
            .filter(|k| q.len() >= 4 && k.to_hex().starts_with(&q))
            .copied()
            .collect();
        match found.as_slice() {
            [k] => Ok(*k),
            [] => Err(NodeError::BadInput(format!(
                "no invite of this circle has the id {id:?}; `kindred invites` lists them"
            ))),
            _ => Err(NodeError::BadInput(format!(
                "{id:?} matches several invites; give more of the id"
            ))),
        }
    }

    pub async fn invites(
        &self,
        topic: &str,
    ) -> Result<(Vec<InviteView>, Vec<PendingView>), NodeError> {
        let t = self.inner.topics.resolve(topic)?;
        let state = t.auth.state();
        let now = now_ms();
        let views = state
            .invites
            .values()
            .map(|i: &InviteInfo| InviteView {
                id: i.key.to_hex()[..12].to_string(),
                issuer: handle(&i.issuer),
                uses: i.used,
                max_uses: i.uses,
                expires: i.expires,
                approval: i.approval,
                state: invite_state(i, now).into(),
                waiting: state
                    .pending
                    .values()
                    .filter(|p| p.request.body.invite == i.key)
                    .map(|p| hex::encode(&p.request.id[..6]))
                    .collect(),
            })
            .collect();
        let pending = state
            .pending
            .values()
            .map(|p| PendingView {
                id: hex::encode(&p.request.id[..6]),
                handle: handle(&p.request.body.joiner),
                name: p.request.body.name.clone(),
                invite: p.request.body.invite.to_hex()[..12].to_string(),
                forwarded_by: handle(&p.by),
                since: p.ts,
            })
            .collect();
        Ok((views, pending))
    }

    pub async fn revoke(&self, topic: &str, id: &str) -> Result<(), NodeError> {
        let t = self.inner.topics.resolve(topic)?;
        let key = self.invite_by_id(&t, id)?;
        self.act(&t, Draft::Revoke(key)).await?;
        Ok(())
    }

    /// Admits a person waiting for approval, named by request id or handle.
    pub async fn approve(&self, topic: &str, which: &str) -> Result<String, NodeError> {
        let t = self.inner.topics.resolve(topic)?;
        let state = t.auth.state();
        let q = which.trim().trim_start_matches('~').to_ascii_lowercase();
        let found: Vec<_> = state
            .pending
            .values()
            .filter(|p| {
                q.len() >= 4
                    && (hex::encode(p.request.id).starts_with(&q)
                        || p.request.body.joiner.to_hex().starts_with(&q))
            })
            .collect();
        let request = match found.as_slice() {
            [p] => p.request.clone(),
            [] => {
                return Err(NodeError::BadInput(format!(
                    "nobody is waiting to join with {which:?}; `kindred invites` lists who is"
                )))
            }
            _ => {
                return Err(NodeError::BadInput(format!(
                    "{which:?} matches several requests; give more of the id"
                )))
            }
        };
        if state
            .role(&t.me.public_key())
            .is_ok_and(|r| r < Role::Moderator)
        {
            return Err(NodeError::BadInput(
                "only moderators can approve requests to join".into(),
            ));
        }
        let joiner = handle(&request.body.joiner);
        self.act(&t, Draft::Admit(request)).await?;
        Ok(joiner)
    }
}
