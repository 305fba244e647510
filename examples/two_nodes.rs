//! Two Kindred nodes in one process, through the library API (no CLI):
//! one opens a circle, the other joins it by invite, and they talk.
//!
//! Run with `cargo run --example two_nodes`.

use std::time::Duration;

use anyhow::{bail, Result};
use kindred_node::{Node, NodeConfig};

async fn start(dir: &std::path::Path) -> Result<kindred_node::RunningNode> {
    let mut config = NodeConfig::new(dir);
    // Loopback only: nothing leaves this machine, and mDNS stays off.
    config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse()?];
    Ok(Node::start(config).await?)
}

/// Waits until a topic holds at least `n` posts, and returns them in
/// history order (within 30 s).
async fn wait_for_posts(
    node: &Node,
    topic: &str,
    n: usize,
) -> Result<Vec<kindred_node::service_views::MessageView>> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (history, _) = node.messages(topic, usize::MAX)?;
        if history.len() >= n {
            return Ok(history);
        }
        if tokio::time::Instant::now() > deadline {
            bail!("no new post in {topic} within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let alice = start(&tmp.path().join("alice")).await?;
    let bob = start(&tmp.path().join("bob")).await?;

    let (topic, invite) = alice
        .node
        .create_topic("night owls", "Be gentle.", Some("Alice".into()), None)
        .await?;
    println!(
        "Alice opened \"{}\"; invite: {}…",
        topic.name,
        &invite[..32]
    );

    let (joined, connected, _) = bob
        .node
        .join(&invite, Some("Bob".into()), Duration::from_secs(10))
        .await?;
    println!(
        "Bob joined \"{}\" and reached {connected} member(s). Rules: {}",
        joined.name, joined.rules
    );

    // Alice's node counts Bob once he has proven he is in (gossip flows
    // both ways from then on).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while alice.node.topics().await?.iter().all(|t| t.peers == 0) {
        if tokio::time::Instant::now() > deadline {
            bail!("alice's node never counted bob as a member");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    alice
        .node
        .post("night owls", "Can't sleep again. Anyone up?")
        .await?;
    wait_for_posts(&bob.node, "night owls", 1).await?;
    bob.node
        .post("night owls", "I'm here. Want to talk?")
        .await?;
    let history = wait_for_posts(&alice.node, "night owls", 2).await?;
    for m in &history {
        println!("{}: {}", m.author_name.as_deref().unwrap_or("?"), m.text);
    }
    alice.shutdown().await?;
    bob.shutdown().await?;
    Ok(())
}
