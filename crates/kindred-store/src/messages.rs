//! The sled database: topics, the per-topic message DAG, and the address book.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

use kindred_proto::{Kind, MessageId, PublicKey, TopicId};
use sled::transaction::{ConflictableTransactionError, TransactionError};

use crate::datadir::DataDir;
use crate::records::{decode, depth_in, encode, key, MessageRecord, TopicRecord};
use crate::{Result, StoreError, SCHEMA_VERSION};

/// sled's page cache defaults to 1 GiB; an idle node should not look like that.
const CACHE_BYTES: u64 = 32 * 1024 * 1024;
/// New writes are refused while the disk has less free space than this:
/// sled 0.34 stops completing flushes after it once hits ENOSPC, so it must
/// never get there.
pub const DISK_RESERVE: u64 = 32 * 1024 * 1024;
/// Longest a flush may take before the write is reported as failed.
pub const FLUSH_TIMEOUT_SECS: u64 = 15;

/// Free bytes on the filesystem holding `path`, if the OS says.
fn free_bytes(path: &std::path::Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a valid out-pointer.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    Some(st.f_bavail as u64 * st.f_frsize as u64)
}

/// Open database plus the lock on its data directory.
pub struct Store {
    /// First, so it is dropped (and its thread joined) before the lock.
    flusher: crate::flusher::Flusher,
    dir: DataDir,
    db: sled::Db,
    t: Trees,
    /// Writers are serialised so parent checks and inserts see one state.
    write: Mutex<()>,
}

/// sled trees; keys are documented per tree.
pub(crate) struct Trees {
    pub meta: sled::Tree,
    pub topics: sled::Tree,
    /// topic || id -> MessageRecord, for messages whose parents are all here.
    pub msgs: sled::Tree,
    /// topic || depth (u64 BE) || id -> (): history in display order.
    pub order: sled::Tree,
    /// topic || seq (u64 BE) -> id: the order this node received messages in.
    pub arrivals: sled::Tree,
    /// topic || id -> (): messages no stored message names as a parent.
    pub heads: sled::Tree,
    /// topic || id -> MessageRecord, for messages still missing a parent.
    pub pending: sled::Tree,
    /// topic || missing parent id || child id -> ().
    pub waiting: sled::Tree,
    /// topic || author -> (depth, id, name): the newest profile of each author.
    pub names: sled::Tree,
    /// topic || author -> (depth, id, contact code): members' published contacts.
    pub cards: sled::Tree,
    /// peer id bytes -> [multiaddr text]: where peers were last seen.
    pub peers: sled::Tree,
    /// peer id bytes -> ContactRecord.
    pub contacts: sled::Tree,
    /// topic || tag || …: messages waiting for a parent by arrival and by
    /// author, and their counts, for the pending caps (see staging).
    pub pending_index: sled::Tree,
    /// tree name || 0 || key -> value: records a list could not decode,
    /// moved aside so the rest of the list still works.
    pub quarantine: sled::Tree,
    /// len(peer) || peer || seq (u64 BE) -> DmRecord: conversations.
    pub dms: sled::Tree,
    /// len(peer) || peer || message id -> seq: dedup and the replay cache.
    pub dm_index: sled::Tree,
    /// seq (u64 BE) -> OutboxRecord: sealed messages waiting, in send order.
    pub outbox: sled::Tree,
    /// topic || op id -> signed authority op (see circles.rs).
    pub auth_ops: sled::Tree,
    /// topic || op id -> the 32-byte secret of the epoch that op opened.
    pub epochs: sled::Tree,
    /// topic || message id -> (): history entries held opaque (no key yet).
    pub opaque: sled::Tree,
}

/// What happened to an inserted message.
#[derive(Debug, Default)]
pub struct Inserted {
    /// It was already stored or pending.
    pub duplicate: bool,
    /// Messages newly placed into history, in order: this one (if its parents
    /// were all present) followed by any pending ones it completed.
    pub stored: Vec<MessageRecord>,
    /// Parents this message lacks; it waits in pending until they arrive.
    pub missing: Vec<MessageId>,
    /// Its parents are here but the depth it carries is not one more than
    /// the deepest of them: refused, not stored.
    pub wrong_depth: bool,
}

/// A page of envelopes answering a sync fetch, parents before children.
pub type SyncPage = Vec<Vec<u8>>;

