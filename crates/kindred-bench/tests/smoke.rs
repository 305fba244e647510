//! Every scenario at a tiny size, so the suite cannot rot unnoticed between
//! full runs: each must finish and print its table.

use std::process::Command;

fn run(args: &[&str], expect: &str) {
    let out_dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_kindred-bench"))
        .arg("--out")
        .arg(out_dir.path())
        .args(args)
        .output()
        .expect("run kindred-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "kindred-bench {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(expect), "no {expect:?} in:\n{stdout}");
    assert!(out_dir.path().join("results.md").exists());
}

#[test]
fn mesh_runs_both_stacks() {
    run(
        &[
            "mesh",
            "--sizes",
            "3",
            "--messages",
            "5",
            "--rate",
            "50",
            "--settle",
            "0",
        ],
        "| delivery | 100.00% (10/10) | 100.00% (10/10) |",
    );
}

#[test]
fn ingest_catchup_and_history_run() {
    run(&["ingest", "--count", "100"], "node / ceiling");
    run(&["catchup", "--counts", "50"], "| 50 |");
    run(
        &["history", "--circles", "2", "--per-circle", "50"],
        "idle node RSS",
    );
}

#[test]
fn rekey_runs_pure_and_live() {
    run(&["rekey", "--sizes", "4", "--live-max", "4"], "| 4 |");
}
