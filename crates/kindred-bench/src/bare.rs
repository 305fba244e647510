//! Bare gossipsub: the same transport (TCP, Noise, yamux, byte counts) and
//! gossipsub settings as Kindred, and nothing else.

use std::time::Duration;

use anyhow::Result;
use libp2p::{gossipsub, Swarm};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub fn swarm() -> Result<Swarm<gossipsub::Behaviour>> {
    Ok(libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_other_transport(kindred_net::tcp_transport)?
        .with_behaviour(|_| -> Result<gossipsub::Behaviour, BoxError> {
            let mut g = gossipsub::Behaviour::new(
                gossipsub::MessageAuthenticity::Anonymous,
                kindred_net::gossipsub_config()?,
            )?;
            let (params, thresholds) = kindred_net::peer_score();
            g.with_peer_score(params, thresholds)?;
            Ok(g)
        })?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build())
}
