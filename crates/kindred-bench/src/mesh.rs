//! mesh: N members in one circle, each a full Kindred node (encrypt, sign,
//! gossip, validate, store), against the same topology and gossipsub
//! configuration with bare libp2p gossipsub (plaintext, no store).
//!
//! Each stack runs in its own child process (`mesh-worker`), so peak RSS,
//! CPU time and bytes on the wire are that stack's alone. Kindred runs
//! first; bare gossipsub then gets the very connections Kindred's nodes
//! made (invites, DHT, reconnection), so the topologies are the same.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures::StreamExt;
use libp2p::{gossipsub, swarm::SwarmEvent, Multiaddr, PeerId};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::stats::{self, num, percentile, sorted, Table};
use crate::Lcg;

#[derive(Clone, Debug, Serialize, Deserialize, clap::Args)]
pub struct MeshParams {
    /// Members in the circle.
    #[arg(long, default_value_t = 30)]
    pub nodes: usize,
    /// Messages published in the measured phase.
    #[arg(long, default_value_t = 200)]
    pub messages: usize,
    /// Bytes of each message's text.
    #[arg(long, default_value_t = 512)]
    pub size: usize,
    /// Messages per second, from random members.
    #[arg(long, default_value_t = 20.0)]
    pub rate: f64,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Seconds the mesh runs after warm-up before anything is measured, so
    /// start-up work (DHT bootstrap, joins, first syncs) is over.
    #[arg(long, default_value_t = 10)]
    pub settle: u64,
}

/// What one stack's run measured.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct MeshRun {
    /// Publish-to-member latency of every delivery, ms.
    pub latencies: Vec<f64>,
    /// Per message: when the last member had it, ms (delivered ones only).
    pub last_member: Vec<f64>,
    pub expected: usize,
    pub delivered: usize,
    /// TCP bytes sent by all nodes during the measured phase.
    pub wire_bytes: u64,
    pub peak_rss_mib: f64,
    /// CPU seconds during the measured phase.
    pub cpu_seconds: f64,
    /// Connections between members, by index (i < j).
    pub edges: Vec<(usize, usize)>,
    pub setup_seconds: f64,
    /// CPU seconds per second of the whole mesh sitting idle (3 s, after
    /// warm-up): the cost of keeping connections and protocols alive.
    pub idle_cpu: f64,
}

/// CPU used per second while nothing is published.
async fn idle_cpu() -> f64 {
    let (c0, t0) = (stats::cpu_seconds(), Instant::now());
    tokio::time::sleep(Duration::from_secs(3)).await;
    (stats::cpu_seconds() - c0) / t0.elapsed().as_secs_f64()
}

/// Runs both stacks at each size and prints the comparison.
pub fn run(params: &MeshParams, sizes: &[usize], out: &Path) -> Result<String> {
    let mut report = String::new();
    for &n in sizes {
        let p = MeshParams {
            nodes: n,
            ..params.clone()
        };
        eprintln!("mesh: {n} Kindred nodes…");
        let kindred = worker("kindred", &p, None)?;
        eprintln!("mesh: {n} bare gossipsub nodes on the same topology…");
        let edges = out.join(format!("mesh-{n}-edges.json"));
        std::fs::write(&edges, serde_json::to_vec(&kindred.edges)?)?;
        let bare = worker("bare", &p, Some(&edges))?;
        let _ = std::fs::remove_file(&edges);
        report += &table(&p, &kindred, &bare);
        let svg = out.join(format!("mesh-{n}-latency-cdf.svg"));
        crate::plot::cdf(
            &svg,
            &format!(
                "Publish-to-member latency, {n} members, {} msgs of {} B at {}/s",
                p.messages, p.size, p.rate
            ),
            &[
                ("Kindred", &sorted(kindred.latencies.clone())),
                ("bare gossipsub", &sorted(bare.latencies.clone())),
            ],
        )?;
        report += &format!(
            "\nPlot: `{}`\n\n",
            svg.file_name().and_then(|f| f.to_str()).unwrap_or_default()
        );
    }
    Ok(report)
}

