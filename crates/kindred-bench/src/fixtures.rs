//! Valid circle messages made outside any node, to fill stores and feed
//! nodes quickly.

use anyhow::Result;
use kindred_proto::envelope::seal;
use kindred_proto::topic::EpochKeys;
use kindred_proto::{Kind, MessageContent, MessageId, Pseudonym, TopicKeys};
use kindred_store::MessageRecord;
use serde_bytes::ByteBuf;

/// `n` posts by `author`, each replying to the one before (a linear
/// conversation), the first to `first_parent` if given. Returns records
/// ready for the store (depths as the store would compute them).
pub fn chain(
    keys: &TopicKeys,
    epoch: &EpochKeys,
    author: &Pseudonym,
    n: usize,
    first_parent: Option<(MessageId, u64)>,
    text_len: usize,
) -> Result<Vec<MessageRecord>> {
    let mut out = Vec::with_capacity(n);
    let mut prev = first_parent;
    let now = now_ms();
    for k in 0..n {
        let depth = prev.map(|(_, d)| d + 1).unwrap_or(0);
        let content = MessageContent {
            kind: Kind::Post,
            body: body(k, text_len),
            parents: prev.iter().map(|(id, _)| *id).collect(),
            timestamp: now - (n - k) as u64,
            depth,
        };
        let (id, envelope) = seal(keys, epoch, author, &content)?;
        out.push(MessageRecord {
            id: ByteBuf::from(id.0.to_vec()),
            author: ByteBuf::from(author.public_key().0.to_vec()),
            kind: Kind::Post.code(),
            body: content.body,
            parents: content
                .parents
                .iter()
                .map(|p| ByteBuf::from(p.0.to_vec()))
                .collect(),
            timestamp: content.timestamp,
            received_at: now,
            depth,
            envelope: ByteBuf::from(envelope),
            late_by: 0,
        });
        prev = Some((id, depth));
    }
    Ok(out)
}

/// `n` independent posts (no parents): envelopes only.
pub fn loose(
    keys: &TopicKeys,
    epoch: &EpochKeys,
    author: &Pseudonym,
    n: usize,
    text_len: usize,
) -> Result<Vec<Vec<u8>>> {
    let now = now_ms();
    (0..n)
        .map(|k| {
            let content = MessageContent {
                kind: Kind::Post,
                body: body(k, text_len),
                parents: vec![],
                timestamp: now,
                depth: 0,
            };
            Ok(seal(keys, epoch, author, &content)?.1)
        })
        .collect()
}

fn body(k: usize, len: usize) -> String {
    let mut s = format!("{k:08} ");
    while s.len() < len {
        s.push_str("Some days are heavier than others. ");
    }
    s.truncate(len);
    s
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The topic keys of a circle, from its invite.
pub fn keys_of(invite: &str) -> Result<TopicKeys> {
    Ok(TopicKeys::derive(
        &kindred_proto::Invite::parse(invite, now_ms())?.locator,
    ))
}

/// The circle's current epoch as a stopped node's store holds it: what a
/// member seals under now.
pub fn current_epoch(store: &kindred_store::Store, keys: &TopicKeys) -> Result<EpochKeys> {
    use kindred_proto::authority::{Circle, EpochSecret, Op};
    let rec = store
        .topic(&keys.id)?
        .ok_or_else(|| anyhow::anyhow!("no such circle in the store"))?;
    let genesis = Op::decode(&rec.genesis)?;
    let ops = store.ops(&keys.id)?;
    let gid = genesis.id;
    let ops = ops
        .iter()
        .filter_map(|b| Op::decode(b).ok())
        .filter(move |o| o.id != gid);
    let circle = Circle::from_ops(genesis, ops, now_ms()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let current = circle
        .state()
        .current_epoch()
        .map(|e| e.op)
        .ok_or_else(|| anyhow::anyhow!("no epoch"))?;
    let (_, secret) = store
        .epochs(&keys.id)?
        .into_iter()
        .find(|(op, _)| *op == current)
        .ok_or_else(|| anyhow::anyhow!("the current epoch's secret is not held"))?;
    Ok(EpochKeys::derive(
        &keys.id,
        &EpochSecret::from_bytes(*secret),
    ))
}
