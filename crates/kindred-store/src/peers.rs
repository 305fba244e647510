//! The address book: where members were last seen, for redialling them
//! after a restart. Capped and aged, since every entry is a peer we will
//! dial again (spec/threat-model.md, resource table).

use kindred_proto::Millis;
use serde::{Deserialize, Serialize};

use crate::messages::Store;
use crate::records::{decode, encode};
use crate::Result;

/// Members remembered at most; a new one beyond it replaces the one seen
/// longest ago.
pub const MAX_KNOWN_PEERS: usize = 512;
/// A member not seen for this long is forgotten.
pub const KNOWN_PEER_TTL_MS: Millis = 90 * 24 * 3600 * 1000;
/// Addresses kept per member.
pub const MAX_ADDRS_PER_PEER: usize = 16;

#[derive(Serialize, Deserialize)]
struct Entry {
    addrs: Vec<String>,
    seen: Millis,
}

/// An entry as stored; stores from before aging hold a bare list.
fn decode_entry(v: &[u8]) -> Result<Entry> {
    decode::<Entry>("peer addresses", v).or_else(|_| {
        decode::<Vec<String>>("peer addresses", v).map(|addrs| Entry { addrs, seen: 0 })
    })
}

impl Store {
    /// Remembers where a member listens, as seen at `now`.
    pub fn remember_peer(&self, peer: &[u8], addrs: &[String], now: Millis) -> Result<()> {
        let tree = &self.trees().peers;
        if !tree.contains_key(peer)? && tree.len() >= MAX_KNOWN_PEERS {
            let mut oldest: Option<(Millis, sled::IVec)> = None;
            for item in tree.iter() {
                let (k, v) = item?;
                let seen = decode_entry(&v).map(|e| e.seen).unwrap_or(0);
                if oldest.as_ref().is_none_or(|(s, _)| seen < *s) {
                    oldest = Some((seen, k));
                }
            }
            if let Some((_, k)) = oldest {
                tree.remove(k)?;
            }
        }
        let entry = Entry {
            addrs: addrs.iter().take(MAX_ADDRS_PER_PEER).cloned().collect(),
            seen: now,
        };
        tree.insert(peer, encode(&entry))?;
        Ok(())
    }

    /// Members to redial, with their addresses. Entries older than
    /// [`KNOWN_PEER_TTL_MS`] are dropped on the way; unreadable ones are
    /// set aside.
    pub fn known_peers(&self, now: Millis) -> Result<Vec<(Vec<u8>, Vec<String>)>> {
        let tree = &self.trees().peers;
        let mut out = Vec::new();
        for item in tree.iter() {
            let (k, v) = item?;
            let Some(e) = self.or_quarantine(tree, "peers", &k, &v, decode_entry(&v))? else {
                continue;
            };
            // Entries from before aging count from now on.
            if e.seen != 0 && now.saturating_sub(e.seen) > KNOWN_PEER_TTL_MS {
                tree.remove(&k)?;
                continue;
            }
            out.push((k.to_vec(), e.addrs));
        }
        Ok(out)
    }
}

pub(crate) fn decode_for_fuzzing(bytes: &[u8]) {
    let _ = decode_entry(bytes);
}
