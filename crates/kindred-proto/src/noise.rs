//! Private messages' cryptography (spec/dm.md): a Noise static key bound to
//! the node identity, the XX handshake and transport session used online,
//! and one-way sealed messages (Noise X) for peers that are offline.
//!
//! Pure state machines: the node's I/O actor moves their bytes.

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use snow::{Builder, HandshakeState, TransportState};
use zeroize::Zeroizing;

use crate::codec::{self, DecodeError};
use crate::identity::{self, NodeSecret};
use crate::ids::PublicKey;

pub const SESSION_PATTERN: &str = "Noise_XX_25519_ChaChaPoly_BLAKE2s";
pub const SEALED_PATTERN: &str = "Noise_X_25519_ChaChaPoly_BLAKE2s";
/// The libp2p stream protocol that carries sessions.
pub const DM_PROTOCOL: &str = "/kindred/dm/1";
/// Prologues name the protocol, its version and the pattern, so a
/// handshake cannot be replayed into another context.
pub const SESSION_PROLOGUE: &[u8] = b"kindred/dm/1 Noise_XX_25519_ChaChaPoly_BLAKE2s";
pub const SEALED_PROLOGUE: &[u8] = b"kindred/sealed/1 Noise_X_25519_ChaChaPoly_BLAKE2s";
pub const LABEL_STATIC_KEY: &[u8] = b"kindred/v1/noise-static";
pub const LABEL_BINDING: &[u8] = b"kindred/v1/noise-static-key:";
/// Noise's own limit on one message.
pub const MAX_NOISE_MESSAGE: usize = 65535;
const TAG_LEN: usize = 16;
/// Application bytes per chunk: a chunk frame plus its tag fits one Noise message.
pub const CHUNK_BYTES: usize = 60_000;
/// Largest assembled item (one private message, possibly sealed).
pub const MAX_ITEM_BYTES: usize = 320 * 1024;
/// Largest sealed message.
pub const MAX_SEALED_BYTES: usize = MAX_ITEM_BYTES;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoiseError {
    #[error("Noise: {0}")]
    Snow(String),
    #[error("the peer's static key is not bound to its identity: {0}")]
    BadBinding(&'static str),
    #[error("the peer proved a different identity than the one connected")]
    WrongIdentity,
    #[error("protocol violation: {0}")]
    Protocol(&'static str),
    #[error("{what} is {len} bytes, over the limit of {max}")]
    TooLarge {
        what: &'static str,
        len: usize,
        max: usize,
    },
    #[error("the session used up its nonces and must be replaced")]
    Exhausted,
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

impl From<snow::Error> for NoiseError {
    fn from(e: snow::Error) -> Self {
        NoiseError::Snow(e.to_string())
    }
}

/// The node's X25519 key for Noise. Derived from the node secret, so there
/// is no second key file to lose or leak.
pub struct StaticKeypair {
    secret: Zeroizing<[u8; 32]>,
    pub public: [u8; 32],
}

impl StaticKeypair {
    pub fn from_secret(secret: [u8; 32]) -> Self {
        let public = curve25519_dalek::MontgomeryPoint::mul_base_clamped(secret).to_bytes();
        StaticKeypair {
            secret: Zeroizing::new(secret),
            public,
        }
    }

    pub fn derive(node: &NodeSecret) -> Self {
        let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(LABEL_STATIC_KEY), node.as_bytes());
        let mut s = Zeroizing::new([0u8; 32]);
        let _ = hk.expand(LABEL_STATIC_KEY, s.as_mut());
        Self::from_secret(*s)
    }
}

/// The handshake payload that binds a static key to an ed25519 identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    pub identity: PublicKey,
    pub signature: [u8; 64],
}

#[derive(Serialize, Deserialize)]
struct WireBinding(ByteBuf, ByteBuf);

fn binding_input(static_public: &[u8]) -> Vec<u8> {
    let mut m = LABEL_BINDING.to_vec();
    m.extend_from_slice(static_public);
    m
}

impl Binding {
    pub fn create(node: &NodeSecret, static_public: &[u8; 32]) -> Binding {
        Binding {
            identity: node.public_key(),
            signature: node.sign(&binding_input(static_public)),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        codec::encode(&WireBinding(
            ByteBuf::from(self.identity.0.to_vec()),
            ByteBuf::from(self.signature.to_vec()),
        ))
    }

    /// Checks that `payload` binds `remote_static` and returns the identity.
    pub fn verify(payload: &[u8], remote_static: &[u8]) -> Result<PublicKey, NoiseError> {
        if payload.is_empty() {
            return Err(NoiseError::BadBinding("missing"));
        }
        let WireBinding(id, sig) = codec::decode_canonical("identity binding", payload, 256)
            .map_err(|_| NoiseError::BadBinding("malformed"))?;
        let identity =
            PublicKey::from_slice(&id).ok_or(NoiseError::BadBinding("identity length"))?;
        let sig: [u8; 64] = sig
            .as_slice()
            .try_into()
            .map_err(|_| NoiseError::BadBinding("signature length"))?;
        if !identity::verify(&identity, &binding_input(remote_static), &sig) {
            return Err(NoiseError::BadBinding("signature does not verify"));
        }
        Ok(identity)
    }
}

fn params(pattern: &str) -> Result<snow::params::NoiseParams, NoiseError> {
    pattern
        .parse()
        .map_err(|e: snow::Error| NoiseError::Snow(e.to_string()))
}

/// An XX handshake in progress.
pub struct Handshake {
    state: HandshakeState,
    binding: Vec<u8>,
    /// The identity the transport authenticated (the connection's PeerId).
    expected: PublicKey,
    remote: Option<PublicKey>,
    messages: usize,
}

impl Handshake {
    fn new(
        local: &StaticKeypair,
        binding: &Binding,
        expected: PublicKey,
        initiator: bool,
    ) -> Result<Self, NoiseError> {
        let b = Builder::new(params(SESSION_PATTERN)?)
            .local_private_key(local.secret.as_ref())?
            .prologue(SESSION_PROLOGUE)?;
        let state = if initiator {
            b.build_initiator()?
        } else {
            b.build_responder()?
        };
        Ok(Handshake {
            state,
            binding: binding.encode(),
            expected,
            remote: None,
            messages: 0,
        })
    }

    pub fn initiator(
        local: &StaticKeypair,
        binding: &Binding,
        expected: PublicKey,
    ) -> Result<Self, NoiseError> {
        Self::new(local, binding, expected, true)
    }

    pub fn responder(
        local: &StaticKeypair,
        binding: &Binding,
        expected: PublicKey,
    ) -> Result<Self, NoiseError> {
        Self::new(local, binding, expected, false)
    }

    pub fn is_my_turn(&self) -> bool {
        self.state.is_my_turn()
    }

    pub fn is_finished(&self) -> bool {
        self.state.is_handshake_finished()
    }

    /// The next handshake message. Our binding rides on the message that
    /// carries our static key (the 2nd for a responder, the 3rd for an initiator).
    pub fn write(&mut self) -> Result<Vec<u8>, NoiseError> {
        let payload: &[u8] = if self.messages == 0 {
            &[]
        } else {
            &self.binding
        };
        let mut buf = vec![0u8; MAX_NOISE_MESSAGE];
        let n = self.state.write_message(payload, &mut buf)?;
        buf.truncate(n);
        self.messages += 1;
        Ok(buf)
    }

    /// Reads a handshake message; once the peer's static key arrives, its
    /// binding must verify and name the expected identity, or this fails
    /// before any application byte is accepted.
    pub fn read(&mut self, message: &[u8]) -> Result<(), NoiseError> {
        if message.len() > MAX_NOISE_MESSAGE {
            return Err(NoiseError::TooLarge {
                what: "handshake message",
                len: message.len(),
                max: MAX_NOISE_MESSAGE,
            });
        }
        let mut payload = vec![0u8; MAX_NOISE_MESSAGE];
        let n = self.state.read_message(message, &mut payload)?;
        let first = self.messages == 0;
        self.messages += 1;
        match self.state.get_remote_static() {
            Some(rs) if self.remote.is_none() => {
                let id = Binding::verify(&payload[..n], rs)?;
                if id != self.expected {
                    return Err(NoiseError::WrongIdentity);
                }
                self.remote = Some(id);
            }
            _ if first && n != 0 => {
                return Err(NoiseError::Protocol("payload before keys are known"))
            }
            _ => {}
        }
        Ok(())
    }

    /// The peer's static key, once the handshake has verified its binding.
    pub fn remote_static(&self) -> Option<[u8; 32]> {
        self.remote?;
        self.state
            .get_remote_static()
            .and_then(|k| k.try_into().ok())
    }

    pub fn into_session(self, limits: SessionLimits) -> Result<Session, NoiseError> {
        let remote = self.remote.ok_or(NoiseError::BadBinding("missing"))?;
        Ok(Session {
            transport: self.state.into_transport_mode()?,
            remote,
            limits,
            sent_since_rekey: 0,
        })
    }
}

/// When a session changes keys and when it must end.
#[derive(Clone, Copy, Debug)]
pub struct SessionLimits {
    /// Rekey our sending key after this many messages. Default 10,000.
    pub rekey_every: u64,
    /// End the session before a nonce reaches this. Default 2^48 (far
    /// below the 2^64−1 at which Noise nonces would wrap).
    pub max_nonce: u64,
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            rekey_every: 10_000,
            max_nonce: 1 << 48,
        }
    }
}

