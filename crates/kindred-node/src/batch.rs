//! Opening (decrypting and verifying) many envelopes on all cores: what
//! limits how fast a node takes in a burst of gossip or a page of history
//! is the ed25519 verification, and it parallelises perfectly.

use kindred_proto::envelope::open;
use kindred_proto::topic::Keyring;
use kindred_proto::{OpenError, OpenedMessage, TopicKeys};

/// One envelope with the keys to open it.
pub(crate) type Sealed<'a> = (&'a TopicKeys, &'a Keyring, &'a [u8]);

/// Below this many envelopes per thread, starting threads costs more than
/// it saves (one open takes ~50 µs; a thread ~20 µs to start).
const PER_THREAD: usize = 16;

/// `open` of every item, in order.
pub(crate) fn open_all(items: &[Sealed<'_>]) -> Vec<Result<OpenedMessage, OpenError>> {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let threads = cores.min(items.len() / PER_THREAD).max(1);
    if threads == 1 {
        return items.iter().map(|(k, r, e)| open(k, r, e)).collect();
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|(k, r, e)| open(k, r, e))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            // open() does not panic on any input; should it ever, that part
            // yields nothing and its messages are ignored (sync fetches them).
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kindred_proto::envelope::seal;
    use kindred_proto::{Kind, MessageContent, Pseudonym, TopicSecret};

    #[test]
    fn parallel_and_serial_agree_item_by_item() {
        let keys = TopicKeys::derive(&TopicSecret::from_bytes([1; 32]));
        let author = Pseudonym::from_seed([2; 32]);
        let epoch = kindred_proto::topic::EpochKeys::derive(
            &keys.id,
            &kindred_proto::authority::EpochSecret::from_bytes([3; 32]),
        );
        let ring = Keyring::single(epoch.clone());
        let mut envs: Vec<Vec<u8>> = (0..100)
            .map(|i| {
                let c = MessageContent {
                    kind: Kind::Post,
                    body: format!("message {i}"),
                    parents: vec![],
                    timestamp: i,
                    depth: 0,
                };
                seal(&keys, &epoch, &author, &c).expect("seal").1
            })
            .collect();
        // A damaged one in the middle stays in its place.
        envs[37][20] ^= 1;
        let items: Vec<Sealed<'_>> = envs.iter().map(|e| (&keys, &ring, e.as_slice())).collect();
        let got = open_all(&items);
        assert_eq!(got.len(), 100);
        for (i, r) in got.iter().enumerate() {
            match r {
                Ok(m) => assert_eq!(m.content.body, format!("message {i}")),
                Err(_) => assert_eq!(i, 37),
            }
        }
        assert!(got[37].is_err());
    }
}
