//! Whom a PEER argument means among the people this node knows (circle
//! contact cards, people who wrote), and how to reach them privately.

use std::collections::HashMap;

use kindred_net::{Multiaddr, PeerId};
use kindred_proto::dm::{Contact, CONTACT_TEXT};
use kindred_proto::PublicKey;
use kindred_store::ContactRecord;

use crate::dm::err;
use crate::peers::{handle, peer_of};
use crate::service::Node;
use crate::{who, NodeError};

/// A resolved recipient.
pub(crate) struct Target {
    pub peer: PeerId,
    pub static_key: [u8; 32],
    pub addrs: Vec<Multiaddr>,
}

impl Node {
    fn target(
        &self,
        peer: PeerId,
        contact: &ContactRecord,
        code: Option<&Contact>,
    ) -> Result<Target, NodeError> {
        let parsed;
        let code = match code {
            Some(c) => Some(c),
            None => {
                parsed = contact.code.as_deref().and_then(|c| Contact::parse(c).ok());
                parsed.as_ref()
            }
        };
        let static_key = match (code, &contact.static_key) {
            (Some(c), _) => c.static_key,
            (None, Some(k)) => k.as_slice().try_into().map_err(|_| err("stored static key is damaged"))?,
            (None, None) => {
                return Err(err(format!(
                    "no way to reach {peer} privately yet: write to them by their ~handle from a circle you share, or ask for their contact code"
                )))
            }
        };
        let addrs = code
            .map(|c| c.addrs.iter().filter_map(|a| a.parse().ok()).collect())
            .unwrap_or_default();
        Ok(Target {
            peer,
            static_key,
            addrs,
        })
    }

    /// Every contact published in our circles: (peer, pseudonym, display name, contact).
    pub(crate) fn circle_contacts(
        &self,
    ) -> Vec<(PeerId, PublicKey, Option<String>, Contact, String)> {
        let mut out = Vec::new();
        for t in self.inner.topics.all() {
            for (author, code) in self.store().cards(&t.id()).unwrap_or_default() {
                let Ok(c) = Contact::parse(&code) else {
                    continue;
                };
                let Some(peer) = peer_of(&c.identity) else {
                    continue;
                };
                let name = self.name_in(&t, &author);
                out.push((peer, author, name, c, code));
            }
        }
        out
    }

    /// Everyone this node knows as a node, by what a PEER argument may
    /// name: their handles and names in circles you share (from their
    /// contact cards) and the name they wrote to you under.
    pub(crate) fn people(&self) -> Result<Vec<who::Candidate<PeerId>>, NodeError> {
        let mut found: Vec<(who::Candidate<PeerId>, Option<String>)> = Vec::new();
        let mut entry = |peer: PeerId| -> usize {
            match found.iter().position(|(c, _)| c.key == peer) {
                Some(i) => i,
                None => {
                    found.push((
                        who::Candidate {
                            key: peer,
                            pseudonyms: Vec::new(),
                            peer_id: Some(peer.to_string()),
                            names: Vec::new(),
                            label: String::new(),
                        },
                        None,
                    ));
                    found.len() - 1
                }
            }
        };
        let mut named = Vec::new();
        for (peer, author, name, ..) in self.circle_contacts() {
            named.push((entry(peer), Some(author), name));
        }
        for (bytes, rec) in self.store().contacts()? {
            if let Ok(peer) = PeerId::from_bytes(&bytes) {
                named.push((entry(peer), None, rec.name));
            }
        }
        for (i, author, name) in named {
            let (c, handle_shown) = &mut found[i];
            if let Some(a) = author {
                c.pseudonyms.push(a.to_hex());
                handle_shown.get_or_insert_with(|| handle(&a));
            }
            if let Some(n) = name.filter(|n| !c.names.contains(n)) {
                c.names.push(n);
            }
        }
        Ok(found
            .into_iter()
            .map(|(mut c, h)| {
                c.label = who::label(
                    c.names.first().map(String::as_str),
                    h.as_deref(),
                    &c.key.to_string(),
                );
                c
            })
            .collect())
    }

    /// Whom a PEER argument means (see [`who::pick`]); a whole PeerId is
    /// taken as it is.
    pub(crate) fn find_peer(&self, query: &str) -> Result<PeerId, NodeError> {
        let q = query.trim();
        if let Ok(p) = q.parse::<PeerId>() {
            return Ok(p);
        }
        match who::pick(q, &self.people()?) {
            who::Pick::One(p) => Ok(p),
            who::Pick::Nobody => Err(err(format!(
                "nobody you know is called {q:?} or has that handle; `kindred inbox` and `kindred members CIRCLE` list people with their ~handles"
            ))),
            who::Pick::Several(labels) => Err(err(format!(
                "{q:?} could be {}; give their ~handle",
                who::list(&labels)
            ))),
        }
    }

    /// Finds who PEER means and how to reach them: a contact code, or
    /// anyone [`Node::find_peer`] finds.
    pub(crate) fn resolve_peer(&self, query: &str) -> Result<Target, NodeError> {
        let q = query.trim();
        if CONTACT_TEXT.looks_like(q) {
            let c = Contact::parse(q).map_err(err)?;
            let peer =
                peer_of(&c.identity).ok_or_else(|| err("contact code has a bad identity"))?;
            self.store()
                .learn_contact(&peer.to_bytes(), Some(q), None)?;
            let rec = self.store().contact(&peer.to_bytes())?;
            return self.target(peer, &rec, Some(&c));
        }
        let peer = self.find_peer(q)?;
        // The newest card a shared circle holds for them is how to reach them.
        if let Some((_, _, name, c, code)) =
            self.circle_contacts().into_iter().find(|c| c.0 == peer)
        {
            self.store()
                .learn_contact(&peer.to_bytes(), Some(&code), name.as_deref())?;
            let rec = self.store().contact(&peer.to_bytes())?;
            return self.target(peer, &rec, Some(&c));
        }
        let rec = self.store().contact(&peer.to_bytes())?;
        self.target(peer, &rec, None)
    }

    /// Handles each connected peer has in our circles.
    /// Per peer, its (handle, name) in each circle we share.
    pub(crate) fn handles_by_peer(&self) -> HashMap<PeerId, Vec<(String, String)>> {
        let mut out: HashMap<PeerId, Vec<(String, String)>> = HashMap::new();
        for (p, author, name, ..) in self.circle_contacts() {
            out.entry(p)
                .or_default()
                .push((handle(&author), name.unwrap_or_default()));
        }
        out
    }
}
