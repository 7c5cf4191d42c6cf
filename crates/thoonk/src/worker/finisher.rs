//! Group commit of finishes, with refills: a worker's handlers hand their
//! results to a finishing task (a worker has two per queue, each with its
//! own connection, and its jobs take turns), which sends whatever has
//! gathered in one `finish_many` call, and in the same round trip claims as
//! many new jobs as the batch freed slots for.
//!
//! While a call is in flight the next batch gathers, so under load one trip
//! carries many finishes and their replacements (one read and one write for
//! Redis instead of two per job), and at low load a finish waits for
//! nothing.

use super::state::LaneState;
use crate::queue::claim::Claimed;
use crate::queue::Finishing;
use crate::{Error, Job, JobRef, Queue, Result};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit};

/// Most finishes in one call: enough to amortise a round trip, few enough
/// that one script run stays short.
const MAX_BATCH: usize = 256;

/// How a finish handed to the finisher went.
#[derive(Debug)]
pub(crate) enum Finished {
    /// Recorded: done, or refused (the claim was taken back meanwhile), or
    /// lost for good (the finisher is gone): not to be sent again.
    Recorded(Result<()>),
    /// The call failed (connection lost, …): the job is still claimed;
    /// here is its slot back, to try again.
    Retry(Error, OwnedSemaphorePermit),
}

/// A job claimed in place of a finished one, with the finished one's slot.
#[derive(Debug)]
pub(crate) struct Refill {
    /// Which of the worker's queues it is from.
    pub(crate) lane: usize,
    /// Which of its finishers claimed it (and finishes it).
    pub(crate) finisher: usize,
    pub(crate) job: Job,
    pub(crate) slot: OwnedSemaphorePermit,
}

struct Finish {
    id: String,
    token: String,
    result: Option<Vec<u8>>,
    /// How long the handler ran: a queue that keeps its finished jobs
    /// records it.
    ran: Duration,
    slot: OwnedSemaphorePermit,
    done: oneshot::Sender<Finished>,
}

/// What a finishing task works for, and what it shares with its worker.
#[derive(Debug)]
pub(crate) struct Context {
    /// The queue.
    pub(crate) queue: Queue,
    /// Which of the worker's queues it is.
    pub(crate) lane: usize,
    /// Which of the queue's finishers it is.
    pub(crate) finisher: usize,
    /// The worker's id, for the refills it claims.
    pub(crate) id: String,
    /// What the worker knows of the queue: what it holds (refills join it
    /// when claimed), whether to claim refills, whether the queue seemed
    /// to have more work.
    pub(crate) state: Arc<LaneState>,
    /// Where refills go, with the slots of the jobs they replace.
    pub(crate) refills: mpsc::UnboundedSender<Refill>,
}

/// Sends finishes to the batching task; the task ends when every clone is
/// dropped, and then closes the refill channel.
#[derive(Debug, Clone)]
pub(crate) struct Finisher {
    finishes: mpsc::UnboundedSender<Finish>,
}

impl Finisher {
    /// Starts the task. It claims refills for the worker while `claiming`
    /// is set, and only while `more` says the queue seemed to have more
    /// work: at low load a finish costs no claim.
    pub(crate) fn start(worker: Context) -> Finisher {
        let (finishes, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(worker, rx));
        Finisher { finishes }
    }

    /// Finishes one job with its result (or none), its handler having run
    /// for `ran`, in the next batch. The slot goes with it: to the job
    /// claimed in its place, or back to the pool.
    pub(crate) async fn finish(
        &self,
        job: &Job,
        result: Option<Vec<u8>>,
        ran: Duration,
        slot: OwnedSemaphorePermit,
    ) -> Finished {
        let (done, outcome) = oneshot::channel();
        let finish = Finish {
            id: job.id.clone(),
            token: job.token.clone(),
            result,
            ran,
            slot,
            done,
        };
        if let Err(unsent) = self.finishes.send(finish) {
            return Finished::Retry(gone(), unsent.0.slot);
        }
        outcome
            .await
            .unwrap_or_else(|_| Finished::Recorded(Err(gone())))
    }
}

async fn run(worker: Context, mut rx: mpsc::UnboundedReceiver<Finish>) {
    let Context {
        queue,
        lane,
        finisher,
        id: worker,
        state,
        refills,
    } = worker;
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // (Not while flow control holds claims back: such a claim gets
        // nothing; nor on a rate-limited queue, whose full window the
        // worker's claim loop finds out.)
        let want = if state.more.load(Ordering::Relaxed)
            && state.claiming.load(Ordering::Relaxed)
            && state.held_until().is_none()
            && !state.rate_limited.load(Ordering::Relaxed)
        {
            batch.len()
        } else {
            0
        };
        let jobs: Vec<Finishing<'_>> = batch
            .iter()
            .map(|f| Finishing {
                job: JobRef::fenced(&f.id, &f.token),
                result: f.result.as_deref(),
                ran: Some(f.ran),
            })
            .collect();
        // Both go out together on the multiplexed connection.
        let (finished, claimed) = tokio::join!(queue.finish_ran(&jobs), async {
            if want == 0 {
                return Ok(Claimed::default());
            }
            queue.claim_for(want, Some(&worker)).await
        });
        drop(jobs);
        let mut spare = Vec::with_capacity(batch.len());
        match finished {
            Ok(outcomes) => {
                for (finish, outcome) in batch.drain(..).zip(outcomes) {
                    spare.push(finish.slot);
                    let _ = finish.done.send(Finished::Recorded(outcome));
                }
            }
            Err(e) => {
                for finish in batch.drain(..) {
                    let source = redis::RedisError::from((
                        redis_kind(&e),
                        "a batch of finishes failed",
                        e.to_string(),
                    ));
                    let again = queue.at_job("finish", &finish.id)(source);
                    let _ = finish.done.send(Finished::Retry(again, finish.slot));
                }
            }
        }
        match claimed {
            Ok(claimed) => {
                state.claimed(&claimed, want);
                let place = Place {
                    queue: &queue,
                    lane,
                    finisher,
                    state: &state,
                    refills: &refills,
                };
                place.refills(claimed.jobs, spare).await;
            }
            Err(e) => {
                tracing::warn!(queue = queue.name(), "claiming refills failed: {e}");
            }
        }
    }
}

/// Where a finishing task's refills go.
struct Place<'a> {
    queue: &'a Queue,
    lane: usize,
    finisher: usize,
    state: &'a LaneState,
    refills: &'a mpsc::UnboundedSender<Refill>,
}

impl Place<'_> {
    /// Hands each refill to the worker with one of the `spare` slots of
    /// the finished jobs.
    async fn refills(&self, jobs: Vec<Job>, mut spare: Vec<OwnedSemaphorePermit>) {
        let mut unplaced = Vec::new();
        for job in jobs {
            match spare.pop() {
                Some(slot) => {
                    let refill = Refill {
                        lane: self.lane,
                        finisher: self.finisher,
                        job,
                        slot,
                    };
                    if let Err(e) = self.refills.send(refill) {
                        unplaced.push(e.0.job);
                    }
                }
                None => unplaced.push(job),
            }
        }
        // Only when the finishes failed, or the worker stopped taking
        // refills: these jobs have no slot, so back they go.
        if !unplaced.is_empty() {
            self.state.give_back(self.queue, &unplaced).await;
        }
    }
}

fn redis_kind(e: &Error) -> redis::ErrorKind {
    match e {
        Error::Redis { source, .. } => source.kind(),
        _ => redis::ErrorKind::Io,
    }
}

fn gone() -> Error {
    Error::Stopped {
        what: "the finishing task",
    }
}
