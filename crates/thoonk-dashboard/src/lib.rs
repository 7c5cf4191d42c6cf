//! The thoonk web dashboard, as an [`axum::Router`] to mount in an app of
//! your own (as Rails apps mount Sidekiq::Web): a live view of every queue
//! of one Redis, its jobs, their actions (retry, retract, stall, cancel,
//! pause, resume), a JSON API and `/metrics` for Prometheus. The pages,
//! script and style are embedded. `thoonk dashboard` serves the same
//! router at the root of a server of its own.
//!
//! ```no_run
//! use axum::{routing::get, Router};
//! use thoonk_dashboard::Dashboard;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let thoonk = thoonk::Thoonk::connect("redis://127.0.0.1:6379/").await?;
//! let dashboard = Dashboard::new(thoonk).await?;
//! let app = Router::new()
//!     .route("/", get(|| async { "my app" }))
//!     // Behind your own auth layer: the router brings none.
//!     .nest("/admin/queues", dashboard.router());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await?;
//! # Ok(())
//! # }
//! ```
//!
//! It learns where it is mounted from each request (what `nest` cut off
//! the path), so every link, form, script, API call, live stream and
//! redirect stays under the prefix, with nothing to configure.
//!
//! What holds wherever it is mounted: actions are POSTs that a page of
//! another site cannot send (their `Origin` must be the dashboard's own
//! host; a program sending `Authorization: Bearer` is exempt when the
//! dashboard has a token); no other site may frame the pages or load
//! anything into them (`Content-Security-Policy`, `X-Frame-Options`); every
//! name, id, payload and reason is escaped (the pages are built with
//! `maud`, which escapes whatever it is given, and the script only ever
//! sets `textContent`).
//!
//! # Layout
//! - this file: [`Dashboard`], its settings, and the routes;
//! - `base`: where the dashboard is mounted, learnt from each request;
//! - `app`: what every handler shares, and the shape of a refusal;
//! - `auth`: who may come in (the token, the `Host`, the `Origin`) and the
//!   headers on every response; `sessions`: the logins; `throttle`: wrong
//!   tokens per client address;
//! - `live`: what the pages show, kept current by one task;
//!   `streams`: the live streams (server-sent events) pages follow;
//! - `pages`: the HTML pages and the embedded script and style; `api`: the
//!   JSON API and the actions; `metrics`: `/metrics`;
//! - `panels`: the overview's panels, read by a task of their own:
//!   `server` (Redis and each queue's memory), `workers` (the workers at
//!   work), `failures` (reasons grouped, and the `reason=` listing);
//! - `settings`, `schedules`, `history`: a queue's settings, schedules
//!   (and the task that fires them) and kept finished jobs, as the pages
//!   and the API show them; `charts`: its tally (publishes and finishes
//!   per 10 minutes and per day, run times) on its page.

mod api;
mod app;
mod auth;
mod base;
mod charts;
mod failures;
mod history;
mod live;
mod metrics;
mod pages;
mod panels;
mod schedules;
mod server;
mod sessions;
mod settings;
mod streams;
mod throttle;
mod workers;

use app::{App, Tasks};
use axum::middleware;
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;
use thoonk::Thoonk;

/// The fewest characters a token may have ([`Dashboard::token`]): 16
/// random characters (e.g. `openssl rand -hex 16`, 32) are past guessing.
pub const MIN_TOKEN_LEN: usize = 16;

/// A token too short to keep anyone out ([`Dashboard::token`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeakToken {
    /// How many characters it had.
    pub chars: usize,
}

impl std::fmt::Display for WeakToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the dashboard's token has {} characters, fewer than {MIN_TOKEN_LEN}: it could be \
             guessed; make one with `openssl rand -hex 16`",
            self.chars
        )
    }
}

impl std::error::Error for WeakToken {}

impl WeakToken {
    /// Refuses `token` when it has fewer than [`MIN_TOKEN_LEN`]
    /// characters, as [`Dashboard::token`] does: for a program that
    /// checks its configuration before it connects to Redis.
    pub fn check(token: &str) -> Result<(), WeakToken> {
        let chars = token.chars().count();
        if chars < MIN_TOKEN_LEN {
            return Err(WeakToken { chars });
        }
        Ok(())
    }

    /// How many characters the refused token has.
    pub fn chars(&self) -> usize {
        self.chars
    }
}

/// The dashboard of every queue of one Redis: hands out the [`router`]
/// that serves it.
///
/// Creating one starts three tasks: one keeps the overview current (from
/// the queues' events, and a read every five seconds for the tally the
/// scripts keep in Redis), one fires the due schedules of the queues
/// shown, so that schedules tick even while no worker runs, and one reads
/// the overview's panels (workers at work, failures, the server), with
/// bounded work and never per page view. They stop when the last clone of the
/// dashboard and of its routers is dropped, or at [`close`].
///
/// By itself the router lets in whoever reaches it: mount it behind your
/// app's own authentication, or give it a [`token`].
///
/// [`router`]: Dashboard::router
/// [`close`]: Dashboard::close
/// [`token`]: Dashboard::token
#[derive(Clone)]
pub struct Dashboard {
    app: App,
}

