//! The page a person opens in their browser, served by the node on the
//! same 127.0.0.1 origin as the control API (issue 12).
//!
//! Signing in works as Jupyter's does: `kindred up` (and `kindred open`)
//! print a link with a one-time secret (good for 5 minutes); the page
//! trades it for a session cookie (`HttpOnly`, `SameSite=Strict`, named
//! after the node's port) and the session's second secret, which arrives
//! in the redirect's URL fragment and lives only in the page. Every API
//! request must carry both: the cookie alone opens nothing, because the
//! browser sends it to every program on 127.0.0.1, whatever the port (RFC
//! 6265 §8.5), and the node never serves the second secret to a cookie.
//! No CORS headers are ever sent, so another origin cannot read any answer
//! either. Assets are embedded: nothing is fetched from anywhere.

use std::collections::VecDeque;
use std::sync::Mutex;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::api::ApiState;

/// Sessions kept at once; signing in again evicts the oldest.
const MAX_SESSIONS: usize = 16;
/// How long the browser keeps the cookie. Sessions are kept in the store
/// (as digests of their ids), so the page stays signed in across restarts.
const SESSION_MAX_AGE_S: u64 = 30 * 86_400;
/// Where the sessions are kept in the store.
pub(crate) const SESSIONS_KEY: &str = "web-sessions";
/// How long a sign-in link works if nobody uses it.
const LOGIN_TTL: std::time::Duration = std::time::Duration::from_secs(5 * 60);
/// The header that carries a session's second secret on every request.
pub(crate) const CSRF_HEADER: &str = "x-kindred-csrf";

/// The page's files, embedded: (path, body, content type).
pub(crate) const ASSETS: &[(&str, &str, &str)] = &[
    (
        "/",
        include_str!("../web/index.html"),
        "text/html; charset=utf-8",
    ),
    ("/app.js", include_str!("../web/app.js"), JS),
    ("/circle.js", include_str!("../web/circle.js"), JS),
    ("/chat.js", include_str!("../web/chat.js"), JS),
    (
        "/app.css",
        include_str!("../web/app.css"),
        "text/css; charset=utf-8",
    ),
];
const JS: &str = "text/javascript; charset=utf-8";

/// No inline script or style, nothing from elsewhere, never in a frame.
pub(crate) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

struct Session {
    /// `digest(id)`: the store never holds a cookie that would sign in.
    digest: String,
    csrf: String,
}

fn digest(id: &str) -> String {
    hex::encode(kindred_proto::hmac_sha256(
        b"kindred web session",
        &[id.as_bytes()],
    ))
}

#[derive(Default)]
pub(crate) struct WebSessions {
    /// The one-time secret the next login link carries, and when it was
    /// made.
    once: Mutex<Option<(String, std::time::Instant)>>,
    sessions: Mutex<VecDeque<Session>>,
}

fn fresh() -> String {
    hex::encode(kindred_proto::random_bytes::<32>().unwrap_or_default())
}

impl WebSessions {
    /// A new one-time login secret (the previous one stops working).
    pub fn new_login(&self) -> String {
        let secret = fresh();
        *self.once.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((secret.clone(), std::time::Instant::now()));
        secret
    }

    /// Trades the one-time secret for a session: (id, csrf).
    fn login(&self, secret: &str) -> Option<(String, String)> {
        self.login_at(secret, std::time::Instant::now())
    }

    fn login_at(&self, secret: &str, now: std::time::Instant) -> Option<(String, String)> {
        let mut once = self.once.lock().unwrap_or_else(|p| p.into_inner());
        let ok = once.as_ref().is_some_and(|(s, made)| {
            now.saturating_duration_since(*made) < LOGIN_TTL
                && kindred_proto::constant_time_eq(s.as_bytes(), secret.as_bytes())
        });
        if !ok {
            return None;
        }
        *once = None;
        let id = fresh();
        let s = Session {
            digest: digest(&id),
            csrf: fresh(),
        };
        let out = (id, s.csrf.clone());
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions.push_back(s);
        while sessions.len() > MAX_SESSIONS {
            sessions.pop_front();
        }
        Some(out)
    }

    /// Whether the request names a session by this port's cookie *and*
    /// carries that session's second secret in [`CSRF_HEADER`]: `None` when
    /// no session cookie, `Some(false)` when the secret is missing or wrong.
    pub fn signed_in(&self, headers: &HeaderMap, port: u16) -> Option<bool> {
        let d = digest(&cookie(headers, &cookie_name(port))?);
        let sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let s = sessions
            .iter()
            .find(|s| kindred_proto::constant_time_eq(s.digest.as_bytes(), d.as_bytes()))?;
        let given = headers
            .get(CSRF_HEADER)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        Some(kindred_proto::constant_time_eq(
            given.as_bytes(),
            s.csrf.as_bytes(),
        ))
    }

