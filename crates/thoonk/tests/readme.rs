//! The README's examples are the programs in `examples/`, word for word
//! (less the line that starts a private Redis when none is configured),
//! and each prints what the README says it prints when run against a
//! private `redis-server` (or cluster) named in `THOONK_REDIS_URL`; the
//! examples the README does not show run to their end too, and print what
//! they should.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use thoonk_testkit::{PrivateCluster, PrivateRedis};

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

/// Runs example `name` to its end against `url`; asserts it succeeded,
/// and returns what it printed.
fn run_to_its_end(name: &str, url: &str) -> String {
    let out = example(name, url).output().expect("run the example");
    assert!(out.status.success(), "{name}: {:?}", out.status);
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// Runs example `name` to its end against `url`; asserts it succeeded and
/// printed what the README shows.
fn prints_what_the_readme_shows(name: &str, url: &str) {
    let printed = run_to_its_end(name, url);
    assert_eq!(printed.trim_end(), output_shown(name), "{name} prints");
}

/// An example as the README shows it: without its line that starts a
/// private Redis when none is configured (`thoonk_testkit::…`), which a
/// reader's program has no use for.
fn as_shown(example: &str) -> String {
    let kept: Vec<&str> = example
        .lines()
        .filter(|line| !line.contains("thoonk_testkit::"))
        .collect();
    kept.join("\n")
}

#[test]
fn the_readme_shows_each_example_word_for_word() {
    for name in SHOWN {
        let path = format!("{}/examples/{name}.rs", env!("CARGO_MANIFEST_DIR"));
        let file = std::fs::read_to_string(&path).expect("the example's file");
        assert!(
            file.contains("thoonk_testkit::"),
            "{path} starts a private Redis when none is configured"
        );
        assert_eq!(
            block_after(&format!("<!-- example: {name} -->")),
            as_shown(file.trim_end()),
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

/// The worker example stops by itself once its two jobs are done (one
/// finished, one stalled), and prints its report.
#[test]
fn worker() {
    let redis = PrivateRedis::start().unwrap();
    prints_what_the_readme_shows("worker", &redis.url());
}

/// The timeout example, likewise: once one job finished and the other
/// timed out (cancelled, delayed a minute by the backoff).
#[test]
fn timeout() {
    let redis = PrivateRedis::start().unwrap();
    prints_what_the_readme_shows("timeout", &redis.url());
}

/// The demo: each sentence's result, and the queue's counts at the end.
#[test]
fn demo() {
    let redis = PrivateRedis::start().unwrap();
    let printed = run_to_its_end("demo", &redis.url());
    for line in [
        r#"publisher: "the quick brown fox" -> THE QUICK BROWN FOX (4 words)"#,
        r#"publisher: "every change is an event" -> EVERY CHANGE IS AN EVENT (5 words)"#,
        "stats: 5 published, 5 finished, 0 left",
    ] {
        assert!(printed.lines().any(|l| l == line), "{line:?} in {printed}");
    }
}

/// The tracing example prints each job's span on each of its lines: every
/// change of the job's state and the handler's own event, each attempt in
/// its own span, and each span's close with its timing.
#[test]
fn tracing() {
    let redis = PrivateRedis::start().unwrap();
    let printed = run_to_its_end("tracing", &redis.url());
    let span = |id: &str, attempt: u64| {
        format!(r#"job{{queue="tracing-demo" id="{id}" attempt={attempt} worker=""#)
    };
    let logged = |id: &str, attempt: u64, what: &str| {
        let span = span(id, attempt);
        let found = printed
            .lines()
            .any(|l| l.contains(&span) && l.contains(what));
        assert!(found, "{what:?} in {span}… in {printed}");
    };
    let own = "making a thumbnail";
    let close = "close time.busy=";
    for (id, attempt, what) in [
        ("cat.png", 1, "claimed"),
        ("cat.png", 1, own),
        ("cat.png", 1, "finished"),
        ("cat.png", 1, close),
        ("dog.png", 1, own),
        (
            "dog.png",
            1,
            r#"cancelled: comes back after the backoff reason="the image store is busy""#,
        ),
        ("dog.png", 1, close),
        ("dog.png", 2, own),
        ("dog.png", 2, "finished"),
        ("dog.png", 2, close),
        (
            "notes.txt",
            1,
            r#"stalled: a permanent failure reason="not an image""#,
        ),
        ("notes.txt", 1, close),
    ] {
        logged(id, attempt, what);
    }
    assert!(
        printed.contains("the worker stopped finished=2 failed=1 stalled=1"),
        "{printed}"
    );
}
