//! Finding a circle through the DHT alone.

mod common;

use std::time::{Duration, Instant};

use common::Node;

const T: Duration = Duration::from_secs(60);

#[test]
fn a_member_with_only_a_dht_bootstrap_address_finds_the_circle_and_syncs() {
    // A plain node that is in no circle: the only address anyone is given.
    let dht = Node::new("bootstrap");
    let boot = dht.full_addr();
    let a = Node::with_args("alice", &["--bootstrap", &boot]);
    // History is shared in this circle, so bob can read what came before.
    let invite = a
        .ok(&["topic", "create", "night owls", "--share-history"])
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    for i in 0..5 {
        a.post("night owls", &format!("before bob {i}"));
    }
    // Bob's invite names no peer at all: he must find Alice through the DHT.
    let bare = a.invite_with_peers(&invite, vec![]);
    let b = Node::with_args("bob", &["--bootstrap", &boot]);
    let start = Instant::now();
    b.join(&bare);
    let got = b.wait_posts("night owls", 5, T);
    println!(
        "found the circle through the DHT and synced 5 posts in {:?}",
        start.elapsed()
    );
    assert_eq!(got[0]["text"], "before bob 0");
    // And the circle works both ways from there.
    b.post("night owls", "found you");
    a.wait_posts("night owls", 6, T);
    // The bootstrap node learned nothing it could read: it is in no circle.
    assert_eq!(dht.status()["topics"].as_array().map(Vec::len), Some(0));
}
