//! Ordering concurrent ops and strong removal (spec/authority.md §4).
//!
//! Ops are placed only once all their parents are, so a node's index is
//! always above its ancestors': "is `a` an ancestor of `b`" never has to
//! look below `a`'s index, and the genesis is index 0.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use super::op::{Action, Op};
use super::state::{Refusal, Role, State};
use crate::ids::{OpId, PublicKey};

/// What an op came to, in the state it was resolved in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Applied,
    /// Valid when made; voided or overtaken by a concurrent op. May change
    /// as more ops arrive.
    Superseded(Refusal),
    /// Not allowed at its own parents. Final.
    Rejected(Refusal),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolution {
    pub state: State,
    pub verdicts: BTreeMap<OpId, Verdict>,
}

pub(super) struct Node {
    pub op: Op,
    pub parents: Vec<usize>,
    pub children: Vec<usize>,
    /// The author's rank at the op's parents (0: not a member).
    pub tier: u8,
    /// The least role the op needed at its parents.
    pub needs: Role,
    /// Who its rekey is sealed to, in entry order (empty if none).
    pub recipients: Vec<PublicKey>,
}

/// States after recent ops, so an op on a single parent (the usual case)
/// is checked without resolving its whole past again.
const AFTER_CACHE: usize = 64;

#[derive(Default)]
pub(super) struct Graph {
    pub nodes: Vec<Node>,
    pub index: BTreeMap<OpId, usize>,
    after: BTreeMap<usize, State>,
}

impl Graph {
    /// Judges an op at `parents` (indexes of placed ops; `before` is the
    /// resolved state there) and places it if it is allowed there. A
    /// rejected op is not placed: it never has an effect, so nothing is
    /// lost, and junk never becomes a head or takes room (§4, §6).
    pub fn place(&mut self, op: Op, parents: Vec<usize>, before: State) -> Result<usize, Refusal> {
        let tier = before.role(&op.author).map_or(0, |r| r as u8);
        let needs = before.needs(&op);
        let mut recipients = Vec::new();
        let rejected = if parents.is_empty() {
            genesis_problem(&op)
        } else {
            before.check(&op).err()
        }
        .or_else(|| {
            let expected = before.recipients(&op.author, &op.action)?;
            let got = op.action.rekey().map_or(0, |r| r.entries.len());
            recipients = expected.iter().map(|(k, _)| *k).collect();
            (got != expected.len()).then_some(Refusal::WrongRecipients {
                expected: expected.len(),
                got,
            })
        });
        if let Some(r) = rejected {
            return Err(r);
        }
        let i = self.nodes.len();
        for &p in &parents {
            self.nodes[p].children.push(i);
        }
        let mut after = before;
        after.apply(&op, &recipients);
        self.index.insert(op.id, i);
        self.nodes.push(Node {
            op,
            parents,
            children: Vec::new(),
            tier,
            needs,
            recipients,
        });
        self.after.insert(i, after);
        while self.after.len() > AFTER_CACHE {
            self.after.pop_first();
        }
        Ok(i)
    }

    /// The resolved state of everything reachable from `parents`.
    pub fn before(&self, parents: &[usize]) -> State {
        if parents.is_empty() {
            return State::default();
        }
        if let [p] = parents {
            if let Some(s) = self.after.get(p) {
                return s.clone();
            }
        }
        self.resolve(Some(&self.past(parents))).state
    }

    /// The ops reachable from `from` (inclusive) as a mask over indexes.
    pub fn past_of(&self, from: &[usize]) -> Vec<bool> {
        self.past(from)
    }

    fn past(&self, from: &[usize]) -> Vec<bool> {
        let mut mask = vec![false; self.nodes.len()];
        let mut stack: Vec<usize> = from.to_vec();
        while let Some(i) = stack.pop() {
            if !mask[i] {
                mask[i] = true;
                stack.extend(&self.nodes[i].parents);
            }
        }
        mask
    }

    /// Whether `a` is in the causal past of `b`.
    fn is_ancestor(&self, a: usize, b: usize) -> bool {
        if a >= b {
            return false;
        }
        let mut seen = vec![false; b + 1 - a];
        let mut stack = self.nodes[b].parents.clone();
        while let Some(i) = stack.pop() {
            if i == a {
                return true;
            }
            if i < a || seen[i - a] {
                continue;
            }
            seen[i - a] = true;
            stack.extend(&self.nodes[i].parents);
        }
        false
    }

    fn concurrent(&self, a: usize, b: usize) -> bool {
        a != b && !self.is_ancestor(a, b) && !self.is_ancestor(b, a)
    }

