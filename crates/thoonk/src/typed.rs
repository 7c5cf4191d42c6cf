//! Typed jobs: payloads that are `serde` types, stored as JSON as v1 stores
//! `JSON.stringify(item)`; publishing, claiming, and a worker of them.

use crate::{Claimed, Error, Failure, Job, Publish, Report, Result, Worker};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

impl Job {
    /// Publishes `item` as JSON.
    pub async fn publish_json<T: Serialize>(&self, item: &T, options: Publish) -> Result<String> {
        let json = serde_json::to_vec(item).map_err(|source| Error::Encode {
            queue: self.name().to_string(),
            source,
        })?;
        self.publish(json, options).await
    }

    /// Claims one job as [`Job::get`] does and decodes its JSON payload.
    ///
    /// A payload that does not decode gives [`Error::Decode`], which names
    /// the job and carries the claim's token; the job stays claimed by the
    /// caller, who decides to stall or cancel it. It is never dropped.
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        timeout: Duration,
    ) -> Result<Option<Claimed<T>>> {
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

impl<T> Claimed<T> {
    /// The same claim, with its payload decoded.
    fn with_item<U>(self, item: U) -> Claimed<U> {
        Claimed {
            queue: self.queue,
            id: self.id,
            item,
            cancelled: self.cancelled,
            token: self.token,
        }
    }
}

impl Worker {
    /// [`Worker::run`] for jobs whose payloads are JSON of type `T`: the
    /// handler gets the decoded value. A payload that does not decode is
    /// stalled at once, with the decoder's complaint as the reason (retrying
    /// would not mend it), and the handler is not called.
    pub async fn run_json<T, H, Fut, R>(
        self,
        handler: H,
        shutdown: impl Future<Output = ()>,
    ) -> Result<Report>
    where
        T: DeserializeOwned + Send + 'static,
        H: Fn(Claimed<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<R, Failure>> + Send + 'static,
        R: Into<Vec<u8>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        self.run(
            move |job: Claimed| {
                let handler = handler.clone();
                async move {
                    let item: T = serde_json::from_slice(&job.item).map_err(|e| {
                        Failure::permanent(format!(
                            "payload does not decode as {}: {e}",
                            std::any::type_name::<T>()
                        ))
                    })?;
                    handler(job.with_item(item)).await
                }
            },
            shutdown,
        )
        .await
    }
}
