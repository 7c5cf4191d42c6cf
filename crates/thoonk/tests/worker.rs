//! The Worker runtime: outcomes of handlers (result, retry with backoff, permanent failure, panic), the concurrency limit, leases kept alive, liveness marks, graceful shutdown with release, refused outcomes, and going on after Redis restarts.

mod common;

use common::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use thoonk::{
    Backoff, EventKind, Failure, Job, Publish, Queue, Recovered, Report, State, Worker,
    DEFAULT_LEASE,
};
use thoonk_testkit::poll::{eventually, eventually_progressing, within, DEADLINE};
use tokio::sync::mpsc;

/// A small backoff, so retried jobs come back within the test.
const QUICK: Backoff = Backoff {
    base: Duration::from_millis(50),
    max: Duration::from_millis(200),
};

/// How far a test moves the server's clock at a time while a worker lives,
/// right after its heartbeat: its next heartbeat, about a second later in
/// real time, still comes a second before its mark runs out, so the worker
/// is never seen silent past its mark.
const STEP: Duration = Duration::from_millis(LIVENESS_MS - 2_000);

/// The reason listed for the claimed job `id`, read from a handler.
async fn reason_while_claimed(q: &Queue, id: &str) -> Option<String> {
    q.list(State::Claimed, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .find(|j| j.id == id)
        .expect("the job is claimed while its handler runs")
        .reason
}

/// Events of a subscription up to and including the finish of `id`.
async fn events_until_finish(events: &mut thoonk::Events, id: &str) -> Vec<EventKind> {
    let mut kinds = Vec::new();
    loop {
        let e = next_event(events).await;
        if e.id != id {
            continue;
        }
        kinds.push(e.kind);
        if e.kind == EventKind::Finish {
            return kinds;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handlers_result_finishes_the_job() {
    let env = Env::start().await;
    let q = env.queue("ok");
    let started_at = env.server_ms().await;
    let (tokens_tx, mut tokens) = mpsc::unbounded_channel();
    let worker = start(Worker::new(q.clone()), move |job: Job| {
        let tokens_tx = tokens_tx.clone();
        async move {
            tokens_tx.send(job.token.clone()).unwrap();
            Ok::<_, Failure>(format!("done {}", String::from_utf8_lossy(&job.item)))
        }
    });
    for n in 0..3 {
        let result = q
            .publish_and_wait(format!("job {n}"), Publish::new(), DEADLINE)
            .await
            .unwrap();
        assert_eq!(result, Some(format!("done job {n}").into_bytes()));
    }
    // The claims were the worker's, and it is marked alive.
    for _ in 0..3 {
        let token = tokens.recv().await.unwrap();
        assert!(
            token.ends_with(&format!("@{}", worker.id)),
            "{token} names the worker {}",
            worker.id
        );
    }
    let deadline = liveness(&env, "ok", &worker.id).await;
    assert!(
        deadline.is_some_and(|d| d > started_at),
        "a liveness deadline after the worker started: {deadline:?}"
    );
    let id = worker.id.clone();
    let report = worker.stop().await;
    assert_eq!(
        report,
        Report {
            finished: 3,
            ..Report::default()
        }
    );
    assert_eq!(liveness(&env, "ok", &id).await, None, "mark removed");
    let stats = q.stats().await.unwrap();
    assert_eq!((stats.finishes, stats.available, stats.claimed), (3, 0, 0));
    env.check_invariants("ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retryable_failure_is_retried_after_a_backoff() {
    let env = Env::start().await;
    let q = env.queue("flaky");
    let attempts = Arc::new(AtomicUsize::new(0));
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let worker = {
        let (q, attempts) = (q.clone(), attempts.clone());
        start(Worker::new(q.clone()).backoff(QUICK), move |job: Job| {
            let (q, attempts, seen_tx) = (q.clone(), attempts.clone(), seen_tx.clone());
            async move {
                if attempts.fetch_add(1, Ordering::SeqCst) == 0 {
                    return Err(Failure::transient("the service said 503"));
                }
                let reason = reason_while_claimed(&q, &job.id).await;
                seen_tx.send((job.retries, reason)).unwrap();
                Ok("second time lucky")
            }
        })
    };
    let mut events = q.subscribe().await.unwrap();
    let result = q
        .publish_and_wait("x", Publish::new().id("j"), DEADLINE)
        .await
        .unwrap();
    assert_eq!(result, Some(b"second time lucky".to_vec()));
    use EventKind as E;
    // Cancelled with a delay (the backoff), then claimed again.
    assert_eq!(
        events_until_finish(&mut events, "j").await,
        [
            E::Publish,
            E::Claim,
            E::Cancel,
            E::Delay,
            E::Due,
            E::Claim,
            E::Finish
        ]
    );
    // The second attempt saw the count and the first one's reason.
    assert_eq!(
        seen.recv().await.unwrap(),
        (1, Some("the service said 503".to_string()))
    );
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
    assert_eq!(
        worker.stop().await,
        Report {
            finished: 1,
            failed: 1,
            ..Report::default()
        }
    );
    env.check_invariants("flaky");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retryable_failure_delays_the_job_by_the_backoff() {
    let env = Env::start().await;
    let q = env.queue("delayed-retry");
    // A backoff of a minute: the job stays delayed (half a minute at
    // least) while its due time is read. The backoff of a first failure is
    // base/2 ..= base, from the server's time when the job was cancelled,
    // which is between the two readings of it around the failure.
    let backoff = Backoff {
        base: Duration::from_secs(60),
        max: Duration::from_secs(120),
    };
    let before = env.server_ms().await;
    let worker = start(Worker::new(q.clone()).backoff(backoff), |_job: Job| async {
        Err::<Vec<u8>, _>(Failure::transient("not now"))
    });
    q.publish("x", Publish::new().id("j")).await.unwrap();
    let mut raw = env.raw().await;
    eventually("the job is delayed", || {
        let q = q.clone();
        async move { q.stats().await.unwrap().delayed == 1 }
    })
    .await;
    let after = env.server_ms().await;
    let due: u64 = cmd(&mut raw, &["ZSCORE", "job.delayed:delayed-retry", "j"]).await;
    assert!(
        (before + 30_000..=after + 60_000).contains(&due),
        "due {} ms after the start, {} ms after the job was delayed",
        due as i64 - before as i64,
        due as i64 - after as i64
    );
    let listed = q.list(State::Delayed, 0, 10).await.unwrap();
    assert_eq!(
        (listed[0].cancelled, listed[0].reason.as_deref()),
        (1, Some("not now"))
    );
    assert_eq!(
        worker.stop().await,
        Report {
            failed: 1,
            ..Report::default()
        }
    );
    env.check_invariants("delayed-retry");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_failure_stalls_the_job_with_its_reason() {
    let env = Env::start().await;
    let q = env.queue("bad");
    let calls = Arc::new(AtomicUsize::new(0));
    let worker = {
        let calls = calls.clone();
        start(Worker::new(q.clone()).backoff(QUICK), move |_job: Job| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err::<Vec<u8>, _>(Failure::permanent("payload is not an image")) }
        })
    };
    let mut events = q.subscribe().await.unwrap();
    q.publish("x", Publish::new().id("j")).await.unwrap();
    loop {
        let e = next_event(&mut events).await;
        assert_ne!(
            e.kind,
            EventKind::Cancel,
            "a permanent failure is not retried"
        );
        if e.kind == EventKind::Stall {
            break;
        }
    }
    let stalled = q.list(State::Stalled, 0, 10).await.unwrap();
    assert_eq!(
        (stalled[0].id.as_str(), stalled[0].reason.as_deref()),
        ("j", Some("payload is not an image"))
    );
    assert_eq!(
        worker.stop().await,
        Report {
            stalled: 1,
            ..Report::default()
        }
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(q.stats().await.unwrap().stalled, 1);
    env.check_invariants("bad");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_is_a_failure_to_retry() {
    let env = Env::start().await;
    let q = env.queue("panics");
    let attempts = Arc::new(AtomicUsize::new(0));
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let worker = {
        let (q, attempts) = (q.clone(), attempts.clone());
        start(Worker::new(q.clone()).backoff(QUICK), move |job: Job| {
            let (q, attempts, seen_tx) = (q.clone(), attempts.clone(), seen_tx.clone());
            async move {
                if attempts.fetch_add(1, Ordering::SeqCst) == 0 {
                    panic!("index out of bounds in the handler");
                }
                seen_tx
                    .send(reason_while_claimed(&q, &job.id).await)
                    .unwrap();
                Ok::<_, Failure>("recovered")
            }
        })
    };
    let result = q
        .publish_and_wait("x", Publish::new().id("j"), DEADLINE)
        .await
        .unwrap();
    assert_eq!(result, Some(b"recovered".to_vec()));
    let reason = seen.recv().await.unwrap().expect("a reason");
    assert!(
        reason.contains("panicked") && reason.contains("index out of bounds in the handler"),
        "{reason:?}"
    );
    assert_eq!(
        worker.stop().await,
        Report {
            finished: 1,
            failed: 1,
            ..Report::default()
        }
    );
    env.check_invariants("panics");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retryable_failure_past_max_cancels_is_stalled() {
    let env = Env::start().await;
    let q = env.queue("give-up");
    q.set_max_cancels(2).await.unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let worker = {
        let calls = calls.clone();
        start(Worker::new(q.clone()).backoff(QUICK), move |_job: Job| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err::<Vec<u8>, _>(Failure::transient("still down")) }
        })
    };
    let mut events = q.subscribe().await.unwrap();
    q.publish("x", Publish::new().id("j")).await.unwrap();
    loop {
        if next_event(&mut events).await.kind == EventKind::Stall {
            break;
        }
    }
    // Two cancels allowed; the third failure stalls it.
    assert_eq!(
        worker.stop().await,
        Report {
            failed: 2,
            stalled: 1,
            ..Report::default()
        }
    );
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    let stalled = q.list(State::Stalled, 0, 10).await.unwrap();
    let reason = stalled[0].reason.clone().unwrap();
    assert!(
        reason.contains("max_cancels 2") && reason.contains("still down"),
        "{reason:?}"
    );
    env.check_invariants("give-up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_more_than_n_handlers_run_at_once() {
    const N: usize = 3;
    const JOBS: usize = 10;
    let env = Env::start().await;
    let q = env.queue("limit");
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (open, gated) = gate();
    let worker = {
        let (running, most) = (running.clone(), most.clone());
        start(Worker::new(q.clone()).concurrency(N), move |_job: Job| {
            let (running, most, gated) = (running.clone(), most.clone(), gated.clone());
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                pass(&gated).await;
                running.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, Failure>("")
            }
        })
    };
    q.publish_many((0..JOBS).map(|i| format!("job {i}")))
        .await
        .unwrap();

    // All N slots busy, and no more jobs claimed than slots.
    eventually("N handlers run", || {
        let running = running.clone();
        async move { running.load(Ordering::SeqCst) == N }
    })
    .await;
    let stats = q.stats().await.unwrap();
    assert_eq!(
        (stats.claimed, stats.available),
        (N as u64, (JOBS - N) as u64)
    );
    assert_eq!(most.load(Ordering::SeqCst), N);

    open.send(true).unwrap();
    eventually("every job finished", || {
        let q = q.clone();
        async move { q.stats().await.unwrap().finishes == JOBS as u64 }
    })
    .await;
    assert_eq!(
        worker.stop().await,
        Report {
            finished: JOBS as u64,
            ..Report::default()
        }
    );
    assert_eq!(most.load(Ordering::SeqCst), N, "never more than N at once");
    env.check_invariants("limit");
}

/// With the real clock and a one-second lease, a handler that runs for
/// more than two leases keeps its claim: the worker extends it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_are_extended_while_a_handler_runs() {
    let env = Env::start().await;
    let mut raw = env.raw().await;
    let q = env.queue("slow");
    q.set_lease(Duration::from_secs(1)).await.unwrap();
    let (open, gated) = gate();
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let worker = start(Worker::new(q.clone()), move |job: Job| {
        let (gated, started_tx) = (gated.clone(), started_tx.clone());
        async move {
            started_tx.send(job.token.clone()).unwrap();
            pass(&gated).await;
            Ok::<_, Failure>("slow but done")
        }
    });
    let mut events = q.subscribe().await.unwrap();
    q.publish("x", Publish::new().id("j")).await.unwrap();
    let token = within("the handler starts", started.recv()).await.unwrap();
    let claimed_at: u64 = cmd(&mut raw, &["ZSCORE", "job.claimed:slow", "j"]).await;

    // Wait until 2.5 leases passed: the claim must still be this one, its
    // score renewed well past the claim time.
    eventually("the claim held for 2.5 leases, extended", || {
        let (mut raw, token, thoonk) = (raw.clone(), token.clone(), env.thoonk.clone());
        async move {
            let (score, current): (Option<u64>, Option<String>) = thoonk::redis::pipe()
                .atomic()
                .zscore("job.claimed:slow", "j")
                .hget("job.tokens:slow", "j")
                .query_async(&mut raw)
                .await
                .unwrap();
            let current = current.as_deref().map(thoonk_testkit::token_of);
            assert_eq!(current, Some(token.as_str()), "the claim was taken back");
            let now = thoonk.server_time_ms().await.unwrap();
            now >= claimed_at + 2_500 && score.is_some_and(|s| s >= claimed_at + 1_500)
        }
    })
    .await;
    open.send(true).unwrap();
    let kinds = events_until_finish(&mut events, "j").await;
    assert_eq!(
        kinds,
        [EventKind::Publish, EventKind::Claim, EventKind::Finish]
    );
    let report = worker.stop().await;
    assert_eq!(
        report,
        Report {
            finished: 1,
            ..Report::default()
        }
    );
    assert_eq!(report.refused, 0);
    env.check_invariants("slow");
}

// One thread: the worker clears its claiming in the same poll in which it
// sees the shutdown future complete, but on two threads the test (woken by
// that future) could open the gate and the quick job's finish could claim
// a refill in between. Such a refill would only be released at once; what
// this test pins is that nothing is claimed after the shutdown is taken.
#[tokio::test(flavor = "current_thread")]
async fn shutdown_finishes_within_the_grace_and_releases_the_rest() {
    let env = Env::start().await;
    let q = env.queue("bye");
    let (open_quick, quick_gate) = gate();
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let worker = start(
        Worker::new(q.clone())
            .concurrency(2)
            .grace(Duration::from_secs(2)),
        move |job: Job| {
            let (quick_gate, started_tx) = (quick_gate.clone(), started_tx.clone());
            async move {
                started_tx.send(job.id.clone()).unwrap();
                if job.item == b"quick" {
                    pass(&quick_gate).await;
                } else {
                    std::future::pending::<()>().await;
                }
                Ok::<_, Failure>("done")
            }
        },
    );
    let worker_id = worker.id.clone();
    q.publish("quick", Publish::new().id("quick"))
        .await
        .unwrap();
    q.publish("stuck", Publish::new().id("stuck"))
        .await
        .unwrap();
    let mut ids = vec![
        within("a handler starts", started.recv()).await.unwrap(),
        within("a handler starts", started.recv()).await.unwrap(),
    ];
    ids.sort();
    assert_eq!(ids, ["quick", "stuck"]);
    // Published while both slots are busy: it must never be claimed.
    q.publish("later", Publish::new().id("later"))
        .await
        .unwrap();
    let mut events = q.subscribe().await.unwrap();
    assert!(liveness(&env, "bye", &worker_id).await.is_some());

    // Shutdown while both handlers are blocked; once the worker took it,
    // "quick" completes (within the grace), "stuck" never does.
    let _ = worker.stop.send(());
    within("the worker takes the shutdown", worker.stopping.notified()).await;
    open_quick.send(true).unwrap();
    let report = within("the worker's shutdown", worker.task)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        report,
        Report {
            finished: 1,
            released: 1,
            ..Report::default()
        }
    );

    let mut seen = HashMap::new();
    for _ in 0..2 {
        let e = next_event(&mut events).await;
        seen.insert(e.id, e.kind);
    }
    assert_eq!(seen["quick"], EventKind::Finish);
    assert_eq!(seen["stuck"], EventKind::Release);
    // Released to the front of the queue, no cancel counted, no reason.
    let available = q.list(State::Available, 0, 10).await.unwrap();
    let listed: Vec<(&str, u64, Option<&str>)> = available
        .iter()
        .map(|j| (j.id.as_str(), j.cancelled, j.reason.as_deref()))
        .collect();
    assert_eq!(listed, [("stuck", 0, None), ("later", 0, None)]);
    let stats = q.stats().await.unwrap();
    assert_eq!((stats.claimed, stats.finishes), (0, 1));
    assert_eq!(
        liveness(&env, "bye", &worker_id).await,
        None,
        "mark removed"
    );
    env.check_invariants("bye");
}

/// A worker whose claim was taken back while its handler ran has its
/// outcome refused; the job is done by the next claim.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outcome_after_the_claim_was_taken_back_is_refused() {
    let env = Env::start_clocked().await;
    let q = env.queue("late");
    let (open, gated) = gate();
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let worker = start(Worker::new(q.clone()), move |job: Job| {
        let (gated, started_tx) = (gated.clone(), started_tx.clone());
        async move {
            started_tx.send(job.token.clone()).unwrap();
            if job.retries == 0 {
                pass(&gated).await;
                Ok::<_, Failure>("too late")
            } else {
                Ok("in time")
            }
        }
    });
    let waiting = {
        let q = q.clone();
        tokio::spawn(async move {
            q.publish_and_wait("x", Publish::new().id("j"), DEADLINE)
                .await
        })
    };
    let first = within("the first attempt", started.recv()).await.unwrap();

    // Another process takes the claim back while the handler runs, by
    // the job's id alone, as an operator or a v1 client does (a claim the
    // recovery takes back goes the same way: `tests/leases.rs`).
    let elsewhere = env.client().await.queue("late").unwrap();
    assert_eq!(elsewhere.cancel("j").await.unwrap(), State::Available);
    open.send(true).unwrap();

    let second = within("the second attempt", started.recv()).await.unwrap();
    assert_ne!(first, second);
    let result = within("the publisher", waiting).await.unwrap().unwrap();
    assert_eq!(result, Some(b"in time".to_vec()));
    assert_eq!(
        worker.stop().await,
        Report {
            finished: 1,
            refused: 1,
            ..Report::default()
        }
    );
    env.check_invariants("late");
}

/// A worker renews its liveness mark while it lives, in the server's time:
/// the server's clock moving on, by less than a mark lasts at a time, takes
/// nothing from it. Once it dies (its task is dropped: no release, no
/// goodbye) holding a job, another process's recovery sends the job back
/// once the mark has run out in the server's time (or, should recovery
/// take the queue's silence since for one of Redis, once the grace it then
/// gives is over), long before the 30 s lease does. Only the server's
/// clock counts: the test moves it alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_workers_job_is_recovered_when_its_liveness_runs_out() {
    let env = Env::start_clocked().await;
    let q = env.queue("crash");
    let started_at = env.server_ms().await;
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let worker = start(Worker::new(q.clone()), move |job: Job| {
        let started_tx = started_tx.clone();
        async move {
            started_tx.send(job.token.clone()).unwrap();
            std::future::pending::<()>().await;
            Ok::<_, Failure>("never")
        }
    });
    q.publish("x", Publish::new().id("j")).await.unwrap();
    let token = within("the handler starts", started.recv()).await.unwrap();
    assert!(token.ends_with(&format!("@{}", worker.id)), "{token}");
    let first = liveness(&env, "crash", &worker.id).await.unwrap();
    let now = env.server_ms().await;
    assert!(
        (started_at + LIVENESS_MS..=now + LIVENESS_MS).contains(&first),
        "marked at a heartbeat since the start, for {LIVENESS_MS} ms: {} ms after the start",
        first - started_at
    );

    // Five seconds pass in the server's time, more than a mark lasts, one
    // at a time, each right after a heartbeat: alive, the worker renews its
    // mark (and its lease) after each step, so another process's recovery
    // takes nothing.
    let observer = env.client().await.queue("crash").unwrap();
    for _ in 0..5 {
        until_heartbeat(&env, "crash", &worker.id).await;
        env.advance(STEP);
        assert_eq!(observer.recover().await.unwrap(), Recovered::default());
    }
    assert_eq!(q.stats().await.unwrap().claimed, 1);

    // The worker dies, right after a heartbeat.
    until_heartbeat(&env, "crash", &worker.id).await;
    let dead = worker.id.clone();
    worker.kill().await;
    let deadline = liveness(&env, "crash", &dead)
        .await
        .expect("a dead worker leaves its mark");
    assert_eq!(q.stats().await.unwrap().claimed, 1, "nothing given back");

    // A second before the mark runs out, nothing.
    let now = env.server_ms().await;
    env.advance(Duration::from_millis(
        deadline.saturating_sub(now).saturating_sub(1_000),
    ));
    assert_eq!(observer.recover().await.unwrap(), Recovered::default());
    // Once it has, the job is back, though its lease (from the last
    // extension) has not run out. (The test moves the server's clock, not
    // the worker's: that alone counts.)
    let mut raw = env.raw().await;
    let extended: u64 = cmd(&mut raw, &["ZSCORE", "job.claimed:crash", "j"]).await;
    let now = env.server_ms().await;
    env.advance(Duration::from_millis(deadline.saturating_sub(now) + 1));
    let mut recovered = observer.recover().await.unwrap();
    if !recovered.waiting.is_zero() {
        // The queue heard no heartbeat since the worker's last: to
        // recovery, that may be Redis itself having been silent, when no
        // one could renew a mark, and it gives the living a grace first
        // (grace_after_silence in src/lua/_state.lua). Then the job is
        // back once the grace is over.
        assert_eq!(recovered.requeued, 0, "nothing taken back in the grace");
        env.advance(recovered.waiting);
        recovered = observer.recover().await.unwrap();
    }
    assert_eq!(
        recovered,
        Recovered {
            requeued: 1,
            stalled: 0,
            due: 0,
            ..Default::default()
        }
    );
    let recovered_by = env.server_ms().await;
    assert!(
        recovered_by < extended + DEFAULT_LEASE.as_millis() as u64,
        "within the lease: {} ms after the last extension",
        recovered_by - extended
    );
    let available = observer.list(State::Available, 0, 10).await.unwrap();
    assert_eq!((available[0].id.as_str(), available[0].cancelled), ("j", 1));
    let reason = available[0].reason.clone().unwrap();
    assert!(reason.contains(&format!("worker {dead}")), "{reason:?}");
    assert_eq!(liveness(&env, "crash", &dead).await, None);
    env.check_invariants("crash");
}

/// Redis goes away and comes back (empty: no persistence); the worker
/// reconnects by itself and does the jobs published after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_goes_on_after_redis_restarts() {
    let mut env = Env::start().await;
    let q = env.queue("phoenix");
    let done = Arc::new(Mutex::new(Vec::new()));
    let worker = {
        let done = done.clone();
        start(
            Worker::new(q.clone()).concurrency(2).backoff(QUICK),
            move |job: Job| {
                done.lock().unwrap().push(job.id.clone());
                async move { Ok::<_, Failure>(job.item) }
            },
        )
    };
    let result = q
        .publish_and_wait("before", Publish::new().id("before"), DEADLINE)
        .await
        .unwrap();
    assert_eq!(result, Some(b"before".to_vec()));

    tokio::task::block_in_place(|| env.redis.restart()).expect("restart redis");

    // A fresh client of the restarted server publishes and waits.
    let after = env.client().await.queue("phoenix").unwrap();
    for n in 0..3 {
        let id = format!("after-{n}");
        let result = after
            .publish_and_wait(&id, Publish::new().id(&id), DEADLINE)
            .await
            .unwrap();
        assert_eq!(result, Some(id.into_bytes()));
    }
    assert_eq!(
        worker.stop().await,
        Report {
            finished: 4,
            ..Report::default()
        }
    );
    assert_eq!(
        *done.lock().unwrap(),
        ["before", "after-0", "after-1", "after-2"]
    );
    assert_eq!(after.stats().await.unwrap().finishes, 3);
    env.check_invariants("phoenix");
}

/// Several queues, strict order: while the first has work, the second
/// waits; each handler is told which queue its job came from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_order_serves_the_first_queue_first() {
    let env = Env::start().await;
    let (urgent, bulk) = (env.queue("urgent"), env.queue("bulk"));
    for n in 0..20 {
        bulk.publish(format!("b{n}"), Publish::new()).await.unwrap();
        urgent
            .publish(format!("u{n}"), Publish::new())
            .await
            .unwrap();
    }
    let order: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = order.clone();
    let worker = Worker::serving(vec![urgent.clone(), bulk.clone()], thoonk::Order::Strict)
        .unwrap()
        .concurrency(1);
    let running = start(worker, move |job: Job| {
        let seen = seen.clone();
        async move {
            let item = String::from_utf8(job.item.clone()).unwrap();
            assert_eq!(
                &*job.queue,
                if item.starts_with('u') {
                    "urgent"
                } else {
                    "bulk"
                }
            );
            seen.lock().unwrap().push(item);
            Ok::<_, Failure>("ok")
        }
    });
    eventually("all 40 jobs done", || async {
        bulk.stats().await.unwrap().finishes + urgent.stats().await.unwrap().finishes == 40
    })
    .await;
    let report = running.stop().await;
    assert_eq!(report.finished, 40);
    let order = order.lock().unwrap().clone();
    // One at a time, strict: all of urgent before any of bulk.
    let first_bulk = order.iter().position(|i| i.starts_with('b')).unwrap();
    assert_eq!(first_bulk, 20, "urgent's 20 jobs ran first: {order:?}");
}

