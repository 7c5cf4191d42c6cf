//! `thoonk dashboard`: serves the `thoonk-dashboard` crate's router at the
//! root of a server of its own, until SIGINT or SIGTERM.

use crate::exit::Fatal;
use std::io::Write;
use std::net::SocketAddr;
use thoonk::Thoonk;
use thoonk_dashboard::Dashboard;

/// Serve a live web dashboard of every queue (and /metrics for
/// Prometheus).
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Where to listen. Any address but loopback needs a --token.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7070")]
    listen: String,
    /// Every page and API call then needs it: a login form sets a
    /// cookie; API clients send `Authorization: Bearer TOKEN`.
    #[arg(long, env = "THOONK_DASHBOARD_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

/// Serves until SIGINT or SIGTERM.
pub(crate) async fn run(thoonk: Thoonk, args: Args) -> Result<(), Fatal> {
    serve(thoonk, &args.listen, args.token)
        .await
        .map_err(Fatal::failed)
}

async fn serve(thoonk: Thoonk, listen: &str, token: Option<String>) -> Result<(), String> {
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
    let with_token = token.is_some();
    let dashboard = Dashboard::new(thoonk).await.map_err(|e| e.to_string())?;
    let dashboard = match token {
        Some(token) => dashboard.token(token).map_err(|e| e.to_string())?,
        // No login: a page of another site must not reach it by rebinding
        // its DNS name to 127.0.0.1.
        None => dashboard.loopback_only(),
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    // On stdout, so a script (or a test) that asked for port 0 learns it;
    // a reader that went away already is no reason not to serve.
    let _ = writeln!(std::io::stdout(), "dashboard on http://{bound}/");
    tracing::info!(%bound, token = with_token, "serving the dashboard");
    let signalled = crate::signal::shutdown_signal();
    axum::serve(listener, dashboard.router())
        .with_graceful_shutdown(async move {
            signalled.await;
            // Open pages hold streams that never end by themselves.
            dashboard.close();
        })
        .await
        .map_err(|e| e.to_string())
}
