//! What every handler shares ([`App`]), and the one shape of a refusal.

use super::live;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use thoonk::Thoonk;

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct App {
    pub(crate) thoonk: Thoonk,
    pub(crate) live: Arc<live::Live>,
    /// Every request must carry it, when set.
    pub(super) token: Option<Arc<str>>,
    /// What the login cookie holds: a secret of this run, not the token
    /// (cookies go to every port of the host name).
    pub(super) session: Arc<str>,
}

/// A refusal, as JSON: `{"error": why}`.
pub(crate) fn refuse(status: StatusCode, why: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": why }))).into_response()
}
