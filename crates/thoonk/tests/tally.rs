//! The tally kept in Redis (issue 18): counts per minute and per day land
//! in the slot of the server's minute and day, old slots read as nothing
//! once out of range, the key's size stays fixed whatever the traffic, a
//! batch counts with one BITFIELD, and run times give p50/p95/max within
//! their bucket.

mod common;

use common::*;
use std::time::Duration;
use thoonk::{Counts, JobRef, Publish, Queue, Resolution};

const MINUTE: Duration = Duration::from_secs(60);
const DAY: Duration = Duration::from_secs(86_400);

async fn publish(q: &Queue, n: usize) {
    q.publish_many((0..n).map(|_| ("x", Publish::new())))
        .await
        .unwrap();
}

/// Claims `n` jobs and finishes them in one call.
async fn claim_and_finish(q: &Queue, n: usize, env: &Env, ran: Duration) {
    let jobs = q.claim(n).await.unwrap();
    assert_eq!(jobs.len(), n);
    env.advance(ran);
    let refs: Vec<(JobRef<'_>, Option<&[u8]>)> =
        jobs.iter().map(|j| (JobRef::from(j), None)).collect();
    for outcome in q.finish_many(&refs).await.unwrap() {
        outcome.unwrap();
    }
}

/// Moves the server's clock to a second past the next minute's start: a
/// test's few seconds of calls then fall in one minute.
async fn at_a_minutes_start(env: &Env) {
    let ms = env.server_ms().await;
    env.advance(Duration::from_millis(61_000 - ms % 60_000));
}

async fn last(q: &Queue, resolution: Resolution) -> Counts {
    q.tally(resolution, 1).await.unwrap()[0].counts
}

#[tokio::test]
async fn counts_land_in_their_minute_and_day() {
    let env = Env::start_clocked().await;
    let q = env.queue("t");
    at_a_minutes_start(&env).await;
    publish(&q, 3).await;
    let jobs = q.claim(3).await.unwrap();
    q.finish(&jobs[0]).await.unwrap();
    q.finish(&jobs[1]).await.unwrap();
    q.cancel(&jobs[2]).await.unwrap();
    let job = q.claim(1).await.unwrap().remove(0);
    q.stall(&job).await.unwrap();
    let first = Counts {
        publishes: 3,
        finishes: 2,
        cancels: 1,
        stalls: 1,
        recoveries: 0,
    };
    assert_eq!(last(&q, Resolution::Minute).await, first);
    env.advance(2 * MINUTE);
    publish(&q, 1).await;
    let minutes = q.tally(Resolution::Minute, 3).await.unwrap();
    assert_eq!(minutes[0].counts, first, "{minutes:?}");
    assert_eq!(minutes[1].counts, Counts::default());
    assert_eq!(minutes[2].counts.publishes, 1);
    assert_eq!(minutes[2].start_ms - minutes[0].start_ms, 120_000);
    let now = env.server_ms().await;
    assert_eq!(minutes[2].start_ms, now / 60_000 * 60_000);
    // The day holds both minutes (unless the test ran across midnight).
    let day = q.tally(Resolution::Day, 2).await.unwrap();
    let both = day[0].counts.publishes + day[1].counts.publishes;
    assert_eq!(both, 4, "{day:?}");
    assert_eq!(day[1].start_ms, now / 86_400_000 * 86_400_000);
}

#[tokio::test]
async fn recoveries_count_as_cancels_and_recoveries() {
    let env = Env::start_clocked().await;
    let q = env.queue("r");
    publish(&q, 2).await;
    q.claim(2).await.unwrap();
    env.advance(thoonk::DEFAULT_LEASE + Duration::from_secs(1));
    q.recover().await.unwrap();
    let counts = last(&q, Resolution::Minute).await;
    assert_eq!((counts.cancels, counts.recoveries), (2, 2), "{counts:?}");
}

#[tokio::test]
async fn old_slots_are_ignored_after_24_hours_and_90_days() {
    let env = Env::start_clocked().await;
    let q = env.queue("old");
    publish(&q, 5).await;
    // 24 hours on, the same place of the ring stands for a new minute.
    env.advance(DAY);
    let minutes = q.tally(Resolution::Minute, 1440).await.unwrap();
    assert!(minutes.iter().all(|s| s.counts == Counts::default()));
    publish(&q, 1).await;
    assert_eq!(last(&q, Resolution::Minute).await.publishes, 1);
    let days = q.tally(Resolution::Day, 2).await.unwrap();
    assert_eq!(days[0].counts.publishes, 5, "{days:?}");
    assert_eq!(days[1].counts.publishes, 1);
    // 90 days on from there, the day of the 5 is out of range.
    env.advance(89 * DAY);
    publish(&q, 2).await;
    let days = q.tally(Resolution::Day, 90).await.unwrap();
    let total: u64 = days.iter().map(|d| d.counts.publishes).sum();
    assert_eq!(total, 3, "only the last 90 days: {days:?}");
    env.advance(DAY);
    publish(&q, 1).await;
    let days = q.tally(Resolution::Day, 90).await.unwrap();
    let total: u64 = days.iter().map(|d| d.counts.publishes).sum();
    assert_eq!(total, 3, "the 1 of 90 days ago is gone: {days:?}");
}

#[tokio::test]
async fn the_tally_takes_a_fixed_size_whatever_the_traffic() {
    let env = Env::start_clocked().await;
    let q = env.queue("mem");
    let mut raw = env.raw().await;
    publish(&q, 1).await;
    let first: u64 = cmd(&mut raw, &["MEMORY", "USAGE", "job.tally:mem"]).await;
    for _ in 0..30 {
        publish(&q, 20).await;
        claim_and_finish(&q, 20, &env, Duration::from_millis(70)).await;
        env.advance(47 * MINUTE);
    }
    let then: u64 = cmd(&mut raw, &["MEMORY", "USAGE", "job.tally:mem"]).await;
    assert_eq!(then, first);
    let len: u64 = cmd(&mut raw, &["STRLEN", "job.tally:mem"]).await;
    assert_eq!(len, 43_924);
    assert!(first < 48 * 1024, "{first} bytes");
    let ttl: i64 = cmd(&mut raw, &["PTTL", "job.tally:mem"]).await;
    assert!(ttl > 90 * 86_400_000, "{ttl}");
}

#[tokio::test]
async fn a_batch_counts_with_one_bitfield() {
    let env = Env::start_clocked().await;
    let q = env.queue("one");
    let mut raw = env.raw().await;
    at_a_minutes_start(&env).await;
    // The minute's first writes reset its slots: a call of their own.
    publish(&q, 1).await;
    claim_and_finish(&q, 1, &env, Duration::from_secs(5)).await;
    let mut monitor = Monitor::start(&env).await;
    publish(&q, 50).await;
    claim_and_finish(&q, 50, &env, Duration::ZERO).await;
    let runs = script_runs(&monitor.take(&mut raw).await);
    for run in runs
        .iter()
        .filter(|r| r.script.ends_with(b"publish") || r.script.ends_with(b"finish"))
    {
        let bitfields = run.inner.iter().filter(|s| s.name() == "BITFIELD").count();
        assert_eq!(bitfields, 1, "{}", String::from_utf8_lossy(&run.script));
    }
    let counts = last(&q, Resolution::Minute).await;
    assert_eq!((counts.publishes, counts.finishes), (51, 51));
}

#[tokio::test]
async fn durations_of_known_runs() {
    let env = Env::start_clocked().await;
    let q = env.queue("d");
    assert_eq!(q.durations().await.unwrap().p50, None);
    publish(&q, 20).await;
    // (Each well inside its bucket: the test's own calls, slow on a
    // loaded machine, add to the time the server's clock says they ran.)
    claim_and_finish(&q, 10, &env, Duration::from_millis(300)).await;
    claim_and_finish(&q, 10, &env, Duration::from_millis(3000)).await;
    let d = q.durations().await.unwrap();
    assert_eq!(d.count, 20);
    let ms = |d: Option<Duration>| d.unwrap().as_millis() as u64;
    // Within the bucket of the true value: (256, 512] and (2048, 4096].
    assert!((256..=512).contains(&ms(d.p50)), "{d:?}");
    assert!((2048..=4096).contains(&ms(d.p95)), "{d:?}");
    // Exact, but for the ms the test's own calls take.
    assert!((3000..3500).contains(&ms(d.max)), "{d:?}");
    assert_eq!(d.total(), 20);
    assert_eq!(d.buckets[9], 10, "{d:?}");
    assert!((33_000..38_000).contains(&d.sum_ms), "{d:?}");
    // An hour on, the last hour is empty; the totals stay.
    env.advance(61 * MINUTE);
    let d = q.durations().await.unwrap();
    assert_eq!((d.count, d.p50, d.max), (0, None, None));
    assert_eq!(d.total(), 20);
    // Two hours on, a minute takes the run slot of each earlier one: the
    // earlier runs stay in the totals, once.
    for _ in 0..60 {
        publish(&q, 1).await;
        claim_and_finish(&q, 1, &env, Duration::from_millis(10)).await;
        env.advance(MINUTE);
    }
    let d = q.durations().await.unwrap();
    assert_eq!(d.total(), 80, "{d:?}");
    assert_eq!(d.buckets[9], 10, "{d:?}");
    assert!((33_600..39_000).contains(&d.sum_ms), "{d:?}");
    // A minute whose first write is a finish: its own run goes to the
    // totals once, not also as the earlier minute's it replaces.
    publish(&q, 1).await;
    let job = q.claim(1).await.unwrap().remove(0);
    env.advance(MINUTE);
    q.finish(&job).await.unwrap();
    let d = q.durations().await.unwrap();
    assert_eq!(d.total(), 81, "{d:?}");
    assert_eq!(d.buckets[16], 1, "a run of a minute: {d:?}");
}

/// A worker reports how long its handler ran, which the tally takes over
/// the time the job was held by the server's clock: here a handler that
/// moves the server's clock 2 s and returns at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workers_runs_are_its_handlers() {
    let env = std::sync::Arc::new(Env::start_clocked().await);
    let q = env.queue("w");
    let clock = env.clone();
    let worker = start(thoonk::Worker::new(q.clone()), move |_job: thoonk::Job| {
        clock.advance(Duration::from_secs(2));
        async { Ok::<_, thoonk::Failure>(()) }
    });
    publish(&q, 4).await;
    thoonk_testkit::poll::eventually("the 4 finished", || {
        let q = q.clone();
        async move { q.stats().await.unwrap().finishes == 4 }
    })
    .await;
    worker.stop().await;
    let d = q.durations().await.unwrap();
    assert_eq!(d.count, 4);
    assert!(d.max.unwrap() < Duration::from_secs(1), "{d:?}");
}
