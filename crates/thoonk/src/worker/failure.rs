//! Why a handler did not finish its job ([`Failure`]), and how long a job
//! that failed waits before it comes back ([`Backoff`]).

use rand::Rng;
use std::fmt;
use std::time::Duration;

/// Why a handler did not finish its job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    reason: String,
    retry: bool,
}

impl Failure {
    /// A failure worth retrying: the job is cancelled, and comes back after
    /// a backoff delay (or is stalled once cancelled more than the queue's
    /// `max_cancels`).
    pub fn retry(reason: impl fmt::Display) -> Self {
        Failure {
            reason: reason.to_string(),
            retry: true,
        }
    }

    /// A failure that retrying will not mend (bad input, say): the job is
    /// stalled at once, with the reason kept.
    pub fn permanent(reason: impl fmt::Display) -> Self {
        Failure {
            reason: reason.to_string(),
            retry: false,
        }
    }

    /// What went wrong.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// Whether the job is to come back (cancelled) rather than be stalled.
    pub(crate) fn is_retry(&self) -> bool {
        self.retry
    }
}

/// Any error is a failure worth retrying.
impl<E: std::error::Error> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::retry(e)
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
    /// `base * 2^(failures-1)`, capped at `max`, then a random amount up to
    /// half of it taken off, so jobs that failed together do not all come
    /// back together.
    pub fn delay(&self, failures: u64) -> Duration {
        let exp = failures.saturating_sub(1).min(32) as u32;
        let full = self
            .base
            .saturating_mul(2u32.saturating_pow(exp))
            .min(self.max);
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
