//! ingest: how fast one node validates (decrypt + verify) and stores a
//! burst of valid messages arriving by gossip, against the bare crypto per
//! message (one AEAD open + one ed25519 verify) measured in the same run.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures::StreamExt;
use libp2p::{gossipsub, swarm::SwarmEvent};

use crate::stats::{self, num, percentile, sorted, Table};

pub fn run(count: usize) -> Result<String> {
    let rt = tokio::runtime::Runtime::new()?;
    let (node_rate, p50, p99, env_len) = rt.block_on(through_node(count))?;
    let (ceiling, open_rate) = crypto_ceiling(env_len)?;
    let mut t = Table::new(&["measure", "value"]);
    t.row(vec![
        format!("node: validated + stored, burst of {count} by gossip"),
        format!("{} msgs/s", num(node_rate)),
    ]);
    t.row(vec![
        format!("ceiling: XChaCha20-Poly1305 open ({env_len} B) + ed25519 verify, one core"),
        format!("{} msgs/s", num(ceiling)),
    ]);
    t.row(vec![
        "node / ceiling".into(),
        format!("{:.0}%", 100.0 * node_rate / ceiling),
    ]);
    t.row(vec![
        "`envelope::open` alone (CBOR + AEAD + verify), one core".into(),
        format!("{} msgs/s", num(open_rate)),
    ]);
    t.row(vec![
        "`Store::insert` alone (one transaction per message)".into(),
        format!("{} msgs/s", num(store_rate()?)),
    ]);
    t.row(vec![
        "arrival → stored p50".into(),
        format!("{} ms", num(p50)),
    ]);
    t.row(vec![
        "arrival → stored p99".into(),
        format!("{} ms", num(p99)),
    ]);
    Ok(format!("### ingest\n\n{}", t.render()))
}

/// Starts a node in a circle, has a bare gossipsub peer publish `count`
/// valid envelopes as fast as it can, and times the node.
async fn through_node(count: usize) -> Result<(f64, f64, f64, usize)> {
    use kindred_node::{Node, NodeConfig};
    let tmp = tempfile::tempdir()?;
    let mut c = NodeConfig::new(tmp.path().join("node"));
    c.listen = vec!["/ip4/127.0.0.1/tcp/0".parse()?];
    let node = Node::start(c).await?;
    let (topic, invite) = node
        .node
        .create_topic("ingest", "", Some("n".into()), None)
        .await?;
    let keys = crate::fixtures::keys_of(&invite)?;
    let author = kindred_proto::Pseudonym::from_seed([9; 32]);
    let envelopes = crate::fixtures::loose(&keys, &author, count, 300)?;
    let env_len = envelopes.first().map(|e| e.len()).unwrap_or(0);

    let mut feeder = crate::bare::swarm()?;
    let gtopic = gossipsub::IdentTopic::new(keys.gossip_topic.clone());
    feeder.behaviour_mut().subscribe(&gtopic)?;
    let addr = node
        .node
        .status()
        .await?
        .listen
        .first()
        .context("node has no listen address")?
        .parse::<libp2p::Multiaddr>()?
        .with(libp2p::multiaddr::Protocol::P2p(node.node.peer_id()));
    feeder.dial(addr)?;
    // Until the node is subscribed as far as the feeder knows.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if Instant::now() > deadline {
            bail!("the node never subscribed");
        }
        let ev = tokio::time::timeout(Duration::from_secs(10), feeder.select_next_some()).await?;
        if let SwarmEvent::Behaviour(gossipsub::Event::Subscribed { .. }) = ev {
            break;
        }
    }
    eprintln!("ingest: feeder connected, publishing {count}");
    let mut rx = node.node.stored_events();
    let mut pending = envelopes.into_iter();
    let mut times = Vec::with_capacity(count);
    let (mut first, mut last) = (None, None);
    let deadline = Instant::now() + Duration::from_secs(60);
    while times.len() < count && Instant::now() < deadline {
        // Publish in slices, keeping the swarm polled so it actually sends.
        for env in pending.by_ref().take(64) {
            while let Err(e) = feeder.behaviour_mut().publish(gtopic.clone(), env.clone()) {
                eprintln!("publish: {e}");
                if !matches!(e, gossipsub::PublishError::AllQueuesFull(_)) {
                    break;
                }
                let _ =
                    tokio::time::timeout(Duration::from_millis(1), feeder.select_next_some()).await;
            }
        }
        tokio::select! {
            _ = feeder.select_next_some() => {}
            s = rx.recv() => {
                let s = s?;
                first.get_or_insert(s.arrived);
                last = Some(s.stored);
                times.push(stats::ms(s.stored - s.arrived));
            }
        }
        while let Ok(s) = rx.try_recv() {
            first.get_or_insert(s.arrived);
            last = Some(s.stored);
            times.push(stats::ms(s.stored - s.arrived));
        }
    }
    if times.len() < count {
        bail!("only {} of {count} messages were stored", times.len());
    }
    let (Some(first), Some(last)) = (first, last) else {
        bail!("nothing arrived");
    };
    let rate = count as f64 / (last - first).as_secs_f64();
    let t = sorted(times);
    let _ = topic;
    node.shutdown().await?;
    Ok((rate, percentile(&t, 50.0), percentile(&t, 99.0), env_len))
}

