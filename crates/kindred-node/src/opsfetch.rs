//! Fetching circle actions by id (`/kindred/ops/1`). After a partition a
//! member may hold an action whose parents travelled under a key it never
//! held (it was removed on that side, and the removal was voided): it asks
//! members for them. Only a member of the answerer's circle is answered.

use std::time::Duration;

use futures::AsyncWriteExt;
use kindred_net::{PeerId, StreamProtocol};
use kindred_proto::authority::join::{
    decode_ops, encode_ops, OpsRequest, MAX_OPS_REQUEST_BYTES, OPS_PROTOCOL,
};
use kindred_proto::authority::Op;

use crate::join::{read_value, write_value};
use crate::service::Node;
use crate::topics::TopicState;
use crate::NodeError;

const TIMEOUT: Duration = Duration::from_secs(10);
/// Requests one peer may make us answer per minute.
const PER_MINUTE: u32 = 60;
const MAX_INBOUND: usize = 8;
/// Members asked per round.
const ASK: usize = 3;

fn protocol() -> StreamProtocol {
    StreamProtocol::new(OPS_PROTOCOL)
}

impl Node {
    pub(crate) fn start_ops(
        &self,
        shutdown: tokio::sync::broadcast::Receiver<()>,
    ) -> Result<tokio::task::JoinHandle<()>, NodeError> {
        let limits = crate::streams::Inbound {
            max: MAX_INBOUND,
            per_minute: Some(PER_MINUTE),
            timeout: TIMEOUT,
        };
        self.serve_streams(
            protocol(),
            limits,
            shutdown,
            |n, peer, mut stream| async move {
                let request = read_value(&mut stream, MAX_OPS_REQUEST_BYTES).await?;
                let answer = n.answer_ops(peer, &request);
                write_value(&mut stream, &answer).await?;
                stream.close().await
            },
        )
    }

    fn answer_ops(&self, peer: PeerId, bytes: &[u8]) -> Vec<u8> {
        let Ok(r) = OpsRequest::decode(bytes) else {
            return encode_ops(&[]);
        };
        if !r.verify(&peer.to_bytes(), &self.inner.peer_id.to_bytes()) {
            return encode_ops(&[]);
        }
        let Some(t) = self
            .inner
            .topics
            .all()
            .into_iter()
            .find(|t| !t.joining() && t.auth.circle_id() == r.circle)
        else {
            return encode_ops(&[]);
        };
        let ops: Vec<Vec<u8>> = t.auth.with(|c| {
            if c.state().role(&r.member).is_err() {
                return Vec::new();
            }
            let mut out: Vec<Vec<u8>> = r
                .want
                .iter()
                .filter_map(|id| c.get(id).map(|o| o.encoded().to_vec()))
                .collect();
            let limit = kindred_proto::authority::join::MAX_OPS_ANSWER.saturating_sub(out.len());
            out.extend(
                c.ops_beyond(&r.heads, limit)
                    .into_iter()
                    .map(|o| o.encoded().to_vec()),
            );
            out
        });
        encode_ops(&ops)
    }

    /// Compares circle actions with a few members: asks for the missing
    /// parents it knows of, and for whatever lies beyond its heads (an
    /// action sealed under a key this node does not hold reaches it so).
    pub(crate) async fn fetch_missing_ops(&self, t: &TopicState) {
        let mut peers = self.inner.members.of(&t.id());
        crate::service::shuffle(&mut peers);
        for peer in peers.into_iter().take(ASK) {
            let (missing, heads) = t.auth.with(|c| (c.missing(), c.heads()));
            let request = OpsRequest::sign(
                t.auth.circle_id(),
                &t.me,
                missing,
                heads,
                &self.inner.peer_id.to_bytes(),
                &peer.to_bytes(),
            );
            let mut control = self.inner.net.streams();
            let exchange = async {
                let mut s = control
                    .open_stream(peer, protocol())
                    .await
                    .map_err(std::io::Error::other)?;
                write_value(&mut s, &request.encode()).await?;
                let answer =
                    read_value(&mut s, kindred_proto::authority::join::MAX_JOIN_REPLY_BYTES).await;
                let _ = s.close().await;
                answer
            };
            let Ok(Ok(bytes)) = tokio::time::timeout(TIMEOUT, exchange).await else {
                continue;
            };
            let ops: Vec<Op> = decode_ops(&bytes)
                .unwrap_or_default()
                .iter()
                .filter_map(|b| Op::decode(b).ok())
                .collect();
            if !ops.is_empty() {
                if let Err(e) = self.take_ops(t, ops) {
                    tracing::warn!("could not keep fetched circle actions: {e}");
                }
            }
        }
    }
}
