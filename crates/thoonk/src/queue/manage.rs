//! What anyone may do to a job in any state, claimed or not: retry a
//! stalled one (or all of them), retract one, read its cancel count; and
//! destroy a whole queue.

use super::{Once, Queue};
use crate::names::check_id;
use crate::{scripts, Result, State};

impl Queue {
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
            .key(&k.marks)
            .key(&k.marked)
            .arg(id)
            .arg(k.channel("retry"))
            .once(self)
            .invoke_async(&mut self.thoonk.connection())
            .await
            .map_err(self.at_job("retry", id))?;
        self.check(reply, "retry", id.into(), State::Stalled)
            .map(drop)
    }

    /// Puts every stalled job back in the queue, at the back of the line,
    /// each with its retry event (as [`Queue::retry`] sends). Returns how many
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
                .key(&k.items)
                .key(&k.claimed)
                .key(&k.delayed)
                .key(&k.marks)
                .key(&k.marked)
                .arg(k.channel("retry"))
                .arg(BATCH)
                .once(self)
                .invoke_async(&mut self.thoonk.connection())
                .await
                .map_err(self.at("retry all stalled jobs"))?;
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
            .key(&k.ghosts)
            .key(&k.progress)
            .key(&k.marks)
            .key(&k.marked)
            .arg(id)
            .arg(k.channel("retract"))
            .once(self)
            .invoke_async(&mut self.thoonk.connection())
            .await
            .map_err(self.at_job("retract", id))?;
        // Any state will do; only 'missing' can come back.
        self.check(reply, "retract", id.into(), State::Available)
            .map(drop)
    }

    /// How many times the job was cancelled (0 for a job never cancelled,
    /// or one that does not exist, as in v1).
    pub async fn cancel_count(&self, id: &str) -> Result<u64> {
        check_id(self.name(), id)?;
        let n: Option<u64> = redis::cmd("HGET")
            .arg(&self.keys.cancelled)
            .arg(id)
            .query_async(&mut self.thoonk.connection())
            .await
            .map_err(self.at_job("read the cancel count", id))?;
        Ok(n.unwrap_or(0))
    }

    /// Deletes the whole queue: every job in every state, its counters and
    /// settings (kept results expire by themselves). Workers still running
    /// on it will find their claims gone. For tests and benchmarks, and for
    /// a queue that is no longer wanted.
    pub async fn destroy(&self) -> Result<()> {
        redis::cmd("DEL")
            .arg(&self.keys.all()[..])
            .query_async::<()>(&mut self.thoonk.connection())
            .await
            .map_err(self.at("destroy"))?;
        Ok(())
    }
}
