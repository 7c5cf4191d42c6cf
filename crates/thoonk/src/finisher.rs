//! Group commit of finishes: a worker's handlers hand their results to one
//! task, which sends whatever has gathered in one `finish_many` call.
//!
//! While a call is in flight the next batch gathers, so under load one call
//! carries many finishes (one round trip and one script run instead of
//! many), and at low load a finish waits for nothing.

use crate::{Error, Job, JobRef, Result};
use tokio::sync::{mpsc, oneshot};

/// Most finishes in one call: enough to amortise a round trip, few enough
/// that one script run stays short.
const MAX_BATCH: usize = 256;

struct Finish {
    id: String,
    token: String,
    result: Vec<u8>,
    done: oneshot::Sender<Result<()>>,
}

/// Sends finishes to the batching task; the task ends when this is dropped.
#[derive(Debug, Clone)]
pub(crate) struct Finisher {
    finishes: mpsc::UnboundedSender<Finish>,
}

impl std::fmt::Debug for Finish {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Finish").field("id", &self.id).finish()
    }
}

impl Finisher {
    pub(crate) fn start(job: Job) -> Finisher {
        let (finishes, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(job, rx));
        Finisher { finishes }
    }

    /// Finishes one job with its result, in the next batch.
    pub(crate) async fn finish(&self, id: &str, token: &str, result: Vec<u8>) -> Result<()> {
        let (done, outcome) = oneshot::channel();
        let finish = Finish {
            id: id.to_string(),
            token: token.to_string(),
            result,
            done,
        };
        self.finishes.send(finish).map_err(|_| gone())?;
        outcome.await.map_err(|_| gone())?
    }
}

async fn run(job: Job, mut rx: mpsc::UnboundedReceiver<Finish>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let jobs: Vec<(JobRef<'_>, Option<&[u8]>)> = batch
            .iter()
            .map(|f| (JobRef::fenced(&f.id, &f.token), Some(f.result.as_slice())))
            .collect();
        match job.finish_many(&jobs).await {
            Ok(outcomes) => {
                drop(jobs);
                for (finish, outcome) in batch.drain(..).zip(outcomes) {
                    let _ = finish.done.send(outcome);
                }
            }
            Err(e) => {
                // The whole call failed (connection lost, …): each caller
                // learns it and may try again.
                drop(jobs);
                for finish in batch.drain(..) {
                    let _ = finish.done.send(Err(Error::Redis(redis::RedisError::from((
                        e_kind(&e),
                        "a batch of finishes failed",
                        e.to_string(),
                    )))));
                }
            }
        }
    }
}

fn e_kind(e: &Error) -> redis::ErrorKind {
    match e {
        Error::Redis(r) => r.kind(),
        _ => redis::ErrorKind::Io,
    }
}

fn gone() -> Error {
    Error::Redis(redis::RedisError::from((
        redis::ErrorKind::Io,
        "the finishing task has stopped",
    )))
}
