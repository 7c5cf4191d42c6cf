//! What the dashboard shows, kept current ([`Live`]): every queue's
//! counts, its publishes and finishes per minute over the last hour and
//! its run times (from the tally the scripts keep in Redis, so that every
//! dashboard, however new, shows the same), its live
//! workers, its settings and schedules. One task refreshes it when a
//! queue's events say a job moved or the queue was paused or resumed, when
//! the dashboard changed
//! the queue (and every few seconds, for the tally and for other settings
//! changed elsewhere: no event of the queue tells of a new limit); pages
//! follow it through the streams (`streams`): no page polls.

use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use thoonk::{EventKind, Thoonk};
use tokio::sync::{broadcast, watch, Notify};
use tokio_util::task::AbortOnDropHandle;

/// How often every queue is read again (its tally, workers come and go
/// without events) and new queues looked for (a SCAN walks every key of
/// the Redis: not after every event).
const SAMPLE: Duration = Duration::from_secs(5);
/// Minutes of the tally the overview shows.
pub(crate) const MINUTES: usize = 60;
/// After an event, how long to let more gather before one refresh.
const SETTLE: Duration = Duration::from_millis(150);

/// One queue as the overview shows it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct QueueView {
    pub(crate) name: String,
    pub(crate) available: u64,
    pub(crate) claimed: u64,
    pub(crate) delayed: u64,
    pub(crate) stalled: u64,
    pub(crate) publishes: u64,
    pub(crate) finishes: u64,
    pub(crate) cancels: u64,
    pub(crate) stalls: u64,
    pub(crate) recoveries: u64,
    /// How long its oldest available job has waited (ms): the figure
    /// autoscalers act on.
    pub(crate) latency_ms: u64,
    /// The workers alive on it.
    pub(crate) workers: Vec<thoonk::WorkerInfo>,
    /// Publishes per minute over the last hour, oldest first, the
    /// current minute (so far) last.
    pub(crate) publishes_per_minute: Vec<u64>,
    /// Finishes per minute, likewise.
    pub(crate) finishes_per_minute: Vec<u64>,
    /// How long its jobs ran: the last hour's p50, p95 and max, and the
    /// histogram in all (`/metrics`).
    pub(crate) durations: thoonk::Durations,
    /// Its settings: paused or not, its limits (see `settings`).
    #[serde(serialize_with = "super::settings::serialize")]
    pub(crate) settings: thoonk::QueueConfig,
    /// Its schedules, by name (times in Unix ms).
    pub(crate) schedules: Vec<thoonk::ScheduleInfo>,
}

/// Every queue, as of `at_ms`.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Overview {
    pub(crate) at_ms: u64,
    pub(crate) queues: Vec<QueueView>,
    /// Why the last refresh failed, if it did (Redis down, …).
    pub(crate) error: Option<String>,
}

impl Overview {
    pub(crate) fn queue(&self, name: &str) -> Option<&QueueView> {
        self.queues.iter().find(|q| q.name == name)
    }
}

/// A job moved.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Change {
    pub(crate) queue: String,
    pub(crate) event: EventKind,
    pub(crate) id: String,
}

/// The refreshing task's output.
pub(crate) struct Live {
    /// The overview, as the last refresh made it.
    pub(crate) overview: watch::Receiver<Arc<Overview>>,
    /// Every job that moved, as its queue's events said.
    pub(crate) changes: broadcast::Sender<Change>,
    /// Asks for a refresh now (after an action, say).
    wake: Arc<Notify>,
    /// The queues that moved since the last refresh.
    dirty: Dirty,
    /// Set when the server shuts down: the streams end, so that it can.
    pub(crate) closing: watch::Sender<bool>,
}