fn table(p: &MeshParams, k: &MeshRun, b: &MeshRun) -> String {
    let mut t = Table::new(&["", "Kindred", "bare gossipsub", "Kindred / bare"]);
    let lat_k = sorted(k.latencies.clone());
    let lat_b = sorted(b.latencies.clone());
    let last_k = sorted(k.last_member.clone());
    let last_b = sorted(b.last_member.clone());
    let ratio = |a: f64, b: f64| format!("{:.2}", a / b);
    let pct = |r: &MeshRun| 100.0 * r.delivered as f64 / r.expected.max(1) as f64;
    t.row(vec![
        "delivery".into(),
        format!("{:.2}% ({}/{})", pct(k), k.delivered, k.expected),
        format!("{:.2}% ({}/{})", pct(b), b.delivered, b.expected),
        String::new(),
    ]);
    for (name, q) in [("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("max", 100.0)] {
        let (a, c) = (percentile(&lat_k, q), percentile(&lat_b, q));
        t.row(vec![
            format!("latency {name} (ms)"),
            num(a),
            num(c),
            ratio(a, c),
        ]);
    }
    let (a, c) = (percentile(&last_k, 50.0), percentile(&last_b, 50.0));
    t.row(vec![
        "last member has it, p50 over messages (ms)".into(),
        num(a),
        num(c),
        ratio(a, c),
    ]);
    let per = |r: &MeshRun| r.wire_bytes as f64 / r.delivered.max(1) as f64;
    t.row(vec![
        "bytes on the wire per delivery".into(),
        num(per(k)),
        num(per(b)),
        ratio(per(k), per(b)),
    ]);
    t.row(vec![
        "peak RSS, whole process (MiB)".into(),
        num(k.peak_rss_mib),
        num(b.peak_rss_mib),
        ratio(k.peak_rss_mib, b.peak_rss_mib),
    ]);
    t.row(vec![
        "CPU seconds per second, whole mesh idle".into(),
        num(k.idle_cpu),
        num(b.idle_cpu),
        ratio(k.idle_cpu, b.idle_cpu),
    ]);
    t.row(vec![
        "CPU seconds, measured phase".into(),
        num(k.cpu_seconds),
        num(b.cpu_seconds),
        ratio(k.cpu_seconds, b.cpu_seconds),
    ]);
    format!(
        "### mesh: {} members, {} messages of {} bytes at {}/s ({} connections)\n\n{}",
        p.nodes,
        p.messages,
        p.size,
        p.rate,
        k.edges.len(),
        t.render()
    )
}

fn worker(stack: &str, p: &MeshParams, edges: Option<&Path>) -> Result<MeshRun> {
    let exe = std::env::current_exe()?;
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["mesh-worker", "--stack", stack])
        .args(["--nodes", &p.nodes.to_string()])
        .args(["--messages", &p.messages.to_string()])
        .args(["--size", &p.size.to_string()])
        .args(["--rate", &p.rate.to_string()])
        .args(["--seed", &p.seed.to_string()])
        .args(["--settle", &p.settle.to_string()])
        .stderr(std::process::Stdio::inherit());
    if let Some(e) = edges {
        cmd.arg("--edges").arg(e);
    }
    let out = cmd.output().context("running a mesh worker")?;
    if !out.status.success() {
        bail!("the {stack} mesh worker failed ({})", out.status);
    }
    serde_json::from_slice(&out.stdout).context("reading the mesh worker's result")
}

/// The worker's entry point: runs one stack, prints its [`MeshRun`] as JSON.
pub fn worker_main(stack: &str, p: &MeshParams, edges: Option<&Path>) -> Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    let run = match stack {
        "kindred" => rt.block_on(kindred(p))?,
        "bare" => {
            let edges: Vec<(usize, usize)> = match edges {
                Some(f) => serde_json::from_slice(&std::fs::read(f)?)?,
                None => bail!("the bare stack needs --edges from a Kindred run"),
            };
            rt.block_on(bare(p, &edges))?
        }
        other => bail!("unknown stack {other}"),
    };
    println!("{}", serde_json::to_string(&run)?);
    Ok(())
}

/// Deliveries as (member, message key, when), shared by the receivers.
type Deliveries = Arc<Mutex<Vec<(usize, Vec<u8>, Instant)>>>;

