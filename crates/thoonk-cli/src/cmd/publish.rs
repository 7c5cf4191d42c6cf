//! `thoonk publish`: queue one job, and with `--wait`, print its result.

use crate::args::seconds;
use crate::exit::Fatal;
use std::io::{Read, Write};
use std::time::Duration;
use thoonk::{Error, Publish, Thoonk};

/// Publish a job; prints its id (and with --wait, then its result).
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The queue.
    queue: String,
    /// The payload; read from stdin when absent or "-".
    item: Option<String>,
    /// Use this job id instead of a generated one.
    #[arg(long)]
    id: Option<String>,
    /// Put the job at the front of the queue.
    #[arg(long)]
    priority: bool,
    /// Make the job available only after SECS (it is "delayed" until then).
    #[arg(long, value_name = "SECS", value_parser = seconds)]
    delay: Option<Duration>,
    /// Refuse this id for SECS from now, even after the job finished: a
    /// publish of it meanwhile fails (exit 1, naming the id). With --id,
    /// "at most once in SECS" for the work that id names.
    #[arg(long, value_name = "SECS", value_parser = seconds)]
    unique_for: Option<Duration>,
    /// Wait until the job finishes and print its result.
    #[arg(long)]
    wait: bool,
    /// With --wait: give up after SECS (0: wait forever).
    #[arg(
        long,
        value_name = "SECS",
        requires = "wait",
        default_value = "0",
        value_parser = seconds
    )]
    timeout: Duration,
    /// Succeed only once N replicas of the queue's Redis have the job
    /// (WAIT); fails (exit 1) when they do not within --replicas-timeout.
    #[arg(long, value_name = "N")]
    replicas: Option<u32>,
    /// With --replicas: how long to wait for them.
    #[arg(
        long,
        value_name = "SECS",
        requires = "replicas",
        default_value = "1",
        value_parser = seconds
    )]
    replicas_timeout: Duration,
}

pub(crate) async fn run(thoonk: &Thoonk, args: Args) -> Result<(), Fatal> {
    let mut out = std::io::stdout().lock();
    let queue = thoonk.queue(&args.queue)?;
    let item = match args.item.as_deref() {
        None | Some("-") => {
            let mut buf = Vec::new();
            std::io::stdin().read_to_end(&mut buf)?;
            buf
        }
        Some(text) => text.as_bytes().to_vec(),
    };
    let id = args.id.unwrap_or_else(thoonk::new_id);
    let mut options = Publish::new().priority(args.priority).id(&id);
    if let Some(delay) = args.delay {
        options = options.delay(delay);
    }
    if let Some(window) = args.unique_for {
        options = options.unique_for(window);
    }
    if let Some(n) = args.replicas {
        options = options.replicas(n, args.replicas_timeout);
    }
    if !args.wait {
        match queue.publish(item, options).await {
            Ok(_) => {}
            // Queued all the same: a script needs its id.
            Err(e @ Error::NotReplicated { .. }) => {
                writeln!(out, "{id}")?;
                return Err(e.into());
            }
            Err(e) => return Err(e.into()),
        }
        writeln!(out, "{id}")?;
        return Ok(());
    }
    // Printed before the wait, so a person sees which job it is.
    writeln!(out, "{id}")?;
    out.flush()?;
    let result = queue.publish_and_wait(item, options, args.timeout).await?;
    if let Some(result) = result {
        out.write_all(&result)?;
        writeln!(out)?;
    }
    Ok(())
}
