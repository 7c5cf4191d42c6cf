//! Looking at queues without changing them: counts ([`Stats`]), listings
//! ([`JobInfo`]), one job's record ([`JobDetail`]), the workers alive
//! ([`WorkerInfo`]), the queues there are.

use super::{lossy, Queue, DEFAULT_LEASE};
use crate::client::Node;
use crate::limits;
use crate::names::check_id;
use crate::{keys, scripts, Result, State, Thoonk};
use serde::{Serialize, Serializer};
use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

/// How many keys one `SCAN` step looks at: few round trips, and each step
/// still short for Redis.
const SCAN_COUNT: u32 = 1000;

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
    /// Claims ever ended by `cancel` (a worker's or anyone's) or taken
    /// back by recovery, including the cancels that stalled a job past
    /// `max_cancels`. (A v1 client's cancels and stalls are not counted:
    /// its scripts do not know these counters.)
    pub cancels: u64,
    /// Jobs ever stalled: by `stall` (a worker's, for a permanent failure,
    /// or anyone's), or for being cancelled more than `max_cancels` times.
    pub stalls: u64,
    /// Claims ever taken back by recovery, their lease or their worker's
    /// liveness mark having run out (each is also one of `cancels`).
    pub recoveries: u64,
    /// Whether claims are stopped ([`Queue::pause`]).
    pub paused: bool,
    /// How long the oldest available job has waited (zero when none
    /// waits): the figure autoscalers act on. Counted by the server's
    /// clock from when the job joined the back of the line (published,
    /// fell due, retried or sent back), to within a second or 1 % of it,
    /// whichever is more; from a v1 publisher's publish time for its jobs.
    /// Serialized as `latency_ms`.
    #[serde(rename = "latency_ms", serialize_with = "millis")]
    pub latency: Duration,
}

impl Stats {
    /// Whether the queue has never been used: no job in any state, none
    /// ever published.
    pub fn is_unused(&self) -> bool {
        self.publishes + self.available + self.claimed + self.stalled + self.delayed == 0
    }
}

/// One job's whole record, read in one atomic snapshot: [`Queue::detail`].
///
/// Times are Unix milliseconds, as the layout keeps them. Serialized (for a
/// dashboard), `item` is a string when it is UTF-8 text (as the v1 Node.js
/// package's JSON payloads are), else an array of its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobDetail {
    /// The job's id.
    pub id: String,
    /// The state it is in.
    pub state: State,
    /// Its payload.
    #[serde(serialize_with = "text_or_bytes")]
    pub item: Vec<u8>,
    /// The payload's size in bytes (more than `item` holds when
    /// [`Queue::detail_within`] left it unread).
    pub size: u64,
    /// How many times it was cancelled (since it was published, or last
    /// stalled: a stall starts the count afresh, as in v1).
    pub cancelled: u64,
    /// Why it was last cancelled or stalled, if a reason was given.
    pub reason: Option<String>,
    /// For a claimed job: when it was claimed, or its lease last extended
    /// (`job.claimed`).
    pub claimed_ms: Option<u64>,
    /// For a claimed job: when its lease runs out unless extended again
    /// (`claimed_ms` plus the queue's lease); recovery takes it back then.
    pub lease_deadline_ms: Option<u64>,
    /// For a claimed job that a [`Worker`](crate::Worker) holds: that
    /// worker's id. Its liveness mark covers the claim too (see
    /// [`Queue::workers`]).
    pub worker: Option<String>,
    /// For a delayed job: when it becomes available (`job.delayed`).
    pub due_ms: Option<u64>,
    /// For a claimed job: the progress it last reported
    /// ([`Queue::progress`]), if any.
    pub progress: Option<serde_json::Value>,
}

/// A worker alive on a queue: [`Queue::workers`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkerInfo {
    /// The worker's id ([`Worker::id`](crate::Worker::id)).
    pub id: String,
    /// When its liveness mark runs out unless its heartbeat renews it (Unix
    /// ms); recovery then takes back the jobs it holds.
    pub alive_until_ms: u64,
    /// How many of the queue's jobs it holds claimed.
    pub claimed: u64,
}

/// One job in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobInfo {
    /// The job's id.
    pub id: String,
    /// Its payload; empty when the listing was bounded
    /// ([`Queue::list_within`]) and the payload is larger: then only
    /// `size` was read.
    pub item: Vec<u8>,
    /// The payload's size in bytes: `item.len()` unless it was not read.
    pub size: u64,
    /// How many times it was cancelled.
    pub cancelled: u64,
    /// Why it was last cancelled or stalled, if a reason was given.
    pub reason: Option<String>,
    /// For a claimed job: the progress it last reported
    /// ([`Queue::progress`]), if any.
    pub progress: Option<serde_json::Value>,
}

