//! Flow control in the claim: pause and resume, the running limit, the rate
//! limit, and the settings that carry them (configure.lua), refused whole
//! when any value is bad.

mod common;

use common::*;
use std::time::Duration;
use thoonk::{ConfigChange, Error, EventKind, Notice, Publish, Queue, QueueConfig, Rate, Worker};
use thoonk_testkit::poll::within;
use tokio::time::Instant;

async fn publish_n(q: &Queue, n: usize) {
    let items: Vec<String> = (0..n).map(|i| format!("job {i}")).collect();
    q.publish_many(items).await.unwrap();
}

#[tokio::test]
async fn a_paused_queue_hands_out_nothing_until_resumed() {
    let env = Env::start().await;
    let q = env.queue("flow-pause");
    publish_n(&q, 3).await;
    let mut events = q
        .subscribe_to(&[EventKind::Pause, EventKind::Resume])
        .await
        .unwrap();
    q.pause().await.unwrap();
    assert_eq!(next_event(&mut events).await.kind, EventKind::Pause);
    // Pausing a paused queue changes nothing, and says nothing.
    q.pause().await.unwrap();
    assert!(q.config().await.unwrap().paused);
    assert!(q.stats().await.unwrap().paused);
    assert!(q.claim(3).await.unwrap().is_empty(), "paused: no claim");
    // Publishing goes on while paused.
    q.publish("more", Publish::new()).await.unwrap();
    assert_eq!(q.stats().await.unwrap().available, 4);

    q.resume().await.unwrap();
    let resumed = next_event(&mut events).await;
    assert_eq!((resumed.kind, resumed.id.as_str()), (EventKind::Resume, ""));
    assert!(!q.config().await.unwrap().paused);
    assert!(!q.stats().await.unwrap().paused);
    assert_eq!(q.claim(4).await.unwrap().len(), 4);
    env.check_invariants("flow-pause");
}

#[tokio::test]
async fn a_waiting_worker_claims_as_soon_as_the_queue_is_resumed() {
    let env = Env::start().await;
    let q = env.queue("flow-wake");
    q.pause().await.unwrap();
    publish_n(&q, 2).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let running = start(Worker::new(q.clone()).concurrency(2), move |job| {
        let tx = tx.clone();
        async move {
            tx.send(job.id).unwrap();
            Ok::<_, thoonk::Failure>(())
        }
    });
    // Held back: the worker claims nothing while paused (it polls once a
    // second at most, and hears the resume).
    assert!(
        tokio::time::timeout(Duration::from_millis(1500), rx.recv())
            .await
            .is_err(),
        "a job ran while the queue was paused"
    );
    // It listens for changes of the settings (a resume among them).
    let mut raw = env.raw().await;
    assert_eq!(numsub(&mut raw, "event.job.config:flow-wake").await, 1);
    let resumed = Instant::now();
    q.resume().await.unwrap();
    within("a job to run", rx.recv()).await.unwrap();
    // Woken by the resume event, not by its next claim of a paused queue,
    // a second after its last: not a measure of speed (that is the
    // bench's), but of which of the two woke it.
    assert!(
        resumed.elapsed() < Duration::from_millis(900),
        "the first job ran {:?} after the resume",
        resumed.elapsed()
    );
    within("a job to run", rx.recv()).await.unwrap();
    running.stop().await;
}

#[tokio::test]
async fn no_more_than_max_running_jobs_are_claimed_at_once() {
    let env = Env::start().await;
    let q = env.queue("flow-running");
    publish_n(&q, 10).await;
    q.configure(ConfigChange::new().max_running(Some(3)))
        .await
        .unwrap();
    let first = q.claim(10).await.unwrap();
    assert_eq!(first.len(), 3);
    assert!(q.claim(10).await.unwrap().is_empty(), "3 are running");
    q.finish(&first[0]).await.unwrap();
    assert_eq!(
        q.claim(10).await.unwrap().len(),
        1,
        "one finished, one more"
    );
    q.configure(ConfigChange::new().max_running(None))
        .await
        .unwrap();
    assert_eq!(q.claim(10).await.unwrap().len(), 6, "no limit any more");
    env.check_invariants("flow-running");
}

#[tokio::test]
async fn the_rate_limit_counts_claims_over_any_window_of_its_period() {
    let env = Env::start_clocked().await;
    let q = env.queue("flow-rate");
    publish_n(&q, 20).await;
    let rate = Rate::new(5, Duration::from_secs(10));
    q.configure(ConfigChange::new().rate(Some(rate)))
        .await
        .unwrap();
    assert_eq!(q.config().await.unwrap().rate, Some(rate));
    assert_eq!(q.claim(3).await.unwrap().len(), 3);
    env.advance(Duration::from_secs(6));
    assert_eq!(q.claim(10).await.unwrap().len(), 2, "5 in the window");
    assert!(q.claim(10).await.unwrap().is_empty());
    // The first three leave the window 10 s after they were claimed: by
    // the server's clock, 4 s on; the other two 6 s later.
    env.advance(Duration::from_millis(3_900));
    assert!(
        q.claim(10).await.unwrap().is_empty(),
        "still 5 in the last 10 s"
    );
    env.advance(Duration::from_millis(200));
    assert_eq!(q.claim(10).await.unwrap().len(), 3);
    q.configure(ConfigChange::new().rate(None)).await.unwrap();
    assert_eq!(q.claim(20).await.unwrap().len(), 12);
    env.check_invariants("flow-rate");
}

