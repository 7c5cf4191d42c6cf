//! The connection to Redis, secured: TLS with a CA of our own, an ACL user
//! that may touch only the queue's keys and channels, and a password that
//! shows up nowhere (errors, their `Debug`, the client's `Debug`).
//!
//! Each test starts its own private redis-server(s) (a free port, never
//! 6379); the TLS ones use a throwaway CA made with `openssl`.

mod common;

use common::start;
use std::time::Duration;
use thoonk::redis;
use thoonk::{Error, EventKind, Job, Publish, Queue, State, Thoonk, Worker};
use thoonk_testkit::poll::{eventually, within, DEADLINE};
use thoonk_testkit::{PrivateCluster, PrivateRedis, Resp};

/// The ACL user's password: distinctive, so a leak of it is unmistakable.
const PASSWORD: &str = "Pw-7f3e9a1c-never-shown";

/// What the ACL user may do: the queue's keys (`job.*`) and channels
/// (`event.job.*`), with every command but the dangerous ones.
const APP_RULES: &[&str] = &["~job.*", "&event.job.*", "+@all", "-@dangerous"];

/// Asserts that the password is in neither the text nor the `Debug` of `e`.
#[track_caller]
fn assert_hidden(e: &Error) {
    for shown in [e.to_string(), format!("{e:?}")] {
        assert!(!shown.contains(PASSWORD), "the password shows: {shown}");
    }
}

/// The CA certificate of a TLS server.
/// The server's `ACL LOG`: what it refused, one entry each.
fn acl_log(redis: &PrivateRedis) -> Vec<Resp> {
    redis
        .command(&["ACL", "LOG"])
        .and_then(Resp::array)
        .expect("ACL LOG")
}

fn ca_of(redis: &PrivateRedis) -> Vec<u8> {
    redis
        .certs()
        .expect("a TLS server")
        .ca_pem()
        .expect("read the CA")
}

/// Every operation a program and its workers use, on queue `name`:
/// publish (now, delayed, in a batch), list, stats, a worker that claims
/// and finishes, `publish_and_wait`, events, claim by hand with cancel,
/// stall, retry and retract, and the queue's settings.
async fn every_operation(thoonk: &Thoonk, name: &str) {
    let q = thoonk.queue(name).expect("a valid queue name");
    q.set_lease(Duration::from_secs(30))
        .await
        .expect("set_lease");
    q.set_max_cancels(5).await.expect("set_max_cancels");
    let mut events = within("subscribe", q.subscribe()).await.expect("subscribe");

    // Published before any worker runs: listed and counted as available.
    let first = q.publish("one", Publish::new()).await.expect("publish");
    let delayed = q
        .publish("later", Publish::new().delay(Duration::from_secs(3600)))
        .await
        .expect("publish delayed");
    let listed = q.list(State::Available, 0, 10).await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, first);
    assert_eq!(q.list(State::Delayed, 0, 10).await.expect("list").len(), 1);
    let stats = q.stats().await.expect("stats");
    assert_eq!((stats.available, stats.delayed), (1, 1));
    let event = within("the publish event", events.next())
        .await
        .expect("an event");
    assert_eq!(
        (event.kind, event.id.as_str()),
        (EventKind::Publish, first.as_str())
    );

    // A worker claims and finishes, over its blocking and finishing
    // connections; publish_and_wait gets its result through the events.
    let worker = start(Worker::new(q.clone()), |job: Job| async move {
        Ok::<_, thoonk::Failure>([b"done: ", &job.item[..]].concat())
    });
    let result = within(
        "publish_and_wait",
        q.publish_and_wait("two", Publish::new(), DEADLINE),
    )
    .await
    .expect("publish_and_wait");
    assert_eq!(result.as_deref(), Some(&b"done: two"[..]));
    // The first job was there before the worker: it is finished too.
    eventually("the worker finished both jobs", || async {
        q.stats().await.expect("stats").finishes >= 2
    })
    .await;
    let report = worker.stop().await;
    assert_eq!(report.finished, 2);

    // By hand: claim, cancel, claim again, stall, retry, retract.
    let id = q.publish("three", Publish::new()).await.expect("publish");
    let claimed = within("get", q.get(DEADLINE))
        .await
        .expect("get")
        .expect("a job");
    assert_eq!(claimed.id, id);
    assert_eq!(q.cancel(&claimed).await.expect("cancel"), State::Available);
    let claimed = q.claim(1).await.expect("claim").pop().expect("a job");
    q.stall(&claimed).await.expect("stall");
    q.retry(&id).await.expect("retry");
    q.retract(&id).await.expect("retract");
    q.retract(&delayed).await.expect("retract the delayed job");

    // A batch: its scripts are loaded before the pipeline (SCRIPT LOAD).
    let batch = q.publish_many(["a", "b", "c"]).await.expect("publish_many");
    let claimed = q.claim(3).await.expect("claim");
    assert_eq!(claimed.len(), 3);
    for job in &claimed {
        assert!(batch.contains(&job.id), "{batch:?}");
        q.finish(job).await.expect("finish");
    }
    let stats = q.stats().await.expect("stats");
    assert_eq!(
        (stats.available, stats.claimed, stats.stalled, stats.delayed),
        (0, 0, 0, 0),
        "{stats:?}"
    );
    assert_eq!(stats.finishes, 5);
}