/// Several queues by weight: 3 to 1 while both have work, then the rest
/// of either once the other is empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weighted_order_shares_slots_by_weight() {
    let env = Env::start().await;
    let (heavy, light) = (env.queue("heavy"), env.queue("light"));
    let jobs = |p: &str| (0..400).map(|n| format!("{p}{n}")).collect::<Vec<_>>();
    heavy.publish_many(jobs("h")).await.unwrap();
    light.publish_many(jobs("l")).await.unwrap();
    let order: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = order.clone();
    let worker = Worker::serving(
        vec![heavy.clone(), light.clone()],
        thoonk::Order::Weighted(vec![3, 1]),
    )
    .unwrap()
    .concurrency(1);
    let running = start(worker, move |job: Job| {
        let seen = seen.clone();
        async move {
            seen.lock().unwrap().push(job.queue.to_string());
            Ok::<_, Failure>("ok")
        }
    });
    // One job at a time: bounded only while none finishes, however loaded
    // the machine.
    eventually_progressing(
        "all 800 jobs done",
        || async { heavy.stats().await.unwrap().finishes + light.stats().await.unwrap().finishes },
        |&n| n == 800,
    )
    .await;
    running.stop().await;
    let order = order.lock().unwrap().clone();
    // Of the first 200 jobs (both queues still had work), about 3/4 heavy:
    // 150 expected; a binomial(200, 0.75) is outside 120..=180 with odds
    // below 1 in 10^6.
    let heavy_first = order[..200].iter().filter(|q| *q == "heavy").count();
    assert!(
        (120..=180).contains(&heavy_first),
        "{heavy_first} of the first 200 were heavy's"
    );
    assert_eq!(order.iter().filter(|q| *q == "heavy").count(), 400);
}

