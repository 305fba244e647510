//! Any bytes into any decoder give a value or an error: never a panic, a
//! hang, or an allocation out of proportion to the input.

use kindred_proto::authority::EpochSecret;
use kindred_proto::envelope::{open, seal};
use kindred_proto::sync::{SyncRequest, SyncResponse};
use kindred_proto::topic::{EpochKeys, Keyring};
use kindred_proto::{Invite, Kind, MessageContent, Pseudonym, TopicKeys, TopicSecret};
use proptest::prelude::*;

fn keys() -> TopicKeys {
    TopicKeys::derive(&TopicSecret::from_bytes([7; 32]))
}

fn epoch() -> EpochKeys {
    EpochKeys::derive(&keys().id, &EpochSecret::from_bytes([8; 32]))
}

fn ring() -> Keyring {
    Keyring::single(epoch())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn envelope_decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = open(&keys(), &ring(), &bytes);
    }

    #[test]
    fn padded_random_envelopes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..8)) {
        // Lengths that pass the padding check reach the CBOR decoder.
        let mut b = bytes.clone();
        b.resize(256, 0);
        b[..bytes.len()].copy_from_slice(&bytes);
        let _ = open(&keys(), &ring(), &b);
    }

    #[test]
    fn mutated_real_envelopes_are_rejected(pos in any::<prop::sample::Index>(), bit in 0u8..8) {
        let (_, env) = seal(&keys(), &epoch(), &Pseudonym::from_seed([1; 32]), &MessageContent {
            kind: Kind::Post, body: "hello".into(), parents: vec![], timestamp: 1, depth: 0,
        }).unwrap();
        let mut bad = env.clone();
        let i = pos.index(bad.len());
        bad[i] ^= 1 << bit;
        prop_assert!(open(&keys(), &ring(), &bad).is_err());
    }

    #[test]
    fn invite_parser_never_panics(s in "\\PC{0,600}") {
        let _ = Invite::parse(&s, 0);
    }

    #[test]
    fn invite_parser_never_panics_on_plausible_input(s in "kindred2[a-z2-7]{0,800}") {
        let _ = Invite::parse(&s, 0);
    }

    #[test]
    fn sync_decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = SyncRequest::decode(&bytes);
        let _ = SyncResponse::decode(&bytes);
    }
}

/// CBOR that declares a gigantic byte string must fail fast on the length
/// check, not try to allocate it.
#[test]
fn declared_lengths_beyond_the_input_fail_fast() {
    // map(1) "Heads" map(1) "tag" bstr with an 8-byte length of 2^62.
    let mut b = vec![0xa1, 0x65];
    b.extend_from_slice(b"Heads");
    b.extend_from_slice(&[0xa1, 0x63]);
    b.extend_from_slice(b"tag");
    b.extend_from_slice(&[0x5b, 0x40, 0, 0, 0, 0, 0, 0, 0]);
    assert!(SyncRequest::decode(&b).is_err());
    // An array claiming 2^32 elements.
    let arr = [0x9b, 0, 0, 0, 1, 0, 0, 0, 0];
    assert!(SyncResponse::decode(&arr).is_err());
    // Deep nesting stops at the recursion limit.
    let deep = vec![0x81u8; 100_000];
    assert!(SyncRequest::decode(&deep).is_err());
}

#[test]
fn oversized_input_is_refused_before_decoding() {
    let big = vec![0u8; kindred_proto::MAX_ENVELOPE_BYTES + 256];
    assert!(matches!(
        open(&keys(), &ring(), &big),
        Err(kindred_proto::OpenError::TooLarge { .. })
    ));
    let big = vec![0u8; kindred_proto::sync::MAX_REQUEST_BYTES + 1];
    assert!(SyncRequest::decode(&big).is_err());
    let long = "a".repeat(100_000);
    assert!(matches!(
        Invite::parse(&long, 0),
        Err(kindred_proto::InviteError::Text(
            kindred_proto::textcode::TextCodeError::TooLong { .. }
        ))
    ));
}
