//! Crash tests of `thoonk work`: real `thoonk work` processes killed with
//! SIGKILL, frozen with SIGSTOP, and a real `redis-server` killed and
//! restarted under them, each test against a private Redis of its own.
//! Every test ends with the check that each job is in exactly one state
//! (`Redis::check_invariants`).
//!
//! The jobs' command appends to a log file with one short `O_APPEND` write
//! per line (atomic), so the log says which jobs ran, and how often.
//!
//! Nothing sleeps in place of synchronisation: conditions are polled with
//! the kit's poller, which gives up on a hang, and bulk work is waited for
//! while it makes progress, however long a loaded machine makes it take.
//! The sleeps that remain are the workload itself: the pace of the kill
//! loop, the length of a Redis outage, the length of a job.

mod common;

use common::worker::WorkerProcess;
use common::{block_on, Redis};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};
use thoonk::{Error, JobRef, Publish, State, Thoonk};
use thoonk_testkit::poll::{until, until_progressing};
use thoonk_testkit::{queue_key, Resp, TempDir};

/// A job that reads its item and logs its id.
const LOG_ID: &str = r#"cat >/dev/null; echo "$THOONK_JOB_ID" >> "$LOG""#;

/// The lease of the tests in which a dead or frozen worker's claims must
/// come back because its liveness mark ran out (3 s, renewed every second),
/// not because the lease did: long, so that the two cannot be mistaken for
/// each other, however loaded the machine.
const LONG_LEASE: &str = "120";

/// How soon such claims must be back: far within [`LONG_LEASE`], so they
/// came back by the liveness mark; yet generous, for a loaded two-core CI
/// machine that runs every test at once (a few seconds when it is not).
const BY_LIVENESS: Duration = Duration::from_secs(45);

/// Publishes `n` jobs through the library, 500 per round trip; returns
/// their ids.
fn publish_many(url: &str, queue: &str, n: usize) -> Vec<String> {
    block_on(async {
        let thoonk = Thoonk::connect(url).await.expect("connect");
        let job = thoonk.queue(queue).expect("a valid queue name");
        let mut ids = Vec::with_capacity(n);
        let items: Vec<String> = (0..n).map(|i| format!("item {i}")).collect();
        for chunk in items.chunks(500) {
            ids.extend(job.publish_many(chunk).await.expect("publish"));
        }
        ids
    })
}

/// Per id, how many times it is in the log.
fn tally(lines: &[String]) -> HashMap<&str, usize> {
    let mut seen = HashMap::new();
    for line in lines {
        *seen.entry(line.as_str()).or_default() += 1;
    }
    seen
}

/// SIGTERMs every worker; asserts each exits 0 having stopped cleanly.
#[track_caller]
fn stop_all(workers: impl IntoIterator<Item = WorkerProcess>) -> Vec<common::worker::Exited> {
    let workers: Vec<WorkerProcess> = workers.into_iter().collect();
    for w in &workers {
        w.signal("TERM");
    }
    workers
        .into_iter()
        .map(|w| {
            let id = w.id().to_string();
            let exited = w.exit();
            assert_eq!(
                exited.code,
                Some(0),
                "worker {id} did not exit 0 on SIGTERM:\n{}",
                exited.stderr
            );
            exited
        })
        .collect()
}

// ---------------------------------------------------------------- kill -9

/// A worker killed with SIGKILL, and how long its claims took to go back.
struct Kill {
    worker: String,
    at: Instant,
    /// Claims it held just after it died.
    held: usize,
    /// From the kill until none of its claims was left in `job.tokens`.
    recovered: Option<Duration>,
}

