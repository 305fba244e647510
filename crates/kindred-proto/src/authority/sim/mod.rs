//! A seeded simulator for the authority rules: many people, random
//! commands (conflicting and refused ones too), random latency,
//! duplication, reordering and partitions that heal. `run` returns a
//! report, or the first invariant that broke; the same seed replays the
//! same run exactly.
//!
//! Invariants checked at the end (after healing and delivering everything,
//! and letting the rekey duty run):
//! * every node holds the same ops, state and verdicts, equal to building
//!   the circle from all ops at once;
//! * the circle needs no rekey; every member can open the current epoch's
//!   secret and nobody else holds it (the removed, those who left,
//!   newcomers whose admission was voided);
//! * an op a node once saw rejected is still rejected.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use super::*;
use crate::identity::Pseudonym;
use crate::ids::{OpId, PublicKey, TopicId};
use crate::Millis;

mod check;
mod junk;

/// SplitMix64: small, fast and good enough to drive a simulation.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        for chunk in out.chunks_mut(8) {
            let r = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&r[..chunk.len()]);
        }
        out
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() {
            None
        } else {
            items.get(self.below(items.len() as u64) as usize)
        }
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub seed: u64,
    /// People who may ever join (the owner is one of them).
    pub people: usize,
    /// Commands attempted.
    pub steps: usize,
    pub policy: Policy,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            seed: 1,
            people: 10,
            steps: 150,
            policy: Policy::default(),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub ops: usize,
    pub applied: usize,
    pub superseded: usize,
    pub rejected: usize,
    pub refused_drafts: usize,
    pub partitions: usize,
    pub epochs: usize,
    pub members: usize,
    pub removed: usize,
    pub duty_rotations: usize,
    /// Junk ops sent (outsiders' and fan-outs).
    pub junk: usize,
}

struct Peer {
    key: Pseudonym,
    kx: KxSecret,
    view: Option<Circle>,
    secrets: BTreeMap<OpId, EpochSecret>,
    seen_rejected: BTreeSet<OpId>,
    group: u8,
}

enum Event {
    Deliver {
        to: usize,
        op: Box<Op>,
    },
    /// A newcomer receives every op its admitter held (the join session).
    Welcome {
        to: usize,
        ops: Vec<Op>,
    },
}

const TOPIC: TopicId = TopicId([0x51; 32]);

pub struct Sim {
    rng: Rng,
    now: Millis,
    seq: u64,
    peers: Vec<Peer>,
    queue: BinaryHeap<Reverse<(Millis, u64)>>,
    events: BTreeMap<u64, Event>,
    /// Deliveries across a partition, released when it heals.
    held: Vec<Event>,
    heal_at: Option<Millis>,
    invites: Vec<Pseudonym>,
    published: Vec<Op>,
    report: Report,
}

impl Sim {
    pub fn new(config: &Config) -> Sim {
        let mut rng = Rng::new(config.seed);
        let peers = (0..config.people.max(2))
            .map(|_| Peer {
                key: Pseudonym::from_seed(rng.bytes()),
                kx: KxSecret::from_bytes(rng.bytes()),
                view: None,
                secrets: BTreeMap::new(),
                seen_rejected: BTreeSet::new(),
                group: 0,
            })
            .collect();
        Sim {
            rng,
            now: 1_000_000,
            seq: 0,
            peers,
            queue: BinaryHeap::new(),
            events: BTreeMap::new(),
            held: Vec::new(),
            heal_at: None,
            invites: Vec::new(),
            published: Vec::new(),
            report: Report::default(),
        }
    }

