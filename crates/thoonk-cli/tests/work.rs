//! Tests of `thoonk work` and of `publish --delay`: the real binary against
//! a private Redis. Workers are followed through their log lines and
//! through Redis, polled with a deadline; each test ends with the check
//! that every job is in exactly one state.

mod common;

use common::worker::WorkerProcess;
use common::{Listed, Redis};
use serde_json::Value;
use thoonk_testkit::poll::until;
use thoonk_testkit::{queue_key, Resp, TempDir};

/// `list QUEUE STATE --json`, entries as they are (with "reason" when
/// there is one).
#[track_caller]
fn listed(redis: &Redis, queue: &str, state: &str) -> Vec<Value> {
    let out = redis.thoonk(&["list", queue, state, "--json"]);
    match serde_json::from_str(out.line()).expect("list --json prints JSON") {
        Value::Array(entries) => entries,
        other => panic!("not an array: {other}"),
    }
}

/// A command that logs its start, writes its pid to `$DIR/pid`, then waits
/// (5 min at most) for the flag file `$DIR/go`. The limit bounds a hang
/// only (a command left behind by a test that died), never how long the
/// test may take to touch the flag.
const WAIT_FOR_GO: &str = r#"
cat >/dev/null
echo $$ > "$DIR/pid.tmp" && mv "$DIR/pid.tmp" "$DIR/pid"
echo "start $THOONK_JOB_ID" >> "$DIR/log"
i=0
while [ ! -e "$DIR/go" ]; do
  i=$((i + 1))
  if [ "$i" -gt 3000 ]; then exit 9; fi
  sleep 0.1
done
echo "end $THOONK_JOB_ID" >> "$DIR/log"
"#;

#[test]
fn work_finishes_a_job_with_the_commands_stdout_as_its_result() {
    let redis = Redis::start();
    let publisher = redis.spawn(&[
        "publish",
        "q",
        "payload\nline 2",
        "--wait",
        "--timeout",
        "30",
    ]);
    let id = publisher.next_line();
    // The item on stdin, the env vars, and output ending in two newlines:
    // only one is trimmed.
    let script = r#"printf "%s|%s|%s|" "$THOONK_QUEUE" "$THOONK_JOB_ID" "$THOONK_CANCELLED"; cat; printf "\n\n""#;
    let worker = WorkerProcess::start(&redis, "q", &[], &["sh", "-c", script], &[]);
    let out = publisher.exit();
    assert_eq!(
        out.assert_success(),
        format!("q|{id}|0|payload\nline 2\n\n")
    );
    let counts = redis.check_invariants("q");
    assert_eq!((counts.finishes, counts.items), (1, 0), "{counts:?}");
    let exited = worker.terminate();
    assert_eq!(exited.code, Some(0), "{}", exited.stderr);
    assert_eq!(exited.report().finished, 1);
}

#[test]
fn a_failing_command_cancels_the_job_with_backoff_and_its_stderr_tail_as_reason() {
    let redis = Redis::start();
    let publisher = redis.spawn(&["publish", "q", "x", "--wait", "--timeout", "30"]);
    let id = publisher.next_line();
    // Fails the first time, with more on stderr than the reason keeps.
    let script = r#"
cat >/dev/null
if [ "$THOONK_CANCELLED" = 0 ]; then
  head -c 3000 /dev/zero | tr '\0' a >&2
  echo " tail of stderr" >&2
  exit 3
fi
echo "fixed on try $THOONK_CANCELLED"
"#;
    // The job cannot fail before the worker starts.
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let worker = WorkerProcess::start(&redis, "q", &[], &["sh", "-c", script], &[]);
    let mut entries = Vec::new();
    until("the job is delayed after its failure", || {
        entries = listed(&redis, "q", "delayed");
        !entries.is_empty()
    });
    assert_eq!(entries.len(), 1, "{entries:?}");
    let entry = &entries[0];
    assert_eq!(
        (&entry["id"], &entry["cancelled"]),
        (&Value::from(id.as_str()), &Value::from(1))
    );
    let reason = entry["reason"].as_str().expect("a reason");
    assert!(reason.starts_with("sh exit status: 3: "), "{reason:?}");
    assert!(reason.ends_with("aaa tail of stderr"), "{reason:?}");
    assert!(
        reason.len() <= 1024 + 40,
        "only the tail: {} bytes",
        reason.len()
    );
    // Delayed by the first backoff: 1 s, less up to half of it.
    let score = |key: &str| -> u64 {
        match redis.query(&["ZSCORE", key, &id]) {
            Resp::Bulk(Some(s)) => String::from_utf8(s).unwrap().parse().unwrap(),
            other => panic!("no score in {key}: {other:?}"),
        }
    };
    let due = score(&queue_key("delayed", "q"));
    assert!(due >= started + 500, "due {due}, worker started {started}");
    // It comes back and succeeds.
    assert_eq!(publisher.exit().assert_success(), "fixed on try 1\n");
    let counts = redis.check_invariants("q");
    assert_eq!((counts.finishes, counts.items), (1, 0), "{counts:?}");
    let report = worker.terminate().report();
    assert_eq!((report.failed, report.finished), (1, 1), "{report:?}");
}

