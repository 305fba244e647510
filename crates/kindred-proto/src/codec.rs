//! The one place CBOR is decoded from untrusted bytes.
//!
//! serde_cbor is unmaintained (RUSTSEC-2021-0127), so it is kept behind these
//! two functions: every decode takes an explicit size cap that is checked
//! before the decoder sees a byte, and decodes only from a slice (serde_cbor
//! checks declared lengths against the remaining input there).

use serde::{de::DeserializeOwned, Serialize};

/// Why bytes could not be decoded as the expected CBOR structure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("{what} is {len} bytes, over the limit of {max}")]
    TooLarge {
        what: &'static str,
        len: usize,
        max: usize,
    },
    #[error("{what} is not valid CBOR of the expected shape: {detail}")]
    Malformed { what: &'static str, detail: String },
    #[error("{what} is not in canonical form (re-encoding it gives different bytes)")]
    NotCanonical { what: &'static str },
}

/// Decodes `bytes` as `T`, refusing anything over `max` bytes first.
pub fn decode<T: DeserializeOwned>(
    what: &'static str,
    bytes: &[u8],
    max: usize,
) -> Result<T, DecodeError> {
    if bytes.len() > max {
        return Err(DecodeError::TooLarge {
            what,
            len: bytes.len(),
            max,
        });
    }
    serde_cbor::from_slice(bytes).map_err(|e| DecodeError::Malformed {
        what,
        detail: e.to_string(),
    })
}

/// Decodes and also requires that re-encoding gives the same bytes, so one
/// value has exactly one encoding (ids computed over bytes stay unique).
pub fn decode_canonical<T: DeserializeOwned + Serialize>(
    what: &'static str,
    bytes: &[u8],
    max: usize,
) -> Result<T, DecodeError> {
    let value: T = decode(what, bytes, max)?;
    if encode(&value) != bytes {
        return Err(DecodeError::NotCanonical { what });
    }
    Ok(value)
}

/// Encodes a value. Our types contain only integers, strings, byte strings,
/// arrays and string-keyed maps, which serde_cbor cannot fail to encode.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // serde_cbor's only failure modes for in-memory Vec output are custom
    // serializer errors, which our derive-based types never produce.
    serde_cbor::to_vec(value).unwrap_or_default()
}
