//! Keeping the same listening ports across restarts.
//!
//! With OS-chosen ports, two members that both restart would each remember
//! the other's old port and never meet again. So for every listen address
//! with port 0 the node remembers the port it got and asks for it next
//! time, falling back to any port if it is taken.

use kindred_net::Multiaddr;
use kindred_store::Store;
use libp2p::multiaddr::Protocol;

fn key(pattern: &Multiaddr) -> String {
    format!("listen-port {pattern}")
}

fn port_of(addr: &Multiaddr) -> Option<u16> {
    addr.iter().find_map(|p| match p {
        Protocol::Tcp(p) | Protocol::Udp(p) => Some(p),
        _ => None,
    })
}

fn with_port(addr: &Multiaddr, port: u16) -> Multiaddr {
    addr.iter()
        .map(|p| match p {
            Protocol::Tcp(_) => Protocol::Tcp(port),
            Protocol::Udp(_) => Protocol::Udp(port),
            other => other,
        })
        .collect()
}

/// Whether `bound` is an address the OS gave us for listen `pattern`:
/// same protocols, same IP unless the pattern's is unspecified.
fn matches(pattern: &Multiaddr, bound: &Multiaddr) -> bool {
    let (p, b): (Vec<_>, Vec<_>) = (pattern.iter().collect(), bound.iter().collect());
    p.len() == b.len()
        && p.iter().zip(&b).all(|(p, b)| match (p, b) {
            (Protocol::Ip4(x), Protocol::Ip4(y)) => x.is_unspecified() || x == y,
            (Protocol::Ip6(x), Protocol::Ip6(y)) => x.is_unspecified() || x == y,
            (Protocol::Tcp(_), Protocol::Tcp(_)) | (Protocol::Udp(_), Protocol::Udp(_)) => true,
            (x, y) => std::mem::discriminant(x) == std::mem::discriminant(y),
        })
}

/// The addresses to listen on, with remembered ports filled in, and for each
/// filled-in one the original to fall back to.
pub fn apply(
    store: &Store,
    patterns: &[Multiaddr],
) -> (Vec<Multiaddr>, Vec<(Multiaddr, Multiaddr)>) {
    let mut listen = Vec::new();
    let mut fallback = Vec::new();
    for pattern in patterns {
        let remembered = (port_of(pattern) == Some(0))
            .then(|| store.config(&key(pattern)).ok().flatten())
            .flatten()
            .and_then(|p| p.parse::<u16>().ok());
        match remembered {
            Some(port) => {
                let addr = with_port(pattern, port);
                fallback.push((addr.clone(), pattern.clone()));
                listen.push(addr);
            }
            None => listen.push(pattern.clone()),
        }
    }
    (listen, fallback)
}

/// Records the port of a new listening address against the pattern it came
/// from. Returns whether anything changed (the caller flushes, so a node
/// killed right after start still finds its ports again).
pub fn remember(store: &Store, patterns: &[Multiaddr], bound: &Multiaddr) -> bool {
    let Some(port) = port_of(bound) else {
        return false;
    };
    let mut changed = false;
    for pattern in patterns.iter().filter(|p| port_of(p) == Some(0)) {
        if !matches(pattern, bound) {
            continue;
        }
        let k = key(pattern);
        if store.config(&k).ok().flatten() == Some(port.to_string()) {
            continue;
        }
        match store.set_config(&k, &port.to_string()) {
            Ok(()) => changed = true,
            Err(e) => tracing::warn!("could not remember listening port: {e}"),
        }
    }
    changed
}
