//! `Job`: a handle on one queue, and the state changes of its jobs.
//!
//! Each state change is one Lua script (see `lua/`): it validates first,
//! then mutates, so a refused call changes nothing.

use crate::events::Notice;
use crate::keys::Keys;
use crate::names::{check_id, check_name, new_id};
use crate::subscription::Events;
use crate::{scripts, Error, Result, Thoonk};
use redis::Value;
use serde::Serialize;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// The states a job can be in. A job is in exactly one at every instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Waiting in the queue to be claimed.
    Available,
    /// Held by a worker.
    Claimed,
    /// Set aside: not handed out until retried.
    Stalled,
}

impl State {
    /// Every state, in the order a job usually passes them.
    pub const ALL: [State; 3] = [State::Available, State::Claimed, State::Stalled];

    /// The state's name, as the CLI and the scripts spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Available => "available",
            State::Claimed => "claimed",
            State::Stalled => "stalled",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for State {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        State::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown state {s:?} (expected available, claimed or stalled)"))
    }
}

/// How to publish a job. `Publish::default()` queues a job with a fresh id
/// at the back of the line.
#[derive(Debug, Clone, Default)]
pub struct Publish {
    id: Option<String>,
    priority: bool,
    keep_result: Option<Duration>,
}

impl Publish {
    /// Default options.
    pub fn new() -> Self {
        Self::default()
    }

    /// Use this id instead of a generated one. Publishing an id that is
    /// already in the queue is refused.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Put the job at the front of the queue: it is claimed next.
    pub fn priority(mut self, priority: bool) -> Self {
        self.priority = priority;
        self
    }

    /// Keep the job's result in Redis for `ttl` after it finishes, so a
    /// publisher that was not listening at that instant still finds it.
    /// `publish_and_wait` sets this itself.
    pub fn keep_result(mut self, ttl: Duration) -> Self {
        self.keep_result = Some(ttl);
        self
    }
}

/// A job to publish with [`Job::publish_many`]: a payload and its options.
#[derive(Debug, Clone)]
pub struct NewJob {
    item: Vec<u8>,
    options: Publish,
}

macro_rules! new_job_from {
    ($($t:ty),*) => {$(
        impl From<$t> for NewJob {
            fn from(item: $t) -> Self {
                NewJob { item: AsRef::<[u8]>::as_ref(&item).to_vec(), options: Publish::default() }
            }
        }
        impl From<($t, Publish)> for NewJob {
            fn from((item, options): ($t, Publish)) -> Self {
                NewJob { item: AsRef::<[u8]>::as_ref(&item).to_vec(), options }
            }
        }
    )*};
}
new_job_from!(&str, String, &String, Vec<u8>, &[u8]);

/// A job this worker claimed: finish, cancel or stall it by passing
/// `&claimed` (which carries the claim's token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed<T = Vec<u8>> {
    /// The job's id.
    pub id: String,
    /// Its payload.
    pub item: T,
    /// How many times it was cancelled before.
    pub cancelled: u64,
    /// The token of this claim: finish, cancel and stall with it are
    /// refused once the job has been claimed again by someone else.
    pub token: String,
}

/// Which job an operation is about, and optionally which claim of it.
///
/// From `&Claimed` it carries the claim's token (fenced); from an id alone
/// it carries none, as a v1 client would call.
#[derive(Debug, Clone, Copy)]
pub struct JobRef<'a> {
    id: &'a str,
    token: Option<&'a str>,
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

impl<'a, T> From<&'a Claimed<T>> for JobRef<'a> {
    fn from(c: &'a Claimed<T>) -> Self {
        JobRef::fenced(&c.id, &c.token)
    }
}

/// Counts of one queue, read in one atomic snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// The queue's name.
    pub queue: String,
    /// Jobs waiting to be claimed.
    pub available: u64,
    /// Jobs held by workers.
    pub claimed: u64,
    /// Jobs set aside.
    pub stalled: u64,
    /// Jobs ever published (v1 counter).
    pub publishes: u64,
    /// Jobs ever finished (v1 counter).
    pub finishes: u64,
}

/// One job in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobInfo {
    /// The job's id.
    pub id: String,
    /// Its payload.
    pub item: Vec<u8>,
    /// How many times it was cancelled.
    pub cancelled: u64,
}

