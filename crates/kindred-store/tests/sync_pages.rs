//! Sync pages (spec §5): a long catch-up arrives oldest first, so every
//! page lands in history without waiting; diverged histories still meet;
//! and the requester's loop always ends with everything the responder has.

use kindred_proto::envelope::{message_id, open};
use kindred_proto::{MessageId, TopicId, TopicKeys, TopicSecret};
use kindred_store::{DataDir, MessageRecord, Store};
use proptest::prelude::*;

mod common;
use common::msg;

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(DataDir::lock(dir.path()).unwrap()).unwrap();
    (dir, s)
}

fn keys() -> TopicKeys {
    TopicKeys::derive(&TopicSecret::from_bytes([3; 32]))
}

fn records(keys: &TopicKeys, page: &[Vec<u8>]) -> Vec<MessageRecord> {
    page.iter()
        .map(|e| {
            MessageRecord::from_opened(
                &open(
                    keys,
                    &kindred_proto::topic::Keyring::single(common::epoch(keys)),
                    e,
                )
                .unwrap(),
                e,
                0,
            )
        })
        .collect()
}

/// One page `responder` serves `requester` asking for `want`.
fn one_page(
    requester: &Store,
    responder: &Store,
    t: &TopicId,
    want: MessageId,
    page: usize,
) -> Vec<Vec<u8>> {
    let have = requester.have_sample(t, 64).unwrap();
    responder
        .sync_page(t, &[want], &have, page, 1 << 20)
        .unwrap()
}

fn ids(page: &[Vec<u8>]) -> Vec<MessageId> {
    page.iter().map(|e| message_id(e)).collect()
}

/// The requester's side of spec §5, against a responder's store, with a
/// small page. Returns how many rounds it took.
fn sync(keys: &TopicKeys, requester: &Store, responder: &Store, page: usize) -> usize {
    let t = keys.id;
    let heads: Vec<MessageId> = responder
        .heads(&t)
        .unwrap()
        .into_iter()
        .map(|(_, id)| id)
        .take(64)
        .collect();
    for round in 1..10_000 {
        let mut want: Vec<MessageId> = heads
            .iter()
            .filter(|h| !requester.contains(&t, h).unwrap())
            .copied()
            .collect();
        for m in requester.missing(&t, 64).unwrap() {
            if want.len() < 64 && !want.contains(&m) {
                want.push(m);
            }
        }
        if want.is_empty() {
            return round;
        }
        let have = requester.have_sample(&t, 64).unwrap();
        let envelopes = responder
            .sync_page(&t, &want, &have, page, 1 << 20)
            .unwrap();
        let new = requester
            .insert_many(&t, records(keys, &envelopes))
            .unwrap()
            .iter()
            .filter(|r| !r.duplicate)
            .count();
        if new == 0 {
            return round;
        }
    }
    panic!("sync did not end");
}

#[test]
fn a_long_catch_up_comes_oldest_first_and_never_waits() {
    let keys = keys();
    let t = keys.id;
    let (_a, full) = store();
    let (_b, behind) = store();
    let mut prev: Vec<MessageId> = vec![];
    let mut all = Vec::new();
    for i in 0..300 {
        let m = msg(&keys, i, prev.clone());
        prev = vec![m.id()];
        all.push(m);
    }
    full.insert_many(&t, all.clone()).unwrap();
    behind.insert_many(&t, all[..40].to_vec()).unwrap();

    // One page: the 50 right after what the requester has, in order.
    let page = one_page(&behind, &full, &t, all[299].id(), 50);
    let expected: Vec<MessageId> = all[40..90].iter().map(|m| m.id()).collect();
    assert_eq!(ids(&page), expected);

    // Every page lands in history at once: nothing ever waits for a parent.
    let results = behind.insert_many(&t, records(&keys, &page)).unwrap();
    assert!(results.iter().all(|r| r.missing.is_empty()));
    let rounds = sync(&keys, &behind, &full, 50);
    assert_eq!(behind.counts(&t).unwrap().messages, 300);
    assert_eq!(behind.counts(&t).unwrap().pending, 0);
    assert!(
        rounds <= 6,
        "{rounds} rounds for 210 messages in pages of 50"
    );
}

