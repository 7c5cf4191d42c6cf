//! Raw flag values turned into the library's types, for the commands that share them.

use crate::exit::Fatal;
use std::time::Duration;
use thoonk::JobRef;

/// A flag's seconds (`--timeout`, `--delay`, `--grace`, …) as a `Duration`;
/// clap takes any f64, so a negative or NaN one is refused here.
pub(crate) fn secs(s: f64) -> Result<Duration, Fatal> {
    Duration::try_from_secs_f64(s)
        .map_err(|_| Fatal::failed(format!("invalid duration {s}: expected seconds >= 0")))
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
