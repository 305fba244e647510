//! The pasteable text form shared by invites and contact codes:
//! `<prefix><version><base32(payload || checksum)>` (spec/invite.md, "Text form").

use sha2::{Digest, Sha256};

const CHECKSUM_LEN: usize = 4;

/// One kind of text code: its prefix, version and checksum label.
pub struct Format {
    pub prefix: &'static str,
    pub version: char,
    pub checksum_label: &'static [u8],
    pub max_chars: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextCodeError {
    #[error("it is {len} characters long, over the limit of {max}")]
    TooLong { len: usize, max: usize },
    #[error("it should start with \"{0}\"")]
    WrongPrefix(String),
    #[error("format version '{found}' is not supported by this version of Kindred (it reads version {supported})")]
    UnknownVersion { found: char, supported: char },
    #[error(
        "it has a character that cannot appear in it near position {0}; was it copied completely?"
    )]
    BadEncoding(usize),
    #[error("it is incomplete (cut short?); copy the whole line")]
    Truncated,
    #[error("its checksum does not match: it was mistyped, cut short or altered")]
    BadChecksum,
}

impl Format {
    fn checksum(&self, payload: &[u8]) -> [u8; CHECKSUM_LEN] {
        let mut h = Sha256::new();
        h.update(self.checksum_label);
        h.update(payload);
        let d = h.finalize();
        [d[0], d[1], d[2], d[3]]
    }

    pub fn encode(&self, payload: &[u8]) -> Result<String, TextCodeError> {
        let mut data = payload.to_vec();
        data.extend_from_slice(&self.checksum(payload));
        let text = format!(
            "{}{}{}",
            self.prefix,
            self.version,
            data_encoding::BASE32_NOPAD.encode(&data).to_lowercase()
        );
        if text.len() > self.max_chars {
            return Err(TextCodeError::TooLong {
                len: text.len(),
                max: self.max_chars,
            });
        }
        Ok(text)
    }

    /// Whether `text` looks like this kind of code (prefix only).
    pub fn looks_like(&self, text: &str) -> bool {
        text.trim().to_lowercase().starts_with(self.prefix)
    }

    /// Decodes and checks the checksum. Whitespace anywhere and letter case
    /// are ignored (mail clients wrap long lines).
    pub fn decode(&self, text: &str) -> Result<Vec<u8>, TextCodeError> {
        if text.len() > self.max_chars * 2 {
            return Err(TextCodeError::TooLong {
                len: text.len(),
                max: self.max_chars,
            });
        }
        let compact: String = text
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_lowercase();
        if compact.len() > self.max_chars {
            return Err(TextCodeError::TooLong {
                len: compact.len(),
                max: self.max_chars,
            });
        }
        let rest = compact.strip_prefix(self.prefix).ok_or_else(|| {
            TextCodeError::WrongPrefix(format!("{}{}", self.prefix, self.version))
        })?;
        let mut chars = rest.chars();
        let version = chars.next().ok_or(TextCodeError::Truncated)?;
        if version != self.version {
            return Err(TextCodeError::UnknownVersion {
                found: version,
                supported: self.version,
            });
        }
        let data = chars.as_str().to_uppercase();
        let offset = self.prefix.len() + 1;
        if let Some(pos) = data
            .chars()
            .position(|c| !(c.is_ascii_uppercase() || ('2'..='7').contains(&c)))
        {
            return Err(TextCodeError::BadEncoding(offset + pos));
        }
        let payload = data_encoding::BASE32_NOPAD
            .decode(data.as_bytes())
            .map_err(|e| match e.kind {
                data_encoding::DecodeKind::Symbol => {
                    TextCodeError::BadEncoding(offset + e.position)
                }
                data_encoding::DecodeKind::Length => TextCodeError::Truncated,
                // Stray bits after the last byte: a typo or a cut, as a checksum would say.
                _ => TextCodeError::BadChecksum,
            })?;
        if payload.len() <= CHECKSUM_LEN {
            return Err(TextCodeError::Truncated);
        }
        let (body, sum) = payload.split_at(payload.len() - CHECKSUM_LEN);
        if self.checksum(body) != sum {
            return Err(TextCodeError::BadChecksum);
        }
        Ok(body.to_vec())
    }
}