#[test]
fn with_max_cancels_0_a_failing_job_is_stalled_at_once() {
    let redis = Redis::start();
    let id = redis.publish("q", "x", &[]);
    let script = "cat >/dev/null; echo nope >&2; exit 1";
    let worker = WorkerProcess::start(
        &redis,
        "q",
        &["--max-cancels", "0", "--lease", "1.5"],
        &["sh", "-c", script],
        &[],
    );
    // Both settings are the queue's now.
    let config = redis
        .query(&["HGETALL", &queue_key("config", "q")])
        .strings()
        .expect("HGETALL's fields and values");
    let mut config: Vec<[String; 2]> = config
        .chunks(2)
        .map(|pair| [pair[0].clone(), pair[1].clone()])
        .collect();
    config.sort();
    assert_eq!(
        config,
        [
            ["lease_ms".to_string(), "1500".to_string()],
            ["max_cancels".to_string(), "0".to_string()]
        ]
    );
    let mut entries = Vec::new();
    until("the job is stalled", || {
        entries = listed(&redis, "q", "stalled");
        !entries.is_empty()
    });
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["id"], id.as_str());
    assert_eq!(
        entries[0]["reason"],
        "cancelled 1 times, more than max_cancels 0: sh exit status: 1: nope"
    );
    let counts = redis.check_invariants("q");
    assert_eq!(
        (counts.stalled, counts.pending(), counts.finishes),
        (1, 0, 0),
        "{counts:?}"
    );
    let report = worker.terminate().report();
    assert_eq!((report.stalled, report.failed), (1, 0), "{report:?}");
}

/// A command that writes its pid to `$DIR/pid`, logs its start, and on
/// SIGTERM logs `term` and runs `$ON_TERM` (`exit 143` to stop there, `:`
/// to go on); it never ends on its own (5 min at most: only a bound on a
/// hang).
const TRAPS_TERM: &str = r#"
cat >/dev/null
echo $$ > "$DIR/pid.tmp" && mv "$DIR/pid.tmp" "$DIR/pid"
trap 'echo "term $THOONK_JOB_ID" >> "$DIR/log"; $ON_TERM' TERM
echo "start $THOONK_JOB_ID" >> "$DIR/log"
i=0
while [ "$i" -lt 3000 ]; do
  i=$((i + 1))
  sleep 0.1
done
echo "end $THOONK_JOB_ID" >> "$DIR/log"
"#;

/// Whether process `pid` is gone: no such process, or a zombie waiting to
/// be reaped (it runs nothing any more).
fn gone(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|s| s.trim_start().starts_with('Z')),
    }
}

#[test]
fn a_command_that_ignores_sigterm_past_its_timeout_is_killed_after_the_grace() {
    let redis = Redis::start();
    let dir = TempDir::new("timeout-kill").expect("a temp dir");
    let flags = dir.file("");
    let id = redis.publish("q", "item", &[]);
    let worker = WorkerProcess::start(
        &redis,
        "q",
        &["--timeout", "1", "--grace", "0.5", "--max-cancels", "0"],
        &["sh", "-c", TRAPS_TERM],
        &[("DIR", flags.as_str()), ("ON_TERM", ":")],
    );
    let mut entries = Vec::new();
    until("the job is stalled", || {
        entries = listed(&redis, "q", "stalled");
        !entries.is_empty()
    });
    assert_eq!(entries[0]["id"], id.as_str());
    assert_eq!(
        entries[0]["reason"],
        "cancelled 1 times, more than max_cancels 0: timed out after 1s"
    );
    // Asked to stop first, then killed: it never went on to its end.
    let pid = dir.lines("pid")[0].clone();
    until("the command is gone", || gone(&pid));
    assert_eq!(
        dir.lines("log"),
        [format!("start {id}"), format!("term {id}")]
    );
    let counts = redis.check_invariants("q");
    assert_eq!((counts.stalled, counts.claimed), (1, 0), "{counts:?}");
    let exited = worker.terminate();
    assert_eq!(exited.code, Some(0), "{}", exited.stderr);
    assert_eq!(exited.report().stalled, 1);
}

