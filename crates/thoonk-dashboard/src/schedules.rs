//! A queue's schedules on the dashboard: the queue page's section, and the
//! task that fires the due schedules of the queues the dashboard shows, so
//! that a schedule ticks even while no worker runs (when workers do, Redis
//! lets one of them or the dashboard publish each tick).

use super::live::Live;
use maud::{html, Markup};
use std::sync::Arc;
use std::time::Duration;
use thoonk::{ScheduleInfo, Thoonk};
use tokio_util::task::AbortOnDropHandle;

/// The longest the firing task sleeps: a schedule added elsewhere shows in
/// the overview at its next sample, and is fired from then on.
const MOST_WAIT: Duration = Duration::from_secs(5);

/// Starts the firing task; it stops when the handle is dropped.
pub(crate) fn start_firing(thoonk: Thoonk, live: Arc<Live>) -> AbortOnDropHandle<()> {
    AbortOnDropHandle::new(tokio::spawn(fire(thoonk, live)))
}

/// Fires the due schedules of every queue the overview shows with
/// schedules (one read each), then sleeps until the soonest next tick.
async fn fire(thoonk: Thoonk, live: Arc<Live>) {
    loop {
        let mut wait = MOST_WAIT;
        let overview = live.now();
        for view in overview.queues.iter().filter(|q| !q.schedules.is_empty()) {
            let Ok(queue) = thoonk.queue(&view.name) else {
                continue;
            };
            match queue.fire_schedules().await {
                Ok(fired) => {
                    if !fired.published.is_empty() {
                        live.poke(&view.name);
                    }
                    if let Some(next) = fired.next_in {
                        wait = wait.min(next);
                    }
                }
                Err(e) => tracing::warn!(queue = view.name, "firing schedules failed: {e}"),
            }
        }
        tokio::time::sleep(wait).await;
    }
}

/// The queue page's schedules: name, spec, zone, next and last run.
pub(crate) fn section(schedules: &[ScheduleInfo]) -> Markup {
    html! {
        section.schedules {
            h2 { "Schedules" }
            @if schedules.is_empty() {
                p.empty #no-schedules { "No schedule: add one with " code { "thoonk schedule add" } "." }
            } @else {
                table #schedules {
                    thead { tr { th { "name" } th { "spec" } th { "zone" } th { "next run" } th { "last run" } } }
                    tbody {
                        @for s in schedules {
                            tr data-schedule=(s.name) {
                                td { code { (s.name) } }
                                td { code { (s.spec) } }
                                td { (s.zone) }
                                td.next { (super::pages::time(s.next_run_ms)) }
                                td.last { (super::pages::time(s.last_run_ms)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schedule_row_escapes_its_name_and_shows_its_times() {
        let info = ScheduleInfo {
            name: "<b>".into(),
            spec: "every 60s".into(),
            zone: "UTC".into(),
            item: Vec::new(),
            next_run_ms: Some(0),
            last_run_ms: None,
        };
        let page = section(&[info]).into_string();
        assert!(page.contains("&lt;b&gt;"), "{page}");
        assert!(page.contains("1970-01-01 00:00:00.000 UTC"), "{page}");
        assert!(page.contains("<td class=\"last\">—</td>"), "{page}");
    }
}
