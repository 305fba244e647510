//! The topics this node belongs to, held in memory with their derived keys.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use kindred_proto::authority::{Circle, EpochSecret, KxSecret, Op};
use kindred_proto::{NodeSecret, Pseudonym, TopicId, TopicKeys, TopicSecret};
use kindred_store::{Store, TopicRecord};
use serde::Serialize;

use crate::authority::CircleAuth;
use crate::NodeError;

/// One circle's keys, authority and settings.
pub struct TopicState {
    /// What the locator derives: topic id, gossip topic, sync and member keys.
    pub keys: TopicKeys,
    pub me: Pseudonym,
    /// The circle's name, as its owner signed it in the genesis.
    pub name: String,
    my_name: Mutex<String>,
    pub(crate) auth: CircleAuth,
    /// While waiting to be admitted: the join request this node sends.
    joining: Mutex<Option<Vec<u8>>>,
}

impl TopicState {
    /// A circle as stored: its genesis, every op kept and the epoch
    /// secrets held. Topics from before circles had a genesis cannot be
    /// opened (their one secret was the only key) and are refused.
    pub fn load(secret: &NodeSecret, store: &Store, rec: &TopicRecord) -> Result<Self, NodeError> {
        let keys = TopicKeys::derive(&TopicSecret::from_bytes(rec.secret_bytes()?));
        let genesis = Op::decode(&rec.genesis).map_err(|e| {
            NodeError::BadInput(format!(
                "circle {:?} was made by an older Kindred and cannot be opened ({e}); ask for a new invite",
                rec.name
            ))
        })?;
        let ops: Vec<Op> = store
            .ops(&keys.id)?
            .iter()
            .filter_map(|b| Op::decode(b).ok())
            .filter(|o| o.id != genesis.id)
            .collect();
        let circle = Circle::from_ops(genesis, ops, crate::now_ms()).map_err(|e| {
            NodeError::BadInput(format!("this circle's beginning is not valid: {e}"))
        })?;
        let secrets: Vec<(kindred_proto::OpId, EpochSecret)> = store
            .epochs(&keys.id)?
            .into_iter()
            .map(|(op, s)| (op, EpochSecret::from_bytes(*s)))
            .collect();
        Ok(Self::new(secret, keys, rec, circle, secrets))
    }

    pub(crate) fn new(
        secret: &NodeSecret,
        keys: TopicKeys,
        rec: &TopicRecord,
        circle: Circle,
        secrets: Vec<(kindred_proto::OpId, EpochSecret)>,
    ) -> Self {
        let me = secret.pseudonym(&keys.id);
        let kx = KxSecret::derive(secret, &keys.id);
        TopicState {
            me,
            name: rec.name.clone(),
            my_name: Mutex::new(rec.my_name.clone()),
            auth: CircleAuth::new(kx, circle, secrets),
            joining: Mutex::new(rec.joining.as_ref().map(|j| j.to_vec())),
            keys,
        }
    }

    pub fn id(&self) -> TopicId {
        self.keys.id
    }

    pub fn my_name(&self) -> String {
        self.my_name
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn set_my_name(&self, name: String) {
        *self.my_name.lock().unwrap_or_else(|p| p.into_inner()) = name;
    }

    pub(crate) fn joining(&self) -> bool {
        self.join_request().is_some()
    }

    pub(crate) fn join_request(&self) -> Option<Vec<u8>> {
        self.joining
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn set_joining(&self, request: Vec<u8>) {
        *self.joining.lock().unwrap_or_else(|p| p.into_inner()) = Some(request);
    }

    pub(crate) fn set_joined(&self) {
        *self.joining.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

/// What the API shows about a topic.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct TopicSummary {
    pub id: String,
    pub name: String,
    pub rules: String,
    pub my_name: String,
    /// This node's place in the circle: owner, moderator, member, "waiting
    /// to be admitted", "removed by ~handle (reason)", "left".
    #[serde(default)]
    pub role: String,
    /// The number of the current epoch (the circle's key period).
    #[serde(default)]
    pub epoch: u32,
    /// Whether every member the circle knows of holds the current epoch's
    /// key (false while a rekey is due or has not reached this node).
    #[serde(default)]
    pub keys_ok: bool,
    /// Members in the circle.
    #[serde(default)]
    pub members: usize,
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
    /// Posts by others the reader has not seen (see `POST …/seen`).
    #[serde(default)]
    pub unread: u64,
    /// When (ms) a member of the circle was last connected: now while one
    /// is; None if none ever was. Before it, nothing can have been missed.
    #[serde(default)]
    pub last_in_touch: Option<u64>,
    /// Circle actions (signed ops) this node holds, and how many of them
    /// are heads (what the next action will name, at most 16 of them).
    #[serde(default)]
    pub actions: usize,
    #[serde(default)]
    pub action_heads: usize,
    /// History entries held sealed: named by history, but under a key this
    /// node never had (at most 1,024 per circle).
    #[serde(default)]
    pub sealed: usize,
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

    pub fn remove(&self, id: &TopicId) {
        let mut ids = self.by_id.write().unwrap_or_else(|p| p.into_inner());
        let mut gossip = self.by_gossip.write().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = ids.remove(id) {
            gossip.remove(&t.keys.gossip_topic);
        }
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
