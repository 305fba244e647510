//! The task that owns the `Swarm`, and the handle others use to reach it.

use std::collections::{HashMap, HashSet};

use futures::StreamExt;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::SwarmEvent;
use libp2p::{
    gossipsub, identify, identity::Keypair, kad, mdns, request_response, Multiaddr, PeerId, Swarm,
};
use tokio::sync::{mpsc, oneshot};

use crate::behaviour::{topic_score, Behaviour, BehaviourEvent};
use crate::{NetConfig, NetError};

/// What the rest of the node asks of the network. Replies come back on the
/// `reply` channel of each variant.
#[derive(Debug)]
pub enum Command {
    Dial {
        addr: Multiaddr,
        reply: oneshot::Sender<Result<(), NetError>>,
    },
    /// Remember addresses for a peer (and connect if not connected).
    AddAddresses {
        peer: PeerId,
        addrs: Vec<Multiaddr>,
    },
    /// Connect to a peer (with these extra addresses); answers `true` once
    /// connected, `false` when every dial attempt failed.
    Connect {
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        reply: oneshot::Sender<bool>,
    },
    Subscribe {
        topic: String,
        reply: oneshot::Sender<Result<(), NetError>>,
    },
    /// Join the DHT through these peers (multiaddrs ending in /p2p/ID).
    Bootstrap {
        addrs: Vec<Multiaddr>,
    },
    /// Announce in the DHT that this node is a provider of `key`.
    Provide {
        key: Vec<u8>,
    },
    /// Look up providers of `key`, dialling each as it is found.
    FindProviders {
        key: Vec<u8>,
        reply: oneshot::Sender<Vec<PeerId>>,
    },
    Unsubscribe {
        topic: String,
    },
    Publish {
        topic: String,
        data: Vec<u8>,
        reply: oneshot::Sender<Result<PublishOutcome, NetError>>,
    },
    /// The verdict on a gossip message held for validation.
    Validate {
        id: gossipsub::MessageId,
        source: PeerId,
        acceptance: gossipsub::MessageAcceptance,
    },
    Sync {
        peer: PeerId,
        request: Vec<u8>,
        reply: oneshot::Sender<Result<Vec<u8>, NetError>>,
    },
    Respond {
        responder: SyncResponder,
        response: Vec<u8>,
    },
    /// Whether a connected peer has proven membership of a circle we share:
    /// only then does gossip flow to it (see [`crate::UNPROVEN_SCORE`]).
    SetProven {
        peer: PeerId,
        proven: bool,
    },
    Peers {
        reply: oneshot::Sender<Vec<PeerInfo>>,
    },
    ListenAddrs {
        reply: oneshot::Sender<Vec<Multiaddr>>,
    },
    Reachability {
        reply: oneshot::Sender<crate::Reachability>,
    },
    TopicPeers {
        topic: String,
        reply: oneshot::Sender<Vec<PeerId>>,
    },
    Shutdown,
}

/// What the network tells the node.
#[derive(Debug)]
pub enum Event {
    Listening {
        addr: Multiaddr,
    },
    PeerConnected {
        peer: PeerId,
        addr: Multiaddr,
    },
    PeerDisconnected {
        peer: PeerId,
    },
    /// A peer told us where it listens.
    Identified {
        peer: PeerId,
        listen_addrs: Vec<Multiaddr>,
    },
    /// A gossip message, held until the node sends [`Command::Validate`].
    Gossip(GossipIn),
    PeerSubscribed {
        peer: PeerId,
        topic: String,
    },
    SyncRequest {
        peer: PeerId,
        request: Vec<u8>,
        responder: SyncResponder,
    },
}

/// One gossip message waiting for its verdict.
#[derive(Debug)]
pub struct GossipIn {
    pub source: PeerId,
    pub id: gossipsub::MessageId,
    pub topic: String,
    pub data: Vec<u8>,
    /// When the network task handed it over (for ingest timings).
    pub received: std::time::Instant,
}

