//! What every handler shares ([`App`]), and the one shape of a refusal.

use super::{live, sessions, throttle};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use thoonk::Thoonk;
use tokio_util::task::AbortOnDropHandle;

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct App {
    pub(crate) thoonk: Thoonk,
    pub(crate) live: Arc<live::Live>,
    /// The overview's panels, as their task last read them (`panels`).
    pub(crate) panels: tokio::sync::watch::Receiver<Arc<super::panels::Panels>>,
    /// Every request must carry it, when set.
    pub(crate) token: Option<Arc<str>>,
    /// The logins: what a login cookie holds is one of their ids, not the
    /// token (cookies go to every port of the host name).
    pub(crate) sessions: Arc<sessions::Sessions>,
    /// Wrong tokens per client address.
    pub(crate) throttle: Arc<throttle::Throttle>,
    /// Trust `X-Forwarded-Proto` and `X-Forwarded-For` (see
    /// `Dashboard::behind_proxy`).
    pub(crate) behind_proxy: bool,
    /// Answer only to a loopback `Host` (see `Dashboard::loopback_only`).
    pub(crate) loopback_only: bool,
    /// The tasks that keep the overview current and fire schedules: held
    /// here so that they stop when the last handle and router go.
    pub(crate) tasks: Arc<Tasks>,
}

/// The dashboard's background tasks, aborted on drop.
pub(crate) struct Tasks {
    /// Refreshes the overview (`live`).
    pub(crate) refresher: AbortOnDropHandle<()>,
    /// Fires the due schedules of the queues shown (`schedules`).
    pub(crate) firing: AbortOnDropHandle<()>,
    /// Reads the overview's panels (`panels`).
    pub(crate) panels: AbortOnDropHandle<()>,
}

impl Tasks {
    /// Stops them now, before the last handle goes.
    pub(crate) fn abort(&self) {
        self.refresher.abort();
        self.firing.abort();
        self.panels.abort();
    }
}

/// A refusal, as JSON: `{"error": why}`.
pub(crate) fn refuse(status: StatusCode, why: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": why }))).into_response()
}
