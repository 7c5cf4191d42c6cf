//! What a dashboard reads: the cancel, stall and recovery counters kept in Redis, one job's whole record, the queues there are, the workers alive, and retrying every stalled job at once.

mod common;

use common::*;
use std::time::Duration;
use thoonk::redis;
use thoonk::{
    Backoff, EventKind, Failure, Job, JobDetail, JobRef, Publish, Queue, Recovered, State, Stats,
    Worker, WorkerInfo,
};
use thoonk_testkit::poll::eventually;

/// A small backoff, so a retried job comes back within the test.
const QUICK: Backoff = Backoff {
    base: Duration::from_millis(20),
    max: Duration::from_millis(50),
};

/// Asserts that `value` (a time, in Unix ms) lies in `low..=high`.
#[track_caller]
fn assert_between(what: &str, value: Option<u64>, low: u64, high: u64) -> u64 {
    let v = value.unwrap_or_else(|| panic!("{what}: none"));
    assert!(
        (low..=high).contains(&v),
        "{what}: {v} not in [{low}, {high}]"
    );
    v
}

/// The three counters of a queue's stats: (cancels, stalls, recoveries).
async fn counters(q: &Queue) -> (u64, u64, u64) {
    let Stats {
        cancels,
        stalls,
        recoveries,
        ..
    } = q.stats().await.unwrap();
    (cancels, stalls, recoveries)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancels_counts_a_workers_cancels_and_explicit_ones() {
    let env = Env::start().await;
    let mut raw = env.raw().await;
    let q = env.queue("cancels");
    assert_eq!(counters(&q).await, (0, 0, 0), "nothing yet, no key needed");

    q.publish("x", Publish::new().id("by-hand")).await.unwrap();
    let job = q.claim(1).await.unwrap().pop().unwrap();
    assert_eq!(q.cancel(&job).await.unwrap(), State::Available);
    assert_eq!(counters(&q).await, (1, 0, 0));
    // Kept in Redis, beside the v1 counters.
    let kept: String = cmd(&mut raw, &["GET", "job.cancels:cancels"]).await;
    assert_eq!(kept, "1");

    // A cancel with a delay and a reason counts the same.
    let job = q.claim(1).await.unwrap().pop().unwrap();
    let later = thoonk::Cancel::new()
        .delay(Duration::from_secs(60))
        .reason("later");
    assert_eq!(q.cancel_with(&job, later).await.unwrap(), State::Delayed);
    assert_eq!(counters(&q).await, (2, 0, 0));

    // A worker's handler fails twice, then succeeds: two cancels by the
    // worker.
    q.publish("y", Publish::new().id("by-worker"))
        .await
        .unwrap();
    let worker = start(
        Worker::new(q.clone()).backoff(QUICK),
        |job: Job| async move {
            if job.retries < 2 {
                Err(Failure::transient("not yet"))
            } else {
                Ok("done")
            }
        },
    );
    eventually("the worker finished its job", || async {
        q.stats().await.unwrap().finishes == 1
    })
    .await;
    worker.stop().await;
    assert_eq!(counters(&q).await, (4, 0, 0));
    // Refused cancels are no cancels.
    assert!(q.cancel(&job).await.is_err(), "the claim ended already");
    assert_eq!(counters(&q).await, (4, 0, 0));
    env.check_invariants("cancels");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalls_counts_explicit_stalls_permanent_failures_and_too_many_cancels() {
    let env = Env::start().await;
    let mut raw = env.raw().await;
    let q = env.queue("stalls");

    q.publish("x", Publish::new().id("explicit")).await.unwrap();
    let job = q.claim(1).await.unwrap().pop().unwrap();
    q.stall_with(&job, "by hand").await.unwrap();
    assert_eq!(counters(&q).await, (0, 1, 0));
    let kept: String = cmd(&mut raw, &["GET", "job.stalls:stalls"]).await;
    assert_eq!(kept, "1");

    // A permanent failure in a worker stalls the job.
    q.publish("y", Publish::new().id("permanent"))
        .await
        .unwrap();
    let worker = start(Worker::new(q.clone()), |_job: Job| async move {
        Err::<Vec<u8>, _>(Failure::permanent("bad input"))
    });
    eventually("the worker stalled its job", || async {
        q.stats().await.unwrap().stalled == 2
    })
    .await;
    worker.stop().await;
    assert_eq!(counters(&q).await, (0, 2, 0));

    // Past max_cancels, a cancel stalls: it counts as both.
    q.set_max_cancels(1).await.unwrap();
    q.publish("z", Publish::new().id("too-many")).await.unwrap();
    let job = q.claim(1).await.unwrap().pop().unwrap();
    assert_eq!(q.cancel(&job).await.unwrap(), State::Available);
    assert_eq!(counters(&q).await, (1, 2, 0));
    let job = q.claim(1).await.unwrap().pop().unwrap();
    assert_eq!(q.cancel(&job).await.unwrap(), State::Stalled);
    assert_eq!(counters(&q).await, (2, 3, 0));
    assert_eq!(q.stats().await.unwrap().stalled, 3);
    env.check_invariants("stalls");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recoveries_counts_claims_taken_back_when_their_lease_ran_out() {
    let env = Env::start_clocked().await;
    let mut raw = env.raw().await;
    let q = env.queue("recoveries");
    q.set_max_cancels(1).await.unwrap();
    q.publish_many([("1", Publish::new().id("a")), ("2", Publish::new().id("b"))])
        .await
        .unwrap();
    q.claim(2).await.unwrap();

    // A pass with nothing to take back writes nothing, counters included
    // (29 s on: a second short of the 30 s lease, as real time flows).
    env.advance(Duration::from_secs(29));
    let before = env.snapshot();
    assert_eq!(q.recover().await.unwrap(), Recovered::default());
    assert_eq!(env.snapshot(), before);

    // Both leases ran out (30.001 s on): two recoveries, each a cancel.
    env.advance(Duration::from_millis(1_001));
    assert_eq!(
        q.recover().await.unwrap(),
        Recovered {
            requeued: 2,
            stalled: 0,
            due: 0,
            ..Default::default()
        }
    );
    assert_eq!(counters(&q).await, (2, 0, 2));
    let kept: String = cmd(&mut raw, &["GET", "job.recoveries:recoveries"]).await;
    assert_eq!(kept, "2");

    // Again: past max_cancels now, so stalled, and counted as stalls too.
    q.claim(2).await.unwrap();
    env.advance(Duration::from_millis(30_001));
    assert_eq!(
        q.recover().await.unwrap(),
        Recovered {
            requeued: 0,
            stalled: 2,
            due: 0,
            ..Default::default()
        }
    );
    assert_eq!(counters(&q).await, (4, 2, 4));
    env.check_invariants("recoveries");

    // The counters are the queue's: destroy deletes them.
    q.destroy().await.unwrap();
    assert_eq!(dbsize(&mut raw).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_serialize_the_counters() {
    let env = Env::start().await;
    let q = env.queue("json");
    q.publish("x", Publish::new()).await.unwrap();
    let job = q.claim(1).await.unwrap().pop().unwrap();
    q.stall(&job).await.unwrap();
    let json = serde_json::to_value(q.stats().await.unwrap()).unwrap();
    assert_eq!(
        (&json["cancels"], &json["stalls"], &json["recoveries"]),
        (&0.into(), &1.into(), &0.into()),
        "{json}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_gives_a_jobs_whole_record_in_each_state() {
    let env = Env::start_clocked().await;
    let q = env.queue("info");
    assert_eq!(q.detail("nope").await.unwrap(), None, "no such job");

    q.publish("payload", Publish::new().id("j")).await.unwrap();
    let before = env.server_ms().await;
    q.publish(
        "later",
        Publish::new().id("d").delay(Duration::from_secs(10)),
    )
    .await
    .unwrap();
    let after = env.server_ms().await;
    let available = JobDetail {
        id: "j".into(),
        state: State::Available,
        item: b"payload".to_vec(),
        size: 7,
        cancelled: 0,
        reason: None,
        claimed_ms: None,
        lease_deadline_ms: None,
        worker: None,
        due_ms: None,
        progress: None,
    };
    assert_eq!(q.detail("j").await.unwrap(), Some(available.clone()));
    // Due 10 s after the publish, by the server's clock.
    let d = q.detail("d").await.unwrap().unwrap();
    let due = assert_between("due_ms", d.due_ms, before + 10_000, after + 10_000);
    assert_eq!(
        d,
        JobDetail {
            id: "d".into(),
            state: State::Delayed,
            item: b"later".to_vec(),
            size: 5,
            due_ms: Some(due),
            ..available.clone()
        }
    );

    // Job: the claim time, and the lease (the default 30 s) after it.
    env.advance(Duration::from_secs(1));
    let before = env.server_ms().await;
    let job = q.claim(1).await.unwrap().pop().unwrap();
    let after = env.server_ms().await;
    assert_eq!(job.id, "j");
    let detail = q.detail("j").await.unwrap().unwrap();
    let at = assert_between("claimed_ms", detail.claimed_ms, before, after);
    assert_eq!(detail.lease_deadline_ms, Some(at + 30_000));
    let claimed = JobDetail {
        state: State::Claimed,
        claimed_ms: Some(at),
        lease_deadline_ms: Some(at + 30_000),
        ..available.clone()
    };
    assert_eq!(detail, claimed);
    // An extension moves both; the queue's own lease applies.
    q.set_lease(Duration::from_secs(5)).await.unwrap();
    env.advance(Duration::from_secs(1));
    let before = env.server_ms().await;
    assert!(q.extend(&[JobRef::from(&job)]).await.unwrap().is_empty());
    let after = env.server_ms().await;
    let detail = q.detail("j").await.unwrap().unwrap();
    let extended = assert_between("claimed_ms", detail.claimed_ms, before, after);
    assert!(extended > at, "{extended} moved on from {at}");
    assert_eq!(
        detail,
        JobDetail {
            claimed_ms: Some(extended),
            lease_deadline_ms: Some(extended + 5_000),
            ..claimed
        }
    );

    // Cancelled back: counted, with its reason.
    let back = thoonk::Cancel::new().reason("try again");
    q.cancel_with(&job, back).await.unwrap();
    assert_eq!(
        q.detail("j").await.unwrap(),
        Some(JobDetail {
            cancelled: 1,
            reason: Some("try again".into()),
            ..available.clone()
        })
    );

    // Stalled: its count afresh.
    env.advance(Duration::from_secs(1));
    let job = q.claim(1).await.unwrap().pop().unwrap();
    q.stall_with(&job, "bad input").await.unwrap();
    let stalled = JobDetail {
        state: State::Stalled,
        reason: Some("bad input".into()),
        ..available.clone()
    };
    assert_eq!(q.detail("j").await.unwrap(), Some(stalled));
    env.check_invariants("info");

    // Read only: asking changes nothing.
    let before = env.snapshot();
    q.detail("j").await.unwrap();
    q.detail("nope").await.unwrap();
    assert_eq!(env.snapshot(), before);

    // Gone once retracted; a refused id is refused.
    q.retract("j").await.unwrap();
    assert_eq!(q.detail("j").await.unwrap(), None);
    assert!(q.detail("").await.is_err(), "an empty id is no job's");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_serializes_the_payload_as_text_when_it_is() {
    let env = Env::start().await;
    let q = env.queue("info-json");
    q.publish(r#"{"to":"ann"}"#, Publish::new().id("text"))
        .await
        .unwrap();
    q.publish([0xff_u8, 0, 1], Publish::new().id("binary"))
        .await
        .unwrap();
    let text = serde_json::to_value(q.detail("text").await.unwrap().unwrap()).unwrap();
    assert_eq!(text["item"], r#"{"to":"ann"}"#);
    assert_eq!(text["state"], "available");
    assert_eq!(text["claimed_ms"], serde_json::Value::Null);
    let binary = serde_json::to_value(q.detail("binary").await.unwrap().unwrap()).unwrap();
    assert_eq!(binary["item"], serde_json::json!([255, 0, 1]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queues_lists_every_queue_published_to_and_not_destroyed() {
    let env = Env::start().await;
    let mut raw = env.raw().await;
    assert!(env.thoonk.queues().await.unwrap().is_empty());

    for name in ["mail", "a:b", "{tagged}"] {
        env.queue(name).publish("x", Publish::new()).await.unwrap();
    }
    // A queue a v1 program made, with v1's own commands.
    let _: () = redis::pipe()
        .cmd("LPUSH")
        .arg("job.ids:v1q")
        .arg("id1")
        .cmd("INCR")
        .arg("job.publishes:v1q")
        .cmd("HSET")
        .arg("job.items:v1q")
        .arg("id1")
        .arg("{}")
        .cmd("ZADD")
        .arg("job.published:v1q")
        .arg(now_ms())
        .arg("id1")
        .query_async(&mut raw)
        .await
        .unwrap();
    let gone = env.queue("gone");
    gone.publish("x", Publish::new()).await.unwrap();
    gone.destroy().await.unwrap();
    // Enough other keys that SCAN takes several steps.
    let mut fill = redis::cmd("MSET");
    for i in 0..5_000 {
        fill.arg(format!("other:{i}")).arg(i);
    }
    let _: () = fill.query_async(&mut raw).await.unwrap();

    assert_eq!(
        env.thoonk.queues().await.unwrap(),
        ["a:b", "mail", "v1q", "{tagged}"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_lists_the_live_workers_and_the_jobs_they_hold() {
    let env = Env::start_clocked().await;
    let mut raw = env.raw().await;
    let q = env.queue("workers");
    assert!(q.workers().await.unwrap().is_empty());
    let (open, gate) = gate();

    // A running worker holding two jobs.
    q.publish_many([("1", Publish::new().id("a")), ("2", Publish::new().id("b"))])
        .await
        .unwrap();
    let handler = move |_job: Job| {
        let gate = gate.clone();
        async move {
            pass(&gate).await;
            Ok("done")
        }
    };
    let first = start(Worker::new(q.clone()).concurrency(2), handler.clone());
    let holds = |id: String, claimed: u64| {
        let q = q.clone();
        async move {
            let workers = q.workers().await.unwrap();
            workers.len() == 1 && workers[0].id == id && workers[0].claimed == claimed
        }
    };
    eventually("the worker holds both jobs", || holds(first.id.clone(), 2)).await;
    // Its mark is in the server's time: ahead of it, by less than the
    // minute the test moves the clock on below.
    let before = env.server_ms().await;
    let [listed]: [WorkerInfo; 1] = q.workers().await.unwrap().try_into().unwrap();
    let after = env.server_ms().await;
    assert!(
        listed.alive_until_ms > before && listed.alive_until_ms < after + 60_000,
        "{listed:?} vs the server's time {before}..{after}"
    );
    assert_eq!(
        q.detail("a").await.unwrap().unwrap().worker.as_deref(),
        Some(first.id.as_str()),
        "a job's record names the worker that holds it"
    );

    // It dies. Once its mark ran out it is no longer listed, though the
    // mark stays until a recovery pass removes it.
    let dead = first.id.clone();
    first.kill().await;
    env.advance(Duration::from_secs(60));
    assert!(q.workers().await.unwrap().is_empty());
    let mark: Option<u64> = cmd(&mut raw, &["ZSCORE", "job.workers:workers", &dead]).await;
    let now = env.server_ms().await;
    assert!(mark.is_some_and(|m| m <= now), "{mark:?} vs {now}");

    // Another worker takes its jobs back and holds them.
    let second = start(Worker::new(q.clone()).concurrency(2), handler);
    eventually("the second worker holds both jobs", || {
        holds(second.id.clone(), 2)
    })
    .await;
    assert_eq!(q.stats().await.unwrap().recoveries, 2);
    open.send(true).unwrap();
    eventually("both jobs finished", || async {
        q.stats().await.unwrap().finishes == 2
    })
    .await;
    second.stop().await;
    assert!(
        q.workers().await.unwrap().is_empty(),
        "a worker that stopped cleanly removed its mark"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_all_brings_back_every_stalled_job_with_one_event_each() {
    let env = Env::start().await;
    let q = env.queue("retry-all");
    assert_eq!(q.retry_all().await.unwrap(), 0, "nothing stalled");

    q.publish_many(["c", "a", "b", "waiting"].map(|id| (id, Publish::new().id(id))))
        .await
        .unwrap();
    for job in q.claim(3).await.unwrap() {
        q.stall_with(&job, &format!("{} failed", job.id))
            .await
            .unwrap();
    }
    assert_eq!(q.stats().await.unwrap().stalled, 3);

    let mut events = q.subscribe().await.unwrap();
    assert_eq!(q.retry_all().await.unwrap(), 3);
    let mut retried = Vec::new();
    for _ in 0..3 {
        let event = next_event(&mut events).await;
        assert_eq!(event.kind, EventKind::Retry, "{event:?}");
        retried.push(event.id);
    }
    retried.sort();
    assert_eq!(retried, ["a", "b", "c"], "one event each");
    let stats = q.stats().await.unwrap();
    assert_eq!((stats.available, stats.stalled), (4, 0));
    // Available again, its reason kept until it finishes (as retry).
    let a = q.detail("a").await.unwrap().unwrap();
    assert_eq!(
        (a.state, a.reason.as_deref()),
        (State::Available, Some("a failed"))
    );
    env.check_invariants("retry-all");

    // Nothing left: no more events (the next one is a publish).
    assert_eq!(q.retry_all().await.unwrap(), 0);
    q.publish("x", Publish::new().id("marker")).await.unwrap();
    let event = next_event(&mut events).await;
    assert_eq!(
        (event.kind, event.id.as_str()),
        (EventKind::Publish, "marker")
    );

    // Back of the line: after the one already waiting, before the new one.
    let mut order: Vec<String> = q
        .claim(5)
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(
        (order.remove(0), order.pop()),
        ("waiting".into(), Some("marker".into()))
    );
    order.sort();
    assert_eq!(order, ["a", "b", "c"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_all_takes_thousands_in_batches() {
    let env = Env::start().await;
    let mut raw = env.raw().await;
    let q = env.queue("many");
    // Stalled jobs as the layout keeps them; more than one batch chunk.
    // Each command below is one reply, however many jobs: the raw
    // connection's and the kit's reply bound (the kit's DEADLINE, a
    // minute) only bounds a hang, as Redis does each in milliseconds.
    let ids: Vec<String> = (0..9_000).map(|i| format!("j{i:05}")).collect();
    let mut items = redis::cmd("HSET");
    items.arg("job.items:many");
    let mut stalled = redis::cmd("SADD");
    stalled.arg("job.stalled:many");
    for id in &ids {
        items.arg(id).arg("x");
        stalled.arg(id);
    }
    let _: () = redis::pipe()
        .add_command(items)
        .ignore()
        .add_command(stalled)
        .ignore()
        .query_async(&mut raw)
        .await
        .unwrap();

    assert_eq!(q.retry_all().await.unwrap(), 9_000);
    let stats = q.stats().await.unwrap();
    assert_eq!((stats.available, stats.stalled), (9_000, 0));
    env.check_invariants("many");
    // Each once: 9,000 distinct ids available.
    let listed: std::collections::HashSet<String> = q
        .list(State::Available, 0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(listed.len(), 9_000);
}

/// Stalled jobs are listed a bounded page at a time (`SSCAN`, not a sort
/// of the whole set for every page): the pages add up to every stalled
/// job, each once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_stalled_jobs_are_listed_a_page_at_a_time() {
    let env = Env::start().await;
    let q = env.queue("many");
    let ids: Vec<String> = (0..3000).map(|i| format!("s{i:04}")).collect();
    q.publish_many(ids.iter().map(|id| ("x", Publish::new().id(id))))
        .await
        .unwrap();
    for job in q.claim(3000).await.unwrap() {
        q.stall(&job).await.unwrap();
    }
    let mut seen = std::collections::BTreeSet::new();
    let (mut from, mut pages) = (None, 0);
    loop {
        let page = q
            .list_page(State::Stalled, from.as_ref(), 100)
            .await
            .unwrap();
        pages += 1;
        seen.extend(page.jobs.into_iter().map(|job| job.id));
        match page.next {
            Some(next) => from = Some(next),
            None => break,
        }
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), ids);
    assert!(pages > 10, "{pages} pages of about 100 jobs each");
}
