//! Schedules: added, replaced, listed and removed by name; refused when
//! bad; fired once per tick however many race, once on return after missed
//! ticks, across DST changes by the server's clock; kept across a restart;
//! and fired by a running worker.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::time::Duration;
use thoonk::{Error, Job, Queue, Schedule, Worker, MAX_SCHEDULES};
use thoonk_testkit::poll::eventually;
use thoonk_testkit::PrivateRedis;

/// Unix ms of `2026-03-08 07:00` (UTC).
fn utc(text: &str) -> u64 {
    let at = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").expect("a UTC time");
    at.and_utc().timestamp_millis() as u64
}

/// Sets the clocked server's time to `at_ms` (Unix ms), about.
fn set_server_time(env: &Env, at_ms: u64) {
    let offset = at_ms as i64 - now_ms() as i64;
    env.redis
        .clock()
        .set_offset_ms(offset)
        .expect("set the server's clock");
}

/// A clocked server, its queue "q", and there a schedule "beat" every
/// minute (item "b"); with the schedule's first tick.
async fn beat_every_minute() -> (Env, Queue, u64) {
    let env = Env::start_clocked().await;
    let q = env.queue("q");
    let first = q
        .schedule("beat", Schedule::every(Duration::from_secs(60)), "b")
        .await
        .unwrap();
    (env, q, first)
}

async fn available(q: &Queue) -> Vec<String> {
    let jobs = q.list(thoonk::State::Available, 0, 1000).await.unwrap();
    jobs.into_iter().map(|j| j.id).collect()
}

#[tokio::test]
async fn schedules_are_added_replaced_listed_and_removed_by_name() {
    let env = Env::start().await;
    let q = env.queue("q");
    let every = Schedule::every(Duration::from_secs(60));
    let first = q.schedule("report", every, "hello").await.unwrap();
    let now = env.server_ms().await;
    assert!(first > now - 60_000 && first <= now + 60_000 && first % 60_000 == 0);
    let listed = q.schedules().await.unwrap();
    assert_eq!(listed.len(), 1);
    let info = &listed[0];
    assert_eq!(
        (info.name.as_str(), info.spec.as_str(), info.zone.as_str()),
        ("report", "every 60s", "UTC")
    );
    assert_eq!(
        (&info.item[..], info.next_run_ms, info.last_run_ms),
        (&b"hello"[..], Some(first), None)
    );

    // Replaced by name: one schedule still, the new spec and item.
    let cron = Schedule::cron("0 9 * * MON-FRI").in_zone("Europe/Paris");
    q.schedule("report", cron.clone(), "again").await.unwrap();
    q.schedule("other", Schedule::every(Duration::from_secs(5)), "")
        .await
        .unwrap();
    let listed = q.schedules().await.unwrap();
    let names: Vec<&str> = listed.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["other", "report"]);
    let report = &listed[1];
    assert_eq!(
        (report.spec.as_str(), report.zone.as_str(), &report.item[..]),
        ("0 9 * * MON-FRI", "Europe/Paris", &b"again"[..])
    );
    assert_eq!(report.schedule().unwrap(), cron);

    assert!(q.unschedule("report").await.unwrap());
    assert!(!q.unschedule("report").await.unwrap());
    let names: Vec<String> = q
        .schedules()
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(names, ["other"]);
}

#[tokio::test]
async fn bad_cron_unknown_zone_and_bad_names_are_refused_writing_nothing() {
    let env = Env::start().await;
    let q = env.queue("mail");
    let before = env.snapshot();
    let cases = [
        (
            Schedule::cron("61 * * * *"),
            "nightly",
            "bad cron expression \"61 * * * *\"",
        ),
        (
            Schedule::cron("0 2 * * *").in_zone("Mars/Olympus"),
            "nightly",
            "unknown time zone \"Mars/Olympus\"",
        ),
        (
            Schedule::every(Duration::from_millis(10)),
            "fast",
            "out of range",
        ),
        (
            Schedule::every(Duration::from_secs(60)),
            "",
            "its name is empty",
        ),
    ];
    for (schedule, name, what) in cases {
        let err = q.schedule(name, schedule, "x").await.unwrap_err();
        assert!(matches!(err, Error::InvalidSchedule { .. }), "{err}");
        assert_message_names(&err, &["mail", name, what]);
    }
    assert_eq!(env.snapshot(), before, "a refused schedule writes nothing");
}

