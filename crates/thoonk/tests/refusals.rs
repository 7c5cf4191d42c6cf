//! Every refusal: the exact error, a message naming queue, job and state, and nothing changed in Redis.

mod common;

use common::*;
use thoonk::{Cancel, Error, Job, JobRef, Publish, Queue, State};

const QUEUE: &str = "refusals-q";

/// A queue holding one job in each state: "job-available", "job-claimed"
/// (returned, with its token) and "job-stalled".
async fn queue_with_each_state(env: &Env) -> (Queue, Job) {
    let q = env.queue(QUEUE);
    for id in ["job-stalled", "job-claimed", "job-available"] {
        q.publish("payload", Publish::new().id(id)).await.unwrap();
    }
    let stalled = q.claim(1).await.unwrap().pop().unwrap();
    assert_eq!(stalled.id, "job-stalled");
    q.stall(&stalled).await.unwrap();
    let claimed = q.claim(1).await.unwrap().pop().unwrap();
    assert_eq!(claimed.id, "job-claimed");
    (q, claimed)
}

/// Runs `refused`, which must leave every key as it was.
async fn unchanged<T: std::fmt::Debug>(
    env: &Env,
    q: &Queue,
    refused: impl std::future::Future<Output = thoonk::Result<T>>,
) -> Error {
    // (The latency grows while jobs wait: it is no change.)
    let stats = || async {
        thoonk::Stats {
            latency: std::time::Duration::ZERO,
            ..q.stats().await.unwrap()
        }
    };
    let before = (env.snapshot(), stats().await);
    let err = refused.await.expect_err("the call must be refused");
    assert_eq!(
        (env.snapshot(), stats().await),
        before,
        "{err}: nothing changed"
    );
    err
}

fn assert_not_found(err: &Error, id: &str) {
    let Error::NotFound { op, queue, id: got } = err else {
        panic!("expected NotFound, got {err:?}")
    };
    assert_eq!((queue.as_str(), got.as_str()), (QUEUE, id));
    assert_message_names(err, &[op, "refused", QUEUE, id, "does not exist"]);
}

