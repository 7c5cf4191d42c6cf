//! The workers panel: each live worker, the queues it serves, its
//! concurrency, the jobs it holds now and how long each has run, from each
//! queue's `Queue::at_work` (bounded there: workers per queue, jobs listed
//! per worker).

use super::base::Base;
use maud::{html, Markup};
use serde::Serialize;
use std::collections::BTreeMap;

/// Jobs listed per worker and queue (each worker's count is whole).
pub(crate) const JOBS_LISTED: usize = 50;

/// A job a worker holds.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RunningJob {
    pub(crate) queue: String,
    pub(crate) id: String,
    /// How long it has run (ms), as of the panel's `at_ms`.
    pub(crate) running_ms: u64,
    /// False for a claim of an older thoonk: it has run at least this long.
    pub(crate) exact: bool,
}

/// One worker, over all the queues it serves.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct WorkerRow {
    pub(crate) id: String,
    /// What it says of itself (from the first queue that has it).
    pub(crate) about: Option<thoonk::WorkerAbout>,
    /// The queues it is alive on.
    pub(crate) queues: Vec<String>,
    /// Jobs it holds now, over its queues.
    pub(crate) holding: u64,
    /// Some of them, longest running first.
    pub(crate) jobs: Vec<RunningJob>,
}

/// The workers panel.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct WorkersPanel {
    /// Server time of the read (Unix ms).
    pub(crate) at_ms: u64,
    /// By id.
    pub(crate) workers: Vec<WorkerRow>,
}

/// The panel from each queue's workers at work.
pub(crate) fn gather(read: Vec<(String, thoonk::AtWork)>) -> WorkersPanel {
    let mut at_ms = 0;
    let mut rows: BTreeMap<String, WorkerRow> = BTreeMap::new();
    for (queue, at_work) in read {
        at_ms = at_ms.max(at_work.now_ms);
        for w in at_work.workers {
            let row = rows.entry(w.id.clone()).or_insert_with(|| WorkerRow {
                id: w.id.clone(),
                about: None,
                queues: Vec::new(),
                holding: 0,
                jobs: Vec::new(),
            });
            row.about = row.about.take().or(w.about);
            row.queues.push(queue.clone());
            row.holding += w.holding;
            row.jobs.extend(w.jobs.into_iter().map(|j| RunningJob {
                queue: queue.clone(),
                running_ms: at_work.now_ms.saturating_sub(j.since_ms),
                id: j.id,
                exact: j.exact,
            }));
        }
    }
    let workers = rows
        .into_values()
        .map(|mut row| {
            row.jobs.sort_by_key(|j| std::cmp::Reverse(j.running_ms));
            row
        })
        .collect();
    WorkersPanel { at_ms, workers }
}

/// How long, for a reader: 850 ms, 12.3 s, 4m 5s, 2h 3m.
pub(crate) fn running(ms: u64) -> String {
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        60_000..3_600_000 => format!("{}m {}s", ms / 60_000, ms / 1000 % 60),
        _ => format!("{}h {}m", ms / 3_600_000, ms / 60_000 % 60),
    }
}

/// The panel as the overview shows it (`panels.js` keeps it current).
pub(crate) fn section(base: &Base, panel: &WorkersPanel) -> Markup {
    let pages = super::pages::queue_path;
    html! {
        h2 { "Workers at work" }
        table #at-work {
            thead { tr {
                th { "worker" } th { "host · pid · version" } th { "queues" }
                th.n { "concurrency" } th.n { "holding" } th { "running jobs, longest first" }
            } }
            tbody {
                @for w in &panel.workers {
                    tr data-worker=(w.id) {
                        td { code { (w.id) } }
                        td { @if let Some(a) = &w.about { (a.host) " · " (a.pid) " · " (a.version) } }
                        td { @for q in &w.queues { a href=(pages(base, q)) { (q) } " " } }
                        td.n.concurrency { @if let Some(a) = &w.about { (a.concurrency) } }
                        td.n.holding { (w.holding) }
                        td.jobs {
                            @for j in &w.jobs {
                                span.job data-id=(j.id) {
                                    a href=(super::pages::job_path(base, &j.queue, &j.id)) { code { (j.id) } }
                                    " " span.running data-ms=(j.running_ms) { (running(j.running_ms)) @if !j.exact { "+" } }
                                }
                                " "
                            }
                        }
                    }
                }
            }
        }
    }
}
