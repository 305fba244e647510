//! A per-peer rate: how many times each peer may make us do something in a
//! window. The counts reset with the window, so the map never holds more
//! than one window's peers (and the connection limits bound those).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kindred_net::PeerId;

pub(crate) struct PeerRate {
    limit: u32,
    window: Duration,
    state: Mutex<(Option<Instant>, HashMap<PeerId, u32>)>,
}

impl PeerRate {
    pub fn new(limit: u32, window: Duration) -> Self {
        PeerRate {
            limit,
            window,
            state: Mutex::new((None, HashMap::new())),
        }
    }

    /// Counts one more and says whether it is within the limit.
    pub fn allow(&self, peer: PeerId) -> bool {
        self.take(peer, 1) == 1
    }

    /// Grants up to `wanted` more of what is left of the peer's limit in
    /// this window, and counts what it granted.
    pub fn take(&self, peer: PeerId, wanted: u32) -> u32 {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if s.0.is_none_or(|w| now.duration_since(w) > self.window) {
            s.0 = Some(now);
            s.1.clear();
        }
        let n = s.1.entry(peer).or_insert(0);
        let granted = wanted.min(self.limit.saturating_sub(*n));
        *n += granted;
        granted
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_peer_past_its_limit_is_refused_until_the_window_turns() {
        let r = super::PeerRate::new(3, std::time::Duration::from_millis(50));
        let (a, b) = (kindred_net::PeerId::random(), kindred_net::PeerId::random());
        assert!((0..3).all(|_| r.allow(a)));
        assert!(!r.allow(a));
        assert!(r.allow(b), "others are not affected");
        std::thread::sleep(std::time::Duration::from_millis(60));
        assert!(r.allow(a));
    }

    #[test]
    fn a_grant_is_what_is_left_of_the_limit() {
        let r = super::PeerRate::new(10, std::time::Duration::from_secs(60));
        let a = kindred_net::PeerId::random();
        assert_eq!(r.take(a, 4), 4);
        assert_eq!(r.take(a, 10), 6);
        assert_eq!(r.take(a, 1), 0);
        assert!(!r.allow(a));
    }
}
