//! Shared by the fuzz targets: an established Noise session pair, in memory.
#![allow(dead_code)]
use kindred_proto::noise::{Binding, Handshake, Session, SessionLimits, StaticKeypair};
use kindred_proto::NodeSecret;

pub fn keys(seed: u8) -> (NodeSecret, StaticKeypair, Binding) {
    let node = NodeSecret::from_bytes([seed; 32]);
    let key = StaticKeypair::derive(&node);
    let binding = Binding::create(&node, &key.public);
    (node, key, binding)
}

/// An initiator and a responder after a full XX handshake.
pub fn pair() -> (Session, Session) {
    let (a, ak, ab) = keys(1);
    let (b, bk, bb) = keys(2);
    let mut i = Handshake::initiator(&ak, &ab, b.public_key()).expect("initiator");
    let mut r = Handshake::responder(&bk, &bb, a.public_key()).expect("responder");
    while !(i.is_finished() && r.is_finished()) {
        if i.is_my_turn() {
            let m = i.write().expect("write");
            r.read(&m).expect("read");
        } else {
            let m = r.write().expect("write");
            i.read(&m).expect("read");
        }
    }
    (
        i.into_session(SessionLimits::default()).expect("session"),
        r.into_session(SessionLimits::default()).expect("session"),
    )
}

/// A circle's keys and one epoch of it, for targets that seal and open.
pub fn circle_keys(seed: u8) -> (kindred_proto::TopicKeys, kindred_proto::topic::EpochKeys, kindred_proto::topic::Keyring) {
    let keys = kindred_proto::TopicKeys::derive(&kindred_proto::TopicSecret::from_bytes([seed; 32]));
    let epoch = kindred_proto::topic::EpochKeys::derive(
        &keys.id,
        &kindred_proto::authority::EpochSecret::from_bytes([seed ^ 0x55; 32]),
    );
    let ring = kindred_proto::topic::Keyring::single(epoch.clone());
    (keys, epoch, ring)
}
