//! One group commit: a batch of messages placed into a topic's history with
//! a single sled transaction.
//!
//! A transaction per message (eight trees, each its own commit) was what
//! bounded how fast a node took a burst of gossip or a sync page. Here every
//! write of the batch is staged in memory, later messages of the batch read
//! through what earlier ones staged (a reply completes its parent's pending
//! children exactly as it would alone), and the lot is applied atomically.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use kindred_proto::envelope::child_depth;
use kindred_proto::{Kind, MessageId, TopicId};
use sled::Transactional;

use crate::messages::{count_key, posts_key, tx_err, Inserted, Store};
use crate::records::{decode, depth_in, encode, key, MessageRecord};
use crate::{Result, StoreError};

/// The trees a commit writes, in the order of [`Staging::trees`].
#[derive(Clone, Copy)]
enum T {
    Msgs,
    Order,
    Arrivals,
    Heads,
    Pending,
    Waiting,
    Names,
    Cards,
    Meta,
    PendingIndex,
}
const TREES: usize = 10;

/// Messages kept waiting for a missing parent, per circle and per author.
/// A member could otherwise grow the pending set without end by naming
/// parents that do not exist; past a cap the oldest waiting one goes (sync
/// can bring it again once its parent is there).
pub const MAX_PENDING: u64 = 4096;
pub const MAX_PENDING_PER_AUTHOR: u64 = 256;

/// Tags of the pending index's keys (after the topic).
const BY_TIME: u8 = b't';
const BY_AUTHOR: u8 = b'a';
const COUNT: u8 = b'n';
const AUTHOR_COUNT: u8 = b'c';

/// Staged value of a key: `Some` written, `None` removed.
type Layer = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// The newest profile or contact card of an author: (depth, id, text).
type Newest = (u64, serde_bytes::ByteBuf, String);

pub(crate) struct Staging<'a> {
    store: &'a Store,
    topic: TopicId,
    layers: [Layer; TREES],
    /// Depths of messages read or placed so far (`None`: not stored).
    depths: HashMap<MessageId, Option<u64>>,
    /// The topic's message count once the batch is applied.
    count: Option<u64>,
    /// Of those, posts (what a reader sees).
    posts: Option<u64>,
    /// The deepest depth in the topic's history as the batch leaves it
    /// (`Some(None)`: history is empty), read once per batch.
    top: Option<Option<u64>>,
}

impl<'a> Staging<'a> {
    /// The caller holds the store's write guard until [`Staging::commit`].
    pub(crate) fn new(store: &'a Store, topic: &TopicId) -> Self {
        Staging {
            store,
            topic: *topic,
            layers: Default::default(),
            depths: HashMap::new(),
            count: None,
            posts: None,
            top: None,
        }
    }

    fn trees(&self) -> [&'a sled::Tree; TREES] {
        let t = self.store.trees();
        [
            &t.msgs,
            &t.order,
            &t.arrivals,
            &t.heads,
            &t.pending,
            &t.waiting,
            &t.names,
            &t.cards,
            &t.meta,
            &t.pending_index,
        ]
    }

    fn key(&self, parts: &[&[u8]]) -> Vec<u8> {
        key(&self.topic, parts)
    }

    /// Reads `k` as the batch would leave it.
    fn read<R>(&self, t: T, k: &[u8], f: impl FnOnce(&[u8]) -> Result<R>) -> Result<Option<R>> {
        match self.layers[t as usize].get(k) {
            Some(Some(v)) => f(v).map(Some),
            Some(None) => Ok(None),
            None => match self.trees()[t as usize].get(k)? {
                Some(v) => f(&v).map(Some),
                None => Ok(None),
            },
        }
    }

    fn has(&self, t: T, k: &[u8]) -> Result<bool> {
        Ok(self.read(t, k, |_| Ok(()))?.is_some())
    }

    fn put(&mut self, t: T, k: Vec<u8>, v: Vec<u8>) {
        self.layers[t as usize].insert(k, Some(v));
    }

    /// Removes `k` if it is there: a removal of a key sled does not hold
    /// costs as much as a write, and a key this batch wrote and removes
    /// again need never reach sled.
    fn remove(&mut self, t: T, k: Vec<u8>) -> Result<()> {
        let in_tree = self.trees()[t as usize].contains_key(&k)?;
        let layer = &mut self.layers[t as usize];
        if in_tree {
            layer.insert(k, None);
        } else {
            layer.remove(&k);
        }
        Ok(())
    }

