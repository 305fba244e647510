//! Real network stacks: hosts as network namespaces (see common/lab.rs),
//! the real `kindred` binary in each. Skips, saying why, where namespaces
//! cannot be made (not root, no iproute2/iptables).

mod common;

use std::time::{Duration, Instant};

use common::lab::Lab;
use common::{wait_for, Lcg, Node};
use serde_json::Value;

const T: Duration = Duration::from_secs(90);

fn ids(n: &Node, topic: &str) -> Vec<Value> {
    n.read(topic).iter().map(|m| m["id"].clone()).collect()
}

/// Scenario 2: five hosts in a circle; two are cut off and both sides keep
/// posting; after healing, every host has the identical history.
#[test]
fn a_partition_heals_into_one_history() {
    let Some(mut lab) = Lab::new() else { return };
    let hosts: Vec<_> = (0..5).map(|i| lab.host(&format!("p{i}"))).collect();
    let nodes: Vec<Node> = hosts
        .iter()
        .enumerate()
        .map(|(i, h)| Node::on_host(&format!("p{i}"), h, &[]))
        .collect();
    let invite = nodes[0].create("partition");
    for n in &nodes[1..] {
        n.join(&invite);
    }
    nodes[0].post("partition", "before the split");
    for n in &nodes {
        n.wait_posts("partition", 1, T);
    }

    // Cut hosts 3 and 4 off from 0, 1 and 2.
    let (big, small) = hosts.split_at(3);
    let big_refs: Vec<_> = big.iter().collect();
    for h in small {
        lab.partition(h, &big_refs);
    }
    for i in 0..3 {
        nodes[i % 3].post("partition", &format!("big side {i}"));
        nodes[3 + i % 2].post("partition", &format!("small side {i}"));
    }
    // Each side goes on working: the big side sees its own three posts.
    // (Whether the two cut hosts reach each other depends on whether they
    // happened to be connected; each sees at least its own.)
    for n in &nodes[..3] {
        n.wait_posts("partition", 4, T);
    }
    nodes[3].wait_posts("partition", 3, T);
    nodes[4].wait_posts("partition", 2, T);
    assert!(
        !nodes[0]
            .texts("partition")
            .iter()
            .any(|t| t.starts_with("small")),
        "the partition leaked"
    );
    // A cut-off host cannot know what it misses; its status must not claim
    // "in-sync" once its links have died.
    for n in &nodes[3..] {
        wait_for(
            &format!("{} to stop claiming it is in sync", n.name),
            T,
            || {
                let s = n.topic_status("partition");
                let peers = s["peers"].as_u64().unwrap_or(99);
                // Only the other cut host can still be connected; with nobody,
                // the status must say so rather than "in-sync".
                (peers <= 1 && (peers == 1 || s["sync"] == "no-peers")).then_some(())
            },
        );
    }
    let during: Vec<String> = nodes
        .iter()
        .map(|n| {
            let s = n.topic_status("partition");
            format!(
                "{}:{}({} peers)",
                n.name,
                s["sync"].as_str().unwrap_or("?"),
                s["peers"]
            )
        })
        .collect();

    let start = Instant::now();
    for h in small {
        lab.heal(h);
    }
    let want = 7;
    let reference = wait_for("every host to have every post", T, || {
        let histories: Vec<_> = nodes.iter().map(|n| ids(n, "partition")).collect();
        (histories.iter().all(|h| h.len() == want) && histories.windows(2).all(|w| w[0] == w[1]))
            .then(|| histories[0].clone())
    });
    let healed_in = start.elapsed();
    assert_eq!(reference.len(), want);
    for n in &nodes {
        let s = n.topic_status("partition");
        assert_eq!(s["missing"], 0, "{} still has gaps: {s}", n.name);
    }
    println!("partition: statuses during the split {during:?}; heal to identical histories on all 5 hosts: {healed_in:?}");
}

/// Scenario 5: a member knows no other member, only a DHT bootstrap node,
/// and finds the circle and syncs.
#[test]
fn a_member_finds_the_circle_through_the_dht_alone() {
    let Some(mut lab) = Lab::new() else { return };
    let (hb, ha, hc) = (lab.host("boot"), lab.host("alice"), lab.host("bob"));
    let boot = Node::on_host("boot", &hb, &[]);
    let boot_addr = boot.full_addr();
    let a = Node::on_host("alice", &ha, &["--bootstrap", &boot_addr]);
    // Shared history, so bob reads what came before him.
    let invite = a
        .ok(&["topic", "create", "night owls", "--share-history"])
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    for i in 0..10 {
        a.post("night owls", &format!("post {i}"));
    }
    let bare = a.invite_with_peers(&invite, vec![]);
    let b = Node::on_host("bob", &hc, &["--bootstrap", &boot_addr]);
    let start = Instant::now();
    b.join(&bare);
    let got = b.wait_posts("night owls", 10, T);
    println!(
        "DHT discovery across hosts: history of 10 synced {:?} after joining",
        start.elapsed()
    );
    assert_eq!(got[9]["text"], "post 9");
    assert_eq!(boot.status()["topics"].as_array().map(Vec::len), Some(0));
}

