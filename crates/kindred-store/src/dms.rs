//! Private conversations: contacts and their consent state, each
//! conversation's messages, the replay cache, and the outbox of sealed
//! messages waiting for their recipient.

use kindred_proto::dm::DmMessage;
use kindred_proto::Millis;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use sled::transaction::TransactionalTree;
use sled::Transactional;

use crate::messages::{abort_tx, tx_err, Store};
use crate::records::{decode, encode};
use crate::{Result, StoreError};

/// Most messages held hidden from one requester before acceptance.
pub const MAX_HELD: u64 = 20;
/// Most messages held from all requesters together: fresh identities cost
/// nothing, so the per-requester cap alone would not bound the disk.
pub const MAX_HELD_TOTAL: u64 = 200;
/// Most bytes of text held from all requesters together.
pub const MAX_HELD_BYTES: u64 = 1024 * 1024;
/// Longest text a message from someone not accepted may carry.
pub const MAX_REQUEST_TEXT_BYTES: usize = 4 * 1024;

const HELD_TOTALS: &[u8] = b"held-totals";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Consent {
    /// Never heard from, never written to.
    #[default]
    Unknown,
    /// Wrote first; waiting for us to accept or decline.
    Requested,
    Accepted,
    Declined,
    Blocked,
}

/// What this node knows about one peer for private messages.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ContactRecord {
    pub consent: Consent,
    /// Accepted before being blocked (unblock restores it).
    pub was_accepted: bool,
    /// The newest contact code known for the peer (its static key, addresses).
    pub code: Option<String>,
    /// A display name seen for the peer (from a circle), if any.
    pub name: Option<String>,
    pub unread: u64,
    /// Messages hidden while the peer's request is pending.
    pub held: u64,
    /// Bytes of their text.
    #[serde(default)]
    pub held_bytes: u64,
    pub last_ts: Millis,
    pub last_text: String,
    /// The peer's Noise static key as proven in a session (to seal replies).
    #[serde(default)]
    pub static_key: Option<ByteBuf>,
}

/// Where a private message stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DmState {
    /// Stored here, waiting for the recipient (sealed in the outbox).
    Queued,
    /// Written to a session, not yet acknowledged.
    Sent,
    /// The recipient's node acknowledged it.
    Delivered,
    /// From the peer, shown.
    Received,
    /// From a peer whose request is pending; hidden until accepted.
    Request,
}

impl DmState {
    pub fn as_str(self) -> &'static str {
        match self {
            DmState::Queued => "queued",
            DmState::Sent => "sent",
            DmState::Delivered => "delivered",
            DmState::Received => "received",
            DmState::Request => "request",
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DmRecord {
    pub id: ByteBuf,
    pub from_me: bool,
    pub text: String,
    pub ts: Millis,
    pub received_at: Millis,
    pub state: DmState,
}

/// A sealed message waiting in the outbox.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct OutboxRecord {
    pub id: ByteBuf,
    pub peer: ByteBuf,
    pub sealed: ByteBuf,
    pub attempts: u32,
    pub next_attempt: Millis,
}

/// What became of an incoming private message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received {
    /// Seen before (a retry or a replay): acknowledge, change nothing.
    Duplicate,
    /// Stored and shown.
    Shown,
    /// Stored but hidden: the sender's request is pending.
    Held,
    /// Declined or blocked sender: acknowledge and drop.
    Dropped,
    /// Too many held messages: do not acknowledge, the sender keeps it.
    Refused,
}

/// A change of consent a person asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsentAction {
    Accept,
    Decline,
    Block,
    Unblock,
}

