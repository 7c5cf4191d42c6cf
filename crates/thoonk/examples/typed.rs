//! Typed jobs: a `serde` value in, a `serde` value out, both as JSON.
use serde::{Deserialize, Serialize};
use std::time::Duration;
use thoonk::{Job, Publish, Thoonk, Worker};

#[derive(Serialize, Deserialize)]
struct Email {
    to: String,
}

#[derive(Serialize, Deserialize, Debug)]
struct Sent {
    to: String,
    tries: u64,
}

#[tokio::main]
async fn main() -> thoonk::Result<()> {
    let _redis = thoonk_testkit::redis_unless_configured(); // no Redis? a private one
    let mail = Thoonk::connect_from_env().await?.queue("typed-mail")?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(Worker::new(mail.clone()).run_json(
        // The payload comes decoded; what the handler returns is the result, as JSON.
        |job: Job<Email>| async move {
            Ok(Sent {
                to: job.item.to,
                tries: job.retries + 1,
            })
        },
        async {
            stopped.await.ok();
        },
    ));

    let email = Email {
        to: "ann@example.com".into(),
    };
    let sent: Sent = mail
        .publish_json_and_wait(&email, Publish::new(), Duration::from_secs(5))
        .await?;
    println!("{sent:?}");

    stop.send(()).ok();
    worker.await.expect("the worker task")?;
    Ok(())
}
