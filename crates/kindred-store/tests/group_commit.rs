//! A group commit must leave the store exactly as inserting the same
//! messages one at a time would, whatever the arrival order and however the
//! arrivals are cut into batches.

use kindred_proto::{Kind, MessageId, Pseudonym, TopicKeys, TopicSecret};
use kindred_store::{DataDir, Inserted, MessageRecord, Store};
use proptest::prelude::*;

mod common;

/// What an insert reported, without arrival times.
fn outcome(r: &Inserted) -> (bool, Vec<MessageId>, Vec<MessageId>) {
    (
        r.duplicate,
        r.stored.iter().map(|m| m.id()).collect(),
        r.missing.clone(),
    )
}

/// Everything a reader can see of a topic.
fn state(store: &Store, keys: &TopicKeys) -> impl PartialEq + std::fmt::Debug {
    let t = keys.id;
    let history: Vec<_> = store
        .latest(&t, Kind::Post, 1000)
        .unwrap()
        .into_iter()
        .map(|m| (m.depth, m.id()))
        .collect();
    let authors: Vec<_> = (1..=3u8)
        .map(|s| {
            let p = Pseudonym::from_seed([s; 32]).public_key();
            store.author_name(&t, &p).unwrap()
        })
        .collect();
    let arrivals: Vec<_> = store
        .arrivals_after(&t, 0, 1000)
        .unwrap()
        .into_iter()
        .map(|(_, m)| m.id())
        .collect();
    (
        history,
        store.heads(&t).unwrap(),
        store.counts(&t).unwrap(),
        store.missing(&t, 1000).unwrap(),
        authors,
        arrivals,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn batches_match_one_at_a_time(
        parents in proptest::collection::vec((any::<u8>(), any::<u8>(), 0u8..3), 1..20),
        order_seed in any::<u64>(),
        cuts in proptest::collection::vec(1usize..8, 1..10),
        drop_last in any::<bool>(),
    ) {
        let keys = TopicKeys::derive(&TopicSecret::from_bytes([7; 32]));
        let all = common::dag(&keys, &parents);
        // Arrival order: a seeded shuffle, with some messages twice, and
        // maybe one never arriving (its descendants stay pending).
        let mut arrivals: Vec<MessageRecord> = all.clone();
        arrivals.extend(all.iter().step_by(3).cloned());
        let mut s = order_seed | 1;
        for i in (1..arrivals.len()).rev() {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            arrivals.swap(i, (s % (i as u64 + 1)) as usize);
        }
        if drop_last {
            let gone = all[all.len() / 2].id();
            arrivals.retain(|m| m.id() != gone);
        }

        let one_dir = tempfile::tempdir().unwrap();
        let one = Store::open(DataDir::lock(one_dir.path()).unwrap()).unwrap();
        let alone: Vec<_> = arrivals
            .iter()
            .map(|m| outcome(&one.insert(&keys.id, m.clone()).unwrap()))
            .collect();

        let many_dir = tempfile::tempdir().unwrap();
        let many = Store::open(DataDir::lock(many_dir.path()).unwrap()).unwrap();
        let mut batched = Vec::new();
        let mut rest = arrivals.as_slice();
        for c in cuts.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (now, later) = rest.split_at((*c).min(rest.len()));
            let results = many.insert_many(&keys.id, now.to_vec()).unwrap();
            batched.extend(results.iter().map(outcome));
            rest = later;
        }

        prop_assert_eq!(alone, batched);
        prop_assert_eq!(state(&one, &keys), state(&many, &keys));
        if !drop_last {
            prop_assert_eq!(many.counts(&keys.id).unwrap().messages, all.len() as u64);
            prop_assert_eq!(many.counts(&keys.id).unwrap().pending, 0);
        }

        // And the batched store reads back the same after a restart.
        let before = state(&many, &keys);
        many.flush_blocking().unwrap();
        drop(many);
        let again = Store::open(DataDir::lock(many_dir.path()).unwrap()).unwrap();
        prop_assert_eq!(before, state(&again, &keys));
    }
}