impl Dashboard {
    /// Starts the dashboard of `thoonk`'s Redis; returns once the first
    /// overview is read (an error: Redis could not be read).
    pub async fn new(thoonk: Thoonk) -> thoonk::Result<Dashboard> {
        let (live, refresher) = live::Live::start(thoonk.clone()).await?;
        let firing = schedules::start_firing(thoonk.clone(), live.clone());
        let (panels, reading) = panels::start(thoonk.clone(), live.clone());
        Ok(Dashboard {
            app: App {
                thoonk,
                live,
                panels,
                token: None,
                sessions: Default::default(),
                throttle: Default::default(),
                behind_proxy: false,
                loopback_only: false,
                tasks: Arc::new(Tasks {
                    refresher,
                    firing,
                    panels: reading,
                }),
            },
        })
    }

    /// Every page, API call and `/metrics` then needs `token`: a browser
    /// logs in with a form at `login` (which sets an `HttpOnly`,
    /// `SameSite=Strict` cookie whose `Path` is the mount point, holding
    /// the id of that login, not the token; logging out ends it; it lasts
    /// 12 hours), a program sends `Authorization: Bearer TOKEN`.
    ///
    /// A token shorter than [`MIN_TOKEN_LEN`] characters is refused: it
    /// could be guessed. Wrong tokens are slowed down per client address
    /// (after five, each shuts the address out for twice as long, up to 15
    /// minutes: 429 with `Retry-After`); the address is the peer's when the
    /// server provides `ConnectInfo<SocketAddr>` (`thoonk dashboard`
    /// does), else all clients count as one.
    pub fn token(mut self, token: impl Into<String>) -> Result<Dashboard, WeakToken> {
        let token = token.into();
        WeakToken::check(&token)?;
        self.app.token = Some(token.into());
        Ok(self)
    }

    /// The dashboard is reached through a reverse proxy that terminates TLS
    /// and that the operator trusts: its `X-Forwarded-Proto: https` marks
    /// the login cookie `Secure` and is the scheme the `Origin` check
    /// expects; its `X-Forwarded-For` (the last address, the one the proxy
    /// appended) is the client address wrong tokens count against. Without
    /// a proxy that sets them, clients could forge both: do not call it
    /// then.
    pub fn behind_proxy(mut self) -> Dashboard {
        self.app.behind_proxy = true;
        self
    }

    /// Answer only requests whose `Host` is a loopback name (`localhost`,
    /// `127.0.0.1`, `[::1]`, with any port): for a dashboard without any
    /// login of its own on a loopback address, which a page of another
    /// site could otherwise reach by pointing its own DNS name at
    /// 127.0.0.1 (DNS rebinding). `thoonk dashboard` without `--token`
    /// does this.
    pub fn loopback_only(mut self) -> Dashboard {
        self.app.loopback_only = true;
        self
    }

    /// The dashboard's routes, to serve at the root of a server or to
    /// `nest` under a prefix of an app (an app with a state of its own:
    /// `nest_service`). Wrap it in the app's own layers (authentication,
    /// logging) as any router.
    ///
    /// Pages: `/` (the overview), `/queues/QUEUE`,
    /// `/queues/QUEUE/jobs/ID`, `/login` and `/logout` (with a token); the
    /// JSON API under `/api/` (its live streams: `/api/live`,
    /// `/api/live/QUEUE`, `/api/panels/live`); `/metrics`; the script and style under
    /// `/assets/`.
    ///
    /// In an app whose router has a state of its own:
    ///
    /// ```no_run
    /// # use thoonk_dashboard::Dashboard;
    /// # use std::sync::Arc;
    /// # fn app(dashboard: Dashboard, settings: Arc<String>) -> axum::Router {
    /// axum::Router::new()
    ///     .route("/", axum::routing::get(|| async { "my app" }))
    ///     .nest_service("/admin/queues", dashboard.router())
    ///     .with_state(settings)
    /// # }
    /// ```
    pub fn router(&self) -> Router {
        let app = self.app.clone();
        Router::new()
            .route("/", get(pages::overview))
            .route("/queues/{queue}", get(pages::queue))
            .route("/queues/{queue}/jobs/{id}", get(pages::job))
            .route("/assets/app.js", get(pages::script))
            .route("/assets/app.css", get(pages::style))
            .route("/assets/panels.js", get(panels::script))
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
            .route("/api/panels", get(panels::api))
            .route("/api/panels/live", get(panels::stream))
            .route("/api/live", get(streams::overview))
            .route("/api/live/{queue}", get(streams::queue))
            .layer(middleware::from_fn_with_state(app.clone(), auth::guard))
            .layer(middleware::from_fn(auth::headers))
            .with_state(app)
    }

    /// Ends every live stream open pages follow (they never end by
    /// themselves: a server shutting down gracefully would wait for them
    /// forever) and stops the dashboard's tasks. The routers go on
    /// answering, with what they showed last; call it when the server
    /// shuts down.
    pub fn close(&self) {
        self.app.live.close();
        self.app.tasks.abort();
    }
}
