//! A queue's events: what happened to a job ([`Event`], [`EventKind`]),
//! decoded from the v1 channels `event.job.<verb>:NAME`, and the stream of
//! them a subscription yields ([`Events`], from `Queue::subscribe`).

use crate::pubsub::{Listener, Notice};
use crate::queue::lossy;
use crate::{Queue, Result};
use serde::Serialize;
use std::collections::VecDeque;
use std::fmt;

/// What happened to a job (or, for a pause or a resume, to the queue).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// It was published.
    Publish,
    /// A worker claimed it.
    Claim,
    /// It finished (maybe with a result).
    Finish,
    /// It was cancelled back to the queue.
    Cancel,
    /// It was stalled.
    Stall,
    /// It was retried from stalled.
    Retry,
    /// It was retracted (deleted).
    Retract,
    /// It was delayed (published for later, or cancelled with a delay).
    Delay,
    /// A worker shutting down gave it back unfinished.
    Release,
    /// It was delayed, fell due, and is available now.
    Due,
    /// The queue was paused (no job: the event's id is empty).
    Pause,
    /// The queue was resumed (no job: the event's id is empty).
    Resume,
    /// A claimed job reported its progress (the event's `result` holds it,
    /// as JSON text).
    Progress,
}

impl EventKind {
    /// Every kind of event.
    pub const ALL: [EventKind; 13] = [
        EventKind::Publish,
        EventKind::Claim,
        EventKind::Finish,
        EventKind::Cancel,
        EventKind::Stall,
        EventKind::Retry,
        EventKind::Retract,
        EventKind::Delay,
        EventKind::Release,
        EventKind::Due,
        EventKind::Pause,
        EventKind::Resume,
        EventKind::Progress,
    ];

    /// The verb, as in the channel name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Publish => "publish",
            EventKind::Claim => "claim",
            EventKind::Finish => "finish",
            EventKind::Cancel => "cancel",
            EventKind::Stall => "stall",
            EventKind::Retry => "retry",
            EventKind::Retract => "retract",
            EventKind::Delay => "delay",
            EventKind::Release => "release",
            EventKind::Due => "due",
            EventKind::Pause => "pause",
            EventKind::Resume => "resume",
            EventKind::Progress => "progress",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One event of a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// To which job.
    pub id: String,
    /// The result, on a finish that has one; the progress (JSON text) on
    /// a progress event.
    pub result: Option<Vec<u8>>,
}

/// The events of one queue as they happen; see [`Queue::subscribe`](crate::Queue::subscribe).
///
/// Pub/sub does not replay: events sent while the connection was down are
/// not seen (the client reconnects by itself).
#[derive(Debug)]
pub struct Events {
    listener: Listener,
    /// Channel name -> kind, for this queue.
    channels: Vec<(String, EventKind)>,
    /// The rest of a message that told of several jobs.
    pending: VecDeque<Event>,
}

impl Queue {
    /// A stream of this queue's events, from now on.
    pub async fn subscribe(&self) -> Result<Events> {
        self.subscribe_to(&EventKind::ALL).await
    }

    /// A stream of this queue's events of the given kinds only, from now
    /// on: Redis sends no others (a publisher awaiting results need not
    /// hear of every claim).
    pub async fn subscribe_to(&self, kinds: &[EventKind]) -> Result<Events> {
        Events::new(self, kinds).await
    }
}

impl Events {
    async fn new(queue: &Queue, kinds: &[EventKind]) -> Result<Events> {
        // Each kind once: a kind named twice would deliver its events twice.
        let channels: Vec<(String, EventKind)> = EventKind::ALL
            .into_iter()
            .filter(|kind| kinds.contains(kind))
            .map(|kind| (queue.keys.channel(kind.as_str()), kind))
            .collect();
        let listener = queue
            .thoonk
            .subscribe(channels.iter().map(|(c, _)| c.clone()).collect())
            .await
            .map_err(queue.at("subscribe to events"))?;
        Ok(Events {
            listener,
            channels,
            pending: VecDeque::new(),
        })
    }

    /// The next event; `None` once the client is gone.
    pub async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            let Notice::Message { channel, payload } = self.listener.recv().await? else {
                continue;
            };
            let Some(&(_, kind)) = self.channels.iter().find(|(c, _)| *c == channel) else {
                continue;
            };
            self.pending.extend(decode(kind, payload));
        }
    }
}

/// A payload is a job id. A finish may carry `NUL result` after it (as in
/// v1), a progress event carries `NUL progress`; a claim or due event names every job of one script call, their ids
/// joined by NUL (an id holds no NUL).
fn decode(kind: EventKind, mut payload: Vec<u8>) -> Vec<Event> {
    let event = |id: Vec<u8>, result| Event {
        kind,
        id: lossy(id),
        result,
    };
    match (kind, payload.iter().position(|&b| b == 0)) {
        (EventKind::Finish | EventKind::Progress, Some(nul)) => {
            let result = payload.split_off(nul + 1);
            payload.pop();
            vec![event(payload, Some(result))]
        }
        (EventKind::Claim | EventKind::Due, Some(_)) => payload
            .split(|&b| b == 0)
            .map(|id| event(id.to_vec(), None))
            .collect(),
        _ => vec![event(payload, None)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finish_payload_splits_at_the_first_nul() {
        let e = &decode(EventKind::Finish, b"id1\0a\0b".to_vec())[..];
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].id, "id1");
        assert_eq!(e[0].result.as_deref(), Some(&b"a\0b"[..]));
        let e = &decode(EventKind::Finish, b"id1".to_vec())[..];
        assert_eq!((e[0].id.as_str(), e[0].result.clone()), ("id1", None));
    }

    #[test]
    fn a_claim_payload_names_each_job_of_the_call() {
        let ids = |kind, payload: &[u8]| -> Vec<String> {
            decode(kind, payload.to_vec())
                .into_iter()
                .map(|e| e.id)
                .collect()
        };
        assert_eq!(ids(EventKind::Claim, b"a\0b\0c"), ["a", "b", "c"]);
        assert_eq!(ids(EventKind::Due, b"a\0b"), ["a", "b"]);
        assert_eq!(ids(EventKind::Claim, b"a"), ["a"]);
        // Only claim and due are joined: a publish payload is one id.
        assert_eq!(ids(EventKind::Publish, b"a"), ["a"]);
    }
}
