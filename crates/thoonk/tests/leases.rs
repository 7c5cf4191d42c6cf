//! Leases: a claim holds for the queue's lease from the claim or the last extension; recovery sends back expired claims and the claims of dead workers; fencing refuses the tokens of claims taken back; release gives jobs back uncounted.

mod common;

use common::*;
use std::time::Duration;
use thoonk::{
    Error, EventKind, Job, JobRef, Publish, Queue, QueueConfig, Recovered, State, DEFAULT_LEASE,
    DEFAULT_MAX_CANCELS,
};

const fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

const fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// Claims exactly one job, which must be `id`.
async fn claim_one(q: &Queue, id: &str) -> Job {
    let mut jobs = q.claim(1).await.unwrap();
    assert_eq!(jobs.len(), 1, "one job to claim");
    let job = jobs.pop().unwrap();
    assert_eq!(job.id, id);
    job
}

/// The ids of a listing.
async fn ids_in(q: &Queue, state: State) -> Vec<String> {
    q.list(state, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.id)
        .collect()
}

/// The reason listed for job `id` in `state`.
async fn reason_of(q: &Queue, state: State, id: &str) -> String {
    q.list(state, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .find(|j| j.id == id)
        .unwrap_or_else(|| panic!("{id} is not {state}"))
        .reason
        .unwrap_or_else(|| panic!("{id} has no reason"))
}

/// Runs a recovery pass that must change nothing at all in Redis.
async fn recover_changes_nothing(env: &Env, q: &Queue) {
    let before = env.snapshot();
    assert_eq!(q.recover().await.unwrap(), Recovered::default());
    assert_eq!(env.snapshot(), before, "a pass with nothing to do");
}

/// Job `id`'s claim record in queue `queue` rewritten for `token` (a
/// worker runtime's), keeping the score the claim gave it.
async fn claim_record_of(
    raw: &mut (impl thoonk::redis::aio::ConnectionLike + Send),
    queue: &str,
    id: &str,
    token: &str,
) -> String {
    let score: u64 = cmd(raw, &["ZSCORE", &format!("job.claimed:{queue}"), id]).await;
    thoonk_testkit::claim_record(token, score)
}

fn assert_stale(err: &Error, id: &str, token: &str, now: State) {
    let Error::StaleClaim {
        id: got,
        token: t,
        actual,
        ..
    } = err
    else {
        panic!("expected StaleClaim, got {err:?}")
    };
    assert_eq!((got.as_str(), t.as_str(), *actual), (id, token, now));
    let now_text = match now {
        State::Claimed => "claimed again".to_string(),
        other => format!("is {other} now"),
    };
    assert_message_names(
        err,
        &[id, &claim_named(token), "no longer holds", &now_text],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lease_is_thirty_seconds_unless_the_queue_sets_one() {
    let env = Env::start().await;
    let mut raw = env.raw().await;
    let q = env.queue("conf");
    assert_eq!(
        q.config().await.unwrap(),
        QueueConfig {
            lease: secs(30),
            max_cancels: 25,
            paused: false,
            rate: None,
            max_running: None,
            timeout: None,
            keep_finished: None,
            keep_finished_for: None,
        }
    );
    assert_eq!((DEFAULT_LEASE, DEFAULT_MAX_CANCELS), (secs(30), 25));

    q.set_lease(Duration::from_millis(7_500)).await.unwrap();
    q.set_max_cancels(3).await.unwrap();
    assert_eq!(
        q.config().await.unwrap(),
        QueueConfig {
            lease: Duration::from_millis(7_500),
            max_cancels: 3,
            ..QueueConfig::default()
        }
    );
    // Kept in the queue's v1 config hash, readable by any client.
    let lease: String = cmd(&mut raw, &["HGET", "job.config:conf", "lease_ms"]).await;
    let max: String = cmd(&mut raw, &["HGET", "job.config:conf", "max_cancels"]).await;
    assert_eq!((lease.as_str(), max.as_str()), ("7500", "3"));
    // Another queue keeps the defaults.
    assert_eq!(env.queue("other").config().await.unwrap().lease, secs(30));
    env.check_invariants("conf");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recover_sends_back_a_claim_older_than_the_lease() {
    let env = Env::start_clocked().await;
    let mut raw = env.raw().await;
    let q = env.queue("lease");
    q.publish("x", Publish::new().id("j1")).await.unwrap();
    let mut events = q.subscribe().await.unwrap();
    let old = claim_one(&q, "j1").await;
    assert_eq!(next_event(&mut events).await.kind, EventKind::Claim);

    // Within the default 30 s lease: nothing to recover, nothing written.
    env.advance(ms(29_000));
    recover_changes_nothing(&env, &q).await;
    assert_eq!(ids_in(&q, State::Claimed).await, ["j1"]);

    env.advance(ms(1_001));
    assert_eq!(
        q.recover().await.unwrap(),
        Recovered {
            requeued: 1,
            stalled: 0,
            due: 0,
            ..Default::default()
        }
    );
    // Counted as a cancel, back in the queue, with the reason.
    let event = next_event(&mut events).await;
    assert_eq!((event.kind, event.id.as_str()), (EventKind::Cancel, "j1"));
    assert_eq!(q.cancel_count("j1").await.unwrap(), 1);
    let stats = q.stats().await.unwrap();
    assert_eq!((stats.available, stats.claimed), (1, 0));
    let reason = reason_of(&q, State::Available, "j1").await;
    assert!(
        reason.contains("lease") && reason.contains("ran out") && reason.contains("30000 ms"),
        "{reason:?}"
    );
    let token: Option<String> = cmd(&mut raw, &["HGET", "job.tokens:lease", "j1"]).await;
    assert_eq!(token, None, "the claim's token is gone");
    env.check_invariants("lease");

    // The next claim gets it, with its count and a new token.
    let again = claim_one(&q, "j1").await;
    assert_eq!(again.retries, 1);
    assert_ne!(again.token, old.token);
    env.check_invariants("lease");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_is_idempotent() {
    let env = Env::start_clocked().await;
    let q = env.queue("idem");
    // On an empty queue, and on a queue whose claims are all fresh.
    recover_changes_nothing(&env, &q).await;
    q.publish_many([("a", Publish::new().id("a")), ("b", Publish::new().id("b"))])
        .await
        .unwrap();
    q.claim(1).await.unwrap();
    env.advance(secs(20));
    q.claim(1).await.unwrap();
    recover_changes_nothing(&env, &q).await;

    // "a" ran out, "b" did not: one pass sends back "a", the next does nothing.
    env.advance(secs(11));
    assert_eq!(
        q.recover().await.unwrap(),
        Recovered {
            requeued: 1,
            stalled: 0,
            due: 0,
            ..Default::default()
        }
    );
    recover_changes_nothing(&env, &q).await;
    recover_changes_nothing(&env, &q).await;
    assert_eq!(ids_in(&q, State::Available).await, ["a"]);
    assert_eq!(ids_in(&q, State::Claimed).await, ["b"]);
    assert_eq!(q.cancel_count("a").await.unwrap(), 1);
    assert_eq!(q.cancel_count("b").await.unwrap(), 0);
    env.check_invariants("idem");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_uses_the_queues_lease() {
    let env = Env::start_clocked().await;
    let q = env.queue("short");
    q.set_lease(secs(5)).await.unwrap();
    q.publish("x", Publish::new().id("j")).await.unwrap();
    claim_one(&q, "j").await;
    env.advance(ms(4_000));
    recover_changes_nothing(&env, &q).await;
    env.advance(ms(1_001));
    assert_eq!(q.recover().await.unwrap().requeued, 1);
    let reason = reason_of(&q, State::Available, "j").await;
    assert!(reason.contains("5000 ms"), "{reason:?}");
    env.check_invariants("short");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extend_renews_the_lease() {
    let env = Env::start_clocked().await;
    let mut raw = env.raw().await;
    let q = env.queue("extend");
    q.publish_many([("a", Publish::new().id("a")), ("b", Publish::new().id("b"))])
        .await
        .unwrap();
    let a = claim_one(&q, "a").await;
    let b = claim_one(&q, "b").await;

    // "a" is extended at +20 s, "b" never: at +40 s only "b" ran out.
    env.advance(secs(20));
    let before = env.server_ms().await;
    assert!(q.extend(&[JobRef::from(&a)]).await.unwrap().is_empty());
    let after = env.server_ms().await;
    let score: u64 = cmd(&mut raw, &["ZSCORE", "job.claimed:extend", "a"]).await;
    assert!(
        (before..=after).contains(&score),
        "the claim's score is the last extension, in server time: {score} not in {before}..={after}"
    );
    env.advance(secs(20));
    assert_eq!(
        q.recover().await.unwrap(),
        Recovered {
            requeued: 1,
            stalled: 0,
            due: 0,
            ..Default::default()
        }
    );
    assert_eq!(ids_in(&q, State::Claimed).await, ["a"]);
    assert_eq!(ids_in(&q, State::Available).await, ["b"]);

    // The holder of both learns in one call that "b" was taken back; the
    // extension does not bring "b" back into the claimed set.
    let lost = q.extend(&[(&a).into(), (&b).into()]).await.unwrap();
    assert_eq!(lost, ["b"]);
    assert_eq!(ids_in(&q, State::Claimed).await, ["a"]);
    env.check_invariants("extend");

    // Extended at +40 s: it holds at +69 s, and runs out at +71 s.
    env.advance(secs(29));
    recover_changes_nothing(&env, &q).await;
    env.advance(secs(2));
    assert_eq!(q.recover().await.unwrap().requeued, 1);
    assert_eq!(q.extend(&[(&a).into()]).await.unwrap(), ["a"]);
    env.check_invariants("extend");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_extended_at_twenty_seconds_holds_until_fifty() {
    let env = Env::start_clocked().await;
    let q = env.queue("fifty");
    q.publish("x", Publish::new().id("j")).await.unwrap();
    let j = claim_one(&q, "j").await;
    env.advance(secs(20));
    assert!(q.extend(&[(&j).into()]).await.unwrap().is_empty());
    env.advance(secs(20));
    recover_changes_nothing(&env, &q).await;
    env.advance(secs(11));
    assert_eq!(q.recover().await.unwrap().requeued, 1);
    assert_eq!(q.cancel_count("j").await.unwrap(), 1);
    env.check_invariants("fifty");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_recovered_more_than_max_cancels_times_is_stalled() {
    let env = Env::start_clocked().await;
    let q = env.queue("often");
    q.set_max_cancels(1).await.unwrap();
    q.publish("x", Publish::new().id("j")).await.unwrap();
    let mut events = q.subscribe().await.unwrap();

    // First expiry: the first cancel, within max_cancels.
    claim_one(&q, "j").await;
    env.advance(secs(31));
    assert_eq!(
        q.recover().await.unwrap(),
        Recovered {
            requeued: 1,
            stalled: 0,
            due: 0,
            ..Default::default()
        }
    );
    // Second expiry: the second cancel, past max_cancels 1: stalled.
    let claimed = claim_one(&q, "j").await;
    assert_eq!(claimed.retries, 1);
    env.advance(secs(31));
    assert_eq!(
        q.recover().await.unwrap(),
        Recovered {
            requeued: 0,
            stalled: 1,
            due: 0,
            ..Default::default()
        }
    );
    let kinds: Vec<EventKind> = [
        next_event(&mut events).await,
        next_event(&mut events).await,
        next_event(&mut events).await,
        next_event(&mut events).await,
    ]
    .iter()
    .map(|e| e.kind)
    .collect();
    use EventKind as E;
    assert_eq!(kinds, [E::Claim, E::Cancel, E::Claim, E::Stall]);

    let stats = q.stats().await.unwrap();
    assert_eq!((stats.available, stats.claimed, stats.stalled), (0, 0, 1));
    let reason = reason_of(&q, State::Stalled, "j").await;
    assert!(
        reason.contains("max_cancels 1") && reason.contains("lease"),
        "{reason:?}"
    );
    // Stalled starts its count afresh (as v1's stall does), and it stays
    // stalled: later passes leave it alone.
    assert_eq!(q.cancel_count("j").await.unwrap(), 0);
    env.advance(secs(3600));
    recover_changes_nothing(&env, &q).await;
    assert!(q.claim(1).await.unwrap().is_empty());
    env.check_invariants("often");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v1_claim_is_recovered_once_older_than_the_lease() {
    let env = Env::start_clocked().await;
    let mut raw = env.raw().await;
    let q = env.queue("v1claim");
    q.publish("x", Publish::new().id("v1-held")).await.unwrap();

    // As v1's worker claims: BRPOP takes the id, then ZADD claimed at its
    // own Date.now(), and no token.
    let (_, id): (String, String) = cmd(&mut raw, &["BRPOP", "job.ids:v1claim", "1"]).await;
    assert_eq!(id, "v1-held");
    // (Its clock agrees with the server's here.)
    let v1_now = env.server_ms().await.to_string();
    let _: u64 = cmd(
        &mut raw,
        &["ZADD", "job.claimed:v1claim", &v1_now, "v1-held"],
    )
    .await;
    env.check_invariants("v1claim");

    env.advance(secs(29));
    recover_changes_nothing(&env, &q).await;
    env.advance(secs(2));
    assert_eq!(
        q.recover().await.unwrap(),
        Recovered {
            requeued: 1,
            stalled: 0,
            due: 0,
            ..Default::default()
        }
    );
    assert_eq!(q.cancel_count("v1-held").await.unwrap(), 1);
    assert_eq!(ids_in(&q, State::Available).await, ["v1-held"]);
    assert!(reason_of(&q, State::Available, "v1-held")
        .await
        .contains("ran out"));
    // The v1 worker's late finish finds the job no longer claimed.
    let err = q.finish("v1-held").await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::WrongState {
                actual: State::Available,
                ..
            }
        ),
        "{err:?}"
    );
    let again = claim_one(&q, "v1-held").await;
    assert_eq!(again.retries, 1);
    env.check_invariants("v1claim");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_of_a_recovered_claim_is_refused() {
    let env = Env::start_clocked().await;
    let q = env.queue("fence");
    q.publish("x", Publish::new().id("j")).await.unwrap();
    let old = claim_one(&q, "j").await;
    env.advance(secs(31));
    assert_eq!(q.recover().await.unwrap().requeued, 1);

    // Taken back and available: the old holder can do nothing with it.
    for refused in [
        q.finish(&old).await.map(drop),
        q.finish_with(&old, "late").await.map(drop),
        q.cancel(&old).await.map(drop),
        q.stall_with(&old, "late").await.map(drop),
    ] {
        assert_stale(&refused.unwrap_err(), "j", &old.token, State::Available);
    }
    assert_eq!(
        q.cancel_count("j").await.unwrap(),
        1,
        "refusals count nothing"
    );
    assert_eq!(ids_in(&q, State::Available).await, ["j"]);

    // Job again by someone else: still refused, and the new claim works.
    let new = claim_one(&q, "j").await;
    let before = env.snapshot();
    for refused in [
        q.finish(&old).await.map(drop),
        q.cancel(&old).await.map(drop),
        q.stall(&old).await.map(drop),
    ] {
        assert_stale(&refused.unwrap_err(), "j", &old.token, State::Claimed);
    }
    assert_eq!(env.snapshot(), before, "refusals change nothing");
    q.finish_with(&new, "done").await.unwrap();
    assert_eq!(q.stats().await.unwrap().finishes, 1);
    env.check_invariants("fence");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_without_a_token_still_works_on_a_reclaimed_job() {
    let env = Env::start_clocked().await;
    let q = env.queue("v1call");
    q.publish_many([
        ("1", Publish::new().id("f")),
        ("2", Publish::new().id("c")),
        ("3", Publish::new().id("s")),
    ])
    .await
    .unwrap();
    let first = q.claim(3).await.unwrap();
    env.advance(secs(31));
    assert_eq!(q.recover().await.unwrap().requeued, 3);
    let second = q.claim(3).await.unwrap();
    assert_eq!(second.len(), 3);

    // As a v1 client calls: by id alone, whoever holds the claim.
    q.finish("f").await.unwrap();
    assert_eq!(q.cancel("c").await.unwrap(), State::Available);
    q.stall("s").await.unwrap();
    assert_eq!(q.stats().await.unwrap().finishes, 1);
    assert_eq!(q.cancel_count("c").await.unwrap(), 2);
    assert_eq!(ids_in(&q, State::Stalled).await, ["s"]);
    // Neither the first nor the second claim's tokens hold any more.
    for job in first.iter().chain(&second).filter(|j| j.id != "f") {
        let err = q.finish(job).await.unwrap_err();
        assert!(matches!(err, Error::StaleClaim { .. }), "{err:?}");
    }
    env.check_invariants("v1call");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_puts_jobs_back_at_the_front_without_counting_a_cancel() {
    let env = Env::start().await;
    let q = env.queue("release");
    for id in ["a", "b", "c"] {
        q.publish(id, Publish::new().id(id)).await.unwrap();
    }
    let mut events = q.subscribe().await.unwrap();
    let held = q.claim(2).await.unwrap();
    let held_ids: Vec<&str> = held.iter().map(|j| j.id.as_str()).collect();
    assert_eq!(held_ids, ["a", "b"]);
    let refs: Vec<JobRef> = held.iter().map(JobRef::from).collect();
    assert_eq!(q.release(&refs).await.unwrap(), 2);

    // Both ahead of "c", which was never claimed, in the order they were
    // given back; no cancel counted.
    assert_eq!(ids_in(&q, State::Available).await, ["a", "b", "c"]);
    for id in ["a", "b"] {
        assert_eq!(q.cancel_count(id).await.unwrap(), 0);
        assert_eq!(
            q.list(State::Available, 0, 10)
                .await
                .unwrap()
                .iter()
                .find(|j| j.id == id)
                .unwrap()
                .reason,
            None
        );
    }
    let mut released = Vec::new();
    for _ in 0..4 {
        let e = next_event(&mut events).await;
        if e.kind == EventKind::Release {
            released.push(e.id);
        } else {
            assert_eq!(e.kind, EventKind::Claim);
        }
    }
    released.sort();
    assert_eq!(released, ["a", "b"]);
    env.check_invariants("release");

    // The released claims' tokens no longer hold: releasing again skips
    // them (the jobs are not queued twice), finishing is refused.
    let before = env.snapshot();
    assert_eq!(q.release(&refs).await.unwrap(), 0);
    assert_eq!(env.snapshot(), before);
    assert_stale(
        &q.finish(&held[0]).await.unwrap_err(),
        "a",
        &held[0].token,
        State::Available,
    );

    // Job again: the old token releases nothing, the new one does.
    let again = q.claim(2).await.unwrap();
    let mut again_ids: Vec<&str> = again.iter().map(|j| j.id.as_str()).collect();
    again_ids.sort();
    assert_eq!(again_ids, ["a", "b"], "released jobs are claimed first");
    assert!(again.iter().all(|j| j.retries == 0));
    let before = env.snapshot();
    assert_eq!(q.release(&refs).await.unwrap(), 0);
    assert_eq!(env.snapshot(), before);
    assert_eq!(q.release(&[(&again[0]).into()]).await.unwrap(), 1);
    assert_eq!(q.release(&[]).await.unwrap(), 0);
    assert_eq!(q.stats().await.unwrap().claimed, 1);
    env.check_invariants("release");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_workers_jobs_are_recovered_before_their_lease_runs_out() {
    let env = Env::start_clocked().await;
    let mut raw = env.raw().await;
    let q = env.queue("dead");
    for id in ["of-dead", "of-alive", "plain"] {
        q.publish(id, Publish::new().id(id)).await.unwrap();
    }
    let claims = q.claim(3).await.unwrap();
    assert_eq!(claims.len(), 3);
    // Make two of the claims a worker's, as the worker runtime writes them:
    // the token ends in "@WORKER", and the worker has a liveness deadline.
    let dead_token = format!("{}@w-dead", claims[0].token);
    let alive_token = format!("{}@w-alive", claims[1].token);
    let dead = claim_record_of(&mut raw, "dead", "of-dead", &dead_token).await;
    let alive = claim_record_of(&mut raw, "dead", "of-alive", &alive_token).await;
    let _: u64 = cmd(
        &mut raw,
        &[
            "HSET",
            "job.tokens:dead",
            "of-dead",
            &dead,
            "of-alive",
            &alive,
        ],
    )
    .await;
    let (dead_holder, alive_holder) = (
        thoonk_testkit::holder("w-dead", 1, &["of-dead"]),
        thoonk_testkit::holder("w-alive", 1, &["of-alive"]),
    );
    let _: u64 = cmd(
        &mut raw,
        &[
            "ZADD",
            "job.holders:dead",
            "0",
            &dead_holder,
            "0",
            &alive_holder,
        ],
    )
    .await;
    let now = env.server_ms().await;
    let past = (now - 1).to_string();
    let future = (now + 10_000).to_string();
    let _: u64 = cmd(
        &mut raw,
        &[
            "ZADD",
            "job.workers:dead",
            &past,
            "w-dead",
            &past,
            "w-idle",
            &future,
            "w-alive",
        ],
    )
    .await;
    let mut events = q.subscribe().await.unwrap();

    // One second after the claims: no lease ran out, but w-dead's mark did.
    env.advance(secs(1));
    assert_eq!(
        q.recover().await.unwrap(),
        Recovered {
            requeued: 1,
            stalled: 0,
            due: 0,
            ..Default::default()
        }
    );
    let e = next_event(&mut events).await;
    assert_eq!((e.kind, e.id.as_str()), (EventKind::Cancel, "of-dead"));
    assert_eq!(ids_in(&q, State::Available).await, ["of-dead"]);
    let mut claimed = ids_in(&q, State::Claimed).await;
    claimed.sort();
    assert_eq!(claimed, ["of-alive", "plain"]);
    assert_eq!(q.cancel_count("of-dead").await.unwrap(), 1);
    let reason = reason_of(&q, State::Available, "of-dead").await;
    assert!(
        reason.contains("worker w-dead") && reason.contains("liveness"),
        "{reason:?}"
    );
    // Dead marks are removed; the living one stays.
    let workers: Vec<String> = cmd(&mut raw, &["ZRANGE", "job.workers:dead", "0", "-1"]).await;
    assert_eq!(workers, ["w-alive"]);
    assert_stale(
        &q.finish(JobRef::fenced("of-dead", &dead_token))
            .await
            .unwrap_err(),
        "of-dead",
        &dead_token,
        State::Available,
    );
    // The living worker's job is still its own.
    q.finish(JobRef::fenced("of-alive", &alive_token))
        .await
        .unwrap();
    recover_changes_nothing(&env, &q).await;
    env.check_invariants("dead");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v1_cancel_or_stall_ends_our_claim() {
    let env = Env::start_clocked().await;
    let mut raw = env.raw().await;
    let q = env.queue("mixed");
    q.publish_many([("1", Publish::new().id("c")), ("2", Publish::new().id("s"))])
        .await
        .unwrap();
    let mut held = q.claim(2).await.unwrap();
    assert_eq!(held.len(), 2);
    // "c" is held by a worker runtime, whose liveness mark will run out.
    held[0].token = format!("{}@w-gone", held[0].token);
    let record = claim_record_of(&mut raw, "mixed", "c", &held[0].token).await;
    let _: u64 = cmd(&mut raw, &["HSET", "job.tokens:mixed", "c", &record]).await;
    let holder = thoonk_testkit::holder("w-gone", 1, &["c"]);
    let _: u64 = cmd(&mut raw, &["ZADD", "job.holders:mixed", "0", &holder]).await;
    let _: u64 = cmd(
        &mut raw,
        &[
            "ZADD",
            "job.workers:mixed",
            &(env.server_ms().await + 3_000).to_string(),
            "w-gone",
        ],
    )
    .await;
    let (c, s) = (&held[0], &held[1]);

    // A v1 client cancels "c" and stalls "s", as v1's scripts do: they know
    // nothing of tokens, and leave ours behind.
    for v1 in [
        ["ZREM", "job.claimed:mixed", "c", ""],
        ["HINCRBY", "job.cancelled:mixed", "c", "1"],
        ["LPUSH", "job.ids:mixed", "c", ""],
        ["ZREM", "job.claimed:mixed", "s", ""],
        ["HDEL", "job.cancelled:mixed", "s", ""],
        ["SADD", "job.stalled:mixed", "s", ""],
    ] {
        let words: Vec<&str> = v1.into_iter().filter(|w| !w.is_empty()).collect();
        let n: u64 = cmd(&mut raw, &words).await;
        if words[0] == "ZREM" {
            assert_eq!(n, 1, "v1 refuses unless the job was claimed");
        }
    }
    assert_eq!(ids_in(&q, State::Available).await, ["c"]);
    assert_eq!(ids_in(&q, State::Stalled).await, ["s"]);

    // Our claims of them no longer hold: every call is refused, naming the
    // state the job is in, and nothing moves.
    let before = env.snapshot();
    for (job, now) in [(c, State::Available), (s, State::Stalled)] {
        assert_stale(&q.finish(job).await.unwrap_err(), &job.id, &job.token, now);
        assert_stale(&q.cancel(job).await.unwrap_err(), &job.id, &job.token, now);
        assert_stale(&q.stall(job).await.unwrap_err(), &job.id, &job.token, now);
    }
    assert_eq!(q.release(&[c.into(), s.into()]).await.unwrap(), 0);
    assert_eq!(q.extend(&[c.into(), s.into()]).await.unwrap(), ["c", "s"]);
    assert_eq!(env.snapshot(), before, "nothing moved");

    // Nor does the dead worker's mark send "c" back a second time.
    env.advance(secs(10));
    assert_eq!(q.recover().await.unwrap(), Recovered::default());
    assert_eq!(ids_in(&q, State::Available).await, ["c"]);
    assert_eq!(q.cancel_count("c").await.unwrap(), 1);
    let workers: u64 = cmd(&mut raw, &["ZCARD", "job.workers:mixed"]).await;
    assert_eq!(workers, 0, "the dead mark is removed all the same");

    // Both go on as ordinary jobs.
    q.retry("s").await.unwrap();
    for job in q.claim(2).await.unwrap() {
        q.finish(&job).await.unwrap();
    }
    assert_eq!(q.stats().await.unwrap().finishes, 2);
    env.check_invariants("mixed");
}
