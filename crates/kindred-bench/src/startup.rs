//! startup: the real `kindred` binary as a user runs it. `kindred up` until
//! it prints its first listening address, and `kindred read` of 100
//! messages as a whole command; medians over runs.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::stats::{self, num, Table};

const RUNS: usize = 15;

/// The `kindred` binary beside this one, built first if missing.
fn binary() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let bin = exe.with_file_name("kindred");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let profile = if exe.to_string_lossy().contains("/release/") {
            vec!["--release"]
        } else {
            vec![]
        };
        eprintln!("startup: building the kindred binary…");
        let ok = Command::new(cargo)
            .args(["build", "-p", "kindred", "--bin", "kindred"])
            .args(profile)
            .status()?
            .success();
        if !ok || !bin.exists() {
            bail!("could not build {}", bin.display());
        }
    }
    Ok(bin)
}

fn cli(bin: &Path, dir: &Path, args: &[&str]) -> Result<std::process::Output> {
    let out = Command::new(bin)
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env("NO_COLOR", "1")
        .output()?;
    if !out.status.success() {
        bail!(
            "kindred {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(out)
}

/// Starts `kindred up`; returns it once it printed a listening address,
/// with the time that took.
fn up(bin: &Path, dir: &Path) -> Result<(Child, Duration)> {
    let t = Instant::now();
    let mut child = Command::new(bin)
        .arg("--data-dir")
        .arg(dir)
        .args(["up", "--listen", "/ip4/127.0.0.1/tcp/0"])
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let out = child.stdout.take().context("no stdout")?;
    for line in BufReader::new(out).lines() {
        if line?.starts_with("listening on") {
            return Ok((child, t.elapsed()));
        }
    }
    bail!("kindred up ended without listening")
}

fn stop(mut child: Child) -> Result<()> {
    // SAFETY: sending SIGTERM to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    child.wait()?;
    Ok(())
}

pub fn run() -> Result<String> {
    let bin = binary()?;
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("node");
    cli(&bin, &dir, &["init", "--name", "bench"])?;
    let mut ups = Vec::new();
    for _ in 0..RUNS {
        let (child, took) = up(&bin, &dir)?;
        ups.push(stats::ms(took));
        stop(child)?;
    }
    let (child, _) = up(&bin, &dir)?;
    let result = (|| -> Result<Vec<f64>> {
        cli(&bin, &dir, &["topic", "create", "startup"])?;
        for k in 0..100 {
            cli(&bin, &dir, &["post", "startup", &format!("message {k}")])?;
        }
        let mut reads = Vec::new();
        for _ in 0..RUNS {
            let t = Instant::now();
            let out = cli(&bin, &dir, &["read", "startup", "--limit", "100"])?;
            reads.push(stats::ms(t.elapsed()));
            if !String::from_utf8_lossy(&out.stdout).contains("message 99") {
                bail!("read did not show the messages");
            }
        }
        Ok(reads)
    })();
    stop(child)?;
    let reads = result?;
    let mut t = Table::new(&["measure", "median", "min", "max"]);
    for (name, v) in [
        ("`kindred up` until listening (ms)", ups),
        ("`kindred read` of 100 messages, whole command (ms)", reads),
    ] {
        let s = stats::sorted(v);
        t.row(vec![
            name.into(),
            num(stats::percentile(&s, 50.0)),
            num(s[0]),
            num(s[s.len() - 1]),
        ]);
    }
    Ok(format!("### startup ({RUNS} runs each)\n\n{}", t.render()))
}
