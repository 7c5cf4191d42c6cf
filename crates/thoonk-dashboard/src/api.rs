//! The JSON API under `/api/`: what the pages show, and the actions (on a
//! job, on all stalled jobs, pause and resume). Each action is one library
//! operation; a refusal (the job moved on meanwhile) comes back as `409`
//! with the library's message.

use super::app::{refuse, App};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use thoonk::{Error, JobRef};

/// Jobs per page when the caller says nothing.
pub(crate) const PAGE: usize = 50;
/// The most jobs one page may ask for: with [`LISTED_ITEM_BYTES`], a page
/// is at most about 400 KB, whatever the payloads.
const MAX_PAGE: usize = 100;
/// The most payload bytes a listing reads and gives per job: a larger
/// payload stays in Redis (not even read there: only its size is), the
/// job's own page and API call give it whole.
pub(crate) const LISTED_ITEM_BYTES: usize = 4096;
/// No queue holds more jobs than this; a larger offset asks for nothing
/// (and would not survive Lua's numbers).
const MAX_OFFSET: usize = 1 << 40;

/// `GET /api/queues`: every queue with its counts, rates and workers.
pub(crate) async fn queues(State(app): State<App>) -> Response {
    Json(&*app.live.now()).into_response()
}

/// `GET /api/queues/QUEUE`: one queue's line of the overview; read from
/// Redis when the overview does not have it yet (new queues join it at the
/// next sample).
pub(crate) async fn queue(State(app): State<App>, Path(queue): Path<String>) -> Response {
    if let Some(view) = app.live.now().queue(&queue) {
        return Json(view).into_response();
    }
    let read = async {
        let handle = app.thoonk.queue(&queue)?;
        let read = super::live::read(&handle).await?;
        Ok((!read.is_unused()).then(|| super::live::view(&queue, read)))
    };
    match read.await {
        Ok(Some(view)) => Json(view).into_response(),
        Ok(None) => refuse(StatusCode::NOT_FOUND, &format!("no queue {queue}")),
        Err(e) => failure(e),
    }
}

#[derive(Deserialize)]
pub(crate) struct Page {
    state: Option<String>,
    offset: Option<usize>,
    limit: Option<usize>,
    /// Only the jobs whose last reason is in this group, in any state
    /// (see `failures`): the first page alone.
    reason: Option<String>,
}

/// The actions that apply to a job in `state`: what the pages offer, and
/// what the API tells the page script to offer.
pub(crate) fn actions(state: thoonk::State) -> &'static [&'static str] {
    match state {
        thoonk::State::Stalled => &["retry", "retract"],
        thoonk::State::Claimed => &["stall", "cancel", "retract"],
        thoonk::State::Available | thoonk::State::Delayed => &["retract"],
    }
}

/// One job in a listing.
#[derive(Serialize)]
pub(crate) struct Listed {
    pub(crate) id: String,
    /// The payload as text (invalid UTF-8 replaced); empty when it is
    /// larger than [`LISTED_ITEM_BYTES`].
    pub(crate) item: String,
    /// The payload's size in bytes (larger than `item` when it was not
    /// read).
    pub(crate) item_bytes: u64,
    pub(crate) cancelled: u64,
    pub(crate) reason: Option<String>,
    /// A claimed job's last reported progress.
    pub(crate) progress: Option<serde_json::Value>,
    pub(crate) actions: &'static [&'static str],
}

/// A job's whole record, and the actions that apply to it; with the kept
/// record of its last finish, when the queue keeps one. A job that finished
/// and is kept, and is not in the queue again, is `state: "finished"` with
/// only that record (and no action).
#[derive(Serialize)]
#[serde(untagged)]
enum Detail {
    Job {
        #[serde(flatten)]
        detail: thoonk::JobDetail,
        actions: &'static [&'static str],
        finished: Option<thoonk::FinishedJob>,
    },
    Finished {
        id: String,
        state: &'static str,
        finished: thoonk::FinishedJob,
        actions: &'static [&'static str],
    },
}

/// Job `id` of `queue`, if it exists, and the kept record of its last
/// finish, if any: what a job's page shows.
pub(crate) async fn job_and_finish(
    app: &App,
    queue: &str,
    id: &str,
) -> thoonk::Result<(Option<thoonk::JobDetail>, Option<thoonk::FinishedJob>)> {
    let handle = app.thoonk.queue(queue)?;
    let (detail, finished) = tokio::join!(handle.detail(id), handle.finished_job(id));
    Ok((detail?, finished?))
}