#[tokio::test]
async fn tls_with_the_servers_ca_works_for_every_operation() {
    let redis = PrivateRedis::start_tls().expect("start a TLS redis-server");
    let url = redis.url();
    assert!(url.starts_with("rediss://127.0.0.1:"), "{url}");
    let thoonk = within("connect", Thoonk::connect_tls(&url, &ca_of(&redis)))
        .await
        .expect("connect over TLS with the server's CA");
    assert_eq!(thoonk.url(), url);
    // Ordinary, blocking and event connections: all TLS, as the server
    // has no other TCP port.
    every_operation(&thoonk, "mail").await;
}

#[tokio::test]
async fn tls_without_the_servers_ca_is_refused() {
    let redis = PrivateRedis::start_tls().expect("start a TLS redis-server");
    let other = PrivateRedis::start_tls().expect("start another TLS redis-server");
    let url = redis.url();

    // The system's CAs do not know ours.
    let e = within("connect", Thoonk::connect(&url))
        .await
        .expect_err("a certificate of an unknown CA is refused");
    let message = e.to_string();
    assert!(matches!(e, Error::Connect { .. }), "{e:?}");
    assert!(message.contains(&url), "{message}");
    assert!(message.contains("certificate"), "{message}");

    // Nor does another CA.
    let e = within("connect", Thoonk::connect_tls(&url, &ca_of(&other)))
        .await
        .expect_err("a certificate of another CA is refused");
    assert!(e.to_string().contains("certificate"), "{e}");

    // Plain text to the TLS port gets nowhere.
    let plain = format!("redis://127.0.0.1:{}/", redis.port());
    let e = within("connect", Thoonk::connect(&plain))
        .await
        .expect_err("plain text to a TLS port");
    assert!(matches!(e, Error::Connect { .. }), "{e:?}");

    // A CA with a plain URL is a mistake: it would not be used.
    let e = within("connect", Thoonk::connect_tls(&plain, &ca_of(&redis)))
        .await
        .expect_err("a CA for a redis:// URL");
    assert!(e.to_string().contains("not rediss://"), "{e}");

    // A CA file without a certificate would fail every connection later.
    let e = within("connect", Thoonk::connect_tls(&url, b"not a certificate"))
        .await
        .expect_err("a CA file without a certificate");
    assert!(e.to_string().contains("no PEM certificate"), "{e}");
}

