//! Group messages: the signed content and the encrypted, padded envelope
//! around it (spec/protocol.md, "Group messages").

use chacha20poly1305::{
    aead::{Aead, KeyInit, Payload},
    XChaCha20Poly1305, XNonce,
};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};

use crate::codec::{self, DecodeError};
use crate::identity::{self, Pseudonym};
use crate::ids::{MessageId, PublicKey};
use crate::topic::{EpochKeys, Keyring, TopicKeys, EPOCH_TAG_LEN};
use crate::{
    Millis, MAX_ENVELOPE_BYTES, MAX_NAME_BYTES, MAX_PARENTS, MAX_TEXT_BYTES, PADDING_BLOCK,
};

pub const ENVELOPE_VERSION: u8 = 3;
pub const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
pub const LABEL_MESSAGE_ID: &[u8] = b"kindred/v1/message-id";
pub const LABEL_MESSAGE_SIG: &[u8] = b"kindred/v1/message-sig";
/// Associated data bound into every envelope's AEAD.
pub const ENVELOPE_AD: &[u8] = b"kindred/v1/envelope";

/// What a message is. Unknown kinds are carried and stored (so newer nodes
/// can add kinds without older ones rejecting them) but not shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A post in the circle; body is its text.
    Post,
    /// The author's display name in this topic; body is the name.
    Profile,
    /// A signed authority op (spec/authority.md); body is its bytes.
    Authority,
    Other(u32),
}

impl Kind {
    pub fn code(self) -> u32 {
        match self {
            Kind::Post => 0,
            Kind::Profile => 1,
            Kind::Authority => 3,
            Kind::Other(c) => c,
        }
    }

    pub fn from_code(code: u32) -> Self {
        match code {
            0 => Kind::Post,
            1 => Kind::Profile,
            3 => Kind::Authority,
            c => Kind::Other(c),
        }
    }

    fn max_body(self) -> usize {
        match self {
            Kind::Profile => MAX_NAME_BYTES,
            // Bounded by the envelope itself.
            Kind::Authority => MAX_ENVELOPE_BYTES,
            _ => MAX_TEXT_BYTES,
        }
    }

    /// Kinds whose body is bytes rather than text.
    pub fn is_binary(self) -> bool {
        matches!(self, Kind::Authority)
    }
}

/// The author-chosen part of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageContent {
    pub kind: Kind,
    pub body: String,
    /// The topic's heads when the author wrote it: links history into a DAG.
    pub parents: Vec<MessageId>,
    /// The author's clock; informational only, never used for ordering.
    pub timestamp: Millis,
    /// The message's place in history: 0 without parents, else one more
    /// than its deepest parent ([`child_depth`]). Carried in clear and
    /// signed, so a node that holds a parent only as a sealed stand-in
    /// still places the message where every other member does.
    pub depth: u64,
}

/// The greatest depth a message may carry; deeper is refused. A depth
/// stops growing here instead of overflowing (order at the ceiling falls
/// back to message ids), so no chain of messages can make a circle unable
/// to speak. 2^53 - 1 also survives JSON readers intact.
pub const MAX_DEPTH: u64 = (1 << 53) - 1;

/// The depth a message with parents at `deepest_parent` must carry.
pub fn child_depth(deepest_parent: Option<u64>) -> u64 {
    deepest_parent.map_or(0, |d| d.saturating_add(1).min(MAX_DEPTH))
}

/// A message that decrypted and whose signature verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenedMessage {
    pub id: MessageId,
    pub author: PublicKey,
    /// The epoch it was encrypted under.
    pub epoch: [u8; EPOCH_TAG_LEN],
    /// For text kinds `content.body` holds the text and this is empty; for
    /// binary kinds ([`Kind::is_binary`]) this holds the body.
    pub data: Vec<u8>,
    pub content: MessageContent,
}

#[derive(Serialize, Deserialize)]
struct WireEnvelope {
    #[serde(rename = "v")]
    version: u8,
    #[serde(rename = "e")]
    epoch: ByteBuf,
    #[serde(rename = "n")]
    nonce: ByteBuf,
    #[serde(rename = "d")]
    depth: u64,
    #[serde(rename = "c")]
    ciphertext: ByteBuf,
}

/// The fields the signature covers, as one CBOR array.
#[derive(Serialize)]
struct ToSign<'a>(&'a ByteBuf, &'a [ByteBuf], u32, &'a ByteBuf, u64);

