//! The ops one node holds for one circle: placing them as their parents
//! arrive, the resolved state, and drafting the node's own ops.

use std::collections::{BTreeMap, BTreeSet};

use super::keys::{seal_rekey, EpochSecret};
use super::op::{Action, JoinRequest, Op, Policy};
use super::resolve::{Graph, Resolution, Verdict};
use super::state::{Refusal, Role, State};
use super::{
    MAX_AUTH_PARENTS, MAX_OPS, MAX_OPS_PER_MEMBER, MAX_OPS_PER_MODERATOR, MAX_QUARANTINE,
    MAX_WAITING, MAX_WAITING_PER_AUTHOR, REKEY_STEP_MS,
};
use crate::identity::Pseudonym;
use crate::ids::{CircleId, OpId, PublicKey, TopicId};
use crate::Millis;

/// What became of an op handed to [`Circle::insert`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    /// Placed, with any waiting ops it let in, in placement order.
    Placed(Vec<OpId>),
    /// Held until these parents arrive.
    Waiting(Vec<OpId>),
    /// Already held (or already found rejected).
    Known,
    /// Not allowed at its own parents (§4): not placed, never passed on;
    /// only its id is remembered for a while, in quarantine.
    Rejected(Refusal),
    /// Not for this circle, or its author or the circle holds all the ops
    /// they may.
    Refused(&'static str),
}

/// A rejected op, remembered by id so an op naming it still finds its
/// place (nodes before this rule drafted on rejected heads) and the
/// same junk is not judged again.
#[derive(Debug, Clone)]
struct Quarantined {
    seq: u64,
    why: Refusal,
    /// The placed ops standing in for it as a parent: its own parents
    /// (a rejected op adds nothing to the state of its past).
    parents: Vec<usize>,
}

/// An op a node wants to make, before parents, keys and signature.
#[derive(Debug, Clone)]
pub enum Draft {
    Appoint(PublicKey),
    Demote(PublicKey),
    Remove {
        member: PublicKey,
        reason: String,
    },
    Leave,
    Rules(String),
    Invite {
        key: PublicKey,
        expires: Option<Millis>,
        uses: Option<u32>,
        approval: bool,
    },
    Revoke(PublicKey),
    Request(JoinRequest),
    Admit(JoinRequest),
    Rotate,
    Readmit(PublicKey),
}

pub struct Circle {
    id: CircleId,
    topic: TopicId,
    graph: Graph,
    heads: BTreeSet<OpId>,
    /// Ops whose parents are not all held, in arrival order.
    waiting: BTreeMap<OpId, (u64, Op)>,
    /// Recently rejected ops, by id (at most [`MAX_QUARANTINE`]).
    quarantine: BTreeMap<OpId, Quarantined>,
    arrivals: u64,
    /// Placed ops per author, for the per-author caps (§6).
    authored: BTreeMap<PublicKey, usize>,
    resolution: Resolution,
    /// `resolution` covers every placed op (it lags only inside an insert).
    resolved: bool,
    /// Since when (on this node's clock) the current epoch has needed a
    /// rekey, and which epoch that was.
    rekey_needed: Option<(OpId, Millis)>,
}

impl std::fmt::Debug for Circle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Circle")
            .field("id", &self.id)
            .field("ops", &self.graph.nodes.len())
            .finish_non_exhaustive()
    }
}

/// Most placed ops an author of `tier` (their rank at the op's parents)
/// may have made (§6): the circle's cap is reached by nobody alone but
/// the owner.
fn max_authored(tier: u8) -> usize {
    match tier {
        t if t >= Role::Owner as u8 => MAX_OPS,
        t if t >= Role::Moderator as u8 => MAX_OPS_PER_MODERATOR,
        _ => MAX_OPS_PER_MEMBER,
    }
}

/// Bytes of fresh randomness a draft that opens an epoch consumes: the
/// epoch secret, then the rekey's ephemeral X25519 secret.
pub const DRAFT_ENTROPY: usize = 64;

