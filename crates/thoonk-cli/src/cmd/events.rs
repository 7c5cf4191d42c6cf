//! `thoonk events`: print a queue's events as they happen, one JSON line each.

use crate::exit::Fatal;
use serde_json::json;
use std::io::Write;
use thoonk::Thoonk;

/// Print the queue's events as they happen, one JSON line each.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The queue.
    queue: String,
}

pub(crate) async fn run(thoonk: &Thoonk, args: Args) -> Result<(), Fatal> {
    let queue = args.queue;
    let mut out = std::io::stdout().lock();
    let mut events = thoonk.queue(&queue)?.subscribe().await?;
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
    Ok(())
}
