//! The invariants every simulated run must end with: every holder resolves
//! the same state and verdicts, the key reached exactly the members, the
//! owner can still act, and the bounds held.

use super::*;

impl Sim {
    pub(super) fn check_end(&mut self) -> Result<(), String> {
        let holders: Vec<usize> = (0..self.peers.len())
            .filter(|&i| self.peers[i].view.is_some())
            .collect();
        let first = self.peers[0].view.as_ref().ok_or("the owner has no view")?;
        let all = Circle::from_ops(first.genesis().clone(), self.published.iter().cloned(), 0)
            .map_err(|e| e.to_string())?;
        if !all.missing().is_empty() {
            return Err("ops are missing after everything was delivered".into());
        }
        let state = all.state();
        for &i in &holders {
            let p = &self.peers[i];
            let Some(view) = &p.view else { continue };
            if view.state() != state {
                let (a, b) = (view.state(), state);
                let mut why = Vec::new();
                if a.people != b.people {
                    why.push(format!(
                        "people {:?} vs {:?}",
                        a.people
                            .iter()
                            .map(|(k, p)| (k, &p.standing))
                            .collect::<Vec<_>>(),
                        b.people
                            .iter()
                            .map(|(k, p)| (k, &p.standing))
                            .collect::<Vec<_>>()
                    ));
                }
                if a.invites != b.invites {
                    why.push("invites".into());
                }
                if a.pending != b.pending {
                    why.push(format!(
                        "pending {} vs {}",
                        a.pending.len(),
                        b.pending.len()
                    ));
                }
                if a.epochs != b.epochs {
                    why.push("epochs".into());
                }
                let only_all: Vec<_> = all
                    .verdicts()
                    .keys()
                    .filter(|k| !view.verdicts().contains_key(k))
                    .collect();
                let only_here: Vec<_> = view
                    .verdicts()
                    .keys()
                    .filter(|k| !all.verdicts().contains_key(k))
                    .collect();
                why.push(format!("ops only in all: {only_all:?}, only here: {only_here:?}, heads here {}, waiting here {}", view.heads().len(), view.waiting_len()));
                return Err(format!("peer {i} resolved a different state: {why:?}"));
            }
            if view.verdicts() != all.verdicts() {
                let diff: Vec<String> = all
                    .verdicts()
                    .iter()
                    .filter(|(id, v)| view.verdicts().get(id) != Some(v))
                    .map(|(id, v)| format!("{id:?}: {v:?} here {:?}", view.verdict(id)))
                    .chain(
                        view.verdicts()
                            .keys()
                            .filter(|id| !all.verdicts().contains_key(id))
                            .map(|id| format!("{id:?} only here: {:?}", view.verdict(id))),
                    )
                    .collect();
                return Err(format!("peer {i} has different verdicts: {diff:?}"));
            }
            for id in &p.seen_rejected {
                if !matches!(view.verdict(id), Some(Verdict::Rejected(_))) {
                    return Err(format!("peer {i}: a rejected op is no longer rejected"));
                }
            }
        }
        if state.needs_rekey() {
            return Err("the circle still needs a rekey after the duty ran".into());
        }
        if state.pending.len() > MAX_PENDING_JOINS {
            return Err(format!("{} join requests wait", state.pending.len()));
        }
        // Whatever junk arrived, the owner can still act on every view.
        for &i in &holders {
            let Some(view) = &self.peers[i].view else {
                continue;
            };
            let entropy = [3u8; DRAFT_ENTROPY];
            let rules = Draft::Rules("still ours".into());
            if let Err(e) = view.draft(&self.peers[0].key, rules, self.now, &entropy) {
                return Err(format!("peer {i}: the owner cannot act: {e}"));
            }
        }
        let epoch = state.current_epoch().ok_or("no epoch")?;
        let members: BTreeSet<PublicKey> = state.members().into_iter().collect();
        let current = self.peers[0]
            .secrets
            .get(&epoch.op)
            .or_else(|| self.peers.iter().find_map(|p| p.secrets.get(&epoch.op)));
        let current = current
            .ok_or("nobody holds the current epoch's secret")?
            .clone();
        for (i, p) in self.peers.iter().enumerate() {
            let holds = p.secrets.get(&epoch.op) == Some(&current);
            let member = members.contains(&p.key.public_key());
            if member && !holds {
                return Err(format!("member {i} lacks the current epoch's secret"));
            }
            if !member && p.secrets.contains_key(&epoch.op) {
                return Err(format!("non-member {i} holds the current epoch's secret"));
            }
        }
        for v in all.verdicts().values() {
            match v {
                Verdict::Applied => self.report.applied += 1,
                Verdict::Superseded(_) => self.report.superseded += 1,
                Verdict::Rejected(_) => self.report.rejected += 1,
            }
        }
        self.report.ops = all.len();
        self.report.epochs = state.epochs.len();
        self.report.members = members.len();
        self.report.removed = state
            .people
            .values()
            .filter(|p| matches!(p.standing, Standing::Removed { .. }))
            .count();
        Ok(())
    }
}