/// Publishes `p.messages` at `p.rate` through `publish(member, seq)`, which
/// returns the message key once published; then waits for every member to
/// have every message (or 20 s) and turns deliveries into a [`MeshRun`].
async fn measure<F, Fut>(p: &MeshParams, deliveries: &Deliveries, publish: F) -> Result<MeshRun>
where
    F: Fn(usize, usize) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<u8>>> + Send + 'static,
{
    let mut rng = Lcg(p.seed ^ 0x9e37);
    let (cpu0, bytes0) = (stats::cpu_seconds(), kindred_net::tcp_bytes().0);
    deliveries
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .clear();
    let start = Instant::now();
    let mut sent = Vec::new();
    for k in 0..p.messages {
        let at = start + Duration::from_secs_f64(k as f64 / p.rate);
        tokio::time::sleep_until(at.into()).await;
        let from = rng.next(p.nodes as u64) as usize;
        let t0 = Instant::now();
        let fut = publish(from, k);
        sent.push((from, t0, tokio::spawn(fut)));
    }
    let mut published: HashMap<Vec<u8>, (usize, Instant)> = HashMap::new();
    for (from, t0, h) in sent {
        let key = h.await??;
        published.insert(key, (from, t0));
    }
    let expected = p.messages * (p.nodes - 1);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let n = deliveries
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .iter()
            .filter(|(m, key, _)| published.get(key).is_some_and(|(from, _)| from != m))
            .count();
        if n >= expected || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (cpu1, bytes1) = (stats::cpu_seconds(), kindred_net::tcp_bytes().0);
    let mut run = MeshRun {
        expected,
        wire_bytes: bytes1 - bytes0,
        cpu_seconds: cpu1 - cpu0,
        ..Default::default()
    };
    let mut last: HashMap<&[u8], f64> = HashMap::new();
    let seen = deliveries.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    let mut counted = std::collections::HashSet::new();
    for (member, key, at) in seen.iter() {
        let Some((from, t0)) = published.get(key) else {
            continue;
        };
        if from == member || !counted.insert((*member, key.as_slice())) {
            continue;
        }
        let l = stats::ms(at.saturating_duration_since(*t0));
        run.latencies.push(l);
        let e = last.entry(key.as_slice()).or_insert(0.0);
        *e = e.max(l);
    }
    run.delivered = run.latencies.len();
    // "When the last member has it" only means something for messages
    // every member got.
    let mut per_msg: HashMap<&[u8], usize> = HashMap::new();
    for (_, key) in counted.iter() {
        *per_msg.entry(key).or_default() += 1;
    }
    run.last_member = last
        .iter()
        .filter(|(k, _)| per_msg.get(*k) == Some(&(p.nodes - 1)))
        .map(|(_, v)| *v)
        .collect();
    run.peak_rss_mib = stats::peak_rss_mib();
    Ok(run)
}

/// The same for both stacks: a warm-up of 5 messages (meshes form, every
/// member has some; their keys are apart from the measured ones), the
/// settle time, idle CPU, then the measured phase.
async fn warm_then_measure<F, Fut>(
    stack: &str,
    p: &MeshParams,
    deliveries: &Deliveries,
    publish: F,
    setup: Instant,
) -> Result<MeshRun>
where
    F: Fn(usize, usize) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<u8>>> + Send + 'static,
{
    let warm = MeshParams {
        messages: 5,
        rate: 10.0,
        ..p.clone()
    };
    let w = measure(&warm, deliveries, |from, seq| {
        publish(from, seq + (1 << 40))
    })
    .await?;
    eprintln!(
        "  {stack} warm-up: {}/{} delivered",
        w.delivered, w.expected
    );
    let setup_seconds = setup.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(p.settle)).await;
    let idle = idle_cpu().await;
    let mut run = measure(p, deliveries, publish).await?;
    run.setup_seconds = setup_seconds;
    run.idle_cpu = idle;
    Ok(run)
}

fn text_of(seq: usize, size: usize) -> String {
    let mut s = format!("{seq:08} ");
    while s.len() < size {
        s.push_str("I hear you, and you are not alone. ");
    }
    s.truncate(size);
    s
}

async fn kindred(p: &MeshParams) -> Result<MeshRun> {
    use kindred_node::{Node, NodeConfig};
    let setup = Instant::now();
    let tmp = tempfile::tempdir()?;
    let mut nodes = Vec::new();
    for i in 0..p.nodes {
        let mut c = NodeConfig::new(tmp.path().join(format!("n{i}")));
        c.listen = vec!["/ip4/127.0.0.1/tcp/0".parse()?];
        nodes.push(Node::start(c).await?);
    }
    let (topic, _) = nodes[0]
        .node
        .create_topic("bench", "", Some("n0".into()), None)
        .await?;
    let mut rng = Lcg(p.seed);
    for i in 1..p.nodes {
        // Each joins through a random earlier member's invite.
        let j = rng.next(i as u64) as usize;
        let invite = nodes[j]
            .node
            .invite(&topic.name, kindred_node::InviteOptions::default())
            .await?;
        nodes[i]
            .node
            .join(&invite, Some(format!("n{i}")), Duration::from_secs(10))
            .await?;
    }
    let deliveries: Deliveries = Arc::default();
    for (i, n) in nodes.iter().enumerate() {
        let mut rx = n.node.stored_events();
        let d = deliveries.clone();
        tokio::spawn(async move {
            while let Ok(s) = rx.recv().await {
                if let Ok(mut d) = d.lock() {
                    d.push((i, s.id.0.to_vec(), s.stored));
                }
            }
        });
    }
    let handles: Vec<Node> = nodes.iter().map(|n| n.node.clone()).collect();
    let name = topic.name.clone();
    let size = p.size;
    let publish = |from: usize, seq: usize| {
        let node = handles[from].clone();
        let name = name.clone();
        async move {
            let m = node.post(&name, &text_of(seq, size)).await?;
            hex_to_bytes(&m.id)
        }
    };
    let mut run = warm_then_measure("Kindred", p, &deliveries, publish, setup).await?;
    // The connections Kindred made, for the bare run.
    let index: HashMap<PeerId, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.node.peer_id(), i))
        .collect();
    let mut edges = std::collections::BTreeSet::new();
    for (i, n) in nodes.iter().enumerate() {
        for peer in n.node.peers().await? {
            if let Some(&j) = peer
                .peer_id
                .parse::<PeerId>()
                .ok()
                .and_then(|p| index.get(&p))
            {
                edges.insert((i.min(j), i.max(j)));
            }
        }
    }
    run.edges = edges.into_iter().collect();
    for n in nodes {
        n.shutdown().await?;
    }
    Ok(run)
}

