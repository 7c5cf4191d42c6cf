//! The operations timed at each size ([`Op`]), and one timed run of each
//! ([`Bench`]): through the library's public calls, as a user makes them,
//! each run leaving the queue's counts as it found them (what a run
//! publishes, a claim and finish outside the timing takes back, and so on).

use super::fill::Filled;
use super::holder::{Holder, HOLDS};
use super::slowlog::{Slowlog, Whose};
use crate::cmd::bench::load::payload;
use crate::connect::Target;
use std::future::Future;
use std::process::Stdio;
use std::time::{Duration, Instant};
use thoonk::{Job, JobRef, Publish, Queue, State};
use tokio::io::AsyncReadExt;

/// Jobs per listed page, as a dashboard shows them.
const PAGE: usize = 50;

/// Which page of a state's jobs `list` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Page {
    /// The first.
    First,
    /// One at half the state's count (half of N for available jobs).
    Middle,
}

/// An operation the scale bench times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    Publish(usize),
    Claim(usize),
    Finish,
    Cancel,
    Stall,
    Retry,
    /// An available job from the middle of the list.
    Retract,
    /// A worker's heartbeat: the leases of the `HOLDS` jobs it holds.
    Extend,
    /// A recovery pass with nothing to take back: what every worker runs
    /// each second.
    Recover,
    /// The recovery pass after a worker died holding `HOLDS` jobs.
    RecoverDead,
    Workers,
    Stats,
    Detail,
    List(State, Page),
    /// `thoonk list QUEUE stalled --json`, until its first byte of output.
    CliFirstByte,
    /// The same, until its last byte.
    CliEnd,
}

impl Op {
    /// Every operation, in the table's order.
    pub(super) fn all() -> Vec<Op> {
        let mut all = vec![
            Op::Publish(1),
            Op::Publish(100),
            Op::Claim(1),
            Op::Claim(50),
            Op::Finish,
            Op::Cancel,
            Op::Stall,
            Op::Retry,
            Op::Retract,
            Op::Extend,
            Op::Recover,
            Op::RecoverDead,
            Op::Workers,
            Op::Stats,
            Op::Detail,
        ];
        for state in State::ALL {
            all.extend([Op::List(state, Page::First), Op::List(state, Page::Middle)]);
        }
        all.extend([Op::CliFirstByte, Op::CliEnd]);
        all
    }

    /// Its name in `--json`.
    pub(super) fn key(self) -> String {
        match self {
            Op::Publish(n) => format!("publish_{n}"),
            Op::Claim(n) => format!("claim_{n}"),
            Op::Finish => "finish_1".into(),
            Op::Cancel => "cancel_1".into(),
            Op::Stall => "stall_1".into(),
            Op::Retry => "retry_1".into(),
            Op::Retract => "retract_1".into(),
            Op::Extend => format!("extend_{HOLDS}"),
            Op::Recover => "recover".into(),
            Op::RecoverDead => "recover_dead_worker".into(),
            Op::Workers => "workers".into(),
            Op::Stats => "stats".into(),
            Op::Detail => "detail".into(),
            Op::List(state, Page::First) => format!("list_{state}_first"),
            Op::List(state, Page::Middle) => format!("list_{state}_middle"),
            Op::CliFirstByte => "cli_list_stalled_first_byte".into(),
            Op::CliEnd => "cli_list_stalled_end".into(),
        }
    }

    /// Its name in the table.
    pub(super) fn label(self) -> String {
        match self {
            Op::Publish(1) => "publish 1".into(),
            Op::Publish(n) => format!("publish {n} (one call)"),
            Op::Claim(n) => format!("claim {n}"),
            Op::Finish => "finish 1".into(),
            Op::Cancel => "cancel 1".into(),
            Op::Stall => "stall 1".into(),
            Op::Retry => "retry 1 (stalled)".into(),
            Op::Retract => "retract 1 (available, mid-list)".into(),
            Op::Extend => format!("extend {HOLDS} leases"),
            Op::Recover => "recover (nothing due)".into(),
            Op::RecoverDead => format!("recover (a worker died holding {HOLDS})"),
            Op::Workers => "workers".into(),
            Op::Stats => "stats".into(),
            Op::Detail => "detail (a claimed job)".into(),
            Op::List(state, Page::First) => format!("list {state}, first {PAGE}"),
            Op::List(state, Page::Middle) => format!("list {state}, {PAGE} from the middle"),
            Op::CliFirstByte => "`thoonk list Q stalled --json`, first byte".into(),
            Op::CliEnd => "`thoonk list Q stalled --json`, last byte".into(),
        }
    }
}

/// One timed run: the client's wall time, and the slowest command it made
/// as Redis timed it (None when SLOWLOG cannot be read).
#[derive(Debug, Clone, Copy)]
pub(super) struct Sample {
    pub(super) client: Duration,
    pub(super) server_us: Option<u64>,
}

