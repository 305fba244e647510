//! The local control API: HTTP+JSON on 127.0.0.1, for the CLI and the web page.
//!
//! Every request must carry a `Host` of 127.0.0.1 or localhost on our port,
//! which stops web pages elsewhere from reaching it through DNS rebinding,
//! and either `Authorization: Bearer <token>` (the CLI; the token is in a
//! 0600 file in the data directory) or the page's session cookie together
//! with the session's second secret in a header on every request, reads
//! included (web.rs): the cookie alone opens nothing.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::control::{self, ControlInfo};
use crate::{Node, NodeError};

/// Largest request body the API reads.
const MAX_BODY: usize = 256 * 1024;
/// Longest a follow request waits for new messages.
const MAX_WAIT: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub(crate) struct ApiState {
    pub(crate) node: Node,
    token: String,
    pub(crate) port: u16,
    pub(crate) web: std::sync::Arc<crate::web::WebSessions>,
}

pub(crate) struct ApiError(NodeError);

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self.0 {
            NodeError::UnknownTopic(_) => StatusCode::NOT_FOUND,
            NodeError::AmbiguousTopic { .. } => StatusCode::CONFLICT,
            e if e.is_client_error() => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (
            status,
            Json(serde_json::json!({ "error": self.0.to_string() })),
        )
            .into_response()
    }
}

/// Where the API's last port is kept.
const API_PORT_KEY: &str = "api-port";

pub(crate) type ApiResult<T> = Result<Json<T>, ApiError>;

/// What [`serve`] returns: where it listens, its task, and the page's
/// sessions (for sign-in links).
pub(crate) type Served = (
    SocketAddr,
    tokio::task::JoinHandle<()>,
    std::sync::Arc<crate::web::WebSessions>,
);

/// Binds the API, writes the token and control files, and serves until
/// `shutdown` fires.
pub(crate) async fn serve(
    node: Node,
    port: u16,
    mut shutdown: broadcast::Receiver<()>,
) -> Result<Served, NodeError> {
    // With any port allowed, the last run's first: the page's address (and
    // its session cookie, named after the port) then stays the same.
    let remembered = match port {
        0 => node
            .store()
            .config(API_PORT_KEY)?
            .and_then(|p| p.parse::<u16>().ok()),
        _ => None,
    };
    let again = match remembered {
        Some(p) => tokio::net::TcpListener::bind(("127.0.0.1", p)).await.ok(),
        None => None,
    };
    let listener = match again {
        Some(l) => l,
        None => tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|e| {
                NodeError::BadInput(format!(
                    "cannot bind the control API on 127.0.0.1:{port}: {e}"
                ))
            })?,
    };
    let addr = listener
        .local_addr()
        .map_err(|e| NodeError::BadInput(format!("control API address: {e}")))?;
    if port == 0 {
        node.store()
            .set_config(API_PORT_KEY, &addr.port().to_string())?;
    }
    let token = hex::encode(kindred_proto::random_bytes::<32>()?);
    let dir = node.store().data_dir().to_path_buf();
    kindred_store::datadir_write_private(&control::token_path(&dir), token.as_bytes())?;
    let info = ControlInfo {
        addr: addr.to_string(),
        pid: std::process::id(),
        peer_id: node.peer_id().to_string(),
    };
    let info = serde_json::to_vec_pretty(&info).unwrap_or_default();
    kindred_store::datadir_write_private(&control::control_path(&dir), &info)?;

    let web = std::sync::Arc::new(crate::web::WebSessions::default());
    if let Some(kept) = node.store().config(crate::web::SESSIONS_KEY)? {
        web.restore(&kept);
    }
    let state = ApiState {
        node,
        token,
        port: addr.port(),
        web: web.clone(),
    };
    let app = router(state);
    let task = tokio::spawn(async move {
        let result = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = shutdown.recv().await;
            })
            .await;
        if let Err(e) = result {
            tracing::error!("control API stopped: {e}");
        }
    });
    Ok((addr, task, web))
}

