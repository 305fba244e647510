//! Private messages between real `kindred` processes on 127.0.0.1.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{median, wait_for, Node};

const T: Duration = Duration::from_secs(60);

/// Two members of one circle, Bob having written first and Alice accepted.
fn pair() -> (Node, Node, String, String) {
    let a = Node::new("alice");
    let b = Node::new("bob");
    let invite = a.create("support");
    b.join(&invite);
    let alice_handle = a.handle_seen_by(&b);
    let out = b.ok(&["dm", &alice_handle, "hello, it's bob"]);
    assert!(out.contains("Delivered"), "{out}");
    let bob = b.peer_id();
    a.ok(&["accept", &bob]);
    (a, b, alice_handle, bob)
}

#[test]
fn a_hundred_messages_each_way_arrive_once_and_in_order() {
    let (a, b, alice_handle, bob) = pair();
    let mut times = Vec::new();
    for i in 0..3 {
        let text = format!("timing {i}");
        let start = Instant::now();
        b.ok(&["dm", &alice_handle, &text]);
        wait_for("the message on alice", T, || {
            a.chat(&bob).iter().any(|(t, _)| *t == text).then_some(())
        });
        times.push(start.elapsed());
    }
    println!(
        "dm -> visible in chat on the other node: median {:?} ({times:?})",
        median(times.clone())
    );

    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..100 {
                b.ok(&["dm", &alice_handle, &format!("b{i:03}")]);
            }
        });
        s.spawn(|| {
            for i in 0..100 {
                a.ok(&["dm", &bob, &format!("a{i:03}")]);
            }
        });
    });
    let on_a = wait_for("alice to have bob's 100", T, || {
        let c = a.chat(&bob);
        (c.iter().filter(|(t, _)| t.starts_with('b')).count() >= 100).then_some(c)
    });
    let on_b = wait_for("bob to have alice's 100", T, || {
        let c = b.chat(&alice_handle);
        (c.iter().filter(|(t, _)| t.starts_with('a')).count() >= 100).then_some(c)
    });
    let from_b: Vec<_> = on_a
        .iter()
        .filter(|(t, _)| t.starts_with('b'))
        .map(|(t, _)| t.clone())
        .collect();
    let from_a: Vec<_> = on_b
        .iter()
        .filter(|(t, _)| t.starts_with('a'))
        .map(|(t, _)| t.clone())
        .collect();
    let expect = |p: char| (0..100).map(|i| format!("{p}{i:03}")).collect::<Vec<_>>();
    assert_eq!(
        from_b,
        expect('b'),
        "bob's messages on alice: once each, in order"
    );
    assert_eq!(
        from_a,
        expect('a'),
        "alice's messages on bob: once each, in order"
    );
    // The sender sees every one of them delivered.
    wait_for("all of alice's to show delivered", T, || {
        a.chat(&bob)
            .iter()
            .filter(|(t, _)| t.starts_with('a'))
            .all(|(_, s)| s == "delivered")
            .then_some(())
    });
}

#[test]
fn messages_to_an_offline_peer_are_queued_and_arrive_once_when_it_returns() {
    let (mut a, b, alice_handle, bob) = pair();
    a.stop();
    for i in 0..20 {
        let out = b.ok(&["dm", &alice_handle, &format!("while away {i:02}")]);
        assert!(
            out.contains("queued"),
            "alice is down, so this should wait: {out}"
        );
    }
    let queued = b.chat(&alice_handle);
    assert_eq!(queued.iter().filter(|(_, s)| s == "queued").count(), 20);
    let start = Instant::now();
    a.start();
    wait_for("bob's view to move from queued to delivered", T, || {
        let c = b.chat(&alice_handle);
        (c.iter()
            .filter(|(t, s)| t.starts_with("while away") && s == "delivered")
            .count()
            == 20)
            .then_some(())
    });
    println!(
        "20 queued messages delivered {:?} after the recipient came back",
        start.elapsed()
    );
    let got: Vec<String> = a
        .chat(&bob)
        .into_iter()
        .map(|(t, _)| t)
        .filter(|t| t.starts_with("while away"))
        .collect();
    assert_eq!(
        got,
        (0..20)
            .map(|i| format!("while away {i:02}"))
            .collect::<Vec<_>>()
    );
    // Restarting again does not replay anything into history: a message
    // bob sends after the restart arrives after anything that would.
    a.stop();
    a.start();
    b.ok(&["dm", &alice_handle, "after the restart"]);
    wait_for("alice to read bob's message after the restart", T, || {
        a.chat(&bob)
            .iter()
            .any(|(t, _)| t == "after the restart")
            .then_some(())
    });
    assert_eq!(
        a.chat(&bob)
            .iter()
            .filter(|(t, _)| t.starts_with("while away"))
            .count(),
        20
    );
}

