//! Who may do what in a circle (spec/authority.md): signed ops in a small
//! DAG of their own, and the state every node computes from them.
//!
//! Layers, each a file: `op` (the signed op and its wire form), `keys`
//! (sealing an epoch secret to each recipient), `state` (the rules: what an
//! op needs and what it does), `resolve` (ordering concurrent ops and strong
//! removal), `circle` (the ops one node holds: waiting for parents, drafting
//! its own). Nothing here does I/O, reads a clock or draws randomness:
//! time and entropy are arguments, so the simulator (`sim`) can replay any
//! run from its seed.

mod circle;
pub mod join;
mod keys;
mod op;
mod refusal;
mod resolve;
mod state;

#[cfg(any(test, feature = "sim"))]
pub mod sim;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_junk;

pub use circle::{Circle, Draft, DraftError, Genesis, Inserted, DRAFT_ENTROPY};
pub use keys::{open_rekey, seal_rekey, EpochSecret, KxSecret};
pub use op::{Action, History, JoinBody, JoinRequest, Op, OpError, Policy, Rekey, WhoInvites};
pub use resolve::{Resolution, Verdict};
pub use state::{
    date, handle, Epoch, InviteInfo, PendingJoin, Person, Refusal, Revoked, Role, Standing, State,
};

/// Most members one circle holds (spec/authority.md §1): pairwise rekeying
/// costs 48 bytes per member, so a rekey stays one op under 64 KiB.
pub const MAX_MEMBERS: usize = 1_000;
/// Most ops one circle keeps (§6); past this a node refuses more.
pub const MAX_OPS: usize = 20_000;
/// Most ops one member may have made in a circle (§6): a member acts
/// rarely (invites, admissions, leaving), so this is years of honest use
/// and a small part of [`MAX_OPS`].
pub const MAX_OPS_PER_MEMBER: usize = 500;
/// Most ops one moderator may have made in a circle (§6).
pub const MAX_OPS_PER_MODERATOR: usize = 4_000;
/// Most ops waiting for their parents in one circle (§6); oldest evicted.
pub const MAX_WAITING: usize = 1_024;
/// Most ops of one author waiting for their parents; their oldest evicted.
pub const MAX_WAITING_PER_AUTHOR: usize = 64;
/// Most rejected op ids a circle remembers (§6); oldest forgotten.
pub const MAX_QUARANTINE: usize = 256;
/// Most join requests one invite ever records (§3): an approval invite
/// handed out freely cannot fill the circle's ops with requests.
pub const MAX_REQUESTS_PER_INVITE: u32 = 256;
/// Most requests waiting through one invite; the oldest is dropped.
pub const MAX_PENDING_PER_INVITE: usize = 32;
/// Most requests waiting in a circle; the oldest is dropped.
pub const MAX_PENDING_JOINS: usize = 128;
/// Most parents one op names.
pub const MAX_AUTH_PARENTS: usize = 16;
/// Longest encoded op, checked before decoding.
pub const MAX_OP_BYTES: usize = 64 * 1024;
/// Longest reason given for a removal.
pub const MAX_REASON_BYTES: usize = 512;
/// How long each member in the rekey-duty order waits before it rotates
/// (spec/authority.md §5).
pub const REKEY_STEP_MS: u64 = 20_000;

pub const LABEL_AUTH_SIG: &[u8] = b"kindred/v1/auth-sig";
pub const LABEL_AUTH_OP: &[u8] = b"kindred/v1/auth-op";
pub const LABEL_JOIN_REQUEST: &[u8] = b"kindred/v1/join-request";
pub const LABEL_JOIN_ID: &[u8] = b"kindred/v1/join";
pub const LABEL_REKEY: &[u8] = b"kindred/v1/rekey";
pub const LABEL_REKEY_ENTRY: &[u8] = b"kindred/v1/rekey-entry";
pub const LABEL_REKEY_KX: &[u8] = b"kindred/v1/rekey-kx";
pub const LABEL_REKEY_DUTY: &[u8] = b"kindred/v1/rekey-duty";
