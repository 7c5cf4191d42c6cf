//! An app of its own that mounts the dashboard: its page at `/`, the
//! dashboard at `/admin/queues` behind the app's HTTP basic auth.
//!
//! `cargo run -p thoonk-dashboard --example mounted` uses
//! `$THOONK_REDIS_URL` when set, else the Redis on 127.0.0.1:6379 when one
//! answers there, else it starts a private `redis-server` of its own.

use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::{routing::get, Router};
use base64::{engine::general_purpose::STANDARD, Engine};
use thoonk::Thoonk;
use thoonk_dashboard::Dashboard;
use thoonk_testkit::PrivateRedis;

const USER: &str = "admin";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (thoonk, _private) = connect().await?;
    let url = thoonk.url().to_string();
    let dashboard = Dashboard::new(thoonk).await?;
    // A password of this run (an app would take its own from its settings).
    let password = thoonk::new_id();
    let expected = format!("Basic {}", STANDARD.encode(format!("{USER}:{password}")));
    let admin = dashboard
        .router()
        .layer(middleware::from_fn(move |request, next| {
            basic_auth(expected.clone(), request, next)
        }));
    let app = Router::new()
        .route(
            "/",
            get(|| async { Html(r#"My app. <a href="/admin/queues">Its queues</a>"#) }),
        )
        .nest("/admin/queues", admin);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    let at = listener.local_addr()?;
    println!("http://{at}/admin/queues (user {USER}, password {password})");
    println!("to see a queue: thoonk --redis {url} publish mail hello");
    // Ctrl-C stops it, and the live streams of open pages with it (they
    // never end by themselves); a private Redis is stopped on the way out.
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = tokio::signal::ctrl_c().await;
            dashboard.close();
        })
        .await?;
    Ok(())
}

/// The app's basic auth: the browser sends the user and password, or is
/// asked for them.
async fn basic_auth(expected: String, request: Request, next: Next) -> Response {
    let given = request.headers().get(header::AUTHORIZATION);
    if given.is_some_and(|v| v.as_bytes() == expected.as_bytes()) {
        return next.run(request).await;
    }
    let challenge = [(header::WWW_AUTHENTICATE, r#"Basic realm="queues""#)];
    (StatusCode::UNAUTHORIZED, challenge).into_response()
}

async fn connect() -> Result<(Thoonk, Option<PrivateRedis>), Box<dyn std::error::Error>> {
    if let Ok(url) = std::env::var("THOONK_REDIS_URL") {
        return Ok((Thoonk::connect(&url).await?, None));
    }
    if let Ok(thoonk) = Thoonk::connect("redis://127.0.0.1:6379/").await {
        return Ok((thoonk, None));
    }
    println!("no Redis configured or on 127.0.0.1:6379: starting a private redis-server");
    let private = PrivateRedis::start()?;
    Ok((Thoonk::connect(&private.url()).await?, Some(private)))
}