fn assert_wrong_state(err: &Error, id: &str, needed: State, actual: State) {
    let Error::WrongState {
        op,
        queue,
        id: got,
        needed: n,
        actual: a,
    } = err
    else {
        panic!("expected WrongState, got {err:?}")
    };
    assert_eq!(
        (queue.as_str(), got.as_str(), *n, *a),
        (QUEUE, id, needed, actual)
    );
    assert_message_names(err, &[op, QUEUE, id, needed.as_str(), actual.as_str()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finish_cancel_stall_need_a_claimed_job() {
    let env = Env::start().await;
    let (q, _claimed) = queue_with_each_state(&env).await;

    for id in ["no-such-job", "job-available", "job-stalled"] {
        let e = [
            unchanged(&env, &q, q.finish(id)).await,
            unchanged(&env, &q, q.finish_with(id, "r")).await,
            unchanged(&env, &q, q.cancel(id)).await,
            unchanged(&env, &q, q.stall(id)).await,
        ];
        for err in &e {
            match id {
                "no-such-job" => assert_not_found(err, id),
                "job-available" => assert_wrong_state(err, id, State::Claimed, State::Available),
                _ => assert_wrong_state(err, id, State::Claimed, State::Stalled),
            }
        }
        // With a token, the claim it names no longer holds: the refusal
        // says so, and where the job is now.
        let err = unchanged(&env, &q, q.finish(JobRef::fenced(id, "1"))).await;
        match id {
            "no-such-job" => assert_not_found(&err, id),
            _ => {
                let Error::StaleClaim { actual, .. } = &err else {
                    panic!("expected StaleClaim, got {err:?}")
                };
                let now = if id == "job-available" {
                    State::Available
                } else {
                    State::Stalled
                };
                assert_eq!(*actual, now);
                assert_message_names(&err, &[QUEUE, id, "no longer holds", now.as_str()]);
            }
        }
    }
    env.check_invariants(QUEUE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_needs_a_stalled_job() {
    let env = Env::start().await;
    let (q, _claimed) = queue_with_each_state(&env).await;

    let err = unchanged(&env, &q, q.retry("job-claimed")).await;
    assert_wrong_state(&err, "job-claimed", State::Stalled, State::Claimed);
    let err = unchanged(&env, &q, q.retry("job-available")).await;
    assert_wrong_state(&err, "job-available", State::Stalled, State::Available);
    let err = unchanged(&env, &q, q.retry("no-such-job")).await;
    assert_not_found(&err, "no-such-job");
    env.check_invariants(QUEUE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retract_of_an_unknown_job() {
    let env = Env::start().await;
    let (q, _claimed) = queue_with_each_state(&env).await;
    let err = unchanged(&env, &q, q.retract("no-such-job")).await;
    assert_not_found(&err, "no-such-job");
    // A finished job is gone too.
    let job = q.claim(1).await.unwrap().pop().unwrap();
    q.finish(&job).await.unwrap();
    let err = unchanged(&env, &q, q.retract(&job.id)).await;
    assert_not_found(&err, &job.id);
    let err = unchanged(&env, &q, q.finish(&job)).await;
    assert_not_found(&err, &job.id);
    env.check_invariants(QUEUE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_an_existing_id_is_refused_in_every_state() {
    let env = Env::start().await;
    let mut raw = env.raw().await;
    let (q, _claimed) = queue_with_each_state(&env).await;

    for id in ["job-available", "job-claimed", "job-stalled"] {
        let err = unchanged(&env, &q, q.publish("again", Publish::new().id(id))).await;
        let Error::AlreadyExists { queue, id: got } = &err else {
            panic!("expected AlreadyExists, got {err:?}")
        };
        assert_eq!((queue.as_str(), got.as_str()), (QUEUE, id));
        assert_message_names(&err, &[QUEUE, id, "already exists"]);
    }
    // The available job is queued once, not twice.
    let n: u64 = cmd(&mut raw, &["LLEN", &format!("job.ids:{QUEUE}")]).await;
    assert_eq!(n, 1);
    env.check_invariants(QUEUE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_token_is_refused_and_the_current_one_works() {
    let env = Env::start().await;
    let q = env.queue(QUEUE);
    q.publish("x", Publish::new().id("job-7")).await.unwrap();

    // First claim, given back; the second claim gets a new token.
    let old = q.claim(1).await.unwrap().pop().unwrap();
    q.cancel(&old).await.unwrap();
    let new = q.claim(1).await.unwrap().pop().unwrap();
    assert_eq!(new.id, old.id);
    assert_ne!(new.token, old.token);

    let refusals = [
        unchanged(&env, &q, q.finish(&old)).await,
        unchanged(&env, &q, q.finish_with(&old, "late")).await,
        unchanged(&env, &q, q.cancel(&old)).await,
        unchanged(&env, &q, q.stall(&old)).await,
    ];
    for (err, what) in refusals.iter().zip(["finish", "finish", "cancel", "stall"]) {
        let Error::StaleClaim {
            op,
            queue,
            id,
            token,
            actual,
        } = err
        else {
            panic!("expected StaleClaim, got {err:?}")
        };
        assert_eq!((*op, *actual), (what, State::Claimed));
        assert_eq!(
            (queue.as_str(), id.as_str(), token.as_str()),
            (QUEUE, "job-7", old.token.as_str())
        );
        let claim = claim_named(&old.token);
        assert_message_names(err, &[QUEUE, "job-7", &claim, "claimed again"]);
    }

    q.finish_with(&new, "done").await.unwrap();
    assert_eq!(q.stats().await.unwrap().finishes, 1);
    env.check_invariants(QUEUE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_without_a_token_work_on_a_claimed_job() {
    let env = Env::start().await;
    let q = env.queue(QUEUE);
    q.publish_many([
        ("1", Publish::new().id("by-id-1")),
        ("2", Publish::new().id("by-id-2")),
        ("3", Publish::new().id("by-id-3")),
    ])
    .await
    .unwrap();
    let jobs = q.claim(3).await.unwrap();
    // As a v1 client calls: by id alone, whoever holds the claim.
    q.finish("by-id-1").await.unwrap();
    q.cancel(&"by-id-2".to_string()).await.unwrap();
    q.stall("by-id-3").await.unwrap();
    assert_eq!(q.stats().await.unwrap().finishes, 1);
    assert_eq!(q.cancel_count("by-id-2").await.unwrap(), 1);
    assert_eq!(
        q.list(State::Stalled, 0, 10).await.unwrap()[0].id,
        "by-id-3"
    );
    // The tokens of those claims no longer hold: each job left its claim.
    let err = unchanged(&env, &q, q.finish(&jobs[2])).await;
    let Error::StaleClaim { actual, .. } = &err else {
        panic!("expected StaleClaim, got {err:?}")
    };
    assert_eq!(*actual, State::Stalled);
    env.check_invariants(QUEUE);
}

fn assert_out_of_range(err: &Error, op: &str, field: &str, limit: &str) {
    let Error::OutOfRange {
        op: o,
        queue,
        field: f,
        limit: l,
        ..
    } = err
    else {
        panic!("expected OutOfRange, got {err:?}")
    };
    assert_eq!(
        (*o, queue.as_str(), *f, l.as_str()),
        (op, QUEUE, field, limit)
    );
    assert_message_names(err, &[op, QUEUE, field, limit]);
}

/// Every number a call sends has a bound; past it the call is refused
/// before anything is sent, naming the number and the bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbers_past_their_bounds_are_refused_with_nothing_written() {
    use std::time::{Duration, SystemTime};
    let env = Env::start().await;
    let (q, claimed) = queue_with_each_state(&env).await;
    let over = thoonk::MAX_DELAY + Duration::from_secs(1);
    let a_year = "at most 365 days";

    let err = unchanged(&env, &q, q.publish("x", Publish::new().keep_result(over))).await;
    assert_out_of_range(&err, "publish", "keep_result", a_year);
    let err = unchanged(&env, &q, q.publish("x", Publish::new().delay(over))).await;
    assert_out_of_range(&err, "publish", "delay", a_year);
    let later = SystemTime::now() + over + Duration::from_secs(60);
    let err = unchanged(&env, &q, q.publish("x", Publish::new().at(later))).await;
    assert_out_of_range(&err, "publish", "delay to `at`", a_year);
    let many = (0..=thoonk::MAX_BATCH).map(|_| "x");
    let err = unchanged(&env, &q, q.publish_many(many)).await;
    assert_out_of_range(&err, "publish", "jobs in one publish", "at most 100000");
    let err = unchanged(&env, &q, q.publish_and_wait("x", Publish::new(), over)).await;
    assert_out_of_range(&err, "publish and wait", "timeout", a_year);

    let err = unchanged(&env, &q, q.claim(thoonk::MAX_BATCH + 1)).await;
    assert_out_of_range(&err, "claim", "max", "at most 100000");
    let err = unchanged(&env, &q, q.get(over)).await;
    assert_out_of_range(&err, "claim", "timeout", a_year);
    let err = unchanged(&env, &q, q.cancel_with(&claimed, Cancel::new().delay(over))).await;
    assert_out_of_range(&err, "cancel", "delay", a_year);

    let err = unchanged(
        &env,
        &q,
        q.set_lease(thoonk::MAX_LEASE + Duration::from_secs(1)),
    )
    .await;
    assert_out_of_range(&err, "configure", "lease", "at most 7 days");
    let err = unchanged(&env, &q, q.set_max_cancels(thoonk::MAX_CANCELS + 1)).await;
    assert_out_of_range(&err, "configure", "max_cancels", "at most 2147483647");

    // At their bounds, they are taken.
    q.publish(
        "x",
        Publish::new()
            .delay(thoonk::MAX_DELAY)
            .keep_result(thoonk::MAX_DELAY),
    )
    .await
    .unwrap();
    q.set_lease(thoonk::MAX_LEASE).await.unwrap();
    q.set_max_cancels(thoonk::MAX_CANCELS).await.unwrap();
    q.cancel_with(&claimed, Cancel::new().delay(thoonk::MAX_DELAY))
        .await
        .unwrap();
    env.check_invariants(QUEUE);
}
