//! `thoonk` over a secured connection: `rediss://` with `--tls-ca`, an ACL
//! user in the URL, and its password shown nowhere (the error line,
//! `--help`, the logs of `work`, even at RUST_LOG=debug).

mod common;

use common::worker::WorkerProcess;
use common::{command, run, Output, APP_RULES};
use thoonk_testkit::poll::until;
use thoonk_testkit::{Counts, PrivateCluster, PrivateRedis, TempDir};

/// The ACL user's password: distinctive, so a leak of it is unmistakable.
const PASSWORD: &str = "Pw-5c2b8e0d-never-shown";

/// Runs `thoonk ARGS…` to its end with `env` added (stdin empty).
fn run_with(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = command(args);
    cmd.envs(env.iter().copied());
    run(cmd, b"")
}

/// Asserts that the password is nowhere in what a run printed.
#[track_caller]
fn assert_hidden(out: &Output) {
    assert!(
        !out.stdout.contains(PASSWORD) && !out.stderr.contains(PASSWORD),
        "the password shows: {out:?}"
    );
}

#[test]
fn tls_with_the_ca_works() {
    let redis = PrivateRedis::start_tls().expect("start a TLS redis-server");
    let url = redis.url();
    let ca = redis.ca_path().expect("a TLS server");
    let ca = ca.to_str().expect("a UTF-8 path");

    let out = run_with(&["--redis", &url, "--tls-ca", ca, "publish", "q", "x"], &[]);
    let id = out.line().to_string();
    // Blocking claim and finish, the CA from the environment this time.
    let env = [("THOONK_REDIS_URL", url.as_str()), ("THOONK_TLS_CA", ca)];
    let claim = run_with(&["get", "q", "--timeout", "5"], &env);
    let claim: serde_json::Value = serde_json::from_str(claim.line()).expect("get prints JSON");
    assert_eq!(claim["id"], id.as_str(), "{claim}");
    assert_eq!(claim["item"], "x", "{claim}");
    run_with(&["finish", "q", &id, "done"], &env).assert_success();
    let stats = run_with(&["stats", "q", "--json"], &env);
    let stats: serde_json::Value = serde_json::from_str(stats.line()).expect("stats prints JSON");
    assert_eq!(
        (&stats["finishes"], &stats["available"]),
        (&1.into(), &0.into()),
        "{stats}"
    );
}

#[test]
fn tls_without_the_servers_ca_is_refused() {
    let redis = PrivateRedis::start_tls().expect("start a TLS redis-server");
    let other = PrivateRedis::start_tls().expect("start another TLS redis-server");
    let url = redis.url();
    let other_ca = other.ca_path().expect("a TLS server");

    // The system's CAs, then another CA: the certificate is not trusted.
    run_with(&["--redis", &url, "publish", "q", "x"], &[]).refused(&[
        "cannot connect to Redis at",
        &url,
        "certificate",
    ]);
    run_with(
        &[
            "--redis",
            &url,
            "--tls-ca",
            other_ca.to_str().unwrap(),
            "publish",
            "q",
            "x",
        ],
        &[],
    )
    .refused(&["certificate"]);

    // A CA file that is not there, or holds no certificate.
    let dir = TempDir::new("tls").expect("a temp dir");
    let missing = dir.file("missing.pem");
    run_with(&["--redis", &url, "--tls-ca", &missing, "stats", "q"], &[])
        .refused(&["cannot read the TLS CA", &missing]);
    let empty = dir.file("empty.pem");
    std::fs::write(&empty, "").unwrap();
    run_with(&["--redis", &url, "--tls-ca", &empty, "stats", "q"], &[])
        .refused(&["no PEM certificate"]);

    // A CA with a plain URL would not be used: refused, not ignored.
    let plain = format!("redis://127.0.0.1:{}/", redis.port());
    let ca = redis.ca_path().unwrap();
    run_with(
        &[
            "--redis",
            &plain,
            "--tls-ca",
            ca.to_str().unwrap(),
            "stats",
            "q",
        ],
        &[],
    )
    .refused(&["not rediss://"]);
}

