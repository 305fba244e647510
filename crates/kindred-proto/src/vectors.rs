//! Checks the test vectors in `spec/vectors/` against this implementation.
//! `KINDRED_WRITE_VECTORS=1 cargo test -p kindred-proto vectors` rewrites
//! them; do that only together with a matching change to the spec.

use std::path::PathBuf;

use serde_bytes::ByteBuf;
use serde_json::{json, Value};

use crate::authority::EpochSecret;
use crate::codec::{Capped, Fixed};
use crate::envelope::{self, Kind, MessageContent};
use crate::invite::{Invite, InvitePeer};
use crate::sync::{SyncRequest, SyncResponse};
use crate::topic::{EpochKeys, Keyring};
use crate::{MessageId, NodeSecret, Pseudonym, TopicKeys, TopicSecret};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../spec/vectors")
}

fn check(name: &str, computed: Value) {
    let path = dir().join(name);
    if std::env::var_os("KINDRED_WRITE_VECTORS").is_some() {
        let text = serde_json::to_string_pretty(&computed).unwrap_or_default() + "\n";
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        return;
    }
    let stored: Value = serde_json::from_str(
        &std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display())),
    )
    .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
    assert_eq!(stored, computed, "{name} does not match the implementation");
}

fn h(b: &[u8]) -> String {
    hex::encode(b)
}

#[test]
fn key_schedule() {
    let secret = TopicSecret::from_bytes(std::array::from_fn(|i| i as u8));
    let k = TopicKeys::derive(&secret);
    let requester = [0x11u8; 38];
    let responder = [0x22u8; 38];
    check(
        "key-schedule.json",
        json!({
            "description": "HKDF-SHA256 key schedule of a topic secret (spec/protocol.md, Key schedule)",
            "topic_secret": h(secret.as_bytes()),
            "topic_id": k.id.to_hex(),
            "gossip_topic": k.gossip_topic,
            "epoch": {
                "epoch_secret": h(&[0x0e; 32]),
                "tag": h(&EpochKeys::derive(&k.id, &EpochSecret::from_bytes([0x0e; 32])).tag),
                "message_key": h(EpochKeys::derive(&k.id, &EpochSecret::from_bytes([0x0e; 32])).message_key()),
            },
            "rendezvous": {
                "period": 20_000u64,
                "key": h(&k.rendezvous(20_000)),
            },
            "sync_tag": {
                "requester_peer_id": h(&requester),
                "responder_peer_id": h(&responder),
                "tag": h(&k.sync_tag(&requester, &responder)),
            }
        }),
    );
}

#[test]
fn membership_proof() {
    use crate::membership::{self, Answer, Challenge};
    let k = TopicKeys::derive(&TopicSecret::from_bytes(std::array::from_fn(|i| i as u8)));
    let challenger = [0x11u8; 38];
    let prover = [0x22u8; 38];
    let nonce = [0x33u8; 32];
    let challenge = Challenge {
        tag: Fixed(k.member_tag(&challenger, &prover)),
        nonce: Fixed(nonce),
    };
    let proof = k.member_proof(&challenger, &prover, &nonce);
    let answer = Answer::Proof(Fixed(proof));
    assert!(membership::verify(
        &k,
        &challenger,
        &prover,
        &nonce,
        &answer
    ));
    // Bound to both peers and the nonce: swapped roles or another nonce fail.
    assert!(!membership::verify(
        &k,
        &prover,
        &challenger,
        &nonce,
        &answer
    ));
    assert!(!membership::verify(
        &k,
        &challenger,
        &prover,
        &[0x34; 32],
        &answer
    ));
    check(
        "membership.json",
        json!({
            "description": "membership challenge and proof (spec/protocol.md, Proving membership); the topic secret is key-schedule.json's",
            "member_key_label": "kindred/v1/member-key",
            "challenger_peer_id": h(&challenger),
            "prover_peer_id": h(&prover),
            "nonce": h(&nonce),
            "tag": h(&challenge.tag.0),
            "proof": h(&proof),
            "challenge": h(&challenge.encode()),
            "answer": h(&answer.encode()),
            "unknown_answer": h(&Answer::Unknown.encode()),
        }),
    );
}

