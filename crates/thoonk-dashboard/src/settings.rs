//! A queue's settings (its flow control, lease, cancel limit and finished
//! history) as the dashboard shows them: in JSON, as text, and as the queue
//! page's section with the pause and resume buttons.

use maud::{html, Markup};
use serde::{Serialize, Serializer};
use std::time::Duration;
use thoonk::{QueueConfig, Rate, DEFAULT_LEASE, DEFAULT_MAX_CANCELS};

/// A queue's settings in JSON: durations in milliseconds, as every time of
/// the API; an unset limit is `null`.
#[derive(Serialize)]
struct Json {
    paused: bool,
    rate: Option<RateJson>,
    max_running: Option<u64>,
    timeout_ms: Option<u64>,
    lease_ms: u64,
    max_cancels: u64,
    keep_finished: Option<u64>,
    keep_finished_for_ms: Option<u64>,
}

/// `jobs` claims in any `per_ms` milliseconds, fleet-wide.
#[derive(Serialize)]
struct RateJson {
    jobs: u64,
    per_ms: u64,
}

/// Serializes `config` as the API gives it (`serialize_with`).
pub(crate) fn serialize<S: Serializer>(config: &QueueConfig, s: S) -> Result<S::Ok, S::Error> {
    json(config).serialize(s)
}

fn json(config: &QueueConfig) -> Json {
    Json {
        paused: config.paused,
        rate: config.rate.map(|r| RateJson {
            jobs: r.jobs,
            per_ms: millis(r.per),
        }),
        max_running: config.max_running,
        timeout_ms: config.timeout.map(millis),
        lease_ms: millis(config.lease),
        max_cancels: config.max_cancels,
        keep_finished: config.keep_finished,
        keep_finished_for_ms: config.keep_finished_for.map(millis),
    }
}

/// `config` as a JSON value, for an action's reply.
pub(crate) fn to_value(config: &QueueConfig) -> serde_json::Value {
    serde_json::to_value(json(config)).expect("plain data")
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A duration in its largest whole unit: `2h`, `5m`, `30s`, `1500ms`.
/// (The page script's `span` writes the same.)
fn span(d: Duration) -> String {
    let ms = millis(d);
    for (unit, size) in [("h", 3_600_000), ("m", 60_000), ("s", 1_000)] {
        if ms > 0 && ms.is_multiple_of(size) {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// What the page shows for each setting, in the order it shows them: (the
/// id of its cell, its label, its value as text).
fn shown(config: &QueueConfig) -> [(&'static str, &'static str, String); 8] {
    let none = || "none".to_string();
    let default = |text: String, is_default: bool| {
        if is_default {
            format!("{text} (default)")
        } else {
            text
        }
    };
    [
        (
            "paused",
            "paused",
            if config.paused { "yes" } else { "no" }.into(),
        ),
        (
            "rate",
            "rate limit",
            config.rate.as_ref().map_or_else(none, Rate::to_string),
        ),
        (
            "max_running",
            "max running",
            config.max_running.map_or_else(none, |n| n.to_string()),
        ),
        (
            "timeout",
            "job timeout",
            config.timeout.map_or_else(none, span),
        ),
        (
            "lease",
            "lease",
            default(span(config.lease), config.lease == DEFAULT_LEASE),
        ),
        (
            "max_cancels",
            "max cancels",
            default(
                config.max_cancels.to_string(),
                config.max_cancels == DEFAULT_MAX_CANCELS,
            ),
        ),
        (
            "keep_finished",
            "keep finished",
            config.keep_finished.map_or_else(none, |n| n.to_string()),
        ),
        (
            "keep_finished_for",
            "keep finished for",
            config.keep_finished_for.map_or_else(none, span),
        ),
    ]
}

/// The queue page's settings, and the button that pauses or resumes the
/// queue (the other one hidden; the script swaps them). The defaults ride
/// along for the script, which marks them as this does.
pub(crate) fn section(config: &QueueConfig) -> Markup {
    html! {
        section.settings {
            h2 { "Settings" }
            dl #settings data-lease-ms=(millis(DEFAULT_LEASE)) data-max-cancels=(DEFAULT_MAX_CANCELS) {
                @for (id, label, value) in shown(config) {
                    dt { (label) } dd id=(format!("setting-{id}")) { (value) }
                }
            }
            div.flow {
                button #pause type="button" hidden[config.paused] { "pause" }
                button #resume type="button" hidden[!config.paused] { "resume" }
                " "
                span.hint { "a paused queue hands out no job to any worker; publishing goes on" }
            }
        }
    }
}

/// The overview's mark of a paused queue.
pub(crate) fn paused_mark(config: &QueueConfig) -> Markup {
    html! {
        @if config.paused {
            " " span.paused title="paused: no job is handed out" { "paused" }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_setting_set() -> QueueConfig {
        QueueConfig {
            lease: Duration::from_secs(45),
            max_cancels: 3,
            paused: true,
            rate: Some(Rate::new(5000, Duration::from_secs(60))),
            max_running: Some(4),
            timeout: Some(Duration::from_millis(2500)),
            keep_finished: Some(1000),
            keep_finished_for: Some(Duration::from_secs(3600)),
        }
    }

    #[test]
    fn spans_read_in_their_largest_whole_unit() {
        let ms = Duration::from_millis;
        assert_eq!(span(ms(30_000)), "30s");
        assert_eq!(span(ms(90_000)), "90s");
        assert_eq!(span(ms(120_000)), "2m");
        assert_eq!(span(ms(7_200_000)), "2h");
        assert_eq!(span(ms(1_500)), "1500ms");
        assert_eq!(span(ms(0)), "0ms");
    }

    #[test]
    fn defaults_are_marked_and_unset_limits_read_none() {
        let text = |c: &QueueConfig| shown(c).map(|(_, _, v)| v);
        assert_eq!(
            text(&QueueConfig::default()),
            [
                "no",
                "none",
                "none",
                "none",
                "30s (default)",
                "25 (default)",
                "none",
                "none"
            ]
        );
        let set = every_setting_set();
        assert_eq!(
            text(&set),
            ["yes", "5000/m", "4", "2500ms", "45s", "3", "1000", "1h"]
        );
    }

    #[test]
    fn settings_in_json_are_milliseconds_and_nulls() {
        let set = every_setting_set();
        assert_eq!(
            to_value(&set),
            serde_json::json!({
                "paused": true,
                "rate": { "jobs": 5000, "per_ms": 60000 },
                "max_running": 4,
                "timeout_ms": 2500,
                "lease_ms": 45000,
                "max_cancels": 3,
                "keep_finished": 1000,
                "keep_finished_for_ms": 3_600_000,
            })
        );
        assert_eq!(
            to_value(&QueueConfig::default()),
            serde_json::json!({
                "paused": false,
                "rate": null,
                "max_running": null,
                "timeout_ms": null,
                "lease_ms": 30000,
                "max_cancels": 25,
                "keep_finished": null,
                "keep_finished_for_ms": null,
            })
        );
    }
}