#[test]
fn kill_9_of_workers_loses_no_job_and_their_claims_come_back_within_seconds() {
    const QUEUE: &str = "crash";
    const JOBS: usize = 5000;
    const WORKERS: usize = 3;
    const CONCURRENCY: usize = 8;
    let redis = Redis::start();
    let dir = TempDir::new("kill9").expect("a temp dir");
    let log = dir.file("done.log");
    let ids = publish_many(&redis.url(), QUEUE, JOBS);
    assert_eq!(redis.counts(QUEUE).available, JOBS as u64);

    let concurrency = CONCURRENCY.to_string();
    // The lease is long on purpose: a dead worker's claims must come back
    // because its liveness mark runs out, within seconds, not the lease.
    let options = ["--concurrency", concurrency.as_str(), "--lease", LONG_LEASE];
    let env = [("LOG", log.as_str())];
    let start = || WorkerProcess::start(&redis, QUEUE, &options, &["sh", "-c", LOG_ID], &env);
    let mut workers: VecDeque<WorkerProcess> = (0..WORKERS).map(|_| start()).collect();

    let started = Instant::now();
    // About 10 s alone on two cores, several times that when other tests
    // load the machine: so no bound on the whole, only on progress (jobs
    // finishing, or the queue draining).
    let mut kills: Vec<Kill> = Vec::new();
    let mut next_kill = started + Duration::from_secs(1);
    until_progressing(
        "every job finished while workers are killed",
        || {
            let counts = redis.counts(QUEUE);
            let tokens = redis.tokens(QUEUE);
            let read_at = Instant::now();
            for kill in kills.iter_mut().filter(|k| k.recovered.is_none()) {
                let suffix = format!("@{}", kill.worker);
                if !tokens.iter().any(|(_, token)| token.ends_with(&suffix)) {
                    kill.recovered = Some(read_at - kill.at);
                }
            }
            let progress = (counts.finishes, counts.pending());
            if progress == (JOBS as u64, 0) {
                return progress;
            }
            // The workload: about every second, kill the oldest worker and
            // start a fresh one, so there are always WORKERS running.
            if Instant::now() >= next_kill {
                let mut victim = workers.pop_front().expect("workers");
                victim.kill();
                let at = Instant::now();
                let suffix = format!("@{}", victim.id());
                let held = redis
                    .tokens(QUEUE)
                    .iter()
                    .filter(|(_, token)| token.ends_with(&suffix))
                    .count();
                kills.push(Kill {
                    worker: victim.id().to_string(),
                    at,
                    held,
                    recovered: None,
                });
                workers.push_back(start());
                next_kill = at + Duration::from_secs(1);
            }
            progress
        },
        |&(finishes, pending)| finishes == JOBS as u64 && pending == 0,
    );
    let elapsed = started.elapsed();

    // Every job finished exactly once (a finish deletes the job), and
    // nothing is left anywhere.
    let counts = redis.check_invariants(QUEUE);
    assert_eq!(counts.publishes, JOBS as u64, "{counts:?}");
    assert_eq!(counts.finishes, JOBS as u64, "{counts:?}");
    assert_eq!(counts.items, 0, "{counts:?}");
    assert_eq!(counts.stalled, 0, "{counts:?}");
    assert!(redis.tokens(QUEUE).is_empty());

    // None lost: every job ran at least once; and nothing else ran.
    let lines = dir.lines("done.log");
    let seen = tally(&lines);
    let published: BTreeSet<&str> = ids.iter().map(String::as_str).collect();
    let missing: Vec<&&str> = published
        .iter()
        .filter(|id| !seen.contains_key(**id))
        .collect();
    assert!(missing.is_empty(), "{} jobs never ran", missing.len());
    assert!(
        seen.keys().all(|id| published.contains(id)),
        "the log has lines that are no job's id"
    );
    // Run twice only where a worker died holding the job: at most
    // CONCURRENCY jobs per kill.
    let duplicates = lines.len() - seen.len();
    assert!(
        !kills.is_empty(),
        "the jobs were done before the first kill"
    );
    assert!(
        duplicates <= kills.len() * CONCURRENCY,
        "{duplicates} jobs ran twice, more than {} kills × {CONCURRENCY}",
        kills.len()
    );

    // Each dead worker's claims went back within seconds: its liveness
    // mark lasts 3 s; the lease (LONG_LEASE) plays no part.
    let mut max_recovery = Duration::ZERO;
    for (i, kill) in kills.iter().enumerate() {
        let recovered = kill.recovered.unwrap_or_else(|| {
            panic!(
                "kill {i}: the claims of worker {} are still there",
                kill.worker
            )
        });
        println!(
            "kill {i}: worker {} held {} claims; all back after {recovered:.2?}",
            kill.worker, kill.held
        );
        assert!(
            recovered < BY_LIVENESS,
            "kill {i}: the claims of worker {} took {recovered:?} to come back",
            kill.worker
        );
        max_recovery = max_recovery.max(recovered);
    }
    let held: usize = kills.iter().map(|k| k.held).sum();
    assert!(held > 0, "no worker was killed while it held a job");
    println!(
        "kill -9: {JOBS} jobs in {elapsed:.1?}, {} kills (holding {held} claims), \
         {duplicates} duplicates, max recovery {max_recovery:.2?}",
        kills.len()
    );

    // The survivors are healthy: they stop cleanly on SIGTERM.
    stop_all(workers);
    redis.check_invariants(QUEUE);
}