fn hex_to_bytes(s: &str) -> Result<Vec<u8>> {
    (0..s.len())
        .step_by(2)
        .map(|i| {
            s.get(i..i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
                .context("bad hex id")
        })
        .collect()
}

enum BareCmd {
    Publish(Vec<u8>, oneshot::Sender<Result<()>>),
    Dial(Multiaddr),
}

/// Bare gossipsub: the same transport (TCP, Noise, yamux) and gossipsub
/// settings as Kindred, plaintext messages, nothing stored; validation is
/// on (as in Kindred) and accepts at once.
async fn bare(p: &MeshParams, edges: &[(usize, usize)]) -> Result<MeshRun> {
    let setup = Instant::now();
    let topic = gossipsub::IdentTopic::new("kindred/1/bench");
    let deliveries: Deliveries = Arc::default();
    let mut cmds = Vec::new();
    let mut addrs = Vec::new();
    let mut ids = Vec::new();
    for i in 0..p.nodes {
        let mut swarm = crate::bare::swarm()?;
        swarm
            .behaviour_mut()
            .set_topic_params(topic.clone(), kindred_net::topic_score())
            .map_err(|e| anyhow::anyhow!("topic params: {e}"))?;
        swarm.behaviour_mut().subscribe(&topic)?;
        swarm.listen_on("/ip4/127.0.0.1/tcp/0".parse()?)?;
        let addr = loop {
            if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
                break address;
            }
        };
        ids.push(*swarm.local_peer_id());
        addrs.push(addr);
        let (tx, mut rx) = mpsc::unbounded_channel::<BareCmd>();
        cmds.push(tx);
        let d = deliveries.clone();
        let topic = topic.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    cmd = rx.recv() => match cmd {
                        None => break,
                        Some(BareCmd::Publish(data, reply)) => {
                            let r = swarm.behaviour_mut().publish(topic.clone(), data).map(|_| ()).map_err(|e| anyhow::anyhow!("publish: {e}"));
                            let _ = reply.send(r);
                        }
                        Some(BareCmd::Dial(a)) => { let _ = swarm.dial(a); }
                    },
                    ev = swarm.select_next_some() => {
                        if let SwarmEvent::Behaviour(gossipsub::Event::Message { propagation_source, message_id, message }) = ev {
                            let at = Instant::now();
                            swarm.behaviour_mut().report_message_validation_result(&message_id, &propagation_source, gossipsub::MessageAcceptance::Accept);
                            if let Ok(mut d) = d.lock() {
                                d.push((i, message.data.get(..8).unwrap_or_default().to_vec(), at));
                            }
                        }
                    }
                }
            }
        });
    }
    for &(i, j) in edges {
        let a = addrs[i]
            .clone()
            .with(libp2p::multiaddr::Protocol::P2p(ids[i]));
        cmds[j].send(BareCmd::Dial(a)).ok();
    }
    let size = p.size;
    let publish = |from: usize, seq: usize| {
        let tx = cmds[from].clone();
        async move {
            let mut data = text_of(seq, size).into_bytes();
            data[..8].copy_from_slice(&(seq as u64 | 1 << 63).to_be_bytes());
            let key = data[..8].to_vec();
            let (reply, rx) = oneshot::channel();
            tx.send(BareCmd::Publish(data, reply))
                .map_err(|_| anyhow::anyhow!("node stopped"))?;
            rx.await??;
            Ok(key)
        }
    };
    // Bare nodes have no join to wait for: give the meshes a heartbeat.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut run = warm_then_measure("bare", p, &deliveries, publish, setup).await?;
    run.edges = edges.to_vec();
    Ok(run)
}
