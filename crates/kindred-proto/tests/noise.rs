//! Sessions, bindings and sealed messages: the happy paths and every way
//! they must fail.

use kindred_proto::dm::{Contact, DmMessage, Item};
use kindred_proto::noise::{
    chunk, open_sealed, seal, Binding, Frame, Handshake, NoiseError, Reassembler, Session,
    SessionLimits, StaticKeypair, CHUNK_BYTES, MAX_ITEM_BYTES,
};
use kindred_proto::NodeSecret;
use serde_bytes::ByteBuf;

struct Peer {
    node: NodeSecret,
    key: StaticKeypair,
    binding: Binding,
}

fn peer(seed: u8) -> Peer {
    let node = NodeSecret::from_bytes([seed; 32]);
    let key = StaticKeypair::derive(&node);
    let binding = Binding::create(&node, &key.public);
    Peer { node, key, binding }
}

/// Runs an XX handshake; returns (initiator session, responder session).
fn handshake(a: &Peer, b: &Peer, limits: SessionLimits) -> Result<(Session, Session), NoiseError> {
    let mut i = Handshake::initiator(&a.key, &a.binding, b.node.public_key())?;
    let mut r = Handshake::responder(&b.key, &b.binding, a.node.public_key())?;
    while !(i.is_finished() && r.is_finished()) {
        if i.is_my_turn() {
            let m = i.write()?;
            r.read(&m)?;
        } else {
            let m = r.write()?;
            i.read(&m)?;
        }
    }
    Ok((i.into_session(limits)?, r.into_session(limits)?))
}

fn ack(n: u8) -> Frame {
    Frame::Ack {
        id: ByteBuf::from(vec![n; 16]),
    }
}

#[test]
fn handshake_binds_identities_and_carries_frames_both_ways() {
    let (a, b) = (peer(1), peer(2));
    let (mut sa, mut sb) = handshake(&a, &b, SessionLimits::default()).unwrap();
    assert_eq!(sa.remote_identity(), b.node.public_key());
    assert_eq!(sb.remote_identity(), a.node.public_key());
    for m in sa.seal_frame(&ack(7)).unwrap() {
        assert_eq!(sb.open_frame(&m).unwrap(), Some(ack(7)));
    }
    for m in sb.seal_frame(&ack(8)).unwrap() {
        assert_eq!(sa.open_frame(&m).unwrap(), Some(ack(8)));
    }
}

#[test]
fn a_peer_claiming_another_identity_is_refused_before_any_application_byte() {
    let (a, b, mallory) = (peer(1), peer(2), peer(3));
    // Mallory answers a session meant for Bob with her own valid binding.
    let mut i = Handshake::initiator(&a.key, &a.binding, b.node.public_key()).unwrap();
    let mut r = Handshake::responder(&mallory.key, &mallory.binding, a.node.public_key()).unwrap();
    r.read(&i.write().unwrap()).unwrap();
    assert_eq!(i.read(&r.write().unwrap()), Err(NoiseError::WrongIdentity));

    // Mallory presents Bob's binding with her own static key.
    let mut i = Handshake::initiator(&a.key, &a.binding, b.node.public_key()).unwrap();
    let mut r = Handshake::responder(&mallory.key, &b.binding, a.node.public_key()).unwrap();
    r.read(&i.write().unwrap()).unwrap();
    assert!(matches!(
        i.read(&r.write().unwrap()),
        Err(NoiseError::BadBinding(_))
    ));

    // No binding at all.
    let empty = Binding {
        identity: b.node.public_key(),
        signature: [0; 64],
    };
    let mut i = Handshake::initiator(&a.key, &a.binding, b.node.public_key()).unwrap();
    let mut r = Handshake::responder(&b.key, &empty, a.node.public_key()).unwrap();
    r.read(&i.write().unwrap()).unwrap();
    assert!(matches!(
        i.read(&r.write().unwrap()),
        Err(NoiseError::BadBinding(_))
    ));
}

#[test]
fn a_flipped_byte_anywhere_in_the_handshake_fails_it() {
    // The first XX message is a bare ephemeral key, so a flip there shows
    // one message later, when the transcripts disagree. Whatever byte is
    // flipped, the handshake must never complete.
    let (a, b) = (peer(1), peer(2));
    for msg_no in 0..3 {
        for pos in [0usize, 16, 31, 40, 63] {
            let mut i = Handshake::initiator(&a.key, &a.binding, b.node.public_key()).unwrap();
            let mut r = Handshake::responder(&b.key, &b.binding, a.node.public_key()).unwrap();
            let mut failed = false;
            for n in 0..3 {
                let from_i = n % 2 == 0;
                let mut m = if from_i {
                    i.write().unwrap()
                } else {
                    r.write().unwrap()
                };
                if n == msg_no {
                    let p = pos.min(m.len() - 1);
                    m[p] ^= 1;
                }
                let res = if from_i { r.read(&m) } else { i.read(&m) };
                if res.is_err() {
                    failed = true;
                    break;
                }
            }
            assert!(
                failed,
                "handshake completed despite a flipped byte {pos} in message {msg_no}"
            );
        }
    }
}

