//! The composed `NetworkBehaviour` and its protocol settings.

use std::time::Duration;

use libp2p::swarm::{behaviour::toggle::Toggle, NetworkBehaviour};
use libp2p::{
    autonat, connection_limits, dcutr, gossipsub, identify, identity::Keypair, kad, mdns, ping,
    relay, request_response, StreamProtocol,
};

use crate::codec::CappedBytes;
use crate::{NetConfig, NetError};

/// Gossip frames carry one envelope plus protobuf framing and the topic string.
const MAX_GOSSIP_FRAME: usize = kindred_proto::MAX_ENVELOPE_BYTES + 4 * 1024;

#[derive(NetworkBehaviour)]
pub struct Behaviour {
    /// First, so a flood of dialers is refused before other protocols see it.
    pub limits: connection_limits::Behaviour,
    pub gossipsub: gossipsub::Behaviour,
    pub sync: request_response::Behaviour<CappedBytes>,
    pub identify: identify::Behaviour,
    pub ping: ping::Behaviour,
    pub mdns: Toggle<mdns::tokio::Behaviour>,
    /// Raw streams for protocols that run their own framing (private messages).
    pub streams: libp2p_stream::Behaviour,
    /// Kindred's own DHT (not the IPFS one): members find each other through
    /// rendezvous records only members can compute.
    pub kad: kad::Behaviour<kad::store::MemoryStore>,
    /// Reaching and being reached through relays (circuit relay v2).
    pub relay_client: relay::client::Behaviour,
    /// Serving as a relay for others, when asked to (`kindred up --relay`).
    pub relay_server: Toggle<relay::Behaviour>,
    /// Upgrading relayed connections to direct ones by hole punching.
    pub dcutr: dcutr::Behaviour,
    /// Asking peers to dial us back, to learn whether we can be reached
    /// from outside (and answering their asks).
    pub autonat: autonat::Behaviour,
}

/// What a node serving as a relay allows. Defaults suit a home machine or a
/// small server lending a hand to a few circles.
#[derive(Clone, Copy, Debug)]
pub struct RelayLimits {
    /// Peers holding a reservation at once. Default 128.
    pub reservations: usize,
    /// Reservations one peer may hold. Default 4.
    pub reservations_per_peer: usize,
    /// Relayed connections at once. Default 64.
    pub circuits: usize,
    /// Relayed connections per peer. Default 8.
    pub circuits_per_peer: usize,
    /// How long one relayed connection may last. Default 10 min (libp2p: 2).
    pub circuit_duration: Duration,
    /// Bytes one relayed connection may carry. Default 16 MiB (libp2p: 128 KiB,
    /// too little for a circle's history sync).
    pub circuit_bytes: u64,
}

impl Default for RelayLimits {
    fn default() -> Self {
        RelayLimits {
            reservations: 128,
            reservations_per_peer: 4,
            circuits: 64,
            circuits_per_peer: 8,
            circuit_duration: Duration::from_secs(10 * 60),
            circuit_bytes: 16 * 1024 * 1024,
        }
    }
}

/// AutoNAT as Kindred runs it: a first probe soon after start and retries
/// every 20 s until peers agree, instead of libp2p's 15 s and 90 s, so a
/// laptop behind a firewall finds out (and reserves a relay slot) quickly.
///
/// `only_global_ips` is off: the verdict on an address is ours to make
/// ([`crate::is_public`]), so a peer on the same LAN confirming a private
/// address does not count as reachable from outside, while test networks in
/// reserved ranges still work.
pub fn autonat_config() -> autonat::Config {
    autonat::Config {
        boot_delay: Duration::from_secs(2),
        retry_interval: Duration::from_secs(20),
        refresh_interval: Duration::from_secs(15 * 60),
        throttle_server_period: Duration::from_secs(30),
        timeout: Duration::from_secs(20),
        only_global_ips: false,
        ..Default::default()
    }
}

/// The DHT's protocol name, distinct from IPFS's so the two never mix.
pub const KAD_PROTOCOL: &str = "/kindred/kad/1";

/// Gossipsub as Kindred runs it (spec/protocol.md, "Gossipsub settings").
pub fn gossipsub_config() -> Result<gossipsub::Config, NetError> {
    gossipsub::ConfigBuilder::default()
        // No author, seqno or signature in frames: they would tie a device to a circle.
        .validation_mode(gossipsub::ValidationMode::Anonymous)
        // Ids are content hashes, so the same envelope is the same message everywhere.
        .message_id_fn(|m: &gossipsub::Message| {
            gossipsub::MessageId::from(kindred_proto::envelope::message_id(&m.data).0.to_vec())
        })
        // The node decrypts and verifies before anything is forwarded.
        .validate_messages()
        .max_transmit_size(MAX_GOSSIP_FRAME)
        // Meshes form sooner after a join than with the 5 s default.
        .heartbeat_initial_delay(Duration::from_millis(500))
        // At most this many ids in one IHAVE or IWANT. A receiver refuses a
        // control part over 16 KiB and drops its inbound stream, after which
        // nothing that peer publishes reaches us on that connection; the
        // default (5000 ids of 34 bytes) overshoots it after a burst of a
        // few hundred posts (found by the page benchmark).
        .max_control_messages_sent(MAX_GOSSIP_IDS)
        .build()
        .map_err(|e| NetError::Config(e.to_string()))
}

/// Ids per IHAVE/IWANT: 256 × 34 bytes stays under gossipsub's 16 KiB
/// control limit with room to spare.
pub const MAX_GOSSIP_IDS: usize = 256;

