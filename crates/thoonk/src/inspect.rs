//! Looking at a queue without changing it: counts, listings, events.

use crate::job::lossy;
use crate::subscription::Events;
use crate::{scripts, Job, Result, State};
use serde::Serialize;

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
    /// Jobs waiting for their due time.
    pub delayed: u64,
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
    /// Why it was last cancelled or stalled, if a reason was given.
    pub reason: Option<String>,
}

impl Job {
    /// Counts per state and the v1 counters, in one atomic snapshot.
    pub async fn stats(&self) -> Result<Stats> {
        let k = &self.keys;
        let (available, claimed, stalled, delayed, publishes, finishes): (
            u64,
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
            .zcard(&k.delayed)
            .get(&k.publishes)
            .get(&k.finishes)
            .query_async(&mut self.thoonk.connection())
            .await?;
        Ok(Stats {
            queue: self.name().to_string(),
            available,
            claimed,
            stalled,
            delayed,
            publishes: publishes.unwrap_or(0),
            finishes: finishes.unwrap_or(0),
        })
    }

    /// One page of the jobs in `state`: available ones in the order they
    /// will be claimed, claimed ones by claim time, stalled ones by id,
    /// delayed ones by due time.
    pub async fn list(&self, state: State, offset: usize, limit: usize) -> Result<Vec<JobInfo>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let k = &self.keys;
        let flat: Vec<Vec<u8>> = scripts::LIST
            .key(&k.ids)
            .key(&k.claimed)
            .key(&k.stalled)
            .key(&k.delayed)
            .key(&k.items)
            .key(&k.cancelled)
            .key(&k.reasons)
            .arg(state.as_str())
            .arg(offset)
            .arg(limit)
            .invoke_async(&mut self.thoonk.connection())
            .await?;
        let mut out = Vec::with_capacity(flat.len() / 4);
        let mut fields = flat.into_iter();
        while let (Some(id), Some(item), Some(cancelled), Some(reason)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        {
            out.push(JobInfo {
                id: lossy(id),
                item,
                cancelled: lossy(cancelled).parse().unwrap_or(0),
                reason: (!reason.is_empty()).then(|| lossy(reason)),
            });
        }
        Ok(out)
    }

    /// Deletes the whole queue: every job in every state, its counters and
    /// settings (kept results expire by themselves). Workers still running
    /// on it will find their claims gone. For tests and benchmarks, and for
    /// a queue that is no longer wanted.
    pub async fn destroy(&self) -> Result<()> {
        redis::cmd("DEL")
            .arg(&self.keys.all()[..])
            .query_async::<()>(&mut self.thoonk.connection())
            .await?;
        Ok(())
    }

    /// A stream of this queue's events, from now on.
    pub async fn subscribe(&self) -> Result<Events> {
        Events::new(&self.thoonk, &self.keys).await
    }
}
