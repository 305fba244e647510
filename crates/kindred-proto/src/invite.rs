//! Invite keys, version 2 (spec/invite.md): one pasteable line with the
//! circle's signed genesis, its locator and an invite secret. Holding one
//! lets a person ask a member to be admitted; it reads nothing.

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::authority::{Action, Op, OpError};
use crate::codec::{self, DecodeError};
use crate::identity::Pseudonym;
use crate::ids::{CircleId, PublicKey};
use crate::textcode::{Format, TextCodeError};
use crate::topic::{TopicKeys, TopicSecret};
use crate::Millis;

/// Every invite starts with this; the next character is the format version.
pub const PREFIX: &str = "kindred";
pub const VERSION: char = '2';
/// The longest invite accepted, in characters after removing whitespace.
pub const MAX_INVITE_CHARS: usize = 16 * 1024;
pub const MAX_RULES_BYTES: usize = 4 * 1024;
pub const MAX_PEERS: usize = 8;
pub const MAX_ADDRS_PER_PEER: usize = 8;
pub const MAX_ADDR_CHARS: usize = 256;
pub const LABEL_INVITE_CHECKSUM: &[u8] = b"kindred/v1/invite-checksum";
const MAX_PEER_ID_BYTES: usize = 64;

/// A peer that can be dialled to reach the circle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitePeer {
    /// The peer's libp2p PeerId in its binary form.
    #[serde(rename = "id")]
    pub peer_id: ByteBuf,
    /// Multiaddrs in their text form, e.g. `/ip4/192.0.2.1/tcp/4001`.
    #[serde(rename = "addrs")]
    pub addrs: Vec<String>,
}

/// The content of an invite.
#[derive(Clone, Debug)]
pub struct Invite {
    /// The circle's genesis, its owner's signature verified.
    pub genesis: Op,
    /// Finds the circle's members (spec/authority.md §1).
    pub locator: TopicSecret,
    /// The invite secret: signs the join request. Its public key is what
    /// the circle's `invite` op recorded.
    pub key: Pseudonym,
    pub peers: Vec<InvitePeer>,
    /// When the issuer said it expires. A hint for an early, clear error:
    /// the members check the expiry the circle recorded.
    pub expires: Option<Millis>,
}

