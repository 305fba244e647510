//! Fixed-size identifiers, printed as lowercase hex.

use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $len:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            pub const LEN: usize = $len;

            /// Takes exactly `LEN` bytes; `None` for any other length.
            pub fn from_slice(bytes: &[u8]) -> Option<Self> {
                <[u8; $len]>::try_from(bytes).ok().map(Self)
            }

            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }

            pub fn from_hex(s: &str) -> Option<Self> {
                hex::decode(s).ok().and_then(|b| Self::from_slice(&b))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), &self.to_hex()[..12])
            }
        }
    };
}

id_type!(
    /// Hash of a group message's envelope bytes; names the message everywhere.
    MessageId,
    32
);
id_type!(
    /// A topic's public-to-members identifier, derived from its secret.
    TopicId,
    32
);
id_type!(
    /// An ed25519 public key (a node identity or a per-topic pseudonym).
    PublicKey,
    32
);
id_type!(
    /// Hash of one signed authority op (spec/authority.md §1).
    OpId,
    32
);
id_type!(
    /// A circle's authority identity: the id of its genesis op.
    CircleId,
    32
);
