//! Raw flag values turned into the library's types, for the commands that share them.

use std::time::Duration;
use thoonk::JobRef;

/// A flag's seconds (`--timeout 1.5`, `--delay`, `--grace`, …), from 0 to
/// a year ([`thoonk::MAX_WAIT`]); clap refuses anything else as a usage
/// error (exit 2) that names the flag, before anything is sent.
pub(crate) fn seconds(text: &str) -> Result<Duration, String> {
    seconds_up_to(text, thoonk::MAX_WAIT)
}

/// `--lease`: seconds, more than 0 and at most [`thoonk::MAX_LEASE`].
pub(crate) fn lease_seconds(text: &str) -> Result<Duration, String> {
    let lease = seconds_up_to(text, thoonk::MAX_LEASE)?;
    if lease.is_zero() {
        return Err("a lease must be more than 0 seconds".into());
    }
    Ok(lease)
}

/// `work --timeout`: seconds, at least a millisecond and at most
/// [`thoonk::MAX_LEASE`], the library's bounds of a job timeout.
pub(crate) fn timeout_seconds(text: &str) -> Result<Duration, String> {
    seconds_within(text, Duration::from_millis(1), thoonk::MAX_LEASE)
}

/// `config --keep-finished-for`: seconds, at least a millisecond and at
/// most a year ([`thoonk::MAX_DELAY`]), the library's bounds of a history's
/// age.
pub(crate) fn history_seconds(text: &str) -> Result<Duration, String> {
    seconds_within(text, Duration::from_millis(1), thoonk::MAX_DELAY)
}

fn seconds_up_to(text: &str, max: Duration) -> Result<Duration, String> {
    seconds_within(text, Duration::ZERO, max)
}

fn seconds_within(text: &str, min: Duration, max: Duration) -> Result<Duration, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    match Duration::try_from_secs_f64(secs) {
        Ok(d) if (min..=max).contains(&d) => Ok(d),
        _ => Err(format!(
            "{text} seconds is out of range: from {} to {}",
            min.as_secs_f64(),
            max.as_secs()
        )),
    }
}

/// The job a `finish`, `cancel` or `stall` acts on: fenced by the claim
/// `--token` when one was given.
pub(crate) fn job_ref<'a>(id: &'a str, token: Option<&'a str>) -> JobRef<'a> {
    match token {
        Some(token) => JobRef::fenced(id, token),
        None => id.into(),
    }
}

/// The claimed job that `cancel` and `stall` act on, with the same help
/// text for both (`finish` has its own: its `--token` help says more).
#[derive(Debug, clap::Args)]
pub(crate) struct Claim {
    /// The queue.
    pub(crate) queue: String,
    /// The job id.
    pub(crate) id: String,
    /// The claim token from `get`.
    #[arg(long)]
    pub(crate) token: Option<String>,
}

impl Claim {
    /// The job, fenced by its claim token when one was given.
    pub(crate) fn job_ref(&self) -> JobRef<'_> {
        job_ref(&self.id, self.token.as_deref())
    }
}
