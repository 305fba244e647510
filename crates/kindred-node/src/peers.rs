//! Naming peers for private messages: PeerIds, identities, handles.

use kindred_net::PeerId;
use kindred_proto::PublicKey;

/// The ed25519 identity inside a PeerId, if it is an ed25519 PeerId.
pub fn identity_of(peer: &PeerId) -> Option<PublicKey> {
    let mh = peer.as_ref();
    if mh.code() != 0 {
        return None;
    }
    let key = libp2p::identity::PublicKey::try_decode_protobuf(mh.digest()).ok()?;
    let ed = key.try_into_ed25519().ok()?;
    Some(PublicKey(ed.to_bytes()))
}

/// The PeerId of an ed25519 identity.
pub fn peer_of(identity: &PublicKey) -> Option<PeerId> {
    let ed = libp2p::identity::ed25519::PublicKey::try_from_bytes(identity.as_bytes()).ok()?;
    Some(libp2p::identity::PublicKey::from(ed).to_peer_id())
}

/// How the CLI names a member of a circle: `~` and the start of their pseudonym.
pub fn handle(pseudonym: &PublicKey) -> String {
    format!("~{}", &pseudonym.to_hex()[..8])
}
