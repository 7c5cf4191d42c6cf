//! The bounds of what a call may ask for: beyond them a call is refused,
//! before anything is sent, with an error naming the number and its bound
//! ([`Error::OutOfRange`](crate::Error::OutOfRange)). The scripts check
//! the same again before they write.

use crate::{Error, Result};
use std::fmt;
use std::time::Duration;

const DAY: Duration = Duration::from_secs(24 * 3600);

/// Longest delay of a job (`Publish::delay`, `Publish::at`, a cancel's or a
/// worker's backoff delay), and longest time a result is kept.
pub const MAX_DELAY: Duration = Duration::from_secs(365 * 24 * 3600);
/// Longest a call waits (`Queue::get`, `Queue::publish_and_wait`).
pub const MAX_WAIT: Duration = MAX_DELAY;
/// Longest lease a queue may set: a dead worker's jobs come back at the
/// latest this long after its last heartbeat.
pub const MAX_LEASE: Duration = Duration::from_secs(7 * 24 * 3600);
/// Shortest job timeout (`Worker::timeout`, a queue's `timeout`): a
/// shorter one would stop every handler before it began.
pub(crate) const MIN_TIMEOUT: Duration = Duration::from_millis(1);
/// Most cancels a queue may allow a job (`Queue::set_max_cancels`).
pub const MAX_CANCELS: u64 = i32::MAX as u64;
/// Most jobs in one call (`publish_many`, `claim`, `finish_many`): one
/// script run, during which Redis serves no one else.
pub const MAX_BATCH: usize = 100_000;
/// Largest payload or result: Redis's own limit on one value
/// (`proto-max-bulk-len`, 512 MB by default).
pub const MAX_ITEM_BYTES: usize = 512 * 1024 * 1024;

/// What a refusal says of a number: its value and the bound it crossed.
pub(crate) struct Refused {
    pub(crate) field: &'static str,
    pub(crate) value: String,
    pub(crate) limit: String,
}

impl Refused {
    /// The error for `op` on `queue`.
    pub(crate) fn on(self, op: &'static str, queue: &str) -> Error {
        Error::OutOfRange {
            op,
            queue: queue.to_string(),
            field: self.field,
            value: self.value,
            limit: self.limit,
        }
    }
}

/// `value` (a duration named `field`) when it is at most `max`.
pub(crate) fn at_most(field: &'static str, value: Duration, max: Duration) -> Result<(), Refused> {
    if value <= max {
        return Ok(());
    }
    Err(Refused {
        field,
        value: Shown(value).to_string(),
        limit: format!("at most {}", Shown(max)),
    })
}

/// `value` (a duration named `field`) when it is from `min` to `max`.
pub(crate) fn between(
    field: &'static str,
    value: Duration,
    min: Duration,
    max: Duration,
) -> Result<(), Refused> {
    if (min..=max).contains(&value) {
        return Ok(());
    }
    Err(Refused {
        field,
        value: Shown(value).to_string(),
        limit: format!("from {} to {}", Shown(min), Shown(max)),
    })
}

/// `value` (a count named `field`) when it is at most `max`.
pub(crate) fn count_at_most(field: &'static str, value: u64, max: u64) -> Result<(), Refused> {
    if value <= max {
        return Ok(());
    }
    Err(Refused {
        field,
        value: value.to_string(),
        limit: format!("at most {max}"),
    })
}

/// `value` (a count named `field`) when it is from `min` to `max`.
pub(crate) fn count_between(
    field: &'static str,
    value: u64,
    min: u64,
    max: u64,
) -> Result<(), Refused> {
    if (min..=max).contains(&value) {
        return Ok(());
    }
    Err(Refused {
        field,
        value: value.to_string(),
        limit: format!("from {min} to {max}"),
    })
}

/// A duration as a person reads it: `365 days`, `90 s`, `250 ms`.
struct Shown(Duration);

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d >= DAY && d.as_secs().is_multiple_of(DAY.as_secs()) {
            write!(f, "{} days", d.as_secs() / DAY.as_secs())
        } else if d >= Duration::from_secs(1) {
            write!(f, "{} s", d.as_secs_f64())
        } else {
            write!(f, "{} ms", d.as_millis())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_say_what_they_refused() {
        assert!(at_most("delay", MAX_DELAY, MAX_DELAY).is_ok());
        let refused = at_most("delay", MAX_DELAY + Duration::from_secs(1), MAX_DELAY).unwrap_err();
        assert_eq!(
            (refused.value.as_str(), refused.limit.as_str()),
            ("31536001 s", "at most 365 days")
        );
        let refused = count_at_most("batch", 7, 6).unwrap_err();
        assert_eq!(
            (refused.value, refused.limit),
            ("7".into(), "at most 6".into())
        );
        assert_eq!(Shown(Duration::from_millis(250)).to_string(), "250 ms");
        let refused = between("timeout", Duration::ZERO, MIN_TIMEOUT, MAX_LEASE).unwrap_err();
        assert_eq!(
            (refused.value.as_str(), refused.limit.as_str()),
            ("0 ms", "from 1 ms to 7 days")
        );
        assert!(between("timeout", MAX_LEASE, MIN_TIMEOUT, MAX_LEASE).is_ok());
    }
}