#[tokio::test]
async fn a_worker_on_several_queues_refuses_what_cannot_work() {
    let env = Env::start().await;
    let (a, b) = (env.queue("a"), env.queue("b"));
    let refused = |r: thoonk::Result<Worker>| r.unwrap_err().to_string();
    assert_eq!(
        refused(Worker::serving(vec![], thoonk::Order::Strict)),
        "invalid worker: it serves no queue"
    );
    assert_eq!(
        refused(Worker::serving(
            vec![a.clone(), a.clone()],
            thoonk::Order::Strict
        )),
        "invalid worker: queue a is named twice"
    );
    assert_eq!(
        refused(Worker::serving(
            vec![a.clone(), b.clone()],
            thoonk::Order::Weighted(vec![1])
        )),
        "invalid worker: 1 weights for 2 queues"
    );
    assert_eq!(
        refused(Worker::serving(
            vec![a, b],
            thoonk::Order::Weighted(vec![0, 0])
        )),
        "invalid worker: every weight is zero"
    );
}

/// A worker on several queues waits on all of them at once: a job
/// published to any one of them, while it waits, is done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_worker_wakes_for_any_of_its_queues() {
    let env = Env::start().await;
    let queues: Vec<Queue> = (0..3).map(|i| env.queue(&format!("q{i}"))).collect();
    let worker = Worker::serving(queues.clone(), thoonk::Order::Strict)
        .unwrap()
        .concurrency(4);
    let running = start(worker, |job: Job| async move {
        Ok::<_, Failure>(format!(
            "{} from {}",
            String::from_utf8_lossy(&job.item),
            job.queue
        ))
    });
    for q in queues.iter().rev() {
        let result = q
            .publish_and_wait("hi", Publish::new(), DEADLINE)
            .await
            .unwrap();
        assert_eq!(result, Some(format!("hi from {}", q.name()).into_bytes()));
    }
    let report = running.stop().await;
    assert_eq!(report.finished, 3);
}