/// Per-topic totals for status displays.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TopicCounts {
    /// Posts in history: what a reader sees.
    pub posts: u64,
    /// Everything in history: posts, profiles, contact cards, later kinds.
    pub messages: u64,
    pub pending: u64,
    pub missing: u64,
    /// When the oldest message still waiting for a parent arrived: how long
    /// the history has had a known gap.
    pub gap_since: Option<u64>,
}

pub(crate) fn count_key(topic: &TopicId) -> Vec<u8> {
    let mut k = b"count/".to_vec();
    k.extend_from_slice(topic.as_bytes());
    k
}

pub(crate) fn posts_key(topic: &TopicId) -> Vec<u8> {
    let mut k = b"posts/".to_vec();
    k.extend_from_slice(topic.as_bytes());
    k
}

pub(crate) fn tx_err(e: TransactionError<StoreError>) -> StoreError {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => e.into(),
    }
}

pub(crate) fn abort_tx(e: StoreError) -> ConflictableTransactionError<StoreError> {
    ConflictableTransactionError::Abort(e)
}

/// How long to wait for sled's own file lock. We hold the data directory's
/// lock, so only this process can hold sled's: a `Store` just dropped whose
/// background threads have not yet let go (sled 0.34 releases it lazily).
const SLED_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

fn open_sled(path: &std::path::Path) -> sled::Result<sled::Db> {
    let deadline = std::time::Instant::now() + SLED_LOCK_WAIT;
    loop {
        let r = sled::Config::new()
            .path(path)
            .cache_capacity(CACHE_BYTES)
            .open();
        match r {
            Err(sled::Error::Io(e))
                if e.to_string().contains("acquire lock")
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            r => return r,
        }
    }
}

impl Store {
    /// Opens (or creates) the database in a locked data directory.
    pub fn open(dir: DataDir) -> Result<Store> {
        let path = dir.db_path();
        // sled 0.34 can panic on some damaged files instead of returning an
        // error; either way the user gets the same clear report.
        let opened = std::panic::catch_unwind(|| open_sled(&path));
        let db = match opened {
            Ok(Ok(db)) => db,
            Ok(Err(e)) => {
                return Err(StoreError::Damaged {
                    path,
                    detail: e.to_string(),
                })
            }
            Err(_) => {
                return Err(StoreError::Damaged {
                    path,
                    detail: "the database engine could not read it".into(),
                })
            }
        };
        let tree = |name: &str| {
            db.open_tree(name).map_err(|e| StoreError::Damaged {
                path: path.clone(),
                detail: e.to_string(),
            })
        };
        let t = Trees {
            meta: tree("meta")?,
            topics: tree("topics")?,
            msgs: tree("msgs")?,
            order: tree("order")?,
            arrivals: tree("arrivals")?,
            heads: tree("heads")?,
            pending: tree("pending")?,
            waiting: tree("waiting")?,
            names: tree("names")?,
            cards: tree("cards")?,
            peers: tree("peers")?,
            contacts: tree("contacts")?,
            dms: tree("dms")?,
            dm_index: tree("dm_index")?,
            outbox: tree("outbox")?,
            quarantine: tree("quarantine")?,
            pending_index: tree("pending_index")?,
            auth_ops: tree("auth_ops")?,
            epochs: tree("epochs")?,
            opaque: tree("opaque")?,
        };
        let store = Store {
            flusher: crate::flusher::Flusher::start(db.clone())?,
            t,
            db,
            dir,
            write: Mutex::new(()),
        };
        match store.t.meta.get("schema")? {
            None => {
                store
                    .t
                    .meta
                    .insert("schema", &SCHEMA_VERSION.to_be_bytes())?;
                store.db.flush()?;
            }
            Some(v) => {
                let found =
                    u64::from_be_bytes(v.as_ref().try_into().map_err(|_| StoreError::Damaged {
                        path: path.clone(),
                        detail: "schema version record is malformed".into(),
                    })?);
                if found > SCHEMA_VERSION {
                    return Err(StoreError::NewerSchema { path, found });
                }
                if found < SCHEMA_VERSION {
                    return Err(StoreError::OlderSchema { path, found });
                }
            }
        }
        Ok(store)
    }

    pub fn data_dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Makes everything written so far durable. Call before acknowledging.
    /// Every flush goes through one thread (see `flusher`): concurrent
    /// `flush_async` calls deadlock sled 0.34.
    pub async fn flush(&self) -> Result<()> {
        let timeout = std::time::Duration::from_secs(FLUSH_TIMEOUT_SECS);
        self.flusher.flush(timeout).await
    }

