//! The HTML pages, built with `maud` (which escapes every value it is
//! given), and the embedded script and style. Pages arrive complete; the
//! script then keeps them current from the live streams.

use super::api::{self, actions, Listed, PAGE};
use super::app::App;
use super::base::Base;
use super::live::QueueView;
use super::{charts, history, schedules, settings};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup, DOCTYPE};
use serde::Deserialize;
use std::borrow::Cow;
use thoonk::State as JobState;

const SCRIPT: &str = include_str!("assets/app.js");
const STYLE: &str = include_str!("assets/app.css");

pub(crate) async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        SCRIPT,
    )
        .into_response()
}

pub(crate) async fn style() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE).into_response()
}

/// A page: its head, its header (the way home, the live mark, and the
/// logout button when there is a token to log out of), `body`, and the
/// script, which learns the mount point from `data-base`.
fn layout(app: &App, base: &Base, page: &str, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · thoonk" }
                link rel="icon" href="data:,";
                link rel="stylesheet" href=(base.url("/assets/app.css"));
            }
            body data-page=(page) data-base=(base.prefix()) {
                header {
                    a.brand href=(base.home()) { "thoonk" }
                    span.live #live title="live updates" { "●" }
                    @if app.token.is_some() {
                        form.logout method="post" action=(base.url("/logout")) { button type="submit" { "log out" } }
                    }
                }
                main { (body) }
                script src=(base.url("/assets/app.js")) {}
            }
        }
    }
}

/// `/`: every queue, its counts, rates and workers, and which are paused.
pub(crate) async fn overview(State(app): State<App>, base: Base) -> Markup {
    let overview = app.live.now();
    let body = html! {
        h1 { "Queues" }
        @if let Some(error) = &overview.error {
            p.error { "Redis: " (error) }
        }
        table #queues {
            thead { tr {
                th { "queue" } th.n { "available" } th.n title="how long the oldest available job has waited" { "oldest waits" }
                th.n { "claimed" } th.n { "delayed" }
                th.n { "stalled" } th { "published / finished per minute, last hour" } th.n { "workers" }
            } }
            tbody {
                @for q in &overview.queues {
                    tr data-queue=(q.name) {
                        td.name { a href=(queue_path(&base, &q.name)) { (q.name) } (settings::paused_mark(&q.settings)) }
                        td.n.available { (q.available) }
                        td.n.latency { (waited(q.latency_ms)) }
                        td.n.claimed { (q.claimed) }
                        td.n.delayed { (q.delayed) }
                        td.n.stalled { (q.stalled) }
                        td.rates data-publish=(numbers(&q.publishes_per_minute)) data-finish=(numbers(&q.finishes_per_minute)) {}
                        td.n.workers { (q.workers.len()) }
                    }
                }
            }
        }
        @if overview.queues.is_empty() {
            p.empty #no-queues { "No queue yet: publish a job and it shows here." }
        }
        h2 { "Workers alive" }
        ul #workers {
            @for q in &overview.queues {
                @for w in &q.workers {
                    li { code { (w.id) } " on " a href=(queue_path(&base, &q.name)) { (q.name) } ", holding " (w.claimed) }
                }
            }
        }
        (super::panels::section(&app, &base))
    };
    layout(&app, &base, "overview", "Queues", body)
}

#[derive(Deserialize)]
pub(crate) struct QueuePage {
    state: Option<String>,
    offset: Option<usize>,
    /// "Find a job by id": the form sends it here.
    find: Option<String>,
    /// Only the jobs whose last reason is in this group (see `failures`).
    reason: Option<String>,
}

