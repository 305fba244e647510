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

/// Refuses a text over `max_bytes` in the words a person uses: characters,
/// not bytes, and what to do about it. Accented letters and most scripts
/// take two to four bytes each, so the limit in characters is given as a
/// range rather than a number that would be wrong for them.
pub(crate) fn check_length(
    what: &str,
    text: &str,
    max_bytes: usize,
    fix: &str,
) -> Result<(), NodeError> {
    if text.len() <= max_bytes {
        return Ok(());
    }
    let chars = text.chars().count();
    let over = (text.len() * 100).div_ceil(max_bytes).saturating_sub(100);
    Err(NodeError::BadInput(format!(
        "{what} is too long: {chars} characters, about {over}% more than fits (up to {} characters of plain English, fewer for accented letters or other scripts); {fix}",
        max_bytes
    )))
}
