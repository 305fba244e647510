//! Counters the status API reports, per topic.

use std::collections::HashMap;
use std::sync::Mutex;

use kindred_proto::TopicId;
use serde::Serialize;

#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct TopicStats {
    /// Valid messages first seen by gossip or sync.
    pub accepted: u64,
    /// Envelopes that did not decrypt or verify, that their author may not
    /// send, or whose depth their parents contradict.
    pub rejected: u64,
    /// Valid messages this node already had.
    pub duplicates: u64,
}

#[derive(Default)]
pub struct Stats(Mutex<HashMap<TopicId, TopicStats>>);

impl Stats {
    pub fn bump(&self, topic: &TopicId, f: impl FnOnce(&mut TopicStats)) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        f(map.entry(*topic).or_default());
    }

    pub fn get(&self, topic: &TopicId) -> TopicStats {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(topic).copied().unwrap_or_default()
    }
}
