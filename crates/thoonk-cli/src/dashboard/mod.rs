//! `thoonk dashboard`: a live web dashboard of every queue, its JSON API,
//! and `/metrics` for Prometheus, served from the binary (assets embedded).
//!
//! Safe to expose: it listens on loopback unless given a token, and with
//! one every request must carry it; actions are POSTs that a page of
//! another site cannot send (an `Origin` check); every name, id, payload
//! and reason is escaped (the pages are built with `maud`, which escapes
//! whatever it is given, and the script only ever sets `textContent`).

mod api;
mod app;
mod auth;
mod history;
mod live;
mod metrics;
mod pages;
mod schedules;
mod settings;
mod streams;

use app::App;
use axum::middleware;
use axum::routing::{get, post};
use axum::Router;
use std::io::Write;
use std::net::SocketAddr;
use thoonk::Thoonk;

/// Serves until SIGINT or SIGTERM.
pub(crate) async fn serve(
    thoonk: Thoonk,
    listen: &str,
    token: Option<String>,
) -> Result<(), String> {
    let addr: SocketAddr = listen
        .parse()
        .map_err(|e| format!("--listen {listen}: not an address like 127.0.0.1:7070 ({e})"))?;
    let token = token.filter(|t| !t.is_empty());
    if !addr.ip().is_loopback() && token.is_none() {
        return Err(format!(
            "refusing to listen on {addr} without a token: anyone who can reach it could \
             see and change every queue; pass --token or set THOONK_DASHBOARD_TOKEN \
             (or listen on 127.0.0.1)"
        ));
    }
    let live = live::Live::start(thoonk.clone())
        .await
        .map_err(|e| e.to_string())?;
    // Fires the due schedules of the queues shown, for as long as we serve.
    let _firing = schedules::start_firing(thoonk.clone(), live.clone());
    let app = App {
        thoonk,
        live,
        token: token.map(Into::into),
        session: format!("{}{}", thoonk::new_id(), thoonk::new_id()).into(),
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    // On stdout, so a script (or a test) that asked for port 0 learns it;
    // a reader that went away already is no reason not to serve.
    let _ = writeln!(std::io::stdout(), "dashboard on http://{bound}/");
    tracing::info!(%bound, token = app.token.is_some(), "serving the dashboard");
    let live = app.live.clone();
    let signalled = crate::signal::shutdown_signal();
    axum::serve(listener, router(app))
        .with_graceful_shutdown(async move {
            signalled.await;
            // Open pages hold streams that never end by themselves.
            live.close();
        })
        .await
        .map_err(|e| e.to_string())
}

fn router(app: App) -> Router {
    Router::new()
        .route("/", get(pages::overview))
        .route("/queues/{queue}", get(pages::queue))
        .route("/queues/{queue}/jobs/{id}", get(pages::job))
        .route("/assets/app.js", get(pages::script))
        .route("/assets/app.css", get(pages::style))
        .route("/login", get(pages::login).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/metrics", get(metrics::metrics))
        .route("/api/queues", get(api::queues))
        .route("/api/queues/{queue}", get(api::queue))
        .route("/api/queues/{queue}/jobs", get(api::jobs))
        .route("/api/queues/{queue}/jobs/{id}", get(api::job))
        .route("/api/queues/{queue}/jobs/{id}/{action}", post(api::act))
        .route("/api/queues/{queue}/retry-all", post(api::retry_all))
        .route("/api/queues/{queue}/pause", post(api::pause))
        .route("/api/queues/{queue}/resume", post(api::resume))
        .route("/api/live", get(streams::overview))
        .route("/api/live/{queue}", get(streams::queue))
        .layer(middleware::from_fn_with_state(app.clone(), auth::guard))
        .layer(middleware::from_fn(auth::headers))
        .with_state(app)
}
