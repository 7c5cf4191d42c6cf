//! A worker that gives each render 2 s, stopped once both are done (or by
//! Ctrl-C): one scene is rendered in time; the other would take an hour, so
//! its handler is told to stop and its job is cancelled, to come back after
//! the backoff.
use std::time::Duration;
use thoonk::{Backoff, ConfigChange, EventKind, Failure, Job, Publish, Thoonk, Worker};

#[tokio::main]
async fn main() -> thoonk::Result<()> {
    let _redis = thoonk_testkit::redis_unless_configured(); // no Redis? a private one
    let thoonk = Thoonk::connect_from_env().await?;
    let render = thoonk.queue("render")?;
    // Every worker of the queue holds its jobs to 2 minutes at most.
    let two_minutes = Some(Duration::from_secs(120));
    render
        .configure(ConfigChange::new().timeout(two_minutes))
        .await?;
    let mut outcomes = render
        .subscribe_to(&[EventKind::Finish, EventKind::Cancel])
        .await?;
    render.publish("small", Publish::new()).await?;
    render.publish("huge", Publish::new().id("huge")).await?;

    let report = Worker::new(render.clone())
        .timeout(Duration::from_secs(2)) // this one: 2 s, the shorter applies
        .grace(Duration::from_secs(10)) // then 10 s to stop, or it is dropped
        .backoff(Backoff {
            base: Duration::from_secs(60),
            max: Duration::from_secs(300),
        })
        .run(
            |job: Job| async move {
                tokio::select! {
                    frames = render_scene(&job.item) => Ok(frames),
                    // Clean up here; the job is cancelled all the same.
                    () = job.timed_out() => Err(Failure::transient("stopped")),
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
    let huge = render
        .detail("huge")
        .await?
        .expect("delayed by the backoff");
    println!(
        "{} finished, {} failed: {}",
        report.finished,
        report.failed,
        huge.reason.unwrap_or_default()
    );
    render.destroy().await?; // a demo: leave nothing behind
    Ok(())
}

/// Stands for the real work: a huge scene takes an hour.
async fn render_scene(scene: &[u8]) -> String {
    if scene == b"huge" {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    format!("rendered {}", String::from_utf8_lossy(scene))
}
