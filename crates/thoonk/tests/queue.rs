//! Every queue operation on its own, and the order in which jobs are handed out.

mod common;

use common::*;
use std::time::Duration;
use thoonk::{EventKind, JobRef, Publish, State, Stats};
use thoonk_testkit::poll::within;

fn stats(
    name: &str,
    available: u64,
    claimed: u64,
    stalled: u64,
    publishes: u64,
    finishes: u64,
) -> Stats {
    Stats {
        queue: name.to_string(),
        available,
        claimed,
        stalled,
        delayed: 0,
        publishes,
        finishes,
        cancels: 0,
        stalls: 0,
        recoveries: 0,
        paused: false,
        latency: Duration::ZERO,
    }
}

/// The queue's counts, its latency left out (it grows while jobs wait).
async fn counts(q: &thoonk::Queue) -> Stats {
    Stats {
        latency: Duration::ZERO,
        ..q.stats().await.unwrap()
    }
}

/// `base` after `cancels` cancels and `stalls` stalls.
fn counted(base: Stats, cancels: u64, stalls: u64) -> Stats {
    Stats {
        cancels,
        stalls,
        ..base
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_generates_an_id_and_stores_the_item() {
    let env = Env::start().await;
    let q = env.queue("mail");
    let id = q.publish("hello", Publish::new()).await.unwrap();
    assert_eq!(id.len(), 12, "generated ids are 12 characters: {id}");
    let other = q.publish("hello", Publish::new()).await.unwrap();
    assert_ne!(id, other);

    let mut raw = env.raw().await;
    let item: String = cmd(&mut raw, &["HGET", "job.items:mail", &id]).await;
    assert_eq!(item, "hello");
    // No job.published entry (v1 kept one; nothing reads it, and it cost
    // 111 bytes a job).
    let published: u64 = cmd(&mut raw, &["EXISTS", "job.published:mail"]).await;
    assert_eq!(published, 0);
    assert_eq!(counts(&q).await, stats("mail", 2, 0, 0, 2, 0));
    env.check_invariants("mail");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_with_a_custom_id() {
    let env = Env::start().await;
    let q = env.queue("q");
    let id = q.publish("x", Publish::new().id("job-1")).await.unwrap();
    assert_eq!(id, "job-1");
    let job = q.claim(1).await.unwrap().pop().expect("a job");
    assert_eq!((job.id.as_str(), job.item.as_slice()), ("job-1", &b"x"[..]));
    env.check_invariants("q");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn normal_publishes_are_claimed_first_in_first_out() {
    let env = Env::start().await;
    let q = env.queue("fifo");
    for i in 0..5 {
        q.publish(format!("{i}"), Publish::new().id(format!("j{i}")))
            .await
            .unwrap();
    }
    let mut order = Vec::new();
    while let Some(job) = q.get(Duration::from_millis(1)).await.unwrap() {
        order.push(job.id);
    }
    assert_eq!(order, ["j0", "j1", "j2", "j3", "j4"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_priority_publish_goes_to_the_front() {
    let env = Env::start().await;
    let q = env.queue("prio");
    q.publish("a", Publish::new().id("a")).await.unwrap();
    q.publish("b", Publish::new().id("b")).await.unwrap();
    q.publish("urgent", Publish::new().id("urgent").priority(true))
        .await
        .unwrap();
    let ids: Vec<String> = q
        .claim(3)
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(ids, ["urgent", "a", "b"]);
    env.check_invariants("prio");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_many_keeps_the_order_in_one_round_trip() {
    let env = Env::start().await;
    let mut admin = env.raw().await;
    // Load the script first, so the call below is not followed by the
    // NOSCRIPT / SCRIPT LOAD / retry that any first call makes.
    env.queue("warm-up")
        .publish("w", Publish::new())
        .await
        .unwrap();

    let q = env.queue("batch");
    let mut monitor = Monitor::start(&env).await;
    let ids = q
        .publish_many(vec![
            ("one", Publish::new().id("one")),
            ("two", Publish::new()),
            ("three", Publish::new().id("three")),
        ])
        .await
        .unwrap();
    let seen = monitor.take(&mut admin).await;
    let sent: Vec<String> = seen
        .iter()
        .filter(|s| !s.is_lua())
        .map(Seen::name)
        .collect();
    assert_eq!(sent, ["FCALL"], "one command for the whole batch");

    assert_eq!(ids.len(), 3);
    assert_eq!((ids[0].as_str(), ids[2].as_str()), ("one", "three"));
    let claimed = q.claim(3).await.unwrap();
    let got: Vec<(&str, &[u8])> = claimed
        .iter()
        .map(|j| (j.id.as_str(), j.item.as_slice()))
        .collect();
    assert_eq!(
        got,
        [
            ("one", &b"one"[..]),
            (ids[1].as_str(), b"two"),
            ("three", b"three")
        ]
    );
    assert_eq!(q.stats().await.unwrap().publishes, 3);
    // Nothing at all for an empty batch.
    assert!(q.publish_many(Vec::<&str>::new()).await.unwrap().is_empty());
    env.check_invariants("batch");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_many_is_all_or_none() {
    let env = Env::start().await;
    let q = env.queue("aon");
    q.publish("old", Publish::new().id("taken")).await.unwrap();
    let before = env.snapshot();

    // One id already in the queue: nothing of the batch is written.
    let err = q
        .publish_many(vec![
            ("a", Publish::new().id("fresh-1")),
            ("b", Publish::new().id("taken")),
            ("c", Publish::new().id("fresh-2")),
        ])
        .await
        .unwrap_err();
    let thoonk::Error::AlreadyExists { queue, id } = &err else {
        panic!("expected AlreadyExists, got {err:?}")
    };
    assert_eq!((queue.as_str(), id.as_str()), ("aon", "taken"));
    assert_eq!(env.snapshot(), before, "nothing written");

    // The same id twice in one batch: refused the same way.
    let err = q
        .publish_many(vec![
            ("a", Publish::new().id("twice")),
            ("b", Publish::new().id("twice")),
        ])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, thoonk::Error::AlreadyExists { id, .. } if id == "twice"),
        "{err:?}"
    );
    assert_eq!(env.snapshot(), before, "nothing written");
    assert_eq!(counts(&q).await, stats("aon", 1, 0, 0, 1, 0));
    env.check_invariants("aon");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claim_takes_a_batch_oldest_first() {
    let env = Env::start().await;
    let q = env.queue("claims");
    let ids = q.publish_many(["1", "2", "3", "4", "5"]).await.unwrap();

    let first = q.claim(3).await.unwrap();
    let first_ids: Vec<&str> = first.iter().map(|j| j.id.as_str()).collect();
    assert_eq!(
        first_ids,
        ids[..3].iter().map(String::as_str).collect::<Vec<_>>()
    );
    let tokens: std::collections::HashSet<&str> = first.iter().map(|j| j.token.as_str()).collect();
    assert_eq!(tokens.len(), 3, "every claim has its own token");
    assert_eq!(counts(&q).await, stats("claims", 2, 3, 0, 5, 0));

    // Asking for more than there is takes what there is.
    let rest = q.claim(10).await.unwrap();
    assert_eq!(rest.len(), 2);
    assert!(q.claim(1).await.unwrap().is_empty(), "nothing left");
    assert_eq!(counts(&q).await, stats("claims", 0, 5, 0, 5, 0));
    env.check_invariants("claims");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claim_of_zero_takes_nothing() {
    // A worker pool asks for as many jobs as it has free slots; with none
    // free it must not be handed a job it has no room for.
    let env = Env::start().await;
    let q = env.queue("zero");
    q.publish("x", Publish::new()).await.unwrap();
    assert!(q.claim(0).await.unwrap().is_empty());
    assert_eq!(counts(&q).await, stats("zero", 1, 0, 0, 1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_returns_none_after_its_timeout() {
    let env = Env::start().await;
    let q = env.queue("empty");
    let started = tokio::time::Instant::now();
    let got = q.get(Duration::from_millis(300)).await.unwrap();
    assert!(got.is_none());
    // It did wait (a lower bound on the wait, not a claim about speed).
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(
        dbsize(&mut env.raw().await).await,
        0,
        "waiting writes nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_without_timeout_waits_for_a_publish() {
    let env = Env::start().await;
    let admin = env.raw().await;
    let worker = env.client().await.queue("later").unwrap();
    let waiter = tokio::spawn(async move { worker.get(Duration::ZERO).await });

    // The worker is blocked in Redis before anything is published.
    until_waiting(&admin, 1).await;
    assert!(!waiter.is_finished());
    let id = env
        .queue("later")
        .publish("late", Publish::new())
        .await
        .unwrap();

    let job = within("the waiting get", waiter)
        .await
        .unwrap()
        .unwrap()
        .expect("a job, not a timeout");
    assert_eq!(
        (job.id.as_str(), job.item.as_slice()),
        (id.as_str(), &b"late"[..])
    );
    env.check_invariants("later");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finish_deletes_the_job_and_counts() {
    let env = Env::start().await;
    let mut raw = env.raw().await;
    let q = env.queue("fin");
    q.publish_many(["a", "b"]).await.unwrap();
    let jobs = q.claim(2).await.unwrap();
    q.finish(&jobs[0]).await.unwrap();
    q.finish_with(&jobs[1], "result").await.unwrap();

    assert_eq!(counts(&q).await, stats("fin", 0, 0, 0, 2, 2));
    for job in &jobs {
        let exists: bool = cmd(&mut raw, &["HEXISTS", "job.items:fin", &job.id]).await;
        assert!(!exists, "finished job deleted");
        let published: Option<u64> = cmd(&mut raw, &["ZSCORE", "job.published:fin", &job.id]).await;
        assert!(published.is_none());
        // Not published with keep_result: nothing kept.
        assert_eq!(q.kept_result(&job.id).await.unwrap(), None);
    }
    env.check_invariants("fin");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finish_many_finishes_each_job_on_its_own_in_one_call() {
    let env = Env::start().await;
    let q = env.queue("fin-many");
    q.publish_many(["a", "b", "c"]).await.unwrap();
    let jobs = q.claim(3).await.unwrap();
    let mut events = q.subscribe().await.unwrap();
    // The middle one was taken back: its refusal must not stop the others.
    q.cancel(jobs[1].id.as_str()).await.unwrap();
    let outcomes = q
        .finish_many(&[
            (JobRef::from(&jobs[0]), Some(&b"r0"[..])),
            (JobRef::from(&jobs[1]), Some(&b"r1"[..])),
            (JobRef::from(&jobs[2]), None),
        ])
        .await
        .unwrap();
    assert!(outcomes[0].is_ok() && outcomes[2].is_ok(), "{outcomes:?}");
    assert!(
        matches!(
            &outcomes[1],
            Err(thoonk::Error::StaleClaim {
                actual: thoonk::State::Available,
                ..
            })
        ),
        "{outcomes:?}"
    );
    let stats = q.stats().await.unwrap();
    assert_eq!((stats.finishes, stats.available), (2, 1));
    // Events: the cancel, then one finish per finished job, with its result.
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let e = next_event(&mut events).await;
        seen.push((e.kind, e.id, e.result));
    }
    assert_eq!(
        seen,
        vec![
            (EventKind::Cancel, jobs[1].id.clone(), None),
            (EventKind::Finish, jobs[0].id.clone(), Some(b"r0".to_vec())),
            (EventKind::Finish, jobs[2].id.clone(), None),
        ]
    );
    env.check_invariants("fin-many");
}

/// A stale finish and the current one of the same job in one batch: the
/// stale one is refused, the current one finishes the job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finish_many_refuses_a_stale_claim_beside_the_current_one() {
    let env = Env::start().await;
    let q = env.queue("fin-twice");
    q.publish("a", Publish::new().id("x")).await.unwrap();
    let old = q.claim(1).await.unwrap().pop().unwrap();
    q.cancel("x").await.unwrap();
    let new = q.claim(1).await.unwrap().pop().unwrap();
    let outcomes = q
        .finish_many(&[(JobRef::from(&old), None), (JobRef::from(&new), None)])
        .await
        .unwrap();
    assert!(
        matches!(&outcomes[0], Err(thoonk::Error::StaleClaim { .. })),
        "{outcomes:?}"
    );
    assert!(outcomes[1].is_ok(), "{outcomes:?}");
    assert_eq!(q.stats().await.unwrap().finishes, 1);
    env.check_invariants("fin-twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_result_outlives_the_finish() {
    let env = Env::start().await;
    let q = env.queue("kept");
    let keep = Publish::new().keep_result(Duration::from_secs(60));
    let with = q.publish("a", keep.clone().id("with")).await.unwrap();
    let without = q.publish("b", keep.id("without")).await.unwrap();
    assert_eq!(
        q.kept_result(&with).await.unwrap(),
        None,
        "not finished yet"
    );

    let jobs = q.claim(2).await.unwrap();
    q.finish_with(&jobs[0], "the result").await.unwrap();
    q.finish(&jobs[1]).await.unwrap();
    assert_eq!(
        q.kept_result(&with).await.unwrap(),
        Some(Some(b"the result".to_vec()))
    );
    assert_eq!(q.kept_result(&without).await.unwrap(), Some(None));
    assert_eq!(q.kept_result("never-published").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_counts_and_sends_the_job_to_the_back() {
    let env = Env::start().await;
    let q = env.queue("cancel");
    q.publish_many([("a", Publish::new().id("a")), ("b", Publish::new().id("b"))])
        .await
        .unwrap();
    let a = q.claim(1).await.unwrap().pop().unwrap();
    assert_eq!((a.id.as_str(), a.retries), ("a", 0));
    q.cancel(&a).await.unwrap();
    assert_eq!(q.cancel_count("a").await.unwrap(), 1);
    assert_eq!(
        counts(&q).await,
        counted(stats("cancel", 2, 0, 0, 2, 0), 1, 0)
    );

    // "a" was first in line; after its cancel "b" goes first.
    let order = q.claim(2).await.unwrap();
    assert_eq!(order[0].id, "b");
    assert_eq!((order[1].id.as_str(), order[1].retries), ("a", 1));
    q.cancel(&order[1]).await.unwrap();
    assert_eq!(q.cancel_count("a").await.unwrap(), 2);
    assert_eq!(q.claim(1).await.unwrap()[0].retries, 2);
    assert_eq!(q.cancel_count("never-cancelled").await.unwrap(), 0);
    env.check_invariants("cancel");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stall_sets_aside_and_retry_brings_back() {
    let env = Env::start().await;
    let q = env.queue("stall");
    let id = q.publish("x", Publish::new()).await.unwrap();
    let job = q.claim(1).await.unwrap().pop().unwrap();
    q.cancel(&job).await.unwrap();
    let job = q.claim(1).await.unwrap().pop().unwrap();
    q.stall(&job).await.unwrap();

    assert_eq!(
        counts(&q).await,
        counted(stats("stall", 0, 0, 1, 1, 0), 1, 1)
    );
    assert!(
        q.claim(1).await.unwrap().is_empty(),
        "a stalled job is not handed out"
    );
    env.check_invariants("stall");
    // As v1: the cancel count starts afresh.
    assert_eq!(q.cancel_count(&id).await.unwrap(), 0);

    q.retry(&id).await.unwrap();
    assert_eq!(
        counts(&q).await,
        counted(stats("stall", 1, 0, 0, 1, 0), 1, 1)
    );
    assert_eq!(q.claim(1).await.unwrap().pop().unwrap().id, id);
    env.check_invariants("stall");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retract_works_in_every_state() {
    let env = Env::start().await;
    let mut raw = env.raw().await;
    let q = env.queue("retract");
    let keep = Publish::new().keep_result(Duration::from_secs(60));
    q.publish_many([
        ("1", keep.clone().id("available")),
        ("2", keep.clone().id("claimed")),
        ("3", keep.id("stalled")),
        ("4", Publish::new().id("bystander")),
    ])
    .await
    .unwrap();
    // As a v1 publisher would have recorded them: retract removes these too.
    let _: u64 = cmd(
        &mut raw,
        &[
            "ZADD",
            "job.published:retract",
            "1",
            "available",
            "1",
            "claimed",
            "1",
            "stalled",
            "1",
            "bystander",
        ],
    )
    .await;
    // Take "available" out of the way to claim the next two, then put it back.
    let first = q.claim(3).await.unwrap();
    q.cancel(&first[0]).await.unwrap();
    q.stall(&first[2]).await.unwrap();
    assert_eq!(
        counts(&q).await,
        counted(stats("retract", 2, 1, 1, 4, 0), 1, 1)
    );

    for id in ["available", "claimed", "stalled"] {
        q.retract(id).await.unwrap();
        let exists: bool = cmd(&mut raw, &["HEXISTS", "job.items:retract", id]).await;
        assert!(!exists, "{id} retracted");
        env.check_invariants("retract");
    }
    assert_eq!(
        counts(&q).await,
        counted(stats("retract", 1, 0, 0, 4, 0), 1, 1)
    );
    // Every trace is gone: only the bystander's keys remain.
    for key in [
        "job.cancelled:retract",
        "job.tokens:retract",
        "job.awaited:retract",
    ] {
        let n: u64 = cmd(&mut raw, &["EXISTS", key]).await;
        assert_eq!(n, 0, "{key} emptied");
    }
    let published: Vec<String> =
        cmd(&mut raw, &["ZRANGE", "job.published:retract", "0", "-1"]).await;
    assert_eq!(published, ["bystander"]);
    assert_eq!(q.claim(5).await.unwrap()[0].id, "bystander");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_pages_through_each_state() {
    // The server's clock moves on a second before each claim, so that no
    // two claims share a time.
    let env = Env::start_clocked().await;
    let q = env.queue("list");
    for id in ["e", "d", "c", "b", "a"] {
        q.publish(format!("item-{id}"), Publish::new().id(id))
            .await
            .unwrap();
    }
    q.publish("item-p", Publish::new().id("p").priority(true))
        .await
        .unwrap();

    // Available: in the order they will be claimed, paged.
    let page = |v: Vec<thoonk::JobInfo>| v.into_iter().map(|j| j.id).collect::<Vec<_>>();
    assert_eq!(
        page(q.list(State::Available, 0, 2).await.unwrap()),
        ["p", "e"]
    );
    assert_eq!(
        page(q.list(State::Available, 2, 2).await.unwrap()),
        ["d", "c"]
    );
    assert_eq!(
        page(q.list(State::Available, 4, 10).await.unwrap()),
        ["b", "a"]
    );
    assert!(q.list(State::Available, 6, 10).await.unwrap().is_empty());
    assert!(q.list(State::Available, 0, 0).await.unwrap().is_empty());
    let all = q.list(State::Available, 0, 100).await.unwrap();
    assert_eq!(all[0].item, b"item-p");

    // Claim them one by one, each at a later time: the claim order is the
    // listed order.
    let mut claim_order = Vec::new();
    for _ in 1..=6 {
        env.advance(Duration::from_secs(1));
        claim_order.push(q.claim(1).await.unwrap().pop().unwrap());
    }
    let listed: Vec<String> = all.iter().map(|j| j.id.clone()).collect();
    assert_eq!(
        claim_order.iter().map(|j| j.id.clone()).collect::<Vec<_>>(),
        listed
    );

    // Job: by claim time (p, e, d, ... — not by id).
    assert_eq!(
        page(q.list(State::Claimed, 0, 3).await.unwrap()),
        ["p", "e", "d"]
    );
    assert_eq!(
        page(q.list(State::Claimed, 3, 3).await.unwrap()),
        ["c", "b", "a"]
    );

    // Stalled: in no particular order (a set's), each once, pages
    // adding up to all of them. The cancel count shows in the listing.
    q.cancel(&claim_order[1]).await.unwrap(); // "e", now available again
    for job in &claim_order[2..] {
        q.stall(job).await.unwrap();
    }
    let sorted = |mut ids: Vec<String>| {
        ids.sort();
        ids
    };
    let all = page(q.list(State::Stalled, 0, 10).await.unwrap());
    assert_eq!(sorted(all.clone()), ["a", "b", "c", "d"]);
    let pages = [
        page(q.list(State::Stalled, 0, 1).await.unwrap()),
        page(q.list(State::Stalled, 1, 2).await.unwrap()),
        page(q.list(State::Stalled, 3, 2).await.unwrap()),
    ];
    assert_eq!(pages.concat(), all, "pages by offset follow one order");
    let available = q.list(State::Available, 0, 10).await.unwrap();
    assert_eq!(
        (
            available[0].id.as_str(),
            available[0].cancelled,
            available[0].item.as_slice()
        ),
        ("e", 1, &b"item-e"[..])
    );
    assert_eq!(page(q.list(State::Claimed, 0, 10).await.unwrap()), ["p"]);
    env.check_invariants("list");
}

/// Retracting an available job from a long queue does not read the list
/// to find it (LREM over a million ids took Redis tens of ms): its id stays
/// behind as a ghost that counts and listings leave out, and the claim that
/// meets it drops it. Published again meanwhile, the job is claimed once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_retracted_from_a_long_queue_leaves_a_ghost_claims_drop() {
    let env = Env::start().await;
    let q = env.queue("long");
    let ids: Vec<String> = (0..1500).map(|i| format!("j{i:04}")).collect();
    q.publish_many(ids.iter().map(|id| ("x", Publish::new().id(id))))
        .await
        .unwrap();
    q.retract("j0700").await.unwrap();
    q.retract("j0701").await.unwrap();
    q.publish("again", Publish::new().id("j0701"))
        .await
        .unwrap();
    let counts = env.check_invariants("long");
    assert_eq!(counts.available, 1499, "the ghost is no job");
    assert_eq!(q.stats().await.unwrap().available, 1499);
    let listed = q.list(State::Available, 0, 2000).await.unwrap();
    assert_eq!(listed.len(), 1499);
    assert!(listed.iter().all(|job| job.id != "j0700"));

    let mut claimed = Vec::new();
    while !q.list(State::Available, 0, 1).await.unwrap().is_empty() {
        claimed.extend(q.claim(500).await.unwrap().into_iter().map(|job| job.id));
        env.check_invariants("long");
    }
    assert_eq!(claimed.len(), 1499);
    assert!(!claimed.contains(&"j0700".to_string()));
    assert_eq!(claimed.iter().filter(|id| *id == "j0701").count(), 1);
    let counts = env.check_invariants("long");
    assert_eq!((counts.available, counts.claimed), (0, 1499));
    let mut raw = env.raw().await;
    assert_eq!(dbsize_of(&mut raw, "job.ghosts:long").await, 0);
}

async fn dbsize_of(raw: &mut thoonk::redis::aio::MultiplexedConnection, key: &str) -> u64 {
    cmd(raw, &["SCARD", key]).await
}
