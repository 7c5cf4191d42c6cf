//! Typed jobs: serde types in and out as JSON, and a payload that does not decode stays claimed.

mod common;

use common::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Duration;
use thoonk::{Error, JobRef, Publish, State};
use thoonk_testkit::poll::{eventually, within, DEADLINE};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Mail {
    to: String,
    subject: String,
    attempts: u32,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_round_trip() {
    let env = Env::start().await;
    let q = env.queue("typed");
    let mail = Mail {
        to: "ann@example.com".into(),
        subject: "héllo \"there\"".into(),
        attempts: 3,
    };
    let id = q.publish_json(&mail, Publish::new()).await.unwrap();

    // Stored as JSON text, as v1 stores JSON.stringify(item).
    let mut raw = env.raw().await;
    let stored: String = cmd(&mut raw, &["HGET", "job.items:typed", &id]).await;
    assert_eq!(serde_json::from_str::<Mail>(&stored).unwrap(), mail);

    let job = q
        .get_json::<Mail>(Duration::from_secs(5))
        .await
        .unwrap()
        .expect("a job");
    assert_eq!(
        (job.id.as_str(), &job.item, job.retries),
        (id.as_str(), &mail, 0)
    );
    q.finish(&job).await.unwrap();
    assert!(q
        .get_json::<Mail>(Duration::from_millis(50))
        .await
        .unwrap()
        .is_none());
    env.check_invariants("typed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_that_does_not_decode_stays_claimed() {
    let env = Env::start().await;
    let q = env.queue("typed-bad");
    let id = q
        .publish("not json at all", Publish::new().id("bad-1"))
        .await
        .unwrap();

    let err = q
        .get_json::<Mail>(Duration::from_secs(5))
        .await
        .unwrap_err();
    let Error::Decode {
        queue,
        id: got,
        token,
        type_name,
        ..
    } = &err
    else {
        panic!("expected Decode, got {err:?}")
    };
    assert_eq!((queue.as_str(), got.as_str()), ("typed-bad", id.as_str()));
    assert!(type_name.ends_with("Mail"), "{type_name}");
    assert_message_names(&err, &["typed-bad", "bad-1", "Mail"]);

    // Not dropped: claimed by us, and the token is the claim's.
    let stats = q.stats().await.unwrap();
    assert_eq!((stats.available, stats.claimed, stats.stalled), (0, 1, 0));
    assert_eq!(q.list(State::Claimed, 0, 1).await.unwrap()[0].id, "bad-1");
    q.stall(JobRef::fenced(got, token)).await.unwrap();
    let stats = q.stats().await.unwrap();
    assert_eq!((stats.claimed, stats.stalled), (0, 1));
    env.check_invariants("typed-bad");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_that_cannot_be_json_is_refused_before_redis() {
    let env = Env::start().await;
    let q = env.queue("typed-enc");
    // JSON object keys must be strings.
    let value: HashMap<(u8, u8), u8> = HashMap::from([((1, 2), 3)]);
    let err = q.publish_json(&value, Publish::new()).await.unwrap_err();
    assert!(
        matches!(&err, Error::Encode { queue, .. } if queue == "typed-enc"),
        "{err:?}"
    );
    assert_message_names(&err, &["typed-enc"]);
    assert_eq!(dbsize(&mut env.raw().await).await, 0);
}

/// A typed worker: good payloads reach the handler decoded; one that does
/// not decode is stalled with the decoder's complaint, never handed to the
/// handler, never lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typed_worker_stalls_a_payload_that_does_not_decode() {
    let env = Env::start().await;
    let q = env.queue("typed-worker");
    let good = Mail {
        to: "bob@example.com".into(),
        subject: "hi".into(),
        attempts: 1,
    };
    q.publish_json(&good, Publish::new().id("good"))
        .await
        .unwrap();
    q.publish("{not json", Publish::new().id("bad"))
        .await
        .unwrap();

    let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(thoonk::Worker::new(q.clone()).run_json(
        move |job: thoonk::Job<Mail>| {
            let seen_tx = seen_tx.clone();
            async move {
                seen_tx.send((job.id, job.item)).unwrap();
                Ok::<_, thoonk::Failure>("sent")
            }
        },
        async {
            let _ = stopped.await;
        },
    ));
    let (id, mail) = within("the good job", seen.recv()).await.unwrap();
    assert_eq!((id.as_str(), &mail), ("good", &good));
    eventually("the bad job is stalled", || {
        let q = q.clone();
        async move { q.stats().await.unwrap().stalled == 1 }
    })
    .await;
    stop.send(()).unwrap();
    let report = within("the worker stops", worker).await.unwrap().unwrap();
    assert_eq!((report.finished, report.stalled), (1, 1), "{report:?}");
    assert!(
        seen.try_recv().is_err(),
        "the handler never saw the bad job"
    );
    let stalled = q.list(State::Stalled, 0, 10).await.unwrap();
    assert_eq!(stalled[0].id, "bad");
    let reason = stalled[0].reason.as_deref().unwrap_or_default();
    assert!(
        reason.contains("does not decode as") && reason.contains("Mail"),
        "{reason}"
    );
    env.check_invariants("typed-worker");
}

/// `publish_json_and_wait`: a value in, the typed worker's value back, both
/// as JSON; a job finished without a result decodes as `null`, and a result
/// of another shape is an error that names the job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_json_and_wait_gets_the_typed_result() {
    #[derive(Debug, PartialEq, Deserialize)]
    struct Sum {
        total: u64,
    }
    let env = Env::start().await;
    let q = env.queue("sums");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(thoonk::Worker::new(q.clone()).run_json(
        |job: thoonk::Job<Vec<u64>>| async move {
            Ok::<_, thoonk::Failure>(match job.item.as_slice() {
                [] => serde_json::json!("nothing to add"),
                numbers => serde_json::json!({ "total": numbers.iter().sum::<u64>() }),
            })
        },
        async {
            let _ = stopped.await;
        },
    ));
    let sum: Sum = within(
        "the sum",
        q.publish_json_and_wait(&vec![1u64, 2, 3], Publish::new(), DEADLINE),
    )
    .await
    .unwrap();
    assert_eq!(sum, Sum { total: 6 });

    let err = within(
        "the refusal",
        q.publish_json_and_wait::<_, Sum>(&Vec::<u64>::new(), Publish::new().id("empty"), DEADLINE),
    )
    .await
    .unwrap_err();
    let Error::DecodeResult { queue, id, .. } = &err else {
        panic!("expected DecodeResult, got {err:?}")
    };
    assert_eq!((queue.as_str(), id.as_str()), ("sums", "empty"));
    assert_message_names(&err, &["sums", "empty", "result", "Sum"]);
    let _ = stop.send(());
    within("the worker", worker).await.unwrap().unwrap();

    // Finished by hand without a result: `null`, which `()` and `Option` take.
    let waiter = {
        let q = q.clone();
        tokio::spawn(async move {
            q.publish_json_and_wait::<_, Option<Sum>>(&1, Publish::new().id("bare"), DEADLINE)
                .await
        })
    };
    let job = within("the job", q.get(Duration::ZERO))
        .await
        .unwrap()
        .unwrap();
    q.finish(&job).await.unwrap();
    assert_eq!(within("the waiter", waiter).await.unwrap().unwrap(), None);
    env.check_invariants("sums");
}
