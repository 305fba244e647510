//! history: a store holding 1M messages across 100 circles. Time to open
//! it, to read a circle's newest 100, its size on disk, and the RSS of an
//! idle node on it (measured in a fresh child process).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::stats::{self, num, Table};

#[derive(Debug, Serialize, Deserialize)]
pub struct Opened {
    /// `Store::open` alone, ms.
    pub store_open: f64,
    /// `Node::start` (store, identity, topics, network, API), ms.
    pub node_start: f64,
    /// First read of one circle's newest 100, ms.
    pub first_read: f64,
    /// Median of 50 further reads, ms.
    pub read_median: f64,
    /// RSS after 3 s idle, MiB.
    pub idle_rss: f64,
}

pub fn run(circles: usize, per_circle: usize, keep: Option<&Path>) -> Result<String> {
    let tmp = tempfile::tempdir()?;
    let dir = match keep {
        Some(d) => d.to_path_buf(),
        None => tmp.path().join("node"),
    };
    let total = circles * per_circle;
    let build = if dir.join("db").exists() {
        eprintln!("history: reusing {}", dir.display());
        f64::NAN
    } else {
        eprintln!("history: writing {total} messages across {circles} circles…");
        let t = Instant::now();
        let rt = tokio::runtime::Runtime::new()?;
        rt.block_on(fill(&dir, circles, per_circle))?;
        t.elapsed().as_secs_f64()
    };
    let size = dir_size(&dir)?;
    eprintln!("history: opening it in a fresh process…");
    let full = worker(&dir)?;
    let empty_dir = tmp.path().join("empty");
    let empty = {
        let rt = tokio::runtime::Runtime::new()?;
        rt.block_on(async {
            let n = start(&empty_dir).await?;
            n.node.create_topic("empty", "", None, None).await?;
            n.node.post("empty", "the only message").await?;
            n.shutdown().await?;
            anyhow::Ok(())
        })?;
        worker(&empty_dir)?
    };
    let mut t = Table::new(&["measure", &format!("{total} messages"), "1 message"]);
    t.row(vec![
        "store open (ms)".into(),
        num(full.store_open),
        num(empty.store_open),
    ]);
    t.row(vec![
        "node start: store, topics, network, API (ms)".into(),
        num(full.node_start),
        num(empty.node_start),
    ]);
    t.row(vec![
        "newest 100 of one circle, first read (ms)".into(),
        num(full.first_read),
        num(empty.first_read),
    ]);
    t.row(vec![
        "newest 100 of one circle, median of 50 (ms)".into(),
        num(full.read_median),
        num(empty.read_median),
    ]);
    t.row(vec![
        "idle node RSS (MiB)".into(),
        num(full.idle_rss),
        num(empty.idle_rss),
    ]);
    t.row(vec![
        "size on disk (MiB)".into(),
        num(size as f64 / 1048576.0),
        num(dir_size(&empty_dir)? as f64 / 1048576.0),
    ]);
    let build = if build.is_nan() {
        String::new()
    } else {
        format!(
            "Building it (sealing, and inserting through the store API in batches of 256, 2 threads) took {build:.0} s ({:.0} msgs/s).\n",
            total as f64 / build
        )
    };
    Ok(format!("### history\n\n{}\n{build}", t.render()))
}

async fn start(dir: &Path) -> Result<kindred_node::RunningNode> {
    let mut c = kindred_node::NodeConfig::new(dir);
    c.listen = vec!["/ip4/127.0.0.1/tcp/0".parse()?];
    Ok(kindred_node::Node::start(c).await?)
}

async fn fill(dir: &Path, circles: usize, per_circle: usize) -> Result<()> {
    let n = start(dir).await?;
    let mut invites = Vec::new();
    for c in 0..circles {
        let (_, inv) = n
            .node
            .create_topic(&format!("circle-{c:03}"), "", Some("me".into()), None)
            .await?;
        invites.push(inv);
    }
    n.shutdown().await?;
    let secret = kindred_store::load_identity(dir)?;
    let store = kindred_store::Store::open(kindred_store::DataDir::lock(dir)?)?;
    let done = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| -> Result<()> {
        let mut handles = Vec::new();
        for part in invites.chunks(circles.div_ceil(2)) {
            let (store, secret, done) = (&store, &secret, &done);
            handles.push(s.spawn(move || -> Result<()> {
                for inv in part {
                    let keys = crate::fixtures::keys_of(inv)?;
                    let me = secret.pseudonym(&keys.id);
                    let first = store
                        .heads(&keys.id)?
                        .into_iter()
                        .next()
                        .map(|(d, id)| (id, d));
                    let epoch = crate::fixtures::current_epoch(store, &keys)?;
                    let records =
                        crate::fixtures::chain(&keys, &epoch, &me, per_circle, first, 200)?;
                    for batch in records.chunks(256) {
                        store.insert_many(&keys.id, batch.to_vec())?;
                    }
                    let d = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                    if d % 10 == 0 {
                        eprintln!("  {d} circles written");
                    }
                }
                Ok(())
            }));
        }
        for h in handles {
            h.join()
                .map_err(|_| anyhow::anyhow!("a writer panicked"))??;
        }
        Ok(())
    })?;
    store.flush_blocking()?;
    Ok(())
}

fn dir_size(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let m = e.metadata()?;
        total += if m.is_dir() {
            dir_size(&e.path())?
        } else {
            m.len()
        };
    }
    Ok(total)
}

fn worker(dir: &Path) -> Result<Opened> {
    let out = std::process::Command::new(std::env::current_exe()?)
        .arg("history-worker")
        .arg(dir)
        .stderr(std::process::Stdio::inherit())
        .output()?;
    if !out.status.success() {
        bail!("history worker failed ({})", out.status);
    }
    serde_json::from_slice(&out.stdout).context("history worker output")
}

/// In a fresh process: open the store, then a node on it, read, idle.
pub fn worker_main(dir: PathBuf) -> Result<()> {
    let t = Instant::now();
    drop(kindred_store::Store::open(kindred_store::DataDir::lock(
        &dir,
    )?)?);
    let store_open = stats::ms(t.elapsed());
    let rt = tokio::runtime::Runtime::new()?;
    let opened = rt.block_on(async {
        let t = Instant::now();
        let n = start(&dir).await?;
        let node_start = stats::ms(t.elapsed());
        let topics = n.node.topics().await?;
        let topic = topics.first().context("no circle")?.name.clone();
        let t = Instant::now();
        let (first, _) = n.node.messages(&topic, 100)?;
        let first_read = stats::ms(t.elapsed());
        if first.is_empty() {
            bail!("the circle {topic} has no posts");
        }
        let mut reads = Vec::new();
        for _ in 0..50 {
            let t = Instant::now();
            std::hint::black_box(n.node.messages(&topic, 100)?);
            reads.push(stats::ms(t.elapsed()));
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
        let idle_rss = stats::rss_mib();
        n.shutdown().await?;
        anyhow::Ok(Opened {
            store_open,
            node_start,
            first_read,
            read_median: stats::median(reads),
            idle_rss,
        })
    })?;
    println!("{}", serde_json::to_string(&opened)?);
    Ok(())
}
