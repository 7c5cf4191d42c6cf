//! A queue's settings (its flow control, lease and cancel limit) as the
//! dashboard gives them in JSON.

use serde::Serialize;
use std::time::Duration;
use thoonk::QueueConfig;

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
}

/// `jobs` claims in any `per_ms` milliseconds, fleet-wide.
#[derive(Serialize)]
struct RateJson {
    jobs: u64,
    per_ms: u64,
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
    }
}

/// `config` as a JSON value, for an action's reply.
pub(crate) fn to_value(config: &QueueConfig) -> serde_json::Value {
    serde_json::to_value(json(config)).expect("plain data")
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use thoonk::Rate;

    #[test]
    fn settings_in_json_are_milliseconds_and_nulls() {
        let set = QueueConfig {
            lease: Duration::from_secs(45),
            max_cancels: 3,
            paused: true,
            rate: Some(Rate::new(5000, Duration::from_secs(60))),
            max_running: Some(4),
            timeout: Some(Duration::from_millis(2500)),
        };
        assert_eq!(
            to_value(&set),
            serde_json::json!({
                "paused": true,
                "rate": { "jobs": 5000, "per_ms": 60000 },
                "max_running": 4,
                "timeout_ms": 2500,
                "lease_ms": 45000,
                "max_cancels": 3,
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
            })
        );
    }
}
