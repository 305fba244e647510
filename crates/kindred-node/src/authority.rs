//! A circle's authority in the running node: the pure state machine
//! (`kindred_proto::authority::Circle`) behind one mutex that is never held
//! across an `.await`, the epoch keys this node holds, and the one place
//! ops go in (ours and the network's) and come out as I/O.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use kindred_proto::authority::{
    open_rekey, Circle, Draft, EpochSecret, KxSecret, Op, Refusal, Standing, State, DRAFT_ENTROPY,
};
use kindred_proto::topic::{EpochKeys, Keyring, EPOCH_TAG_LEN};
use kindred_proto::{CircleId, Kind, OpId, PublicKey, TopicId};

use crate::topics::TopicState;
use crate::{now_ms, NodeError};

/// Every this many seconds a node compares circle actions with a member.
const OPS_ROUND_S: u64 = 10;

/// The epochs this node holds for one circle.
#[derive(Default, Clone)]
pub(crate) struct EpochTable {
    pub ring: Arc<Keyring>,
    /// Which op opened each epoch, by the tag envelopes carry.
    pub ops: HashMap<[u8; EPOCH_TAG_LEN], OpId>,
    /// What this node seals with: the resolved current epoch, if held.
    pub current: Option<EpochKeys>,
}

pub(crate) struct CircleAuth {
    pub kx: KxSecret,
    topic: TopicId,
    /// A fetch of circle actions is running (one at a time).
    fetching: std::sync::atomic::AtomicBool,
    circle: Mutex<Circle>,
    keys: RwLock<EpochTable>,
}

/// What taking in ops changed, for the caller to store.
#[derive(Default)]
pub(crate) struct Absorbed {
    /// Ops newly placed, to keep.
    pub placed: Vec<Op>,
    /// Epoch secrets newly opened (this node was a recipient).
    pub secrets: Vec<(OpId, EpochSecret)>,
    /// Why ops were turned away (rejected at their parents, or over a
    /// cap): nothing of them is kept or passed on.
    pub refused: Vec<String>,
}

impl CircleAuth {
    pub fn new(
        kx: KxSecret,
        circle: Circle,
        secrets: impl IntoIterator<Item = (OpId, EpochSecret)>,
    ) -> CircleAuth {
        let auth = CircleAuth {
            kx,
            topic: circle.topic(),
            fetching: Default::default(),
            circle: Mutex::new(circle),
            keys: RwLock::default(),
        };
        for (op, secret) in secrets {
            auth.install(op, &secret);
        }
        auth.refresh_current();
        auth
    }

    pub fn start_fetch(&self) -> bool {
        !self
            .fetching
            .swap(true, std::sync::atomic::Ordering::AcqRel)
    }

