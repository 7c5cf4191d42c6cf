//! Claiming: a claimed job ([`Job`]) and `Queue::claim`, one script
//! that moves up to N jobs from available to claimed, with their leases
//! and tokens.

use super::waiting::due_in;
use super::{lossy, JobRef, Once, Queue};
use crate::scripts::Call;
use crate::{limits, scripts, Result};
use std::sync::Arc;
use tokio::time::Instant;

/// A job, as a worker claimed it: its payload, and the token of this
/// claim. Finish, cancel or stall it by passing `&job` to the queue's
/// operations (the token goes with it, so they are refused once the claim
/// was taken back). `T` is the payload's type: bytes, or a decoded value
/// for typed jobs.
///
/// A job a [`Worker`](crate::Worker) runs also carries its timeout signal:
/// [`Job::timed_out`]. (So it is not built by hand outside this crate;
/// one gets it from a claim.)
///
/// ```
/// use std::time::Duration;
/// use thoonk::{Publish, Thoonk};
///
/// # #[tokio::main] async fn main() -> thoonk::Result<()> {
/// # let _redis = thoonk_testkit::doc_redis();
/// let mail = Thoonk::connect_from_env().await?.queue("mail")?;
/// mail.publish("ann@example.com", Publish::new().id("welcome-ann")).await?;
/// let job = mail.claim(1).await?.remove(0);
/// assert_eq!((job.id.as_str(), job.item.as_slice()), ("welcome-ann", &b"ann@example.com"[..]));
/// mail.cancel(&job).await?; // back to the queue, counted
/// let job = mail.claim(1).await?.remove(0);
/// assert_eq!(job.retries, 1); // it came back once
/// mail.finish(&job).await?; // `&job`: fenced by this claim's token
/// assert!(mail.finish(&job).await.is_err()); // that claim is over
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job<T = Vec<u8>> {
    /// The queue it came from.
    pub queue: Arc<str>,
    /// The job's id.
    pub id: String,
    /// Its payload.
    pub item: T,
    /// How many times it came back before this claim: failed (a transient
    /// [`Failure`](crate::Failure)), cancelled by hand, or taken back when
    /// its lease ran out. In the queue's words, its cancel count
    /// (`job.cancelled:NAME`); a stall starts it afresh.
    pub retries: u64,
    /// The token of this claim: finish, cancel and stall with it are
    /// refused once the claim was taken back.
    pub token: String,
    /// Fired by the worker when the job's timeout passes; not compared
    /// (it belongs to the claim, which `token` names).
    pub(crate) timeout: crate::worker::TimeoutSignal,
}

/// A claimed job is its own reference, fenced by its token.
impl<'a, T> From<&'a Job<T>> for JobRef<'a> {
    fn from(c: &'a Job<T>) -> Self {
        JobRef::fenced(&c.id, &c.token)
    }
}

impl Queue {
    /// Claims up to `max` available jobs at once, oldest first, without
    /// waiting. Each claim is atomic: the job moves from available to
    /// claimed in one script. The claim is a lease: see [`Queue::extend`].
    pub async fn claim(&self, max: usize) -> Result<Vec<Job>> {
        if max == 0 {
            return Ok(Vec::new());
        }
        limits::count_at_most("max", max as u64, limits::MAX_BATCH as u64)
            .map_err(|refused| refused.on("claim", self.name()))?;
        Ok(self.claim_for(max, None).await?.jobs)
    }

    /// Claims for `worker` (its liveness mark then covers the claims), and
    /// says when the next delayed job is due, and how long flow control
    /// holds claims back, for the caller's wait.
    pub(crate) async fn claim_for(&self, max: usize, worker: Option<&str>) -> Result<Claimed> {
        let reply = self
            .claim_call(max, worker)
            .invoke_async(&mut self.thoonk.connection())
            .await
            .map_err(self.at("claim"))?;
        self.read_claimed(reply)
    }

    /// The claim script's call: up to `max` jobs, for `worker`.
    pub(crate) fn claim_call(&self, max: usize, worker: Option<&str>) -> Call {
        let k = &self.keys;
        let mut call = scripts::CLAIM.call();
        call.key(&k.ids)
            .key(&k.claimed)
            .key(&k.items)
            .key(&k.cancelled)
            .key(&k.tokens)
            .key(&k.claims)
            .key(&k.delayed)
            .key(&k.stalled)
            .key(&k.holders)
            .key(&k.ghosts)
            .key(&k.config)
            .key(&k.rate)
            .key(&k.flow)
            .key(&k.marks)
            .key(&k.marked)
            .arg(max.max(1))
            .arg(k.channel("claim"))
            .arg(worker.unwrap_or(""))
            .arg(k.channel("due"))
            .arg(k.channel("held"))
            .once(self);
        call
    }

    /// What the claim script's reply says (times as the server counts:
    /// the reply says in how long).
    pub(crate) fn read_claimed(&self, reply: redis::Value) -> Result<Claimed> {
        let (next_due, hold, flat) = split_claim_reply(reply).map_err(self.at("claim"))?;
        let mut out = Vec::with_capacity(flat.len() / 4);
        let mut fields = flat.into_iter();
        while let (Some(id), Some(item), Some(cancelled), Some(token)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        {
            out.push(Job {
                queue: self.keys.name.clone(),
                id: lossy(id),
                item,
                retries: lossy(cancelled).parse().unwrap_or(0),
                token: lossy(token),
                timeout: Default::default(),
            });
        }
        Ok(Claimed {
            jobs: out,
            next_due: due_in(next_due),
            hold: due_in(hold),
            rate_limited: hold == RATE_LIMITED,
        })
    }
}

/// What one claim call got.
#[derive(Debug, Default)]
pub(crate) struct Claimed {
    pub(crate) jobs: Vec<Job>,
    /// When the queue's next delayed job falls due, if one is delayed.
    pub(crate) next_due: Option<Instant>,
    /// Until when flow control (pause, rate, running limit) holds claims
    /// back, if it held this one back: no claim has a chance before.
    pub(crate) hold: Option<Instant>,
    /// The queue has a rate limit, and it let this claim through whole.
    pub(crate) rate_limited: bool,
}

/// claim.lua's hold when a rate limit let the claim through whole.
const RATE_LIMITED: i64 = -2;

/// claim.lua answers {ms until the next due or -1, ms of the hold or -1,
/// id, item, cancelled, token, …}.
fn split_claim_reply(reply: redis::Value) -> redis::RedisResult<(i64, i64, Vec<Vec<u8>>)> {
    let values: Vec<redis::Value> = redis::FromRedisValue::from_redis_value(reply)?;
    let mut values = values.into_iter();
    let (Some(next_due), Some(hold)) = (values.next(), values.next()) else {
        return Err((redis::ErrorKind::Parse, "claim.lua answered too little").into());
    };
    let next_due: i64 = redis::FromRedisValue::from_redis_value(next_due)?;
    let hold: i64 = redis::FromRedisValue::from_redis_value(hold)?;
    let rest: Vec<Vec<u8>> =
        redis::FromRedisValue::from_redis_value(redis::Value::Array(values.collect()))?;
    Ok((next_due, hold, rest))
}
