//! History sync: compare heads with a member, then fetch what is missing
//! in bounded pages until both histories hold the same messages.

use kindred_net::PeerId;
use kindred_proto::sync::{self, ids_from_wire, ids_to_wire, SyncRequest, SyncResponse};
use kindred_proto::{MessageId, TopicId};
use serde_bytes::ByteBuf;

use crate::service::{Node, Opened};
use crate::NodeError;

/// A peer that keeps answering without progress is not worth more rounds.
const MAX_ROUNDS: usize = 10_000;
/// Sync requests one peer may make us answer per window: a catch-up of
/// 32k messages at full speed (64 pages), and each answer reads the store.
pub(crate) const ANSWERS_PER_WINDOW: u32 = 64;
pub(crate) const ANSWER_WINDOW: std::time::Duration = std::time::Duration::from_secs(10);
/// Most opaque stand-ins one circle holds (spec §5).
pub(crate) const MAX_STANDINS: usize = 1_024;
/// Most stand-ins one peer may bring in a window, over all circles: an
/// honest newcomer needs a few (the heads its first readable posts stand
/// on), a peer claiming made-up heads is kept from filling the cap alone.
pub(crate) const MAX_STANDINS_PER_PEER: u32 = 256;
pub(crate) const STANDIN_WINDOW: std::time::Duration = std::time::Duration::from_secs(600);

impl Node {
    /// Starts a sync with `peer` for `topic` unless one is running; if one
    /// is, asks it to go round once more when it finishes.
    pub(crate) fn spawn_sync(&self, peer: PeerId, topic: TopicId) {
        {
            let mut running = self.inner.syncing.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(again) = running.get_mut(&(peer, topic)) {
                *again = true;
                return;
            }
            running.insert((peer, topic), false);
        }
        let node = self.clone();
        tokio::spawn(async move {
            loop {
                node.progress(topic, |p| p.0 += 1);
                let result = node.sync_with(peer, topic).await;
                node.progress(topic, |p| {
                    p.0 = p.0.saturating_sub(1);
                    if p.0 == 0 {
                        p.1 = 0;
                    }
                });
                match result {
                    Ok(n) if n > 0 => tracing::info!(%peer, new = n, "synced history"),
                    Ok(_) => {}
                    Err(e) => tracing::debug!(%peer, "sync failed: {e}"),
                }
                let mut running = node.inner.syncing.lock().unwrap_or_else(|p| p.into_inner());
                match running.get_mut(&(peer, topic)) {
                    Some(again) if *again => *again = false,
                    _ => {
                        running.remove(&(peer, topic));
                        break;
                    }
                }
            }
        });
    }

    fn progress(&self, topic: TopicId, f: impl FnOnce(&mut (usize, u64))) {
        let mut map = self
            .inner
            .progress
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        f(map.entry(topic).or_default());
    }

    async fn ask(&self, peer: PeerId, request: &SyncRequest) -> Result<SyncResponse, NodeError> {
        let bytes = self.inner.net.sync(peer, request.encode()).await?;
        SyncResponse::decode(&bytes)
            .map_err(|e| NodeError::BadInput(format!("peer {peer} sent a bad sync response: {e}")))
    }

