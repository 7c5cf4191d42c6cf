//! No client's clock decides anything: `thoonk` processes whose wall
//! clocks are ten seconds off (libfaketime, through the kit's
//! `FakeClock`) take no job from a live worker, and their delays hold in
//! the server's time. Leases, liveness marks, recovery and due times are
//! read from the server's `TIME` inside the scripts.

mod common;

use common::worker::{work_command, WorkerProcess};
use common::Redis;
use std::process::Command;
use thoonk_testkit::poll::until;
use thoonk_testkit::{FakeClock, TempDir};

/// `cmd` with its wall clock `offset_ms` off the real one; the clock (and
/// the directory of its file) must live as long as the process.
fn skewed(cmd: &mut Command, offset_ms: i64) -> (FakeClock, TempDir) {
    let dir = TempDir::new("thoonk-clock").expect("a directory for the clock");
    let clock = FakeClock::new(dir.path(), offset_ms).expect("a fake clock");
    clock
        .apply(cmd)
        .expect("libfaketime (apt-get install faketime)");
    (clock, dir)
}

/// The server's time, in Unix ms.
fn server_ms(redis: &Redis) -> i64 {
    let time = redis.query(&["TIME"]).strings().expect("TIME");
    let (secs, micros): (i64, i64) = (time[0].parse().unwrap(), time[1].parse().unwrap());
    secs * 1000 + micros / 1000
}

/// Each job logs its id when it starts, then runs for 4 s: long past the
/// 3 s a worker's liveness mark lasts, so a worker whose clock runs ahead
/// would see every mark of another's as lapsed, and one whose clock runs
/// behind would write marks that look lapsed to everyone.
const LONG_JOB: &str = r#"cat >/dev/null; echo "$THOONK_JOB_ID" >> "$LOG"; sleep 4"#;

#[test]
fn workers_ten_seconds_off_take_no_job_from_each_other() {
    let redis = Redis::start();
    let dir = TempDir::new("thoonk-clocks").unwrap();
    let log = dir.path().join("ran.log");
    let log_env = [("LOG", log.to_str().unwrap())];
    for i in 0..4 {
        redis.publish("skew", &format!("job {i}"), &["--id", &format!("j{i}")]);
    }

    // The first worker's clock is 10 s behind: it takes all four jobs.
    let command = ["sh", "-c", LONG_JOB];
    let mut behind = work_command(&redis, "skew", &["--concurrency", "4"], &command, &log_env);
    let _behind_clock = skewed(&mut behind, -10_000);
    let behind = WorkerProcess::spawn(behind);
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    until("the first worker runs all four jobs", || {
        read_log().lines().count() == 4
    });

    // The second one's is 10 s ahead. It starts while the four run, and
    // runs its recovery pass every second until they are done.
    let mut ahead = work_command(&redis, "skew", &["--concurrency", "4"], &command, &log_env);
    let _ahead_clock = skewed(&mut ahead, 10_000);
    let ahead = WorkerProcess::spawn(ahead);
    until("the four jobs finish", || {
        redis.counts("skew").finishes == 4
    });

    let mut ran: Vec<String> = read_log().lines().map(str::to_string).collect();
    ran.sort();
    assert_eq!(ran, ["j0", "j1", "j2", "j3"], "each job ran once");
    let counts = redis.check_invariants("skew");
    assert_eq!(
        (counts.cancels, counts.recoveries),
        (0, 0),
        "no claim was taken back"
    );
    let (behind, ahead) = (behind.terminate(), ahead.terminate());
    assert_eq!((behind.report().finished, ahead.report().finished), (4, 0));
    assert!(
        !ahead.stderr.contains("recovered"),
        "the worker ahead recovered jobs:\n{}",
        ahead.stderr
    );
}

#[test]
fn a_delay_is_counted_in_the_servers_time_whatever_the_publishers_clock() {
    let redis = Redis::start();
    for (id, offset_ms) in [("behind", -10_000), ("ahead", 10_000)] {
        let mut publish = redis.command(&["publish", "later", "x", "--id", id, "--delay", "5"]);
        let _clock = skewed(&mut publish, offset_ms);
        let before = server_ms(&redis);
        common::run(publish, b"").assert_success();
        let after = server_ms(&redis);
        let due: i64 = redis
            .query(&["ZSCORE", "job.delayed:later", id])
            .text()
            .expect("the job is delayed")
            .parse()
            .expect("a due time");
        assert!(
            (before + 5_000..=after + 5_000).contains(&due),
            "{id}: due at {due}, not 5 s after {before}..={after} (server time)"
        );
    }
    redis.check_invariants("later");
}