#[test]
fn strangers_land_as_requests_and_declined_or_blocked_peers_never_show() {
    let a = Node::new("alice");
    let c = Node::new("carol");
    let d = Node::new("dave");
    let invite = a.create("support");
    c.join(&invite);
    d.join(&invite);
    let alice_c = a.handle_seen_by(&c);
    let alice_d = a.handle_seen_by(&d);
    c.ok(&["dm", &alice_c, "hi, can we talk?"]);
    c.ok(&["dm", &alice_c, "second message"]);
    let (carol, dave) = (c.peer_id(), d.peer_id());
    let requests = a.ok(&["requests", "--json"]);
    assert!(
        requests.contains(&carol) && requests.contains("2"),
        "{requests}"
    );
    // A request can be read whole before answering it, marked as one.
    assert_eq!(
        a.chat(&carol),
        [
            ("hi, can we talk?".to_string(), "request".to_string()),
            ("second message".to_string(), "request".to_string())
        ]
    );

    // Declining deletes what was held and drops everything after.
    a.ok(&["decline", &carol]);
    c.ok(&["dm", &alice_c, "please?"]);
    assert!(a.chat(&carol).is_empty());
    assert!(!a.ok(&["requests", "--json"]).contains(&carol));

    // Block someone who wrote: their messages never show, even after.
    d.ok(&["dm", &alice_d, "hey"]);
    a.ok(&["block", &dave]);
    d.ok(&["dm", &alice_d, "hey again"]);
    assert!(a.chat(&dave).is_empty());
    let inbox = a.ok(&["inbox", "--json"]);
    assert!(
        !inbox.contains("hey again") && !inbox.contains("please?"),
        "{inbox}"
    );
    // The inbox lists whom you blocked, so they can be unblocked.
    let v: serde_json::Value = serde_json::from_str(&inbox).expect("inbox --json");
    assert!(
        v["blocked"]
            .as_array()
            .is_some_and(|b| b.iter().any(|c| c["peer"] == dave.as_str())),
        "{inbox}"
    );
    assert!(a.ok(&["inbox"]).contains("Blocked (kindred unblock PEER"));
    // Unblocking a never-accepted peer makes them a stranger again.
    a.ok(&["unblock", &dave]);
    d.ok(&["dm", &alice_d, "third"]);
    assert!(a.ok(&["requests", "--json"]).contains(&dave));
}

#[test]
fn contact_codes_reach_people_outside_your_circles() {
    let a = Node::new("alice");
    let b = Node::new("bob");
    let code = a.ok(&["contact"]).trim().to_string();
    assert!(code.starts_with("kindred-contact1"));
    let out = b.ok(&["dm", &code, "found you by your contact code"]);
    assert!(out.contains("Delivered"), "{out}");
    let bob = b.peer_id();
    assert!(a.ok(&["requests"]).contains("found you"));
    a.ok(&["accept", &bob]);
    assert_eq!(a.chat(&bob)[0].0, "found you by your contact code");
}

/// Forwards TCP connections to `target`, recording every byte both ways.
fn recording_relay(target: u16) -> (u16, Arc<Mutex<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("relay listen");
    let port = listener.local_addr().expect("addr").port();
    let tape: Arc<Mutex<Vec<u8>>> = Arc::default();
    let t = tape.clone();
    std::thread::spawn(move || {
        for inbound in listener.incoming().flatten() {
            let Ok(outbound) = TcpStream::connect(("127.0.0.1", target)) else {
                continue;
            };
            for (mut from, mut to) in [
                (
                    inbound.try_clone().expect("clone"),
                    outbound.try_clone().expect("clone"),
                ),
                (outbound, inbound),
            ] {
                let tape = t.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16 * 1024];
                    while let Ok(n) = from.read(&mut buf) {
                        if n == 0 || to.write_all(&buf[..n]).is_err() {
                            break;
                        }
                        tape.lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .extend_from_slice(&buf[..n]);
                    }
                    let _ = to.shutdown(std::net::Shutdown::Both);
                });
            }
        }
    });
    (port, tape)
}

