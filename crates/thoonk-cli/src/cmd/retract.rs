//! `thoonk retract`: delete a job, whatever its state.

use crate::exit::Fatal;
use thoonk::Thoonk;

/// Delete a job, in whatever state it is.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The queue.
    queue: String,
    /// The job id.
    id: String,
}

pub(crate) async fn run(thoonk: &Thoonk, args: Args) -> Result<(), Fatal> {
    Ok(thoonk.queue(&args.queue)?.retract(&args.id).await?)
}