impl Live {
    /// Starts the task; returns once the first overview is read, with the
    /// task (it stops when that handle is dropped).
    pub(crate) async fn start(
        thoonk: Thoonk,
    ) -> thoonk::Result<(Arc<Live>, AbortOnDropHandle<()>)> {
        let (changes, _) = broadcast::channel(1024);
        let wake = Arc::new(Notify::new());
        let dirty = Dirty::default();
        let mut refresher = Refresher {
            thoonk,
            changes: changes.clone(),
            wake: wake.clone(),
            dirty: dirty.clone(),
            names: Vec::new(),
            views: HashMap::new(),
            followed: HashMap::new(),
        };
        let first = refresher.refresh(true).await?;
        let (tx, overview) = watch::channel(Arc::new(first));
        let task = AbortOnDropHandle::new(tokio::spawn(refresher.run(tx)));
        let live = Arc::new(Live {
            overview,
            changes,
            wake,
            dirty,
            closing: watch::Sender::new(false),
        });
        Ok((live, task))
    }

    /// The latest overview.
    pub(crate) fn now(&self) -> Arc<Overview> {
        self.overview.borrow().clone()
    }

    /// Refresh `queue` soon: it was just changed through the dashboard.
    pub(crate) fn poke(&self, queue: &str) {
        self.dirty.mark(queue, &self.wake);
    }

    /// Ends every live stream: the server is shutting down.
    pub(crate) fn close(&self) {
        self.closing.send_replace(true);
    }
}

/// The queues whose line of the overview is out of date.
#[derive(Clone, Default)]
struct Dirty(Arc<std::sync::Mutex<HashSet<String>>>);

impl Dirty {
    /// `queue` moved: refresh it soon.
    fn mark(&self, queue: &str, wake: &Notify) {
        let mut dirty = self.0.lock().unwrap();
        // Under load most events find their queue marked already.
        if !dirty.contains(queue) {
            dirty.insert(queue.to_string());
            wake.notify_one();
        }
    }

    fn take(&self) -> HashSet<String> {
        std::mem::take(&mut self.0.lock().unwrap())
    }
}

struct Refresher {
    thoonk: Thoonk,
    changes: broadcast::Sender<Change>,
    wake: Arc<Notify>,
    dirty: Dirty,
    /// The queues, as the last look found them.
    names: Vec<String>,
    /// Queue -> its line of the last overview: reused until it moves.
    views: HashMap<String, QueueView>,
    /// Queue -> the task forwarding its events.
    followed: HashMap<String, AbortOnDropHandle<()>>,
}

impl Refresher {
    async fn run(mut self, overview: watch::Sender<Arc<Overview>>) {
        let mut tick = tokio::time::interval(SAMPLE);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            let sample = tokio::select! {
                _ = tick.tick() => true,
                _ = self.wake.notified() => {
                    tokio::time::sleep(SETTLE).await;
                    false
                }
            };
            let next = match self.refresh(sample).await {
                Ok(next) => next,
                Err(e) => {
                    tracing::warn!("refreshing the dashboard failed: {e}");
                    Overview {
                        error: Some(e.to_string()),
                        ..(**overview.borrow()).clone()
                    }
                }
            };
            if overview.send(Arc::new(next)).is_err() {
                return;
            }
        }
    }

    /// Reads the queues that moved; `sample`: every queue (workers come and
    /// go without events, and the tally moves on) and new queues looked for.
    async fn refresh(&mut self, sample: bool) -> thoonk::Result<Overview> {
        if sample || self.names.is_empty() {
            self.names = self.thoonk.queues().await?;
        }
        if sample {
            self.recover().await;
        }
        let moved = self.dirty.take();
        let names = &self.names;
        self.followed.retain(|name, _| names.contains(name));
        self.views.retain(|name, _| names.contains(name));
        let mut queues = Vec::with_capacity(names.len());
        for name in names.clone() {
            if let Some(view) = self
                .views
                .get(&name)
                .filter(|_| !sample && !moved.contains(&name))
            {
                queues.push(view.clone());
                continue;
            }
            // A counter left by a raw command under a name no handle takes
            // (on a cluster, one without a {tag}) is no queue to show.
            let Ok(queue) = self.thoonk.queue(&name) else {
                continue;
            };
            if !self.followed.contains_key(&name) {
                // A queue whose events cannot be followed (an ACL without
                // its channel) still shows, refreshed at each sample.
                match queue.subscribe().await {
                    Ok(events) => {
                        let task = tokio::spawn(forward(
                            name.clone(),
                            events,
                            self.changes.clone(),
                            self.dirty.clone(),
                            self.wake.clone(),
                        ));
                        self.followed
                            .insert(name.clone(), AbortOnDropHandle::new(task));
                    }
                    Err(e) => tracing::warn!(queue = name, "cannot follow its events: {e}"),
                }
            }
            let view = view(&name, read(&queue).await?);
            self.views.insert(name, view.clone());
            queues.push(view);
        }
        Ok(Overview {
            at_ms: self.thoonk.server_time_ms().await?,
            queues,
            error: None,
        })
    }
}