/// What the operations work on at one size.
pub(super) struct Bench<'a> {
    /// The queue, on the measuring client.
    pub(super) queue: &'a Queue,
    /// The same queue on the holding workers' client.
    pub(super) worker_queue: &'a Queue,
    pub(super) slowlog: Option<&'a Slowlog>,
    /// Where a child `thoonk` connects.
    pub(super) target: &'a Target,
    pub(super) filled: Filled,
    /// The live worker's held jobs (id, token), once it runs.
    pub(super) holder_jobs: Vec<(String, String)>,
    pub(super) payload_bytes: usize,
    /// Numbers the payloads published while measuring.
    pub(super) published: usize,
    /// Jobs retracted so far from the middle of the list.
    pub(super) retracts: usize,
}

impl Bench<'_> {
    /// One run of a library operation (not `RecoverDead` or the CLI's).
    pub(super) async fn sample(&mut self, op: Op) -> Result<Sample, String> {
        match op {
            Op::Publish(n) => self.publish(n).await,
            Op::Claim(n) => self.claim(n).await,
            Op::Finish => self.finish().await,
            Op::Cancel => self.cancel().await,
            Op::Stall => self.stall().await,
            Op::Retry => self.retry().await,
            Op::Retract => self.retract().await,
            Op::Extend => self.extend().await,
            Op::Recover => Ok(self.timed(self.queue.recover()).await?.1),
            Op::Workers => Ok(self.timed(self.queue.workers()).await?.1),
            Op::Stats => Ok(self.timed(self.queue.stats()).await?.1),
            Op::Detail => self.detail().await,
            Op::List(state, page) => self.list(state, page).await,
            Op::RecoverDead | Op::CliFirstByte | Op::CliEnd => {
                Err(format!("{} is not a library operation", op.key()))
            }
        }
    }

    /// Runs `call`, timed on both sides.
    async fn timed<T>(
        &self,
        call: impl Future<Output = thoonk::Result<T>>,
    ) -> Result<(T, Sample), String> {
        if let Some(log) = self.slowlog {
            log.reset().await?;
        }
        let start = Instant::now();
        let out = call.await.map_err(|e| e.to_string())?;
        let client = start.elapsed();
        let server_us = match self.slowlog {
            Some(log) => Some(log.max_us(Whose::Measurer).await?),
            None => None,
        };
        Ok((out, Sample { client, server_us }))
    }

    fn item(&mut self) -> String {
        self.published += 1;
        payload(self.published, self.payload_bytes)
    }

    async fn publish(&mut self, n: usize) -> Result<Sample, String> {
        let sample = if n == 1 {
            let item = self.item();
            self.timed(self.queue.publish(item, Publish::new()))
                .await?
                .1
        } else {
            let items: Vec<String> = (0..n).map(|_| self.item()).collect();
            self.timed(self.queue.publish_many(items)).await?.1
        };
        let taken = self.queue.claim(n).await.map_err(|e| e.to_string())?;
        self.finish_all(&taken).await?;
        Ok(sample)
    }

    async fn claim(&mut self, n: usize) -> Result<Sample, String> {
        let (taken, sample) = self.timed(self.queue.claim(n)).await?;
        self.finish_all(&taken).await?;
        self.top_up(taken.len()).await?;
        Ok(sample)
    }

    async fn finish(&mut self) -> Result<Sample, String> {
        let job = self.claim_one().await?;
        let sample = self.timed(self.queue.finish(&job)).await?.1;
        self.top_up(1).await?;
        Ok(sample)
    }

    async fn cancel(&self) -> Result<Sample, String> {
        let job = self.claim_one().await?;
        Ok(self.timed(self.queue.cancel(&job)).await?.1)
    }

    async fn stall(&mut self) -> Result<Sample, String> {
        let job = self.claim_one().await?;
        let sample = self.timed(self.queue.stall(&job)).await?.1;
        self.filled.stalled.push(job.id);
        Ok(sample)
    }

    async fn retry(&mut self) -> Result<Sample, String> {
        let id = self
            .filled
            .stalled
            .pop()
            .ok_or("no stalled job left to retry")?;
        Ok(self.timed(self.queue.retry(&id)).await?.1)
    }

    async fn retract(&mut self) -> Result<Sample, String> {
        let available = self.count(State::Available).await?;
        // A retract from a long list leaves its id where it was as a ghost
        // (no job, which a listing skips): past the ghosts runs before left
        // about the middle, there are jobs.
        self.retracts += 1;
        let middle = self
            .queue
            .list(State::Available, available / 2, self.retracts + 10)
            .await
            .map_err(|e| e.to_string())?;
        let id = &middle.first().ok_or("no available job to retract")?.id;
        let sample = self.timed(self.queue.retract(id)).await?.1;
        self.top_up(1).await?;
        Ok(sample)
    }

    async fn extend(&self) -> Result<Sample, String> {
        let held: Vec<JobRef<'_>> = self
            .holder_jobs
            .iter()
            .map(|(id, token)| JobRef::fenced(id, token))
            .collect();
        let (lost, sample) = self.timed(self.queue.extend(&held)).await?;
        if !lost.is_empty() {
            return Err(format!("extend: the worker's claims of {lost:?} were lost"));
        }
        Ok(sample)
    }

    async fn detail(&self) -> Result<Sample, String> {
        let id = &self.filled.held.first().ok_or("no claimed job")?.id;
        let (detail, sample) = self.timed(self.queue.detail(id)).await?;
        match detail {
            Some(detail) if detail.state == State::Claimed => Ok(sample),
            other => Err(format!("detail of claimed job {id}: {other:?}")),
        }
    }

    async fn list(&self, state: State, page: Page) -> Result<Sample, String> {
        let offset = match page {
            Page::First => 0,
            Page::Middle => self.count(state).await? / 2,
        };
        Ok(self.timed(self.queue.list(state, offset, PAGE)).await?.1)
    }

    /// How many jobs are in `state` now.
    async fn count(&self, state: State) -> Result<usize, String> {
        let stats = self.queue.stats().await.map_err(|e| e.to_string())?;
        Ok(match state {
            State::Available => stats.available,
            State::Claimed => stats.claimed,
            State::Stalled => stats.stalled,
            State::Delayed => stats.delayed,
        } as usize)
    }

    async fn claim_one(&self) -> Result<Job, String> {
        let mut taken = self.queue.claim(1).await.map_err(|e| e.to_string())?;
        taken
            .pop()
            .ok_or_else(|| "no available job to claim".into())
    }

    async fn finish_all(&self, jobs: &[Job]) -> Result<(), String> {
        let refs: Vec<(JobRef<'_>, Option<&[u8]>)> =
            jobs.iter().map(|job| (JobRef::from(job), None)).collect();
        let done = self.queue.finish_many(&refs).await;
        for outcome in done.map_err(|e| e.to_string())? {
            outcome.map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Publishes `n` jobs, for as many taken out.
    async fn top_up(&mut self, n: usize) -> Result<(), String> {
        let items: Vec<String> = (0..n).map(|_| self.item()).collect();
        self.queue
            .publish_many(items)
            .await
            .map_err(|e| e.to_string())?;
        Ok(())
    }
}

impl Bench<'_> {
    /// A worker claims `HOLDS` jobs and dies; once its liveness mark ran
    /// out, one recovery pass, timed. (No live worker may run meanwhile:
    /// its own pass would take the jobs back first.) The dead worker beat
    /// last, so the first pass may find a silence and wait out its grace
    /// first: then the next pass is the one timed.
    pub(super) async fn recover_dead(&mut self) -> Result<Sample, String> {
        let dying = Holder::start(self.worker_queue).await?;
        dying.kill(self.queue).await?;
        let (mut recovered, mut sample) = self.timed(self.queue.recover()).await?;
        if !recovered.waiting.is_zero() {
            tokio::time::sleep(recovered.waiting).await;
            (recovered, sample) = self.timed(self.queue.recover()).await?;
        }
        if recovered.requeued != HOLDS as u64 {
            return Err(format!(
                "the recovery pass after a worker died took back {} jobs, not {HOLDS}",
                recovered.requeued
            ));
        }
        Ok(sample)
    }

    /// `thoonk list QUEUE stalled --json` in a child process: the time to
    /// its first byte of output and to its last, and the slowest command
    /// it made.
    pub(super) async fn cli_list(&self) -> Result<(Sample, Sample), String> {
        let exe = std::env::current_exe().map_err(|e| format!("where am I: {e}"))?;
        let mut command = tokio::process::Command::new(exe);
        command
            .args(["list", self.queue.name(), "stalled", "--json"])
            .envs(self.target.env())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(log) = self.slowlog {
            log.reset().await?;
        }
        let start = Instant::now();
        let mut child = command.spawn().map_err(|e| format!("thoonk list: {e}"))?;
        let mut stdout = child.stdout.take().ok_or("thoonk list: no stdout")?;
        let io = |e: std::io::Error| format!("thoonk list: {e}");
        let got = stdout.read(&mut [0; 1]).await.map_err(io)?;
        let first = start.elapsed();
        tokio::io::copy(&mut stdout, &mut tokio::io::sink())
            .await
            .map_err(io)?;
        let last = start.elapsed();
        let out = child.wait_with_output().await.map_err(io)?;
        if !out.status.success() || got == 0 {
            let stderr = String::from_utf8_lossy(&out.stderr);
            return Err(format!("thoonk list failed ({}): {stderr}", out.status));
        }
        let server_us = match self.slowlog {
            Some(log) => Some(log.max_us(Whose::Others).await?),
            None => None,
        };
        let at = |client| Sample { client, server_us };
        Ok((at(first), at(last)))
    }
}
