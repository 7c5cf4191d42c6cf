//! `thoonk`: a thin command line over the `thoonk` library.

mod args;
mod cli;
mod cmd;
mod connect;
mod dashboard;
mod exit;
mod signal;

use args::{job_ref, secs};
use clap::Parser;
use cli::{Cli, Command};
use cmd::{bench, work};
use exit::{Exit, Fatal};
use serde_json::json;
use std::io::{Read, Write};
use std::process::ExitCode;
use thoonk::{Claimed, Error, Order, Publish, State, Thoonk, Worker};

/// A worker allocates a little for every job (ids, payloads, replies);
/// mimalloc does that at a fraction of glibc's cost (measured: ~25% of the
/// process phase's client CPU went to glibc malloc).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Parse errors exit 2 with clap's usage message; --help exits 0.
    let cli = Cli::parse();
    if !cli.cluster && cli.urls().len() > 1 {
        <Cli as clap::CommandFactory>::command()
            .error(
                clap::error::ErrorKind::ArgumentConflict,
                "several --redis URLs are the seed nodes of a cluster: add --cluster",
            )
            .exit();
    }
    // Logs (from `work`) go to stderr; RUST_LOG overrides the level.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                // The redis crate's own notes (a seed node down, a slot
                // refresh) are for debugging; ours say what matters.
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,redis=error")),
        )
        .init();
    // One thread: every command here waits on Redis, not on the CPU, and a
    // request that stays on one thread skips a cross-thread wake-up at each
    // hop (measured: one-by-one publish ~20% faster, latency ~20% lower).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(run(cli)) {
        Ok(exit) => ExitCode::from(exit as u8),
        Err(Fatal(exit, message)) => {
            eprintln!("error: {message}");
            ExitCode::from(exit as u8)
        }
    }
}

