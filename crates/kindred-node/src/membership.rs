//! Which connected peers are members of which circle (spec/protocol.md §6.1).
//!
//! Subscribing to a circle's gossip topic proves nothing: the topic string
//! is visible to every connected peer. A peer counts as a member (shown in
//! `peers` and `status`, remembered in the address book, redialled, synced
//! with, counted towards "enough members connected", sent gossip) only
//! after it answers a challenge that needs the circle's key. A subscriber
//! that fails is nothing, and gossip never flows to it.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use futures::{AsyncReadExt, AsyncWriteExt};
use kindred_net::{Command, PeerId, StreamProtocol};
use kindred_proto::codec::Fixed;
use kindred_proto::membership::{self, Answer, Challenge};
use kindred_proto::TopicId;

use crate::service::Node;

/// Challenges one peer may make us answer per minute (each costs an HMAC
/// per circle we are in).
const ANSWERS_PER_MINUTE: u32 = 64;
/// How long one challenge (either side) may take.
const CHALLENGE_TIMEOUT: Duration = Duration::from_secs(10);
/// After proving membership to a peer, when to sync with it: what it
/// published while we were unproven to it did not reach us by gossip.
const AFTER_PROOF_SYNC: Duration = Duration::from_millis(300);
/// Inbound challenges served at once; more are refused.
const MAX_INBOUND: usize = 32;

fn protocol() -> StreamProtocol {
    StreamProtocol::new(membership::PROTOCOL)
}

/// One length-prefixed value of at most [`membership::MAX_BYTES`].
async fn write_value(s: &mut libp2p::Stream, v: &[u8]) -> std::io::Result<()> {
    s.write_all(&(v.len() as u16).to_be_bytes()).await?;
    s.write_all(v).await?;
    s.flush().await
}

async fn read_value(s: &mut libp2p::Stream) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 2];
    s.read_exact(&mut len).await?;
    let len = u16::from_be_bytes(len) as usize;
    if len > membership::MAX_BYTES {
        return Err(std::io::Error::other("membership message over 256 bytes"));
    }
    let mut buf = vec![0u8; len];
    s.read_exact(&mut buf).await?;
    Ok(buf)
}

pub(crate) struct Members {
    state: Mutex<State>,
    answers: crate::limits::PeerRate,
}

impl Default for Members {
    fn default() -> Self {
        Members {
            state: Mutex::default(),
            answers: crate::limits::PeerRate::new(ANSWERS_PER_MINUTE, Duration::from_secs(60)),
        }
    }
}

#[derive(Default)]
struct State {
    /// Per circle, the connected peers that proved membership.
    proven: HashMap<TopicId, HashSet<PeerId>>,
    /// Challenges we sent and wait on.
    asking: HashSet<(PeerId, TopicId)>,
    /// Peers that failed a challenge while connected: not asked again
    /// until they reconnect (one proof attempt each).
    failed: HashSet<(PeerId, TopicId)>,
    /// Per circle, when (ms) a proven member last disconnected: the page's
    /// "you may have missed messages since …".
    last_left: HashMap<TopicId, u64>,
}

impl Members {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Connected members of a circle.
    pub fn of(&self, topic: &TopicId) -> Vec<PeerId> {
        self.lock()
            .proven
            .get(topic)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    }

    pub fn is_member(&self, peer: &PeerId, topic: &TopicId) -> bool {
        self.lock()
            .proven
            .get(topic)
            .is_some_and(|s| s.contains(peer))
    }

    /// When a member of the circle last disconnected, in this run.
    pub fn last_left(&self, topic: &TopicId) -> Option<u64> {
        self.lock().last_left.get(topic).copied()
    }

    /// Whether the peer proved membership of any circle.
    pub fn is_any_member(&self, peer: &PeerId) -> bool {
        self.lock().proven.values().any(|s| s.contains(peer))
    }

    /// Forgets a peer that disconnected; returns whether it was a member
    /// of any circle (so worth redialling).
    pub fn forget(&self, peer: &PeerId) -> bool {
        let mut s = self.lock();
        let mut was = false;
        let now = crate::now_ms();
        let mut left = Vec::new();
        for (topic, set) in s.proven.iter_mut() {
            if set.remove(peer) {
                was = true;
                left.push(*topic);
            }
        }
        for topic in left {
            s.last_left.insert(topic, now);
        }
        s.asking.retain(|(p, _)| p != peer);
        s.failed.retain(|(p, _)| p != peer);
        was
    }
}

