//! The control API refuses requests without the token or with a foreign
//! Host header, and the node's secrets are private files.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;

use common::Node;

/// Sends one raw HTTP/1.1 request and returns the status code.
fn status_of(addr: &str, host: &str, auth: Option<&str>) -> u16 {
    let mut s = TcpStream::connect(addr).expect("connect to API");
    let auth = auth
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET /v1/status HTTP/1.1\r\nHost: {host}\r\n{auth}Connection: close\r\n\r\n"
    )
    .expect("write");
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    resp.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[test]
fn the_control_api_needs_the_token_and_a_local_host_header() {
    let n = Node::new("alice");
    let control: serde_json::Value =
        serde_json::from_slice(&std::fs::read(n.dir.join("control.json")).expect("control.json"))
            .expect("json");
    let addr = control["addr"].as_str().expect("addr").to_string();
    let port = addr.rsplit(':').next().expect("port");
    let token = std::fs::read_to_string(n.dir.join("control.token")).expect("token");
    let token = token.trim();

    assert_eq!(status_of(&addr, &addr, Some(token)), 200);
    assert_eq!(
        status_of(&addr, &format!("localhost:{port}"), Some(token)),
        200
    );
    assert_eq!(status_of(&addr, &addr, None), 401, "no token");
    assert_eq!(status_of(&addr, &addr, Some("0000")), 401, "wrong token");
    assert_eq!(
        status_of(&addr, &format!("evil.example:{port}"), Some(token)),
        403,
        "DNS-rebinding Host"
    );
    assert_eq!(
        status_of(&addr, "127.0.0.1:1", Some(token)),
        403,
        "other port"
    );
}

#[test]
fn key_files_and_the_database_are_private() {
    let n = Node::new("alice");
    n.create("private");
    let mode =
        |p: &std::path::Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
    assert_eq!(mode(&n.dir.join("identity.key")), 0o600);
    assert_eq!(mode(&n.dir.join("control.token")), 0o600);
    assert_eq!(mode(&n.dir), 0o700);
    for entry in walk(&n.dir.join("db")) {
        let m = mode(&entry);
        assert_eq!(
            m & 0o077,
            0,
            "{} is readable by others ({m:o})",
            entry.display()
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Issue 19: a stop (SIGTERM, as Ctrl-C) takes about a second even while a
/// reader holds a long poll open, so starting again at once finds the data
/// directory free. It used to wait for each task in turn (about 7 s).
#[test]
fn a_stop_is_quick_even_with_a_long_poll_waiting() {
    let mut a = Node::new("alice");
    a.create("grief");
    a.post("grief", "hello");
    let (mut follower, lines) = common::spawn_lines(&a, &["read", "grief", "--follow"]);
    // It printed what is there, so it now waits in a long poll.
    let first = lines
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the follower's first line");
    assert!(first.contains("hello"), "{first}");
    let start = std::time::Instant::now();
    a.stop();
    let took = start.elapsed();
    let _ = follower.kill();
    let _ = follower.wait();
    assert!(
        took < std::time::Duration::from_secs(4),
        "stopping took {took:?}"
    );
    a.start();
    assert!(a.status()["peer_id"].is_string());
}