/// What travels inside an established session, one per Noise message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Frame {
    /// One piece of an item (see [`Item`]); pieces of one transfer arrive in order.
    Chunk {
        #[serde(rename = "t")]
        transfer: u32,
        #[serde(rename = "i")]
        index: u16,
        #[serde(rename = "n")]
        count: u16,
        #[serde(rename = "d")]
        data: ByteBuf,
    },
    /// The receiver has stored the private message with this id.
    Ack { id: ByteBuf },
    /// The sender switches to its next key (Noise REKEY) after this frame.
    Rekey,
}

/// An established session.
pub struct Session {
    transport: TransportState,
    remote: PublicKey,
    limits: SessionLimits,
    sent_since_rekey: u64,
}

impl Session {
    pub fn remote_identity(&self) -> PublicKey {
        self.remote
    }

    fn encrypt(&mut self, frame: &Frame) -> Result<Vec<u8>, NoiseError> {
        if self.transport.sending_nonce() >= self.limits.max_nonce {
            return Err(NoiseError::Exhausted);
        }
        let plain = codec::encode(frame);
        if plain.len() + TAG_LEN > MAX_NOISE_MESSAGE {
            return Err(NoiseError::TooLarge {
                what: "frame",
                len: plain.len(),
                max: MAX_NOISE_MESSAGE - TAG_LEN,
            });
        }
        let mut out = vec![0u8; plain.len() + TAG_LEN];
        let n = self.transport.write_message(&plain, &mut out)?;
        out.truncate(n);
        Ok(out)
    }

