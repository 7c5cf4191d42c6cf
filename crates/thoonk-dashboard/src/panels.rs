//! The overview's panels (issue 18): the server ([`server`]), the workers
//! at work ([`workers`]) and failures at a glance ([`failures`]), kept
//! current by one task of their own, never read per page view; with their
//! JSON (`/api/panels`), their live stream (`/api/panels/live`) and the
//! script that keeps them current on the page (`assets/panels.js`).
//!
//! What each refresh costs Redis is bounded: the workers of every queue
//! (each queue's `at_work`: 200 workers, 50 jobs listed each, at most);
//! `INFO` once per [`INFO_EVERY`]; the memory of [`server::MEMORY_QUEUES`]
//! queues at most, each read again after [`server::MEMORY_EVERY_MS`]; the
//! reasons of [`REASON_QUEUES`] queues at most ([`failures::SAMPLE`]
//! entries each), each read again after [`REASONS_EVERY_MS`].

use super::app::App;
use super::base::Base;
use super::failures::{self, QueueFailures};
use super::live::Live;
use super::server::{self, QueueMemory, ServerPanel};
use super::workers::{self, WorkersPanel};
use axum::extract::State;
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Json, Response};
use maud::{html, Markup};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use thoonk::Thoonk;
use tokio::sync::watch;
use tokio_util::task::AbortOnDropHandle;

const SCRIPT: &str = include_str!("assets/panels.js");
/// The workers are read again this often at least…
const REFRESH: Duration = Duration::from_secs(5);
/// …and after a queue moved, but not more often than this.
const SOONEST: Duration = Duration::from_secs(2);
/// `INFO` is read again after this long.
const INFO_EVERY: Duration = Duration::from_secs(30);
/// A queue's reasons are read again after this long (ms).
const REASONS_EVERY_MS: u64 = 30_000;
/// At most this many queues' reasons are read per refresh (the stalest
/// first).
const REASON_QUEUES: usize = 20;

/// The three panels.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Panels {
    pub(crate) server: ServerPanel,
    pub(crate) workers: WorkersPanel,
    /// Queues whose jobs carry reasons now, by name.
    pub(crate) failures: Vec<QueueFailures>,
    /// Why a part of the last refresh failed, if one did (that part shows
    /// what it read before).
    pub(crate) error: Option<String>,
}

/// Starts the task that keeps the panels current; it stops when the handle
/// is dropped.
pub(crate) fn start(
    thoonk: Thoonk,
    live: Arc<Live>,
) -> (watch::Receiver<Arc<Panels>>, AbortOnDropHandle<()>) {
    let (tx, rx) = watch::channel(Arc::new(Panels::default()));
    let refresher = Refresher {
        thoonk,
        live,
        workers: WorkersPanel::default(),
        memory: HashMap::new(),
        reasons: HashMap::new(),
        info_read: None,
        servers: Vec::new(),
    };
    (rx, AbortOnDropHandle::new(tokio::spawn(refresher.run(tx))))
}

struct Refresher {
    thoonk: Thoonk,
    /// The overview: the queues to look at, and when they move.
    live: Arc<Live>,
    /// The workers panel as last read (kept when a read fails).
    workers: WorkersPanel,
    /// Queue -> its memory, with when it was read.
    memory: HashMap<String, QueueMemory>,
    /// Queue -> (when read, its reasons).
    reasons: HashMap<String, (u64, QueueFailures)>,
    /// When `INFO` was read last.
    info_read: Option<tokio::time::Instant>,
    servers: Vec<thoonk::ServerInfo>,
}

impl Refresher {
    async fn run(mut self, panels: watch::Sender<Arc<Panels>>) {
        let mut overview = self.live.overview.clone();
        loop {
            let started = tokio::time::Instant::now();
            if panels.send(Arc::new(self.refresh().await)).is_err() {
                return;
            }
            tokio::time::sleep_until(started + SOONEST).await;
            tokio::select! {
                _ = tokio::time::sleep_until(started + REFRESH) => {}
                changed = overview.changed() => if changed.is_err() { return },
            }
            overview.borrow_and_update();
        }
    }

    /// Reads what is due of each panel. A part that fails keeps what it
    /// showed last and says why, and the others go on: a user whose ACL
    /// forbids `INFO` (`@dangerous`) still sees its workers and reasons.
    async fn refresh(&mut self) -> Panels {
        let overview = self.live.now();
        let queues: Vec<thoonk::Queue> = overview
            .queues
            .iter()
            .filter_map(|q| self.thoonk.queue(&q.name).ok())
            .collect();
        let mut errors = Vec::new();
        let mut note = |what: &str, e: thoonk::Error| {
            tracing::warn!("reading the dashboard's {what} failed: {e}");
            errors.push(format!("{what}: {e}"));
        };
        match futures_util::future::try_join_all(
            queues.iter().map(|q| q.at_work(workers::JOBS_LISTED)),
        )
        .await
        {
            Ok(read) => {
                let names = queues.iter().map(|q| q.name().to_string());
                self.workers = workers::gather(names.zip(read).collect());
            }
            Err(e) => note("workers", e),
        }
        if self.info_read.is_none_or(|at| at.elapsed() >= INFO_EVERY) {
            // (Not again before INFO_EVERY, even when refused.)
            self.info_read = Some(tokio::time::Instant::now());
            match self.thoonk.server_info().await {
                Ok(servers) => self.servers = servers,
                Err(e) => note("server", e),
            }
        }
        let names: Vec<&str> = queues.iter().map(thoonk::Queue::name).collect();
        self.memory.retain(|name, _| names.contains(&name.as_str()));
        self.reasons
            .retain(|name, _| names.contains(&name.as_str()));
        if let Err(e) = self.read_memory(&queues, overview.at_ms).await {
            note("queues' memory", e);
        }
        if let Err(e) = self.read_reasons(&queues, overview.at_ms).await {
            note("reasons", e);
        }
        self.panels((!errors.is_empty()).then(|| errors.join("; ")))
    }