/// Where the answer to one inbound sync request goes.
#[derive(Debug)]
pub struct SyncResponder(request_response::ResponseChannel<Vec<u8>>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishOutcome {
    Sent,
    /// No connected peer is in the topic yet; history sync will carry it.
    NoPeers,
}

#[derive(Debug, Clone)]
pub struct PeerInfo {
    pub peer: PeerId,
    pub addrs: Vec<Multiaddr>,
    /// Gossip topic strings the peer is subscribed to.
    pub topics: Vec<String>,
}

/// A cheap, cloneable way to reach the network task.
#[derive(Clone)]
pub struct NetHandle {
    tx: mpsc::Sender<Command>,
    peer_id: PeerId,
    streams: libp2p_stream::Control,
}

impl std::fmt::Debug for NetHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetHandle")
            .field("peer_id", &self.peer_id)
            .finish_non_exhaustive()
    }
}

impl NetHandle {
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// Opens and accepts raw streams. Cheap to clone; each clone opens one
    /// stream at a time.
    pub fn streams(&self) -> libp2p_stream::Control {
        self.streams.clone()
    }

    /// Sends a command without waiting for its effect.
    pub async fn send(&self, cmd: Command) -> Result<(), NetError> {
        self.tx.send(cmd).await.map_err(|_| NetError::Stopped)
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, NetError> {
        let (reply, rx) = oneshot::channel();
        self.send(make(reply)).await?;
        rx.await.map_err(|_| NetError::Stopped)
    }

    pub async fn dial(&self, addr: Multiaddr) -> Result<(), NetError> {
        self.ask(|reply| Command::Dial { addr, reply }).await?
    }

    pub async fn subscribe(&self, topic: String) -> Result<(), NetError> {
        self.ask(|reply| Command::Subscribe { topic, reply })
            .await?
    }

    pub async fn publish(&self, topic: String, data: Vec<u8>) -> Result<PublishOutcome, NetError> {
        self.ask(|reply| Command::Publish { topic, data, reply })
            .await?
    }

    pub async fn sync(&self, peer: PeerId, request: Vec<u8>) -> Result<Vec<u8>, NetError> {
        self.ask(|reply| Command::Sync {
            peer,
            request,
            reply,
        })
        .await?
    }

    pub async fn peers(&self) -> Result<Vec<PeerInfo>, NetError> {
        self.ask(|reply| Command::Peers { reply }).await
    }

    pub async fn find_providers(&self, key: Vec<u8>) -> Result<Vec<PeerId>, NetError> {
        self.ask(|reply| Command::FindProviders { key, reply })
            .await
    }

    /// Connects to a peer if it is not connected; `Ok(false)` when it
    /// cannot be reached.
    pub async fn connect(&self, peer: PeerId, addrs: Vec<Multiaddr>) -> Result<bool, NetError> {
        self.ask(|reply| Command::Connect { peer, addrs, reply })
            .await
    }

    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>, NetError> {
        self.ask(|reply| Command::ListenAddrs { reply }).await
    }

    pub async fn reachability(&self) -> Result<crate::Reachability, NetError> {
        self.ask(|reply| Command::Reachability { reply }).await
    }

    pub async fn topic_peers(&self, topic: String) -> Result<Vec<PeerId>, NetError> {
        self.ask(|reply| Command::TopicPeers { topic, reply }).await
    }
}

/// Builds the swarm, starts listening and spawns the task that owns it.
/// Must be called inside a tokio runtime.
pub fn spawn(
    key: Keypair,
    config: NetConfig,
) -> Result<
    (
        NetHandle,
        mpsc::UnboundedReceiver<Event>,
        tokio::task::JoinHandle<()>,
    ),
    NetError,
> {
    let peer_id = key.public().to_peer_id();
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_quic()
        .with_other_transport(crate::wire::tcp_transport)
        .map_err(|e| NetError::Config(e.to_string()))?
        .with_relay_client(libp2p::noise::Config::new, libp2p::yamux::Config::default)
        .map_err(|e| NetError::Config(e.to_string()))?
        .with_behaviour(|key, relay_client| {
            Behaviour::new(key, &config, relay_client)
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
        })
        .map_err(|e| NetError::Config(e.to_string()))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(config.idle_timeout))
        .build();
    for addr in &config.listen {
        swarm
            .listen_on(addr.clone())
            .map_err(|e| NetError::Listen {
                addr: addr.clone(),
                detail: e.to_string(),
            })?;
    }
    let streams = swarm.behaviour().streams.new_control();
    let (cmd_tx, cmd_rx) = mpsc::channel(1024);
    // Unbounded so the swarm never blocks on a slow node loop while the node
    // loop waits on a command reply; gossipsub bounds what arrives.
    let (ev_tx, ev_rx) = mpsc::unbounded_channel();
    let task = SwarmTask {
        swarm,
        commands: cmd_rx,
        events: ev_tx,
        pending_sync: HashMap::new(),
        proven: HashSet::new(),
        pending_connect: HashMap::new(),
        pending_providers: HashMap::new(),
        // Relays named with `--listen .../p2p/RELAY/p2p-circuit` already hold a slot.
        reserved_on: config
            .listen
            .iter()
            .filter(|a| a.iter().any(|p| matches!(p, Protocol::P2pCircuit)))
            .filter_map(|a| {
                a.iter().find_map(|p| match p {
                    Protocol::P2p(id) => Some((id, None)),
                    _ => None,
                })
            })
            .collect(),
        configured: config
            .listen
            .iter()
            .filter_map(|a| {
                a.iter().find_map(|p| match p {
                    Protocol::P2p(id) => Some(id),
                    _ => None,
                })
            })
            .collect(),
        failed_relays: HashSet::new(),
        remote_addrs: HashMap::new(),
        listen_addrs: HashSet::new(),
        relays: HashMap::new(),
        dial_backs: HashMap::new(),
    };
    let handle = tokio::spawn(task.run());
    Ok((
        NetHandle {
            tx: cmd_tx,
            peer_id,
            streams,
        },
        ev_rx,
        handle,
    ))
}

