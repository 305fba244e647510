//! What the control API offers on circles: create, join, invite, post,
//! read and follow, and the status views. The network side (validation,
//! storage of gossip) is in `service.rs`.

use std::collections::HashMap;
use std::time::Duration;

use kindred_proto::authority::Role;
use kindred_proto::envelope::{open, seal, seal_data};
use kindred_proto::topic::{EpochKeys, Keyring};
use kindred_proto::{Kind, MessageContent, MessageId, TopicId, MAX_PARENTS};
use kindred_store::MessageRecord;
use serde::Serialize;
use tokio::sync::broadcast;

use crate::service::{lock, Node};
use crate::topics::{TopicState, TopicSummary};
use crate::{now_ms, NodeError};

/// How much deeper than the next head a sealed stand-in head may be and
/// still be named by this node's messages (see `skip_implausible_heads`).
const MAX_HEAD_GAP: u64 = 4_096;

/// A message as the API shows it.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct MessageView {
    pub id: String,
    /// The author's pseudonym in this topic (hex public key).
    pub author: String,
    /// How people name the author: `~` and the pseudonym's first 12 hex digits.
    pub handle: String,
    pub author_name: Option<String>,
    pub text: String,
    /// The author's clock, clamped to no later than when this node received
    /// it (a sender cannot date a message in the future).
    pub timestamp: u64,
    pub received_at: u64,
    pub depth: u64,
    /// How many levels below the top of history it was placed on arrival
    /// (0: on time); see spec §3.4.
    #[serde(default)]
    pub late_by: u64,
    /// Handles of other members of the circle whose display name looks like
    /// this author's (the same after UTS #39 skeletons, accents, emoji,
    /// spaces and case are set aside). Empty when the name is unmistakable.
    #[serde(default)]
    pub similar_to: Vec<String>,
    pub mine: bool,
    /// "owner" or "moderator" for those who hold a role in the circle now,
    /// so nobody can pass for one; empty for members.
    #[serde(default)]
    pub role: String,
    /// Set when this is not a post but a circle action (a join, a removal,
    /// a role or rules change), shown as a plain line; `text` is empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<crate::timeline::ActionLine>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct PeerView {
    pub peer_id: String,
    pub addrs: Vec<String>,
    /// Names of our topics this peer is subscribed to.
    pub topics: Vec<String>,
    /// The peer's handles in those circles, for `kindred dm`.
    pub handles: Vec<String>,
    /// The names it goes by there, in the same order as `handles` (empty
    /// where it gave none).
    #[serde(default)]
    pub names: Vec<String>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct StatusView {
    pub peer_id: String,
    pub data_dir: String,
    pub listen: Vec<String>,
    pub api: Option<String>,
    /// `public`, `private` (behind NAT or a firewall) or `unknown`.
    pub reachability: String,
    pub peers: usize,
    pub topics: Vec<TopicSummary>,
    /// Stored records that could not be read and were set aside.
    #[serde(default)]
    pub quarantined: u64,
    pub version: String,
}

impl Node {
    /// The display name chosen with `init --name`, if any.
    pub fn default_name(&self) -> Result<Option<String>, NodeError> {
        Ok(self
            .inner
            .store
            .config("name")?
            .filter(|n| !n.trim().is_empty()))
    }

    pub(crate) fn display_name(&self, requested: Option<String>) -> Result<String, NodeError> {
        let name = match requested {
            Some(n) => n,
            None => self.inner.store.config("name")?.unwrap_or_default(),
        };
        let name = name.trim().to_string();
        if name.is_empty() {
            return Ok("anonymous".into());
        }
        kindred_proto::text::check_name(&name, kindred_proto::MAX_NAME_BYTES)
            .map_err(|e| NodeError::BadInput(format!("this display name cannot be used: {e}")))?;
        refuse_role_claim(&name)?;
        Ok(name)
    }

