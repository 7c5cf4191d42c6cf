//! Job timeouts in the Worker runtime: a handler past its timeout is
//! signalled, dropped after the grace if it does not stop, and its job
//! cancelled with the reason, backed off and counted toward max_cancels;
//! the queue's timeout and the worker's (the shorter wins), and their
//! bounds.
//!
//! Each test keeps the grace it does not test far beyond the kit's
//! DEADLINE, so that what it waits for can only come from the step it
//! means to test.

mod common;

use common::*;
use std::time::Duration;
use thoonk::{
    Backoff, ConfigChange, Error, EventKind, Failure, Job, JobDetail, Queue, Report, State, Worker,
    MAX_LEASE,
};
use thoonk_testkit::poll::{eventually, within};
use tokio::sync::mpsc;

/// A backoff long enough that a cancelled job stays delayed while the test
/// reads it.
const SLOW: Backoff = Backoff {
    base: Duration::from_secs(600),
    max: Duration::from_secs(600),
};

/// A small backoff, so that a cancelled job comes back within the test.
const QUICK: Backoff = Backoff {
    base: Duration::from_millis(50),
    max: Duration::from_millis(100),
};

/// A grace no test waits out.
const LONG_GRACE: Duration = Duration::from_secs(3_600);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The job `id` once the worker's cancel delayed it (for long enough,
/// with [`SLOW`], that it still is when read again).
async fn delayed(q: &Queue, id: &str) -> JobDetail {
    eventually(&format!("job {id} is delayed"), || async {
        let job = q.detail(id).await.unwrap();
        job.is_some_and(|d| d.state == State::Delayed)
    })
    .await;
    q.detail(id).await.unwrap().expect("the job")
}

/// A handler that stops as soon as its job's timeout passes, saying so
/// on `stopped` (with what it returns, which is not the job's outcome).
fn stops_when_told(
    stopped: mpsc::UnboundedSender<String>,
) -> impl Fn(Job) -> futures_util::future::BoxFuture<'static, Result<&'static str, Failure>> {
    move |job: Job| {
        let stopped = stopped.clone();
        Box::pin(async move {
            job.timed_out().await;
            assert!(job.is_timed_out());
            stopped.send(job.id.clone()).unwrap();
            Err(Failure::permanent("stopped on the signal"))
        })
    }
}

