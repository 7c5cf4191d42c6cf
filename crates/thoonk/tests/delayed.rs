//! Delayed jobs: published for later or cancelled with a delay, held in job.delayed until due, then promoted by the next claim; and a waiting get wakes for them.

mod common;

use common::*;
use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};
use thoonk::{Cancel, Error, Event, EventKind, JobRef, Publish, Queue, State};
use thoonk_testkit::poll::within;

const fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

async fn ids_in(q: &Queue, state: State) -> Vec<String> {
    q.list(state, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.id)
        .collect()
}

async fn claimed_ids(q: &Queue, max: usize) -> Vec<String> {
    q.claim(max)
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.id)
        .collect()
}

/// The due time job.delayed holds for `id`.
async fn due_of(env: &Env, name: &str, id: &str) -> Option<u64> {
    cmd(
        &mut env.raw().await,
        &["ZSCORE", &format!("job.delayed:{name}"), id],
    )
    .await
}

/// Asserts that `value` (a time, in Unix ms) lies in `low..=high`.
#[track_caller]
fn assert_between(what: &str, value: Option<u64>, low: u64, high: u64) {
    let v = value.unwrap_or_else(|| panic!("{what}: none"));
    assert!(
        (low..=high).contains(&v),
        "{what}: {v} not in [{low}, {high}]"
    );
}