    /// Posts text to a topic. Returns once the message is on disk.
    pub async fn post(&self, topic: &str, text: &str) -> Result<MessageView, NodeError> {
        let state = self.inner.topics.resolve(topic)?;
        if text.trim().is_empty() {
            return Err(NodeError::BadInput("message text is empty".into()));
        }
        crate::error::check_length(
            "this post",
            text,
            kindred_proto::MAX_TEXT_BYTES,
            "split it into two or more posts",
        )?;
        let record = self.publish(&state, Kind::Post, text.to_string()).await?;
        // One's own post, never blocked.
        self.view(
            &state,
            &record,
            &Default::default(),
            &self.look_alikes(&state),
        )
        .ok_or_else(|| NodeError::BadInput("own post could not be shown".into()))
    }

    /// Seals under the current epoch, stores (durably) and then publishes
    /// one message. Refused when this node is not (or no longer) a member.
    pub(crate) async fn publish(
        &self,
        t: &TopicState,
        kind: Kind,
        body: String,
    ) -> Result<MessageRecord, NodeError> {
        if t.auth.role(&t.me.public_key()).is_err() {
            return Err(self.not_in_circle(t));
        }
        let epoch = t.auth.current().ok_or_else(|| self.not_in_circle(t))?;
        self.publish_sealed(t, &epoch, kind, body, &[]).await
    }

    /// Publishes a binary body (an authority op) under a given epoch.
    pub(crate) async fn publish_data(
        &self,
        t: &TopicState,
        epoch: &EpochKeys,
        kind: Kind,
        data: &[u8],
    ) -> Result<MessageRecord, NodeError> {
        self.publish_sealed(t, epoch, kind, String::new(), data)
            .await
    }

    /// A sealed stand-in's depth is only what its envelope says: a
    /// locator holder can make one up far past the rest of history. Naming
    /// it would carry this node's messages (and everyone's after them) to
    /// the ceiling, where order falls back to ids. So stand-in heads far
    /// deeper than the deepest head this node could open are left unnamed
    /// (honest concurrent heads are a few apart).
    fn skip_implausible_heads(
        &self,
        tid: &TopicId,
        heads: &mut Vec<(u64, MessageId)>,
    ) -> Result<(), NodeError> {
        // Deepest first: the heads before the deepest one this node can
        // open are all stand-ins, and only they can be deeper than it.
        let mut sealed = 0;
        for (_, id) in heads.iter() {
            let r = self.inner.store.get(tid, id)?;
            if r.is_none_or(|r| r.kind != kindred_store::OPAQUE_KIND) {
                break;
            }
            sealed += 1;
        }
        // Nothing this node can open: nothing to judge by.
        let Some(&(anchor, _)) = heads.get(sealed) else {
            return Ok(());
        };
        heads.retain(|(d, _)| *d <= anchor + MAX_HEAD_GAP);
        Ok(())
    }

    async fn publish_sealed(
        &self,
        t: &TopicState,
        epoch: &EpochKeys,
        kind: Kind,
        body: String,
        data: &[u8],
    ) -> Result<MessageRecord, NodeError> {
        let tid = t.id();
        // Deepest first, so the depth follows from the first.
        let mut heads = self.inner.store.heads(&tid)?;
        self.skip_implausible_heads(&tid, &mut heads)?;
        let depth = kindred_proto::envelope::child_depth(heads.first().map(|(d, _)| *d));
        let parents: Vec<MessageId> = heads
            .into_iter()
            .take(MAX_PARENTS)
            .map(|(_, id)| id)
            .collect();
        let content = MessageContent {
            kind,
            body,
            parents,
            timestamp: now_ms(),
            depth,
        };
        let (_, envelope) = if kind.is_binary() {
            seal_data(&t.keys, epoch, &t.me, &content, data)?
        } else {
            seal(&t.keys, epoch, &t.me, &content)?
        };
        let opened = open(&t.keys, &Keyring::single(epoch.clone()), &envelope)
            .map_err(|e| NodeError::BadInput(format!("own message failed to verify: {e}")))?;
        let record = MessageRecord::from_opened(&opened, &envelope, now_ms());
        let inserted = self.inner.store.insert(&tid, record)?;
        let _ = self.inner.updates.send(tid);
        let stored = inserted.stored.into_iter().next().ok_or_else(|| {
            NodeError::BadInput("own message could not be placed in history".into())
        })?;
        // Durable first, then out to the circle: a post the caller is told
        // failed was never sent (one flush serves every writer waiting, so
        // this costs a burst about one fsync).
        self.inner.store.flush().await?;
        match self
            .inner
            .net
            .publish(t.keys.gossip_topic.clone(), envelope)
            .await
        {
            Ok(kindred_net::PublishOutcome::Sent) => {}
            Ok(kindred_net::PublishOutcome::NoPeers) => {
                tracing::debug!("no members connected; the message will travel by sync")
            }
            Err(e) => tracing::warn!("publish failed, the message will travel by sync: {e}"),
        }
        Ok(stored)
    }

