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

/// A list of at most `N` items, enforced while decoding: the decoder stops
/// at item `N + 1` instead of building the whole list first (4 MiB of empty
/// byte strings would otherwise be ~96 MiB of vectors before a check after
/// decoding could refuse them). Encodes exactly like a `Vec`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Capped<T, const N: usize>(pub Vec<T>);

impl<T, const N: usize> std::ops::Deref for Capped<T, N> {
    type Target = Vec<T>;
    fn deref(&self) -> &Vec<T> {
        &self.0
    }
}

impl<T, const N: usize> From<Vec<T>> for Capped<T, N> {
    fn from(v: Vec<T>) -> Self {
        Capped(v)
    }
}

impl<T: Serialize, const N: usize> Serialize for Capped<T, N> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(&self.0)
    }
}

impl<'de, T: serde::Deserialize<'de>, const N: usize> serde::Deserialize<'de> for Capped<T, N> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Items<T, const N: usize>(std::marker::PhantomData<T>);
        impl<'de, T: serde::Deserialize<'de>, const N: usize> serde::de::Visitor<'de> for Items<T, N> {
            type Value = Capped<T, N>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(f, "a list of at most {N} items")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(N));
                while let Some(item) = seq.next_element()? {
                    if out.len() == N {
                        return Err(serde::de::Error::invalid_length(N + 1, &self));
                    }
                    out.push(item);
                }
                Ok(Capped(out))
            }
        }
        d.deserialize_seq(Items::<T, N>(std::marker::PhantomData))
    }
}

/// Exactly `N` bytes on the wire (a CBOR byte string), refused while
/// decoding if it has any other length, so a list of empty byte strings
/// fails at its first item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fixed<const N: usize>(pub [u8; N]);

/// A 32-byte id or key on the wire.
pub type Id32 = Fixed<32>;

impl<const N: usize> Serialize for Fixed<N> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de, const N: usize> serde::Deserialize<'de> for Fixed<N> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Bytes<const N: usize>;
        impl<'de, const N: usize> serde::de::Visitor<'de> for Bytes<N> {
            type Value = Fixed<N>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(f, "a {N}-byte string")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Fixed<N>, E> {
                v.try_into()
                    .map(Fixed)
                    .map_err(|_| E::invalid_length(v.len(), &self))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Fixed<N>, E> {
                self.visit_bytes(&v)
            }
        }
        d.deserialize_bytes(Bytes::<N>)
    }
}
