//! Flow control: limits that every worker of the queue obeys, and a pause.
use thoonk::{ConfigChange, Publish, Thoonk};

#[tokio::main]
async fn main() -> thoonk::Result<()> {
    let _redis = thoonk_testkit::redis_unless_configured(); // no Redis? a private one
    let api = Thoonk::connect_from_env().await?.queue("flow-api")?;
    // At most 5 claims in any second and 2 jobs at once, across all workers.
    let config = api
        .configure(
            ConfigChange::new()
                .rate(Some("5/s".parse().expect("a rate")))
                .max_running(Some(2)),
        )
        .await?;
    println!("rate {:?}", config.rate.map(|r| r.to_string()));
    for n in 0..3 {
        api.publish(format!("call {n}"), Publish::new()).await?;
    }
    let running = api.claim(10).await?;
    println!("claimed {} of 3", running.len());

    api.pause().await?;
    for job in &running {
        api.finish(job).await?;
    }
    println!("paused: claimed {}", api.claim(10).await?.len());
    api.resume().await?;
    println!("resumed: claimed {}", api.claim(10).await?.len());
    api.destroy().await
}