    fn schedule(&mut self, at: Millis, event: Event) {
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq)));
        self.events.insert(self.seq, event);
    }

    fn send(&mut self, from: usize, event: Event) {
        let to = match &event {
            Event::Deliver { to, .. } | Event::Welcome { to, .. } => *to,
        };
        if self.heal_at.is_some() && self.peers[from].group != self.peers[to].group {
            self.held.push(event);
            return;
        }
        let at = self.now + 5 + self.rng.below(800);
        self.schedule(at, event);
    }

    fn broadcast(&mut self, from: usize, op: &Op) {
        self.published.push(op.clone());
        for to in 0..self.peers.len() {
            if to != from && self.peers[to].view.is_some() {
                self.send(
                    from,
                    Event::Deliver {
                        to,
                        op: Box::new(op.clone()),
                    },
                );
                if self.rng.chance(10) {
                    self.send(
                        from,
                        Event::Deliver {
                            to,
                            op: Box::new(op.clone()),
                        },
                    );
                }
            }
        }
    }

    /// Opens every rekey entry meant for this peer among `placed`, and
    /// notes rejections.
    fn learn(&mut self, who: usize, placed: &[OpId]) -> Result<(), String> {
        let peer = &mut self.peers[who];
        let Some(view) = &peer.view else {
            return Ok(());
        };
        let me = peer.key.public_key();
        for id in placed {
            if let Some(Verdict::Rejected(_)) = view.verdict(id) {
                peer.seen_rejected.insert(*id);
            }
            let Some(rekey) = view.get(id).and_then(|op| op.action.rekey()) else {
                continue;
            };
            let Some(pos) = view.recipients(id).iter().position(|r| *r == me) else {
                // Not a recipient (removed, left, or never in): its key
                // opens no entry at all, whichever slot it tries.
                if let Some(i) = (0..rekey.entries.len())
                    .find(|i| open_rekey(&TOPIC, rekey, *i, &peer.kx).is_some())
                {
                    return Err(format!(
                        "peer {who}, not a recipient, opened entry {i} of {id:?}"
                    ));
                }
                continue;
            };
            match open_rekey(&TOPIC, rekey, pos, &peer.kx) {
                Some(secret) => {
                    peer.secrets.insert(*id, secret);
                }
                None if view
                    .verdict(id)
                    .is_some_and(|v| matches!(v, Verdict::Rejected(_))) => {}
                None => return Err(format!("peer {who} cannot open its entry in {id:?}")),
            }
        }
        Ok(())
    }

    fn deliver(&mut self, event: Event) -> Result<(), String> {
        let now = self.now;
        match event {
            Event::Deliver { to, op } => {
                let Some(view) = self.peers[to].view.as_mut() else {
                    return Ok(());
                };
                if let Inserted::Placed(ids) = view.insert(*op, now) {
                    self.learn(to, &ids)?;
                }
            }
            Event::Welcome { to, ops } => {
                let genesis = ops[0].clone();
                let rest = ops[1..].to_vec();
                match self.peers[to].view.as_mut() {
                    Some(view) => {
                        let placed: Vec<OpId> = view
                            .insert_many(rest, now)
                            .into_iter()
                            .flat_map(|i| match i {
                                Inserted::Placed(ids) => ids,
                                _ => Vec::new(),
                            })
                            .collect();
                        self.learn(to, &placed)?;
                    }
                    None => {
                        let view =
                            Circle::from_ops(genesis, rest, now).map_err(|e| e.to_string())?;
                        let ids: Vec<OpId> = view.ops().map(|o| o.id).collect();
                        self.peers[to].view = Some(view);
                        self.learn(to, &ids)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Delivers everything due by `until`.
    fn run_until(&mut self, until: Millis) -> Result<(), String> {
        while let Some(Reverse((at, seq))) = self.queue.peek().copied() {
            if at > until {
                break;
            }
            self.queue.pop();
            self.now = self.now.max(at);
            if let Some(event) = self.events.remove(&seq) {
                self.deliver(event)?;
            }
        }
        self.now = self.now.max(until);
        if self.heal_at.is_some_and(|h| h <= self.now) {
            self.heal();
        }
        Ok(())
    }

    fn heal(&mut self) {
        self.heal_at = None;
        for p in &mut self.peers {
            p.group = 0;
        }
        for event in std::mem::take(&mut self.held) {
            let at = self.now + 5 + self.rng.below(800);
            self.schedule(at, event);
        }
    }

    /// What sync does in a node: every holder gets the ops it lacks,
    /// parents first (as an ops fetch answers), so catching up never
    /// depends on how many ops may wait.
    fn anti_entropy(&mut self) {
        for to in 0..self.peers.len() {
            let Some(view) = &self.peers[to].view else {
                continue;
            };
            let lacking: Vec<Op> = self
                .published
                .iter()
                .filter(|op| !view.contains(&op.id))
                .cloned()
                .collect();
            let start = self.now + 5 + self.rng.below(800);
            for (k, op) in lacking.into_iter().enumerate() {
                let at = start + k as u64;
                self.schedule(
                    at,
                    Event::Deliver {
                        to,
                        op: Box::new(op),
                    },
                );
            }
        }
    }

    fn members_view(&self, who: usize) -> Option<&Circle> {
        let p = &self.peers[who];
        let view = p.view.as_ref()?;
        view.state().role(&p.key.public_key()).ok().map(|_| view)
    }

    /// `who` drafts on its own view; a refusal is counted, not an error.
    fn try_draft(&mut self, who: usize, draft: Draft) -> Option<(Op, Option<EpochSecret>)> {
        let entropy: [u8; DRAFT_ENTROPY] = self.rng.bytes();
        let now = self.now;
        let peer = &self.peers[who];
        let view = peer.view.as_ref()?;
        match view.draft(&peer.key, draft, now, &entropy) {
            Ok(out) => Some(out),
            Err(_) => {
                self.report.refused_drafts += 1;
                None
            }
        }
    }

    fn publish(&mut self, who: usize, op: Op) -> Result<(), String> {
        let now = self.now;
        let Some(view) = self.peers[who].view.as_mut() else {
            return Ok(());
        };
        if let Inserted::Placed(ids) = view.insert(op.clone(), now) {
            self.learn(who, &ids)?;
        }
        self.broadcast(who, &op);
        Ok(())
    }

    fn random_person(&mut self) -> usize {
        self.rng.below(self.peers.len() as u64) as usize
    }

    fn step(&mut self) -> Result<(), String> {
        let advance = self.rng.below(3_000);
        self.run_until(self.now + advance)?;
        if self.heal_at.is_none() && self.rng.chance(6) {
            for p in &mut self.peers {
                p.group = (self.rng.next_u64() & 1) as u8;
            }
            self.heal_at = Some(self.now + 5_000 + self.rng.below(60_000));
            self.report.partitions += 1;
            return Ok(());
        }
        // Someone holding a view acts (maybe after being removed, unaware).
        let actors: Vec<usize> = (0..self.peers.len())
            .filter(|&i| self.peers[i].view.is_some())
            .collect();
        let Some(&who) = self.rng.pick(&actors) else {
            return Ok(());
        };
        let known: Vec<PublicKey> = self.peers[who]
            .view
            .as_ref()
            .map(|v| v.state().members())
            .unwrap_or_default();
        let target = self.random_person();
        let target_pk = match self.rng.chance(75) {
            true => self
                .rng
                .pick(&known)
                .copied()
                .unwrap_or(self.peers[target].key.public_key()),
            false => self.peers[target].key.public_key(),
        };
        if self.rng.chance(4) {
            return self.forge(who, target_pk);
        }
        if self.rng.chance(3) {
            return self.junk(who);
        }
        if self.rng.chance(2) {
            return self.approval_flood(who);
        }
        let draft = match self.rng.below(100) {
            0..=9 => Draft::Appoint(target_pk),
            10..=16 => Draft::Demote(target_pk),
            17..=29 => Draft::Remove {
                member: target_pk,
                reason: "sim".into(),
            },
            30..=34 => Draft::Leave,
            35..=37 => Draft::Rules(format!("rules {}", self.now)),
            38..=49 => {
                let key = Pseudonym::from_seed(self.rng.bytes());
                let draft = Draft::Invite {
                    key: key.public_key(),
                    expires: self
                        .rng
                        .chance(20)
                        .then(|| self.now + self.rng.below(120_000)),
                    uses: self.rng.chance(30).then(|| 1 + self.rng.below(2) as u32),
                    approval: self.rng.chance(25),
                };
                self.invites.push(key);
                draft
            }
            50..=55 => match self.rng.pick(&self.invites) {
                Some(k) => Draft::Revoke(k.public_key()),
                None => Draft::Rotate,
            },
            56..=57 => Draft::Rotate,
            // Let someone removed back (refused unless they were removed).
            58..=59 => Draft::Readmit(target_pk),
            60..=69 => {
                // A moderator approves a waiting request.
                let pending: Vec<JoinRequest> = self.peers[who]
                    .view
                    .as_ref()
                    .map(|v| {
                        v.state()
                            .pending
                            .values()
                            .map(|p| p.request.clone())
                            .collect()
                    })
                    .unwrap_or_default();
                match self.rng.pick(&pending) {
                    Some(r) => Draft::Admit(r.clone()),
                    None => return Ok(()),
                }
            }
            _ => {
                // A newcomer (or someone who left or was removed) asks `who`.
                let Some(inv) = self.rng.pick(&self.invites) else {
                    return Ok(());
                };
                let inv = inv.clone();
                let Some(view) = self.peers[who].view.as_ref() else {
                    return Ok(());
                };
                let joiner = &self.peers[target];
                let body = JoinBody {
                    circle: view.id(),
                    invite: inv.public_key(),
                    joiner: joiner.key.public_key(),
                    kx: joiner.kx.public(),
                    name: format!("p{target}"),
                    peer: vec![1, target as u8],
                    ts: self.now,
                };
                let Ok(request) = JoinRequest::sign(body, &inv, &joiner.key) else {
                    return Err("a join request would not sign".into());
                };
                let needs_approval = view
                    .state()
                    .invites
                    .get(&inv.public_key())
                    .is_some_and(|i| i.approval);
                if needs_approval && self.rng.chance(60) {
                    Draft::Request(request)
                } else {
                    Draft::Admit(request)
                }
            }
        };
        let admits = match &draft {
            Draft::Admit(r) => self
                .peers
                .iter()
                .position(|p| p.key.public_key() == r.body.joiner),
            _ => None,
        };
        if let Some((op, _)) = self.try_draft(who, draft) {
            self.publish(who, op)?;
            if let Some(joiner) = admits {
                let ops: Vec<Op> = self.peers[who]
                    .view
                    .as_ref()
                    .map(|v| v.ops().cloned().collect())
                    .unwrap_or_default();
                self.send(who, Event::Welcome { to: joiner, ops });
            }
        }
        Ok(())
    }

    /// Publishes an op signed without the rules' check: everyone must
    /// reject it (unless the author happened to be allowed after all).
    fn forge(&mut self, who: usize, target: PublicKey) -> Result<(), String> {
        let Some(view) = self.peers[who].view.as_ref() else {
            return Ok(());
        };
        let action = match self.rng.below(3) {
            0 => Action::Appoint(self.peers[who].key.public_key()),
            1 => Action::Demote(target),
            _ => Action::Remove {
                member: target,
                reason: "forged".into(),
                rekey: Rekey {
                    ephemeral: [9; 32],
                    // Never the right count, so it is always refused.
                    entries: vec![[0; 48]; view.state().members().len() + 5],
                },
            },
        };
        let op = Op::sign(
            Some(view.id()),
            &self.peers[who].key,
            view.heads().into_iter().take(MAX_AUTH_PARENTS).collect(),
            self.now,
            action,
        )
        .map_err(|e| e.to_string())?;
        self.publish(who, op)
    }

    /// Members whose turn has come rotate the key.
    fn duties(&mut self) -> Result<(), String> {
        for who in 0..self.peers.len() {
            let me = self.peers[who].key.public_key();
            let due = self
                .members_view(who)
                .is_some_and(|v| v.rekey_due(&me, self.now));
            if due {
                if let Some((op, _)) = self.try_draft(who, Draft::Rotate) {
                    self.report.duty_rotations += 1;
                    self.publish(who, op)?;
                }
            }
        }
        Ok(())
    }
}

/// Runs one simulation; `Err` names the invariant that broke.
pub fn run(config: &Config) -> Result<Report, String> {
    let mut sim = Sim::new(config);
    let owner = &sim.peers[0];
    let genesis = Genesis {
        name: "sim".into(),
        rules: String::new(),
        policy: config.policy,
        topic: TOPIC,
        kx: owner.kx.public(),
        owner_name: "owner".into(),
    };
    let entropy: [u8; DRAFT_ENTROPY] = sim.rng.bytes();
    let (circle, secret) =
        Circle::create(&owner.key, genesis, sim.now, &entropy).map_err(|e| e.to_string())?;
    let genesis_id = circle.genesis().id;
    sim.peers[0].secrets.insert(genesis_id, secret);
    sim.peers[0].view = Some(circle);
    for _ in 0..config.steps {
        sim.step()?;
        sim.duties()?;
    }
    // Heal, deliver everything, and let the duty run until it is done.
    sim.heal();
    for _ in 0..(sim.peers.len() + 4) {
        sim.anti_entropy();
        let until = sim.now + REKEY_STEP_MS + 1_000;
        sim.run_until(until)?;
        sim.duties()?;
    }
    sim.anti_entropy();
    sim.run_until(sim.now + 10_000)?;
    sim.check_end()?;
    Ok(sim.report)
}