#[test]
fn message_text_never_crosses_the_wire_in_clear() {
    const SECRET: &str = "MY-DISTINCTIVE-PRIVATE-TEXT-31337";
    let a = Node::new("alice");
    let b = Node::new("bob");
    let invite = a.create("support");
    // Point the invite at a recording relay in front of alice's real port,
    // (an invite's peers are hints, not signed).
    let alice_port: u16 = a.status()["listen"][0]
        .as_str()
        .and_then(|l| l.rsplit('/').next())
        .and_then(|p| p.parse().ok())
        .expect("alice's port");
    let (relay_port, tape) = recording_relay(alice_port);
    let mut inv = kindred_proto::Invite::parse(&invite, 0).expect("invite");
    inv.peers[0].addrs = vec![format!("/ip4/127.0.0.1/tcp/{relay_port}")];
    b.join(&inv.encode().expect("re-encode invite"));
    let alice = a.handle_seen_by(&b);
    b.ok(&["dm", &alice, SECRET]);
    b.ok(&["post", "support", "a post through the relay"]);
    a.ok(&["accept", &b.peer_id()]);
    wait_for("alice to show the private message", T, || {
        a.chat(&b.peer_id())
            .iter()
            .any(|(t, _)| t == SECRET)
            .then_some(())
    });
    a.wait_posts("support", 1, T);
    let tape = tape.lock().unwrap_or_else(|p| p.into_inner()).clone();
    assert!(
        tape.len() > 2_000,
        "the relay should have carried the traffic ({} bytes)",
        tape.len()
    );
    let contains = |needle: &[u8]| tape.windows(needle.len()).any(|w| w == needle);
    assert!(
        !contains(SECRET.as_bytes()),
        "private text crossed the wire in clear"
    );
    assert!(
        !contains(b"a post through the relay"),
        "a post crossed the wire in clear"
    );
    assert!(
        !contains(b"support"),
        "the circle's name crossed the wire in clear"
    );
    println!(
        "relay recorded {} bytes; no plaintext among them",
        tape.len()
    );
}

#[test]
fn chat_follow_prints_new_messages_as_they_arrive() {
    let (a, b, alice_handle, bob) = pair();
    let (mut follower, rx) = common::spawn_lines(&a, &["chat", &bob, "--json", "--follow"]);
    let next = || -> serde_json::Value {
        serde_json::from_str(&rx.recv_timeout(T).expect("chat --follow printed nothing"))
            .expect("JSON")
    };
    assert_eq!(next()["text"], "hello, it's bob");
    b.ok(&["dm", &alice_handle, "are you still up?"]);
    let m = next();
    assert_eq!(m["text"], "are you still up?");
    assert_eq!(m["from"], bob.as_str());
    assert_eq!(m["state"], "received");
    for field in ["id", "from", "text", "timestamp", "state"] {
        assert!(!m[field].is_null(), "chat --json lacks {field}");
    }
    let _ = follower.kill();
    let _ = follower.wait();
}

/// Reading a conversation changes nothing (so no link or stray GET can
/// mark someone's messages read unseen); saying it was shown does.
#[test]
fn reading_a_conversation_does_not_mark_it_read_until_it_was_shown() {
    let (a, b, alice_handle, bob) = pair();
    b.ok(&["dm", &alice_handle, "are you there?"]);
    let unread = |n: &Node| -> u64 {
        let inbox: serde_json::Value =
            serde_json::from_str(&n.ok(&["inbox", "--json"])).expect("inbox --json");
        inbox["conversations"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| c["unread"].as_u64().unwrap_or(0))
            .sum()
    };
    wait_for("an unread message on alice", T, || {
        (unread(&a) > 0).then_some(())
    });
    let control: serde_json::Value =
        serde_json::from_slice(&std::fs::read(a.dir.join("control.json")).expect("control"))
            .expect("json");
    let base = format!("http://{}", control["addr"].as_str().expect("addr"));
    let token = std::fs::read_to_string(a.dir.join("control.token")).expect("token");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let http = reqwest::Client::new();
        let r = http
            .get(format!("{base}/v1/chat?peer={bob}"))
            .bearer_auth(token.trim())
            .send()
            .await
            .expect("chat");
        assert_eq!(r.status(), 200);
        assert!(unread(&a) > 0, "a read of the conversation marked it read");
        let r = http
            .post(format!("{base}/v1/chat/read"))
            .bearer_auth(token.trim())
            .json(&serde_json::json!({ "peer": bob }))
            .send()
            .await
            .expect("read");
        assert_eq!(r.status(), 200);
    });
    assert_eq!(unread(&a), 0);
    // The CLI shows the conversation, so it marks it read.
    a.ok(&["dm", &bob, "yes"]);
    b.ok(&["dm", &alice_handle, "good"]);
    wait_for("another unread message", T, || {
        (unread(&a) > 0).then_some(())
    });
    a.chat(&bob);
    assert_eq!(unread(&a), 0);
}
