//! A worker's settings ([`Settings`]), as its builder set them: what every
//! part of the running worker reads.

use super::{Backoff, Order};
use crate::Queue;
use std::time::Duration;

/// A worker's settings.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// The queues it serves, all from one client.
    pub(crate) queues: Vec<Queue>,
    /// Which queue a free slot goes to first.
    pub(crate) order: Order,
    /// Its claims' tokens end in `@id`; its liveness mark is kept under it.
    pub(crate) id: String,
    /// How many handlers run at once, over all its queues.
    pub(crate) concurrency: usize,
    pub(crate) backoff: Backoff,
    /// How long handlers may run on after shutdown is asked for, or after
    /// their timeout passed.
    pub(crate) grace: Duration,
    /// The worker's own job timeout; the queue's applies when shorter.
    pub(crate) timeout: Option<Duration>,
}