struct SwarmTask {
    swarm: Swarm<Behaviour>,
    commands: mpsc::Receiver<Command>,
    events: mpsc::UnboundedSender<Event>,
    pending_sync:
        HashMap<request_response::OutboundRequestId, oneshot::Sender<Result<Vec<u8>, NetError>>>,
    /// Connected peers that proved membership of a circle we share.
    proven: HashSet<PeerId>,
    remote_addrs: HashMap<PeerId, Multiaddr>,
    listen_addrs: HashSet<Multiaddr>,
    pending_connect: HashMap<PeerId, Vec<oneshot::Sender<bool>>>,
    pending_providers: HashMap<kad::QueryId, (oneshot::Sender<Vec<PeerId>>, HashSet<PeerId>)>,
    /// Relays we asked for a slot (at most [`MAX_RELAYS`]), by the listener
    /// that holds the slot.
    reserved_on: HashMap<PeerId, Option<libp2p::core::transport::ListenerId>>,
    /// Peers the user named (`--bootstrap`, a circuit `--listen`): with
    /// proven members, the only ones trusted as relays.
    configured: HashSet<PeerId>,
    /// Relays that refused or dropped our slot while connected: not asked
    /// again this run (at most one entry per trusted relay tried).
    failed_relays: HashSet<PeerId>,
    /// Relays we have met and where they listen, for when AutoNAT later
    /// finds us unreachable.
    relays: HashMap<PeerId, Multiaddr>,
    /// Peers AutoNAT is about to dial back for, and then the connection it
    /// opened, closed once it has served.
    dial_backs: HashMap<PeerId, Option<libp2p::swarm::ConnectionId>>,
}

/// Relays a node behind NAT reserves slots on.
const MAX_RELAYS: usize = 2;