/// A handle on one queue, by name. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Job {
    thoonk: Thoonk,
    keys: Arc<Keys>,
}

impl Job {
    pub(crate) fn new(thoonk: Thoonk, name: &str) -> Result<Job> {
        check_name(name)?;
        Ok(Job {
            thoonk,
            keys: Arc::new(Keys::new(name)),
        })
    }

    /// The queue's name.
    pub fn name(&self) -> &str {
        &self.keys.name
    }

    /// Publishes one job and returns its id.
    pub async fn publish(&self, item: impl AsRef<[u8]>, options: Publish) -> Result<String> {
        let job = NewJob {
            item: item.as_ref().to_vec(),
            options,
        };
        Ok(self.publish_many([job]).await?.remove(0))
    }

    /// Publishes many jobs in one round trip, all or none: when one id is
    /// refused, none is published. Returns the ids in the order given.
    pub async fn publish_many<I>(&self, jobs: I) -> Result<Vec<String>>
    where
        I: IntoIterator,
        I::Item: Into<NewJob>,
    {
        let k = &self.keys;
        let mut ids = Vec::new();
        let mut call = scripts::PUBLISH.prepare_invoke();
        call.key(&k.ids)
            .key(&k.items)
            .key(&k.published)
            .key(&k.publishes)
            .key(&k.awaited)
            .arg(self.thoonk.now_ms())
            .arg(k.channel("publish"));
        for job in jobs {
            let NewJob { item, options } = job.into();
            let id = match options.id {
                Some(id) => {
                    check_id(self.name(), &id)?;
                    id
                }
                None => new_id(),
            };
            // At least a second: Redis's EX does not take zero.
            let ttl = options.keep_result.map_or(0, |t| t.as_secs().max(1));
            call.arg(&id)
                .arg(item)
                .arg(if options.priority { "1" } else { "0" })
                .arg(ttl);
            ids.push(id);
        }
        if ids.is_empty() {
            return Ok(ids);
        }
        let reply: Value = call.invoke_async(&mut self.thoonk.connection()).await?;
        match reply {
            Value::Int(_) => Ok(ids),
            other => {
                let id = refusal_values(other).pop().unwrap_or_default();
                Err(Error::AlreadyExists {
                    queue: self.name().to_string(),
                    id,
                })
            }
        }
    }

    /// Claims up to `max` available jobs at once, oldest first, without
    /// waiting. Each claim is atomic: the job moves from available to
    /// claimed in one script.
    pub async fn claim(&self, max: usize) -> Result<Vec<Claimed>> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let k = &self.keys;
        let flat: Vec<Vec<u8>> = scripts::CLAIM
            .key(&k.ids)
            .key(&k.claimed)
            .key(&k.items)
            .key(&k.cancelled)
            .key(&k.tokens)
            .key(&k.claims)
            .arg(self.thoonk.now_ms())
            .arg(max)
            .arg(k.channel("claim"))
            .invoke_async(&mut self.thoonk.connection())
            .await?;
        let mut out = Vec::with_capacity(flat.len() / 4);
        let mut fields = flat.into_iter();
        while let (Some(id), Some(item), Some(cancelled), Some(token)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        {
            out.push(Claimed {
                id: lossy(id),
                item,
                cancelled: lossy(cancelled).parse().unwrap_or(0),
                token: lossy(token),
            });
        }
        Ok(out)
    }

    /// Claims one job, waiting up to `timeout` for one to be published
    /// (zero: wait as long as it takes). `None` when the time passed.
    pub async fn get(&self, timeout: Duration) -> Result<Option<Claimed>> {
        let deadline = (!timeout.is_zero()).then(|| tokio::time::Instant::now() + timeout);
        loop {
            if let Some(job) = self.claim(1).await?.pop() {
                return Ok(Some(job));
            }
            // Another worker may take what woke us: then wait again.
            let wait = match deadline {
                None => Duration::ZERO,
                Some(d) => match d.checked_duration_since(tokio::time::Instant::now()) {
                    Some(left) if !left.is_zero() => left,
                    _ => return Ok(None),
                },
            };
            self.thoonk.wait_for_list(&self.keys.ids, wait).await?;
        }
    }

