//! A circle that can protect itself, with the real binary: roles, removal
//! with a new key, invites that can be revoked, expire and need approval,
//! and invites whose rules were altered.

mod common;

use std::time::Duration;

use common::{wait_for, Node};
use serde_json::Value;

const T: Duration = Duration::from_secs(60);

fn members(n: &Node, topic: &str) -> Vec<Value> {
    serde_json::from_str(&n.ok(&["members", topic, "--json"])).expect("members --json")
}

fn handle_of(n: &Node, topic: &str) -> String {
    members(n, topic)
        .into_iter()
        .find(|m| m["mine"] == true)
        .and_then(|m| m["handle"].as_str().map(str::to_string))
        .expect("own handle")
}

fn err(n: &Node, args: &[&str]) -> String {
    let out = n.cli(args);
    assert!(
        !out.status.success(),
        "`kindred {}` should fail",
        args.join(" ")
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn invite(n: &Node, topic: &str, extra: &[&str]) -> String {
    let mut args = vec!["topic", "invite", topic];
    args.extend_from_slice(extra);
    n.ok(&args).trim().to_string()
}

/// Owner + 4 members; the owner appoints a moderator, who removes one.
/// The next posts reach everyone else and never the removed node (its own
/// `read` never shows them, its data dir intact), and its posts are
/// refused by all, and by its own node with the reason.
#[test]
fn a_removed_member_reads_nothing_new_and_cannot_post() {
    let owner = Node::new("owner");
    let people: Vec<Node> = ["mod", "ann", "ben", "cat"]
        .iter()
        .map(|n| Node::new(n))
        .collect();
    let first = owner.create("recovery");
    let mut invites = Vec::new();
    for p in &people {
        invites.push(invite(&owner, "recovery", &[]));
        let joined = p.join(invites.last().expect("invite"));
        assert!(joined.contains("Joined"), "{joined}");
    }
    let _ = first;
    let (moderator, removed) = (&people[0], &people[3]);
    let mod_handle = handle_of(moderator, "recovery");
    let removed_handle = handle_of(removed, "recovery");
    owner.ok(&["promote", "recovery", &mod_handle]);
    wait_for("the moderator to see its role", T, || {
        members(moderator, "recovery")
            .iter()
            .any(|m| m["mine"] == true && m["role"] == "moderator")
            .then_some(())
    });
    // A member cannot remove anyone.
    let e = err(&people[1], &["remove", "recovery", &removed_handle]);
    assert!(e.contains("only moderators can remove members"), "{e}");
    removed.post("recovery", "before I was removed");
    for n in people.iter().take(3).chain([&owner]) {
        wait_for("everyone to read the post before the removal", T, || {
            n.texts("recovery")
                .contains(&"before I was removed".to_string())
                .then_some(())
        });
    }
    // A unique start of the handle will do, as for every PEER argument.
    let said = moderator.ok(&[
        "remove",
        "recovery",
        &removed_handle[..6],
        "--reason",
        "harassment",
    ]);
    // Removing offers to switch off the invite they came in with.
    assert!(said.contains("still works and let in 0 other(s)"), "{said}");
    // Every remaining member moves to the new key.
    for n in people.iter().take(3).chain([&owner]) {
        wait_for("every member to know of the removal", T, || {
            members(n, "recovery")
                .iter()
                .any(|m| m["handle"] == removed_handle.as_str() && m["state"] == "removed")
                .then_some(())
        });
    }
    let sealed = |n: &Node| n.topic_status("recovery")["sealed"].as_u64().unwrap_or(0);
    let sealed_before = sealed(removed);
    owner.post("recovery", "said after the removal");
    for n in people.iter().take(3) {
        wait_for("the remaining members to read the new post", T, || {
            n.texts("recovery")
                .contains(&"said after the removal".to_string())
                .then_some(())
        });
    }
    // The removed node knows it was removed, and by whom.
    wait_for("the removed node to learn it was removed", T, || {
        let s = removed.topic_status("recovery");
        s["role"]
            .as_str()
            .is_some_and(|r| r.starts_with("removed by") && r.contains(mod_handle.as_str()))
            .then_some(())
    });
    let e = err(removed, &["post", "recovery", "still here?"]);
    assert!(
        e.contains(&format!(
            "you were removed from this circle by {mod_handle}"
        )),
        "{e}"
    );
    // The removal is a plain line in everyone's timeline, with names and
    // the reason; the removed person reads that it was them.
    let line = |n: &Node, says: &str| {
        wait_for("the removal line in the timeline", T, || {
            let out = n.ok(&["read", "recovery"]);
            out.lines()
                .find(|l| l.contains(" — ") && l.contains(says))
                .map(str::to_string)
        })
    };
    let seen = line(&people[1], "removed");
    assert!(
        seen.contains(&format!(
            "Morgan {mod_handle} removed cat {removed_handle}: harassment"
        )),
        "{seen}"
    );
    let told = line(removed, "removed you");
    assert!(
        told.contains(&format!("Morgan {mod_handle} removed you: harassment")),
        "{told}"
    );
    // Joins are lines too; moderators also see the invite each one used.
    let joins = |n: &Node| -> Vec<Value> {
        n.timeline("recovery")
            .into_iter()
            .filter(|m| m["action"]["what"] == "joined")
            .collect()
    };
    let seen = joins(&owner);
    assert!(seen.len() >= 3, "{seen:?}");
    assert!(
        seen.iter().all(|j| j["action"]["invite"].is_string()),
        "{seen:?}"
    );
    let plain = owner.ok(&["read", "recovery"]);
    assert!(plain.contains("joined with invite "), "{plain}");
    assert!(joins(&people[1])
        .iter()
        .all(|j| j["action"]["invite"].is_null()));
    // Its node still syncs with the others (it holds the circle's
    // locator): the new post reaches it, and stays sealed.
    wait_for("the removed node to hold the new post, sealed", T, || {
        (sealed(removed) > sealed_before).then_some(())
    });
    assert!(
        !removed
            .texts("recovery")
            .contains(&"said after the removal".to_string()),
        "the removed member read a post made after its removal"
    );
    // Its earlier post stays for the others; "still here?" never shows.
    for n in people.iter().take(3).chain([&owner]) {
        let texts = n.texts("recovery");
        assert!(!texts.contains(&"still here?".to_string()));
    }
    // A member cannot move the circle to a new key at will; the owner can.
    let e = err(&people[1], &["rotate", "recovery"]);
    assert!(
        e.contains("only moderators can change the circle's key now"),
        "{e}"
    );
    let before = owner.topic_status("recovery")["epoch"]
        .as_u64()
        .unwrap_or_default();
    owner.ok(&["rotate", "recovery"]);
    wait_for("a member to hold the rotated key", T, || {
        let s = people[1].topic_status("recovery");
        (s["epoch"].as_u64() > Some(before) && s["keys_ok"] == true).then_some(())
    });
    let st = owner.topic_status("recovery");
    assert_eq!(st["members"], 4, "{st}");
    assert_eq!(st["keys_ok"], true, "{st}");
    // Removed means out: neither the invite they came with nor a fresh one
    // lets them back in, until a moderator lets them back.
    let again = invite(&owner, "recovery", &[]);
    for inv in [&invites[3], &again] {
        let e = err(removed, &["join", inv]);
        assert!(e.contains("a moderator must let them back"), "{e}");
    }
    let e = err(&people[1], &["readmit", "recovery", &removed_handle]);
    assert!(
        e.contains("only moderators can let removed people back"),
        "{e}"
    );
    moderator.ok(&["readmit", "recovery", &removed_handle]);
    wait_for("the owner to see them let back", T, || {
        members(&owner, "recovery")
            .iter()
            .any(|m| m["handle"] == removed_handle.as_str() && m["readmitted"] == true)
            .then_some(())
    });
    let out = removed.ok(&["join", &again]);
    assert!(out.contains("Joined"), "{out}");
    owner.post("recovery", "welcome back");
    wait_for("the re-admitted member to read the welcome", T, || {
        removed
            .texts("recovery")
            .contains(&"welcome back".to_string())
            .then_some(())
    });
    assert!(!removed
        .texts("recovery")
        .contains(&"said after the removal".to_string()));
}

#[test]
fn revoked_expired_used_up_and_altered_invites_are_refused_in_plain_words() {
    let owner = Node::new("owner");
    let joiner = Node::new("joiner");
    owner.create("grief");
    let owner_handle = handle_of(&owner, "grief");

    let revoked = invite(&owner, "grief", &[]);
    let id = kindred_proto::Invite::parse(&revoked, 0)
        .expect("invite")
        .key
        .public_key()
        .to_hex();
    owner.ok(&["invite", "revoke", "grief", &id[..12]]);
    let e = err(&joiner, &["join", &revoked]);
    assert!(
        e.contains(&format!("this invite was revoked by {owner_handle} on ")),
        "{e}"
    );

    // Expired by the circle's record, though the hint inside the invite
    // was edited out: the member's check decides.
    let expired = invite(&owner, "grief", &["--expires", "0"]);
    let e = err(&joiner, &["join", &expired]);
    assert!(e.contains("expired"), "{e}");
    let mut edited = kindred_proto::Invite::parse(&expired, 0).expect("invite");
    edited.expires = None;
    let e = err(&joiner, &["join", &edited.encode().expect("encode")]);
    assert!(e.contains("this invite expired on "), "{e}");

    // A one-use invite: the second person is refused.
    let once = invite(&owner, "grief", &["--uses", "1"]);
    joiner.join(&once);
    let other = Node::new("other");
    let e = err(&other, &["join", &once]);
    assert!(e.contains("has been used 1 times"), "{e}");

    // Rules altered in the invite: the owner's signature no longer holds.
    let e = err(
        &other,
        &["join", &altered_text(&invite(&owner, "grief", &[]))],
    );
    assert!(e.contains("altered"), "{e}");
    // None of it left a trace on the refused nodes.
    assert_eq!(other.status()["topics"].as_array().map(Vec::len), Some(0));
}

/// The invite's text with one byte of the genesis changed, re-encoded with
/// a valid checksum (what someone editing the rules would produce).
fn altered_text(invite: &str) -> String {
    let mut payload = kindred_proto::invite::TEXT.decode(invite).expect("decode");
    // The rules sit in the genesis, the first field.
    let pos = payload
        .windows(4)
        .position(|w| w == b"Be k")
        .unwrap_or(payload.len() / 4);
    payload[pos] ^= 1;
    kindred_proto::invite::TEXT
        .encode(&payload)
        .expect("encode")
}

#[test]
fn an_approval_invite_waits_for_a_moderator() {
    let owner = Node::new("owner");
    let member = Node::new("member");
    let newcomer = Node::new("newcomer");
    owner.create("anxiety");
    member.join(&invite(&owner, "anxiety", &[]));
    // The member hands out an invite that needs approval; the owner is
    // the only moderator.
    let needs = invite(&member, "anxiety", &["--approve"]);
    let out = newcomer.ok(&["join", &needs]);
    assert!(out.contains("not admitted you yet"), "{out}");
    let e = err(&newcomer, &["post", "anxiety", "hello?"]);
    assert!(e.contains("waiting"), "{e}");
    let waiting = wait_for("the owner to see the request", T, || {
        let v: Value = serde_json::from_str(&owner.ok(&["invites", "anxiety", "--json"])).ok()?;
        v["waiting"][0]["id"].as_str().map(str::to_string)
    });
    // A member cannot approve.
    let e = err(&member, &["approve", "anxiety", &waiting]);
    assert!(e.contains("only moderators"), "{e}");
    owner.ok(&["approve", "anxiety", &waiting]);
    wait_for("the newcomer to be admitted", T, || {
        (newcomer.topic_status("anxiety")["role"] == "member").then_some(())
    });
    newcomer.post("anxiety", "thank you for letting me in");
    wait_for("the member to read the newcomer", T, || {
        member
            .texts("anxiety")
            .contains(&"thank you for letting me in".to_string())
            .then_some(())
    });
}

#[test]
fn leaving_deletes_the_circle_and_renaming_shows_everywhere() {
    let owner = Node::new("owner");
    let b = Node::new("b");
    owner.create("caregivers");
    b.join(&invite(&owner, "caregivers", &[]));
    b.ok(&["rename", "caregivers", "Bea"]);
    // Only moderators and the owner change the rules; everyone sees them.
    let rules = owner.dir.join("rules.txt");
    std::fs::write(&rules, "Be gentle.\nNo advice unless asked.").expect("rules file");
    let rules = rules.to_string_lossy().to_string();
    let e = err(&b, &["rules", "caregivers", &rules]);
    assert!(e.contains("only moderators can change the rules"), "{e}");
    owner.ok(&["rules", "caregivers", &rules]);
    wait_for("b to see the new rules", T, || {
        b.ok(&["rules", "caregivers"])
            .contains("No advice unless asked.")
            .then_some(())
    });
    wait_for("the owner to see the new name", T, || {
        members(&owner, "caregivers")
            .iter()
            .any(|m| m["name"] == "Bea")
            .then_some(())
    });
    let e = err(&owner, &["leave", "caregivers", "--yes"]);
    assert!(e.contains("the owner cannot leave"), "{e}");
    b.ok(&["leave", "caregivers", "--yes"]);
    assert_eq!(b.status()["topics"].as_array().map(Vec::len), Some(0));
    wait_for("the owner to see b left", T, || {
        members(&owner, "caregivers")
            .iter()
            .any(|m| m["name"] == "Bea" && m["state"] == "left")
            .then_some(())
    });
    // The owner's node rotates the key so the one who left has none in use.
    wait_for("the circle to have a key only members hold", T, || {
        (owner.topic_status("caregivers")["keys_ok"] == true).then_some(())
    });
}

/// One way to name a person: `dm`, `remove` and `chat` take a display name,
/// a ~handle or a unique start of it; an ambiguous name lists who it could
/// be; `chat` names people as `inbox` does; `read --limit` counts what it
/// shows, not posts by people you blocked.
#[test]
fn a_person_is_named_the_same_way_everywhere() {
    let owner = Node::new("owner");
    let (ann, ben, cat) = (Node::new("ann"), Node::new("ben"), Node::new("cat"));
    owner.create("grief");
    for n in [&ann, &ben, &cat] {
        n.join(&invite(&owner, "grief", &[]));
    }
    for n in [&owner, &ann] {
        wait_for("everyone's contact card", T, || {
            let known = members(n, "grief").len() == 4;
            (known && n.cli(&["dm", "ben", "hello by name"]).status.success()).then_some(())
        });
    }
    let ann_handle = handle_of(&ann, "grief");
    let said = wait_for(
        "ben to accept and read ann's message, by her name",
        T,
        || {
            let _ = ben.cli(&["accept", "ann"]);
            let out = ben.ok(&["chat", "ann"]);
            out.contains("hello by name").then_some(out)
        },
    );
    assert!(
        said.contains(&format!("ann {ann_handle}: hello by name")),
        "{said}"
    );

    // Two people called ann (case aside): the name alone is not enough.
    cat.ok(&["rename", "grief", "Ann"]);
    wait_for("the owner to see the new name", T, || {
        members(&owner, "grief")
            .iter()
            .any(|m| m["name"] == "Ann")
            .then_some(())
    });
    let cat_handle = handle_of(&cat, "grief");
    let e = err(&owner, &["remove", "grief", "ann"]);
    assert!(
        e.contains(&ann_handle) && e.contains(&cat_handle) && e.contains("give their ~handle"),
        "{e}"
    );
    let e = err(&owner, &["remove", "grief", "nobody-here"]);
    assert!(e.contains("nobody in this circle is called"), "{e}");

    // ann blocks cat; the last three posts she asks for are three she sees.
    ann.ok(&["block", &cat_handle]);
    owner.post("grief", "one");
    owner.post("grief", "two");
    owner.post("grief", "three");
    for i in 0..3 {
        cat.post("grief", &format!("from cat {i}"));
    }
    wait_for("the owner to have cat's posts", T, || {
        (owner.texts("grief").len() >= 6).then_some(())
    });
    wait_for(
        "ann to hold what the owner holds, cat's posts too",
        T,
        || {
            let count = |n: &Node| n.topic_status("grief")["messages"].as_u64();
            (count(&ann) == count(&owner)).then_some(())
        },
    );
    let last = wait_for("ann's last three posts", T, || {
        let out = ann.ok(&["read", "grief", "--limit", "3", "--json"]);
        let texts: Vec<String> = out
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|m| m["action"].is_null())
            .map(|m| m["text"].as_str().unwrap_or_default().to_string())
            .collect();
        (texts == ["one", "two", "three"]).then_some(texts)
    });
    assert_eq!(last.len(), 3);
}
