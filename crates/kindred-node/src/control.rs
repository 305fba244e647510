//! The files through which the CLI finds a running node's control API.
//!
//! `control.json` says where the API listens; `control.token` (mode 0600)
//! holds the bearer token that every request must carry, so other local
//! users and web pages cannot drive the node.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub const CONTROL_FILE: &str = "control.json";
pub const TOKEN_FILE: &str = "control.token";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ControlInfo {
    /// `127.0.0.1:PORT`
    pub addr: String,
    pub pid: u32,
    pub peer_id: String,
}

pub fn control_path(dir: &Path) -> PathBuf {
    dir.join(CONTROL_FILE)
}

pub fn token_path(dir: &Path) -> PathBuf {
    dir.join(TOKEN_FILE)
}

/// Reads where a node in `dir` serves its API, and its token.
pub fn read(dir: &Path) -> std::io::Result<(ControlInfo, String)> {
    let info: ControlInfo = serde_json::from_slice(&std::fs::read(control_path(dir))?)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    let token = std::fs::read_to_string(token_path(dir))?.trim().to_string();
    Ok((info, token))
}

/// Domain label of the proof a node gives that it holds the API token.
const API_PROOF_LABEL: &[u8] = b"kindred/v1/api-proof";

/// What a node answers to `GET /v1/hello?nonce=HEX`: proof that it holds the
/// token, so a client can tell the node from another program that took its
/// port before sending the token or anything secret (spec/protocol.md §8).
pub fn api_proof(token: &str, nonce: &[u8]) -> [u8; 32] {
    kindred_proto::hmac_sha256(token.as_bytes(), &[API_PROOF_LABEL, nonce])
}