#[tokio::test]
async fn a_queue_has_at_most_max_schedules_and_may_still_replace_them() {
    let env = Env::start().await;
    let q = env.queue("q");
    let every = Schedule::every(Duration::from_secs(3600));
    for i in 0..MAX_SCHEDULES {
        q.schedule(&format!("s{i}"), every.clone(), "")
            .await
            .unwrap();
    }
    let err = q.schedule("one-more", every.clone(), "").await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::TooManySchedules {
                max: MAX_SCHEDULES,
                ..
            }
        ),
        "{err}"
    );
    assert_message_names(&err, &["q", "one-more", "1000"]);
    q.schedule("s0", every, "replaced").await.unwrap();
}

#[tokio::test]
async fn a_tick_publishes_once_however_many_fire_it() {
    let (env, q, first) = beat_every_minute().await;
    assert!(
        q.fire_schedules().await.unwrap().published.is_empty(),
        "not due yet"
    );
    set_server_time(&env, first + 100);
    // Eight clients, as eight processes, fire at once.
    let mut clients = Vec::new();
    for _ in 0..8 {
        clients.push(env.client().await.queue("q").unwrap());
    }
    let fired = futures_util::future::join_all(clients.iter().map(Queue::fire_schedules)).await;
    let published: Vec<String> = fired
        .into_iter()
        .flat_map(|f| f.unwrap().published)
        .collect();
    assert_eq!(published, [format!("beat@{first}")]);
    assert_eq!(available(&q).await, published);
    let info = &q.schedules().await.unwrap()[0];
    assert_eq!(info.next_run_ms, Some(first + 60_000));
    let last = info.last_run_ms.expect("a last run");
    assert!(last >= first, "last run {last}, tick {first}");
    assert_eq!(q.stats().await.unwrap().publishes, 1);
}

#[tokio::test]
async fn ticks_missed_while_nothing_fired_fire_once_on_return() {
    let (env, q, first) = beat_every_minute().await;
    // Ten minutes with nothing firing.
    set_server_time(&env, first + 10 * 60_000 + 500);
    // Once, named after the first tick it missed; the next is after now.
    let fired = q.fire_schedules().await.unwrap();
    assert_eq!(fired.published, [format!("beat@{first}")]);
    let next = q.schedules().await.unwrap()[0].next_run_ms;
    assert_eq!(next, Some(first + 11 * 60_000));
    let next_in = fired.next_in.expect("a next tick");
    assert!(next_in <= Duration::from_secs(60), "{next_in:?}");
    assert!(q.fire_schedules().await.unwrap().published.is_empty());
    assert_eq!(available(&q).await.len(), 1);
}

#[tokio::test]
async fn a_removed_schedule_fires_no_more() {
    let (env, q, first) = beat_every_minute().await;
    assert!(q.unschedule("beat").await.unwrap());
    set_server_time(&env, first + 1000);
    let fired = q.fire_schedules().await.unwrap();
    assert_eq!(fired, thoonk::Fired::default());
    assert!(available(&q).await.is_empty());
}