    pub fn end_fetch(&self) {
        self.fetching
            .store(false, std::sync::atomic::Ordering::Release);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Circle> {
        self.circle.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn with<R>(&self, f: impl FnOnce(&Circle) -> R) -> R {
        f(&self.lock())
    }

    pub fn circle_id(&self) -> CircleId {
        self.lock().id()
    }

    pub fn state(&self) -> State {
        self.lock().state().clone()
    }

    /// Someone's role now, without copying the state (the post path).
    pub fn role(&self, who: &PublicKey) -> Result<kindred_proto::authority::Role, Refusal> {
        self.lock().state().role(who)
    }

    pub fn ring(&self) -> Arc<Keyring> {
        self.keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .ring
            .clone()
    }

    pub fn current(&self) -> Option<EpochKeys> {
        self.keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .current
            .clone()
    }

    /// Whether this node holds the key of the circle's resolved current
    /// epoch (not just some earlier one).
    pub fn holds_current(&self) -> bool {
        let Some(op) = self.with(|c| c.state().current_epoch().map(|e| e.op)) else {
            return false;
        };
        self.keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .ops
            .values()
            .any(|o| *o == op)
    }

    /// Adds an epoch this node holds the secret of.
    pub fn install(&self, op: OpId, secret: &EpochSecret) {
        let keys = EpochKeys::derive(&self.topic, secret);
        let mut table = self.keys.write().unwrap_or_else(|p| p.into_inner());
        table.ops.insert(keys.tag, op);
        let mut ring = (*table.ring).clone();
        ring.insert(keys);
        table.ring = Arc::new(ring);
    }

    /// Points `current` at the resolved current epoch, if this node holds
    /// it; otherwise at the newest it holds (until the rekey reaches it).
    fn refresh_current(&self) {
        let (current, order): (Option<OpId>, Vec<OpId>) = self.with(|c| {
            let s = c.state();
            (
                s.current_epoch().map(|e| e.op),
                s.epochs.iter().map(|e| e.op).collect(),
            )
        });
        let mut table = self.keys.write().unwrap_or_else(|p| p.into_inner());
        let held = |op: &OpId| table.ops.iter().find(|(_, o)| *o == op).map(|(t, _)| *t);
        let tag = current
            .and_then(|c| held(&c))
            .or_else(|| order.iter().rev().find_map(held));
        table.current = tag.and_then(|t| table.ring.get(&t).cloned());
    }

    /// Takes in ops (ours or the network's): places them, opens every rekey
    /// entry meant for `me`, and moves the current epoch.
    pub fn absorb(&self, ops: Vec<Op>, me: &PublicKey) -> Absorbed {
        let mut out = Absorbed::default();
        use kindred_proto::authority::Inserted;
        let mut placed: Vec<OpId> = Vec::new();
        for i in self.lock().insert_many(ops, now_ms()) {
            match i {
                Inserted::Placed(ids) => placed.extend(ids),
                Inserted::Rejected(why) => out.refused.push(why.to_string()),
                Inserted::Refused(why) => out.refused.push(why.to_string()),
                Inserted::Waiting(_) | Inserted::Known => {}
            }
        }
        for id in placed {
            let (op, position) = self.with(|c| {
                (
                    c.get(&id).cloned(),
                    c.recipients(&id).iter().position(|r| r == me),
                )
            });
            let Some(op) = op else { continue };
            if let (Some(pos), Some(rekey)) = (position, op.action.rekey()) {
                match open_rekey(&self.topic, rekey, pos, &self.kx) {
                    Some(secret) => {
                        self.install(id, &secret);
                        out.secrets.push((id, secret));
                    }
                    None => tracing::warn!("a rekey entry for this node does not open"),
                }
            }
            out.placed.push(op);
        }
        self.refresh_current();
        out
    }

    /// Whether a post under epoch `tag` by `author` is allowed (spec §5).
    pub fn may_post(&self, author: &PublicKey, tag: &[u8; EPOCH_TAG_LEN]) -> bool {
        let Some(op) = self
            .keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .ops
            .get(tag)
            .copied()
        else {
            return false;
        };
        self.with(|c| c.state().may_post(author, &op, c.recipients(&op)))
    }
}

/// What a person is in a circle, in the user's words.
pub(crate) fn standing_words(s: &Standing) -> String {
    match s {
        Standing::Member(r) => r.name().to_string(),
        Standing::Removed { by, reason, .. } if reason.is_empty() => {
            format!("removed by {}", kindred_proto::authority::handle(by))
        }
        Standing::Removed { by, reason, .. } => format!(
            "removed by {} ({})",
            kindred_proto::authority::handle(by),
            kindred_proto::text::escape_line(reason)
        ),
        Standing::Left { .. } => "left".into(),
    }
}

impl crate::service::Node {
    /// Signs an op on the circle's current heads, keeps it and sends it to
    /// the circle. The op travels sealed under the epoch current *before*
    /// it, so everyone it concerns can read it, a removed member included:
    /// they learn they were removed (their node says so), and nothing after.
    pub(crate) async fn act(&self, t: &TopicState, draft: Draft) -> Result<Op, NodeError> {
        let entropy: [u8; DRAFT_ENTROPY] = kindred_proto::random_bytes()?;
        let sealing = t.auth.current().ok_or_else(|| self.not_in_circle(t))?;
        let (op, _secret) = t
            .auth
            .with(|c| c.draft(&t.me, draft, now_ms(), &entropy))
            .map_err(|e| NodeError::BadInput(e.to_string()))?;
        self.take_ops(t, vec![op.clone()])?;
        self.publish_data(t, &sealing, Kind::Authority, op.encoded())
            .await?;
        Ok(op)
    }

    /// Why this node cannot speak in a circle, in the user's words.
    pub(crate) fn not_in_circle(&self, t: &TopicState) -> NodeError {
        let state = t.auth.state();
        let words = match state.role(&t.me.public_key()) {
            Err(Refusal::Removed { by, .. }) => format!(
                "you were removed from this circle by {}: you can still read what was said while you were in it, but nothing said since reaches you and you cannot post here (only a moderator can let you back)",
                kindred_proto::authority::handle(&by)
            ),
            Err(Refusal::Left(_)) => "you have left this circle".into(),
            Err(_) if t.joining() => {
                "you are not in this circle yet: your request to join is waiting".into()
            }
            _ => "this node does not hold this circle's current key yet".into(),
        };
        NodeError::BadInput(words)
    }

    /// Takes in ops and keeps what they bring (the ops, new epoch secrets).
    pub(crate) fn take_ops(&self, t: &TopicState, ops: Vec<Op>) -> Result<Absorbed, NodeError> {
        let was = t.auth.role(&t.me.public_key()).ok();
        let absorbed = t.auth.absorb(ops, &t.me.public_key());
        let tid = t.id();
        let ops: Vec<(OpId, &[u8])> = absorbed
            .placed
            .iter()
            .map(|op| (op.id, op.encoded()))
            .collect();
        let secrets: Vec<(OpId, &[u8; 32])> = absorbed
            .secrets
            .iter()
            .map(|(op, s)| (*op, s.as_bytes()))
            .collect();
        self.inner.store.put_ops(&tid, &ops, &secrets)?;
        if !absorbed.secrets.is_empty() {
            self.reveal_opaque(t);
        }
        if !absorbed.placed.is_empty() {
            if was.is_some() && t.auth.role(&t.me.public_key()).is_err() {
                tracing::info!("this node is no longer in circle {}", t.name);
            }
            let _ = self.inner.updates.send(tid);
        }
        Ok(absorbed)
    }

    /// New keys may open history kept opaque: reveal what they open, in
    /// place. Ops found there are taken in afterwards (which may reveal
    /// more, each round needing a new key, so it ends).
    pub(crate) fn reveal_opaque(&self, t: &TopicState) {
        let tid = t.id();
        let Ok(opaque) = self.inner.store.opaque(&tid, 4096) else {
            return;
        };
        let ring = t.auth.ring();
        let mut ops = Vec::new();
        for (_, envelope) in opaque {
            let Ok(msg) = kindred_proto::envelope::open(&t.keys, &ring, &envelope) else {
                continue;
            };
            if msg.content.kind == Kind::Authority {
                match Op::decode(&msg.data) {
                    Ok(op) if op.author == msg.author => ops.push(op),
                    _ => continue,
                }
            } else if !t.auth.may_post(&msg.author, &msg.epoch) {
                continue;
            }
            let record = kindred_store::MessageRecord::from_opened(&msg, &envelope, now_ms());
            if let Err(e) = self.inner.store.reveal(&tid, record) {
                tracing::warn!("could not reveal a message: {e}");
            }
        }
        if !ops.is_empty() {
            let _ = self.take_ops(t, ops);
        }
        let _ = self.inner.updates.send(tid);
    }

    /// An op that arrived in a message: the message's author must be the
    /// op's (so nobody re-sends others' ops under their own name).
    pub(crate) fn op_from_message(
        &self,
        t: &TopicState,
        author: &PublicKey,
        data: &[u8],
    ) -> Result<(), String> {
        let op = Op::decode(data).map_err(|e| e.to_string())?;
        if op.author != *author {
            return Err("a circle action sent by someone other than its author".into());
        }
        let circle = t.auth.circle_id();
        // The genesis names no circle: it is the circle.
        if op.circle.is_none() && op.id.0 == circle.0 {
            return Ok(());
        }
        if op.circle != Some(circle) {
            return Err("a circle action of another circle".into());
        }
        let absorbed = self.take_ops(t, vec![op]).map_err(|e| e.to_string())?;
        // A rejected op's message is refused too: kept nowhere, passed on
        // to no one.
        match absorbed.refused.into_iter().next() {
            Some(why) => Err(format!("a circle action that is not allowed: {why}")),
            None => Ok(()),
        }
    }

    /// The keys a member seals with in a circle now. For tools that make
    /// valid messages outside the node (the benchmarks).
    #[doc(hidden)]
    pub fn current_epoch_keys(&self, topic: &TopicId) -> Option<EpochKeys> {
        self.inner.topics.get(topic)?.auth.current()
    }

    /// Rotates the key of each circle whose turn has come (spec §5), and
    /// asks for circle actions whose parents this node lacks.
    pub(crate) async fn rekey_duties(&self) {
        let now = now_ms();
        for t in self.inner.topics.all() {
            // Missing parents at once; otherwise compare now and then.
            let missing = !t.auth.with(|c| c.missing().is_empty());
            if !t.joining()
                && (missing || (now / 1000).is_multiple_of(OPS_ROUND_S))
                && t.auth.start_fetch()
            {
                let (n, t) = (self.clone(), t.clone());
                tokio::spawn(async move {
                    n.fetch_missing_ops(&t).await;
                    t.auth.end_fetch();
                });
            }
            let due = t.auth.with(|c| c.rekey_due(&t.me.public_key(), now));
            if due {
                match self.act(&t, Draft::Rotate).await {
                    Ok(_) => tracing::info!("rotated the key of circle {}", t.name),
                    Err(e) => tracing::debug!("could not rotate a circle's key: {e}"),
                }
            }
        }
    }
}

/// The ops of a circle to hand to a newcomer, oldest first.
pub(crate) fn all_ops(t: &TopicState) -> Vec<Vec<u8>> {
    t.auth
        .with(|c| c.ops().map(|o| o.encoded().to_vec()).collect())
}
