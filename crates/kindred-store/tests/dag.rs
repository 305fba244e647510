mod common;

use kindred_proto::{Kind, MessageContent, MessageId, Pseudonym, TopicKeys, TopicSecret};
use kindred_store::{DataDir, MessageRecord, Store, StoreError};

fn msg(keys: &TopicKeys, text: &str, parents: Vec<MessageId>) -> MessageRecord {
    let author = Pseudonym::from_seed([5; 32]);
    let content = MessageContent {
        kind: Kind::Post,
        body: text.into(),
        parents,
        timestamp: 0,
        depth: 0,
    };
    common::sealed(keys, &author, &content, 0)
}

#[test]
fn out_of_order_arrivals_settle_into_one_history() {
    let dir = tempfile::tempdir().unwrap();
    let keys = TopicKeys::derive(&TopicSecret::from_bytes([1; 32]));
    let t = keys.id;
    let a = msg(&keys, "a", vec![]);
    let b = msg(&keys, "b", vec![a.id()]);
    let c = msg(&keys, "c", vec![b.id()]);
    let d = msg(&keys, "d", vec![b.id()]);
    let e = msg(&keys, "e", vec![c.id(), d.id()]);
    {
        let store = Store::open(DataDir::lock(dir.path()).unwrap()).unwrap();
        // Children first: they wait for parents.
        let r = store.insert(&t, e.clone()).unwrap();
        assert_eq!(r.missing.len(), 2);
        assert!(store.insert(&t, c.clone()).unwrap().stored.is_empty());
        assert!(store.insert(&t, d.clone()).unwrap().stored.is_empty());
        assert!(store.insert(&t, e.clone()).unwrap().duplicate);
        assert!(store.insert(&t, b.clone()).unwrap().stored.is_empty());
        assert_eq!(store.missing(&t, 10).unwrap(), vec![a.id()]);
        let r = store.insert(&t, a.clone()).unwrap();
        assert_eq!(r.stored.len(), 5, "a completes b, c, d and e");
        assert!(store.insert(&t, a.clone()).unwrap().duplicate);
        assert_eq!(store.heads(&t).unwrap(), vec![(3, e.id())]);
        let texts: Vec<_> = store
            .latest(&t, Kind::Post, 100)
            .unwrap()
            .into_iter()
            .map(|m| (m.depth, m.body))
            .collect();
        assert_eq!(texts[0], (0, "a".to_string()));
        assert_eq!(texts[4], (3, "e".to_string()));
        assert_eq!(store.counts(&t).unwrap().messages, 5);
        assert_eq!(store.counts(&t).unwrap().pending, 0);
        store.flush_blocking().unwrap();
        // A second node cannot open the same directory.
        assert!(matches!(
            DataDir::lock(dir.path()),
            Err(StoreError::InUse { .. })
        ));
    }
    let store = Store::open(DataDir::lock(dir.path()).unwrap()).unwrap();
    assert_eq!(store.latest(&t, Kind::Post, 100).unwrap().len(), 5);
    // A fetch from someone who has `b` returns what lies above it, parents first.
    let page = store
        .sync_page(&t, &[e.id()], &[b.id()], 100, 1 << 20)
        .unwrap();
    let ids: Vec<_> = page
        .iter()
        .map(|env| kindred_proto::envelope::message_id(env))
        .collect();
    assert_eq!(ids.len(), 3);
    assert_eq!(ids[2], e.id());
    // From nothing: everything, root first.
    let page = store.sync_page(&t, &[e.id()], &[], 100, 1 << 20).unwrap();
    assert_eq!(kindred_proto::envelope::message_id(&page[0]), a.id());
    assert_eq!(page.len(), 5);
}

#[test]
fn damaged_store_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("db")).unwrap();
    std::fs::write(dir.path().join("db").join("conf"), b"\xff\xff garbage").unwrap();
    std::fs::write(dir.path().join("db").join("db"), vec![0xAB; 4096]).unwrap();
    match Store::open(DataDir::lock(dir.path()).unwrap()) {
        Err(StoreError::Damaged { .. }) => {}
        Err(other) => panic!("expected Damaged, got {other}"),
        Ok(_) => panic!("a garbage store opened"),
    }
}