fn router(state: ApiState) -> Router {
    Router::new()
        .route("/v1/status", get(status))
        .route("/v1/peers", get(peers))
        .route("/v1/topics", get(topics).post(create_topic))
        .route("/v1/topics/{topic}/invite", post(invite))
        .route(
            "/v1/topics/{topic}/messages",
            get(messages).post(post_message),
        )
        .route("/v1/topics/{topic}/follow", get(follow))
        .route("/v1/join", post(join))
        .route("/v1/dm", post(send_dm))
        .route("/v1/inbox", get(inbox))
        .route("/v1/requests", get(requests))
        .route("/v1/chat", get(chat))
        .route("/v1/chat/follow", get(chat_follow))
        .route("/v1/chat/read", post(chat_read))
        .route("/v1/consent", post(consent))
        .route("/v1/contact", get(contact))
        .route("/v1/hello", get(hello))
        .route("/v1/session", get(crate::web::session))
        .route("/v1/login-link", post(crate::web::login_link))
        .route("/login", get(crate::web::login))
        .merge(crate::api_circle::routes())
        .merge(crate::api_reader::routes())
        .merge(crate::web::asset_routes(Router::new()))
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// Checks the Host header, then the bearer token or the page's session
/// (and its second secret on every request), before any handler runs; and
/// hardens every answer (web::harden).
async fn guard(State(s): State<ApiState>, req: Request, next: Next) -> Response {
    let mut r = check(&s, req, next).await;
    crate::web::harden(r.headers_mut());
    r
}

fn refuse(status: StatusCode, why: &str) -> Response {
    (status, Json(serde_json::json!({ "error": why }))).into_response()
}

async fn check(s: &ApiState, req: Request, next: Next) -> Response {
    let host_ok = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|h| {
            h == format!("127.0.0.1:{}", s.port) || h == format!("localhost:{}", s.port)
        });
    if !host_ok {
        return refuse(StatusCode::FORBIDDEN, "bad Host header");
    }
    // The page and its door hold nothing; `/v1/hello` lets the CLI make the
    // node prove it holds the token before the CLI sends it.
    if crate::web::is_public(req.uri().path()) {
        return next.run(req).await;
    }
    let expected = format!("Bearer {}", s.token);
    let token_ok = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|h| kindred_proto::constant_time_eq(h.as_bytes(), expected.as_bytes()));
    if token_ok {
        return next.run(req).await;
    }
    // The page: its session cookie and, on every request, the session's
    // second secret, which only the page holds.
    let Some(signed_in) = s.web.signed_in(req.headers(), s.port) else {
        return refuse(StatusCode::UNAUTHORIZED, "missing or wrong API token");
    };
    let reads = matches!(
        *req.method(),
        axum::http::Method::GET | axum::http::Method::HEAD
    );
    if !signed_in {
        return match reads {
            true => refuse(
                StatusCode::UNAUTHORIZED,
                "not signed in on this page: run `kindred open`",
            ),
            false => refuse(StatusCode::FORBIDDEN, "missing or wrong CSRF token"),
        };
    }
    if req.uri().path() == "/v1/login-link" {
        return refuse(StatusCode::FORBIDDEN, "sign-in links are for the CLI");
    }
    next.run(req).await
}

#[derive(Deserialize)]
struct HelloReq {
    nonce: String,
}

/// Proves this node holds the API token (see [`control::api_proof`]).
async fn hello(
    State(s): State<ApiState>,
    Query(q): Query<HelloReq>,
) -> ApiResult<serde_json::Value> {
    let nonce = hex::decode(&q.nonce)
        .ok()
        .filter(|n| (16..=64).contains(&n.len()))
        .ok_or_else(|| NodeError::BadInput("nonce must be 16 to 64 bytes of hex".into()))?;
    Ok(Json(serde_json::json!({
        "proof": hex::encode(control::api_proof(&s.token, &nonce)),
        "peer_id": s.node.peer_id().to_string(),
    })))
}

async fn status(State(s): State<ApiState>) -> ApiResult<crate::circles::StatusView> {
    Ok(Json(s.node.status().await?))
}

async fn peers(State(s): State<ApiState>) -> ApiResult<Vec<crate::circles::PeerView>> {
    Ok(Json(s.node.peers().await?))
}

async fn topics(State(s): State<ApiState>) -> ApiResult<Vec<crate::TopicSummary>> {
    Ok(Json(s.node.topics().await?))
}

#[derive(Deserialize)]
struct CreateTopic {
    name: String,
    #[serde(default)]
    rules: String,
    my_name: Option<String>,
    expires_hours: Option<serde_json::Value>,
    uses: Option<serde_json::Value>,
    /// Newcomers may read what was said before they arrived.
    #[serde(default)]
    share_history: bool,
    /// Only moderators and the owner may issue invites.
    #[serde(default)]
    moderators_invite: bool,
}

#[derive(Serialize, Deserialize)]
pub struct InviteReply {
    pub topic: crate::TopicSummary,
    pub invite: String,
}

