//! What the simulator's hostile people send: junk ops and approval floods
//! (spec/authority.md §6). None may stop anyone acting or make views differ.

use super::*;

impl Sim {
    /// Junk a locator holder or a (maybe removed) member can sign: an
    /// outsider's ops on the genesis, more than one op may name, and a
    /// fan-out of the actor's own ops all on the same heads. None may stop
    /// anyone acting or make views differ.
    pub(super) fn junk(&mut self, who: usize) -> Result<(), String> {
        let Some(view) = self.peers[who].view.as_ref() else {
            return Ok(());
        };
        let (id, genesis) = (view.id(), view.genesis().id);
        let heads: Vec<OpId> = view.heads().into_iter().take(MAX_AUTH_PARENTS).collect();
        let outsider = Pseudonym::from_seed(self.rng.bytes());
        let mut ops = Vec::new();
        for n in 0..(MAX_AUTH_PARENTS + 1) as u64 {
            let invite = Action::Invite {
                key: Pseudonym::from_seed(self.rng.bytes()).public_key(),
                expires: None,
                uses: None,
                approval: false,
            };
            let by_outsider = Op::sign(Some(id), &outsider, vec![genesis], self.now + n, invite)
                .map_err(|e| e.to_string())?;
            ops.push(by_outsider);
            let invite = Action::Invite {
                key: Pseudonym::from_seed(self.rng.bytes()).public_key(),
                expires: None,
                uses: None,
                approval: false,
            };
            let fan = Op::sign(
                Some(id),
                &self.peers[who].key,
                heads.clone(),
                self.now,
                invite,
            )
            .map_err(|e| e.to_string())?;
            ops.push(fan);
        }
        self.report.junk += ops.len();
        for op in ops {
            self.publish(who, op)?;
        }
        Ok(())
    }

    /// Fresh identities ask through an approval invite, as fast as `who`
    /// records their requests.
    pub(super) fn approval_flood(&mut self, who: usize) -> Result<(), String> {
        let approval: Vec<Pseudonym> = {
            let Some(view) = self.peers[who].view.as_ref() else {
                return Ok(());
            };
            self.invites
                .iter()
                .filter(|k| {
                    view.state()
                        .invites
                        .get(&k.public_key())
                        .is_some_and(|i| i.approval)
                })
                .cloned()
                .collect()
        };
        let Some(inv) = self.rng.pick(&approval).cloned() else {
            return Ok(());
        };
        for _ in 0..40 {
            let Some(view) = self.peers[who].view.as_ref() else {
                return Ok(());
            };
            let joiner = Pseudonym::from_seed(self.rng.bytes());
            let body = JoinBody {
                circle: view.id(),
                invite: inv.public_key(),
                joiner: joiner.public_key(),
                kx: [7; 32],
                name: "flood".into(),
                peer: vec![9],
                ts: self.now,
            };
            let request = JoinRequest::sign(body, &inv, &joiner).map_err(|e| e.to_string())?;
            if let Some((op, _)) = self.try_draft(who, Draft::Request(request)) {
                self.publish(who, op)?;
            }
        }
        Ok(())
    }
}