    /// Encrypts a frame; when a rekey is due, first a `Rekey` frame under
    /// the old key. Returns the Noise messages to send, in order.
    pub fn seal_frame(&mut self, frame: &Frame) -> Result<Vec<Vec<u8>>, NoiseError> {
        let mut out = Vec::with_capacity(2);
        if self.sent_since_rekey >= self.limits.rekey_every {
            out.push(self.encrypt(&Frame::Rekey)?);
            self.transport.rekey_outgoing();
            self.sent_since_rekey = 0;
        }
        out.push(self.encrypt(frame)?);
        self.sent_since_rekey += 1;
        Ok(out)
    }

    /// Decrypts one Noise message. `Ok(None)` for a rekey, which is applied.
    /// A message that fails to authenticate leaves the state untouched and
    /// is an error: the caller closes the session.
    pub fn open_frame(&mut self, message: &[u8]) -> Result<Option<Frame>, NoiseError> {
        if message.len() > MAX_NOISE_MESSAGE {
            return Err(NoiseError::TooLarge {
                what: "transport message",
                len: message.len(),
                max: MAX_NOISE_MESSAGE,
            });
        }
        if self.transport.receiving_nonce() >= self.limits.max_nonce {
            return Err(NoiseError::Exhausted);
        }
        let mut plain = vec![0u8; message.len()];
        let n = self.transport.read_message(message, &mut plain)?;
        let frame: Frame = codec::decode("session frame", &plain[..n], MAX_NOISE_MESSAGE)?;
        if frame == Frame::Rekey {
            self.transport.rekey_incoming();
            return Ok(None);
        }
        Ok(Some(frame))
    }
}

/// Splits an item into chunk frames of one transfer.
pub fn chunk(transfer: u32, item: &[u8]) -> Result<Vec<Frame>, NoiseError> {
    if item.len() > MAX_ITEM_BYTES {
        return Err(NoiseError::TooLarge {
            what: "item",
            len: item.len(),
            max: MAX_ITEM_BYTES,
        });
    }
    let pieces: Vec<&[u8]> = if item.is_empty() {
        vec![&[]]
    } else {
        item.chunks(CHUNK_BYTES).collect()
    };
    let count = pieces.len() as u16;
    Ok(pieces
        .into_iter()
        .enumerate()
        .map(|(i, d)| Frame::Chunk {
            transfer,
            index: i as u16,
            count,
            data: ByteBuf::from(d.to_vec()),
        })
        .collect())
}

/// Puts chunks back together, one transfer at a time, refusing anything
/// that would exceed [`MAX_ITEM_BYTES`] before buffering it.
#[derive(Default)]
pub struct Reassembler {
    current: Option<(u32, u16, Vec<u8>)>,
}