    /// Finishes a claimed job without a result.
    pub async fn finish<'a>(&self, job: impl Into<JobRef<'a>>) -> Result<()> {
        self.finish_inner(job.into(), None).await
    }

    /// Finishes a claimed job with a result, which reaches whoever awaits
    /// the job (the v1 finish event carries it after a NUL byte).
    pub async fn finish_with<'a>(
        &self,
        job: impl Into<JobRef<'a>>,
        result: impl AsRef<[u8]>,
    ) -> Result<()> {
        self.finish_inner(job.into(), Some(result.as_ref())).await
    }

    async fn finish_inner(&self, job: JobRef<'_>, result: Option<&[u8]>) -> Result<()> {
        check_id(self.name(), job.id)?;
        let k = &self.keys;
        let reply = scripts::FINISH
            .key(&k.claimed)
            .key(&k.items)
            .key(&k.stalled)
            .key(&k.tokens)
            .key(&k.cancelled)
            .key(&k.published)
            .key(&k.finishes)
            .key(&k.awaited)
            .key(k.result(job.id))
            .arg(job.id)
            .arg(job.token.unwrap_or(""))
            .arg(if result.is_some() { "1" } else { "0" })
            .arg(result.unwrap_or_default())
            .arg(k.channel("finish"))
            .invoke_async(&mut self.thoonk.connection())
            .await?;
        self.check(reply, job, State::Claimed)
    }

    /// Gives a claimed job back: it goes to the back of the queue and its
    /// cancel count grows by one.
    pub async fn cancel<'a>(&self, job: impl Into<JobRef<'a>>) -> Result<()> {
        let job = job.into();
        check_id(self.name(), job.id)?;
        let k = &self.keys;
        let reply = scripts::CANCEL
            .key(&k.claimed)
            .key(&k.items)
            .key(&k.stalled)
            .key(&k.tokens)
            .key(&k.cancelled)
            .key(&k.ids)
            .arg(job.id)
            .arg(job.token.unwrap_or(""))
            .arg(k.channel("cancel"))
            .invoke_async(&mut self.thoonk.connection())
            .await?;
        self.check(reply, job, State::Claimed)
    }

    /// Sets a claimed job aside until someone retries it.
    pub async fn stall<'a>(&self, job: impl Into<JobRef<'a>>) -> Result<()> {
        let job = job.into();
        check_id(self.name(), job.id)?;
        let k = &self.keys;
        let reply = scripts::STALL
            .key(&k.claimed)
            .key(&k.items)
            .key(&k.stalled)
            .key(&k.tokens)
            .key(&k.cancelled)
            .key(&k.published)
            .arg(job.id)
            .arg(job.token.unwrap_or(""))
            .arg(k.channel("stall"))
            .invoke_async(&mut self.thoonk.connection())
            .await?;
        self.check(reply, job, State::Claimed)
    }

    /// Puts a stalled job back in the queue.
    pub async fn retry(&self, id: &str) -> Result<()> {
        check_id(self.name(), id)?;
        let k = &self.keys;
        let reply = scripts::RETRY
            .key(&k.stalled)
            .key(&k.items)
            .key(&k.claimed)
            .key(&k.ids)
            .key(&k.published)
            .arg(id)
            .arg(self.thoonk.now_ms())
            .arg(k.channel("retry"))
            .invoke_async(&mut self.thoonk.connection())
            .await?;
        self.check(reply, id.into(), State::Stalled)
    }

    /// Deletes a job, whatever state it is in.
    pub async fn retract(&self, id: &str) -> Result<()> {
        check_id(self.name(), id)?;
        let k = &self.keys;
        let reply = scripts::RETRACT
            .key(&k.items)
            .key(&k.cancelled)
            .key(&k.published)
            .key(&k.stalled)
            .key(&k.claimed)
            .key(&k.ids)
            .key(&k.tokens)
            .key(&k.awaited)
            .arg(id)
            .arg(k.channel("retract"))
            .invoke_async(&mut self.thoonk.connection())
            .await?;
        // Any state will do; only 'missing' can come back.
        self.check(reply, id.into(), State::Available)
    }

    /// How many times the job was cancelled (0 for a job never cancelled,
    /// or one that does not exist, as in v1).
    pub async fn failure_count(&self, id: &str) -> Result<u64> {
        check_id(self.name(), id)?;
        let n: Option<u64> = redis::cmd("HGET")
            .arg(&self.keys.cancelled)
            .arg(id)
            .query_async(&mut self.thoonk.connection())
            .await?;
        Ok(n.unwrap_or(0))
    }

    /// Publishes a job and waits until it finishes, returning its result
    /// (`None` when it finished without one): the Rust form of v1's
    /// `onFinish`. Waits up to `timeout` (zero: as long as it takes).
    ///
    /// The result is also kept in Redis for a while, so it is not missed if
    /// the event connection drops and comes back while the job runs.
    pub async fn publish_and_wait(
        &self,
        item: impl AsRef<[u8]>,
        options: Publish,
        timeout: Duration,
    ) -> Result<Option<Vec<u8>>> {
        let id = options.id.clone().unwrap_or_else(new_id);
        check_id(self.name(), &id)?;
        let finish_channel = self.keys.channel("finish");
        let retract_channel = self.keys.channel("retract");
        // Listen before publishing, so a quick finish is not missed.
        let mut listener = self
            .thoonk
            .listen(vec![finish_channel.clone(), retract_channel])
            .await?;
        let keep = if timeout.is_zero() {
            Duration::from_secs(24 * 3600)
        } else {
            timeout + Duration::from_secs(60)
        };
        let options = Publish {
            id: Some(id.clone()),
            keep_result: Some(options.keep_result.unwrap_or(keep)),
            ..options
        };
        self.publish(item, options).await?;
        let wait = async {
            loop {
                match listener.recv().await {
                    Some(Notice::Message { channel, payload }) => {
                        if channel == finish_channel {
                            if let Some(result) = finish_result(&payload, &id) {
                                return Ok(result);
                            }
                        } else if payload == id.as_bytes() {
                            return Err(Error::Retracted {
                                queue: self.name().to_string(),
                                id: id.clone(),
                            });
                        }
                    }
                    Some(Notice::Resubscribed) => {
                        // Messages may have been lost: read what is kept.
                        if let Some(result) = self.after_gap(&id).await? {
                            return Ok(result);
                        }
                    }
                    None => {
                        return Err(Error::Redis(redis::RedisError::from((
                            redis::ErrorKind::Io,
                            "the event subscription ended",
                        ))))
                    }
                }
            }
        };
        if timeout.is_zero() {
            return wait.await;
        }
        tokio::time::timeout(timeout, wait)
            .await
            .map_err(|_| Error::WaitTimeout {
                queue: self.name().to_string(),
                id: id.clone(),
                timeout,
            })?
    }

    /// After events may have been lost: the outcome of job `id` if it is
    /// over (its kept result, or `Retracted`), `None` while it still exists.
    async fn after_gap(&self, id: &str) -> Result<Option<Option<Vec<u8>>>> {
        let (exists, kept): (bool, Option<Vec<u8>>) = redis::pipe()
            .atomic()
            .hexists(&self.keys.items, id)
            .get(self.keys.result(id))
            .query_async(&mut self.thoonk.connection())
            .await?;
        match (exists, kept) {
            (true, _) => Ok(None),
            (false, Some(kept)) => Ok(Some(decode_kept(kept))),
            (false, None) => Err(Error::Retracted {
                queue: self.name().to_string(),
                id: id.to_string(),
            }),
        }
    }

    /// The kept result of a finished job: `Some(None)` when it finished
    /// without a result, `None` when nothing is kept (not finished, not
    /// published with `keep_result`, or expired).
    pub async fn kept_result(&self, id: &str) -> Result<Option<Option<Vec<u8>>>> {
        check_id(self.name(), id)?;
        let kept: Option<Vec<u8>> = redis::cmd("GET")
            .arg(self.keys.result(id))
            .query_async(&mut self.thoonk.connection())
            .await?;
        Ok(kept.map(decode_kept))
    }

    /// A stream of this queue's events, from now on.
    pub async fn subscribe(&self) -> Result<Events> {
        Events::new(&self.thoonk, &self.keys).await
    }

    /// Counts per state and the v1 counters, in one atomic snapshot.
    pub async fn stats(&self) -> Result<Stats> {
        let k = &self.keys;
        let (available, claimed, stalled, publishes, finishes): (
            u64,
            u64,
            u64,
            Option<u64>,
            Option<u64>,
        ) = redis::pipe()
            .atomic()
            .llen(&k.ids)
            .zcard(&k.claimed)
            .scard(&k.stalled)
            .get(&k.publishes)
            .get(&k.finishes)
            .query_async(&mut self.thoonk.connection())
            .await?;
        Ok(Stats {
            queue: self.name().to_string(),
            available,
            claimed,
            stalled,
            publishes: publishes.unwrap_or(0),
            finishes: finishes.unwrap_or(0),
        })
    }

    /// One page of the jobs in `state`: available ones in the order they
    /// will be claimed, claimed ones by claim time, stalled ones by id.
    pub async fn list(&self, state: State, offset: usize, limit: usize) -> Result<Vec<JobInfo>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let k = &self.keys;
        let flat: Vec<Vec<u8>> = scripts::LIST
            .key(&k.ids)
            .key(&k.claimed)
            .key(&k.stalled)
            .key(&k.items)
            .key(&k.cancelled)
            .arg(state.as_str())
            .arg(offset)
            .arg(limit)
            .invoke_async(&mut self.thoonk.connection())
            .await?;
        let mut out = Vec::with_capacity(flat.len() / 3);
        let mut fields = flat.into_iter();
        while let (Some(id), Some(item), Some(cancelled)) =
            (fields.next(), fields.next(), fields.next())
        {
            out.push(JobInfo {
                id: lossy(id),
                item,
                cancelled: lossy(cancelled).parse().unwrap_or(0),
            });
        }
        Ok(out)
    }

    /// Maps a state-change script's reply to `Ok` or the refusal it names.
    fn check(&self, reply: Value, job: JobRef<'_>, needed: State) -> Result<()> {
        if let Value::Int(_) = reply {
            return Ok(());
        }
        let code = refusal_values(reply).pop().unwrap_or_default();
        let queue = self.name().to_string();
        let id = job.id.to_string();
        Err(match code.as_str() {
            "stale" => Error::StaleClaim {
                queue,
                id,
                token: job.token.unwrap_or_default().to_string(),
            },
            "missing" => Error::NotFound { queue, id },
            other => match other.parse() {
                Ok(actual) => Error::WrongState {
                    queue,
                    id,
                    needed,
                    actual,
                },
                Err(_) => Error::Redis(redis::RedisError::from((
                    redis::ErrorKind::Parse,
                    "unexpected script reply",
                    other.to_string(),
                ))),
            },
        })
    }
}

