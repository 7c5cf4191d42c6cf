//! Leases: extending claims, recovering the ones that ran out, releasing
//! claims unfinished at shutdown.

use super::{JobRef, Once, Queue, DEFAULT_LEASE, DEFAULT_MAX_CANCELS};
use crate::{scripts, Result};
use std::time::Duration;

/// What one recovery pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Expired claims sent back to the queue.
    pub requeued: u64,
    /// Expired claims stalled, having been cancelled too often.
    pub stalled: u64,
    /// Delayed jobs made available, having fallen due (as a claim does: a
    /// queue served by v1 workers alone has no claim of ours to do it).
    pub due: u64,
    /// How much longer recovery takes nothing back: after Redis itself was
    /// silent (frozen, restarted, failed over) while workers' liveness
    /// marks ran out, it waits a grace in which the living renew theirs
    /// (zero: it does not wait).
    pub waiting: Duration,
}

impl Queue {
    /// Extends the leases of claimed jobs, in one call. Returns the ids
    /// whose claim is no longer the caller's: taken back since, and still
    /// in the queue (a job that is gone was finished).
    pub async fn extend(&self, jobs: &[JobRef<'_>]) -> Result<Vec<String>> {
        self.extend_for(jobs, None).await
    }

    /// Extends leases and, for a worker, renews its liveness mark to last
    /// `alive_for` more, and notes what it says of itself (`about`: see
    /// `at_work::about_worker`) once per life of the mark.
    pub(crate) async fn extend_for(
        &self,
        jobs: &[JobRef<'_>],
        worker: Option<(&str, Duration, &str)>,
    ) -> Result<Vec<String>> {
        let k = &self.keys;
        let mut call = scripts::EXTEND.call();
        call.key(&k.claimed)
            .key(&k.tokens)
            .key(&k.workers)
            .key(&k.items)
            .key(&k.holders)
            .key(&k.pulse)
            .key(&k.worker_info)
            .arg(worker.map_or("", |w| w.0))
            .arg(worker.map_or(0, |w| w.1.as_millis() as u64))
            .arg(worker.map_or("", |w| w.2));
        for job in jobs {
            call.arg(job.id).arg(job.token.unwrap_or(""));
        }
        call.once(self)
            .invoke_async(&mut self.thoonk.connection())
            .await
            .map_err(self.at("extend leases"))
    }

    /// Sends back every claim that ran out: held past the lease without an
    /// extension, or held by a worker whose liveness mark ran out; makes
    /// delayed jobs that fell due available; sweeps a sample of what v1
    /// clients leave behind them. Safe to run by anyone, at any time, as
    /// often as one likes: every worker runs it each heartbeat, the
    /// dashboard every few seconds. After Redis itself was silent while
    /// liveness marks ran out, it takes nothing back for a grace
    /// ([`Recovered::waiting`]): those workers were waiting on Redis, not
    /// dead.
    pub async fn recover(&self) -> Result<Recovered> {
        Ok(self.recover_pass().await?.0)
    }

    /// A recovery pass, the queue's lease as it applied it (a worker
    /// paces its heartbeat by it), and the queue's job timeout (a worker
    /// applies it to the jobs it starts): each with no read of its own.
    pub(crate) async fn recover_pass(&self) -> Result<(Recovered, Duration, Option<Duration>)> {
        let k = &self.keys;
        let (requeued, stalled, lease_ms, due, waiting_ms, timeout_ms): (
            u64,
            u64,
            u64,
            u64,
            u64,
            u64,
        ) = scripts::RECOVER
            .key(&k.claimed)
            .key(&k.tokens)
            .key(&k.workers)
            .key(&k.cancelled)
            .key(&k.ids)
            .key(&k.stalled)
            .key(&k.published)
            .key(&k.reasons)
            .key(&k.config)
            .key(&k.cancels)
            .key(&k.stalls)
            .key(&k.recoveries)
            .key(&k.items)
            .key(&k.awaited)
            .key(&k.delayed)
            .key(&k.holders)
            .key(&k.pulse)
            .key(&k.progress)
            .key(&k.marks)
            .key(&k.marked)
            .key(&k.tally)
            .key(&k.worker_info)
            .arg(DEFAULT_LEASE.as_millis() as u64)
            .arg(DEFAULT_MAX_CANCELS)
            .arg(k.channel("cancel"))
            .arg(k.channel("stall"))
            .arg(k.channel("due"))
            .once(self)
            .invoke_async(&mut self.thoonk.connection())
            .await
            .map_err(self.at("recover expired claims"))?;
        Ok((
            Recovered {
                requeued,
                stalled,
                due,
                waiting: Duration::from_millis(waiting_ms),
            },
            Duration::from_millis(lease_ms),
            (timeout_ms > 0).then(|| Duration::from_millis(timeout_ms)),
        ))
    }

    /// Gives back claimed jobs unfinished, to the front of the queue,
    /// without counting a cancel (a worker shutting down). Claims already
    /// taken back are skipped. Returns how many were released.
    pub async fn release(&self, jobs: &[JobRef<'_>]) -> Result<usize> {
        if jobs.is_empty() {
            return Ok(0);
        }
        let k = &self.keys;
        let mut call = scripts::RELEASE.call();
        call.key(&k.claimed)
            .key(&k.tokens)
            .key(&k.ids)
            .key(&k.progress)
            .arg(k.channel("release"));
        for job in jobs {
            call.arg(job.id).arg(job.token.unwrap_or(""));
        }
        call.once(self)
            .invoke_async(&mut self.thoonk.connection())
            .await
            .map_err(self.at("release claims"))
    }

    /// Ends a worker's liveness mark (it stopped cleanly, after giving back
    /// what it knew it held).
    pub(crate) async fn forget_worker(&self, worker: &str) -> Result<()> {
        // Its mark runs out now, and the recovery pass takes back what it
        // still held (then drops the mark): a claim made in its name whose
        // reply it never got (its waiting connection closed as the claim
        // ran) comes back at once, not a lease later.
        // What it said of itself goes too (recovery would drop it with
        // the mark, but not during a grace after a silence of Redis).
        redis::pipe()
            .cmd("ZADD")
            .arg(&self.keys.workers)
            .arg(0)
            .arg(worker)
            .ignore()
            .cmd("HDEL")
            .arg(&self.keys.worker_info)
            .arg(worker)
            .ignore()
            .query_async::<()>(&mut self.thoonk.connection())
            .await
            .map_err(self.at("end a worker's liveness mark"))?;
        self.recover_pass().await.map(drop)
    }
}