async fn run(cli: Cli) -> Result<Exit, Fatal> {
    let thoonk = connect::connect(&cli).await?;
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Publish {
            queue,
            item,
            id,
            priority,
            delay,
            wait,
            timeout,
            replicas,
            replicas_timeout,
        } => {
            let job = thoonk.job(&queue)?;
            let item = match item.as_deref() {
                None | Some("-") => {
                    let mut buf = Vec::new();
                    std::io::stdin().read_to_end(&mut buf)?;
                    buf
                }
                Some(text) => text.as_bytes().to_vec(),
            };
            let id = id.unwrap_or_else(thoonk::new_id);
            let mut options = Publish::new().priority(priority).id(&id);
            if let Some(delay) = delay {
                options = options.delay(secs(delay)?);
            }
            if let Some(n) = replicas {
                options = options.replicas(n, secs(replicas_timeout)?);
            }
            if !wait {
                match job.publish(item, options).await {
                    Ok(_) => {}
                    // Queued all the same: a script needs its id.
                    Err(e @ Error::NotReplicated { .. }) => {
                        writeln!(out, "{id}")?;
                        return Err(e.into());
                    }
                    Err(e) => return Err(e.into()),
                }
                writeln!(out, "{id}")?;
                return Ok(Exit::Done);
            }
            // Printed before the wait, so a person sees which job it is.
            writeln!(out, "{id}")?;
            out.flush()?;
            let result = job.publish_and_wait(item, options, secs(timeout)?).await?;
            if let Some(result) = result {
                out.write_all(&result)?;
                writeln!(out)?;
            }
        }
        Command::Get { queue, timeout } => {
            let job = thoonk.job(&queue)?;
            let Some(Claimed {
                id,
                item,
                cancelled,
                token,
                ..
            }) = job.get(secs(timeout)?).await?
            else {
                return Err(Fatal(
                    Exit::Timeout,
                    format!("no job was available in queue {queue} within {timeout}s"),
                ));
            };
            let line = json!({
                "id": id,
                "item": String::from_utf8_lossy(&item),
                "cancelled": cancelled,
                "token": token,
            });
            writeln!(out, "{line}")?;
        }
        Command::Finish {
            queue,
            id,
            result,
            token,
        } => {
            let job = thoonk.job(&queue)?;
            let target = job_ref(&id, token.as_deref());
            match result {
                Some(result) => job.finish_with(target, result).await?,
                None => job.finish(target).await?,
            }
        }
        Command::Cancel { queue, id, token } => {
            let went = thoonk
                .job(&queue)?
                .cancel(job_ref(&id, token.as_deref()))
                .await?;
            if went == State::Stalled {
                writeln!(
                    out,
                    "stalled: job {id} was cancelled more than the queue's max_cancels"
                )?;
            }
        }
        Command::Stall { queue, id, token } => {
            thoonk
                .job(&queue)?
                .stall(job_ref(&id, token.as_deref()))
                .await?
        }
        Command::Retry { queue, id } => thoonk.job(&queue)?.retry(&id).await?,
        Command::Retract { queue, id } => thoonk.job(&queue)?.retract(&id).await?,
        Command::Stats { queue, json } => {
            let stats = thoonk.job(&queue)?.stats().await?;
            if json {
                writeln!(
                    out,
                    "{}",
                    serde_json::to_string(&stats).expect("plain struct")
                )?;
            } else {
                writeln!(out, "queue      {}", stats.queue)?;
                writeln!(out, "available  {}", stats.available)?;
                writeln!(out, "claimed    {}", stats.claimed)?;
                writeln!(out, "stalled    {}", stats.stalled)?;
                writeln!(out, "delayed    {}", stats.delayed)?;
                writeln!(out, "publishes  {}", stats.publishes)?;
                writeln!(out, "finishes   {}", stats.finishes)?;
                writeln!(out, "cancels    {}", stats.cancels)?;
                writeln!(out, "stalls     {}", stats.stalls)?;
                writeln!(out, "recoveries {}", stats.recoveries)?;
            }
        }
        Command::List { queue, state, json } => {
            list(&thoonk, &queue, state, json, &mut out).await?
        }
        Command::Work {
            queues,
            weights,
            concurrency,
            lease,
            max_cancels,
            grace,
            command,
        } => {
            let jobs = queues
                .iter()
                .map(|q| thoonk.job(q))
                .collect::<thoonk::Result<Vec<_>>>()?;
            let order = weights.map_or(Order::Strict, Order::Weighted);
            // Everything checked before any queue's settings change.
            let worker = Worker::serving(jobs.clone(), order)?
                .concurrency(concurrency)
                .grace(secs(grace)?);
            let lease = lease.map(secs).transpose()?;
            for job in &jobs {
                if let Some(lease) = lease {
                    job.set_lease(lease).await?;
                }
                if let Some(max) = max_cancels {
                    job.set_max_cancels(max).await?;
                }
            }
            work::work(worker, &queues, concurrency, command).await?;
        }
        Command::Dashboard { listen, token } => {
            dashboard::serve(thoonk, &listen, token)
                .await
                .map_err(Fatal::failed)?;
        }
        Command::Bench {
            queue,
            jobs,
            single,
            concurrency,
            latency_jobs,
            rate,
            payload_bytes,
            json,
        } => {
            let plan = bench::Plan {
                queue,
                jobs: jobs.max(1),
                single: single.max(1),
                concurrency: concurrency.max(1),
                latency_jobs: latency_jobs.max(1),
                rate,
                payload_bytes,
            };
            let results = bench::bench(&thoonk, &plan).await.map_err(Fatal::failed)?;
            if json {
                writeln!(
                    out,
                    "{}",
                    serde_json::to_string(&results).expect("plain struct")
                )?;
            } else {
                bench::print_human(&results, &mut out)?;
            }
        }
        Command::Events { queue } => {
            let mut events = thoonk.job(&queue)?.subscribe().await?;
            loop {
                tokio::select! {
                    event = events.next() => {
                        let Some(event) = event else { break };
                        let mut line = json!({
                            "event": event.kind,
                            "queue": queue,
                            "id": event.id,
                        });
                        if let Some(result) = &event.result {
                            line["result"] = String::from_utf8_lossy(result).into();
                        }
                        writeln!(out, "{line}")?;
                        out.flush()?;
                    }
                    _ = tokio::signal::ctrl_c() => break,
                }
            }
        }
    }
    Ok(Exit::Done)
}

/// Prints every job in `state`, a page at a time.
async fn list(
    thoonk: &Thoonk,
    queue: &str,
    state: State,
    json: bool,
    out: &mut impl Write,
) -> Result<(), Fatal> {
    const PAGE: usize = 1000;
    let job = thoonk.job(queue)?;
    let mut offset = 0;
    let mut all = Vec::new();
    loop {
        let page = job.list(state, offset, PAGE).await?;
        let done = page.len() < PAGE;
        offset += page.len();
        for info in page {
            if json {
                let mut entry = json!({
                    "id": info.id,
                    "item": String::from_utf8_lossy(&info.item),
                    "cancelled": info.cancelled,
                });
                if let Some(reason) = &info.reason {
                    entry["reason"] = reason.as_str().into();
                }
                all.push(entry);
            } else {
                // Escaped, so an item or reason with newlines stays on its line.
                let item = String::from_utf8_lossy(&info.item);
                write!(
                    out,
                    "{}\t{}\t{}",
                    info.id,
                    info.cancelled,
                    item.escape_debug()
                )?;
                match &info.reason {
                    Some(reason) => writeln!(out, "\t{}", reason.escape_debug())?,
                    None => writeln!(out)?,
                }
            }
        }
        if done {
            break;
        }
    }
    if json {
        writeln!(out, "{}", serde_json::Value::Array(all))?;
    }
    Ok(())
}