#[test]
fn pseudonyms() {
    let node = NodeSecret::from_bytes([0x33; 32]);
    let topic = TopicKeys::derive(&TopicSecret::from_bytes([0x44; 32])).id;
    check(
        "pseudonym.json",
        json!({
            "description": "a node's per-topic signing key (spec/protocol.md, Identities)",
            "node_secret": h(node.as_bytes()),
            "node_public_key": node.public_key().to_hex(),
            "topic_id": topic.to_hex(),
            "pseudonym_public_key": node.pseudonym(&topic).public_key().to_hex(),
        }),
    );
}

#[test]
fn envelopes() {
    let keys = TopicKeys::derive(&TopicSecret::from_bytes([0x55; 32]));
    let epoch = EpochKeys::derive(&keys.id, &EpochSecret::from_bytes([0x77; 32]));
    let ring = Keyring::single(epoch.clone());
    let author = Pseudonym::from_seed([0x66; 32]);
    let cases = [
        (
            Kind::Profile,
            "Sam".to_string(),
            vec![],
            1_700_000_000_000u64,
            0u64,
            [1u8; 24],
        ),
        (
            Kind::Post,
            "You are not alone.".to_string(),
            vec![MessageId([0xaa; 32])],
            1_700_000_000_500,
            5,
            [2u8; 24],
        ),
        (
            Kind::Post,
            "x".repeat(300),
            vec![MessageId([0xbb; 32]), MessageId([0xcc; 32])],
            1_700_000_001_000,
            300,
            [3u8; 24],
        ),
    ];
    let mut out = Vec::new();
    for (kind, body, parents, timestamp, depth, nonce) in cases {
        let content = MessageContent {
            kind,
            body: body.clone(),
            parents: parents.clone(),
            timestamp,
            depth,
        };
        let (id, env) =
            envelope::seal_with_nonce(&keys, &epoch, &author, &content, body.as_bytes(), &nonce)
                .unwrap_or_else(|e| panic!("{e}"));
        let opened = envelope::open(&keys, &ring, &env).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(opened.content, content);
        out.push(json!({
            "kind": kind.code(),
            "body": body,
            "parents": parents.iter().map(|p| p.to_hex()).collect::<Vec<_>>(),
            "timestamp": timestamp,
            "depth": depth,
            "nonce": h(&nonce),
            "envelope": h(&env),
            "envelope_len": env.len(),
            "message_id": id.to_hex(),
        }));
    }
    check(
        "envelope.json",
        json!({
            "description": "group message envelopes (spec/protocol.md, Group messages)",
            "topic_secret": h(keys.secret().as_bytes()),
            "epoch_secret": h(&[0x77; 32]),
            "epoch_tag": h(&epoch.tag),
            "author_seed": h(&[0x66; 32]),
            "author_public_key": author.public_key().to_hex(),
            "cases": out,
        }),
    );
}

#[test]
fn invites() {
    use crate::authority::{Circle, Genesis, Policy};
    let owner = Pseudonym::from_seed([0x77; 32]);
    let locator = TopicSecret::from_bytes([0x88; 32]);
    let genesis = Genesis {
        name: "Night owls".into(),
        rules: "Be gentle. No advice unless asked.".into(),
        policy: Policy::default(),
        topic: TopicKeys::derive(&locator).id,
        kx: [0x99; 32],
        owner_name: "Sam".into(),
    };
    let (circle, _) = Circle::create(&owner, genesis, 1_700_000_000_000, &[0x11; 64])
        .unwrap_or_else(|e| panic!("{e}"));
    let invite = Invite {
        genesis: circle.genesis().clone(),
        locator,
        key: Pseudonym::from_seed([0xaa; 32]),
        peers: vec![InvitePeer {
            peer_id: ByteBuf::from(vec![0, 36, 8, 1, 18, 32, 1, 2, 3]),
            addrs: vec!["/ip4/127.0.0.1/tcp/4001".into()],
        }],
        expires: Some(1_800_000_000_000),
    };
    let text = invite.encode().unwrap_or_else(|e| panic!("{e}"));
    let back = Invite::parse(&text, 0).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back.genesis, invite.genesis);
    check(
        "invite.json",
        json!({
            "description": "an invite key, version 2 (spec/invite.md): the genesis is signed by the owner seed, with 64 bytes of 0x11 as its entropy",
            "owner_seed": h(&[0x77; 32]),
            "genesis": h(invite.genesis.encoded()),
            "circle_id": invite.circle().to_hex(),
            "locator": h(invite.locator.as_bytes()),
            "invite_seed": h(&[0xaa; 32]),
            "invite_key": invite.key.public_key().to_hex(),
            "peer_id": h(&invite.peers[0].peer_id),
            "addrs": invite.peers[0].addrs,
            "expires": invite.expires,
            "invite": text,
        }),
    );
}

