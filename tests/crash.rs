//! Crash recovery in the manner of sled's own tests: kill the real node with
//! SIGKILL at random moments while posts stream in, and check on every
//! reopen that the store opens and holds every acknowledged post once.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{poster, Lcg, Node};

#[test]
fn sigkill_during_posts_never_loses_an_acknowledged_message() {
    let seed = std::env::var("KINDRED_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| std::process::id() as u64);
    let rounds: usize = std::env::var("KINDRED_CRASH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    println!("crash test seed {seed}, {rounds} rounds (KINDRED_CRASH_SEED / KINDRED_CRASH_ROUNDS to change)");
    let mut rng = Lcg(seed);
    let mut node = Node::new("crashy");
    let invite = node.create("circle");
    // Another member posts throughout, so the crashing node is also
    // receiving (gossip and sync) when it dies.
    let other = Node::new("steady");
    other.join(&invite);
    let theirs: Arc<Mutex<Vec<String>>> = Arc::default();
    let done = Arc::new(AtomicBool::new(false));
    let talker = poster(
        other.dir.clone(),
        "steady".into(),
        done.clone(),
        theirs.clone(),
        Duration::from_millis(20),
    );
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    for round in 0..rounds {
        let stop = Arc::new(AtomicBool::new(false));
        // The post running at the kill may or may not be acknowledged;
        // the prefix keeps every round's texts distinct.
        let prefix = format!("round {round} post");
        let writer = poster(
            node.dir.clone(),
            prefix,
            stop.clone(),
            acked.clone(),
            Duration::ZERO,
        );
        std::thread::sleep(Duration::from_millis(50 + rng.next(400)));
        node.kill9();
        stop.store(true, Ordering::Relaxed);
        writer.join().expect("writer thread");
        node.start();
        let texts = node.texts("circle");
        let unique: HashSet<&String> = texts.iter().collect();
        assert_eq!(
            unique.len(),
            texts.len(),
            "a post appears twice after round {round}"
        );
        let acked = acked.lock().unwrap_or_else(|p| p.into_inner());
        for a in acked.iter() {
            assert!(
                unique.contains(a),
                "acknowledged post {a:?} lost after SIGKILL in round {round} (seed {seed})"
            );
        }
    }
    done.store(true, Ordering::Relaxed);
    talker.join().expect("talker thread");
    let theirs = theirs.lock().unwrap_or_else(|p| p.into_inner()).clone();
    common::wait_for(
        "the crashed node to have every post the other member made",
        Duration::from_secs(60),
        || {
            let have: HashSet<String> = node.texts("circle").into_iter().collect();
            theirs.iter().all(|t| have.contains(t)).then_some(())
        },
    );
    let total = acked.lock().unwrap_or_else(|p| p.into_inner()).len();
    println!(
        "{rounds} SIGKILLs, {total} acknowledged posts, none lost; all {} posts received from the other member are there",
        theirs.len()
    );
    assert!(total > 0, "no post was ever acknowledged");
}

#[test]
fn a_damaged_store_is_reported_clearly() {
    let mut node = Node::new("damaged");
    node.create("circle");
    node.post("circle", "hello");
    node.stop();
    let db = node.dir.join("db");
    for entry in std::fs::read_dir(&db).expect("db dir").flatten() {
        if entry.path().is_file() {
            std::fs::write(entry.path(), vec![0xA5; 8192]).expect("corrupt");
        }
    }
    let out = std::process::Command::new(common::BIN)
        .arg("--data-dir")
        .arg(&node.dir)
        .args(["up", "--listen", "/ip4/127.0.0.1/tcp/0"])
        .output()
        .expect("run up");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a damaged store opened");
    assert!(
        err.contains("may be damaged") && err.contains("left untouched"),
        "unclear error: {err}"
    );
    // Nothing was wiped.
    assert!(std::fs::read(db.join("conf"))
        .map(|b| b == vec![0xA5; 8192])
        .unwrap_or(false));
}
