//! A frozen or restarted Redis sends no running job back: two real
//! `thoonk work` processes hold six long jobs while Redis stops answering
//! (a `DEBUG SLEEP`, a kill and a restart from its append-only file) for
//! longer than a worker's liveness mark lasts (3 s). Everyone was waiting
//! on Redis, no worker stopped: after the outage no job is taken back, none
//! runs twice, no cancel is counted.
//!
//! The hard case is the one where the workers come back one after the
//! other: the first one's recovery pass runs before the second one's
//! heartbeat renews a mark that ran out during the outage (on a network,
//! its reconnect is slower). Here the second one is held back: stopped
//! (SIGSTOP) from just before the outage until the first one has beaten
//! twice after it.

mod common;

use common::worker::WorkerProcess;
use common::Redis;
use std::thread;
use std::time::Duration;
use thoonk_testkit::poll::until;
use thoonk_testkit::TempDir;

const QUEUE: &str = "outage";

/// Each job logs its id as it starts, then runs until the test opens the
/// gate (creates the file `$GATE`).
const GATED: &str = r#"cat >/dev/null; echo "$THOONK_JOB_ID" >> "$LOG"; while [ ! -e "$GATE" ]; do sleep 0.05; done"#;

/// The server's time, in Unix ms.
fn server_ms(redis: &Redis) -> i64 {
    let time = redis.query(&["TIME"]).strings().expect("TIME");
    time[0].parse::<i64>().unwrap() * 1000 + time[1].parse::<i64>().unwrap() / 1000
}

/// The server's time of the queue's last worker heartbeat.
fn last_beat(redis: &Redis) -> i64 {
    let beat = redis.query(&["HGET", &format!("job.pulse:{QUEUE}"), "beat"]);
    beat.text().map_or(0, |t| t.parse().expect("a time"))
}

/// Two workers hold six jobs through `outage`, the second held back until
/// the first has beaten twice after it; then the test waits until their
/// heartbeats have run for 4 s of server time past it (past the 3 s grace:
/// recovery passes ran after it too), lets the jobs end, and checks that
/// each ran once, and nothing was taken back.
fn six_jobs_outlast(redis: &mut Redis, outage: impl FnOnce(&mut Redis)) {
    let dir = TempDir::new("outage").unwrap();
    let (log, gate) = (dir.file("ran.log"), dir.file("gate"));
    let env = [("LOG", log.as_str()), ("GATE", gate.as_str())];
    for i in 0..6 {
        redis.publish(QUEUE, &format!("job {i}"), &["--id", &format!("j{i}")]);
    }
    let options = ["--concurrency", "3"];
    let command = ["sh", "-c", GATED];
    let workers = WorkerProcess::start_together(2, redis, QUEUE, &options, &command, &env);
    let ran = || std::fs::read_to_string(&log).unwrap_or_default();
    until("the two workers run all six jobs", || {
        ran().lines().count() == 6
    });

    workers[1].signal("STOP");
    outage(redis);
    let back = server_ms(redis);
    until("the first worker's heartbeat after the outage", || {
        last_beat(redis) >= back
    });
    // Its next heartbeat comes after a recovery pass of its own (each
    // heartbeat extends, then recovers): the second worker's mark, lapsed
    // during the outage, was there to take.
    let first = last_beat(redis);
    until("the first worker's next heartbeat", || {
        last_beat(redis) > first + 900
    });
    workers[1].signal("CONT");
    until("4 s of heartbeats after the outage", || {
        last_beat(redis) > back + 4_000
    });
    std::fs::write(&gate, "").unwrap();
    until("the six jobs finish", || redis.counts(QUEUE).finishes == 6);

    let mut ids: Vec<String> = ran().lines().map(str::to_string).collect();
    ids.sort();
    assert_eq!(
        ids,
        ["j0", "j1", "j2", "j3", "j4", "j5"],
        "each job ran once"
    );
    let counts = redis.check_invariants(QUEUE);
    assert_eq!(
        (counts.cancels, counts.recoveries),
        (0, 0),
        "no claim was taken back"
    );
    let finished: u64 = workers
        .into_iter()
        .map(|w| w.terminate().report().finished)
        .sum();
    assert_eq!(finished, 6);
}

#[test]
fn a_redis_frozen_for_five_seconds_sends_no_running_job_back() {
    let mut redis = Redis::start_with(&[("enable-debug-command", "yes")]);
    six_jobs_outlast(&mut redis, |redis| {
        // Blocks this connection, and every other, for 5 s.
        redis.query(&["DEBUG", "SLEEP", "5"]);
    });
}

#[test]
fn a_redis_restarted_after_four_seconds_sends_no_running_job_back() {
    let mut redis = Redis::start_with(&[("appendonly", "yes"), ("appendfsync", "always")]);
    six_jobs_outlast(&mut redis, |redis| {
        redis.stop();
        // The outage itself.
        thread::sleep(Duration::from_secs(4));
        redis.restart();
    });
}
