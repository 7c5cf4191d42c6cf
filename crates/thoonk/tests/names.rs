//! Bad queue names and job ids are refused up front, with a short message, and nothing reaches Redis.

mod common;

use common::*;
use std::time::Duration;
use thoonk::{Error, JobRef, Publish, Queue, MAX_ID_LEN, MAX_NAME_LEN};

/// Empty, with a NUL byte, and a megabyte long.
fn bad_strings() -> Vec<String> {
    vec![String::new(), "a\0b".to_string(), "x".repeat(1 << 20)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_queue_names_are_refused() {
    let env = Env::start().await;
    for name in bad_strings() {
        let err = env.thoonk.queue(&name).unwrap_err();
        let Error::InvalidName { name: got, .. } = &err else {
            panic!("expected InvalidName, got {err:?}")
        };
        assert_eq!(got, &name);
        assert_message_names(&err, &["invalid queue name"]);
    }
    assert!(env
        .thoonk
        .queue(&format!("{}n", "n".repeat(MAX_NAME_LEN)))
        .is_err());
    let mut raw = env.raw().await;
    assert_eq!(dbsize(&mut raw).await, 0, "nothing written");

    // The longest name allowed works.
    let longest = "n".repeat(MAX_NAME_LEN);
    let q = env.thoonk.queue(&longest).unwrap();
    let id = q.publish("x", Publish::new()).await.unwrap();
    assert_eq!(q.claim(1).await.unwrap()[0].id, id);
    env.check_invariants(&longest);
}

/// Every call that takes an id, with `id`; each must fail before Redis.
async fn every_call_with(q: &Queue, id: &str) -> Vec<(&'static str, Error)> {
    let short = Duration::from_millis(10);
    vec![
        (
            "publish",
            q.publish("x", Publish::new().id(id)).await.unwrap_err(),
        ),
        (
            "publish_many",
            q.publish_many([
                ("x", Publish::new().id("fine")),
                ("y", Publish::new().id(id)),
            ])
            .await
            .unwrap_err(),
        ),
        (
            "publish_and_wait",
            q.publish_and_wait("x", Publish::new().id(id), short)
                .await
                .unwrap_err(),
        ),
        ("finish", q.finish(id).await.unwrap_err()),
        (
            "finish_with",
            q.finish_with(JobRef::fenced(id, "1"), "r")
                .await
                .unwrap_err(),
        ),
        ("cancel", q.cancel(id).await.unwrap_err()),
        ("stall", q.stall(JobRef::fenced(id, "1")).await.unwrap_err()),
        ("retry", q.retry(id).await.unwrap_err()),
        ("retract", q.retract(id).await.unwrap_err()),
        ("cancel_count", q.cancel_count(id).await.unwrap_err()),
        ("kept_result", q.kept_result(id).await.unwrap_err()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_job_ids_are_refused_by_every_call() {
    let env = Env::start().await;
    let mut raw = env.raw().await;
    let mut monitor = Monitor::start(&env).await;
    let q = env.queue("ids");
    for id in bad_strings() {
        for (call, err) in every_call_with(&q, &id).await {
            let Error::InvalidId { queue, id: got, .. } = &err else {
                panic!("{call}: expected InvalidId, got {err:?}")
            };
            assert_eq!((queue.as_str(), got.len()), ("ids", id.len()), "{call}");
            assert_eq!(got, &id, "{call}");
            assert_message_names(&err, &["invalid job id", "ids"]);
        }
    }
    // Refused up front: not one command was sent, and nothing written.
    let sent = monitor.take(&mut raw).await;
    assert!(
        sent.is_empty(),
        "commands reached Redis: {:?}",
        sent.iter().map(Seen::name).collect::<Vec<_>>()
    );
    assert_eq!(dbsize(&mut raw).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_longest_id_allowed_works() {
    let env = Env::start().await;
    let q = env.queue("long-ids");
    let longest = "i".repeat(MAX_ID_LEN);
    q.publish("x", Publish::new().id(&longest)).await.unwrap();
    let job = q.claim(1).await.unwrap().pop().unwrap();
    assert_eq!(job.id, longest);
    q.finish_with(&job, "ok").await.unwrap();
    let err = q
        .publish("x", Publish::new().id(format!("{longest}i")))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidId { .. }), "{err:?}");
}