    /// Refuses to write while the disk is nearly full (see [`DISK_RESERVE`]).
    pub fn ensure_space(&self) -> Result<()> {
        let path = self.dir.path();
        match free_bytes(path) {
            Some(free) if free < DISK_RESERVE => Err(StoreError::DiskFull {
                path: path.to_path_buf(),
                free,
                reserve: DISK_RESERVE,
            }),
            _ => Ok(()),
        }
    }

    pub fn flush_blocking(&self) -> Result<()> {
        let timeout = std::time::Duration::from_secs(FLUSH_TIMEOUT_SECS);
        self.flusher.flush_blocking(timeout)
    }

    // ---- configuration ----

    pub fn config(&self, name: &str) -> Result<Option<String>> {
        let k = format!("config/{name}");
        Ok(match self.t.meta.get(k)? {
            Some(v) => Some(
                String::from_utf8(v.to_vec()).map_err(|_| StoreError::Corrupt {
                    what: "config value",
                    detail: "not UTF-8".into(),
                })?,
            ),
            None => None,
        })
    }

    pub fn set_config(&self, name: &str, value: &str) -> Result<()> {
        self.t
            .meta
            .insert(format!("config/{name}"), value.as_bytes())?;
        Ok(())
    }

    // ---- topics ----

    pub fn put_topic(&self, id: &TopicId, record: &TopicRecord) -> Result<()> {
        self.t.topics.insert(id.as_bytes(), encode(record))?;
        Ok(())
    }

    pub fn topic(&self, id: &TopicId) -> Result<Option<TopicRecord>> {
        self.t
            .topics
            .get(id.as_bytes())?
            .map(|v| decode("topic", &v))
            .transpose()
    }

    pub fn topics(&self) -> Result<Vec<(TopicId, TopicRecord)>> {
        let mut out = Vec::new();
        for item in self.t.topics.iter() {
            let (k, v) = item?;
            let decoded = TopicId::from_slice(&k)
                .ok_or(StoreError::Corrupt {
                    what: "topic key",
                    detail: "not 32 bytes".into(),
                })
                .and_then(|id| Ok((id, decode("topic", &v)?)));
            if let Some(entry) = self.or_quarantine(&self.t.topics, "topics", &k, &v, decoded)? {
                out.push(entry);
            }
        }
        Ok(out)
    }

