//! Why a handler did not finish its job ([`Failure`]), and how long a job
//! that failed waits before it comes back ([`Backoff`]).

use rand::Rng;
use std::fmt;
use std::time::Duration;

/// Why a handler did not finish its job: a handler's `Err`.
///
/// A failure is [transient](Failure::transient) (the job comes back after a
/// [`Backoff`], to be run again) or [permanent](Failure::permanent) (the job
/// is stalled: set aside until someone retries it). Any error converts
/// into a transient failure, so `?` works in a handler.
///
/// In the queue's own words (v1's, which the CLI and the Redis layout
/// keep), a transient failure *cancels* the job with a delay: it counts in
/// the job's cancel count ([`Job::retries`](crate::Job::retries)), and once
/// that passes the queue's `max_cancels` (25 by default) the job is
/// stalled instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    reason: String,
    comes_back: bool,
}

impl Failure {
    /// A failure that may pass (a service down, a timeout): the job comes
    /// back after a backoff delay, or is stalled once it failed more than
    /// the queue's `max_cancels` times.
    pub fn transient(reason: impl fmt::Display) -> Self {
        Failure {
            reason: reason.to_string(),
            comes_back: true,
        }
    }

    /// A failure that running the job again will not mend (bad input, say):
    /// the job is stalled at once, with the reason kept.
    pub fn permanent(reason: impl fmt::Display) -> Self {
        Failure {
            reason: reason.to_string(),
            comes_back: false,
        }
    }

    /// What went wrong: kept with the job (`thoonk list`, the dashboard).
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// Whether the job is to come back (cancelled, in the queue's words)
    /// rather than be stalled.
    pub(crate) fn comes_back(&self) -> bool {
        self.comes_back
    }
}

/// Any error is a transient failure.
impl<E: std::error::Error> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::transient(e)
    }
}

/// Exponential backoff with jitter, capped: the delay before a cancelled
/// job comes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The delay after the first failure.
    pub base: Duration,
    /// No delay is longer.
    pub max: Duration,
}

impl Default for Backoff {
    /// 1 s after the first failure, doubling, at most 5 minutes.
    fn default() -> Self {
        Backoff {
            base: Duration::from_secs(1),
            max: Duration::from_secs(300),
        }
    }
}

impl Backoff {
    /// The delay after a job's `failures`-th failure (1 for the first):
    /// `base * 2^(failures-1)`, capped at `max` (and at
    /// [`MAX_DELAY`](crate::MAX_DELAY)), then a random amount up to half of
    /// it taken off, so jobs that failed together do not all come back
    /// together.
    pub fn delay(&self, failures: u64) -> Duration {
        let exp = failures.saturating_sub(1).min(32) as u32;
        let full = self
            .base
            .saturating_mul(2u32.saturating_pow(exp))
            .min(self.max)
            .min(crate::MAX_DELAY);
        full.mul_f64(1.0 - rand::rng().random_range(0.0..0.5))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let b = Backoff {
            base: Duration::from_secs(1),
            max: Duration::from_secs(10),
        };
        for _ in 0..100 {
            let d1 = b.delay(1);
            assert!(d1 > Duration::from_millis(500) && d1 <= Duration::from_secs(1));
            let d3 = b.delay(3);
            assert!(d3 > Duration::from_secs(2) && d3 <= Duration::from_secs(4));
            let d50 = b.delay(50);
            assert!(d50 > Duration::from_secs(5) && d50 <= Duration::from_secs(10));
        }
    }
}
