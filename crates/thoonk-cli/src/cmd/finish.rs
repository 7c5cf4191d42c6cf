//! `thoonk finish`: finish a claimed job, optionally with a result.

use crate::args::job_ref;
use crate::exit::Fatal;
use thoonk::Thoonk;

/// Finish a claimed job, optionally with a result.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The queue.
    queue: String,
    /// The job id.
    id: String,
    /// The result, handed to whoever waits for the job.
    result: Option<String>,
    /// The claim token from `get`: refused if the job was claimed again since.
    #[arg(long)]
    token: Option<String>,
}

pub(crate) async fn run(thoonk: &Thoonk, args: Args) -> Result<(), Fatal> {
    let queue = thoonk.queue(&args.queue)?;
    let target = job_ref(&args.id, args.token.as_deref());
    match args.result {
        Some(result) => queue.finish_with(target, result).await?,
        None => queue.finish(target).await?,
    }
    Ok(())
}
