//! dm: private-message crypto on this machine: Noise XX handshakes per
//! second, session throughput, and the raw AEAD underneath, so the ratio
//! shows what the session adds (framing, CBOR, rekey checks).
#![allow(clippy::expect_used)]

use std::time::{Duration, Instant};

use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use kindred_proto::noise::{Binding, Frame, Handshake, Session, SessionLimits, StaticKeypair};
use kindred_proto::NodeSecret;
use serde_bytes::ByteBuf;

const RUN: Duration = Duration::from_secs(2);

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

fn handshake(a: &Peer, b: &Peer) -> (Session, Session) {
    let mut i = Handshake::initiator(&a.key, &a.binding, b.node.public_key()).expect("initiator");
    let mut r = Handshake::responder(&b.key, &b.binding, a.node.public_key()).expect("responder");
    while !(i.is_finished() && r.is_finished()) {
        if i.is_my_turn() {
            r.read(&i.write().expect("write")).expect("read");
        } else {
            i.read(&r.write().expect("write")).expect("read");
        }
    }
    (
        i.into_session(SessionLimits::default()).expect("session"),
        r.into_session(SessionLimits::default()).expect("session"),
    )
}

/// Runs `f` repeatedly for about `RUN`; returns iterations per second.
fn rate(mut f: impl FnMut()) -> f64 {
    for _ in 0..10 {
        f();
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < RUN {
        for _ in 0..16 {
            f();
        }
        n += 16;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

pub fn run() -> String {
    let (a, b) = (peer(1), peer(2));
    let hs = rate(|| {
        std::hint::black_box(handshake(&a, &b));
    });

    let mut rows = Vec::new();
    for size in [1024usize, 16 * 1024] {
        // Session: one chunk frame per message, sealed by one side, opened by the other.
        let (mut tx, mut rx) = handshake(&a, &b);
        let frame = Frame::Chunk {
            transfer: 0,
            index: 0,
            count: 1,
            data: ByteBuf::from(vec![0x5a; size]),
        };
        let session = rate(|| {
            for m in tx.seal_frame(&frame).expect("seal") {
                std::hint::black_box(rx.open_frame(&m).expect("open"));
            }
        }) * size as f64;

        // Raw AEAD: encrypt and decrypt the same bytes in place.
        let cipher = ChaCha20Poly1305::new(&[7u8; 32].into());
        let mut buf = vec![0x5a; size];
        let mut counter = 0u64;
        let raw = rate(|| {
            counter += 1;
            let mut n = [0u8; 12];
            n[4..].copy_from_slice(&counter.to_le_bytes());
            let nonce = Nonce::from(n);
            let tag = cipher
                .encrypt_inout_detached(&nonce, b"", buf.as_mut_slice().into())
                .expect("encrypt");
            cipher
                .decrypt_inout_detached(&nonce, b"", buf.as_mut_slice().into(), &tag)
                .expect("decrypt");
        }) * size as f64;
        rows.push((size, session, raw));
    }

    let mut s = String::from("### dm\n\n| measure | value |\n|---|---|\n");
    s += &format!("| Noise XX handshakes (both sides, with identity binding) | {hs:.0} /s |\n");
    for (size, session, raw) in rows {
        let mb = |b: f64| b / 1e6;
        s += &format!(
            "| session seal+open, {} KiB messages | {:.0} MB/s |\n",
            size / 1024,
            mb(session)
        );
        s += &format!(
            "| raw ChaCha20-Poly1305 encrypt+decrypt, {} KiB | {:.0} MB/s (session = {:.0}% of raw) |\n",
            size / 1024,
            mb(raw),
            100.0 * session / raw
        );
    }

    s
}
