//! Events: every state change is seen by subscribers, and the finish payload is exactly v1's.

mod common;

use common::*;
use futures_util::StreamExt;
use std::time::Duration;
use thoonk::{Event, EventKind, Publish};
use thoonk_testkit::poll::within;

fn event(kind: EventKind, id: &str, result: Option<&str>) -> Event {
    Event {
        kind,
        id: id.to_string(),
        result: result.map(|r| r.as_bytes().to_vec()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_sees_every_verb() {
    use EventKind as E;
    let env = Env::start().await;
    let q = env.queue("events");
    let mut events = q.subscribe().await.unwrap();

    q.publish("x", Publish::new().id("j1")).await.unwrap();
    assert_eq!(next_event(&mut events).await, event(E::Publish, "j1", None));
    let job = q.claim(1).await.unwrap().pop().unwrap();
    assert_eq!(next_event(&mut events).await, event(E::Claim, "j1", None));
    q.cancel(&job).await.unwrap();
    assert_eq!(next_event(&mut events).await, event(E::Cancel, "j1", None));
    let job = q.claim(1).await.unwrap().pop().unwrap();
    assert_eq!(next_event(&mut events).await, event(E::Claim, "j1", None));
    q.stall(&job).await.unwrap();
    assert_eq!(next_event(&mut events).await, event(E::Stall, "j1", None));
    q.retry("j1").await.unwrap();
    assert_eq!(next_event(&mut events).await, event(E::Retry, "j1", None));
    let job = q.claim(1).await.unwrap().pop().unwrap();
    assert_eq!(next_event(&mut events).await, event(E::Claim, "j1", None));
    q.finish_with(&job, "the result").await.unwrap();
    assert_eq!(
        next_event(&mut events).await,
        event(E::Finish, "j1", Some("the result"))
    );

    q.publish("y", Publish::new().id("j2")).await.unwrap();
    assert_eq!(next_event(&mut events).await, event(E::Publish, "j2", None));
    let job = q.claim(1).await.unwrap().pop().unwrap();
    assert_eq!(next_event(&mut events).await, event(E::Claim, "j2", None));
    q.finish(&job).await.unwrap();
    assert_eq!(next_event(&mut events).await, event(E::Finish, "j2", None));

    q.publish("z", Publish::new().id("j3")).await.unwrap();
    assert_eq!(next_event(&mut events).await, event(E::Publish, "j3", None));
    q.retract("j3").await.unwrap();
    assert_eq!(next_event(&mut events).await, event(E::Retract, "j3", None));

    // A refused call sends nothing: the next event is the one after it.
    q.retract("j3").await.unwrap_err();
    q.publish("w", Publish::new().id("j4")).await.unwrap();
    assert_eq!(next_event(&mut events).await, event(E::Publish, "j4", None));
    env.check_invariants("events");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_see_only_their_queue_and_all_see_it() {
    let env = Env::start().await;
    let mine = env.queue("mine");
    let other = env.queue("mine-too"); // a name that starts with the same letters
    let mut first = mine.subscribe().await.unwrap();
    let mut second = mine.subscribe().await.unwrap();
    let mut theirs = other.subscribe().await.unwrap();

    other
        .publish("x", Publish::new().id("theirs"))
        .await
        .unwrap();
    mine.publish("x", Publish::new().id("ours")).await.unwrap();
    let expected = event(EventKind::Publish, "ours", None);
    assert_eq!(next_event(&mut first).await, expected);
    assert_eq!(next_event(&mut second).await, expected);
    assert_eq!(next_event(&mut theirs).await.id, "theirs");
}

/// A subscription to some kinds of events hears of no others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_to_some_kinds_sees_only_those() {
    let env = Env::start().await;
    let q = env.queue("some");
    let mut finishes = q.subscribe_to(&[EventKind::Finish]).await.unwrap();
    q.publish("x", Publish::new().id("a")).await.unwrap();
    q.publish("y", Publish::new().id("b")).await.unwrap();
    let jobs = q.claim(2).await.unwrap();
    q.stall(&jobs[1]).await.unwrap();
    q.retract("b").await.unwrap();
    q.finish_with(&jobs[0], "done").await.unwrap();
    // Publish, claim, stall and retract came first; only the finish shows.
    assert_eq!(
        next_event(&mut finishes).await,
        event(EventKind::Finish, "a", Some("done"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_raw_finish_payload_is_v1() {
    let env = Env::start().await;
    let q = env.queue("raw");
    let mut pubsub = env.redis_client().get_async_pubsub().await.unwrap();
    // Returns once Redis confirmed the subscription.
    pubsub.subscribe("event.job.finish:raw").await.unwrap();
    let mut messages = pubsub.on_message();

    q.publish_many([
        ("a", Publish::new().id("with")),
        ("b", Publish::new().id("without")),
    ])
    .await
    .unwrap();
    let jobs = q.claim(2).await.unwrap();
    q.finish_with(&jobs[0], "ok").await.unwrap();
    q.finish(&jobs[1]).await.unwrap();
    // A result may itself hold NUL bytes: only the first one ends the id.
    q.publish("c", Publish::new().id("nul")).await.unwrap();
    let job = q.claim(1).await.unwrap().pop().unwrap();
    q.finish_with(&job, b"a\0b").await.unwrap();

    let mut payloads = Vec::new();
    for _ in 0..3 {
        let msg = within("a finish message", messages.next()).await.unwrap();
        assert_eq!(msg.get_channel_name(), "event.job.finish:raw");
        payloads.push(msg.get_payload_bytes().to_vec());
    }
    assert_eq!(payloads, [&b"with\0ok"[..], b"without", b"nul\0a\0b"]);

    // And our subscription decodes such a payload from a v1 finisher.
    let mut events = q.subscribe().await.unwrap();
    let mut raw = env.raw().await;
    let _: u64 = cmd(
        &mut raw,
        &["PUBLISH", "event.job.finish:raw", "v1job\0v1 result"],
    )
    .await;
    assert_eq!(
        next_event(&mut events).await,
        event(EventKind::Finish, "v1job", Some("v1 result"))
    );
}

/// A subscription Redis refuses (an ACL without the channel) fails at once
/// for that listener alone: the event connection goes on for the others.
#[tokio::test]
async fn a_refused_subscription_fails_alone() {
    let env = Env::start().await;
    env.redis
        .add_user("app", "pw", &["~job.*", "&event.job.*:allowed", "+@all"])
        .unwrap();
    let thoonk = thoonk::Thoonk::connect(&env.redis.url_as("app", "pw"))
        .await
        .unwrap();
    let refused = within(
        "a refused listen",
        thoonk.listen(vec!["event.job.publish:other".into()]),
    )
    .await;
    let err = refused.unwrap_err().to_string();
    assert!(
        err.contains("NOPERM") || err.contains("permission"),
        "{err}"
    );
    let mut allowed = within(
        "an allowed listen",
        thoonk.listen(vec!["event.job.publish:allowed".into()]),
    )
    .await
    .unwrap();
    env.queue("allowed")
        .publish("x", Publish::new().id("x"))
        .await
        .unwrap();
    let notice = within("the allowed event", allowed.recv()).await.unwrap();
    assert!(matches!(notice, thoonk::Notice::Message { payload, .. } if payload == b"x"));
}

/// With Redis down when the first listener comes, listening fails with the
/// connection's error instead of waiting for Redis to come back.
#[tokio::test]
async fn listening_while_redis_is_down_fails_at_once() {
    let mut env = Env::start().await;
    let thoonk = env.client().await;
    env.redis.stop();
    let err = within(
        "a listen with Redis down",
        thoonk.listen(vec!["event.job.publish:q".into()]),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, thoonk::Error::Redis { .. }), "{err:?}");
    let get = within(
        "a get with Redis down",
        thoonk.queue("q").unwrap().get(Duration::from_millis(200)),
    )
    .await;
    assert!(get.is_err(), "{get:?}");
}