/// Strict order while the worker is busy with a later queue: a job
/// published to the first queue is next, not after the later queue runs
/// dry (the later queue's finishes must not keep its slots by refilling).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_order_takes_a_new_first_queue_job_before_the_backlog() {
    let env = Env::start().await;
    let (urgent, bulk) = (env.queue("urgent"), env.queue("bulk"));
    bulk.publish_many((0..2_000).map(|n| format!("b{n}")))
        .await
        .unwrap();
    let ran: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = ran.clone();
    let worker = Worker::serving(vec![urgent.clone(), bulk.clone()], thoonk::Order::Strict)
        .unwrap()
        .concurrency(4);
    let running = start(worker, move |job: Job| {
        let seen = seen.clone();
        async move {
            seen.lock()
                .unwrap()
                .push(String::from_utf8(job.item).unwrap());
            Ok::<_, Failure>("ok")
        }
    });
    eventually("the backlog under way", || async {
        ran.lock().unwrap().len() >= 100
    })
    .await;
    urgent.publish("URGENT", Publish::new()).await.unwrap();
    eventually("the urgent job done", || async {
        ran.lock().unwrap().iter().any(|i| i == "URGENT")
    })
    .await;
    let bulk_left = bulk.stats().await.unwrap().available;
    running.stop().await;
    assert!(bulk_left > 0, "the urgent job waited for the whole backlog");
}

