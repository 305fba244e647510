//! The page's doors, over real HTTP to a real `kindred up`: the one-time
//! sign-in link, the session cookie, the CSRF header on every change, the
//! security headers, and that nothing works without them. (Browser tests
//! drive the page itself.)

mod common;

use std::time::Duration;

use common::{wait_for, Node};
use reqwest::header::{HeaderMap, HeaderValue};

fn login_url(n: &Node) -> String {
    wait_for(
        "the sign-in link in the log",
        Duration::from_secs(20),
        || {
            n.log()
                .lines()
                .find(|l| l.contains("/login?once="))
                .map(|l| l.trim().to_string())
        },
    )
}

fn port_of(url: &str) -> u16 {
    url.trim_start_matches("http://127.0.0.1:")
        .split('/')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port")
}

#[test]
fn the_page_needs_its_one_time_link_a_cookie_and_a_csrf_token() {
    let n = Node::new("web");
    let url = login_url(&n);
    let port = port_of(&url);
    let base = format!("http://127.0.0.1:{port}");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        // The page itself holds nothing and comes with strict headers.
        let r = http.get(format!("{base}/")).send().await.expect("index");
        assert_eq!(r.status(), 200);
        let csp = r.headers()["content-security-policy"]
            .to_str()
            .unwrap_or("")
            .to_string();
        assert!(
            csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{csp}"
        );
        assert!(!csp.contains("unsafe-inline"));
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        assert!(r.headers().get("access-control-allow-origin").is_none());
        assert!(r.text().await.unwrap_or_default().contains("Kindred"));

        // Nothing else without signing in, whatever another origin claims.
        let r = http
            .get(format!("{base}/v1/topics"))
            .header("Origin", "http://evil.example")
            .send()
            .await
            .expect("topics");
        assert_eq!(r.status(), 401);
        assert!(r.headers().get("access-control-allow-origin").is_none());
        // A wrong secret, then the right one, then the right one again.
        let r = http
            .get(format!("{base}/login?once=00"))
            .send()
            .await
            .expect("login");
        assert_eq!(r.status(), 403);
        let r = http.get(&url).send().await.expect("login");
        assert_eq!(r.status(), 303);
        let set = r.headers()["set-cookie"].to_str().unwrap_or("").to_string();
        let location = r.headers()["location"].to_str().unwrap_or("").to_string();
        assert!(
            set.starts_with(&format!("kindred_session_{port}=")),
            "{set}"
        );
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Strict"),
            "{set}"
        );
        let cookie = set.split(';').next().unwrap_or("").to_string();
        let r = http.get(&url).send().await.expect("login again");
        assert_eq!(r.status(), 403, "a sign-in link works once");
        // In the page's own style, saying what to do.
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .starts_with("text/html"));
        let page = r.text().await.unwrap_or_default();
        assert!(
            page.contains("app.css") && page.contains("Run <code>kindred open</code>"),
            "{page}"
        );

        // The second secret arrives only in the redirect's fragment.
        let csrf = location
            .strip_prefix("/#signin=")
            .unwrap_or_else(|| panic!("no secret in the redirect: {location}"))
            .to_string();
        assert_eq!(csrf.len(), 64);

        // The cookie alone (what any program on 127.0.0.1 is sent by the
        // browser, whatever its port) reads nothing, is not handed the
        // second secret, and changes nothing.
        let mut with_cookie = HeaderMap::new();
        with_cookie.insert("cookie", HeaderValue::from_str(&cookie).expect("cookie"));
        for path in ["/v1/session", "/v1/topics", "/v1/inbox", "/v1/status"] {
            let r = http
                .get(format!("{base}{path}"))
                .headers(with_cookie.clone())
                .send()
                .await
                .expect("read");
            assert_eq!(r.status(), 401, "{path} with the cookie alone");
            let body = r.text().await.unwrap_or_default();
            assert!(!body.contains(&csrf), "{path} leaked the second secret");
        }
        let session: serde_json::Value = http
            .get(format!("{base}/v1/session"))
            .headers(with_cookie.clone())
            .header("x-kindred-csrf", &csrf)
            .send()
            .await
            .expect("session")
            .json()
            .await
            .expect("json");
        assert_eq!(session["signed_in"], true);
        assert!(!session.to_string().contains(&csrf));
        let r = http
            .get(format!("{base}/v1/topics"))
            .headers(with_cookie.clone())
            .header("x-kindred-csrf", &csrf)
            .send()
            .await
            .expect("topics");
        assert_eq!(r.status(), 200);
        // A change without the CSRF header (what a form on another site
        // would send) is refused; with it, it works.
        let body = serde_json::json!({"name": "from the page"});
        let r = http
            .post(format!("{base}/v1/topics"))
            .headers(with_cookie.clone())
            .json(&body)
            .send()
            .await
            .expect("create");
        assert_eq!(r.status(), 403);
        let r = http
            .post(format!("{base}/v1/topics"))
            .headers(with_cookie.clone())
            .header("x-kindred-csrf", "0".repeat(64))
            .json(&body)
            .send()
            .await
            .expect("create");
        assert_eq!(r.status(), 403, "a wrong CSRF token is refused");
        let r = http
            .post(format!("{base}/v1/topics"))
            .headers(with_cookie.clone())
            .header("x-kindred-csrf", &csrf)
            .json(&body)
            .send()
            .await
            .expect("create");
        assert_eq!(r.status(), 200);
        // The session cannot mint sign-in links (only the CLI's token can).
        let r = http
            .post(format!("{base}/v1/login-link"))
            .headers(with_cookie.clone())
            .header("x-kindred-csrf", &csrf)
            .json(&serde_json::json!({}))
            .send()
            .await
            .expect("link");
        assert_eq!(r.status(), 403);
        // Another Host (DNS rebinding) is refused before anything else.
        let r = http
            .get(format!("{base}/"))
            .header("Host", "evil.example")
            .send()
            .await
            .expect("rebinding");
        assert_eq!(r.status(), 403);
    });
    assert!(n.ok(&["topics"]).contains("from the page"));
    // `kindred open --print` makes a fresh link that works.
    let fresh = n.ok(&["open", "--print"]).trim().to_string();
    assert!(fresh.contains("/login?once="), "{fresh}");
    let status = rt.block_on(async {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
            .get(&fresh)
            .send()
            .await
            .expect("fresh login")
            .status()
    });
    assert_eq!(status, 303);
}

