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
    let runs = rt.block_on(through_node(count))?;
    let (ceiling, open_rate) = (runs.burst.ceiling, runs.burst.open_rate);
    let mut t = Table::new(&["measure", "value"]);
    t.row(vec![
        format!("node: validated + stored, burst of {count} by gossip (median of {BURSTS})"),
        format!("{} msgs/s", num(runs.burst.rate)),
    ]);
    t.row(vec![
        format!(
            "ceiling: XChaCha20-Poly1305 open ({} B) + ed25519 verify, one core, just before that burst",
            runs.env_len
        ),
        format!("{} msgs/s", num(ceiling)),
    ]);
    t.row(vec![
        "node / ceiling".into(),
        format!("{:.0}%", 100.0 * runs.burst.rate / ceiling),
    ]);
    t.row(vec![
        "`envelope::open` alone (CBOR + AEAD + verify), one core".into(),
        format!("{} msgs/s", num(open_rate)),
    ]);
    t.row(vec![
        "`Store::insert` alone (one transaction per message)".into(),
        format!("{} msgs/s", num(store_rate(1)?)),
    ]);
    t.row(vec![
        "`Store::insert_many` alone, batches of 256".into(),
        format!("{} msgs/s", num(store_rate(256)?)),
    ]);
    t.row(vec![
        "arrival → stored p50 / p99 during the burst (queueing)".into(),
        format!("{} / {} ms", num(runs.burst.p50_ms), num(runs.burst.p99_ms)),
    ]);
    t.row(vec![
        format!(
            "arrival → stored p50 / p99 at {} msgs/s (half the burst rate)",
            num(runs.paced_rate)
        ),
        format!("{} / {} ms", num(runs.paced.p50_ms), num(runs.paced.p99_ms)),
    ]);
    Ok(format!("### ingest\n\n{}", t.render()))
}

/// Bursts fed one after another, each right after measuring the ceiling;
/// the table shows the burst with the median node / ceiling ratio, as this
/// machine's speed wanders by a third from one minute to the next.
const BURSTS: usize = 3;

/// What one feeding of the node measured.
struct Run {
    /// Messages per second from the first arrival to the last stored.
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// The crypto ceiling and `envelope::open` alone, measured just before.
    ceiling: f64,
    open_rate: f64,
}

struct Runs {
    burst: Run,
    paced: Run,
    paced_rate: f64,
    env_len: usize,
}

/// Starts a node in a circle and has a bare gossipsub peer feed it valid
/// envelopes: first bursts of `count` as fast as the feeder can publish
/// (how fast the node takes messages), then a fifth as many at half the
/// node's burst rate (how long one message takes when the node keeps up).
async fn through_node(count: usize) -> Result<Runs> {
    use kindred_node::{Node, NodeConfig};
    let tmp = tempfile::tempdir()?;
    let mut c = NodeConfig::new(tmp.path().join("node"));
    c.listen = vec!["/ip4/127.0.0.1/tcp/0".parse()?];
    let node = Node::start(c).await?;
    let (_, invite) = node
        .node
        .create_topic("ingest", "", Some("n".into()), None)
        .await?;
    let keys = crate::fixtures::keys_of(&invite)?;
    // The circle's one member (the node itself) writes them, under the
    // circle's current key: a stranger's would be refused.
    let author = kindred_store::load_identity(&tmp.path().join("node"))?.pseudonym(&keys.id);
    let epoch = node
        .node
        .current_epoch_keys(&keys.id)
        .ok_or_else(|| anyhow::anyhow!("the node holds no key for its own circle"))?;
    let paced_count = (count / 5).max(10);
    let mut envelopes =
        crate::fixtures::loose(&keys, &epoch, &author, BURSTS * count + paced_count, 300)?;
    let paced = envelopes.split_off(BURSTS * count);
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
    let mut rx = node.node.stored_events();
    let (to_feeder, jobs) = tokio::sync::mpsc::channel(1);
    let feeding = tokio::spawn(feed(feeder, gtopic, jobs));

    let mut bursts = Vec::new();
    for burst in envelopes.chunks(count) {
        let (ceiling, open_rate) =
            tokio::task::spawn_blocking(move || crypto_ceiling(env_len, count)).await??;
        eprintln!("ingest: publishing a burst of {count}");
        to_feeder.send((burst.to_vec(), Duration::ZERO)).await?;
        let mut run = collect(&mut rx, count).await?;
        (run.ceiling, run.open_rate) = (ceiling, open_rate);
        eprintln!(
            "ingest: {} msgs/s, ceiling {} msgs/s",
            num(run.rate),
            num(ceiling)
        );
        bursts.push(run);
    }
    bursts.sort_by(|a, b| (a.rate / a.ceiling).total_cmp(&(b.rate / b.ceiling)));
    let burst = bursts.swap_remove(bursts.len() / 2);
    let paced_rate = burst.rate / 2.0;
    eprintln!(
        "ingest: publishing {paced_count} at {} msgs/s",
        num(paced_rate)
    );
    let gap = Duration::from_secs_f64(1.0 / paced_rate);
    to_feeder.send((paced, gap)).await?;
    let paced = collect(&mut rx, paced_count).await?;
    drop(to_feeder);
    feeding.await??;
    node.shutdown().await?;
    Ok(Runs {
        burst,
        paced,
        paced_rate,
        env_len,
    })
}