/// A worker on several queues keeps waiting on the others while one has
/// work: a wake on one queue costs no new connection for the others' waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_on_several_queues_keeps_their_connections() {
    let env = Env::start().await;
    let mut raw = env.raw().await;
    let queues: Vec<Queue> = (0..5).map(|i| env.queue(&format!("w{i}"))).collect();
    let worker = Worker::serving(queues.clone(), thoonk::Order::Strict)
        .unwrap()
        .concurrency(2);
    let running = start(worker, |_job: Job| async { Ok::<_, Failure>("ok") });
    // Settled: the first job done, every queue's watcher back waiting.
    queues[0]
        .publish_and_wait("x", Publish::new(), DEADLINE)
        .await
        .unwrap();
    until_waiting(&raw, 5).await;
    let before = info_field(&mut raw, "stats", "total_connections_received").await;
    for _ in 0..10 {
        queues[0]
            .publish_and_wait("x", Publish::new(), DEADLINE)
            .await
            .unwrap();
    }
    let after = info_field(&mut raw, "stats", "total_connections_received").await;
    // The woken queue's own wait may take a fresh connection now and then;
    // the four others never do (they used to: 4 a wake, 40 here).
    assert!(
        after - before <= 10,
        "{} new connections for 10 wakes",
        after - before
    );
    running.stop().await;
}

