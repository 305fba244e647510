//! Named scenarios (spec/authority.md §4), each a small DAG drawn above it.
//! Every actor holds its own `Circle`; "partitioned" actors simply have not
//! exchanged ops yet, and `sync` exchanges them.

use super::*;
use crate::identity::Pseudonym;
use crate::ids::{CircleId, OpId, PublicKey, TopicId};

pub(super) struct Actor {
    pub key: Pseudonym,
    pub kx: KxSecret,
    pub peer: Vec<u8>,
}

impl Actor {
    pub fn new(n: u64) -> Actor {
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&n.to_be_bytes());
        let mut kx = seed;
        kx[31] = 0x55;
        Actor {
            key: Pseudonym::from_seed(seed),
            kx: KxSecret::from_bytes(kx),
            peer: vec![0, 36, 8, 1, n as u8],
        }
    }

    pub fn pk(&self) -> PublicKey {
        self.key.public_key()
    }
}

pub(super) fn entropy(n: u64) -> [u8; DRAFT_ENTROPY] {
    let mut e = [7u8; DRAFT_ENTROPY];
    e[..8].copy_from_slice(&n.to_be_bytes());
    e[32..40].copy_from_slice(&(!n).to_be_bytes());
    e
}

pub(super) const TOPIC: TopicId = TopicId([0x70; 32]);

pub(super) fn create(owner: &Actor, policy: Policy) -> Circle {
    let genesis = Genesis {
        name: "grief support".into(),
        rules: "Be kind.".into(),
        policy,
        topic: TOPIC,
        kx: owner.kx.public(),
        owner_name: "Ada".into(),
    };
    Circle::create(&owner.key, genesis, 1_000, &entropy(0))
        .unwrap()
        .0
}

/// Draws a fresh invite key from `n`.
pub(super) fn invite_key(n: u64) -> Pseudonym {
    let mut seed = [0x1e; 32];
    seed[..8].copy_from_slice(&n.to_be_bytes());
    Pseudonym::from_seed(seed)
}

pub(super) fn request(
    circle: CircleId,
    invite: &Pseudonym,
    joiner: &Actor,
    ts: u64,
) -> JoinRequest {
    let body = JoinBody {
        circle,
        invite: invite.public_key(),
        joiner: joiner.pk(),
        kx: joiner.kx.public(),
        name: "newcomer".into(),
        peer: joiner.peer.clone(),
        ts,
    };
    JoinRequest::sign(body, invite, &joiner.key).unwrap()
}

/// `by` drafts on its own view and inserts the op there.
pub(super) fn act(view: &mut Circle, by: &Actor, draft: Draft, ts: u64) -> Result<Op, DraftError> {
    let (op, _) = view.draft(&by.key, draft, ts, &entropy(ts))?;
    assert!(matches!(view.insert(op.clone(), ts), Inserted::Placed(_)));
    Ok(op)
}

/// Issues an invite on `view` and admits `joiner` with it.
pub(super) fn invite_and_admit(
    view: &mut Circle,
    by: &Actor,
    joiner: &Actor,
    n: u64,
    ts: u64,
) -> Op {
    let inv = invite_key(n);
    let draft = Draft::Invite {
        key: inv.public_key(),
        expires: None,
        uses: None,
        approval: false,
    };
    act(view, by, draft, ts).unwrap();
    let req = request(view.id(), &inv, joiner, ts + 1);
    act(view, by, Draft::Admit(req), ts + 2).unwrap()
}

pub(super) fn sync(a: &mut Circle, b: &mut Circle, now: u64) {
    let a_ops: Vec<Op> = a.ops().cloned().collect();
    let b_ops: Vec<Op> = b.ops().cloned().collect();
    a.insert_many(b_ops, now);
    b.insert_many(a_ops, now);
}

pub(super) fn copy(view: &Circle) -> Circle {
    Circle::from_ops(view.genesis().clone(), view.ops().skip(1).cloned(), 0).unwrap()
}

fn standing(view: &Circle, who: &Actor) -> Option<Standing> {
    view.state()
        .people
        .get(&who.pk())
        .map(|p| p.standing.clone())
}