#[derive(Serialize, Deserialize)]
struct WireBody {
    genesis: ByteBuf,
    locator: ByteBuf,
    key: ByteBuf,
    peers: Vec<InvitePeer>,
    exp: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InviteError {
    #[error("not a Kindred invite: {0}")]
    Text(#[from] TextCodeError),
    #[error("invite content is malformed: {0}")]
    Malformed(String),
    #[error("this invite was altered: the circle's name, rules or owner no longer match the owner's signature ({0})")]
    Altered(OpError),
    #[error("invite expired at {expired_at} (ms since epoch; now {now})")]
    Expired { expired_at: Millis, now: Millis },
    #[error("invite field {field} is invalid: {why}")]
    BadField { field: &'static str, why: String },
}

impl From<DecodeError> for InviteError {
    fn from(e: DecodeError) -> Self {
        InviteError::Malformed(e.to_string())
    }
}

/// The text form of invites.
pub const TEXT: Format = Format {
    prefix: PREFIX,
    version: VERSION,
    checksum_label: LABEL_INVITE_CHECKSUM,
    max_chars: MAX_INVITE_CHARS,
};

fn bad(field: &'static str, why: impl Into<String>) -> InviteError {
    InviteError::BadField {
        field,
        why: why.into(),
    }
}

impl Invite {
    fn check_fields(&self) -> Result<(), InviteError> {
        let Action::Create { topic, .. } = &self.genesis.action else {
            return Err(bad("genesis", "is not a circle's beginning"));
        };
        if TopicKeys::derive(&self.locator).id != *topic {
            return Err(bad("locator", "does not belong to this circle"));
        }
        if self.peers.len() > MAX_PEERS {
            return Err(bad("peers", format!("more than {MAX_PEERS}")));
        }
        for p in &self.peers {
            if p.peer_id.is_empty() || p.peer_id.len() > MAX_PEER_ID_BYTES {
                return Err(bad("peers.id", "wrong length"));
            }
            if p.addrs.len() > MAX_ADDRS_PER_PEER {
                return Err(bad(
                    "peers.addrs",
                    format!("more than {MAX_ADDRS_PER_PEER}"),
                ));
            }
            if p.addrs.iter().any(|a| a.len() > MAX_ADDR_CHARS) {
                return Err(bad(
                    "peers.addrs",
                    format!("an address over {MAX_ADDR_CHARS} characters"),
                ));
            }
        }
        Ok(())
    }

    pub fn circle(&self) -> CircleId {
        CircleId(self.genesis.id.0)
    }

    /// The circle's name and rules as its owner signed them.
    pub fn name_and_rules(&self) -> (&str, &str) {
        match &self.genesis.action {
            Action::Create { name, rules, .. } => (name, rules),
            _ => ("", ""),
        }
    }

    pub fn owner(&self) -> PublicKey {
        self.genesis.author
    }

    /// Encodes the invite as one line of text.
    pub fn encode(&self) -> Result<String, InviteError> {
        self.check_fields()?;
        let payload = codec::encode(&WireBody {
            genesis: ByteBuf::from(self.genesis.encoded().to_vec()),
            locator: ByteBuf::from(self.locator.as_bytes().to_vec()),
            key: ByteBuf::from(self.key.seed().as_slice().to_vec()),
            peers: self.peers.clone(),
            exp: self.expires,
        });
        Ok(TEXT.encode(&payload)?)
    }

    /// Parses and checks an invite. Whitespace anywhere is ignored (invites
    /// get wrapped by mail clients), and so is letter case.
    pub fn parse(text: &str, now: Millis) -> Result<Invite, InviteError> {
        let payload = TEXT.decode(text)?;
        let body: WireBody = codec::decode("invite", &payload, MAX_INVITE_CHARS)?;
        let genesis = Op::decode(&body.genesis).map_err(InviteError::Altered)?;
        let locator: [u8; 32] = body
            .locator
            .as_slice()
            .try_into()
            .map_err(|_| bad("locator", "must be 32 bytes"))?;
        let key: [u8; 32] = body
            .key
            .as_slice()
            .try_into()
            .map_err(|_| bad("key", "must be 32 bytes"))?;
        let invite = Invite {
            genesis,
            locator: TopicSecret::from_bytes(locator),
            key: Pseudonym::from_seed(key),
            peers: body.peers,
            expires: body.exp,
        };
        invite.check_fields()?;
        if let Some(expired_at) = invite.expires {
            if expired_at <= now {
                return Err(InviteError::Expired { expired_at, now });
            }
        }
        Ok(invite)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authority::{Circle, Genesis, Policy};

    fn sample() -> Invite {
        let owner = Pseudonym::from_seed([3; 32]);
        let locator = TopicSecret::from_bytes([9; 32]);
        let genesis = Genesis {
            name: "grief support".into(),
            rules: "Be kind.".into(),
            policy: Policy::default(),
            topic: TopicKeys::derive(&locator).id,
            kx: [5; 32],
            owner_name: "Ada".into(),
        };
        let (circle, _) = Circle::create(&owner, genesis, 1, &[1; 64]).unwrap();
        Invite {
            genesis: circle.genesis().clone(),
            locator,
            key: Pseudonym::from_seed([4; 32]),
            peers: vec![InvitePeer {
                peer_id: ByteBuf::from(vec![0, 36, 8, 1]),
                addrs: vec!["/ip4/127.0.0.1/tcp/4001".into()],
            }],
            expires: Some(2_000),
        }
    }

    fn same(a: &Invite, b: &Invite) -> bool {
        a.genesis == b.genesis
            && a.locator == b.locator
            && a.key.public_key() == b.key.public_key()
            && a.peers == b.peers
            && a.expires == b.expires
    }

    #[test]
    fn roundtrip_and_whitespace() {
        let inv = sample();
        let text = inv.encode().unwrap();
        assert!(text.starts_with("kindred2"));
        assert!(same(&Invite::parse(&text, 1_000).unwrap(), &inv));
        let wrapped: String = text
            .chars()
            .enumerate()
            .flat_map(|(i, c)| {
                if i % 60 == 59 {
                    vec![c, '\n', ' ']
                } else {
                    vec![c]
                }
            })
            .collect();
        assert!(same(
            &Invite::parse(&format!("  {wrapped}\n"), 1_000).unwrap(),
            &inv
        ));
        assert!(same(
            &Invite::parse(&text.to_uppercase(), 1_000).unwrap(),
            &inv
        ));
        assert_eq!(inv.name_and_rules(), ("grief support", "Be kind."));
    }

    #[test]
    fn errors_name_the_problem() {
        use TextCodeError::*;
        let text = sample().encode().unwrap();
        assert!(matches!(
            Invite::parse(&text, 2_000),
            Err(InviteError::Expired {
                expired_at: 2_000,
                now: 2_000
            })
        ));
        assert!(matches!(
            Invite::parse("hello", 0),
            Err(InviteError::Text(WrongPrefix(_)))
        ));
        assert!(matches!(
            Invite::parse(&text.replacen("kindred2", "kindred1", 1), 0),
            Err(InviteError::Text(UnknownVersion {
                found: '1',
                supported: '2'
            }))
        ));
        let mut chars: Vec<char> = text.chars().collect();
        let i = chars.len() / 2;
        chars[i] = if chars[i] == 'a' { 'b' } else { 'a' };
        assert!(matches!(
            Invite::parse(&chars.iter().collect::<String>(), 0),
            Err(InviteError::Text(BadChecksum))
        ));
        assert!(matches!(
            Invite::parse(&"a".repeat(40_000), 0),
            Err(InviteError::Text(TooLong { .. }))
        ));
    }

    /// Someone re-encodes a real invite with other rules (and a valid
    /// checksum): the owner's signature over the genesis no longer holds.
    #[test]
    fn altered_rules_are_caught() {
        let inv = sample();
        let payload = TEXT.decode(&inv.encode().unwrap()).unwrap();
        let mut body: WireBody = codec::decode("test", &payload, 1 << 20).unwrap();
        let pos = body
            .genesis
            .windows(8)
            .position(|w| w == b"Be kind.")
            .unwrap();
        body.genesis[pos..pos + 8].copy_from_slice(b"Be cruel");
        let text = TEXT.encode(&codec::encode(&body)).unwrap();
        let err = Invite::parse(&text, 0).unwrap_err();
        assert!(matches!(err, InviteError::Altered(_)), "{err}");
        assert!(err.to_string().starts_with("this invite was altered"));
        // A locator from another circle is refused too.
        let mut body: WireBody = codec::decode("test", &payload, 1 << 20).unwrap();
        body.locator = ByteBuf::from(vec![8; 32]);
        let text = TEXT.encode(&codec::encode(&body)).unwrap();
        assert!(matches!(
            Invite::parse(&text, 0),
            Err(InviteError::BadField {
                field: "locator",
                ..
            })
        ));
    }
}