#[test]
fn a_command_that_exits_on_sigterm_stops_at_its_timeout() {
    let redis = Redis::start();
    let dir = TempDir::new("timeout-term").expect("a temp dir");
    let flags = dir.file("");
    let id = redis.publish("q", "item", &[]);
    // A grace no test waits out: the job's outcome can only come from the
    // command stopping on SIGTERM.
    let worker = WorkerProcess::start(
        &redis,
        "q",
        &["--timeout", "1", "--grace", "3600"],
        &["sh", "-c", TRAPS_TERM],
        &[("DIR", flags.as_str()), ("ON_TERM", "exit 143")],
    );
    let field = |noun: &str| match redis.query(&["HGET", &queue_key(noun, "q"), &id]) {
        Resp::Bulk(Some(s)) => Some(String::from_utf8(s).unwrap()),
        _ => None,
    };
    // Kept while the job is delayed by the backoff, and claimed again.
    until("the job is cancelled", || field("reasons").is_some());
    assert_eq!(field("reasons").as_deref(), Some("timed out after 1s"));
    assert!(field("cancelled").is_some_and(|n| n != "0"));
    let pid = dir.lines("pid")[0].clone();
    until("the command is gone", || gone(&pid));
    assert_eq!(
        dir.lines("log")[..2],
        [format!("start {id}"), format!("term {id}")]
    );
    // Its next run, if it started, times out too: the worker stops then.
    let exited = worker.terminate();
    assert_eq!(exited.code, Some(0), "{}", exited.stderr);
    assert!(exited.report().failed >= 1, "{}", exited.stderr);
    assert!(!dir.lines("log").iter().any(|l| l.starts_with("end")));
    redis.check_invariants("q");
}

#[test]
fn publish_delay_shows_in_stats_and_list_delayed_until_due() {
    let redis = Redis::start();
    let later = redis.publish("q", "later", &["--delay", "3600"]);
    let stats = redis.stats("q");
    assert_eq!(
        (&stats["delayed"], &stats["available"]),
        (&Value::from(1), &Value::from(0)),
        "{stats}"
    );
    assert_eq!(
        redis.list("q", "delayed"),
        [Listed::new(&later, "later", 0)]
    );
    assert_eq!(redis.ids("q", "available"), Vec::<String>::new());
    redis
        .thoonk(&["publish", "q", "x", "--delay", "-1"])
        .usage_error();

    // A job due in a second is run by a waiting worker once due, not before.
    let worker = WorkerProcess::start(
        &redis,
        "q",
        &[],
        &["sh", "-c", "cat >/dev/null; date +%s%3N"],
        &[],
    );
    let publisher = redis.spawn(&[
        "publish",
        "q",
        "soon",
        "--delay",
        "1",
        "--wait",
        "--timeout",
        "30",
    ]);
    let id = publisher.next_line();
    // The id is printed before the job is published.
    let mut due = 0;
    until("the job is delayed", || {
        match redis.query(&["ZSCORE", "job.delayed:q", &id]) {
            Resp::Bulk(Some(s)) => due = String::from_utf8(s).unwrap().parse().unwrap(),
            Resp::Bulk(None) => {}
            other => panic!("unexpected ZSCORE reply {other:?}"),
        }
        due > 0
    });
    let ran_at: u64 = publisher
        .exit()
        .assert_success()
        .trim_end()
        .parse()
        .expect("the command printed the time in ms");
    assert!(ran_at >= due, "ran at {ran_at}, due at {due}");
    let counts = redis.check_invariants("q");
    assert_eq!((counts.finishes, counts.delayed), (1, 1), "{counts:?}");
    assert_eq!(worker.terminate().code, Some(0));
}