    /// For each author in the circle, the handles of the others whose
    /// display name looks like theirs (`text::name_likeness`): a name cannot
    /// be borrowed unnoticed.
    /// Whose name looks like whose, the same on every node (spec/threat-
    /// model.md): people in the order they came in, each with the name they
    /// joined with (signed, so every node knows it) and their newest; the
    /// one who came first keeps a name, later look-alikes are flagged with
    /// the handles they look like. A name that claims a role it does not
    /// have, or a handle, is flagged with what it claims.
    pub(crate) fn look_alikes(
        &self,
        t: &TopicState,
    ) -> HashMap<kindred_proto::PublicKey, Vec<String>> {
        use kindred_proto::authority::{Role, Standing};
        let current = self.inner.store.names(&t.id()).unwrap_or_default();
        let state = t.auth.state();
        let mut people: Vec<_> = state.people.iter().collect();
        people.sort_by_key(|(k, p)| (p.since_ts, p.since, **k));
        let names: Vec<Vec<String>> = people
            .iter()
            .map(|(k, p)| {
                let mut n = vec![p.name.clone()];
                n.extend(
                    current
                        .iter()
                        .filter(|(a, _)| a == *k)
                        .map(|(_, x)| x.clone()),
                );
                n
            })
            .collect();
        let mut out: HashMap<kindred_proto::PublicKey, Vec<String>> = HashMap::new();
        for (i, earlier) in kindred_proto::text::later_look_alikes(&names) {
            out.entry(*people[i].0).or_default().extend(
                earlier
                    .into_iter()
                    .map(|j| crate::peers::handle(people[j].0)),
            );
        }
        for ((k, p), names) in people.iter().zip(&names) {
            let role = match p.standing {
                Standing::Member(r) => Some(r),
                _ => None,
            };
            for claim in names
                .iter()
                .filter_map(|n| kindred_proto::text::claims_role(n))
            {
                let true_claim = match claim {
                    "the owner" => role == Some(Role::Owner),
                    "a moderator" => role >= Some(Role::Moderator),
                    _ => false,
                };
                let list = out.entry(**k).or_default();
                if !true_claim && !list.iter().any(|c| c == claim) {
                    list.push(claim.to_string());
                }
            }
        }
        out.retain(|_, v| !v.is_empty());
        out
    }

    /// How a member is named in a circle: their newest profile, else the
    /// name they joined with (in the circle's authority; a profile made
    /// before this node joined cannot be read).
    pub(crate) fn name_in(
        &self,
        t: &TopicState,
        author: &kindred_proto::PublicKey,
    ) -> Option<String> {
        self.inner
            .store
            .author_name(&t.id(), author)
            .ok()
            .flatten()
            .or_else(|| {
                t.auth
                    .with(|c| c.state().people.get(author).map(|p| p.name.clone()))
            })
    }

    /// How the timeline shows a stored message: a post by someone not
    /// blocked, or a circle action people see; `None` for anything else.
    fn view(
        &self,
        t: &TopicState,
        m: &MessageRecord,
        blocked: &std::collections::HashSet<kindred_proto::PublicKey>,
        look_alikes: &HashMap<kindred_proto::PublicKey, Vec<String>>,
    ) -> Option<MessageView> {
        let author = m.author();
        let action = match m.kind() {
            Kind::Post if !blocked.contains(&author) => None,
            Kind::Authority => Some(self.action_line(t, m)?),
            _ => return None,
        };
        Some(MessageView {
            action,
            similar_to: look_alikes.get(&author).cloned().unwrap_or_default(),
            id: m.id().to_hex(),
            author_name: self.name_in(t, &author),
            author: author.to_hex(),
            handle: crate::peers::handle(&author),
            text: m.body.clone(),
            timestamp: m.timestamp.min(m.received_at),
            received_at: m.received_at,
            depth: m.depth,
            late_by: m.late_by,
            mine: author == t.me.public_key(),
            role: match t.auth.role(&author) {
                Ok(r @ (Role::Owner | Role::Moderator)) => r.name().to_string(),
                _ => String::new(),
            },
        })
    }

