//! A gossip envelope from anyone: opening it never panics, and whatever
//! opens re-seals to the same id (one message, one envelope).
#![no_main]
use kindred_proto::envelope;
use libfuzzer_sys::fuzz_target;

#[path = "../support.rs"]
mod kindred_fuzz_support;

fuzz_target!(|data: &[u8]| {
    let (keys, _, ring) = kindred_fuzz_support::circle_keys(7);
    if let Ok(m) = envelope::open(&keys, &ring, data) {
        assert_eq!(m.id, envelope::message_id(data));
    }
});
