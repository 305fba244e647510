//! What the API and the page read of private messages: conversations,
//! the inbox, and how each message is shown (who wrote it, where it is,
//! whether it came late); and the answer to a request.

use std::collections::HashMap;
use std::time::Duration;

use kindred_net::PeerId;
use kindred_store::{ConsentAction, ContactRecord, DmRecord};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::peers::handle;
use crate::service::Node;
use crate::{who, NodeError};

/// A message that reaches this node this long after it was written is
/// marked late (a minute covers ordinary clock differences).
const LATE_AFTER_MS: u64 = 60_000;

/// Whether a message written at `ts` (their clock) that reached this node
/// at `received_at` is shown as having come late.
fn arrived_late(ts: u64, received_at: u64) -> bool {
    received_at >= ts.saturating_add(LATE_AFTER_MS)
}
/// One private message as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DmView {
    pub id: String,
    /// PeerId of the sender.
    pub from: String,
    pub peer: String,
    pub text: String,
    pub timestamp: u64,
    pub received_at: u64,
    /// queued, sent, delivered, received or request.
    pub state: String,
    pub mine: bool,
    /// How the sender is named: "you", or their name and ~handle as
    /// everywhere else.
    #[serde(default)]
    pub who: String,
    /// It reached this node a while after it was written (it waited on
    /// their computer while one of you was offline): shown with both
    /// times, since it sits after messages written later.
    #[serde(default)]
    pub late: bool,
}

/// One conversation or request in the inbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConversationView {
    pub peer: String,
    /// Handles this peer has in circles you share.
    pub handles: Vec<String>,
    pub name: Option<String>,
    pub unread: u64,
    pub held: u64,
    pub last_text: String,
    pub last_timestamp: u64,
    /// unknown, requested, accepted, declined or blocked.
    pub consent: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InboxView {
    pub conversations: Vec<ConversationView>,
    pub requests: Vec<ConversationView>,
    /// Everyone this node blocked, so each can be unblocked again.
    #[serde(default)]
    pub blocked: Vec<ConversationView>,
    /// Messages you wrote that wait on this computer for their recipient
    /// (they go when both nodes are online; the page says so when this
    /// node stops).
    #[serde(default)]
    pub waiting: u64,
}

/// How the API shows one contact's conversation; `fallback_name` is used
/// when the contact record has none (a name seen in a shared circle).
fn conversation_view(
    peer: &PeerId,
    c: &ContactRecord,
    handles: Vec<String>,
    fallback_name: Option<String>,
) -> ConversationView {
    ConversationView {
        peer: peer.to_string(),
        handles,
        name: c.name.clone().or(fallback_name),
        unread: c.unread,
        held: c.held,
        last_text: c.last_text.clone(),
        last_timestamp: c.last_ts,
        consent: format!("{:?}", c.consent).to_lowercase(),
    }
}

impl Node {
    /// How a peer is named everywhere: name and ~handle from a circle you
    /// share, else the name they wrote under, else their PeerId's tail.
    fn label_of(&self, peer: &PeerId) -> String {
        self.people()
            .ok()
            .and_then(|all| all.into_iter().find(|c| c.key == *peer))
            .map(|c| c.label)
            .unwrap_or_else(|| who::label(None, None, &peer.to_string()))
    }

    fn dm_view(&self, peer: &PeerId, label: &str, r: &DmRecord) -> DmView {
        DmView {
            who: if r.from_me {
                "you".into()
            } else {
                label.to_string()
            },
            id: hex::encode(&r.id),
            from: if r.from_me {
                self.inner.peer_id.to_string()
            } else {
                peer.to_string()
            },
            peer: peer.to_string(),
            text: r.text.clone(),
            // A sender cannot date a message in the future.
            timestamp: if r.from_me {
                r.ts
            } else {
                r.ts.min(r.received_at)
            },
            received_at: r.received_at,
            state: r.state.as_str().into(),
            mine: r.from_me,
            late: !r.from_me && arrived_late(r.ts, r.received_at),
        }
    }

    /// Whether a peer's messages wait as a request: those can be read whole
    /// (marked "request") before accepting, declining or blocking them.
    fn is_request(&self, peer: &[u8]) -> Result<bool, NodeError> {
        Ok(self.store().contact(peer)?.consent == kindred_store::Consent::Requested)
    }