fn kinds_of(events: &[Event], id: &str) -> Vec<EventKind> {
    events
        .iter()
        .filter(|e| e.id == id)
        .map(|e| e.kind)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_job_is_not_claimable_before_its_due_time() {
    let env = Env::start_clocked().await;
    let q = env.queue("later");
    let before = env.server_ms().await;
    q.publish("x", Publish::new().id("d").delay(secs(10)))
        .await
        .unwrap();
    let after = env.server_ms().await;

    let stats = q.stats().await.unwrap();
    assert_eq!(
        (
            stats.available,
            stats.claimed,
            stats.delayed,
            stats.publishes
        ),
        (0, 0, 1, 1)
    );
    assert_eq!(ids_in(&q, State::Delayed).await, ["d"]);
    assert!(ids_in(&q, State::Available).await.is_empty());
    // Due 10 s after the publish, by the server's clock.
    assert_between(
        "due time",
        due_of(&env, "later", "d").await,
        before + 10_000,
        after + 10_000,
    );
    env.check_invariants("later");

    assert!(q.claim(5).await.unwrap().is_empty());
    // 9 s on (a second short of due: real time flows meanwhile).
    env.advance(secs(9));
    assert!(q.claim(5).await.unwrap().is_empty());
    assert!(q.get(Duration::from_millis(1)).await.unwrap().is_none());
    assert_eq!(q.stats().await.unwrap().delayed, 1, "still delayed");

    // Due (10.001 s on): the next claim promotes it and claims it, in one go.
    env.advance(Duration::from_millis(1_001));
    let job = q.claim(5).await.unwrap().pop().expect("the due job");
    assert_eq!(
        (job.id.as_str(), job.item.as_slice(), job.retries),
        ("d", &b"x"[..], 0)
    );
    let stats = q.stats().await.unwrap();
    assert_eq!((stats.delayed, stats.claimed), (0, 1));
    env.check_invariants("later");
    q.finish(&job).await.unwrap();
    env.check_invariants("later");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_at_a_given_time() {
    let env = Env::start_clocked().await;
    let q = env.queue("at");
    // A minute from now by this machine's clock: the delay from now to
    // then, which the server counts from its own now. (The server's clock
    // is not moved yet: the two read the same clock.)
    let before = env.server_ms().await;
    let when = SystemTime::now() + secs(60);
    q.publish("x", Publish::new().id("at-noon").at(when))
        .await
        .unwrap();
    let after = env.server_ms().await;
    // A time already past (or now) is no delay at all.
    let past = SystemTime::now() - secs(1);
    q.publish("y", Publish::new().id("at-past").at(past))
        .await
        .unwrap();
    q.publish("z", Publish::new().id("zero").delay(Duration::ZERO))
        .await
        .unwrap();

    // (1 ms of slack below: the delay and the server's now are each
    // truncated to whole ms.)
    assert_between(
        "due time",
        due_of(&env, "at", "at-noon").await,
        before + 60_000 - 1,
        after + 60_000,
    );
    assert_eq!(ids_in(&q, State::Delayed).await, ["at-noon"]);
    assert_eq!(ids_in(&q, State::Available).await, ["at-past", "zero"]);
    assert_eq!(claimed_ids(&q, 5).await, ["at-past", "zero"]);
    env.advance(secs(59));
    assert!(q.claim(5).await.unwrap().is_empty());
    env.advance(Duration::from_millis(1_001));
    assert_eq!(claimed_ids(&q, 5).await, ["at-noon"]);
    env.check_invariants("at");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn due_jobs_become_available_in_due_order() {
    let env = Env::start_clocked().await;
    let q = env.queue("order");
    // Published in another order than they fall due.
    q.publish_many([
        ("c", Publish::new().id("c").delay(secs(4))),
        ("a", Publish::new().id("a").delay(secs(1))),
        ("b", Publish::new().id("b").delay(secs(2))),
        // Priority does not jump the line of jobs already available once due.
        ("p", Publish::new().id("p").delay(secs(2)).priority(true)),
    ])
    .await
    .unwrap();
    q.publish("now", Publish::new().id("now")).await.unwrap();
    // Listed by due time (b and p fall due together).
    let delayed = ids_in(&q, State::Delayed).await;
    assert_eq!(delayed[0], "a");
    assert_eq!(
        delayed[1..3].iter().cloned().collect::<BTreeSet<_>>(),
        ["b".to_string(), "p".to_string()].into()
    );
    assert_eq!(delayed[3], "c");

    // At +2.5 s: a, b and p are due; c (at +4 s) is not. What was
    // available goes first.
    env.advance(Duration::from_millis(2_500));
    let claimed = claimed_ids(&q, 10).await;
    assert_eq!(claimed[..2], ["now", "a"]);
    assert_eq!(
        claimed[2..].iter().cloned().collect::<BTreeSet<_>>(),
        ["b".to_string(), "p".to_string()].into()
    );
    assert_eq!(ids_in(&q, State::Delayed).await, ["c"]);
    env.advance(Duration::from_millis(1_501));
    assert_eq!(claimed_ids(&q, 10).await, ["c"]);
    assert_eq!(q.stats().await.unwrap().claimed, 5);
    env.check_invariants("order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn due_jobs_queue_behind_the_available_ones_in_due_order() {
    let env = Env::start_clocked().await;
    let q = env.queue("line");
    for (id, delay) in [("d3", 3), ("d1", 1), ("d2", 2)] {
        q.publish(id, Publish::new().id(id).delay(secs(delay)))
            .await
            .unwrap();
    }
    q.publish("x", Publish::new().id("first")).await.unwrap();
    env.advance(secs(5));
    // One claim promotes all three due jobs, in due order, behind "first".
    assert_eq!(claimed_ids(&q, 1).await, ["first"]);
    assert_eq!(ids_in(&q, State::Available).await, ["d1", "d2", "d3"]);
    assert_eq!(q.stats().await.unwrap().delayed, 0);
    env.check_invariants("line");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_with_a_delay_brings_the_job_back_later() {
    let env = Env::start_clocked().await;
    let q = env.queue("backoff");
    q.publish("x", Publish::new().id("j")).await.unwrap();
    let mut events = q.subscribe().await.unwrap();
    let job = q.claim(1).await.unwrap().pop().unwrap();
    let before = env.server_ms().await;
    let state = q
        .cancel_with(&job, Cancel::new().delay(secs(5)).reason("busy, later"))
        .await
        .unwrap();
    let after = env.server_ms().await;
    assert_eq!(state, State::Delayed);
    use EventKind as E;
    let seen = [
        next_event(&mut events).await,
        next_event(&mut events).await,
        next_event(&mut events).await,
    ];
    assert_eq!(kinds_of(&seen, "j"), [E::Claim, E::Cancel, E::Delay]);

    assert_eq!(q.cancel_count("j").await.unwrap(), 1);
    assert_between(
        "due time",
        due_of(&env, "backoff", "j").await,
        before + 5_000,
        after + 5_000,
    );
    let listed = q.list(State::Delayed, 0, 10).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (
            listed[0].id.as_str(),
            listed[0].cancelled,
            listed[0].reason.as_deref()
        ),
        ("j", 1, Some("busy, later"))
    );
    let stats = q.stats().await.unwrap();
    assert_eq!((stats.available, stats.claimed, stats.delayed), (0, 0, 1));
    env.check_invariants("backoff");

    env.advance(secs(4));
    assert!(q.claim(1).await.unwrap().is_empty());
    env.advance(Duration::from_millis(1_001));
    let again = q.claim(1).await.unwrap().pop().expect("back after 5 s");
    assert_eq!((again.id.as_str(), again.retries), ("j", 1));
    // The reason stays visible while the job is claimed again.
    assert_eq!(
        q.list(State::Claimed, 0, 10).await.unwrap()[0]
            .reason
            .as_deref(),
        Some("busy, later")
    );
    q.finish(&again).await.unwrap();
    env.check_invariants("backoff");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_cancel_past_max_cancels_stalls_instead() {
    let env = Env::start().await;
    let q = env.queue("tired");
    q.set_max_cancels(1).await.unwrap();
    q.publish("x", Publish::new().id("j")).await.unwrap();
    let job = q.claim(1).await.unwrap().pop().unwrap();
    assert_eq!(
        q.cancel_with(&job, Cancel::new().reason("first"))
            .await
            .unwrap(),
        State::Available
    );
    let job = q.claim(1).await.unwrap().pop().unwrap();
    assert_eq!(
        q.cancel_with(&job, Cancel::new().delay(secs(5)).reason("second"))
            .await
            .unwrap(),
        State::Stalled
    );
    assert_eq!(q.stats().await.unwrap().delayed, 0);
    let stalled = q.list(State::Stalled, 0, 10).await.unwrap();
    let reason = stalled[0].reason.clone().unwrap();
    assert!(
        reason.contains("max_cancels 1") && reason.contains("second"),
        "{reason:?}"
    );
    env.check_invariants("tired");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retract_removes_a_delayed_job() {
    let env = Env::start_clocked().await;
    let mut raw = env.raw().await;
    let q = env.queue("gone");
    q.publish("x", Publish::new().id("d").delay(secs(10)))
        .await
        .unwrap();
    q.publish("y", Publish::new().id("stays").delay(secs(10)))
        .await
        .unwrap();
    let mut events = q.subscribe().await.unwrap();
    q.retract("d").await.unwrap();
    let e = next_event(&mut events).await;
    assert_eq!((e.kind, e.id.as_str()), (EventKind::Retract, "d"));
    assert_eq!(ids_in(&q, State::Delayed).await, ["stays"]);
    let item: Option<String> = cmd(&mut raw, &["HGET", "job.items:gone", "d"]).await;
    assert_eq!(item, None);
    assert!(matches!(
        q.retract("d").await.unwrap_err(),
        Error::NotFound { .. }
    ));
    // Once the due time passes, only the other one comes.
    env.advance(secs(11));
    assert_eq!(claimed_ids(&q, 5).await, ["stays"]);
    env.check_invariants("gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finish_and_retry_of_a_delayed_job_are_refused() {
    let env = Env::start().await;
    let q = env.queue("refuse");
    q.publish("x", Publish::new().id("d").delay(secs(10)))
        .await
        .unwrap();
    q.publish("y", Publish::new().id("c")).await.unwrap();
    let c = q.claim(1).await.unwrap().pop().unwrap();
    q.cancel_with(&c, Cancel::new().delay(secs(10)))
        .await
        .unwrap();

    let before = env.snapshot();
    for id in ["d", "c"] {
        let refusals = [
            (State::Claimed, q.finish(id).await.map(drop)),
            (State::Claimed, q.finish_with(id, "r").await.map(drop)),
            (State::Claimed, q.cancel(id).await.map(drop)),
            (State::Claimed, q.stall(id).await.map(drop)),
            (State::Stalled, q.retry(id).await.map(drop)),
        ];
        for (needed, refused) in refusals {
            let err = refused.unwrap_err();
            let Error::WrongState {
                id: got,
                needed: n,
                actual,
                ..
            } = &err
            else {
                panic!("expected WrongState, got {err:?}")
            };
            assert_eq!((got.as_str(), *n, *actual), (id, needed, State::Delayed));
            assert_message_names(&err, &[id, "is delayed"]);
        }
    }
    // The token of the claim that cancelled "c" no longer holds.
    let err = q.finish(JobRef::from(&c)).await.unwrap_err();
    let Error::StaleClaim { actual, .. } = &err else {
        panic!("expected StaleClaim, got {err:?}")
    };
    assert_eq!(*actual, State::Delayed);
    assert_message_names(&err, &["no longer holds", "is delayed now"]);
    assert_eq!(env.snapshot(), before, "refusals change nothing");
    env.check_invariants("refuse");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_publish_sends_publish_and_delay_events() {
    let env = Env::start_clocked().await;
    let q = env.queue("ev");
    let mut events = q.subscribe().await.unwrap();
    q.publish("x", Publish::new().id("now")).await.unwrap();
    assert_eq!(
        kinds_of(&[next_event(&mut events).await], "now"),
        [EventKind::Publish],
        "no delay event for a job available at once"
    );
    q.publish("y", Publish::new().id("d").delay(secs(1)))
        .await
        .unwrap();
    let seen = [next_event(&mut events).await, next_event(&mut events).await];
    let kinds: BTreeSet<String> = kinds_of(&seen, "d").iter().map(|k| k.to_string()).collect();
    assert_eq!(
        kinds,
        ["delay".to_string(), "publish".to_string()].into(),
        "{seen:?}"
    );
    // Falling due is its own event, sent by the claim that promotes it.
    env.advance(Duration::from_millis(1_001));
    assert_eq!(claimed_ids(&q, 5).await, ["now", "d"]);
    let seen = [
        next_event(&mut events).await,
        next_event(&mut events).await,
        next_event(&mut events).await,
    ];
    assert_eq!(kinds_of(&seen, "d"), [EventKind::Due, EventKind::Claim]);
    env.check_invariants("ev");
}

/// With the real clock: a get that waits (up to 10 s) is woken by a job
/// published, while it waits, for 300 ms later, and returns it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_get_wakes_when_a_delayed_job_falls_due() {
    let env = Env::start().await;
    let raw = env.raw().await;
    let getter = env.client().await.queue("wake").unwrap();
    let get = tokio::spawn(async move { getter.get(secs(10)).await });
    until_waiting(&raw, 1).await;

    let q = env.queue("wake");
    let mut events = q.subscribe().await.unwrap();
    let id = q
        .publish("soon", Publish::new().delay(Duration::from_millis(300)))
        .await
        .unwrap();
    let job = within("the waiting get", get)
        .await
        .unwrap()
        .unwrap()
        .expect("the get returns the delayed job, not None");
    assert_eq!(
        (job.id.as_str(), job.item.as_slice()),
        (id.as_str(), &b"soon"[..])
    );
    // It was delayed, not available at once.
    let seen = [
        next_event(&mut events).await,
        next_event(&mut events).await,
        next_event(&mut events).await,
        next_event(&mut events).await,
    ];
    assert!(kinds_of(&seen, &id).contains(&EventKind::Delay), "{seen:?}");
    assert_eq!(
        kinds_of(&seen, &id)[2..],
        [EventKind::Due, EventKind::Claim],
        "{seen:?}"
    );
    q.finish(&job).await.unwrap();
    env.check_invariants("wake");
}

/// With the real clock: a get waiting with no time limit, whose next wake
/// is a job due in a minute, is woken by a job delayed while it waits that
/// falls due sooner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_delayed_while_get_waits_is_picked_up() {
    let env = Env::start().await;
    let raw = env.raw().await;
    let q = env.queue("sooner");
    q.publish("in a minute", Publish::new().id("late").delay(secs(60)))
        .await
        .unwrap();
    q.publish("x", Publish::new().id("soon")).await.unwrap();
    let held = q.claim(1).await.unwrap().pop().unwrap();
    assert_eq!(held.id, "soon");

    let getter = env.client().await.queue("sooner").unwrap();
    let get = tokio::spawn(async move { getter.get(Duration::ZERO).await });
    until_waiting(&raw, 1).await;

    // Given back to come again in 300 ms: earlier than anything else due.
    let state = q
        .cancel_with(&held, Cancel::new().delay(Duration::from_millis(300)))
        .await
        .unwrap();
    assert_eq!(state, State::Delayed);
    let job = within("the waiting get", get)
        .await
        .unwrap()
        .unwrap()
        .expect("a get without a limit returns a job");
    assert_eq!((job.id.as_str(), job.retries), ("soon", 1));
    assert_eq!(ids_in(&q, State::Delayed).await, ["late"]);
    q.finish(&job).await.unwrap();
    env.check_invariants("sooner");
}