fn conv_key(peer: &[u8], seq: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(peer.len() + 9);
    k.push(peer.len() as u8);
    k.extend_from_slice(peer);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

fn conv_prefix(peer: &[u8]) -> Vec<u8> {
    let mut k = vec![peer.len() as u8];
    k.extend_from_slice(peer);
    k
}

fn id_key(peer: &[u8], id: &[u8]) -> Vec<u8> {
    let mut k = conv_prefix(peer);
    k.extend_from_slice(id);
    k
}

fn get_contact(t: &TransactionalTree, peer: &[u8]) -> Result<ContactRecord> {
    match t.get(peer).map_err(|e| StoreError::Db(e.to_string()))? {
        Some(v) => decode("contact", &v),
        None => Ok(ContactRecord::default()),
    }
}

/// (messages, bytes) held from all requesters, as stored; a missing or
/// unreadable record counts as none (the caps are a bound, not a ledger).
fn held_totals(v: Option<&[u8]>) -> (u64, u64) {
    v.and_then(|v| decode::<(u64, u64)>("held totals", v).ok())
        .unwrap_or((0, 0))
}

fn put<T: Serialize>(t: &TransactionalTree, k: &[u8], v: &T) -> Result<()> {
    t.insert(k, encode(v))
        .map_err(|e| StoreError::Db(e.to_string()))?;
    Ok(())
}

impl Store {
    pub fn contact(&self, peer: &[u8]) -> Result<ContactRecord> {
        Ok(match self.trees().contacts.get(peer)? {
            Some(v) => decode("contact", &v)?,
            None => ContactRecord::default(),
        })
    }

    pub fn contacts(&self) -> Result<Vec<(Vec<u8>, ContactRecord)>> {
        let mut out = Vec::new();
        for item in self.trees().contacts.iter() {
            let (k, v) = item?;
            let t = &self.trees().contacts;
            if let Some(c) = self.or_quarantine(t, "contacts", &k, &v, decode("contact", &v))? {
                out.push((k.to_vec(), c));
            }
        }
        Ok(out)
    }

    /// Updates the contact code and name known for a peer, keeping its consent.
    pub fn learn_contact(&self, peer: &[u8], code: Option<&str>, name: Option<&str>) -> Result<()> {
        let _g = self.write_guard();
        let mut c = self.contact(peer)?;
        if let Some(code) = code {
            c.code = Some(code.to_string());
        }
        if let Some(name) = name {
            c.name = Some(name.to_string());
        }
        self.trees().contacts.insert(peer, encode(&c))?;
        Ok(())
    }

    /// Remembers the static key a peer proved in a session.
    pub fn learn_static_key(&self, peer: &[u8], key: &[u8; 32]) -> Result<()> {
        let _g = self.write_guard();
        let mut c = self.contact(peer)?;
        if c.static_key.as_ref().map(|k| k.as_slice()) != Some(key.as_slice()) {
            c.static_key = Some(ByteBuf::from(key.to_vec()));
            self.trees().contacts.insert(peer, encode(&c))?;
        }
        Ok(())
    }

    /// Records a message this node is sending. Writing first accepts the peer.
    pub fn dm_outgoing(
        &self,
        peer: &[u8],
        msg: &DmMessage,
        now: Millis,
        state: DmState,
    ) -> Result<u64> {
        self.ensure_space()?;
        let _g = self.write_guard();
        let seq = self.next_seq()?;
        let t = self.trees();
        let record = DmRecord {
            id: msg.id.clone(),
            from_me: true,
            text: msg.text.clone(),
            ts: msg.ts,
            received_at: now,
            state,
        };
        (&t.contacts, &t.dms, &t.dm_index)
            .transaction(|(contacts, dms, index)| {
                let mut c = get_contact(contacts, peer).map_err(abort_tx)?;
                if matches!(c.consent, Consent::Unknown | Consent::Requested) {
                    c.consent = Consent::Accepted;
                    c.was_accepted = true;
                }
                c.last_ts = msg.ts;
                c.last_text = preview(&msg.text);
                put(contacts, peer, &c).map_err(abort_tx)?;
                put(dms, &conv_key(peer, seq), &record).map_err(abort_tx)?;
                index.insert(id_key(peer, &msg.id), &seq.to_be_bytes())?;
                Ok(())
            })
            .map_err(tx_err)?;
        Ok(seq)
    }

    /// Moves one of our messages to a new state (sent, delivered).
    pub fn dm_set_state(&self, peer: &[u8], id: &[u8], state: DmState) -> Result<()> {
        let _g = self.write_guard();
        let t = self.trees();
        let Some(seq) = t.dm_index.get(id_key(peer, id))? else {
            return Ok(());
        };
        let k = conv_key(
            peer,
            u64::from_be_bytes(seq.as_ref().try_into().unwrap_or([0; 8])),
        );
        if let Some(v) = t.dms.get(&k)? {
            let mut r: DmRecord = decode("private message", &v)?;
            // Never move backwards (a late "sent" after "delivered").
            let rank = |s: DmState| match s {
                DmState::Queued => 0,
                DmState::Sent => 1,
                _ => 2,
            };
            if rank(state) > rank(r.state) {
                r.state = state;
                t.dms.insert(k, encode(&r))?;
            }
        }
        Ok(())
    }

    /// Takes in a message from `peer`, applying the replay cache and consent
    /// in one atomic step.
    pub fn dm_incoming(&self, peer: &[u8], msg: &DmMessage, now: Millis) -> Result<Received> {
        // Declined and blocked peers cost nothing: no write, no flush.
        if matches!(
            self.contact(peer)?.consent,
            Consent::Declined | Consent::Blocked
        ) {
            return Ok(Received::Dropped);
        }
        self.ensure_space()?;
        let _g = self.write_guard();
        let t = self.trees();
        let seq = self.next_seq()?;
        let len = msg.text.len() as u64;
        (&t.contacts, &t.dms, &t.dm_index, &t.meta)
            .transaction(|(contacts, dms, index, meta)| {
                let ik = id_key(peer, &msg.id);
                if index.get(&ik)?.is_some() {
                    return Ok(Received::Duplicate);
                }
                let mut c = get_contact(contacts, peer).map_err(abort_tx)?;
                let (held, held_bytes) = held_totals(meta.get(HELD_TOTALS)?.as_deref());
                let (outcome, state) = match c.consent {
                    Consent::Declined | Consent::Blocked => return Ok(Received::Dropped),
                    Consent::Accepted => (Received::Shown, Some(DmState::Received)),
                    Consent::Unknown | Consent::Requested
                        if c.held >= MAX_HELD
                            || held >= MAX_HELD_TOTAL
                            || held_bytes + len > MAX_HELD_BYTES
                            || msg.text.len() > MAX_REQUEST_TEXT_BYTES =>
                    {
                        (Received::Refused, None)
                    }
                    Consent::Unknown | Consent::Requested => {
                        (Received::Held, Some(DmState::Request))
                    }
                };
                if outcome == Received::Refused {
                    return Ok(outcome);
                }
                index.insert(ik, &seq.to_be_bytes())?;
                if outcome == Received::Held {
                    meta.insert(HELD_TOTALS, encode(&(held + 1, held_bytes + len)))?;
                    c.held_bytes += len;
                }
                if let Some(state) = state {
                    let record = DmRecord {
                        id: msg.id.clone(),
                        from_me: false,
                        text: msg.text.clone(),
                        ts: msg.ts,
                        received_at: now,
                        state,
                    };
                    put(dms, &conv_key(peer, seq), &record).map_err(abort_tx)?;
                    if state == DmState::Request {
                        c.consent = Consent::Requested;
                        c.held += 1;
                    } else {
                        c.unread += 1;
                    }
                    c.last_ts = msg.ts.min(now);
                    c.last_text = preview(&msg.text);
                    put(contacts, peer, &c).map_err(abort_tx)?;
                }
                Ok(outcome)
            })
            .map_err(tx_err)
    }

    /// One conversation in order: the newest `limit` messages, oldest first,
    /// with their sequence numbers. Held requests are left out unless asked for.
    pub fn dm_conversation(
        &self,
        peer: &[u8],
        after: u64,
        limit: usize,
        include_held: bool,
    ) -> Result<Vec<(u64, DmRecord)>> {
        let t = self.trees();
        let start = conv_key(peer, after.saturating_add(1));
        let end = conv_key(peer, u64::MAX);
        let mut out = Vec::new();
        for item in t.dms.range(start..=end).rev() {
            if out.len() >= limit {
                break;
            }
            let (k, v) = item?;
            let r = decode::<DmRecord>("private message", &v);
            let Some(r) = self.or_quarantine(&t.dms, "dms", &k, &v, r)? else {
                continue;
            };
            if r.state == DmState::Request && !include_held {
                continue;
            }
            let seq = u64::from_be_bytes(k[k.len() - 8..].try_into().unwrap_or([0; 8]));
            out.push((seq, r));
        }
        out.reverse();
        Ok(out)
    }

    pub fn dm_mark_read(&self, peer: &[u8]) -> Result<()> {
        let _g = self.write_guard();
        let mut c = self.contact(peer)?;
        if c.unread != 0 {
            c.unread = 0;
            self.trees().contacts.insert(peer, encode(&c))?;
        }
        Ok(())
    }

    /// Applies accept / decline / block / unblock.
    pub fn set_consent(&self, peer: &[u8], action: ConsentAction) -> Result<ContactRecord> {
        let _g = self.write_guard();
        let t = self.trees();
        let mut c = self.contact(peer)?;
        let prefix = conv_prefix(peer);
        let held: Vec<(sled::IVec, DmRecord)> = t
            .dms
            .scan_prefix(&prefix)
            .filter_map(|i| i.ok())
            .filter_map(|(k, v)| {
                decode::<DmRecord>("private message", &v)
                    .ok()
                    .map(|r| (k, r))
            })
            .filter(|(_, r)| r.state == DmState::Request)
            .collect();
        match action {
            ConsentAction::Accept => {
                c.consent = Consent::Accepted;
                c.was_accepted = true;
                for (k, mut r) in held {
                    r.state = DmState::Received;
                    t.dms.insert(k, encode(&r))?;
                    c.unread += 1;
                }
            }
            ConsentAction::Decline | ConsentAction::Block => {
                if action == ConsentAction::Block && c.consent == Consent::Accepted {
                    c.was_accepted = true;
                }
                c.consent = if action == ConsentAction::Block {
                    Consent::Blocked
                } else {
                    Consent::Declined
                };
                for (k, _) in held {
                    t.dms.remove(k)?;
                }
            }
            ConsentAction::Unblock => {
                c.consent = if c.was_accepted {
                    Consent::Accepted
                } else {
                    Consent::Unknown
                };
            }
        }
        // What this requester had held no longer counts against the totals.
        let (held, held_bytes) = held_totals(t.meta.get(HELD_TOTALS)?.as_deref());
        let totals = (
            held.saturating_sub(c.held),
            held_bytes.saturating_sub(c.held_bytes),
        );
        t.meta.insert(HELD_TOTALS, encode(&totals))?;
        c.held = 0;
        c.held_bytes = 0;
        t.contacts.insert(peer, encode(&c))?;
        Ok(c)
    }

    /// Messages and bytes held from all requesters together.
    pub fn held_totals(&self) -> Result<(u64, u64)> {
        Ok(held_totals(self.trees().meta.get(HELD_TOTALS)?.as_deref()))
    }

    /// Whether this peer has ever written to us (so a first message to them
    /// is not a request on their side).
    pub fn has_heard_from(&self, peer: &[u8]) -> Result<bool> {
        for item in self.trees().dms.scan_prefix(conv_prefix(peer)) {
            let (_, v) = item?;
            if decode::<DmRecord>("private message", &v).is_ok_and(|r| !r.from_me) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    // ---- outbox ----

    /// Queues a sealed message; returns its place in the outbox.
    pub fn outbox_put(&self, record: &OutboxRecord) -> Result<u64> {
        let seq = self.next_seq()?;
        self.trees()
            .outbox
            .insert(seq.to_be_bytes(), encode(record))?;
        Ok(seq)
    }

    pub fn outbox_update(&self, seq: u64, record: &OutboxRecord) -> Result<()> {
        self.trees()
            .outbox
            .insert(seq.to_be_bytes(), encode(record))?;
        Ok(())
    }

    pub fn outbox_remove(&self, seq: u64) -> Result<()> {
        self.trees().outbox.remove(seq.to_be_bytes())?;
        Ok(())
    }

    /// Everything waiting, oldest first.
    pub fn outbox(&self) -> Result<Vec<(u64, OutboxRecord)>> {
        let mut out = Vec::new();
        for item in self.trees().outbox.iter() {
            let (k, v) = item?;
            let seq = u64::from_be_bytes(k.as_ref().try_into().unwrap_or([0; 8]));
            let t = &self.trees().outbox;
            let r = self.or_quarantine(t, "outbox", &k, &v, decode("outbox entry", &v))?;
            out.extend(r.map(|r| (seq, r)));
        }
        Ok(out)
    }
}

/// The start of a message for lists: about 80 characters, cut at a word
/// (never mid-word), with "…" when there is more to read.
fn preview(text: &str) -> String {
    const AROUND: usize = 80;
    if text.chars().count() <= AROUND {
        return text.to_string();
    }
    let head: String = text.chars().take(AROUND).collect();
    let cut = head.rfind(char::is_whitespace).filter(|i| *i > AROUND / 2);
    format!("{}…", head[..cut.unwrap_or(head.len())].trim_end())
}

#[cfg(test)]
mod preview_tests {
    #[test]
    fn a_preview_is_cut_at_a_word() {
        let text = "I have been sober for three weeks and tonight is hard, can we talk for a little while please";
        let p = super::preview(text);
        assert!(
            p.ends_with('…') && text.starts_with(p.trim_end_matches('…')),
            "{p}"
        );
        assert!(
            p.trim_end_matches('…').ends_with("little") || !p.contains("whil"),
            "{p}"
        );
        assert!(
            text[p.trim_end_matches('…').len()..].starts_with(' '),
            "cut mid-word: {p}"
        );
        assert_eq!(super::preview("short"), "short");
    }
}
