//! Gossip keeps flowing both ways after a burst: a member posting hundreds
//! of messages at once once made the other side's IHAVEs too long for
//! gossipsub's control limit, the receiver dropped its inbound stream, and
//! from then on only the periodic sync carried what that peer posted (the
//! page benchmark saw 7 s instead of 5 ms). Here Ada's node syncs only once
//! an hour, so nothing but gossip can bring her Bo's posts (Bo's syncs
//! often, to mend what a burst loses on the way: sync only pulls).

use std::time::{Duration, Instant};

use kindred_node::{Node, NodeConfig, RunningNode};

async fn start(dir: &std::path::Path, sync_every: Duration) -> RunningNode {
    let mut c = NodeConfig::new(dir.to_path_buf());
    c.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
    c.sync_interval = sync_every;
    Node::start(c).await.unwrap()
}

async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn posts(n: &RunningNode) -> u64 {
    n.node.topics().await.unwrap()[0].messages
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossip_flows_both_ways_after_a_burst_of_posts() {
    let tmp = tempfile::tempdir().unwrap();
    let a = start(&tmp.path().join("a"), Duration::from_secs(3600)).await;
    let b = start(&tmp.path().join("b"), Duration::from_secs(1)).await;
    let (topic, invite) = a
        .node
        .create_circle(
            "burst",
            "",
            Some("Ada".into()),
            (None, None),
            Default::default(),
        )
        .await
        .unwrap();
    b.node
        .join(&invite, Some("Bo".into()), Duration::from_secs(20))
        .await
        .unwrap();
    // The burst starts at once, before the two have formed a gossip mesh
    // (a peer pruned while unproven waits out gossipsub's backoff): what
    // Bo passes on of it goes to Ada as IHAVE.
    const BURST: u64 = 1000;
    for i in 0..BURST {
        // Long enough (with padding) that gossipsub also sends IDONTWANTs.
        let text = format!("burst {i}: {}", "words ".repeat(20));
        a.node.post(&topic.id, &text).await.unwrap();
    }
    wait_until("the burst to reach Bo", Duration::from_secs(60), || async {
        posts(&b).await >= BURST
    })
    .await;
    // Bo answers over the next seconds, while his node's heartbeats gossip
    // the burst's ids back to Ada (five a second: paced, not waited on).
    let before = posts(&a).await;
    const ANSWERS: u64 = 25;
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    for i in 0..ANSWERS {
        tick.tick().await;
        b.node
            .post(&topic.id, &format!("answer {i}"))
            .await
            .unwrap();
    }
    wait_until(
        "Bo's posts to reach Ada by gossip",
        Duration::from_secs(30),
        || async { posts(&a).await >= before + ANSWERS },
    )
    .await;
    let _ = a.shutdown().await;
    let _ = b.shutdown().await;
}
