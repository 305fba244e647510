//! Starting circles, issuing invites, and joining (spec/invite.md §4):
//! the joiner sends its signed request to a member over `/kindred/join/1`
//! (inside the libp2p connection's Noise session); the member checks it
//! against the circle's authority, admits (or forwards it for approval)
//! and answers with the circle's ops.

use std::sync::Arc;
use std::time::Duration;

use futures::{AsyncReadExt, AsyncWriteExt};
use kindred_net::{PeerId, StreamProtocol};
use kindred_proto::authority::join::{
    JoinReply, JOIN_PROTOCOL, MAX_JOIN_REPLY_BYTES, MAX_JOIN_REQUEST_BYTES,
};
use kindred_proto::authority::{
    Circle, Draft, EpochSecret, Genesis, JoinBody, JoinRequest, Op, Policy, DRAFT_ENTROPY,
};
use kindred_proto::{Invite, Kind, Pseudonym, TopicKeys, TopicSecret};
use kindred_store::TopicRecord;
use serde_bytes::ByteBuf;

use crate::service::Node;
use crate::topics::{TopicState, TopicSummary};
use crate::{invites, now_ms, NodeError};

/// How long one join exchange may take.
const JOIN_TIMEOUT: Duration = Duration::from_secs(20);
/// Join requests one peer may make us judge per minute (each may cost a
/// signature check, an op and a publish).
const JOINS_PER_MINUTE: u32 = 30;
/// Join sessions served at once.
const MAX_INBOUND: usize = 8;

fn protocol() -> StreamProtocol {
    StreamProtocol::new(JOIN_PROTOCOL)
}

pub(crate) async fn write_value(s: &mut libp2p::Stream, v: &[u8]) -> std::io::Result<()> {
    s.write_all(&(v.len() as u32).to_be_bytes()).await?;
    s.write_all(v).await?;
    s.flush().await
}

pub(crate) async fn read_value(s: &mut libp2p::Stream, max: usize) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Err(std::io::Error::other(format!(
            "join message of {len} bytes, over {max}"
        )));
    }
    let mut buf = vec![0u8; len];
    s.read_exact(&mut buf).await?;
    Ok(buf)
}

/// What one join attempt came to.
enum Asked {
    In,
    Waiting,
    NoAnswer,
}

/// What to put in an invite besides its key.
#[derive(Default)]
pub struct InviteOptions {
    pub expires_in: Option<Duration>,
    pub uses: Option<u32>,
    pub approval: bool,
}

impl Node {
    /// Opens a new circle with the default policy (history protected from
    /// newcomers, any member may invite).
    pub async fn create_topic(
        &self,
        name: &str,
        rules: &str,
        my_name: Option<String>,
        expires_in: Option<Duration>,
    ) -> Result<(TopicSummary, String), NodeError> {
        self.create_circle(name, rules, my_name, (expires_in, None), Policy::default())
            .await
    }

    /// Opens a new circle: its genesis (signed by this node, the owner)
    /// and epoch 0. Returns it and a first invite, which expires and may be
    /// used as `first_invite` says (no limit where `None`).
    pub async fn create_circle(
        &self,
        name: &str,
        rules: &str,
        my_name: Option<String>,
        first_invite: (Option<Duration>, Option<u32>),
        policy: Policy,
    ) -> Result<(TopicSummary, String), NodeError> {
        let name = name.trim();
        kindred_proto::text::check_name(name, kindred_proto::MAX_NAME_BYTES)
            .map_err(|e| NodeError::BadInput(format!("this circle name cannot be used: {e}")))?;
        if rules.len() > kindred_proto::invite::MAX_RULES_BYTES {
            return Err(NodeError::BadInput(format!(
                "rules are over the limit of {} bytes",
                kindred_proto::invite::MAX_RULES_BYTES
            )));
        }
        let my_name = self.display_name(my_name)?;
        let locator = TopicSecret::generate()?;
        let keys = TopicKeys::derive(&locator);
        let me = self.inner.secret.pseudonym(&keys.id);
        let kx = kindred_proto::authority::KxSecret::derive(&self.inner.secret, &keys.id);
        let entropy: [u8; DRAFT_ENTROPY] = kindred_proto::random_bytes()?;
        let genesis = Genesis {
            name: name.to_string(),
            rules: rules.to_string(),
            policy,
            topic: keys.id,
            kx: kx.public(),
            owner_name: my_name.clone(),
        };
        let (circle, secret) = Circle::create(&me, genesis, now_ms(), &entropy)
            .map_err(|e| NodeError::BadInput(e.to_string()))?;
        let genesis = circle.genesis().clone();
        let record = TopicRecord {
            name: name.to_string(),
            secret: ByteBuf::from(locator.as_bytes().to_vec()),
            rules: rules.to_string(),
            creator: ByteBuf::from(me.public_key().0.to_vec()),
            my_name,
            joined_at: now_ms(),
            genesis: ByteBuf::from(genesis.encoded().to_vec()),
            joining: None,
        };
        let store = &self.inner.store;
        store.put_op(&keys.id, &genesis.id, genesis.encoded())?;
        store.put_epoch(&keys.id, &genesis.id, secret.as_bytes())?;
        let state = TopicState::new(
            &self.inner.secret,
            keys,
            &record,
            circle,
            vec![(genesis.id, secret)],
        );
        let state = self.add_topic(&record, state).await?;
        let sealing = state
            .auth
            .current()
            .ok_or_else(|| self.not_in_circle(&state))?;
        self.publish_data(&state, &sealing, Kind::Authority, genesis.encoded())
            .await?;
        let invite = self
            .invite_for(
                &state,
                InviteOptions {
                    expires_in: first_invite.0,
                    uses: first_invite.1,
                    approval: false,
                },
            )
            .await?;
        Ok((self.summary(&state).await?, invite))
    }

