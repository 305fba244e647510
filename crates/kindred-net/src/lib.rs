//! Kindred's libp2p layer: one task owns the `Swarm`; the rest of the node
//! talks to it with [`Command`]s (each carrying its reply channel) and
//! listens to its [`Event`]s.
//!
//! This crate knows nothing about topics' secrets or message contents: it
//! moves bytes, and asks the node to judge every gossip message before it
//! is forwarded.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod behaviour;
mod codec;
mod swarm_task;
mod wire;

pub use behaviour::{
    autonat_config, gossipsub_config, peer_score, topic_score, Behaviour, RelayLimits,
    UNPROVEN_SCORE,
};
pub use libp2p::gossipsub::MessageAcceptance;
pub use libp2p::Stream;
pub use libp2p::{identity::Keypair, Multiaddr, PeerId, StreamProtocol};
pub use libp2p_stream::{Control as StreamControl, IncomingStreams, OpenStreamError};
pub use swarm_task::{
    keypair_from_secret, spawn, Command, Event, GossipIn, NetHandle, PeerInfo, PublishOutcome,
    SyncResponder,
};
pub use wire::{tcp_bytes, tcp_transport, TCP_DIAL_TIMEOUT};

use std::time::Duration;

/// How to run the network layer.
#[derive(Clone, Debug)]
pub struct NetConfig {
    /// Addresses to listen on. Default: TCP and QUIC on all interfaces, ports
    /// chosen by the OS.
    pub listen: Vec<Multiaddr>,
    /// Local network discovery. Default: on only when some listen address is
    /// not loopback, so nodes bound to 127.0.0.1 never multicast onto a LAN.
    pub mdns: bool,
    /// How long a connection no protocol uses stays open. Default: 60 s.
    pub idle_timeout: Duration,
    /// How long a sync request may take before it fails. Default: 30 s.
    pub request_timeout: Duration,
    /// Caps on connections, so a flood of dialers cannot exhaust the node.
    pub limits: Limits,
    /// Serve as a relay for others, with these limits. Default: off.
    pub relay: Option<RelayLimits>,
    /// For a listen address that may be taken (a port remembered from an
    /// earlier run), the address to use instead. Default: none.
    pub fallback: Vec<(Multiaddr, Multiaddr)>,
}

impl NetConfig {
    /// Listens on the given addresses, or the defaults when empty, with mDNS
    /// decided by them.
    pub fn new(listen: Vec<Multiaddr>) -> Self {
        let listen = if listen.is_empty() {
            default_listen()
        } else {
            listen
        };
        let mdns = listen.iter().any(|a| !is_loopback(a));
        NetConfig {
            listen,
            mdns,
            idle_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(30),
            fallback: Vec::new(),
            limits: Limits::default(),
            relay: None,
        }
    }
}

/// Connection caps. Defaults suit a laptop in a handful of circles.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Incoming connections still handshaking. Default 32.
    pub pending_incoming: u32,
    /// Established incoming connections. Default 128.
    pub established_incoming: u32,
    /// Established connections in all. Default 256.
    pub established: u32,
    /// Established connections to one peer. Default 3: two when both dial
    /// at once, and one while AutoNAT dials the peer back.
    pub per_peer: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            pending_incoming: 32,
            established_incoming: 128,
            established: 256,
            per_peer: 3,
        }
    }
}

/// TCP and QUIC on all IPv4 interfaces, OS-chosen ports.
pub fn default_listen() -> Vec<Multiaddr> {
    ["/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1"]
        .iter()
        .filter_map(|a| a.parse().ok())
        .collect()
}

/// Whether an address stays on this machine.
pub fn is_loopback(addr: &Multiaddr) -> bool {
    use libp2p::multiaddr::Protocol;
    addr.iter().any(|p| match p {
        Protocol::Ip4(ip) => ip.is_loopback(),
        Protocol::Ip6(ip) => ip.is_loopback(),
        _ => false,
    })
}

/// Whether an address can be reached from the internet at large, as far as
/// its IP says (private, CGNAT, link-local and loopback ranges cannot).
pub fn is_public(addr: &Multiaddr) -> bool {
    use libp2p::multiaddr::Protocol;
    addr.iter().any(|p| match p {
        Protocol::Ip4(ip) => {
            let o = ip.octets();
            !(ip.is_private()
                || ip.is_loopback()
                || ip.is_link_local()
                || ip.is_unspecified()
                || (o[0] == 100 && (64..128).contains(&o[1])))
        }
        Protocol::Ip6(ip) => {
            !(ip.is_loopback() || ip.is_unspecified() || (ip.segments()[0] & 0xfe00) == 0xfc00)
        }
        _ => false,
    }) && !addr.iter().any(|p| matches!(p, Protocol::P2pCircuit))
}

/// Whether others can reach this node directly, from outside its network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reachability {
    /// AutoNAT confirmed an address that is public.
    Public,
    /// Behind NAT or a firewall: reachable through relays only (or from the
    /// same LAN).
    Private,
    /// Not known yet: the node has a public-looking address that no peer
    /// has tried to dial back.
    Unknown,
}

impl Reachability {
    pub fn as_str(&self) -> &'static str {
        match self {
            Reachability::Public => "public",
            Reachability::Private => "private",
            Reachability::Unknown => "unknown",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("cannot listen on {addr}: {detail}")]
    Listen { addr: Multiaddr, detail: String },
    #[error("invalid network configuration: {0}")]
    Config(String),
    #[error("cannot dial {target}: {detail}")]
    Dial { target: String, detail: String },
    #[error("cannot publish: {0}")]
    Publish(String),
    #[error("sync request to {peer} failed: {detail}")]
    Request { peer: PeerId, detail: String },
    #[error("the network task has stopped")]
    Stopped,
}