/// Messages per second one core opens and verifies with the raw
/// primitives, and through Kindred's own `open`.
fn crypto_ceiling(env_len: usize) -> Result<(f64, f64)> {
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};
    use chacha20poly1305::{XChaCha20Poly1305, XNonce};
    use ed25519_dalek::{Signer, SigningKey, Verifier};
    let n = 4000;
    let cipher = XChaCha20Poly1305::new(&[3u8; 32].into());
    let sk = SigningKey::from_bytes(&[5u8; 32]);
    let vk = sk.verifying_key();
    let items: Vec<(XNonce, Vec<u8>, ed25519_dalek::Signature)> = (0..n)
        .map(|i: u32| {
            let mut nonce = [0u8; 24];
            nonce[..4].copy_from_slice(&i.to_le_bytes());
            let nonce = XNonce::from(nonce);
            let pt = vec![i as u8; env_len.saturating_sub(40)];
            let sig = sk.sign(&pt[..pt.len().min(400)]);
            let ct = cipher
                .encrypt(
                    &nonce,
                    Payload {
                        msg: &pt,
                        aad: b"ad",
                    },
                )
                .map_err(|_| anyhow::anyhow!("encrypt"));
            ct.map(|ct| (nonce, ct, sig))
        })
        .collect::<Result<_>>()?;
    let start = Instant::now();
    for (nonce, ct, sig) in &items {
        let pt = cipher
            .decrypt(
                nonce,
                Payload {
                    msg: ct,
                    aad: b"ad",
                },
            )
            .map_err(|_| anyhow::anyhow!("decrypt"))?;
        vk.verify(&pt[..pt.len().min(400)], sig)?;
    }
    let ceiling = n as f64 / start.elapsed().as_secs_f64();

    let keys = kindred_proto::TopicKeys::derive(&kindred_proto::TopicSecret::from_bytes([4; 32]));
    let author = kindred_proto::Pseudonym::from_seed([9; 32]);
    let envs = crate::fixtures::loose(&keys, &author, 2000, 300)?;
    let start = Instant::now();
    for e in &envs {
        kindred_proto::envelope::open(&keys, e)?;
    }
    let open_rate = envs.len() as f64 / start.elapsed().as_secs_f64();
    Ok((ceiling, open_rate))
}

/// Messages per second the store takes one by one (each insert its own
/// multi-tree transaction), without any crypto.
fn store_rate() -> Result<f64> {
    let tmp = tempfile::tempdir()?;
    let store = kindred_store::Store::open(kindred_store::DataDir::lock(&tmp.path().join("s"))?)?;
    let keys = kindred_proto::TopicKeys::derive(&kindred_proto::TopicSecret::from_bytes([4; 32]));
    let author = kindred_proto::Pseudonym::from_seed([9; 32]);
    let records = crate::fixtures::chain(&keys, &author, 4000, None, 300)?;
    let start = Instant::now();
    for r in records {
        store.insert(&keys.id, r)?;
    }
    Ok(4000.0 / start.elapsed().as_secs_f64())
}
