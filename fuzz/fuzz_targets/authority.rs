//! Circle actions, join messages and ops-fetch requests and answers from
//! anyone: decoding never panics, and whatever decodes goes into a real
//! circle (its rules judge it; rejected ops are not placed) and re-encodes
//! to an op with the same id.
#![no_main]
use std::sync::OnceLock;

use kindred_proto::authority::join::{decode_ops, JoinReply, OpsRequest};
use kindred_proto::authority::{Circle, Genesis, JoinRequest, Op, Policy};
use kindred_proto::{Pseudonym, TopicId};
use libfuzzer_sys::fuzz_target;

fn genesis() -> &'static Op {
    static G: OnceLock<Op> = OnceLock::new();
    G.get_or_init(|| {
        let owner = Pseudonym::from_seed([1; 32]);
        let g = Genesis {
            name: "fuzz".into(),
            rules: String::new(),
            policy: Policy::default(),
            topic: TopicId([2; 32]),
            kx: [3; 32],
            owner_name: "owner".into(),
        };
        Circle::create(&owner, g, 1, &[4; 64]).expect("genesis").0.genesis().clone()
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = JoinRequest::decode(data);
    let _ = JoinReply::decode(data);
    let _ = OpsRequest::decode(data);
    // An ops answer: every op in it into one circle, which never holds a
    // rejected op and never more heads than ops.
    if let Ok(items) = decode_ops(data) {
        let ops: Vec<Op> = items.iter().filter_map(|b| Op::decode(b).ok()).collect();
        let mut circle = Circle::from_genesis(genesis().clone()).expect("circle");
        circle.insert_many(ops, 0);
        assert!(circle.heads().len() <= circle.len());
        assert!(circle
            .ops()
            .all(|op| !matches!(circle.verdict(&op.id), Some(kindred_proto::authority::Verdict::Rejected(_)))));
    }
    if let Ok(op) = Op::decode(data) {
        assert_eq!(Op::decode(op.encoded()).expect("re-decode").id, op.id);
        let mut circle = Circle::from_genesis(genesis().clone()).expect("circle");
        circle.insert(op, 0);
        let _ = circle.state().needs_rekey();
    }
});
