//! Jobs as spans: a worker's every job runs in a `job` span (its `queue`,
//! `id`, `attempt` and `worker`), with a debug event for each change of its
//! state, and the handler's own events inside it. Here a `fmt` subscriber
//! prints them, the span's fields on each line, and each span as it closes
//! with how long it was busy and idle. Three jobs: one finishes, one fails
//! once and finishes on its second attempt, one fails for good.
//!
//! `cargo run --example tracing` uses `$THOONK_REDIS_URL` when set, else
//! the Redis on 127.0.0.1:6379 when one answers there, else a private
//! `redis-server` of its own; it ends once its jobs are done.
//!
//! # To OpenTelemetry
//!
//! The same spans reach OpenTelemetry through `tracing-opentelemetry`: add
//! it, `opentelemetry_sdk` and an exporter (`opentelemetry-otlp`, say) to
//! your program, take a tracer from the SDK's tracer provider, and put its
//! layer beside (or instead of) the `fmt` one. Each job is then one span of
//! the trace, its state changes the span's events:
//!
//! ```ignore
//! use opentelemetry::trace::TracerProvider as _;
//! use tracing_subscriber::prelude::*;
//!
//! let tracer = provider.tracer("my-worker"); // provider: the SDK's, with your exporter
//! tracing_subscriber::registry()
//!     .with(tracing_subscriber::EnvFilter::new("info,thoonk=debug"))
//!     .with(tracing_subscriber::fmt::layer())
//!     .with(tracing_opentelemetry::layer().with_tracer(tracer))
//!     .init();
//! ```
use std::io::IsTerminal;
use std::time::Duration;
use thoonk::{Backoff, EventKind, Failure, Job, Publish, Thoonk, Worker};
use tracing_subscriber::fmt::format::FmtSpan;

#[tokio::main]
async fn main() -> thoonk::Result<()> {
    let _redis = thoonk_testkit::redis_unless_configured(); // no Redis? a private one
                                                            // The job spans and their events are at debug level: a program logging
                                                            // thoonk at info makes none, and pays nothing for them.
    tracing_subscriber::fmt()
        .with_env_filter("info,thoonk=debug")
        .with_span_events(FmtSpan::CLOSE)
        .with_ansi(std::io::stdout().is_terminal())
        .init();

    let thoonk = Thoonk::connect_from_env().await?;
    let thumbs = thoonk.queue("tracing-demo")?;
    let mut outcomes = thumbs
        .subscribe_to(&[EventKind::Finish, EventKind::Stall])
        .await?;
    for id in ["cat.png", "dog.png", "notes.txt"] {
        thumbs.publish(id, Publish::new().id(id)).await?;
    }

    let report = Worker::new(thumbs.clone())
        .backoff(Backoff {
            base: Duration::from_millis(100),
            max: Duration::from_secs(1),
        })
        .run(
            |job: Job| async move {
                // Logged inside the job's span, as whatever the handler calls logs.
                tracing::info!(bytes = job.item.len(), "making a thumbnail");
                match (job.id.as_str(), job.retries) {
                    ("dog.png", 0) => Err(Failure::transient("the image store is busy")),
                    ("notes.txt", _) => Err(Failure::permanent("not an image")),
                    _ => Ok("thumbnail made"),
                }
            },
            async move {
                // Shutdown: once every job is finished or stalled.
                for _ in 0..3 {
                    outcomes.next().await;
                }
            },
        )
        .await?;
    tracing::info!(
        finished = report.finished,
        failed = report.failed,
        stalled = report.stalled,
        "the worker stopped"
    );
    thumbs.destroy().await?; // a demo: leave nothing behind
    Ok(())
}
