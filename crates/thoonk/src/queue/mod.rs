//! [`Queue`]: a handle on one queue (v1's name for it), which job an
//! operation is about ([`JobRef`]), and script replies mapped to refusals.
//! Each state change is one Lua script (see `lua/`): it validates first,
//! then mutates, so a refused call changes nothing.

pub(crate) mod at_work;
pub(crate) mod claim;
mod config;
mod glance;
mod history;
mod inspect;
mod leases;
mod manage;
mod outcome;
mod progress;
mod publish;
mod schedules;
mod tally;
pub(crate) mod waiting;

pub use at_work::{AtWork, HeldJob, WorkerAbout, WorkerAtWork, AT_WORK_MAX_WORKERS};
pub use claim::Job;
pub use config::{ConfigChange, QueueConfig, Rate, DEFAULT_LEASE, DEFAULT_MAX_CANCELS, MAX_RATE};
pub use glance::{Memory, ReasonScan};
pub use history::{FinishedJob, FinishedPage, KEPT_RESULT_BYTES};
pub use inspect::{Cursor, JobDetail, JobInfo, Page, Stats, WorkerInfo};
pub use leases::Recovered;
pub use outcome::Cancel;
pub(crate) use outcome::Finishing;
pub use progress::MAX_PROGRESS_BYTES;
pub use publish::{NewJob, Publish};
pub use schedules::{
    Fired, ScheduleInfo, MAX_SCHEDULES, MAX_SCHEDULE_ITEM_BYTES, MAX_SCHEDULE_NAME,
};
pub use tally::{Counts, Durations, Resolution, Slot, RUN_BUCKETS};

use crate::keys::Keys;
use crate::names::check_name;
use crate::scripts::Call;
use crate::{Error, Result, State, Thoonk};
use std::sync::Arc;

/// Which job an operation is about, and optionally which claim of it.
///
/// From `&Job` it carries the claim's token (fenced); from an id alone
/// it carries none, as a v1 client would call.
#[derive(Debug, Clone, Copy)]
pub struct JobRef<'a> {
    pub(crate) id: &'a str,
    pub(crate) token: Option<&'a str>,
}

impl<'a> JobRef<'a> {
    /// A job by id and the token of the claim the caller holds.
    pub fn fenced(id: &'a str, token: &'a str) -> Self {
        JobRef {
            id,
            token: Some(token),
        }
    }
}

impl<'a> From<&'a str> for JobRef<'a> {
    fn from(id: &'a str) -> Self {
        JobRef { id, token: None }
    }
}

impl<'a> From<&'a String> for JobRef<'a> {
    fn from(id: &'a String) -> Self {
        JobRef { id, token: None }
    }
}

/// A handle on one queue, by name. Cheap to clone.
///
/// Publish, claim and settle jobs by hand (a [`Worker`](crate::Worker)
/// does the claiming and settling for you):
///
/// ```
/// use std::time::Duration;
/// use thoonk::{Publish, Thoonk};
///
/// # #[tokio::main] async fn main() -> thoonk::Result<()> {
/// # let _redis = thoonk_testkit::doc_redis();
/// let mail = Thoonk::connect_from_env().await?.queue("mail")?;
/// let id = mail.publish("ann@example.com", Publish::new()).await?;
/// let job = mail.get(Duration::from_secs(1)).await?.expect("the job");
/// assert_eq!(job.id, id);
/// mail.finish_with(&job, "sent").await?; // or cancel, stall
/// let stats = mail.stats().await?;
/// assert_eq!((stats.available, stats.finishes), (0, 1));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Queue {
    pub(crate) thoonk: Thoonk,
    pub(crate) keys: Arc<Keys>,
}

