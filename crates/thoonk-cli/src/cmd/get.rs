//! `thoonk get`: claim one job and print it as a JSON line.

use crate::args::seconds;
use crate::exit::{Exit, Fatal};
use serde_json::json;
use std::io::Write;
use std::time::Duration;
use thoonk::{Job, Thoonk};

/// Claim one job; prints {"id","item","cancelled","token"} as one JSON line.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The queue.
    queue: String,
    /// Give up after SECS (0: wait forever).
    #[arg(long, value_name = "SECS", default_value = "0", value_parser = seconds)]
    timeout: Duration,
}

pub(crate) async fn run(thoonk: &Thoonk, args: Args) -> Result<(), Fatal> {
    let Args { queue, timeout } = args;
    let Some(Job {
        id,
        item,
        retries,
        token,
        ..
    }) = thoonk.queue(&queue)?.get(timeout).await?
    else {
        return Err(Fatal(
            Exit::Timeout,
            format!("no job was available in queue {queue} within {timeout:?}"),
        ));
    };
    let line = json!({
        "id": id,
        "item": String::from_utf8_lossy(&item),
        // The queue's word for it, as `thoonk cancel` and v1 say.
        "cancelled": retries,
        "token": token,
    });
    writeln!(std::io::stdout().lock(), "{line}")?;
    Ok(())
}
