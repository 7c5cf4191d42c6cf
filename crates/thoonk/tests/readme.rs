//! The README's examples are the programs in `examples/`, word for word,
//! and each prints what the README says it prints when run against a
//! private `redis-server` (or cluster) named in `THOONK_REDIS_URL`.

use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use thoonk_testkit::poll::until;
use thoonk_testkit::{Counts, PrivateCluster, PrivateRedis};

const README: &str = include_str!("../../../README.md");

/// The examples the README shows.
const SHOWN: &[&str] = &[
    "quickstart",
    "by_hand",
    "worker",
    "timeout",
    "typed",
    "flow",
    "schedules",
    "errors",
    "cluster",
];

/// The fenced block right after `marker` in the README.
fn block_after(marker: &str) -> String {
    let at = README
        .find(marker)
        .unwrap_or_else(|| panic!("the README has no {marker}"));
    let rest = &README[at + marker.len()..];
    let open = rest.find("```").expect("a fenced block after the marker");
    let body = &rest[open..];
    let body = &body[body.find('\n').expect("the fence's line") + 1..];
    let close = body.find("\n```").expect("the block's closing fence");
    body[..close].to_string()
}

/// What the README says example `name` prints.
fn output_shown(name: &str) -> String {
    block_after(&format!("<!-- output: {name} -->"))
}

/// The examples' programs, built (a no-op when `cargo test` built them
/// already), by name.
fn binaries() -> &'static HashMap<String, PathBuf> {
    static BUILT: OnceLock<HashMap<String, PathBuf>> = OnceLock::new();
    BUILT.get_or_init(|| {
        let out = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "-p", "thoonk", "--examples"])
            .args(["--message-format", "json-render-diagnostics"])
            .stderr(Stdio::inherit())
            .output()
            .expect("run cargo build --examples");
        assert!(out.status.success(), "the examples do not build");
        String::from_utf8(out.stdout)
            .expect("cargo's messages")
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["kind"][0] == "example")
            .filter_map(|m| {
                let name = m["target"]["name"].as_str()?.to_string();
                Some((name, PathBuf::from(m["executable"].as_str()?)))
            })
            .collect()
    })
}

/// Example `name` with `THOONK_REDIS_URL=url`, its stdout piped.
fn example(name: &str, url: &str) -> Command {
    let mut cmd = Command::new(&binaries()[name]);
    cmd.env("THOONK_REDIS_URL", url)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    cmd
}

/// Runs example `name` to its end against `url`; asserts it succeeded and
/// printed what the README shows.
fn prints_what_the_readme_shows(name: &str, url: &str) {
    let out = example(name, url).output().expect("run the example");
    assert!(out.status.success(), "{name}: {:?}", out.status);
    let printed = String::from_utf8(out.stdout).expect("UTF-8");
    assert_eq!(printed.trim_end(), output_shown(name), "{name} prints");
}

#[test]
fn the_readme_shows_each_example_word_for_word() {
    for name in SHOWN {
        let path = format!("{}/examples/{name}.rs", env!("CARGO_MANIFEST_DIR"));
        let file = std::fs::read_to_string(&path).expect("the example's file");
        assert_eq!(
            block_after(&format!("<!-- example: {name} -->")),
            file.trim_end(),
            "README's {name} differs from {path}"
        );
    }
}

#[test]
fn quickstart() {
    let redis = PrivateRedis::start().unwrap();
    prints_what_the_readme_shows("quickstart", &redis.url());
}

#[test]
fn by_hand() {
    let redis = PrivateRedis::start().unwrap();
    prints_what_the_readme_shows("by_hand", &redis.url());
}

#[test]
fn typed() {
    let redis = PrivateRedis::start().unwrap();
    prints_what_the_readme_shows("typed", &redis.url());
}

#[test]
fn flow() {
    let redis = PrivateRedis::start().unwrap();
    prints_what_the_readme_shows("flow", &redis.url());
}

#[test]
fn schedules() {
    let redis = PrivateRedis::start().unwrap();
    prints_what_the_readme_shows("schedules", &redis.url());
}

#[test]
fn errors() {
    let redis = PrivateRedis::start().unwrap();
    prints_what_the_readme_shows("errors", &redis.url());
}

#[test]
fn cluster() {
    let cluster = PrivateCluster::start().unwrap();
    prints_what_the_readme_shows("cluster", &cluster.urls().join(","));
}

/// A running example, killed if the test fails before it ends: it must
/// not outlive the test (holding its output pipe open, among others).
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Runs example `name`, a worker that runs until Ctrl-C, against a
/// private Redis; once queue `queue`'s counts are `done`, sends it SIGINT
/// and returns what it printed.
fn interrupted(name: &str, queue: &str, done: impl Fn(&Counts) -> bool) -> String {
    let redis = PrivateRedis::start().unwrap();
    let mut running = Running(
        example(name, &redis.url())
            .spawn()
            .expect("run the example"),
    );
    let child = &mut running.0;
    let mut conn = redis.connect().unwrap();
    until(&format!("{name}'s jobs are done"), || {
        done(&Counts::read(&mut conn, queue).unwrap())
    });
    let pid = child.id().to_string();
    let sent = Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(sent.success(), "kill -INT {pid}");
    let mut printed = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut printed)
        .unwrap();
    assert!(child.wait().unwrap().success());
    printed
}

/// The worker example runs until Ctrl-C: once its two jobs are done (one
/// finished, one stalled), it gets a SIGINT, and prints its report.
#[test]
fn worker() {
    let printed = interrupted("worker", "resize", |counts| {
        counts.finishes == 1 && counts.stalls == 1
    });
    assert_eq!(printed.trim_end(), output_shown("worker"));
}

/// The timeout example, likewise: once one job finished and the other
/// timed out (cancelled, delayed a minute by the backoff).
#[test]
fn timeout() {
    let printed = interrupted("timeout", "render", |counts| {
        counts.finishes == 1 && counts.cancels == 1
    });
    assert_eq!(printed.trim_end(), output_shown("timeout"));
}