#[test]
fn sync_messages() {
    let tag = ByteBuf::from(vec![0x99; 32]);
    let heads = SyncRequest::Heads { tag: tag.clone() };
    let fetch = SyncRequest::Fetch {
        tag,
        want: Capped(vec![Fixed([0xaa; 32])]),
        have: Capped(vec![Fixed([0xbb; 32])]),
    };
    let answer = SyncResponse::Heads {
        heads: Capped(vec![Fixed([0xcc; 32])]),
    };
    check(
        "sync.json",
        json!({
            "description": "history sync messages (spec/protocol.md, History sync)",
            "heads_request": h(&heads.encode()),
            "fetch_request": h(&fetch.encode()),
            "heads_response": h(&answer.encode()),
            "unknown_topic_response": h(&SyncResponse::UnknownTopic.encode()),
        }),
    );
}

#[test]
fn dm_binding_and_sealed() {
    use crate::dm::{Contact, DmMessage};
    use crate::noise::{open_sealed, seal_inner, Binding, StaticKeypair};
    let alice = NodeSecret::from_bytes([0xa1; 32]);
    let bob = NodeSecret::from_bytes([0xb0; 32]);
    let (ka, kb) = (StaticKeypair::derive(&alice), StaticKeypair::derive(&bob));
    let binding = Binding::create(&alice, &ka.public);
    let msg = DmMessage::new([0x11; 16], 1_700_000_000_000, "Do you want to talk?".into())
        .unwrap_or_else(|e| panic!("{e}"));
    let ephemeral = [0xee; 32];
    let sealed = seal_inner(&ka, &binding, &kb.public, &msg.encode(), Some(&ephemeral))
        .unwrap_or_else(|e| panic!("{e}"));
    let (from, plain) = open_sealed(&kb, &sealed).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(from, alice.public_key());
    assert_eq!(plain, msg.encode());
    let contact = Contact::new(
        &alice,
        ka.public,
        vec!["/ip4/127.0.0.1/tcp/4001".into()],
        None,
    );
    check(
        "dm.json",
        json!({
            "description": "private messages: static key derivation, identity binding, a sealed message, a contact code (spec/dm.md)",
            "alice_node_secret": h(alice.as_bytes()),
            "alice_identity": alice.public_key().to_hex(),
            "alice_static_public": h(&ka.public),
            "alice_binding_payload": h(&binding.encode()),
            "bob_node_secret": h(bob.as_bytes()),
            "bob_static_public": h(&kb.public),
            "message": { "id": h(&msg.id), "ts": msg.ts, "text": msg.text, "cbor": h(&msg.encode()) },
            "sealed_ephemeral_secret": h(&ephemeral),
            "sealed": h(&sealed),
            "alice_contact_code": contact.encode(&alice).unwrap_or_else(|e| panic!("{e}")),
        }),
    );
}