    /// Keeps a circle this node is in (or asking to join) and starts
    /// taking part: subscribes, and once a member, says who it is.
    async fn add_topic(
        &self,
        record: &TopicRecord,
        state: TopicState,
    ) -> Result<Arc<TopicState>, NodeError> {
        self.inner.store.put_topic(&state.id(), record)?;
        self.inner.store.flush().await?;
        let state = self.inner.topics.insert(state);
        if !state.joining() {
            self.start_speaking(&state).await?;
        }
        Ok(state)
    }

    /// Subscribes to the circle and publishes this node's name and contact
    /// card in it (the first thing a member does, at creation or admission).
    async fn start_speaking(&self, state: &Arc<TopicState>) -> Result<(), NodeError> {
        self.inner
            .net
            .subscribe(state.keys.gossip_topic.clone())
            .await?;
        self.publish(state, Kind::Profile, state.my_name()).await?;
        // Members can write to us privately by our handle in this circle.
        let card = self.contact_for(Some(state.me.public_key())).await?;
        self.publish(state, Kind::Other(kindred_proto::dm::CONTACT_KIND), card)
            .await?;
        // Peers connected before we joined announced the topic while we did
        // not know it; no new announcement will come, so challenge them now
        // (sync follows a proof).
        for p in self
            .inner
            .net
            .topic_peers(state.keys.gossip_topic.clone())
            .await?
        {
            self.check_member(p, state.id());
        }
        self.discover(true, true).await;
        Ok(())
    }

    /// A fresh invite to a circle this node is in: an `invite` op records
    /// its key, expiry, uses and whether a moderator must approve.
    pub async fn invite(&self, topic: &str, options: InviteOptions) -> Result<String, NodeError> {
        let state = self.inner.topics.resolve(topic)?;
        self.invite_for(&state, options).await
    }

