//! How a claim ends: finished (with a result, one job or a batch),
//! cancelled back to the queue ([`Cancel`]: with a delay and a reason), or
//! stalled aside.

use super::{JobRef, Once, Queue};
use crate::limits;
use crate::names::check_id;
use crate::{scripts, Result, State};
use std::time::Duration;

/// One job of a batch of finishes: which, its result, and how long its
/// handler ran (`None`: not known).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Finishing<'a> {
    pub(crate) job: JobRef<'a>,
    pub(crate) result: Option<&'a [u8]>,
    pub(crate) ran: Option<Duration>,
}

/// How to cancel a job: [`Queue::cancel_with`].
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

impl Queue {
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
    ///
    /// On a queue that keeps its finished jobs, the duration recorded is
    /// the time since the job's claim or its lease's last extension (a
    /// worker's finishes record how long its handler ran).
    pub async fn finish_many(
        &self,
        jobs: &[(JobRef<'_>, Option<&[u8]>)],
    ) -> Result<Vec<Result<()>>> {
        let jobs: Vec<Finishing<'_>> = jobs
            .iter()
            .map(|&(job, result)| Finishing {
                job,
                result,
                ran: None,
            })
            .collect();
        self.finish_ran(&jobs).await
    }

    /// [`Queue::finish_many`], with how long each job's handler ran when
    /// the caller knows (a worker's finisher).
    pub(crate) async fn finish_ran(&self, jobs: &[Finishing<'_>]) -> Result<Vec<Result<()>>> {
        let refuse = |refused: limits::Refused| refused.on("finish", self.name());
        limits::count_at_most(
            "jobs in one finish",
            jobs.len() as u64,
            limits::MAX_BATCH as u64,
        )
        .map_err(refuse)?;
        // An id that cannot be a job's, or a result too big to keep, is
        // refused on its own; it must not hold up the rest of a batch.
        let mut outcomes: Vec<Option<Result<()>>> = jobs
            .iter()
            .map(|Finishing { job, result, .. }| {
                let size = result.map_or(0, <[u8]>::len) as u64;
                check_id(self.name(), job.id)
                    .and_then(|()| {
                        limits::count_at_most("result bytes", size, limits::MAX_ITEM_BYTES as u64)
                            .map_err(refuse)
                    })
                    .err()
                    .map(Err)
            })
            .collect();
        let valid: Vec<usize> = (0..jobs.len()).filter(|&i| outcomes[i].is_none()).collect();
        if !valid.is_empty() {
            let k = &self.keys;
            let mut call = scripts::FINISH.call();
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
                .key(&k.config)
                .key(&k.keep)
                .key(&k.finished)
                .key(&k.history)
                .key(&k.progress)
                .key(&k.tally)
                .arg(k.channel("finish"));
            for &i in &valid {
                let Finishing { job, result, ran } = jobs[i];
                // (Past the bound the script takes, a year is as good.)
                let ran = ran.map(|d| d.min(limits::MAX_DELAY).as_millis().to_string());
                call.key(k.result(job.id))
                    .arg(job.id)
                    .arg(job.token.unwrap_or(""))
                    .arg(if result.is_some() { "1" } else { "0" })
                    .arg(result.unwrap_or_default())
                    .arg(ran.unwrap_or_default());
            }
            let replies: Vec<String> = call
                .once(self)
                .invoke_async(&mut self.thoonk.connection())
                .await
                .map_err(self.at("finish"))?;
            for (&i, reply) in valid.iter().zip(replies) {
                outcomes[i] = Some(
                    self.check(reply, "finish", jobs[i].job, State::Claimed)
                        .map(drop),
                );
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
        limits::at_most("delay", options.delay, limits::MAX_DELAY)
            .map_err(|refused| refused.on("cancel", self.name()))?;
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
            .key(&k.progress)
            .key(&k.marks)
            .key(&k.marked)
            .key(&k.tally)
            .arg(job.id)
            .arg(job.token.unwrap_or(""))
            .arg(options.delay.as_millis() as u64)
            .arg(options.reason)
            .arg(crate::DEFAULT_MAX_CANCELS)
            .arg(k.channel("cancel"))
            .arg(k.channel("delay"))
            .arg(k.channel("stall"))
            .once(self)
            .invoke_async(&mut self.thoonk.connection())
            .await
            .map_err(self.at_job("cancel", job.id))?;
        Ok(self
            .check(reply, "cancel", job, State::Claimed)?
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
            .key(&k.progress)
            .key(&k.tally)
            .arg(job.id)
            .arg(job.token.unwrap_or(""))
            .arg(reason)
            .arg(k.channel("stall"))
            .once(self)
            .invoke_async(&mut self.thoonk.connection())
            .await
            .map_err(self.at_job("stall", job.id))?;
        self.check(reply, "stall", job, State::Claimed).map(drop)
    }
}
