//! Stateful: a responder's handshake and session fed by a peer that mixes
//! honest messages with arbitrary ones, then a sync exchange with a real
//! store whose requests and answers come from the same input.
#![no_main]
use std::sync::OnceLock;

use kindred_fuzz_support::keys;
use kindred_proto::noise::{Handshake, SessionLimits};
use kindred_proto::sync::{ids_from_wire, SyncRequest, SyncResponse};
use kindred_proto::topic::Keyring;
use kindred_proto::{envelope, Kind, MessageContent, MessageId, Pseudonym, TopicKeys};
use kindred_store::{DataDir, MessageRecord, Store};
use libfuzzer_sys::fuzz_target;

#[path = "../support.rs"]
mod kindred_fuzz_support;

type Fixture = (Store, TopicKeys, Keyring, tempfile::TempDir);

fn store() -> &'static Fixture {
    static S: OnceLock<Fixture> = OnceLock::new();
    S.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(DataDir::lock(dir.path()).expect("lock")).expect("store");
        let (keys, epoch, ring) = kindred_fuzz_support::circle_keys(5);
        let author = Pseudonym::from_seed([6; 32]);
        let mut parents: Vec<MessageId> = vec![];
        for i in 0..20 {
            let content = MessageContent {
                kind: Kind::Post,
                body: format!("m{i}"),
                parents: parents.clone(),
                timestamp: i,
                depth: i,
            };
            let (id, env) = envelope::seal(&keys, &epoch, &author, &content).expect("seal");
            let opened = envelope::open(&keys, &ring, &env).expect("open");
            store
                .insert(&keys.id, MessageRecord::from_opened(&opened, &env, 0))
                .expect("insert");
            parents = vec![id];
        }
        (store, keys, ring, dir)
    })
}

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|b| *b == 0xff);
    // A handshake: our responder against an initiator whose every message
    // the input may replace.
    let (a, ak, ab) = keys(1);
    let (b, bk, bb) = keys(2);
    let mut honest = Handshake::initiator(&ak, &ab, b.public_key()).expect("initiator");
    let mut ours = Handshake::responder(&bk, &bb, a.public_key()).expect("responder");
    let mut broken = false;
    while !ours.is_finished() && !broken {
        if ours.is_my_turn() {
            let m = ours.write().expect("write");
            broken = honest.read(&m).is_err();
        } else {
            let m = match parts.next() {
                Some(p) if !p.is_empty() => p.to_vec(),
                _ => honest.write().expect("write"),
            };
            broken = ours.read(&m).is_err();
        }
    }
    if !broken && ours.is_finished() {
        if let Ok(mut session) = ours.into_session(SessionLimits::default()) {
            for p in parts.by_ref().take(8) {
                let _ = session.open_frame(p);
            }
        }
    }
    // Sync: whatever decodes is served from a real store, and the page
    // it gives is a valid response.
    let (store, keys, ring, _) = store();
    for p in parts {
        if let Ok(SyncRequest::Fetch { want, have, .. }) = SyncRequest::decode(p) {
            let page = store
                .sync_page(&keys.id, &ids_from_wire(&want), &ids_from_wire(&have), 512, 2 << 20)
                .expect("sync page");
            for env in page {
                assert!(envelope::open(keys, ring, &env).is_ok());
            }
        }
        if let Ok(SyncResponse::Messages { envelopes }) = SyncResponse::decode(p) {
            for e in envelopes.iter() {
                let _ = envelope::open(keys, ring, e);
            }
        }
    }
});