impl Reassembler {
    pub fn push(
        &mut self,
        transfer: u32,
        index: u16,
        count: u16,
        data: &[u8],
    ) -> Result<Option<Vec<u8>>, NoiseError> {
        let max_chunks = MAX_ITEM_BYTES.div_ceil(CHUNK_BYTES) as u16;
        if count == 0 || count > max_chunks || index >= count || data.len() > CHUNK_BYTES {
            return Err(NoiseError::TooLarge {
                what: "announced item",
                len: count as usize * CHUNK_BYTES,
                max: MAX_ITEM_BYTES,
            });
        }
        let (t, next, mut buf) = match self.current.take() {
            None if index == 0 => (transfer, 0, Vec::new()),
            Some((t, next, buf)) if t == transfer && next == index => (t, next, buf),
            _ => return Err(NoiseError::Protocol("chunk out of order")),
        };
        if buf.len() + data.len() > MAX_ITEM_BYTES {
            return Err(NoiseError::TooLarge {
                what: "item",
                len: buf.len() + data.len(),
                max: MAX_ITEM_BYTES,
            });
        }
        buf.extend_from_slice(data);
        if next + 1 == count {
            Ok(Some(buf))
        } else {
            self.current = Some((t, next + 1, buf));
            Ok(None)
        }
    }
}

#[derive(Serialize, Deserialize)]
struct WireSealed {
    v: u8,
    m: Vec<ByteBuf>,
}

/// Seals `plaintext` for a recipient's static key with Noise X: only the
/// recipient can open it, and it proves the sender's identity. It has no
/// replay protection and weaker forward secrecy than a session (see
/// spec/threat-model.md): receivers keep a replay cache.
pub fn seal(
    sender: &StaticKeypair,
    binding: &Binding,
    recipient_static: &[u8; 32],
    plaintext: &[u8],
) -> Result<Vec<u8>, NoiseError> {
    seal_inner(sender, binding, recipient_static, plaintext, None)
}

pub(crate) fn seal_inner(
    sender: &StaticKeypair,
    binding: &Binding,
    recipient_static: &[u8; 32],
    plaintext: &[u8],
    ephemeral: Option<&[u8]>,
) -> Result<Vec<u8>, NoiseError> {
    if plaintext.len() > MAX_ITEM_BYTES {
        return Err(NoiseError::TooLarge {
            what: "sealed message",
            len: plaintext.len(),
            max: MAX_ITEM_BYTES,
        });
    }
    let mut b = Builder::new(params(SEALED_PATTERN)?)
        .local_private_key(sender.secret.as_ref())?
        .remote_public_key(recipient_static)?
        .prologue(SEALED_PROLOGUE)?;
    if let Some(e) = ephemeral {
        b = b.fixed_ephemeral_key_for_testing_only(e);
    }
    let mut hs = b.build_initiator()?;
    let mut messages = Vec::new();
    let mut buf = vec![0u8; MAX_NOISE_MESSAGE];
    let n = hs.write_message(&binding.encode(), &mut buf)?;
    messages.push(ByteBuf::from(buf[..n].to_vec()));
    let mut t = hs.into_transport_mode()?;
    for piece in plaintext.chunks(CHUNK_BYTES) {
        let n = t.write_message(piece, &mut buf)?;
        messages.push(ByteBuf::from(buf[..n].to_vec()));
    }
    Ok(codec::encode(&WireSealed { v: 1, m: messages }))
}

/// Opens a sealed message addressed to us; returns the sender's identity
/// and the plaintext.
pub fn open_sealed(
    local: &StaticKeypair,
    sealed: &[u8],
) -> Result<(PublicKey, Vec<u8>), NoiseError> {
    let wire: WireSealed = codec::decode("sealed message", sealed, MAX_SEALED_BYTES + 4096)?;
    if wire.v != 1 {
        return Err(NoiseError::Protocol("unknown sealed-message version"));
    }
    let (first, rest) = wire
        .m
        .split_first()
        .ok_or(NoiseError::Protocol("empty sealed message"))?;
    let mut hs = Builder::new(params(SEALED_PATTERN)?)
        .local_private_key(local.secret.as_ref())?
        .prologue(SEALED_PROLOGUE)?
        .build_responder()?;
    let mut buf = vec![0u8; MAX_NOISE_MESSAGE];
    let n = hs.read_message(first, &mut buf)?;
    let remote = hs
        .get_remote_static()
        .ok_or(NoiseError::Protocol("no sender key"))?
        .to_vec();
    let identity = Binding::verify(&buf[..n], &remote)?;
    let mut t = hs.into_transport_mode()?;
    let mut plaintext = Vec::new();
    for m in rest {
        let n = t.read_message(m, &mut buf)?;
        if plaintext.len() + n > MAX_ITEM_BYTES {
            return Err(NoiseError::TooLarge {
                what: "sealed message",
                len: plaintext.len() + n,
                max: MAX_ITEM_BYTES,
            });
        }
        plaintext.extend_from_slice(&buf[..n]);
    }
    Ok((identity, plaintext))
}
