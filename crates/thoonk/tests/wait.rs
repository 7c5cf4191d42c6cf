//! publish_and_wait: results, timeouts, retractions and stalls, Redis
//! away, and a finish missed while the event connection was down.

mod common;

use common::*;
use std::time::Duration;
use thoonk::{Error, Publish};
use thoonk_testkit::poll::{eventually, within, DEADLINE};

/// A worker on its own client that finishes the next job with `result`.
async fn spawn_worker(
    env: &Env,
    queue: &str,
    result: Option<&'static str>,
) -> tokio::task::JoinHandle<String> {
    let q = env.client().await.queue(queue).unwrap();
    tokio::spawn(async move {
        let job = q.get(Duration::ZERO).await.unwrap().expect("a job");
        match result {
            Some(r) => q.finish_with(&job, r).await.unwrap(),
            None => q.finish(&job).await.unwrap(),
        }
        job.id
    })
}

/// Asserts `err` is the end of a wait for job `id` of `queue` after
/// `timeout`, the job `published` or not.
#[track_caller]
fn assert_wait_timeout(err: &Error, queue: &str, id: &str, timeout: Duration, published: bool) {
    let Error::WaitTimeout {
        queue: q,
        id: i,
        timeout: t,
        published: p,
    } = err
    else {
        panic!("expected WaitTimeout, got {err:?}")
    };
    assert_eq!(
        (q.as_str(), i.as_str(), *t, *p),
        (queue, id, timeout, published)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn returns_the_result() {
    let env = Env::start().await;
    let worker = spawn_worker(&env, "w", Some("42")).await;
    let q = env.queue("w");
    let result = q
        .publish_and_wait("question", Publish::new().id("q1"), Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(result, Some(b"42".to_vec()));
    assert_eq!(within("the worker", worker).await.unwrap(), "q1");
    env.check_invariants("w");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn returns_none_for_a_finish_without_result() {
    let env = Env::start().await;
    let worker = spawn_worker(&env, "w", None).await;
    let q = env.queue("w");
    // No timeout: waits as long as it takes.
    let result = within(
        "publish_and_wait",
        q.publish_and_wait("question", Publish::new(), Duration::ZERO),
    )
    .await
    .unwrap();
    assert_eq!(result, None);
    within("the worker", worker).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn times_out_when_nobody_works() {
    let env = Env::start().await;
    let raw = env.raw().await;
    let q = env.queue("idle");
    let timeout = Duration::from_millis(300);
    let err = q
        .publish_and_wait("x", Publish::new().id("lonely"), timeout)
        .await
        .unwrap_err();
    assert_wait_timeout(&err, "idle", "lonely", timeout, true);
    assert_message_names(&err, &["idle", "lonely"]);
    // The job stays in the queue, and the waiter stopped listening.
    assert_eq!(q.stats().await.unwrap().available, 1);
    eventually("the finish channel has no subscriber", || {
        let mut raw = raw.clone();
        async move { numsub(&mut raw, "event.job.finish:idle").await == 0 }
    })
    .await;
    env.check_invariants("idle");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retracted_job_ends_the_wait() {
    let env = Env::start().await;
    let mut raw = env.raw().await;
    let q = env.queue("gone");
    let waiter = {
        let q = q.clone();
        tokio::spawn(async move {
            q.publish_and_wait("x", Publish::new().id("doomed"), Duration::from_secs(60))
                .await
        })
    };
    eventually("the job is published", || {
        let mut raw = raw.clone();
        async move { cmd::<bool>(&mut raw, &["HEXISTS", "job.items:gone", "doomed"]).await }
    })
    .await;
    env.client()
        .await
        .queue("gone")
        .unwrap()
        .retract("doomed")
        .await
        .unwrap();

    let err = within("the waiter", waiter).await.unwrap().unwrap_err();
    let Error::Retracted { queue, id } = &err else {
        panic!("expected Retracted, got {err:?}")
    };
    assert_eq!((queue.as_str(), id.as_str()), ("gone", "doomed"));
    assert_message_names(&err, &["gone", "doomed", "retracted"]);
    assert_eq!(
        dbsize(&mut raw).await,
        2,
        "only the publish counter and the tally (counts per minute) are left"
    );
}

/// A stalled job will not finish until someone retries it: the wait ends
/// at once, with the reason, rather than at its timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_job_ends_the_wait_with_its_reason() {
    let env = Env::start().await;
    let q = env.queue("mail");
    let waiter = {
        let q = q.clone();
        // Far longer than `within` below waits: only an early end passes.
        let timeout = DEADLINE * 10;
        tokio::spawn(async move {
            q.publish_and_wait("x", Publish::new().id("bad"), timeout)
                .await
        })
    };
    let worker = env.client().await.queue("mail").unwrap();
    let job = within("the job", worker.get(Duration::ZERO))
        .await
        .unwrap()
        .expect("a job");
    worker
        .stall_with(&job, "not a valid address")
        .await
        .unwrap();

    let err = within("the waiter", waiter).await.unwrap().unwrap_err();
    let Error::Stalled { queue, id, reason } = &err else {
        panic!("expected Stalled, got {err:?}")
    };
    assert_eq!(
        (queue.as_str(), id.as_str(), reason.as_deref()),
        ("mail", "bad", Some("not a valid address"))
    );
    assert_message_names(&err, &["mail", "bad", "stalled", "not a valid address"]);
    env.check_invariants("mail");
}

/// With Redis gone, the wait ends at its timeout, saying the job was not
/// published; before, it first waited out the event connection's own
/// patience (3 s) and ended with that error instead, after the timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_gone_the_wait_ends_at_its_timeout() {
    let mut env = Env::start().await;
    let q = env.client().await.queue("mail").unwrap();
    env.redis.stop();
    let timeout = Duration::from_millis(500);
    let err = within(
        "the wait",
        q.publish_and_wait("x", Publish::new().id("lost"), timeout),
    )
    .await
    .unwrap_err();
    assert_wait_timeout(&err, "mail", "lost", timeout, false);
    assert_message_names(&err, &["mail", "lost", "not published"]);
}

/// The finish happens while the waiter's event connection is down, and it
/// cannot come back until the test lets it: Redis refuses new connections
/// (`maxclients` set to the clients already connected), then the pub/sub
/// connection is killed. Only the connections opened before are used until
/// `maxclients` is raised again. The waiter must then find the kept result.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finish_missed_during_a_reconnect_is_not_lost() {
    let env = Env::start().await;
    // Open every connection the test needs before the door closes: the raw
    // admin connection, the waiter's client and the worker's client (each
    // one multiplexed connection; the worker uses `claim`, never `get`,
    // which would open a blocking connection). With the env's own client
    // and the waiter's event connection, five are open.
    let mut admin = env.raw().await;
    let waiter_client = env.client().await;
    let worker = env.client().await.queue("gap").unwrap();

    let waiter = {
        let q = waiter_client.queue("gap").unwrap();
        tokio::spawn(async move {
            q.publish_and_wait("x", Publish::new().id("awaited"), Duration::from_secs(60))
                .await
        })
    };
    eventually("the waiter subscribed and published", || {
        let mut admin = admin.clone();
        async move {
            numsub(&mut admin, "event.job.finish:gap").await == 1
                && cmd::<bool>(&mut admin, &["HEXISTS", "job.items:gap", "awaited"]).await
        }
    })
    .await;

    // Every connection counts, this admin one included: allow one fewer
    // than are open now, and the killed one cannot be replaced.
    let open = info_field(&mut admin, "clients", "connected_clients").await;
    let _: () = cmd(
        &mut admin,
        &["CONFIG", "SET", "maxclients", &(open - 1).to_string()],
    )
    .await;
    let killed: u64 = cmd(&mut admin, &["CLIENT", "KILL", "TYPE", "pubsub"]).await;
    assert_eq!(killed, 1, "the waiter's event connection");
    assert_eq!(numsub(&mut admin, "event.job.finish:gap").await, 0);
    // The waiter's client tries to reconnect and is turned away.
    eventually("a reconnect is refused", || {
        let mut admin = admin.clone();
        async move { info_field(&mut admin, "stats", "rejected_connections").await >= 1 }
    })
    .await;

    // Finish with nobody subscribed: the finish event reaches no one.
    let job = worker
        .claim(1)
        .await
        .unwrap()
        .pop()
        .expect("the awaited job");
    assert_eq!(job.id, "awaited");
    worker
        .finish_with(&job, "result after the gap")
        .await
        .unwrap();
    assert_eq!(numsub(&mut admin, "event.job.finish:gap").await, 0);
    let now_open = info_field(&mut admin, "clients", "connected_clients").await;
    assert_eq!(now_open, open - 1, "no connection came back during the gap");
    assert!(
        !waiter.is_finished(),
        "the waiter cannot have seen the finish"
    );

    // Let the connection back: the waiter resubscribes and reads what was kept.
    let _: () = cmd(&mut admin, &["CONFIG", "SET", "maxclients", "10000"]).await;
    let result = within("the waiter after the reconnect", waiter)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(result, Some(b"result after the gap".to_vec()));
    env.check_invariants("gap");
}
