//! Membership challenges and answers from any peer.
#![no_main]
use kindred_proto::membership::{self, Answer, Challenge};
use kindred_proto::{TopicKeys, TopicSecret};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Challenge::decode(data);
    if let Ok(a) = Answer::decode(data) {
        let keys = TopicKeys::derive(&TopicSecret::from_bytes([3; 32]));
        // Random bytes never prove membership (2^-256).
        assert!(!membership::verify(&keys, b"c", b"p", &[0; 32], &a));
    }
});
