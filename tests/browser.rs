//! The page in a real browser: Debian's `chromium`, headless, as installed
//! by `.ci/run` (no browser downloads). Skips, saying why, without it.
//! Each run loads a URL, lets the page's script run, and dumps the DOM.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{wait_for, Node};

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser"].into_iter().find(|b| {
        Command::new(b)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// The DOM after the page has run for a few seconds of virtual time.
/// (Half a second of virtual time is enough: the page's fetches finish in
/// real time first, and its live follow starts after a second.)
fn dom(browser: &str, profile: &Path, url: &str) -> String {
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--virtual-time-budget=500",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--dump-dom", url])
        .output()
        .expect("run chromium");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn login_url(n: &Node) -> String {
    wait_for("the sign-in link", Duration::from_secs(20), || {
        n.log()
            .lines()
            .find_map(|l| l.split_whitespace().find(|w| w.contains("/login?once=")))
            .map(str::to_string)
    })
}

#[test]
fn the_page_signs_in_shows_circles_and_renders_hostile_text_as_text() {
    let Some(browser) = chromium() else {
        println!("SKIPPED: the browser tests need Debian's chromium (.ci/run installs it)");
        return;
    };
    let n = Node::new("alice");
    n.ok(&["topic", "create", "night owls", "--as", "Ada"]);
    n.post(
        "night owls",
        "<img src=x onerror=alert(1)> <b>bold?</b> hello",
    );
    let url = login_url(&n);
    let base = url.split("/login").next().unwrap_or_default().to_string();
    let profile = tempfile::tempdir().expect("profile");

    // Without signing in the page says how, and shows nothing else.
    let fresh = tempfile::tempdir().expect("profile");
    let page = dom(browser, fresh.path(), &format!("{base}/"));
    assert!(page.contains("Not signed in"), "{page}");
    assert!(page.contains(r#"<section id="home" hidden="""#), "{page}");

    // The one-time link signs this browser in; its script lists the circle.
    let page = dom(browser, profile.path(), &url);
    assert!(page.contains(">night owls</a>"), "{page}");

    // The same browser, later: the cookie holds; a circle's link opens it.
    let topics: serde_json::Value =
        serde_json::from_str(&n.ok(&["topics", "--json"])).expect("topics --json");
    let id = topics["id"].as_str().expect("circle id").to_string();
    let page = dom(browser, profile.path(), &format!("{base}/#{id}"));
    assert!(page.contains("hello"), "{page}");
    assert!(
        page.contains("&lt;img src=x onerror=alert(1)&gt; &lt;b&gt;bold?&lt;/b&gt;"),
        "the post's markup must show as text: {page}"
    );
    assert!(!page.contains("<img"), "no element was made from the post");
    assert!(page.contains("(owner)"), "the owner is marked: {page}");
}
