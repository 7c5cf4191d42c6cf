//! A queue's tally as the queue page shows it (publishes and finishes over
//! the last day by 10 minutes, the last week and the last 90 days by day,
//! and how long its jobs ran over the last hour), drawn on the server as
//! inline SVG: read from Redis, so every dashboard shows the same, however
//! new it is. (The overview's small charts of the last hour are drawn by
//! the script, which follows the live stream.)

use maud::{html, Markup};
use std::time::Duration;
use thoonk::{Durations, Resolution, Slot};

const WIDTH: f64 = 480.0;
const HEIGHT: f64 = 60.0;

/// The queue page's section: its three charts and its run times.
pub(crate) async fn section(queue: &thoonk::Queue) -> thoonk::Result<Markup> {
    let (minutes, days, durations) = tokio::try_join!(
        queue.tally(Resolution::Minute, Resolution::Minute.slots()),
        queue.tally(Resolution::Day, Resolution::Day.slots()),
        queue.durations(),
    )?;
    let ten_minutes: Vec<Slot> = minutes.chunks(10).map(sum).collect();
    let week = &days[days.len() - 7..];
    Ok(html! {
        section.tally {
            h2 { "Published and finished" }
            (chart("chart-day", "last 24 hours, per 10 minutes", &ten_minutes))
            (chart("chart-week", "last 7 days, per day", week))
            (chart("chart-90d", "last 90 days, per day", &days))
            h2 { "Run times, last hour" }
            (runs(&durations))
        }
    })
}

/// The slots of `chunk` as one: the first's start, the counts summed.
fn sum(chunk: &[Slot]) -> Slot {
    let mut slot = chunk[0];
    for s in &chunk[1..] {
        let (c, d) = (&mut slot.counts, &s.counts);
        c.publishes += d.publishes;
        c.finishes += d.finishes;
        c.cancels += d.cancels;
        c.stalls += d.stalls;
        c.recoveries += d.recoveries;
    }
    slot
}

/// A chart of publishes and finishes over `slots`, oldest first, with
/// their totals in its caption.
fn chart(id: &str, what: &str, slots: &[Slot]) -> Markup {
    let publishes: Vec<u64> = slots.iter().map(|s| s.counts.publishes).collect();
    let finishes: Vec<u64> = slots.iter().map(|s| s.counts.finishes).collect();
    let (p, f) = (publishes.iter().sum::<u64>(), finishes.iter().sum::<u64>());
    let max = publishes
        .iter()
        .chain(&finishes)
        .copied()
        .max()
        .unwrap_or(0)
        .max(1);
    html! {
        figure.tally id=(id) data-published=(p) data-finished=(f) {
            svg.chart.wide viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) role="img" {
                title { (what) ": " (p) " published, " (f) " finished" }
                polyline.publish points=(points(&publishes, max)) {}
                polyline.finish points=(points(&finishes, max)) {}
            }
            figcaption { (what) ": " span.published { (p) } " published, " span.finished { (f) } " finished" }
        }
    }
}

/// SVG points of `values` scaled to the chart (`max` at the top).
fn points(values: &[u64], max: u64) -> String {
    let n = values.len().max(2) - 1;
    values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let x = i as f64 / n as f64 * WIDTH;
            let y = HEIGHT - 1.0 - v as f64 / max as f64 * (HEIGHT - 2.0);
            format!("{x:.1},{y:.1}")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The last hour's run times: p50, p95 and max.
fn runs(d: &Durations) -> Markup {
    let show =
        |v: Option<Duration>| v.map_or("—".to_string(), |v| format!("{} ms", v.as_millis()));
    html! {
        dl #durations {
            dt { "finished" } dd #duration-count { (d.count) }
            dt { "median (p50)" } dd #duration-p50 { (show(d.p50)) }
            dt { "p95" } dd #duration-p95 { (show(d.p95)) }
            dt { "longest" } dd #duration-max { (show(d.max)) }
        }
        p.hint { "p50 and p95 from power-of-2 buckets: the true value lies within a factor of 2; the longest is exact." }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_span_the_chart() {
        assert_eq!(points(&[0, 2], 2), "0.0,59.0 480.0,1.0");
        assert_eq!(points(&[], 1), "");
    }
}
