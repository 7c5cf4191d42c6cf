//! The finished jobs a queue keeps ([`FinishedJob`]), when its settings
//! say so ([`ConfigChange::keep_finished`](super::ConfigChange::keep_finished),
//! [`keep_finished_for`](super::ConfigChange::keep_finished_for)): listed
//! newest first, a bounded page at a time, or looked up by id.

use super::inspect::{ms, text_or_bytes, unexpected};
use super::{lossy, Cursor, Queue};
use crate::limits;
use crate::names::check_id;
use crate::{scripts, Result};
use serde::{Serialize, Serializer};

/// The most bytes of a result a kept finished job holds: a longer result
/// is cut there ([`FinishedJob::result_cut`]).
pub const KEPT_RESULT_BYTES: usize = 4096;

/// A finished job the queue keeps ([`Queue::finished`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FinishedJob {
    /// The job's id.
    pub id: String,
    /// When it finished (Unix ms, the server's clock).
    pub finished_ms: u64,
    /// How long it ran, in ms: how long a worker's handler ran; for a
    /// finish outside a worker ([`Queue::finish`], `thoonk finish`), the
    /// time from its claim, or its lease's last extension, to its finish.
    pub duration_ms: u64,
    /// The worker that held it, for a job a [`Worker`](crate::Worker)
    /// claimed.
    pub worker: Option<String>,
    /// How many times it was cancelled before it finished.
    pub cancelled: u64,
    /// Its result, if it was finished with one: the first
    /// [`KEPT_RESULT_BYTES`] of it. Serialized as text when it is UTF-8,
    /// else as an array of its bytes.
    #[serde(serialize_with = "maybe_text_or_bytes")]
    pub result: Option<Vec<u8>>,
    /// Whether the result was longer than [`KEPT_RESULT_BYTES`], and cut.
    pub result_cut: bool,
}

/// One page of the finished jobs kept ([`Queue::finished_page`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishedPage {
    /// Its jobs, newest first.
    pub jobs: Vec<FinishedJob>,
    /// Where the next page starts; `None` after the last.
    pub next: Option<Cursor>,
}

impl Queue {
    /// One page of the finished jobs the queue keeps, newest first, from
    /// `from` (`None`: the first page), at most `limit` of them. Each page
    /// costs Redis the same, whatever the history's size. A queue that
    /// keeps nothing (the default) has none.
    pub async fn finished_page(&self, from: Option<&Cursor>, limit: usize) -> Result<FinishedPage> {
        limits::count_at_most("limit", limit as u64, limits::MAX_BATCH as u64)
            .map_err(|refused| refused.on("list finished jobs", self.name()))?;
        let start = from.map_or("0", |c| c.0.as_str());
        let (next, jobs) = self
            .read_history(&["page", start, &limit.max(1).to_string()])
            .await?;
        Ok(FinishedPage {
            jobs,
            next: next.map(Cursor),
        })
    }

    /// The finished jobs kept, newest first, from the `offset`-th on, at
    /// most `limit` (a dashboard's page). (Jobs finished in the same
    /// millisecond come in the order of their ids, the last first.)
    pub async fn finished(&self, offset: usize, limit: usize) -> Result<Vec<FinishedJob>> {
        // (No history holds more than a 32-bit count: the script takes no
        // offset past it.)
        if limit == 0 || offset as u64 > limits::MAX_CANCELS {
            return Ok(Vec::new());
        }
        let from = Cursor(offset.to_string());
        Ok(self.finished_page(Some(&from), limit).await?.jobs)
    }

    /// The kept record of job `id`'s last finish, if the queue keeps it.
    /// (An id published again after it finished has both: its job, which
    /// [`Queue::detail`] shows, and this record.)
    pub async fn finished_job(&self, id: &str) -> Result<Option<FinishedJob>> {
        check_id(self.name(), id)?;
        Ok(self.read_history(&["job", id]).await?.1.pop())
    }

    /// Runs finished.lua with `args`: the next page's start, and the jobs.
    async fn read_history(&self, args: &[&str]) -> Result<(Option<String>, Vec<FinishedJob>)> {
        let k = &self.keys;
        let flat: Vec<Vec<u8>> = scripts::FINISHED
            .key(&k.finished)
            .key(&k.history)
            .key(&k.config)
            .arg(args)
            .invoke_async(&mut self.thoonk.connection())
            .await
            .map_err(self.at("list finished jobs"))?;
        let mut fields = flat.into_iter();
        let next = fields.next().map(lossy).filter(|n| !n.is_empty());
        let mut jobs = Vec::with_capacity(fields.len() / 3);
        while let (Some(id), Some(at), Some(record)) = (fields.next(), fields.next(), fields.next())
        {
            let id = lossy(id);
            let job = parse(id, at, &record).ok_or_else(|| {
                self.at("list finished jobs")(unexpected("a kept finished job's record is garbled"))
            })?;
            jobs.push(job);
        }
        Ok((next, jobs))
    }
}

/// A record as `_history.lua` keeps it: `DURATION\0CANCELS\0WORKER\0`, then
/// `-` (no result), `=` and the result, or `~` and its first bytes.
fn parse(id: String, at: Vec<u8>, record: &[u8]) -> Option<FinishedJob> {
    let mut parts = record.splitn(4, |&b| b == 0);
    let (duration, cancelled, worker, rest) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let number = |field: &[u8]| std::str::from_utf8(field).ok()?.parse::<u64>().ok();
    let (result, result_cut) = match rest.split_first()? {
        (b'-', _) => (None, false),
        (b'=', result) => (Some(result.to_vec()), false),
        (b'~', result) => (Some(result.to_vec()), true),
        _ => return None,
    };
    Some(FinishedJob {
        id,
        finished_ms: ms(at)?,
        duration_ms: number(duration)?,
        worker: (!worker.is_empty()).then(|| String::from_utf8_lossy(worker).into_owned()),
        cancelled: number(cancelled)?,
        result,
        result_cut,
    })
}

fn maybe_text_or_bytes<S: Serializer>(
    result: &Option<Vec<u8>>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match result {
        Some(result) => text_or_bytes(result, s),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_back() {
        let at = b"1700000000123".to_vec();
        let job = parse("j".into(), at.clone(), b"250\x002\x00w1\x00=done\x00!").unwrap();
        assert_eq!(
            job,
            FinishedJob {
                id: "j".into(),
                finished_ms: 1_700_000_000_123,
                duration_ms: 250,
                worker: Some("w1".into()),
                cancelled: 2,
                result: Some(b"done\x00!".to_vec()),
                result_cut: false,
            }
        );
        let bare = parse("j".into(), at.clone(), b"0\x000\x00\x00-").unwrap();
        assert_eq!(
            (bare.worker, bare.result, bare.result_cut),
            (None, None, false)
        );
        let cut = parse("j".into(), at.clone(), b"1\x000\x00\x00~abc").unwrap();
        assert_eq!((cut.result, cut.result_cut), (Some(b"abc".to_vec()), true));
        for garbled in [&b"1\x000\x00"[..], b"x\x000\x00\x00-", b"1\x000\x00\x00?"] {
            assert_eq!(parse("j".into(), at.clone(), garbled), None);
        }
    }
}
