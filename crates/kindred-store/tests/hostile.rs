//! What peers can make the store hold: the longest private message, damaged
//! records, posts placed deep in old history, and what counts as a post.

mod common;

use kindred_proto::dm::{DmMessage, MAX_DM_TEXT_BYTES};
use kindred_proto::{Kind, TopicKeys, TopicSecret, LATE_DEPTH};
use kindred_store::{DataDir, DmState, OutboxRecord, Store};
use serde_bytes::ByteBuf;

fn open(dir: &std::path::Path) -> Store {
    Store::open(DataDir::lock(dir).unwrap()).unwrap()
}

#[test]
fn the_longest_private_message_is_kept_and_read_back_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let peer = b"friend".as_slice();
    let text = "é".repeat(MAX_DM_TEXT_BYTES / 2);
    assert_eq!(text.len(), MAX_DM_TEXT_BYTES);
    {
        let s = open(dir.path());
        let m = DmMessage::new([1; 16], 1, text.clone()).unwrap();
        s.dm_outgoing(peer, &m, 2, DmState::Queued).unwrap();
        // A sealed message is the text plus Noise and CBOR overhead.
        let sealed = vec![0xab; MAX_DM_TEXT_BYTES + 4096];
        s.outbox_put(&OutboxRecord {
            id: ByteBuf::from(vec![1; 16]),
            peer: ByteBuf::from(peer.to_vec()),
            sealed: ByteBuf::from(sealed),
            attempts: 0,
            next_attempt: 0,
        })
        .unwrap();
        let m2 = DmMessage::new([2; 16], 3, "short one after".into()).unwrap();
        s.dm_outgoing(peer, &m2, 4, DmState::Queued).unwrap();
        s.flush_blocking().unwrap();
    }
    let s = open(dir.path());
    let conv = s.dm_conversation(peer, 0, 100, true).unwrap();
    assert_eq!(conv.len(), 2);
    assert_eq!(conv[0].1.text, text);
    assert_eq!(s.outbox().unwrap().len(), 1);
    assert_eq!(s.contacts().unwrap().len(), 1);
    assert_eq!(s.quarantined(), 0);
}

#[test]
fn a_damaged_record_is_set_aside_and_the_list_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = open(dir.path());
        for n in 1..=3u8 {
            let peer = [n; 8];
            let m = DmMessage::new([n; 16], 1, format!("hello {n}")).unwrap();
            s.dm_outgoing(&peer, &m, 2, DmState::Queued).unwrap();
        }
        s.flush_blocking().unwrap();
    }
    {
        // Damage one contact record behind the store's back.
        let db = common::raw_sled(dir.path());
        let contacts = db.open_tree("contacts").unwrap();
        contacts.insert([2u8; 8], vec![0xff, 0x00, 0x13]).unwrap();
        db.flush().unwrap();
    }
    let s = open(dir.path());
    let list = s.contacts().unwrap();
    assert_eq!(list.len(), 2, "the two good contacts are still listed");
    assert_eq!(s.quarantined(), 1);
    // Listed again: nothing more to set aside, the same two.
    assert_eq!(s.contacts().unwrap().len(), 2);
    assert_eq!(s.quarantined(), 1);
}

#[test]
fn a_post_hung_on_old_parents_is_marked_late_and_a_gap_fill_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let keys = TopicKeys::derive(&TopicSecret::from_bytes([3; 32]));
    let t = keys.id;
    let s = open(dir.path());
    // A chain of 30 (message 4, 9, 14, … are profiles; the rest posts).
    let mut chain = vec![common::msg(&keys, 0, vec![])];
    for i in 1..30 {
        let parent = chain[i - 1].id();
        chain.push(common::msg(&keys, i, vec![parent]));
    }
    // Message 20 is held back: 21..29 wait for it.
    for (i, m) in chain.iter().enumerate() {
        if i != 20 {
            s.insert(&t, m.clone()).unwrap();
        }
    }
    let filled = s.insert(&t, chain[20].clone()).unwrap();
    assert_eq!(filled.stored.len(), 10);
    assert!(
        filled.stored.iter().all(|m| m.late_by == 0),
        "gap fills are on time"
    );

    // New, but hung on message 2 (depth 2) while the top is at depth 29.
    let buried = common::msg(&keys, 100, vec![chain[2].id()]);
    let r = s.insert(&t, buried).unwrap();
    assert_eq!(r.stored[0].late_by, 29 - 3);
    const { assert!(29 - 3 >= LATE_DEPTH) };
    // Hung on a recent message: on time.
    let recent = common::msg(&keys, 101, vec![chain[25].id()]);
    assert_eq!(s.insert(&t, recent).unwrap().stored[0].late_by, 0);

    // What `read` shows is counted apart from profiles.
    let c = s.counts(&t).unwrap();
    let posts = s.latest(&t, Kind::Post, usize::MAX).unwrap().len() as u64;
    assert_eq!(c.posts, posts);
    assert_eq!(c.messages, 32);
    assert!(c.posts < c.messages);
}