impl Queue {
    /// Counts per state and the counters (v1's and ours), in one atomic
    /// snapshot.
    pub async fn stats(&self) -> Result<Stats> {
        let k = &self.keys;
        let counts: [u64; 12] = scripts::STATS
            .key(&k.ids)
            .key(&k.ghosts)
            .key(&k.claimed)
            .key(&k.stalled)
            .key(&k.delayed)
            .key(&k.publishes)
            .key(&k.finishes)
            .key(&k.cancels)
            .key(&k.stalls)
            .key(&k.recoveries)
            .key(&k.config)
            .key(&k.items)
            .key(&k.published)
            .key(&k.marks)
            .invoke_async(&mut self.thoonk.connection())
            .await
            .map_err(self.at("read the counts"))?;
        let [listed, ghosts, claimed, stalled, delayed, publishes, finishes, cancels, stalls, recoveries, paused, latency_ms] =
            counts;
        Ok(Stats {
            queue: self.name().to_string(),
            // The ids retracted jobs left in a long list are no jobs.
            available: listed.saturating_sub(ghosts),
            claimed,
            stalled,
            delayed,
            publishes,
            finishes,
            cancels,
            stalls,
            recoveries,
            paused: paused == 1,
            latency: Duration::from_millis(latency_ms),
        })
    }

    /// One job's whole record, read atomically: its state, payload, cancel
    /// count and last reason, and the times the layout keeps for it.
    /// `None` when there is no such job.
    pub async fn detail(&self, id: &str) -> Result<Option<JobDetail>> {
        self.detail_within(id, None).await
    }

    /// As [`Queue::detail`], but with a payload larger than `largest`
    /// bytes left unread (Redis would copy it whole): `item` is then empty,
    /// and `size` says how large it is. For listings of many jobs.
    pub async fn detail_within(
        &self,
        id: &str,
        largest: Option<usize>,
    ) -> Result<Option<JobDetail>> {
        check_id(self.name(), id)?;
        let k = &self.keys;
        let reply: Option<Vec<Option<Vec<u8>>>> = scripts::INFO
            .key(&k.items)
            .key(&k.claimed)
            .key(&k.stalled)
            .key(&k.delayed)
            .key(&k.cancelled)
            .key(&k.reasons)
            .key(&k.tokens)
            .key(&k.config)
            .key(&k.progress)
            .arg(id)
            .arg(DEFAULT_LEASE.as_millis() as u64)
            .arg(largest.map(|n| n.to_string()).unwrap_or_default())
            .invoke_async(&mut self.thoonk.connection())
            .await
            .map_err(self.at_job("read a job", id))?;
        let Some(fields) = reply else {
            return Ok(None);
        };
        let Ok([state, item, cancelled, reason, claimed, due, lease, worker, progress, size]) =
            <[Option<Vec<u8>>; 10]>::try_from(fields)
        else {
            return Err(self.at_job("read a job", id)(unexpected(
                "info.lua answered the wrong number of fields",
            )));
        };
        let state: State = lossy(state.unwrap_or_default()).parse().map_err(|_| {
            self.at_job("read a job", id)(unexpected("info.lua answered an unknown state"))
        })?;
        let claimed_ms = claimed.and_then(ms);
        Ok(Some(JobDetail {
            id: id.to_string(),
            state,
            item: item.unwrap_or_default(),
            size: size.and_then(|n| lossy(n).parse().ok()).unwrap_or(0),
            cancelled: cancelled.and_then(|n| lossy(n).parse().ok()).unwrap_or(0),
            reason: reason.map(lossy),
            claimed_ms,
            lease_deadline_ms: claimed_ms
                .zip(lease.and_then(ms))
                .map(|(at, lease)| at.saturating_add(lease)),
            worker: worker.map(lossy),
            due_ms: due.and_then(ms),
            progress: progress.map(json),
        }))
    }

