//! Circle actions and join messages from anyone: decoding never panics,
//! and whatever decodes goes into a real circle (its rules judge it) and
//! re-encodes to an op with the same id.
#![no_main]
use std::sync::OnceLock;

use kindred_proto::authority::join::JoinReply;
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
    if let Ok(op) = Op::decode(data) {
        assert_eq!(Op::decode(op.encoded()).expect("re-decode").id, op.id);
        let mut circle = Circle::from_genesis(genesis().clone()).expect("circle");
        circle.insert(op, 0);
        let _ = circle.state().needs_rekey();
    }
});
