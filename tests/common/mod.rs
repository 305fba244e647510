//! A harness that runs the real `kindred` binary as separate processes on
//! 127.0.0.1 and drives them through the CLI, as a person would.
#![allow(dead_code)]

pub mod cdp;
pub mod hostile;
pub mod insider;
pub mod lab;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_kindred");

/// The binary the node harness runs: this build's, or another one named by
/// `KINDRED_TEST_BIN` (to measure an older build against the same attacks).
pub fn node_bin() -> String {
    std::env::var("KINDRED_TEST_BIN").unwrap_or_else(|_| BIN.to_string())
}

/// A test that cannot run here for want of a tool (root, namespaces,
/// chromium, tmpfs). With `KINDRED_REQUIRE_ALL=1` (CI, which installs the
/// tools) it fails: a suite that skips proves nothing. Otherwise it says so
/// on the terminal itself, past the test harness's output capture, where
/// `cargo test` shows it.
pub fn skip_or_fail(why: &str) {
    if std::env::var("KINDRED_REQUIRE_ALL").as_deref() == Ok("1") {
        panic!("{why}; KINDRED_REQUIRE_ALL=1 makes a test that cannot run fail");
    }
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "\nSKIPPED: {why}");
}

/// Polls `check` until it returns `Some`, or fails the test after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = check() {
            return v;
        }
        if start.elapsed() > timeout {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

pub struct Node {
    pub name: String,
    pub dir: PathBuf,
    /// Extra arguments for every `kindred up` of this node.
    pub up_args: Vec<String>,
    /// Where `kindred up` listens.
    pub listen: String,
    /// A command every `kindred` run is wrapped in (e.g. `ip netns exec NS`).
    pub wrapper: Vec<String>,
    child: Option<Child>,
    _tmp: Option<tempfile::TempDir>,
}

impl Node {
    /// A new node with a fresh data directory, started and ready.
    pub fn new(name: &str) -> Node {
        Self::with_args(name, &[])
    }

    /// Like [`Node::new`], with extra arguments for `kindred up`.
    pub fn with_args(name: &str, up_args: &[&str]) -> Node {
        let mut node = Self::unstarted(name, up_args);
        node.init_and_start();
        node
    }

    /// A node on a lab host: it listens on the host's address, without mDNS.
    pub fn on_host(name: &str, host: &lab::Host, up_args: &[&str]) -> Node {
        let mut node = Self::unstarted(name, up_args);
        node.listen = format!("/ip4/{}/tcp/0", host.ip);
        node.wrapper = vec!["ip".into(), "netns".into(), "exec".into(), host.ns.clone()];
        node.up_args.push("--no-mdns".into());
        node.init_and_start();
        node
    }

    /// A node whose data directory is `dir` (which the caller owns).
    pub fn at_dir(name: &str, dir: &Path) -> Node {
        let mut node = Self::unstarted(name, &[]);
        node.dir = dir.to_path_buf();
        node.init_and_start();
        node
    }

    fn unstarted(name: &str, up_args: &[&str]) -> Node {
        let tmp = tempfile::Builder::new()
            .prefix(&format!("kindred-{name}-"))
            .tempdir()
            .expect("temp dir");
        Node {
            name: name.into(),
            dir: tmp.path().join("data"),
            up_args: up_args.iter().map(|s| s.to_string()).collect(),
            listen: "/ip4/127.0.0.1/tcp/0".into(),
            wrapper: Vec::new(),
            child: None,
            _tmp: Some(tmp),
        }
    }

    fn init_and_start(&mut self) {
        // A display name may not read as a role (issue 19): nodes named
        // after the part they play get a person's name instead.
        let name = match self.name.as_str() {
            "owner" => "Olwen".to_string(),
            "mod" => "Morgan".to_string(),
            n => n.to_string(),
        };
        let out = self.cli(&["init", "--name", &name]);
        assert!(
            out.status.success(),
            "init failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.start();
    }

    pub fn start(&mut self) {
        assert!(self.child.is_none(), "{} is already running", self.name);
        let _ = std::fs::remove_file(self.dir.join("control.json"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(
                self.dir
                    .parent()
                    .unwrap_or(&self.dir)
                    .join(format!("{}.log", self.name)),
            )
            .expect("log file");
        let child = self
            .command()
            .args(["--data-dir"])
            .arg(&self.dir)
            .args(["up", "--listen", &self.listen])
            .args(&self.up_args)
            .env(
                "RUST_LOG",
                std::env::var("KINDRED_TEST_RUST_LOG")
                    .unwrap_or_else(|_| "kindred_node=debug,kindred_net=debug,warn".into()),
            )
            .env("NO_COLOR", "1")
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn kindred up");
        self.child = Some(child);
        let name = self.name.clone();
        wait_for(
            &format!("{name} to serve its API"),
            Duration::from_secs(30),
            || {
                if let Some(c) = self.child.as_mut() {
                    if let Ok(Some(status)) = c.try_wait() {
                        panic!("{name} exited early with {status}: {}", self.log());
                    }
                }
                self.dir.join("control.json").exists().then_some(())?;
                self.cli(&["status"]).status.success().then_some(())
            },
        );
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(
            self.dir
                .parent()
                .unwrap_or(&self.dir)
                .join(format!("{}.log", self.name)),
        )
        .unwrap_or_default()
    }

    /// Graceful stop (SIGTERM, as Ctrl-C would).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            unsafe {
                libc::kill(c.id() as i32, libc::SIGTERM);
            }
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(15) {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
            panic!("{} did not stop within 15 s of SIGTERM", self.name);
        }
    }

    /// Abrupt stop, as a power cut would.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// `kindred`, inside this node's wrapper if it has one.
    pub fn command(&self) -> Command {
        match self.wrapper.split_first() {
            None => Command::new(node_bin()),
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(node_bin());
                c
            }
        }
    }

    pub fn cli(&self, args: &[&str]) -> Output {
        self.command()
            .arg("--data-dir")
            .arg(&self.dir)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run kindred")
    }

    /// Runs a command with `input` on its standard input (not a terminal).
    pub fn cli_stdin(&self, args: &[&str], input: &str) -> Output {
        use std::io::Write;
        let mut child = self
            .command()
            .arg("--data-dir")
            .arg(&self.dir)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run kindred");
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(input.as_bytes());
        }
        child.wait_with_output().expect("kindred output")
    }

    /// Runs a command that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "`kindred {}` on {} failed: {}\n--- node log ---\n{}",
            args.join(" "),
            self.name,
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Creates a circle and returns its invite (the last line of stdout).
    pub fn create(&self, topic: &str) -> String {
        let out = self.ok(&["topic", "create", topic]);
        out.lines().last().expect("invite line").trim().to_string()
    }

    pub fn join(&self, invite: &str) -> String {
        self.ok(&["join", invite])
    }

    pub fn post(&self, topic: &str, text: &str) {
        self.ok(&["post", topic, text]);
    }

    /// The posts `read --json` shows (without the circle-action lines).
    pub fn read(&self, topic: &str) -> Vec<Value> {
        self.timeline(topic)
            .into_iter()
            .filter(|m| m["action"].is_null())
            .collect()
    }

    /// Everything `read --json` shows: posts and circle-action lines.
    pub fn timeline(&self, topic: &str) -> Vec<Value> {
        self.ok(&["read", topic, "--json"])
            .lines()
            .map(|l| serde_json::from_str(l).expect("read --json prints JSON lines"))
            .collect()
    }

    pub fn texts(&self, topic: &str) -> Vec<String> {
        self.read(topic)
            .iter()
            .map(|m| m["text"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    pub fn status(&self) -> Value {
        serde_json::from_str(&self.ok(&["status", "--json"])).expect("status --json")
    }

    pub fn topic_status(&self, topic: &str) -> Value {
        let s = self.status();
        s["topics"]
            .as_array()
            .and_then(|ts| ts.iter().find(|t| t["name"] == topic).cloned())
            .unwrap_or(Value::Null)
    }

    /// Waits until this node's read of `topic` has `n` posts.
    pub fn wait_posts(&self, topic: &str, n: usize, timeout: Duration) -> Vec<Value> {
        wait_for(&format!("{} to have {n} posts", self.name), timeout, || {
            let m = self.read(topic);
            (m.len() >= n).then_some(m)
        })
    }

    /// This node's handle in its circles, as `peers --json` shows it on `other`.
    pub fn handle_seen_by(&self, other: &Node) -> String {
        let me = self.status()["peer_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        wait_for(
            &format!("{} to see {}'s handle", other.name, self.name),
            Duration::from_secs(30),
            || {
                other
                    .ok(&["peers", "--json"])
                    .lines()
                    .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                    .find(|p| p["peer_id"] == me.as_str())
                    .and_then(|p| p["handles"][0].as_str().map(str::to_string))
            },
        )
    }

    /// This node's first listening address with /p2p/<peer id>.
    /// The running node's process id (from its control file).
    pub fn pid(&self) -> u32 {
        let info: Value = serde_json::from_slice(
            &std::fs::read(self.dir.join("control.json")).expect("control.json"),
        )
        .expect("control.json is JSON");
        info["pid"].as_u64().expect("pid") as u32
    }

    pub fn full_addr(&self) -> String {
        let s = self.status();
        format!(
            "{}/p2p/{}",
            s["listen"][0].as_str().unwrap_or_default(),
            s["peer_id"].as_str().unwrap_or_default()
        )
    }

    /// The node's QUIC listen address with its peer id (it must listen on one).
    pub fn quic_addr(&self) -> String {
        let s = self.status();
        let quic = s["listen"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a.as_str())
            .find(|a| a.contains("/quic-v1") && !a.contains("p2p-circuit"))
            .unwrap_or_else(|| panic!("{} has no QUIC listen address", self.name));
        format!("{quic}/p2p/{}", s["peer_id"].as_str().unwrap_or_default())
    }

    /// An invite with other peers in it (the peers are not signed), so
    /// tests can hand out invites that point somewhere else, or nowhere.
    pub fn invite_with_peers(&self, invite: &str, peers: Vec<kindred_proto::InvitePeer>) -> String {
        let mut inv = kindred_proto::Invite::parse(invite, 0).expect("invite");
        inv.peers = peers;
        inv.encode().expect("re-encode invite")
    }

    pub fn peer_id(&self) -> String {
        self.status()["peer_id"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// `chat PEER --json` as (text, state) pairs.
    pub fn chat(&self, peer: &str) -> Vec<(String, String)> {
        self.ok(&["chat", peer, "--json"])
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .map(|m| {
                (
                    m["text"].as_str().unwrap_or_default().to_string(),
                    m["state"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    pub fn data_dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
        // KINDRED_TEST_LOGS=DIR keeps every node's log for a post-mortem.
        if let Some(dir) = std::env::var_os("KINDRED_TEST_LOGS") {
            let dir = PathBuf::from(dir);
            let _ = std::fs::create_dir_all(&dir);
            let _ = std::fs::write(
                dir.join(format!("{}-{}.log", self.name, std::process::id())),
                self.log(),
            );
        }
    }
}

/// A small deterministic generator, so a failing run can be replayed by seed.
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

/// Runs `kindred ARGS` on a node in the background and hands its stdout
/// over line by line (for `--follow` commands).
pub fn spawn_lines(
    node: &Node,
    args: &[&str],
) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    use std::io::BufRead;
    let mut child = node
        .command()
        .arg("--data-dir")
        .arg(&node.dir)
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn kindred");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// Posts to `topic` on the node at `dir` until `stop` is set, recording the
/// posts the node acknowledged (each as `PREFIX N`).
pub fn poster(
    dir: PathBuf,
    prefix: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    acked: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    pause: Duration,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut i = 0;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let text = format!("{prefix} {i}");
            let out = Command::new(BIN)
                .arg("--data-dir")
                .arg(&dir)
                .args(["post", "circle", &text])
                .output();
            if matches!(out, Ok(o) if o.status.success()) {
                acked.lock().unwrap_or_else(|p| p.into_inner()).push(text);
            }
            i += 1;
            std::thread::sleep(pause);
        }
    })
}

pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}
