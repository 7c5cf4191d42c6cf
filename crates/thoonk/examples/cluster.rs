//! A Redis Cluster: queue names carry a `{tag}`, a worker serves queues on
//! different nodes, a publish waits for a replica.
use std::time::Duration;
use thoonk::{Failure, Job, Order, Publish, Thoonk, Worker};

#[tokio::main]
async fn main() -> thoonk::Result<()> {
    let _cluster = thoonk_testkit::cluster_unless_configured();
    // Seed nodes, as the CLI takes them: "redis://10.0.0.1:7000,redis://10.0.0.2:7000"
    let seeds =
        std::env::var("THOONK_REDIS_URL").expect("THOONK_REDIS_URL: the cluster's seed nodes");
    let seeds: Vec<&str> = seeds.split(',').collect();
    let thoonk = Thoonk::connect_cluster(&seeds).await?;
    let mail = thoonk.queue("{mail}")?;
    let sms = thoonk.queue("{sms}")?;

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = Worker::serving(vec![mail.clone(), sms.clone()], Order::Weighted(vec![5, 3]))?;
    let worker = tokio::spawn(worker.concurrency(8).run(
        |job: Job| async move { Ok::<_, Failure>(format!("{} done", job.queue)) },
        async {
            stopped.await.ok();
        },
    ));
    // Acknowledged only once a replica has it too.
    let durable = Publish::new().replicas(1, Duration::from_secs(5));
    for queue in [&mail, &sms] {
        let result = queue
            .publish_and_wait("hi", durable.clone(), Duration::from_secs(5))
            .await?;
        println!("{}", String::from_utf8_lossy(&result.unwrap_or_default()));
    }
    stop.send(()).ok();
    worker.await.expect("the worker task")?;
    Ok(())
}
