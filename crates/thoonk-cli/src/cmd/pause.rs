//! `thoonk pause`: stop claims of a queue, by every worker.

use crate::exit::Fatal;
use thoonk::Thoonk;

/// Stop claims of a queue until `thoonk resume` (publishing goes on; jobs
/// already claimed run to their end).
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The queue.
    queue: String,
}

pub(crate) async fn run(thoonk: &Thoonk, args: Args) -> Result<(), Fatal> {
    Ok(thoonk.queue(&args.queue)?.pause().await?)
}
