//! What a circle's authority needs on disk: its signed ops (which also
//! travel in the history as messages, but a newcomer receives them apart,
//! and a restart must not depend on reopening old envelopes) and the
//! secrets of the epochs this node holds. Epoch secrets are as sensitive as
//! the old topic secret: they sit in the same database, in the data
//! directory the node keeps private.

use kindred_proto::{OpId, TopicId};
use zeroize::Zeroizing;

use crate::messages::Store;
use crate::{Result, StoreError};

fn key(topic: &TopicId, op: &OpId) -> Vec<u8> {
    [topic.as_bytes().as_slice(), op.as_bytes()].concat()
}

fn op_of(topic: &TopicId, k: &[u8]) -> Option<OpId> {
    OpId::from_slice(k.get(topic.as_bytes().len()..)?)
}

impl Store {
    /// Keeps a verified op. Idempotent.
    pub fn put_op(&self, topic: &TopicId, op: &OpId, bytes: &[u8]) -> Result<()> {
        self.trees().auth_ops.insert(key(topic, op), bytes)?;
        Ok(())
    }

    /// Keeps ops and the epoch secrets they opened in one transaction: a
    /// crash never leaves an op known whose secret is lost (it would never
    /// be opened again).
    pub fn put_ops(
        &self,
        topic: &TopicId,
        ops: &[(OpId, &[u8])],
        epochs: &[(OpId, &[u8; 32])],
    ) -> Result<()> {
        use sled::Transactional;
        let t = self.trees();
        (&t.auth_ops, &t.epochs)
            .transaction(|(tx_ops, tx_epochs)| -> sled::transaction::ConflictableTransactionResult<(), StoreError> {
                for (op, bytes) in ops {
                    tx_ops.insert(key(topic, op), *bytes)?;
                }
                for (op, secret) in epochs {
                    tx_epochs.insert(key(topic, op), secret.as_slice())?;
                }
                Ok(())
            })
            .map_err(crate::messages::tx_err)
    }