    /// The newest `limit` posts in history order, and a cursor for [`Node::follow`].
    pub fn messages(
        &self,
        topic: &str,
        limit: usize,
    ) -> Result<(Vec<MessageView>, u64), NodeError> {
        let t = self.inner.topics.resolve(topic)?;
        let cursor = self.inner.store.last_arrival(&t.id())?;
        let blocked = self.blocked_authors(&t)?;
        let look_alikes = self.look_alikes(&t);
        let shown = self.inner.store.latest_where(&t.id(), limit, |m| {
            self.view(&t, &m, &blocked, &look_alikes)
        })?;
        Ok((shown, cursor))
    }

    /// Pseudonyms in this circle of people you blocked: their contact card
    /// ties the pseudonym to the node you blocked, so `kindred block` also
    /// hides their posts here (they are kept, and show again on unblock).
    fn blocked_authors(
        &self,
        t: &TopicState,
    ) -> Result<std::collections::HashSet<kindred_proto::PublicKey>, NodeError> {
        let mut out = std::collections::HashSet::new();
        for (author, code) in self.inner.store.cards(&t.id())? {
            let Ok(c) = kindred_proto::dm::Contact::parse(&code) else {
                continue;
            };
            let Some(peer) = crate::peers::peer_of(&c.identity) else {
                continue;
            };
            if self.inner.store.contact(&peer.to_bytes())?.consent
                == kindred_store::Consent::Blocked
            {
                out.insert(author);
            }
        }
        Ok(out)
    }

    /// What arrived after `cursor`, waiting up to `wait` for something:
    /// the posts and action lines to show, and whether anything changed
    /// who is in the circle or what they are called (an action, a new
    /// name), so a view of its people can refresh.
    pub async fn follow(
        &self,
        topic: &str,
        cursor: u64,
        wait: Duration,
    ) -> Result<(Vec<MessageView>, u64, bool), NodeError> {
        let t = self.inner.topics.resolve(topic)?;
        let mut updates = self.inner.updates.subscribe();
        let deadline = tokio::time::Instant::now() + wait;
        let mut cursor = cursor;
        loop {
            let batch = self.inner.store.arrivals_after(&t.id(), cursor, 1000)?;
            if let Some((last, _)) = batch.last() {
                cursor = *last;
            }
            let blocked = self.blocked_authors(&t)?;
            let look_alikes = self.look_alikes(&t);
            let posts: Vec<MessageView> = batch
                .iter()
                .filter_map(|(_, m)| self.view(&t, m, &blocked, &look_alikes))
                .collect();
            let people_changed = batch
                .iter()
                .any(|(_, m)| matches!(m.kind(), Kind::Authority | Kind::Profile));
            if !posts.is_empty() || people_changed {
                return Ok((posts, cursor, people_changed));
            }
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            if remaining.is_zero() {
                return Ok((vec![], cursor, false));
            }
            match tokio::time::timeout(remaining, updates.recv()).await {
                Err(_) => return Ok((vec![], cursor, false)),
                Ok(Err(broadcast::error::RecvError::Closed)) => return Ok((vec![], cursor, false)),
                Ok(_) => {}
            }
        }
    }

    pub async fn topics(&self) -> Result<Vec<TopicSummary>, NodeError> {
        let mut out = Vec::new();
        for t in self.inner.topics.all() {
            out.push(self.summary(&t).await?);
        }
        Ok(out)
    }