// ---------------------------------------------------------- Redis restart

#[test]
fn a_redis_restart_loses_no_acknowledged_publish() {
    const QUEUE: &str = "restart";
    const JOBS: usize = 2000;
    let mut redis = Redis::start_with(&[("appendonly", "yes"), ("appendfsync", "always")]);
    let dir = TempDir::new("restart").expect("a temp dir");
    let log = dir.file("done.log");
    let env = [("LOG", log.as_str())];
    // A claim whose reply is lost when Redis dies is held by no one the
    // worker knows of: the lease brings it back. Short, so that case does
    // not stall the test.
    let options = ["--concurrency", "4", "--lease", "5"];
    let workers: Vec<WorkerProcess> = (0..2)
        .map(|_| WorkerProcess::start(&redis, QUEUE, &options, &["sh", "-c", LOG_ID], &env))
        .collect();

    // Publishes one by one, recording each outcome: an error (Redis is
    // down) is recorded, never retried, never hidden.
    let acked = Arc::new(AtomicUsize::new(0));
    let publisher = {
        let (url, acked) = (redis.url(), acked.clone());
        thread::spawn(move || {
            block_on(async {
                let thoonk = Thoonk::connect(&url).await.expect("connect");
                let job = thoonk.queue(QUEUE).expect("a valid queue name");
                let (mut ok, mut errors) = (Vec::new(), Vec::new());
                for i in 0..JOBS {
                    let id = format!("p{i:04}");
                    match job
                        .publish(format!("item {i}"), Publish::new().id(&id))
                        .await
                    {
                        Ok(_) => {
                            ok.push(id);
                            acked.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(e) => {
                            errors.push((id, e.to_string()));
                            // A client's backoff while Redis is away.
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
                (ok, errors)
            })
        })
    };

    until_progressing(
        "a third of the jobs are published",
        || acked.load(Ordering::SeqCst),
        |&n| n >= JOBS / 3,
    );
    redis.stop();
    let stopped = Instant::now();
    let acked_before = acked.load(Ordering::SeqCst);
    // The outage.
    thread::sleep(Duration::from_secs(1));
    redis.restart();
    let downtime = stopped.elapsed();
    let (ok, errors) = publisher.join().expect("the publisher");
    assert_eq!(ok.len() + errors.len(), JOBS);
    assert!(
        ok.len() > acked_before,
        "publishing went on after the restart"
    );

    // Every acknowledged job is done (and whatever else was published).
    let acked_ids: BTreeSet<&str> = ok.iter().map(String::as_str).collect();
    // Thousands of commands to run: bounded only while none runs.
    until_progressing(
        "every acknowledged job ran and the queue is empty",
        || {
            let lines = dir.lines("done.log");
            let seen: BTreeSet<&str> = lines.iter().map(String::as_str).collect();
            let items = redis.counts(QUEUE).items;
            let all_ran = acked_ids.iter().all(|id| seen.contains(id));
            (lines.len(), items, all_ran && items == 0)
        },
        |&(_, _, done)| done,
    );
    let lines = dir.lines("done.log");
    let seen = tally(&lines);
    let counts = redis.check_invariants(QUEUE);
    // What ran is what was published: the acknowledged jobs, and those
    // whose publish was applied but whose reply was lost.
    let errored_but_published = errors
        .iter()
        .filter(|(id, _)| seen.contains_key(id.as_str()))
        .count();
    assert_eq!(seen.len(), ok.len() + errored_but_published);
    assert_eq!(counts.publishes, seen.len() as u64, "{counts:?}");
    assert_eq!(counts.finishes, seen.len() as u64, "{counts:?}");
    assert_eq!(counts.pending() + counts.stalled, 0, "{counts:?}");
    let duplicates = lines.len() - seen.len();

    for (id, error) in errors.iter().take(3) {
        println!("publish {id} failed: {error}");
    }
    println!(
        "redis restart: down {downtime:.2?}; {} publishes acknowledged, {} errored \
         ({errored_but_published} of those were applied anyway), {duplicates} jobs ran twice",
        ok.len(),
        errors.len()
    );
    stop_all(workers);
    redis.check_invariants(QUEUE);
}

// ------------------------------------------------------ a frozen worker

/// Logs its start, waits (5 min at most) for the flag file `go-N`, N being
/// its THOONK_CANCELLED, logs its end, and prints `run N` as its result.
/// The limit bounds a hang only (a command left behind by a test that
/// died): A's command waits while A's claim is taken back and B runs.
const WAIT_FOR_GO: &str = r#"
cat >/dev/null
echo "start $THOONK_JOB_ID $THOONK_CANCELLED" >> "$LOG"
i=0
while [ ! -e "$DIR/go-$THOONK_CANCELLED" ]; do
  i=$((i + 1))
  if [ "$i" -gt 3000 ]; then echo "no go-$THOONK_CANCELLED" >&2; exit 9; fi
  sleep 0.1
done
echo "end $THOONK_JOB_ID $THOONK_CANCELLED" >> "$LOG"
echo "run $THOONK_CANCELLED"
"#;

/// Whether the process `pid` still runs. A zombie does not: it has
/// stopped, and waits only for whoever adopted it to reap it (here, that
/// can take a while: this machine's init reaps late).
fn runs(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let state = stat.rsplit_once(") ")?.1.chars().next()?;
            Some(state != 'Z' && state != 'X')
        })
        .unwrap_or(false)
}

/// A `work` killed with SIGKILL leaves nothing of its commands running:
/// its guard process stops each command's process group, the command and
/// what it started alike, so no one finishes a job that another worker
/// runs again.
#[test]
fn a_killed_worker_leaves_none_of_its_commands_running() {
    const QUEUE: &str = "orphans";
    let redis = Redis::start();
    let dir = TempDir::new("orphans").expect("a temp dir");
    let pids = dir.file("pids");
    // The command and a child of its own, both waiting for ten minutes.
    let command = ["sh", "-c", r#"sleep 600 & echo "$$ $!" > "$PIDS"; wait"#];
    let mut worker = WorkerProcess::start(
        &redis,
        QUEUE,
        &["--concurrency", "1"],
        &command,
        &[("PIDS", pids.as_str())],
    );
    redis.publish(QUEUE, "x", &[]);
    until("the command and its child run", || {
        dir.lines("pids").len() == 1
    });
    let line = dir.lines("pids").remove(0);
    let started: Vec<&str> = line.split(' ').collect();
    assert!(started.iter().all(|pid| runs(pid)), "{started:?} run");

    worker.kill();
    until("the command and its child are stopped", || {
        !started.iter().any(|pid| runs(pid))
    });
}

#[test]
fn a_frozen_worker_loses_its_job_and_its_late_finish_is_refused() {
    const QUEUE: &str = "frozen";
    let redis = Redis::start();
    let dir = TempDir::new("frozen").expect("a temp dir");
    let (log, flags) = (dir.file("run.log"), dir.file(""));
    let env = [("LOG", log.as_str()), ("DIR", flags.as_str())];
    let options = ["--concurrency", "1", "--lease", LONG_LEASE];
    let command = ["sh", "-c", WAIT_FOR_GO];
    let a = WorkerProcess::start(&redis, QUEUE, &options, &command, &env);
    // Its timeout bounds a hang only: it waits through A's run, the take
    // back and B's run.
    let publisher = redis.spawn(&["publish", QUEUE, "payload", "--wait", "--timeout", "300"]);
    let id = publisher.next_line();
    until("worker A runs the job", || {
        dir.lines("run.log") == [format!("start {id} 0")]
    });
    let a_suffix = format!("@{}", a.id());
    let tokens = redis.tokens(QUEUE);
    assert!(
        matches!(&tokens[..], [(i, t)] if *i == id && t.ends_with(&a_suffix)),
        "A holds the job: {tokens:?}"
    );

    // A stops heartbeating but lives on.
    a.signal("STOP");
    let frozen = Instant::now();
    let b = WorkerProcess::start(&redis, QUEUE, &options, &command, &env);
    until("A's claim is taken back", || {
        !redis
            .tokens(QUEUE)
            .iter()
            .any(|(_, t)| t.ends_with(&a_suffix))
    });
    let taken_back = frozen.elapsed();
    assert!(
        taken_back < BY_LIVENESS,
        "A's claim took {taken_back:?} to be taken back"
    );
    // B runs it again, as a job cancelled once.
    until("worker B runs the job", || {
        dir.lines("run.log") == [format!("start {id} 0"), format!("start {id} 1")]
    });
    let b_suffix = format!("@{}", b.id());
    assert!(
        redis
            .tokens(QUEUE)
            .iter()
            .any(|(i, t)| *i == id && t.ends_with(&b_suffix)),
        "B holds the job"
    );

    // A's command completes and A wakes up: its finish is refused.
    dir.touch("go-0");
    a.signal("CONT");
    let refused = a.wait_for_log("outcome refused");
    assert!(
        refused.contains("no longer holds") && refused.contains(&id),
        "{refused}"
    );
    assert!(dir.lines("run.log").contains(&format!("end {id} 0")));
    assert_eq!(redis.counts(QUEUE).finishes, 0, "A's finish did not count");
    assert_eq!(redis.check_invariants(QUEUE).claimed, 1, "B still holds it");

    // B's run finishes it: B's result is the job's.
    dir.touch("go-1");
    let out = publisher.exit();
    assert_eq!(out.assert_success(), "run 1\n", "the result is B's");
    let counts = redis.check_invariants(QUEUE);
    assert_eq!((counts.finishes, counts.items), (1, 0), "{counts:?}");
    println!("frozen worker: its claim was taken back after {taken_back:.2?}");

    let exits = stop_all([a, b]);
    let (a_report, b_report) = (exits[0].report(), exits[1].report());
    assert_eq!(
        (a_report.finished, a_report.refused),
        (0, 1),
        "{a_report:?}"
    );
    assert_eq!(
        (b_report.finished, b_report.refused),
        (1, 0),
        "{b_report:?}"
    );
}

// ------------------------------------------ long jobs of a live worker

#[test]
fn long_jobs_of_live_workers_keep_a_lease_of_a_second() {
    long_jobs_keep_their_lease("1");
}

/// Shorter than the 1 s heartbeat of a worker that ignores the lease:
/// such a worker loses its claims to the other's recovery pass.
#[test]
fn long_jobs_of_live_workers_keep_a_lease_shorter_than_a_second() {
    long_jobs_keep_their_lease("0.9");
}

/// Two workers, started together so their heartbeats (and recovery
/// passes) tick nearly in step, each running a 3 s job under a lease
/// of `lease` seconds: only the extensions keep the claims.
fn long_jobs_keep_their_lease(lease: &str) {
    const QUEUE: &str = "long";
    let redis = Redis::start();
    let dir = TempDir::new("long").expect("a temp dir");
    let log = dir.file("done.log");
    let env = [("LOG", log.as_str())];
    let script = r#"cat >/dev/null; sleep 3; echo "$THOONK_JOB_ID" >> "$LOG""#;
    let options = ["--concurrency", "1", "--lease", lease];
    let workers =
        WorkerProcess::start_together(2, &redis, QUEUE, &options, &["sh", "-c", script], &env);
    let workers_key = queue_key("workers", QUEUE);
    until("both workers are marked alive", || {
        redis.query(&["ZCARD", &workers_key]) == Resp::Int(2)
    });
    // Both busy at once, each running recovery on the other's claim.
    let ids = [
        redis.publish(QUEUE, "one", &[]),
        redis.publish(QUEUE, "two", &[]),
    ];
    until("both jobs finished", || redis.counts(QUEUE).finishes == 2);
    let exits = stop_all(workers);
    let mut finished = 0;
    for exited in &exits {
        for bad in ["lease lost", "refused:", "recovered"] {
            assert!(
                !exited.stderr.contains(bad),
                "a live worker's log says {bad:?}:\n{}",
                exited.stderr
            );
        }
        let report = exited.report();
        assert_eq!((report.refused, report.failed), (0, 0), "{report:?}");
        finished += report.finished;
    }
    assert_eq!(finished, 2);
    let mut lines = dir.lines("done.log");
    lines.sort();
    let mut want = ids.to_vec();
    want.sort();
    assert_eq!(lines, want, "each job ran exactly once");
    let counts = redis.check_invariants(QUEUE);
    assert_eq!((counts.finishes, counts.items), (2, 0), "{counts:?}");
}

// ------------------------------------------------------------ bad input

#[derive(Debug, serde::Deserialize)]
#[allow(dead_code)]
struct Point {
    x: i64,
    y: i64,
}

#[test]
fn bad_input_gets_a_clear_error_and_changes_nothing() {
    const Q: &str = "bad";
    let redis = Redis::start();
    // One job in each state, and two whose tokens went stale.
    redis.publish(Q, "x", &["--id", "claimed"]);
    let claimed = redis.get(Q);
    redis.publish(Q, "x", &["--id", "stalled"]);
    redis.get(Q);
    redis.thoonk(&["stall", Q, "stalled"]).assert_success();
    redis.publish(Q, "x", &["--id", "again"]);
    let old = redis.get(Q);
    redis
        .thoonk(&["cancel", Q, "again", "--token", &old.token])
        .assert_success();
    let new = redis.get(Q);
    assert_ne!(old.token, new.token);
    redis.publish(Q, "x", &["--id", "back"]);
    let back = redis.get(Q);
    redis.thoonk(&["cancel", Q, "back"]).assert_success();
    redis.publish(Q, "x", &["--id", "available"]);
    redis.publish(Q, "x", &["--id", "delayed", "--delay", "3600"]);
    let before = redis.check_invariants(Q);
    assert_eq!(
        (
            before.available,
            before.claimed,
            before.stalled,
            before.delayed
        ),
        (2, 2, 1, 1)
    );
    let snapshot = redis.snapshot();

    let verbs = ["finish", "cancel", "stall", "retry", "retract"];
    // An unknown id, with and without a token.
    for verb in verbs {
        redis
            .thoonk(&[verb, Q, "nope"])
            .refused(&["job nope in queue bad does not exist"]);
    }
    for verb in ["finish", "cancel", "stall"] {
        redis
            .thoonk(&[verb, Q, "nope", "--token", "1"])
            .refused(&["job nope in queue bad does not exist"]);
    }
    // The wrong state.
    for verb in ["finish", "cancel", "stall"] {
        for state in ["available", "stalled", "delayed"] {
            redis.thoonk(&[verb, Q, state]).refused(&[&format!(
                "job {state} in queue bad is not claimed (it is {state})"
            )]);
        }
    }
    for state in ["available", "claimed", "delayed"] {
        redis.thoonk(&["retry", Q, state]).refused(&[&format!(
            "job {state} in queue bad is not stalled (it is {state})"
        )]);
    }
    // A stale token: the job was claimed again, or is back in the queue;
    // a token that was never the job's.
    for verb in ["finish", "cancel", "stall"] {
        redis
            .thoonk(&[verb, Q, "again", "--token", &old.token])
            .refused(&[
                &format!(
                    "job again in queue bad: claim {} no longer holds",
                    common::held::claim_named(&old.token)
                ),
                "claimed again",
            ]);
        redis
            .thoonk(&[verb, Q, "back", "--token", &back.token])
            .refused(&["job back in queue bad", "no longer holds", "available now"]);
        redis
            .thoonk(&[verb, Q, "claimed", "--token", "999@nobody"])
            .refused(&[
                "job claimed in queue bad",
                "claim 999@nobody no longer holds",
            ]);
    }
    // retry and retract take no token.
    for verb in ["retry", "retract"] {
        redis
            .thoonk(&[verb, Q, "stalled", "--token", &claimed.token])
            .usage_error();
    }
    // Ids: empty, and 100 KB (a command-line argument may not be much
    // longer: Linux caps each at 128 KiB; 1 MB goes through the library).
    let long = "i".repeat(100 * 1024);
    for verb in verbs {
        redis
            .thoonk(&[verb, Q, ""])
            .refused(&["invalid job id \"\" for queue bad: it is empty"]);
        let line = redis.thoonk(&[verb, Q, &long]).refused(&[
            "invalid job id",
            "(102400 bytes) for queue bad: it is longer than 1024 bytes",
        ]);
        assert!(line.len() < 200, "short: {line:?}");
    }
    // Queue names: empty, and 100 KB.
    let long_name = "q".repeat(100 * 1024);
    for verb in verbs {
        redis
            .thoonk(&[verb, "", "claimed"])
            .refused(&["invalid queue name \"\": it is empty"]);
        let line = redis.thoonk(&[verb, &long_name, "claimed"]).refused(&[
            "invalid queue name",
            "(102400 bytes): it is longer than 256 bytes",
        ]);
        assert!(line.len() < 200, "short: {line:?}");
    }
    assert_eq!(
        redis.snapshot(),
        snapshot,
        "a refused command changed nothing"
    );

    // Through the library: 1 MB ids and names, and NUL bytes, which no
    // command line can carry.
    let url = redis.url();
    block_on(async {
        let thoonk = Thoonk::connect(&url).await.expect("connect");
        let job = thoonk.queue(Q).expect("a valid name");
        let huge = "i".repeat(1 << 20);
        for id in [huge.as_str(), "a\0b", ""] {
            let errors = [
                job.finish(id).await.unwrap_err(),
                job.cancel(id).await.unwrap_err(),
                job.stall(id).await.unwrap_err(),
                job.retry(id).await.unwrap_err(),
                job.retract(id).await.unwrap_err(),
            ];
            for e in errors {
                assert!(matches!(e, Error::InvalidId { .. }), "{e:?}");
                let line = e.to_string();
                assert!(line.len() < 200 && line.contains("queue bad"), "{line}");
            }
        }
        for name in ["q".repeat(1 << 20).as_str(), "a\0b"] {
            let e = thoonk.queue(name).unwrap_err();
            assert!(matches!(e, Error::InvalidName { .. }), "{e:?}");
            assert!(e.to_string().len() < 200, "{e}");
        }
    });
    assert_eq!(redis.snapshot(), snapshot, "a refused call changed nothing");

    // A payload that is not JSON, for a typed worker: the job stays
    // claimed, and is stalled with the decode error as its reason.
    let bad = redis.publish(Q, "{not json", &["--id", "garbled"]);
    redis.thoonk(&["retract", Q, "available"]).assert_success();
    let reason = block_on(async {
        let thoonk = Thoonk::connect(&url).await.expect("connect");
        let job = thoonk.queue(Q).expect("a valid name");
        // "back" is first in line (it was cancelled before "garbled" was
        // published): finish it so the garbled job comes next.
        let first = job.get(Duration::from_secs(5)).await.unwrap().unwrap();
        assert_eq!(first.id, "back");
        job.finish(&first).await.unwrap();
        let e = job
            .get_json::<Point>(Duration::from_secs(5))
            .await
            .unwrap_err();
        let Error::Decode { id, token, .. } = &e else {
            panic!("expected a decode error: {e:?}");
        };
        assert_eq!(*id, bad);
        assert_eq!(
            job.list(State::Claimed, 0, 10)
                .await
                .unwrap()
                .iter()
                .filter(|j| j.id == bad)
                .count(),
            1,
            "the job stays claimed"
        );
        let reason = e.to_string();
        job.stall_with(JobRef::fenced(id, token), &reason)
            .await
            .unwrap();
        let stalled = job.list(State::Stalled, 0, 10).await.unwrap();
        let listed = stalled.iter().find(|j| j.id == bad).expect("stalled");
        assert_eq!(listed.reason.as_deref(), Some(reason.as_str()));
        assert_eq!(listed.item, b"{not json");
        reason
    });
    assert!(
        reason.contains("garbled") && reason.contains("does not decode"),
        "{reason}"
    );
    let out = redis.thoonk(&["list", Q, "stalled", "--json"]);
    let listed: serde_json::Value = serde_json::from_str(out.line()).unwrap();
    let entry = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == "garbled")
        .expect("garbled is listed as stalled");
    assert_eq!(entry["reason"], reason.as_str());

    // The counts add up: 7 published, 1 finished, 1 retracted, 5 left.
    let counts = redis.check_invariants(Q);
    assert_eq!(counts.publishes, 7, "{counts:?}");
    assert_eq!(counts.finishes, 1, "{counts:?}");
    assert_eq!(counts.items, 5, "{counts:?}");
    assert_eq!(
        (
            counts.available,
            counts.claimed,
            counts.stalled,
            counts.delayed
        ),
        (0, 2, 2, 1),
        "{counts:?}"
    );
}
