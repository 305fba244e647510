//! Invite keys: one pasteable line that carries a topic's secret
//! (spec/invite.md).

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::codec::{self, DecodeError};
use crate::identity::{self, Pseudonym};
use crate::ids::PublicKey;
use crate::textcode::{Format, TextCodeError};
use crate::topic::TopicSecret;
use crate::{Millis, MAX_NAME_BYTES};

/// Every invite starts with this; the next character is the format version.
pub const PREFIX: &str = "kindred";
pub const VERSION: char = '1';
/// The longest invite accepted, in characters after removing whitespace.
pub const MAX_INVITE_CHARS: usize = 16 * 1024;
pub const MAX_RULES_BYTES: usize = 4 * 1024;
pub const MAX_PEERS: usize = 8;
pub const MAX_ADDRS_PER_PEER: usize = 8;
pub const MAX_ADDR_CHARS: usize = 256;
pub const LABEL_INVITE_SIG: &[u8] = b"kindred/v1/invite-sig";
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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invite {
    pub topic_name: String,
    pub secret: TopicSecret,
    /// The circle's code of conduct; may be empty.
    pub rules: String,
    /// The creator's pseudonym in this topic.
    pub creator: PublicKey,
    /// The pseudonym of the member who issued this invite (the creator, or
    /// any member: whoever holds the secret can invite).
    pub signer: PublicKey,
    pub peers: Vec<InvitePeer>,
    pub expires: Option<Millis>,
    /// Random, so every invite issued is a distinct key (spec/invite.md).
    pub id: Option<[u8; INVITE_ID_LEN]>,
}

/// Bytes of an invite's id.
pub const INVITE_ID_LEN: usize = 16;

#[derive(Serialize, Deserialize)]
struct WireBody {
    name: String,
    secret: ByteBuf,
    rules: String,
    creator: ByteBuf,
    signer: ByteBuf,
    peers: Vec<InvitePeer>,
    exp: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<ByteBuf>,
}