fn split_entropy(entropy: &[u8; DRAFT_ENTROPY]) -> (EpochSecret, [u8; 32]) {
    let mut secret = [0u8; 32];
    let mut ephemeral = [0u8; 32];
    secret.copy_from_slice(&entropy[..32]);
    ephemeral.copy_from_slice(&entropy[32..]);
    (EpochSecret::from_bytes(secret), ephemeral)
}

/// Everything a genesis says, apart from the keys.
pub struct Genesis {
    pub name: String,
    pub rules: String,
    pub policy: Policy,
    pub topic: TopicId,
    pub kx: [u8; 32],
    pub owner_name: String,
}

impl Circle {
    /// Starts a circle: signs its genesis and opens epoch 0.
    pub fn create(
        owner: &Pseudonym,
        genesis: Genesis,
        ts: Millis,
        entropy: &[u8; DRAFT_ENTROPY],
    ) -> Result<(Circle, EpochSecret), super::OpError> {
        let (secret, ephemeral) = split_entropy(entropy);
        let rekey = seal_rekey(&genesis.topic, &[genesis.kx], &secret, &ephemeral);
        let op = Op::sign(
            None,
            owner,
            Vec::new(),
            ts,
            Action::Create {
                name: genesis.name,
                rules: genesis.rules,
                policy: genesis.policy,
                topic: genesis.topic,
                kx: genesis.kx,
                owner_name: genesis.owner_name,
                rekey,
            },
        )?;
        let circle = Circle::from_genesis(op).map_err(|r| super::OpError::BadField {
            field: "genesis",
            why: r.to_string(),
        })?;
        Ok((circle, secret))
    }

    /// A circle as a joiner or a restarted node first knows it.
    pub fn from_genesis(genesis: Op) -> Result<Circle, Refusal> {
        let Action::Create { topic, .. } = &genesis.action else {
            return Err(Refusal::SecondGenesis);
        };
        let topic = *topic;
        let id = CircleId(genesis.id.0);
        let author = genesis.author;
        let mut graph = Graph::default();
        graph.place(genesis, Vec::new(), State::default())?;
        let resolution = graph.resolve(None);
        let heads = BTreeSet::from([graph.nodes[0].op.id]);
        Ok(Circle {
            id,
            topic,
            graph,
            heads,
            waiting: BTreeMap::new(),
            quarantine: BTreeMap::new(),
            arrivals: 0,
            authored: BTreeMap::from([(author, 1)]),
            resolution,
            resolved: true,
            rekey_needed: None,
        })
    }

    /// Builds the circle from every op a node holds, in any order.
    pub fn from_ops(
        genesis: Op,
        ops: impl IntoIterator<Item = Op>,
        now: Millis,
    ) -> Result<Circle, Refusal> {
        let mut circle = Circle::from_genesis(genesis)?;
        circle.insert_many(ops, now);
        Ok(circle)
    }

    pub fn id(&self) -> CircleId {
        self.id
    }

    pub fn topic(&self) -> TopicId {
        self.topic
    }

    pub fn genesis(&self) -> &Op {
        &self.graph.nodes[0].op
    }

    pub fn state(&self) -> &State {
        &self.resolution.state
    }

    /// What an op came to: resolved, or rejected (while its id is
    /// still remembered).
    pub fn verdict(&self, id: &OpId) -> Option<Verdict> {
        if let Some(v) = self.resolution.verdicts.get(id) {
            return Some(v.clone());
        }
        self.quarantine
            .get(id)
            .map(|q| Verdict::Rejected(q.why.clone()))
    }

    pub fn verdicts(&self) -> &BTreeMap<OpId, Verdict> {
        &self.resolution.verdicts
    }

    pub fn heads(&self) -> Vec<OpId> {
        self.heads.iter().copied().collect()
    }

    /// Whether the op is placed, waiting, or remembered as rejected.
    pub fn contains(&self, id: &OpId) -> bool {
        self.graph.index.contains_key(id)
            || self.waiting.contains_key(id)
            || self.quarantine.contains_key(id)
    }

    /// Waiting ops, for status displays and tests.
    pub fn waiting_len(&self) -> usize {
        self.waiting.len()
    }