pub(super) fn role(view: &Circle, who: &Actor) -> Option<Role> {
    view.state().role(&who.pk()).ok()
}

/// The owner and members 1..=n, all admitted by the owner.
pub(super) fn circle_with(n: u64, policy: Policy) -> (Vec<Actor>, Circle) {
    let actors: Vec<Actor> = (0..=n).map(Actor::new).collect();
    let mut view = create(&actors[0], policy);
    for i in 1..=n as usize {
        invite_and_admit(
            &mut view,
            &actors[0],
            &actors[i],
            i as u64,
            10_000 * i as u64,
        );
    }
    (actors, view)
}

fn epoch_secret_for(view: &Circle, who: &Actor) -> Option<EpochSecret> {
    let epoch = view.state().current_epoch()?;
    let pos = epoch.recipients.iter().position(|r| *r == who.pk())?;
    let rekey = view.get(&epoch.op)?.action.rekey()?.clone();
    open_rekey(&view.topic(), &rekey, pos, &who.kx)
}

#[test]
fn ops_roundtrip_and_tampering_is_caught() {
    let (a, view) = circle_with(1, Policy::default());
    for op in view.ops() {
        assert_eq!(&Op::decode(op.encoded()).unwrap(), op);
    }
    let admit = view.ops().last().unwrap().encoded().to_vec();
    for i in [10, admit.len() / 2, admit.len() - 3] {
        let mut bad = admit.clone();
        bad[i] ^= 1;
        assert!(Op::decode(&bad).is_err(), "flipped byte {i}");
    }
    assert_eq!(view.state().members().len(), 2);
    assert_eq!(role(&view, &a[1]), Some(Role::Member));
}

/// ```text
/// genesis - invite/admit A,B,C - appoint A - A removes C
/// ```
#[test]
fn a_removal_opens_an_epoch_without_the_removed() {
    let (a, mut view) = circle_with(3, Policy::default());
    act(&mut view, &a[0], Draft::Appoint(a[1].pk()), 50_000).unwrap();
    let remove = Draft::Remove {
        member: a[3].pk(),
        reason: "harassment".into(),
    };
    act(&mut view, &a[1], remove, 60_000).unwrap();
    let s = view.state();
    assert!(
        matches!(standing(&view, &a[3]), Some(Standing::Removed { by, .. }) if by == a[1].pk())
    );
    let epoch = s.current_epoch().unwrap();
    assert_eq!(epoch.number, 4);
    assert_eq!(epoch.recipients.len(), 3);
    assert!(!s.needs_rekey());
    let key = epoch_secret_for(&view, &a[2]).unwrap();
    assert_eq!(epoch_secret_for(&view, &a[0]).unwrap(), key);
    assert!(epoch_secret_for(&view, &a[3]).is_none());
    // The removed member cannot open any entry of the new rekey either.
    let rekey = view.get(&epoch.op).unwrap().action.rekey().unwrap().clone();
    for pos in 0..rekey.entries.len() {
        assert!(open_rekey(&TOPIC, &rekey, pos, &a[3].kx).is_none());
    }
}

/// Who may post under which epoch (§5): a member under every epoch they
/// received; a removed member, or one who left, only under epochs before
/// the one they were removed or left in; never someone who did not
/// receive the epoch.
#[test]
fn a_removed_member_may_post_only_in_epochs_before_their_removal() {
    let (a, mut view) = circle_with(3, Policy::default());
    let earlier = view.state().epochs[view.state().epochs.len() - 2].op;
    let before = view.state().current_epoch().unwrap().op;
    let may = |view: &Circle, who: &Actor, epoch: &OpId| {
        view.state()
            .may_post(&who.pk(), epoch, view.recipients(epoch))
    };
    assert!(may(&view, &a[3], &before));
    let remove = Draft::Remove {
        member: a[3].pk(),
        reason: String::new(),
    };
    act(&mut view, &a[0], remove, 60_000).unwrap();
    act(&mut view, &a[2], Draft::Leave, 70_000).unwrap();
    let after = view.state().current_epoch().unwrap().op;
    // Removed in `before`: refused there and after, not in `earlier`
    // (a[3] was admitted in `before`, so received no earlier epoch).
    assert!(!may(&view, &a[3], &before));
    assert!(!may(&view, &a[3], &after));
    assert!(!may(&view, &a[3], &earlier));
    // a[2] left in the removal's new epoch: refused in it, kept in the
    // epoch before, where it was a member.
    assert!(!may(&view, &a[2], &after));
    assert!(may(&view, &a[2], &before));
    assert!(may(&view, &a[1], &after));
    assert!(may(&view, &a[0], &before));
    let stranger = Actor::new(99);
    assert!(!may(&view, &stranger, &after));
}

