//! `thoonk cancel`: give a claimed job back to its queue, one cancel more.

use crate::args::Claim;
use crate::exit::Fatal;
use std::io::Write;
use thoonk::{State, Thoonk};

/// Cancel a claimed job: back to the queue, its cancel count grows.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    claim: Claim,
}

pub(crate) async fn run(thoonk: &Thoonk, args: Args) -> Result<(), Fatal> {
    let claim = &args.claim;
    let went = thoonk.queue(&claim.queue)?.cancel(claim.job_ref()).await?;
    if went == State::Stalled {
        writeln!(
            std::io::stdout().lock(),
            "stalled: job {} was cancelled more than the queue's max_cancels",
            claim.id
        )?;
    }
    Ok(())
}
