//! Circle actions as plain lines in the circle's timeline, where everyone
//! reads them: who joined, who was removed and why, who became or stopped
//! being a moderator, who left, a change of rules, someone let back.

use kindred_proto::authority::{Action, Op, Role, Verdict};
use kindred_proto::{Kind, PublicKey};
use kindred_store::MessageRecord;
use serde::{Deserialize, Serialize};

use crate::service::Node;
use crate::topics::TopicState;

/// Someone named in a line, as everywhere: their name now and ~handle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Named {
    pub name: Option<String>,
    pub handle: String,
    /// The person reading this.
    pub you: bool,
}

/// One circle action, for the timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionLine {
    /// joined, removed, left, appointed, demoted, rules, readmitted.
    pub what: String,
    /// Who did it (for "joined": who let them in).
    pub by: Named,
    /// Whom it was done to.
    pub whom: Option<Named>,
    /// The reason given for a removal.
    #[serde(default)]
    pub reason: String,
    /// For moderators, on a join: the invite it used (its short id) and
    /// when that invite was made, so a join through an old or leaked
    /// invite stands out.
    #[serde(default)]
    pub invite: Option<String>,
    #[serde(default)]
    pub invite_made: Option<u64>,
}

impl Node {
    fn named(&self, t: &TopicState, key: &PublicKey) -> Named {
        Named {
            name: self.name_in(t, key),
            handle: crate::peers::handle(key),
            you: *key == t.me.public_key(),
        }
    }

    /// The line a stored circle action shows as, if it is one people see
    /// and it is in effect (a voided action says nothing happened).
    pub(crate) fn action_line(&self, t: &TopicState, m: &MessageRecord) -> Option<ActionLine> {
        if m.kind() != Kind::Authority {
            return None;
        }
        // A stored action keeps only its envelope: open it again (the op's
        // bytes are its body).
        let msg = kindred_proto::envelope::open(&t.keys, &t.auth.ring(), &m.envelope).ok()?;
        let op = Op::decode(&msg.data).ok()?;
        if t.auth.with(|c| c.verdict(&op.id)) != Some(Verdict::Applied) {
            return None;
        }
        let line = |what: &str, whom: Option<&PublicKey>| ActionLine {
            what: what.into(),
            by: self.named(t, &op.author),
            whom: whom.map(|k| self.named(t, k)),
            reason: String::new(),
            invite: None,
            invite_made: None,
        };
        Some(match &op.action {
            Action::Appoint(k) => line("appointed", Some(k)),
            Action::Demote(k) => line("demoted", Some(k)),
            Action::Remove { member, reason, .. } => ActionLine {
                reason: reason.clone(),
                ..line("removed", Some(member))
            },
            Action::Leave => line("left", None),
            Action::Rules(_) => line("rules", None),
            Action::Readmit(k) => line("readmitted", Some(k)),
            Action::Admit { request, .. } => {
                let body = &request.body;
                let moderator = matches!(
                    t.auth.role(&t.me.public_key()),
                    Ok(Role::Owner | Role::Moderator)
                );
                let made = t
                    .auth
                    .with(|c| c.state().invites.get(&body.invite).map(|i| i.ts));
                ActionLine {
                    invite: moderator.then(|| body.invite.to_hex()[..8].to_string()),
                    invite_made: made.filter(|_| moderator),
                    ..line("joined", Some(&body.joiner))
                }
            }
            _ => return None,
        })
    }
}
