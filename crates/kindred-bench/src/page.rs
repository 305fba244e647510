//! page: the page in Debian's chromium against real nodes on loopback.
//! Time to first render of a circle with 1,000 posts, from a post on one
//! node to its appearance on another node's open page, and page weight.
#![allow(clippy::expect_used)]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use kindred_node::{Node, NodeConfig, RunningNode};

#[allow(clippy::unwrap_used, clippy::expect_used)]
#[path = "../../../tests/common/cdp.rs"]
mod cdp;

use crate::stats::{median, num, percentile, sorted, Table};

const HISTORY: usize = 1000;
const LIVE_POSTS: usize = 200;
const RENDERS: usize = 5;

fn epoch_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

async fn start(dir: &std::path::Path) -> Result<RunningNode> {
    let mut c = NodeConfig::new(dir.to_path_buf());
    c.listen = vec!["/ip4/127.0.0.1/tcp/0".parse()?];
    Ok(Node::start(c).await?)
}

pub fn run() -> Result<String> {
    let mut out = String::from("## The page\n\n");
    if cdp::chromium().is_none() {
        out.push_str("Not run: needs Debian's chromium (`apt install chromium`).\n");
        return Ok(out);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let tmp = tempfile::tempdir()?;
    let (a, b) = rt.block_on(async {
        let a = start(&tmp.path().join("a")).await?;
        let b = start(&tmp.path().join("b")).await?;
        anyhow::Ok((a, b))
    })?;
    let (topic, invite) = rt.block_on(a.node.create_circle(
        "bench",
        "",
        Some("Ada".into()),
        (None, None),
        Default::default(),
    ))?;
    rt.block_on(
        b.node
            .join(&invite, Some("Bo".into()), Duration::from_secs(20)),
    )?;
    for i in 0..HISTORY {
        rt.block_on(
            a.node
                .post(&topic.id, &format!("post {i}: {}", "words ".repeat(20))),
        )?;
    }

    let browser = cdp::Browser::launch().context("start chromium")?;
    let tab = browser.tab();
    tab.goto(&a.login_url());
    tab.wait(
        "signed in",
        "!document.getElementById('circles').hidden || !document.getElementById('welcome').hidden",
    );
    let base = a
        .login_url()
        .split("/login")
        .next()
        .unwrap_or_default()
        .to_string();
    let circle = format!("{base}/#c/{}", topic.id);

    // First render: a fresh load of the circle's page each time.
    let mut renders = Vec::new();
    for _ in 0..RENDERS {
        tab.goto("about:blank");
        tab.goto(&circle);
        let ms = tab.wait(
            "the posts drawn",
            "performance.getEntriesByName('posts-rendered').length && performance.getEntriesByName('posts-rendered')[0].startTime",
        );
        let shown = tab.eval("document.querySelectorAll('#posts > li').length");
        anyhow::ensure!(shown.as_u64() == Some(HISTORY as u64), "shown {shown}");
        renders.push(ms.as_f64().unwrap_or(f64::NAN));
    }
    let weight = tab.eval(
        "[performance.getEntriesByType('navigation')[0], ...performance.getEntriesByType('resource').filter(r => !r.name.includes('/v1/'))].reduce((n, r) => n + r.encodedBodySize, 0)",
    );
    let weight_kib = weight.as_f64().unwrap_or(f64::NAN) / 1024.0;

    // Live: Bo posts; when does Ada's open page show it?
    tab.wait("following", "!document.getElementById('circle').hidden");
    tab.eval("window.kindredTiming = []");
    let mut sent = std::collections::HashMap::new();
    let mut stored_rx = a.node.stored_events();
    let stored_at = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashMap::new()));
    {
        let stored_at = stored_at.clone();
        rt.spawn(async move {
            while let Ok(s) = stored_rx.recv().await {
                stored_at
                    .lock()
                    .expect("lock")
                    .insert(s.id.to_hex(), epoch_ms());
            }
        });
    }
    let start = Instant::now();
    for i in 0..LIVE_POSTS {
        let t0 = epoch_ms();
        let m = rt.block_on(b.node.post(&topic.id, &format!("live {i}")))?;
        sent.insert(m.id, t0);
        // 10 a second: a busy circle, not a flood.
        let next = start + Duration::from_millis(100 * (i as u64 + 1));
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    tab.wait_for(
        "every live post on the page",
        &format!("window.kindredTiming.length >= {LIVE_POSTS}"),
        Duration::from_secs(60),
    );
    let seen = tab.eval("window.kindredTiming");
    let mut lat = Vec::new();
    for pair in seen.as_array().into_iter().flatten() {
        if let (Some(id), Some(at)) = (pair[0].as_str(), pair[1].as_f64()) {
            if let Some(t0) = sent.get(id) {
                lat.push(at - t0);
            }
        }
    }
    let lat = sorted(lat);
    let stored: Vec<f64> = {
        let s = stored_at.lock().expect("lock");
        sent.iter()
            .filter_map(|(id, t0)| s.get(id).map(|t| t - t0))
            .collect()
    };
    let stored = sorted(stored);
    drop(tab);
    drop(browser);
    rt.block_on(async {
        let _ = a.shutdown().await;
        let _ = b.shutdown().await;
    });

    let mut t = Table::new(&["measure", "value"]);
    t.row(vec![
        format!("circle with {HISTORY} posts: load to first render, median of {RENDERS} (ms)"),
        num(median(renders.clone())),
    ]);
    t.row(vec![
        "the same, slowest (ms)".into(),
        num(sorted(renders).last().copied().unwrap_or(f64::NAN)),
    ]);
    t.row(vec![
        format!(
            "post on one node → on the other node's open page, p50 of {} (ms)",
            lat.len()
        ),
        num(percentile(&lat, 50.0)),
    ]);
    t.row(vec![
        "the same, p99 (ms)".into(),
        num(percentile(&lat, 99.0)),
    ]);
    t.row(vec![
        "of which: post → stored on the other node, p50 / p99 (ms)".into(),
        format!(
            "{} / {}",
            num(percentile(&stored, 50.0)),
            num(percentile(&stored, 99.0))
        ),
    ]);
    t.row(vec![
        "page weight: HTML + scripts + styles, uncompressed (KiB)".into(),
        num(weight_kib),
    ]);
    out.push_str(&format!(
        "Debian's chromium, headless, on this machine; two nodes on loopback. The render is timed in the page from the start of navigation to the first frame after the posts are in the document (HTML, scripts, the API calls and layout); the live path from just before `post` on one node to the post's insertion into the other node's open page ({LIVE_POSTS} posts at 10 a second).\n\n{}",
        t.render()
    ));
    Ok(out)
}
