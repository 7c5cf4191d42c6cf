//! Where "now" comes from. Every script gets the time as an argument, taken
//! from the client's clock, which tests replace (`Thoonk::with_clock`, with
//! the `test-util` feature) to test time-dependent behaviour without
//! sleeping.

use std::time::{SystemTime, UNIX_EPOCH};

/// A source of the current time.
// Reachable from outside only with the `test-util` feature.
#[allow(unreachable_pub)]
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
}
