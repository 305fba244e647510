//! Kindred's benchmark suite. Every scenario runs on loopback, stops by
//! itself, prints a Markdown table and writes its plots as SVG.
//!
//! `cargo run --release -p kindred-bench -- all` runs everything (about 6
//! minutes on 2 cores) and writes `target/bench/results.md`.
#![warn(clippy::unwrap_used)]

mod bare;
mod catchup;
mod dm;
mod fixtures;
mod history;
mod ingest;
mod mesh;
mod page;
mod plot;
mod rekey;
mod startup;
mod stats;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Kindred's benchmarks: tables on stdout, plots and results.md in --out")]
struct Cli {
    /// Where plots and results.md go.
    #[arg(long, default_value = "target/bench", global = true)]
    out: PathBuf,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// Everything below, with default sizes.
    All,
    /// N members in one circle: Kindred against bare gossipsub.
    Mesh {
        #[command(flatten)]
        params: mesh::MeshParams,
        /// Circle sizes to run (overrides --nodes).
        #[arg(long, value_delimiter = ',', default_value = "30,60")]
        sizes: Vec<usize>,
    },
    /// One node fed a burst of valid messages, against the crypto ceiling.
    Ingest {
        #[arg(long, default_value_t = 5000)]
        count: usize,
    },
    /// A member offline while K messages are posted.
    Catchup {
        #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
        counts: Vec<usize>,
    },
    /// A store with many messages across many circles.
    History {
        #[arg(long, default_value_t = 100)]
        circles: usize,
        #[arg(long, default_value_t = 10_000)]
        per_circle: usize,
        /// Keep (or reuse) the store here instead of a temporary directory.
        #[arg(long)]
        keep: Option<PathBuf>,
    },
    /// Removing a member: the new key's cost and how fast it reaches everyone.
    Rekey {
        #[arg(long, value_delimiter = ',', default_value = "10,50,200")]
        sizes: Vec<usize>,
        /// Largest circle run as real nodes.
        #[arg(long, default_value_t = 50)]
        live_max: usize,
    },
    /// Private-message crypto: handshakes and session throughput.
    Dm,
    /// The real binary: `kindred up` and `kindred read`.
    Startup,
    /// The page in Debian's chromium: first render, live posts, weight.
    Page,
    #[command(hide = true)]
    MeshWorker {
        #[arg(long)]
        stack: String,
        #[command(flatten)]
        params: mesh::MeshParams,
        #[arg(long)]
        edges: Option<PathBuf>,
    },
    #[command(hide = true)]
    HistoryWorker { dir: PathBuf },
}

/// A small deterministic generator, so runs with one seed are comparable.
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % bound.max(1)
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<u64>().ok())
        })
        .map(|k| format!("{:.0} GiB", k as f64 / 1048576.0))
        .unwrap_or_default();
    format!("{cores} cores ({cpu}), {mem} RAM")
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    match cli.scenario {
        Scenario::MeshWorker {
            stack,
            params,
            edges,
        } => return mesh::worker_main(&stack, &params, edges.as_deref()),
        Scenario::HistoryWorker { dir } => return history::worker_main(dir),
        _ => {}
    }
    std::fs::create_dir_all(&cli.out)?;
    let started = Instant::now();
    let mut report = Vec::new();
    let mut section = |s: String| {
        println!("{s}");
        report.push(s);
    };
    match cli.scenario {
        Scenario::All => {
            let p = mesh::MeshParams {
                nodes: 30,
                messages: 200,
                size: 512,
                rate: 20.0,
                seed: 7,
                settle: 10,
            };
            section(mesh::run(&p, &[30, 60], &cli.out)?);
            section(ingest::run(5000)?);
            section(catchup::run(&[1000, 10_000], &cli.out)?);
            section(history::run(100, 10_000, None)?);
            section(rekey::run(&[10, 50, 200], 50)?);
            section(dm::run());
            section(startup::run()?);
            section(page::run()?);
        }
        Scenario::Mesh { params, sizes } => section(mesh::run(&params, &sizes, &cli.out)?),
        Scenario::Ingest { count } => section(ingest::run(count)?),
        Scenario::Catchup { counts } => section(catchup::run(&counts, &cli.out)?),
        Scenario::History {
            circles,
            per_circle,
            keep,
        } => section(history::run(circles, per_circle, keep.as_deref())?),
        Scenario::Rekey { sizes, live_max } => section(rekey::run(&sizes, live_max)?),
        Scenario::Dm => section(dm::run()),
        Scenario::Startup => section(startup::run()?),
        Scenario::Page => section(page::run()?),
        Scenario::MeshWorker { .. } | Scenario::HistoryWorker { .. } => {}
    }
    let header = format!(
        "Kindred benchmarks, {} on {}; this run took {:.0} s.\n\n",
        date(),
        machine(),
        started.elapsed().as_secs_f64()
    );
    let path = cli.out.join("results.md");
    std::fs::write(&path, header + &report.join("\n"))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

fn date() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}
