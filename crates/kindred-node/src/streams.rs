//! Serving one raw-stream protocol (membership challenges, join sessions,
//! fetching circle actions): accept until the node stops, at most so many
//! at once (more are dropped), optionally so many per peer per minute, and
//! each within a deadline.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kindred_net::{PeerId, StreamProtocol};

use crate::service::Node;
use crate::NodeError;

pub(crate) struct Inbound {
    /// Streams served at once.
    pub max: usize,
    /// Streams one peer may open per minute (`None`: no limit here).
    pub per_minute: Option<u32>,
    pub timeout: Duration,
}

impl Node {
    pub(crate) fn serve_streams<F, Fut>(
        &self,
        protocol: StreamProtocol,
        limits: Inbound,
        mut shutdown: tokio::sync::broadcast::Receiver<()>,
        serve: F,
    ) -> Result<tokio::task::JoinHandle<()>, NodeError>
    where
        F: Fn(Node, PeerId, libp2p::Stream) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::io::Result<()>> + Send + 'static,
    {
        let name = protocol.to_string();
        let mut incoming = self
            .inner
            .net
            .streams()
            .accept(protocol)
            .map_err(|_| NodeError::BadInput(format!("{name} is already registered")))?;
        let node = self.clone();
        let slots = Arc::new(tokio::sync::Semaphore::new(limits.max));
        let rate = limits
            .per_minute
            .map(|n| crate::limits::PeerRate::new(n, Duration::from_secs(60)));
        let serve = Arc::new(serve);
        Ok(tokio::spawn(async move {
            loop {
                let (peer, stream) = tokio::select! {
                    next = incoming.next() => match next {
                        Some(s) => s,
                        None => break,
                    },
                    _ = shutdown.recv() => break,
                };
                if rate.as_ref().is_some_and(|r| !r.allow(peer)) {
                    continue;
                }
                let Ok(permit) = slots.clone().try_acquire_owned() else {
                    continue;
                };
                let (n, serve) = (node.clone(), serve.clone());
                let timeout = limits.timeout;
                let name = name.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(timeout, serve(n, peer, stream)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => tracing::debug!(%peer, "{name}: {e}"),
                        Err(_) => tracing::debug!(%peer, "{name} timed out"),
                    }
                    drop(permit);
                });
            }
        }))
    }
}
