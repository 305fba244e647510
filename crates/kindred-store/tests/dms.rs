use kindred_proto::dm::DmMessage;
use kindred_store::{Consent, ConsentAction, DataDir, DmState, Received, Store, MAX_HELD};

fn msg(n: u8, text: &str) -> DmMessage {
    DmMessage::new([n; 16], 1, text.into()).unwrap()
}

fn open(dir: &std::path::Path) -> Store {
    Store::open(DataDir::lock(dir).unwrap()).unwrap()
}

#[test]
fn a_stranger_lands_as_a_request_and_replays_add_nothing_even_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let peer = b"stranger".as_slice();
    {
        let s = open(dir.path());
        assert_eq!(
            s.dm_incoming(peer, &msg(1, "hi, I saw your post"), 10)
                .unwrap(),
            Received::Held
        );
        assert_eq!(
            s.dm_incoming(peer, &msg(2, "are you there?"), 11).unwrap(),
            Received::Held
        );
        assert_eq!(
            s.dm_incoming(peer, &msg(1, "hi, I saw your post"), 12)
                .unwrap(),
            Received::Duplicate
        );
        assert_eq!(s.contact(peer).unwrap().consent, Consent::Requested);
        assert!(
            s.dm_conversation(peer, 0, 100, false).unwrap().is_empty(),
            "requests are hidden"
        );
        assert_eq!(s.dm_conversation(peer, 0, 100, true).unwrap().len(), 2);
        s.flush_blocking().unwrap();
    }
    let s = open(dir.path());
    assert_eq!(
        s.dm_incoming(peer, &msg(2, "are you there?"), 13).unwrap(),
        Received::Duplicate,
        "replay after restart"
    );
    s.set_consent(peer, ConsentAction::Accept).unwrap();
    let conv = s.dm_conversation(peer, 0, 100, false).unwrap();
    assert_eq!(conv.len(), 2);
    assert!(conv.iter().all(|(_, r)| r.state == DmState::Received));
    assert_eq!(
        s.dm_incoming(peer, &msg(3, "thanks"), 14).unwrap(),
        Received::Shown
    );
    assert_eq!(s.contact(peer).unwrap().unread, 3);
}

#[test]
fn declined_and_blocked_peers_are_dropped_for_good() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let (p, q) = (b"pest".as_slice(), b"friend".as_slice());
    s.dm_incoming(p, &msg(1, "buy my thing"), 1).unwrap();
    s.set_consent(p, ConsentAction::Decline).unwrap();
    assert!(
        s.dm_conversation(p, 0, 100, true).unwrap().is_empty(),
        "declined requests are deleted"
    );
    assert_eq!(
        s.dm_incoming(p, &msg(2, "again"), 2).unwrap(),
        Received::Dropped
    );
    // Blocking an accepted friend hides them; unblocking restores them.
    s.dm_outgoing(q, &msg(9, "hello"), 3, DmState::Queued)
        .unwrap();
    assert_eq!(
        s.contact(q).unwrap().consent,
        Consent::Accepted,
        "writing first accepts"
    );
    s.set_consent(q, ConsentAction::Block).unwrap();
    assert_eq!(
        s.dm_incoming(q, &msg(10, "hey"), 4).unwrap(),
        Received::Dropped
    );
    s.set_consent(q, ConsentAction::Unblock).unwrap();
    assert_eq!(
        s.dm_incoming(q, &msg(11, "hey?"), 5).unwrap(),
        Received::Shown
    );
}

#[test]
fn a_requester_cannot_fill_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let p = b"flooder".as_slice();
    for i in 0..MAX_HELD {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&i.to_be_bytes());
        assert_eq!(
            s.dm_incoming(p, &DmMessage::new(id, 1, "x".into()).unwrap(), 1)
                .unwrap(),
            Received::Held
        );
    }
    assert_eq!(
        s.dm_incoming(p, &msg(0xff, "one more"), 1).unwrap(),
        Received::Refused
    );
}

#[test]
fn message_states_only_move_forward() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let p = b"peer".as_slice();
    let m = msg(1, "hi");
    s.dm_outgoing(p, &m, 1, DmState::Queued).unwrap();
    s.dm_set_state(p, &m.id, DmState::Delivered).unwrap();
    s.dm_set_state(p, &m.id, DmState::Sent).unwrap();
    assert_eq!(
        s.dm_conversation(p, 0, 10, false).unwrap()[0].1.state,
        DmState::Delivered
    );
}
