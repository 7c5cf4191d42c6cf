//! The finished jobs a queue keeps (issue 15): off by default, kept with
//! their result (cut at its bound), duration, worker and cancel count,
//! trimmed by finish at N and at T a bounded number per call, recorded once
//! however often a finish is sent, and gone with the settings or the queue.

mod common;

use common::*;
use std::time::Duration;
use thoonk::{
    ConfigChange, Error, Failure, FinishedJob, Job, JobRef, Publish, Queue, Worker,
    KEPT_RESULT_BYTES,
};
use thoonk_testkit::poll::eventually;
use thoonk_testkit::Resp;

/// How many records a finish may drop beyond one per job it adds
/// (`TRIM_SLACK` in `_history.lua`, which the README states).
const TRIM_SLACK: u64 = 100;

/// Publishes `ids`, claims them and finishes them one call each, with
/// their id as the result.
async fn finish_each(q: &Queue, ids: &[&str]) {
    for id in ids {
        q.publish("x", Publish::new().id(*id)).await.unwrap();
        let job = q.claim(1).await.unwrap().remove(0);
        q.finish_with(&job, format!("result of {id}"))
            .await
            .unwrap();
    }
}

/// Publishes `n` jobs and finishes them all in one call.
async fn finish_batch(q: &Queue, prefix: &str, n: usize) {
    let jobs: Vec<_> = (0..n).map(|i| format!("{prefix}{i}")).collect();
    q.publish_many(jobs.iter().map(|id| ("x", Publish::new().id(id))))
        .await
        .unwrap();
    let claimed = q.claim(n).await.unwrap();
    assert_eq!(claimed.len(), n);
    let refs: Vec<(JobRef<'_>, Option<&[u8]>)> =
        claimed.iter().map(|j| (JobRef::from(j), None)).collect();
    for outcome in q.finish_many(&refs).await.unwrap() {
        outcome.unwrap();
    }
}

fn ids(jobs: &[FinishedJob]) -> Vec<&str> {
    jobs.iter().map(|j| j.id.as_str()).collect()
}

/// How many records the queue keeps: its index and its records, which
/// must agree.
async fn kept(env: &Env, name: &str) -> u64 {
    let mut raw = env.raw().await;
    let index: u64 = cmd(&mut raw, &["ZCARD", &format!("job.finished:{name}")]).await;
    let records: u64 = cmd(&mut raw, &["HLEN", &format!("job.history:{name}")]).await;
    assert_eq!(index, records, "the index and the records agree");
    index
}

async fn history_keys(env: &Env, name: &str) -> u64 {
    let keys = ["keep", "finished", "history"].map(|noun| format!("job.{noun}:{name}"));
    let mut args = vec!["EXISTS"];
    args.extend(keys.iter().map(String::as_str));
    cmd(&mut env.raw().await, &args).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_by_default_a_finish_leaves_nothing_behind() {
    let env = Env::start().await;
    let q = env.queue("off");
    let config = q.config().await.unwrap();
    assert_eq!(
        (config.keep_finished, config.keep_finished_for),
        (None, None)
    );
    finish_each(&q, &["a", "b"]).await;
    finish_batch(&q, "many-", 5).await;
    assert_eq!(history_keys(&env, "off").await, 0);
    assert!(q.finished(0, 10).await.unwrap().is_empty());
    assert_eq!(q.finished_job("a").await.unwrap(), None);
    let counts = env.check_invariants("off");
    assert_eq!((counts.finishes, counts.items), (7, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_carries_result_worker_cancels_and_duration() {
    // (Clocked: the test moves the server's clock between finishes, so
    // that no two share a millisecond and the order is theirs.)
    let env = Env::start_clocked().await;
    let q = env.queue("rec");
    let set = q
        .configure(ConfigChange::new().keep_finished(Some(10)))
        .await
        .unwrap();
    assert_eq!(set.keep_finished, Some(10));
    // Cancelled twice before a worker finishes it.
    q.publish("x", Publish::new().id("slow")).await.unwrap();
    for _ in 0..2 {
        let job = q.claim(1).await.unwrap().remove(0);
        q.cancel(&job).await.unwrap();
    }
    let worker = common::start(Worker::new(q.clone()), |_job: Job| async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        Ok::<_, Failure>("done".to_string())
    });
    eventually("the worker's finish is kept", || async {
        q.finished_job("slow").await.unwrap().is_some()
    })
    .await;
    let worker_id = worker.id.clone();
    worker.stop().await;
    let record = q.finished_job("slow").await.unwrap().unwrap();
    assert_eq!(record.worker.as_deref(), Some(worker_id.as_str()));
    assert_eq!(record.cancelled, 2);
    assert_eq!(record.result.as_deref(), Some(&b"done"[..]));
    assert!(!record.result_cut);
    assert!(record.duration_ms >= 200, "{} ms", record.duration_ms);
    let now = env.server_ms().await;
    assert!(record.finished_ms <= now && record.finished_ms + 60_000 > now);

    // A result past the bound is cut there, and says so; none is none.
    let long = vec![b'r'; KEPT_RESULT_BYTES + 500];
    env.advance(Duration::from_millis(5));
    q.publish("x", Publish::new().id("long")).await.unwrap();
    let job = q.claim(1).await.unwrap().remove(0);
    q.finish_with(&job, &long).await.unwrap();
    env.advance(Duration::from_millis(5));
    q.publish("x", Publish::new().id("bare")).await.unwrap();
    let job = q.claim(1).await.unwrap().remove(0);
    q.finish(&job).await.unwrap();
    let listed = q.finished(0, 10).await.unwrap();
    assert_eq!(ids(&listed), ["bare", "long", "slow"], "newest first");
    let (bare, cut) = (&listed[0], &listed[1]);
    assert_eq!((bare.result.as_ref(), bare.result_cut), (None, false));
    assert_eq!(bare.worker, None, "claimed outside a worker");
    assert_eq!(cut.result.as_deref(), Some(&long[..KEPT_RESULT_BYTES]));
    assert!(cut.result_cut);
    env.check_invariants("rec");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_keeps_the_last_n() {
    let env = Env::start().await;
    let q = env.queue("last-n");
    q.configure(ConfigChange::new().keep_finished(Some(3)))
        .await
        .unwrap();
    finish_each(&q, &["j1", "j2", "j3", "j4", "j5"]).await;
    let listed = q.finished(0, 10).await.unwrap();
    assert_eq!(ids(&listed), ["j5", "j4", "j3"]);
    assert_eq!(listed[0].result.as_deref(), Some(&b"result of j5"[..]));
    assert_eq!(kept(&env, "last-n").await, 3);
    // A batch larger than N keeps its newest N.
    finish_batch(&q, "b", 8).await;
    assert_eq!(kept(&env, "last-n").await, 3);
    // Paged: a page, then where the next starts.
    let page = q.finished_page(None, 2).await.unwrap();
    assert_eq!(page.jobs.len(), 2);
    let rest = q.finished_page(page.next.as_ref(), 2).await.unwrap();
    assert_eq!((rest.jobs.len(), rest.next), (1, None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_keeps_those_of_the_last_t() {
    let env = Env::start_clocked().await;
    let q = env.queue("last-t");
    q.configure(ConfigChange::new().keep_finished_for(Some(Duration::from_secs(60))))
        .await
        .unwrap();
    finish_each(&q, &["old1", "old2"]).await;
    env.advance(Duration::from_secs(30));
    finish_each(&q, &["mid"]).await;
    assert_eq!(kept(&env, "last-t").await, 3, "all within 60 s");
    env.advance(Duration::from_secs(31));
    finish_each(&q, &["new"]).await;
    let listed = q.finished(0, 10).await.unwrap();
    assert_eq!(ids(&listed), ["new", "mid"], "61 s on, the first two went");
    // With no finish to trim them, records past T are kept but not shown.
    env.advance(Duration::from_secs(31));
    assert_eq!(ids(&q.finished(0, 10).await.unwrap()), ["new"]);
    assert!(q.finished_job("mid").await.unwrap().is_none());
    assert_eq!(kept(&env, "last-t").await, 2, "no finish has trimmed it");
    // With both bounds, a job goes once either says so.
    q.configure(ConfigChange::new().keep_finished(Some(1)))
        .await
        .unwrap();
    finish_each(&q, &["last"]).await;
    assert_eq!(ids(&q.finished(0, 10).await.unwrap()), ["last"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finish_sent_twice_is_recorded_once() {
    let env = Env::start().await;
    let q = env.queue("twice");
    q.configure(ConfigChange::new().keep_finished(Some(10)))
        .await
        .unwrap();
    q.publish("x", Publish::new().id("j")).await.unwrap();
    let job = q.claim(1).await.unwrap().remove(0);
    let (library, functions) = thoonk::testing::scripts();
    let finish = functions
        .iter()
        .find(|(file, _)| *file == "finish.lua")
        .unwrap()
        .1;
    let _ = env.redis.command(&["FUNCTION", "LOAD", "REPLACE", library]);
    let keys = [
        "claimed",
        "items",
        "stalled",
        "delayed",
        "tokens",
        "cancelled",
        "published",
        "finishes",
        "awaited",
        "reasons",
        "config",
        "keep",
        "finished",
        "history",
        "progress",
    ]
    .map(|noun| format!("job.{noun}:twice"));
    let mut call = vec![finish.to_string(), (keys.len() + 2).to_string()];
    call.extend(keys);
    call.push("job.result:twice\0j".into());
    call.push("job.request:twice\0again".into());
    call.extend(
        [
            "event.job.finish:twice",
            "j",
            &job.token,
            "1",
            "once",
            "120",
            "again",
        ]
        .map(String::from),
    );
    let mut command = vec!["FCALL"];
    command.extend(call.iter().map(String::as_str));
    let first = env.redis.command(&command).unwrap();
    let once = env.snapshot();
    let again = env.redis.command(&command).unwrap();
    assert_eq!(again, first);
    assert_eq!(
        first,
        Resp::Array(Some(vec![Resp::Bulk(Some(b"ok".to_vec()))]))
    );
    assert!(env.snapshot() == once, "the second run wrote nothing");
    let record = q.finished_job("j").await.unwrap().unwrap();
    assert_eq!(
        (record.duration_ms, record.result.as_deref()),
        (120, Some(&b"once"[..]))
    );
    assert_eq!(kept(&env, "twice").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_finished_again_replaces_its_record() {
    let env = Env::start_clocked().await;
    let q = env.queue("again");
    q.configure(ConfigChange::new().keep_finished(Some(10)))
        .await
        .unwrap();
    finish_each(&q, &["j", "k"]).await;
    // (Not in k's millisecond: finishes of one millisecond come by id.)
    env.advance(Duration::from_millis(5));
    q.publish("x", Publish::new().id("j")).await.unwrap();
    let job = q.claim(1).await.unwrap().remove(0);
    q.finish_with(&job, "second").await.unwrap();
    let listed = q.finished(0, 10).await.unwrap();
    assert_eq!(ids(&listed), ["j", "k"]);
    assert_eq!(listed[0].result.as_deref(), Some(&b"second"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lowering_n_trims_gradually_never_in_one_call() {
    let env = Env::start().await;
    let q = env.queue("lower");
    q.configure(ConfigChange::new().keep_finished(Some(1000)))
        .await
        .unwrap();
    finish_batch(&q, "a", 600).await;
    assert_eq!(kept(&env, "lower").await, 600);
    q.configure(ConfigChange::new().keep_finished(Some(10)))
        .await
        .unwrap();
    assert_eq!(kept(&env, "lower").await, 600, "configure trims nothing");
    // Each finish of one job adds one and drops at most 1 + TRIM_SLACK.
    let mut before: u64 = 600;
    let mut calls = 0;
    while before > 10 {
        finish_each(&q, &[&format!("b{calls}")]).await;
        let after = kept(&env, "lower").await;
        let want = (before + 1).saturating_sub(1 + TRIM_SLACK).max(10);
        assert_eq!(after, want, "after finish {calls}");
        before = after;
        calls += 1;
    }
    assert_eq!(calls, 6);
    assert_eq!(
        q.finished(0, 1).await.unwrap()[0].id,
        "b5",
        "the newest stay"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_history_off_or_destroying_the_queue_deletes_it() {
    let env = Env::start().await;
    let q = env.queue("gone");
    let both = ConfigChange::new()
        .keep_finished(Some(5))
        .keep_finished_for(Some(Duration::from_secs(3600)));
    q.configure(both).await.unwrap();
    finish_each(&q, &["a", "b"]).await;
    assert_eq!(history_keys(&env, "gone").await, 3);
    // One bound removed: the other keeps the history.
    q.configure(ConfigChange::new().keep_finished(None))
        .await
        .unwrap();
    assert_eq!(kept(&env, "gone").await, 2);
    q.configure(ConfigChange::new().keep_finished_for(None))
        .await
        .unwrap();
    assert_eq!(history_keys(&env, "gone").await, 0, "off: nothing kept");
    finish_each(&q, &["c"]).await;
    assert_eq!(history_keys(&env, "gone").await, 0);

    q.configure(ConfigChange::new().keep_finished(Some(5)))
        .await
        .unwrap();
    finish_each(&q, &["d"]).await;
    q.destroy().await.unwrap();
    assert_eq!(
        history_keys(&env, "gone").await,
        0,
        "destroyed with the queue"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_settings_out_of_range_change_nothing() {
    let env = Env::start().await;
    let q = env.queue("bounds");
    for change in [
        ConfigChange::new()
            .max_running(Some(2))
            .keep_finished(Some(0)),
        ConfigChange::new()
            .max_running(Some(2))
            .keep_finished_for(Some(Duration::ZERO)),
        ConfigChange::new()
            .keep_finished(Some(5))
            .keep_finished_for(Some(thoonk::MAX_DELAY * 2)),
    ] {
        let err = q.configure(change).await.unwrap_err();
        assert!(matches!(err, Error::OutOfRange { .. }), "{err:?}");
    }
    assert_eq!(q.config().await.unwrap(), thoonk::QueueConfig::default());
    assert_eq!(history_keys(&env, "bounds").await, 0);
}
