//! Queue latency (how long the oldest available job has waited, by the
//! server's clock, from a few publish marks rather than a time per job),
//! and unique windows (an id refused for a while after it was published,
//! decided in Redis).

mod common;

use common::*;
use std::time::Duration;
use thoonk::{Error, Publish, Queue};

const SECOND: Duration = Duration::from_secs(1);

async fn latency_ms(q: &Queue) -> u64 {
    q.stats().await.unwrap().latency.as_millis() as u64
}

/// Asserts `ms` is `expected` ms, to within the marks' margin (a second)
/// and the time the test's own calls take.
#[track_caller]
fn about(ms: u64, expected: u64) {
    assert!(
        (expected..expected + 1500).contains(&ms),
        "latency {ms} ms, expected about {expected} ms"
    );
}

#[tokio::test]
async fn latency_is_the_wait_of_the_oldest_available_job() {
    let env = Env::start_clocked().await;
    let q = env.queue("latency");
    assert_eq!(latency_ms(&q).await, 0, "no job: no wait");

    q.publish_many(["a", "b"]).await.unwrap();
    env.advance(10 * SECOND);
    q.publish_many(["c", "d"]).await.unwrap();
    env.advance(5 * SECOND);
    about(latency_ms(&q).await, 15_000);

    // Claiming the two oldest leaves the two published 5 s ago.
    assert_eq!(q.claim(2).await.unwrap().len(), 2);
    about(latency_ms(&q).await, 5_000);
    assert_eq!(q.claim(2).await.unwrap().len(), 2);
    assert_eq!(latency_ms(&q).await, 0, "none waits");
    env.check_invariants("latency");
}

#[tokio::test]
async fn jobs_without_a_mark_of_their_own_are_dated_by_the_mark_before_them() {
    let env = Env::start_clocked().await;
    let q = env.queue("latency-spans");
    // Within one second: only the first publish makes a mark.
    for i in 0..5 {
        q.publish(
            format!("first {i}"),
            Publish::new().id(format!("first-{i}")),
        )
        .await
        .unwrap();
    }
    env.advance(30 * SECOND);
    q.publish("later", Publish::new().id("later"))
        .await
        .unwrap();
    env.advance(2 * SECOND);
    about(latency_ms(&q).await, 32_000);
    // The marked job goes; the next ones (no mark) still date from then.
    let taken = q.claim(2).await.unwrap();
    assert_eq!(taken[0].id, "first-0");
    about(latency_ms(&q).await, 32_000);
    q.claim(3).await.unwrap();
    about(latency_ms(&q).await, 2_000);
}

#[tokio::test]
async fn a_delayed_job_waits_from_when_it_fell_due() {
    let env = Env::start_clocked().await;
    let q = env.queue("latency-due");
    q.publish("later", Publish::new().delay(60 * SECOND))
        .await
        .unwrap();
    assert_eq!(latency_ms(&q).await, 0, "delayed is not available");
    env.advance(61 * SECOND);
    // A claim with nothing to take yet promotes it (here, asked for none
    // by a paused queue would do too; a recovery pass is the plain way).
    assert_eq!(q.recover().await.unwrap().due, 1);
    env.advance(3 * SECOND);
    about(latency_ms(&q).await, 3_000);
}

#[tokio::test]
async fn a_v1_publishers_job_is_dated_by_its_publish_time() {
    let env = Env::start_clocked().await;
    let q = env.queue("latency-v1");
    let mut raw = env.raw().await;
    let at = env.server_ms().await.to_string();
    // As the v1 Node.js package publishes.
    let _: u64 = cmd(&mut raw, &["LPUSH", "job.ids:latency-v1", "old"]).await;
    let _: u64 = cmd(&mut raw, &["HSET", "job.items:latency-v1", "old", "x"]).await;
    let _: u64 = cmd(&mut raw, &["ZADD", "job.published:latency-v1", &at, "old"]).await;
    env.advance(7 * SECOND);
    about(latency_ms(&q).await, 7_000);
}

#[tokio::test]
async fn marks_stay_few_however_many_jobs_wait() {
    let env = Env::start_clocked().await;
    let q = env.queue("latency-marks");
    let first = env.server_ms().await;
    for _ in 0..200 {
        let batch: Vec<String> = (0..50).map(|i| format!("job {i}")).collect();
        q.publish_many(batch).await.unwrap();
    }
    let mut raw = env.raw().await;
    let marks: u64 = cmd(&mut raw, &["ZCARD", "job.marks:latency-marks"]).await;
    assert!(
        marks <= 2,
        "10,000 jobs in well under a second: {marks} marks"
    );
    // An hour of one publish a second: marks thin out as the wait grows.
    for _ in 0..3600 {
        env.advance(SECOND);
        q.publish("tick", Publish::new()).await.unwrap();
    }
    let marks: u64 = cmd(&mut raw, &["ZCARD", "job.marks:latency-marks"]).await;
    assert!(marks < 600, "3,600 publishes a second apart: {marks} marks");
    // (The server's clock: the test's own calls take real time too.)
    let waited = env.server_ms().await - first;
    // Marks a hundredth of the wait apart: 1 % margin.
    let ms = latency_ms(&q).await;
    assert!(
        ms.abs_diff(waited) < waited / 100 + 1000,
        "{ms} ms, waited {waited} ms"
    );
    // Draining the queue drops the stale marks as new ones come.
    while !q.claim(1000).await.unwrap().is_empty() {}
    let fresh = env.server_ms().await;
    for _ in 0..10 {
        env.advance(SECOND);
        q.publish("fresh", Publish::new()).await.unwrap();
    }
    let marks: u64 = cmd(&mut raw, &["ZCARD", "job.marks:latency-marks"]).await;
    assert!(marks <= 12, "after draining: {marks} marks");
    // The first fresh job came a second (and a few calls) after `fresh`;
    // its own mark dates it exactly. (The latency first, the clock after:
    // read the other way round, the latency, a call later, read a
    // millisecond more than the wait.)
    let ms = latency_ms(&q).await;
    let waited = env.server_ms().await - fresh - 1000;
    assert!(
        (waited - 300..=waited).contains(&ms),
        "{ms} ms, waited {waited} ms"
    );
}

