//! Failures at a glance: per queue, the most common reasons its jobs carry
//! now (why each was last cancelled or stalled, `job.reasons`), grouped,
//! from a bounded sample; and the listing of the jobs that carry one group
//! (the queue page's `reason=` filter).
//!
//! Grouping: a reason's words that hold a digit (ids, counts, durations,
//! times) become `#`, so that "its lease of 30000 ms ran out" and "worker
//! 7f3a2 stopped renewing its liveness mark" group with their kind whatever
//! the numbers; the text is cut at [`GROUP_CHARS`].

use super::api::{self, Listed};
use super::app::App;
use super::base::Base;
use super::pages;
use axum::response::{IntoResponse, Json, Response};
use maud::{html, Markup};
use serde::Serialize;
use std::collections::HashMap;

/// How many entries of `job.reasons` the panel's sample reads per queue.
pub(crate) const SAMPLE: usize = 1_000;
/// Groups shown per queue.
pub(crate) const TOP: usize = 10;
/// A group's text is cut at this many characters.
pub(crate) const GROUP_CHARS: usize = 200;
/// How many entries of `job.reasons` the `reason=` listing looks through
/// for its page of jobs.
pub(crate) const LIST_SCAN: usize = 10_000;

/// One group of reasons.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Group {
    /// The reason, normalised (see the module's docs).
    pub(crate) reason: String,
    /// How many jobs of the sample carry it.
    pub(crate) count: u64,
    /// One reason of the group as written.
    pub(crate) example: String,
}

/// A queue's reasons, as the panel shows them.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct QueueFailures {
    pub(crate) queue: String,
    /// The most common groups (at most [`TOP`]), most common first.
    pub(crate) groups: Vec<Group>,
    /// Entries the sample read.
    pub(crate) sampled: u64,
    /// Jobs that carry a reason now (`HLEN`): more than `sampled` means
    /// the counts are a sample's.
    pub(crate) total: u64,
    /// Cancels and stalls of the last hour and the last 24 hours, from
    /// the queue's tally.
    pub(crate) recent: Recent,
}

/// Cancels and stalls of the last hour and of the last 24 hours.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Recent {
    pub(crate) hour: Failed,
    pub(crate) day: Failed,
}

/// How many claims were cancelled (recoveries included) and how many jobs
/// stalled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Failed {
    pub(crate) cancels: u64,
    pub(crate) stalls: u64,
}

impl Recent {
    /// From the tally's minutes, oldest first (the last 24 hours').
    fn of(minutes: &[thoonk::Slot]) -> Recent {
        let sum = |slots: &[thoonk::Slot]| Failed {
            cancels: slots.iter().map(|s| s.counts.cancels).sum(),
            stalls: slots.iter().map(|s| s.counts.stalls).sum(),
        };
        Recent {
            hour: sum(&minutes[minutes.len().saturating_sub(60)..]),
            day: sum(minutes),
        }
    }
}

/// `reason` with each word that holds a digit made `#`, cut at
/// [`GROUP_CHARS`].
pub(crate) fn normalise(reason: &str) -> String {
    let words = reason.split_whitespace().map(|word| {
        if word.chars().any(|c| c.is_ascii_digit()) {
            "#"
        } else {
            word
        }
    });
    let joined = words.collect::<Vec<_>>().join(" ");
    joined.chars().take(GROUP_CHARS).collect()
}

/// Queue `name`'s reasons, grouped, from a sample of [`SAMPLE`] entries.
pub(crate) async fn read(queue: &thoonk::Queue) -> thoonk::Result<QueueFailures> {
    let mut groups: HashMap<String, Group> = HashMap::new();
    let scan = queue
        .scan_reasons(SAMPLE, |_, reason| {
            let key = normalise(&reason);
            let group = groups.entry(key.clone()).or_insert_with(|| Group {
                reason: key,
                count: 0,
                example: reason.chars().take(GROUP_CHARS).collect(),
            });
            group.count += 1;
            true
        })
        .await?;
    let minutes = queue
        .tally(
            thoonk::Resolution::Minute,
            thoonk::Resolution::Minute.slots(),
        )
        .await?;
    let mut groups: Vec<Group> = groups.into_values().collect();
    groups.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.reason.cmp(&b.reason)));
    groups.truncate(TOP);
    Ok(QueueFailures {
        queue: queue.name().to_string(),
        groups,
        sampled: scan.seen,
        total: scan.total,
        recent: Recent::of(&minutes),
    })
}