#[test]
fn the_address_book_is_capped_and_forgets_members_not_seen_for_long() {
    use kindred_store::{KNOWN_PEER_TTL_MS, MAX_ADDRS_PER_PEER, MAX_KNOWN_PEERS};
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let addrs: Vec<String> = (0..40).map(|i| format!("/ip4/127.0.0.1/tcp/{i}")).collect();
    for i in 0..(MAX_KNOWN_PEERS as u64 + 10) {
        s.remember_peer(&i.to_be_bytes(), &addrs, 1_000 + i)
            .unwrap();
    }
    let now = 1_000 + MAX_KNOWN_PEERS as u64 + 10;
    let known = s.known_peers(now).unwrap();
    assert_eq!(known.len(), MAX_KNOWN_PEERS);
    assert!(known.iter().all(|(_, a)| a.len() == MAX_ADDRS_PER_PEER));
    // The ten seen longest ago made room.
    assert!(!known
        .iter()
        .any(|(p, _)| p.as_slice() == 9u64.to_be_bytes()));
    assert!(known
        .iter()
        .any(|(p, _)| p.as_slice() == 10u64.to_be_bytes()));
    // 90 days later, one member seen again: the rest are forgotten.
    let later = now + KNOWN_PEER_TTL_MS + 1;
    s.remember_peer(&7u64.to_be_bytes(), &addrs, later).unwrap();
    assert_eq!(s.known_peers(later).unwrap().len(), 1);
}

/// A message by `author` (seed) naming a parent that does not exist.
fn orphan(keys: &TopicKeys, author: u8, n: u32) -> kindred_store::MessageRecord {
    use kindred_proto::{MessageContent, MessageId, Pseudonym};
    let content = MessageContent {
        kind: Kind::Post,
        body: format!("{author}/{n}"),
        parents: vec![MessageId(kindred_proto::hmac_sha256(
            &[author],
            &[&n.to_be_bytes()],
        ))],
        timestamp: 0,
        depth: 0,
    };
    common::sealed(
        keys,
        &Pseudonym::from_seed([author; 32]),
        &content,
        u64::from(n),
    )
}

#[test]
fn messages_waiting_for_parents_that_never_come_are_capped_oldest_first() {
    use kindred_store::{MAX_PENDING, MAX_PENDING_PER_AUTHOR};
    let dir = tempfile::tempdir().unwrap();
    let keys = TopicKeys::derive(&TopicSecret::from_bytes([9; 32]));
    let s = open(dir.path());
    let has = |s: &Store, m: &kindred_store::MessageRecord| s.contains(&keys.id, &m.id()).unwrap();
    // One author: past its cap, its oldest waiting messages go.
    let one: Vec<_> = (0..MAX_PENDING_PER_AUTHOR as u32 + 40)
        .map(|n| orphan(&keys, 1, n))
        .collect();
    s.insert_many(&keys.id, one.clone()).unwrap();
    assert_eq!(s.counts(&keys.id).unwrap().pending, MAX_PENDING_PER_AUTHOR);
    assert!(one[..40].iter().all(|m| !has(&s, m)), "the oldest 40 went");
    assert!(one[40..].iter().all(|m| has(&s, m)));
    // Many authors: the circle's cap holds, oldest first.
    let authors = (MAX_PENDING / MAX_PENDING_PER_AUTHOR) as u8 + 2;
    for a in 2..=authors {
        let batch: Vec<_> = (0..MAX_PENDING_PER_AUTHOR as u32)
            .map(|n| orphan(&keys, a, 1000 + n))
            .collect();
        s.insert_many(&keys.id, batch).unwrap();
    }
    assert_eq!(s.counts(&keys.id).unwrap().pending, MAX_PENDING);
    assert!(
        one.iter().all(|m| !has(&s, m)),
        "author 1's were the oldest"
    );
    // Reopened, the counts still hold: one more evicts one more.
    s.flush_blocking().unwrap();
    drop(s);
    let s = open(dir.path());
    s.insert(&keys.id, orphan(&keys, authors + 1, 99_999))
        .unwrap();
    assert_eq!(s.counts(&keys.id).unwrap().pending, MAX_PENDING);
}
