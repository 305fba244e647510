//! History sync messages, exchanged over `/kindred/sync/1`
//! (spec/protocol.md, "History sync").

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::codec::{self, Capped, DecodeError, Fixed, Id32};
use crate::ids::MessageId;

pub const PROTOCOL: &str = "/kindred/sync/1";
/// Cap on a request's encoded size, checked before decoding.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024;
/// Cap on a response's encoded size, checked before decoding.
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;
/// Most ids in `want`, `have` or a heads answer.
pub const MAX_IDS: usize = 64;
/// Most envelopes in one page.
pub const MAX_PAGE_MESSAGES: usize = 512;
/// A responder stops adding envelopes to a page past this many bytes.
pub const PAGE_BYTES: usize = 2 * 1024 * 1024;

/// A request names its topic by a tag only the two peers and members can compute.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncRequest {
    /// "What are your heads for this topic?"
    Heads { tag: ByteBuf },
    /// "Send me these messages and their ancestors, newest first, stopping
    /// where you reach what I already have."
    Fetch { tag: ByteBuf, want: Ids, have: Ids },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncResponse {
    Heads {
        heads: Ids,
    },
    /// Envelopes in the order they should be applied (parents first).
    Messages {
        envelopes: Capped<ByteBuf, MAX_PAGE_MESSAGES>,
    },
    /// The responder is not in a topic with that tag (or will not say).
    UnknownTopic,
    /// The request was malformed.
    Refused {
        reason: String,
    },
}

/// A list of message ids on the wire: at most [`MAX_IDS`], each 32 bytes,
/// both enforced while decoding.
pub type Ids = Capped<Id32, MAX_IDS>;

/// Ids for the wire; beyond [`MAX_IDS`] they are left out.
pub fn ids_to_wire(ids: &[MessageId]) -> Ids {
    Capped(ids.iter().take(MAX_IDS).map(|i| Fixed(i.0)).collect())
}

pub fn ids_from_wire(ids: &Ids) -> Vec<MessageId> {
    ids.iter().map(|b| MessageId(b.0)).collect()
}

impl SyncRequest {
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        codec::decode("sync request", bytes, MAX_REQUEST_BYTES)
    }

    pub fn tag(&self) -> &[u8] {
        match self {
            SyncRequest::Heads { tag } | SyncRequest::Fetch { tag, .. } => tag,
        }
    }
}

impl SyncResponse {
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        codec::decode("sync response", bytes, MAX_RESPONSE_BYTES)
    }
}