    /// Every op kept for a circle, in no particular order.
    pub fn ops(&self, topic: &TopicId) -> Result<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        for item in self.trees().auth_ops.scan_prefix(topic.as_bytes()) {
            out.push(item?.1.to_vec());
        }
        Ok(out)
    }

    pub fn has_op(&self, topic: &TopicId, op: &OpId) -> Result<bool> {
        Ok(self.trees().auth_ops.contains_key(key(topic, op))?)
    }

    /// Keeps the secret of the epoch `op` opened.
    pub fn put_epoch(&self, topic: &TopicId, op: &OpId, secret: &[u8; 32]) -> Result<()> {
        self.trees()
            .epochs
            .insert(key(topic, op), secret.as_slice())?;
        Ok(())
    }

    /// The epoch secrets held for a circle, by the op that opened each.
    pub fn epochs(&self, topic: &TopicId) -> Result<Vec<(OpId, Zeroizing<[u8; 32]>)>> {
        let mut out = Vec::new();
        for item in self.trees().epochs.scan_prefix(topic.as_bytes()) {
            let (k, v) = item?;
            let op = op_of(topic, &k).ok_or(StoreError::Corrupt {
                what: "epoch key",
                detail: "wrong length".into(),
            })?;
            let secret: [u8; 32] = v.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                what: "epoch secret",
                detail: "not 32 bytes".into(),
            })?;
            out.push((op, Zeroizing::new(secret)));
        }
        Ok(out)
    }

    /// Keeps envelopes this node cannot open yet as opaque stand-ins in
    /// history (see [`crate::OPAQUE_KIND`]), remembered so they can be
    /// revealed when a key for them arrives.
    pub fn insert_opaque(&self, topic: &TopicId, records: Vec<crate::MessageRecord>) -> Result<()> {
        let ids: Vec<Vec<u8>> = records
            .iter()
            .map(|r| [topic.as_bytes().as_slice(), &r.id].concat())
            .collect();
        let inserted = self.insert_many(topic, records)?;
        for (k, i) in ids.into_iter().zip(inserted) {
            if !i.duplicate {
                self.trees().opaque.insert(k, &[])?;
            }
        }
        Ok(())
    }

    /// How many opaque stand-ins a circle holds, counting up to `limit`.
    pub fn opaque_count(&self, topic: &TopicId, limit: usize) -> Result<usize> {
        let mut n = 0;
        for k in self.trees().opaque.scan_prefix(topic.as_bytes()).keys() {
            k?;
            n += 1;
            if n >= limit {
                break;
            }
        }
        Ok(n)
    }

    /// The opaque stand-ins of a circle: (id, envelope), at most `limit`.
    pub fn opaque(
        &self,
        topic: &TopicId,
        limit: usize,
    ) -> Result<Vec<(kindred_proto::MessageId, Vec<u8>)>> {
        let mut out = Vec::new();
        for k in self
            .trees()
            .opaque
            .scan_prefix(topic.as_bytes())
            .keys()
            .take(limit)
        {
            let k = k?;
            let Some(id) = kindred_proto::MessageId::from_slice(&k[topic.as_bytes().len()..])
            else {
                continue;
            };
            if let Some(rec) = self.get(topic, &id)? {
                out.push((id, rec.envelope.to_vec()));
            }
        }
        Ok(out)
    }

    /// Replaces an opaque stand-in with the message it turned out to be,
    /// where it already stands in history (its depth and arrival stay).
    pub fn reveal(&self, topic: &TopicId, mut record: crate::MessageRecord) -> Result<bool> {
        // Serialised with inserts: arrival numbers must become visible in
        // the order they are taken, or a live view's cursor skips one.
        let _guard = self.write_guard();
        let id = record.id();
        let Some(old) = self.get(topic, &id)? else {
            return Ok(false);
        };
        if old.kind != crate::OPAQUE_KIND {
            return Ok(false);
        }
        record.depth = old.depth;
        record.received_at = old.received_at;
        let t = self.trees();
        let key = [topic.as_bytes().as_slice(), id.as_bytes()].concat();
        let author_key = [topic.as_bytes().as_slice(), &record.author].concat();
        let newest = (
            record.depth,
            serde_bytes::ByteBuf::from(id.0.to_vec()),
            record.body.clone(),
        );
        let kind = record.kind();
        if kind == kindred_proto::Kind::Profile && !t.names.contains_key(&author_key)? {
            t.names
                .insert(&author_key, crate::records::encode(&newest))?;
        }
        if crate::staging::is_own_card(&record) && !t.cards.contains_key(&author_key)? {
            t.cards
                .insert(&author_key, crate::records::encode(&newest))?;
        }
        if kind == kindred_proto::Kind::Post {
            let posts = self.stored_posts(topic)? + 1;
            t.meta
                .insert(crate::messages::posts_key(topic), &posts.to_be_bytes())?;
        }
        t.msgs.insert(&key, crate::records::encode(&record))?;
        t.opaque.remove(&key)?;
        // A new arrival, so live views (follow) show it now.
        let seq = self.next_seq()?;
        let arrival = [topic.as_bytes().as_slice(), &seq.to_be_bytes()].concat();
        t.arrivals.insert(arrival, id.as_bytes().as_slice())?;
        Ok(true)
    }

    /// Keeps a member's contact code learned outside history (a join
    /// answer), unless one from history is already known: any real card
    /// (found later in history) replaces it.
    pub fn learn_card(
        &self,
        topic: &TopicId,
        author: &kindred_proto::PublicKey,
        code: &str,
    ) -> Result<()> {
        let k = [topic.as_bytes().as_slice(), author.as_bytes()].concat();
        if !self.trees().cards.contains_key(&k)? {
            let v =
                crate::records::encode(&(0u64, serde_bytes::ByteBuf::from(vec![0u8; 32]), code));
            self.trees().cards.insert(k, v)?;
        }
        Ok(())
    }

    /// Deletes everything this node holds for a circle: its record, history,
    /// ops and keys (leaving it). The caller flushes.
    pub fn forget_topic(&self, topic: &TopicId) -> Result<()> {
        let t = self.trees();
        t.topics.remove(topic.as_bytes())?;
        for tree in [
            &t.msgs,
            &t.order,
            &t.arrivals,
            &t.heads,
            &t.pending,
            &t.waiting,
            &t.names,
            &t.cards,
            &t.pending_index,
            &t.auth_ops,
            &t.epochs,
            &t.opaque,
        ] {
            let keys: Vec<sled::IVec> = tree
                .scan_prefix(topic.as_bytes())
                .keys()
                .collect::<std::result::Result<_, _>>()?;
            for k in keys {
                tree.remove(k)?;
            }
        }
        for k in [
            crate::messages::count_key(topic),
            crate::messages::posts_key(topic),
        ] {
            t.meta.remove(k)?;
        }
        Ok(())
    }
}
