//! Invite text pasted by anyone.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = kindred_proto::Invite::parse(s, 0);
    }
});