    /// One full sync with a peer. Returns how many new messages it brought.
    async fn sync_with(&self, peer: PeerId, topic: TopicId) -> Result<usize, NodeError> {
        let Some(t) = self.inner.topics.get(&topic) else {
            return Ok(0);
        };
        let tag = ByteBuf::from(
            t.keys
                .sync_tag(&self.inner.peer_id.to_bytes(), &peer.to_bytes())
                .to_vec(),
        );
        let heads = match self
            .ask(peer, &SyncRequest::Heads { tag: tag.clone() })
            .await?
        {
            SyncResponse::Heads { heads } => ids_from_wire(&heads),
            _ => return Ok(0),
        };
        let store = self.store();
        let heads: Vec<MessageId> = heads.into_iter().take(sync::MAX_IDS).collect();
        let mut new = 0;
        for _ in 0..MAX_ROUNDS {
            // The peer's heads until we have them (a long catch-up comes
            // oldest first, page by page), then the gaps we know of.
            let mut want: Vec<MessageId> = Vec::new();
            for h in &heads {
                if !store.contains(&topic, h)? {
                    want.push(*h);
                }
            }
            for m in store.missing(&topic, sync::MAX_IDS)? {
                if want.len() < sync::MAX_IDS && !want.contains(&m) {
                    want.push(m);
                }
            }
            if want.is_empty() {
                break;
            }
            let request = SyncRequest::Fetch {
                tag: tag.clone(),
                want: ids_to_wire(&want),
                have: ids_to_wire(&store.have_sample(&topic, sync::MAX_IDS)?),
            };
            let envelopes = match self.ask(peer, &request).await? {
                SyncResponse::Messages { envelopes } => envelopes.0,
                _ => break,
            };
            let arrived = std::time::Instant::now();
            let envelopes: Vec<Vec<u8>> = envelopes
                .into_iter()
                .take(sync::MAX_PAGE_MESSAGES)
                .map(|e| e.into_vec())
                .collect();
            let (batch, invalid) = self.open_page(&t, peer, envelopes, &want, arrived);
            // What was valid is kept even from a peer that also served junk.
            let progress = self
                .store_opened(&t, batch)?
                .into_iter()
                .filter(|new| *new)
                .count();
            if let Some(e) = invalid {
                return Err(NodeError::BadInput(format!(
                    "peer {peer} served an invalid message: {e}"
                )));
            }
            new += progress;
            self.progress(topic, |p| p.1 += progress as u64);
            if progress == 0 {
                // The peer has nothing more we lack (or will not give it).
                break;
            }
        }
        if new > 0 {
            store.flush().await?;
        }
        Ok(new)
    }

    /// Opens a page of envelopes. Circle actions are taken in as they come,
    /// and what an action's new key opens is opened in a second pass (a
    /// catch-up page often holds a rekey and the posts under it). What is
    /// still under an unknown key is kept as an opaque stand-in if it was
    /// asked for (history names it: an epoch from before this node joined),
    /// and otherwise left for a later sync; it is not the peer's fault. So
    /// is a message asked for whose author this node does not allow (a
    /// member on the other side of a partition took it in before it knew of
    /// the author's removal): never shown, but no permanent gap either.
    /// Stand-ins are capped per circle and per peer that sent them.
    fn open_page(
        &self,
        t: &crate::topics::TopicState,
        peer: PeerId,
        envelopes: Vec<Vec<u8>>,
        want: &[MessageId],
        arrived: std::time::Instant,
    ) -> (Vec<Opened>, Option<kindred_proto::OpenError>) {
        use kindred_proto::OpenError;
        let tid = t.id();
        let mut batch = Vec::with_capacity(envelopes.len());
        let mut invalid = None;
        let mut refused = Vec::new();
        let mut rest = envelopes;
        for pass in 0..2 {
            let ring = t.auth.ring();
            let page: Vec<crate::batch::Sealed<'_>> = rest
                .iter()
                .map(|e| (&t.keys, &*ring, e.as_slice()))
                .collect();
            let opened = crate::batch::open_all(&page);
            let mut unknown = Vec::new();
            let mut took_ops = false;
            for (env, msg) in rest.into_iter().zip(opened) {
                match msg {
                    Ok(msg) => {
                        took_ops |= msg.content.kind == kindred_proto::Kind::Authority;
                        if self.authorised(t, &msg) {
                            batch.push(Opened {
                                msg,
                                envelope: env,
                                from: None,
                                arrived,
                            });
                        } else if want.contains(&msg.id) {
                            // Another member took it in when its author
                            // was still allowed there, and history names
                            // it: a hidden stand-in keeps the DAG whole.
                            refused.push(env);
                        }
                    }
                    Err(OpenError::UnknownEpoch(_)) => unknown.push(env),
                    Err(e) => {
                        self.inner.stats.bump(&t.id(), |s| s.rejected += 1);
                        invalid.get_or_insert(e);
                    }
                }
            }
            rest = unknown;
            if rest.is_empty() || (pass == 0 && !took_ops) {
                break;
            }
        }
        let now = crate::now_ms();
        let held = self
            .inner
            .store
            .opaque_count(&tid, MAX_STANDINS)
            .unwrap_or(MAX_STANDINS);
        let room = MAX_STANDINS.saturating_sub(held);
        let candidates: Vec<(MessageId, &Vec<u8>)> = rest
            .iter()
            .map(|e| (kindred_proto::envelope::message_id(e), e))
            .filter(|(id, _)| want.contains(id))
            .chain(
                refused
                    .iter()
                    .map(|e| (kindred_proto::envelope::message_id(e), e)),
            )
            .take(room)
            .collect();
        let granted = match candidates.len() {
            0 => 0,
            n => self.inner.standins.take(peer, n as u32) as usize,
        };
        let opaque: Vec<kindred_store::MessageRecord> = candidates
            .into_iter()
            .take(granted)
            .map(|(id, e)| kindred_store::MessageRecord::opaque(id, e, now))
            .collect();
        if !opaque.is_empty() {
            if let Err(e) = self.inner.store.insert_opaque(&tid, opaque) {
                tracing::warn!("could not keep unreadable history: {e}");
            }
        }
        (batch, invalid)
    }