fn hours(h: Option<u64>) -> Option<Duration> {
    h.map(|h| Duration::from_secs(h.saturating_mul(3600)))
}

/// How long an invite works unless someone chooses otherwise: a week is
/// time to pass it to the people meant to have it, and an invite that
/// leaks stops working soon after.
pub const DEFAULT_INVITE_HOURS: u64 = 7 * 24;
/// How many people an invite lets in unless someone chooses otherwise:
/// enough for a handful of introductions, few enough that a leaked one
/// cannot fill the circle.
pub const DEFAULT_INVITE_USES: u64 = 10;

/// An invite limit as the API takes it: absent or null is the safe
/// default, a number is that number, and `word` ("never", "unlimited")
/// is no limit at all, a deliberate choice.
fn limit(
    v: Option<serde_json::Value>,
    default: u64,
    word: &str,
    what: &str,
) -> Result<Option<u64>, NodeError> {
    match v {
        None | Some(serde_json::Value::Null) => Ok(Some(default)),
        Some(serde_json::Value::Number(n)) if n.as_u64().is_some() => Ok(n.as_u64()),
        Some(serde_json::Value::String(s)) if s == word => Ok(None),
        Some(_) => Err(NodeError::BadInput(format!(
            "{what} must be a whole number or \"{word}\""
        ))),
    }
}

fn invite_limits(
    expires: Option<serde_json::Value>,
    uses: Option<serde_json::Value>,
) -> Result<(Option<Duration>, Option<u32>), NodeError> {
    let expires = limit(expires, DEFAULT_INVITE_HOURS, "never", "an invite's hours")?;
    let uses = limit(uses, DEFAULT_INVITE_USES, "unlimited", "an invite's uses")?;
    let uses = uses
        .map(|u| {
            u32::try_from(u)
                .map_err(|_| NodeError::BadInput("an invite's uses are too many".into()))
        })
        .transpose()?;
    Ok((hours(expires), uses))
}

async fn create_topic(
    State(s): State<ApiState>,
    Json(req): Json<CreateTopic>,
) -> ApiResult<InviteReply> {
    use kindred_proto::authority::{History, Policy, WhoInvites};
    let policy = Policy {
        history: if req.share_history {
            History::Share
        } else {
            History::Protect
        },
        invite: if req.moderators_invite {
            WhoInvites::Moderators
        } else {
            WhoInvites::Members
        },
    };
    let (topic, invite) = s
        .node
        .create_circle(
            &req.name,
            &req.rules,
            req.my_name,
            invite_limits(req.expires_hours, req.uses)?,
            policy,
        )
        .await?;
    Ok(Json(InviteReply { topic, invite }))
}

#[derive(Deserialize)]
struct InviteReq {
    expires_hours: Option<serde_json::Value>,
    uses: Option<serde_json::Value>,
    #[serde(default)]
    approve: bool,
}

async fn invite(
    State(s): State<ApiState>,
    Path(topic): Path<String>,
    Json(req): Json<InviteReq>,
) -> ApiResult<serde_json::Value> {
    let (expires_in, uses) = invite_limits(req.expires_hours, req.uses)?;
    let options = crate::InviteOptions {
        expires_in,
        uses,
        approval: req.approve,
    };
    let invite = s.node.invite(&topic, options).await?;
    Ok(Json(serde_json::json!({ "invite": invite })))
}

#[derive(Deserialize)]
struct JoinReq {
    invite: String,
    my_name: Option<String>,
}

#[derive(Serialize, Deserialize)]
pub struct JoinReply {
    pub topic: crate::TopicSummary,
    /// Members reachable right after joining.
    pub connected: usize,
    /// This node was in the circle before (nothing changed).
    #[serde(default)]
    pub already_member: bool,
}

async fn join(State(s): State<ApiState>, Json(req): Json<JoinReq>) -> ApiResult<JoinReply> {
    let (topic, connected, already_member) = s
        .node
        .join(&req.invite, req.my_name, Duration::from_secs(5))
        .await?;
    Ok(Json(JoinReply {
        topic,
        connected,
        already_member,
    }))
}

#[derive(Deserialize)]
struct PostReq {
    text: String,
}

async fn post_message(
    State(s): State<ApiState>,
    Path(topic): Path<String>,
    Json(req): Json<PostReq>,
) -> ApiResult<crate::circles::MessageView> {
    Ok(Json(s.node.post(&topic, &req.text).await?))
}

