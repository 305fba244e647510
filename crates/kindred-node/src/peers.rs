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

/// Hex digits of a pseudonym in a handle: 48 bits, so making a key whose
/// handle matches someone else's takes about 2^48 key generations.
pub const HANDLE_HEX: usize = 12;

/// How people name a member of a circle: `~` and the start of their pseudonym.
pub fn handle(pseudonym: &PublicKey) -> String {
    format!("~{}", &pseudonym.to_hex()[..HANDLE_HEX])
}