#[test]
fn roles_are_enforced_with_plain_words() {
    let (a, mut view) = circle_with(3, Policy::default());
    act(&mut view, &a[0], Draft::Appoint(a[1].pk()), 50_000).unwrap();
    let err = |r: Result<Op, DraftError>| r.unwrap_err().to_string();
    let rm = |m: &Actor| Draft::Remove {
        member: m.pk(),
        reason: String::new(),
    };
    assert_eq!(
        err(act(&mut view, &a[2], rm(&a[3]), 1)),
        "only moderators can remove members"
    );
    assert_eq!(
        err(act(&mut view, &a[1], rm(&a[0]), 1)),
        format!(
            "{} has the same role as you or a higher one",
            handle(&a[0].pk())
        )
    );
    assert_eq!(
        err(act(&mut view, &a[1], Draft::Demote(a[1].pk()), 1)),
        "only the owner can demote moderators"
    );
    assert_eq!(
        err(act(&mut view, &a[0], Draft::Leave, 1)),
        "the owner cannot leave the circle"
    );
    // A forged op, signed without the draft's check, is rejected by all.
    let forged = Op::sign(
        Some(view.id()),
        &a[2].key,
        view.heads(),
        70_000,
        Action::Appoint(a[2].pk()),
    )
    .unwrap();
    view.insert(forged.clone(), 70_000);
    assert!(matches!(
        view.verdict(&forged.id),
        Some(Verdict::Rejected(Refusal::NeedsRole { .. }))
    ));
    assert_eq!(role(&view, &a[2]), Some(Role::Member));
    // So is a rekey that leaves a member out.
    let short = Op::sign(
        Some(view.id()),
        &a[0].key,
        view.heads(),
        70_001,
        Action::Rotate(seal_rekey(
            &TOPIC,
            &[a[0].kx.public()],
            &EpochSecret::from_bytes([1; 32]),
            &[2; 32],
        )),
    )
    .unwrap();
    view.insert(short.clone(), 70_001);
    assert!(matches!(
        view.verdict(&short.id),
        Some(Verdict::Rejected(Refusal::WrongRecipients {
            expected: 4,
            got: 1
        }))
    ));
}

/// ```text
///              +-- owner: demote M ------------------+
/// ... appoint M                                      +-- merge
///              +-- M: remove X, invite I, admit N ---+
/// ```
/// Where only moderators may invite, all three are voided; where members
/// may, the invite and admission stand (M is still a member), and the
/// admission's epoch, which left out X, is repaired by a rotate.
#[test]
fn demote_voids_the_demoted_moderators_concurrent_actions() {
    for invite in [WhoInvites::Moderators, WhoInvites::Members] {
        let policy = Policy {
            invite,
            ..Policy::default()
        };
        let (a, mut owner_view) = circle_with(3, policy);
        let (m, x, n) = (&a[1], &a[2], Actor::new(9));
        act(&mut owner_view, &a[0], Draft::Appoint(m.pk()), 50_000).unwrap();
        let mut m_view = copy(&owner_view);
        let before = owner_view.state().current_epoch().unwrap().op;

        act(&mut owner_view, &a[0], Draft::Demote(m.pk()), 60_000).unwrap();
        let rm = Draft::Remove {
            member: x.pk(),
            reason: String::new(),
        };
        let remove = act(&mut m_view, m, rm, 60_100).unwrap();
        let admit = invite_and_admit(&mut m_view, m, &n, 77, 60_200);
        assert!(m_view.state().role(&n.pk()).is_ok());

        sync(&mut owner_view, &mut m_view, 70_000);
        assert_eq!(owner_view.state(), m_view.state());
        assert_eq!(owner_view.verdicts(), m_view.verdicts());
        let view = &mut owner_view;
        assert_eq!(role(view, m), Some(Role::Member));
        assert_eq!(role(view, x), Some(Role::Member), "the removal was voided");
        assert!(matches!(
            view.verdict(&remove.id),
            Some(Verdict::Superseded(Refusal::Voided { .. }))
        ));
        if invite == WhoInvites::Moderators {
            assert_eq!(role(view, &n), None, "the admission was voided");
            assert!(matches!(
                view.verdict(&admit.id),
                Some(Verdict::Superseded(_))
            ));
            assert_eq!(view.state().current_epoch().unwrap().op, before);
            assert!(!view.state().needs_rekey());
        } else {
            assert_eq!(role(view, &n), Some(Role::Member));
            assert!(
                view.state().needs_rekey(),
                "X is not in the admission's epoch"
            );
            let first = view.state().duty_order()[0];
            let who = a.iter().chain([&n]).find(|p| p.pk() == first).unwrap();
            act(view, who, Draft::Rotate, 80_000).unwrap();
            assert!(epoch_secret_for(view, x).is_some());
            assert!(epoch_secret_for(view, &n).is_some());
        }
    }
}