/// The first `limit` jobs of `queue` whose reason falls in group `group`,
/// found among the first [`LIST_SCAN`] entries of `job.reasons`, each as
/// the listing shows it (its actions those of the state it is in now).
pub(crate) async fn with_reason(
    app: &App,
    queue: &str,
    group: &str,
    limit: usize,
) -> thoonk::Result<Vec<Listed>> {
    let handle = app.thoonk.queue(queue)?;
    let mut ids = Vec::new();
    handle
        .scan_reasons(LIST_SCAN, |id, reason| {
            if normalise(&reason) == group {
                ids.push(id);
            }
            ids.len() < limit
        })
        .await?;
    let details = futures_util::future::join_all(
        ids.iter()
            .map(|id| handle.detail_within(id, Some(api::LISTED_ITEM_BYTES))),
    )
    .await;
    let mut jobs = Vec::with_capacity(ids.len());
    for detail in details {
        // (Gone since the scan: finished, retracted.)
        let Some(d) = detail? else { continue };
        jobs.push(Listed {
            actions: api::actions(d.state),
            id: d.id,
            item: String::from_utf8_lossy(&d.item).into_owned(),
            item_bytes: d.size,
            cancelled: d.cancelled,
            reason: d.reason,
            progress: d.progress,
        });
    }
    Ok(jobs)
}

/// The API's `reason=` listing.
pub(crate) async fn api(app: &App, queue: &str, group: &str, limit: usize) -> Response {
    match with_reason(app, queue, group, limit).await {
        Ok(jobs) => Json(jobs).into_response(),
        Err(e) => api::failure(e),
    }
}

/// The queue page's `reason=` listing, and how many it holds.
pub(crate) async fn listing(
    app: &App,
    base: &Base,
    queue: &str,
    group: &str,
) -> Result<(Markup, usize), Response> {
    let jobs = with_reason(app, queue, group, api::PAGE)
        .await
        .map_err(api::failure)?;
    let table = html! {
        p.order #reason-filter {
            "jobs whose last reason is “" code { (group) } "” (the first "
            (api::PAGE) " found among " (LIST_SCAN) " reasons at most), "
            a href=(pages::queue_path(base, queue)) { "all jobs" }
        }
        table #jobs data-queue=(queue) data-state="" data-reason=(group) data-offset="0" data-limit=(api::PAGE) {
            thead { tr { th { "id" } th { "payload" } th.n { "cancelled" } th { "last reason" } th { "actions" } } }
            tbody { @for job in &jobs { (pages::job_row(base, queue, job)) } }
        }
        p.empty #no-jobs hidden[!jobs.is_empty()] { "No job carries this reason now." }
    };
    Ok((table, jobs.len()))
}

/// The overview's panel: each queue's groups, each linked to its listing.
pub(crate) fn section(base: &Base, failures: &[QueueFailures]) -> Markup {
    html! {
        h2 { "Failures" }
        table #failures-recent {
            thead { tr { th { "queue" } th.n { "cancelled, last hour" } th.n { "stalled, last hour" } th.n { "cancelled, 24 h" } th.n { "stalled, 24 h" } } }
            tbody {
                @for q in failures {
                    tr data-queue=(q.queue) {
                        td { (q.queue) }
                        td.n { (q.recent.hour.cancels) } td.n { (q.recent.hour.stalls) }
                        td.n { (q.recent.day.cancels) } td.n { (q.recent.day.stalls) }
                    }
                }
            }
        }
        p.note { "Why jobs were last cancelled or stalled, grouped (numbers and ids as #), most common first." }
        table #failures {
            thead { tr { th { "queue" } th { "reason" } th.n { "jobs" } } }
            tbody {
                @for q in failures {
                    @for g in &q.groups {
                        tr data-queue=(q.queue) {
                            td { (q.queue) }
                            td { a.reason href=(reason_path(base, &q.queue, &g.reason)) title=(g.example) { (g.reason) } }
                            td.n { (g.count) @if q.total > q.sampled { " (of a sample of " (q.sampled) "/" (q.total) ")" } }
                        }
                    }
                }
            }
        }
    }
}

/// The queue page listing the jobs of one group.
pub(crate) fn reason_path(base: &Base, queue: &str, group: &str) -> String {
    let mut query = form_urlencoded(group);
    query.insert_str(0, "?reason=");
    pages::queue_path(base, queue) + &query
}

/// `text` for a URL's query (`application/x-www-form-urlencoded`).
fn form_urlencoded(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_ids_group_together() {
        assert_eq!(
            normalise("worker 7f3a2 stopped renewing its liveness mark"),
            "worker # stopped renewing its liveness mark"
        );
        assert_eq!(
            normalise("its lease of 30000 ms ran out"),
            "its lease of # ms ran out"
        );
        assert_eq!(normalise("bad  input"), "bad input");
        assert_eq!(normalise(&"x".repeat(500)).len(), GROUP_CHARS);
    }

    #[test]
    fn a_group_is_encoded_in_its_link() {
        assert_eq!(form_urlencoded("a # b/é"), "a%20%23%20b%2F%C3%A9");
    }
}