    /// How many placed ops `author` made.
    pub fn authored(&self, author: &PublicKey) -> usize {
        self.authored.get(author).copied().unwrap_or(0)
    }

    pub fn get(&self, id: &OpId) -> Option<&Op> {
        self.graph.index.get(id).map(|&i| &self.graph.nodes[i].op)
    }

    /// Placed ops, parents before children.
    pub fn ops(&self) -> impl Iterator<Item = &Op> {
        self.graph.nodes.iter().map(|n| &n.op)
    }

    pub fn len(&self) -> usize {
        self.graph.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.graph.nodes.is_empty()
    }

    /// Who an epoch op's rekey entries are for, in order.
    pub fn recipients(&self, op: &OpId) -> &[PublicKey] {
        self.graph
            .index
            .get(op)
            .map_or(&[], |&i| &self.graph.nodes[i].recipients)
    }

    /// Placed ops outside the causal past of `heads` (those of `heads` this
    /// circle does not know are ignored), parents first, at most `limit`:
    /// what someone whose authority heads are `heads` lacks.
    pub fn ops_beyond(&self, heads: &[OpId], limit: usize) -> Vec<&Op> {
        let from: Vec<usize> = heads
            .iter()
            .filter_map(|h| self.graph.index.get(h).copied())
            .collect();
        let known = self.graph.past_of(&from);
        self.graph
            .nodes
            .iter()
            .enumerate()
            .filter(|(i, _)| !known[*i])
            .map(|(_, n)| &n.op)
            .take(limit)
            .collect()
    }

    /// The heads a new op names: at most [`MAX_AUTH_PARENTS`], so a wide
    /// graph never stops anyone from acting. Deterministic: the owner's and
    /// moderators' heads first (their ops matter most to what follows),
    /// then the oldest placed, so every head is merged in a few ops
    /// however many new ones arrive.
    fn draft_parents(&self) -> Vec<usize> {
        let mut heads: Vec<(std::cmp::Reverse<u8>, usize)> = self
            .heads
            .iter()
            .filter_map(|h| self.graph.index.get(h).copied())
            .map(|i| (std::cmp::Reverse(self.graph.nodes[i].tier), i))
            .collect();
        heads.sort();
        heads
            .into_iter()
            .take(MAX_AUTH_PARENTS)
            .map(|(_, i)| i)
            .collect()
    }

    /// Parents that waiting ops name and nobody has sent yet.
    pub fn missing(&self) -> Vec<OpId> {
        let mut out: BTreeSet<OpId> = BTreeSet::new();
        for (_, op) in self.waiting.values() {
            for p in &op.parents {
                if !self.contains(p) {
                    out.insert(*p);
                }
            }
        }
        out.into_iter().collect()
    }

    pub fn insert(&mut self, op: Op, now: Millis) -> Inserted {
        self.insert_many([op], now).pop().unwrap_or(Inserted::Known)
    }

    /// Inserts many ops and resolves once.
    pub fn insert_many(&mut self, ops: impl IntoIterator<Item = Op>, now: Millis) -> Vec<Inserted> {
        let out: Vec<Inserted> = ops.into_iter().map(|op| self.insert_one(op)).collect();
        if !self.resolved {
            self.resolution = self.graph.resolve(None);
            self.resolved = true;
        }
        self.tick(now);
        out
    }

    /// The placed ops standing for `parents` (a rejected parent stands
    /// for its own parents), or the parents still missing.
    fn parent_indexes(&self, parents: &[OpId]) -> Result<Vec<usize>, Vec<OpId>> {
        let mut found = BTreeSet::new();
        let mut missing = Vec::new();
        for p in parents {
            if let Some(&i) = self.graph.index.get(p) {
                found.insert(i);
            } else if let Some(q) = self.quarantine.get(p) {
                found.extend(q.parents.iter().copied());
            } else {
                missing.push(*p);
            }
        }
        match missing.is_empty() {
            true => Ok(found.into_iter().collect()),
            false => Err(missing),
        }
    }

