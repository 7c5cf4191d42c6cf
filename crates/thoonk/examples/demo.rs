//! The demo: a publisher and a worker doing real jobs.
//!
//! `cargo run --example demo` uses `$THOONK_REDIS_URL` when set, else the
//! Redis on 127.0.0.1:6379 when one answers there, else it starts a private
//! `redis-server` of its own (and stops it at the end).

use std::time::Duration;
use thoonk::{Publish, Queue, Thoonk};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _redis = thoonk_testkit::redis_unless_configured(); // no Redis? a private one
    let thoonk = Thoonk::connect_from_env().await?;
    // A queue of our own, so a shared Redis's data is never touched.
    let queue = format!("demo-{}", thoonk::new_id());
    let jobs = thoonk.queue(&queue)?;
    println!("queue {queue} on {}", thoonk.url());

    let worker = tokio::spawn(work(jobs.clone()));

    let sentences = [
        "the quick brown fox",
        "jumps over the lazy dog",
        "thoonk never loses a job",
        "a job is in exactly one state",
        "every change is an event",
    ];
    // Publish them all at once; each waits for its own result.
    let waits = sentences.iter().map(|s| {
        let jobs = jobs.clone();
        async move {
            let result = jobs
                .publish_and_wait(*s, Publish::new(), Duration::from_secs(10))
                .await?;
            Ok::<_, thoonk::Error>((s, result))
        }
    });
    for outcome in futures_util::future::join_all(waits).await {
        let (sentence, result) = outcome?;
        let result = String::from_utf8_lossy(result.as_deref().unwrap_or_default()).into_owned();
        println!("publisher: {sentence:?} -> {result}");
    }
    worker.abort();

    let stats = jobs.stats().await?;
    println!(
        "stats: {} published, {} finished, {} left",
        stats.publishes,
        stats.finishes,
        stats.available + stats.claimed + stats.stalled
    );
    // Our queue's counters are all that is left of it; remove them.
    jobs.destroy().await?;
    Ok(())
}

/// The worker: claims jobs one by one, and finishes each with a result.
async fn work(jobs: Queue) -> thoonk::Result<()> {
    loop {
        let Some(job) = jobs.get(Duration::ZERO).await? else {
            continue;
        };
        let text = String::from_utf8_lossy(&job.item);
        let result = format!(
            "{} ({} words)",
            text.to_uppercase(),
            text.split_whitespace().count()
        );
        println!(
            "worker:    claimed {} (token {}), finishing",
            job.id, job.token
        );
        jobs.finish_with(&job, result).await?;
    }
}
