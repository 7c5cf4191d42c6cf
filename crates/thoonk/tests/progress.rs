//! Progress: reported by a claimed job, fenced by its claim, kept while the
//! claim lasts (shown by listings and the job's record), sent as an event,
//! and gone with every end of the claim.

mod common;

use common::*;
use serde_json::json;
use std::time::Duration;
use thoonk::{Error, EventKind, JobRef, Publish, Queue, State};

/// How many jobs of queue `name` have a progress kept.
async fn kept(env: &Env, name: &str) -> u64 {
    let mut raw = env.raw().await;
    cmd(&mut raw, &["HLEN", &format!("job.progress:{name}")]).await
}

async fn claim_one(q: &Queue, id: &str) -> thoonk::Job {
    q.publish("x", Publish::new().id(id)).await.unwrap();
    q.claim(1).await.unwrap().pop().expect("a job to claim")
}

#[tokio::test]
async fn progress_is_kept_while_claimed_shown_and_sent_as_an_event() {
    let env = Env::start().await;
    let q = env.queue("progress");
    let job = claim_one(&q, "p1").await;
    let mut events = q.subscribe_to(&[EventKind::Progress]).await.unwrap();

    q.progress(&job, json!({"done": 3, "of": 10}))
        .await
        .unwrap();
    let event = next_event(&mut events).await;
    assert_eq!((event.kind, event.id.as_str()), (EventKind::Progress, "p1"));
    assert_eq!(event.result.as_deref(), Some(&br#"{"done":3,"of":10}"#[..]));

    // A later report replaces the earlier one.
    q.progress(&job, json!(50)).await.unwrap();
    let listed = q.list(State::Claimed, 0, 10).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].progress, Some(json!(50)));
    let detail = q.detail("p1").await.unwrap().unwrap();
    assert_eq!(detail.progress, Some(json!(50)));

    q.finish(&job).await.unwrap();
    assert_eq!(kept(&env, "progress").await, 0, "a finish ends the claim");
    env.check_invariants("progress");
}

#[tokio::test]
async fn progress_is_fenced_by_the_claim() {
    let env = Env::start().await;
    let q = env.queue("progress-fenced");
    let first = claim_one(&q, "f").await;
    q.cancel(&first).await.unwrap();
    let second = q.claim(1).await.unwrap().pop().unwrap();

    let stale = q.progress(&first, json!(1)).await.unwrap_err();
    assert!(matches!(stale, Error::StaleClaim { .. }), "{stale}");
    assert_message_names(&stale, &["progress", "progress-fenced", "f"]);
    q.progress(&second, json!(2)).await.unwrap();
    // Without a token (a v1 client's way) the job need only be claimed.
    q.progress(JobRef::from("f"), json!(3)).await.unwrap();
    assert_eq!(
        q.detail("f").await.unwrap().unwrap().progress,
        Some(json!(3))
    );

    q.publish("y", Publish::new().id("waiting")).await.unwrap();
    let not_claimed = q.progress("waiting", json!(4)).await.unwrap_err();
    assert!(
        matches!(
            not_claimed,
            Error::WrongState {
                actual: State::Available,
                ..
            }
        ),
        "{not_claimed}"
    );
    let missing = q.progress("nobody", json!(4)).await.unwrap_err();
    assert!(matches!(missing, Error::NotFound { .. }), "{missing}");
    assert_eq!(kept(&env, "progress-fenced").await, 1);
}

#[tokio::test]
async fn every_end_of_a_claim_drops_its_progress() {
    let env = Env::start_clocked().await;
    let q = env.queue("progress-ends");

    let job = claim_one(&q, "cancelled").await;
    q.progress(&job, json!(1)).await.unwrap();
    q.cancel(&job).await.unwrap();
    assert_eq!(kept(&env, "progress-ends").await, 0, "cancel");
    q.retract("cancelled").await.unwrap();

    let job = claim_one(&q, "stalled").await;
    q.progress(&job, json!(1)).await.unwrap();
    q.stall(&job).await.unwrap();
    assert_eq!(kept(&env, "progress-ends").await, 0, "stall");

    let job = claim_one(&q, "retracted").await;
    q.progress(&job, json!(1)).await.unwrap();
    q.retract("retracted").await.unwrap();
    assert_eq!(kept(&env, "progress-ends").await, 0, "retract");

    let job = claim_one(&q, "released").await;
    q.progress(&job, json!(1)).await.unwrap();
    assert_eq!(q.release(&[(&job).into()]).await.unwrap(), 1);
    assert_eq!(kept(&env, "progress-ends").await, 0, "release");

    // Recovery, once the lease runs out.
    let job = q.claim(1).await.unwrap().pop().unwrap();
    assert_eq!(job.id, "released");
    q.progress(&job, json!(1)).await.unwrap();
    env.advance(thoonk::DEFAULT_LEASE + Duration::from_secs(1));
    assert_eq!(q.recover().await.unwrap().requeued, 1);
    assert_eq!(kept(&env, "progress-ends").await, 0, "recovery");
    env.check_invariants("progress-ends");
}

#[tokio::test]
async fn progress_of_a_claim_a_v1_client_ended_is_swept_by_recovery() {
    let env = Env::start().await;
    let q = env.queue("progress-v1");
    let job = claim_one(&q, "v1").await;
    q.progress(&job, json!(1)).await.unwrap();
    // A v1 worker's finish knows nothing of progress: it removes the job.
    let mut raw = env.raw().await;
    let _: u64 = cmd(&mut raw, &["ZREM", "job.claimed:progress-v1", "v1"]).await;
    let _: u64 = cmd(&mut raw, &["HDEL", "job.items:progress-v1", "v1"]).await;
    q.recover().await.unwrap();
    assert_eq!(kept(&env, "progress-v1").await, 0);
}

#[tokio::test]
async fn progress_is_bounded() {
    let env = Env::start().await;
    let q = env.queue("progress-big");
    let job = claim_one(&q, "big").await;
    let big = "x".repeat(thoonk::MAX_PROGRESS_BYTES);
    let refused = q.progress(&job, big).await.unwrap_err();
    assert!(matches!(refused, Error::OutOfRange { .. }), "{refused}");
    assert_message_names(&refused, &["progress", "progress-big"]);
    assert_eq!(kept(&env, "progress-big").await, 0);
}
