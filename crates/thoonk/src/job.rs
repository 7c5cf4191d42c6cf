//! `Job`: a handle on one queue, and the state changes of its jobs.
//!
//! Each state change is one Lua script (see `lua/`): it validates first,
//! then mutates, so a refused call changes nothing.

use crate::keys::Keys;
use crate::names::{check_id, check_name, new_id};
use crate::{scripts, Error, Result, Thoonk};
use redis::ScriptInvocation;
use serde::Serialize;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The states a job can be in. A job is in exactly one at every instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Waiting in the queue to be claimed.
    Available,
    /// Held by a worker, under a lease.
    Claimed,
    /// Set aside: not handed out until retried.
    Stalled,
    /// Waiting for its due time, then available.
    Delayed,
}

impl State {
    /// Every state.
    pub const ALL: [State; 4] = [
        State::Available,
        State::Claimed,
        State::Stalled,
        State::Delayed,
    ];

    /// The state's name, as the CLI and the scripts spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Available => "available",
            State::Claimed => "claimed",
            State::Stalled => "stalled",
            State::Delayed => "delayed",
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
            .ok_or_else(|| {
                format!("unknown state {s:?} (expected available, claimed, stalled or delayed)")
            })
    }
}

/// How to publish a job. `Publish::default()` queues a job with a fresh id
/// at the back of the line, available at once.
#[derive(Debug, Clone, Default)]
pub struct Publish {
    pub(crate) id: Option<String>,
    priority: bool,
    pub(crate) keep_result: Option<Duration>,
    due: Option<Due>,
    replicas: Option<Replicas>,
}

/// How many replicas must have a publish before it is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Replicas {
    count: u32,
    timeout: Duration,
}

#[derive(Debug, Clone, Copy)]
enum Due {
    In(Duration),
    At(SystemTime),
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

    /// Put the job at the front of the queue: it is claimed next. (A
    /// delayed job joins the back of the line when due.)
    pub fn priority(mut self, priority: bool) -> Self {
        self.priority = priority;
        self
    }

    /// Keep the job's result in Redis for `ttl` after it finishes, so a
    /// publisher that was not listening at that instant still finds it
    /// ([`Job::kept_result`]). `publish_and_wait` sets this itself.
    pub fn keep_result(mut self, ttl: Duration) -> Self {
        self.keep_result = Some(ttl);
        self
    }

    /// Make the job available only after `delay` (it is "delayed" until
    /// then).
    pub fn delay(mut self, delay: Duration) -> Self {
        self.due = Some(Due::In(delay));
        self
    }

    /// Make the job available only at `when`.
    pub fn at(mut self, when: SystemTime) -> Self {
        self.due = Some(Due::At(when));
        self
    }

    /// Acknowledge the publish only once at least `count` replicas of the
    /// queue's Redis have it (`WAIT`), so that a failover right after it
    /// does not lose the job. When they do not within `timeout`, the
    /// publish fails with [`Error::NotReplicated`]: the job is in the
    /// queue, but might not survive the master's death. In a batch
    /// ([`Job::publish_many`]) the largest count and timeout asked for
    /// apply to the whole batch. The timeout is at most 30 s (a longer one
    /// is cut to that): the wait holds a connection.
    pub fn replicas(mut self, count: u32, timeout: Duration) -> Self {
        self.replicas = Some(Replicas {
            count,
            timeout: timeout.min(crate::client::MAX_BLOCK),
        });
        self
    }
}

/// How to cancel a job: [`Job::cancel_with`].
#[derive(Debug, Clone, Default)]
pub struct Cancel {
    delay: Duration,
    reason: String,
}

impl Cancel {
    /// Back to the queue at once, no reason given.
    pub fn new() -> Self {
        Self::default()
    }

    /// Retry later: the job is delayed this long before it is available.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Why: kept with the job (shown by `thoonk list`) until it finishes.
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = reason.into();
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
    /// The queue it came from.
    pub queue: Arc<str>,
    /// The job's id.
    pub id: String,
    /// Its payload.
    pub item: T,
    /// How many times it was cancelled before.
    pub cancelled: u64,
    /// The token of this claim: finish, cancel and stall with it are
    /// refused once the claim was taken back.
    pub token: String,
}

/// Which job an operation is about, and optionally which claim of it.
///
/// From `&Claimed` it carries the claim's token (fenced); from an id alone
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

impl<'a, T> From<&'a Claimed<T>> for JobRef<'a> {
    fn from(c: &'a Claimed<T>) -> Self {
        JobRef::fenced(&c.id, &c.token)
    }
}

/// A handle on one queue, by name. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Job {
    pub(crate) thoonk: Thoonk,
    pub(crate) keys: Arc<Keys>,
}

