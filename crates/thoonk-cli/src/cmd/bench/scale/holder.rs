//! A worker that claims `HOLDS` jobs and holds them, its handlers never
//! done: alive, it is what `workers` counts and what `extend` renews; killed,
//! it is a dead worker whose jobs a recovery pass takes back.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use thoonk::{Failure, Job, Queue, Report, Worker};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How many jobs a holding worker holds: a worker's heartbeat extends as
/// many leases as it runs handlers.
pub(super) const HOLDS: usize = 50;

/// A running worker holding `HOLDS` jobs.
pub(super) struct Holder {
    /// Its id (its claims' tokens end in `@id`).
    pub(super) id: String,
    /// Each held job's id and claim token, as its handler received them.
    pub(super) jobs: Vec<(String, String)>,
    /// Ends the worker gracefully: it releases what it holds.
    stop: oneshot::Sender<()>,
    task: JoinHandle<thoonk::Result<Report>>,
}

impl Holder {
    /// Starts a worker on `queue` and waits until it holds `HOLDS` jobs.
    pub(super) async fn start(queue: &Queue) -> Result<Holder, String> {
        let seen: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let worker = Worker::new(queue.clone())
            .concurrency(HOLDS)
            // At the end, release at once: the queue is deleted next.
            .grace(Duration::ZERO);
        let id = worker.id().to_string();
        let handler = {
            let seen = seen.clone();
            move |job: Job| {
                seen.lock().unwrap().push((job.id, job.token));
                std::future::pending::<Result<(), Failure>>()
            }
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(worker.run(handler, async {
            let _ = stopped.await;
        }));
        let deadline = Instant::now() + Duration::from_secs(30);
        while seen.lock().unwrap().len() < HOLDS {
            if task.is_finished() || Instant::now() > deadline {
                task.abort();
                return Err(format!(
                    "a worker on queue {} did not claim {HOLDS} jobs within 30 s",
                    queue.name()
                ));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let jobs = seen.lock().unwrap().clone();
        Ok(Holder {
            id,
            jobs,
            stop,
            task,
        })
    }

    /// Stops the worker as a user would: it releases its jobs and its mark.
    pub(super) async fn stop(self) -> Result<(), String> {
        let _ = self.stop.send(());
        self.task
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        Ok(())
    }

    /// Kills the worker as a crash would: its claims and liveness mark stay
    /// behind. Returns once its mark ran out (a few seconds), when the next
    /// recovery pass takes its jobs back.
    pub(super) async fn kill(self, queue: &Queue) -> Result<(), String> {
        self.task.abort();
        // Awaited: once it returns, nothing of the worker runs any more.
        let _ = self.task.await;
        // `workers` leaves a worker out once its mark ran out by the
        // server's clock, the one that decides.
        loop {
            let workers = queue.workers().await.map_err(|e| e.to_string())?;
            if !workers.iter().any(|w| w.id == self.id) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
