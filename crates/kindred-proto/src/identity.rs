//! Node identity and per-topic pseudonyms (spec/protocol.md, "Identities").

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::ids::{PublicKey, TopicId};

/// Info label for deriving a member's signing key in one topic.
pub const LABEL_PSEUDONYM: &[u8] = b"kindred/v1/pseudonym";

crate::secret_type!(
    /// The node's ed25519 secret: its libp2p identity and the root of its pseudonyms.
    NodeSecret
);

impl NodeSecret {
    /// The node's own ed25519 public key (the one its PeerId encodes).
    pub fn public_key(&self) -> PublicKey {
        PublicKey(SigningKey::from_bytes(&self.0).verifying_key().to_bytes())
    }

    /// Signs with the node identity itself (as its PeerId's key).
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        SigningKey::from_bytes(&self.0).sign(message).to_bytes()
    }

    /// The key this node signs with in one topic. Derived, never stored, and
    /// different per topic, so signatures cannot link one author across topics.
    pub fn pseudonym(&self, topic: &TopicId) -> Pseudonym {
        let hk = Hkdf::<Sha256>::new(Some(topic.as_bytes()), &self.0);
        let mut seed = Zeroizing::new([0u8; 32]);
        // 32 bytes is within HKDF's output limit.
        let _ = hk.expand(LABEL_PSEUDONYM, seed.as_mut());
        Pseudonym(SigningKey::from_bytes(&seed))
    }
}

/// A signing key for one topic. Zeroized on drop by ed25519-dalek.
#[derive(Clone)]
pub struct Pseudonym(SigningKey);

impl std::fmt::Debug for Pseudonym {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pseudonym({:?})", self.public_key())
    }
}

impl Pseudonym {
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Pseudonym(SigningKey::from_bytes(&seed))
    }

    /// The secret seed, for keys that travel (an invite's secret). Handle
    /// as a secret: it signs as this key.
    pub fn seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key().to_bytes())
    }

    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }
}

/// Checks an ed25519 signature, rejecting weak keys and malleable signatures.
pub fn verify(key: &PublicKey, message: &[u8], signature: &[u8; 64]) -> bool {
    let Ok(vk) = VerifyingKey::from_bytes(key.as_bytes()) else {
        return false;
    };
    if vk.is_weak() {
        return false;
    }
    let sig = Signature::from_bytes(signature);
    vk.verify_strict(message, &sig).is_ok()
}
