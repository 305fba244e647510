//! What a remote peer can make the private-message service spend: inbound
//! sessions (per peer, in all) and how often strangers' requests are
//! written to disk. Caps and eviction rules are in spec/threat-model.md.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kindred_net::PeerId;
use tokio::sync::Notify;

/// Inbound sessions open at once.
pub(crate) const MAX_INBOUND: usize = 64;
/// Inbound sessions one peer may hold open.
pub(crate) const MAX_INBOUND_PER_PEER: usize = 2;
/// Held requests one stranger may make us write per minute.
pub(crate) const REQUESTS_PER_PEER_MINUTE: u32 = 5;
/// Held requests all strangers together may make us write per minute.
pub(crate) const REQUESTS_PER_MINUTE: u32 = 30;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

struct Open {
    peer: PeerId,
    accepted: bool,
    last: Instant,
    evict: Arc<Notify>,
}

#[derive(Default)]
pub(crate) struct Inbound(Arc<Mutex<InboundState>>);

#[derive(Default)]
struct InboundState {
    next: u64,
    open: HashMap<u64, Open>,
}

/// One admitted inbound session; frees its place when dropped.
pub(crate) struct Slot {
    id: u64,
    table: Arc<Mutex<InboundState>>,
    evict: Arc<Notify>,
}

impl Slot {
    /// The session showed life (a frame arrived).
    pub fn touch(&self) {
        if let Some(o) = lock(&self.table).open.get_mut(&self.id) {
            o.last = Instant::now();
        }
    }

    /// Resolves when an accepted contact needs this slot.
    pub fn evicted(&self) -> impl std::future::Future<Output = ()> + 'static {
        let n = Arc::clone(&self.evict);
        async move { n.notified().await }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        lock(&self.table).open.remove(&self.id);
    }
}

impl Inbound {
    /// A place for a new inbound session from `peer`, if there is one:
    /// at most [`MAX_INBOUND_PER_PEER`] per peer and [`MAX_INBOUND`] in all.
    /// When full, an accepted contact takes the place of the stranger whose
    /// session has been quiet longest; anyone else is refused.
    pub fn admit(&self, peer: PeerId, accepted: bool) -> Option<Slot> {
        let mut s = lock(&self.0);
        if s.open.values().filter(|o| o.peer == peer).count() >= MAX_INBOUND_PER_PEER {
            return None;
        }
        if s.open.len() >= MAX_INBOUND {
            if !accepted {
                return None;
            }
            let victim = s
                .open
                .iter()
                .filter(|(_, o)| !o.accepted)
                .min_by_key(|(_, o)| o.last)
                .map(|(id, _)| *id)?;
            if let Some(o) = s.open.remove(&victim) {
                o.evict.notify_one();
            }
        }
        s.next += 1;
        let id = s.next;
        let evict = Arc::new(Notify::new());
        s.open.insert(
            id,
            Open {
                peer,
                accepted,
                last: Instant::now(),
                evict: Arc::clone(&evict),
            },
        );
        Some(Slot {
            id,
            table: Arc::clone(&self.0),
            evict,
        })
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        lock(&self.0).open.len()
    }
}

/// How often strangers may make us write a held request.
pub(crate) struct RequestRate {
    per_peer: crate::limits::PeerRate,
    total: Mutex<(Option<Instant>, u32)>,
}

impl Default for RequestRate {
    fn default() -> Self {
        RequestRate {
            per_peer: crate::limits::PeerRate::new(
                REQUESTS_PER_PEER_MINUTE,
                Duration::from_secs(60),
            ),
            total: Mutex::new((None, 0)),
        }
    }
}

impl RequestRate {
    /// Whether one more held request from `peer` may be written now.
    pub fn allow(&self, peer: PeerId) -> bool {
        {
            let mut t = lock(&self.total);
            let now = Instant::now();
            if t.0
                .is_none_or(|w| now.duration_since(w) > Duration::from_secs(60))
            {
                *t = (Some(now), 0);
            }
            if t.1 >= REQUESTS_PER_MINUTE {
                return false;
            }
            if !self.per_peer.allow(peer) {
                return false;
            }
            t.1 += 1;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_means_refused_except_for_an_accepted_contact() {
        let inbound = Inbound::default();
        let one = PeerId::random();
        let a = inbound.admit(one, false).unwrap();
        let _b = inbound.admit(one, false).unwrap();
        assert!(inbound.admit(one, false).is_none(), "per-peer cap");
        let mut strangers = Vec::new();
        while inbound.len() < MAX_INBOUND {
            strangers.push(inbound.admit(PeerId::random(), false).unwrap());
        }
        assert!(inbound.admit(PeerId::random(), false).is_none(), "full");
        // `a` has been quiet longest: it is the one to go.
        let evicted = a.evicted();
        let friend = inbound.admit(PeerId::random(), true).unwrap();
        assert_eq!(inbound.len(), MAX_INBOUND);
        futures::executor::block_on(evicted);
        drop(friend);
        assert_eq!(inbound.len(), MAX_INBOUND - 1);
    }

    #[test]
    fn request_rate_per_peer_and_in_all() {
        let r = RequestRate::default();
        let p = PeerId::random();
        for _ in 0..REQUESTS_PER_PEER_MINUTE {
            assert!(r.allow(p));
        }
        assert!(!r.allow(p));
        let mut allowed = REQUESTS_PER_PEER_MINUTE;
        while r.allow(PeerId::random()) {
            allowed += 1;
        }
        assert_eq!(allowed, REQUESTS_PER_MINUTE);
    }
}