#[derive(Serialize, Deserialize)]
struct WireSigned(ByteBuf, ByteBuf);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InviteError {
    #[error("not a Kindred invite: {0}")]
    Text(#[from] TextCodeError),
    #[error("invite content is malformed: {0}")]
    Malformed(String),
    #[error("invite signature does not verify")]
    BadSignature,
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
        if self.topic_name.trim().is_empty() {
            return Err(bad("name", "empty"));
        }
        if self.topic_name.len() > MAX_NAME_BYTES {
            return Err(bad("name", format!("over {MAX_NAME_BYTES} bytes")));
        }
        if self.rules.len() > MAX_RULES_BYTES {
            return Err(bad("rules", format!("over {MAX_RULES_BYTES} bytes")));
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

    /// Signs and encodes the invite as one line of text.
    pub fn encode(&self, signer: &Pseudonym) -> Result<String, InviteError> {
        if signer.public_key() != self.signer {
            return Err(bad("signer", "does not match the signing key"));
        }
        self.check_fields()?;
        let body = codec::encode(&WireBody {
            name: self.topic_name.clone(),
            secret: ByteBuf::from(self.secret.as_bytes().to_vec()),
            rules: self.rules.clone(),
            creator: ByteBuf::from(self.creator.0.to_vec()),
            signer: ByteBuf::from(self.signer.0.to_vec()),
            peers: self.peers.clone(),
            exp: self.expires,
            id: self.id.map(|i| ByteBuf::from(i.to_vec())),
        });
        let mut sig_input = LABEL_INVITE_SIG.to_vec();
        sig_input.extend_from_slice(&body);
        let sig = signer.sign(&sig_input);
        let payload = codec::encode(&WireSigned(
            ByteBuf::from(body),
            ByteBuf::from(sig.to_vec()),
        ));
        Ok(TEXT.encode(&payload)?)
    }

    /// Parses and checks an invite. Whitespace anywhere is ignored (invites
    /// get wrapped by mail clients), and so is letter case.
    pub fn parse(text: &str, now: Millis) -> Result<Invite, InviteError> {
        let signed = TEXT.decode(text)?;
        let WireSigned(body_bytes, sig) = codec::decode("invite", &signed, MAX_INVITE_CHARS)?;
        let body: WireBody = codec::decode("invite body", &body_bytes, MAX_INVITE_CHARS)?;
        let secret: [u8; 32] = body
            .secret
            .as_slice()
            .try_into()
            .map_err(|_| bad("secret", "must be 32 bytes"))?;
        let creator = PublicKey::from_slice(&body.creator)
            .ok_or_else(|| bad("creator", "must be 32 bytes"))?;
        let signer =
            PublicKey::from_slice(&body.signer).ok_or_else(|| bad("signer", "must be 32 bytes"))?;
        let sig: [u8; 64] = sig
            .as_slice()
            .try_into()
            .map_err(|_| bad("signature", "must be 64 bytes"))?;
        let mut sig_input = LABEL_INVITE_SIG.to_vec();
        sig_input.extend_from_slice(&body_bytes);
        if !identity::verify(&signer, &sig_input, &sig) {
            return Err(InviteError::BadSignature);
        }
        let id = match body.id {
            None => None,
            Some(b) => Some(
                b.as_slice()
                    .try_into()
                    .map_err(|_| bad("id", format!("must be {INVITE_ID_LEN} bytes")))?,
            ),
        };
        let invite = Invite {
            topic_name: body.name,
            secret: TopicSecret::from_bytes(secret),
            rules: body.rules,
            creator,
            signer,
            peers: body.peers,
            expires: body.exp,
            id,
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

    fn sample() -> (Invite, Pseudonym) {
        let signer = Pseudonym::from_seed([3; 32]);
        let invite = Invite {
            topic_name: "grief support".into(),
            secret: TopicSecret::from_bytes([9; 32]),
            rules: "Be kind.".into(),
            creator: signer.public_key(),
            signer: signer.public_key(),
            peers: vec![InvitePeer {
                peer_id: ByteBuf::from(vec![0, 36, 8, 1]),
                addrs: vec!["/ip4/127.0.0.1/tcp/4001".into()],
            }],
            expires: Some(2_000),
            id: Some([5; INVITE_ID_LEN]),
        };
        (invite, signer)
    }

    #[test]
    fn roundtrip_and_whitespace() {
        let (inv, key) = sample();
        let text = inv.encode(&key).unwrap();
        assert!(text.starts_with("kindred1"));
        assert_eq!(Invite::parse(&text, 1_000).unwrap(), inv);
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
        assert_eq!(
            Invite::parse(&format!("  {wrapped}\n"), 1_000).unwrap(),
            inv
        );
        assert_eq!(Invite::parse(&text.to_uppercase(), 1_000).unwrap(), inv);
    }

    #[test]
    fn errors_name_the_problem() {
        use TextCodeError::*;
        let (inv, key) = sample();
        let text = inv.encode(&key).unwrap();
        assert_eq!(
            Invite::parse(&text, 2_000),
            Err(InviteError::Expired {
                expired_at: 2_000,
                now: 2_000
            })
        );
        assert!(matches!(
            Invite::parse("hello", 0),
            Err(InviteError::Text(WrongPrefix(_)))
        ));
        assert_eq!(
            Invite::parse(&text.replacen("kindred1", "kindred2", 1), 0),
            Err(InviteError::Text(UnknownVersion {
                found: '2',
                supported: '1'
            }))
        );
        assert!(matches!(
            Invite::parse(&format!("{text}!"), 0),
            Err(InviteError::Text(BadEncoding(_)))
        ));
        let mut chars: Vec<char> = text.chars().collect();
        let i = chars.len() / 2;
        chars[i] = if chars[i] == 'a' { 'b' } else { 'a' };
        assert_eq!(
            Invite::parse(&chars.iter().collect::<String>(), 0),
            Err(InviteError::Text(BadChecksum))
        );
        assert!(matches!(
            Invite::parse(&"a".repeat(40_000), 0),
            Err(InviteError::Text(TooLong { .. }))
        ));
        assert!(Invite::parse(&text[..text.len() - 10], 0).is_err());
    }

    #[test]
    fn forged_signature_is_caught() {
        let (inv, key) = sample();
        let text = inv.encode(&key).unwrap();
        let signed = TEXT.decode(&text).unwrap();
        let WireSigned(body, _) = codec::decode("test", &signed, 1 << 20).unwrap();
        let other = Pseudonym::from_seed([4; 32]);
        let mut input = LABEL_INVITE_SIG.to_vec();
        input.extend_from_slice(&body);
        let forged = codec::encode(&WireSigned(
            body,
            ByteBuf::from(other.sign(&input).to_vec()),
        ));
        let text = TEXT.encode(&forged).unwrap();
        assert_eq!(Invite::parse(&text, 0), Err(InviteError::BadSignature));
    }
}
