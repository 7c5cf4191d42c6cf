//! `GET /metrics`: every queue in the Prometheus text format. Gauges for
//! the jobs in each state and the live workers; counters (kept in Redis,
//! so they survive a restart of the dashboard) for publishes, finishes,
//! cancels, stalls and recoveries.

use super::app::App;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use std::fmt::Write;

pub(crate) async fn metrics(State(app): State<App>) -> Response {
    let overview = app.live.now();
    let mut out = String::new();
    let mut family =
        |name: &str, kind: &str, help: &str, lines: &mut dyn Iterator<Item = (String, u64)>| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in lines {
                let _ = writeln!(out, "{name}{{{labels}}} {value}");
            }
        };
    let q = |name: &str| format!("queue=\"{}\"", label(name));
    family(
        "thoonk_jobs",
        "gauge",
        "Jobs in each state.",
        &mut overview.queues.iter().flat_map(|v| {
            [
                ("available", v.available),
                ("claimed", v.claimed),
                ("delayed", v.delayed),
                ("stalled", v.stalled),
            ]
            .map(|(state, n)| (format!("{},state=\"{state}\"", q(&v.name)), n))
        }),
    );
    family(
        "thoonk_workers",
        "gauge",
        "Workers alive on the queue.",
        &mut overview
            .queues
            .iter()
            .map(|v| (q(&v.name), v.workers.len() as u64)),
    );
    type Pick = fn(&super::live::QueueView) -> u64;
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
            name,
            "counter",
            help,
            &mut overview.queues.iter().map(|v| (q(&v.name), pick(v))),
        );
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response()
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
