//! Private messages and contact codes (spec/dm.md).

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::codec::{self, DecodeError};
use crate::identity::{self, NodeSecret};
use crate::ids::PublicKey;
use crate::noise::{Binding, NoiseError, MAX_ITEM_BYTES};
use crate::textcode::{Format, TextCodeError};
use crate::Millis;

/// The group-message kind that carries a member's contact code.
pub const CONTACT_KIND: u32 = 2;

/// Longest private message text, in bytes of UTF-8.
pub const MAX_DM_TEXT_BYTES: usize = 256 * 1024;
pub const DM_ID_LEN: usize = 16;

/// One private message: what is stored, acknowledged and deduplicated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DmMessage {
    /// Random, chosen by the sender; the recipient's replay cache keys on it.
    pub id: ByteBuf,
    /// The sender's clock, informational.
    pub ts: Millis,
    pub text: String,
}

/// What one session transfer carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Item {
    /// A message sent while both were online.
    Direct(DmMessage),
    /// A message sealed while the recipient was offline (see `noise::seal`).
    Sealed(ByteBuf),
}

impl DmMessage {
    pub fn new(id: [u8; DM_ID_LEN], ts: Millis, text: String) -> Result<Self, NoiseError> {
        let m = DmMessage {
            id: ByteBuf::from(id.to_vec()),
            ts,
            text,
        };
        m.check()?;
        Ok(m)
    }

    pub fn check(&self) -> Result<(), NoiseError> {
        if self.id.len() != DM_ID_LEN {
            return Err(NoiseError::Protocol("message id must be 16 bytes"));
        }
        if self.text.len() > MAX_DM_TEXT_BYTES {
            return Err(NoiseError::TooLarge {
                what: "message text",
                len: self.text.len(),
                max: MAX_DM_TEXT_BYTES,
            });
        }
        Ok(())
    }

    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, NoiseError> {
        let m: DmMessage = codec::decode("private message", bytes, MAX_ITEM_BYTES)?;
        m.check()?;
        Ok(m)
    }
}

impl Item {
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, NoiseError> {
        let item: Item = codec::decode("session item", bytes, MAX_ITEM_BYTES + 1024)?;
        if let Item::Direct(m) = &item {
            m.check()?;
        }
        Ok(item)
    }
}

pub const CONTACT_PREFIX: &str = "kindred-contact";
pub const CONTACT_VERSION: char = '1';
pub const LABEL_CONTACT_SIG: &[u8] = b"kindred/v1/contact-sig";
pub const LABEL_CONTACT_CHECKSUM: &[u8] = b"kindred/v1/contact-checksum";
pub const MAX_CONTACT_CHARS: usize = 4096;

pub const CONTACT_TEXT: Format = Format {
    prefix: CONTACT_PREFIX,
    version: CONTACT_VERSION,
    checksum_label: LABEL_CONTACT_CHECKSUM,
    max_chars: MAX_CONTACT_CHARS,
};

/// How to reach a node for private messages. Shared as a contact code, or
/// published in a circle (then `pseudonym` names the member it belongs to).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contact {
    /// The node's ed25519 identity (its PeerId's key).
    pub identity: PublicKey,
    /// Its Noise static key, with the binding signature.
    pub static_key: [u8; 32],
    pub binding: [u8; 64],
    /// Multiaddrs, text form; at most 8.
    pub addrs: Vec<String>,
    /// In a circle: the member's pseudonym there, vouched for by the identity.
    pub pseudonym: Option<PublicKey>,
}

#[derive(Serialize, Deserialize)]
struct WireContact {
    id: ByteBuf,
    st: ByteBuf,
    bind: ByteBuf,
    addrs: Vec<String>,
    ps: Option<ByteBuf>,
}

#[derive(Serialize, Deserialize)]
struct WireSignedContact(ByteBuf, ByteBuf);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContactError {
    #[error("not a contact code: {0}")]
    Text(#[from] TextCodeError),
    #[error("contact code is malformed: {0}")]
    Malformed(String),
    #[error("contact code signature does not verify")]
    BadSignature,
}

impl From<DecodeError> for ContactError {
    fn from(e: DecodeError) -> Self {
        ContactError::Malformed(e.to_string())
    }
}

impl Contact {
    pub fn new(
        node: &NodeSecret,
        static_key: [u8; 32],
        addrs: Vec<String>,
        pseudonym: Option<PublicKey>,
    ) -> Self {
        let b = Binding::create(node, &static_key);
        Contact {
            identity: b.identity,
            static_key,
            binding: b.signature,
            addrs: addrs.into_iter().take(8).collect(),
            pseudonym,
        }
    }

    /// Signs with the node identity and encodes as one line of text.
    pub fn encode(&self, node: &NodeSecret) -> Result<String, ContactError> {
        let body = codec::encode(&WireContact {
            id: ByteBuf::from(self.identity.0.to_vec()),
            st: ByteBuf::from(self.static_key.to_vec()),
            bind: ByteBuf::from(self.binding.to_vec()),
            addrs: self.addrs.clone(),
            ps: self.pseudonym.map(|p| ByteBuf::from(p.0.to_vec())),
        });
        let mut input = LABEL_CONTACT_SIG.to_vec();
        input.extend_from_slice(&body);
        let sig = node.sign(&input);
        Ok(CONTACT_TEXT.encode(&codec::encode(&WireSignedContact(
            ByteBuf::from(body),
            ByteBuf::from(sig.to_vec()),
        )))?)
    }

    pub fn parse(text: &str) -> Result<Contact, ContactError> {
        let signed = CONTACT_TEXT.decode(text)?;
        let WireSignedContact(body, sig) =
            codec::decode("contact code", &signed, MAX_CONTACT_CHARS)?;
        let w: WireContact = codec::decode("contact body", &body, MAX_CONTACT_CHARS)?;
        let bad = |f: &str| ContactError::Malformed(format!("{f} has the wrong length"));
        let identity = PublicKey::from_slice(&w.id).ok_or_else(|| bad("identity"))?;
        let sig: [u8; 64] = sig.as_slice().try_into().map_err(|_| bad("signature"))?;
        let mut input = LABEL_CONTACT_SIG.to_vec();
        input.extend_from_slice(&body);
        if !identity::verify(&identity, &input, &sig) {
            return Err(ContactError::BadSignature);
        }
        let static_key: [u8; 32] = w.st.as_slice().try_into().map_err(|_| bad("static key"))?;
        let binding: [u8; 64] = w.bind.as_slice().try_into().map_err(|_| bad("binding"))?;
        let mut b = crate::noise::Binding {
            identity,
            signature: binding,
        }
        .encode();
        if Binding::verify(&b, &static_key).is_err() {
            return Err(ContactError::BadSignature);
        }
        b.clear();
        if w.addrs.len() > 8 || w.addrs.iter().any(|a| a.len() > 256) {
            return Err(ContactError::Malformed(
                "too many or too long addresses".into(),
            ));
        }
        let pseudonym = match w.ps {
            Some(p) => Some(PublicKey::from_slice(&p).ok_or_else(|| bad("pseudonym"))?),
            None => None,
        };
        Ok(Contact {
            identity,
            static_key,
            binding,
            addrs: w.addrs,
            pseudonym,
        })
    }
}
