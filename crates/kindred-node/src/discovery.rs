//! Finding circle members without a server: each member announces itself in
//! the DHT under the circle's rendezvous key for the day, and looks up the
//! others there when it has too few of them connected. Only members can
//! compute the key, and keys change daily, so an outsider can neither list a
//! circle's members nor link one day's records to the next.

use std::time::Duration;

use kindred_net::{Command, Multiaddr};
use kindred_proto::topic::RENDEZVOUS_PERIOD_MS;

use crate::service::Node;
use crate::{now_ms, NodeError};

/// A circle with fewer members connected than this keeps looking.
pub(crate) const WANT_MEMBERS: usize = 3;
/// How often an under-connected circle looks again.
pub(crate) const LOOK_EVERY: Duration = Duration::from_secs(20);
/// How often a node renews its own announcements.
pub(crate) const ANNOUNCE_EVERY: Duration = Duration::from_secs(10 * 60);
const BOOTSTRAP_KEY: &str = "bootstrap";

impl Node {
    /// Joins the DHT through the given peers plus the ones remembered from
    /// earlier runs, and remembers the union.
    pub(crate) async fn bootstrap(&self, given: &[Multiaddr]) -> Result<(), NodeError> {
        let mut all: Vec<String> = self
            .store()
            .config(BOOTSTRAP_KEY)?
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect();
        for a in given {
            let s = a.to_string();
            if !all.contains(&s) {
                all.push(s);
            }
        }
        if !given.is_empty() {
            self.store().set_config(BOOTSTRAP_KEY, &all.join("\n"))?;
        }
        let addrs: Vec<Multiaddr> = all.iter().filter_map(|a| a.parse().ok()).collect();
        if !addrs.is_empty() {
            self.inner.net.send(Command::Bootstrap { addrs }).await?;
        }
        Ok(())
    }

    /// Announces this node in every circle's rendezvous record, and looks up
    /// members of circles that have too few connected (all of them when `all`).
    pub(crate) async fn discover(&self, announce: bool, all: bool) {
        let period = now_ms() / RENDEZVOUS_PERIOD_MS;
        for t in self.inner.topics.all() {
            // Not a member yet: nothing to offer, only to look for.
            if announce && !t.joining() {
                let key = t.keys.rendezvous(period).to_vec();
                let _ = self.inner.net.send(Command::Provide { key }).await;
            }
            // Proven members only: subscribers who cannot prove it must not
            // stop the look-ups for real ones.
            let connected = self.inner.members.of(&t.id()).len();
            if all || connected < WANT_MEMBERS {
                // Yesterday's too: members near midnight may not have rotated yet.
                for p in [period, period.saturating_sub(1)] {
                    let net = self.inner.net.clone();
                    let key = t.keys.rendezvous(p).to_vec();
                    tokio::spawn(async move {
                        // Providers are dialled as they are found; sync follows.
                        let _ = net.find_providers(key).await;
                    });
                }
            }
        }
    }
}
