//! `thoonk bench` runs its four phases and reports every figure, and
//! `thoonk bench --scale` times every operation at each size (small
//! sizes: this checks that it works and what it prints, not how fast; the
//! speed is for the benchmark itself and bench/compare).

mod common;

use common::{Redis, SMALL_BENCH as SMALL};
use serde_json::Value;

#[test]
fn bench_reports_every_phase_and_leaves_nothing_behind() {
    let redis = Redis::start();
    let out = redis.thoonk(&[SMALL, &["--json"]].concat());
    let results: Value = serde_json::from_str(out.line()).expect("--json prints one JSON line");
    let figure = |phase: &str, name: &str| -> f64 {
        results[phase][name]
            .as_f64()
            .unwrap_or_else(|| panic!("{phase}.{name} missing in {results}"))
    };
    for phase in ["publish_single", "publish_bulk", "process"] {
        assert!(figure(phase, "jobs_per_s") > 0.0, "{results}");
        assert!(figure(phase, "redis_cpu_us_per_job") >= 0.0, "{results}");
    }
    // 300 jobs of ~95 bytes each take room while queued.
    assert!(figure("publish_bulk", "bytes_per_job") > 95.0, "{results}");
    let (p50, p99, max) = (
        figure("latency", "p50_ms"),
        figure("latency", "p99_ms"),
        figure("latency", "max_ms"),
    );
    assert!(0.0 < p50 && p50 <= p99 && p99 <= max, "{results}");
    // Each job's handler starts before its finish event arrives, and after
    // its publish call began.
    let (start_p50, start_p99) = (
        figure("latency", "start_p50_ms"),
        figure("latency", "start_p99_ms"),
    );
    assert!(0.0 < start_p50 && start_p50 <= start_p99, "{results}");
    assert!(start_p50 <= p50 && start_p99 <= p99, "{results}");
    assert!(figure("latency", "publish_p50_ms") > 0.0, "{results}");
    // Each phase's queue is deleted after it.
    let keys = redis.query(&["KEYS", "job.*"]).strings().expect("KEYS");
    assert!(keys.is_empty(), "left behind: {keys:?}");

    // The plain form names each phase.
    let human = redis.thoonk(SMALL);
    for phase in ["publish_single", "publish_bulk", "process", "latency"] {
        assert!(
            human.assert_success().contains(phase),
            "{}",
            human.assert_success()
        );
    }
}

#[test]
fn bench_refuses_a_queue_that_is_not_empty() {
    let redis = Redis::start();
    redis.publish("mine.process", "a job of someone's", &[]);
    let out = redis.thoonk(&["bench", "--queue", "mine", "--jobs", "10"]);
    out.failed(1, &["mine.process", "not empty"]);
    // Untouched.
    assert_eq!(redis.counts("mine.process").available, 1);
}

/// What `--scale --json` names each operation, in the table's order.
const SCALE_OPS: &[&str] = &[
    "publish_1",
    "publish_100",
    "claim_1",
    "claim_50",
    "finish_1",
    "cancel_1",
    "stall_1",
    "retry_1",
    "retract_1",
    "extend_50",
    "recover",
    "recover_dead_worker",
    "workers",
    "stats",
    "detail",
    "list_available_first",
    "list_available_middle",
    "list_claimed_first",
    "list_claimed_middle",
    "list_stalled_first",
    "list_stalled_middle",
    "list_delayed_first",
    "list_delayed_middle",
    "cli_list_stalled_first_byte",
    "cli_list_stalled_end",
];

#[test]
fn bench_scale_times_every_operation_at_each_size() {
    let redis = Redis::start();
    let slowlog = || {
        let mut settings = redis
            .query(&["CONFIG", "GET", "slowlog-*"])
            .strings()
            .expect("CONFIG GET");
        settings.sort();
        settings
    };
    let slowlog_before = slowlog();
    let out = redis.thoonk(&[
        "bench",
        "--scale",
        "--scale-max",
        "1000",
        "--scale-runs",
        "2",
        "--json",
    ]);
    let results: Value = serde_json::from_str(out.line()).expect("--json prints one JSON line");
    assert_eq!(results["sizes"], serde_json::json!([1000]), "{results}");
    let ops = results["operations"].as_array().expect("operations");
    let names: Vec<&str> = ops.iter().filter_map(|op| op["op"].as_str()).collect();
    assert_eq!(names, SCALE_OPS, "{results}");
    for op in ops {
        let cells = op["results"].as_array().expect("results");
        assert_eq!(cells.len(), 1, "one size: {op}");
        let cell = &cells[0];
        assert_eq!(cell["jobs"], 1000, "{op}");
        assert!(cell["runs"].as_u64().unwrap_or(0) >= 1, "{op}");
        assert!(cell["client_ms"].as_f64().unwrap_or(0.0) > 0.0, "{op}");
        // On a Redis of our own, SLOWLOG can be read: every operation made
        // at least one command (a fast one may take Redis under 1 µs).
        assert!(cell["server_us_max"].as_u64().is_some(), "{op}");
        assert!(cell["server_us_median"].as_u64().is_some(), "{op}");
    }
    let server = |name: &str| {
        ops[SCALE_OPS.iter().position(|n| *n == name).unwrap()]["results"][0]["server_us_max"]
            .as_u64()
            .unwrap()
    };
    // Scripts take Redis microseconds, not nothing.
    for script in [
        "publish_100",
        "claim_50",
        "recover_dead_worker",
        "list_stalled_first",
    ] {
        assert!(server(script) > 0, "{script}: {results}");
    }
    // The queue is deleted, SLOWLOG's settings put back.
    let keys = redis.query(&["KEYS", "job.*"]).strings().expect("KEYS");
    assert!(keys.is_empty(), "left behind: {keys:?}");
    assert_eq!(slowlog(), slowlog_before);
}

#[test]
fn bench_scale_refuses_a_queue_that_is_not_empty() {
    let redis = Redis::start();
    redis.publish("mine.scale", "a job of someone's", &[]);
    let out = redis.thoonk(&["bench", "--scale", "--queue", "mine"]);
    out.failed(1, &["mine.scale", "not empty"]);
    assert_eq!(redis.counts("mine.scale").available, 1);
}