fn without_p2p(addr: &Multiaddr) -> Multiaddr {
    addr.iter()
        .filter(|p| !matches!(p, Protocol::P2p(_)))
        .collect()
}

fn is_quic(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| matches!(p, Protocol::QuicV1))
}

impl SwarmTask {
    async fn run(mut self) {
        loop {
            tokio::select! {
                cmd = self.commands.recv() => match cmd {
                    None | Some(Command::Shutdown) => break,
                    Some(cmd) => self.on_command(cmd),
                },
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
            }
        }
        tracing::debug!("network task stopped");
    }

    fn emit(&self, event: Event) {
        // The receiver is gone only during shutdown.
        let _ = self.events.send(event);
    }

    fn on_command(&mut self, cmd: Command) {
        let gs = &mut self.swarm.behaviour_mut().gossipsub;
        match cmd {
            Command::Dial { addr, reply } => {
                let result = self.swarm.dial(addr.clone()).map_err(|e| NetError::Dial {
                    target: addr.to_string(),
                    detail: e.to_string(),
                });
                let _ = reply.send(result);
            }
            Command::AddAddresses { peer, addrs } => {
                for a in &addrs {
                    self.swarm.add_peer_address(peer, a.clone());
                }
                if !self.swarm.is_connected(&peer) && peer != *self.swarm.local_peer_id() {
                    let opts = libp2p::swarm::dial_opts::DialOpts::peer_id(peer)
                        .addresses(addrs)
                        .build();
                    if let Err(e) = self.swarm.dial(opts) {
                        tracing::debug!(%peer, "dial failed: {e}");
                    }
                }
            }
            Command::Connect { peer, addrs, reply } => {
                for a in &addrs {
                    self.swarm.add_peer_address(peer, a.clone());
                }
                if self.swarm.is_connected(&peer) {
                    let _ = reply.send(true);
                    return;
                }
                tracing::debug!(%peer, ?addrs, "connecting");
                // Even while another dial is under way: that one may have
                // only the addresses the DHT knew (a member's private ones,
                // timing out), and these may hold the relayed path that works.
                let opts = libp2p::swarm::dial_opts::DialOpts::peer_id(peer)
                    .condition(libp2p::swarm::dial_opts::PeerCondition::Disconnected)
                    .addresses(addrs)
                    .extend_addresses_through_behaviour()
                    .build();
                match self.swarm.dial(opts) {
                    Ok(()) | Err(libp2p::swarm::DialError::DialPeerConditionFalse(_)) => {
                        self.pending_connect.entry(peer).or_default().push(reply);
                    }
                    Err(e) => {
                        tracing::debug!(%peer, "cannot dial: {e}");
                        let _ = reply.send(false);
                    }
                }
            }
            Command::Bootstrap { addrs } => {
                for addr in addrs {
                    let Some(Protocol::P2p(peer)) = addr.iter().last() else {
                        tracing::warn!(%addr, "a bootstrap address needs /p2p/<peer id> at the end");
                        continue;
                    };
                    self.configured.insert(peer);
                    let bare: Multiaddr = addr
                        .iter()
                        .filter(|p| !matches!(p, Protocol::P2p(_)))
                        .collect();
                    self.swarm.behaviour_mut().kad.add_address(&peer, bare);
                    if let Err(e) = self.swarm.dial(addr.clone()) {
                        tracing::debug!(%addr, "bootstrap dial failed: {e}");
                    }
                }
                let _ = self.swarm.behaviour_mut().kad.bootstrap();
            }
            Command::Provide { key } => {
                if let Err(e) = self
                    .swarm
                    .behaviour_mut()
                    .kad
                    .start_providing(kad::RecordKey::new(&key))
                {
                    tracing::warn!("cannot announce in the DHT: {e}");
                }
            }
            Command::FindProviders { key, reply } => {
                let id = self
                    .swarm
                    .behaviour_mut()
                    .kad
                    .get_providers(kad::RecordKey::new(&key));
                self.pending_providers.insert(id, (reply, HashSet::new()));
            }
            Command::Subscribe { topic, reply } => {
                let t = gossipsub::IdentTopic::new(topic);
                let result = gs
                    .subscribe(&t)
                    .map(|_| ())
                    .map_err(|e| NetError::Config(format!("subscribe: {e}")));
                if result.is_ok() {
                    if let Err(e) = gs.set_topic_params(t, topic_score()) {
                        tracing::warn!("topic score parameters rejected: {e}");
                    }
                }
                let _ = reply.send(result);
            }
            Command::Unsubscribe { topic } => {
                gs.unsubscribe(&gossipsub::IdentTopic::new(topic));
            }
            Command::Publish { topic, data, reply } => {
                let result = match gs.publish(gossipsub::IdentTopic::new(topic), data) {
                    Ok(_) | Err(gossipsub::PublishError::Duplicate) => Ok(PublishOutcome::Sent),
                    Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => {
                        Ok(PublishOutcome::NoPeers)
                    }
                    Err(e) => Err(NetError::Publish(e.to_string())),
                };
                let _ = reply.send(result);
            }
            Command::Validate {
                id,
                source,
                acceptance,
            } => {
                gs.report_message_validation_result(&id, &source, acceptance);
            }
            Command::Sync {
                peer,
                request,
                reply,
            } => {
                let id = self.swarm.behaviour_mut().sync.send_request(&peer, request);
                self.pending_sync.insert(id, reply);
            }
            Command::SetProven { peer, proven } => {
                if proven {
                    self.proven.insert(peer);
                } else {
                    self.proven.remove(&peer);
                }
                let score = if proven { 0.0 } else { crate::UNPROVEN_SCORE };
                gs.set_application_score(&peer, score);
                // A member that offers relaying may now serve as our relay.
                if proven && self.relays.contains_key(&peer) {
                    self.maybe_reserve(peer);
                }
            }
            Command::Respond {
                responder,
                response,
            } => {
                // Fails only if the requester went away; nothing to do then.
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .sync
                    .send_response(responder.0, response);
            }
            Command::Peers { reply } => {
                let mut topics: HashMap<PeerId, Vec<String>> = HashMap::new();
                for (p, ts) in gs.all_peers() {
                    topics.insert(*p, ts.iter().map(|t| t.to_string()).collect());
                }
                let peers = self
                    .swarm
                    .connected_peers()
                    .map(|p| PeerInfo {
                        peer: *p,
                        addrs: self.remote_addrs.get(p).cloned().into_iter().collect(),
                        topics: topics.remove(p).unwrap_or_default(),
                    })
                    .collect();
                let _ = reply.send(peers);
            }
            Command::ListenAddrs { reply } => {
                let _ = reply.send(self.listen_addrs.iter().cloned().collect());
            }
            Command::Reachability { reply } => {
                let _ = reply.send(self.reachability());
            }
            Command::TopicPeers { topic, reply } => {
                let hash = gossipsub::IdentTopic::new(topic).hash();
                let peers = gs
                    .all_peers()
                    .filter(|(_, ts)| ts.contains(&&hash))
                    .map(|(p, _)| *p)
                    .collect();
                let _ = reply.send(peers);
            }
            Command::Shutdown => {}
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                self.listen_addrs.insert(address.clone());
                // A relay's listen addresses are what it tells reserving
                // peers to advertise.
                if self.swarm.behaviour().relay_server.is_enabled() {
                    self.swarm.add_external_address(address.clone());
                }
                self.emit(Event::Listening { addr: address });
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                self.listen_addrs.remove(&address);
            }
            SwarmEvent::ListenerClosed {
                listener_id,
                addresses,
                reason,
            } => {
                for a in &addresses {
                    self.listen_addrs.remove(a);
                }
                // A relay slot that failed or closed: drop that relay and
                // try another we trust.
                let lost = self
                    .reserved_on
                    .iter()
                    .find(|(_, l)| **l == Some(listener_id))
                    .map(|(p, _)| *p);
                if let Some(relay) = lost {
                    tracing::info!(%relay, ?reason, "lost our slot on a relay; choosing another");
                    self.reserved_on.remove(&relay);
                    // Still connected yet no slot: the relay refused or
                    // dropped it, so it is not asked again this run. One
                    // that went away is asked again when it comes back.
                    if self.swarm.is_connected(&relay) {
                        self.failed_relays.insert(relay);
                    }
                    let others: Vec<PeerId> = self.relays.keys().copied().collect();
                    for r in others {
                        self.maybe_reserve(r);
                    }
                }
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                endpoint,
                num_established,
                connection_id,
                ..
            } => {
                let addr = endpoint.get_remote_address().clone();
                if endpoint.is_dialer() {
                    if let Some(pending @ None) = self.dial_backs.get_mut(&peer_id) {
                        *pending = Some(connection_id);
                    }
                }
                self.remote_addrs.insert(peer_id, addr.clone());
                for reply in self.pending_connect.remove(&peer_id).unwrap_or_default() {
                    let _ = reply.send(true);
                }
                if num_established.get() == 1 {
                    // Nothing flows to a peer until it proves membership.
                    if !self.proven.contains(&peer_id) {
                        self.swarm
                            .behaviour_mut()
                            .gossipsub
                            .set_application_score(&peer_id, crate::UNPROVEN_SCORE);
                    }
                    self.emit(Event::PeerConnected {
                        peer: peer_id,
                        addr,
                    });
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                self.remote_addrs.remove(&peer_id);
                self.proven.remove(&peer_id);
                self.relays.remove(&peer_id);
                self.emit(Event::PeerDisconnected { peer: peer_id });
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                tracing::debug!(?peer_id, "outgoing connection failed: {error}");
                if let Some(p) = peer_id {
                    if !self.swarm.is_connected(&p) {
                        for reply in self.pending_connect.remove(&p).unwrap_or_default() {
                            let _ = reply.send(false);
                        }
                    }
                }
            }
            SwarmEvent::Behaviour(ev) => self.on_behaviour_event(ev),
            _ => {}
        }
    }