/// A waiting worker claims in the same trip as its wait (the claim script
/// goes out behind the `BLMOVE`): when Redis has lost its scripts
/// meanwhile, that claim is refused with `NOSCRIPT`, and the worker loads
/// the script and claims all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_worker_claims_after_redis_lost_its_scripts() {
    let env = Env::start().await;
    let mut raw = env.raw().await;
    let q = env.queue("flushed");
    let worker = Worker::new(q.clone()).concurrency(2);
    let running = start(worker, |job: Job| async move { Ok::<_, Failure>(job.item) });
    q.publish_and_wait("first", Publish::new(), DEADLINE)
        .await
        .unwrap();
    until_waiting(&raw, 1).await;
    let _: () = cmd(&mut raw, &["SCRIPT", "FLUSH"]).await;
    let result = q
        .publish_and_wait("second", Publish::new(), DEADLINE)
        .await
        .unwrap();
    assert_eq!(result, Some(b"second".to_vec()));
    assert_eq!(running.stop().await.finished, 2);
}

/// Jobs delayed while a worker waits, due before its wait ends, run when
/// due: the first, and the next one too (the worker does not sleep through
/// it until its wait ends, a third of the lease, 30 s here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_delayed_while_a_worker_waits_run_when_due() {
    // Both jobs must have run by then: half the 30 s a worker that slept
    // through them would take, so the two cannot be mistaken for each
    // other; yet 25 times the 600 ms it takes, for a loaded machine.
    const WELL_BEFORE_THE_WAIT_ENDS: Duration = Duration::from_secs(15);
    let env = Env::start().await;
    let mut raw = env.raw().await;
    let q = env.queue("later");
    q.set_lease(Duration::from_secs(90)).await.unwrap();
    let mut finishes = q.subscribe_to(&[EventKind::Finish]).await.unwrap();
    let worker = Worker::new(q.clone()).concurrency(2);
    let running = start(worker, |_job: Job| async { Ok::<_, Failure>("ok") });
    until_waiting(&raw, 1).await;
    for (id, ms) in [("d1", 300), ("d2", 600)] {
        q.publish(id, Publish::new().id(id).delay(Duration::from_millis(ms)))
            .await
            .unwrap();
    }
    let mut done = Vec::new();
    tokio::time::timeout(WELL_BEFORE_THE_WAIT_ENDS, async {
        while done.len() < 2 {
            done.push(next_event(&mut finishes).await.id);
        }
    })
    .await
    .unwrap_or_else(|_| panic!("only {done:?} ran within {WELL_BEFORE_THE_WAIT_ENDS:?}"));
    assert_eq!(done, ["d1", "d2"]);
    // Its wait went on meanwhile, and still works.
    let _: () = cmd(&mut raw, &["PING"]).await;
    q.publish_and_wait("now", Publish::new(), DEADLINE)
        .await
        .unwrap();
    assert_eq!(running.stop().await.finished, 3);
}

