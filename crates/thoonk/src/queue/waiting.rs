//! Waiting: for work to claim (`get`), and for a job's result
//! (`publish_and_wait`).

use crate::limits;
use crate::names::{check_id, new_id};
use crate::pubsub::{Listener, Notice};
use crate::{scripts, Error, Job, Publish, Queue, Result};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// Waits for a queue to have work: a job available, or a delayed job due.
///
/// Waiting takes nothing from the queue (see [`crate::Thoonk::wait_for_list`]),
/// so a waiter that dies loses nothing. It also listens for jobs that are
/// delayed while it waits, so one due sooner than it planned to wake
/// wakes it on time.
#[derive(Debug)]
pub(crate) struct Waiter {
    queue: Queue,
    /// Jobs delayed, and changes of the queue's settings (flow control).
    notices: Listener,
}

impl Queue {
    pub(crate) async fn waiter(&self) -> Result<Waiter> {
        Ok(Waiter {
            queue: self.clone(),
            notices: self
                .thoonk
                .subscribe(vec![
                    self.keys.channel("delay"),
                    self.keys.channel("config"),
                ])
                .await
                .map_err(self.at("subscribe to delay and config events"))?,
        })
    }

    /// When the queue's first delayed job falls due, if it has one (the
    /// server's clock decides: it says in how long).
    pub(crate) async fn first_due(&self) -> Result<Option<Instant>> {
        let in_ms: i64 = scripts::DUE
            .key(&self.keys.delayed)
            .invoke_async(&mut self.thoonk.connection())
            .await
            .map_err(self.at("read the first due time"))?;
        Ok(due_in(in_ms))
    }

    /// Claims one job, waiting up to `timeout` for one (zero: as long as it
    /// takes). `None` when the time passed with nothing to claim.
    pub async fn get(&self, timeout: Duration) -> Result<Option<Job>> {
        limits::at_most("timeout", timeout, limits::MAX_WAIT)
            .map_err(|refused| refused.on("claim", self.name()))?;
        let deadline = (!timeout.is_zero()).then(|| Instant::now() + timeout);
        // Listen before the first claim, so a job delayed in between is seen.
        let mut waiter = self.waiter().await?;
        loop {
            let mut claimed = self.claim_for(1, None).await?;
            if let Some(job) = claimed.jobs.pop() {
                return Ok(Some(job));
            }
            if deadline.is_some_and(|d| d <= Instant::now()) {
                return Ok(None);
            }
            // Another worker may take what woke us: then wait again.
            match claimed.hold {
                Some(until) => waiter.held(earliest(deadline, Some(until))).await?,
                None => waiter.wait(deadline, claimed.next_due).await?,
            }
        }
    }

    /// Publishes a job and waits until it finishes, returning its result
    /// (`None` when it finished without one): the Rust form of v1's
    /// `onFinish`. Waits up to `timeout` (zero: as long as it takes),
    /// publishing included: it never takes longer, whether Redis answers
    /// or not.
    ///
    /// Ends early with [`Error::Stalled`] (and the reason) when the job is
    /// stalled instead, or [`Error::Retracted`] when it is retracted. The
    /// result is also kept in Redis for a while, so it is not missed if the
    /// event connection drops and comes back while the job runs.
    pub async fn publish_and_wait(
        &self,
        item: impl AsRef<[u8]>,
        options: Publish,
        timeout: Duration,
    ) -> Result<Option<Vec<u8>>> {
        let id = options.id.clone().unwrap_or_else(new_id);
        check_id(self.name(), &id)?;
        limits::at_most("timeout", timeout, limits::MAX_WAIT)
            .map_err(|refused| refused.on("publish and wait", self.name()))?;
        let keep = if timeout.is_zero() {
            Duration::from_secs(24 * 3600)
        } else {
            (timeout + Duration::from_secs(60)).min(limits::MAX_DELAY)
        };
        let keep_result = options.keep_result.unwrap_or(keep);
        let options = options.id(&id).keep_result(keep_result);
        let published = AtomicBool::new(false);
        let outcome = self.publish_then_wait(item.as_ref(), options, &id, &published);
        let result = if timeout.is_zero() {
            outcome.await?
        } else {
            tokio::time::timeout(timeout, outcome)
                .await
                .map_err(|_| Error::WaitTimeout {
                    queue: self.name().to_string(),
                    id: id.clone(),
                    timeout,
                    published: published.load(Ordering::Relaxed),
                })??
        };
        self.forget_wait(&id).await;
        Ok(result)
    }

