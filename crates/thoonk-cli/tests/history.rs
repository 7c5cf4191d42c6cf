//! The finished history from the command line (issue 15): `config
//! --keep-finished` and `--keep-finished-for` (set, shown, removed,
//! refused), and `list QUEUE finished` in JSON and in plain lines.

mod common;

use common::Redis;
use serde_json::{json, Value};

/// Publishes `id`, claims it and finishes it with `result`.
fn finish(redis: &Redis, id: &str, result: &str) {
    redis.publish("q", "item", &["--id", id]);
    let claim = redis.get("q");
    assert_eq!(claim.id, id);
    redis
        .thoonk(&["finish", "q", id, result, "--token", &claim.token])
        .assert_success();
}

fn finished(redis: &Redis) -> Vec<Value> {
    let out = redis.thoonk(&["list", "q", "finished", "--json"]);
    let value: Value = serde_json::from_str(out.line()).expect("list --json prints JSON");
    value.as_array().expect("an array").clone()
}

#[test]
fn config_keeps_finished_jobs_and_list_finished_shows_them() {
    let redis = Redis::start();
    let out = redis.thoonk(&[
        "config",
        "q",
        "--keep-finished",
        "2",
        "--keep-finished-for",
        "3600",
        "--json",
    ]);
    let set: Value = serde_json::from_str(out.line()).unwrap();
    assert_eq!(
        (&set["keep_finished"], &set["keep_finished_for"]),
        (&json!(2), &json!(3600.0))
    );
    let human = redis.thoonk(&["config", "q"]);
    let text = human.assert_success();
    assert!(
        text.lines()
            .any(|l| l.split_whitespace().eq(["keep_finished", "2"]))
            && text
                .lines()
                .any(|l| l.split_whitespace().eq(["keep_finished_for", "3600", "s"])),
        "{text}"
    );

    for (id, result) in [("j1", "one"), ("j2", "two"), ("j3", "three\tand a tab")] {
        finish(&redis, id, result);
    }
    let listed = finished(&redis);
    let ids: Vec<&str> = listed.iter().map(|j| j["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["j3", "j2"], "the last two, newest first");
    let newest = &listed[0];
    assert_eq!(newest["result"], "three\tand a tab");
    assert_eq!(newest["result_cut"], false);
    assert_eq!(
        (&newest["cancelled"], &newest["worker"]),
        (&json!(0), &Value::Null)
    );
    assert!(newest["finished_ms"].as_u64().unwrap() > 0 && newest["duration_ms"].is_u64());

    // Plain lines: one per job, the result escaped onto its line.
    let plain = redis.thoonk(&["list", "q", "finished"]);
    let lines: Vec<&str> = plain.assert_success().lines().collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].starts_with("j3\t") && lines[0].ends_with("\t-\t0\tthree\\tand a tab"),
        "{}",
        lines[0]
    );

    // Off: nothing kept, and what was kept is gone.
    let out = redis.thoonk(&[
        "config",
        "q",
        "--keep-finished",
        "none",
        "--keep-finished-for",
        "none",
        "--json",
    ]);
    let off: Value = serde_json::from_str(out.line()).unwrap();
    assert_eq!(
        (&off["keep_finished"], &off["keep_finished_for"]),
        (&Value::Null, &Value::Null)
    );
    assert!(finished(&redis).is_empty());
    finish(&redis, "j4", "four");
    assert!(finished(&redis).is_empty());
}

#[test]
fn history_settings_out_of_range_are_usage_errors() {
    let redis = Redis::start();
    for (flag, bad) in [
        ("--keep-finished", "0"),
        ("--keep-finished", "-3"),
        ("--keep-finished", "many"),
        ("--keep-finished-for", "0"),
        ("--keep-finished-for", "forever"),
        ("--keep-finished-for", "99999999999"),
    ] {
        let out = redis.thoonk(&["config", "q", &format!("{flag}={bad}")]);
        assert_eq!(out.code, 2, "{flag} {bad}: {out:?}");
        assert!(out.stderr.contains(flag), "{flag} {bad}: {}", out.stderr);
    }
    assert_eq!(redis.config("q"), thoonk::QueueConfig::default());
    // (The flags are there: good values pass.)
    redis
        .thoonk(&[
            "config",
            "q",
            "--keep-finished=5",
            "--keep-finished-for=0.5",
        ])
        .assert_success();
    assert_eq!(redis.config("q").keep_finished, Some(5));
    let out = redis.thoonk(&["list", "q", "finishd"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("finished"), "{}", out.stderr);
}
