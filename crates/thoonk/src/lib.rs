//! Thoonk Jobs: Redis-backed job queues that never lose a job, compatible
//! with the Node.js Thoonk v1 layout, without its flaws.
//!
//! A program **publishes** a job to a [`Queue`]; one of many workers
//! **claims** it (exactly one wins) and holds it as a [`Job`], under a
//! lease that its heartbeat extends; the worker then **finishes** it with a
//! result that reaches the publisher, **cancels** it back to the queue
//! (counted; a [`Worker`] does so for a failure, with a backoff), or
//! **stalls** it aside until someone **retries** it; any job can be
//! **retracted**. Every change is one Lua script, atomic in Redis, and
//! publishes an event. A worker that dies has its jobs taken back within
//! seconds.
//!
//! The examples below run as tests, each against a private `redis-server`
//! named in `THOONK_REDIS_URL`; yours reach yours the same way
//! ([`Thoonk::connect_from_env`]), or by URL ([`Thoonk::connect`]).
//!
//! # A worker
//!
//! [`Worker`] runs a handler on a queue's jobs: one at a time unless told
//! otherwise, failures retried with backoff, leases kept alive, graceful
//! shutdown (its page lists the defaults). The handler's `Ok` finishes the
//! job with a result (`()`, text, bytes, or [`Json`]); its `Err` is a
//! [`Failure`]: transient (the job comes back later) or permanent (the job
//! is stalled).
//!
//! ```
//! use thoonk::{Failure, Job, Thoonk, Worker};
//!
//! # #[tokio::main] async fn main() -> thoonk::Result<()> {
//! # let _redis = thoonk_testkit::doc_redis();
//! let thoonk = Thoonk::connect_from_env().await?;
//! let mail = thoonk.queue("mail")?;
//! # mail.publish("ann@example.com", thoonk::Publish::new()).await?;
//! # let mut finishes = mail.subscribe_to(&[thoonk::EventKind::Finish]).await?;
//! # let shutdown = async move { finishes.next().await; };
//! # /*
//! let shutdown = async { tokio::signal::ctrl_c().await.ok(); };
//! # */
//! let report = Worker::new(mail.clone())
//!     .concurrency(10)
//!     .run(
//!         |job: Job| async move {
//!             let to = String::from_utf8(job.item).map_err(Failure::permanent)?;
//!             Ok::<_, Failure>(format!("sent to {to}"))
//!         },
//!         shutdown,
//!     )
//!     .await?;
//! # assert_eq!(report.finished, 1);
//! # Ok(()) }
//! ```
//!
//! # A publisher
//!
//! [`Queue::publish`] queues a job (with [`Publish`] options: an id of
//! your own, the front of the queue, a delay); [`Queue::publish_and_wait`]
//! also waits for its result.
//!
//! ```
//! use std::time::Duration;
//! use thoonk::{Publish, Thoonk};
//!
//! # #[tokio::main] async fn main() -> thoonk::Result<()> {
//! # let _redis = thoonk_testkit::doc_redis();
//! let mail = Thoonk::connect_from_env().await?.queue("mail")?;
//! let id = mail.publish("ann@example.com", Publish::new()).await?;
//! mail.publish("bob@example.com", Publish::new().delay(Duration::from_secs(60))).await?;
//! assert_eq!(mail.stats().await?.available, 1);
//! # let _ = id; Ok(()) }
//! ```
//!
//! # Typed jobs
//!
//! Payloads and results that are `serde` types travel as JSON:
//! [`Queue::publish_json`], [`Queue::publish_json_and_wait`],
//! [`Queue::get_json`], [`Worker::run_json`].
//!
//! ```
//! # #[tokio::main] async fn main() -> thoonk::Result<()> {
//! # let _redis = thoonk_testkit::doc_redis();
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Email { to: String }
//!
//! let mail = thoonk::Thoonk::connect_from_env().await?.queue("mail")?;
//! mail.publish_json(&Email { to: "ann@example.com".into() }, thoonk::Publish::new()).await?;
//! let job = mail.get_json::<Email>(std::time::Duration::from_secs(1)).await?.unwrap();
//! assert_eq!(job.item.to, "ann@example.com");
//! mail.finish(&job).await?;
//! # Ok(()) }
//! ```
//!
//! # Errors
//!
//! Every failure is an [`Error`] that names the operation, the queue, the
//! job and why; a refusal is a variant to match on (the job is in another
//! state, its claim was taken back, the id exists already), and a Redis
//! error also names the server, its password hidden, and what to do.
//! [`Error::is_transient`] tells the ones worth trying again.
//!
//! # Names
//!
//! The library says [`Queue`] for a queue and [`Job`] for a job a worker
//! holds. The Redis layout, the events, the CLI and v1 keep v1's words:
//! its `Job` object is our `Queue`; a job's *cancel count*
//! (`job.cancelled:NAME`) is [`Job::retries`]; a transient [`Failure`] is a
//! *cancel* with a delay, a permanent one a *stall*; [`Queue::retry`] is
//! v1's retry, which puts a stalled job back.
//!
//! # More
//!
//! - Events of a queue as they happen: [`Queue::subscribe`].
//! - Delayed jobs ([`Publish::delay`]), claims by hand ([`Queue::claim`],
//!   [`Queue::get`]), leases ([`Queue::extend`], [`Queue::recover`]), a
//!   queue's settings ([`Queue::set_lease`], [`Queue::set_max_cancels`]).
//! - Looking inside: [`Queue::stats`], [`Queue::list`], [`Queue::detail`],
//!   [`Queue::workers`], [`Thoonk::queues`].
//! - Schedules that publish every N seconds or on a cron expression in a
//!   time zone, once per tick across a fleet: [`Queue::schedule`],
//!   [`Schedule`].
//! - Several queues in one worker: [`Worker::serving`], [`Order`].
//! - Redis Cluster ([`Thoonk::connect_cluster`]: queue names need a
//!   `{tag}`), TLS ([`Thoonk::connect_tls`]), durable publishes
//!   ([`Publish::replicas`]).
//!
//! # Your own Redis+Lua objects
//!
//! [`Thoonk`] is a small core: connections and events. The
//! [`Queue`] is built on it, and so can other objects be, the way Thoonk
//! lets you register your own:
//!
//! ```
//! use redis::Script;
//! use std::sync::LazyLock;
//! use thoonk::{Notice, Thoonk};
//!
//! /// A counter that publishes each new value.
//! struct Counter {
//!     thoonk: Thoonk,
//!     key: String,
//! }
//!
//! static INCR: LazyLock<Script> = LazyLock::new(|| {
//!     Script::new(
//!         "local v = redis.call('INCR', KEYS[1]) \
//!          redis.call('PUBLISH', ARGV[1], v) return v",
//!     )
//! });
//!
//! impl Counter {
//!     async fn bump(&self) -> thoonk::Result<i64> {
//!         INCR.key(&self.key)
//!             .arg(format!("event.counter:{}", self.key))
//!             .invoke_async(&mut self.thoonk.connection())
//!             .await
//!             .map_err(self.thoonk.error_in("bump the counter"))
//!     }
//! }
//!
//! # #[tokio::main] async fn main() -> thoonk::Result<()> {
//! # let _redis = thoonk_testkit::doc_redis();
//! let thoonk = Thoonk::connect_from_env().await?;
//! let counter = Counter { thoonk: thoonk.clone(), key: "visits".into() };
//! let mut events = thoonk.listen(vec!["event.counter:visits".into()]).await?;
//! assert_eq!(counter.bump().await?, 1);
//! let Some(Notice::Message { payload, .. }) = events.recv().await else { panic!() };
//! assert_eq!(payload, b"1");
//! # Ok(()) }
//! ```

