//! Turning this node's addresses into an invite, and an invite's peers
//! into dialable addresses.

use kindred_net::{Multiaddr, PeerId};
use kindred_proto::invite::{InvitePeer, MAX_ADDRS_PER_PEER};
use libp2p::multiaddr::Protocol;

/// Addresses worth putting in an invite: no unspecified (0.0.0.0) ones,
/// non-loopback first (they work across machines), at most the invite's limit.
pub fn advertised(mut addrs: Vec<Multiaddr>) -> Vec<Multiaddr> {
    addrs.retain(|a| {
        !a.iter().any(|p| match p {
            Protocol::Ip4(ip) => ip.is_unspecified(),
            Protocol::Ip6(ip) => ip.is_unspecified(),
            _ => false,
        })
    });
    addrs.sort_by_key(|a| (kindred_net::is_loopback(a), a.to_string()));
    addrs.dedup();
    addrs.truncate(MAX_ADDRS_PER_PEER);
    addrs
}

pub fn invite_peer(peer: PeerId, addrs: &[Multiaddr]) -> InvitePeer {
    InvitePeer {
        peer_id: serde_bytes::ByteBuf::from(peer.to_bytes()),
        addrs: addrs.iter().map(|a| a.to_string()).collect(),
    }
}

/// The peers named in an invite, with the addresses that parse.
pub fn peers_of(peers: &[InvitePeer]) -> Vec<(PeerId, Vec<Multiaddr>)> {
    peers
        .iter()
        .filter_map(|p| {
            let peer = PeerId::from_bytes(&p.peer_id).ok()?;
            let addrs = p
                .addrs
                .iter()
                .filter_map(|a| a.parse::<Multiaddr>().ok())
                .map(|a| without_p2p(&a))
                .collect();
            Some((peer, addrs))
        })
        .collect()
}

/// The address without a trailing `/p2p/<target>`; a relay's `/p2p/<relay>`
/// before `/p2p-circuit` stays.
fn without_p2p(addr: &Multiaddr) -> Multiaddr {
    let mut a = addr.clone();
    if matches!(a.iter().last(), Some(Protocol::P2p(_))) {
        a.pop();
    }
    a
}
