//! `thoonk stall`: set a claimed job aside until it is retried.

use crate::args::Claim;
use crate::exit::Fatal;
use thoonk::Thoonk;

/// Stall a claimed job: set aside until retried.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    claim: Claim,
}

pub(crate) async fn run(thoonk: &Thoonk, args: Args) -> Result<(), Fatal> {
    let queue = thoonk.queue(&args.claim.queue)?;
    Ok(queue.stall(args.claim.job_ref()).await?)
}
