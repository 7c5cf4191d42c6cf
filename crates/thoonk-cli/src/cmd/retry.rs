//! `thoonk retry`: put a stalled job back in its queue.

use crate::exit::Fatal;
use thoonk::Thoonk;

/// Put a stalled job back in the queue.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The queue.
    queue: String,
    /// The job id.
    id: String,
}

pub(crate) async fn run(thoonk: &Thoonk, args: Args) -> Result<(), Fatal> {
    Ok(thoonk.queue(&args.queue)?.retry(&args.id).await?)
}
