//! Authority across a real partition (network namespaces, see
//! common/lab.rs): concurrent demotion, removals, an invite and an
//! admission on both sides; after healing every node agrees on members and
//! roles, and no removed member holds a key in use. Skips where namespaces
//! cannot be made.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::lab::Lab;
use common::{wait_for, Node};
use serde_json::Value;

const T: Duration = Duration::from_secs(120);

/// handle -> (state, role), as one node sees the circle.
fn roster(n: &Node) -> BTreeMap<String, (String, String)> {
    let v: Vec<Value> =
        serde_json::from_str(&n.ok(&["members", "circle", "--json"])).expect("members --json");
    v.into_iter()
        .map(|m| {
            (
                m["handle"].as_str().unwrap_or_default().to_string(),
                (
                    m["state"].as_str().unwrap_or_default().to_string(),
                    m["role"].as_str().unwrap_or_default().to_string(),
                ),
            )
        })
        .collect()
}

fn own_handle(n: &Node) -> String {
    let v: Vec<Value> =
        serde_json::from_str(&n.ok(&["members", "circle", "--json"])).expect("members --json");
    v.into_iter()
        .find(|m| m["mine"] == true)
        .and_then(|m| m["handle"].as_str().map(str::to_string))
        .expect("own handle")
}

/// ```text
///            side A: owner, mod2, x         side B: mod1, mod3, y, w, newcomer
///   owner demotes mod1                    mod1 removes w, invites; newcomer joins
///   mod2 removes y                        mod3 removes x
/// ```
/// Only moderators may invite in this circle, so mod1's invite dies with
/// its role: after healing w stays, the newcomer is out, x and y are out.
#[test]
fn a_partition_with_concurrent_demotion_and_removals_heals_into_one_roster() {
    let Some(mut lab) = Lab::new() else { return };
    let names = ["owner", "mod1", "mod2", "mod3", "x", "y", "w", "newcomer"];
    let hosts: Vec<_> = names.iter().map(|n| lab.host(n)).collect();
    let nodes: Vec<Node> = names
        .iter()
        .zip(&hosts)
        .map(|(n, h)| Node::on_host(n, h, &[]))
        .collect();
    let [owner, mod1, mod2, mod3, x, y, w, newcomer] = &nodes[..] else {
        unreachable!()
    };
    let invite = owner
        .ok(&["topic", "create", "circle", "--moderators-invite"])
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    for n in [mod1, mod2, mod3, x, y, w] {
        let fresh = owner.ok(&["topic", "invite", "circle"]).trim().to_string();
        n.join(&fresh);
    }
    let _ = invite;
    let h: BTreeMap<&str, String> = names
        .iter()
        .zip(&nodes)
        .take(7)
        .map(|(name, n)| (*name, own_handle(n)))
        .collect();
    for m in ["mod1", "mod2", "mod3"] {
        owner.ok(&["promote", "circle", &h[m]]);
    }
    // Everyone knows the moderators before the split.
    for n in &nodes[..7] {
        wait_for(&format!("{} to see three moderators", n.name), T, || {
            (roster(n).values().filter(|(_, r)| r == "moderator").count() == 3).then_some(())
        });
    }

    let side_a = [&hosts[0], &hosts[2], &hosts[4]];
    let side_b = [&hosts[1], &hosts[3], &hosts[5], &hosts[6], &hosts[7]];
    for hb in side_b {
        lab.partition(hb, &side_a);
    }
    owner.ok(&["demote", "circle", &h["mod1"]]);
    mod2.ok(&["remove", "circle", &h["y"]]);
    mod1.ok(&["remove", "circle", &h["w"]]);
    mod3.ok(&["remove", "circle", &h["x"]]);
    let side_b_invite = mod1.ok(&["topic", "invite", "circle"]).trim().to_string();
    let joined = newcomer.ok(&["join", &side_b_invite]);
    assert!(
        joined.contains("Joined"),
        "the newcomer is admitted on side B: {joined}"
    );

    for hb in side_b {
        lab.heal(hb);
    }
    let expected: BTreeMap<String, (String, String)> = [
        ("owner", "member", "owner"),
        ("mod1", "member", "member"),
        ("mod2", "member", "moderator"),
        ("mod3", "member", "moderator"),
        ("x", "removed", ""),
        ("y", "removed", ""),
        ("w", "member", "member"),
    ]
    .iter()
    .map(|(n, s, r)| (h[n].clone(), (s.to_string(), r.to_string())))
    .collect();
    // The newcomer's admission is voided: it may appear as removed-from
    // nothing, but never as a member.
    for n in [owner, mod1, mod2, mod3, w] {
        wait_for(&format!("{} to reach the healed roster", n.name), T, || {
            let r = roster(n);
            let members_agree = expected.iter().all(|(k, v)| r.get(k) == Some(v));
            let newcomer_out = r
                .iter()
                .filter(|(k, _)| !expected.contains_key(*k))
                .all(|(_, (s, _))| s != "member");
            (members_agree && newcomer_out).then_some(())
        });
    }
    // The key is rotated until only the members hold the one in use.
    for n in [owner, mod1, mod2, mod3, w] {
        wait_for(
            &format!("{} to hold a key only members hold", n.name),
            T,
            || {
                let s = n.topic_status("circle");
                (s["keys_ok"] == true && s["members"] == 5).then_some(())
            },
        );
    }
    let sealed = |n: &Node| n.topic_status("circle")["sealed"].as_u64().unwrap_or(0);
    let before: Vec<u64> = [x, y, newcomer].iter().map(|n| sealed(n)).collect();
    owner.post("circle", "after the healing");
    for n in [mod1, mod2, mod3, w] {
        wait_for(
            &format!("{} to read the post after healing", n.name),
            T,
            || {
                n.texts("circle")
                    .contains(&"after the healing".to_string())
                    .then_some(())
            },
        );
    }
    // Those left out still sync (they hold the locator): the post reaches
    // them, and stays sealed.
    for (n, was) in [x, y, newcomer].into_iter().zip(before) {
        wait_for(&format!("{} to hold the post, sealed", n.name), T, || {
            (sealed(n) > was).then_some(())
        });
    }
    for n in [x, y, newcomer] {
        assert!(
            !n.texts("circle").contains(&"after the healing".to_string()),
            "{} read a post under a key it must not hold",
            n.name
        );
    }
}
