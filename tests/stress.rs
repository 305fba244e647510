//! The store under concurrent writers: posts, invites, a join and live
//! gossip from another member, all at once against the real binary, then a
//! SIGKILL and a reopen. sled 0.34 deadlocked for good here (concurrent
//! `flush_async`); it is a race, so the test runs several rounds.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{wait_for, Node};
use serde_json::Value;

/// Longest any request may take: the store reports a stalled flush after
/// 15 s, so an answer later than this means the node hung.
const ANSWER_WITHIN: Duration = Duration::from_secs(30);
const ROUNDS: usize = 40;
const POSTS: usize = 100;
const INVITES: usize = 20;

struct Api {
    base: String,
    token: String,
}

impl Api {
    fn of(n: &Node) -> Api {
        let control: Value = serde_json::from_slice(
            &std::fs::read(n.dir.join("control.json")).expect("control.json"),
        )
        .expect("json");
        let token = std::fs::read_to_string(n.dir.join("control.token")).expect("token");
        Api {
            base: format!("http://{}", control["addr"].as_str().expect("addr")),
            token: token.trim().to_string(),
        }
    }
}

#[derive(Debug)]
enum Outcome {
    /// A post the node confirmed, with its id.
    Posted(String),
    Invited,
    /// An error status: allowed, as long as it came in time and the post
    /// was not sent.
    Refused(u16, String),
}

#[test]
fn concurrent_writers_never_hang_the_store_and_confirmed_posts_survive_a_kill() {
    let mut alice = Node::new("alice");
    let bob = Node::new("bob");
    let invite = alice.create("stress");
    bob.join(&invite);
    let carol = Node::new("carol");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let http = reqwest::Client::builder()
        .timeout(ANSWER_WITHIN)
        .build()
        .expect("client");

    let mut confirmed: BTreeSet<String> = BTreeSet::new();
    let mut longest = Duration::ZERO;
    let mut refused = 0;
    for round in 0..ROUNDS {
        let api = Api::of(&alice);
        // Bob talks meanwhile (gossip and syncs into alice's store), and in
        // the first round carol joins (join sessions flush on both sides).
        let bob_dir = bob.dir.clone();
        let bob_posts = std::thread::spawn(move || {
            for i in 0..10 {
                let _ = std::process::Command::new(common::BIN)
                    .arg("--data-dir")
                    .arg(&bob_dir)
                    .args(["post", "stress", &format!("bob {round} {i}")])
                    .output();
            }
        });
        let carol_join = (round == 0).then(|| {
            let invite = invite.clone();
            let dir = carol.dir.clone();
            std::thread::spawn(move || {
                let _ = std::process::Command::new(common::BIN)
                    .arg("--data-dir")
                    .arg(dir)
                    .args(["join", &invite])
                    .output();
            })
        });
        let outcomes: Vec<(Duration, Result<Outcome, String>)> = rt.block_on(async {
            let mut tasks = Vec::new();
            for i in 0..POSTS + INVITES {
                let http = http.clone();
                let (base, token) = (api.base.clone(), api.token.clone());
                tasks.push(tokio::spawn(async move {
                    let started = Instant::now();
                    let req = if i < POSTS {
                        http.post(format!("{base}/v1/topics/stress/messages"))
                            .json(&serde_json::json!({ "text": format!("round {round} post {i}") }))
                    } else {
                        http.post(format!("{base}/v1/topics/stress/invite"))
                            .json(&serde_json::json!({}))
                    };
                    let r = req.bearer_auth(token).send().await;
                    let out = match r {
                        Err(e) => Err(format!("no answer: {e}")),
                        Ok(r) => {
                            let status = r.status().as_u16();
                            let body: Value = r.json().await.unwrap_or(Value::Null);
                            Ok(match (status, i < POSTS) {
                                (200, true) => Outcome::Posted(
                                    body["id"].as_str().unwrap_or_default().to_string(),
                                ),
                                (200, false) => Outcome::Invited,
                                (s, _) => Outcome::Refused(s, body.to_string()),
                            })
                        }
                    };
                    (started.elapsed(), out)
                }));
            }
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.expect("task"));
            }
            out
        });
        for (took, out) in outcomes {
            longest = longest.max(took);
            match out {
                Err(e) => panic!(
                    "round {round}: a request got no answer within {ANSWER_WITHIN:?} ({e}); \
                     the node hung. Log:\n{}",
                    alice.log()
                ),
                Ok(Outcome::Posted(id)) => {
                    assert!(!id.is_empty());
                    confirmed.insert(id);
                }
                Ok(Outcome::Invited) => {}
                Ok(Outcome::Refused(status, body)) => {
                    eprintln!("round {round}: refused {status}: {body}");
                    refused += 1;
                }
            }
        }
        bob_posts.join().expect("bob posts");
        if let Some(j) = carol_join {
            j.join().expect("carol joins");
        }
        // Still answering between rounds.
        alice.status();
    }
    eprintln!(
        "{} posts confirmed, {refused} refused, longest answer {longest:?}",
        confirmed.len()
    );

    // Every confirmed post is on disk after a kill.
    alice.kill9();
    alice.start();
    let ids: BTreeSet<String> = alice
        .read("stress")
        .iter()
        .filter_map(|m| m["id"].as_str().map(str::to_string))
        .collect();
    let lost: Vec<&String> = confirmed.difference(&ids).collect();
    assert!(
        lost.is_empty(),
        "confirmed posts lost after SIGKILL: {lost:?}"
    );

    // What bob has from alice is what alice confirmed: a refused post was
    // never sent. (Bob's copy arrives by gossip or sync.)
    let from_alice = |b: &Node| -> BTreeSet<String> {
        b.read("stress")
            .iter()
            .filter(|m| m["text"].as_str().is_some_and(|t| t.starts_with("round ")))
            .filter_map(|m| m["id"].as_str().map(str::to_string))
            .collect()
    };
    let seen = wait_for(
        "bob to hold every confirmed post",
        Duration::from_secs(60),
        || {
            let seen = from_alice(&bob);
            confirmed.is_subset(&seen).then_some(seen)
        },
    );
    let unconfirmed: Vec<&String> = seen.difference(&confirmed).collect();
    assert!(
        unconfirmed.is_empty(),
        "posts alice did not confirm reached bob: {unconfirmed:?}"
    );
}
