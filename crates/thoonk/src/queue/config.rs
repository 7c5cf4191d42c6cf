//! A queue's settings ([`QueueConfig`], kept in `job.config:NAME`) and
//! their defaults.

use super::Queue;
use crate::{limits, Result};
use std::time::Duration;

/// A claim's lease when the queue sets none.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);
/// How many cancels a job may have before it is stalled instead, when the
/// queue sets no `max_cancels`.
pub const DEFAULT_MAX_CANCELS: u64 = 25;

/// A queue's settings (kept in `job.config:NAME`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueConfig {
    /// How long a claim holds without being extended.
    pub lease: Duration,
    /// A job cancelled more times than this (by its worker or by expiry) is
    /// stalled instead.
    pub max_cancels: u64,
}

impl Queue {
    /// The queue's settings, defaults filled in.
    pub async fn config(&self) -> Result<QueueConfig> {
        let (lease_ms, max_cancels): (Option<u64>, Option<u64>) = redis::cmd("HMGET")
            .arg(&self.keys.config)
            .arg("lease_ms")
            .arg("max_cancels")
            .query_async(&mut self.thoonk.connection())
            .await
            .map_err(self.at("read the settings"))?;
        Ok(QueueConfig {
            lease: lease_ms.map_or(DEFAULT_LEASE, Duration::from_millis),
            max_cancels: max_cancels.unwrap_or(DEFAULT_MAX_CANCELS),
        })
    }

    /// Sets how long a claim holds without being extended.
    /// At least a millisecond (a shorter one is one), at most
    /// [`MAX_LEASE`](crate::MAX_LEASE).
    pub async fn set_lease(&self, lease: Duration) -> Result<()> {
        limits::at_most("lease", lease, limits::MAX_LEASE)
            .map_err(|refused| refused.on("set the lease", self.name()))?;
        self.set_config("lease_ms", lease.as_millis().max(1) as u64)
            .await
    }

    /// Sets how many cancels a job may have before it is stalled instead,
    /// at most [`MAX_CANCELS`](crate::MAX_CANCELS).
    pub async fn set_max_cancels(&self, max_cancels: u64) -> Result<()> {
        limits::count_at_most("max_cancels", max_cancels, limits::MAX_CANCELS)
            .map_err(|refused| refused.on("set max_cancels", self.name()))?;
        self.set_config("max_cancels", max_cancels).await
    }

    async fn set_config(&self, field: &str, value: u64) -> Result<()> {
        redis::cmd("HSET")
            .arg(&self.keys.config)
            .arg(field)
            .arg(value)
            .query_async::<()>(&mut self.thoonk.connection())
            .await
            .map_err(self.at("change the settings"))?;
        Ok(())
    }
}
