//! Reaching a member only through a relay (circuit relay v2), on 127.0.0.1.

mod common;

use std::time::{Duration, Instant};

use common::{wait_for, Node};

const T: Duration = Duration::from_secs(60);

#[test]
fn a_member_reachable_only_through_a_relay_can_be_joined_and_written_to() {
    let relay = Node::with_args("relay", &["--relay"]);
    let via = format!("{}/p2p-circuit", relay.full_addr());
    // Alice also listens through the relay (a reservation), as a laptop
    // behind a home router would.
    let a = Node::with_args("alice", &["--listen", &via]);
    let relayed = wait_for("alice's reservation on the relay", T, || {
        a.status()["listen"]
            .as_array()?
            .iter()
            .filter_map(|l| l.as_str())
            .find(|l| l.contains("p2p-circuit"))
            .map(str::to_string)
    });
    let invite = a.create("night owls");
    // Bob's invite names only the relayed address.
    let alice_id: libp2p::PeerId = a.peer_id().parse().expect("peer id");
    let only_relayed = a.invite_with_peers(
        &invite,
        vec![kindred_proto::InvitePeer {
            peer_id: serde_bytes::ByteBuf::from(alice_id.to_bytes()),
            addrs: vec![relayed.clone()],
        }],
    );
    let b = Node::new("bob");
    let start = Instant::now();
    b.join(&only_relayed);
    // Posted once bob is in: a newcomer reads from its arrival on.
    a.post("night owls", "hello through the relay");
    b.wait_posts("night owls", 1, T);
    println!(
        "joined through the relay and synced in {:?}",
        start.elapsed()
    );
    let alice = a.handle_seen_by(&b);
    assert!(b
        .ok(&["dm", &alice, "hi, privately, via the relay"])
        .contains("Delivered"));
    a.ok(&["accept", &b.peer_id()]);
    assert_eq!(a.chat(&b.peer_id())[0].0, "hi, privately, via the relay");
    let peers = b.ok(&["peers", "--json"]);
    let direct = peers
        .lines()
        .filter(|l| l.contains(&a.peer_id()))
        .any(|l| !l.contains("p2p-circuit"));
    println!(
        "bob's connection to alice is {}",
        if direct {
            "direct (hole punching upgraded it)"
        } else {
            "relayed"
        }
    );
}