#[test]
fn authority_ops() {
    use crate::authority::{
        open_rekey, seal_rekey, Circle, Draft, EpochSecret, Genesis, JoinBody, JoinRequest,
        KxSecret, Policy,
    };
    use crate::ids::TopicId;
    let node = |b: u8| NodeSecret::from_bytes([b; 32]);
    let (owner_node, joiner_node) = (node(0x01), node(0x02));
    let topic = TopicKeys::derive(&TopicSecret::from_bytes([0x0c; 32])).id;
    let owner_kx = KxSecret::derive(&owner_node, &topic);
    let joiner_kx = KxSecret::derive(&joiner_node, &topic);
    let owner = owner_node.pseudonym(&topic);
    let joiner = joiner_node.pseudonym(&topic);
    let genesis = Genesis {
        name: "grief support".into(),
        rules: "Be kind.".into(),
        policy: Policy::default(),
        topic,
        kx: owner_kx.public(),
        owner_name: "Ada".into(),
    };
    let (mut circle, epoch0) =
        Circle::create(&owner, genesis, 1_700_000_000_000, &[0x10; 64]).unwrap();
    let invite_key = Pseudonym::from_seed([0x1e; 32]);
    let draft = Draft::Invite {
        key: invite_key.public_key(),
        expires: Some(1_800_000_000_000),
        uses: Some(1),
        approval: false,
    };
    let (invite_op, _) = circle
        .draft(&owner, draft, 1_700_000_001_000, &[0; 64])
        .unwrap();
    circle.insert(invite_op.clone(), 0);
    let request = JoinRequest::sign(
        JoinBody {
            circle: circle.id(),
            invite: invite_key.public_key(),
            joiner: joiner.public_key(),
            kx: joiner_kx.public(),
            name: "Bo".into(),
            peer: vec![0x00, 0x24, 0x08, 0x01],
            ts: 1_700_000_002_000,
        },
        &invite_key,
        &joiner,
    )
    .unwrap();
    let (admit, epoch1) = circle
        .draft(
            &owner,
            Draft::Admit(request.clone()),
            1_700_000_003_000,
            &[0x20; 64],
        )
        .unwrap();
    let epoch1 = epoch1.unwrap();
    circle.insert(admit.clone(), 0);
    let recipients = circle.recipients(&admit.id).to_vec();
    let rekey = admit.action.rekey().unwrap().clone();
    let pos = recipients
        .iter()
        .position(|r| *r == joiner.public_key())
        .unwrap();
    assert_eq!(
        open_rekey(&topic, &rekey, pos, &joiner_kx),
        Some(epoch1.clone())
    );
    // Removed, then let back (§2: removed means out until a readmit).
    let remove = Draft::Remove {
        member: joiner.public_key(),
        reason: "harassment".into(),
    };
    let (removal, _) = circle
        .draft(&owner, remove, 1_700_000_004_000, &[0x30; 64])
        .unwrap();
    circle.insert(removal.clone(), 0);
    let (readmit, _) = circle
        .draft(
            &owner,
            Draft::Readmit(joiner.public_key()),
            1_700_000_005_000,
            &[0; 64],
        )
        .unwrap();
    circle.insert(readmit.clone(), 0);
    // One entry on its own, with every input.
    let single = seal_rekey(
        &topic,
        &[joiner_kx.public()],
        &EpochSecret::from_bytes([0x33; 32]),
        &[0x44; 32],
    );
    let _: TopicId = topic;
    check(
        "authority.json",
        json!({
            "description": "authority ops, a join request and rekey entries (spec/authority.md); the topic is key-schedule-style from a locator of 32 bytes 0x0c; node secrets are 32 bytes of 0x01 (owner) and 0x02 (joiner); pseudonyms as protocol.md §1",
            "topic_id": topic.to_hex(),
            "owner": {
                "pseudonym": owner.public_key().to_hex(),
                "kx_secret": h(owner_kx.as_bytes()),
                "kx": h(&owner_kx.public()),
            },
            "joiner": {
                "pseudonym": joiner.public_key().to_hex(),
                "kx_secret": h(joiner_kx.as_bytes()),
                "kx": h(&joiner_kx.public()),
            },
            "genesis": {
                "entropy": h(&[0x10; 64]),
                "epoch_secret": h(epoch0.as_bytes()),
                "op": h(circle.genesis().encoded()),
                "circle_id": circle.id().to_hex(),
            },
            "invite": {
                "invite_seed": h(&[0x1e; 32]),
                "op": h(invite_op.encoded()),
                "op_id": invite_op.id.to_hex(),
            },
            "join_request": {
                "encoded": h(&request.encode()),
                "request_id": h(&request.id),
            },
            "admit": {
                "entropy": h(&[0x20; 64]),
                "op": h(admit.encoded()),
                "op_id": admit.id.to_hex(),
                "recipients": recipients.iter().map(|r| r.to_hex()).collect::<Vec<_>>(),
                "epoch_secret": h(epoch1.as_bytes()),
            },
            "remove": {
                "entropy": h(&[0x30; 64]),
                "op": h(removal.encoded()),
                "op_id": removal.id.to_hex(),
            },
            "readmit": {
                "op": h(readmit.encoded()),
                "op_id": readmit.id.to_hex(),
            },
            "rekey_entry": {
                "recipient_kx": h(&joiner_kx.public()),
                "ephemeral_secret": h(&[0x44; 32]),
                "epoch_secret": h(&[0x33; 32]),
                "position": 0,
                "ephemeral": h(&single.ephemeral),
                "entry": h(&single.entries[0]),
            },
        }),
    );
}
