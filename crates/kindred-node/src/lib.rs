//! A running Kindred node: it validates what the network delivers, stores
//! it, keeps history in sync with other members, and serves the local
//! control API that the CLI (and later the web page) use.
//!
//! Data flows one way: network -> validate (decrypt, verify) -> store ->
//! events to the API; API command -> sign and encrypt -> store -> publish.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod api;
mod api_circle;
mod api_reader;
mod authority;
mod batch;
mod circles;
pub mod control;
mod discovery;
mod dm;
mod dm_limits;
mod dm_peers;
mod dm_views;
mod error;
mod events;
mod invites;
mod join;
mod limits;
mod membership;
mod moderation;
mod opsfetch;
mod peers;
mod ports;
mod reading;
mod reconnect;
mod service;
mod streams;
mod sync;
mod timeline;
mod topics;
mod web;
mod who;

pub use error::NodeError;
pub use join::InviteOptions;
pub use kindred_store::ConsentAction;
pub use service::{Node, NodeConfig, RunningNode, Stored, UiEvent};
pub use topics::TopicSummary;

/// The JSON shapes the API returns.
pub mod service_views {
    pub use crate::api_circle::InvitesReply;
    pub use crate::circles::{MessageView, PeerView, StatusView};
    pub use crate::dm::DmSent;
    pub use crate::dm_views::{ConversationView, DmView, InboxView};
    pub use crate::join::InvitePreview;
    pub use crate::moderation::{InviteView, MemberView, PendingView};
    pub use crate::reading::ProfileView;
    pub use crate::timeline::{ActionLine, Named};
}

/// The PeerId a node secret gives.
pub fn peer_id_of(secret: &kindred_proto::NodeSecret) -> Result<libp2p::PeerId, NodeError> {
    Ok(kindred_net::keypair_from_secret(secret.as_bytes())?
        .public()
        .to_peer_id())
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
