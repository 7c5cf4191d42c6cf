//! The live streams pages follow (server-sent events): the overview as it
//! changes, a queue's counts and settings, and the jobs that move in it.

use super::app::App;
use super::live::{Overview, QueueView};
use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::Serialize;
use std::convert::Infallible;
use tokio::sync::{broadcast, mpsc};

type Events = Sse<axum::response::sse::KeepAliveStream<EventStream>>;
type EventStream = std::pin::Pin<Box<dyn Stream<Item = Result<Event, Infallible>> + Send>>;

/// The events a task sends to `rx`, as a response; the task learns that
/// the page went away when its next send fails.
fn sse(mut rx: mpsc::Receiver<Event>) -> Events {
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx).map(|e| e.map(Ok)));
    Sse::new(Box::pin(stream) as EventStream).keep_alive(KeepAlive::default())
}

fn json_event(name: &str, data: &impl Serialize) -> Event {
    Event::default()
        .event(name)
        .data(serde_json::to_string(data).expect("plain data"))
}

/// `GET /api/live`: `overview` events, the whole overview each time it
/// changes.
pub(crate) async fn overview(State(app): State<App>) -> Events {
    let (tx, rx) = mpsc::channel(16);
    let mut overview = app.live.overview.clone();
    let mut closing = app.live.closing.subscribe();
    tokio::spawn(async move {
        loop {
            let now = overview.borrow_and_update().clone();
            if tx.send(json_event("overview", &*now)).await.is_err() {
                return;
            }
            tokio::select! {
                changed = overview.changed() => if changed.is_err() { return },
                _ = tx.closed() => return,
                _ = closing.changed() => return,
            }
        }
    });
    sse(rx)
}

/// `GET /api/live/QUEUE`: `stats` events (the queue's line of the
/// overview, its settings too) when it changes, and a `job` event per job
/// that moved.
pub(crate) async fn queue(State(app): State<App>, Path(queue): Path<String>) -> Events {
    let (tx, rx) = mpsc::channel(64);
    let mut overview = app.live.overview.clone();
    let mut changes = app.live.changes.subscribe();
    let mut closing = app.live.closing.subscribe();
    tokio::spawn(async move {
        let stats = |o: &Overview| o.queue(&queue).cloned();
        // What a page shows of the queue: sent again only when it changes
        // (the overview also changes with every other queue).
        let shown = |q: &Option<QueueView>| {
            q.as_ref().map(|q| {
                (
                    q.available,
                    q.claimed,
                    q.delayed,
                    q.stalled,
                    q.finishes,
                    q.publishes,
                    q.settings,
                )
            })
        };
        let mut last = None;
        loop {
            let now = stats(&overview.borrow_and_update());
            if shown(&now) != last {
                last = shown(&now);
                if tx.send(json_event("stats", &now)).await.is_err() {
                    return;
                }
            }
            tokio::select! {
                // The page went away (an idle queue would never tell by a
                // failed send), or the server is shutting down.
                _ = tx.closed() => return,
                _ = closing.changed() => return,
                changed = overview.changed() => if changed.is_err() { return },
                change = changes.recv() => match change {
                    Ok(change) if change.queue == queue => {
                        if tx.send(json_event("job", &change)).await.is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    // Fell behind: the page reloads its lists all the same.
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        if tx.send(Event::default().event("resync").data("{}")).await.is_err() {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            }
        }
    });
    sse(rx)
}