/// `GET /api/queues/QUEUE/jobs?state=S&offset=N&limit=N`; `state=finished`:
/// the finished jobs kept (see `history.rs`); `reason=GROUP`: the jobs
/// whose last reason is in that group (see `failures.rs`).
pub(crate) async fn jobs(
    State(app): State<App>,
    Path(queue): Path<String>,
    Query(page): Query<Page>,
) -> Response {
    let limit = page.limit.unwrap_or(PAGE).clamp(1, MAX_PAGE);
    let offset = page.offset.unwrap_or(0);
    if let Some(group) = &page.reason {
        return super::failures::api(&app, &queue, group, limit).await;
    }
    if page.state.as_deref() == Some(super::history::TAB) {
        return super::history::api(&app, &queue, offset, limit).await;
    }
    let state = match page
        .state
        .as_deref()
        .unwrap_or("available")
        .parse::<thoonk::State>()
    {
        Ok(state) => state,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    match list(&app, &queue, state, offset, limit).await {
        Ok(jobs) => Json(jobs).into_response(),
        Err(e) => failure(e),
    }
}

pub(crate) async fn list(
    app: &App,
    queue: &str,
    state: thoonk::State,
    offset: usize,
    limit: usize,
) -> thoonk::Result<Vec<Listed>> {
    if offset > MAX_OFFSET {
        return Ok(Vec::new());
    }
    let jobs = app
        .thoonk
        .queue(queue)?
        .list_within(state, offset, limit.min(MAX_PAGE), LISTED_ITEM_BYTES)
        .await?;
    Ok(jobs
        .into_iter()
        .map(|j| Listed {
            id: j.id,
            item: String::from_utf8_lossy(&j.item).into_owned(),
            item_bytes: j.size,
            cancelled: j.cancelled,
            reason: j.reason,
            progress: j.progress,
            actions: actions(state),
        })
        .collect())
}

/// `GET /api/queues/QUEUE/jobs/ID`: the job's whole record.
pub(crate) async fn job(
    State(app): State<App>,
    Path((queue, id)): Path<(String, String)>,
) -> Response {
    match job_and_finish(&app, &queue, &id).await {
        Ok((Some(detail), finished)) => Json(Detail::Job {
            actions: actions(detail.state),
            detail,
            finished,
        })
        .into_response(),
        Ok((None, Some(finished))) => Json(Detail::Finished {
            id,
            state: super::history::TAB,
            finished,
            actions: &[],
        })
        .into_response(),
        Ok((None, None)) => refuse(
            StatusCode::NOT_FOUND,
            &format!("job {id} in queue {queue} does not exist"),
        ),
        Err(e) => failure(e),
    }
}

/// `POST /api/queues/QUEUE/jobs/ID/ACTION`, ACTION one of retry, retract,
/// stall, cancel.
pub(crate) async fn act(
    State(app): State<App>,
    Path((queue, id, action)): Path<(String, String, String)>,
) -> Response {
    if !["retry", "retract", "stall", "cancel"].contains(&action.as_str()) {
        return refuse(
            StatusCode::NOT_FOUND,
            &format!("no action {action}: retry, retract, stall or cancel"),
        );
    }
    let done = async {
        let handle = app.thoonk.queue(&queue)?;
        // The dashboard holds no claim: stall and cancel go as a v1 client
        // would, unfenced, on whatever claim the job is under now.
        let target = JobRef::from(id.as_str());
        match action.as_str() {
            "retry" => handle
                .retry(&id)
                .await
                .map(|_| "retried: back in the queue"),
            "retract" => handle.retract(&id).await.map(|_| "retracted: deleted"),
            "stall" => handle
                .stall_with(target, "stalled from the dashboard")
                .await
                .map(|_| "stalled"),
            "cancel" => handle
                .cancel_with(
                    target,
                    thoonk::Cancel::new().reason("cancelled from the dashboard"),
                )
                .await
                .map(|state| match state {
                    thoonk::State::Stalled => {
                        "stalled: it was cancelled more than max_cancels times"
                    }
                    _ => "cancelled: back in the queue",
                }),
            _ => unreachable!("checked above"),
        }
    }
    .await;
    app.live.poke(&queue);
    match done {
        Ok(message) => Json(json!({ "ok": true, "message": message })).into_response(),
        Err(e) => failure(e),
    }
}

/// `POST /api/queues/QUEUE/retry-all`: every stalled job back in the queue.
pub(crate) async fn retry_all(State(app): State<App>, Path(queue): Path<String>) -> Response {
    let done = async { app.thoonk.queue(&queue)?.retry_all().await }.await;
    app.live.poke(&queue);
    match done {
        Ok(n) => Json(json!({ "ok": true, "retried": n, "message": format!("{n} jobs retried") }))
            .into_response(),
        Err(e) => failure(e),
    }
}

/// `POST /api/queues/QUEUE/pause`: no worker anywhere claims a job of the
/// queue until it is resumed (a claim already made runs on); publishing
/// goes on. Replies with the settings afterwards.
pub(crate) async fn pause(State(app): State<App>, Path(queue): Path<String>) -> Response {
    flow(&app, &queue, true).await
}

/// `POST /api/queues/QUEUE/resume`: workers claim the queue's jobs again.
pub(crate) async fn resume(State(app): State<App>, Path(queue): Path<String>) -> Response {
    flow(&app, &queue, false).await
}

async fn flow(app: &App, queue: &str, paused: bool) -> Response {
    let done = async {
        let handle = app.thoonk.queue(queue)?;
        if paused {
            handle.pause().await?;
        } else {
            handle.resume().await?;
        }
        // For the page to show at once: a queue nobody published to yet
        // has no line of the overview to bring them.
        handle.config().await
    }
    .await;
    app.live.poke(queue);
    let message = if paused {
        "paused: no job is handed out until it is resumed; publishing goes on"
    } else {
        "resumed: jobs are handed out again"
    };
    match done {
        Ok(settings) => Json(json!({
            "ok": true,
            "message": message,
            "settings": super::settings::to_value(&settings),
        }))
        .into_response(),
        Err(e) => failure(e),
    }
}

/// A library error as an HTTP answer: a refusal is the caller's to read
/// (the job moved on), a Redis failure is ours.
pub(crate) fn failure(e: Error) -> Response {
    let status = match &e {
        Error::Redis { .. } | Error::Connect { .. } | Error::Stopped { .. } => {
            StatusCode::BAD_GATEWAY
        }
        Error::InvalidName { .. } | Error::InvalidId { .. } | Error::Untagged { .. } => {
            StatusCode::BAD_REQUEST
        }
        Error::NotFound { .. } => StatusCode::NOT_FOUND,
        _ => StatusCode::CONFLICT,
    };
    refuse(status, &e.to_string())
}
