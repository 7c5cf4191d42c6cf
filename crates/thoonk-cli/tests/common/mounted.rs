//! An app of its own that mounts the dashboard as a Rust service would:
//! a page of its own at `/`, the `thoonk-dashboard` router nested under a
//! prefix, behind the app's HTTP basic auth (or with the dashboard's own
//! token). It runs in this process, on a runtime of its own, and records
//! the path of every request it gets, so that a test can tell whether the
//! dashboard sent a browser outside its prefix.

use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::Engine;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use thoonk_dashboard::Dashboard;
use tokio::sync::oneshot;

/// What the app's own page at `/` says.
pub(crate) const APP_PAGE: &str = "the app's own page";

/// How the app lets people in to the dashboard.
#[derive(Clone, Copy)]
pub(crate) enum Door<'a> {
    /// The app's basic auth, `(user, password)`, in front of the router.
    Basic(&'a str, &'a str),
    /// No auth of the app's: the dashboard's own token login.
    Token(&'a str),
}

/// The running app; stopped (gracefully, its dashboard closed) on drop.
pub(crate) struct MountedApp {
    /// Where it listens: `127.0.0.1:PORT`.
    pub(crate) addr: String,
    /// The path (and query) of every request it got, in order.
    seen: Arc<Mutex<Vec<String>>>,
    /// Tells the server to stop; taken on drop.
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl MountedApp {
    /// The app on the Redis at `redis_url`, the dashboard nested at
    /// `prefix`, behind `door`; returns once it listens.
    pub(crate) fn start(redis_url: &str, prefix: &str, door: Door) -> MountedApp {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (stop, stopped) = oneshot::channel();
        let (tx, rx) = std::sync::mpsc::channel();
        let (url, prefix, seen_by_app) = (redis_url.to_string(), prefix.to_string(), seen.clone());
        let basic = match door {
            Door::Basic(user, password) => Some(basic_header(user, password)),
            Door::Token(_) => None,
        };
        let token = match door {
            Door::Token(token) => Some(token.to_string()),
            Door::Basic(..) => None,
        };
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async move {
                let thoonk = thoonk::Thoonk::connect(&url).await.expect("connect");
                let mut dashboard = Dashboard::new(thoonk).await.expect("a dashboard");
                if let Some(token) = token {
                    dashboard = dashboard.token(token).expect("a strong token");
                }
                let mut admin = dashboard.router();
                if let Some(expected) = basic {
                    admin = admin.layer(middleware::from_fn(move |r, n| {
                        basic_auth(expected.clone(), r, n)
                    }));
                }
                let app = Router::new()
                    .route("/", get(|| async { APP_PAGE }))
                    .nest(&prefix, admin)
                    .layer(middleware::from_fn(move |r, n| {
                        record(seen_by_app.clone(), r, n)
                    }));
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                tx.send(listener.local_addr().unwrap().to_string()).unwrap();
                axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = stopped.await;
                        dashboard.close();
                    })
                    .await
                    .expect("serve");
            });
        });
        let addr = rx.recv().expect("the app listens");
        MountedApp {
            addr,
            seen,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The paths of the requests it got so far.
    pub(crate) fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for MountedApp {
    fn drop(&mut self) {
        let _ = self.stop.take().map(|stop| stop.send(()));
        if let Some(thread) = self.thread.take() {
            // A panic of the app's thread shows here, unless this test is
            // panicking already.
            if thread.join().is_err() && !std::thread::panicking() {
                panic!("the mounted app panicked");
            }
        }
    }
}

/// `Authorization: Basic …` for `user` and `password`.
pub(crate) fn basic_header(user: &str, password: &str) -> String {
    let pair = format!("{user}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// The app's basic auth: the request carries `expected`, or gets the
/// challenge a browser answers.
async fn basic_auth(expected: String, request: Request, next: Next) -> Response {
    let given = request.headers().get(header::AUTHORIZATION);
    if given.is_some_and(|v| v.as_bytes() == expected.as_bytes()) {
        return next.run(request).await;
    }
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, r#"Basic realm="queues""#)],
    )
        .into_response()
}

/// Notes the request's path and query.
async fn record(seen: Arc<Mutex<Vec<String>>>, request: Request, next: Next) -> Response {
    let path = request
        .uri()
        .path_and_query()
        .map_or_else(|| request.uri().path().to_string(), |p| p.to_string());
    seen.lock().unwrap().push(path);
    next.run(request).await
}