    /// The memory of the queues whose figure is due (at most
    /// `MEMORY_QUEUES`).
    async fn read_memory(&mut self, queues: &[thoonk::Queue], now: u64) -> thoonk::Result<()> {
        let due = stalest(
            queues,
            server::MEMORY_QUEUES,
            |n| self.memory.get(n).map(|m| m.read_at_ms),
            now,
            server::MEMORY_EVERY_MS,
        );
        for queue in due {
            let used = queue.memory(server::MEMORY_SAMPLES).await?;
            let read = QueueMemory {
                queue: queue.name().to_string(),
                bytes: used.bytes,
                keys: used.keys,
                read_at_ms: now,
            };
            self.memory.insert(read.queue.clone(), read);
        }
        Ok(())
    }

    /// The reasons of the queues whose reading is due (at most
    /// [`REASON_QUEUES`]).
    async fn read_reasons(&mut self, queues: &[thoonk::Queue], now: u64) -> thoonk::Result<()> {
        let due = stalest(
            queues,
            REASON_QUEUES,
            |n| self.reasons.get(n).map(|r| r.0),
            now,
            REASONS_EVERY_MS,
        );
        for queue in due {
            let read = failures::read(queue).await?;
            self.reasons.insert(read.queue.clone(), (now, read));
        }
        Ok(())
    }

    /// The panels from what was read.
    fn panels(&self, error: Option<String>) -> Panels {
        let mut memory: Vec<QueueMemory> = self.memory.values().cloned().collect();
        memory.sort_by(|a, b| a.queue.cmp(&b.queue));
        let mut failures: Vec<QueueFailures> = self
            .reasons
            .values()
            .filter(|r| !r.1.groups.is_empty())
            .map(|r| r.1.clone())
            .collect();
        failures.sort_by(|a, b| a.queue.cmp(&b.queue));
        Panels {
            server: ServerPanel {
                servers: self.servers.clone(),
                memory,
            },
            workers: self.workers.clone(),
            failures,
            error,
        }
    }
}

/// Of `queues`, at most `most` whose figure (when it was read: `read_at`)
/// is missing or older than `every` ms at `now`: never read first, then
/// the stalest.
fn stalest(
    queues: &[thoonk::Queue],
    most: usize,
    read_at: impl Fn(&str) -> Option<u64>,
    now: u64,
    every: u64,
) -> Vec<&thoonk::Queue> {
    let mut due: Vec<(Option<u64>, &thoonk::Queue)> = queues
        .iter()
        .map(|q| (read_at(q.name()), q))
        .filter(|(at, _)| at.is_none_or(|at| now.saturating_sub(at) >= every))
        .collect();
    due.sort_by_key(|(at, _)| *at);
    due.into_iter().take(most).map(|(_, q)| q).collect()
}

/// `GET /api/panels`: the three panels, as last read.
pub(crate) async fn api(State(app): State<App>) -> Response {
    let panels = app.panels.borrow().clone();
    Json(&*panels).into_response()
}

/// `GET /api/panels/live`: a `panels` event each time they are read.
pub(crate) async fn stream(
    State(app): State<App>,
) -> Sse<impl futures_util::Stream<Item = Result<Event, std::convert::Infallible>>> {
    let mut panels = app.panels.clone();
    let mut closing = app.live.closing.subscribe();
    let stream = async_stream(move |tx: tokio::sync::mpsc::Sender<Event>| async move {
        loop {
            let now = panels.borrow_and_update().clone();
            let data = serde_json::to_string(&*now).expect("plain data");
            if tx
                .send(Event::default().event("panels").data(data))
                .await
                .is_err()
            {
                return;
            }
            tokio::select! {
                changed = panels.changed() => if changed.is_err() { return },
                _ = tx.closed() => return,
                _ = closing.changed() => return,
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// The events a task sends, as a stream; the task learns that the page
/// went away when its next send fails.
fn async_stream<F, Fut>(
    task: F,
) -> impl futures_util::Stream<Item = Result<Event, std::convert::Infallible>>
where
    F: FnOnce(tokio::sync::mpsc::Sender<Event>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(task(tx));
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx).map(|e| e.map(Ok)))
}

/// `GET /assets/panels.js`.
pub(crate) async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        SCRIPT,
    )
        .into_response()
}

/// The panels as the overview page shows them first; `panels.js` keeps
/// them current.
pub(crate) fn section(app: &App, base: &Base) -> Markup {
    let panels = app.panels.borrow().clone();
    html! {
        section #panels {
            p.error #panels-error hidden[panels.error.is_none()] { (panels.error.as_deref().unwrap_or("")) }
            (workers::section(base, &panels.workers))
            (failures::section(base, &panels.failures))
            (server::section(base, &panels.server))
        }
        // (Deferred: it runs after app.js, whose helpers it uses.)
        script src=(base.url("/assets/panels.js")) defer {}
    }
}
