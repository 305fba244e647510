//! Kindred's wire formats and cryptography, with no I/O.
//!
//! Everything here is a pure function of its inputs (randomness is passed in
//! or drawn at one clearly marked place), so it can be tested against the
//! vectors in `spec/vectors/` and fuzzed. `spec/protocol.md` and
//! `spec/invite.md` are the normative description; this crate follows them.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

/// A 32-byte secret that is zeroized on drop and never printed.
macro_rules! secret_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, zeroize::Zeroize, zeroize::ZeroizeOnDrop, PartialEq, Eq)]
        pub struct $name([u8; 32]);

        impl $name {
            pub fn from_bytes(bytes: [u8; 32]) -> Self {
                Self(bytes)
            }

            /// A fresh secret from the operating system's CSPRNG.
            pub fn generate() -> Result<Self, crate::RandomError> {
                Ok(Self(crate::random_bytes()?))
            }

            pub fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "(..)"))
            }
        }
    };
}
pub(crate) use secret_type;

pub mod authority;
pub mod codec;
pub mod dm;
pub mod envelope;
pub mod identity;
pub mod ids;
pub mod invite;
pub mod membership;
pub mod noise;
pub mod sync;
pub mod text;
pub mod textcode;
pub mod topic;
#[cfg(test)]
mod vectors;

pub use envelope::{Kind, MessageContent, OpenError, OpenedMessage, SealError};
pub use identity::{NodeSecret, Pseudonym};
pub use ids::{CircleId, MessageId, OpId, PublicKey, TopicId};
pub use invite::{Invite, InviteError, InvitePeer};
pub use topic::{TopicKeys, TopicSecret};

/// Hard cap on one group-message envelope on the wire, checked before decoding.
pub const MAX_ENVELOPE_BYTES: usize = 64 * 1024;
/// Envelopes are padded to a multiple of this many bytes.
pub const PADDING_BLOCK: usize = 256;
/// Longest post text, in bytes of UTF-8.
pub const MAX_TEXT_BYTES: usize = 32 * 1024;
/// Longest display name or topic name, in bytes of UTF-8.
pub const MAX_NAME_BYTES: usize = 64;
/// Most parents one message may reference.
pub const MAX_PARENTS: usize = 16;
/// A new message placed this many levels or more below the deepest message
/// a node holds, with nothing referring to it, is shown as late (spec §3.4):
/// a sender cannot slip a post unmarked into old history.
pub const LATE_DEPTH: u64 = 12;

/// Fills a buffer from the operating system's CSPRNG.
///
/// The one place this crate draws randomness; everything else takes its
/// random inputs as arguments so tests and vectors can fix them.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], RandomError> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).map_err(|e| RandomError(e.to_string()))?;
    Ok(out)
}

/// HMAC-SHA256 over the concatenation of `parts`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    use hmac::{KeyInit, Mac};
    let mut mac = match <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The operating system could not provide random bytes.
#[derive(Debug, thiserror::Error)]
#[error("the operating system's random number generator failed: {0}")]
pub struct RandomError(String);

/// Milliseconds since the Unix epoch, as carried in messages and invites.
pub type Millis = u64;
