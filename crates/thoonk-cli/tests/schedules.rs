//! `thoonk schedule`: several `thoonk work` processes on a queue with a
//! schedule publish each tick once, not once per process; a dashboard with
//! no worker fires it too; bad cron expressions and zones exit 2 naming
//! the queue and the schedule; replace, list and remove by name.

mod common;

use common::dashboard::Dashboard;
use common::worker::WorkerProcess;
use common::Redis;
use serde_json::Value;
use std::collections::BTreeMap;
use thoonk_testkit::poll::until;
use thoonk_testkit::TempDir;

/// Logs the id of the job it runs.
const LOG_ID: &str = r#"cat >/dev/null; echo "$THOONK_JOB_ID" >> "$DIR/log""#;

/// How many times each job id ran, from the log.
fn runs(dir: &TempDir) -> BTreeMap<String, usize> {
    let mut runs = BTreeMap::new();
    for id in dir.lines("log") {
        *runs.entry(id).or_default() += 1;
    }
    runs
}

#[test]
fn each_tick_publishes_once_however_many_workers_run() {
    let redis = Redis::start();
    let dir = TempDir::new("schedule-workers").expect("a temp dir");
    let flags = dir.file("");
    let workers = WorkerProcess::start_together(
        3,
        &redis,
        "q",
        &["--concurrency", "2"],
        &["sh", "-c", LOG_ID],
        &[("DIR", flags.as_str())],
    );
    redis
        .thoonk(&["schedule", "add", "q", "beat", "--every", "1", "tick"])
        .assert_success();
    until("four ticks ran", || runs(&dir).len() >= 4);
    redis
        .thoonk(&["schedule", "remove", "q", "beat"])
        .assert_success();
    for worker in workers {
        worker.terminate();
    }
    let runs = runs(&dir);
    let leftover: Vec<String> = redis.ids("q", "available");
    for (id, n) in &runs {
        assert_eq!(*n, 1, "tick {id} ran {n} times: {runs:?}");
        let tick: u64 = id
            .strip_prefix("beat@")
            .expect("NAME@TICK")
            .parse()
            .unwrap();
        assert_eq!(tick % 1000, 0, "ticks on whole seconds: {id}");
        assert!(!leftover.contains(id), "{id} ran and is still queued");
    }
    // Every publish is one tick: those that ran and those still queued.
    let publishes = redis.stats("q")["publishes"].as_u64().unwrap();
    assert_eq!(publishes as usize, runs.len() + leftover.len());
}

#[test]
fn a_dashboard_fires_schedules_with_no_worker_running() {
    let redis = Redis::start();
    redis
        .thoonk(&["schedule", "add", "q", "beat", "--every", "1", "x"])
        .assert_success();
    let dashboard = Dashboard::on(redis, None);
    until("the dashboard fired two ticks", || {
        dashboard.redis.ids("q", "available").len() >= 2
    });
    let api = dashboard.json("/api/queues/q");
    let schedules = api["schedules"].as_array().expect("the queue's schedules");
    assert_eq!(schedules[0]["name"], "beat");
    assert_eq!(schedules[0]["spec"], "every 1s");
    let page = dashboard.get("/queues/q");
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("data-schedule=\"beat\""),
        "{}",
        page.body
    );
}

#[test]
fn bad_cron_expressions_and_unknown_zones_exit_2_naming_queue_and_schedule() {
    let redis = Redis::start();
    let out = redis.thoonk(&["schedule", "add", "mail", "nightly", "--cron", "61 * * * *"]);
    out.failed(
        2,
        &["mail", "nightly", "bad cron expression \"61 * * * *\""],
    );
    let out = redis.thoonk(&[
        "schedule",
        "add",
        "mail",
        "nightly",
        "--cron",
        "0 2 * * *",
        "--tz",
        "Mars/Olympus",
    ]);
    out.failed(
        2,
        &["mail", "nightly", "unknown time zone \"Mars/Olympus\""],
    );
    let out = redis.thoonk(&[
        "schedule",
        "add",
        "mail",
        "nightly",
        "--every",
        "60",
        "--tz",
        "Europe/Paris",
    ]);
    out.failed(2, &["mail", "nightly", "applies to a cron schedule only"]);
    redis
        .thoonk(&["schedule", "add", "mail", "nightly", "--every", "0.5"])
        .usage_error();
    redis
        .thoonk(&["schedule", "add", "mail", "nightly"])
        .usage_error();
    assert_eq!(
        redis.thoonk(&["schedule", "list", "mail"]).assert_success(),
        ""
    );
}

#[test]
fn schedules_are_replaced_listed_and_removed_by_name() {
    let redis = Redis::start();
    redis
        .thoonk(&["schedule", "add", "q", "report", "--every", "60", "a"])
        .assert_success();
    let line = redis
        .thoonk(&[
            "schedule",
            "add",
            "q",
            "report",
            "--cron",
            "0 9 * * MON-FRI",
            "--tz",
            "Europe/Paris",
            "b",
        ])
        .line()
        .to_string();
    assert!(line.starts_with("report\tnext run "), "{line}");
    let out = redis.thoonk(&["schedule", "list", "q", "--json"]);
    let listed: Value = serde_json::from_str(out.line()).unwrap();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(
        (&listed[0]["spec"], &listed[0]["zone"], &listed[0]["item"]),
        (
            &Value::from("0 9 * * MON-FRI"),
            &Value::from("Europe/Paris"),
            &Value::from("b")
        )
    );
    assert!(listed[0]["next_run_ms"].is_u64());
    assert!(listed[0]["last_run_ms"].is_null());
    let plain = redis.thoonk(&["schedule", "list", "q"]).line().to_string();
    assert!(
        plain.starts_with("report\t0 9 * * MON-FRI\tEurope/Paris\t"),
        "{plain}"
    );
    redis
        .thoonk(&["schedule", "remove", "q", "report"])
        .assert_success();
    assert_eq!(
        redis.thoonk(&["schedule", "list", "q"]).assert_success(),
        ""
    );
    redis
        .thoonk(&["schedule", "remove", "q", "report"])
        .refused(&["q", "no schedule report"]);
}