#[test]
fn a_flipped_transport_byte_is_rejected_without_advancing_state() {
    let (a, b) = (peer(1), peer(2));
    let (mut sa, mut sb) = handshake(&a, &b, SessionLimits::default()).unwrap();
    let good = sa.seal_frame(&ack(1)).unwrap().remove(0);
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0x80;
        assert!(sb.open_frame(&bad).is_err(), "flip at {i} accepted");
    }
    // The genuine message still opens: nothing above advanced the nonce (RUSTSEC-2024-0011).
    assert_eq!(sb.open_frame(&good).unwrap(), Some(ack(1)));
    // A replayed transport frame does not open again.
    assert!(sb.open_frame(&good).is_err());
}

#[test]
fn sessions_rekey_on_schedule_and_close_before_nonces_run_out() {
    let (a, b) = (peer(1), peer(2));
    let limits = SessionLimits {
        rekey_every: 3,
        max_nonce: 20,
    };
    let (mut sa, mut sb) = handshake(&a, &b, limits).unwrap();
    let mut delivered = 0;
    let mut rekeys = 0;
    loop {
        match sa.seal_frame(&ack(delivered as u8)) {
            Ok(msgs) => {
                if msgs.len() == 2 {
                    rekeys += 1;
                }
                let mut got = None;
                for m in msgs {
                    if let Some(f) = sb.open_frame(&m).unwrap() {
                        got = Some(f);
                    }
                }
                assert_eq!(got, Some(ack(delivered as u8)));
                delivered += 1;
            }
            Err(e) => {
                assert_eq!(e, NoiseError::Exhausted);
                break;
            }
        }
    }
    assert!(rekeys >= 4, "expected several rekeys, saw {rekeys}");
    assert!(delivered > 10 && delivered < 20);
}

#[test]
fn sealed_messages_open_only_for_their_recipient_and_name_the_sender() {
    let (a, b, c) = (peer(1), peer(2), peer(3));
    let msg = DmMessage::new([9; 16], 1, "I went through that too.".into()).unwrap();
    let sealed = seal(&a.key, &a.binding, &b.key.public, &msg.encode()).unwrap();
    let (from, plain) = open_sealed(&b.key, &sealed).unwrap();
    assert_eq!(from, a.node.public_key());
    assert_eq!(DmMessage::decode(&plain).unwrap(), msg);
    assert!(open_sealed(&c.key, &sealed).is_err());
    for i in (0..sealed.len()).step_by(7) {
        let mut bad = sealed.clone();
        bad[i] ^= 0x10;
        assert!(open_sealed(&b.key, &bad).is_err(), "flip at {i} accepted");
    }
    // Long texts span several Noise messages.
    let long = DmMessage::new([1; 16], 2, "x".repeat(200_000)).unwrap();
    let sealed = seal(&a.key, &a.binding, &b.key.public, &long.encode()).unwrap();
    assert_eq!(
        DmMessage::decode(&open_sealed(&b.key, &sealed).unwrap().1).unwrap(),
        long
    );
}

#[test]
fn chunks_reassemble_and_oversized_announcements_are_refused_before_buffering() {
    let item = Item::Direct(DmMessage::new([3; 16], 1, "y".repeat(150_000)).unwrap()).encode();
    let frames = chunk(5, &item).unwrap();
    assert!(frames.len() >= 3);
    let mut r = Reassembler::default();
    let mut out = None;
    for f in &frames {
        if let Frame::Chunk {
            transfer,
            index,
            count,
            data,
        } = f
        {
            out = r.push(*transfer, *index, *count, data).unwrap();
        }
    }
    assert_eq!(out.as_deref(), Some(item.as_slice()));
    let too_many = (MAX_ITEM_BYTES / CHUNK_BYTES + 2) as u16;
    assert!(matches!(
        Reassembler::default().push(1, 0, too_many, b"x"),
        Err(NoiseError::TooLarge { .. })
    ));
    let mut r = Reassembler::default();
    r.push(1, 0, 3, b"a").unwrap();
    assert!(
        r.push(1, 2, 3, b"c").is_err(),
        "a skipped chunk was accepted"
    );
    assert!(chunk(1, &vec![0; MAX_ITEM_BYTES + 1]).is_err());
}

#[test]
fn contact_codes_roundtrip_and_detect_tampering() {
    let a = peer(1);
    let c = Contact::new(
        &a.node,
        a.key.public,
        vec!["/ip4/127.0.0.1/tcp/1".into()],
        None,
    );
    let text = c.encode(&a.node).unwrap();
    assert!(text.starts_with("kindred-contact1"));
    assert_eq!(Contact::parse(&text).unwrap(), c);
    let mut forged = c.clone();
    forged.static_key = peer(2).key.public;
    // Signed by the right identity but binding a key the identity never bound.
    assert!(Contact::parse(&forged.encode(&a.node).unwrap()).is_err());
    assert!(Contact::parse("kindred1abc").is_err());
}
