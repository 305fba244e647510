//! The ops one node holds for one circle: placing them as their parents
//! arrive, the resolved state, and drafting the node's own ops.

use std::collections::{BTreeMap, BTreeSet};

use super::keys::{seal_rekey, EpochSecret};
use super::op::{Action, JoinRequest, Op, Policy};
use super::resolve::{Graph, Resolution, Verdict};
use super::state::{Refusal, State};
use super::{MAX_OPS, MAX_WAITING, REKEY_STEP_MS};
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
    /// Already held.
    Known,
    /// Not for this circle, or the circle is full of ops.
    Refused(&'static str),
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
}

pub struct Circle {
    id: CircleId,
    topic: TopicId,
    graph: Graph,
    heads: BTreeSet<OpId>,
    /// Ops whose parents are not all held, in arrival order.
    waiting: BTreeMap<OpId, (u64, Op)>,
    arrivals: u64,
    resolution: Resolution,
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
        let mut graph = Graph::default();
        graph.place(genesis);
        if let Some(r) = &graph.nodes[0].rejected {
            return Err(r.clone());
        }
        let resolution = graph.resolve(None);
        let heads = BTreeSet::from([graph.nodes[0].op.id]);
        Ok(Circle {
            id,
            topic,
            graph,
            heads,
            waiting: BTreeMap::new(),
            arrivals: 0,
            resolution,
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

    pub fn verdict(&self, id: &OpId) -> Option<&Verdict> {
        self.resolution.verdicts.get(id)
    }

    pub fn verdicts(&self) -> &BTreeMap<OpId, Verdict> {
        &self.resolution.verdicts
    }

    pub fn heads(&self) -> Vec<OpId> {
        self.heads.iter().copied().collect()
    }

    pub fn contains(&self, id: &OpId) -> bool {
        self.graph.index.contains_key(id) || self.waiting.contains_key(id)
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
        let out = self.insert_one(op);
        if matches!(out, Inserted::Placed(_)) {
            self.resolve(now);
        }
        out
    }

    /// Inserts many ops and resolves once.
    pub fn insert_many(&mut self, ops: impl IntoIterator<Item = Op>, now: Millis) -> Vec<Inserted> {
        let out: Vec<Inserted> = ops.into_iter().map(|op| self.insert_one(op)).collect();
        if out.iter().any(|o| matches!(o, Inserted::Placed(_))) {
            self.resolve(now);
        }
        out
    }

    fn insert_one(&mut self, op: Op) -> Inserted {
        if op.circle != Some(self.id) {
            return Inserted::Refused("it belongs to another circle");
        }
        if self.contains(&op.id) {
            return Inserted::Known;
        }
        if self.graph.nodes.len() + self.waiting.len() >= MAX_OPS {
            return Inserted::Refused("the circle holds all the actions it can");
        }
        let missing: Vec<OpId> = op
            .parents
            .iter()
            .filter(|p| !self.graph.index.contains_key(p))
            .copied()
            .collect();
        if !missing.is_empty() {
            if self.waiting.len() >= MAX_WAITING {
                if let Some(oldest) = self
                    .waiting
                    .iter()
                    .min_by_key(|(_, (n, _))| *n)
                    .map(|(id, _)| *id)
                {
                    self.waiting.remove(&oldest);
                }
            }
            self.arrivals += 1;
            self.waiting.insert(op.id, (self.arrivals, op));
            return Inserted::Waiting(missing);
        }
        let mut placed = vec![self.place(op)];
        // Anything waiting only for what was just placed can follow.
        let mut i = 0;
        while i < placed.len() {
            let ready: Vec<OpId> = self
                .waiting
                .iter()
                .filter(|(_, (_, w))| w.parents.contains(&placed[i]))
                .filter(|(_, (_, w))| w.parents.iter().all(|p| self.graph.index.contains_key(p)))
                .map(|(id, _)| *id)
                .collect();
            for id in ready {
                if let Some((_, w)) = self.waiting.remove(&id) {
                    placed.push(self.place(w));
                }
            }
            i += 1;
        }
        Inserted::Placed(placed)
    }

    fn place(&mut self, op: Op) -> OpId {
        let id = op.id;
        for p in &op.parents {
            self.heads.remove(p);
        }
        self.heads.insert(id);
        self.graph.place(op);
        id
    }

    fn resolve(&mut self, now: Millis) {
        self.resolution = self.graph.resolve(None);
        self.tick(now);
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
        let state = self.state();
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
        let op = Op::sign(Some(self.id), me, self.heads(), ts, action)?;
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