    /// The workers alive on this queue (their liveness mark runs out after
    /// now), by id, with how many of its jobs each holds. A worker that
    /// died stays out of the list even before a recovery pass removes its
    /// mark. Each worker's jobs are counted from its own share of the
    /// queue's claims (`job.holders`), whatever the queue's size.
    pub async fn workers(&self) -> Result<Vec<WorkerInfo>> {
        let k = &self.keys;
        let flat: Vec<String> = scripts::WORKERS
            .key(&k.workers)
            .key(&k.holders)
            .key(&k.tokens)
            .key(&k.claimed)
            .invoke_async(&mut self.thoonk.connection())
            .await
            .map_err(self.at("list the workers"))?;
        let mut out = Vec::with_capacity(flat.len() / 3);
        let mut fields = flat.into_iter();
        while let (Some(id), Some(until), Some(claimed)) =
            (fields.next(), fields.next(), fields.next())
        {
            out.push(WorkerInfo {
                id,
                alive_until_ms: ms(until.into_bytes()).unwrap_or(0),
                claimed: claimed.parse().unwrap_or(0),
            });
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// One page of the jobs in `state`, from `from` (`None`: the first
    /// page), about `limit` of them: available ones in the order they will
    /// be claimed, claimed ones by claim time, delayed ones by due time,
    /// stalled ones in no particular order (a set has none that a page
    /// could start from: a page of them may hold a few more or fewer than
    /// `limit`, and one before the last may be empty). Each page costs
    /// Redis the same, whatever the size of the queue.
    pub async fn list_page(
        &self,
        state: State,
        from: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page> {
        self.page_within(state, from, limit, usize::MAX).await
    }

    /// A page as [`Queue::list_page`] reads it, but payloads larger than
    /// `max_item` bytes are not read (Redis reads only their size).
    async fn page_within(
        &self,
        state: State,
        from: Option<&Cursor>,
        limit: usize,
        max_item: usize,
    ) -> Result<Page> {
        limits::count_at_most("limit", limit as u64, limits::MAX_BATCH as u64)
            .map_err(|refused| refused.on("list jobs", self.name()))?;
        let k = &self.keys;
        let flat: Vec<Vec<u8>> = scripts::LIST
            .key(&k.ids)
            .key(&k.claimed)
            .key(&k.stalled)
            .key(&k.delayed)
            .key(&k.items)
            .key(&k.cancelled)
            .key(&k.reasons)
            .key(&k.progress)
            .arg(state.as_str())
            .arg(from.map_or("0", |c| c.0.as_str()))
            .arg(limit.max(1))
            // (The script's largest bound, 2^31 - 1, is past any payload:
            // Redis keeps no value over 512 MB.)
            .arg(max_item.min(i32::MAX as usize))
            .invoke_async(&mut self.thoonk.connection())
            .await
            .map_err(self.at("list jobs"))?;
        let mut fields = flat.into_iter();
        let next = fields.next().map(lossy).filter(|n| !n.is_empty());
        let mut jobs = Vec::with_capacity(fields.len() / 6);
        while let (
            Some(id),
            Some(item),
            Some(size),
            Some(cancelled),
            Some(reason),
            Some(progress),
        ) = (
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
        ) {
            jobs.push(JobInfo {
                id: lossy(id),
                item,
                size: lossy(size).parse().unwrap_or(0),
                cancelled: lossy(cancelled).parse().unwrap_or(0),
                reason: (!reason.is_empty()).then(|| lossy(reason)),
                progress: (!progress.is_empty()).then(|| json(progress)),
            });
        }
        Ok(Page {
            jobs,
            next: next.map(Cursor),
        })
    }

    /// The jobs in `state` from the `offset`-th on, at most `limit` (a
    /// dashboard's page), in the orders [`Queue::list_page`] gives. Stalled
    /// jobs have no order to start from an offset in: their listing walks
    /// to it, a bounded page at a time, so a deep page of them costs more
    /// round trips (never a longer script).
    pub async fn list(&self, state: State, offset: usize, limit: usize) -> Result<Vec<JobInfo>> {
        self.list_within(state, offset, limit, usize::MAX).await
    }

    /// As [`Queue::list`], but a payload larger than `max_item` bytes is
    /// not read: its [`JobInfo::item`] is empty, its [`JobInfo::size`]
    /// says how large it is. A listing that shows a preview of each job
    /// (a dashboard's page) then costs Redis, and the client's memory, a
    /// bounded amount per job, however large the payloads.
    pub async fn list_within(
        &self,
        state: State,
        offset: usize,
        limit: usize,
        max_item: usize,
    ) -> Result<Vec<JobInfo>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        if state != State::Stalled {
            let from = Cursor(offset.to_string());
            return Ok(self
                .page_within(state, Some(&from), limit, max_item)
                .await?
                .jobs);
        }
        // A scan may name a member twice: each counts once.
        let mut seen = HashSet::new();
        let mut out = Vec::with_capacity(limit);
        let mut from = None;
        loop {
            let page = self
                .page_within(state, from.as_ref(), limit.max(100), max_item)
                .await?;
            for job in page.jobs {
                if seen.insert(job.id.clone()) && seen.len() > offset && out.len() < limit {
                    out.push(job);
                }
            }
            match page.next {
                Some(next) if out.len() < limit => from = Some(next),
                _ => return Ok(out),
            }
        }
    }
}

/// Where a listing goes on: the start of its next page
/// ([`Queue::list_page`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor(pub(super) String);

/// One page of a listing ([`Queue::list_page`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Its jobs.
    pub jobs: Vec<JobInfo>,
    /// Where the next page starts; `None` after the last.
    pub next: Option<Cursor>,
}

impl Thoonk {
    /// The names of all queues, sorted: every queue ever published to (by
    /// this library or by a v1 program) and not destroyed since, found by
    /// its publish counter `job.publishes:NAME`. On a Redis Cluster, on
    /// every master.
    ///
    /// A `SCAN` walks the whole keyspace (1,000 keys a step, so Redis is
    /// never held up long): for a dashboard or a CLI, not a hot path.
    pub async fn queues(&self) -> Result<Vec<String>> {
        let mut names = BTreeSet::new();
        for node in self
            .nodes()
            .await
            .map_err(self.error_in("list the queues"))?
        {
            scan_queues(self, &node, &mut names).await?;
        }
        Ok(names.into_iter().collect())
    }
}

/// Adds the queues whose publish counters live on `node` to `names`.
async fn scan_queues(thoonk: &Thoonk, node: &Node, names: &mut BTreeSet<String>) -> Result<()> {
    let pattern = keys::publishes_of_all_queues();
    // A cursor is an unsigned 64-bit number; kept as Redis wrote it.
    let mut cursor = b"0".to_vec();
    loop {
        let mut scan = redis::cmd("SCAN");
        scan.arg(&cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(SCAN_COUNT);
        let reply = thoonk
            .query_on(node, scan)
            .await
            .map_err(thoonk.error_in("list the queues"))?;
        let (next, found): (Vec<u8>, Vec<Vec<u8>>) = redis::from_redis_value(reply)
            .map_err(redis::RedisError::from)
            .map_err(thoonk.error_in("list the queues"))?;
        names.extend(
            found
                .iter()
                .filter_map(|key| keys::queue_of_publishes(key))
                .map(|name| lossy(name.to_vec())),
        );
        if next == b"0" {
            return Ok(());
        }
        cursor = next;
    }
}

/// A time as a script returned it: Redis prints a score as a double
/// (`1700000000000`, or in exponent form for a huge one).
pub(super) fn ms(text: Vec<u8>) -> Option<u64> {
    let text = std::str::from_utf8(&text).ok()?;
    text.parse()
        .ok()
        .or_else(|| text.parse::<f64>().ok().map(|f| f as u64))
}

/// A script reply that does not have the agreed shape.
pub(super) fn unexpected(what: &'static str) -> redis::RedisError {
    redis::RedisError::from((redis::ErrorKind::Parse, what))
}

/// Serializes a payload as a string when it is UTF-8 text, else as bytes.
pub(super) fn text_or_bytes<S: Serializer>(
    item: &[u8],
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match std::str::from_utf8(item) {
        Ok(text) => s.serialize_str(text),
        Err(_) => s.serialize_bytes(item),
    }
}

/// Progress as kept: JSON text (`Queue::progress` writes nothing else);
/// anything else another program wrote reads as a JSON string of it.
fn json(text: Vec<u8>) -> serde_json::Value {
    serde_json::from_slice(&text).unwrap_or_else(|_| serde_json::Value::String(lossy(text)))
}

/// A duration as whole milliseconds, as the layout keeps times.
fn millis<S: Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_read_as_milliseconds() {
        assert_eq!(ms(b"1700000000123".to_vec()), Some(1_700_000_000_123));
        assert_eq!(ms(b"1.7e+12".to_vec()), Some(1_700_000_000_000));
        assert_eq!(ms(b"soon".to_vec()), None);
    }

    #[test]
    fn payloads_serialize_as_text_when_they_are() {
        #[derive(Serialize)]
        struct P(#[serde(serialize_with = "text_or_bytes")] Vec<u8>);
        assert_eq!(
            serde_json::to_string(&P(b"hi".to_vec())).unwrap(),
            r#""hi""#
        );
        assert_eq!(serde_json::to_string(&P(vec![0xff, 1])).unwrap(), "[255,1]");
    }
}