    /// Keys under `prefix` as the batch would leave them.
    fn keys_with_prefix(&self, t: T, prefix: &[u8]) -> Result<BTreeSet<Vec<u8>>> {
        let mut keys = BTreeSet::new();
        for k in self.trees()[t as usize].scan_prefix(prefix).keys() {
            keys.insert(k?.to_vec());
        }
        let staged = self.layers[t as usize].range(prefix.to_vec()..);
        for (k, v) in staged.take_while(|(k, _)| k.starts_with(prefix)) {
            match v {
                Some(_) => keys.insert(k.clone()),
                None => keys.remove(k),
            };
        }
        Ok(keys)
    }

    fn contains(&self, id: &MessageId) -> Result<bool> {
        let k = self.key(&[id.as_bytes()]);
        Ok(self.depth(id)?.is_some() || self.has(T::Pending, &k)?)
    }

    fn depth(&self, id: &MessageId) -> Result<Option<u64>> {
        if let Some(d) = self.depths.get(id) {
            return Ok(*d);
        }
        self.read(T::Msgs, &self.key(&[id.as_bytes()]), depth_in)
    }

    /// Depth of a message, remembered for the rest of the batch.
    fn depth_cached(&mut self, id: &MessageId) -> Result<Option<u64>> {
        let d = self.depth(id)?;
        self.depths.insert(*id, d);
        Ok(d)
    }

    fn missing_parents(&mut self, record: &MessageRecord) -> Result<Vec<MessageId>> {
        let mut missing = Vec::new();
        for p in record.parent_ids() {
            if self.depth_cached(&p)?.is_none() {
                missing.push(p);
            }
        }
        Ok(missing)
    }

    /// Adds one validated message, with the same outcome as inserting it
    /// alone after the messages staged before it.
    pub(crate) fn insert(&mut self, record: MessageRecord) -> Result<Inserted> {
        let id = record.id();
        if self.contains(&id)? {
            return Ok(Inserted {
                duplicate: true,
                ..Default::default()
            });
        }
        let missing = self.missing_parents(&record)?;
        if !missing.is_empty() {
            self.hold(&record, &missing)?;
            return Ok(Inserted {
                duplicate: false,
                stored: vec![],
                missing,
                wrong_depth: false,
            });
        }
        let waiting = self.keys_with_prefix(T::Waiting, &self.key(&[id.as_bytes()]))?;
        // A fresh message that nothing stored refers to, placed far below
        // the top of history, arrived late (or its author chose old parents
        // to bury it): it is marked. Gap fills have children waiting.
        let Some(first) = self.place(record, false, waiting.is_empty())? else {
            return Ok(Inserted {
                wrong_depth: true,
                ..Default::default()
            });
        };
        let mut stored = vec![first];
        // Children that were waiting only for what was just placed.
        let mut queue: VecDeque<MessageId> = VecDeque::new();
        let mut next = Some(waiting);
        while let Some(children) = next.take().map(Ok).or_else(|| {
            queue
                .pop_front()
                .map(|parent| self.keys_with_prefix(T::Waiting, &self.key(&[parent.as_bytes()])))
        }) {
            for k in children? {
                let Some(child) = MessageId::from_slice(&k[64..]) else {
                    continue;
                };
                self.remove(T::Waiting, k)?;
                let ck = self.key(&[child.as_bytes()]);
                let Some(rec) = self.read(T::Pending, &ck, |v| {
                    decode::<MessageRecord>("pending message", v)
                })?
                else {
                    continue;
                };
                if self.missing_parents(&rec)?.is_empty() {
                    match self.place(rec, true, false)? {
                        Some(placed) => {
                            stored.push(placed);
                            queue.push_back(child);
                        }
                        // Its author lied about its place: gone, as if it
                        // had never arrived (what waits for it stays
                        // pending until evicted).
                        None => self.evict(&child)?,
                    }
                }
            }
        }
        Ok(Inserted {
            duplicate: false,
            stored,
            missing: vec![],
            wrong_depth: false,
        })
    }