/// The claim that ends a worker's wait is stamped with the server's time
/// as it runs, not the time the wait began: a job published to a worker
/// idle for several leases is not taken for an expired claim by a recovery
/// pass run the moment it starts (real clock, a 900 ms lease).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_after_a_long_idle_wait_is_not_taken_back() {
    let env = Env::start().await;
    let raw = env.raw().await;
    let q = env.queue("idle");
    q.set_lease(Duration::from_millis(900)).await.unwrap();
    let (recovered_tx, mut recovered) = mpsc::unbounded_channel();
    let queue = q.clone();
    let running = start(Worker::new(q.clone()), move |_job: Job| {
        let (queue, recovered_tx) = (queue.clone(), recovered_tx.clone());
        async move {
            // Anyone's recovery pass, as soon as the job is handed over.
            recovered_tx.send(queue.recover().await.unwrap()).unwrap();
            Ok::<_, Failure>("ok")
        }
    });
    until_waiting(&raw, 1).await;
    // The scenario, not a synchronisation: three leases with nothing to do.
    tokio::time::sleep(Duration::from_millis(2_700)).await;
    q.publish("x", Publish::new().id("j")).await.unwrap();
    let pass = within("the job runs", recovered.recv()).await.unwrap();
    assert_eq!(pass, Recovered::default(), "the fresh claim was taken back");
    let report = running.stop().await;
    assert_eq!((report.finished, report.refused), (1, 0));
    assert_eq!(q.cancel_count("j").await.unwrap(), 0);
    env.check_invariants("idle");
}