/// ```text
///        +-- M1 removes X --+
/// ... ---+                  +-- merge: both apply, then a rotate
///        +-- M2 removes Y --+
/// ```
#[test]
fn two_removals_at_once_both_apply_and_a_rotate_follows() {
    let (a, mut v1) = circle_with(5, Policy::default());
    act(&mut v1, &a[0], Draft::Appoint(a[1].pk()), 60_000).unwrap();
    act(&mut v1, &a[0], Draft::Appoint(a[2].pk()), 60_001).unwrap();
    let mut v2 = copy(&v1);
    let rm = |m: &Actor| Draft::Remove {
        member: m.pk(),
        reason: String::new(),
    };
    act(&mut v1, &a[1], rm(&a[4]), 70_000).unwrap();
    act(&mut v2, &a[2], rm(&a[5]), 70_000).unwrap();
    sync(&mut v1, &mut v2, 80_000);
    assert_eq!(v1.state(), v2.state());
    assert!(matches!(
        standing(&v1, &a[4]),
        Some(Standing::Removed { .. })
    ));
    assert!(matches!(
        standing(&v1, &a[5]),
        Some(Standing::Removed { .. })
    ));
    assert!(
        v1.state().needs_rekey(),
        "one of the two epochs still has a removed member"
    );

    let order = v1.state().duty_order();
    let first = a.iter().find(|p| p.pk() == order[0]).unwrap();
    let second = a.iter().find(|p| p.pk() == order[1]).unwrap();
    assert!(v1.rekey_due(&first.pk(), 80_000));
    assert!(!v1.rekey_due(&second.pk(), 80_000 + REKEY_STEP_MS - 1));
    assert!(v1.rekey_due(&second.pk(), 80_000 + REKEY_STEP_MS));
    act(&mut v1, first, Draft::Rotate, 81_000).unwrap();
    assert!(!v1.state().needs_rekey());
    assert!(!v1.rekey_due(&second.pk(), 200_000));
    let key = epoch_secret_for(&v1, &a[3]).unwrap();
    assert_eq!(epoch_secret_for(&v1, &a[0]).unwrap(), key);
    assert!(epoch_secret_for(&v1, &a[4]).is_none() && epoch_secret_for(&v1, &a[5]).is_none());
}