/// A cluster whose nodes speak only TLS, as the ACL user: the client
/// follows the cluster's redirections over TLS, its blocking and event
/// connections too, and no node refuses it anything.
#[tokio::test(flavor = "multi_thread")]
async fn a_tls_cluster_with_its_ca_and_an_acl_user_works_for_every_operation() {
    let cluster = tokio::task::spawn_blocking(PrivateCluster::start_tls)
        .await
        .expect("the starting task")
        .expect("start a TLS cluster");
    let ca = std::fs::read(cluster.ca_path().expect("a TLS cluster")).expect("read the CA");
    let seeds = cluster.urls();
    assert!(
        seeds.iter().all(|u| u.starts_with("rediss://")),
        "{seeds:?}"
    );
    cluster
        .add_user("app", PASSWORD, APP_RULES)
        .expect("create the ACL user");
    let thoonk = within(
        "connect",
        Thoonk::connect_cluster_tls(&cluster.urls_as("app", PASSWORD), &ca),
    )
    .await
    .expect("connect to the TLS cluster with its CA");
    assert!(thoonk.is_cluster());
    let names = ["{mail}", "{sms}", "{push}", "{fax}"];
    let masters: std::collections::BTreeSet<u16> = names
        .iter()
        .map(|name| cluster.node_for_key(name).expect("the key's master").port)
        .collect();
    assert!(masters.len() > 1, "the queues all live on {masters:?}");
    for name in names {
        every_operation(&thoonk, name).await;
    }
    // No node refused the ACL user anything.
    for port in cluster.ports() {
        let refusals = cluster.command(port, &["ACL", "LOG"]).expect("ACL LOG");
        assert_eq!(
            refusals.array().expect("ACL LOG's entries"),
            [],
            "node {port} refused the ACL user"
        );
    }
    let e = within("connect", Thoonk::connect_cluster(&seeds))
        .await
        .expect_err("the system's CAs do not know the cluster's");
    assert!(e.to_string().contains("certificate"), "{e}");
}

/// The library's commands, as the ACL user: it may touch only `job.*` keys
/// and `event.job.*` channels, and no dangerous command.
#[tokio::test]
async fn an_acl_user_limited_to_the_queues_keys_runs_every_operation() {
    let redis = PrivateRedis::start().expect("start a private redis-server");
    redis
        .add_user("app", PASSWORD, APP_RULES)
        .expect("create the ACL user");
    let thoonk = within("connect", Thoonk::connect(&redis.url_as("app", PASSWORD)))
        .await
        .expect("connect as the ACL user");
    every_operation(&thoonk, "mail").await;
    // The server refused the ACL user nothing.
    assert_eq!(acl_log(&redis).len(), 0);
    // Logged in as app, not as the default user.
    let mut conn = thoonk.connection();
    let whoami: String = redis::cmd("ACL")
        .arg("WHOAMI")
        .query_async(&mut conn)
        .await
        .expect("ACL WHOAMI");
    assert_eq!(whoami, "app");
}

#[tokio::test]
async fn an_acl_user_is_refused_outside_the_queues_keys_and_channels() {
    let redis = PrivateRedis::start().expect("start a private redis-server");
    redis
        .add_user("app", PASSWORD, APP_RULES)
        .expect("create the ACL user");
    let thoonk = within("connect", Thoonk::connect(&redis.url_as("app", PASSWORD)))
        .await
        .expect("connect as the ACL user");
    let mut conn = thoonk.connection();
    for refused in [
        redis::cmd("SET").arg("other").arg("x").clone(),
        redis::cmd("GET").arg("session:1").clone(),
        redis::cmd("PUBLISH").arg("other").arg("x").clone(),
        redis::cmd("FLUSHALL").clone(),
    ] {
        let e = refused
            .query_async::<redis::Value>(&mut conn)
            .await
            .expect_err("refused by the ACL");
        assert_eq!(
            e.kind(),
            redis::ErrorKind::Server(redis::ServerErrorKind::NoPerm),
            "{e}"
        );
        assert!(!e.to_string().contains(PASSWORD), "{e}");
    }
    assert_eq!(redis.command(&["EXISTS", "other"]).unwrap(), Resp::Int(0));
    assert_eq!(acl_log(&redis).len(), 4);
}