    fn insert_one(&mut self, op: Op) -> Inserted {
        if op.circle != Some(self.id) {
            return Inserted::Refused("it belongs to another circle");
        }
        if self.contains(&op.id) {
            return Inserted::Known;
        }
        if self.graph.nodes.len() >= MAX_OPS {
            return Inserted::Refused("the circle holds all the actions it can");
        }
        if let Err(missing) = self.parent_indexes(&op.parents) {
            self.hold(op);
            return Inserted::Waiting(missing);
        }
        let first_id = op.id;
        let first = self.place(op);
        let mut placed: Vec<OpId> = first.iter().copied().collect();
        // Anything waiting only for what was just placed (or rejected) can
        // follow; `ready_ids` holds ids now known, placed or not.
        let mut ready_ids = vec![first_id];
        let mut i = 0;
        while i < ready_ids.len() {
            let now_known = ready_ids[i];
            let ready: Vec<OpId> = self
                .waiting
                .iter()
                .filter(|(_, (_, w))| w.parents.contains(&now_known))
                .filter(|(_, (_, w))| self.parent_indexes(&w.parents).is_ok())
                .map(|(id, _)| *id)
                .collect();
            for id in ready {
                if let Some((_, w)) = self.waiting.remove(&id) {
                    let wid = w.id;
                    if let Ok(id) = self.place(w) {
                        placed.push(id);
                    }
                    ready_ids.push(wid);
                }
            }
            i += 1;
        }
        match first {
            Err(out) if placed.is_empty() => out,
            _ => Inserted::Placed(placed),
        }
    }

    /// Keeps an op whose parents are not all here, within the per-author
    /// and per-circle caps (the author's oldest, then the oldest, evicted).
    fn hold(&mut self, op: Op) {
        let mine: Vec<(u64, OpId)> = self
            .waiting
            .iter()
            .filter(|(_, (_, w))| w.author == op.author)
            .map(|(id, (n, _))| (*n, *id))
            .collect();
        let evict = if mine.len() >= MAX_WAITING_PER_AUTHOR {
            mine.iter().min().map(|(_, id)| *id)
        } else if self.waiting.len() >= MAX_WAITING {
            self.waiting
                .iter()
                .min_by_key(|(_, (n, _))| *n)
                .map(|(id, _)| *id)
        } else {
            None
        };
        if let Some(id) = evict {
            self.waiting.remove(&id);
        }
        self.arrivals += 1;
        self.waiting.insert(op.id, (self.arrivals, op));
    }

    /// Judges an op whose parents are all known and places it if allowed.
    /// Its id, or what to report.
    fn place(&mut self, op: Op) -> Result<OpId, Inserted> {
        let id = op.id;
        let Ok(parents) = self.parent_indexes(&op.parents) else {
            return Err(Inserted::Known);
        };
        // An op on every head (the usual case) sees exactly the resolved
        // state; otherwise its past is resolved.
        let on_all_heads = self.resolved
            && parents.len() == self.heads.len()
            && parents
                .iter()
                .all(|&i| self.heads.contains(&self.graph.nodes[i].op.id));
        let before = if on_all_heads {
            self.resolution.state.clone()
        } else {
            self.graph.before(&parents)
        };
        let tier = before.role(&op.author).map_or(0, |r| r as u8);
        let author = op.author;
        if self.authored(&author) >= max_authored(tier) {
            return Err(Inserted::Refused(
                "its author has made all the circle actions one person may",
            ));
        }
        let parent_ids: Vec<OpId> = parents.iter().map(|&i| self.graph.nodes[i].op.id).collect();
        match self.graph.place(op, parents.clone(), before) {
            Ok(i) => {
                for p in &parent_ids {
                    self.heads.remove(p);
                }
                self.heads.insert(id);
                *self.authored.entry(author).or_default() += 1;
                if on_all_heads {
                    // Descends from every op, so concurrent with none: it
                    // voids nothing and nothing voids it (§4), and it
                    // sorts last. The resolution only grows by it.
                    let node = &self.graph.nodes[i];
                    let verdict = match self.resolution.state.check(&node.op) {
                        Ok(()) => {
                            self.resolution.state.apply(&node.op, &node.recipients);
                            Verdict::Applied
                        }
                        Err(r) => Verdict::Superseded(r),
                    };
                    self.resolution.verdicts.insert(id, verdict);
                } else {
                    self.resolved = false;
                }
                Ok(id)
            }
            Err(why) => {
                if self.quarantine.len() >= MAX_QUARANTINE {
                    if let Some(oldest) = self
                        .quarantine
                        .iter()
                        .min_by_key(|(_, q)| q.seq)
                        .map(|(id, _)| *id)
                    {
                        self.quarantine.remove(&oldest);
                    }
                }
                self.arrivals += 1;
                self.quarantine.insert(
                    id,
                    Quarantined {
                        seq: self.arrivals,
                        why: why.clone(),
                        parents,
                    },
                );
                Err(Inserted::Rejected(why))
            }
        }
    }

