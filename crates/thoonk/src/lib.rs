//! Thoonk Jobs: Redis-backed job queues, compatible with the Node.js Thoonk
//! v1 layout, without its flaws.
//!
//! A program **publishes** a job; one of many workers **claims** it (exactly
//! one wins); the worker **finishes** it with a result, **cancels** it back
//! to the queue (counted), or **stalls** it aside until someone **retries**
//! it; any job can be **retracted**. Every change is one Lua script, atomic
//! in Redis, and publishes an event.
//!
//! [`Job`] is a handle on a *queue* (v1's name for it: `thoonk.job("mail")`
//! is the queue named `mail`); a job a worker holds is a [`Claimed`].
//!
//! ```no_run
//! use std::time::Duration;
//! use thoonk::{Publish, Thoonk};
//!
//! # async fn demo() -> thoonk::Result<()> {
//! let thoonk = Thoonk::connect("redis://127.0.0.1:6379/").await?;
//! let mail = thoonk.job("mail")?;
//! let id = mail.publish("hello", Publish::new()).await?;
//!
//! // A worker, anywhere:
//! let job = mail.get(Duration::from_secs(5)).await?.expect("a job");
//! assert_eq!(job.id, id);
//! mail.finish_with(&job, "sent").await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Your own Redis+Lua objects
//!
//! [`Thoonk`] is a small core: connections, the clock and events. The
//! [`Job`] queue is built on it, and so can other objects be, the way
//! Thoonk lets you register your own:
//!
//! ```no_run
//! use redis::Script;
//! use std::sync::LazyLock;
//! use thoonk::Thoonk;
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
//!         Ok(INCR
//!             .key(&self.key)
//!             .arg(format!("event.counter:{}", self.key))
//!             .invoke_async(&mut self.thoonk.connection())
//!             .await?)
//!     }
//! }
//!
//! # async fn demo() -> thoonk::Result<()> {
//! let thoonk = Thoonk::connect("redis://127.0.0.1:6379/").await?;
//! let counter = Counter { thoonk: thoonk.clone(), key: "visits".into() };
//! let mut events = thoonk.listen(vec!["event.counter:visits".into()]).await?;
//! counter.bump().await?;
//! println!("{:?}", events.recv().await);
//! # Ok(())
//! # }
//! ```
//!
//! # Layout
//! [`Job`] is v1's name for a handle on one queue (not one job: a job the
//! worker holds is a [`Claimed`]). One line per module:
//!
//! - `client/`: [`Thoonk`], the core: connects to one Redis or a cluster
//!   (`mod.rs`), its connections (`connection.rs`), a cluster's nodes
//!   (`cluster.rs`), TLS and URLs shown without passwords (`node.rs`).
//! - `pubsub`: the client's one pub/sub connection, fanned out to
//!   listeners.
//! - `queue/`: [`Job`], the queue handle (`mod.rs`), and what it does, a
//!   file each: `publish`, `claim`, `outcome` (finish, cancel, stall),
//!   `manage` (retry, retract, destroy), `leases` (extend, recover,
//!   release), `config` (the queue's settings), `inspect` (counts,
//!   listings, one job, the workers), `waiting` (`get`, `publish_and_wait`).
//! - `events`: a queue's events, typed, and the subscription that yields
//!   them.
//! - `worker/`: [`Worker`], the runtime: the builder and `run`
//!   (`mod.rs`), the claim loop (`dispatch`), a lane per queue (`lane`,
//!   `state`), its `watcher`, `finisher`s and `heartbeat`, one job's run
//!   (`process`), the graceful stop (`shutdown`), [`Failure`] and
//!   [`Backoff`] (`failure`), [`Order`], [`Report`].
//! - `typed`: publishing, claiming and working on `serde` types as JSON.
//! - `state`: the states a job can be in.
//! - `keys`: every Redis key and channel name (the v1 layout).
//! - `scripts` and `lua/`: one Lua script per state change.
//! - `names`: valid queue names and job ids, and generated ids.
//! - `clock`: where "now" comes from.
//! - `error`: the error type.

mod client;
mod clock;
mod error;
mod events;
mod keys;
mod names;
mod pubsub;
mod queue;
mod scripts;
mod state;
mod typed;
mod worker;

pub use client::{Connection, Thoonk};
#[cfg(feature = "test-util")]
pub use clock::Clock;
pub use error::{Error, Result};
pub use events::{Event, EventKind, Events};
pub use names::{new_id, MAX_ID_LEN, MAX_NAME_LEN};
pub use pubsub::{Listener, Notice};
pub use queue::{
    Cancel, Claimed, Job, JobDetail, JobInfo, JobRef, NewJob, Publish, QueueConfig, Recovered,
    Stats, WorkerInfo, DEFAULT_LEASE, DEFAULT_MAX_CANCELS,
};
pub use redis;
pub use state::State;
pub use worker::{Backoff, Failure, Order, Report, Worker};

/// The README's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
