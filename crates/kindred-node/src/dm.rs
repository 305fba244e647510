//! Private messages: Noise sessions over `/kindred/dm/1`, sealed messages
//! in an outbox for peers that are away, and consent (spec/dm.md).
//!
//! Each node sends over its own outbound session to a peer and only
//! answers on inbound ones, so two nodes opening sessions at once need no
//! tie-break. One task owns each session; nothing else touches its Noise state.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use kindred_net::{PeerId, StreamProtocol};
use kindred_proto::dm::{Contact, DmMessage, Item, DM_ID_LEN};
use kindred_proto::noise::{
    self, Binding, Frame, Handshake, NoiseError, Reassembler, Session, SessionLimits, StaticKeypair,
};
use kindred_proto::PublicKey;
use kindred_store::{DmState, OutboxRecord, Received};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::peers::identity_of;
use crate::service::Node;
use crate::{now_ms, NodeError};

/// How long `kindred dm` waits to report "delivered" before saying "waiting".
const DELIVER_NOW: Duration = Duration::from_secs(3);
const ACK_TIMEOUT: Duration = Duration::from_secs(10);
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A session with nothing in flight closes after this; an inbound session
/// whose peer sends nothing for this long is closed (spec/dm.md §2).
const IDLE: Duration = Duration::from_secs(60);
/// An inbound session must bring its first frame this soon after the
/// handshake, or it is closed.
const FIRST_FRAME: Duration = Duration::from_secs(10);
const BACKOFF_FIRST_MS: u64 = 2_000;
const BACKOFF_MAX_MS: u64 = 5 * 60_000;

pub(crate) struct DmService {
    pub key: StaticKeypair,
    pub binding: Binding,
    sessions: Mutex<HashMap<PeerId, mpsc::Sender<Outgoing>>>,
    draining: Mutex<HashSet<PeerId>>,
    /// Fires with the peer whenever one of its conversation's messages changes.
    pub updates: broadcast::Sender<PeerId>,
    transfers: AtomicU32,
    inbound: crate::dm_limits::Inbound,
    requests: crate::dm_limits::RequestRate,
}

