//! `GET /metrics`: every queue in the Prometheus text format. Gauges for
//! the jobs in each state, the oldest available job's wait (latency), the
//! live workers and the settings (paused, the limits); counters (kept in Redis, so they survive a restart of the
//! dashboard) for publishes, finishes, cancels, stalls and recoveries;
//! and a histogram of how long finished jobs ran (the tally's, in Redis).
//! All from the overview the dashboard keeps: a scrape costs Redis nothing.

use super::app::App;
use super::live::QueueView;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use std::fmt::{Display, Write};

pub(crate) async fn metrics(State(app): State<App>) -> Response {
    let overview = app.live.now();
    // Redis could not be read at the last refresh: the numbers kept are
    // old, and a scrape that took them for current ones would hide the
    // outage. 503 makes Prometheus mark the target down (`up` 0); the body
    // says why, for whoever looks.
    if let Some(error) = &overview.error {
        let body = format!(
            "# HELP thoonk_up 1 when the dashboard could read Redis at its last refresh.\n\
             # TYPE thoonk_up gauge\nthoonk_up 0\n# Redis could not be read: {}\n",
            error.replace('\n', " ")
        );
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, TEXT)],
            body,
        )
            .into_response();
    }
    let mut out = String::from(
        "# HELP thoonk_up 1 when the dashboard could read Redis at its last refresh.\n\
         # TYPE thoonk_up gauge\nthoonk_up 1\n",
    );
    jobs_and_workers(&mut out, &overview.queues);
    counters(&mut out, &overview.queues);
    settings(&mut out, &overview.queues);
    durations(&mut out, &overview.queues);
    ([(header::CONTENT_TYPE, TEXT)], out).into_response()
}

/// The Prometheus text format's content type.
const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// One metric family: its HELP and TYPE lines, then a line per (labels,
/// value).
fn family<V: Display>(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    lines: impl Iterator<Item = (String, V)>,
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (labels, value) in lines {
        let _ = writeln!(out, "{name}{{{labels}}} {value}");
    }
}

/// The `queue` label of `view`.
fn q(view: &QueueView) -> String {
    format!("queue=\"{}\"", label(&view.name))
}

fn jobs_and_workers(out: &mut String, queues: &[QueueView]) {
    family(
        out,
        "thoonk_jobs",
        "gauge",
        "Jobs in each state.",
        queues.iter().flat_map(|v| {
            [
                ("available", v.available),
                ("claimed", v.claimed),
                ("delayed", v.delayed),
                ("stalled", v.stalled),
            ]
            .map(|(state, n)| (format!("{},state=\"{state}\"", q(v)), n))
        }),
    );
    family(
        out,
        "thoonk_queue_latency_seconds",
        "gauge",
        "How long the oldest available job has waited (0 when none waits).",
        queues.iter().map(|v| (q(v), v.latency_ms as f64 / 1000.0)),
    );
    family(
        out,
        "thoonk_workers",
        "gauge",
        "Workers alive on the queue.",
        queues.iter().map(|v| (q(v), v.workers.len())),
    );
}

fn counters(out: &mut String, queues: &[QueueView]) {
    type Pick = fn(&QueueView) -> u64;
    let counters: [(&str, &str, Pick); 5] = [
        ("thoonk_publishes_total", "Jobs published.", |v| v.publishes),
        ("thoonk_finishes_total", "Jobs finished.", |v| v.finishes),
        (
            "thoonk_cancels_total",
            "Claims cancelled back to the queue (by workers, or by recovery).",
            |v| v.cancels,
        ),
        ("thoonk_stalls_total", "Jobs stalled.", |v| v.stalls),
        (
            "thoonk_recoveries_total",
            "Claims taken back after their lease or worker ran out.",
            |v| v.recoveries,
        ),
    ];
    for (name, help, pick) in counters {
        family(
            out,
            name,
            "counter",
            help,
            queues.iter().map(|v| (q(v), pick(v))),
        );
    }
}

/// The settings, as the overview last read them (no Redis call per
/// scrape). A limit the queue does not set has no line: 0 would read as a
/// limit that lets nothing through.
fn settings(out: &mut String, queues: &[QueueView]) {
    family(
        out,
        "thoonk_paused",
        "gauge",
        "1 when the queue is paused (no job is handed out), else 0.",
        queues.iter().map(|v| (q(v), u8::from(v.settings.paused))),
    );
    type Pick = fn(&thoonk::QueueConfig) -> Option<f64>;
    let gauges: [(&str, &str, Pick); 6] = [
        (
            "thoonk_rate_limit_jobs",
            "Claims the rate limit allows in one period, fleet-wide; no line when there is no rate limit.",
            |c| c.rate.map(|r| r.jobs as f64),
        ),
        (
            "thoonk_rate_limit_period_seconds",
            "The rate limit's period; no line when there is no rate limit.",
            |c| c.rate.map(|r| r.per.as_secs_f64()),
        ),
        (
            "thoonk_max_running",
            "Most jobs claimed at once, fleet-wide; no line when there is no such limit.",
            |c| c.max_running.map(|n| n as f64),
        ),
        (
            "thoonk_job_timeout_seconds",
            "How long a worker lets a job run before it cancels it; no line when the queue sets none.",
            |c| c.timeout.map(|t| t.as_secs_f64()),
        ),
        (
            "thoonk_lease_seconds",
            "How long a claim holds without being extended (the default when the queue sets none).",
            |c| Some(c.lease.as_secs_f64()),
        ),
        (
            "thoonk_max_cancels",
            "Cancels a job may have before it is stalled instead (the default when the queue sets none).",
            |c| Some(c.max_cancels as f64),
        ),
    ];
    for (name, help, pick) in gauges {
        let lines = queues
            .iter()
            .filter_map(|v| pick(&v.settings).map(|value| (q(v), value)));
        family(out, name, "gauge", help, lines);
    }
}

/// `thoonk_job_duration_seconds`: how long finished jobs ran, as a
/// histogram per queue, its buckets the tally's (powers of 2 of ms, from
/// 1 ms to 17.5 minutes), cumulative as Prometheus wants them.
fn durations(out: &mut String, queues: &[QueueView]) {
    let name = "thoonk_job_duration_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} How long finished jobs ran (the worker's handler; a job finished by hand: from its claim).
# TYPE {name} histogram"
    );
    for v in queues {
        let d = &v.durations;
        let mut below = 0;
        for (b, n) in d.buckets.iter().enumerate() {
            below += n;
            let le = thoonk::Durations::bucket_le_ms(b)
                .map_or("+Inf".to_string(), |ms| (ms as f64 / 1000.0).to_string());
            let _ = writeln!(out, "{name}_bucket{{{},le=\"{le}\"}} {below}", q(v));
        }
        let _ = writeln!(out, "{name}_sum{{{}}} {}", q(v), d.sum_ms as f64 / 1000.0);
        let _ = writeln!(out, "{name}_count{{{}}} {below}", q(v));
    }
}

/// A label value as the text format needs it: backslash, quote and
/// newline escaped.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    #[test]
    fn label_values_are_escaped() {
        assert_eq!(super::label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