/// A host's link goes down (a laptop asleep, Wi-Fi gone) while others post;
/// when it comes back it reconnects by itself and catches up.
#[test]
fn a_host_whose_link_drops_reconnects_and_catches_up() {
    let Some(mut lab) = Lab::new() else { return };
    let (h0, h1) = (lab.host("s0"), lab.host("s1"));
    let a = Node::on_host("s0", &h0, &[]);
    let b = Node::on_host("s1", &h1, &[]);
    let invite = a.create("sleepers");
    b.join(&invite);
    a.post("sleepers", "before sleep");
    b.wait_posts("sleepers", 1, T);
    lab.link(&h1, false);
    for i in 0..5 {
        a.post("sleepers", &format!("while asleep {i}"));
    }
    // Dead links are noticed (pings fail) and the status says so honestly.
    let down = Instant::now();
    wait_for("the sleeper to notice it has no member", T, || {
        let s = b.topic_status("sleepers");
        (s["peers"] == 0 && s["sync"] == "no-peers").then_some(())
    });
    let noticed = down.elapsed();
    let start = Instant::now();
    lab.link(&h1, true);
    b.wait_posts("sleepers", 6, T);
    let s = b.topic_status("sleepers");
    assert_eq!(s["sync"], "in-sync", "{s}");
    println!(
        "link down/up: dead link noticed after {noticed:?}; caught up {:?} after the link returned",
        start.elapsed()
    );
}

/// Scenario 3: ten members come and go at random (stopped or SIGKILLed,
/// then restarted) while posts flow; every member that is up at the end has
/// every post that was acknowledged.
#[test]
fn churn_every_member_up_at_the_end_has_every_post() {
    let Some(mut lab) = Lab::new() else { return };
    let secs: u64 = std::env::var("KINDRED_CHURN_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    let seed = std::env::var("KINDRED_CHURN_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| std::process::id() as u64);
    println!("churn for {secs} s, seed {seed} (KINDRED_CHURN_SECS / KINDRED_CHURN_SEED)");
    let mut rng = Lcg(seed);
    let hosts: Vec<_> = (0..10).map(|i| lab.host(&format!("c{i}"))).collect();
    let mut nodes: Vec<Node> = hosts
        .iter()
        .enumerate()
        .map(|(i, h)| Node::on_host(&format!("c{i}"), h, &[]))
        .collect();
    let invite = nodes[0].create("churn");
    for n in &nodes[1..] {
        n.join(&invite);
    }
    let mut up = [true; 10];
    let mut acked: Vec<String> = Vec::new();
    let (mut stops, mut kills, mut starts) = (0, 0, 0);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut k = 0;
    while Instant::now() < deadline {
        k += 1;
        if rng.next(10) < 6 {
            let running: Vec<usize> = (0..10).filter(|&i| up[i]).collect();
            let i = running[rng.next(running.len() as u64) as usize];
            let text = format!("churn {k} from c{i}");
            if nodes[i].cli(&["post", "churn", &text]).status.success() {
                acked.push(text);
            }
        } else {
            let i = 1 + rng.next(9) as usize;
            if up[i] {
                if up.iter().filter(|u| **u).count() > 3 {
                    if rng.next(2) == 0 {
                        nodes[i].stop();
                        stops += 1;
                    } else {
                        nodes[i].kill9();
                        kills += 1;
                    }
                    up[i] = false;
                }
            } else {
                nodes[i].start();
                starts += 1;
                up[i] = true;
            }
        }
    }
    let start = Instant::now();
    for (i, n) in nodes.iter().enumerate().filter(|(i, _)| up[*i]) {
        wait_for(
            &format!("c{i} to have all {} acknowledged posts", acked.len()),
            T,
            || {
                let have: std::collections::HashSet<String> =
                    n.texts("churn").into_iter().collect();
                acked.iter().all(|a| have.contains(a)).then_some(())
            },
        );
    }
    println!(
        "churn: {} posts acknowledged, {stops} stops, {kills} SIGKILLs, {starts} restarts; the {} members up at the end had them all {:?} after churn stopped",
        acked.len(),
        up.iter().filter(|u| **u).count(),
        start.elapsed()
    );
}