    /// Puts a message whose parents are all stored into history, in every
    /// index; `was_pending` when it waited for them (a fresh message was
    /// just checked not to be pending, so there is nothing to remove).
    /// `None` when the depth it carries is not one more than its deepest
    /// parent's: it is not placed (spec §3.4).
    fn place(
        &mut self,
        mut record: MessageRecord,
        was_pending: bool,
        may_be_late: bool,
    ) -> Result<Option<MessageRecord>> {
        let id = record.id();
        let parents = record.parent_ids();
        let mut deepest: Option<u64> = None;
        for p in &parents {
            let d = self.depth(p)?.ok_or(StoreError::Corrupt {
                what: "message parent",
                detail: "vanished while placing".into(),
            })?;
            deepest = Some(deepest.map_or(d, |x| x.max(d)));
        }
        // A stand-in's parents are sealed: it stands where it says.
        if record.kind != crate::OPAQUE_KIND && record.depth != child_depth(deepest) {
            tracing::debug!(
                "refused a message that claims depth {} on parents at {:?}",
                record.depth,
                deepest
            );
            return Ok(None);
        }
        let depth = record.depth;
        let top = match self.top {
            Some(t) => t,
            None => self.store.heads(&self.topic)?.first().map(|(d, _)| *d),
        };
        if let (true, Some(t)) = (may_be_late, top) {
            if t >= depth + kindred_proto::LATE_DEPTH {
                record.late_by = t - depth;
            }
        }
        self.top = Some(Some(top.map_or(depth, |t| t.max(depth))));
        let seq = self.store.next_seq()?;
        let msg_key = self.key(&[id.as_bytes()]);
        let author_key = self.key(&[&record.author]);
        if record.kind() == Kind::Profile && self.newer(T::Names, &author_key, depth, &id)? {
            let name = encode(&(depth, bytes(&id), record.body.clone()));
            self.put(T::Names, author_key.clone(), name);
        }
        if is_own_card(&record) && self.newer(T::Cards, &author_key, depth, &id)? {
            let card = encode(&(depth, bytes(&id), record.body.clone()));
            self.put(T::Cards, author_key, card);
        }
        self.put(T::Msgs, msg_key.clone(), encode(&record));
        let order = self.key(&[&depth.to_be_bytes(), id.as_bytes()]);
        self.put(T::Order, order, Vec::new());
        let arrival = self.key(&[&seq.to_be_bytes()]);
        self.put(T::Arrivals, arrival, id.as_bytes().to_vec());
        for p in &parents {
            let h = self.key(&[p.as_bytes()]);
            self.remove(T::Heads, h)?;
        }
        self.put(T::Heads, msg_key.clone(), Vec::new());
        if was_pending {
            self.remove(T::Pending, msg_key)?;
            self.unindex(&record)?;
        }
        let count = match self.count {
            Some(n) => n,
            None => self.store.stored_count(&self.topic)?,
        };
        self.count = Some(count + 1);
        if record.kind() == Kind::Post {
            let posts = match self.posts {
                Some(n) => n,
                None => self.store.stored_posts(&self.topic)?,
            };
            self.posts = Some(posts + 1);
        }
        self.depths.insert(id, Some(depth));
        Ok(Some(record))
    }

    fn counter(&self, k: &[u8]) -> Result<u64> {
        Ok(self
            .read(T::PendingIndex, k, |v| {
                Ok(v.try_into().map(u64::from_be_bytes).unwrap_or(0))
            })?
            .unwrap_or(0))
    }

    fn set_counter(&mut self, k: Vec<u8>, n: u64) -> Result<()> {
        if n == 0 {
            self.remove(T::PendingIndex, k)
        } else {
            self.put(T::PendingIndex, k, n.to_be_bytes().to_vec());
            Ok(())
        }
    }

    /// The pending index's keys for a record: by arrival, by author, and
    /// the two counters.
    fn index_keys(&self, r: &MessageRecord) -> [Vec<u8>; 4] {
        let (at, id) = (r.received_at.to_be_bytes(), r.id());
        [
            self.key(&[&[BY_TIME], &at, id.as_bytes()]),
            self.key(&[&[BY_AUTHOR], &r.author, &at, id.as_bytes()]),
            self.key(&[&[COUNT]]),
            self.key(&[&[AUTHOR_COUNT], &r.author]),
        ]
    }