#[test]
fn diverged_histories_are_walked_back_from_the_wanted_heads() {
    let keys = keys();
    let t = keys.id;
    let (_a, mine) = store();
    let (_b, theirs) = store();
    let root = msg(&keys, 0, vec![]);
    let mut ours = vec![root.clone()];
    let mut other = vec![root.clone()];
    for i in 1..30 {
        let o = msg(&keys, 1000 + i, vec![ours.last().unwrap().id()]);
        ours.push(o);
        let p = msg(&keys, 2000 + i, vec![other.last().unwrap().id()]);
        other.push(p);
    }
    mine.insert_many(&t, ours).unwrap();
    theirs.insert_many(&t, other.clone()).unwrap();
    // Our heads are unknown to them, so they walk back from what we want:
    // the newest of their branch first.
    let page = one_page(&mine, &theirs, &t, other[29].id(), 10);
    let expected: Vec<MessageId> = other[20..30].iter().map(|m| m.id()).collect();
    assert_eq!(ids(&page), expected);
    sync(&keys, &mine, &theirs, 10);
    assert_eq!(mine.counts(&t).unwrap().messages, 59);
    assert_eq!(mine.counts(&t).unwrap().pending, 0);
}

/// A member who joined as someone posted a burst: gossip lost a third of
/// the burst (so the rest waits for parents, past the per-author cap), and
/// the member posted its own branch meanwhile, which raises the floor the
/// responder serves from above most of the burst. The gaps below are still
/// filled in a few pages (the page benchmark's shape).
#[test]
fn gaps_below_the_requesters_own_branch_are_filled_in_a_few_pages() {
    let keys = keys();
    let t = keys.id;
    let (_a, full) = store();
    let (_b, member) = store();
    let root = msg(&keys, 0, vec![]);
    let mut burst = vec![];
    let mut prev = root.id();
    for i in 1..=600 {
        let m = msg(&keys, i, vec![prev]);
        prev = m.id();
        burst.push(m);
    }
    let mut own = vec![];
    let mut prev = root.id();
    for i in 0..200 {
        let m = msg(&keys, 10_000 + i, vec![prev]);
        prev = m.id();
        own.push(m);
    }
    full.insert_many(&t, vec![root.clone()]).unwrap();
    full.insert_many(&t, burst.clone()).unwrap();
    full.insert_many(&t, own.clone()).unwrap();
    member.insert_many(&t, vec![root]).unwrap();
    member.insert_many(&t, own).unwrap();
    // Gossip brought two of every three burst posts: all of them wait.
    let got: Vec<MessageRecord> = burst
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 3 != 0)
        .map(|(_, m)| m.clone())
        .collect();
    member.insert_many(&t, got).unwrap();
    assert_eq!(member.counts(&t).unwrap().messages, 201);
    let rounds = sync(&keys, &member, &full, 256);
    assert_eq!(member.counts(&t).unwrap().messages, 801);
    assert_eq!(member.counts(&t).unwrap().pending, 0);
    assert!(
        rounds <= 8,
        "{rounds} rounds to fill 200 gaps in pages of 256"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Whatever the requester already holds (any subset, even messages
    /// still waiting for parents), syncing ends with all the responder has.
    #[test]
    fn sync_always_completes(
        shape in proptest::collection::vec((any::<u16>(), any::<u16>(), 0u8..3), 1..60),
        held in proptest::collection::vec(any::<bool>(), 60),
        page in 1usize..12,
    ) {
        let keys = keys();
        let t = keys.id;
        let all = common::dag(&keys, &shape);
        let (_a, responder) = store();
        responder.insert_many(&t, all.clone()).unwrap();
        let (_b, requester) = store();
        let subset: Vec<MessageRecord> = all
            .iter()
            .zip(&held)
            .filter(|(_, h)| **h)
            .map(|(m, _)| m.clone())
            .collect();
        requester.insert_many(&t, subset).unwrap();
        sync(&keys, &requester, &responder, page);
        prop_assert_eq!(requester.counts(&t).unwrap().messages, all.len() as u64);
        prop_assert_eq!(requester.heads(&t).unwrap(), responder.heads(&t).unwrap());
    }
}