/// The claim that fills the rate window tells every worker how long it is
/// full (event.job.held), so that none has to ask to find out.
#[tokio::test]
async fn the_claim_that_fills_the_rate_window_says_for_how_long() {
    let env = Env::start_clocked().await;
    let q = env.queue("flow-held");
    publish_n(&q, 10).await;
    let mut held = env
        .client()
        .await
        .listen(vec!["event.job.held:flow-held".into()])
        .await
        .unwrap();
    let rate = Rate::new(4, Duration::from_secs(10));
    q.configure(ConfigChange::new().rate(Some(rate)))
        .await
        .unwrap();
    assert_eq!(q.claim(3).await.unwrap().len(), 3, "room left: no event");
    env.advance(Duration::from_secs(2));
    assert_eq!(q.claim(3).await.unwrap().len(), 1, "the window is full");
    let Notice::Message { payload, .. } = within("the held event", held.recv()).await.unwrap()
    else {
        panic!("a message")
    };
    // Room for 3 again (as many as the claim wanted) once the first three
    // leave, 10 s after they came: 8 s from now, by the server's clock.
    let ms: u64 = String::from_utf8(payload).unwrap().parse().unwrap();
    assert!((7_900..=8_000).contains(&ms), "{ms} ms");
}

#[tokio::test]
async fn settings_change_all_at_once_or_not_at_all() {
    let env = Env::start().await;
    let q = env.queue("flow-config");
    let set = q
        .configure(
            ConfigChange::new()
                .lease(Duration::from_secs(9))
                .max_cancels(4)
                .rate(Some("100/m".parse().unwrap()))
                .max_running(Some(8))
                .timeout(Some(Duration::from_secs(60)))
                .paused(true),
        )
        .await
        .unwrap();
    let want = QueueConfig {
        lease: Duration::from_secs(9),
        max_cancels: 4,
        paused: true,
        rate: Some(Rate::new(100, Duration::from_secs(60))),
        max_running: Some(8),
        timeout: Some(Duration::from_secs(60)),
        ..QueueConfig::default()
    };
    assert_eq!(set, want);
    assert_eq!(q.config().await.unwrap(), want);
    // The mark that tells a claim to read the settings at all.
    let mut raw = env.raw().await;
    let marked: u64 = cmd(&mut raw, &["EXISTS", "job.flow:flow-config"]).await;
    assert_eq!(marked, 1);

    // One bad value refuses the whole change, naming it.
    for change in [
        ConfigChange::new()
            .lease(Duration::from_secs(1))
            .max_running(Some(0)),
        ConfigChange::new()
            .paused(false)
            .rate(Some(Rate::new(0, Duration::from_secs(1)))),
        ConfigChange::new()
            .max_cancels(1)
            .timeout(Some(Duration::from_secs(30 * 24 * 3600))),
    ] {
        let err = q.configure(change).await.unwrap_err();
        assert!(
            matches!(
                err,
                Error::OutOfRange {
                    op: "configure",
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(q.config().await.unwrap(), want, "nothing changed: {err}");
    }

    let cleared = q
        .configure(
            ConfigChange::new()
                .rate(None)
                .max_running(None)
                .timeout(None)
                .paused(false),
        )
        .await
        .unwrap();
    assert_eq!(
        cleared,
        QueueConfig {
            lease: Duration::from_secs(9),
            max_cancels: 4,
            ..QueueConfig::default()
        }
    );
    let marked: u64 = cmd(&mut raw, &["EXISTS", "job.flow:flow-config"]).await;
    assert_eq!(marked, 0, "no flow setting left: no mark");
}

/// The script refuses what the library never sends, as it does any other
/// bad argument: nothing written.
#[tokio::test]
async fn configure_lua_refuses_bad_settings_with_nothing_written() {
    let env = Env::start().await;
    let q = env.queue("flow-lua");
    q.configure(ConfigChange::new().max_running(Some(2)))
        .await
        .unwrap();
    let (library, functions) = thoonk::testing::scripts();
    let function = functions
        .iter()
        .find(|(file, _)| *file == "configure.lua")
        .unwrap()
        .1;
    let mut raw = env.raw().await;
    let _: () = cmd(&mut raw, &["FUNCTION", "LOAD", "REPLACE", library]).await;
    let before = env.snapshot();
    for pair in [
        ["max_running", "0"],
        ["max_running", "-1"],
        ["rate", "5"],
        ["rate", "0/1000"],
        ["rate", "5/0"],
        ["rate", "1000001/1000"],
        ["paused", "yes"],
        ["lease_ms", "0"],
        ["timeout_ms", "1.5"],
        ["colour", "blue"],
    ] {
        let mut call = vec![
            "FCALL",
            function,
            "3",
            "job.config:flow-lua",
            "job.flow:flow-lua",
            "job.request:flow-lua\0",
        ];
        let (config, pause, resume) = (
            "event.job.config:flow-lua",
            "event.job.pause:flow-lua",
            "event.job.resume:flow-lua",
        );
        call.extend([config, pause, resume, "max_running", "7"]);
        call.extend(pair);
        call.push("");
        let reply: redis::RedisResult<String> = redis::cmd(call[0])
            .arg(&call[1..])
            .query_async(&mut raw)
            .await;
        let err = reply.expect_err(&format!("{pair:?} was taken"));
        assert!(
            err.to_string().contains("nothing written"),
            "{pair:?}: {err}"
        );
        assert_eq!(env.snapshot(), before, "{pair:?} wrote");
    }
    assert_eq!(q.config().await.unwrap().max_running, Some(2));
}