#[tokio::test]
async fn an_id_is_refused_within_its_unique_window_even_after_it_finished() {
    let env = Env::start_clocked().await;
    let q = env.queue("unique");
    let once = || Publish::new().id("nightly").unique_for(3600 * SECOND);
    q.publish("x", once()).await.unwrap();
    let job = q.claim(1).await.unwrap().pop().unwrap();
    q.finish(&job).await.unwrap();

    let refused = q.publish("x", once()).await.unwrap_err();
    let Error::InUniqueWindow { id, left, .. } = &refused else {
        panic!("{refused}");
    };
    assert_eq!(id, "nightly");
    assert!(*left > 3590 * SECOND && *left <= 3600 * SECOND, "{left:?}");
    assert_message_names(&refused, &["nightly", "unique", "publish refused"]);
    // Any publish of the id, with a window of its own or not.
    let plain = q
        .publish("x", Publish::new().id("nightly"))
        .await
        .unwrap_err();
    assert!(matches!(plain, Error::InUniqueWindow { .. }), "{plain}");
    // A batch with one such id publishes none of its jobs.
    let batch = q
        .publish_many([("a", Publish::new().id("fresh")), ("b", once())])
        .await
        .unwrap_err();
    assert!(matches!(batch, Error::InUniqueWindow { .. }), "{batch}");
    assert_eq!(q.stats().await.unwrap().available, 0);

    // The window is the server's: once it passes, the id is free again.
    env.advance(3601 * SECOND);
    q.publish("x", once()).await.unwrap();
    env.check_invariants("unique");
}

#[tokio::test]
async fn a_unique_window_is_refused_beyond_its_bound() {
    let env = Env::start().await;
    let q = env.queue("unique-bound");
    let refused = q
        .publish("x", Publish::new().unique_for(thoonk::MAX_DELAY + SECOND))
        .await
        .unwrap_err();
    assert!(matches!(refused, Error::OutOfRange { .. }), "{refused}");
}

#[tokio::test]
async fn an_id_published_again_is_dated_by_its_new_publish_not_its_old_mark() {
    let env = Env::start_clocked().await;
    let q = env.queue("latency-reused");
    let id = || Publish::new().id("x");
    q.publish("first", id()).await.unwrap();
    let job = q.claim(1).await.unwrap().pop().unwrap();
    q.finish(&job).await.unwrap();
    env.advance(3600 * SECOND);
    // A mark a moment ago (another job's), so that x gets none of its own.
    q.publish("y", Publish::new()).await.unwrap();
    let y = q.claim(1).await.unwrap().pop().unwrap();
    q.finish(&y).await.unwrap();
    q.publish("again", id()).await.unwrap();
    env.advance(2 * SECOND);
    about(latency_ms(&q).await, 2_000);
}

#[tokio::test]
async fn a_job_sent_back_waits_from_when_it_came_back() {
    let env = Env::start_clocked().await;
    let q = env.queue("latency-back");
    q.publish("x", Publish::new()).await.unwrap();
    let job = q.claim(1).await.unwrap().pop().unwrap();
    env.advance(600 * SECOND);
    q.cancel(&job).await.unwrap();
    env.advance(3 * SECOND);
    about(latency_ms(&q).await, 3_000);
}

#[tokio::test]
async fn a_line_headed_by_many_ghosts_is_dated_by_its_marks() {
    let env = Env::start_clocked().await;
    let q = env.queue("latency-ghosts");
    // A long list (over 1,000 ids): a retract leaves its id as a ghost.
    let jobs: Vec<(String, Publish)> = (0..1100)
        .map(|i| (format!("job {i}"), Publish::new().id(format!("j{i}"))))
        .collect();
    q.publish_many(jobs).await.unwrap();
    for i in 0..20 {
        q.retract(&format!("j{i}")).await.unwrap();
    }
    env.advance(30 * SECOND);
    about(latency_ms(&q).await, 30_000);
}

#[tokio::test]
async fn a_priority_job_on_an_empty_line_waits_from_its_publish() {
    let env = Env::start_clocked().await;
    let q = env.queue("latency-front");
    q.publish("x", Publish::new()).await.unwrap();
    let job = q.claim(1).await.unwrap().pop().unwrap();
    q.finish(&job).await.unwrap();
    env.advance(3600 * SECOND);
    q.publish("urgent", Publish::new().priority(true))
        .await
        .unwrap();
    env.advance(2 * SECOND);
    about(latency_ms(&q).await, 2_000);
}
