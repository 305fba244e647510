//! A process that knows a circle's gossip topic string but not its secret:
//! it is sent nothing, counted as nothing, and nothing it injects is
//! accepted or shown.

mod common;

use std::time::Duration;

use common::{wait_for, Node};
use kindred_net::{Command, Event, Multiaddr, NetConfig, PeerId};
use kindred_proto::envelope::seal;
use kindred_proto::{Invite, Kind, MessageContent, Pseudonym, TopicKeys, TopicSecret};

const T: Duration = Duration::from_secs(60);
const SECRET_TEXT: &str = "MY-PRIVATE-WORDS-4711";

#[test]
fn an_outsider_sees_only_ciphertext_and_its_injections_are_rejected() {
    let a = Node::new("alice");
    let b = Node::new("bob");
    let invite = a.create("addiction recovery");
    b.join(&invite);

    // The outsider learns the topic string (as anyone watching a member's
    // subscriptions could) but never the secret.
    let gossip_topic = TopicKeys::derive(
        &Invite::parse(&invite, 0)
            .map(|i| i.locator)
            .unwrap_or_else(|e| panic!("{e}")),
    )
    .gossip_topic
    .clone();

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let _enter = rt.enter();
    let key = kindred_net::Keypair::generate_ed25519();
    let listen: Multiaddr = "/ip4/127.0.0.1/tcp/0".parse().expect("addr");
    let (net, mut events, _task) =
        kindred_net::spawn(key, NetConfig::new(vec![listen])).expect("outsider network");

    let status = a.status();
    let alice: PeerId = status["peer_id"]
        .as_str()
        .expect("peer id")
        .parse()
        .expect("peer id");
    let addr: Multiaddr = status["listen"][0]
        .as_str()
        .expect("listen addr")
        .parse()
        .expect("addr");
    rt.block_on(async {
        net.subscribe(gossip_topic.clone())
            .await
            .expect("subscribe");
        net.dial(addr).await.expect("dial alice");
    });
    wait_for("alice to be a topic peer of the outsider", T, || {
        rt.block_on(net.topic_peers(gossip_topic.clone()))
            .ok()
            .filter(|p| p.contains(&alice))
    });

    // Alice posts. The outsider never proved membership, so nothing is
    // sent to it: not the post, not even its ciphertext (it would learn
    // which node wrote what). Bob, a member, gets both posts.
    a.post("addiction recovery", SECRET_TEXT);
    a.post("addiction recovery", "second");
    b.wait_posts("addiction recovery", 2, T);
    // Events arrive in order: anything Alice sent the outsider alongside
    // Bob's copies would be queued by now (the outsider's own task has had
    // the time Bob's node took to store two posts).
    let seen: Vec<Vec<u8>> = rt.block_on(async {
        let mut seen = Vec::new();
        let _ = tokio::time::timeout(Duration::from_millis(500), async {
            while let Some(ev) = events.recv().await {
                if let Event::Gossip(kindred_net::GossipIn { data, .. }) = ev {
                    seen.push(data);
                }
            }
        })
        .await;
        seen
    });
    assert!(
        seen.is_empty(),
        "an unproven subscriber was sent {} frame(s)",
        seen.len()
    );
    // Alice does not count it as a member of anything.
    let peers = a.ok(&["peers", "--json"]);
    let outsider = net.peer_id().to_string();
    let line = peers
        .lines()
        .find(|l| l.contains(&outsider))
        .unwrap_or_else(|| panic!("the outsider is connected: {peers}"));
    let v: serde_json::Value = serde_json::from_str(line).expect("peers --json");
    assert_eq!(
        v["topics"],
        serde_json::json!([]),
        "the outsider is in no circle"
    );
    assert_eq!(
        a.topic_status("addiction recovery")["peers"],
        1,
        "only bob counts"
    );

    // Now it injects: random bytes, a message sealed under another topic's
    // key, and that one with a byte flipped.
    let other = TopicKeys::derive(&TopicSecret::from_bytes([42; 32]));
    let content = MessageContent {
        kind: Kind::Post,
        body: "injected".into(),
        parents: vec![],
        timestamp: 0,
        depth: 0,
    };
    let other_epoch = kindred_proto::topic::EpochKeys::derive(
        &other.id,
        &kindred_proto::authority::EpochSecret::from_bytes([43; 32]),
    );
    let (_, foreign) = seal(
        &other,
        &other_epoch,
        &Pseudonym::from_seed([1; 32]),
        &content,
    )
    .expect("seal");
    let mut tampered = foreign.clone();
    let mid = tampered.len() / 2;
    tampered[mid] ^= 0x40;
    let random: Vec<u8> = (0..512u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    rt.block_on(async {
        // An attacker's own node has no reason to hold back from Alice.
        net.send(Command::SetProven {
            peer: alice,
            proven: true,
        })
        .await
        .expect("set proven");
        for junk in [random, foreign, tampered] {
            net.publish(gossip_topic.clone(), junk)
                .await
                .expect("publish");
        }
    });
    // Each rejection costs the outsider gossip score; after two it is
    // graylisted and the rest are dropped unread. Either way none counts.
    wait_for("alice to reject the injections", T, || {
        let t = a.topic_status("addiction recovery");
        (t["rejected"].as_u64() >= Some(2)).then_some(())
    });
    // Nobody shows anything but Alice's real post, and the circle still works.
    a.post("addiction recovery", "still here");
    for n in [&a, &b] {
        let texts = n.wait_posts("addiction recovery", 3, T);
        let texts: Vec<_> = texts
            .iter()
            .map(|m| m["text"].as_str().unwrap_or("").to_string())
            .collect();
        assert_eq!(
            texts,
            vec![
                SECRET_TEXT.to_string(),
                "second".to_string(),
                "still here".to_string()
            ],
            "{}",
            n.name
        );
    }
    assert_eq!(
        b.topic_status("addiction recovery")["rejected"].as_u64(),
        Some(0),
        "junk was forwarded to bob"
    );

    // Alice's address book holds Bob, and nothing of the outsider: it will
    // never be redialled.
    let bob_id: PeerId = b.peer_id().parse().expect("bob's peer id");
    let mut a = a;
    a.stop();
    let store = kindred_store::Store::open(
        kindred_store::DataDir::lock(a.data_dir()).expect("alice's data dir"),
    )
    .expect("alice's store");
    let known: Vec<PeerId> = store
        .known_peers(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock")
                .as_millis() as u64,
        )
        .expect("address book")
        .into_iter()
        .filter_map(|(p, _)| PeerId::from_bytes(&p).ok())
        .collect();
    assert!(known.contains(&bob_id), "bob is remembered: {known:?}");
    assert!(
        !known.contains(&net.peer_id()),
        "the outsider is remembered"
    );
}