#[test]
fn sigterm_releases_a_running_job_once_the_grace_runs_out() {
    let redis = Redis::start();
    let dir = TempDir::new("release").expect("a temp dir");
    let flags = dir.file("");
    let id = redis.publish("q", "item", &[]);
    let worker = WorkerProcess::start(
        &redis,
        "q",
        &["--grace", "0.2"],
        &["sh", "-c", WAIT_FOR_GO],
        &[("DIR", flags.as_str())],
    );
    until("the command runs", || !dir.lines("pid").is_empty());
    let pid = dir.lines("pid")[0].clone();
    let exited = worker.terminate();
    assert_eq!(exited.code, Some(0), "{}", exited.stderr);
    let report = exited.report();
    assert_eq!((report.released, report.finished), (1, 0), "{report:?}");
    // Back in the queue, not counted as a cancel.
    assert_eq!(redis.list("q", "available"), [Listed::new(&id, "item", 0)]);
    let counts = redis.check_invariants("q");
    assert_eq!((counts.available, counts.claimed), (1, 0), "{counts:?}");
    assert!(redis.tokens("q").is_empty());
    assert_eq!(
        redis.query(&["ZCARD", &queue_key("workers", "q")]),
        Resp::Int(0),
        "the worker's liveness mark is gone"
    );
    // The command did not outlive its claim.
    until("the command is gone", || gone(&pid));
    assert!(!dir.lines("log").iter().any(|l| l.starts_with("end")));
}

#[test]
fn sigterm_lets_a_running_job_finish_within_the_grace() {
    let redis = Redis::start();
    let dir = TempDir::new("grace").expect("a temp dir");
    let flags = dir.file("");
    let id = redis.publish("q", "item", &[]);
    // A grace that outlasts however long a loaded machine takes to get
    // from the SIGTERM to the flag: the job ends when the flag is there.
    let worker = WorkerProcess::start(
        &redis,
        "q",
        &["--grace", "300", "--concurrency", "2"],
        &["sh", "-c", WAIT_FOR_GO],
        &[("DIR", flags.as_str())],
    );
    until("the command runs", || !dir.lines("pid").is_empty());
    worker.signal("TERM");
    worker.wait_for_log("shutting down");
    // No new claims once shutting down.
    let other = redis.publish("q", "other", &[]);
    dir.touch("go");
    let exited = worker.exit();
    assert_eq!(exited.code, Some(0), "{}", exited.stderr);
    let report = exited.report();
    assert_eq!((report.finished, report.released), (1, 0), "{report:?}");
    assert_eq!(
        dir.lines("log"),
        [format!("start {id}"), format!("end {id}")]
    );
    assert_eq!(redis.ids("q", "available"), [other]);
    let counts = redis.check_invariants("q");
    assert_eq!((counts.finishes, counts.claimed), (1, 0), "{counts:?}");
}

#[test]
fn a_signal_right_after_work_starts_is_a_clean_stop() {
    let redis = Redis::start();
    // Sent the moment the first log line is read.
    for signal in ["TERM", "INT", "TERM"] {
        let worker = WorkerProcess::start(&redis, "q", &[], &["true"], &[]);
        worker.signal(signal);
        let exited = worker.exit();
        assert_eq!(exited.code, Some(0), "{}", exited.stderr);
        assert_eq!(exited.report(), Default::default());
    }
    assert_eq!(
        redis.query(&["ZCARD", &queue_key("workers", "q")]),
        Resp::Int(0)
    );
}

#[test]
fn concurrency_runs_that_many_jobs_at_once() {
    let redis = Redis::start();
    let dir = TempDir::new("concurrency").expect("a temp dir");
    let flags = dir.file("");
    let ids: Vec<String> = (0..4)
        .map(|i| redis.publish("q", &format!("{i}"), &[]))
        .collect();
    let worker = WorkerProcess::start(
        &redis,
        "q",
        &["--concurrency", "3"],
        &["sh", "-c", WAIT_FOR_GO],
        &[("DIR", flags.as_str())],
    );
    until("three commands run", || dir.lines("log").len() == 3);
    let counts = redis.check_invariants("q");
    assert_eq!((counts.claimed, counts.available), (3, 1), "{counts:?}");
    dir.touch("go");
    until("all four are finished", || redis.counts("q").finishes == 4);
    let mut ran: Vec<String> = dir
        .lines("log")
        .into_iter()
        .filter_map(|l| l.strip_prefix("end ").map(str::to_string))
        .collect();
    ran.sort();
    let mut want = ids;
    want.sort();
    assert_eq!(ran, want);
    redis.check_invariants("q");
    assert_eq!(worker.terminate().report().finished, 4);
}

