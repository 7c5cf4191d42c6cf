//! `thoonk bench` runs its four phases and reports every figure (small
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