/// The plaintext inside the envelope, before padding.
#[derive(Serialize, Deserialize)]
struct WireInner(ByteBuf, Vec<ByteBuf>, u32, ByteBuf, u64, ByteBuf);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error(transparent)]
    Limit(#[from] LimitError),
    #[error("the sealed message would be {len} bytes, over the limit of {max}")]
    TooLarge { len: usize, max: usize },
    #[error("a message may be at most {MAX_DEPTH} deep, got {0}")]
    TooDeep(u64),
    #[error("encryption failed")]
    Encrypt,
}

/// Why an envelope was refused. Every variant means "not a valid message of
/// this topic"; none says anything about who sent it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("envelope is {len} bytes, over the limit of {max}")]
    TooLarge { len: usize, max: usize },
    #[error("envelope length {0} is not a multiple of the padding block")]
    BadPadding(usize),
    #[error("envelope: {0}")]
    Decode(#[from] DecodeError),
    #[error("unknown envelope version {0}")]
    UnknownVersion(u8),
    #[error("nonce must be {NONCE_LEN} bytes, got {0}")]
    BadNonce(usize),
    #[error("does not decrypt with this topic's key (wrong topic, or tampered)")]
    Decrypt,
    #[error("encrypted under a key this node does not hold (an epoch from before it joined, or one whose key has not reached it yet)")]
    UnknownEpoch([u8; EPOCH_TAG_LEN]),
    #[error("the text of this message is not UTF-8")]
    NotText,
    #[error("plaintext padding is malformed or not minimal")]
    BadPlaintextPadding,
    #[error("field {0} has the wrong length")]
    BadField(&'static str),
    #[error("message lists the same parent twice")]
    DuplicateParent,
    #[error("message claims depth {0}, over the greatest allowed")]
    TooDeep(u64),
    #[error(transparent)]
    Limit(#[from] LimitError),
    #[error("author signature does not verify")]
    BadSignature,
}

/// The id of a message: a hash over its exact envelope bytes.
pub fn message_id(envelope: &[u8]) -> MessageId {
    let mut h = Sha256::new();
    h.update(LABEL_MESSAGE_ID);
    h.update(envelope);
    MessageId(h.finalize().into())
}

/// Length of a CBOR unsigned integer, and of the header of a byte string
/// of `v` bytes (the same encoding of the length).
fn uint_len(v: u64) -> usize {
    match v {
        0..=23 => 1,
        24..=0xff => 2,
        0x100..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    }
}

/// Encoded envelope length for a ciphertext of `ct_len` bytes: map(5)
/// header, "v" 3, "e" bstr(8), "n" bstr(24), "d" uint, "c" bstr(ct_len).
fn envelope_len(depth: u64, ct_len: usize) -> usize {
    1 + 2
        + 2
        + uint_len(depth)
        + 1
        + 2
        + uint_len(EPOCH_TAG_LEN as u64)
        + EPOCH_TAG_LEN
        + 2
        + uint_len(NONCE_LEN as u64)
        + NONCE_LEN
        + 2
        + uint_len(ct_len as u64)
        + ct_len
}

/// The number of zero bytes that follow the 0x80 marker so the envelope is a
/// multiple of the padding block. A function of the inner length and the
/// depth alone, so exactly one padding is valid for each message.
fn padding_zeros(depth: u64, inner_len: usize) -> usize {
    let mut zeros = 0;
    loop {
        let total = envelope_len(depth, inner_len + 1 + zeros + TAG_LEN);
        let rem = total % PADDING_BLOCK;
        if rem == 0 {
            return zeros;
        }
        zeros += PADDING_BLOCK - rem;
    }
}

fn signing_input(
    keys: &TopicKeys,
    epoch: &[u8],
    nonce: &[u8],
    depth: u64,
    unsigned: &ToSign<'_>,
) -> Vec<u8> {
    let mut input = Vec::with_capacity(128 + unsigned.3.len());
    input.extend_from_slice(LABEL_MESSAGE_SIG);
    input.extend_from_slice(keys.id.as_bytes());
    input.extend_from_slice(epoch);
    input.extend_from_slice(nonce);
    input.extend_from_slice(&depth.to_be_bytes());
    input.extend_from_slice(&codec::encode(unsigned));
    input
}

/// A content limit a message breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("message body is {len} bytes, over the limit of {max} for its kind")]
    BodyTooLong { len: usize, max: usize },
    #[error("a message may have at most {max} parents, got {len}")]
    TooManyParents { len: usize, max: usize },
}

fn check_limits(kind: Kind, body_len: usize, parents: usize) -> Result<(), LimitError> {
    if parents > MAX_PARENTS {
        return Err(LimitError::TooManyParents {
            len: parents,
            max: MAX_PARENTS,
        });
    }
    if body_len > kind.max_body() {
        return Err(LimitError::BodyTooLong {
            len: body_len,
            max: kind.max_body(),
        });
    }
    Ok(())
}

/// Signs and encrypts a text message under an epoch with a fresh nonce.
pub fn seal(
    keys: &TopicKeys,
    epoch: &EpochKeys,
    author: &Pseudonym,
    content: &MessageContent,
) -> Result<(MessageId, Vec<u8>), SealError> {
    let nonce: [u8; NONCE_LEN] = crate::random_bytes().map_err(|_| SealError::Encrypt)?;
    seal_with_nonce(
        keys,
        epoch,
        author,
        content,
        content.body.as_bytes(),
        &nonce,
    )
}

/// Seals a message whose body is bytes (an authority op); `content.body`
/// is ignored.
pub fn seal_data(
    keys: &TopicKeys,
    epoch: &EpochKeys,
    author: &Pseudonym,
    content: &MessageContent,
    data: &[u8],
) -> Result<(MessageId, Vec<u8>), SealError> {
    let nonce: [u8; NONCE_LEN] = crate::random_bytes().map_err(|_| SealError::Encrypt)?;
    seal_with_nonce(keys, epoch, author, content, data, &nonce)
}

/// [`seal`] with a given nonce and body bytes. A nonce must never repeat
/// under one epoch key; this exists for test vectors.
pub fn seal_with_nonce(
    keys: &TopicKeys,
    epoch: &EpochKeys,
    author: &Pseudonym,
    content: &MessageContent,
    body: &[u8],
    nonce: &[u8; NONCE_LEN],
) -> Result<(MessageId, Vec<u8>), SealError> {
    check_limits(content.kind, body.len(), content.parents.len())?;
    if content.depth > MAX_DEPTH {
        return Err(SealError::TooDeep(content.depth));
    }
    let body = ByteBuf::from(body.to_vec());
    let author_bytes = ByteBuf::from(author.public_key().0.to_vec());
    let parents: Vec<ByteBuf> = content
        .parents
        .iter()
        .map(|p| ByteBuf::from(p.0.to_vec()))
        .collect();
    let unsigned = ToSign(
        &author_bytes,
        &parents,
        content.kind.code(),
        &body,
        content.timestamp,
    );
    let sig = author.sign(&signing_input(
        keys,
        &epoch.tag,
        nonce,
        content.depth,
        &unsigned,
    ));
    let inner = WireInner(
        author_bytes,
        parents,
        content.kind.code(),
        body,
        content.timestamp,
        ByteBuf::from(sig.to_vec()),
    );
    let mut plaintext = codec::encode(&inner);
    let zeros = padding_zeros(content.depth, plaintext.len());
    plaintext.push(0x80);
    plaintext.resize(plaintext.len() + zeros, 0);

    let cipher = XChaCha20Poly1305::new(epoch.message_key().into());
    let ciphertext = cipher
        .encrypt(
            &XNonce::from(*nonce),
            Payload {
                msg: &plaintext,
                aad: &envelope_ad(&epoch.tag, content.depth),
            },
        )
        .map_err(|_| SealError::Encrypt)?;
    let envelope = codec::encode(&WireEnvelope {
        version: ENVELOPE_VERSION,
        epoch: ByteBuf::from(epoch.tag.to_vec()),
        nonce: ByteBuf::from(nonce.to_vec()),
        depth: content.depth,
        ciphertext: ByteBuf::from(ciphertext),
    });
    if envelope.len() > MAX_ENVELOPE_BYTES {
        return Err(SealError::TooLarge {
            len: envelope.len(),
            max: MAX_ENVELOPE_BYTES,
        });
    }
    Ok((message_id(&envelope), envelope))
}

fn envelope_ad(epoch: &[u8], depth: u64) -> Vec<u8> {
    [ENVELOPE_AD, epoch, &depth.to_be_bytes()].concat()
}

/// The clear part of an envelope, checked for shape without any key.
fn decode_outer(envelope: &[u8]) -> Result<WireEnvelope, OpenError> {
    if envelope.len() > MAX_ENVELOPE_BYTES {
        return Err(OpenError::TooLarge {
            len: envelope.len(),
            max: MAX_ENVELOPE_BYTES,
        });
    }
    if envelope.is_empty() || !envelope.len().is_multiple_of(PADDING_BLOCK) {
        return Err(OpenError::BadPadding(envelope.len()));
    }
    let wire: WireEnvelope = codec::decode_canonical("envelope", envelope, MAX_ENVELOPE_BYTES)?;
    if wire.version != ENVELOPE_VERSION {
        return Err(OpenError::UnknownVersion(wire.version));
    }
    if wire.depth > MAX_DEPTH {
        return Err(OpenError::TooDeep(wire.depth));
    }
    Ok(wire)
}

/// The depth an envelope carries, read without opening it: how a node
/// places a sealed stand-in. Only as trustworthy as what names the
/// envelope (the depth is inside its id and, for those who can open it,
/// under its signature).
pub fn envelope_depth(envelope: &[u8]) -> Result<u64, OpenError> {
    decode_outer(envelope).map(|w| w.depth)
}

/// Decrypts and verifies an envelope received for this topic, under
/// whichever of the held epochs it names.
pub fn open(keys: &TopicKeys, ring: &Keyring, envelope: &[u8]) -> Result<OpenedMessage, OpenError> {
    let wire = decode_outer(envelope)?;
    if wire.nonce.len() != NONCE_LEN {
        return Err(OpenError::BadNonce(wire.nonce.len()));
    }
    let nonce = XNonce::try_from(wire.nonce.as_slice())
        .map_err(|_| OpenError::BadNonce(wire.nonce.len()))?;
    let tag: [u8; EPOCH_TAG_LEN] = wire
        .epoch
        .as_slice()
        .try_into()
        .map_err(|_| OpenError::BadField("epoch"))?;
    let epoch = ring.get(&tag).ok_or(OpenError::UnknownEpoch(tag))?;
    let cipher = XChaCha20Poly1305::new(epoch.message_key().into());
    let plaintext = cipher
        .decrypt(
            &nonce,
            Payload {
                msg: &wire.ciphertext,
                aad: &envelope_ad(&tag, wire.depth),
            },
        )
        .map_err(|_| OpenError::Decrypt)?;

    let marker = plaintext
        .iter()
        .rposition(|&b| b != 0)
        .ok_or(OpenError::BadPlaintextPadding)?;
    if plaintext[marker] != 0x80
        || plaintext.len() - marker - 1 != padding_zeros(wire.depth, marker)
    {
        return Err(OpenError::BadPlaintextPadding);
    }
    let inner_bytes = &plaintext[..marker];
    let WireInner(author, parents, kind, body, timestamp, sig) =
        codec::decode_canonical("message", inner_bytes, MAX_ENVELOPE_BYTES)?;

    let author_key = PublicKey::from_slice(&author).ok_or(OpenError::BadField("author"))?;
    let sig_bytes: [u8; 64] = sig
        .as_slice()
        .try_into()
        .map_err(|_| OpenError::BadField("signature"))?;
    let kind = Kind::from_code(kind);
    check_limits(kind, body.len(), parents.len())?;
    let mut parent_ids = Vec::with_capacity(parents.len());
    for p in &parents {
        let id = MessageId::from_slice(p).ok_or(OpenError::BadField("parent"))?;
        if parent_ids.contains(&id) {
            return Err(OpenError::DuplicateParent);
        }
        parent_ids.push(id);
    }
    let unsigned = ToSign(&author, &parents, kind.code(), &body, timestamp);
    if !identity::verify(
        &author_key,
        &signing_input(keys, &tag, &wire.nonce, wire.depth, &unsigned),
        &sig_bytes,
    ) {
        return Err(OpenError::BadSignature);
    }
    let (text, data) = if kind.is_binary() {
        (String::new(), body.into_vec())
    } else {
        (
            String::from_utf8(body.into_vec()).map_err(|_| OpenError::NotText)?,
            Vec::new(),
        )
    };
    Ok(OpenedMessage {
        id: message_id(envelope),
        author: author_key,
        epoch: tag,
        data,
        content: MessageContent {
            kind,
            body: text,
            parents: parent_ids,
            timestamp,
            depth: wire.depth,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topic::TopicSecret;

    fn keys() -> TopicKeys {
        TopicKeys::derive(&TopicSecret::from_bytes([7; 32]))
    }

    fn epoch() -> EpochKeys {
        EpochKeys::derive(
            &keys().id,
            &crate::authority::EpochSecret::from_bytes([8; 32]),
        )
    }

    fn ring() -> Keyring {
        Keyring::single(epoch())
    }

    fn post(text: &str) -> MessageContent {
        MessageContent {
            kind: Kind::Post,
            body: text.into(),
            parents: vec![],
            timestamp: 1,
            depth: 0,
        }
    }

    #[test]
    fn depth_is_carried_signed_and_readable_without_a_key() {
        let k = keys();
        let a = Pseudonym::from_seed([1; 32]);
        for depth in [0, 1, 23, 24, 255, 256, 65_536, MAX_DEPTH] {
            let mut c = post("deep");
            c.depth = depth;
            let (_, env) = seal(&k, &epoch(), &a, &c).unwrap();
            assert_eq!(env.len() % PADDING_BLOCK, 0, "depth {depth}");
            assert_eq!(envelope_depth(&env), Ok(depth));
            assert_eq!(open(&k, &ring(), &env).unwrap().content.depth, depth);
        }
        let mut c = post("too deep");
        c.depth = MAX_DEPTH + 1;
        assert_eq!(
            seal(&k, &epoch(), &a, &c),
            Err(SealError::TooDeep(MAX_DEPTH + 1))
        );
        assert_eq!(child_depth(None), 0);
        assert_eq!(child_depth(Some(4)), 5);
        assert_eq!(child_depth(Some(MAX_DEPTH)), MAX_DEPTH);
    }

    #[test]
    fn a_changed_depth_does_not_open() {
        // Re-encode the clear part with another depth and the same
        // ciphertext: the AEAD (and the signature) cover it.
        let k = keys();
        let mut c = post("placed");
        c.depth = 7;
        let (_, env) = seal(&k, &epoch(), &Pseudonym::from_seed([1; 32]), &c).unwrap();
        let mut wire: WireEnvelope =
            codec::decode_canonical("envelope", &env, MAX_ENVELOPE_BYTES).unwrap();
        wire.depth = 8;
        let moved = codec::encode(&wire);
        assert_eq!(open(&k, &ring(), &moved), Err(OpenError::Decrypt));
    }

    #[test]
    fn envelope_len_formula_matches_encoder() {
        for depth in [0, 23, 24, 300, 70_000, MAX_DEPTH] {
            for ct in [0usize, 1, 23, 24, 255, 256, 300, 65535, 65536] {
                let enc = codec::encode(&WireEnvelope {
                    version: ENVELOPE_VERSION,
                    epoch: ByteBuf::from(vec![0; EPOCH_TAG_LEN]),
                    nonce: ByteBuf::from(vec![0; NONCE_LEN]),
                    depth,
                    ciphertext: ByteBuf::from(vec![0; ct]),
                });
                assert_eq!(enc.len(), envelope_len(depth, ct), "ciphertext {ct}");
            }
        }
    }

    #[test]
    fn sealed_envelopes_are_padded_for_every_length() {
        let k = keys();
        let a = Pseudonym::from_seed([1; 32]);
        for len in (0..2000).step_by(7) {
            let (id, env) = seal(&k, &epoch(), &a, &post(&"x".repeat(len))).unwrap();
            assert_eq!(env.len() % PADDING_BLOCK, 0, "text of {len} bytes");
            let opened = open(&k, &ring(), &env).unwrap();
            assert_eq!(opened.id, id);
            assert_eq!(opened.content.body.len(), len);
        }
    }

    #[test]
    fn other_topic_cannot_open() {
        let (_, env) = seal(
            &keys(),
            &epoch(),
            &Pseudonym::from_seed([1; 32]),
            &post("hi"),
        )
        .unwrap();
        let other = TopicKeys::derive(&TopicSecret::from_bytes([8; 32]));
        let other_epoch = EpochKeys::derive(
            &other.id,
            &crate::authority::EpochSecret::from_bytes([9; 32]),
        );
        assert_eq!(open(&other, &ring(), &env), Err(OpenError::BadSignature));
        assert_eq!(
            open(&keys(), &Keyring::single(other_epoch), &env),
            Err(OpenError::UnknownEpoch(epoch().tag))
        );
    }

    #[test]
    fn every_flipped_byte_is_rejected() {
        let k = keys();
        let (_, env) = seal(&k, &epoch(), &Pseudonym::from_seed([1; 32]), &post("hello")).unwrap();
        for i in 0..env.len() {
            let mut bad = env.clone();
            bad[i] ^= 0x01;
            assert!(
                open(&k, &ring(), &bad).is_err(),
                "flip at byte {i} was accepted"
            );
        }
    }

    #[test]
    fn body_limits() {
        let k = keys();
        let a = Pseudonym::from_seed([1; 32]);
        let long = post(&"x".repeat(MAX_TEXT_BYTES + 1));
        assert!(matches!(
            seal(&k, &epoch(), &a, &long),
            Err(SealError::Limit(LimitError::BodyTooLong { .. }))
        ));
        let mut name = post(&"n".repeat(MAX_NAME_BYTES + 1));
        name.kind = Kind::Profile;
        assert!(matches!(
            seal(&k, &epoch(), &a, &name),
            Err(SealError::Limit(LimitError::BodyTooLong { .. }))
        ));
        assert!(seal(&k, &epoch(), &a, &post(&"x".repeat(MAX_TEXT_BYTES))).is_ok());
    }
}
