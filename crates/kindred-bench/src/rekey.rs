//! rekey: what removing a member costs (spec/authority.md §5). For circles
//! of 10, 50 and 200: the removal op's size and bytes per remaining member,
//! the remover's CPU to seal it, a member's CPU to take it in and open its
//! entry (the pure state machine, no network); and for the sizes this
//! machine can run as real nodes, the time until every online member
//! holds the new key and the bytes on the wire per remaining member.
#![allow(clippy::expect_used)]

use std::time::{Duration, Instant};

use anyhow::Result;
use kindred_node::{Node, NodeConfig, RunningNode};
use kindred_proto::authority::{
    Circle, Draft, Genesis, JoinBody, JoinRequest, KxSecret, Policy, DRAFT_ENTROPY,
};
use kindred_proto::{Pseudonym, TopicId};

fn entropy(n: u64) -> [u8; DRAFT_ENTROPY] {
    let mut e = [9u8; DRAFT_ENTROPY];
    e[..8].copy_from_slice(&n.to_be_bytes());
    e[40..48].copy_from_slice(&n.to_le_bytes());
    e
}

struct Pure {
    op_bytes: usize,
    envelope_bytes: usize,
    seal_ms: f64,
    take_ms: f64,
}

/// A circle of `n` members in one view, then the owner removes one.
fn pure(n: usize) -> Pure {
    let topic = TopicId([7; 32]);
    let seed = |i: u64| {
        let mut s = [0u8; 32];
        s[..8].copy_from_slice(&i.to_be_bytes());
        s
    };
    let owner = Pseudonym::from_seed(seed(0));
    let kx = |i: u64| KxSecret::from_bytes(seed(i + 10_000));
    let g = Genesis {
        name: "bench".into(),
        rules: String::new(),
        policy: Policy::default(),
        topic,
        kx: kx(0).public(),
        owner_name: "owner".into(),
    };
    let (mut view, _) = Circle::create(&owner, g, 1, &entropy(0)).expect("genesis");
    let mut ts = 2;
    for i in 1..n as u64 {
        let invite = Pseudonym::from_seed(seed(i + 20_000));
        let draft = Draft::Invite {
            key: invite.public_key(),
            expires: None,
            uses: None,
            approval: false,
        };
        let (op, _) = view.draft(&owner, draft, ts, &entropy(ts)).expect("invite");
        view.insert(op, ts);
        let joiner = Pseudonym::from_seed(seed(i));
        let body = JoinBody {
            circle: view.id(),
            invite: invite.public_key(),
            joiner: joiner.public_key(),
            kx: kx(i).public(),
            name: format!("m{i}"),
            peer: vec![0, 36, 8, 1, i as u8],
            ts,
        };
        let req = JoinRequest::sign(body, &invite, &joiner).expect("request");
        let (op, _) = view
            .draft(&owner, Draft::Admit(req), ts + 1, &entropy(ts + 1))
            .expect("admit");
        view.insert(op, ts + 1);
        ts += 2;
    }
    let member = Circle::from_ops(view.genesis().clone(), view.ops().skip(1).cloned(), 0)
        .expect("a member's view");
    let removed = Pseudonym::from_seed(seed(n as u64 - 1)).public_key();
    let start = Instant::now();
    let (op, secret) = view
        .draft(
            &owner,
            Draft::Remove {
                member: removed,
                reason: String::new(),
            },
            ts,
            &entropy(ts),
        )
        .expect("remove");
    let seal_ms = start.elapsed().as_secs_f64() * 1e3;
    let secret = secret.expect("a removal opens an epoch");
    // What gossip carries: the op sealed in an envelope of the old epoch.
    let keys = kindred_proto::TopicKeys::derive(&kindred_proto::TopicSecret::from_bytes([7; 32]));
    let epoch = kindred_proto::topic::EpochKeys::derive(&keys.id, &secret);
    let content = kindred_proto::MessageContent {
        kind: kindred_proto::Kind::Authority,
        body: String::new(),
        parents: vec![kindred_proto::MessageId([1; 32]); 2],
        timestamp: ts,
        depth: 1,
    };
    let envelope =
        kindred_proto::envelope::seal_data(&keys, &epoch, &owner, &content, op.encoded())
            .expect("envelope")
            .1;
    // A remaining member takes it in and opens its entry.
    let mut member = member;
    let me = Pseudonym::from_seed(seed(1)).public_key();
    let start = Instant::now();
    let decoded = kindred_proto::authority::Op::decode(op.encoded()).expect("decode");
    member.insert(decoded, ts);
    let pos = member
        .recipients(&op.id)
        .iter()
        .position(|r| *r == me)
        .expect("a recipient");
    let rekey = op.action.rekey().expect("rekey").clone();
    let opened = kindred_proto::authority::open_rekey(&topic, &rekey, pos, &kx(1));
    let take_ms = start.elapsed().as_secs_f64() * 1e3;
    assert_eq!(opened.as_ref(), Some(&secret));
    Pure {
        op_bytes: op.encoded().len(),
        envelope_bytes: envelope.len(),
        seal_ms,
        take_ms,
    }
}