#[tokio::test]
async fn a_cron_schedule_in_a_zone_ticks_by_vixie_rules_across_dst_changes() {
    let env = Env::start_clocked().await;
    let q = env.queue("q");
    let new_york = |expr: &str| Schedule::cron(expr).in_zone("America/New_York");

    // Spring forward, 2026-03-08: 02:00 EST (07:00 UTC) becomes 03:00 EDT;
    // 02:30 does not exist that night, and the job runs at 03:00.
    set_server_time(&env, utc("2026-03-08 06:59") + 50_000);
    let first = q
        .schedule("spring", new_york("30 2 * * *"), "s")
        .await
        .unwrap();
    assert_eq!(first, utc("2026-03-08 07:00"));
    set_server_time(&env, utc("2026-03-08 07:00") + 2_000);
    let fired = q.fire_schedules().await.unwrap();
    assert_eq!(fired.published, [format!("spring@{first}")]);
    let next = q.schedules().await.unwrap()[0].next_run_ms;
    assert_eq!(
        next,
        Some(utc("2026-03-09 06:30")),
        "02:30 EDT the next day"
    );
    q.unschedule("spring").await.unwrap();

    // Fall back, 2026-11-01: 02:00 EDT (06:00 UTC) becomes 01:00 EST, so
    // 01:30 comes twice (05:30 and 06:30 UTC); the job runs once.
    set_server_time(&env, utc("2026-11-01 05:29") + 50_000);
    let first = q
        .schedule("fall", new_york("30 1 * * *"), "f")
        .await
        .unwrap();
    assert_eq!(first, utc("2026-11-01 05:30"));
    set_server_time(&env, utc("2026-11-01 05:30") + 2_000);
    let fired = q.fire_schedules().await.unwrap();
    assert_eq!(fired.published, [format!("fall@{first}")]);
    // The second 01:30: nothing.
    set_server_time(&env, utc("2026-11-01 06:30") + 2_000);
    assert!(q.fire_schedules().await.unwrap().published.is_empty());
    let next = q.schedules().await.unwrap()[0].next_run_ms;
    assert_eq!(
        next,
        Some(utc("2026-11-02 06:30")),
        "01:30 EST the next day"
    );
    // The next day's, by the server's clock.
    set_server_time(&env, utc("2026-11-02 06:30") + 2_000);
    let fired = q.fire_schedules().await.unwrap();
    assert_eq!(
        fired.published,
        [format!("fall@{}", utc("2026-11-02 06:30"))]
    );
}

#[tokio::test]
async fn schedules_survive_a_restart_of_redis() {
    let redis = PrivateRedis::start_with(&[("appendonly", "yes"), ("appendfsync", "always")])
        .expect("a private redis-server");
    let mut env = Env {
        thoonk: thoonk::Thoonk::connect(&redis.url()).await.unwrap(),
        redis,
    };
    let q = env.queue("q");
    let cron = Schedule::cron("*/5 * * * *").in_zone("Asia/Tokyo");
    let first = q.schedule("five", cron, "x").await.unwrap();
    let before = q.schedules().await.unwrap();
    env.redis.restart().expect("restart redis");
    env.thoonk = thoonk::Thoonk::connect(&env.redis.url()).await.unwrap();
    let q = env.queue("q");
    let after = q.schedules().await.unwrap();
    assert_eq!(after, before);
    assert_eq!(after[0].next_run_ms, Some(first));
}

#[tokio::test]
async fn a_running_worker_fires_its_queues_schedules() {
    let env = Env::start().await;
    let q = env.queue("q");
    let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
    let worker = start(Worker::new(q.clone()), move |job: Job| {
        let seen_tx = seen_tx.clone();
        async move {
            let _ = seen_tx.send((job.id.clone(), job.item.clone()));
            Ok::<_, thoonk::Failure>(())
        }
    });
    // Added after the worker started: its event wakes the ticker.
    q.schedule("beat", Schedule::every(Duration::from_secs(1)), "tick")
        .await
        .unwrap();
    let mut ticks: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    eventually("the worker ran two ticks of the schedule", || {
        while let Ok((id, item)) = seen.try_recv() {
            ticks.insert(id, item);
        }
        let n = ticks.len();
        async move { n >= 2 }
    })
    .await;
    for (id, item) in &ticks {
        assert!(id.starts_with("beat@"), "{id}");
        assert_eq!(item, b"tick");
    }
    worker.stop().await;
}