/// A TLS server, an ACL user: `rediss://user:password@host` with the CA.
#[tokio::test]
async fn an_acl_user_over_tls() {
    let redis = PrivateRedis::start_tls().expect("start a TLS redis-server");
    redis
        .add_user("app", PASSWORD, APP_RULES)
        .expect("create the ACL user");
    let url = redis.url_as("app", PASSWORD);
    let thoonk = within("connect", Thoonk::connect_tls(&url, &ca_of(&redis)))
        .await
        .expect("connect over TLS as the ACL user");
    assert_eq!(
        thoonk.url(),
        format!("rediss://app:***@127.0.0.1:{}/", redis.port())
    );
    let q: Queue = thoonk.queue("mail").unwrap();
    let id = q.publish("x", Publish::new()).await.expect("publish");
    let claimed = within("get", q.get(DEADLINE))
        .await
        .expect("get")
        .expect("a job");
    assert_eq!(claimed.id, id);
    q.finish(&claimed).await.expect("finish");
    assert!(!format!("{thoonk:?}").contains(PASSWORD));
}

#[tokio::test]
async fn the_password_shows_nowhere() {
    let mut redis = PrivateRedis::start().expect("start a private redis-server");
    redis
        .add_user("app", PASSWORD, APP_RULES)
        .expect("create the ACL user");

    // A wrong password: the one tried is not shown either.
    let wrong = redis.url_as("app", &format!("{PASSWORD}-wrong"));
    let e = within("connect", Thoonk::connect(&wrong))
        .await
        .expect_err("a wrong password is refused");
    assert_hidden(&e);
    let message = e.to_string();
    assert!(message.contains("app:***@127.0.0.1"), "{message}");
    assert!(message.contains("authentication failed"), "{message}");

    // The default user's password, in the URL's other form.
    let e = within(
        "connect",
        Thoonk::connect(&format!("redis://:{PASSWORD}@127.0.0.1:{}/", redis.port())),
    )
    .await
    .expect_err("the default user has no such password");
    assert_hidden(&e);

    // An unreachable host: a port where nothing listens any more.
    let gone = PrivateRedis::start().expect("start a private redis-server");
    let gone_url = gone.url_as("app", PASSWORD);
    drop(gone);
    let e = within("connect", Thoonk::connect(&gone_url))
        .await
        .expect_err("nothing listens");
    assert_hidden(&e);
    let e = within("connect", Thoonk::connect_cluster(&[gone_url.as_str()]))
        .await
        .expect_err("nothing listens");
    assert_hidden(&e);

    // A URL that does not parse.
    let e = within(
        "connect",
        Thoonk::connect(&format!("redis://app:{PASSWORD}@127.0.0.1:notaport/")),
    )
    .await
    .expect_err("not a URL");
    assert_hidden(&e);

    // Connected: the client's Debug, a refused command, a lost server.
    let url = redis.url_as("app", PASSWORD);
    let thoonk = within("connect", Thoonk::connect(&url))
        .await
        .expect("connect as the ACL user");
    let shown = format!("{thoonk:?}");
    assert!(!shown.contains(PASSWORD), "{shown}");
    assert!(!thoonk.url().contains(PASSWORD), "{}", thoonk.url());
    let q = thoonk.queue("mail").unwrap();
    let e = q
        .finish("no-such-job")
        .await
        .expect_err("finishing a job that is not there");
    assert_hidden(&e);
    redis.stop();
    let e = within("stats of a stopped server", q.stats())
        .await
        .expect_err("the server is gone");
    assert_hidden(&e);
    let e = within(
        "publish to a stopped server",
        q.publish("x", Publish::new()),
    )
    .await
    .expect_err("the server is gone");
    assert_hidden(&e);
}