/// `/queues/QUEUE?state=S&offset=N`: the queue's settings, with pause and
/// resume, and its jobs in one state (or the finished ones it keeps), paged.
pub(crate) async fn queue(
    State(app): State<App>,
    base: Base,
    Path(queue): Path<String>,
    Query(page): Query<QueuePage>,
) -> Response {
    if let Some(id) = page
        .find
        .as_deref()
        .map(str::trim)
        .filter(|id| !id.is_empty())
    {
        return Redirect::to(&job_path(&base, &queue, id)).into_response();
    }
    // (A reason's listing is of no one state: no tab is the current one.)
    let tab = match page.reason {
        Some(_) => "",
        None => page.state.as_deref().unwrap_or("available"),
    };
    let offset = page.offset.unwrap_or(0);
    let listed = match &page.reason {
        Some(group) => super::failures::listing(&app, &base, &queue, group).await,
        None => listing(&app, &base, &queue, tab, offset).await,
    };
    let (listing, listed) = match listed {
        Ok(listing) => listing,
        Err(refused) => return refused,
    };
    let overview = app.live.now();
    let view = overview.queue(&queue);
    let (settings, scheduled) = match settings_and_schedules(&app, &queue, view).await {
        Ok(read) => read,
        Err(e) => return api::failure(e),
    };
    let tally = match app.thoonk.queue(&queue) {
        Ok(handle) => charts::section(&handle).await,
        Err(e) => Err(e),
    };
    let tally = match tally {
        Ok(tally) => tally,
        Err(e) => return api::failure(e),
    };
    let count = |s: JobState| view.map_or(0, |v| count(v, s));
    let queue_path = queue_path(&base, &queue);
    let tab_path = |offset: usize| format!("{queue_path}?state={tab}&offset={offset}");
    let body = html! {
        h1 {
            "Queue " span.name { (queue) } " "
            span.paused #paused-mark hidden[!settings.paused] title="paused: no job is handed out" { "paused" }
        }
        (settings::section(&settings))
        (schedules::section(&scheduled))
        (tally)
        nav.states {
            @for s in JobState::ALL {
                a.current[s.as_str() == tab] href=(format!("{queue_path}?state={}", s.as_str())) {
                    (s.as_str()) " " span.count id=(format!("count-{}", s.as_str())) { (count(s)) }
                }
            }
            a.current[tab == history::TAB] href=(format!("{queue_path}?state={}", history::TAB)) { (history::TAB) }
        }
        form.find method="get" action=(queue_path) {
            input type="search" name="find" placeholder="find a job by id" aria-label="job id";
            button type="submit" { "find" }
        }
        p #flash role="status" {}
        (listing)
        nav.pager {
            @if offset > 0 {
                a href=(tab_path(offset.saturating_sub(PAGE))) { "← newer page" }
            }
            // (A reason's listing is its first page alone.)
            @if listed == PAGE && page.reason.is_none() {
                a href=(tab_path(offset + PAGE)) { "next page →" }
            }
        }
    };
    layout(&app, &base, "queue", &queue, body).into_response()
}

/// The listing of the queue page's tab `tab` (a state, or the finished
/// jobs kept) from `offset`, and how many it holds; or the refusal to answer
/// with.
async fn listing(
    app: &App,
    base: &Base,
    queue: &str,
    tab: &str,
    offset: usize,
) -> Result<(Markup, usize), Response> {
    if tab == history::TAB {
        let jobs = history::list(app, queue, offset, PAGE)
            .await
            .map_err(api::failure)?;
        return Ok((history::table(base, queue, &jobs, offset, PAGE), jobs.len()));
    }
    let state = tab
        .parse::<JobState>()
        .map_err(|e| (StatusCode::BAD_REQUEST, e).into_response())?;
    let jobs = api::list(app, queue, state, offset, PAGE)
        .await
        .map_err(api::failure)?;
    let table = html! {
        @if state == JobState::Stalled {
            button #retry-all type="button" { "retry all stalled" }
        }
        p.order { (state.as_str()) " jobs, " (order(state)) }
        table #jobs data-queue=(queue) data-state=(state.as_str()) data-offset=(offset) data-limit=(PAGE) {
            thead { tr { th { "id" } th { "payload" } th.n { "cancelled" } th { "last reason" } th { "actions" } } }
            tbody { @for job in &jobs { (job_row(base, queue, job)) } }
        }
        p.empty #no-jobs hidden[!jobs.is_empty()] { "No " (state.as_str()) " jobs." }
    };
    Ok((table, jobs.len()))
}