/// `fire_schedule.lua` called as a process would that read the tick
/// before another fired it: returns the script's reply.
async fn fire_as_read(env: &Env, tick: u64, rev: &str) -> String {
    let (_, functions) = thoonk::testing::scripts();
    let function = functions
        .iter()
        .find(|(file, _)| *file == "fire_schedule.lua")
        .map(|(_, f)| *f)
        .expect("the script's function");
    let key = |noun: &str| format!("job.{noun}:q");
    let mut fcall = thoonk::redis::cmd("FCALL");
    let nouns = [
        "schedules",
        "ticks",
        "ids",
        "items",
        "publishes",
        "ghosts",
        "claimed",
        "stalled",
        "delayed",
        "marks",
        "marked",
    ];
    fcall.arg(function).arg(nouns.len() + 1);
    for noun in nouns {
        fcall.arg(key(noun));
    }
    fcall
        .arg("job.request:q\0stale")
        .arg("event.job.publish:q")
        .arg("beat")
        .arg(tick)
        .arg(rev)
        .arg(tick + 60_000)
        .arg("");
    fcall.query_async(&mut env.raw().await).await.unwrap()
}

/// The revision of schedule `beat` (the first part of its record).
async fn rev_of_beat(env: &Env) -> String {
    let record: Vec<u8> = cmd(&mut env.raw().await, &["HGET", "job.schedules:q", "beat"]).await;
    let end = record.iter().position(|&b| b == 0).expect("a record");
    String::from_utf8(record[..end].to_vec()).unwrap()
}

#[tokio::test]
async fn a_fire_of_a_tick_read_before_another_fired_it_does_nothing() {
    let (env, q, first) = beat_every_minute().await;
    let rev = rev_of_beat(&env).await;
    set_server_time(&env, first + 100);
    assert_eq!(q.fire_schedules().await.unwrap().published.len(), 1);
    // Its job is done and gone: the id no longer guards the tick.
    let job = q.claim(1).await.unwrap().remove(0);
    q.finish(&job).await.unwrap();
    assert_eq!(fire_as_read(&env, first, &rev).await, "moved");
    // A schedule replaced since the read: its new revision is not the one
    // read, even at the same tick.
    q.schedule("beat", Schedule::every(Duration::from_secs(60)), "new")
        .await
        .unwrap();
    let tick = q.schedules().await.unwrap()[0].next_run_ms.unwrap();
    set_server_time(&env, tick + 100);
    assert_eq!(fire_as_read(&env, tick, &rev).await, "moved");
    assert!(available(&q).await.is_empty());
    assert_eq!(q.stats().await.unwrap().publishes, 1);
}

#[tokio::test]
async fn schedules_this_version_cannot_read_do_not_hide_the_others() {
    let (env, q, first) = beat_every_minute().await;
    // 150 schedules in a zone this version does not know (as a newer one
    // would write them), due before "beat": a page of due schedules is 100.
    let mut raw = env.raw().await;
    let record: Vec<u8> = cmd(&mut raw, &["HGET", "job.schedules:q", "beat"]).await;
    let fields: Vec<&[u8]> = record.splitn(5, |&b| b == 0).collect();
    for i in 0..150 {
        let name = format!("future-{i:03}");
        let mut unknown = Vec::new();
        for (k, field) in fields.iter().enumerate() {
            if k > 0 {
                unknown.push(0);
            }
            unknown.extend_from_slice(match k {
                1 => b"0 2 * * *",
                2 => b"Mars/Olympus",
                _ => field,
            });
        }
        let _: u64 = redis::cmd("HSET")
            .arg("job.schedules:q")
            .arg(&name)
            .arg(unknown)
            .query_async(&mut raw)
            .await
            .unwrap();
        let tick = (first - 1000 - i).to_string();
        let _: u64 = cmd(&mut raw, &["ZADD", "job.ticks:q", &tick, &name]).await;
    }
    set_server_time(&env, first + 500);
    let fired = q.fire_schedules().await.unwrap();
    assert_eq!(fired.published, [format!("beat@{first}")]);
    let left: u64 = cmd(
        &mut raw,
        &["ZCOUNT", "job.ticks:q", "-inf", &(first - 1).to_string()],
    )
    .await;
    assert_eq!(left, 150, "the unreadable ones are left as they were");
}
