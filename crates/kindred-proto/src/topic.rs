//! A topic's secret and the keys derived from it (spec/protocol.md, "Key schedule").

use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::ids::TopicId;

/// HKDF-Extract salt for everything derived from a topic secret.
pub const TOPIC_SALT: &[u8] = b"kindred/v1/topic";
pub const LABEL_TOPIC_ID: &[u8] = b"kindred/v1/topic-id";
pub const LABEL_GOSSIP_TOPIC: &[u8] = b"kindred/v1/gossip-topic";
pub const LABEL_SYNC_KEY: &[u8] = b"kindred/v1/sync-key";
/// Domain label for the per-connection sync tag (an HMAC input prefix).
pub const LABEL_SYNC_TAG: &[u8] = b"kindred/v1/sync-tag";
pub const LABEL_RENDEZVOUS_KEY: &[u8] = b"kindred/v1/rendezvous-key";
/// Domain label for DHT rendezvous records (an HMAC input prefix).
pub const LABEL_RENDEZVOUS: &[u8] = b"kindred/v1/rendezvous";
pub const LABEL_MEMBER_KEY: &[u8] = b"kindred/v1/member-key";
/// Domain labels for the membership proof (HMAC input prefixes).
pub const LABEL_MEMBER_TAG: &[u8] = b"kindred/v1/member-tag";
pub const LABEL_MEMBER_PROOF: &[u8] = b"kindred/v1/member-proof";
/// Rendezvous records rotate once per UTC day.
pub const RENDEZVOUS_PERIOD_MS: u64 = 86_400_000;

crate::secret_type!(
    /// A circle's locator (spec/authority.md §1): the random 32 bytes every
    /// invite carries. It finds members and proves one holds an invite;
    /// it reads nothing (message keys come from epochs, [`EpochKeys`]).
    TopicSecret
);

pub const LABEL_EPOCH_MESSAGE_KEY: &[u8] = b"kindred/v1/epoch-message-key";
pub const LABEL_EPOCH_TAG: &[u8] = b"kindred/v1/epoch-tag";
/// Bytes of the epoch tag an envelope carries in clear.
pub const EPOCH_TAG_LEN: usize = 8;

/// The keys of one epoch (spec/protocol.md §2): what messages are
/// encrypted under, and the tag that tells a receiver which epoch that is.
#[derive(Clone)]
pub struct EpochKeys {
    pub tag: [u8; EPOCH_TAG_LEN],
    message_key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for EpochKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EpochKeys({})", hex::encode(self.tag))
    }
}

impl EpochKeys {
    pub fn derive(topic: &TopicId, secret: &crate::authority::EpochSecret) -> EpochKeys {
        let hk = Hkdf::<Sha256>::new(Some(topic.as_bytes()), secret.as_bytes());
        let full = expand(&hk, LABEL_EPOCH_TAG);
        let mut tag = [0u8; EPOCH_TAG_LEN];
        tag.copy_from_slice(&full[..EPOCH_TAG_LEN]);
        EpochKeys {
            tag,
            message_key: expand(&hk, LABEL_EPOCH_MESSAGE_KEY),
        }
    }

    pub(crate) fn message_key(&self) -> &[u8; 32] {
        &self.message_key
    }
}

/// The epochs a node holds for one circle, by tag.
#[derive(Clone, Debug, Default)]
pub struct Keyring(std::collections::BTreeMap<[u8; EPOCH_TAG_LEN], EpochKeys>);

impl Keyring {
    pub fn single(keys: EpochKeys) -> Keyring {
        let mut ring = Keyring::default();
        ring.insert(keys);
        ring
    }

    pub fn insert(&mut self, keys: EpochKeys) {
        self.0.insert(keys.tag, keys);
    }

    pub fn get(&self, tag: &[u8; EPOCH_TAG_LEN]) -> Option<&EpochKeys> {
        self.0.get(tag)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Everything a member derives from the topic secret.
#[derive(Clone)]
pub struct TopicKeys {
    secret: TopicSecret,
    pub id: TopicId,
    /// The gossipsub topic string: a hash, so the human name never hits the wire.
    pub gossip_topic: String,
    sync_key: Zeroizing<[u8; 32]>,
    rendezvous_key: Zeroizing<[u8; 32]>,
    member_key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for TopicKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TopicKeys")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

fn expand(hk: &Hkdf<Sha256>, label: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new([0u8; 32]);
    // 32 bytes is far below HKDF-SHA256's 255*32 limit, so expand cannot fail.
    let _ = hk.expand(label, out.as_mut());
    out
}

impl TopicKeys {
    pub fn derive(secret: &TopicSecret) -> Self {
        let hk = Hkdf::<Sha256>::new(Some(TOPIC_SALT), secret.as_bytes());
        let id = TopicId(*expand(&hk, LABEL_TOPIC_ID));
        let gossip = expand(&hk, LABEL_GOSSIP_TOPIC);
        TopicKeys {
            secret: secret.clone(),
            id,
            gossip_topic: format!("kindred/1/{}", hex::encode(*gossip)),
            sync_key: expand(&hk, LABEL_SYNC_KEY),
            rendezvous_key: expand(&hk, LABEL_RENDEZVOUS_KEY),
            member_key: expand(&hk, LABEL_MEMBER_KEY),
        }
    }

    pub fn secret(&self) -> &TopicSecret {
        &self.secret
    }

    /// The DHT key under which members announce themselves during one
    /// period (see [`RENDEZVOUS_PERIOD_MS`]). Only members can compute it,
    /// and keys of different periods cannot be linked to each other.
    pub fn rendezvous(&self, period: u64) -> [u8; 32] {
        crate::hmac_sha256(
            self.rendezvous_key.as_ref(),
            &[LABEL_RENDEZVOUS, &period.to_be_bytes()],
        )
    }

    /// Names this circle in a membership challenge from `challenger` to
    /// `prover` (PeerIds in binary form), as the sync tag does for sync.
    pub fn member_tag(&self, challenger: &[u8], prover: &[u8]) -> [u8; 32] {
        pair_mac(
            self.member_key.as_ref(),
            LABEL_MEMBER_TAG,
            challenger,
            prover,
            &[],
        )
    }

    /// The answer to a membership challenge: only a member can compute it,
    /// and it is bound to both peers and the challenger's fresh nonce, so
    /// it can be neither replayed nor relayed (spec/protocol.md §6.1).
    pub fn member_proof(&self, challenger: &[u8], prover: &[u8], nonce: &[u8; 32]) -> [u8; 32] {
        pair_mac(
            self.member_key.as_ref(),
            LABEL_MEMBER_PROOF,
            challenger,
            prover,
            nonce,
        )
    }

    /// The tag a requester puts in a sync request to name this topic to one
    /// responder. Bound to both peers, so a non-member who sees it learns
    /// nothing it can link to other connections or to the gossip topic.
    pub fn sync_tag(&self, requester: &[u8], responder: &[u8]) -> [u8; 32] {
        pair_mac(
            self.sync_key.as_ref(),
            LABEL_SYNC_TAG,
            requester,
            responder,
            &[],
        )
    }
}

/// HMAC-SHA256 over `label || u16be(len(a)) || a || u16be(len(b)) || b || tail`.
fn pair_mac(key: &[u8], label: &[u8], a: &[u8], b: &[u8], tail: &[u8]) -> [u8; 32] {
    let la = (a.len() as u16).to_be_bytes();
    let lb = (b.len() as u16).to_be_bytes();
    crate::hmac_sha256(key, &[label, &la, a, &lb, b, tail])
}