    async fn invite_for(&self, t: &TopicState, o: InviteOptions) -> Result<String, NodeError> {
        if o.uses == Some(0) {
            return Err(NodeError::BadInput(
                "an invite must allow at least one use".into(),
            ));
        }
        let key = Pseudonym::from_seed(kindred_proto::random_bytes()?);
        let expires = o.expires_in.map(|d| now_ms() + d.as_millis() as u64);
        self.act(
            t,
            Draft::Invite {
                key: key.public_key(),
                expires,
                uses: o.uses,
                approval: o.approval,
            },
        )
        .await?;
        // Right after start the listeners may not have reported yet.
        let mut addrs = invites::advertised(self.inner.net.listen_addrs().await?);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while addrs.is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
            addrs = invites::advertised(self.inner.net.listen_addrs().await?);
        }
        // This node first, then members online now: any of them can admit.
        let mut peers = vec![invites::invite_peer(self.inner.peer_id, &addrs)];
        for p in self.inner.members.of(&t.id()) {
            if peers.len() >= kindred_proto::invite::MAX_PEERS {
                break;
            }
            if let Some(a) = self.identified_addrs(&p) {
                let a = invites::advertised(a);
                if !a.is_empty() {
                    peers.push(invites::invite_peer(p, &a));
                }
            }
        }
        let invite = Invite {
            genesis: t.auth.with(|c| c.genesis().clone()),
            locator: t.keys.secret().clone(),
            key,
            peers,
            expires,
        };
        Ok(invite.encode()?)
    }

    /// Joins a circle from an invite: asks the invite's peers to admit this
    /// node. Returns the circle, how many members answered within `wait`,
    /// and whether this node was in the circle already. Refusals (revoked,
    /// expired, used up) come back as errors in the member's words.
    pub async fn join(
        &self,
        invite_text: &str,
        my_name: Option<String>,
        wait: Duration,
    ) -> Result<(TopicSummary, usize, bool), NodeError> {
        let invite = Invite::parse(invite_text, now_ms())?;
        let keys = TopicKeys::derive(&invite.locator);
        if let Some(s) = self.inner.topics.get(&keys.id) {
            if !s.joining() {
                if s.auth.role(&s.me.public_key()).is_ok() {
                    return Ok((
                        self.summary(&s).await?,
                        self.inner.members.of(&s.id()).len(),
                        true,
                    ));
                }
                // Removed (or left) before: ask to be admitted again.
                let request = self.join_request(&invite, &keys, s.my_name())?;
                s.set_joining(request.encode());
                if let Some(mut rec) = self.inner.store.topic(&s.id())? {
                    rec.joining = Some(ByteBuf::from(request.encode()));
                    self.inner.store.put_topic(&s.id(), &rec)?;
                }
            }
        }
        let state = match self.inner.topics.get(&keys.id) {
            Some(s) => s,
            None => {
                let my_name = self.display_name(my_name)?;
                let request = self.join_request(&invite, &keys, my_name.clone())?;
                let (name, rules) = invite.name_and_rules();
                let record = TopicRecord {
                    name: name.to_string(),
                    secret: ByteBuf::from(invite.locator.as_bytes().to_vec()),
                    rules: rules.to_string(),
                    creator: ByteBuf::from(invite.owner().0.to_vec()),
                    my_name,
                    joined_at: now_ms(),
                    genesis: ByteBuf::from(invite.genesis.encoded().to_vec()),
                    joining: Some(ByteBuf::from(request.encode())),
                };
                let circle = Circle::from_genesis(invite.genesis.clone())
                    .map_err(|e| NodeError::BadInput(e.to_string()))?;
                let state = TopicState::new(&self.inner.secret, keys, &record, circle, Vec::new());
                self.add_topic(&record, state).await?
            }
        };
        let mut targets = Vec::new();
        for (peer, addrs) in invites::peers_of(&invite.peers) {
            if peer == self.inner.peer_id || addrs.is_empty() {
                continue;
            }
            // The invite's issuer is named by the person joining, so it is
            // remembered before any proof (like a --bootstrap address).
            self.inner.store.remember_peer(
                &peer.to_bytes(),
                &addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
                now_ms(),
            )?;
            targets.push((peer, addrs));
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Peers met meanwhile (found through the DHT, say) may be members.
            let mut targets = targets.clone();
            for p in self.inner.net.peers().await? {
                if !targets.iter().any(|(t, _)| *t == p.peer) {
                    targets.push((p.peer, Vec::new()));
                }
            }
            for (peer, addrs) in &targets {
                match self.ask_to_join(&state, *peer, addrs.clone()).await {
                    Ok(Asked::In) => {
                        let peers = self.wait_for_members(&state, deadline).await;
                        return Ok((self.summary(&state).await?, peers.max(1), false));
                    }
                    // Asking again now would change nothing: the node asks
                    // every few seconds from here on.
                    Ok(Asked::Waiting) => return Ok((self.summary(&state).await?, 0, false)),
                    Ok(Asked::NoAnswer) => {}
                    Err(e @ NodeError::BadInput(_)) => {
                        self.give_up_joining(&state).await?;
                        return Err(e);
                    }
                    Err(e) => tracing::debug!(%peer, "join attempt failed: {e}"),
                }
            }
            if tokio::time::Instant::now() + Duration::from_millis(500) >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Ok((self.summary(&state).await?, 0, false))
    }

    /// This node's signed request to join with `invite`.
    fn join_request(
        &self,
        invite: &Invite,
        keys: &TopicKeys,
        name: String,
    ) -> Result<JoinRequest, NodeError> {
        let me = self.inner.secret.pseudonym(&keys.id);
        let kx = kindred_proto::authority::KxSecret::derive(&self.inner.secret, &keys.id);
        JoinRequest::sign(
            JoinBody {
                circle: invite.circle(),
                invite: invite.key.public_key(),
                joiner: me.public_key(),
                kx: kx.public(),
                name,
                peer: self.inner.peer_id.to_bytes(),
                ts: now_ms(),
            },
            &invite.key,
            &me,
        )
        .map_err(|e| NodeError::BadInput(e.to_string()))
    }

    async fn wait_for_members(&self, t: &TopicState, deadline: tokio::time::Instant) -> usize {
        loop {
            let n = self.inner.members.of(&t.id()).len();
            if n > 0 || tokio::time::Instant::now() >= deadline {
                return n;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// One join attempt with one peer; `Err(BadInput)`: refused.
    async fn ask_to_join(
        &self,
        t: &Arc<TopicState>,
        peer: PeerId,
        addrs: Vec<kindred_net::Multiaddr>,
    ) -> Result<Asked, NodeError> {
        let Some(request) = t.join_request() else {
            return Ok(Asked::In);
        };
        if !self.inner.net.connect(peer, addrs).await? {
            return Ok(Asked::NoAnswer);
        }
        let mut control = self.inner.net.streams();
        let exchange = async {
            let mut s = control
                .open_stream(peer, protocol())
                .await
                .map_err(std::io::Error::other)?;
            write_value(&mut s, &request).await?;
            let answer = read_value(&mut s, MAX_JOIN_REPLY_BYTES).await;
            let _ = s.close().await;
            answer
        };
        let bytes = match tokio::time::timeout(JOIN_TIMEOUT, exchange).await {
            Ok(Ok(b)) => b,
            Ok(Err(e)) => {
                tracing::debug!(%peer, "join session failed: {e}");
                return Ok(Asked::NoAnswer);
            }
            Err(_) => return Ok(Asked::NoAnswer),
        };
        match JoinReply::decode(&bytes) {
            Ok(JoinReply::Admitted {
                ops,
                history,
                cards,
            }) => Ok(match self.complete_join(t, ops, history, cards).await? {
                true => {
                    // What the admitter says in the moment before gossip
                    // flows both ways reaches us by sync: ask it soon.
                    // (A weak handle: a node shutting down is not kept alive.)
                    let (node, topic) = (std::sync::Arc::downgrade(&self.inner), t.id());
                    tokio::spawn(async move {
                        for wait in [1, 3] {
                            tokio::time::sleep(Duration::from_secs(wait)).await;
                            let Some(inner) = node.upgrade() else { return };
                            Node { inner }.spawn_sync(peer, topic);
                        }
                    });
                    Asked::In
                }
                false => Asked::NoAnswer,
            }),
            Ok(JoinReply::Waiting) => {
                tracing::info!("the request to join {} waits for a moderator", t.name);
                Ok(Asked::Waiting)
            }
            Ok(JoinReply::NotHere) => Ok(Asked::NoAnswer),
            Ok(JoinReply::Refused(reason)) => Err(NodeError::BadInput(format!(
                "the circle refused to let you in: {}",
                kindred_proto::text::escape_line(&reason)
            ))),
            Err(e) => {
                tracing::debug!(%peer, "a join answer did not decode: {e}");
                Ok(Asked::NoAnswer)
            }
        }
    }

    /// The member's answer said "admitted": take the ops (one of them
    /// seals this node its key), check it is really in, and start.
    async fn complete_join(
        &self,
        t: &Arc<TopicState>,
        ops: Vec<Vec<u8>>,
        history: Vec<(kindred_proto::OpId, [u8; 32])>,
        cards: Vec<String>,
    ) -> Result<bool, NodeError> {
        let ops: Vec<Op> = ops.iter().filter_map(|b| Op::decode(b).ok()).collect();
        // Checked apart before anything is kept: an answer from a peer that
        // did not admit us leaves nothing behind.
        let me = t.me.public_key();
        let admitted = t.auth.with(|c| {
            let held = c.ops().skip(1).cloned().chain(ops.iter().cloned());
            let Ok(scratch) =
                kindred_proto::authority::Circle::from_ops(c.genesis().clone(), held, now_ms())
            else {
                return false;
            };
            let state = scratch.state();
            state.role(&me).is_ok() && state.epochs.iter().any(|e| e.recipients.contains(&me))
        });
        if !admitted {
            tracing::debug!("a join answer said admitted, but its ops do not show it");
            return Ok(false);
        }
        self.take_ops(t, ops)?;
        if t.auth.state().role(&t.me.public_key()).is_err() || t.auth.current().is_none() {
            tracing::debug!("a join answer said admitted, but the ops do not show it");
            return Ok(false);
        }
        let shared = !history.is_empty();
        for (op, secret) in history {
            let secret = EpochSecret::from_bytes(secret);
            t.auth.install(op, &secret);
            self.inner
                .store
                .put_epoch(&t.id(), &op, secret.as_bytes())?;
        }
        if shared {
            // History a sync brought before these keys was kept opaque.
            self.reveal_opaque(t);
        }
        let state = t.auth.state();
        for code in cards {
            // Signed by the member's node, naming its pseudonym here.
            let Ok(c) = kindred_proto::dm::Contact::parse(&code) else {
                continue;
            };
            if let Some(p) = c.pseudonym.filter(|p| state.people.contains_key(p)) {
                self.inner.store.learn_card(&t.id(), &p, &code)?;
            }
        }
        t.set_joined();
        if let Some(mut rec) = self.inner.store.topic(&t.id())? {
            rec.joining = None;
            self.inner.store.put_topic(&t.id(), &rec)?;
        }
        self.inner.store.flush().await?;
        self.start_speaking(t).await?;
        Ok(true)
    }

    /// Asks again for every circle still waiting to be admitted, of the
    /// peers the node has met (run periodically).
    pub(crate) async fn retry_joins(&self) {
        for t in self.inner.topics.all().into_iter().filter(|t| t.joining()) {
            let mut peers: Vec<(PeerId, Vec<kindred_net::Multiaddr>)> = self
                .inner
                .net
                .peers()
                .await
                .unwrap_or_default()
                .into_iter()
                .map(|p| (p.peer, Vec::new()))
                .collect();
            for (peer, addrs) in self.inner.store.known_peers(now_ms()).unwrap_or_default() {
                let Ok(peer) = PeerId::from_bytes(&peer) else {
                    continue;
                };
                if !peers.iter().any(|(p, _)| *p == peer) {
                    peers.push((peer, addrs.iter().filter_map(|a| a.parse().ok()).collect()));
                }
            }
            for (peer, addrs) in peers.into_iter().take(16) {
                match self.ask_to_join(&t, peer, addrs).await {
                    Ok(Asked::In | Asked::Waiting) => break,
                    Err(NodeError::BadInput(e)) => {
                        tracing::warn!("{e}");
                        let _ = self.give_up_joining(&t).await;
                        break;
                    }
                    _ => {}
                }
            }
        }
    }

    /// A refused join: a circle this node was never in is dropped; one it
    /// was in before (removed, or left) keeps its history and stops asking.
    async fn give_up_joining(&self, t: &TopicState) -> Result<(), NodeError> {
        if t.auth.current().is_none() {
            return self.forget(t).await;
        }
        t.set_joined();
        if let Some(mut rec) = self.inner.store.topic(&t.id())? {
            rec.joining = None;
            self.inner.store.put_topic(&t.id(), &rec)?;
        }
        self.inner.store.flush().await?;
        Ok(())
    }

    /// Drops a circle from this node: unsubscribes, deletes its data.
    pub(crate) async fn forget(&self, t: &TopicState) -> Result<(), NodeError> {
        self.inner.topics.remove(&t.id());
        self.inner.store.forget_topic(&t.id())?;
        self.inner.store.flush().await?;
        Ok(())
    }

    /// Serves join sessions until the node stops.
    pub(crate) fn start_join(
        &self,
        shutdown: tokio::sync::broadcast::Receiver<()>,
    ) -> Result<tokio::task::JoinHandle<()>, NodeError> {
        let limits = crate::streams::Inbound {
            max: MAX_INBOUND,
            per_minute: Some(JOINS_PER_MINUTE),
            timeout: JOIN_TIMEOUT,
        };
        self.serve_streams(
            protocol(),
            limits,
            shutdown,
            |n, peer, mut stream| async move {
                let request = read_value(&mut stream, MAX_JOIN_REQUEST_BYTES).await?;
                let answer = n.judge_join(peer, &request).await;
                write_value(&mut stream, &answer.encode()).await?;
                stream.close().await
            },
        )
    }

    /// A member's side of a join: check the request against the circle's
    /// authority and this node's clock, then admit, forward or refuse.
    async fn judge_join(&self, peer: PeerId, bytes: &[u8]) -> JoinReply {
        let refuse = |why: &str| JoinReply::Refused(why.to_string());
        let request = match JoinRequest::decode(bytes) {
            Ok(r) => r,
            Err(e) => return refuse(&format!("the join request is not valid: {e}")),
        };
        if request.body.peer != peer.to_bytes() {
            return refuse("the join request names another node");
        }
        let Some(t) = self
            .inner
            .topics
            .all()
            .into_iter()
            .find(|t| !t.joining() && t.auth.circle_id() == request.body.circle)
        else {
            return JoinReply::NotHere;
        };
        let state = t.auth.state();
        let me = t.me.public_key();
        if state.role(&me).is_err() {
            return JoinReply::NotHere;
        }
        if state.role(&request.body.joiner).is_ok() {
            return self.admitted(&t);
        }
        if let Some(inv) = state.invites.get(&request.body.invite) {
            if let Some(at) = inv.expires {
                if now_ms() >= at {
                    return refuse(&format!(
                        "this invite expired on {}",
                        kindred_proto::authority::date(at)
                    ));
                }
            }
            // A person decides: not even a moderator's node admits on its
            // own; `kindred approve` does, and the joiner asks again.
            if inv.approval {
                // One request per person per invite: asking again (a new
                // request id) is still the same wait.
                let b = &request.body;
                if state.waiting_request(&b.invite, &b.joiner).is_some() {
                    return JoinReply::Waiting;
                }
                return match self.act(&t, Draft::Request(request)).await {
                    Ok(_) => JoinReply::Waiting,
                    Err(e) => refuse(&e.to_string()),
                };
            }
        }
        match self.act(&t, Draft::Admit(request)).await {
            Ok(_) => self.admitted(&t),
            Err(e) => refuse(&e.to_string()),
        }
    }

    fn admitted(&self, t: &TopicState) -> JoinReply {
        let share = t
            .auth
            .with(|c| c.state().policy.history == kindred_proto::authority::History::Share);
        let history = if share {
            self.inner
                .store
                .epochs(&t.id())
                .unwrap_or_default()
                .into_iter()
                .map(|(op, s)| (op, *s))
                .collect()
        } else {
            Vec::new()
        };
        JoinReply::Admitted {
            ops: crate::authority::all_ops(t),
            history,
            cards: self
                .inner
                .store
                .cards(&t.id())
                .unwrap_or_default()
                .into_iter()
                .map(|(_, code)| code)
                .collect(),
        }
    }
}

/// What an invite says about its circle, shown before joining so a person
/// reads the rules before they go in.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct InvitePreview {
    pub id: String,
    pub name: String,
    pub rules: String,
    /// The owner's handle, as posts show it.
    pub owner: String,
    /// The name the owner gave themselves in the circle (signed in the
    /// genesis, so the invite cannot alter it).
    #[serde(default)]
    pub owner_name: String,
    /// The invite's expiry hint (ms), if it has one; the circle's record
    /// decides.
    pub expires: Option<u64>,
    /// This node is already in the circle.
    pub already_member: bool,
}

impl Node {
    /// Reads an invite without joining (the same checks as joining:
    /// altered or expired invites are refused in the same words).
    pub fn preview_invite(&self, invite_text: &str) -> Result<InvitePreview, NodeError> {
        let invite = Invite::parse(invite_text, now_ms())?;
        let keys = TopicKeys::derive(&invite.locator);
        let (name, rules) = invite.name_and_rules();
        let already_member = self
            .inner
            .topics
            .get(&keys.id)
            .is_some_and(|s| !s.joining() && s.auth.role(&s.me.public_key()).is_ok());
        Ok(InvitePreview {
            id: keys.id.to_hex(),
            name: name.to_string(),
            rules: rules.to_string(),
            owner: crate::peers::handle(&invite.owner()),
            owner_name: match &invite.genesis.action {
                kindred_proto::authority::Action::Create { owner_name, .. } => owner_name.clone(),
                _ => String::new(),
            },
            expires: invite.expires,
            already_member,
        })
    }
}