/// The strings of a script's refusal (a bulk string or an array of them).
fn refusal_values(reply: Value) -> Vec<String> {
    match reply {
        Value::BulkString(b) => vec![lossy(b)],
        Value::SimpleString(s) => vec![s],
        Value::Array(items) => items.into_iter().flat_map(refusal_values).collect(),
        _ => Vec::new(),
    }
}

/// A kept result as `finish.lua` stores it: '1' + result, or '0' for none.
fn decode_kept(mut kept: Vec<u8>) -> Option<Vec<u8>> {
    match kept.first() {
        Some(b'1') => Some(kept.split_off(1)),
        _ => None,
    }
}

/// The result in a v1 finish payload (`id` or `id NUL result`), if the
/// payload is about job `id`.
pub(crate) fn finish_result(payload: &[u8], id: &str) -> Option<Option<Vec<u8>>> {
    let rest = payload.strip_prefix(id.as_bytes())?;
    match rest.split_first() {
        None => Some(None),
        Some((0, result)) => Some(Some(result.to_vec())),
        Some(_) => None, // another job whose id starts with ours
    }
}

pub(crate) fn lossy(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finish_payloads_as_v1() {
        assert_eq!(finish_result(b"abc", "abc"), Some(None));
        assert_eq!(finish_result(b"abc\0ok", "abc"), Some(Some(b"ok".to_vec())));
        assert_eq!(finish_result(b"abc\0", "abc"), Some(Some(Vec::new())));
        assert_eq!(finish_result(b"abcd", "abc"), None);
        assert_eq!(finish_result(b"xyz", "abc"), None);
    }
}