    /// The sessions as one line each, to keep in the store.
    pub fn export(&self) -> String {
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|s| format!("{} {}\n", s.digest, s.csrf))
            .collect()
    }

    /// Sessions kept by an earlier run (malformed lines are skipped).
    pub fn restore(&self, text: &str) {
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        for line in text.lines() {
            if let Some((d, c)) = line.split_once(' ') {
                if d.len() == 64 && c.len() == 64 {
                    sessions.push_back(Session {
                        digest: d.to_string(),
                        csrf: c.to_string(),
                    });
                }
            }
        }
        while sessions.len() > MAX_SESSIONS {
            sessions.pop_front();
        }
    }
}

pub(crate) fn cookie_name(port: u16) -> String {
    format!("kindred_session_{port}")
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Paths anyone on this machine's loopback may fetch: the page itself
/// (it holds nothing) and the door that takes a one-time secret.
pub(crate) fn is_public(path: &str) -> bool {
    matches!(path, "/login" | "/v1/hello") || ASSETS.iter().any(|(p, ..)| *p == path)
}

/// Routes serving the embedded files.
pub(crate) fn asset_routes(mut r: axum::Router<ApiState>) -> axum::Router<ApiState> {
    for &(path, body, kind) in ASSETS {
        r = r.route(
            path,
            axum::routing::get(move || async move {
                ([(header::CONTENT_TYPE, kind)], body).into_response()
            }),
        );
    }
    r
}

#[derive(Deserialize)]
pub(crate) struct LoginReq {
    once: String,
}

const SPENT_LINK_PAGE: &str = "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><meta name=\"referrer\" content=\"no-referrer\"><title>Kindred</title><link rel=\"stylesheet\" href=\"/app.css\"><main><h1>Kindred</h1><section aria-labelledby=\"h\"><h2 id=\"h\">This sign-in link no longer works</h2><p>It was already used, or it is more than 5 minutes old. Run <code>kindred open</code> on this computer for a fresh one.</p></section></main></html>\n";

pub(crate) async fn login(State(s): State<ApiState>, Query(q): Query<LoginReq>) -> Response {
    match s.web.login(&q.once) {
        Some((id, csrf)) => {
            let store = s.node.store();
            if let Err(e) = store.set_config(SESSIONS_KEY, &s.web.export()) {
                tracing::warn!("could not keep the page's session: {e}");
            }
            let _ = store.flush().await;
            let cookie = format!(
                "{}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={SESSION_MAX_AGE_S}",
                cookie_name(s.port)
            );
            // The second secret travels in the fragment: browsers never
            // send a fragment to any server, and the page takes it out of
            // the address bar at once.
            let mut r = Redirect::to(&format!("/#signin={csrf}")).into_response();
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        }
        // In the page's own style, with what to do.
        None => (
            StatusCode::FORBIDDEN,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            SPENT_LINK_PAGE,
        )
            .into_response(),
    }
}

/// Whether the page is signed in (the guard already checked it). It never
/// hands out the session's second secret.
pub(crate) async fn session() -> Response {
    axum::Json(serde_json::json!({ "signed_in": true })).into_response()
}

/// A fresh sign-in link (for `kindred open`; bearer token only).
pub(crate) async fn login_link(State(s): State<ApiState>) -> Response {
    let once = s.web.new_login();
    axum::Json(serde_json::json!({
        "url": format!("http://127.0.0.1:{}/login?once={once}", s.port)
    }))
    .into_response()
}

/// Headers every answer carries.
pub(crate) fn harden(headers: &mut HeaderMap) {
    let set = [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ];
    for (k, v) in set {
        headers.insert(k, HeaderValue::from_static(v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sign_in_secret_works_once_and_only_for_minutes() {
        let web = WebSessions::default();
        let later = std::time::Instant::now() + LOGIN_TTL + std::time::Duration::from_secs(1);
        let secret = web.new_login();
        assert!(
            web.login_at(&secret, later).is_none(),
            "an unused secret expires"
        );
        let secret = web.new_login();
        assert!(web.login(&secret).is_some());
        assert!(web.login(&secret).is_none(), "a spent secret is gone");
    }
}