    /// Keeps a message until its missing parents arrive, within the caps.
    fn hold(&mut self, record: &MessageRecord, missing: &[MessageId]) -> Result<()> {
        let id = record.id();
        self.put(T::Pending, self.key(&[id.as_bytes()]), encode(record));
        for p in missing {
            let w = self.key(&[p.as_bytes(), id.as_bytes()]);
            self.put(T::Waiting, w, Vec::new());
        }
        let [by_time, by_author, count, author_count] = self.index_keys(record);
        self.put(T::PendingIndex, by_time, record.author.to_vec());
        self.put(T::PendingIndex, by_author, Vec::new());
        let (n, a) = (self.counter(&count)? + 1, self.counter(&author_count)? + 1);
        self.set_counter(count, n)?;
        self.set_counter(author_count, a)?;
        let over = if a > MAX_PENDING_PER_AUTHOR {
            Some(self.key(&[&[BY_AUTHOR], &record.author]))
        } else {
            (n > MAX_PENDING).then(|| self.key(&[&[BY_TIME]]))
        };
        if let Some(prefix) = over {
            // Keys under either prefix end in the id, oldest first.
            let oldest = self
                .keys_with_prefix(T::PendingIndex, &prefix)?
                .into_iter()
                .next();
            if let Some(id) = oldest.and_then(|k| MessageId::from_slice(&k[k.len() - 32..])) {
                self.evict(&id)?;
            }
        }
        Ok(())
    }

    /// Takes a message out of the pending index (it was placed or evicted).
    fn unindex(&mut self, record: &MessageRecord) -> Result<()> {
        let [by_time, by_author, count, author_count] = self.index_keys(record);
        self.remove(T::PendingIndex, by_time)?;
        self.remove(T::PendingIndex, by_author)?;
        let (n, a) = (self.counter(&count)?, self.counter(&author_count)?);
        self.set_counter(count, n.saturating_sub(1))?;
        self.set_counter(author_count, a.saturating_sub(1))
    }

    /// Drops a waiting message: it is gone as if it had never arrived.
    fn evict(&mut self, id: &MessageId) -> Result<()> {
        let k = self.key(&[id.as_bytes()]);
        let Some(rec) = self.read(T::Pending, &k, |v| {
            decode::<MessageRecord>("pending message", v)
        })?
        else {
            return Ok(());
        };
        self.remove(T::Pending, k)?;
        for p in rec.parent_ids() {
            let w = self.key(&[p.as_bytes(), id.as_bytes()]);
            self.remove(T::Waiting, w)?;
        }
        self.unindex(&rec)
    }

    /// Whether (depth, id) beats the newest entry under `k` in `t`.
    fn newer(&self, t: T, k: &[u8], depth: u64, id: &MessageId) -> Result<bool> {
        let current = self.read(t, k, |v| decode::<Newest>("newest entry", v))?;
        Ok(match current {
            Some((d, other, _)) => (d, other.as_slice()) < (depth, id.as_bytes().as_slice()),
            None => true,
        })
    }

    /// Applies everything staged in one transaction.
    pub(crate) fn commit(mut self) -> Result<()> {
        if let Some(n) = self.count {
            self.put(T::Meta, count_key(&self.topic), n.to_be_bytes().to_vec());
        }
        if let Some(n) = self.posts {
            self.put(T::Meta, posts_key(&self.topic), n.to_be_bytes().to_vec());
        }
        if self.layers.iter().all(|l| l.is_empty()) {
            return Ok(());
        }
        let batches: Vec<sled::Batch> = self
            .layers
            .iter()
            .map(|layer| {
                let mut b = sled::Batch::default();
                for (k, v) in layer {
                    match v {
                        Some(v) => b.insert(k.as_slice(), v.as_slice()),
                        None => b.remove(k.as_slice()),
                    }
                }
                b
            })
            .collect();
        let trees = self.trees();
        trees
            .as_slice()
            .transaction(|txs| {
                for (tx, b) in txs.iter().zip(&batches) {
                    tx.apply_batch(b)?;
                }
                Ok(())
            })
            .map_err(tx_err)
    }
}

fn bytes(id: &MessageId) -> serde_bytes::ByteBuf {
    serde_bytes::ByteBuf::from(id.0.to_vec())
}

/// A member's published contact (kind 2) that vouches for its author as
/// pseudonym: only such cards are offered to others.
pub(crate) fn is_own_card(record: &MessageRecord) -> bool {
    record.kind == kindred_proto::dm::CONTACT_KIND
        && kindred_proto::dm::Contact::parse(&record.body)
            .is_ok_and(|c| c.pseudonym == Some(record.author()))
}
