//! Why an op is refused, in the words a person is shown, and the small
//! helpers that name people, dates and roles in those words.

use super::op::Action;
use super::state::Role;
use super::MAX_MEMBERS;
use super::MAX_REQUESTS_PER_INVITE;
use crate::ids::{OpId, PublicKey};
use crate::Millis;

/// Why an op is not allowed, in the words a person is shown.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{} is not in this circle", handle(.0))]
    NotMember(PublicKey),
    #[error("{} was removed from this circle by {}", handle(.who), handle(.by))]
    Removed { who: PublicKey, by: PublicKey },
    #[error("{} has left this circle", handle(.0))]
    Left(PublicKey),
    #[error("only {} can {action}", plural(*.needs))]
    NeedsRole { action: &'static str, needs: Role },
    #[error("{} has the same role as you or a higher one", handle(.0))]
    Outranks(PublicKey),
    #[error("{} is already a {}", handle(.who), .role.name())]
    AlreadyRole { who: PublicKey, role: Role },
    #[error("{} is already in this circle", handle(.0))]
    AlreadyMember(PublicKey),
    #[error("you cannot remove yourself; leave the circle instead")]
    RemoveSelf,
    #[error("the owner cannot leave the circle")]
    OwnerCannotLeave,
    #[error("this invite is not known to the circle")]
    InviteUnknown(PublicKey),
    #[error("an invite with this key already exists")]
    InviteExists,
    #[error("this invite was revoked by {} on {}", handle(.by), date(*.ts))]
    InviteRevoked { by: PublicKey, ts: Millis },
    #[error("this invite expired on {}", date(*.at))]
    InviteExpired { at: Millis },
    #[error("this invite has been used {uses} times, all it allows")]
    InviteUsedUp { uses: u32 },
    #[error("this invite no longer works: {} who issued it can no longer invite", handle(.0))]
    InviteIssuerGone(PublicKey),
    #[error("{} was removed from this circle by {}; a moderator must let them back before any invite works for them", handle(.who), handle(.by))]
    RemovedStaysOut { who: PublicKey, by: PublicKey },
    #[error("{} was not removed from this circle", handle(.0))]
    NotRemoved(PublicKey),
    #[error("{} may already come back", handle(.0))]
    AlreadyReadmitted(PublicKey),
    #[error("this join request is already waiting for a moderator")]
    RequestPending,
    #[error("this invite has taken all the join requests it can ({MAX_REQUESTS_PER_INVITE}); ask for a new invite")]
    RequestsExhausted,
    #[error("the circle has {MAX_MEMBERS} members, all it can hold")]
    Full,
    #[error("the circle's key does not need changing")]
    NoRekeyNeeded,
    #[error("a new key must go to {expected} members, this one goes to {got}")]
    WrongRecipients { expected: usize, got: usize },
    #[error("a circle has only one beginning")]
    SecondGenesis,
    #[error("it was made while {} was being removed or lost their role", handle(.author))]
    Voided { author: PublicKey, by: OpId },
}

/// How a person is shown in messages: `~` and 12 hex digits of their key.
pub fn handle(key: &PublicKey) -> String {
    format!("~{}", &key.to_hex()[..12])
}

/// A UTC date and time for messages: "2026-12-01 14:02 UTC".
pub fn date(ms: Millis) -> String {
    let secs = ms / 1000;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days, for days since 1970-01-01.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60
    )
}

fn plural(role: Role) -> &'static str {
    match role {
        Role::Owner => "the owner",
        Role::Moderator => "moderators",
        Role::Member => "members",
    }
}

pub(super) fn need(have: Role, needs: Role, action: &'static str) -> Result<(), Refusal> {
    if have >= needs {
        Ok(())
    } else {
        Err(Refusal::NeedsRole { action, needs })
    }
}

pub(super) fn action_words(action: &Action) -> &'static str {
    match action {
        Action::Create { .. } => "create the circle",
        Action::Appoint(_) => "appoint moderators",
        Action::Demote(_) => "demote moderators",
        Action::Remove { .. } => "remove members",
        Action::Leave => "leave",
        Action::Rules(_) => "change the rules",
        Action::Invite { .. } => "issue invites",
        Action::Revoke(_) => "revoke invites others issued",
        Action::Request(_) => "forward join requests",
        Action::Admit { .. } => "approve this invite's requests",
        Action::Rotate(_) => "change the circle's key now",
        Action::Readmit(_) => "let removed people back",
    }
}