impl Job {
    pub(crate) fn new(thoonk: Thoonk, name: &str) -> Result<Job> {
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
        let now = self.thoonk.now_ms();
        let mut ids = Vec::new();
        let mut keys = vec![
            k.ids.clone(),
            k.items.clone(),
            k.publishes.clone(),
            k.awaited.clone(),
            k.delayed.clone(),
        ];
        let mut args: Vec<Vec<u8>> = vec![
            now.to_string().into_bytes(),
            k.channel("publish").into_bytes(),
            k.channel("delay").into_bytes(),
        ];
        let mut replicas: Option<Replicas> = None;
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
            let due = match options.due {
                None => 0,
                Some(Due::In(d)) => now.saturating_add(d.as_millis() as u64),
                Some(Due::At(t)) => t
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64),
            };
            if let Some(r) = options.replicas {
                let was = replicas.unwrap_or(r);
                replicas = Some(Replicas {
                    count: was.count.max(r.count),
                    timeout: was.timeout.max(r.timeout),
                });
            }
            if ttl > 0 {
                keys.push(k.result(&id));
            }
            args.extend([
                id.clone().into_bytes(),
                item,
                if options.priority {
                    b"1".to_vec()
                } else {
                    b"0".to_vec()
                },
                ttl.to_string().into_bytes(),
                due.to_string().into_bytes(),
            ]);
            ids.push(id);
        }
        if ids.is_empty() {
            return Ok(ids);
        }
        let reply: String = match replicas {
            None => {
                let mut call = scripts::PUBLISH.prepare_invoke();
                call.key(keys).arg(args);
                call.invoke_async(&mut self.thoonk.connection()).await?
            }
            Some(r) => {
                let (reply, reached) = self.publish_replicated(&keys, &args, r).await?;
                if reply.starts_with("exists:") || reached >= r.count {
                    reply
                } else {
                    return Err(Error::NotReplicated {
                        queue: self.name().to_string(),
                        ids,
                        wanted: r.count,
                        reached,
                        timeout: r.timeout,
                    });
                }
            }
        };
        match reply.strip_prefix("exists:") {
            None => Ok(ids),
            Some(id) => Err(Error::AlreadyExists {
                queue: self.name().to_string(),
                id: id.to_string(),
            }),
        }
    }

    /// Runs the publish script and then `WAIT`, in one pipeline: the two
    /// must go over one connection (`WAIT` counts the replicas that have
    /// that connection's writes) to the queue's node (a pipeline goes to
    /// the node of its keys). On a connection of its own, because `WAIT`
    /// blocks the connection while it waits. Returns the script's reply and
    /// how many replicas acknowledged.
    async fn publish_replicated(
        &self,
        keys: &[String],
        args: &[Vec<u8>],
        replicas: Replicas,
    ) -> Result<(String, u32)> {
        let mut pipe = redis::pipe();
        pipe.cmd("EVAL")
            .arg(scripts::PUBLISH_SOURCE)
            .arg(keys.len())
            .arg(keys)
            .arg(args)
            .cmd("WAIT")
            .arg(replicas.count)
            .arg(replicas.timeout.as_millis().max(1) as u64);
        self.thoonk.query_alone(&pipe).await
    }

    /// Claims up to `max` available jobs at once, oldest first, without
    /// waiting. Each claim is atomic: the job moves from available to
    /// claimed in one script. The claim is a lease: see [`Job::extend`].
    pub async fn claim(&self, max: usize) -> Result<Vec<Claimed>> {
        if max == 0 {
            return Ok(Vec::new());
        }
        Ok(self.claim_for(max, None).await?.0)
    }

    /// Claims for `worker` (its liveness mark then covers the claims), and
    /// says when the next delayed job is due, for the caller's wait.
    pub(crate) async fn claim_for(
        &self,
        max: usize,
        worker: Option<&str>,
    ) -> Result<(Vec<Claimed>, Option<u64>)> {
        let reply = self
            .claim_call(max, worker)
            .invoke_async(&mut self.thoonk.connection())
            .await?;
        self.read_claimed(reply)
    }

    /// The claim script's call: up to `max` jobs, for `worker`.
    pub(crate) fn claim_call(&self, max: usize, worker: Option<&str>) -> ScriptInvocation<'static> {
        let k = &self.keys;
        let mut call = scripts::CLAIM.prepare_invoke();
        call.key(&k.ids)
            .key(&k.claimed)
            .key(&k.items)
            .key(&k.cancelled)
            .key(&k.tokens)
            .key(&k.claims)
            .key(&k.delayed)
            .key(&k.stalled)
            .arg(self.thoonk.now_ms())
            .arg(max.max(1))
            .arg(k.channel("claim"))
            .arg(worker.unwrap_or(""))
            .arg(k.channel("due"));
        call
    }

    /// The jobs in the claim script's reply, and when its next delayed job
    /// falls due.
    pub(crate) fn read_claimed(&self, reply: redis::Value) -> Result<(Vec<Claimed>, Option<u64>)> {
        let (next_due, flat) = split_claim_reply(reply)?;
        let mut out = Vec::with_capacity(flat.len() / 4);
        let mut fields = flat.into_iter();
        while let (Some(id), Some(item), Some(cancelled), Some(token)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        {
            out.push(Claimed {
                queue: self.keys.name.clone(),
                id: lossy(id),
                item,
                cancelled: lossy(cancelled).parse().unwrap_or(0),
                token: lossy(token),
            });
        }
        Ok((out, u64::try_from(next_due).ok()))
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
        self.finish_many(&[(job, result)]).await?.remove(0)
    }

    /// Finishes many claimed jobs in one call, each with its result (or
    /// none). Each job is checked on its own: the reply holds one outcome
    /// per job, in order; one refusal does not stop the others.
    pub async fn finish_many(
        &self,
        jobs: &[(JobRef<'_>, Option<&[u8]>)],
    ) -> Result<Vec<Result<()>>> {
        // An id that cannot be a job's is refused on its own; it must not
        // hold up the rest of a batch.
        let mut outcomes: Vec<Option<Result<()>>> = jobs
            .iter()
            .map(|(job, _)| check_id(self.name(), job.id).err().map(Err))
            .collect();
        let valid: Vec<usize> = (0..jobs.len()).filter(|&i| outcomes[i].is_none()).collect();
        if !valid.is_empty() {
            let k = &self.keys;
            let mut call = scripts::FINISH.prepare_invoke();
            call.key(&k.claimed)
                .key(&k.items)
                .key(&k.stalled)
                .key(&k.delayed)
                .key(&k.tokens)
                .key(&k.cancelled)
                .key(&k.published)
                .key(&k.finishes)
                .key(&k.awaited)
                .key(&k.reasons)
                .arg(k.channel("finish"));
            for &i in &valid {
                let (job, result) = jobs[i];
                call.key(k.result(job.id))
                    .arg(job.id)
                    .arg(job.token.unwrap_or(""))
                    .arg(if result.is_some() { "1" } else { "0" })
                    .arg(result.unwrap_or_default());
            }
            let replies: Vec<String> = call.invoke_async(&mut self.thoonk.connection()).await?;
            for (&i, reply) in valid.iter().zip(replies) {
                outcomes[i] = Some(self.check(reply, jobs[i].0, State::Claimed).map(drop));
            }
        }
        Ok(outcomes
            .into_iter()
            .map(|o| o.expect("every job has its outcome"))
            .collect())
    }

    /// Gives a claimed job back: it goes to the back of the queue and its
    /// cancel count grows by one (past the queue's `max_cancels`, it is
    /// stalled instead). Returns the state it went to.
    pub async fn cancel<'a>(&self, job: impl Into<JobRef<'a>>) -> Result<State> {
        self.cancel_with(job, Cancel::new()).await
    }

    /// Cancels with a delay (retry later) and a reason. Returns the state
    /// the job went to: available, delayed, or stalled when it was
    /// cancelled more than the queue's `max_cancels`.
    pub async fn cancel_with<'a>(
        &self,
        job: impl Into<JobRef<'a>>,
        options: Cancel,
    ) -> Result<State> {
        let job = job.into();
        check_id(self.name(), job.id)?;
        let k = &self.keys;
        let reply = scripts::CANCEL
            .key(&k.claimed)
            .key(&k.items)
            .key(&k.stalled)
            .key(&k.delayed)
            .key(&k.tokens)
            .key(&k.cancelled)
            .key(&k.ids)
            .key(&k.reasons)
            .key(&k.config)
            .key(&k.published)
            .key(&k.cancels)
            .key(&k.stalls)
            .arg(job.id)
            .arg(job.token.unwrap_or(""))
            .arg(self.thoonk.now_ms())
            .arg(options.delay.as_millis() as u64)
            .arg(options.reason)
            .arg(crate::DEFAULT_MAX_CANCELS)
            .arg(k.channel("cancel"))
            .arg(k.channel("delay"))
            .arg(k.channel("stall"))
            .invoke_async(&mut self.thoonk.connection())
            .await?;
        Ok(self
            .check(reply, job, State::Claimed)?
            .unwrap_or(State::Available))
    }

    /// Sets a claimed job aside until someone retries it.
    pub async fn stall<'a>(&self, job: impl Into<JobRef<'a>>) -> Result<()> {
        self.stall_with(job, "").await
    }

    /// Stalls with a reason, kept with the job until it finishes.
    pub async fn stall_with<'a>(&self, job: impl Into<JobRef<'a>>, reason: &str) -> Result<()> {
        let job = job.into();
        check_id(self.name(), job.id)?;
        let k = &self.keys;
        let reply = scripts::STALL
            .key(&k.claimed)
            .key(&k.items)
            .key(&k.stalled)
            .key(&k.delayed)
            .key(&k.tokens)
            .key(&k.cancelled)
            .key(&k.published)
            .key(&k.reasons)
            .key(&k.stalls)
            .arg(job.id)
            .arg(job.token.unwrap_or(""))
            .arg(reason)
            .arg(k.channel("stall"))
            .invoke_async(&mut self.thoonk.connection())
            .await?;
        self.check(reply, job, State::Claimed).map(drop)
    }

    /// Puts a stalled job back in the queue.
    pub async fn retry(&self, id: &str) -> Result<()> {
        check_id(self.name(), id)?;
        let k = &self.keys;
        let reply = scripts::RETRY
            .key(&k.stalled)
            .key(&k.items)
            .key(&k.claimed)
            .key(&k.delayed)
            .key(&k.ids)
            .arg(id)
            .arg(k.channel("retry"))
            .invoke_async(&mut self.thoonk.connection())
            .await?;
        self.check(reply, id.into(), State::Stalled).map(drop)
    }

    /// Puts every stalled job back in the queue, at the back of the line,
    /// each with its retry event (as [`Job::retry`] sends). Returns how many
    /// were retried. A thousand jobs per script call, so that Redis serves
    /// others between batches however many are stalled; a reader may see
    /// some retried and the rest not yet.
    pub async fn retry_all(&self) -> Result<u64> {
        /// Jobs per script call.
        const BATCH: u64 = 1000;
        let k = &self.keys;
        let mut retried = 0;
        loop {
            let n: u64 = scripts::RETRY_ALL
                .key(&k.stalled)
                .key(&k.ids)
                .arg(k.channel("retry"))
                .arg(BATCH)
                .invoke_async(&mut self.thoonk.connection())
                .await?;
            retried += n;
            if n < BATCH {
                return Ok(retried);
            }
        }
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
            .key(&k.delayed)
            .key(&k.reasons)
            .arg(id)
            .arg(k.channel("retract"))
            .invoke_async(&mut self.thoonk.connection())
            .await?;
        // Any state will do; only 'missing' can come back.
        self.check(reply, id.into(), State::Available).map(drop)
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

    /// Maps a state-change script's reply to `Ok` (with the state the job
    /// went to, when the script says) or the refusal it names.
    fn check(&self, reply: String, job: JobRef<'_>, needed: State) -> Result<Option<State>> {
        if let Some(done) = reply.strip_prefix("ok") {
            return Ok(done.strip_prefix(':').and_then(|s| s.parse().ok()));
        }
        let queue = self.name().to_string();
        let id = job.id.to_string();
        // A stale claim of a job that is gone: it was finished or retracted
        // by someone else meanwhile, and "does not exist" says it best.
        let state = reply.strip_prefix("stale:").unwrap_or(&reply);
        if state == "missing" {
            return Err(Error::NotFound { queue, id });
        }
        if reply.starts_with("stale:") {
            if let Ok(actual) = state.parse() {
                return Err(Error::StaleClaim {
                    queue,
                    id,
                    token: job.token.unwrap_or_default().to_string(),
                    actual,
                });
            }
        }
        match reply.parse() {
            Ok(actual) => Err(Error::WrongState {
                queue,
                id,
                needed,
                actual,
            }),
            Err(_) => Err(Error::Redis(redis::RedisError::from((
                redis::ErrorKind::Parse,
                "unexpected script reply",
                reply,
            )))),
        }
    }
}

/// claim.lua answers {next due or -1, id, item, cancelled, token, …}.
fn split_claim_reply(reply: redis::Value) -> redis::RedisResult<(i64, Vec<Vec<u8>>)> {
    let mut values: Vec<redis::Value> = redis::FromRedisValue::from_redis_value(reply)?;
    if values.is_empty() {
        return Err((redis::ErrorKind::Parse, "claim.lua answered nothing").into());
    }
    let next_due: i64 = redis::FromRedisValue::from_redis_value(values.remove(0))?;
    let rest: Vec<Vec<u8>> = redis::FromRedisValue::from_redis_value(redis::Value::Array(values))?;
    Ok((next_due, rest))
}

pub(crate) fn lossy(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}
