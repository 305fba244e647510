//! Control API routes for the reader: their profile, what they have seen
//! (reading.rs does the work), and an invite read before joining.

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use crate::api::{ApiResult, ApiState};
use crate::reading::ProfileView;

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/profile", get(profile).post(set_profile))
        .route("/v1/topics/{topic}/seen", post(seen))
        .route("/v1/invite/preview", post(preview))
}

async fn profile(State(s): State<ApiState>) -> ApiResult<ProfileView> {
    Ok(Json(s.node.profile()?))
}

#[derive(Deserialize)]
struct ProfileReq {
    name: Option<String>,
    #[serde(default)]
    welcomed: bool,
}

async fn set_profile(
    State(s): State<ApiState>,
    Json(req): Json<ProfileReq>,
) -> ApiResult<ProfileView> {
    Ok(Json(
        s.node
            .set_profile(req.name.as_deref(), req.welcomed)
            .await?,
    ))
}

#[derive(Deserialize)]
struct SeenReq {
    cursor: u64,
}

async fn seen(
    State(s): State<ApiState>,
    Path(topic): Path<String>,
    Json(req): Json<SeenReq>,
) -> ApiResult<serde_json::Value> {
    s.node.mark_seen(&topic, req.cursor).await?;
    Ok(Json(serde_json::json!({})))
}

#[derive(Deserialize)]
struct PreviewReq {
    invite: String,
}

async fn preview(
    State(s): State<ApiState>,
    Json(req): Json<PreviewReq>,
) -> ApiResult<crate::join::InvitePreview> {
    Ok(Json(s.node.preview_invite(&req.invite)?))
}