impl Thoonk {
    /// A handle on the queue `name`. Refuses a name that cannot work
    /// (empty, with a NUL byte, over 256 bytes), and on a Redis Cluster a
    /// name without a `{tag}`: all keys of a queue must share a hash slot,
    /// and the tag is what Redis hashes (`{mail}`, or `{mail}.high` and
    /// `{mail}.low` to keep two queues on one node).
    pub fn queue(&self, name: &str) -> Result<Queue> {
        Queue::new(self.clone(), name)
    }
}

impl Queue {
    pub(crate) fn new(thoonk: Thoonk, name: &str) -> Result<Queue> {
        check_name(name)?;
        // Refused rather than tagged for the user: the keys stay exactly
        // `job.<noun>:NAME` for the name given, on any Redis, and no two
        // names share keys (tagging `mail` as `{mail}` would meet the
        // queue named `{mail}`).
        if thoonk.is_cluster() && crate::names::hash_tag(name).is_none() {
            return Err(Error::Untagged {
                name: name.to_string(),
            });
        }
        Ok(Queue {
            thoonk,
            keys: Arc::new(Keys::new(name)),
        })
    }

    /// The queue's name.
    pub fn name(&self) -> &str {
        &self.keys.name
    }

    /// Turns a Redis error of `op` on this queue into one that says where.
    pub(crate) fn at(&self, op: &'static str) -> impl Fn(redis::RedisError) -> Error + '_ {
        move |e| Error::redis(op, Some(self.name()), None, self.thoonk.url(), e)
    }

    /// Turns a Redis error of `op` on job `id` into one that says where.
    pub(crate) fn at_job<'a>(
        &'a self,
        op: &'static str,
        id: &'a str,
    ) -> impl Fn(redis::RedisError) -> Error + 'a {
        move |e| Error::redis(op, Some(self.name()), Some(id), self.thoonk.url(), e)
    }

    /// The same queue through another client of the same Redis (a worker's
    /// finishing connections).
    pub(crate) fn on(&self, thoonk: &Thoonk) -> Queue {
        Queue {
            thoonk: thoonk.clone(),
            keys: self.keys.clone(),
        }
    }

    /// Maps a state-change script's reply to `Ok` (with the state the job
    /// went to, when the script says) or the refusal it names.
    fn check(
        &self,
        reply: String,
        op: &'static str,
        job: JobRef<'_>,
        needed: State,
    ) -> Result<Option<State>> {
        if let Some(done) = reply.strip_prefix("ok") {
            return Ok(done.strip_prefix(':').and_then(|s| s.parse().ok()));
        }
        let queue = self.name().to_string();
        let id = job.id.to_string();
        // A stale claim of a job that is gone: it was finished or retracted
        // by someone else meanwhile, and "does not exist" says it best.
        let state = reply.strip_prefix("stale:").unwrap_or(&reply);
        if state == "missing" {
            return Err(Error::NotFound { op, queue, id });
        }
        if reply.starts_with("stale:") {
            if let Ok(actual) = state.parse() {
                return Err(Error::StaleClaim {
                    op,
                    queue,
                    id,
                    token: job.token.unwrap_or_default().to_string(),
                    actual,
                });
            }
        }
        match reply.parse() {
            Ok(actual) => Err(Error::WrongState {
                op,
                queue,
                id,
                needed,
                actual,
            }),
            Err(_) => Err(self.at_job("read a script's reply", job.id)(
                redis::RedisError::from((
                    redis::ErrorKind::Parse,
                    "unexpected script reply",
                    reply,
                )),
            )),
        }
    }
}

pub(crate) fn lossy(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Once, even when sent twice: a script call that writes carries a request
/// id, the last of its arguments, and the key that remembers its reply, the
/// last of its keys (see `_once.lua`). Added last, after all the others.
pub(crate) trait Once {
    fn once(&mut self, queue: &Queue) -> &mut Self;
}

impl Once for Call {
    fn once(&mut self, queue: &Queue) -> &mut Self {
        let id = queue.thoonk.request_id();
        self.key(queue.keys.request(&id)).arg(id)
    }
}
