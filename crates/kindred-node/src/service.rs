//! The node: state shared by the network event loop, the sync driver and
//! the control API.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kindred_net::{
    Command, Event, GossipIn, MessageAcceptance, Multiaddr, NetConfig, NetHandle, PeerId,
};
use kindred_proto::{MessageId, NodeSecret, OpenedMessage, TopicId, TopicKeys};
use kindred_store::{DataDir, MessageRecord, Store};
use tokio::sync::{broadcast, mpsc};

use crate::events::Stats;
use crate::topics::{TopicState, Topics};
use crate::{invites, now_ms, NodeError};

/// How to start a node.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    pub data_dir: PathBuf,
    /// Where to listen for peers. Default (empty): TCP and QUIC on all interfaces.
    pub listen: Vec<Multiaddr>,
    /// Port of the control API on 127.0.0.1. Default 0: chosen by the OS.
    pub api_port: u16,
    /// Force mDNS on or off. Default: on only when listening beyond loopback.
    pub mdns: Option<bool>,
    /// How often to compare heads with every connected member. Default 15 s.
    pub sync_interval: Duration,
    /// Serve as a relay for nodes that cannot be reached directly, with
    /// kindred-net's default limits. Default: off.
    pub relay: bool,
    /// DHT peers to join through (multiaddrs ending in /p2p/ID), added to
    /// the ones remembered from earlier runs. Default: none; there is no
    /// built-in list.
    pub bootstrap: Vec<Multiaddr>,
}

impl NodeConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        NodeConfig {
            data_dir: data_dir.into(),
            listen: vec![],
            api_port: 0,
            mdns: None,
            sync_interval: Duration::from_secs(15),
            bootstrap: vec![],
            relay: false,
        }
    }
}

/// What `kindred up` prints as it happens.
#[derive(Debug, Clone)]
pub enum UiEvent {
    Listening(Multiaddr),
    PeerJoined(PeerId),
    PeerLeft(PeerId),
}

#[derive(Clone)]
pub struct Node {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub store: Store,
    pub net: NetHandle,
    pub secret: NodeSecret,
    pub peer_id: PeerId,
    pub topics: Topics,
    pub stats: Stats,
    pub ui: broadcast::Sender<UiEvent>,
    /// Fires whenever messages are placed into a topic's history.
    pub updates: broadcast::Sender<TopicId>,
    /// Each message from the network as it is stored, with timings.
    pub stored: broadcast::Sender<Stored>,
    /// Sync runs in flight, and whether another was asked for meanwhile.
    pub syncing: Mutex<HashMap<(PeerId, TopicId), bool>>,
    /// Addresses peers told us they listen on.
    pub identified: Mutex<HashMap<PeerId, Vec<Multiaddr>>>,
    /// Which connected peers proved membership of which circle.
    pub members: crate::membership::Members,
    pub api_addr: Mutex<Option<SocketAddr>>,
    /// The listen addresses as configured (before remembered ports).
    pub listen_patterns: Vec<Multiaddr>,
    pub dm: crate::dm::DmService,
    pub backoff: crate::reconnect::Backoff,
    /// Per topic: sync runs in flight and messages they have brought so far.
    pub progress: Mutex<HashMap<TopicId, (usize, u64)>>,
    /// Sync requests each peer may make us answer (see [`crate::sync`]).
    pub sync_answers: crate::limits::PeerRate,
    /// Opaque stand-ins each peer may make us keep (see [`crate::sync`]).
    pub standins: crate::limits::PeerRate,
}

/// One message from the network placed in a circle's history. Benchmarks
/// and tools subscribe ([`Node::stored_events`]) to time the path from
/// arrival to disk; nobody pays for it when nobody listens.
#[derive(Clone, Debug)]
pub struct Stored {
    pub topic: TopicId,
    pub id: kindred_proto::MessageId,
    /// When the network task handed the message over (gossip), or when the
    /// sync page holding it was received.
    pub arrived: std::time::Instant,
    pub stored: std::time::Instant,
}

/// How long a message's missing parents may take to arrive by gossip
/// before the sender is asked for them.
const PARENT_GRACE: Duration = Duration::from_millis(500);

/// Listen addresses kept per connected peer from identify.
const MAX_ADDRS_KEPT: usize = 16;

