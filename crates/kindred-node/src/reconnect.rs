//! Staying connected: members we know but are not connected to are redialled
//! with exponential backoff (250 ms doubling to 60 s), reset when they connect.
//! This is what brings a laptop back into its circles after sleep, a network
//! change, or the other side restarting.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kindred_net::{Command, Multiaddr, PeerId};

use crate::service::Node;

/// First retry soon: a dial made in the first moments after a restart can
/// fail while the other side is itself restarting.
const FIRST: Duration = Duration::from_millis(250);
const MAX: Duration = Duration::from_secs(60);
/// Dials started per tick at most, so a large address book cannot flood.
const PER_TICK: usize = 4;
/// How often redials are considered.
pub(crate) const TICK: Duration = Duration::from_millis(250);

#[derive(Default)]
pub(crate) struct Backoff(Mutex<HashMap<PeerId, (u32, Instant)>>);

impl Backoff {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PeerId, (u32, Instant)>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn connected(&self, peer: &PeerId) {
        self.lock().remove(peer);
    }

    /// A member dropped: try again soon.
    pub fn disconnected(&self, peer: PeerId) {
        self.lock().insert(peer, (0, Instant::now() + FIRST));
    }
}

impl Node {
    /// Dials known members that are due; called every [`TICK`].
    pub(crate) async fn reconnect_due(&self) {
        let connected: HashSet<PeerId> = match self.inner.net.peers().await {
            Ok(p) => p.into_iter().map(|p| p.peer).collect(),
            Err(_) => return,
        };
        let Ok(known) = self.store().known_peers(crate::now_ms()) else {
            return;
        };
        let now = Instant::now();
        let mut due: Vec<(PeerId, Vec<Multiaddr>)> = Vec::new();
        {
            let mut state = self.inner.backoff.lock();
            // Only address-book members keep a backoff entry, so the map is
            // bounded by the address book's cap.
            let in_book: HashSet<PeerId> = known
                .iter()
                .filter_map(|(k, _)| PeerId::from_bytes(k).ok())
                .collect();
            state.retain(|p, _| in_book.contains(p));
            for (peer, addrs) in known {
                let Ok(peer) = PeerId::from_bytes(&peer) else {
                    continue;
                };
                if peer == self.inner.peer_id || connected.contains(&peer) {
                    continue;
                }
                let (attempts, next) = state.entry(peer).or_insert((0, now));
                if *next > now || due.len() >= PER_TICK {
                    continue;
                }
                *attempts += 1;
                *next =
                    now + (FIRST * 2u32.saturating_pow(attempts.saturating_sub(1).min(6))).min(MAX);
                due.push((peer, addrs.iter().filter_map(|a| a.parse().ok()).collect()));
            }
        }
        if !due.is_empty() {
            tracing::debug!(members = due.len(), "redialling known members");
        }
        for (peer, addrs) in due {
            let _ = self
                .inner
                .net
                .send(Command::AddAddresses { peer, addrs })
                .await;
        }
    }
}
