//! Progress: a claimed job reports how far it got (`Queue::progress`),
//! kept while its claim lasts and sent as a `progress` event.

use super::{JobRef, Once, Queue};
use crate::names::check_id;
use crate::{limits, scripts, Error, Result, State};

/// The most bytes a progress report may take, as JSON text: progress is
/// a figure for people and dashboards, not a second payload.
pub const MAX_PROGRESS_BYTES: usize = 65_536;

impl Queue {
    /// Reports a claimed job's progress: any JSON value (a percentage, a
    /// `{"done": 3, "of": 10}`). It replaces the one reported before, is
    /// shown with the job while it stays claimed (`list claimed`, the
    /// dashboard), goes when the claim ends, and is sent as a `progress`
    /// event. From `&job` it is fenced: refused once the claim was taken
    /// back ([`Error::StaleClaim`]); from an id alone the job need only be
    /// claimed.
    ///
    /// ```no_run
    /// # async fn run(queue: thoonk::Queue, job: thoonk::Job) -> thoonk::Result<()> {
    /// queue.progress(&job, serde_json::json!({"done": 3, "of": 10})).await?;
    /// # Ok(()) }
    /// ```
    pub async fn progress<'a>(
        &self,
        job: impl Into<JobRef<'a>>,
        value: impl serde::Serialize,
    ) -> Result<()> {
        let job = job.into();
        check_id(self.name(), job.id)?;
        let json = serde_json::to_string(&value).map_err(|e| Error::Encode {
            queue: self.name().to_string(),
            source: e,
        })?;
        limits::count_at_most(
            "progress bytes",
            json.len() as u64,
            MAX_PROGRESS_BYTES as u64,
        )
        .map_err(|refused| refused.on("progress", self.name()))?;
        let k = &self.keys;
        let reply = scripts::PROGRESS
            .key(&k.claimed)
            .key(&k.items)
            .key(&k.stalled)
            .key(&k.delayed)
            .key(&k.tokens)
            .key(&k.progress)
            .arg(job.id)
            .arg(job.token.unwrap_or(""))
            .arg(json)
            .arg(k.channel("progress"))
            .once(self)
            .invoke_async(&mut self.thoonk.connection())
            .await
            .map_err(self.at_job("progress", job.id))?;
        self.check(reply, "progress", job, State::Claimed).map(drop)
    }
}
