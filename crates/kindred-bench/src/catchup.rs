//! catch-up: a member offline while K messages are posted; time from its
//! restart until it holds the complete history.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use kindred_node::{Node, NodeConfig, RunningNode};

use crate::stats::{num, Table};

async fn start(dir: &Path) -> Result<RunningNode> {
    let mut c = NodeConfig::new(dir);
    c.listen = vec!["/ip4/127.0.0.1/tcp/0".parse()?];
    Ok(Node::start(c).await?)
}

pub fn run(counts: &[usize], out: &Path) -> Result<String> {
    let rt = tokio::runtime::Runtime::new()?;
    let mut t = Table::new(&[
        "messages missed",
        "restart → connected (ms)",
        "restart → complete history (ms)",
        "msgs/s",
    ]);
    let mut curves = Vec::new();
    for &k in counts {
        eprintln!("catch-up: {k} messages…");
        let (connected, done, curve) = rt.block_on(once(k))?;
        t.row(vec![
            k.to_string(),
            num(connected),
            num(done),
            num(k as f64 / (done / 1e3)),
        ]);
        curves.push((format!("{k} missed"), curve));
    }
    let svg = out.join("catchup.svg");
    let series: Vec<(&str, &[(f64, f64)])> = curves
        .iter()
        .map(|(n, c)| (n.as_str(), c.as_slice()))
        .collect();
    crate::plot::lines(
        &svg,
        "Catch-up after time offline",
        "ms since restart",
        "messages stored",
        &series,
    )?;
    Ok(format!(
        "### catch-up\n\n{}\nPlot: `catchup.svg`\n",
        t.render()
    ))
}

/// Returns (ms to first connection, ms to complete, stored-over-time curve).
async fn once(k: usize) -> Result<(f64, f64, Vec<(f64, f64)>)> {
    let tmp = tempfile::tempdir()?;
    let (da, db) = (tmp.path().join("a"), tmp.path().join("b"));
    let a = start(&da).await?;
    let (topic, invite) = a
        .node
        .create_topic("catch-up", "", Some("a".into()), None)
        .await?;
    let b = start(&db).await?;
    b.node
        .join(&invite, Some("b".into()), Duration::from_secs(10))
        .await?;
    let base = b.node.messages(&topic.name, usize::MAX)?.0.len();
    b.shutdown().await?;
    // While b is away, a's member writes k messages (straight into a's
    // store: how they were posted does not matter to catching up).
    a.shutdown().await?;
    {
        let secret = kindred_store::load_identity(&da)?;
        let keys = crate::fixtures::keys_of(&invite)?;
        let me = secret.pseudonym(&keys.id);
        let store = kindred_store::Store::open(kindred_store::DataDir::lock(&da)?)?;
        let head = store.heads(&keys.id)?.into_iter().next();
        let first = head.map(|(depth, id)| (id, depth));
        let epoch = crate::fixtures::current_epoch(&store, &keys)?;
        for r in crate::fixtures::chain(&keys, &epoch, &me, k, first, 200)? {
            store.insert(&keys.id, r)?;
        }
        store.flush_blocking()?;
    }
    let a = start(&da).await?;
    let want = base + k;
    let t0 = Instant::now();
    let b = start(&db).await?;
    let mut rx = b.node.stored_events();
    let mut connected = None;
    let mut curve = vec![(0.0, 0.0)];
    let mut got = 0usize;
    let deadline = t0 + Duration::from_secs(120);
    loop {
        if connected.is_none() && !b.node.peers().await?.is_empty() {
            connected = Some(t0.elapsed());
        }
        match tokio::time::timeout(Duration::from_millis(20), rx.recv()).await {
            Ok(Ok(_)) => {
                got += 1;
                while rx.try_recv().is_ok() {
                    got += 1;
                }
                curve.push((crate::stats::ms(t0.elapsed()), got as f64));
            }
            Ok(Err(e)) => bail!("stored events: {e}"),
            Err(_) => {}
        }
        if got + base >= want {
            let n = b.node.messages(&topic.name, usize::MAX)?.0.len();
            if n >= want {
                break;
            }
        }
        if Instant::now() > deadline {
            bail!("catch-up of {k} messages did not finish in 120 s ({got} arrived)");
        }
    }
    let done = crate::stats::ms(t0.elapsed());
    let connected = connected.map(crate::stats::ms).unwrap_or(f64::NAN);
    b.shutdown().await?;
    a.shutdown().await?;
    Ok((connected, done, curve))
}