/// The queue's settings and schedules, from its line of the overview; or,
/// not in it (yet), read: one HMGET and one read of the (bounded)
/// schedules.
async fn settings_and_schedules(
    app: &App,
    queue: &str,
    view: Option<&QueueView>,
) -> thoonk::Result<(thoonk::QueueConfig, Vec<thoonk::ScheduleInfo>)> {
    if let Some(view) = view {
        return Ok((view.settings, view.schedules.clone()));
    }
    let handle = app.thoonk.queue(queue)?;
    tokio::try_join!(handle.config(), handle.schedules_without_items())
}

/// How many jobs `view` counts in `state`.
fn count(view: &QueueView, state: JobState) -> u64 {
    match state {
        JobState::Available => view.available,
        JobState::Claimed => view.claimed,
        JobState::Stalled => view.stalled,
        JobState::Delayed => view.delayed,
    }
}

/// The order a listing of jobs in `state` comes in.
fn order(state: JobState) -> &'static str {
    match state {
        JobState::Available => "next to be claimed first",
        JobState::Claimed => "by claim (or last lease extension) time, oldest first",
        JobState::Stalled => "by id",
        JobState::Delayed => "soonest due first",
    }
}

pub(crate) fn job_row(base: &Base, queue: &str, job: &Listed) -> Markup {
    html! {
        tr data-id=(job.id) {
            td { a href=(job_path(base, queue, &job.id)) { code { (job.id) } } }
            td.item { (listed_preview(job)) }
            td.n { (job.cancelled) }
            td.reason {
                (job.reason.as_deref().unwrap_or(""))
                @if let Some(progress) = &job.progress {
                    span.progress { "progress " code { (progress) } }
                }
            }
            td.actions {
                @for action in job.actions {
                    button type="button" data-action=(action) data-id=(job.id) { (action) }
                }
            }
        }
    }
}

/// `/queues/QUEUE/jobs/ID`: one job, whole.
pub(crate) async fn job(
    State(app): State<App>,
    base: Base,
    Path((queue, id)): Path<(String, String)>,
) -> Response {
    let (detail, finished) = match api::job_and_finish(&app, &queue, &id).await {
        Ok(both) => both,
        Err(e) => return api::failure(e),
    };
    let body = html! {
        p.crumbs { a href=(queue_path(&base, &queue)) { "← queue " (queue) } }
        h1 { "Queue " code #job-id { (id) } }
        p #flash role="status" {}
        @match (&detail, &finished) {
            (None, Some(_)) => {
                dl #detail data-queue=(queue) data-id=(id) { dt { "state" } dd #state { (history::TAB) } }
                div.actions #job-actions {}
            }
            (None, None) => p.error #missing { "No job " (id) " in queue " (queue) ": it finished, was retracted, or never was." },
            (Some(d), _) => {
                dl #detail data-queue=(queue) data-id=(id) {
                    dt { "state" } dd #state { (d.state.as_str()) }
                    dt { "cancelled" } dd #cancelled { (d.cancelled) " times" }
                    dt { "last reason" } dd #reason { (d.reason.as_deref().unwrap_or("—")) }
                    dt { "claimed (or lease last extended)" } dd #claimed { (time(d.claimed_ms)) }
                    dt { "lease deadline" } dd #lease { (time(d.lease_deadline_ms)) }
                    dt { "held by worker" } dd #worker { (d.worker.as_deref().unwrap_or("—")) }
                    dt { "due" } dd #due { (time(d.due_ms)) }
                    dt { "progress" } dd #progress { (d.progress.as_ref().map_or("—".into(), |p| p.to_string())) }
                }
                div.actions #job-actions {
                    @for action in actions(d.state) {
                        button type="button" data-action=(action) data-id=(id) { (action) }
                    }
                }
                h2 { "Payload " span.hint #payload-size { "(" (d.item.len()) " bytes)" } }
                pre #payload { (&*pretty(&d.item)) }
            }
        }
        @if let Some(finished) = &finished { (history::record(finished)) }
    };
    layout(&app, &base, "job", &id, body).into_response()
}

/// `/login`: the token form.
pub(crate) async fn login(base: Base) -> Markup {
    login_page(&base, None)
}

