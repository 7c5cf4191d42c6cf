//! `thoonk resume`: let claims of a paused queue go on.

use crate::exit::Fatal;
use thoonk::Thoonk;

/// Let claims of a paused queue go on (waiting workers claim at once).
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The queue.
    queue: String,
}

pub(crate) async fn run(thoonk: &Thoonk, args: Args) -> Result<(), Fatal> {
    Ok(thoonk.queue(&args.queue)?.resume().await?)
}
