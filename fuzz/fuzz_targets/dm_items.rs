//! What a private-message session carries: items, messages, and sealed
//! (offline) messages opened with our static key.
#![no_main]
use kindred_proto::dm::{DmMessage, Item};
use kindred_proto::noise::{self, StaticKeypair};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Item::decode(data);
    let _ = DmMessage::decode(data);
    let key = StaticKeypair::from_secret([9; 32]);
    let _ = noise::open_sealed(&key, data);
});