    /// A list keeps going past a record it cannot decode: the record is
    /// moved to the quarantine tree (kept, not deleted, for a later repair)
    /// and reported, and the list goes on without it.
    pub(crate) fn or_quarantine<T>(
        &self,
        tree: &sled::Tree,
        name: &str,
        key: &[u8],
        value: &[u8],
        decoded: Result<T>,
    ) -> Result<Option<T>> {
        match decoded {
            Ok(v) => Ok(Some(v)),
            Err(StoreError::Corrupt { what, detail }) => {
                tracing::warn!(
                    "set aside an unreadable {what} record ({detail}); `kindred status` counts it"
                );
                let mut qk = name.as_bytes().to_vec();
                qk.push(0);
                qk.extend_from_slice(key);
                self.t.quarantine.insert(qk, value)?;
                tree.remove(key)?;
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// How many records were set aside as unreadable.
    pub fn quarantined(&self) -> u64 {
        self.t.quarantine.len() as u64
    }

    // ---- messages ----

    /// Whether the message is already stored or waiting for parents.
    pub fn contains(&self, topic: &TopicId, id: &MessageId) -> Result<bool> {
        let k = key(topic, &[id.as_bytes()]);
        Ok(self.t.msgs.contains_key(&k)? || self.t.pending.contains_key(&k)?)
    }

    /// Whether the message is in history (not merely waiting for parents):
    /// one lookup, for the verdict on every gossip message.
    pub fn in_history(&self, topic: &TopicId, id: &MessageId) -> Result<bool> {
        Ok(self.t.msgs.contains_key(key(topic, &[id.as_bytes()]))?)
    }

    pub fn get(&self, topic: &TopicId, id: &MessageId) -> Result<Option<MessageRecord>> {
        self.t
            .msgs
            .get(key(topic, &[id.as_bytes()]))?
            .map(|v| decode("message", &v))
            .transpose()
    }

    fn depth_of(&self, topic: &TopicId, id: &MessageId) -> Result<Option<u64>> {
        self.t
            .msgs
            .get(key(topic, &[id.as_bytes()]))?
            .map(|v| depth_in(&v))
            .transpose()
    }

    /// Adds a validated message. Idempotent: the same id twice is stored once.
    pub fn insert(&self, topic: &TopicId, record: MessageRecord) -> Result<Inserted> {
        Ok(self
            .insert_many(topic, vec![record])?
            .pop()
            .unwrap_or_default())
    }

    /// Adds validated messages of one topic in one atomic write (a group
    /// commit), with the same outcome as inserting them one by one in this
    /// order; results are in input order. A burst of gossip or a sync page
    /// should come through here: the per-message transaction is what
    /// bounded how fast a node stored them.
    pub fn insert_many(
        &self,
        topic: &TopicId,
        records: Vec<MessageRecord>,
    ) -> Result<Vec<Inserted>> {
        self.ensure_space()?;
        let _guard = self.write_guard();
        let mut staging = crate::staging::Staging::new(self, topic);
        let mut out = Vec::with_capacity(records.len());
        for record in records {
            out.push(staging.insert(record)?);
        }
        staging.commit()?;
        Ok(out)
    }

    /// How many messages of the topic are in history.
    pub(crate) fn stored_count(&self, topic: &TopicId) -> Result<u64> {
        Ok(self
            .t
            .meta
            .get(count_key(topic))?
            .and_then(|v| v.as_ref().try_into().ok().map(u64::from_be_bytes))
            .unwrap_or(0))
    }

    /// How many posts of the topic are in history. A store written before
    /// posts were counted apart has no counter yet: count them once (the
    /// next write stores the counter).
    pub(crate) fn stored_posts(&self, topic: &TopicId) -> Result<u64> {
        if let Some(v) = self.t.meta.get(posts_key(topic))? {
            return Ok(v.as_ref().try_into().map(u64::from_be_bytes).unwrap_or(0));
        }
        let mut n = 0;
        for v in self.t.msgs.scan_prefix(topic.as_bytes()).values() {
            let rec: MessageRecord = decode("message", &v?)?;
            n += u64::from(rec.kind() == Kind::Post);
        }
        Ok(n)
    }

    /// Contacts members published in a topic: (author pseudonym, contact code).
    pub fn cards(&self, topic: &TopicId) -> Result<Vec<(PublicKey, String)>> {
        self.newest_by_author(&self.t.cards, "cards", "card", topic)
    }

    /// The text of each author's newest entry in `tree` (names, cards),
    /// keyed `topic || author`; unreadable entries are set aside.
    fn newest_by_author(
        &self,
        tree: &sled::Tree,
        name: &str,
        what: &'static str,
        topic: &TopicId,
    ) -> Result<Vec<(PublicKey, String)>> {
        let mut out = Vec::new();
        for item in tree.scan_prefix(topic.as_bytes()) {
            let (k, v) = item?;
            let entry = decode::<(u64, serde_bytes::ByteBuf, String)>(what, &v);
            let Some((_, _, text)) = self.or_quarantine(tree, name, &k, &v, entry)? else {
                continue;
            };
            if let Some(author) = PublicKey::from_slice(&k[32..]) {
                out.push((author, text));
            }
        }
        Ok(out)
    }

    pub(crate) fn trees(&self) -> &Trees {
        &self.t
    }

    /// A sequence number, increasing across restarts and never 0 (cursors
    /// use 0 for "before everything").
    pub(crate) fn next_seq(&self) -> Result<u64> {
        Ok(self.db.generate_id()? + 1)
    }

    pub(crate) fn write_guard(&self) -> std::sync::MutexGuard<'_, ()> {
        self.write.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The topic's heads, deepest first.
    pub fn heads(&self, topic: &TopicId) -> Result<Vec<(u64, MessageId)>> {
        let mut out = Vec::new();
        for k in self.t.heads.scan_prefix(topic.as_bytes()).keys() {
            let k = k?;
            if let Some(id) = MessageId::from_slice(&k[32..]) {
                if let Some(d) = self.depth_of(topic, &id)? {
                    out.push((d, id));
                }
            }
        }
        out.sort_by(|a, b| b.cmp(a));
        Ok(out)
    }

    /// The newest `limit` messages of the given kind, oldest first, in
    /// history order (depth, then id).
    pub fn latest(&self, topic: &TopicId, kind: Kind, limit: usize) -> Result<Vec<MessageRecord>> {
        self.latest_where(topic, limit, |m| (m.kind() == kind).then_some(m))
    }

    /// The newest `limit` messages `pick` turns into something, oldest
    /// first (a reader asking for the last 3 posts wants 3 it can see, not
    /// fewer).
    pub fn latest_where<T>(
        &self,
        topic: &TopicId,
        limit: usize,
        mut pick: impl FnMut(MessageRecord) -> Option<T>,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        for k in self.t.order.scan_prefix(topic.as_bytes()).keys().rev() {
            if out.len() >= limit {
                break;
            }
            let k = k?;
            let Some(id) = MessageId::from_slice(&k[40..]) else {
                continue;
            };
            if let Some(m) = self.get(topic, &id)?.and_then(&mut pick) {
                out.push(m);
            }
        }
        out.reverse();
        Ok(out)
    }

    /// Messages received after arrival number `after`, in arrival order, with
    /// their arrival numbers (for following a topic live).
    pub fn arrivals_after(
        &self,
        topic: &TopicId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, MessageRecord)>> {
        let start = key(topic, &[&after.saturating_add(1).to_be_bytes()]);
        let end = key(topic, &[&u64::MAX.to_be_bytes()]);
        let mut out = Vec::new();
        for item in self.t.arrivals.range(start..=end) {
            if out.len() >= limit {
                break;
            }
            let (k, v) = item?;
            let seq = u64::from_be_bytes(k[32..40].try_into().unwrap_or([0; 8]));
            if let Some(id) = MessageId::from_slice(&v) {
                if let Some(m) = self.get(topic, &id)? {
                    out.push((seq, m));
                }
            }
        }
        Ok(out)
    }

    /// The newest arrival number in a topic (0 when empty).
    pub fn last_arrival(&self, topic: &TopicId) -> Result<u64> {
        Ok(self
            .t
            .arrivals
            .scan_prefix(topic.as_bytes())
            .keys()
            .next_back()
            .transpose()?
            .map(|k| u64::from_be_bytes(k[32..40].try_into().unwrap_or([0; 8])))
            .unwrap_or(0))
    }

    /// The newest display name an author gave in a topic.
    pub fn author_name(&self, topic: &TopicId, author: &PublicKey) -> Result<Option<String>> {
        self.t
            .names
            .get(key(topic, &[author.as_bytes()]))?
            .map(|v| decode::<(u64, serde_bytes::ByteBuf, String)>("name", &v).map(|(_, _, n)| n))
            .transpose()
    }

    /// Every author's newest display name in the topic.
    pub fn names(&self, topic: &TopicId) -> Result<Vec<(PublicKey, String)>> {
        self.newest_by_author(&self.t.names, "names", "name", topic)
    }

    /// Parents referenced by pending messages that this node has never seen:
    /// the known gaps in its history.
    pub fn missing(&self, topic: &TopicId, limit: usize) -> Result<Vec<MessageId>> {
        let mut out: Vec<MessageId> = Vec::new();
        for k in self.t.waiting.scan_prefix(topic.as_bytes()).keys() {
            let k = k?;
            let Some(id) = MessageId::from_slice(&k[32..64]) else {
                continue;
            };
            if out.last() != Some(&id) && !self.contains(topic, &id)? {
                out.push(id);
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    pub fn counts(&self, topic: &TopicId) -> Result<TopicCounts> {
        let messages = self.stored_count(topic)?;
        let posts = self.stored_posts(topic)?;
        let mut pending = 0;
        let mut gap_since: Option<u64> = None;
        for v in self.t.pending.scan_prefix(topic.as_bytes()).values() {
            let rec: MessageRecord = decode("pending message", &v?)?;
            pending += 1;
            gap_since = Some(gap_since.map_or(rec.received_at, |g| g.min(rec.received_at)));
        }
        let missing = if pending > 0 {
            self.missing(topic, 10_000)?.len() as u64
        } else {
            0
        };
        Ok(TopicCounts {
            posts,
            messages,
            pending,
            missing,
            gap_since,
        })
    }

    /// What a requester should send as `have`: its heads plus ids at
    /// exponentially spaced depths below them, so a responder can find where
    /// the two histories meet without either listing everything.
    pub fn have_sample(&self, topic: &TopicId, max: usize) -> Result<Vec<MessageId>> {
        let heads = self.heads(topic)?;
        let mut out: Vec<MessageId> = heads.iter().take(max / 2).map(|(_, id)| *id).collect();
        let Some(&(top, _)) = heads.first() else {
            return Ok(out);
        };
        let mut step = 1u64;
        while out.len() < max && step <= top {
            let depth = top - step;
            let prefix = key(topic, &[&depth.to_be_bytes()]);
            if let Some(k) = self
                .t
                .order
                .scan_prefix(&prefix)
                .keys()
                .next()
                .transpose()?
            {
                if let Some(id) = MessageId::from_slice(&k[40..]) {
                    out.push(id);
                }
            }
            step *= 2;
        }
        Ok(out)
    }

    /// Answers a sync fetch with envelopes in depth order (parents first).
    ///
    /// `floor` is the greatest depth of any `have` id this node knows. When
    /// it knows every `have` id, the requester's history is (as far as it
    /// told) part of ours, so everything from the floor up is new to it:
    /// that is served oldest first, and a catch-up longer than one page
    /// arrives page by page with every parent ahead of its children.
    /// Otherwise the histories diverged, and the page walks back from `want`
    /// through parents, newest first, stopping at `have` and below the floor.
    /// Wanted ids are always included, so a requester can always fill a gap
    /// by asking for a missing parent itself.
    pub fn sync_page(
        &self,
        topic: &TopicId,
        want: &[MessageId],
        have: &[MessageId],
        max_messages: usize,
        max_bytes: usize,
    ) -> Result<SyncPage> {
        let mut page = Page {
            have: have.iter().copied().collect(),
            seen: HashSet::new(),
            picked: Vec::new(),
            bytes: 0,
            max_messages,
            max_bytes,
        };
        let mut floor = 0;
        let mut all_known = true;
        for h in have {
            match self.depth_of(topic, h)? {
                Some(d) => floor = floor.max(d),
                None => all_known = false,
            }
        }
        let mut wanted_above = false;
        for w in want {
            match self.get(topic, w)? {
                Some(m) if m.depth >= floor => wanted_above = true,
                Some(m) if !page.full() && page.wants(w) => page.take(m),
                _ => {}
            }
        }
        if all_known && wanted_above {
            self.forward_from(topic, floor, &mut page)?;
        } else {
            self.back_from(topic, want, floor, &mut page)?;
        }
        let mut picked = page.picked;
        picked.sort_by(|a, b| (a.depth, &a.id).cmp(&(b.depth, &b.id)));
        Ok(picked.into_iter().map(|m| m.envelope.into_vec()).collect())
    }

    /// Fills `page` with messages at depth `floor` and deeper, oldest first.
    fn forward_from(&self, topic: &TopicId, floor: u64, page: &mut Page) -> Result<()> {
        let start = key(topic, &[&floor.to_be_bytes()]);
        for k in self.t.order.range(start..).keys() {
            let k = k?;
            if !k.starts_with(topic.as_bytes()) || page.full() {
                break;
            }
            if let Some(id) = MessageId::from_slice(&k[40..]) {
                if page.wants(&id) {
                    if let Some(m) = self.get(topic, &id)? {
                        page.take(m);
                    }
                }
            }
        }
        Ok(())
    }

    /// Fills `page` walking back from `want`, breadth first, skipping
    /// messages below `floor` that were not asked for by id.
    fn back_from(
        &self,
        topic: &TopicId,
        want: &[MessageId],
        floor: u64,
        page: &mut Page,
    ) -> Result<()> {
        let mut queue: VecDeque<(MessageId, bool)> = want.iter().map(|w| (*w, true)).collect();
        while let Some((id, wanted)) = queue.pop_front() {
            if page.full() {
                break;
            }
            if !page.wants(&id) {
                continue;
            }
            let Some(m) = self.get(topic, &id)? else {
                continue;
            };
            if !wanted && m.depth < floor {
                continue;
            }
            for p in m.parent_ids() {
                queue.push_back((p, false));
            }
            page.take(m);
        }
        Ok(())
    }
}

/// A sync page being filled, within its bounds.
struct Page {
    have: HashSet<MessageId>,
    seen: HashSet<MessageId>,
    picked: Vec<MessageRecord>,
    bytes: usize,
    max_messages: usize,
    max_bytes: usize,
}

impl Page {
    fn full(&self) -> bool {
        self.picked.len() >= self.max_messages || self.bytes >= self.max_bytes
    }

    /// Whether `id` belongs on the page: not had by the requester and not
    /// already picked (or rejected) here.
    fn wants(&mut self, id: &MessageId) -> bool {
        !self.have.contains(id) && self.seen.insert(*id)
    }

    /// Adds a message the caller checked with [`Page::wants`].
    fn take(&mut self, m: MessageRecord) {
        self.bytes += m.envelope.len();
        self.picked.push(m);
    }
}