    /// Whether we can be reached from outside: AutoNAT's verdict where it
    /// has one (an address it confirmed counts only if it is public), else
    /// what our own addresses say.
    fn reachability(&self) -> crate::Reachability {
        use libp2p::autonat::NatStatus;
        match self.swarm.behaviour().autonat.nat_status() {
            NatStatus::Public(a) if crate::is_public(&a) => crate::Reachability::Public,
            NatStatus::Public(_) | NatStatus::Private => crate::Reachability::Private,
            NatStatus::Unknown if self.listen_addrs.iter().any(crate::is_public) => {
                crate::Reachability::Unknown
            }
            NatStatus::Unknown => crate::Reachability::Private,
        }
    }

    /// Notes a relay we met (identify lists the hop protocol) and where it
    /// listens: a public address if it has one, not the ephemeral port it
    /// may have dialled us from.
    fn note_relay(&mut self, relay: PeerId, info: &identify::Info) {
        let offers_relay = info
            .protocols
            .iter()
            .any(|p| p.as_ref() == libp2p::relay::HOP_PROTOCOL_NAME.as_ref());
        if !offers_relay {
            return;
        }
        let candidates: Vec<&Multiaddr> = info
            .listen_addrs
            .iter()
            .filter(|a| !a.iter().any(|p| matches!(p, Protocol::P2pCircuit)))
            .collect();
        // Prefer the transport we already reach it over (QUIC gives hole
        // punching an observed UDP mapping to work with).
        let via = self.remote_addrs.get(&relay).map(is_quic);
        let pick = candidates
            .iter()
            .filter(|a| crate::is_public(a))
            .find(|a| Some(is_quic(a)) == via)
            .or_else(|| candidates.iter().find(|a| crate::is_public(a)))
            .or_else(|| candidates.iter().find(|a| Some(is_quic(a)) == via))
            .or_else(|| candidates.first());
        if let Some(addr) = pick {
            self.relays.insert(relay, (*addr).clone());
            self.maybe_reserve(relay);
        }
    }