#[test]
fn work_without_a_command_is_a_usage_error() {
    let redis = Redis::start();
    for args in [
        &["work", "q"][..],
        &["work", "q", "--"],
        &["work", "--", "true"],
        &["work", "q", "--concurrency", "many", "--", "true"],
        &["work", "q", "--lease", "soon", "--", "true"],
        &["work", "q", "--max-cancels", "-1", "--", "true"],
        &["work", "q", "--timeout", "0", "--", "true"],
        &["work", "q", "--timeout", "0.0001", "--", "true"],
        &["work", "q", "--timeout", "-1", "--", "true"],
        &["work", "q", "--timeout", "604801", "--", "true"],
        &["work", "q", "--timeout", "soon", "--", "true"],
    ] {
        redis.thoonk(args).usage_error();
    }
    assert_eq!(
        redis.query(&["DBSIZE"]),
        Resp::Int(0),
        "nothing was written"
    );
}

#[test]
fn work_serves_several_queues_and_tells_the_command_which() {
    let redis = Redis::start();
    let worker = WorkerProcess::start(
        &redis,
        "hi",
        &["lo", "--weights", "3,1", "--concurrency", "2"],
        &["sh", "-c", r#"printf "%s" "$THOONK_QUEUE""#],
        &[],
    );
    for queue in ["lo", "hi"] {
        let out = redis.thoonk(&["publish", queue, "x", "--wait", "--timeout", "30"]);
        let lines: Vec<&str> = out.assert_success().lines().collect();
        assert_eq!(lines[1], queue, "the job of {queue} ran knowing its queue");
    }
    let exited = worker.terminate();
    assert_eq!(exited.code, Some(0), "{}", exited.stderr);
    assert_eq!(exited.report().finished, 2);
    // A weight per queue, or the worker does not start.
    let out = redis.thoonk(&["work", "a", "b", "--weights", "1", "--", "true"]);
    out.failed(1, &["invalid worker", "1 weights for 2 queues"]);
}

/// Before [`WAIT_FOR_GO`]: the command reports its progress with `thoonk
/// progress` (no --token: it is read from THOONK_JOB_TOKEN) and notes the
/// token it was given.
const REPORTS_PROGRESS: &str = r#"
echo "$THOONK_JOB_TOKEN" > "$DIR/token"
"$THOONK_BIN" progress "$THOONK_QUEUE" "$THOONK_JOB_ID" '{"step":1,"of":2}' || exit 7
"#;

#[test]
fn a_work_command_reports_progress_with_its_claims_token() {
    let redis = Redis::start();
    let dir = TempDir::new("progress").expect("a temp dir");
    let flags = dir.file("");
    let id = redis.publish("q", "item", &[]);
    let bin = env!("CARGO_BIN_EXE_thoonk");
    let worker = WorkerProcess::start(
        &redis,
        "q",
        &[],
        &["sh", "-c", &format!("{REPORTS_PROGRESS}{WAIT_FOR_GO}")],
        &[("DIR", flags.as_str()), ("THOONK_BIN", bin)],
    );
    until("the command reported", || {
        dir.lines("log") == [format!("start {id}")]
    });
    let claimed = listed(&redis, "q", "claimed");
    assert_eq!(claimed[0]["id"], id.as_str());
    assert_eq!(
        claimed[0]["progress"],
        serde_json::json!({"step": 1, "of": 2})
    );
    // The token it was given is the claim's, as Redis holds it.
    let token = dir.lines("token")[0].clone();
    assert_eq!(redis.tokens("q"), [(id.clone(), token.clone())]);
    // Plain lines carry it last.
    let line = redis.thoonk(&["list", "q", "claimed"]);
    assert_eq!(
        line.line(),
        format!("{id}\t0\titem\t\t{{\"step\":1,\"of\":2}}")
    );
    // A stale token is refused, naming the job.
    let stale = redis.thoonk(&["progress", "q", &id, "2", "--token", "1.other@w"]);
    stale.failed(1, &["progress", &id, "q"]);

    dir.touch("go");
    until("the job is finished", || redis.counts("q").finishes == 1);
    assert_eq!(
        redis.query(&["EXISTS", &queue_key("progress", "q")]),
        Resp::Int(0),
        "the finish dropped the progress"
    );
    let exited = worker.terminate();
    assert_eq!(exited.code, Some(0), "{}", exited.stderr);
}
