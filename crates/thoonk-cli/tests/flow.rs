//! Flow control from the command line, across a fleet of `thoonk work`
//! processes: `config` (its flags, its output, its refusals), `pause` and
//! `resume` with their events, the rate limit and the running limit held
//! by three workers together.

mod common;

use common::worker::WorkerProcess;
use common::Redis;
use serde_json::{json, Value};
use std::sync::mpsc::Receiver;
use thoonk_testkit::poll::{until, DEADLINE};
use thoonk_testkit::TempDir;

/// `n` jobs, queued at once as any client of the layout may (the
/// Node.js original too): their ids in job.ids, their items in job.items.
fn queue_jobs(redis: &Redis, queue: &str, n: usize) {
    let ids = format!("job.ids:{queue}");
    let items = format!("job.items:{queue}");
    let n = n.to_string();
    let script = "for i = 1, tonumber(ARGV[1]) do \
                    redis.call('LPUSH', KEYS[1], 'job-' .. i) \
                    redis.call('HSET', KEYS[2], 'job-' .. i, 'item ' .. i) \
                  end";
    redis.query(&["EVAL", script, "2", &ids, &items, &n]);
}

fn config_json(redis: &Redis, args: &[&str]) -> Value {
    let mut all = vec!["config"];
    all.extend_from_slice(args);
    all.push("--json");
    let out = redis.thoonk(&all);
    serde_json::from_str(out.line()).expect("config --json prints JSON")
}

#[test]
fn config_sets_what_it_is_given_and_prints_every_setting() {
    let redis = Redis::start();
    assert_eq!(
        config_json(&redis, &["q"]),
        json!({"queue": "q", "lease": 30.0, "max_cancels": 25, "paused": false,
               "rate": null, "max_running": null, "timeout": null,
               "keep_finished": null, "keep_finished_for": null})
    );
    let set = [
        "q",
        "--lease",
        "12.5",
        "--max-cancels",
        "3",
        "--rate",
        "5000/m",
        "--max-running",
        "8",
        "--timeout",
        "60",
    ];
    let all = json!({"queue": "q", "lease": 12.5, "max_cancels": 3, "paused": false,
                     "rate": "5000/m", "max_running": 8, "timeout": 60.0,
                     "keep_finished": null, "keep_finished_for": null});
    assert_eq!(config_json(&redis, &set), all);
    // Kept in the queue's config hash, where every worker reads it.
    assert_eq!(
        redis
            .query(&["HGET", "job.config:q", "rate"])
            .text()
            .unwrap(),
        "5000/60000"
    );

    // Out of range: a usage error (exit 2) naming the flag; nothing changed.
    for bad in [
        ["--rate", "0/s"],
        ["--rate", "5/d"],
        ["--rate", "2000000/s"],
        ["--max-running", "0"],
        ["--max-running", "-3"],
        ["--timeout", "0"],
        ["--timeout", "0.0001"],
        ["--lease", "999999999"],
        ["--max-cancels", "x"],
    ] {
        let mut args = vec!["config", "q", "--max-running", "2"];
        args.extend(bad);
        let out = redis.thoonk(&args);
        out.usage_error();
        assert!(
            out.stderr.contains(bad[0]) || out.stderr.contains(bad[1]),
            "{bad:?}: {}",
            out.stderr
        );
        assert_eq!(
            config_json(&redis, &["q"]),
            all,
            "{bad:?} changed something"
        );
    }

    let cleared = config_json(
        &redis,
        &[
            "q",
            "--rate",
            "none",
            "--max-running",
            "none",
            "--timeout",
            "none",
        ],
    );
    assert_eq!(
        cleared,
        json!({"queue": "q", "lease": 12.5, "max_cancels": 3, "paused": false,
               "rate": null, "max_running": null, "timeout": null,
               "keep_finished": null, "keep_finished_for": null})
    );
    let human = redis.thoonk(&["config", "q"]);
    assert!(
        human
            .assert_success()
            .lines()
            .any(|l| l.split_whitespace().eq(["max_running", "none"])),
        "{}",
        human.stdout
    );
}

#[test]
fn pause_and_resume_stop_and_restart_the_workers_and_say_so() {
    let redis = Redis::start();
    let events = redis.spawn(&["events", "q"]);
    until("events listens for pauses", || {
        redis.subscribers("event.job.pause:q") == 1
    });
    redis.thoonk(&["pause", "q"]).assert_success();
    assert_eq!(redis.stats("q")["paused"], json!(true));
    assert_eq!(config_json(&redis, &["q"])["paused"], json!(true));
    assert_eq!(
        events.next_json(),
        json!({"event": "pause", "queue": "q", "id": ""})
    );

    let dir = TempDir::new("flow-pause").unwrap();
    let log = dir.path().join("log");
    let worker = WorkerProcess::start(
        &redis,
        "q",
        &[],
        &[
            "sh",
            "-c",
            r#"cat >/dev/null; echo "ran $THOONK_JOB_ID" >> "$LOG""#,
        ],
        &[("LOG", log.to_str().unwrap())],
    );
    // Published while paused: it stays available (the worker is idle and
    // listening for the queue's settings to change).
    let id = redis.publish("q", "x", &[]);
    until("the worker listens for changes of the settings", || {
        redis.subscribers("event.job.config:q") == 1
    });
    assert_eq!(redis.stats("q")["available"], json!(1));
    assert!(!log.exists(), "a job ran while the queue was paused");

    let calls = monitor(&redis);
    redis.thoonk(&["resume", "q"]).assert_success();
    // The worker's next claim, in the server's own time: it heard the
    // resume (it asks a paused queue again only once a second).
    let resumed = next_call_of(&calls, "configure");
    let woke = next_call_of(&calls, "claim") - resumed;
    eprintln!("claimed {:.1} ms after the resume", woke * 1000.0);
    assert!(woke < 0.1, "claimed {woke} s after the resume");
    assert_eq!(
        events.next_json(),
        json!({"event": "publish", "queue": "q", "id": id})
    );
    assert_eq!(
        events.next_json(),
        json!({"event": "resume", "queue": "q", "id": ""})
    );
    until("the job ran after the resume", || {
        std::fs::read_to_string(&log).is_ok_and(|l| l == format!("ran {id}\n"))
    });
    assert_eq!(redis.stats("q")["paused"], json!(false));
    let exited = worker.terminate();
    assert_eq!(exited.report().finished, 1);
    redis.check_invariants("q");
}