#[test]
fn identity_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let (secret, created) = kindred_store::load_or_create_identity(dir.path()).unwrap();
    assert!(created);
    let mode = std::fs::metadata(dir.path().join("identity.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let (again, created) = kindred_store::load_or_create_identity(dir.path()).unwrap();
    assert!(!created);
    assert_eq!(again.as_bytes(), secret.as_bytes());
}

/// A message held opaque (no key yet) stands in history as a root that
/// children can hang on; revealed, it is shown where it stands.
#[test]
fn an_opaque_stand_in_is_revealed_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(DataDir::lock(dir.path()).unwrap()).unwrap();
    let keys = TopicKeys::derive(&TopicSecret::from_bytes([8; 32]));
    let hidden = msg(&keys, "said under a key not held yet", vec![]);
    let child = msg(&keys, "a reply", vec![hidden.id()]);
    let stand_in = MessageRecord::opaque(hidden.id(), &hidden.envelope, 5);
    store.insert_opaque(&keys.id, vec![stand_in]).unwrap();
    store.insert(&keys.id, child).unwrap();
    assert_eq!(store.counts(&keys.id).unwrap().missing, 0);
    let texts = |s: &Store| -> Vec<String> {
        s.latest(&keys.id, Kind::Post, 10)
            .unwrap()
            .into_iter()
            .map(|m| m.body)
            .collect()
    };
    assert_eq!(texts(&store), vec!["a reply"]);
    assert_eq!(store.opaque(&keys.id, 10).unwrap().len(), 1);
    assert!(store.reveal(&keys.id, hidden.clone()).unwrap());
    assert_eq!(
        texts(&store),
        vec!["said under a key not held yet", "a reply"]
    );
    assert!(store.opaque(&keys.id, 10).unwrap().is_empty());
    assert_eq!(store.counts(&keys.id).unwrap().posts, 2);
    // Revealing twice, or a message that was never opaque, changes nothing.
    assert!(!store.reveal(&keys.id, hidden).unwrap());
}

/// Two members place concurrent messages identically although one holds
/// the history they hang on only as sealed stand-ins: depth travels with
/// each message (spec §3.4). A message whose depth its parents contradict
/// is refused, fresh or waiting.
#[test]
fn depth_is_carried_so_stand_ins_place_like_the_messages_they_hide() {
    let keys = TopicKeys::derive(&TopicSecret::from_bytes([9; 32]));
    let t = keys.id;
    // Ten messages of old history; then two concurrent posts: one on the
    // newest old message, one on the third (an older branch).
    let mut old: Vec<MessageRecord> = Vec::new();
    for i in 0..10 {
        let parents = old.last().map(|m| vec![m.id()]).unwrap_or_default();
        old.push(msg(&keys, &format!("old {i}"), parents));
    }
    let a = msg(&keys, "on the newest", vec![old[9].id()]);
    let b = msg(&keys, "on an old branch", vec![old[2].id()]);
    let c = msg(&keys, "on both", vec![a.id(), b.id()]);
    let order = |s: &Store| -> Vec<String> {
        s.latest(&t, Kind::Post, 100)
            .unwrap()
            .into_iter()
            .map(|m| m.body)
            .collect()
    };
    let open = |d: &tempfile::TempDir| Store::open(DataDir::lock(d.path()).unwrap()).unwrap();

    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let member = open(&d1);
    for m in old.iter().chain([&a, &b, &c]) {
        member.insert(&t, m.clone()).unwrap();
    }
    // The newcomer holds only the two tips it was handed, sealed.
    let newcomer = open(&d2);
    let sealed = [&old[9], &old[2]]
        .map(|m| MessageRecord::opaque(m.id(), &m.envelope, 1))
        .to_vec();
    newcomer.insert_opaque(&t, sealed).unwrap();
    for m in [&b, &a, &c] {
        let r = newcomer.insert(&t, m.clone()).unwrap();
        assert_eq!(r.stored.len(), 1, "{} was not placed", m.body);
    }
    let shown: Vec<String> = order(&member)
        .into_iter()
        .filter(|b| !b.starts_with("old"))
        .collect();
    assert_eq!(shown, ["on an old branch", "on the newest", "on both"]);
    assert_eq!(order(&newcomer), shown);
    assert_eq!(
        newcomer.get(&t, &c.id()).unwrap().unwrap().depth,
        member.get(&t, &c.id()).unwrap().unwrap().depth
    );

    // A liar's depth: refused fresh, and dropped when it stops waiting.
    let author = kindred_proto::Pseudonym::from_seed([6; 32]);
    let lie = |parents: Vec<MessageId>, depth: u64| {
        let content = MessageContent {
            kind: Kind::Post,
            body: format!("claims {depth}"),
            parents,
            timestamp: 0,
            depth,
        };
        common::sealed_as_is(&keys, &author, &content, 0)
    };
    let r = member.insert(&t, lie(vec![c.id()], 1_000)).unwrap();
    assert!(r.wrong_depth && r.stored.is_empty());
    let missing = msg(&keys, "not here yet", vec![c.id()]);
    let waiting = lie(vec![missing.id()], 3);
    assert_eq!(member.insert(&t, waiting.clone()).unwrap().missing.len(), 1);
    let r = member.insert(&t, missing).unwrap();
    assert_eq!(r.stored.len(), 1, "only the honest parent is placed");
    assert!(member.get(&t, &waiting.id()).unwrap().is_none());
    assert_eq!(member.counts(&t).unwrap().pending, 0);
}