struct Live {
    time_ms: f64,
    wire_per_member: f64,
}

async fn wait_all_keys(nodes: &[RunningNode], topic: &str, members: usize) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let mut ok = true;
        for n in nodes {
            let t = n.node.topics().await?;
            let t = t.iter().find(|t| t.name == topic);
            ok &= t.is_some_and(|t| t.keys_ok && t.members == members);
        }
        if ok {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "the circle did not settle");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `n` real nodes in one circle; the owner removes the last to join.
async fn live(n: usize) -> Result<Live> {
    let tmp = tempfile::tempdir()?;
    let mut nodes = Vec::new();
    for i in 0..n {
        let mut c = NodeConfig::new(tmp.path().join(format!("n{i}")));
        c.listen = vec!["/ip4/127.0.0.1/tcp/0".parse()?];
        nodes.push(Node::start(c).await?);
    }
    let (topic, _) = nodes[0]
        .node
        .create_topic("rekey", "", Some("Olwen".into()), None)
        .await?;
    for (i, node) in nodes.iter().enumerate().skip(1) {
        let invite = nodes[0]
            .node
            .invite(&topic.name, kindred_node::InviteOptions::default())
            .await?;
        node.node
            .join(&invite, Some(format!("m{i}")), Duration::from_secs(20))
            .await?;
    }
    wait_all_keys(&nodes, &topic.name, n).await?;
    // Let gossip go quiet before measuring.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let removed = nodes[n - 1].node.topics().await?[0].me.clone();
    let tid = TopicId::from_hex(&topic.id).expect("topic id");
    let bytes0 = kindred_net::tcp_bytes().0;
    let start = Instant::now();
    nodes[0]
        .node
        .remove(&topic.name, &removed, "", false)
        .await?;
    let target = nodes[0]
        .node
        .current_epoch_keys(&tid)
        .map(|k| k.tag)
        .expect("the owner's key");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let done = nodes[..n - 1]
            .iter()
            .all(|x| x.node.current_epoch_keys(&tid).map(|k| k.tag) == Some(target));
        if done {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the new key did not reach everyone"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let time_ms = start.elapsed().as_secs_f64() * 1e3;
    let bytes = kindred_net::tcp_bytes().0 - bytes0;
    for x in nodes {
        x.shutdown().await?;
    }
    Ok(Live {
        time_ms,
        wire_per_member: bytes as f64 / (n - 2) as f64,
    })
}

pub fn run(sizes: &[usize], live_max: usize) -> Result<String> {
    let mut out = String::from(
        "## Rekey after a removal\n\nThe owner removes one member; the new epoch secret is sealed to each remaining member (48 bytes each) in one op. Pure: the state machine alone on one core. Live: real nodes on loopback, time until every remaining node seals with the new key; wire bytes are all TCP bytes sent in that window over the number of remaining members (gossip carries the op to each member one or more times).\n\n| members | op bytes | envelope bytes | bytes per remaining member (op) | seal ms | take in + open ms | live: all hold the key, ms | live: wire bytes per remaining member |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    for &n in sizes {
        let p = pure(n);
        let live = if n <= live_max {
            let l = rt.block_on(live(n))?;
            (
                format!("{:.0}", l.time_ms),
                format!("{:.0}", l.wire_per_member),
            )
        } else {
            ("not run".into(), "not run".into())
        };
        out.push_str(&format!(
            "| {n} | {} | {} | {:.0} | {:.2} | {:.2} | {} | {} |\n",
            p.op_bytes,
            p.envelope_bytes,
            p.op_bytes as f64 / (n - 1) as f64,
            p.seal_ms,
            p.take_ms,
            live.0,
            live.1
        ));
    }
    out.push_str(&format!(
        "\nLive runs above {live_max} members are not run: that many full nodes need more than this machine's 2 cores (see the mesh benchmark at 60). The published anchor, DCGKA, costs about 315 bytes per remaining member at 128.\n"
    ));
    Ok(out)
}
