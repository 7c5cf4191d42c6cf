//! `thoonk stats`: print a queue's counts.

use crate::exit::Fatal;
use std::io::Write;
use thoonk::Thoonk;

/// Show the counts of a queue.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The queue.
    queue: String,
    /// One JSON object instead of plain lines.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(thoonk: &Thoonk, args: Args) -> Result<(), Fatal> {
    let stats = thoonk.queue(&args.queue)?.stats().await?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(
            out,
            "{}",
            serde_json::to_string(&stats).expect("plain struct")
        )?;
    } else {
        writeln!(out, "queue      {}", stats.queue)?;
        writeln!(out, "available  {}", stats.available)?;
        // The oldest available job's wait: what autoscalers act on.
        writeln!(out, "latency_ms {}", stats.latency.as_millis())?;
        writeln!(out, "claimed    {}", stats.claimed)?;
        writeln!(out, "stalled    {}", stats.stalled)?;
        writeln!(out, "delayed    {}", stats.delayed)?;
        writeln!(out, "publishes  {}", stats.publishes)?;
        writeln!(out, "finishes   {}", stats.finishes)?;
        writeln!(out, "cancels    {}", stats.cancels)?;
        writeln!(out, "stalls     {}", stats.stalls)?;
        writeln!(out, "recoveries {}", stats.recoveries)?;
        writeln!(
            out,
            "paused     {}",
            if stats.paused { "yes" } else { "no" }
        )?;
    }
    Ok(())
}
