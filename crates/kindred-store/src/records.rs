//! What the store keeps per topic and per message, as CBOR values.

use kindred_proto::{codec, Kind, MessageId, Millis, OpenedMessage, PublicKey, TopicId};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::StoreError;

/// The largest record the store writes is an outbox entry holding one
/// sealed private message (at most a Noise item) and a few small fields,
/// or a conversation entry holding one message's text (smaller still);
/// anything bigger is corruption. A cap at the text limit itself made a
/// long private message undecodable (and every later `dm` fail).
pub(crate) const MAX_RECORD_BYTES: usize = kindred_proto::noise::MAX_ITEM_BYTES + 16 * 1024;

/// A topic this node belongs to.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct TopicRecord {
    pub name: String,
    pub secret: ByteBuf,
    pub rules: String,
    pub creator: ByteBuf,
    /// This node's display name in the topic.
    pub my_name: String,
    pub joined_at: Millis,
    /// The circle's signed genesis (spec/authority.md). Empty in topics
    /// made before circles had one: those cannot be opened any more.
    #[serde(default)]
    pub genesis: ByteBuf,
    /// While waiting to be admitted: the join request this node sent.
    #[serde(default)]
    pub joining: Option<ByteBuf>,
}

impl TopicRecord {
    pub fn secret_bytes(&self) -> Result<[u8; 32], StoreError> {
        self.secret
            .as_slice()
            .try_into()
            .map_err(|_| StoreError::Corrupt {
                what: "topic secret",
                detail: "not 32 bytes".into(),
            })
    }
}

impl Drop for TopicRecord {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.secret.as_mut_slice().zeroize();
    }
}

/// A validated message with everything needed to show it and to serve it
/// to peers.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct MessageRecord {
    pub id: ByteBuf,
    pub author: ByteBuf,
    pub kind: u32,
    pub body: String,
    pub parents: Vec<ByteBuf>,
    /// The author's claimed time.
    pub timestamp: Millis,
    /// When this node first saw it.
    pub received_at: Millis,
    /// 0 for a message without parents, else 1 + the deepest parent: the
    /// depth the message carries, placed only if it says exactly that
    /// (a stand-in's, read from its envelope, cannot be checked).
    pub depth: u64,
    /// The exact envelope, to hand on to peers that lack it.
    pub envelope: ByteBuf,
    /// How far below the top of history this message was placed when it
    /// arrived, if at least [`kindred_proto::LATE_DEPTH`] (else 0): it came
    /// late, or its author chose old parents to bury it (spec §3.4).
    #[serde(default)]
    pub late_by: u64,
}

/// The kind of a record holding an envelope this node cannot open: one
/// from an epoch before it joined, which history still names as a parent
/// (spec/authority.md §5). Kept whole, placed as a root, never shown.
pub const OPAQUE_KIND: u32 = u32::MAX;

impl MessageRecord {
    /// A stand-in for an envelope this node holds no key for.
    pub fn opaque(id: MessageId, envelope: &[u8], received_at: Millis) -> Self {
        MessageRecord {
            id: ByteBuf::from(id.0.to_vec()),
            author: ByteBuf::from(vec![0; 32]),
            kind: OPAQUE_KIND,
            body: String::new(),
            parents: Vec::new(),
            timestamp: 0,
            received_at,
            depth: kindred_proto::envelope::envelope_depth(envelope).unwrap_or(0),
            envelope: ByteBuf::from(envelope.to_vec()),
            late_by: 0,
        }
    }

    pub fn from_opened(msg: &OpenedMessage, envelope: &[u8], received_at: Millis) -> Self {
        MessageRecord {
            id: ByteBuf::from(msg.id.0.to_vec()),
            author: ByteBuf::from(msg.author.0.to_vec()),
            kind: msg.content.kind.code(),
            body: msg.content.body.clone(),
            parents: msg
                .content
                .parents
                .iter()
                .map(|p| ByteBuf::from(p.0.to_vec()))
                .collect(),
            timestamp: msg.content.timestamp,
            received_at,
            depth: msg.content.depth,
            envelope: ByteBuf::from(envelope.to_vec()),
            late_by: 0,
        }
    }

    pub fn id(&self) -> MessageId {
        MessageId::from_slice(&self.id).unwrap_or(MessageId([0; 32]))
    }

    pub fn author(&self) -> PublicKey {
        PublicKey::from_slice(&self.author).unwrap_or(PublicKey([0; 32]))
    }

    pub fn kind(&self) -> Kind {
        Kind::from_code(self.kind)
    }

    pub fn parent_ids(&self) -> Vec<MessageId> {
        self.parents
            .iter()
            .filter_map(|p| MessageId::from_slice(p))
            .collect()
    }
}

/// The depth of a stored message record, decoded without copying the rest
/// (parents are looked up for every message placed).
pub(crate) fn depth_in(record: &[u8]) -> Result<u64, StoreError> {
    #[derive(Deserialize)]
    struct DepthOnly {
        depth: u64,
    }
    decode::<DepthOnly>("message", record).map(|m| m.depth)
}

pub(crate) fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    codec::encode(v)
}

pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    what: &'static str,
    bytes: &[u8],
) -> Result<T, StoreError> {
    codec::decode(what, bytes, MAX_RECORD_BYTES).map_err(|e| StoreError::Corrupt {
        what,
        detail: e.to_string(),
    })
}

/// `topic || rest`, the shape of every per-topic key.
pub(crate) fn key(topic: &TopicId, parts: &[&[u8]]) -> Vec<u8> {
    let mut k = Vec::with_capacity(32 + parts.iter().map(|p| p.len()).sum::<usize>());
    k.extend_from_slice(topic.as_bytes());
    for p in parts {
        k.extend_from_slice(p);
    }
    k
}
