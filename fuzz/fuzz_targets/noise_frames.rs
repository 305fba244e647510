//! Transport frames on an established session: a frame that fails to
//! authenticate changes nothing (a real frame after it still opens).
#![no_main]
use kindred_fuzz_support::pair;
use kindred_proto::noise::Frame;
use libfuzzer_sys::fuzz_target;

#[path = "../support.rs"]
mod kindred_fuzz_support;

fuzz_target!(|data: &[u8]| {
    let (mut alice, mut bob) = pair();
    let junk = bob.open_frame(data);
    let real = alice.seal_frame(&Frame::Rekey).expect("seal");
    if junk.is_err() {
        // Nothing the junk did may stop the real frame from opening.
        for m in real {
            assert!(bob.open_frame(&m).is_ok());
        }
    }
});