impl Node {
    /// Challenges `peer` to prove membership of `topic`, once per
    /// connection; on success it becomes a member (and history syncs).
    pub(crate) fn check_member(&self, peer: PeerId, topic: TopicId) {
        {
            let mut s = self.inner.members.lock();
            let key = (peer, topic);
            let proven = s.proven.get(&topic).is_some_and(|m| m.contains(&peer));
            if proven || s.failed.contains(&key) || !s.asking.insert(key) {
                return;
            }
        }
        let node = self.clone();
        tokio::spawn(async move {
            let ok = node.challenge(peer, topic).await;
            let newly_proven_peer = {
                let mut s = node.inner.members.lock();
                s.asking.remove(&(peer, topic));
                if ok {
                    let first = !s.proven.values().any(|m| m.contains(&peer));
                    s.proven.entry(topic).or_default().insert(peer);
                    first
                } else {
                    s.failed.insert((peer, topic));
                    false
                }
            };
            if !ok {
                tracing::debug!(%peer, "a peer on a circle's topic did not prove membership");
                // Holding the topic string without the key is what an
                // outsider does: nothing flows to it, in any circle.
                if node.inner.members.is_any_member(&peer) {
                    node.inner.members.forget(&peer);
                    let _ = node
                        .inner
                        .net
                        .send(Command::SetProven {
                            peer,
                            proven: false,
                        })
                        .await;
                }
                return;
            }
            if newly_proven_peer {
                let _ = node
                    .inner
                    .net
                    .send(Command::SetProven { peer, proven: true })
                    .await;
            }
            node.on_member(peer, topic);
        });
    }

    /// One challenge–response; true when the answer proves membership.
    async fn challenge(&self, peer: PeerId, topic: TopicId) -> bool {
        let Some(t) = self.inner.topics.get(&topic) else {
            return false;
        };
        let Ok(nonce) = kindred_proto::random_bytes::<32>() else {
            return false;
        };
        let (me, them) = (self.inner.peer_id.to_bytes(), peer.to_bytes());
        let challenge = Challenge {
            tag: Fixed(t.keys.member_tag(&me, &them)),
            nonce: Fixed(nonce),
        };
        let mut control = self.inner.net.streams();
        let exchange = async {
            let mut s = control
                .open_stream(peer, protocol())
                .await
                .map_err(std::io::Error::other)?;
            write_value(&mut s, &challenge.encode()).await?;
            let answer = read_value(&mut s).await;
            let _ = s.close().await;
            answer
        };
        match tokio::time::timeout(CHALLENGE_TIMEOUT, exchange).await {
            Ok(Ok(bytes)) => Answer::decode(&bytes)
                .is_ok_and(|a| membership::verify(&t.keys, &me, &them, &nonce, &a)),
            Ok(Err(e)) => {
                tracing::debug!(%peer, "membership challenge failed: {e}");
                false
            }
            Err(_) => {
                tracing::debug!(%peer, "membership challenge timed out");
                false
            }
        }
    }

    /// Answers challenges (`/kindred/member/1`, a stream each) until the
    /// node stops.
    pub(crate) fn start_membership(
        &self,
        shutdown: tokio::sync::broadcast::Receiver<()>,
    ) -> Result<tokio::task::JoinHandle<()>, crate::NodeError> {
        let limits = crate::streams::Inbound {
            max: MAX_INBOUND,
            // Counted per answer instead (answer_challenge).
            per_minute: None,
            timeout: CHALLENGE_TIMEOUT,
        };
        self.serve_streams(
            protocol(),
            limits,
            shutdown,
            |n, peer, mut stream| async move {
                let request = read_value(&mut stream).await?;
                let answer = n.answer_challenge(peer, &request);
                write_value(&mut stream, &answer).await?;
                stream.close().await
            },
        )
    }

    /// Answers a challenge from `peer`. Every circle's tag is computed and
    /// compared, so the time taken does not tell which one matched.
    pub(crate) fn answer_challenge(&self, peer: PeerId, request: &[u8]) -> Vec<u8> {
        let Ok(c) = Challenge::decode(request) else {
            return Answer::Unknown.encode();
        };
        if !self.inner.members.answers.allow(peer) {
            return Answer::Unknown.encode();
        }
        let (me, them) = (self.inner.peer_id.to_bytes(), peer.to_bytes());
        let mut found = None;
        for t in self.inner.topics.all() {
            if kindred_proto::constant_time_eq(&t.keys.member_tag(&them, &me), &c.tag.0) {
                found = Some(t);
            }
        }
        match found {
            Some(t) => {
                // Until this proof lands, the peer did not send us what it
                // published: ask it for that shortly (its gossip reaches us
                // from then on).
                // (A weak handle: a node shutting down is not kept alive.)
                let (node, topic) = (std::sync::Arc::downgrade(&self.inner), t.id());
                tokio::spawn(async move {
                    tokio::time::sleep(AFTER_PROOF_SYNC).await;
                    if let Some(inner) = node.upgrade() {
                        Node { inner }.spawn_sync(peer, topic);
                    }
                });
                Answer::Proof(Fixed(t.keys.member_proof(&them, &me, &c.nonce.0))).encode()
            }
            None => Answer::Unknown.encode(),
        }
    }

    /// A peer just proved membership: remember where it listens, and sync.
    fn on_member(&self, peer: PeerId, topic: TopicId) {
        let addrs = self.identified_addrs(&peer);
        if let Some(addrs) = addrs {
            if let Err(e) = self.remember(&peer, &addrs) {
                tracing::warn!("could not remember a member's addresses: {e}");
            }
        }
        self.spawn_sync(peer, topic);
    }
}