/// ```text
///        +-- owner revokes I ------+
/// ... ---+                         +-- merge: the admission is voided
///        +-- B admits J through I -+
/// ```
#[test]
fn a_revocation_voids_a_concurrent_admission() {
    for flip in 0..4u64 {
        let (a, mut v1) = circle_with(2, Policy::default());
        let inv = invite_key(500 + flip);
        let draft = Draft::Invite {
            key: inv.public_key(),
            expires: None,
            uses: None,
            approval: false,
        };
        act(&mut v1, &a[2], draft, 50_000).unwrap();
        let mut v2 = copy(&v1);
        act(
            &mut v1,
            &a[0],
            Draft::Revoke(inv.public_key()),
            60_000 + flip,
        )
        .unwrap();
        let j = Actor::new(30);
        let req = request(v2.id(), &inv, &j, 60_000);
        let admit = act(&mut v2, &a[2], Draft::Admit(req.clone()), 60_010 + flip).unwrap();
        sync(&mut v1, &mut v2, 70_000);
        assert_eq!(v1.state(), v2.state());
        assert_eq!(role(&v1, &j), None);
        assert!(matches!(
            v1.verdict(&admit.id),
            Some(Verdict::Superseded(_))
        ));
        // And afterwards the invite says who revoked it.
        let err = v1
            .draft(&a[2].key, Draft::Admit(req), 80_000, &entropy(1))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "this invite was revoked by {} on 1970-01-01 00:01 UTC",
                handle(&a[0].pk())
            )
        );
    }
}

#[test]
fn expiry_uses_and_approval() {
    let (a, mut view) = circle_with(2, Policy::default());
    let inv = invite_key(101);
    let draft = Draft::Invite {
        key: inv.public_key(),
        expires: Some(100_000),
        uses: Some(1),
        approval: false,
    };
    act(&mut view, &a[1], draft, 50_000).unwrap();
    let (j, k) = (Actor::new(20), Actor::new(21));
    let late = Draft::Admit(request(view.id(), &inv, &j, 99_000));
    assert_eq!(
        act(&mut view, &a[1], late, 100_000)
            .unwrap_err()
            .to_string(),
        "this invite expired on 1970-01-01 00:01 UTC"
    );
    // Two admissions through a one-use invite in a partition: one stands.
    let mut other = copy(&view);
    let id = view.id();
    let admit_j = act(
        &mut view,
        &a[1],
        Draft::Admit(request(id, &inv, &j, 60_000)),
        60_000,
    )
    .unwrap();
    let admit_k = act(
        &mut other,
        &a[2],
        Draft::Admit(request(id, &inv, &k, 60_000)),
        60_000,
    )
    .unwrap();
    sync(&mut view, &mut other, 61_000);
    let applied = [&admit_j, &admit_k]
        .iter()
        .filter(|op| view.verdict(&op.id) == Some(Verdict::Applied))
        .count();
    assert_eq!(applied, 1);
    assert!([&admit_j, &admit_k].iter().any(|op| matches!(
        view.verdict(&op.id),
        Some(Verdict::Superseded(Refusal::InviteUsedUp { uses: 1 }))
    )));

    // An approval invite: a member forwards the request, a moderator admits.
    let appr = invite_key(102);
    let draft = Draft::Invite {
        key: appr.public_key(),
        expires: Some(200_000),
        uses: None,
        approval: true,
    };
    act(&mut view, &a[0], draft, 150_000).unwrap();
    let l = Actor::new(22);
    let req = request(view.id(), &appr, &l, 150_100);
    assert_eq!(
        act(&mut view, &a[2], Draft::Admit(req.clone()), 150_200)
            .unwrap_err()
            .to_string(),
        "only moderators can approve this invite's requests"
    );
    act(&mut view, &a[2], Draft::Request(req.clone()), 150_300).unwrap();
    assert!(view.state().pending.contains_key(&req.id));
    act(&mut view, &a[0], Draft::Appoint(a[1].pk()), 150_400).unwrap();
    // Approved after the invite expired: the request came in before.
    act(&mut view, &a[1], Draft::Admit(req.clone()), 300_000).unwrap();
    assert_eq!(role(&view, &l), Some(Role::Member));
    assert!(view.state().pending.is_empty());
}

