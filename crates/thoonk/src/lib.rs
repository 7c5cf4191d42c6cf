//! Thoonk Jobs: Redis-backed job queues, compatible with the Node.js Thoonk
//! v1 layout, without its flaws.
//!
//! A program **publishes** a job; one of many workers **claims** it (exactly
//! one wins); the worker **finishes** it with a result, **cancels** it back
//! to the queue (counted), or **stalls** it aside until someone **retries**
//! it; any job can be **retracted**. Every change is one Lua script, atomic
//! in Redis, and publishes an event.
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
//! - `client`: [`Thoonk`], the core: connections, clock, blocking waits.
//! - `events`: one pub/sub connection per client, fanned out to listeners.
//! - `job`: [`Job`], a queue handle, and its state changes.
//! - `waiting`: waiting for work (`get`) and for results (`publish_and_wait`).
//! - `leases`: extending, recovering and releasing claims; queue settings.
//! - `inspect`: counts and listings, one job's record, the workers alive,
//!   the queues there are.
//! - `worker`: [`Worker`], the runtime: handlers, leases kept, backoff, shutdown.
//! - `finisher`: a worker's finishes sent in batches, with their refills.
//! - `subscription`: a queue's events, typed.
//! - `typed`: publishing and claiming `serde` types as JSON.
//! - `keys`: every Redis key and channel name (the v1 layout).
//! - `scripts` and `lua/`: one Lua script per state change.
//! - `names`: valid queue names and job ids, and generated ids.
//! - `clock`: where "now" comes from.
//! - `error`: the error type.

mod client;
mod clock;
mod error;
mod events;
mod finisher;
mod inspect;
mod job;
mod keys;
mod leases;
mod names;
mod scripts;
mod subscription;
mod typed;
mod waiting;
mod worker;

pub use client::{Connection, Thoonk};
pub use clock::{Clock, SystemClock};
pub use error::{Error, Result};
pub use events::{Listener, Notice};
pub use inspect::{JobDetail, JobInfo, Stats, WorkerInfo};
pub use job::{Cancel, Claimed, Job, JobRef, NewJob, Publish, State};
pub use leases::{QueueConfig, Recovered, DEFAULT_LEASE, DEFAULT_MAX_CANCELS};
pub use names::{new_id, MAX_ID_LEN, MAX_NAME_LEN};
pub use redis;
pub use subscription::{Event, EventKind, Events};
pub use worker::{Backoff, Failure, Order, Report, Worker};

/// The README's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
