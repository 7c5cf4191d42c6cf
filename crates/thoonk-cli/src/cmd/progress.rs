//! `thoonk progress`: a claimed job reports how far it got.

use crate::args::job_ref;
use crate::exit::Fatal;
use thoonk::Thoonk;

/// Report a claimed job's progress: shown with the job while it stays
/// claimed (`list claimed`, the dashboard) and sent as a `progress` event.
///
/// Inside `thoonk work`, the command's own job needs no --token: it is
/// read from THOONK_JOB_TOKEN when QUEUE and ID are THOONK_QUEUE and
/// THOONK_JOB_ID.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The queue.
    queue: String,
    /// The job id.
    id: String,
    /// The progress, as JSON (`50`, `{"done":3,"of":10}`); text that is not
    /// JSON is taken as a JSON string.
    value: String,
    /// The claim token (from `get`, or THOONK_JOB_TOKEN): refused once the
    /// claim was taken back. Without one the job need only be claimed.
    #[arg(long)]
    token: Option<String>,
}

pub(crate) async fn run(thoonk: &Thoonk, args: Args) -> Result<(), Fatal> {
    let queue = thoonk.queue(&args.queue)?;
    let value = serde_json::from_str(&args.value)
        .unwrap_or_else(|_| serde_json::Value::String(args.value.clone()));
    let token = args.token.or_else(|| own_token(&args.queue, &args.id));
    queue
        .progress(job_ref(&args.id, token.as_deref()), value)
        .await?;
    Ok(())
}

/// The token `thoonk work` gave its command, when the job is that one.
fn own_token(queue: &str, id: &str) -> Option<String> {
    let var = |name| std::env::var(name).ok();
    (var("THOONK_QUEUE")?.as_str() == queue && var("THOONK_JOB_ID")?.as_str() == id)
        .then(|| var("THOONK_JOB_TOKEN"))
        .flatten()
}