/// Members each periodic sync round compares history with, per circle.
const SYNC_FANOUT: usize = 3;

/// Fisher–Yates with the OS's randomness (falls back to the given order).
pub(crate) fn shuffle<T>(items: &mut [T]) {
    for i in (1..items.len()).rev() {
        let Ok(r) = kindred_proto::random_bytes::<8>() else {
            return;
        };
        let j = (u64::from_le_bytes(r) % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

/// Gossip judged together at most (see the event loop).
const GOSSIP_BATCH: usize = 256;
/// Judged batches waiting for the writer; beyond this the event loop waits
/// (and with it the verdicts), so a node that cannot keep up slows its
/// peers down instead of piling messages up in memory.
const WRITER_QUEUE: usize = 4;
/// Batches smaller than this are written by the event loop itself when the
/// writer thread is idle.
const WRITE_HERE_BELOW: usize = 16;

/// How many [`Stored`] events a slow listener may fall behind by.
const STORED_EVENTS: usize = 16 * 1024;

/// A started node and the tasks that run it.
pub struct RunningNode {
    pub node: Node,
    pub api_addr: SocketAddr,
    web: Arc<crate::web::WebSessions>,
    shutdown: broadcast::Sender<()>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    net_task: tokio::task::JoinHandle<()>,
}

impl RunningNode {
    /// A one-time link that signs a browser in to this node's page (the
    /// previous link stops working).
    pub fn login_url(&self) -> String {
        format!(
            "http://127.0.0.1:{}/login?once={}",
            self.api_addr.port(),
            self.web.new_login()
        )
    }

    /// Stops serving, closes the network and flushes the store.
    pub async fn shutdown(self) -> Result<(), NodeError> {
        let _ = self.shutdown.send(());
        let _ = self.node.inner.net.send(Command::Shutdown).await;
        // All at once, within a bound: a task still waiting (a long poll, a
        // peer that does not answer) is stopped where it waits. Every write
        // is whole when it returns, and the flush below makes them durable,
        // so a stop takes about a second, not one timeout after another.
        let aborts: Vec<_> = self.tasks.iter().map(|t| t.abort_handle()).collect();
        let all = futures::future::join_all(self.tasks);
        if tokio::time::timeout(STOP_WAIT, all).await.is_err() {
            let left = aborts.iter().filter(|a| !a.is_finished()).count();
            tracing::info!("stopping {left} task(s) that were still waiting");
            aborts.iter().for_each(|a| a.abort());
        }
        let net = self.net_task.abort_handle();
        if tokio::time::timeout(STOP_WAIT, self.net_task)
            .await
            .is_err()
        {
            net.abort();
        }
        let dir = self.node.inner.store.data_dir().to_path_buf();
        let _ = std::fs::remove_file(crate::control::control_path(&dir));
        self.node.inner.store.flush().await?;
        Ok(())
    }
}

/// How long a stop waits for the node's tasks before stopping them.
const STOP_WAIT: Duration = Duration::from_secs(1);

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Node {
    /// Opens the data directory, starts the network and the control API.
    pub async fn start(config: NodeConfig) -> Result<RunningNode, NodeError> {
        let dir = DataDir::lock(&config.data_dir)?;
        let (secret, created) = kindred_store::load_or_create_identity(dir.path())?;
        if created {
            tracing::info!("created a new identity in {}", dir.path().display());
        }
        let store = Store::open(dir)?;
        let key = kindred_net::keypair_from_secret(secret.as_bytes())?;
        let patterns = NetConfig::new(config.listen.clone()).listen;
        let (listen, fallback) = crate::ports::apply(&store, &patterns);
        let mut net_config = NetConfig::new(listen);
        net_config.fallback = fallback;
        if let Some(m) = config.mdns {
            net_config.mdns = m;
        }
        if config.relay {
            net_config.relay = Some(kindred_net::RelayLimits::default());
        }
        let (net, events, net_task) = kindred_net::spawn(key, net_config)?;
        let (ui, _) = broadcast::channel(256);
        let (updates, _) = broadcast::channel(1024);
        let (stored, _) = broadcast::channel(STORED_EVENTS);
        let dm = crate::dm::DmService::new(&secret);
        let node = Node {
            inner: Arc::new(Inner {
                store,
                peer_id: net.peer_id(),
                net,
                secret,
                topics: Topics::default(),
                stats: Stats::default(),
                ui,
                updates,
                stored,
                syncing: Mutex::new(HashMap::new()),
                identified: Mutex::new(HashMap::new()),
                members: Default::default(),
                api_addr: Mutex::new(None),
                listen_patterns: patterns,
                dm,
                backoff: Default::default(),
                progress: Mutex::new(HashMap::new()),
                sync_answers: crate::limits::PeerRate::new(
                    crate::sync::ANSWERS_PER_WINDOW,
                    crate::sync::ANSWER_WINDOW,
                ),
                standins: crate::limits::PeerRate::new(
                    crate::sync::MAX_STANDINS_PER_PEER,
                    crate::sync::STANDIN_WINDOW,
                ),
            }),
        };
        for (_, rec) in node.inner.store.topics()? {
            let state = match TopicState::load(&node.inner.secret, &node.inner.store, &rec) {
                Ok(s) => node.inner.topics.insert(s),
                Err(e) => {
                    tracing::warn!("{e}");
                    continue;
                }
            };
            if !state.joining() {
                node.inner
                    .net
                    .subscribe(state.keys.gossip_topic.clone())
                    .await?;
            }
        }
        // Members met before: dial them now (the same backoff-tracked path
        // that keeps redialling them later).
        node.reconnect_due().await;
        node.bootstrap(&config.bootstrap).await?;

        let (shutdown, _) = broadcast::channel(1);
        let mut tasks = vec![
            node.start_dm(shutdown.subscribe())?,
            node.start_membership(shutdown.subscribe())?,
            node.start_join(shutdown.subscribe())?,
            node.start_ops(shutdown.subscribe())?,
            tokio::spawn(node.clone().event_loop(events)),
            tokio::spawn(
                node.clone()
                    .periodic(config.sync_interval, shutdown.subscribe()),
            ),
        ];
        let (api_addr, api_task, web) =
            crate::api::serve(node.clone(), config.api_port, shutdown.subscribe()).await?;
        *lock(&node.inner.api_addr) = Some(api_addr);
        tasks.push(api_task);
        Ok(RunningNode {
            node,
            api_addr,
            web,
            shutdown,
            tasks,
            net_task,
        })
    }

    pub fn peer_id(&self) -> PeerId {
        self.inner.peer_id
    }

    /// Messages from the network as they are stored (see [`Stored`]).
    pub fn stored_events(&self) -> broadcast::Receiver<Stored> {
        self.inner.stored.subscribe()
    }

    pub fn ui_events(&self) -> broadcast::Receiver<UiEvent> {
        self.inner.ui.subscribe()
    }

    pub(crate) fn store(&self) -> &Store {
        &self.inner.store
    }

    async fn event_loop(self, mut events: tokio::sync::mpsc::UnboundedReceiver<Event>) {
        let (queue, batches) = tokio::sync::mpsc::channel(WRITER_QUEUE);
        let to_writer = Writer {
            queue,
            busy: Arc::new(AtomicUsize::new(0)),
        };
        let writer = {
            let node = self.clone();
            let busy = Arc::clone(&to_writer.busy);
            tokio::task::spawn_blocking(move || node.write_batches(batches, &busy))
        };
        let mut gossip: Vec<GossipIn> = Vec::new();
        while let Some(first) = events.recv().await {
            // Gossip already waiting behind this event is judged together:
            // verification spreads over the cores and the swarm hears the
            // verdicts in one go. Other events keep their place in line.
            let mut next = Some(first);
            while let Some(event) = next.take() {
                match event {
                    Event::Gossip(g) => {
                        gossip.push(g);
                        if gossip.len() < GOSSIP_BATCH {
                            next = events.try_recv().ok();
                        }
                    }
                    other => {
                        self.judge_and_queue(&mut gossip, &to_writer).await;
                        if let Err(e) = self.on_event(other).await {
                            tracing::warn!("while handling a network event: {e}");
                        }
                    }
                }
            }
            self.judge_and_queue(&mut gossip, &to_writer).await;
        }
        drop(to_writer);
        let _ = writer.await;
    }

    /// Stores judged gossip. A burst goes to the writer thread, so the next
    /// batch is opened on the cores while this one is written; a small
    /// batch while the writer is idle is written here, as a hop to another
    /// thread would cost more than the write. Order is kept either way.
    async fn judge_and_queue(&self, gossip: &mut Vec<GossipIn>, writer: &Writer) {
        for batch in self.judge_gossip(std::mem::take(gossip)).await {
            if batch.1.len() < WRITE_HERE_BELOW && writer.busy.load(Ordering::Acquire) == 0 {
                self.write_batch(batch);
                continue;
            }
            writer.busy.fetch_add(1, Ordering::AcqRel);
            if let Err(mpsc::error::SendError(batch)) = writer.queue.send(batch).await {
                // Only if the writer died; storing here still keeps them.
                writer.busy.fetch_sub(1, Ordering::AcqRel);
                self.write_batch(batch);
            }
        }
    }

    /// The writer thread: stores judged gossip one batch at a time, in order.
    fn write_batches(&self, mut batches: mpsc::Receiver<ToStore>, busy: &AtomicUsize) {
        while let Some(batch) = batches.blocking_recv() {
            self.write_batch(batch);
            busy.fetch_sub(1, Ordering::AcqRel);
        }
    }

    fn write_batch(&self, (topic, batch): ToStore) {
        if let Err(e) = self.store_opened(&topic, batch) {
            tracing::error!("could not store messages: {e}");
        }
    }

    /// Verdicts first (so valid messages are forwarded at once), then the
    /// messages to store, one batch per topic in arrival order: forwarding
    /// needs only the signature and the decryption.
    async fn judge_gossip(&self, items: Vec<GossipIn>) -> Vec<ToStore> {
        if items.is_empty() {
            return Vec::new();
        }
        let topics: Vec<Option<Arc<TopicState>>> = items
            .iter()
            .map(|g| self.inner.topics.by_gossip_topic(&g.topic))
            .collect();
        let rings: Vec<Option<Arc<kindred_proto::topic::Keyring>>> = topics
            .iter()
            .map(|t| t.as_ref().map(|t| t.auth.ring()))
            .collect();
        let known: Vec<(&TopicKeys, &kindred_proto::topic::Keyring, &[u8])> = items
            .iter()
            .zip(&topics)
            .zip(&rings)
            .filter_map(|((g, t), r)| Some((&t.as_ref()?.keys, r.as_deref()?, g.data.as_slice())))
            .collect();
        let mut opened = crate::batch::open_all(&known).into_iter();
        let mut to_store: Vec<(Arc<TopicState>, Opened)> = Vec::new();
        for (g, t) in items.into_iter().zip(topics) {
            let acceptance = match t {
                None => MessageAcceptance::Ignore,
                Some(t) => match opened.next() {
                    None => MessageAcceptance::Ignore,
                    // A key this node does not hold (yet, or any more): not
                    // a member's fault; from anyone else it is junk.
                    Some(Err(kindred_proto::OpenError::UnknownEpoch(_)))
                        if self.inner.members.is_member(&g.source, &t.id()) =>
                    {
                        MessageAcceptance::Ignore
                    }
                    Some(Err(e)) => {
                        self.inner.stats.bump(&t.id(), |s| s.rejected += 1);
                        tracing::debug!(source = %g.source, "rejected a gossip message: {e}");
                        MessageAcceptance::Reject
                    }
                    Some(Ok(msg)) if !self.authorised(&t, &msg) => {
                        self.inner.stats.bump(&t.id(), |s| s.rejected += 1);
                        MessageAcceptance::Ignore
                    }
                    Some(Ok(msg)) => match self.inner.store.in_history(&t.id(), &msg.id) {
                        Ok(false) => {
                            let opened = Opened {
                                msg,
                                envelope: g.data,
                                from: Some(g.source),
                                arrived: g.received,
                            };
                            to_store.push((t, opened));
                            MessageAcceptance::Accept
                        }
                        Ok(true) => {
                            self.inner.stats.bump(&t.id(), |s| s.duplicates += 1);
                            MessageAcceptance::Ignore
                        }
                        Err(e) => {
                            tracing::error!("could not read the store: {e}");
                            MessageAcceptance::Ignore
                        }
                    },
                },
            };
            let verdict = Command::Validate {
                id: g.id,
                source: g.source,
                acceptance,
            };
            if self.inner.net.send(verdict).await.is_err() {
                break;
            }
        }
        // One group commit per topic, in arrival order within each.
        let mut batches: Vec<ToStore> = Vec::new();
        for (t, opened) in to_store {
            match batches.iter_mut().find(|(other, _)| Arc::ptr_eq(other, &t)) {
                Some((_, batch)) => batch.push(opened),
                None => batches.push((t, vec![opened])),
            }
        }
        batches
    }

    async fn on_event(&self, event: Event) -> Result<(), NodeError> {
        match event {
            Event::Listening { addr } => {
                tracing::info!(%addr, "listening");
                if crate::ports::remember(&self.inner.store, &self.inner.listen_patterns, &addr) {
                    self.inner.store.flush().await?;
                }
                let _ = self.inner.ui.send(UiEvent::Listening(addr));
            }
            Event::PeerConnected { peer, .. } => {
                tracing::info!(%peer, "peer connected");
                self.inner.backoff.connected(&peer);
                self.on_peer_connected_dm(peer);
                let _ = self.inner.ui.send(UiEvent::PeerJoined(peer));
            }
            Event::PeerDisconnected { peer } => {
                tracing::info!(%peer, "peer disconnected");
                lock(&self.inner.identified).remove(&peer);
                // Only members are redialled; anyone else is forgotten.
                if self.inner.members.forget(&peer) {
                    self.inner.backoff.disconnected(peer);
                }
                let _ = self.inner.ui.send(UiEvent::PeerLeft(peer));
            }
            Event::Identified { peer, listen_addrs } => {
                if self.inner.members.is_any_member(&peer) {
                    self.remember(&peer, &listen_addrs)?;
                }
                // Kept only while connected (pruned on disconnect), and the
                // connection limits bound how many that is.
                let listen_addrs = listen_addrs.into_iter().take(MAX_ADDRS_KEPT).collect();
                lock(&self.inner.identified).insert(peer, listen_addrs);
            }
            Event::PeerSubscribed { peer, topic } => {
                if let Some(t) = self.inner.topics.by_gossip_topic(&topic) {
                    self.check_member(peer, t.id());
                }
            }
            // Batched in the event loop; one arriving here is judged alone.
            Event::Gossip(g) => {
                for batch in self.judge_gossip(vec![g]).await {
                    self.write_batch(batch);
                }
            }
            Event::SyncRequest {
                peer,
                request,
                responder,
            } => {
                let node = self.clone();
                tokio::spawn(async move {
                    let response = node.answer_sync(peer, &request);
                    let _ = node
                        .inner
                        .net
                        .send(Command::Respond {
                            responder,
                            response,
                        })
                        .await;
                });
            }
        }
        Ok(())
    }

    /// Where a connected peer said it listens (identify).
    pub(crate) fn identified_addrs(&self, peer: &PeerId) -> Option<Vec<Multiaddr>> {
        lock(&self.inner.identified).get(peer).cloned()
    }

    pub(crate) fn remember(&self, peer: &PeerId, addrs: &[Multiaddr]) -> Result<(), NodeError> {
        let addrs: Vec<String> = invites::advertised(addrs.to_vec())
            .iter()
            .map(|a| a.to_string())
            .collect();
        if !addrs.is_empty() {
            self.inner
                .store
                .remember_peer(&peer.to_bytes(), &addrs, now_ms())?;
        }
        Ok(())
    }

    async fn periodic(self, every: Duration, mut shutdown: broadcast::Receiver<()>) {
        let mut tick = tokio::time::interval(every);
        let mut second = tokio::time::interval(Duration::from_secs(1));
        let mut redial = tokio::time::interval(crate::reconnect::TICK);
        let mut look = tokio::time::interval(crate::discovery::LOOK_EVERY);
        let mut announce = tokio::time::interval(crate::discovery::ANNOUNCE_EVERY);
        tick.tick().await;
        // Give bootstrap connections a moment before the first lookups.
        look.reset_after(Duration::from_millis(500));
        announce.reset_after(Duration::from_millis(500));
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = announce.tick() => {
                    self.discover(true, true).await;
                    continue;
                }
                _ = look.tick() => {
                    self.discover(false, false).await;
                    continue;
                }
                _ = second.tick() => {
                    self.retry_due();
                    self.rekey_duties().await;
                    continue;
                }
                _ = redial.tick() => {
                    self.reconnect_due().await;
                    continue;
                }
                _ = shutdown.recv() => break,
            }
            self.retry_joins().await;
            self.note_in_touch();
            // Anti-entropy with a few members picked at random each round,
            // not all of them: gossip carries the live traffic, and in a big
            // circle syncing with everyone every round costs more than all
            // the posts (60 members: ~240 syncs a second).
            for t in self.inner.topics.all() {
                let mut peers = self.inner.members.of(&t.id());
                shuffle(&mut peers);
                for p in peers.into_iter().take(SYNC_FANOUT) {
                    self.spawn_sync(p, t.id());
                }
            }
        }
    }

    /// Whether an opened message may enter history: an authority op is
    /// taken in (whatever it says, the rules judge it); anything else needs
    /// an author allowed to speak in its epoch (spec/authority.md §5).
    pub(crate) fn authorised(&self, t: &TopicState, msg: &kindred_proto::OpenedMessage) -> bool {
        if msg.content.kind == kindred_proto::Kind::Authority {
            return match self.op_from_message(t, &msg.author, &msg.data) {
                Ok(()) => true,
                Err(e) => {
                    tracing::debug!("refused a circle action: {e}");
                    false
                }
            };
        }
        t.auth.may_post(&msg.author, &msg.epoch)
    }

    /// Stores messages of one topic already opened (decrypted and
    /// verified), in one group commit. Returns, per message, whether it was
    /// new to this node.
    pub(crate) fn store_opened(
        &self,
        topic: &TopicState,
        batch: Vec<Opened>,
    ) -> Result<Vec<bool>, kindred_store::StoreError> {
        let tid = topic.id();
        let stats = &self.inner.stats;
        let now = now_ms();
        let records = batch
            .iter()
            .map(|o| MessageRecord::from_opened(&o.msg, &o.envelope, now))
            .collect();
        let results = self.inner.store.insert_many(&tid, records)?;
        let stored_at = std::time::Instant::now();
        let mut new = Vec::with_capacity(results.len());
        let mut placed_any = false;
        for (o, inserted) in batch.into_iter().zip(results) {
            new.push(!inserted.duplicate);
            if inserted.duplicate {
                stats.bump(&tid, |s| s.duplicates += 1);
                continue;
            }
            if inserted.wrong_depth {
                stats.bump(&tid, |s| s.rejected += 1);
                continue;
            }
            stats.bump(&tid, |s| s.accepted += 1);
            placed_any |= !inserted.stored.is_empty();
            if self.inner.stored.receiver_count() > 0 {
                let _ = self.inner.stored.send(Stored {
                    topic: tid,
                    id: o.msg.id,
                    arrived: o.arrived,
                    stored: stored_at,
                });
            }
            if let (false, Some(peer)) = (inserted.missing.is_empty(), o.from) {
                self.ask_for_parents_later(peer, tid, inserted.missing);
            }
        }
        if placed_any {
            let _ = self.inner.updates.send(tid);
        }
        Ok(new)
    }

    /// In a busy circle a reply often overtakes its parent on another path
    /// through the mesh; the parent is usually a few milliseconds behind.
    /// Ask the sender only if it is still missing after a grace period,
    /// instead of a sync for every overtake.
    fn ask_for_parents_later(&self, peer: PeerId, tid: TopicId, missing: Vec<MessageId>) {
        let node = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(PARENT_GRACE).await;
            let store = &node.inner.store;
            if missing
                .iter()
                .any(|m| !store.contains(&tid, m).unwrap_or(true))
            {
                node.spawn_sync(peer, tid);
            }
        });
    }
}

/// Judged gossip of one topic, on its way to the writer.
type ToStore = (Arc<TopicState>, Vec<Opened>);

/// The way to the writer thread, and how many batches it has not written.
struct Writer {
    queue: mpsc::Sender<ToStore>,
    busy: Arc<AtomicUsize>,
}

#[derive(Debug)]
/// A message opened (decrypted and verified) and ready to store.
pub(crate) struct Opened {
    pub msg: OpenedMessage,
    pub envelope: Vec<u8>,
    /// Who sent it by gossip (`None`: a sync page), to ask for missing
    /// parents.
    pub from: Option<PeerId>,
    /// When the swarm task handed it over.
    pub arrived: std::time::Instant,
}