/// A claim made in a stopping worker's name whose reply it never got (its
/// wait closed in the very instant the claim ran) goes back to the queue as
/// the worker stops, not a lease later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_the_worker_never_received_goes_back_when_it_stops() {
    let env = Env::start().await;
    let mut raw = env.raw().await;
    let q = env.queue("orphan");
    let worker = Worker::new(q.clone());
    let worker_id = worker.id().to_string();
    let token = format!("1.lost@{worker_id}");
    let running = start(worker, |_job: Job| async { Ok::<_, Failure>("ok") });
    until_waiting(&raw, 1).await;
    // Right after a heartbeat, so that the worker stops before the next
    // one: each heartbeat rewrites the worker's members of job.holders to
    // name only the jobs it knows it holds.
    until_heartbeat(&env, "orphan", &worker_id).await;
    // What claim.lua writes for that worker (claim number 1), the job
    // never handed over.
    let now = env.server_ms().await;
    let _: () = thoonk::redis::pipe()
        .atomic()
        .hset("job.items:orphan", "lost", "x")
        .zadd("job.claimed:orphan", "lost", now)
        .hset(
            "job.tokens:orphan",
            "lost",
            thoonk_testkit::claim_record(&token, now),
        )
        .zadd(
            "job.holders:orphan",
            thoonk_testkit::holder(&worker_id, 1, &["lost"]),
            0,
        )
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(running.stop().await.finished, 0);
    let available: Vec<String> = q
        .list(State::Available, 0, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|job| job.id)
        .collect();
    assert_eq!(available, ["lost"]);
    env.check_invariants("orphan");
}

/// Jobs that come to several waiting queues at once may be claimed for
/// more slots than are free (each queue's wait claims for all of them):
/// the extra ones go back to the front of their queue, not counted as a
/// cancel, and every job runs once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_beyond_the_free_slots_go_back_unharmed() {
    let env = Env::start().await;
    let mut raw = env.raw().await;
    let (a, b) = (env.queue("a"), env.queue("b"));
    let ran: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = ran.clone();
    let worker = Worker::serving(vec![a.clone(), b.clone()], thoonk::Order::Strict)
        .unwrap()
        .concurrency(1);
    let running = start(worker, move |job: Job| {
        let seen = seen.clone();
        async move {
            seen.lock().unwrap().push(job.id.clone());
            Ok::<_, Failure>("ok")
        }
    });
    until_waiting(&raw, 2).await;
    // Both queues get a job in one transaction (as a v1 publisher would
    // write them), so both waits end, and claim, at once.
    let _: () = redis::pipe()
        .atomic()
        .hset("job.items:a", "ja", "x")
        .lpush("job.ids:a", "ja")
        .hset("job.items:b", "jb", "y")
        .lpush("job.ids:b", "jb")
        .query_async(&mut raw)
        .await
        .unwrap();
    eventually("both jobs done", || async {
        ran.lock().unwrap().len() >= 2
    })
    .await;
    let report = running.stop().await;
    let mut ran = ran.lock().unwrap().clone();
    ran.sort();
    assert_eq!(ran, ["ja", "jb"]);
    assert_eq!(report.finished, 2);
    assert_eq!(a.cancel_count("ja").await.unwrap(), 0);
    assert_eq!(b.cancel_count("jb").await.unwrap(), 0);
}

/// A handler's success value is its job's result: nothing (`()`, `None`),
/// text or bytes, or a value as JSON (`Json`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_handler_returns_is_the_result() {
    let env = Env::start().await;
    let q = env.queue("out");
    let wait = |item: &'static str, id: &'static str| {
        let q = q.clone();
        async move {
            within(
                "the result",
                q.publish_and_wait(item, Publish::new().id(id), DEADLINE),
            )
            .await
            .unwrap()
        }
    };

    let running = start(Worker::new(q.clone()), |job: Job| async move {
        Ok::<_, Failure>(match job.id.as_str() {
            "none" => None,
            id => Some(thoonk::Json(
                serde_json::json!({ "id": id, "len": job.item.len() }),
            )),
        })
    });
    assert_eq!(wait("x", "none").await, None);
    assert_eq!(
        wait("abc", "j").await,
        Some(br#"{"id":"j","len":3}"#.to_vec())
    );
    running.stop().await;

    let running = start(Worker::new(q.clone()), |_job: Job| async {
        Ok::<(), Failure>(())
    });
    // Finished without a result (an empty one would be `Some`).
    assert_eq!(wait("y", "unit").await, None);
    running.stop().await;

    let running = start(Worker::new(q.clone()), |job: Job| async move {
        Ok::<_, Failure>(job.item.into_iter().rev().collect::<Vec<u8>>())
    });
    assert_eq!(wait("abc", "bytes").await, Some(b"cba".to_vec()));
    running.stop().await;
    env.check_invariants("out");
}