#[test]
fn a_removed_person_stays_out_on_every_invite_until_a_moderator_lets_them_back() {
    let (a, mut view) = circle_with(3, Policy::default());
    let id = view.id();
    act(&mut view, &a[0], Draft::Appoint(a[1].pk()), 50_000).unwrap();
    let remove = |who: &Actor| Draft::Remove {
        member: who.pk(),
        reason: "harassment".into(),
    };
    act(&mut view, &a[1], remove(&a[3]), 51_000).unwrap();
    // Their own invite, an open one, a fresh approval one: all refuse.
    let open = invite_key(3);
    let words = act(
        &mut view,
        &a[1],
        Draft::Admit(request(id, &open, &a[3], 52_000)),
        52_000,
    )
    .unwrap_err()
    .to_string();
    assert!(words.contains("a moderator must let them back"), "{words}");
    let appr = invite_key(200);
    act(
        &mut view,
        &a[2],
        Draft::Invite {
            key: appr.public_key(),
            expires: None,
            uses: None,
            approval: true,
        },
        52_100,
    )
    .unwrap();
    assert!(act(
        &mut view,
        &a[2],
        Draft::Request(request(id, &appr, &a[3], 52_200)),
        52_200
    )
    .is_err());
    // An op admitting them, signed by a member who may admit, is not placed
    // by anyone else either.
    let mut other = copy(&view);
    let forged = {
        let scratch = copy(&view);
        let req = request(id, &open, &a[3], 52_300);
        scratch.draft(&a[2].key, Draft::Admit(req), 52_300, &entropy(52_300))
    };
    assert!(forged.is_err());
    // A member cannot let them back; a moderator can, and then they may join.
    assert_eq!(
        act(&mut view, &a[2], Draft::Readmit(a[3].pk()), 53_000)
            .unwrap_err()
            .to_string(),
        "only moderators can let removed people back"
    );
    act(&mut view, &a[1], Draft::Readmit(a[3].pk()), 53_100).unwrap();
    assert!(act(&mut view, &a[1], Draft::Readmit(a[3].pk()), 53_150).is_err());
    act(
        &mut view,
        &a[2],
        Draft::Admit(request(id, &open, &a[3], 53_200)),
        53_200,
    )
    .unwrap();
    assert_eq!(role(&view, &a[3]), Some(Role::Member));
    sync(&mut view, &mut other, 54_000);
    assert_eq!(view.state(), other.state());
    // Removed by the owner: only the owner lets them back.
    act(&mut view, &a[0], remove(&a[3]), 55_000).unwrap();
    assert_eq!(
        act(&mut view, &a[1], Draft::Readmit(a[3].pk()), 55_100)
            .unwrap_err()
            .to_string(),
        "only the owner can let removed people back"
    );
    act(&mut view, &a[0], Draft::Readmit(a[3].pk()), 55_200).unwrap();
    // Someone who only left may come back on any working invite.
    act(&mut view, &a[2], Draft::Leave, 56_000).unwrap();
    act(
        &mut view,
        &a[1],
        Draft::Admit(request(id, &open, &a[2], 56_100)),
        56_100,
    )
    .unwrap();
}

#[test]
fn leaving_needs_a_rekey_that_a_remaining_member_makes() {
    let (a, mut view) = circle_with(3, Policy::default());
    act(&mut view, &a[2], Draft::Leave, 50_000).unwrap();
    assert!(matches!(
        standing(&view, &a[2]),
        Some(Standing::Left { .. })
    ));
    assert!(view.state().needs_rekey());
    assert!(view
        .draft(&a[2].key, Draft::Rotate, 50_001, &entropy(5))
        .is_err());
    let first = view.state().duty_order()[0];
    let who = a.iter().find(|p| p.pk() == first).unwrap();
    act(&mut view, who, Draft::Rotate, 50_002).unwrap();
    assert!(!view.state().needs_rekey());
    assert!(epoch_secret_for(&view, &a[2]).is_none());
    assert_eq!(
        view.draft(&a[3].key, Draft::Rotate, 50_003, &entropy(6))
            .unwrap_err()
            .to_string(),
        "only moderators can change the circle's key now"
    );
}