/// Tells `dropped` whether the job had timed out when its handler's
/// future was dropped.
struct OnDrop(Job, mpsc::UnboundedSender<bool>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        let _ = self.1.send(self.0.is_timed_out());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_that_ignores_the_signal_is_dropped_after_the_grace_and_its_job_cancelled() {
    let env = Env::start().await;
    let q = env.queue("stuck");
    let (dropped_tx, mut dropped) = mpsc::unbounded_channel();
    let worker = Worker::new(q.clone())
        .timeout(ms(200))
        .grace(ms(100))
        .backoff(SLOW);
    let worker = start(worker, move |job: Job| {
        let guard = OnDrop(job, dropped_tx.clone());
        async move {
            let _guard = guard;
            std::future::pending::<()>().await;
            Ok::<_, Failure>("never")
        }
    });
    q.publish("x", thoonk::Publish::new().id("j"))
        .await
        .unwrap();
    let signalled = within("the handler is dropped", dropped.recv()).await;
    assert_eq!(signalled, Some(true), "signalled before it was dropped");
    // Cancelled, counted, with the reason, and delayed by the backoff.
    let job = delayed(&q, "j").await;
    assert_eq!(
        (job.cancelled, job.reason.as_deref()),
        (1, Some("timed out after 0.2s"))
    );
    assert_eq!(q.stats().await.unwrap().cancels, 1);
    assert_eq!(
        worker.stop().await,
        Report {
            failed: 1,
            ..Report::default()
        }
    );
    env.check_invariants("stuck");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_that_watches_the_signal_stops_early() {
    let env = Env::start().await;
    let q = env.queue("polite");
    let (stopped_tx, mut stopped) = mpsc::unbounded_channel();
    let worker = Worker::new(q.clone())
        .timeout(ms(300))
        .grace(LONG_GRACE)
        .backoff(SLOW);
    let worker = start(worker, stops_when_told(stopped_tx));
    q.publish("x", thoonk::Publish::new().id("j"))
        .await
        .unwrap();
    let id = within("the handler stops", stopped.recv()).await;
    assert_eq!(id.as_deref(), Some("j"));
    // Its own failure (permanent, which would stall) is not the outcome:
    // the job was given up on at the timeout, and comes back.
    let job = delayed(&q, "j").await;
    assert_eq!(
        (job.cancelled, job.reason.as_deref()),
        (1, Some("timed out after 0.3s"))
    );
    assert_eq!(
        worker.stop().await,
        Report {
            failed: 1,
            ..Report::default()
        }
    );
    env.check_invariants("polite");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shorter_of_the_queues_and_the_workers_timeout_applies() {
    let env = Env::start().await;
    let (stopped_tx, mut stopped) = mpsc::unbounded_channel();
    // (queue's timeout, worker's timeout, the one that applies)
    let cases = [
        ("queue-shorter", Some(ms(400)), Some(ms(3_600_000)), "0.4s"),
        ("worker-shorter", Some(ms(3_600_000)), Some(ms(500)), "0.5s"),
        ("queue-only", Some(ms(1_500)), None, "1.5s"),
        ("worker-only", None, Some(ms(250)), "0.25s"),
    ];
    let mut workers = Vec::new();
    for (name, queue_timeout, worker_timeout, _) in cases {
        let q = env.queue(name);
        let set = q
            .configure(ConfigChange::new().timeout(queue_timeout))
            .await
            .unwrap();
        assert_eq!(set.timeout, queue_timeout);
        // The worker's first heartbeat, before its first claim, reads the
        // queue's timeout.
        let mut worker = Worker::new(q.clone()).grace(LONG_GRACE).backoff(SLOW);
        if let Some(timeout) = worker_timeout {
            worker = worker.timeout(timeout);
        }
        workers.push(start(worker, stops_when_told(stopped_tx.clone())));
        q.publish("x", thoonk::Publish::new().id("j"))
            .await
            .unwrap();
    }
    for _ in &cases {
        within("a handler stops", stopped.recv()).await.unwrap();
    }
    for (name, _, _, applied) in cases {
        let job = delayed(&env.queue(name), "j").await;
        let reason = format!("timed out after {applied}");
        assert_eq!(
            (job.cancelled, job.reason.as_deref()),
            (1, Some(reason.as_str())),
            "{name}"
        );
    }
    for worker in workers {
        assert_eq!(worker.stop().await.failed, 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_timeout_set_while_a_worker_runs_holds_the_jobs_it_starts_after_a_heartbeat() {
    let env = Env::start().await;
    let q = env.queue("later");
    let (stopped_tx, mut stopped) = mpsc::unbounded_channel();
    let worker = Worker::new(q.clone()).grace(LONG_GRACE).backoff(SLOW);
    let worker = start(worker, stops_when_told(stopped_tx));
    q.configure(ConfigChange::new().timeout(Some(ms(250))))
        .await
        .unwrap();
    // A heartbeat renews the liveness mark, then reads the settings: the
    // second one seen since the change began after the first had read it.
    until_heartbeat(&env, "later", &worker.id).await;
    until_heartbeat(&env, "later", &worker.id).await;
    q.publish("x", thoonk::Publish::new().id("j"))
        .await
        .unwrap();
    within("the handler stops", stopped.recv()).await.unwrap();
    let job = delayed(&q, "j").await;
    assert_eq!(job.reason.as_deref(), Some("timed out after 0.25s"));
    assert_eq!(worker.stop().await.failed, 1);
    env.check_invariants("later");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_timed_out_past_max_cancels_is_stalled() {
    let env = Env::start().await;
    let q = env.queue("give-up");
    q.set_max_cancels(1).await.unwrap();
    let (stopped_tx, mut stopped) = mpsc::unbounded_channel();
    let worker = Worker::new(q.clone())
        .timeout(ms(100))
        .grace(LONG_GRACE)
        .backoff(QUICK);
    let worker = start(worker, stops_when_told(stopped_tx));
    let mut events = q.subscribe().await.unwrap();
    q.publish("x", thoonk::Publish::new().id("j"))
        .await
        .unwrap();
    while next_event(&mut events).await.kind != EventKind::Stall {}
    // Timed out twice: once cancelled (allowed), then stalled.
    for _ in 0..2 {
        within("a handler stops", stopped.recv()).await.unwrap();
    }
    let job = q.detail("j").await.unwrap().expect("the job");
    assert_eq!(job.state, State::Stalled);
    assert_eq!(
        job.reason.as_deref(),
        Some("cancelled 2 times, more than max_cancels 1: timed out after 0.1s")
    );
    assert_eq!(
        worker.stop().await,
        Report {
            failed: 1,
            stalled: 1,
            ..Report::default()
        }
    );
    env.check_invariants("give-up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typed_handler_sees_the_signal_too() {
    #[derive(serde::Serialize, serde::Deserialize)]
    struct Resize {
        width: u32,
    }
    let env = Env::start().await;
    let q = env.queue("typed");
    let (stopped_tx, mut stopped) = mpsc::unbounded_channel();
    let worker = Worker::new(q.clone())
        .timeout(ms(200))
        .grace(LONG_GRACE)
        .backoff(SLOW);
    let (stop, stopping) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(worker.run_json(
        move |job: Job<Resize>| {
            let stopped_tx = stopped_tx.clone();
            async move {
                job.timed_out().await;
                stopped_tx.send(job.item.width).unwrap();
                Ok::<_, Failure>(())
            }
        },
        async move {
            let _ = stopping.await;
        },
    ));
    q.publish_json(&Resize { width: 640 }, thoonk::Publish::new().id("j"))
        .await
        .unwrap();
    assert_eq!(within("the handler stops", stopped.recv()).await, Some(640));
    let job = delayed(&q, "j").await;
    assert_eq!(job.reason.as_deref(), Some("timed out after 0.2s"));
    stop.send(()).unwrap();
    let report = within("the worker stops", task).await.unwrap().unwrap();
    assert_eq!(report.failed, 1);
}

#[tokio::test]
async fn a_timeout_out_of_range_is_refused() {
    let env = Env::start().await;
    let q = env.queue("bounds");
    for bad in [
        Duration::ZERO,
        Duration::from_micros(999),
        MAX_LEASE + ms(1),
    ] {
        let run = Worker::new(q.clone())
            .timeout(bad)
            .run(|_job: Job| async { Ok::<_, Failure>("") }, async {})
            .await;
        match run {
            Err(e @ Error::OutOfRange { .. }) => {
                assert_message_names(&e, &["work", "bounds", "timeout", "from 1 ms to 7 days"])
            }
            other => panic!("a worker with a timeout of {bad:?} ran: {other:?}"),
        }
        let change = ConfigChange::new().timeout(Some(bad));
        match q.configure(change).await {
            Err(e @ Error::OutOfRange { .. }) => {
                assert_message_names(&e, &["configure", "bounds", "timeout", "from 1 ms"])
            }
            other => panic!("a queue timeout of {bad:?} was set: {other:?}"),
        }
    }
    assert_eq!(q.config().await.unwrap().timeout, None, "nothing set");
    // The bounds themselves are fine.
    for good in [ms(1), MAX_LEASE] {
        let change = ConfigChange::new().timeout(Some(good));
        assert_eq!(q.configure(change).await.unwrap().timeout, Some(good));
        let run = Worker::new(q.clone())
            .timeout(good)
            .run(|_job: Job| async { Ok::<_, Failure>("") }, async {})
            .await;
        assert_eq!(run.unwrap(), Report::default());
    }
}
