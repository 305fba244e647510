//! Bytes where the store expects one of its records (a damaged disk).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kindred_store::decode_any_record(data);
});
