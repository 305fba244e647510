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
