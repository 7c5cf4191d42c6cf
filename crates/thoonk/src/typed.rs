//! Typed jobs: payloads that are `serde` types, stored as JSON as v1 stores
//! `JSON.stringify(item)`; publishing, claiming, and a worker of them.

use crate::{Error, Failure, Job, Json, Publish, Queue, Report, Result, Worker};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

impl Queue {
    /// Publishes `item` as JSON.
    pub async fn publish_json<T: Serialize>(&self, item: &T, options: Publish) -> Result<String> {
        let json = serde_json::to_vec(item).map_err(|source| Error::Encode {
            queue: self.name().to_string(),
            source,
        })?;
        self.publish(json, options).await
    }

    /// Publishes `item` as JSON and waits for its result, decoded from JSON
    /// as `R`: [`Queue::publish_and_wait`] for typed jobs (a typed worker,
    /// [`Worker::run_json`], finishes with its handler's value as JSON). A
    /// job finished without a result decodes as JSON `null`, so `R` may be
    /// `()` or an `Option`.
    pub async fn publish_json_and_wait<T: Serialize, R: DeserializeOwned>(
        &self,
        item: &T,
        options: Publish,
        timeout: Duration,
    ) -> Result<R> {
        let json = serde_json::to_vec(item).map_err(|source| Error::Encode {
            queue: self.name().to_string(),
            source,
        })?;
        // Named here, for the error if the result does not decode.
        let id = options.id.clone().unwrap_or_else(crate::new_id);
        let options = options.id(&id);
        let result = self.publish_and_wait(json, options, timeout).await?;
        let result = result.as_deref().unwrap_or(b"null");
        serde_json::from_slice(result).map_err(|source| Error::DecodeResult {
            queue: self.name().to_string(),
            id,
            type_name: std::any::type_name::<R>(),
            source,
        })
    }

    /// Claims one job as [`Queue::get`] does and decodes its JSON payload.
    ///
    /// A payload that does not decode gives [`Error::Decode`], which names
    /// the job and carries the claim's token; the job stays claimed by the
    /// caller, who decides to stall or cancel it. It is never dropped.
    pub async fn get_json<T: DeserializeOwned>(&self, timeout: Duration) -> Result<Option<Job<T>>> {
        let Some(job) = self.get(timeout).await? else {
            return Ok(None);
        };
        match serde_json::from_slice(&job.item) {
            Ok(item) => Ok(Some(job.with_item(item))),
            Err(source) => Err(Error::Decode {
                queue: self.name().to_string(),
                id: job.id,
                token: job.token,
                type_name: std::any::type_name::<T>(),
                source,
            }),
        }
    }
}

impl<T> Job<T> {
    /// The same claim, with its payload decoded.
    fn with_item<U>(self, item: U) -> Job<U> {
        Job {
            queue: self.queue,
            id: self.id,
            item,
            retries: self.retries,
            token: self.token,
            timeout: self.timeout,
        }
    }
}

impl Worker {
    /// [`Worker::run`] for jobs whose payloads are JSON of type `T`: the
    /// handler gets the job with its payload decoded, and the value it
    /// returns is the job's result, as JSON (`()` gives `null`). A payload
    /// that does not decode is stalled at once, with the decoder's
    /// complaint as the reason (running it again would not mend it), and
    /// the handler is not called.
    ///
    /// ```
    /// use serde::{Deserialize, Serialize};
    /// use std::time::Duration;
    /// use thoonk::{Job, Publish, Thoonk, Worker};
    ///
    /// #[derive(Serialize, Deserialize)]
    /// struct Resize { path: String, width: u32 }
    ///
    /// #[derive(Serialize, Deserialize, Debug, PartialEq)]
    /// struct Resized { path: String }
    ///
    /// # #[tokio::main] async fn main() -> thoonk::Result<()> {
    /// # let _redis = thoonk_testkit::doc_redis();
    /// let images = Thoonk::connect_from_env().await?.queue("images")?;
    /// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    /// let worker = tokio::spawn(Worker::new(images.clone()).run_json(
    ///     |job: Job<Resize>| async move {
    ///         let path = format!("{}.{}w", job.item.path, job.item.width);
    ///         Ok(Resized { path })
    ///     },
    ///     async { stopped.await.ok(); },
    /// ));
    /// let asked = Resize { path: "cat.png".into(), width: 200 };
    /// let done: Resized = images
    ///     .publish_json_and_wait(&asked, Publish::new(), Duration::from_secs(5))
    ///     .await?;
    /// assert_eq!(done, Resized { path: "cat.png.200w".into() });
    /// stop.send(()).ok();
    /// worker.await.expect("the worker task")?;
    /// # Ok(()) }
    /// ```
    pub async fn run_json<T, H, Fut, R>(
        self,
        handler: H,
        shutdown: impl Future<Output = ()>,
    ) -> Result<Report>
    where
        T: DeserializeOwned + Send + 'static,
        H: Fn(Job<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<R, Failure>> + Send + 'static,
        R: Serialize + Send + 'static,
    {
        let handler = Arc::new(handler);
        self.run(
            move |job: Job| {
                let handler = handler.clone();
                async move {
                    let item: T = serde_json::from_slice(&job.item).map_err(|e| {
                        Failure::permanent(format!(
                            "payload does not decode as {}: {e}",
                            std::any::type_name::<T>()
                        ))
                    })?;
                    handler(job.with_item(item)).await.map(Json)
                }
            },
            shutdown,
        )
        .await
    }
}