/// The feeder's own task: publishes each job's envelopes `gap` apart (zero:
/// as fast as gossipsub takes them), polling its swarm all along so sending
/// never waits for the measuring side.
async fn feed(
    mut feeder: libp2p::Swarm<gossipsub::Behaviour>,
    topic: gossipsub::IdentTopic,
    mut jobs: tokio::sync::mpsc::Receiver<(Vec<Vec<u8>>, Duration)>,
) -> Result<()> {
    use futures::FutureExt;
    loop {
        let job = tokio::select! {
            job = jobs.recv() => job,
            _ = feeder.select_next_some() => continue,
        };
        let Some((envelopes, gap)) = job else {
            return Ok(());
        };
        let start = tokio::time::Instant::now();
        for (i, env) in envelopes.into_iter().enumerate() {
            if !gap.is_zero() {
                let at = start + gap.mul_f64(i as f64);
                while tokio::time::Instant::now() < at {
                    tokio::select! {
                        _ = tokio::time::sleep_until(at) => {}
                        _ = feeder.select_next_some() => {}
                    }
                }
            }
            loop {
                match feeder.behaviour_mut().publish(topic.clone(), env.clone()) {
                    Ok(_) => break,
                    Err(gossipsub::PublishError::AllQueuesFull(_)) => {
                        let _ = tokio::time::timeout(
                            Duration::from_millis(1),
                            feeder.select_next_some(),
                        )
                        .await;
                    }
                    Err(e) => bail!("the feeder could not publish: {e}"),
                }
            }
            while let Some(Some(_)) = feeder.next().now_or_never() {}
        }
    }
}

/// Waits until `count` messages are stored; times them.
async fn collect(
    rx: &mut tokio::sync::broadcast::Receiver<kindred_node::Stored>,
    count: usize,
) -> Result<Run> {
    let mut times = Vec::with_capacity(count);
    let (mut first, mut last) = (None, None);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while times.len() < count {
        let s = match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(s) => s?,
            Err(_) => bail!("only {} of {count} messages were stored", times.len()),
        };
        first.get_or_insert(s.arrived);
        last = Some(s.stored);
        times.push(stats::ms(s.stored - s.arrived));
    }
    let (Some(first), Some(last)) = (first, last) else {
        bail!("nothing arrived");
    };
    let t = sorted(times);
    Ok(Run {
        rate: count as f64 / (last - first).as_secs_f64(),
        p50_ms: percentile(&t, 50.0),
        p99_ms: percentile(&t, 99.0),
        ceiling: f64::NAN,
        open_rate: f64::NAN,
    })
}

/// Messages per second one core opens and verifies with the raw
/// primitives, and through Kindred's own `open`.
fn crypto_ceiling(env_len: usize, count: usize) -> Result<(f64, f64)> {
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};
    use chacha20poly1305::{XChaCha20Poly1305, XNonce};
    use ed25519_dalek::{Signer, SigningKey, Verifier};
    // As many as the burst, within reason: enough for a stable rate, few
    // enough for the smoke test's debug build.
    let n = count.clamp(100, 4000) as u32;
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
    // The best of two: a ceiling should not sag with a noisy moment.
    let mut ceiling: f64 = 0.0;
    for _ in 0..2 {
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
        ceiling = ceiling.max(n as f64 / start.elapsed().as_secs_f64());
    }

    let keys = kindred_proto::TopicKeys::derive(&kindred_proto::TopicSecret::from_bytes([4; 32]));
    let epoch = test_epoch(&keys);
    let ring = kindred_proto::topic::Keyring::single(epoch.clone());
    let author = kindred_proto::Pseudonym::from_seed([9; 32]);
    let envs = crate::fixtures::loose(&keys, &epoch, &author, n as usize / 2, 300)?;
    let start = Instant::now();
    for e in &envs {
        kindred_proto::envelope::open(&keys, &ring, e)?;
    }
    let open_rate = envs.len() as f64 / start.elapsed().as_secs_f64();
    Ok((ceiling, open_rate))
}

/// Messages per second the store takes, without any crypto, in group
/// commits of `batch` messages (1: each insert its own transaction).
fn store_rate(batch: usize) -> Result<f64> {
    let tmp = tempfile::tempdir()?;
    let store = kindred_store::Store::open(kindred_store::DataDir::lock(&tmp.path().join("s"))?)?;
    let keys = kindred_proto::TopicKeys::derive(&kindred_proto::TopicSecret::from_bytes([4; 32]));
    let author = kindred_proto::Pseudonym::from_seed([9; 32]);
    let records = crate::fixtures::chain(&keys, &test_epoch(&keys), &author, 4000, None, 300)?;
    let start = Instant::now();
    for chunk in records.chunks(batch) {
        store.insert_many(&keys.id, chunk.to_vec())?;
    }
    Ok(4000.0 / start.elapsed().as_secs_f64())
}

/// An epoch for measuring the store and the crypto alone, outside a node.
fn test_epoch(keys: &kindred_proto::TopicKeys) -> kindred_proto::topic::EpochKeys {
    kindred_proto::topic::EpochKeys::derive(
        &keys.id,
        &kindred_proto::authority::EpochSecret::from_bytes([5; 32]),
    )
}
