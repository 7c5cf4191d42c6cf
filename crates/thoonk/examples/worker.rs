//! A worker with its settings, stopped once its two jobs are done (or by
//! Ctrl-C): one job finishes, one payload that is not text is stalled for
//! good.
use std::time::Duration;
use thoonk::{Backoff, EventKind, Failure, Job, Publish, Thoonk, Worker};

#[tokio::main]
async fn main() -> thoonk::Result<()> {
    let _redis = thoonk_testkit::redis_unless_configured(); // no Redis? a private one
    let thoonk = Thoonk::connect_from_env().await?;
    let resize = thoonk.queue("resize")?;
    let mut outcomes = resize
        .subscribe_to(&[EventKind::Finish, EventKind::Stall])
        .await?;
    resize.publish("/tmp/cat.png", Publish::new()).await?;
    resize.publish(vec![0xff_u8], Publish::new()).await?; // not UTF-8

    let report = Worker::new(resize.clone())
        .concurrency(50)
        .backoff(Backoff {
            base: Duration::from_secs(1),
            max: Duration::from_secs(300),
        })
        .grace(Duration::from_secs(10))
        .run(
            |job: Job| async move {
                match std::str::from_utf8(&job.item) {
                    Ok(path) => Ok(format!("resized {path}")), // finished, with a result
                    Err(e) => Err(Failure::permanent(e)), // stalled: running it again won't help
                }
            },
            async move {
                let both_done = async {
                    for _ in 0..2 {
                        outcomes.next().await;
                    }
                };
                tokio::select! {
                    () = both_done => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }, // shutdown: both jobs done, or Ctrl-C
        )
        .await?;
    println!("{} finished, {} stalled", report.finished, report.stalled);
    resize.destroy().await?; // a demo: leave nothing behind
    Ok(())
}