/// The application score (P5) of a connected peer that has not proven
/// membership of any circle we share: with gossipsub's default weight (10)
/// and thresholds it puts the peer at −60, below the publish (−50) and
/// gossip (−10) thresholds and below zero, so we never publish, forward or
/// gossip to it and never take it into a mesh; above the graylist (−80),
/// so its subscriptions are still heard and can be challenged.
pub const UNPROVEN_SCORE: f64 = -6.0;

/// Scoring that punishes peers who forward messages we reject (P4) and
/// nothing else: the mesh-delivery terms misfire in small circles, many
/// honest members share one IP (a household's NAT, or one laptop in tests),
/// and a member whose laptop falls behind a burst is slow, not hostile (the
/// slow-peer penalty would stop gossip to it, leaving it to sync; its send
/// queue is capped either way).
pub fn peer_score() -> (gossipsub::PeerScoreParams, gossipsub::PeerScoreThresholds) {
    let params = gossipsub::PeerScoreParams {
        ip_colocation_factor_weight: 0.0,
        slow_peer_weight: 0.0,
        ..Default::default()
    };
    (params, gossipsub::PeerScoreThresholds::default())
}

/// Per-topic scoring: only invalid deliveries count.
pub fn topic_score() -> gossipsub::TopicScoreParams {
    gossipsub::TopicScoreParams {
        topic_weight: 1.0,
        time_in_mesh_weight: 0.0,
        first_message_deliveries_weight: 0.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        invalid_message_deliveries_weight: -10.0,
        invalid_message_deliveries_decay: 0.5,
        ..Default::default()
    }
}

impl Behaviour {
    pub fn new(
        key: &Keypair,
        config: &NetConfig,
        relay_client: relay::client::Behaviour,
    ) -> Result<Self, NetError> {
        let mut gossipsub = gossipsub::Behaviour::new(
            gossipsub::MessageAuthenticity::Anonymous,
            gossipsub_config()?,
        )
        .map_err(|e| NetError::Config(e.to_string()))?;
        let (params, thresholds) = peer_score();
        gossipsub
            .with_peer_score(params, thresholds)
            .map_err(NetError::Config)?;
        let sync = request_response::Behaviour::with_codec(
            CappedBytes {
                max_request: kindred_proto::sync::MAX_REQUEST_BYTES,
                max_response: kindred_proto::sync::MAX_RESPONSE_BYTES,
            },
            [(
                StreamProtocol::new(kindred_proto::sync::PROTOCOL),
                request_response::ProtocolSupport::Full,
            )],
            request_response::Config::default().with_request_timeout(config.request_timeout),
        );
        // Peers hear of new listen addresses (a relay slot just reserved), so
        // their DHT routing tables carry the relayed path to a node behind NAT.
        let identify = identify::Behaviour::new(
            identify::Config::new("/kindred/1".into(), key.public())
                .with_push_listen_addr_updates(true),
        );
        let mdns = if config.mdns {
            Some(
                mdns::tokio::Behaviour::new(mdns::Config::default(), key.public().to_peer_id())
                    .map_err(|e| NetError::Config(format!("mDNS: {e}")))?,
            )
        } else {
            None
        };
        let limits = connection_limits::ConnectionLimits::default()
            .with_max_pending_incoming(Some(config.limits.pending_incoming))
            .with_max_established_incoming(Some(config.limits.established_incoming))
            .with_max_established(Some(config.limits.established))
            .with_max_established_per_peer(Some(config.limits.per_peer));
        let peer_id = key.public().to_peer_id();
        let mut kad = kad::Behaviour::with_config(
            peer_id,
            kad::store::MemoryStore::new(peer_id),
            kad::Config::new(StreamProtocol::new(KAD_PROTOCOL)),
        );
        // Every node serves the DHT, also behind NAT or on loopback where
        // AutoNAT would never confirm an external address.
        kad.set_mode(Some(kad::Mode::Server));
        let relay_server = config.relay.map(|l| {
            let mut server = relay::Behaviour::new(
                peer_id,
                relay::Config {
                    max_reservations: l.reservations,
                    max_reservations_per_peer: l.reservations_per_peer,
                    max_circuits: l.circuits,
                    max_circuits_per_peer: l.circuits_per_peer,
                    max_circuit_duration: l.circuit_duration,
                    max_circuit_bytes: l.circuit_bytes,
                    // libp2p's per-peer and per-IP rate limits stay.
                    ..Default::default()
                },
            );
            // libp2p offers relaying only once AutoNAT has confirmed an
            // external address; `--relay` is the operator saying the node is
            // reachable, so offer it from the start.
            server.set_status(Some(relay::Status::Enable));
            server
        });
        Ok(Behaviour {
            relay_client,
            relay_server: relay_server.into(),
            dcutr: dcutr::Behaviour::new(peer_id),
            autonat: autonat::Behaviour::new(peer_id, autonat_config()),
            kad,
            limits: connection_limits::Behaviour::new(limits),
            gossipsub,
            sync,
            identify,
            // Dead links (a laptop asleep, Wi-Fi gone, a silent partition)
            // are noticed within ~15 s; the swarm task closes them.
            ping: ping::Behaviour::new(
                ping::Config::new()
                    .with_interval(Duration::from_secs(5))
                    .with_timeout(Duration::from_secs(10)),
            ),
            mdns: mdns.into(),
            streams: libp2p_stream::Behaviour::new(),
        })
    }
}