    /// Notes the time a rekey became needed (liveness only, §5).
    pub fn tick(&mut self, now: Millis) {
        let state = &self.resolution.state;
        self.rekey_needed = match (state.needs_rekey(), state.current_epoch()) {
            (true, Some(e)) => match self.rekey_needed {
                Some((op, since)) if op == e.op => Some((op, since)),
                _ => Some((e.op, now)),
            },
            _ => None,
        };
    }

    /// Whether `me` should rotate the key now: the circle needs a rekey,
    /// and everyone before `me` in the duty order has had their turn.
    pub fn rekey_due(&self, me: &PublicKey, now: Millis) -> bool {
        let Some((_, since)) = self.rekey_needed else {
            return false;
        };
        let order = self.state().duty_order();
        order
            .iter()
            .position(|m| m == me)
            .is_some_and(|k| now >= since.saturating_add(k as u64 * REKEY_STEP_MS))
    }

    /// Signs the op `draft` describes on the current heads, if the current
    /// state allows it. Ops that open an epoch return its secret; the
    /// caller keeps it and sends the op.
    pub fn draft(
        &self,
        me: &Pseudonym,
        draft: Draft,
        ts: Millis,
        entropy: &[u8; DRAFT_ENTROPY],
    ) -> Result<(Op, Option<EpochSecret>), DraftError> {
        let parents = self.draft_parents();
        let at_parents;
        let state = if parents.len() == self.heads.len() && self.resolved {
            self.state()
        } else {
            at_parents = self.graph.before(&parents);
            &at_parents
        };
        let (secret, ephemeral) = split_entropy(entropy);
        let placeholder = super::Rekey {
            ephemeral: [0; 32],
            entries: Vec::new(),
        };
        let mut action = match draft {
            Draft::Appoint(m) => Action::Appoint(m),
            Draft::Demote(m) => Action::Demote(m),
            Draft::Remove { member, reason } => Action::Remove {
                member,
                reason,
                rekey: placeholder,
            },
            Draft::Leave => Action::Leave,
            Draft::Rules(r) => Action::Rules(r),
            Draft::Invite {
                key,
                expires,
                uses,
                approval,
            } => Action::Invite {
                key,
                expires,
                uses,
                approval,
            },
            Draft::Revoke(k) => Action::Revoke(k),
            Draft::Request(r) => Action::Request(r),
            Draft::Admit(request) => Action::Admit {
                request,
                rekey: placeholder,
            },
            Draft::Rotate => Action::Rotate(placeholder),
            Draft::Readmit(who) => Action::Readmit(who),
        };
        let recipients = state.recipients(&me.public_key(), &action);
        if let Some(rcp) = &recipients {
            let kxs: Vec<[u8; 32]> = rcp.iter().map(|(_, kx)| *kx).collect();
            let sealed = seal_rekey(&self.topic, &kxs, &secret, &ephemeral);
            match &mut action {
                Action::Remove { rekey, .. }
                | Action::Admit { rekey, .. }
                | Action::Rotate(rekey) => *rekey = sealed,
                _ => {}
            }
        }
        let parent_ids = parents.iter().map(|&i| self.graph.nodes[i].op.id).collect();
        let op = Op::sign(Some(self.id), me, parent_ids, ts, action)?;
        state.check(&op)?;
        Ok((op, recipients.map(|_| secret)))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DraftError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Op(#[from] super::OpError),
}
