//! `thoonk work`: a `Worker` whose handler runs a command per job.

use crate::args::{lease_seconds, seconds, timeout_seconds};
use crate::children::Guard;
use crate::exit::Fatal;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use thoonk::{Failure, Job, Order, Thoonk, Worker};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// Run COMMAND once per claimed job, until SIGTERM or SIGINT.
///
/// The job's item is COMMAND's stdin; THOONK_QUEUE, THOONK_JOB_ID,
/// THOONK_JOB_TOKEN (the claim's token: `thoonk progress` reads it) and
/// THOONK_CANCELLED are in its environment, with the connection's
/// THOONK_REDIS_URL (and THOONK_CLUSTER, THOONK_TLS_CA when given), so a
/// `thoonk` run inside it reaches the same Redis. Exit 0 finishes the job with
/// COMMAND's stdout (one trailing newline trimmed) as the result; any
/// other exit cancels it, to come back after a backoff, with the tail of
/// stderr kept as the reason. A command still running after --timeout
/// seconds (or the queue's own timeout, when shorter) gets SIGTERM, with
/// everything it started, and SIGKILL --grace seconds later; its job is
/// cancelled, "timed out after Ns", to come back after a backoff. On a
/// signal, no more jobs are claimed, running ones get --grace seconds, and
/// what is left goes back to the queue.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The queue; name several to serve them all, the first first
    /// (strict order) unless --weights is given.
    #[arg(required = true, num_args = 1.., value_name = "QUEUE")]
    queues: Vec<String>,
    /// Share slots among the queues by weight instead, one weight per
    /// queue: "3,1" gives the first about three jobs to the second's one.
    #[arg(long, value_name = "W,W,…", value_delimiter = ',')]
    weights: Option<Vec<u32>>,
    /// How many jobs to run at once.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u64).range(1..=thoonk::MAX_BATCH as u64))]
    concurrency: u64,
    /// Set the queue's lease: a claim not extended for SECS is taken back.
    #[arg(long, value_name = "SECS", value_parser = lease_seconds)]
    lease: Option<Duration>,
    /// Set the queue's max_cancels: a job cancelled more often is stalled.
    #[arg(long, value_name = "N",
          value_parser = clap::value_parser!(u64).range(..=thoonk::MAX_CANCELS))]
    max_cancels: Option<u64>,
    /// Stop a command that runs longer than SECS (SIGTERM to its process
    /// group, SIGKILL after --grace) and cancel its job. At least 0.001;
    /// the queue's own timeout applies when shorter.
    #[arg(long, value_name = "SECS", value_parser = timeout_seconds)]
    timeout: Option<Duration>,
    /// Seconds running jobs may take to finish after a shutdown signal,
    /// and commands past their timeout may take to stop after SIGTERM.
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = seconds)]
    grace: Duration,
    /// The command and its arguments.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<String>,
}

/// How much of a failed command's stderr is kept as the job's reason.
const REASON_TAIL: usize = 1024;

/// Sets the queues' lease and max_cancels when asked, then works until
/// SIGTERM or SIGINT and shuts down gracefully.
pub(crate) async fn run(
    thoonk: &Thoonk,
    args: Args,
    connection_env: Vec<(&'static str, String)>,
) -> Result<(), Fatal> {
    let Args {
        queues,
        weights,
        concurrency,
        lease,
        max_cancels,
        timeout,
        grace,
        command,
    } = args;
    let handles = queues
        .iter()
        .map(|q| thoonk.queue(q))
        .collect::<thoonk::Result<Vec<_>>>()?;
    let order = weights.map_or(Order::Strict, Order::Weighted);
    // Everything checked before any queue's settings change.
    let mut worker = Worker::serving(handles.clone(), order)?
        .concurrency(concurrency as usize)
        .grace(grace);
    if let Some(timeout) = timeout {
        worker = worker.timeout(timeout);
    }
    for queue in &handles {
        if let Some(lease) = lease {
            queue.set_lease(lease).await?;
        }
        if let Some(max) = max_cancels {
            queue.set_max_cancels(max).await?;
        }
    }
    let guard = Guard::start()
        .map_err(|e| Fatal::failed(format!("cannot start the guard of our commands: {e}")))?;
    // Before anything is claimed: from here on a signal is a graceful stop,
    // never the default death of the process.
    let signalled = crate::signal::shutdown_signal();
    let shutdown = async {
        signalled.await;
        tracing::info!("shutting down: no more claims; running jobs get their grace period");
    };
    tracing::info!(
        worker = worker.id(),
        queues = queues.join(" "),
        concurrency,
        timeout = ?timeout,
        "working: {}",
        command.join(" ")
    );
    let watcher = guard.clone();
    let connection_env = Arc::new(connection_env);
    let handler = move |job: Job| {
        run_command(
            command.clone(),
            connection_env.clone(),
            watcher.clone(),
            job,
        )
    };
    let report = worker.run(handler, shutdown).await;
    guard.stop();
    let report = report?;
    tracing::info!(
        finished = report.finished,
        failed = report.failed,
        stalled = report.stalled,
        released = report.released,
        refused = report.refused,
        "stopped"
    );
    Ok(())
}

/// One job: the command, in a process group of its own that `guard`
/// watches, with the item on stdin; the group gets SIGTERM when the job's
/// timeout passes.
async fn run_command(
    command: Vec<String>,
    connection_env: Arc<Vec<(&'static str, String)>>,
    guard: Arc<Guard>,
    job: Job,
) -> Result<Vec<u8>, Failure> {
    let (program, args) = command.split_first().expect("clap requires a command");
    let mut child = Command::new(program)
        .args(args)
        .envs(connection_env.iter().map(|(k, v)| (k, v)))
        .env("THOONK_QUEUE", &*job.queue)
        .env("THOONK_JOB_ID", &job.id)
        .env("THOONK_JOB_TOKEN", &job.token)
        .env("THOONK_CANCELLED", job.retries.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // A group of its own: what it starts is stopped with it, and a
        // terminal's Ctrl-C goes to `work` (which gives it the grace)
        // rather than straight to it.
        .process_group(0)
        .spawn()
        .map_err(|e| Failure::transient(format!("cannot run {program}: {e}")))?;
    // Shutdown or a timeout past its grace period drops this future:
    // `watched` then stops the group, and should `work` die, the guard does.
    let watched = guard.watch(child.id().expect("a child just spawned has an id"));
    let mut stdin = child.stdin.take().expect("piped");
    let timed_out = job.timed_out();
    let item = job.item;
    // Written alongside reading the output: a command that writes before
    // it reads all its input must not deadlock against us.
    let feed = tokio::spawn(async move {
        // A command that ignores its stdin may close it early; that is fine.
        let _ = stdin.write_all(&item).await;
    });
    let exited = child.wait_with_output();
    tokio::pin!(exited);
    let output = tokio::select! {
        output = &mut exited => output,
        () = timed_out => {
            // The first, polite stop; the worker gives it the grace, then
            // drops this future and `watched` kills what is left.
            watched.terminate();
            exited.await
        }
    }
    .map_err(|e| Failure::transient(format!("waiting for {program}: {e}")))?;
    watched.over();
    let _ = feed.await;
    if output.status.success() {
        let mut result = output.stdout;
        if result.last() == Some(&b'\n') {
            result.pop();
        }
        return Ok(result);
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let mut start = stderr.len().saturating_sub(REASON_TAIL);
    while !stderr.is_char_boundary(start) {
        start += 1;
    }
    Err(Failure::transient(format!(
        "{program} {}: {}",
        output.status,
        stderr[start..].trim_end()
    )))
}