mod client;
mod error;
mod events;
mod keys;
mod limits;
mod names;
mod pubsub;
mod queue;
mod schedule;
mod scripts;
mod state;
mod typed;
mod worker;

pub use client::{Connection, ServerInfo, Thoonk, DEFAULT_URL};
pub use error::{Error, Result};
pub use events::{Event, EventKind, Events};
pub use limits::{MAX_BATCH, MAX_CANCELS, MAX_DELAY, MAX_ITEM_BYTES, MAX_LEASE, MAX_WAIT};
pub use names::{new_id, MAX_ID_LEN, MAX_NAME_LEN};
pub use pubsub::{Listener, Notice};
pub use queue::{
    AtWork, HeldJob, Memory, ReasonScan, WorkerAbout, WorkerAtWork, AT_WORK_MAX_WORKERS,
};
pub use queue::{
    Cancel, ConfigChange, Cursor, FinishedJob, FinishedPage, Job, JobDetail, JobInfo, JobRef,
    NewJob, Page, Publish, Queue, QueueConfig, Rate, Recovered, Stats, WorkerInfo, DEFAULT_LEASE,
    DEFAULT_MAX_CANCELS, KEPT_RESULT_BYTES, MAX_PROGRESS_BYTES, MAX_RATE,
};
pub use queue::{Counts, Durations, Resolution, Slot, RUN_BUCKETS};
pub use queue::{Fired, ScheduleInfo, MAX_SCHEDULES, MAX_SCHEDULE_ITEM_BYTES, MAX_SCHEDULE_NAME};
pub use redis;
pub use schedule::{Schedule, DEFAULT_ZONE, MIN_PERIOD};
pub use state::State;
pub use worker::{Backoff, Failure, Json, Order, Output, Report, Worker};

/// Hooks for tests (the `test-util` feature), not for programs.
#[cfg(feature = "test-util")]
pub mod testing {
    /// The function library the Lua scripts make (as `FUNCTION LOAD`
    /// takes it), and each script's file name with its function's name,
    /// for tests that drive the scripts directly.
    pub fn scripts() -> (&'static str, Vec<(&'static str, &'static str)>) {
        crate::scripts::library()
    }
}

/// The README's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
