//! Typed jobs: payloads that are `serde` types, stored as JSON as v1 stores
//! `JSON.stringify(item)`.

use crate::{Claimed, Error, Job, Publish, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;
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
            Ok(item) => Ok(Some(Claimed {
                id: job.id,
                item,
                cancelled: job.cancelled,
                token: job.token,
            })),
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
