//! The workers at work on a queue ([`WorkerAtWork`]): what each says of
//! itself (concurrency, host, pid, version, since when) and the jobs it
//! holds now with how long each has run. For dashboards: read only, and
//! bounded whatever the queue's size.

use super::inspect::ms;
use super::Queue;
use crate::{scripts, Result};
use serde::Serialize;

/// At most this many workers in one look (those whose liveness mark runs
/// out last).
pub const AT_WORK_MAX_WORKERS: usize = 200;

/// A live worker on a queue, at work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkerAtWork {
    /// The worker's id (its claims' tokens end in `@id`).
    pub id: String,
    /// Until when its liveness mark holds (Unix ms, server time).
    pub alive_until_ms: u64,
    /// What it says of itself; `None` for a worker that writes nothing
    /// (an older thoonk).
    pub about: Option<WorkerAbout>,
    /// How many jobs it holds now (as of its last heartbeat, as
    /// [`Queue::workers`] counts them).
    pub holding: u64,
    /// Some of them (the first `max_jobs` asked for), longest running
    /// first.
    pub jobs: Vec<HeldJob>,
}

/// What a worker runtime writes of itself at its heartbeats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkerAbout {
    /// When its first heartbeat on this queue wrote this (Unix ms, server
    /// time): when it started, or came back after its mark ran out.
    pub started_ms: u64,
    /// How many handlers it runs at once, over all its queues.
    pub concurrency: u64,
    /// Its process id.
    pub pid: u64,
    /// The thoonk version it runs.
    pub version: String,
    /// The name of its host.
    pub host: String,
}

/// A job a worker holds now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeldJob {
    /// The job's id.
    pub id: String,
    /// When it was claimed (Unix ms, server time); for a claim made by an
    /// older thoonk, whose token carries no claim time, its last lease
    /// extension (then `exact` is false: it has run at least since).
    pub since_ms: u64,
    /// Whether `since_ms` is the claim time.
    pub exact: bool,
}

/// The workers at work on a queue, as of `now_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AtWork {
    /// The server's time when they were read (Unix ms): a job has run
    /// `now_ms - since_ms`.
    pub now_ms: u64,
    /// By id.
    pub workers: Vec<WorkerAtWork>,
}

impl Queue {
    /// The live workers (at most [`AT_WORK_MAX_WORKERS`]), what each says
    /// of itself, how many jobs each holds and (the first `max_jobs` of
    /// them, at most 1,000) since when. One read-only script: a lookup per
    /// job each worker holds, whatever the queue's size.
    pub async fn at_work(&self, max_jobs: usize) -> Result<AtWork> {
        let k = &self.keys;
        // Per worker: id, deadline, what it says, jobs held, and per job
        // listed: id, since, exact.
        type Worker = (String, String, String, u64, Vec<(String, String, String)>);
        let (now_ms, flat): (u64, Vec<Worker>) = scripts::AT_WORK
            .key(&k.workers)
            .key(&k.holders)
            .key(&k.tokens)
            .key(&k.claimed)
            .key(&k.worker_info)
            .arg(AT_WORK_MAX_WORKERS)
            .arg(max_jobs.min(1000))
            .invoke_async(&mut self.thoonk.connection())
            .await
            .map_err(self.at("list the workers at work"))?;
        let mut workers: Vec<WorkerAtWork> = flat
            .into_iter()
            .map(|(id, until, about, holding, jobs)| {
                let mut jobs: Vec<HeldJob> = jobs
                    .into_iter()
                    .map(|(id, since, exact)| HeldJob {
                        id,
                        since_ms: ms(since.into_bytes()).unwrap_or(0),
                        exact: exact == "1",
                    })
                    .collect();
                jobs.sort_by(|a, b| a.since_ms.cmp(&b.since_ms).then(a.id.cmp(&b.id)));
                WorkerAtWork {
                    id,
                    alive_until_ms: ms(until.into_bytes()).unwrap_or(0),
                    about: parse_about(&about),
                    holding,
                    jobs,
                }
            })
            .collect();
        workers.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(AtWork { now_ms, workers })
    }
}

/// What a worker says of itself, as `job.worker_info` keeps it: the
/// server's time of the beat that wrote it, then what the worker sent
/// (see [`about_worker`]), NUL-separated.
fn parse_about(text: &str) -> Option<WorkerAbout> {
    let mut fields = text.split('\0');
    let (started, concurrency, pid, version, host) = (
        fields.next()?,
        fields.next()?,
        fields.next()?,
        fields.next()?,
        fields.next()?,
    );
    Some(WorkerAbout {
        started_ms: started.parse().ok()?,
        concurrency: concurrency.parse().ok()?,
        pid: pid.parse().ok()?,
        version: version.to_string(),
        host: host.to_string(),
    })
}

/// What a worker runtime with `concurrency` says of itself at each
/// heartbeat: its concurrency, pid, version and host, NUL-separated (no
/// field holds a NUL; the host is cut to keep the record small).
pub(crate) fn about_worker(concurrency: usize) -> String {
    let host = host_name();
    let host: String = host.chars().filter(|c| *c != '\0').take(200).collect();
    format!(
        "{concurrency}\0{}\0{}\0{host}",
        std::process::id(),
        env!("CARGO_PKG_VERSION")
    )
}

/// The host's name, as the kernel has it (Linux), else as the
/// environment says, else empty.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_worker_says_reads_back() {
        let record = format!("1700000000000\0{}", about_worker(7));
        let about = parse_about(&record).unwrap();
        assert_eq!(about.started_ms, 1_700_000_000_000);
        assert_eq!(about.concurrency, 7);
        assert_eq!(about.pid, u64::from(std::process::id()));
        assert_eq!(about.version, env!("CARGO_PKG_VERSION"));
        assert_eq!(parse_about("12\0x"), None);
    }
}
