//! `thoonk dashboard`: serves the `thoonk-dashboard` crate's router at the
//! root of a server of its own (`server`: timeouts and a connection cap),
//! until SIGINT or SIGTERM.

mod server;

use crate::exit::{Exit, Fatal};
use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;
use thoonk::Thoonk;
use thoonk_dashboard::{Dashboard, WeakToken, MIN_TOKEN_LEN};

/// File descriptors kept for everything but client connections: Redis
/// connections, the runtime's own, logs.
const RESERVED_FILES: u64 = 64;

/// Serve a live web dashboard of every queue (and /metrics for
/// Prometheus).
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Where to listen. Any address but loopback needs a token.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7070")]
    listen: String,
    /// Every page and API call then needs it: a login form sets a
    /// cookie; API clients send `Authorization: Bearer TOKEN`. At least 16
    /// characters (`openssl rand -hex 16` makes one). Prefer the
    /// environment variable: a flag's value shows in `ps` to every user of
    /// the machine.
    #[arg(long, env = "THOONK_DASHBOARD_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Trust the reverse proxy in front (which terminates TLS): its
    /// X-Forwarded-Proto: https marks the login cookie Secure, and its
    /// X-Forwarded-For names the client that wrong tokens count against.
    /// Only when every request comes through that proxy.
    #[arg(long)]
    behind_proxy: bool,
    /// Connections served at once; more wait until one closes (lowered
    /// to fit the open-files limit).
    #[arg(long, value_name = "N", default_value_t = 1000)]
    max_connections: usize,
    /// Milliseconds a connection has to send a request's head.
    #[arg(long, hide = true, default_value_t = 10_000)]
    header_timeout_ms: u64,
    /// Milliseconds a connection may move no byte (live streams aside).
    #[arg(long, hide = true, default_value_t = 60_000)]
    idle_timeout_ms: u64,
    /// Milliseconds from a request's head to its response's.
    #[arg(long, hide = true, default_value_t = 30_000)]
    request_timeout_ms: u64,
}

impl Args {
    /// What can be refused before connecting to Redis: a token too short
    /// to keep anyone out (exit 2).
    pub(crate) fn check(&self) -> Result<(), Fatal> {
        match self.token.as_deref() {
            Some(token) if !token.is_empty() => WeakToken::check(token).map_err(|weak| {
                Fatal(
                    Exit::Usage,
                    format!(
                        "--token: {} characters is too short to keep anyone out (at least \
                         {MIN_TOKEN_LEN}); make one with `openssl rand -hex 16` and pass it in \
                         THOONK_DASHBOARD_TOKEN",
                        weak.chars()
                    ),
                )
            }),
            _ => Ok(()),
        }
    }
}

/// Serves until SIGINT or SIGTERM.
pub(crate) async fn run(thoonk: Thoonk, args: Args) -> Result<(), Fatal> {
    args.check()?;
    serve(thoonk, args).await.map_err(Fatal::failed)
}

async fn serve(thoonk: Thoonk, args: Args) -> Result<(), String> {
    let listen = &args.listen;
    let addr: SocketAddr = listen
        .parse()
        .map_err(|e| format!("--listen {listen}: not an address like 127.0.0.1:7070 ({e})"))?;
    let token = args.token.filter(|t| !t.is_empty());
    if !addr.ip().is_loopback() && token.is_none() {
        return Err(format!(
            "refusing to listen on {addr} without a token: anyone who can reach it could \
             see and change every queue; pass --token or set THOONK_DASHBOARD_TOKEN \
             (or listen on 127.0.0.1)"
        ));
    }
    let with_token = token.is_some();
    let mut dashboard = Dashboard::new(thoonk).await.map_err(|e| e.to_string())?;
    if args.behind_proxy {
        dashboard = dashboard.behind_proxy();
    }
    let dashboard = match token {
        Some(token) => dashboard.token(token).map_err(|e| e.to_string())?,
        // No login: a page of another site must not reach it by rebinding
        // its DNS name to 127.0.0.1.
        None => dashboard.loopback_only(),
    };
    let limits = server::Limits {
        header_timeout: Duration::from_millis(args.header_timeout_ms.max(1)),
        idle_timeout: Duration::from_millis(args.idle_timeout_ms.max(1)),
        request_timeout: Duration::from_millis(args.request_timeout_ms.max(1)),
        max_connections: max_connections(args.max_connections),
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    // On stdout, so a script (or a test) that asked for port 0 learns it;
    // a reader that went away already is no reason not to serve.
    let _ = writeln!(std::io::stdout(), "dashboard on http://{bound}/");
    tracing::info!(%bound, token = with_token, ?limits, "serving the dashboard");
    let signalled = crate::signal::shutdown_signal();
    let router = dashboard.router();
    server::serve(listener, router, limits, async move {
        signalled.await;
        // Open pages hold streams that never end by themselves.
        dashboard.close();
    })
    .await;
    Ok(())
}

/// `wanted`, or fewer if the open-files limit (raised first to its
/// most) cannot hold them: past it, accepting fails for everyone alike.
fn max_connections(wanted: usize) -> usize {
    let Some(files) = server::raise_open_files_limit() else {
        return wanted.max(1);
    };
    let room = usize::try_from(files.saturating_sub(RESERVED_FILES)).unwrap_or(usize::MAX);
    if room < wanted {
        tracing::warn!(
            files,
            "--max-connections {wanted} lowered to {room} to fit the open-files limit"
        );
    }
    wanted.min(room).max(1)
}