    /// The result is home: its mark and its kept copy can go (a v1 worker's
    /// finish leaves the mark, which knows nothing of it). At worst, when
    /// this fails, the kept result expires and a recovery pass sweeps the
    /// mark.
    async fn forget_wait(&self, id: &str) {
        let forgot: redis::RedisResult<()> = redis::pipe()
            .hdel(&self.keys.awaited, id)
            .ignore()
            .del(self.keys.result(id))
            .ignore()
            .query_async(&mut self.thoonk.connection())
            .await;
        if let Err(e) = forgot {
            tracing::debug!(queue = self.name(), id, "forgetting a wait failed: {e}");
        }
    }

    /// Listens, publishes job `id`, notes that it is `published`, then
    /// waits for its end.
    async fn publish_then_wait(
        &self,
        item: &[u8],
        options: Publish,
        id: &str,
        published: &AtomicBool,
    ) -> Result<Option<Vec<u8>>> {
        let [finish, retract, stall] = ["finish", "retract", "stall"].map(|v| self.keys.channel(v));
        // Listen before publishing, so a quick end is not missed.
        let mut listener = self
            .thoonk
            .subscribe(vec![finish.clone(), retract.clone(), stall])
            .await
            .map_err(self.at_job("subscribe to its events", id))?;
        self.publish(item, options).await?;
        published.store(true, Ordering::Relaxed);
        loop {
            match listener.recv().await {
                Some(Notice::Message { channel, payload }) if channel == finish => {
                    if let Some(result) = finish_result(&payload, id) {
                        return Ok(result);
                    }
                }
                Some(Notice::Message { channel, payload }) if payload == id.as_bytes() => {
                    return Err(if channel == retract {
                        self.retracted(id)
                    } else {
                        self.stalled(id).await
                    });
                }
                Some(Notice::Message { .. }) => {}
                Some(Notice::Resubscribed) => {
                    // Messages may have been lost: read what is kept.
                    if let Some(result) = self.after_gap(id).await? {
                        return Ok(result);
                    }
                }
                None => {
                    return Err(Error::Stopped {
                        what: "the event subscription",
                    })
                }
            }
        }
    }

    fn retracted(&self, id: &str) -> Error {
        Error::Retracted {
            queue: self.name().to_string(),
            id: id.to_string(),
        }
    }

    /// The error for job `id`, stalled, with the reason it was stalled
    /// for (if it can be read).
    async fn stalled(&self, id: &str) -> Error {
        let reason: Option<String> = redis::cmd("HGET")
            .arg(&self.keys.reasons)
            .arg(id)
            .query_async(&mut self.thoonk.connection())
            .await
            .unwrap_or_default();
        Error::Stalled {
            queue: self.name().to_string(),
            id: id.to_string(),
            reason,
        }
    }

    /// After events may have been lost: the outcome of job `id` if it is
    /// over (its kept result, or `Retracted` or `Stalled`), `None` while it
    /// is still on its way.
    async fn after_gap(&self, id: &str) -> Result<Option<Option<Vec<u8>>>> {
        let (exists, stalled, kept): (bool, bool, Option<Vec<u8>>) = scripts::OUTCOME
            .key(&self.keys.items)
            .key(&self.keys.stalled)
            .key(self.keys.result(id))
            .arg(id)
            .invoke_async(&mut self.thoonk.connection())
            .await
            .map_err(self.at_job("read a job's outcome", id))?;
        match (exists, stalled, kept) {
            (true, true, _) => Err(self.stalled(id).await),
            (true, false, _) => Ok(None),
            (false, _, Some(kept)) => Ok(Some(decode_kept(kept))),
            (false, _, None) => Err(self.retracted(id)),
        }
    }

    /// The kept result of a finished job: `Some(None)` when it finished
    /// without a result, `None` when nothing is kept (not finished, not
    /// published with `keep_result`, or expired).
    pub async fn kept_result(&self, id: &str) -> Result<Option<Option<Vec<u8>>>> {
        check_id(self.name(), id)?;
        let kept: Option<Vec<u8>> = redis::cmd("GET")
            .arg(self.keys.result(id))
            .query_async(&mut self.thoonk.connection())
            .await
            .map_err(self.at_job("read a kept result", id))?;
        Ok(kept.map(decode_kept))
    }
}

