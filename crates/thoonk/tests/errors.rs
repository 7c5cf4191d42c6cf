//! Errors that say where: a URL that cannot work, a server that does not
//! answer, a command that fails, each naming the operation, the queue, the
//! job and the server (its password hidden), and what to do.

mod common;

use common::*;
use thoonk::{Error, Thoonk};
use thoonk_testkit::poll::within;

#[tokio::test]
async fn a_url_without_a_scheme_is_refused_as_such() {
    // The address of a private server of the test's own, scheme left out:
    // refused before any connection is tried.
    let env = Env::start().await;
    let url = env.redis.url();
    let bare = url.trim_start_matches("redis://").trim_end_matches('/');
    let err = Thoonk::connect(bare).await.unwrap_err();
    assert!(matches!(err, Error::InvalidUrl { .. }), "{err:?}");
    assert_message_names(&err, &[bare, "no scheme", &format!("redis://{bare}")]);
    // A TLS CA is for TLS URLs only.
    let err = Thoonk::connect_tls("redis://127.0.0.1:1", b"not a pem")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidUrl { .. }), "{err:?}");
    assert_message_names(&err, &["redis://127.0.0.1:1", "rediss://"]);
}

#[tokio::test]
async fn a_server_that_is_not_there_is_said_so_with_what_to_do() {
    let mut env = Env::start().await;
    let url = env.redis.url_as("app", "s3cret");
    env.redis.stop();
    let err = within("the connect", Thoonk::connect(&url))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    assert!(err.is_transient(), "{err:?}");
    let shown = url.replace("s3cret", "***");
    assert_message_names(&err, &[&shown, "is redis-server running"]);
    assert!(!err.to_string().contains("s3cret"), "{err}");
}

/// A command that fails names what it was doing, on which queue and job,
/// and at which server, its password hidden.
#[tokio::test]
async fn a_failed_command_names_its_operation_queue_job_and_server() {
    let mut env = Env::start().await;
    env.redis
        .add_user("app", "s3cret", &["~job.*", "&event.job.*", "+@all"])
        .unwrap();
    let url = env.redis.url_as("app", "s3cret");
    let q = Thoonk::connect(&url).await.unwrap().queue("mail").unwrap();
    env.redis.stop();

    let err = within("the stats", q.stats()).await.unwrap_err();
    let Error::Redis {
        op,
        queue,
        id,
        server,
        ..
    } = &err
    else {
        panic!("expected Redis, got {err:?}")
    };
    assert_eq!(
        (*op, queue.as_deref(), id.as_deref()),
        ("read the counts", Some("mail"), None)
    );
    assert_eq!(server, &url.replace("s3cret", "***"));
    assert!(err.is_transient(), "{err:?}");

    let err = within("the retract", q.retract("welcome-ann"))
        .await
        .unwrap_err();
    assert_message_names(
        &err,
        &[
            "retract",
            "mail",
            "welcome-ann",
            "Redis at redis://app:***@",
        ],
    );
    assert!(!err.to_string().contains("s3cret"), "{err}");
}
