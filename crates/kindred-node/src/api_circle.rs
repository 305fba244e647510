//! Control API routes for a circle's authority (moderation.rs does the work).

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::api::{ApiResult, ApiState};
use crate::moderation::{InviteView, MemberView, PendingView};

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/topics/{topic}/members", get(members))
        .route("/v1/topics/{topic}/remove", post(remove))
        .route("/v1/topics/{topic}/readmit", post(readmit))
        .route("/v1/topics/{topic}/promote", post(promote))
        .route("/v1/topics/{topic}/demote", post(demote))
        .route("/v1/topics/{topic}/leave", post(leave))
        .route("/v1/topics/{topic}/rename", post(rename))
        .route("/v1/topics/{topic}/rules", post(rules))
        .route("/v1/topics/{topic}/rotate", post(rotate))
        .route("/v1/topics/{topic}/invites", get(invites))
        .route("/v1/topics/{topic}/revoke", post(revoke))
        .route("/v1/topics/{topic}/approve", post(approve))
}

async fn members(
    State(s): State<ApiState>,
    Path(topic): Path<String>,
) -> ApiResult<Vec<MemberView>> {
    Ok(Json(s.node.members(&topic).await?))
}

#[derive(Deserialize)]
struct WhoReq {
    member: String,
    #[serde(default)]
    reason: String,
    /// Removal: also switch off the invite they came in with.
    #[serde(default)]
    revoke_invite: bool,
}

async fn remove(
    State(s): State<ApiState>,
    Path(topic): Path<String>,
    Json(req): Json<WhoReq>,
) -> ApiResult<MemberView> {
    Ok(Json(
        s.node
            .remove(&topic, &req.member, &req.reason, req.revoke_invite)
            .await?,
    ))
}

async fn readmit(
    State(s): State<ApiState>,
    Path(topic): Path<String>,
    Json(req): Json<WhoReq>,
) -> ApiResult<MemberView> {
    Ok(Json(s.node.readmit(&topic, &req.member).await?))
}

async fn promote(
    State(s): State<ApiState>,
    Path(topic): Path<String>,
    Json(req): Json<WhoReq>,
) -> ApiResult<MemberView> {
    Ok(Json(s.node.promote(&topic, &req.member).await?))
}

async fn demote(
    State(s): State<ApiState>,
    Path(topic): Path<String>,
    Json(req): Json<WhoReq>,
) -> ApiResult<MemberView> {
    Ok(Json(s.node.demote(&topic, &req.member).await?))
}

async fn leave(
    State(s): State<ApiState>,
    Path(topic): Path<String>,
) -> ApiResult<serde_json::Value> {
    let name = s.node.leave(&topic).await?;
    Ok(Json(serde_json::json!({ "left": name })))
}

#[derive(Deserialize)]
struct NameReq {
    name: String,
}

async fn rename(
    State(s): State<ApiState>,
    Path(topic): Path<String>,
    Json(req): Json<NameReq>,
) -> ApiResult<serde_json::Value> {
    let name = s.node.rename(&topic, &req.name).await?;
    Ok(Json(serde_json::json!({ "name": name })))
}

async fn rotate(
    State(s): State<ApiState>,
    Path(topic): Path<String>,
) -> ApiResult<serde_json::Value> {
    let epoch = s.node.rotate(&topic).await?;
    Ok(Json(serde_json::json!({ "epoch": epoch })))
}

#[derive(Deserialize)]
struct RulesReq {
    rules: String,
}

async fn rules(
    State(s): State<ApiState>,
    Path(topic): Path<String>,
    Json(req): Json<RulesReq>,
) -> ApiResult<serde_json::Value> {
    s.node.set_rules(&topic, &req.rules).await?;
    Ok(Json(serde_json::json!({ "rules": req.rules })))
}

#[derive(Serialize, Deserialize)]
pub struct InvitesReply {
    pub invites: Vec<InviteView>,
    pub waiting: Vec<PendingView>,
}

async fn invites(State(s): State<ApiState>, Path(topic): Path<String>) -> ApiResult<InvitesReply> {
    let (invites, waiting) = s.node.invites(&topic).await?;
    Ok(Json(InvitesReply { invites, waiting }))
}

#[derive(Deserialize)]
struct IdReq {
    id: String,
}

async fn revoke(
    State(s): State<ApiState>,
    Path(topic): Path<String>,
    Json(req): Json<IdReq>,
) -> ApiResult<serde_json::Value> {
    s.node.revoke(&topic, &req.id).await?;
    Ok(Json(serde_json::json!({ "revoked": req.id })))
}

async fn approve(
    State(s): State<ApiState>,
    Path(topic): Path<String>,
    Json(req): Json<IdReq>,
) -> ApiResult<serde_json::Value> {
    let who = s.node.approve(&topic, &req.id).await?;
    Ok(Json(serde_json::json!({ "admitted": who })))
}
