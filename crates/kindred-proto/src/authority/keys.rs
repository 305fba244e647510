//! Sealing a new epoch secret to each recipient (spec/authority.md §5).

use chacha20poly1305::{
    aead::{Aead, KeyInit, Payload},
    ChaCha20Poly1305, Nonce,
};
use curve25519_dalek::MontgomeryPoint;
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::{Rekey, LABEL_REKEY, LABEL_REKEY_ENTRY, LABEL_REKEY_KX};
use crate::identity::NodeSecret;
use crate::ids::TopicId;

crate::secret_type!(
    /// The random 32 bytes of one epoch: the circle's messages are
    /// encrypted under keys derived from it.
    EpochSecret
);

crate::secret_type!(
    /// A member's X25519 secret for receiving rekeys in one circle.
    KxSecret
);

impl KxSecret {
    /// Derived like the pseudonym, so it is never stored (§3).
    pub fn derive(node: &NodeSecret, topic: &TopicId) -> KxSecret {
        let hk = Hkdf::<Sha256>::new(Some(topic.as_bytes()), node.as_bytes());
        let mut out = [0u8; 32];
        // 32 bytes is within HKDF's output limit.
        let _ = hk.expand(LABEL_REKEY_KX, &mut out);
        KxSecret::from_bytes(out)
    }

    pub fn public(&self) -> [u8; 32] {
        MontgomeryPoint::mul_base_clamped(*self.as_bytes()).to_bytes()
    }
}

fn entry_cipher(
    topic: &TopicId,
    shared: &MontgomeryPoint,
    ephemeral: &[u8; 32],
    kx: &[u8; 32],
    position: u32,
) -> ChaCha20Poly1305 {
    let hk = Hkdf::<Sha256>::new(Some(topic.as_bytes()), shared.as_bytes());
    let mut info = Vec::with_capacity(LABEL_REKEY.len() + 68);
    info.extend_from_slice(LABEL_REKEY);
    info.extend_from_slice(ephemeral);
    info.extend_from_slice(kx);
    info.extend_from_slice(&position.to_be_bytes());
    let mut key = Zeroizing::new([0u8; 32]);
    // 32 bytes is within HKDF's output limit.
    let _ = hk.expand(&info, key.as_mut());
    let key: &[u8; 32] = &key;
    ChaCha20Poly1305::new(key.into())
}

/// Seals `secret` to each recipient's X25519 key, in order. The ephemeral
/// secret is the caller's fresh randomness (this crate draws none here).
pub fn seal_rekey(
    topic: &TopicId,
    recipients: &[[u8; 32]],
    secret: &EpochSecret,
    ephemeral_secret: &[u8; 32],
) -> Rekey {
    let ephemeral = MontgomeryPoint::mul_base_clamped(*ephemeral_secret).to_bytes();
    let entries = recipients
        .iter()
        .enumerate()
        .map(|(i, kx)| {
            let shared = MontgomeryPoint(*kx).mul_clamped(*ephemeral_secret);
            let cipher = entry_cipher(topic, &shared, &ephemeral, kx, i as u32);
            let sealed = cipher
                .encrypt(
                    &Nonce::default(),
                    Payload {
                        msg: secret.as_bytes(),
                        aad: LABEL_REKEY_ENTRY,
                    },
                )
                .unwrap_or_default();
            let mut entry = [0u8; 48];
            if sealed.len() == 48 {
                entry.copy_from_slice(&sealed);
            }
            entry
        })
        .collect();
    Rekey { ephemeral, entries }
}

/// Opens the entry at `position` with the recipient's own secret; `None`
/// if it is not there or was not sealed to this key.
pub fn open_rekey(
    topic: &TopicId,
    rekey: &Rekey,
    position: usize,
    mine: &KxSecret,
) -> Option<EpochSecret> {
    let entry = rekey.entries.get(position)?;
    let shared = MontgomeryPoint(rekey.ephemeral).mul_clamped(*mine.as_bytes());
    let cipher = entry_cipher(
        topic,
        &shared,
        &rekey.ephemeral,
        &mine.public(),
        position as u32,
    );
    let plain = Zeroizing::new(
        cipher
            .decrypt(
                &Nonce::default(),
                Payload {
                    msg: entry,
                    aad: LABEL_REKEY_ENTRY,
                },
            )
            .ok()?,
    );
    let bytes: [u8; 32] = plain.as_slice().try_into().ok()?;
    Some(EpochSecret::from_bytes(bytes))
}
