//! What a locator holder, a removed member or an approval-invite holder
//! can make a circle hold (spec/authority.md §6): rejected ops are not
//! placed, a wide graph never stops anyone acting, and each author's ops
//! and each invite's requests are capped.

use super::tests::{act, circle_with, invite_key, request, role, Actor};
use super::*;

fn junk_invite(view: &Circle, by: &Actor, n: u64, parents: Vec<crate::ids::OpId>) -> Op {
    Op::sign(
        Some(view.id()),
        &by.key,
        parents,
        90_000 + n,
        Action::Invite {
            key: invite_key(5_000 + n).public_key(),
            expires: None,
            uses: None,
            approval: false,
        },
    )
    .unwrap()
}

#[test]
fn an_outsiders_ops_are_rejected_unplaced_and_never_freeze_authority() {
    let (a, mut view) = circle_with(2, Policy::default());
    let outsider = Actor::new(66);
    let (ops_before, heads_before) = (view.len(), view.heads());
    // Far more than the 16 parents one op may name, all on the genesis.
    let genesis = vec![view.genesis().id];
    for n in 0..40 {
        let op = junk_invite(&view, &outsider, n, genesis.clone());
        assert!(matches!(
            view.insert(op.clone(), 90_000),
            Inserted::Rejected(Refusal::NotMember(_))
        ));
        assert!(matches!(view.verdict(&op.id), Some(Verdict::Rejected(_))));
        // The same junk again is not judged again.
        assert_eq!(view.insert(op, 90_000), Inserted::Known);
    }
    assert_eq!(view.len(), ops_before, "junk took room");
    assert_eq!(view.heads(), heads_before, "junk became heads");
    // An honest moderator still acts at once.
    act(
        &mut view,
        &a[0],
        Draft::Remove {
            member: a[2].pk(),
            reason: String::new(),
        },
        95_000,
    )
    .unwrap();
    assert_eq!(role(&view, &a[2]), None);
}

#[test]
fn a_removed_members_ops_are_rejected_and_an_op_naming_them_still_finds_its_place() {
    let (a, mut view) = circle_with(2, Policy::default());
    let removal = act(
        &mut view,
        &a[0],
        Draft::Remove {
            member: a[2].pk(),
            reason: String::new(),
        },
        80_000,
    )
    .unwrap();
    let junk = junk_invite(&view, &a[2], 1, vec![removal.id]);
    assert!(matches!(
        view.insert(junk.clone(), 90_000),
        Inserted::Rejected(Refusal::Removed { .. })
    ));
    // A node before this version drafted on every head, rejected ones
    // included: such an op stands on the rejected op's parents.
    let honest = Op::sign(
        Some(view.id()),
        &a[1].key,
        vec![junk.id],
        91_000,
        Action::Invite {
            key: invite_key(7).public_key(),
            expires: None,
            uses: None,
            approval: false,
        },
    )
    .unwrap();
    assert!(matches!(
        view.insert(honest.clone(), 91_000),
        Inserted::Placed(_)
    ));
    assert_eq!(view.verdict(&honest.id), Some(Verdict::Applied));
    assert_eq!(view.heads(), vec![honest.id]);
}

#[test]
fn a_wide_graph_never_stops_drafting_and_merges_in_a_few_ops() {
    let (a, mut view) = circle_with(2, Policy::default());
    // A member's 40 concurrent invites, all on the same heads: valid, and
    // 40 heads wide.
    let heads = view.heads();
    for n in 0..40 {
        let op = junk_invite(&view, &a[1], n, heads.clone());
        assert!(matches!(view.insert(op, 90_000), Inserted::Placed(_)));
    }
    assert_eq!(view.heads().len(), 40);
    let removal = act(
        &mut view,
        &a[0],
        Draft::Remove {
            member: a[1].pk(),
            reason: String::new(),
        },
        95_000,
    )
    .unwrap();
    assert!(removal.parents.len() <= MAX_AUTH_PARENTS);
    assert_eq!(view.verdict(&removal.id), Some(Verdict::Applied));
    assert_eq!(role(&view, &a[1]), None);
    // Each op merges up to 16 heads: three more and the graph is narrow.
    for n in 0..3 {
        act(
            &mut view,
            &a[0],
            Draft::Rules(format!("Be kind ({n}).")),
            96_000 + n,
        )
        .unwrap();
    }
    assert_eq!(view.heads().len(), 1);
    // Another node reaches the same state from the same ops.
    let other = super::tests::copy(&view);
    assert_eq!(other.state(), view.state());
    assert_eq!(other.verdicts(), view.verdicts());
}

#[test]
fn one_author_cannot_fill_the_circle() {
    let (a, mut view) = circle_with(1, Policy::default());
    // Invites and the admission before them: the member has made none.
    for n in 0..MAX_OPS_PER_MEMBER as u64 {
        let op = junk_invite(&view, &a[1], n, view.heads());
        let r = view.insert(op, 90_000);
        assert!(matches!(r, Inserted::Placed(_)), "{n}: {r:?}");
    }
    let op = junk_invite(&view, &a[1], 100_000, view.heads());
    assert!(matches!(view.insert(op, 90_000), Inserted::Refused(_)));
    assert_eq!(view.authored(&a[1].pk()), MAX_OPS_PER_MEMBER);
    // The owner still acts.
    act(&mut view, &a[0], Draft::Rules("Still kind.".into()), 99_000).unwrap();
}

#[test]
fn an_approval_invite_flood_stays_within_its_bounds() {
    let (a, mut view) = circle_with(1, Policy::default());
    let appr = invite_key(900);
    let draft = Draft::Invite {
        key: appr.public_key(),
        expires: None,
        uses: None,
        approval: true,
    };
    act(&mut view, &a[0], draft, 50_000).unwrap();
    let id = view.id();
    // The same person twice through one invite: one request.
    let j = Actor::new(1_000);
    act(
        &mut view,
        &a[1],
        Draft::Request(request(id, &appr, &j, 60_000)),
        60_000,
    )
    .unwrap();
    let again = Draft::Request(request(id, &appr, &j, 60_001));
    assert_eq!(
        act(&mut view, &a[1], again, 60_001).unwrap_err(),
        DraftError::Refused(Refusal::RequestPending)
    );
    // Fresh identities: the waiting list keeps the newest, and the invite
    // records no more than its cap.
    let mut recorded = 1;
    for n in 1..400u64 {
        let j = Actor::new(1_000 + n);
        let req = Draft::Request(request(id, &appr, &j, 60_000 + n));
        match act(&mut view, &a[1], req, 60_000 + n) {
            Ok(_) => recorded += 1,
            Err(e) => assert_eq!(e, DraftError::Refused(Refusal::RequestsExhausted)),
        }
        assert!(view.state().pending.len() <= MAX_PENDING_PER_INVITE);
    }
    assert_eq!(recorded, MAX_REQUESTS_PER_INVITE);
    let newest = view.state().pending.values().map(|p| p.ts).max();
    assert_eq!(newest, Some(60_000 + MAX_REQUESTS_PER_INVITE as u64 - 1));
}