    pub(crate) async fn summary(&self, t: &TopicState) -> Result<TopicSummary, NodeError> {
        let counts = self.inner.store.counts(&t.id())?;
        let stats = self.inner.stats.get(&t.id());
        let peers = self.inner.members.of(&t.id()).len();
        let (running, fetched) = lock(&self.inner.progress)
            .get(&t.id())
            .copied()
            .unwrap_or((0, 0));
        let sync = if counts.missing > 0 {
            "gaps"
        } else if running > 0 && fetched > 0 {
            "catching-up"
        } else if peers == 0 {
            "no-peers"
        } else {
            "in-sync"
        };
        let auth = t.auth.state();
        let (actions, action_heads) = t.auth.with(|c| (c.len(), c.heads().len()));
        let role = if t.joining() {
            "waiting to be admitted".to_string()
        } else {
            auth.people
                .get(&t.me.public_key())
                .map(|p| crate::authority::standing_words(&p.standing))
                .unwrap_or_else(|| "not a member".into())
        };
        Ok(TopicSummary {
            id: t.id().to_hex(),
            name: t.name.clone(),
            rules: auth.rules.clone(),
            my_name: t.my_name(),
            role,
            epoch: auth.current_epoch().map_or(0, |e| e.number),
            keys_ok: !auth.needs_rekey() && t.auth.holds_current(),
            members: auth.members().len(),
            me: t.me.public_key().to_hex(),
            messages: counts.posts,
            other: counts.messages - counts.posts.min(counts.messages),
            pending: counts.pending,
            missing: counts.missing,
            peers,
            accepted: stats.accepted,
            rejected: stats.rejected,
            duplicates: stats.duplicates,
            sync: sync.into(),
            catching_up: if running > 0 { fetched } else { 0 },
            gap_since: counts.gap_since,
            unread: self.unread(t)?,
            last_in_touch: self.last_in_touch(t)?,
            actions,
            action_heads,
            sealed: self
                .inner
                .store
                .opaque_count(&t.id(), crate::sync::MAX_STANDINS)?,
        })
    }

    pub async fn peers(&self) -> Result<Vec<PeerView>, NodeError> {
        let mut circles: HashMap<String, (TopicId, String)> = HashMap::new();
        for t in self.inner.topics.all() {
            circles.insert(t.keys.gossip_topic.clone(), (t.id(), t.name.clone()));
        }
        let mut known = self.handles_by_peer();
        Ok(self
            .inner
            .net
            .peers()
            .await?
            .into_iter()
            .map(|p| {
                let (handles, names): (Vec<String>, Vec<String>) = known
                    .remove(&p.peer)
                    .unwrap_or_default()
                    .into_iter()
                    .unzip();
                PeerView {
                    peer_id: p.peer.to_string(),
                    addrs: p.addrs.iter().map(|a| a.to_string()).collect(),
                    // Only circles it proved it is in: a subscription alone
                    // says nothing.
                    topics: p
                        .topics
                        .iter()
                        .filter_map(|t| circles.get(t))
                        .filter(|(id, _)| self.inner.members.is_member(&p.peer, id))
                        .map(|(_, name)| name.clone())
                        .collect(),
                    handles,
                    names,
                }
            })
            .collect())
    }

    pub async fn status(&self) -> Result<StatusView, NodeError> {
        let mut listen: Vec<String> = self
            .inner
            .net
            .listen_addrs()
            .await?
            .iter()
            .map(|a| a.to_string())
            .collect();
        listen.sort();
        let api = lock(&self.inner.api_addr).map(|a| a.to_string());
        Ok(StatusView {
            peer_id: self.inner.peer_id.to_string(),
            data_dir: self.inner.store.data_dir().display().to_string(),
            listen,
            api,
            reachability: self.inner.net.reachability().await?.as_str().to_string(),
            peers: self.inner.net.peers().await?.len(),
            topics: self.topics().await?,
            quarantined: self.inner.store.quarantined(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        })
    }
}

/// A display name may not read as a role or a member's handle: the page
/// and the CLI show those beside every name, and a name must not fake them.
pub(crate) fn refuse_role_claim(name: &str) -> Result<(), NodeError> {
    match kindred_proto::text::claims_role(name) {
        Some(what) => Err(NodeError::BadInput(format!(
            "this display name cannot be used: it reads as {what}, which Kindred shows beside names itself"
        ))),
        None => Ok(()),
    }
}
