//! The topics this node belongs to, held in memory with their derived keys.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use kindred_proto::{NodeSecret, Pseudonym, PublicKey, TopicId, TopicKeys, TopicSecret};
use kindred_store::TopicRecord;
use serde::Serialize;

use crate::NodeError;

/// One topic's keys and settings.
pub struct TopicState {
    pub keys: TopicKeys,
    pub me: Pseudonym,
    pub name: String,
    pub rules: String,
    pub creator: PublicKey,
    pub my_name: String,
}

impl TopicState {
    pub fn from_record(secret: &NodeSecret, rec: &TopicRecord) -> Result<Self, NodeError> {
        let keys = TopicKeys::derive(&TopicSecret::from_bytes(rec.secret_bytes()?));
        let me = secret.pseudonym(&keys.id);
        Ok(TopicState {
            me,
            name: rec.name.clone(),
            rules: rec.rules.clone(),
            creator: PublicKey::from_slice(&rec.creator).unwrap_or(PublicKey([0; 32])),
            my_name: rec.my_name.clone(),
            keys,
        })
    }

    pub fn id(&self) -> TopicId {
        self.keys.id
    }
}

/// What the API shows about a topic.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct TopicSummary {
    pub id: String,
    pub name: String,
    pub rules: String,
    pub my_name: String,
    /// This node's pseudonym in the topic (hex public key).
    pub me: String,
    /// Posts in history: what `read` shows.
    pub messages: u64,
    /// Other messages in history (profiles, contact cards, later kinds).
    pub other: u64,
    /// Messages held back until their parents arrive.
    pub pending: u64,
    /// Parents referenced but never received: known gaps in history.
    pub missing: u64,
    /// Connected peers subscribed to this topic.
    pub peers: usize,
    pub accepted: u64,
    pub rejected: u64,
    pub duplicates: u64,
    /// "in-sync": no known gap and a member is connected; "catching-up":
    /// a sync is bringing messages; "gaps": messages reference parents never
    /// received; "no-peers": no member connected, so the node cannot tell.
    pub sync: String,
    /// Messages the syncs now running have brought so far.
    pub catching_up: u64,
    /// Since when (ms) the oldest known gap has been open.
    pub gap_since: Option<u64>,
}

#[derive(Default)]
pub struct Topics {
    by_id: RwLock<HashMap<TopicId, Arc<TopicState>>>,
    by_gossip: RwLock<HashMap<String, TopicId>>,
}

impl Topics {
    pub fn insert(&self, state: TopicState) -> Arc<TopicState> {
        let state = Arc::new(state);
        let mut ids = self.by_id.write().unwrap_or_else(|p| p.into_inner());
        let mut gossip = self.by_gossip.write().unwrap_or_else(|p| p.into_inner());
        gossip.insert(state.keys.gossip_topic.clone(), state.id());
        ids.insert(state.id(), state.clone());
        state
    }

    pub fn get(&self, id: &TopicId) -> Option<Arc<TopicState>> {
        self.by_id
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }

    pub fn by_gossip_topic(&self, topic: &str) -> Option<Arc<TopicState>> {
        let id = *self
            .by_gossip
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(topic)?;
        self.get(&id)
    }

    pub fn all(&self) -> Vec<Arc<TopicState>> {
        let mut v: Vec<_> = self
            .by_id
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name).then(a.id().cmp(&b.id())));
        v
    }

    /// Finds a topic by exact name (ignoring case), by a prefix of its hex id,
    /// or by a prefix of its name that only one topic has.
    pub fn resolve(&self, query: &str) -> Result<Arc<TopicState>, NodeError> {
        let q = query.trim();
        let all = self.all();
        let by_name: Vec<_> = all
            .iter()
            .filter(|t| t.name.eq_ignore_ascii_case(q))
            .collect();
        if by_name.len() == 1 {
            return Ok(by_name[0].clone());
        }
        let ql = q.to_ascii_lowercase();
        let by_id: Vec<_> = if ql.len() >= 4 && ql.chars().all(|c| c.is_ascii_hexdigit()) {
            all.iter()
                .filter(|t| t.id().to_hex().starts_with(&ql))
                .collect()
        } else {
            vec![]
        };
        let by_prefix: Vec<_> = all
            .iter()
            .filter(|t| t.name.to_lowercase().starts_with(&q.to_lowercase()))
            .collect();
        match (by_name.len(), by_id.len()) {
            (0, 1) => Ok(by_id[0].clone()),
            (0, 0) if by_prefix.len() == 1 && !q.is_empty() => Ok(by_prefix[0].clone()),
            (0, 0) => Err(NodeError::UnknownTopic(q.to_string())),
            _ => Err(NodeError::AmbiguousTopic {
                query: q.to_string(),
                matches: by_name
                    .iter()
                    .chain(by_id.iter())
                    .map(|t| format!("{} {}", &t.id().to_hex()[..12], t.name))
                    .collect(),
            }),
        }
    }
}
