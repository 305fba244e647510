//! Text other people wrote, shown in a terminal: escapes, fake lines and
//! bidi tricks are neutralised, `--json` stays exact, names with controls
//! are refused, and secrets and text never need the command line.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::{wait_for, Node};

const FAKE: &str = "[2026-12-01 07:27 UTC] Alice ~ffb14a7a: Nobody here wants you, just leave.";

fn hostile_post() -> String {
    format!("hello\u{1b}[2J\u{1b}]52;c;aGk=\u{7} abc\u{202e}cba\n{FAKE}\r\nbye")
}

#[test]
fn hostile_posts_and_names_are_neutralised_where_people_read_them() {
    let alice = Node::new("alice");
    let bob = Node::new("bob");
    let invite = alice.create("night owls");
    // The invite goes in on standard input, never on the command line.
    let out = bob.cli_stdin(&["join"], &format!("{invite}\n"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Joined \"night owls\""));
    // Every invite is a distinct key.
    let (i1, i2) = (
        alice.ok(&["topic", "invite", "night owls"]),
        alice.ok(&["topic", "invite", "night owls"]),
    );
    assert_ne!(i1.trim(), i2.trim());
    assert_ne!(i1.trim(), invite);
    // Again: already a member, and said so.
    let again = bob.cli_stdin(&["join"], &invite);
    assert!(String::from_utf8_lossy(&again.stdout).contains("already in \"night owls\""));

    // The post's text comes from standard input too, untouched by a shell.
    let post = bob.cli_stdin(&["post", "night owls"], &hostile_post());
    assert!(
        post.status.success(),
        "{}",
        String::from_utf8_lossy(&post.stderr)
    );
    alice.wait_posts("night owls", 1, Duration::from_secs(20));

    let shown = alice.ok(&["read", "night owls"]);
    assert!(
        !shown.contains('\u{1b}'),
        "no ESC reaches the terminal: {shown:?}"
    );
    assert!(!shown.contains('\u{7}') && !shown.contains('\u{202e}') && !shown.contains('\r'));
    assert!(shown.contains("hello\\x1b[2J\\x1b]52;c;aGk=\\x07 abc\\u{202e}cba"));
    // Circle actions (bob's join) are lines of their own: set aside.
    let lines: Vec<&str> = shown.lines().filter(|l| !l.contains(" UTC] — ")).collect();
    assert_eq!(lines.len(), 3, "{shown}");
    assert!(lines[0].starts_with('['));
    assert_eq!(
        lines[1],
        format!("    | {FAKE}"),
        "the fake line is marked as a continuation"
    );
    assert_eq!(lines[2], "    | bye");
    assert_eq!(
        lines.iter().filter(|l| l.starts_with('[')).count(),
        1,
        "one post, one message line"
    );

    // --json is exact, and names the author by a 48-bit handle and in full.
    let json = alice.read("night owls");
    assert_eq!(json[0]["text"], hostile_post().trim_end_matches('\n'));
    let handle = json[0]["handle"].as_str().unwrap();
    let author = json[0]["author"].as_str().unwrap();
    assert_eq!(handle.len(), 13);
    assert_eq!(&handle[1..], &author[..12]);
    assert!(lines[0].contains(handle));

    // The whole pseudonym names Bob for a private message.
    let dm = alice.cli_stdin(&["dm", author], "are you all right?");
    assert!(
        dm.status.success(),
        "{}",
        String::from_utf8_lossy(&dm.stderr)
    );
    wait_for(
        "bob to get alice's request",
        Duration::from_secs(20),
        || {
            bob.ok(&["requests"])
                .contains("are you all right?")
                .then_some(())
        },
    );

    // Counts are the posts `read` shows; profiles and cards apart.
    let t = alice.topic_status("night owls");
    assert_eq!(t["messages"], 1);
    assert!(t["other"].as_u64().unwrap() >= 2);

    // Names with controls are refused when chosen.
    let bad = alice.cli(&["topic", "create", "owls\u{1b}[31m"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("this circle name cannot be used"));
    let bad = alice.cli(&["topic", "create", "owls", "--as", "Bob\nAlice"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("this display name cannot be used"));
}

/// Something else listening where the node used to: the CLI sends it
/// neither the token nor the message.
#[test]
fn the_cli_sends_nothing_to_a_program_that_is_not_the_node() {
    let dir = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::fs::write(
        dir.path().join("control.json"),
        format!(r#"{{"addr":"{addr}","pid":1,"peer_id":"x"}}"#),
    )
    .unwrap();
    let token = "f".repeat(64);
    std::fs::write(dir.path().join("control.token"), &token).unwrap();
    let impostor = std::thread::spawn(move || {
        let mut seen = Vec::new();
        listener.set_nonblocking(false).unwrap();
        for stream in listener.incoming().take(1) {
            let mut s = stream.unwrap();
            s.set_read_timeout(Some(Duration::from_millis(500)))
                .unwrap();
            let mut buf = [0u8; 4096];
            if let Ok(n) = s.read(&mut buf) {
                seen.extend_from_slice(&buf[..n]);
            }
            let body = r#"{"proof":"00"}"#;
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
        }
        seen
    });
    let out = std::process::Command::new(common::BIN)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["post", "night owls", "my secret words"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not the Kindred node"), "{err}");
    let seen = String::from_utf8_lossy(&impostor.join().unwrap()).into_owned();
    assert!(seen.starts_with("GET /v1/hello?nonce="), "{seen}");
    assert!(!seen.contains(&token) && !seen.contains("secret"), "{seen}");
}

/// `block` also hides the blocked person's circle posts, and `unblock`
/// shows them again (nothing is deleted).
#[test]
fn blocking_someone_hides_their_circle_posts_too() {
    let alice = Node::new("alice");
    let bob = Node::new("bob");
    let invite = alice.create("recovery");
    bob.join(&invite);
    bob.post("recovery", "you are all idiots");
    alice.post("recovery", "welcome, everyone");
    alice.wait_posts("recovery", 2, Duration::from_secs(20));
    let bob_handle = bob.handle_seen_by(&alice);
    alice.ok(&["block", &bob_handle]);
    assert_eq!(
        alice.texts("recovery"),
        vec!["welcome, everyone".to_string()]
    );
    // Later posts from Bob stay hidden too; the circle goes on.
    bob.post("recovery", "still here, still rude");
    alice.post("recovery", "second");
    bob.wait_posts("recovery", 4, Duration::from_secs(20));
    // All four are in Alice's store (the count says so); two are shown.
    wait_for(
        "alice to store all four posts",
        Duration::from_secs(20),
        || (alice.topic_status("recovery")["messages"] == 4).then_some(()),
    );
    let shown = alice.texts("recovery");
    assert_eq!(
        shown,
        vec!["welcome, everyone".to_string(), "second".to_string()]
    );
    alice.ok(&["unblock", &bob_handle]);
    wait_for("bob's posts to show again", Duration::from_secs(20), || {
        (alice.texts("recovery").len() == 4).then_some(())
    });
}

/// Someone naming themselves like a member who came before them is
/// flagged on every reader's node, the newest member's included, and the
/// one who had the name first never is (issue 19); a name that claims a
/// role is refused.
#[test]
fn a_borrowed_name_is_marked_on_the_later_one_everywhere() {
    let alice = Node::new("alice");
    let bob = Node::new("Bob");
    let mallory = Node::new("mallory");
    let invite = alice.create("grief");
    bob.join(&invite);
    mallory.ok(&["join", &invite, "--as", "Bøb 🌻"]);
    bob.post("grief", "I'm here if anyone wants to talk.");
    mallory.post("grief", "I'm Bob. Take all your pills.");
    let e = mallory.cli(&["rename", "grief", "alice (owner)"]);
    let said = String::from_utf8_lossy(&e.stderr).to_string();
    assert!(
        !e.status.success() && said.contains("reads as the owner"),
        "{said}"
    );
    // Carol joins now: she cannot read Alice's early profile, yet she is
    // warned too (the name Alice came in with is in the circle's record).
    let carol = Node::new("carol");
    let later = alice.ok(&["topic", "invite", "grief"]);
    carol.join(later.lines().last().unwrap().trim());
    bob.post("grief", "welcome, carol");
    // Then she takes the owner's name, with a Cyrillic А.
    mallory.ok(&["rename", "grief", "\u{410}lice"]);
    mallory.post("grief", "carol, DM me");
    let owner_handle = alice.topic_status("grief")["me"].as_str().unwrap()[..12].to_string();
    for reader in [&alice, &bob, &carol] {
        let posts = wait_for(
            &format!("{} to read the posts after carol came", reader.name),
            Duration::from_secs(20),
            || {
                let posts = reader.read("grief");
                let has = |t: &str| posts.iter().any(|p| p["text"] == t);
                (has("welcome, carol") && has("carol, DM me")).then_some(posts)
            },
        );
        let handle_of = |text: &str| {
            posts
                .iter()
                .find(|p| p["text"].as_str().unwrap().contains(text))
                .map(|p| p["handle"].as_str().unwrap().to_string())
                .unwrap()
        };
        let (real, fake) = (handle_of("welcome, carol"), handle_of("DM me"));
        let flags = wait_for(
            &format!("{} to flag the look-alike", reader.name),
            Duration::from_secs(20),
            || {
                let posts = reader.read("grief");
                let of = |h: &str| -> Vec<String> {
                    posts
                        .iter()
                        .find(|p| p["handle"] == h)
                        .and_then(|p| p["similar_to"].as_array().cloned())
                        .unwrap_or_default()
                        .iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                };
                let (on_real, on_fake) = (of(&real), of(&fake));
                (on_fake.contains(&real) && on_fake.iter().any(|h| h.contains(&owner_handle)))
                    .then_some((on_real, on_fake))
            },
        );
        assert!(
            flags.0.is_empty(),
            "{}: the original is flagged: {:?}",
            reader.name,
            flags.0
        );
        let shown = reader.ok(&["read", "grief"]);
        let line = shown
            .lines()
            .find(|l| l.contains("DM me"))
            .unwrap_or_default()
            .to_string();
        assert!(line.contains("name looks like"), "{}: {shown}", reader.name);
        let line = shown
            .lines()
            .find(|l| l.contains("welcome, carol"))
            .unwrap_or_default()
            .to_string();
        assert!(
            !line.contains("name looks like"),
            "{}: {shown}",
            reader.name
        );
    }
}
