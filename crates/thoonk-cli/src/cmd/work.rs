//! `thoonk work`: a `Worker` whose handler runs a command per job.

use std::process::Stdio;
use thoonk::{Claimed, Failure, Report, Worker};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// How much of a failed command's stderr is kept as the job's reason.
const REASON_TAIL: usize = 1024;

/// Runs the worker until SIGTERM or SIGINT, then shuts down gracefully.
pub(crate) async fn work(
    worker: Worker,
    queues: &[String],
    concurrency: usize,
    command: Vec<String>,
) -> thoonk::Result<Report> {
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
        "working: {}",
        command.join(" ")
    );
    let handler = move |claimed: Claimed| run(command.clone(), claimed);
    let report = worker.run(handler, shutdown).await?;
    tracing::info!(
        finished = report.finished,
        cancelled = report.cancelled,
        stalled = report.stalled,
        released = report.released,
        refused = report.refused,
        "stopped"
    );
    Ok(report)
}

/// One job: the command with the item on stdin.
async fn run(command: Vec<String>, job: Claimed) -> Result<Vec<u8>, Failure> {
    let (program, args) = command.split_first().expect("clap requires a command");
    let mut child = Command::new(program)
        .args(args)
        .env("THOONK_QUEUE", &*job.queue)
        .env("THOONK_JOB_ID", &job.id)
        .env("THOONK_CANCELLED", job.cancelled.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Shutdown past its grace period drops this future: the command
        // must not outlive the claim it works under.
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| Failure::retry(format!("cannot run {program}: {e}")))?;
    let mut stdin = child.stdin.take().expect("piped");
    let item = job.item;
    // Written alongside reading the output: a command that writes before
    // it reads all its input must not deadlock against us.
    let feed = tokio::spawn(async move {
        // A command that ignores its stdin may close it early; that is fine.
        let _ = stdin.write_all(&item).await;
    });
    let output = child
        .wait_with_output()
        .await
        .map_err(|e| Failure::retry(format!("waiting for {program}: {e}")))?;
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
    Err(Failure::retry(format!(
        "{program} {}: {}",
        output.status,
        stderr[start..].trim_end()
    )))
}