#[derive(Deserialize)]
struct ListReq {
    limit: Option<usize>,
}

#[derive(Serialize, Deserialize)]
pub struct MessagesReply {
    pub messages: Vec<crate::circles::MessageView>,
    /// Pass as `after` to `follow` to get what arrives next.
    pub cursor: u64,
    /// From `follow`: something changed who is in the circle or what they
    /// are called (a circle action, a new name); views of people refresh.
    #[serde(default)]
    pub people_changed: bool,
}

async fn messages(
    State(s): State<ApiState>,
    Path(topic): Path<String>,
    Query(q): Query<ListReq>,
) -> ApiResult<MessagesReply> {
    let (messages, cursor) = s.node.messages(&topic, q.limit.unwrap_or(usize::MAX))?;
    Ok(Json(MessagesReply {
        messages,
        cursor,
        people_changed: false,
    }))
}

#[derive(Deserialize)]
struct FollowReq {
    after: u64,
    wait_ms: Option<u64>,
}

async fn follow(
    State(s): State<ApiState>,
    Path(topic): Path<String>,
    Query(q): Query<FollowReq>,
) -> ApiResult<MessagesReply> {
    let wait = Duration::from_millis(q.wait_ms.unwrap_or(25_000)).min(MAX_WAIT);
    let (messages, cursor, people_changed) = s.node.follow(&topic, q.after, wait).await?;
    Ok(Json(MessagesReply {
        messages,
        cursor,
        people_changed,
    }))
}

#[derive(Deserialize)]
struct DmReq {
    peer: String,
    text: String,
}

async fn send_dm(
    State(s): State<ApiState>,
    Json(req): Json<DmReq>,
) -> ApiResult<crate::service_views::DmSent> {
    Ok(Json(s.node.send_dm(&req.peer, &req.text).await?))
}

async fn inbox(State(s): State<ApiState>) -> ApiResult<crate::service_views::InboxView> {
    Ok(Json(s.node.inbox()?))
}

async fn requests(
    State(s): State<ApiState>,
) -> ApiResult<Vec<crate::service_views::ConversationView>> {
    Ok(Json(s.node.inbox()?.requests))
}

#[derive(Deserialize)]
struct ChatReq {
    peer: String,
    limit: Option<usize>,
}

#[derive(Serialize, Deserialize)]
pub struct ChatReply {
    pub messages: Vec<crate::service_views::DmView>,
    pub cursor: u64,
}

async fn chat(State(s): State<ApiState>, Query(q): Query<ChatReq>) -> ApiResult<ChatReply> {
    let (messages, cursor) = s.node.chat(&q.peer, q.limit.unwrap_or(usize::MAX))?;
    Ok(Json(ChatReply { messages, cursor }))
}

#[derive(Deserialize)]
struct ChatReadReq {
    peer: String,
}

async fn chat_read(
    State(s): State<ApiState>,
    Json(q): Json<ChatReadReq>,
) -> ApiResult<serde_json::Value> {
    s.node.mark_chat_read(&q.peer).await?;
    Ok(Json(serde_json::json!({ "read": true })))
}

#[derive(Deserialize)]
struct ChatFollowReq {
    peer: String,
    after: u64,
    wait_ms: Option<u64>,
}

async fn chat_follow(
    State(s): State<ApiState>,
    Query(q): Query<ChatFollowReq>,
) -> ApiResult<ChatReply> {
    let wait = Duration::from_millis(q.wait_ms.unwrap_or(25_000)).min(MAX_WAIT);
    let (messages, cursor) = s.node.chat_follow(&q.peer, q.after, wait).await?;
    Ok(Json(ChatReply { messages, cursor }))
}

#[derive(Deserialize)]
struct ConsentReq {
    peer: String,
    action: String,
}

async fn consent(
    State(s): State<ApiState>,
    Json(req): Json<ConsentReq>,
) -> ApiResult<crate::service_views::ConversationView> {
    use kindred_store::ConsentAction::*;
    let action = match req.action.as_str() {
        "accept" => Accept,
        "decline" => Decline,
        "block" => Block,
        "unblock" => Unblock,
        other => return Err(NodeError::BadInput(format!("unknown action {other:?}")).into()),
    };
    Ok(Json(s.node.set_consent(&req.peer, action).await?))
}

async fn contact(State(s): State<ApiState>) -> ApiResult<serde_json::Value> {
    Ok(Json(
        serde_json::json!({ "contact": s.node.contact_code().await? }),
    ))
}
