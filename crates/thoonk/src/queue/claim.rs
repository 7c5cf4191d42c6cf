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
        Ok(self.claim_for(max, None).await?.0)
    }

    /// Claims for `worker` (its liveness mark then covers the claims), and
    /// says when the next delayed job is due, for the caller's wait.
    pub(crate) async fn claim_for(
        &self,
        max: usize,
        worker: Option<&str>,
    ) -> Result<(Vec<Job>, Option<Instant>)> {
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
            .arg(max.max(1))
            .arg(k.channel("claim"))
            .arg(worker.unwrap_or(""))
            .arg(k.channel("due"))
            .once(self);
        call
    }

    /// The jobs in the claim script's reply, and when its next delayed job
    /// falls due (as the server counts: the reply says in how long).
    pub(crate) fn read_claimed(&self, reply: redis::Value) -> Result<(Vec<Job>, Option<Instant>)> {
        let (next_due, flat) = split_claim_reply(reply).map_err(self.at("claim"))?;
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
            });
        }
        Ok((out, due_in(next_due)))
    }
}

/// claim.lua answers {ms until the next due or -1, id, item, cancelled,
/// token, …}.
fn split_claim_reply(reply: redis::Value) -> redis::RedisResult<(i64, Vec<Vec<u8>>)> {
    let mut values: Vec<redis::Value> = redis::FromRedisValue::from_redis_value(reply)?;
    if values.is_empty() {
        return Err((redis::ErrorKind::Parse, "claim.lua answered nothing").into());
    }
    let next_due: i64 = redis::FromRedisValue::from_redis_value(values.remove(0))?;
    let rest: Vec<Vec<u8>> = redis::FromRedisValue::from_redis_value(redis::Value::Array(values))?;
    Ok((next_due, rest))
}