#[test]
fn an_acl_user_works_and_its_password_is_never_printed() {
    let redis = PrivateRedis::start().expect("start a private redis-server");
    redis
        .add_user("app", PASSWORD, APP_RULES)
        .expect("create the ACL user");
    let url = redis.url_as("app", PASSWORD);

    let out = run_with(&["--redis", &url, "publish", "q", "x"], &[]);
    out.line();
    let out = run_with(&["stats", "q"], &[("THOONK_REDIS_URL", &url)]);
    assert!(out.assert_success().contains("available  1"), "{out:?}");

    // A wrong password, on the command line and in the environment.
    let wrong = redis.url_as("app", &format!("{PASSWORD}-wrong"));
    let out = run_with(&["--redis", &wrong, "publish", "q", "x"], &[]);
    out.refused(&["app:***@127.0.0.1", "authentication failed"]);
    assert_hidden(&out);
    let out = run_with(&["stats", "q"], &[("THOONK_REDIS_URL", &wrong)]);
    out.refused(&["app:***@127.0.0.1"]);
    assert_hidden(&out);

    // Nothing listens there; nor on a cluster's seeds.
    let gone = PrivateRedis::start().expect("start a private redis-server");
    let gone_url = gone.url_as("app", PASSWORD);
    drop(gone);
    let out = run_with(&["--redis", &gone_url, "stats", "q"], &[]);
    out.refused(&["app:***@127.0.0.1"]);
    assert_hidden(&out);
    let out = run_with(&["--cluster", "--redis", &gone_url, "stats", "{q}"], &[]);
    out.refused(&["app:***@127.0.0.1"]);
    assert_hidden(&out);

    // A command the server refuses: this user may not publish events.
    redis
        .add_user("mute", PASSWORD, &["~job.*", "+@all", "-@dangerous"])
        .expect("create the ACL user");
    let mute = redis.url_as("mute", PASSWORD);
    let out = run_with(&["--redis", &mute, "publish", "q", "x"], &[]);
    out.refused(&["channel"]);
    assert_hidden(&out);

    // --help shows where the URL may come from, not what it is.
    let out = run_with(&["--help"], &[("THOONK_REDIS_URL", &url)]);
    assert!(out.assert_success().contains("THOONK_REDIS_URL"), "{out:?}");
    assert_hidden(&out);
}

/// Starts `thoonk ARGS…` (a `work`) with `env` added, logging at debug
/// level; returns once it logs that it works.
fn start_work(args: &[&str], env: &[(&str, &str)]) -> WorkerProcess {
    let mut cmd = command(args);
    cmd.envs(env.iter().copied()).env("RUST_LOG", "debug");
    WorkerProcess::spawn(cmd)
}

/// Stops `work` with SIGTERM; asserts it exits 0 within the kit's deadline, having
/// logged that it stopped. Returns everything it logged.
#[track_caller]
fn stop(work: WorkerProcess) -> String {
    let exited = work.terminate();
    assert_eq!(exited.code, Some(0), "{}", exited.stderr);
    assert!(exited.stderr.contains(" stopped "), "{}", exited.stderr);
    exited.stderr
}

/// `thoonk work` as the ACL user, logging at debug level: through jobs
/// that finish and fail, and a restart of Redis under it, nothing it logs
/// holds the password.
#[test]
fn work_never_logs_the_password() {
    let mut redis = PrivateRedis::start().expect("start a private redis-server");
    redis
        .add_user("app", PASSWORD, APP_RULES)
        .expect("create the ACL user");
    let url = redis.url_as("app", PASSWORD);
    let env = [("THOONK_REDIS_URL", url.as_str())];
    let work = start_work(
        &["work", "q", "--", "sh", "-c", r#"test "$(cat)" != fail"#],
        &env,
    );

    // Read afresh each time: the server restarts in between.
    let finishes = |redis: &PrivateRedis| {
        redis
            .connect()
            .and_then(|mut conn| Counts::read(&mut conn, "q"))
            .map_or(0, |counts| counts.finishes)
    };
    run_with(&["publish", "q", "fail"], &env).line();
    run_with(&["publish", "q", "ok"], &env).line();
    until("the job finished", || finishes(&redis) == 1);

    // Redis goes away and comes back, empty (it persists nothing; the ACL
    // user is kept in its ACL file): the worker logs its failures, then
    // reconnects, logging in again, and goes on.
    redis.restart().expect("restart redis");
    work.wait_for_log(" WARN ");
    run_with(&["publish", "q", "ok again"], &env).line();
    until("the job after the restart finished", || {
        finishes(&redis) == 1
    });

    let logged = stop(work);
    assert!(!logged.contains(PASSWORD), "the password shows:\n{logged}");
}

/// The same on a TLS cluster, where the redis crate has things to say at
/// debug level too (its slot map, its connections to each node).
#[test]
fn work_on_a_tls_cluster_never_logs_the_password() {
    let cluster = PrivateCluster::start_tls().expect("start a TLS cluster");
    cluster
        .add_user("app", PASSWORD, APP_RULES)
        .expect("create the ACL user");
    let seeds = cluster.urls_as("app", PASSWORD).join(",");
    let ca = cluster.ca_path().expect("a TLS cluster");
    let env = [
        ("THOONK_REDIS_URL", seeds.as_str()),
        ("THOONK_TLS_CA", ca.to_str().expect("a UTF-8 path")),
        ("THOONK_CLUSTER", "1"),
    ];
    let work = start_work(&["work", "{q}", "--", "cat"], &env);
    for i in 0..10 {
        run_with(&["publish", "{q}", &format!("job {i}")], &env).line();
    }
    let finishes = || {
        cluster
            .cluster_commands(&[&["GET", "job.finishes:{q}"]])
            .unwrap_or_default()
    };
    until("the jobs finished", || finishes() == "10");
    let stats = run_with(&["stats", "{q}", "--json"], &env);
    assert_hidden(&stats);
    let logged = stop(work);
    assert!(!logged.contains(PASSWORD), "the password shows:\n{logged}");
    // Debug logging was on (else this would prove little).
    assert!(logged.contains(" DEBUG redis::"), "{logged}");
}