    /// One conversation, newest `limit` messages in order, and a cursor.
    pub fn chat(&self, peer: &str, limit: usize) -> Result<(Vec<DmView>, u64), NodeError> {
        let target = self.find_peer(peer)?;
        let pb = target.to_bytes();
        let msgs = self
            .store()
            .dm_conversation(&pb, 0, limit, self.is_request(&pb)?)?;
        let cursor = msgs.last().map(|(s, _)| *s).unwrap_or(0);
        let label = self.label_of(&target);
        Ok((
            msgs.iter()
                .map(|(_, r)| self.dm_view(&target, &label, r))
                .collect(),
            cursor,
        ))
    }

    /// Marks a conversation read: the page and the CLI say so once they
    /// have shown it (reading it changes nothing, so no link can).
    pub async fn mark_chat_read(&self, peer: &str) -> Result<(), NodeError> {
        let target = self.find_peer(peer)?;
        self.store().dm_mark_read(&target.to_bytes())?;
        self.store().flush().await?;
        Ok(())
    }

    /// Messages after `cursor` in a conversation, waiting up to `wait`.
    pub async fn chat_follow(
        &self,
        peer: &str,
        cursor: u64,
        wait: Duration,
    ) -> Result<(Vec<DmView>, u64), NodeError> {
        let target = self.find_peer(peer)?;
        let pb = target.to_bytes();
        let mut updates = self.dm().updates.subscribe();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let msgs = self
                .store()
                .dm_conversation(&pb, cursor, 1000, self.is_request(&pb)?)?;
            if !msgs.is_empty() {
                let next = msgs.last().map(|(s, _)| *s).unwrap_or(cursor);
                let label = self.label_of(&target);
                return Ok((
                    msgs.iter()
                        .map(|(_, r)| self.dm_view(&target, &label, r))
                        .collect(),
                    next,
                ));
            }
            match tokio::time::timeout_at(deadline, updates.recv()).await {
                Err(_) | Ok(Err(broadcast::error::RecvError::Closed)) => {
                    return Ok((vec![], cursor))
                }
                Ok(_) => {}
            }
        }
    }

    pub fn inbox(&self) -> Result<InboxView, NodeError> {
        let mut handles: HashMap<PeerId, Vec<String>> = HashMap::new();
        let mut names: HashMap<PeerId, String> = HashMap::new();
        for (p, author, name, ..) in self.circle_contacts() {
            handles.entry(p).or_default().push(handle(&author));
            if let Some(n) = name {
                names.insert(p, n);
            }
        }
        let mut conversations = Vec::new();
        let mut requests = Vec::new();
        let mut blocked = Vec::new();
        for (bytes, c) in self.store().contacts()? {
            let Ok(peer) = PeerId::from_bytes(&bytes) else {
                continue;
            };
            if c.consent == kindred_store::Consent::Blocked {
                let name = names.get(&peer).cloned();
                let h = handles.get(&peer).cloned().unwrap_or_default();
                blocked.push(conversation_view(&peer, &c, h, name));
                continue;
            }
            if c.last_ts == 0 && c.held == 0 {
                continue;
            }
            let name = names.remove(&peer);
            let view =
                conversation_view(&peer, &c, handles.remove(&peer).unwrap_or_default(), name);
            match c.consent {
                kindred_store::Consent::Requested => requests.push(view),
                kindred_store::Consent::Accepted => conversations.push(view),
                _ => {}
            }
        }
        conversations.sort_by_key(|c| std::cmp::Reverse(c.last_timestamp));
        requests.sort_by_key(|c| std::cmp::Reverse(c.last_timestamp));
        Ok(InboxView {
            conversations,
            requests,
            blocked,
            waiting: self.store().outbox()?.len() as u64,
        })
    }

    pub async fn set_consent(
        &self,
        peer: &str,
        action: ConsentAction,
    ) -> Result<ConversationView, NodeError> {
        let peer = self.find_peer(peer)?;
        let c = self.store().set_consent(&peer.to_bytes(), action)?;
        self.store().flush().await?;
        let _ = self.dm().updates.send(peer);
        Ok(conversation_view(&peer, &c, vec![], None))
    }
}

#[cfg(test)]
mod tests {
    use super::arrived_late;

    #[test]
    fn a_message_is_late_a_minute_after_it_was_written() {
        let written = 1_700_000_000_000;
        assert!(!arrived_late(written, written + 2_000));
        assert!(!arrived_late(written, written + 59_999));
        assert!(arrived_late(written, written + 3 * 60_000));
        // A clock far ahead never makes a message late.
        assert!(!arrived_late(u64::MAX, written));
    }
}