/// The token form, with `error` above it.
pub(crate) fn login_page(base: &Base, error: Option<&str>) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "log in · thoonk" }
                link rel="icon" href="data:,";
                link rel="stylesheet" href=(base.url("/assets/app.css"));
            }
            body.login {
                form method="post" action=(base.url("/login")) {
                    h1 { "thoonk" }
                    @if let Some(error) = error { p.error { (error) } }
                    label { "Token " input type="password" name="token" autofocus; }
                    button type="submit" { "log in" }
                }
            }
        }
    }
}

/// The largest payload pretty-printed: parsing JSON into a value costs
/// several times its size in memory; past this it is shown as it is.
const MOST_PRETTY: usize = 1 << 20;

/// The payload, pretty-printed when it is JSON (and not too large); else
/// as it is, not copied when it is UTF-8.
fn pretty(item: &[u8]) -> Cow<'_, str> {
    if item.len() <= MOST_PRETTY {
        if let Ok(value) = serde_json::from_slice::<serde_json::Value>(item) {
            return serde_json::to_string_pretty(&value)
                .unwrap_or_default()
                .into();
        }
    }
    String::from_utf8_lossy(item)
}

/// A listed job's preview; a payload too large for a listing to read
/// says its size instead (app.js's `preview` writes the same).
fn listed_preview(job: &Listed) -> String {
    if job.item.is_empty() && job.item_bytes > 0 {
        return format!("({} bytes: open the job to see it)", job.item_bytes);
    }
    preview(&job.item)
}

/// The start of a payload, for a listing.
fn preview(item: &str) -> String {
    const MAX: usize = 160;
    match item.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &item[..cut]),
        None => item.to_string(),
    }
}

/// A wait as people read it: `-` for none, `4.2s`, `3m 20s`, `2h 5m`
/// (app.js's `waited` writes the same).
fn waited(ms: u64) -> String {
    let s = ms / 1000;
    match ms {
        0 => "-".into(),
        1..=59_999 => format!("{:.1}s", ms as f64 / 1000.0),
        60_000..=3_599_999 => format!("{}m {}s", s / 60, s % 60),
        _ => format!("{}h {}m", s / 3600, s / 60 % 60),
    }
}

fn numbers(values: &[u64]) -> String {
    values
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// `/queues/NAME` under the mount point, the name percent-encoded (names
/// may hold `/`, `?`, `#`).
pub(crate) fn queue_path(base: &Base, queue: &str) -> String {
    base.url(&format!("/queues/{}", segment(queue)))
}

/// `/queues/NAME/jobs/ID` under the mount point.
pub(crate) fn job_path(base: &Base, queue: &str, id: &str) -> String {
    base.url(&format!("/queues/{}/jobs/{}", segment(queue), segment(id)))
}

fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Unix ms as `2026-11-29 07:31:02.123 UTC`; `—` for none.
pub(crate) fn time(ms: Option<u64>) -> String {
    let Some(ms) = ms else { return "—".into() };
    let (secs, millis) = (ms / 1000, ms % 1000);
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{millis:03} UTC",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_read_in_seconds_minutes_or_hours() {
        assert_eq!(waited(0), "-");
        assert_eq!(waited(4_240), "4.2s");
        assert_eq!(waited(200_000), "3m 20s");
        assert_eq!(waited(7_500_000), "2h 5m");
    }

    #[test]
    fn times_read_as_utc() {
        assert_eq!(time(Some(0)), "1970-01-01 00:00:00.000 UTC");
        assert_eq!(time(Some(1_796_023_862_123)), "2026-11-30 07:31:02.123 UTC");
        assert_eq!(time(Some(951_782_400_000)), "2000-02-29 00:00:00.000 UTC");
        assert_eq!(time(None), "—");
    }

    #[test]
    fn names_are_percent_encoded_in_paths() {
        let root = Base::of(&"/".parse().unwrap(), &Default::default());
        assert_eq!(
            queue_path(&root, "{mail}/x?y#z"),
            "/queues/%7Bmail%7D%2Fx%3Fy%23z"
        );
        assert_eq!(job_path(&root, "q", "a b"), "/queues/q/jobs/a%20b");
    }

    #[test]
    fn a_script_payload_is_text() {
        let page = html! { pre { (&*pretty(b"<script>alert(1)</script>")) } }.into_string();
        assert_eq!(page, "<pre>&lt;script&gt;alert(1)&lt;/script&gt;</pre>");
    }
}
