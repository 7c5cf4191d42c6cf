//! The durability option of publish: acknowledged only once N replicas have
//! the job (`WAIT`), an error naming queue, job and counts when they do not.

mod common;

use common::*;
use std::time::Duration;
use thoonk::{Error, Publish};
use thoonk_testkit::poll::{eventually, DEADLINE};
use thoonk_testkit::{PrivateRedis, Resp};

#[tokio::test]
async fn a_publish_no_replica_acknowledged_is_an_error_and_still_queued() {
    let env = Env::start().await;
    let q = env.queue("mail");
    let err = q
        .publish(
            "x",
            Publish::new()
                .id("j1")
                .replicas(1, Duration::from_millis(100)),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::NotReplicated {
                wanted: 1,
                reached: 0,
                ..
            }
        ),
        "{err:?}"
    );
    assert_message_names(&err, &["mail", "j1", "0 of 1 replicas"]);
    // Queued all the same: the error says what is at risk, it does not undo.
    assert_eq!(q.stats().await.unwrap().available, 1);
    // Zero replicas asked: nothing to wait for.
    q.publish("y", Publish::new().replicas(0, Duration::from_millis(100)))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_publish_is_acknowledged_once_the_replica_has_it() {
    let env = Env::start().await;
    let replica = PrivateRedis::start().expect("start a replica");
    let port = env.redis.port().to_string();
    // A new replica's full sync would otherwise wait 5 s for others to join.
    env.redis
        .command(&["CONFIG", "SET", "repl-diskless-sync-delay", "0"])
        .and_then(Resp::into_result)
        .expect("CONFIG SET");
    replica
        .command(&["REPLICAOF", "127.0.0.1", &port])
        .and_then(Resp::into_result)
        .expect("REPLICAOF");
    let on_replica = redis_conn(&replica).await;
    eventually("the replica in sync", || {
        let mut conn = on_replica.clone();
        async move {
            let info: String = cmd(&mut conn, &["INFO", "replication"]).await;
            info.contains("master_link_status:up")
        }
    })
    .await;
    let mut on_replica = on_replica;
    let q = env.queue("mail");
    let batch: Vec<thoonk::NewJob> = (0..50)
        .map(|n| thoonk::NewJob::from(format!("job {n}")))
        .chain([thoonk::NewJob::from((
            "last",
            Publish::new().id("last").replicas(1, DEADLINE),
        ))])
        .collect();
    q.publish_many(batch).await.unwrap();
    // Acknowledged means on the replica already: read there, no waiting.
    let item: Option<String> = cmd(&mut on_replica, &["HGET", "job.items:mail", "last"]).await;
    assert_eq!(item.as_deref(), Some("last"));
    let queued: u64 = cmd(&mut on_replica, &["LLEN", "job.ids:mail"]).await;
    assert_eq!(queued, 51);
}

async fn redis_conn(server: &PrivateRedis) -> thoonk::redis::aio::MultiplexedConnection {
    // No reply timeout (the client's default is 500 ms): a replica that is
    // loading its first full sync may take longer than that to answer, and
    // the test's poller bounds any hang.
    let config = thoonk::redis::AsyncConnectionConfig::new().set_response_timeout(None);
    thoonk::redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .unwrap()
}
