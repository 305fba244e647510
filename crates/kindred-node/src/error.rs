use kindred_proto::{InviteError, SealError};

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Store(#[from] kindred_store::StoreError),
    #[error(transparent)]
    Net(#[from] kindred_net::NetError),
    #[error("{0}")]
    Invite(#[from] InviteError),
    #[error("{0}")]
    Seal(#[from] SealError),
    #[error("no topic matches \"{0}\"; `kindred topics` lists yours")]
    UnknownTopic(String),
    #[error("\"{query}\" matches several topics ({}); give more of the id", .matches.join(", "))]
    AmbiguousTopic { query: String, matches: Vec<String> },
    #[error("{0}")]
    BadInput(String),
    #[error("random number generator failed: {0}")]
    Random(#[from] kindred_proto::RandomError),
}

impl NodeError {
    /// Whether the caller's input was at fault (as opposed to the node).
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            NodeError::Invite(_)
                | NodeError::Seal(_)
                | NodeError::UnknownTopic(_)
                | NodeError::AmbiguousTopic { .. }
                | NodeError::BadInput(_)
        )
    }
}
