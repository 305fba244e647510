//! Kindred's local state on disk: the data directory, the node identity file,
//! and a sled database with topics, the message DAG and the address book.
//!
//! Nothing else in Kindred touches sled, so it can be replaced (sled 0.34 is
//! beta) without changes elsewhere.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod circles;
mod datadir;
mod dms;
mod flusher;
mod messages;
mod peers;
mod records;
mod staging;

pub use datadir::{
    load_identity, load_or_create_identity, write_private as datadir_write_private, DataDir,
};
pub use dms::{
    Consent, ConsentAction, ContactRecord, DmRecord, DmState, OutboxRecord, Received, MAX_HELD,
    MAX_HELD_BYTES, MAX_HELD_TOTAL, MAX_REQUEST_TEXT_BYTES,
};
pub use messages::{Inserted, SyncPage, TopicCounts};
pub use peers::{KNOWN_PEER_TTL_MS, MAX_ADDRS_PER_PEER, MAX_KNOWN_PEERS};
pub use records::{MessageRecord, TopicRecord, OPAQUE_KIND};
pub use staging::{MAX_PENDING, MAX_PENDING_PER_AUTHOR};

use std::path::PathBuf;

/// Bumped when the on-disk layout changes incompatibly. 2: circle
/// messages carry their depth (envelope version 3); history written by
/// version 1 cannot be continued or shared with newer nodes.
pub const SCHEMA_VERSION: u64 = 2;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("data directory {dir} is in use by another running Kindred node (stop it first, or pass a different --data-dir)")]
    InUse { dir: PathBuf },
    #[error("the store at {path} could not be opened and may be damaged: {detail}. It was left untouched; move it aside to start afresh, or keep it for recovery")]
    Damaged { path: PathBuf, detail: String },
    #[error("the store at {path} has schema version {found}, newer than this Kindred understands ({SCHEMA_VERSION}); upgrade Kindred")]
    NewerSchema { path: PathBuf, found: u64 },
    #[error("the store at {path} was written by an earlier Kindred (schema version {found}) whose circle history this one can neither continue nor share. It was left untouched: move it aside (or pass a different --data-dir) to start afresh, then join your circles again")]
    OlderSchema { path: PathBuf, found: u64 },
    #[error("the identity file {path} is damaged: {detail}")]
    BadIdentity { path: PathBuf, detail: String },
    #[error("no identity in {dir}: run `kindred init` or `kindred up` first")]
    NoIdentity { dir: PathBuf },
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("disk or database error: {0}")]
    Db(String),
    #[error("the disk holding {path} is full ({free} bytes free; Kindred keeps {reserve} in reserve): free some space. Everything stored so far is safe and still readable")]
    DiskFull {
        path: PathBuf,
        free: u64,
        reserve: u64,
    },
    #[error("the disk did not finish a write within {0} s; nothing was acknowledged. If the disk filled up, free space and restart the node")]
    FlushStalled(u64),
    #[error("stored record {what} is corrupt: {detail}")]
    Corrupt { what: &'static str, detail: String },
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Db(e.to_string())
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

pub use messages::Store;

/// Runs every decoder the store uses on its own records over `bytes`, for
/// the fuzz targets: damaged records must give errors, never panics.
#[doc(hidden)]
pub fn decode_any_record(bytes: &[u8]) {
    use records::decode;
    let _ = decode::<MessageRecord>("message", bytes);
    let _ = decode::<TopicRecord>("topic", bytes);
    let _ = records::depth_in(bytes);
    let _ = decode::<ContactRecord>("contact", bytes);
    let _ = decode::<DmRecord>("private message", bytes);
    let _ = decode::<OutboxRecord>("outbox entry", bytes);
    let _ = decode::<(u64, serde_bytes::ByteBuf, String)>("card", bytes);
    peers::decode_for_fuzzing(bytes);
}