/// Three workers, 30 slots between them, one limit of 20 claims a second:
/// the claim times the server recorded (seen through MONITOR, as claim.lua
/// pushes them onto job.rate: one per job claimed, each claim's own server
/// time) never have more than 20 in any window of 1000 ms, every one of
/// the 100 claims is among them, and so the jobs take at least 4 s.
#[test]
fn a_rate_limit_holds_across_three_worker_processes() {
    let redis = Redis::start();
    redis
        .thoonk(&["config", "q", "--rate", "20/s"])
        .assert_success();
    queue_jobs(&redis, "q", 100);
    let stamps = rate_stamps(&redis, "job.rate:q");
    let workers = WorkerProcess::start_together(
        3,
        &redis,
        "q",
        &["--concurrency", "10"],
        &["sh", "-c", "cat >/dev/null"],
        &[],
    );
    until("every job finished", || {
        redis.stats("q")["finishes"] == json!(100)
    });
    for worker in workers {
        worker.terminate();
    }
    // Every claim pushed its time before its job finished; MONITOR's
    // lines may still be on their way.
    let mut claimed_at: Vec<u64> = (0..100)
        .map(|i| {
            stamps
                .recv_timeout(DEADLINE)
                .unwrap_or_else(|_| panic!("{i} claim times, not 100"))
        })
        .collect();
    assert_eq!(stamps.try_iter().count(), 0, "one claim time per job");
    claimed_at.sort_unstable();
    for (i, &start) in claimed_at.iter().enumerate() {
        let within = claimed_at[i..]
            .iter()
            .take_while(|&&t| t < start + 1000)
            .count();
        assert!(
            within <= 20,
            "{within} claims within 1 s from {start}: {claimed_at:?}"
        );
    }
    let span = claimed_at[99] - claimed_at[0];
    eprintln!("100 jobs at 20/s by 3 workers: claimed over {span} ms of server time");
    assert!(span >= 4000, "{span} ms");
    redis.check_invariants("q");
}

/// The lines MONITOR shows from now on, each starting with the server's
/// time in seconds (read on a thread of its own).
fn monitor(redis: &Redis) -> Receiver<String> {
    let mut monitor = redis.server().connect().expect("a connection");
    monitor.command(&["MONITOR"]).expect("MONITOR starts");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        while let Ok(Ok(line)) = monitor.read().map(|line| line.text()) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// The server times claim.lua pushes onto `rate_key`, as MONITOR shows
/// them, from now on.
fn rate_stamps(redis: &Redis, rate_key: &str) -> Receiver<u64> {
    let lines = monitor(redis);
    let (tx, rx) = std::sync::mpsc::channel();
    let push = format!("\"RPUSH\" \"{rate_key}\" ");
    std::thread::spawn(move || {
        for line in lines {
            let Some(at) = line.find(&push) else { continue };
            for stamp in line[at + push.len()..].split(' ') {
                let stamp = stamp.trim_matches('"').parse().expect("a time in ms");
                if tx.send(stamp).is_err() {
                    return;
                }
            }
        }
    });
    rx
}

/// The server's time (s) of the next MONITOR line that names `function`
/// (`configure`, `claim`: the script's function in the library).
#[track_caller]
fn next_call_of(lines: &Receiver<String>, function: &str) -> f64 {
    let name = format!("_{function}\" ");
    loop {
        let line = lines
            .recv_timeout(DEADLINE)
            .unwrap_or_else(|_| panic!("no call of {function} within {DEADLINE:?}"));
        if line.contains("\"FCALL\"") && line.contains(&name) {
            return line
                .split(' ')
                .next()
                .unwrap()
                .parse()
                .expect("MONITOR's time");
        }
    }
}

/// Three workers with 5 slots each, one limit of 4 jobs at once: the jobs'
/// own log of their starts and ends never has more than 4 running.
#[test]
fn a_running_limit_holds_across_three_worker_processes() {
    let redis = Redis::start();
    redis
        .thoonk(&["config", "q", "--max-running", "4"])
        .assert_success();
    queue_jobs(&redis, "q", 24);
    let dir = TempDir::new("flow-running").unwrap();
    let log = dir.path().join("log");
    // Each job runs a little while, so that claims overlap.
    let script = r#"cat >/dev/null; echo start >> "$LOG"; sleep 0.2; echo end >> "$LOG""#;
    let workers = WorkerProcess::start_together(
        3,
        &redis,
        "q",
        &["--concurrency", "5"],
        &["sh", "-c", script],
        &[("LOG", log.to_str().unwrap())],
    );
    until("every job finished", || {
        redis.stats("q")["finishes"] == json!(24)
    });
    let (mut running, mut most) = (0, 0);
    for line in std::fs::read_to_string(&log).unwrap().lines() {
        running += if line == "start" { 1 } else { -1 };
        most = most.max(running);
    }
    assert_eq!(most, 4, "at most 4 at once, and the limit was reached");
    for worker in workers {
        worker.terminate();
    }
    redis.check_invariants("q");
}
