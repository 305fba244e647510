//! Faults a laptop meets: a full disk. Needs root (to mount a small tmpfs);
//! skips, saying why, elsewhere.

mod common;

use std::process::Command;

use common::{wait_for, Node};

struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        if unsafe { libc::geteuid() } != 0 {
            common::skip_or_fail("the disk-full test needs root to mount a tmpfs");
            return None;
        }
        let dir = std::env::temp_dir().join(format!("kindred-full-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            common::skip_or_fail("cannot mount a tmpfs here");
            return None;
        }
        Some(Tmpfs(dir))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// Fills the filesystem holding `dir` until writes fail.
fn fill(dir: &std::path::Path) -> std::path::PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).expect("filler");
    let block = vec![0xA5u8; 64 * 1024];
    while f.write_all(&block).is_ok() {}
    let _ = f.sync_all();
    path
}

#[test]
fn a_full_disk_is_reported_clearly_and_the_node_keeps_serving() {
    let Some(fs) = Tmpfs::mount("48m") else {
        return;
    };
    let mut node = Node::at_dir("full", &fs.0.join("data"));
    node.create("circle");
    for i in 0..3 {
        node.post("circle", &format!("before {i}"));
    }
    let filler = fill(&fs.0);
    // sled first uses space it already holds; keep posting until it needs
    // more. From then on the node must say so, not acknowledge.
    let mut acked = Vec::new();
    let mut failure = None;
    for i in 0..3000 {
        let text = format!("{i:05} {}", "x".repeat(20_000));
        let out = node.cli(&["post", "circle", &text]);
        if out.status.success() {
            acked.push(text);
        } else {
            failure = Some(String::from_utf8_lossy(&out.stderr).into_owned());
            break;
        }
    }
    let err = failure.expect("the disk never filled up");
    println!("{} more posts fit; then: {}", acked.len(), err.trim());
    assert!(
        err.to_lowercase().contains("space") || err.to_lowercase().contains("disk"),
        "unclear error on a full disk: {err}"
    );
    // It keeps serving what it has.
    assert!(node.texts("circle").iter().any(|t| t == "before 2"));
    assert!(node.cli(&["status"]).status.success());
    // Space comes back: so does posting, and nothing acknowledged was lost.
    std::fs::remove_file(filler).expect("remove filler");
    wait_for(
        "posting to work again",
        std::time::Duration::from_secs(30),
        || {
            node.cli(&["post", "circle", "after"])
                .status
                .success()
                .then_some(())
        },
    );
    node.stop();
    node.start();
    let texts = node.texts("circle");
    for want in ["before 0", "before 1", "before 2", "after"] {
        assert!(texts.iter().any(|t| t == want), "{want} lost");
    }
    for a in &acked {
        assert!(
            texts.contains(a),
            "an acknowledged post was lost: {}",
            &a[..5]
        );
    }
}