    /// A node that cannot be reached from outside reserves a slot on relays
    /// it meets (at most [`MAX_RELAYS`]), so members can reach it through
    /// them; the relayed address then shows among its listen addresses, and
    /// so in its invites and contact cards.
    fn maybe_reserve(&mut self, relay: PeerId) {
        // A relay's operator has said it is reachable. Only relays the user
        // named or proven members are trusted with a slot: a relay sees who
        // reaches us and could drop the reservation.
        if self.swarm.behaviour().relay_server.is_enabled()
            || self.reserved_on.len() >= MAX_RELAYS
            || self.reserved_on.contains_key(&relay)
            || self.failed_relays.contains(&relay)
            || !(self.configured.contains(&relay) || self.proven.contains(&relay))
            || self.reachability() != crate::Reachability::Private
        {
            return;
        }
        let Some(addr) = self.relays.get(&relay) else {
            return;
        };
        let circuit = without_p2p(addr)
            .with(Protocol::P2p(relay))
            .with(Protocol::P2pCircuit);
        match self.swarm.listen_on(circuit.clone()) {
            Ok(listener) => {
                tracing::info!(%relay, "not reachable from outside: reserving a slot on a relay");
                self.reserved_on.insert(relay, Some(listener));
            }
            Err(e) => tracing::debug!(%circuit, "cannot reserve on relay: {e}"),
        }
    }

