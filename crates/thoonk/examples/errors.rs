//! When something goes wrong: refusals to match on, and messages that say
//! what, where and why.
use thoonk::{Error, Publish, Thoonk};

#[tokio::main]
async fn main() -> thoonk::Result<()> {
    let _redis = thoonk_testkit::redis_unless_configured(); // no Redis? a private one
    let mail = Thoonk::connect_from_env().await?.queue("errors")?;
    mail.publish("once", Publish::new().id("welcome-ann"))
        .await?;
    match mail
        .publish("twice", Publish::new().id("welcome-ann"))
        .await
    {
        Err(Error::AlreadyExists { id, .. }) => println!("{id} is queued already"),
        Err(e) if e.is_transient() => println!("try again later: {e}"),
        other => {
            other?;
        }
    }

    let job = mail.claim(1).await?.remove(0);
    mail.stall(&job).await?;
    let err = mail.finish(job.id.as_str()).await.unwrap_err(); // by id, as v1 does
    println!("{err}");
    let err = mail.finish(&job).await.unwrap_err(); // with the claim's token
    println!("{err}");

    let err = Thoonk::connect("localhost:6379").await.unwrap_err();
    println!("{err}");
    mail.destroy().await?; // a demo: leave nothing behind
    Ok(())
}