/// Scenario 1: two members behind separate NATs and one public relay. They
/// join one circle and exchange posts and private messages, first through
/// the relay; the test reports whether hole punching made it direct.
#[test]
fn members_behind_separate_nats_talk_through_a_relay() {
    let Some(mut lab) = Lab::new() else { return };
    let hr = lab.host("relay");
    // The relay listens on QUIC too, and members reach it over QUIC: the
    // address the relay observes for them is then the very UDP mapping
    // their NAT made for their QUIC socket, which is what hole punching needs.
    let rq = format!("/ip4/{}/udp/0/quic-v1", hr.ip);
    let relay = Node::on_host("relay", &hr, &["--relay", "--listen", &rq]);
    let (ha, hb) = (lab.host_behind_nat("a"), lab.host_behind_nat("b"));
    // QUIC too: hole punching through NAT works far more often over UDP.
    let (qa, qb) = (
        format!("/ip4/{}/udp/0/quic-v1", ha.ip),
        format!("/ip4/{}/udp/0/quic-v1", hb.ip),
    );
    // Each knows the relay only as a DHT bootstrap peer; finding itself
    // unreachable from outside, it reserves a slot there by itself.
    let boot = relay.quic_addr();
    let a = Node::on_host("alice", &ha, &["--bootstrap", &boot, "--listen", &qa]);
    let b = Node::on_host("bob", &hb, &["--bootstrap", &boot, "--listen", &qb]);
    wait_for("alice's reservation", T, || {
        a.status()["listen"]
            .as_array()?
            .iter()
            .any(|l| l.as_str().is_some_and(|l| l.contains("p2p-circuit")))
            .then_some(())
    });
    let invite = a.create("behind routers");
    let start = Instant::now();
    b.join(&invite);
    // Posted once bob is in: a newcomer reads from its arrival on.
    a.post("behind routers", "hello from behind a NAT");
    b.wait_posts("behind routers", 1, T);
    println!(
        "NAT: bob joined through the relay and synced in {:?}",
        start.elapsed()
    );
    b.post("behind routers", "hello back");
    a.wait_posts("behind routers", 2, T);
    let alice = a.handle_seen_by(&b);
    assert!(b
        .ok(&["dm", &alice, "privately, across two NATs"])
        .contains("Delivered"));
    a.ok(&["accept", &b.peer_id()]);
    assert_eq!(a.chat(&b.peer_id())[0].0, "privately, across two NATs");
    // Bob could reach alice only through the relay at first (her own
    // addresses are private); hole punching then makes it direct. The lab's
    // routers behave like home routers (port-preserving NAT, unsolicited
    // packets dropped), through which QUIC hole punching works.
    let direct = wait_for("a direct connection after hole punching", T, || {
        b.ok(&["peers", "--json"])
            .lines()
            .find(|l| l.contains(&a.peer_id()) && !l.contains("p2p-circuit"))
            .map(str::to_string)
    });
    println!("NAT: hole punching succeeded; bob reaches alice directly: {direct}");
    a.post("behind routers", "now without the relay");
    b.wait_posts("behind routers", 3, T);
}

/// AutoNAT: a host with a public address behind a firewall cannot tell from
/// its addresses that nobody can reach it. Peers dialling it back tell it;
/// it then reserves a relay slot, and a member reaches it through the relay.
/// A host without the firewall is found reachable and reserves nothing.
#[test]
fn a_firewalled_host_learns_it_is_unreachable_and_uses_a_relay() {
    let Some(mut lab) = Lab::new() else { return };
    let hr = lab.host("relay");
    let relay = Node::on_host("relay", &hr, &["--relay"]);
    let boot = relay.full_addr();
    let (hc, hd) = (lab.host("carol"), lab.host("dave"));
    lab.firewall(&hc);
    let carol = Node::on_host("carol", &hc, &["--bootstrap", &boot]);
    let dave = Node::on_host("dave", &hd, &["--bootstrap", &boot]);
    let start = Instant::now();
    wait_for("carol to find herself unreachable and reserve", T, || {
        let s = carol.status();
        let relayed = s["listen"]
            .as_array()?
            .iter()
            .any(|l| l.as_str().is_some_and(|l| l.contains("p2p-circuit")));
        (s["reachability"] == "private" && relayed).then_some(())
    });
    println!(
        "AutoNAT: carol behind a firewall found out and reserved a relay slot in {:?}",
        start.elapsed()
    );
    wait_for("dave to be confirmed reachable", T, || {
        (dave.status()["reachability"] == "public").then_some(())
    });
    let s = dave.status();
    assert!(
        !s["listen"].to_string().contains("p2p-circuit"),
        "a reachable host reserves no relay slot: {s}"
    );
    // Dave cannot dial carol's own address; the invite's relayed one works.
    let invite = carol.create("firewalled");
    dave.join(&invite);
    carol.post("firewalled", "from behind a firewall");
    dave.wait_posts("firewalled", 1, T);
    dave.post("firewalled", "through the relay");
    carol.wait_posts("firewalled", 2, T);
}
