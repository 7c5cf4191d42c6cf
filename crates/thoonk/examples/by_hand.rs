//! Everything a queue does, by hand, as the CLI does it.
use std::time::Duration;
use thoonk::{Publish, Thoonk};

#[tokio::main]
async fn main() -> thoonk::Result<()> {
    let _redis = thoonk_testkit::redis_unless_configured(); // no Redis? a private one
    let mail = Thoonk::connect_from_env().await?.queue("by-hand")?;

    let id = mail.publish("hi", Publish::new().priority(true)).await?; // its id: generated
    let job = mail.get(Duration::from_secs(1)).await?.expect("the job");
    mail.stall(&job).await?; // set aside (`&job` carries the claim's token)...
    mail.retry(&id).await?; // ...and back in the queue
    let job = mail.claim(10).await?.remove(0); // claim up to 10 at once, no waiting
    mail.cancel(&job).await?; // back to the queue, its cancel count + 1
    let job = mail.claim(1).await?.remove(0);
    println!(
        "job {} came back {} time(s)",
        job.item.escape_ascii(),
        job.retries
    );
    mail.finish_with(&job, "sent").await?;

    let stats = mail.stats().await?; // jobs in each state, and the counters
    println!(
        "{} available, {} finishes, {} cancels",
        stats.available, stats.finishes, stats.cancels
    );
    mail.destroy().await?; // a demo: leave nothing behind
    Ok(())
}
