//! Sync requests and responses from any peer; what decodes re-encodes to
//! something that decodes to the same value, within the element caps.
#![no_main]
use kindred_proto::sync::{SyncRequest, SyncResponse, MAX_IDS, MAX_PAGE_MESSAGES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = SyncRequest::decode(data) {
        assert_eq!(SyncRequest::decode(&r.encode()).ok(), Some(r.clone()));
        if let SyncRequest::Fetch { want, have, .. } = &r {
            assert!(want.len() <= MAX_IDS && have.len() <= MAX_IDS);
        }
    }
    if let Ok(r) = SyncResponse::decode(data) {
        match &r {
            SyncResponse::Heads { heads } => assert!(heads.len() <= MAX_IDS),
            SyncResponse::Messages { envelopes } => assert!(envelopes.len() <= MAX_PAGE_MESSAGES),
            _ => {}
        }
    }
});
