//! The finished jobs a queue keeps, as the dashboard shows them: the queue
//! page's "finished" tab, the JSON API's `state=finished` listing, and a
//! kept job's record on its page.

use super::api::failure;
use super::app::App;
use super::base::Base;
use super::pages::{job_path, time};
use axum::response::{IntoResponse, Response};
use axum::Json;
use maud::{html, Markup};
use thoonk::FinishedJob;

/// The name of the tab, and of the listing's `state` in the API.
pub(crate) const TAB: &str = "finished";

/// `GET /api/queues/QUEUE/jobs?state=finished&offset=N&limit=N`: the
/// finished jobs kept, newest first (fields as [`FinishedJob`] serializes
/// them: times in Unix ms, the result as text or bytes, `null` for none).
pub(crate) async fn api(app: &App, queue: &str, offset: usize, limit: usize) -> Response {
    match list(app, queue, offset, limit).await {
        Ok(jobs) => Json(jobs).into_response(),
        Err(e) => failure(e),
    }
}

/// A page of the finished jobs kept.
pub(crate) async fn list(
    app: &App,
    queue: &str,
    offset: usize,
    limit: usize,
) -> thoonk::Result<Vec<FinishedJob>> {
    app.thoonk.queue(queue)?.finished(offset, limit).await
}

/// The queue page's listing of finished jobs: its table, and what shows
/// when the queue keeps none.
pub(crate) fn table(
    base: &Base,
    queue: &str,
    jobs: &[FinishedJob],
    offset: usize,
    limit: usize,
) -> Markup {
    html! {
        p.order { "finished jobs the queue keeps, newest first" }
        table #jobs data-queue=(queue) data-state=(TAB) data-offset=(offset) data-limit=(limit) {
            thead { tr {
                th { "id" } th { "finished" } th.n { "duration" } th { "worker" }
                th.n { "cancelled" } th { "result" }
            } }
            tbody { @for job in jobs { (row(base, queue, job)) } }
        }
        p.empty #no-jobs hidden[!jobs.is_empty()] {
            "No finished job kept. A queue keeps them once told to: "
            code { "thoonk config " (queue) " --keep-finished N" } "."
        }
    }
}

fn row(base: &Base, queue: &str, job: &FinishedJob) -> Markup {
    html! {
        tr data-id=(job.id) {
            td { a href=(job_path(base, queue, &job.id)) { code { (job.id) } } }
            td { (time(Some(job.finished_ms))) }
            td.n { (job.duration_ms) " ms" }
            td { (job.worker.as_deref().unwrap_or("—")) }
            td.n { (job.cancelled) }
            td.item { (result(job, 160)) }
        }
    }
}

/// A kept job's record, on its page.
pub(crate) fn record(job: &FinishedJob) -> Markup {
    html! {
        h2 { "Last finish (kept)" }
        dl #finished {
            dt { "finished" } dd #finished-at { (time(Some(job.finished_ms))) }
            dt { "duration" } dd #finished-duration { (job.duration_ms) " ms" }
            dt { "worker" } dd #finished-worker { (job.worker.as_deref().unwrap_or("—")) }
            dt { "cancelled before" } dd #finished-cancelled { (job.cancelled) " times" }
        }
        h3 { "Result" }
        pre #result { (result(job, usize::MAX)) }
    }
}

/// The result as text, its first `max` characters (`…` after a cut one,
/// here or when it was kept).
fn result(job: &FinishedJob, max: usize) -> String {
    let Some(result) = &job.result else {
        return "—".into();
    };
    let text = String::from_utf8_lossy(result);
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None if job.result_cut => format!("{text}…"),
        None => text.into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_show_where_they_were_cut() {
        let mut job = FinishedJob {
            id: "j".into(),
            finished_ms: 0,
            duration_ms: 5,
            worker: None,
            cancelled: 0,
            result: Some(b"<b>done</b>".to_vec()),
            result_cut: false,
        };
        assert_eq!(result(&job, 4), "<b>d…");
        assert_eq!(result(&job, 100), "<b>done</b>");
        job.result_cut = true;
        assert_eq!(result(&job, 100), "<b>done</b>…");
        job.result = None;
        assert_eq!(result(&job, 100), "—");
        let page = row(
            &Base::of(&"/".parse().unwrap(), &Default::default()),
            "q",
            &FinishedJob {
                result: Some(b"<script>".to_vec()),
                ..job
            },
        )
        .into_string();
        assert!(page.contains("&lt;script&gt;"), "{page}");
    }
}