#[test]
fn every_arrival_order_gives_the_same_state() {
    let (a, mut v1) = circle_with(4, Policy::default());
    act(&mut v1, &a[0], Draft::Appoint(a[1].pk()), 60_000).unwrap();
    let mut v2 = copy(&v1);
    act(&mut v1, &a[0], Draft::Demote(a[1].pk()), 70_000).unwrap();
    act(
        &mut v2,
        &a[1],
        Draft::Remove {
            member: a[3].pk(),
            reason: "x".into(),
        },
        70_000,
    )
    .unwrap();
    act(&mut v2, &a[4], Draft::Leave, 70_001).unwrap();
    sync(&mut v1, &mut v2, 80_000);
    let all: Vec<Op> = v1.ops().skip(1).cloned().collect();
    let want = v1.verdicts().clone();
    let mut seed = 1u64;
    for _ in 0..30 {
        let mut shuffled = all.clone();
        for i in (1..shuffled.len()).rev() {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            shuffled.swap(i, (seed >> 33) as usize % (i + 1));
        }
        let mut v = Circle::from_genesis(v1.genesis().clone()).unwrap();
        for op in shuffled {
            v.insert(op, 0);
        }
        assert!(v.missing().is_empty());
        assert_eq!(v.state(), v1.state());
        assert_eq!(v.verdicts(), &want);
    }
}

#[test]
fn ops_of_another_circle_are_refused_and_missing_parents_are_named() {
    let (a, view) = circle_with(1, Policy::default());
    let mut other = create(&Actor::new(40), Policy::default());
    let op = view.ops().nth(1).unwrap().clone();
    assert!(matches!(other.insert(op, 0), Inserted::Refused(_)));
    let mut fresh = Circle::from_genesis(view.genesis().clone()).unwrap();
    let last = view.ops().last().unwrap().clone();
    assert!(matches!(
        fresh.insert(last.clone(), 0),
        Inserted::Waiting(_)
    ));
    assert_eq!(fresh.missing(), last.parents);
    let _ = a;
    let placed = fresh.insert_many(view.ops().skip(1).cloned(), 0);
    assert!(placed
        .iter()
        .any(|p| matches!(p, Inserted::Placed(ids) if ids.contains(&last.id))));
    assert_eq!(fresh.state(), view.state());
    let _: OpId = last.id;
}

mod simulated {
    use super::super::sim::{run, Config};
    use super::super::{History, Policy, WhoInvites};
    use proptest::prelude::*;

    fn cases() -> u32 {
        std::env::var("KINDRED_SIM_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(48)
    }

    fn config(seed: u64, people: usize, steps: usize, moderators: bool, share: bool) -> Config {
        Config {
            seed,
            people,
            steps,
            policy: Policy {
                history: if share {
                    History::Share
                } else {
                    History::Protect
                },
                invite: if moderators {
                    WhoInvites::Moderators
                } else {
                    WhoInvites::Members
                },
            },
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]
        /// Replay one failure with KINDRED_SIM_SEED=<seed> (see `replay`).
        #[test]
        fn simulated_circles_converge(
            seed in any::<u64>(),
            people in 3usize..12,
            steps in 20usize..160,
            moderators in any::<bool>(),
            share in any::<bool>(),
        ) {
            let c = config(seed, people, steps, moderators, share);
            let r = run(&c);
            prop_assert!(r.is_ok(), "{c:?}: {}", r.unwrap_err());
        }
    }

    /// A tool, not a test: `KINDRED_SIM_SEED=seed[,people,steps,moderators,share]
    /// cargo test -p kindred-proto replay -- --ignored` replays one run (a
    /// failing property case prints its seed). Ignored, so it never counts
    /// as a passing test.
    #[test]
    #[ignore = "replays the simulator run named by KINDRED_SIM_SEED"]
    fn replay() {
        let spec = std::env::var("KINDRED_SIM_SEED").unwrap_or_else(|_| "1".into());
        let f: Vec<&str> = spec.split(',').collect();
        let num = |i: usize, d: u64| f.get(i).and_then(|v| v.parse().ok()).unwrap_or(d);
        let c = config(
            num(0, 1),
            num(1, 10) as usize,
            num(2, 150) as usize,
            num(3, 0) == 1,
            num(4, 0) == 1,
        );
        println!("{:?}", run(&c).unwrap());
    }

    #[test]
    fn a_long_run_with_many_people_converges_and_does_things() {
        let r = run(&Config {
            seed: 7,
            people: 14,
            steps: 400,
            ..Config::default()
        })
        .unwrap();
        println!("{r:?}");
        assert!(
            r.ops > 50 && r.applied > 20 && r.superseded > 0 && r.epochs > 5,
            "{r:?}"
        );
        assert!(r.partitions > 0 && r.removed > 0, "{r:?}");
    }
}