/// What the page's first start and join screen use, from the CLI too:
/// the default name, and an invite read without joining.
#[test]
fn the_cli_sets_the_default_name_and_reads_an_invite_without_joining() {
    let a = Node::new("ana");
    let b = Node::new("ben");
    assert_eq!(b.ok(&["name", "Ben B."]).trim(), "Ben B.");
    assert_eq!(b.ok(&["name"]).trim(), "Ben B.");
    let bad = b.cli(&["name", "\u{202e}evil"]);
    assert!(
        !bad.status.success(),
        "a name with a bidi override is refused"
    );
    assert!(String::from_utf8_lossy(&bad.stderr).contains("this name cannot be used"));

    let rules = a.dir.parent().unwrap().join("rules.txt");
    std::fs::write(&rules, "Be gentle.\n\u{1b}[2JNo advice.").unwrap();
    let out = a.ok(&[
        "topic",
        "create",
        "quiet room",
        "--rules",
        rules.to_str().unwrap(),
    ]);
    let invite = out.lines().last().unwrap().to_string();
    let shown = b.ok(&["join", &invite, "--show"]);
    assert!(shown.contains("\"quiet room\""), "{shown}");
    assert!(shown.contains("Be gentle."), "{shown}");
    assert!(
        !shown.contains('\u{1b}'),
        "the rules' escapes are neutralised: {shown}"
    );
    // Only read: Ben is in no circle, and a new circle gets his default name.
    assert!(b.ok(&["topics", "--json"]).trim().is_empty());
    b.ok(&["topic", "create", "mine"]);
    let t: serde_json::Value = serde_json::from_str(&b.ok(&["topics", "--json"])).unwrap();
    assert_eq!(t["my_name"], "Ben B.");
}