struct Outgoing {
    id: Vec<u8>,
    item: Vec<u8>,
    reply: oneshot::Sender<()>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl DmService {
    pub fn new(secret: &kindred_proto::NodeSecret) -> Self {
        let key = StaticKeypair::derive(secret);
        let binding = Binding::create(secret, &key.public);
        DmService {
            key,
            binding,
            sessions: Mutex::new(HashMap::new()),
            draining: Mutex::new(HashSet::new()),
            updates: broadcast::channel(1024).0,
            transfers: AtomicU32::new(0),
            inbound: Default::default(),
            requests: Default::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DmSent {
    pub id: String,
    pub peer: String,
    /// "delivered" when the recipient acknowledged within a few seconds,
    /// else "queued" (sealed in the outbox, retried until delivered).
    pub state: String,
}

async fn write_msg<W: futures::AsyncWrite + Unpin>(w: &mut W, m: &[u8]) -> std::io::Result<()> {
    let len = u16::try_from(m.len())
        .map_err(|_| std::io::Error::other("Noise message over 65535 bytes"))?;
    w.write_all(&len.to_be_bytes()).await?;
    w.write_all(m).await?;
    w.flush().await
}

/// Reads one length-prefixed Noise message. The u16 length cannot announce
/// more than Noise's 65535-byte limit, so nothing oversized is buffered.
async fn read_msg<R: futures::AsyncRead + Unpin>(r: &mut R) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 2];
    r.read_exact(&mut len).await?;
    let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
    r.read_exact(&mut buf).await?;
    Ok(buf)
}

fn protocol() -> StreamProtocol {
    StreamProtocol::new(noise::DM_PROTOCOL)
}

pub(crate) fn err(e: impl std::fmt::Display) -> NodeError {
    NodeError::BadInput(e.to_string())
}

/// Runs an XX handshake over a stream, either side.
async fn handshake<S: futures::AsyncRead + futures::AsyncWrite + Unpin>(
    stream: &mut S,
    mut hs: Handshake,
) -> Result<(Session, Option<[u8; 32]>), NoiseError> {
    let io = |e: std::io::Error| NoiseError::Snow(format!("stream: {e}"));
    let run = async {
        while !hs.is_finished() {
            if hs.is_my_turn() {
                let m = hs.write()?;
                write_msg(stream, &m).await.map_err(io)?;
            } else {
                let m = read_msg(stream).await.map_err(io)?;
                hs.read(&m)?;
            }
        }
        let rs = hs.remote_static();
        Ok((hs.into_session(SessionLimits::default())?, rs))
    };
    tokio::time::timeout(HANDSHAKE_TIMEOUT, run)
        .await
        .map_err(|_| NoiseError::Snow("handshake timed out".into()))?
}

impl Node {
    pub(crate) fn dm(&self) -> &DmService {
        &self.inner.dm
    }

    /// Accepts inbound sessions until the node stops.
    pub(crate) fn start_dm(
        &self,
        mut shutdown: broadcast::Receiver<()>,
    ) -> Result<tokio::task::JoinHandle<()>, NodeError> {
        let mut incoming = self
            .inner
            .net
            .streams()
            .accept(protocol())
            .map_err(|_| err("the private-message protocol is already registered"))?;
        let node = self.clone();
        Ok(tokio::spawn(async move {
            loop {
                let (peer, stream) = tokio::select! {
                    next = incoming.next() => match next {
                        Some(s) => s,
                        None => break,
                    },
                    _ = shutdown.recv() => break,
                };
                // Full: refused at once (never a wait that one peer's idle
                // streams could stretch forever); an accepted contact takes
                // the slot of the stalest stranger.
                let accepted = node
                    .store()
                    .contact(&peer.to_bytes())
                    .is_ok_and(|c| c.consent == kindred_store::Consent::Accepted);
                let Some(slot) = node.dm().inbound.admit(peer, accepted) else {
                    tracing::debug!(%peer, "refused a private-message session: too many open");
                    continue;
                };
                let n = node.clone();
                tokio::spawn(async move {
                    let evicted = slot.evicted();
                    tokio::select! {
                        r = n.inbound_session(peer, stream, &slot) => if let Err(e) = r {
                            tracing::debug!(%peer, "inbound private-message session ended: {e}");
                        },
                        _ = evicted => {
                            tracing::debug!(%peer, "closed a stranger's idle session for an accepted contact");
                        }
                    }
                });
            }
        }))
    }

    async fn inbound_session(
        &self,
        peer: PeerId,
        mut stream: libp2p::Stream,
        slot: &crate::dm_limits::Slot,
    ) -> Result<(), NodeError> {
        let expected = identity_of(&peer).ok_or_else(|| err("peer has no ed25519 identity"))?;
        let hs = Handshake::responder(&self.dm().key, &self.dm().binding, expected).map_err(err)?;
        let (mut session, remote_static) = handshake(&mut stream, hs).await.map_err(err)?;
        if let Some(k) = remote_static {
            self.store().learn_static_key(&peer.to_bytes(), &k)?;
        }
        let mut parts = Reassembler::default();
        let mut deadline = FIRST_FRAME;
        loop {
            let m = match tokio::time::timeout(deadline, read_msg(&mut stream)).await {
                Ok(Ok(m)) => m,
                _ => return Ok(()),
            };
            deadline = IDLE;
            slot.touch();
            let Some(frame) = session.open_frame(&m).map_err(err)? else {
                continue;
            };
            let Frame::Chunk {
                transfer,
                index,
                count,
                data,
            } = frame
            else {
                continue;
            };
            let Some(bytes) = parts.push(transfer, index, count, &data).map_err(err)? else {
                continue;
            };
            let item = Item::decode(&bytes).map_err(err)?;
            if let Some(id) = self.take_item(&peer, &expected, item).await? {
                for out in session
                    .seal_frame(&Frame::Ack {
                        id: ByteBuf::from(id),
                    })
                    .map_err(err)?
                {
                    write_msg(&mut stream, &out).await.map_err(err)?;
                }
            }
        }
    }

    /// Stores one received item; returns the id to acknowledge, if any.
    async fn take_item(
        &self,
        peer: &PeerId,
        expected: &PublicKey,
        item: Item,
    ) -> Result<Option<Vec<u8>>, NodeError> {
        let msg = match item {
            Item::Direct(m) => m,
            Item::Sealed(blob) => {
                let (from, plain) = noise::open_sealed(&self.dm().key, &blob).map_err(err)?;
                if from != *expected {
                    return Err(err(
                        "a sealed message from someone other than the session's peer",
                    ));
                }
                DmMessage::decode(&plain).map_err(err)?
            }
        };
        let pb = peer.to_bytes();
        let consent = self.store().contact(&pb)?.consent;
        // Someone not accepted may only make us write so often (each held
        // message is a write and an fsync); beyond it the message waits at
        // the sender, unacknowledged.
        let request = matches!(
            consent,
            kindred_store::Consent::Unknown | kindred_store::Consent::Requested
        );
        if request && !self.dm().requests.allow(*peer) {
            return Ok(None);
        }
        let outcome = self.store().dm_incoming(&pb, &msg, now_ms())?;
        match outcome {
            Received::Refused => return Ok(None),
            // Nothing was written: acknowledged, so they cannot tell.
            Received::Dropped => return Ok(Some(msg.id.into_vec())),
            _ => {}
        }
        self.store().flush().await?;
        if matches!(outcome, Received::Shown | Received::Held) {
            let _ = self.dm().updates.send(*peer);
        }
        Ok(Some(msg.id.into_vec()))
    }

    /// The sender half of a session, owning its Noise state.
    async fn outbound_session(
        self,
        peer: PeerId,
        mut rx: mpsc::Receiver<Outgoing>,
    ) -> Result<(), NodeError> {
        let expected = identity_of(&peer).ok_or_else(|| err("peer has no ed25519 identity"))?;
        let mut control = self.inner.net.streams();
        let mut stream = tokio::time::timeout(OPEN_TIMEOUT, control.open_stream(peer, protocol()))
            .await
            .map_err(|_| err("could not reach the peer in time"))?
            .map_err(err)?;
        let hs = Handshake::initiator(&self.dm().key, &self.dm().binding, expected).map_err(err)?;
        let (mut session, remote_static) = handshake(&mut stream, hs).await.map_err(err)?;
        if let Some(k) = remote_static {
            self.store().learn_static_key(&peer.to_bytes(), &k)?;
        }
        let (mut reader, mut writer) = stream.split();
        // Reading happens in its own task so a half-read message is never
        // lost to a cancelled select branch.
        let (in_tx, mut in_rx) = mpsc::channel::<Vec<u8>>(64);
        let reader_task = tokio::spawn(async move {
            while let Ok(m) = read_msg(&mut reader).await {
                if in_tx.send(m).await.is_err() {
                    break;
                }
            }
        });
        let mut waiting: HashMap<Vec<u8>, oneshot::Sender<()>> = HashMap::new();
        let result = loop {
            // Senders that gave up waiting leave nothing behind, so an
            // unanswered session still goes idle and closes.
            waiting.retain(|_, reply| !reply.is_closed());
            tokio::select! {
                cmd = rx.recv() => {
                    let Some(out) = cmd else { break Ok(()) };
                    let transfer = self.dm().transfers.fetch_add(1, Ordering::Relaxed);
                    let frames = noise::chunk(transfer, &out.item).map_err(err)?;
                    let mut sent = Ok(());
                    for f in &frames {
                        for m in session.seal_frame(f).map_err(err)? {
                            if let Err(e) = write_msg(&mut writer, &m).await {
                                sent = Err(err(e));
                            }
                        }
                    }
                    sent?;
                    self.store().dm_set_state(&peer.to_bytes(), &out.id, DmState::Sent)?;
                    waiting.insert(out.id, out.reply);
                }
                m = in_rx.recv() => {
                    let Some(m) = m else { break Ok(()) };
                    if let Some(Frame::Ack { id }) = session.open_frame(&m).map_err(err)? {
                        if let Some(reply) = waiting.remove(id.as_slice()) {
                            let _ = reply.send(());
                        }
                    }
                }
                _ = tokio::time::sleep(IDLE), if waiting.is_empty() => break Ok(()),
            }
        };
        reader_task.abort();
        result
    }

    /// Hands an item to the peer's outbound session (starting one if
    /// needed) and waits for its acknowledgement.
    async fn send_item(&self, peer: PeerId, id: &[u8], item: Vec<u8>) -> Result<(), NodeError> {
        let (reply, ack) = oneshot::channel();
        let out = Outgoing {
            id: id.to_vec(),
            item,
            reply,
        };
        let tx = {
            let mut sessions = lock(&self.dm().sessions);
            match sessions.get(&peer) {
                Some(tx) if !tx.is_closed() => tx.clone(),
                _ => {
                    let (tx, rx) = mpsc::channel(256);
                    sessions.insert(peer, tx.clone());
                    let node = self.clone();
                    tokio::spawn(async move {
                        if let Err(e) = node.outbound_session(peer, rx).await {
                            tracing::debug!(%peer, "outbound private-message session ended: {e}");
                        }
                    });
                    tx
                }
            }
        };
        tx.send(out).await.map_err(|_| err("session closed"))?;
        tokio::time::timeout(ACK_TIMEOUT, ack)
            .await
            .map_err(|_| err("no acknowledgement in time"))?
            .map_err(|_| err("session closed before the acknowledgement"))
    }

    /// Sends a private message. Returns once it is stored and queued, saying
    /// whether it was delivered at once.
    pub async fn send_dm(&self, peer: &str, text: &str) -> Result<DmSent, NodeError> {
        if text.trim().is_empty() {
            return Err(err("message text is empty"));
        }
        let target = self.resolve_peer(peer)?;
        if target.peer == self.inner.peer_id {
            return Err(err("that is this node"));
        }
        let pb = target.peer.to_bytes();
        // Until they have written to us, this is a request on their side,
        // which takes only a short text (spec/dm.md §5).
        if !self.store().has_heard_from(&pb)? {
            crate::error::check_length(
                "a first message to someone who has not written to you",
                text,
                kindred_store::MAX_REQUEST_TEXT_BYTES,
                "send a shorter one, and the rest once they reply",
            )?;
        }
        crate::error::check_length(
            "this message",
            text,
            kindred_proto::dm::MAX_DM_TEXT_BYTES,
            "split it into two or more messages",
        )?;
        let now = now_ms();
        let msg = DmMessage::new(
            kindred_proto::random_bytes::<DM_ID_LEN>()?,
            now,
            text.to_string(),
        )
        .map_err(err)?;
        self.store().dm_outgoing(&pb, &msg, now, DmState::Queued)?;
        self.store().flush().await?;
        let _ = self.dm().updates.send(target.peer);
        let reachable = tokio::time::timeout(
            DELIVER_NOW,
            self.inner.net.connect(target.peer, target.addrs.clone()),
        )
        .await
        .unwrap_or(Ok(false))?;
        let backlog = self
            .store()
            .outbox()?
            .iter()
            .any(|(_, r)| r.peer.as_slice() == pb.as_slice());
        if reachable && !backlog {
            let item = Item::Direct(msg.clone()).encode();
            if let Ok(Ok(())) =
                tokio::time::timeout(DELIVER_NOW, self.send_item(target.peer, &msg.id, item)).await
            {
                self.delivered(&target.peer, &msg.id).await?;
                return Ok(DmSent {
                    id: hex::encode(&msg.id),
                    peer: target.peer.to_string(),
                    state: "delivered".into(),
                });
            }
        }
        // Not reachable now: seal it for the peer and keep it until acknowledged.
        let sealed = noise::seal(
            &self.dm().key,
            &self.dm().binding,
            &target.static_key,
            &msg.encode(),
        )
        .map_err(err)?;
        self.store().outbox_put(&OutboxRecord {
            id: msg.id.clone(),
            peer: ByteBuf::from(pb.clone()),
            sealed: ByteBuf::from(sealed),
            attempts: 0,
            next_attempt: now,
        })?;
        self.store().flush().await?;
        let mut updates = self.dm().updates.subscribe();
        if backlog {
            self.spawn_drain(target.peer, true);
        }
        // Behind a backlog, a connected peer may still take it within moments;
        // an unreachable one will not, so say "queued" at once.
        if backlog && reachable {
            let deadline = tokio::time::Instant::now() + DELIVER_NOW;
            while tokio::time::timeout_at(deadline, updates.recv())
                .await
                .is_ok()
            {
                if self.message_state(&pb, &msg.id)? == Some(DmState::Delivered) {
                    return Ok(DmSent {
                        id: hex::encode(&msg.id),
                        peer: target.peer.to_string(),
                        state: "delivered".into(),
                    });
                }
            }
        }
        Ok(DmSent {
            id: hex::encode(&msg.id),
            peer: target.peer.to_string(),
            state: "queued".into(),
        })
    }

    fn message_state(&self, peer: &[u8], id: &[u8]) -> Result<Option<DmState>, NodeError> {
        Ok(self
            .store()
            .dm_conversation(peer, 0, usize::MAX, false)?
            .into_iter()
            .find(|(_, r)| r.id.as_slice() == id)
            .map(|(_, r)| r.state))
    }

    async fn delivered(&self, peer: &PeerId, id: &[u8]) -> Result<(), NodeError> {
        self.store()
            .dm_set_state(&peer.to_bytes(), id, DmState::Delivered)?;
        self.store().flush().await?;
        let _ = self.dm().updates.send(*peer);
        Ok(())
    }

    /// Delivers a peer's outbox in order until it is empty or an attempt
    /// fails (which schedules the next one with backoff). `now_anyway`
    /// ignores the schedule (the peer just connected).
    pub(crate) fn spawn_drain(&self, peer: PeerId, now_anyway: bool) {
        if !lock(&self.dm().draining).insert(peer) {
            return;
        }
        let node = self.clone();
        tokio::spawn(async move {
            if let Err(e) = node.drain(peer, now_anyway).await {
                tracing::debug!(%peer, "outbox delivery paused: {e}");
            }
            lock(&node.dm().draining).remove(&peer);
        });
    }

    async fn drain(&self, peer: PeerId, now_anyway: bool) -> Result<(), NodeError> {
        let pb = peer.to_bytes();
        let entries: Vec<(u64, OutboxRecord)> = self
            .store()
            .outbox()?
            .into_iter()
            .filter(|(_, r)| r.peer.as_slice() == pb.as_slice())
            .collect();
        if let Some((_, first)) = entries.first() {
            if !now_anyway && first.next_attempt > now_ms() {
                return Ok(());
            }
        }
        let addrs = self
            .store()
            .contact(&pb)?
            .code
            .and_then(|c| Contact::parse(&c).ok())
            .map(|c| c.addrs.iter().filter_map(|a| a.parse().ok()).collect())
            .unwrap_or_default();
        let reachable = tokio::time::timeout(OPEN_TIMEOUT, self.inner.net.connect(peer, addrs))
            .await
            .unwrap_or(Ok(false))?;
        for (seq, mut rec) in entries {
            let item = Item::Sealed(rec.sealed.clone()).encode();
            let sent = match reachable {
                true => self.send_item(peer, &rec.id, item).await,
                false => Err(err("not reachable")),
            };
            match sent {
                Ok(()) => {
                    self.store().outbox_remove(seq)?;
                    self.delivered(&peer, &rec.id).await?;
                }
                Err(e) => {
                    rec.attempts = rec.attempts.saturating_add(1);
                    let wait = BACKOFF_FIRST_MS
                        .saturating_mul(1 << rec.attempts.min(16))
                        .min(BACKOFF_MAX_MS);
                    rec.next_attempt = now_ms() + wait;
                    self.store().outbox_update(seq, &rec)?;
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Retries due outbox deliveries; called on a timer.
    pub(crate) fn retry_due(&self) {
        let now = now_ms();
        let Ok(outbox) = self.store().outbox() else {
            return;
        };
        let due: HashSet<PeerId> = outbox
            .iter()
            .filter(|(_, r)| r.next_attempt <= now)
            .filter_map(|(_, r)| PeerId::from_bytes(&r.peer).ok())
            .collect();
        for p in due {
            self.spawn_drain(p, false);
        }
    }

    /// A peer connected: deliver whatever waits for it.
    pub(crate) fn on_peer_connected_dm(&self, peer: PeerId) {
        let pb = peer.to_bytes();
        if let Ok(outbox) = self.store().outbox() {
            if outbox
                .iter()
                .any(|(_, r)| r.peer.as_slice() == pb.as_slice())
            {
                self.spawn_drain(peer, true);
            }
        }
    }

    /// This node's shareable contact code.
    pub async fn contact_code(&self) -> Result<String, NodeError> {
        self.contact_for(None).await
    }

    /// A contact code; with a pseudonym, the card published in that circle.
    pub(crate) async fn contact_for(
        &self,
        pseudonym: Option<PublicKey>,
    ) -> Result<String, NodeError> {
        let addrs = crate::invites::advertised(self.inner.net.listen_addrs().await?)
            .iter()
            .map(|a| a.to_string())
            .collect();
        Contact::new(&self.inner.secret, self.dm().key.public, addrs, pseudonym)
            .encode(&self.inner.secret)
            .map_err(err)
    }
}