    fn on_behaviour_event(&mut self, event: BehaviourEvent) {
        match event {
            BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            }) => self.emit(Event::Gossip(GossipIn {
                source: propagation_source,
                id: message_id,
                topic: message.topic.into_string(),
                data: message.data,
                received: std::time::Instant::now(),
            })),
            BehaviourEvent::Gossipsub(gossipsub::Event::Subscribed { peer_id, topic, .. }) => self
                .emit(Event::PeerSubscribed {
                    peer: peer_id,
                    topic: topic.into_string(),
                }),
            BehaviourEvent::Gossipsub(_) => {}
            BehaviourEvent::Sync(request_response::Event::Message { peer, message, .. }) => {
                match message {
                    request_response::Message::Request {
                        request, channel, ..
                    } => self.emit(Event::SyncRequest {
                        peer,
                        request,
                        responder: SyncResponder(channel),
                    }),
                    request_response::Message::Response {
                        request_id,
                        response,
                    } => {
                        if let Some(reply) = self.pending_sync.remove(&request_id) {
                            let _ = reply.send(Ok(response));
                        }
                    }
                }
            }
            BehaviourEvent::Sync(request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            }) => {
                if let Some(reply) = self.pending_sync.remove(&request_id) {
                    let _ = reply.send(Err(NetError::Request {
                        peer,
                        detail: error.to_string(),
                    }));
                }
            }
            BehaviourEvent::Sync(_) => {}
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                self.note_relay(peer_id, &info);
                let dht = info
                    .protocols
                    .iter()
                    .any(|p| p.as_ref() == crate::behaviour::KAD_PROTOCOL);
                for a in &info.listen_addrs {
                    self.swarm.add_peer_address(peer_id, a.clone());
                    if dht {
                        self.swarm
                            .behaviour_mut()
                            .kad
                            .add_address(&peer_id, a.clone());
                    }
                }
                self.emit(Event::Identified {
                    peer: peer_id,
                    listen_addrs: info.listen_addrs,
                });
            }
            BehaviourEvent::Ping(libp2p::ping::Event {
                peer,
                connection,
                result:
                    Err(e @ (libp2p::ping::Failure::Timeout | libp2p::ping::Failure::Other { .. })),
            }) => {
                // libp2p keeps a connection whose pings fail; we do not, so
                // reconnection (and an honest "no member connected") follows.
                tracing::info!(%peer, "closing a connection that stopped answering pings: {e}");
                self.swarm.close_connection(connection);
            }
            BehaviourEvent::Identify(_) | BehaviourEvent::Ping(_) => {}
            BehaviourEvent::Mdns(mdns::Event::Discovered(found)) => {
                for (peer, addr) in found {
                    self.swarm.add_peer_address(peer, addr);
                    if !self.swarm.is_connected(&peer) {
                        let _ = self.swarm.dial(peer);
                    }
                }
            }
            BehaviourEvent::Mdns(mdns::Event::Expired(_)) => {}
            BehaviourEvent::Kad(kad::Event::OutboundQueryProgressed {
                id, result, step, ..
            }) => {
                let last = step.last;
                match result {
                    kad::QueryResult::GetProviders(Ok(kad::GetProvidersOk::FoundProviders {
                        providers,
                        ..
                    })) => {
                        let me = *self.swarm.local_peer_id();
                        for p in providers {
                            // Dial now: kad knows the provider's addresses only
                            // while this query is alive.
                            if p != me && !self.swarm.is_connected(&p) {
                                let _ = self.swarm.dial(p);
                            }
                            if let Some((_, found)) = self.pending_providers.get_mut(&id) {
                                found.insert(p);
                            }
                        }
                    }
                    kad::QueryResult::GetProviders(_) => {}
                    _ => return,
                }
                if last {
                    if let Some((reply, found)) = self.pending_providers.remove(&id) {
                        let _ = reply.send(found.into_iter().collect());
                    }
                }
            }
            BehaviourEvent::Kad(_) => {}
            BehaviourEvent::Dcutr(libp2p::dcutr::Event {
                remote_peer_id,
                result,
            }) => match result {
                Ok(_) => {
                    tracing::info!(peer = %remote_peer_id, "hole punching made the connection direct")
                }
                Err(e) => {
                    tracing::info!(peer = %remote_peer_id, "hole punching failed; staying relayed: {e}")
                }
            },
            BehaviourEvent::Autonat(libp2p::autonat::Event::StatusChanged { new, .. }) => {
                let now = self.reachability();
                tracing::info!(
                    ?new,
                    reachability = now.as_str(),
                    "reachability from outside"
                );
                if now == crate::Reachability::Private {
                    let relays: Vec<PeerId> = self.relays.keys().copied().collect();
                    for r in relays {
                        self.maybe_reserve(r);
                    }
                }
            }
            BehaviourEvent::Autonat(libp2p::autonat::Event::InboundProbe(probe)) => {
                use libp2p::autonat::InboundProbeEvent;
                match probe {
                    InboundProbeEvent::Request { peer, .. } => {
                        self.dial_backs.insert(peer, None);
                    }
                    InboundProbeEvent::Response { peer, .. }
                    | InboundProbeEvent::Error { peer, .. } => {
                        // The dial-back has proved its point; kept open, it
                        // would count against the per-peer limit and make the
                        // next one fail.
                        if let Some(Some(c)) = self.dial_backs.remove(&peer) {
                            self.swarm.close_connection(c);
                        }
                    }
                }
            }
            BehaviourEvent::Autonat(_) => {}
            BehaviourEvent::RelayClient(e) => tracing::debug!("relay client: {e:?}"),
            BehaviourEvent::RelayServer(e) => tracing::debug!("relay: {e:?}"),
            BehaviourEvent::Streams(()) | BehaviourEvent::Limits(_) => {}
        }
    }
}

/// Generates a fresh libp2p identity from a node secret.
pub fn keypair_from_secret(secret: &[u8; 32]) -> Result<Keypair, NetError> {
    let mut bytes = *secret;
    Keypair::ed25519_from_bytes(&mut bytes).map_err(|e| NetError::Config(e.to_string()))
}