    /// Resolves the ops in `mask` (all placed ops when `None`), §4.
    pub fn resolve(&self, mask: Option<&[bool]>) -> Resolution {
        let inset = |i: usize| mask.is_none_or(|m| m[i]);
        let voided = self.voided(&inset);

        let mut pending_parents: Vec<usize> = self.nodes.iter().map(|n| n.parents.len()).collect();
        let mut ready: BinaryHeap<Reverse<(OpId, usize)>> = BinaryHeap::new();
        if !self.nodes.is_empty() && inset(0) {
            ready.push(Reverse((self.nodes[0].op.id, 0)));
        }
        let mut state = State::default();
        let mut verdicts = BTreeMap::new();
        while let Some(Reverse((id, i))) = ready.pop() {
            let node = &self.nodes[i];
            let verdict = if let Some(&by) = voided.get(&i) {
                let by = &self.nodes[by].op;
                Verdict::Superseded(match by.action {
                    Action::Revoke(_) => Refusal::InviteRevoked {
                        by: by.author,
                        ts: by.ts,
                    },
                    _ => Refusal::Voided {
                        author: node.op.author,
                        by: by.id,
                    },
                })
            } else if i == 0 {
                state.apply(&node.op, &node.recipients);
                Verdict::Applied
            } else {
                match state.check(&node.op) {
                    Ok(()) => {
                        state.apply(&node.op, &node.recipients);
                        Verdict::Applied
                    }
                    Err(r) => Verdict::Superseded(r),
                }
            };
            verdicts.insert(id, verdict);
            for &c in &node.children {
                if inset(c) {
                    pending_parents[c] -= 1;
                    if pending_parents[c] == 0 {
                        ready.push(Reverse((self.nodes[c].op.id, c)));
                    }
                }
            }
        }
        Resolution { state, verdicts }
    }

    /// Strong removal: each op voided, with the op that voids it (§4).
    /// Owners' ops are never voided; moderators' only by the owner's; so
    /// taking the tiers from the top decides every case without cycles.
    fn voided(&self, inset: &impl Fn(usize) -> bool) -> BTreeMap<usize, usize> {
        let mut reductions: BTreeMap<PublicKey, Vec<usize>> = BTreeMap::new();
        for (i, n) in self.nodes.iter().enumerate() {
            if !inset(i) {
                continue;
            }
            let target = match &n.op.action {
                Action::Remove { member, .. } => member,
                Action::Demote(t) => t,
                Action::Leave => &n.op.author,
                _ => continue,
            };
            reductions.entry(*target).or_default().push(i);
        }
        // Which reduction is named as voiding an op must not depend on the
        // order this node placed them in: the smallest op id first.
        for ds in reductions.values_mut() {
            ds.sort_by_key(|&d| self.nodes[d].op.id);
        }
        let mut voided = BTreeMap::new();
        for tier in [Role::Moderator as u8, Role::Member as u8] {
            for (o, n) in self.nodes.iter().enumerate() {
                if !inset(o) || n.tier != tier {
                    continue;
                }
                let Some(ds) = reductions.get(&n.op.author) else {
                    continue;
                };
                for &d in ds {
                    let dn = &self.nodes[d];
                    let own_leave = matches!(dn.op.action, Action::Leave);
                    if d == o || (!own_leave && (dn.tier <= tier || voided.contains_key(&d))) {
                        continue;
                    }
                    if matches!(dn.op.action, Action::Demote(_)) && n.needs < Role::Moderator {
                        continue;
                    }
                    if self.concurrent(d, o) {
                        voided.insert(o, d);
                        break;
                    }
                }
            }
        }
        // Strong revocation: a revoke voids admissions and requests made
        // through its invite concurrently with it.
        let mut revokes: Vec<(usize, PublicKey)> = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(i, _)| inset(*i) && !voided.contains_key(i))
            .filter_map(|(i, n)| match &n.op.action {
                Action::Revoke(k) => Some((i, *k)),
                _ => None,
            })
            .collect();
        revokes.sort_by_key(|&(r, _)| self.nodes[r].op.id);
        for (r, key) in revokes {
            for (o, n) in self.nodes.iter().enumerate() {
                let uses = match &n.op.action {
                    Action::Admit { request, .. } | Action::Request(request) => {
                        request.body.invite == key
                    }
                    _ => false,
                };
                if uses && inset(o) && !voided.contains_key(&o) && self.concurrent(r, o) {
                    voided.insert(o, r);
                }
            }
        }
        voided
    }
}

/// What is wrong with a would-be genesis, if anything.
fn genesis_problem(op: &Op) -> Option<Refusal> {
    match &op.action {
        Action::Create { rekey, .. } if rekey.entries.len() == 1 => None,
        Action::Create { rekey, .. } => Some(Refusal::WrongRecipients {
            expected: 1,
            got: rekey.entries.len(),
        }),
        _ => Some(Refusal::SecondGenesis),
    }
}