impl Waiter {
    /// Returns when there may be work: the queue has an available job, a
    /// delayed job is due (`next_due`, as the last claim said, or one
    /// delayed since), or `deadline` passed.
    pub(crate) async fn wait(
        &mut self,
        deadline: Option<Instant>,
        next_due: Option<Instant>,
    ) -> Result<()> {
        let thoonk = &self.queue.thoonk;
        let wake = earliest(deadline, next_due);
        let blmove = thoonk.wait_for_list(&self.queue.keys.ids, block_until(wake));
        tokio::pin!(blmove);
        loop {
            tokio::select! {
                r = &mut blmove => return r.map(drop),
                notice = self.notices.recv() => {
                    // A job was delayed (or our subscription came back):
                    // if something is now due before we meant to wake, stop
                    // waiting. The blocked command is dropped with its
                    // connection; that is rare and cheap.
                    if notice.is_none() {
                        return Ok(());
                    }
                    if let Some(due) = self.queue.first_due().await? {
                        if wake.is_none_or(|w| due < w) {
                            return Ok(());
                        }
                    }
                }
            }
        }
    }
}

impl Waiter {
    /// Returns when flow control may let a claim through: at `until`, or
    /// sooner when the queue's settings change (a resume, a limit
    /// raised). No wait on the list: it may well have work.
    pub(crate) async fn held(&mut self, until: Option<Instant>) -> Result<()> {
        let config = self.queue.keys.channel("config");
        let until = until.unwrap_or_else(Instant::now);
        held_until(&mut self.notices, &config, until, &mut true).await;
        Ok(())
    }
}

/// Waits out a hold of flow control: returns at `until`, or sooner when
/// `notices` tells of a change of the queue's settings (a message on its
/// `config` channel), may have missed one (the subscription came back),
/// or ends (then `listening` turns false, and the caller no longer
/// listens).
pub(crate) async fn held_until(
    notices: &mut Listener,
    config: &str,
    until: Instant,
    listening: &mut bool,
) {
    let sleep = tokio::time::sleep_until(until);
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            _ = &mut sleep => return,
            notice = notices.recv(), if *listening => match notice {
                Some(Notice::Message { channel, .. }) if channel != config => {}
                None => {
                    *listening = false;
                    return;
                }
                Some(_) => return,
            },
        }
    }
}

/// When a delayed job falls due, from the server's answer of in how many
/// ms (negative: none is delayed): the server's clock decides, this
/// process only counts from now.
pub(crate) fn due_in(ms: i64) -> Option<Instant> {
    u64::try_from(ms)
        .ok()
        .map(|ms| Instant::now() + Duration::from_millis(ms))
}

/// The sooner of two wake-up times, either of which may be unset.
pub(crate) fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// How long a blocking wait that should end at `wake` blocks (zero: no
/// limit). A zero block would mean "forever", so it is at least a
/// millisecond.
pub(crate) fn block_until(wake: Option<Instant>) -> Duration {
    wake.map_or(Duration::ZERO, |w| {
        w.saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    })
}

/// A kept result as `finish.lua` stores it: '1' + result, or '0' for none.
fn decode_kept(mut kept: Vec<u8>) -> Option<Vec<u8>> {
    match kept.first() {
        Some(b'1') => Some(kept.split_off(1)),
        _ => None,
    }
}

/// The result in a v1 finish payload (`id` or `id NUL result`), if the
/// payload is about job `id`.
pub(crate) fn finish_result(payload: &[u8], id: &str) -> Option<Option<Vec<u8>>> {
    let rest = payload.strip_prefix(id.as_bytes())?;
    match rest.split_first() {
        None => Some(None),
        Some((0, result)) => Some(Some(result.to_vec())),
        Some(_) => None, // another job whose id starts with ours
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finish_payloads_as_v1() {
        assert_eq!(finish_result(b"abc", "abc"), Some(None));
        assert_eq!(finish_result(b"abc\0ok", "abc"), Some(Some(b"ok".to_vec())));
        assert_eq!(finish_result(b"abc\0", "abc"), Some(Some(Vec::new())));
        assert_eq!(finish_result(b"abcd", "abc"), None);
        assert_eq!(finish_result(b"xyz", "abc"), None);
    }
}