    /// Answers a sync request from `peer`. Any malformed request gets a
    /// `Refused` answer; nothing in it can stop the node.
    pub(crate) fn answer_sync(&self, peer: PeerId, request: &[u8]) -> Vec<u8> {
        if !self.inner.sync_answers.allow(peer) {
            return SyncResponse::Refused {
                reason: "too many sync requests; try again in a few seconds".into(),
            }
            .encode();
        }
        let response = match SyncRequest::decode(request) {
            Err(e) => SyncResponse::Refused {
                reason: e.to_string(),
            },
            Ok(req) => self
                .answer(peer, &req)
                .unwrap_or_else(|e| SyncResponse::Refused {
                    reason: if e.is_client_error() {
                        e.to_string()
                    } else {
                        "internal error".into()
                    },
                }),
        };
        response.encode()
    }

    fn answer(&self, peer: PeerId, req: &SyncRequest) -> Result<SyncResponse, NodeError> {
        let me = self.inner.peer_id.to_bytes();
        let them = peer.to_bytes();
        let Some(t) = self
            .inner
            .topics
            .all()
            .into_iter()
            .find(|t| t.keys.sync_tag(&them, &me).as_slice() == req.tag())
        else {
            return Ok(SyncResponse::UnknownTopic);
        };
        let store = self.store();
        Ok(match req {
            SyncRequest::Heads { .. } => {
                let heads: Vec<MessageId> = store
                    .heads(&t.id())?
                    .into_iter()
                    .take(sync::MAX_IDS)
                    .map(|(_, id)| id)
                    .collect();
                SyncResponse::Heads {
                    heads: ids_to_wire(&heads),
                }
            }
            SyncRequest::Fetch { want, have, .. } => {
                // Counts and id lengths were enforced while decoding.
                let (want, have) = (ids_from_wire(want), ids_from_wire(have));
                let page = store.sync_page(
                    &t.id(),
                    &want,
                    &have,
                    sync::MAX_PAGE_MESSAGES,
                    sync::PAGE_BYTES,
                )?;
                SyncResponse::Messages {
                    envelopes: page
                        .into_iter()
                        .take(sync::MAX_PAGE_MESSAGES)
                        .map(ByteBuf::from)
                        .collect::<Vec<_>>()
                        .into(),
                }
            }
        })
    }
}
