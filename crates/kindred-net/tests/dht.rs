//! Rendezvous through Kindred's DHT with real swarms on 127.0.0.1.

use std::time::Duration;

use kindred_net::{Command, Event, Keypair, Multiaddr, NetConfig, NetHandle, PeerId};
use tokio::sync::mpsc::UnboundedReceiver;

async fn node() -> (NetHandle, UnboundedReceiver<Event>, Multiaddr) {
    let listen: Multiaddr = "/ip4/127.0.0.1/tcp/0".parse().unwrap();
    let (net, mut events, _task) =
        kindred_net::spawn(Keypair::generate_ed25519(), NetConfig::new(vec![listen])).unwrap();
    let addr = loop {
        match tokio::time::timeout(Duration::from_secs(10), events.recv()).await {
            Ok(Some(Event::Listening { addr })) => break addr,
            Ok(Some(_)) => continue,
            _ => panic!("node did not start listening"),
        }
    };
    let full = addr.with(libp2p::multiaddr::Protocol::P2p(net.peer_id()));
    (net, events, full)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_is_found_through_a_third_node() {
    let (dht, _e0, dht_addr) = node().await;
    let (alice, _e1, _) = node().await;
    let (bob, _e2, _) = node().await;
    for n in [&alice, &bob] {
        n.send(Command::Bootstrap {
            addrs: vec![dht_addr.clone()],
        })
        .await
        .unwrap();
    }
    let key = b"some rendezvous key of one day".to_vec();
    // Announce until the record is stored somewhere (the bootstrap dial may still be under way).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let found: Vec<PeerId> = loop {
        alice
            .send(Command::Provide { key: key.clone() })
            .await
            .unwrap();
        let found = bob.find_providers(key.clone()).await.unwrap();
        if found.contains(&alice.peer_id()) || tokio::time::Instant::now() > deadline {
            break found;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        found.contains(&alice.peer_id()),
        "bob did not find alice: {found:?}"
    );
    // Nobody announced another key.
    assert!(bob
        .find_providers(b"another key".to_vec())
        .await
        .unwrap()
        .is_empty());
    // Finding alice also connected bob to her.
    assert!(bob.connect(alice.peer_id(), vec![]).await.unwrap());
    let _ = dht;
}