impl Refresher {
    /// A recovery pass on every queue: a queue served by v1 workers alone
    /// has no worker of ours to take expired claims back and make due
    /// jobs available, so the dashboard does it at each sample.
    async fn recover(&self) {
        for name in &self.names {
            let Ok(queue) = self.thoonk.queue(name) else {
                continue;
            };
            if let Err(e) = queue.recover().await {
                tracing::warn!(queue = name, "a recovery pass failed: {e}");
            }
        }
    }
}

/// What one refresh reads of a queue.
pub(crate) struct Read {
    stats: thoonk::Stats,
    workers: Vec<thoonk::WorkerInfo>,
    settings: thoonk::QueueConfig,
    schedules: Vec<thoonk::ScheduleInfo>,
    minutes: Vec<thoonk::Slot>,
    durations: thoonk::Durations,
}

impl Read {
    /// Whether no job was ever published to the queue: no queue to show.
    pub(crate) fn is_unused(&self) -> bool {
        self.stats.is_unused()
    }
}

/// A queue's counts, live workers, settings (one HMGET), schedules (at
/// most `MAX_SCHEDULES`), its last hour's tally and its run times.
pub(crate) async fn read(queue: &thoonk::Queue) -> thoonk::Result<Read> {
    // All in one trip on the multiplexed connection.
    let (stats, workers, settings, schedules, minutes, durations) = tokio::try_join!(
        queue.stats(),
        queue.workers(),
        queue.config(),
        queue.schedules_without_items(),
        queue.tally(thoonk::Resolution::Minute, MINUTES),
        queue.durations(),
    )?;
    Ok(Read {
        stats,
        workers,
        settings,
        schedules,
        minutes,
        durations,
    })
}

/// A queue's line of the overview, from what was read.
pub(crate) fn view(name: &str, read: Read) -> QueueView {
    let Read {
        stats,
        workers,
        settings,
        schedules,
        minutes,
        durations,
    } = read;
    let per_minute = |pick: fn(&thoonk::Counts) -> u64| -> Vec<u64> {
        minutes.iter().map(|m| pick(&m.counts)).collect()
    };
    QueueView {
        name: name.to_string(),
        available: stats.available,
        claimed: stats.claimed,
        delayed: stats.delayed,
        stalled: stats.stalled,
        publishes: stats.publishes,
        finishes: stats.finishes,
        cancels: stats.cancels,
        stalls: stats.stalls,
        recoveries: stats.recoveries,
        latency_ms: stats.latency.as_millis() as u64,
        workers,
        publishes_per_minute: per_minute(|c| c.publishes),
        finishes_per_minute: per_minute(|c| c.finishes),
        durations,
        settings,
        // Without their items: the overview goes to every open page at
        // each refresh, and no page shows a schedule's item.
        schedules: schedules
            .into_iter()
            .map(|s| thoonk::ScheduleInfo {
                item: Vec::new(),
                ..s
            })
            .collect(),
    }
}

/// Passes a queue's events on, and asks for a refresh of the queue.
async fn forward(
    queue: String,
    mut events: thoonk::Events,
    changes: broadcast::Sender<Change>,
    dirty: Dirty,
    wake: Arc<Notify>,
) {
    while let Some(event) = events.next().await {
        let _ = changes.send(Change {
            queue: queue.clone(),
            event: event.kind,
            id: event.id,
        });
        dirty.mark(&queue, &wake);
    }
}
