//! A worker and a publisher in one program: the worker upper-cases each
//! job's payload, the publisher waits for the result.
use std::time::Duration;
use thoonk::{Failure, Job, Publish, Thoonk, Worker};

#[tokio::main]
async fn main() -> thoonk::Result<()> {
    let _redis = thoonk_testkit::redis_unless_configured(); // no Redis? a private one
    let thoonk = Thoonk::connect_from_env().await?; // $THOONK_REDIS_URL, else redis://127.0.0.1:6379
    let queue = thoonk.queue("quickstart")?;

    // A worker (in this process or any other): up to 10 jobs at a time.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(Worker::new(queue.clone()).concurrency(10).run(
        |job: Job| async move {
            let text = String::from_utf8_lossy(&job.item).to_uppercase();
            Ok::<_, Failure>(text) // finishes the job, with this result
        },
        async {
            stopped.await.ok();
        }, // the worker runs until this completes
    ));

    // A publisher: publish, and wait up to 5 s for the result.
    let result = queue
        .publish_and_wait("hello", Publish::new(), Duration::from_secs(5))
        .await?;
    println!("{}", String::from_utf8_lossy(&result.unwrap_or_default()));

    stop.send(()).ok();
    let report = worker.await.expect("the worker task")?;
    println!("finished {}", report.finished);
    Ok(())
}
