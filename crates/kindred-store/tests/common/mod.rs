//! Messages for store tests: real sealed envelopes, opened as a node would.
// Each test file uses its own share of these.
#![allow(dead_code)]

use kindred_proto::envelope::{open, seal};
use kindred_proto::{Kind, MessageContent, MessageId, Pseudonym, TopicKeys};
use kindred_store::MessageRecord;

/// Message number `i`: by one of three authors, every fifth a profile.
pub fn msg(keys: &TopicKeys, i: usize, parents: Vec<MessageId>) -> MessageRecord {
    let author = Pseudonym::from_seed([(i % 3) as u8 + 1; 32]);
    let content = MessageContent {
        kind: if i % 5 == 4 {
            Kind::Profile
        } else {
            Kind::Post
        },
        body: format!("m{i}"),
        parents,
        timestamp: i as u64,
        depth: 0,
    };
    sealed(keys, &author, &content, 0)
}

/// A history shaped by `shape`: message `i` has up to `n` parents among the
/// earlier ones, picked by `a` and `b`.
pub fn dag<P: Copy + Into<u64>>(keys: &TopicKeys, shape: &[(P, P, u8)]) -> Vec<MessageRecord> {
    let mut all: Vec<MessageRecord> = Vec::new();
    for (i, (a, b, n)) in shape.iter().enumerate() {
        let mut ps: Vec<MessageId> = Vec::new();
        if i > 0 {
            for pick in [*a, *b].into_iter().take(*n as usize) {
                let id = all[(pick.into() % i as u64) as usize].id();
                if !ps.contains(&id) {
                    ps.push(id);
                }
            }
        }
        all.push(msg(keys, i, ps));
    }
    all
}

/// The test circle's one epoch: what every store test seals under.
pub fn epoch(keys: &TopicKeys) -> kindred_proto::topic::EpochKeys {
    kindred_proto::topic::EpochKeys::derive(
        &keys.id,
        &kindred_proto::authority::EpochSecret::from_bytes([1; 32]),
    )
}

thread_local! {
    /// The depth of every message this test sealed, so a message carries
    /// the depth an honest author would give it.
    static DEPTHS: std::cell::RefCell<std::collections::HashMap<MessageId, u64>> =
        Default::default();
}

/// `content` by `author`, sealed and opened as a node would, received at
/// `at`. Its depth is one more than its deepest parent sealed before (a
/// parent never sealed here counts as 0).
pub fn sealed(
    keys: &TopicKeys,
    author: &Pseudonym,
    content: &MessageContent,
    at: u64,
) -> MessageRecord {
    let deepest = DEPTHS.with(|d| {
        let d = d.borrow();
        content
            .parents
            .iter()
            .map(|p| d.get(p).copied().unwrap_or(0))
            .max()
    });
    let content = MessageContent {
        depth: kindred_proto::envelope::child_depth(deepest),
        ..content.clone()
    };
    let r = sealed_as_is(keys, author, &content, at);
    DEPTHS.with(|d| d.borrow_mut().insert(r.id(), r.depth));
    r
}

/// [`sealed`] with the depth `content` says, true or not.
pub fn sealed_as_is(
    keys: &TopicKeys,
    author: &Pseudonym,
    content: &MessageContent,
    at: u64,
) -> MessageRecord {
    let (_, env) = seal(keys, &epoch(keys), author, content).unwrap();
    let ring = kindred_proto::topic::Keyring::single(epoch(keys));
    MessageRecord::from_opened(&open(keys, &ring, &env).unwrap(), &env, at)
}

/// Opens the database behind the store's back (to damage it), waiting for
/// sled's lock as `Store::open` does: a store just dropped lets go lazily.
#[allow(dead_code)]
pub fn raw_sled(dir: &std::path::Path) -> sled::Db {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match sled::open(dir.join("db")) {
            Ok(db) => return db,
            Err(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => panic!("could not open the database: {e}"),
        }
    }
}
