//! A gossip envelope from anyone: opening it never panics, and whatever
//! opens re-seals to the same id (one message, one envelope).
#![no_main]
use kindred_proto::{envelope, TopicKeys, TopicSecret};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let keys = TopicKeys::derive(&TopicSecret::from_bytes([7; 32]));
    if let Ok(m) = envelope::open(&keys, data) {
        assert_eq!(m.id, envelope::message_id(data));
    }
});
