//! What the page needs to be honest with a reader: which posts they have
//! not seen yet, when a circle was last in touch with any of its members
//! (so "you may have missed messages since 14:02" is true), and the
//! person's own profile (the name they chose at first start).

use crate::topics::TopicState;
use crate::{Node, NodeError};
use kindred_proto::Kind;
use serde::{Deserialize, Serialize};

/// Unread counts stop here; the page says "99+" long before.
const MAX_UNREAD_COUNTED: usize = 1000;

fn seen_key(t: &TopicState) -> String {
    format!("seen/{}", t.id().to_hex())
}

fn touch_key(t: &TopicState) -> String {
    format!("touch/{}", t.id().to_hex())
}

/// The person behind this node, as the page shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProfileView {
    /// The name new circles get unless another is given.
    pub name: String,
    /// Whether the first-start page was gone through (or skipped).
    pub welcomed: bool,
}

impl Node {
    /// Posts by others that arrived after the reader's mark, counted up to
    /// [`MAX_UNREAD_COUNTED`].
    pub(crate) fn unread(&self, t: &TopicState) -> Result<u64, NodeError> {
        let seen = self.seen_mark(t)?;
        let me = t.me.public_key();
        Ok(self
            .inner
            .store
            .arrivals_after(&t.id(), seen, MAX_UNREAD_COUNTED)?
            .iter()
            .filter(|(_, m)| m.kind() == Kind::Post && m.author() != me)
            .count() as u64)
    }

    fn seen_mark(&self, t: &TopicState) -> Result<u64, NodeError> {
        Ok(self
            .inner
            .store
            .config(&seen_key(t))?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    /// The reader has seen everything up to `cursor` (a `messages` or
    /// `follow` cursor). A mark never moves back.
    pub async fn mark_seen(&self, topic: &str, cursor: u64) -> Result<(), NodeError> {
        let t = self.inner.topics.resolve(topic)?;
        let last = self.inner.store.last_arrival(&t.id())?;
        let mark = cursor.min(last).max(self.seen_mark(&t)?);
        self.inner
            .store
            .set_config(&seen_key(&t), &mark.to_string())?;
        self.inner.store.flush().await?;
        Ok(())
    }

    /// When a member of the circle was last connected: now while one is,
    /// else the last time the node saw one (kept across restarts).
    pub(crate) fn last_in_touch(&self, t: &TopicState) -> Result<Option<u64>, NodeError> {
        if !self.inner.members.of(&t.id()).is_empty() {
            return Ok(Some(crate::now_ms()));
        }
        let kept: Option<u64> = self
            .inner
            .store
            .config(&touch_key(t))?
            .and_then(|v| v.parse().ok());
        Ok(kept.max(self.inner.members.last_left(&t.id())))
    }

    /// Notes, for every circle with a member connected, that it is in
    /// touch now (called on the sync tick, so the mark is at most one tick
    /// old when the last member goes).
    pub(crate) fn note_in_touch(&self) {
        let now = crate::now_ms().to_string();
        for t in self.inner.topics.all() {
            if !self.inner.members.of(&t.id()).is_empty() {
                if let Err(e) = self.inner.store.set_config(&touch_key(&t), &now) {
                    tracing::warn!("could not note when a circle was last in touch: {e}");
                }
            }
        }
    }

    pub fn profile(&self) -> Result<ProfileView, NodeError> {
        Ok(ProfileView {
            name: self.default_name()?.unwrap_or_default(),
            welcomed: self.inner.store.config("welcomed")?.is_some(),
        })
    }

    /// Sets the default name (checked as every display name is) and/or
    /// notes that the first-start page was gone through.
    pub async fn set_profile(
        &self,
        name: Option<&str>,
        welcomed: bool,
    ) -> Result<ProfileView, NodeError> {
        if let Some(n) = name {
            let n = n.trim();
            kindred_proto::text::check_name(n, kindred_proto::MAX_NAME_BYTES)
                .map_err(|e| NodeError::BadInput(format!("this name cannot be used: {e}")))?;
            crate::circles::refuse_role_claim(n)?;
            self.inner.store.set_config("name", n)?;
        }
        if welcomed {
            self.inner.store.set_config("welcomed", "1")?;
        }
        self.inner.store.flush().await?;
        self.profile()
    }
}
