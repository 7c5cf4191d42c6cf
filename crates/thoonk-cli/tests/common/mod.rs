//! Helpers for the CLI tests: the `thoonk` binary run in the foreground
//! (with a deadline) or in the background (behind a guard that kills it on
//! drop), its [`Output`] and the assertions on it, a private Redis to run it
//! against ([`Redis`], looked into with the test kit's RESP client,
//! snapshots and job invariant); `thoonk work` processes to signal and kill
//! ([`worker`]) and a `thoonk dashboard` on its own Redis ([`dashboard`]),
//! or an app that mounts the dashboard's router ([`mounted`]), spoken to
//! over plain HTTP ([`http`]); jobs failed or held for its panels
//! ([`held`]).

// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

pub(crate) mod dashboard;
pub(crate) mod held;
pub(crate) mod http;
pub(crate) mod mounted;
pub(crate) mod worker;

/// `thoonk bench` at small sizes: whether it works and what it prints, not
/// how fast.
pub(crate) const SMALL_BENCH: &[&str] = &[
    "bench",
    "--jobs",
    "300",
    "--single",
    "100",
    "--latency-jobs",
    "50",
    "--rate",
    "500",
    "--concurrency",
    "8",
];

/// What an application's ACL user may do: the queues' keys and channels,
/// with every command but the dangerous ones.
pub(crate) const APP_RULES: &[&str] = &["~job.*", "&event.job.*", "+@all", "-@dangerous"];

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::Duration;
use thoonk_testkit::poll::{self, DEADLINE};
use thoonk_testkit::{queue_key, token_of, Counts, DbSnapshot, PrivateRedis, Resp};

/// The binary under test.
pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_thoonk");

/// What a finished `thoonk` run left behind.
#[derive(Debug)]
pub(crate) struct Output {
    /// The exit code (-1 when killed by a signal).
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Output {
    /// Asserts exit 0 and a silent stderr; returns stdout.
    #[track_caller]
    pub(crate) fn assert_success(&self) -> &str {
        assert_eq!(self.code, 0, "expected success: {self:?}");
        assert_eq!(self.stderr, "", "expected nothing on stderr: {self:?}");
        &self.stdout
    }

    /// Asserts exit 0 and exactly one line on stdout; returns it.
    #[track_caller]
    pub(crate) fn line(&self) -> &str {
        let out = self.assert_success();
        let line = out
            .strip_suffix('\n')
            .unwrap_or_else(|| panic!("stdout does not end in a newline: {self:?}"));
        assert!(!line.contains('\n'), "expected one line: {self:?}");
        line
    }

    /// The single stderr line, asserting there is exactly one and that it
    /// starts with `error: `.
    #[track_caller]
    pub(crate) fn error_line(&self) -> &str {
        let line = self
            .stderr
            .strip_suffix('\n')
            .unwrap_or_else(|| panic!("stderr is not one terminated line: {self:?}"));
        assert!(
            !line.is_empty() && !line.contains('\n'),
            "expected exactly one stderr line: {self:?}"
        );
        assert!(line.starts_with("error: "), "{self:?}");
        line
    }

    /// Asserts a refusal or failure: exit `code`, exactly one `error: ` line
    /// on stderr containing every needle. Returns that line.
    #[track_caller]
    pub(crate) fn failed(&self, code: i32, needles: &[&str]) -> String {
        assert_eq!(self.code, code, "wrong exit code: {self:?}");
        let line = self.error_line();
        for needle in needles {
            assert!(
                line.contains(needle),
                "stderr line {line:?} does not mention {needle:?}"
            );
        }
        line.to_string()
    }

    /// `failed(1, …)` with nothing on stdout either: a refused command
    /// prints nothing else.
    #[track_caller]
    pub(crate) fn refused(&self, needles: &[&str]) -> String {
        assert_eq!(
            self.stdout, "",
            "a refusal prints nothing on stdout: {self:?}"
        );
        self.failed(1, needles)
    }

    /// Asserts a usage error: exit 2, nothing on stdout, clap's message on
    /// stderr.
    #[track_caller]
    pub(crate) fn usage_error(&self) {
        assert_eq!(self.code, 2, "expected a usage error: {self:?}");
        assert_eq!(self.stdout, "", "{self:?}");
        assert!(self.stderr.starts_with("error: "), "{self:?}");
        assert!(self.stderr.contains("try '--help'"), "{self:?}");
    }
}

/// The environment variables the binary reads: the user's settings of
/// them never leak into a test (one that wants them sets them again).
const USER_ENV: &[&str] = &[
    "THOONK_REDIS_URL",
    "THOONK_TLS_CA",
    "THOONK_CLUSTER",
    "THOONK_DASHBOARD_TOKEN",
    // Plain "info" logs, whatever the user's RUST_LOG says.
    "RUST_LOG",
];

/// A command line for the binary, with none of [`USER_ENV`] in its
/// environment.
pub(crate) fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    for var in USER_ENV {
        cmd.env_remove(var);
    }
    cmd
}

/// Runs `cmd` to its end with `stdin` as its input; fails the test if it
/// runs past [`DEADLINE`] (none should take more than a fraction of a
/// second: that bounds a hang).
pub(crate) fn run(mut cmd: Command, stdin: &[u8]) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = Guard(cmd.spawn().expect("spawn thoonk"));
    let mut input = child.0.stdin.take().expect("piped stdin");
    let stdin = stdin.to_vec();
    // A child that never reads its stdin makes this fail with EPIPE: fine.
    let writer = thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let stdout = read_all(child.0.stdout.take().expect("piped stdout"));
    let stderr = read_all(child.0.stderr.take().expect("piped stderr"));
    let status = wait_for_exit(&mut child.0, DEADLINE)
        .unwrap_or_else(|| panic!("{cmd:?} did not exit within {DEADLINE:?}"));
    writer.join().expect("stdin writer");
    Output {
        code: status.code().unwrap_or(-1),
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

fn read_all(mut from: impl Read + Send + 'static) -> JoinHandle<String> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = from.read_to_end(&mut buf);
        String::from_utf8(buf).expect("thoonk prints UTF-8")
    })
}

/// Polls `child` until it exits or `within` passes.
fn wait_for_exit(child: &mut Child, within: Duration) -> Option<std::process::ExitStatus> {
    poll::poll(within, || child.try_wait().expect("try_wait"))
}

/// Kills the child (if it still runs) when dropped, so no test leaves a
/// `thoonk` (or a chromedriver) behind, even when it panics.
pub(crate) struct Guard(pub(crate) Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `thoonk` running in the background (`events`, a blocked `get`, a
/// `publish --wait`); killed on drop.
pub(crate) struct Background {
    child: Guard,
    lines: Receiver<String>,
    stdout: Option<JoinHandle<()>>,
    stderr: Option<JoinHandle<String>>,
    what: String,
}

impl Background {
    /// Starts `cmd` with stdin closed; its stdout is read line by line.
    pub(crate) fn spawn(mut cmd: Command) -> Background {
        let what = format!("{cmd:?}");
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = Guard(cmd.spawn().expect("spawn thoonk"));
        let out = child.0.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        let stdout = thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = read_all(child.0.stderr.take().expect("piped stderr"));
        Background {
            child,
            lines,
            stdout: Some(stdout),
            stderr: Some(stderr),
            what,
        }
    }

    /// The next stdout line; fails the test if none comes within
    /// [`DEADLINE`].
    #[track_caller]
    pub(crate) fn next_line(&self) -> String {
        match self.lines.recv_timeout(DEADLINE) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => {
                panic!("{} printed no line within {DEADLINE:?}", self.what)
            }
            Err(RecvTimeoutError::Disconnected) => {
                panic!("{} closed its stdout", self.what)
            }
        }
    }

    /// A `thoonk dashboard`'s address (`127.0.0.1:PORT`), from the first
    /// line it prints.
    #[track_caller]
    pub(crate) fn dashboard_addr(&self) -> String {
        let line = self.next_line();
        line.strip_prefix("dashboard on http://")
            .and_then(|rest| rest.strip_suffix('/'))
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string()
    }

    /// The next stdout line, parsed as JSON.
    #[track_caller]
    pub(crate) fn next_json(&self) -> Value {
        let line = self.next_line();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line:?}"))
    }

    /// Asks it to stop (SIGTERM) and returns what [`Background::exit`] does.
    #[track_caller]
    pub(crate) fn terminate(self) -> Output {
        let pid = self.child.0.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -TERM {pid}");
        self.exit()
    }

    /// Waits (up to [`DEADLINE`]) for the child to exit; returns its exit
    /// code, the stdout lines not yet read, and its stderr.
    #[track_caller]
    pub(crate) fn exit(mut self) -> Output {
        let status = wait_for_exit(&mut self.child.0, DEADLINE)
            .unwrap_or_else(|| panic!("{} did not exit within {DEADLINE:?}", self.what));
        self.stdout.take().expect("once").join().expect("reader");
        let stdout: String = self.lines.try_iter().map(|l| l + "\n").collect();
        let stderr = self.stderr.take().expect("once").join().expect("reader");
        Output {
            code: status.code().unwrap_or(-1),
            stdout,
            stderr,
        }
    }
}

/// Runs `future` to its end on a fresh single-threaded runtime: for tests
/// that drive the `thoonk` library directly.
pub(crate) fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(future)
}

/// A private `redis-server` for one test (never 6379, never flushed).
pub(crate) struct Redis {
    server: PrivateRedis,
}

impl Redis {
    pub(crate) fn start() -> Redis {
        Redis {
            server: PrivateRedis::start().expect("start a private redis-server"),
        }
    }

    /// A server whose clock the test moves (`server().clock()`): jobs of
    /// known length without waiting for them.
    pub(crate) fn start_clocked() -> Redis {
        Redis {
            server: PrivateRedis::start_clocked().expect("start a clocked redis-server"),
        }
    }

    /// A server with extra settings, e.g. `[("appendonly", "yes")]`.
    pub(crate) fn start_with(settings: &[(&str, &str)]) -> Redis {
        Redis {
            server: PrivateRedis::start_with(settings).expect("start a private redis-server"),
        }
    }

    pub(crate) fn url(&self) -> String {
        self.server.url()
    }

    /// Kills the server (SIGKILL); what it persisted stays for `restart`.
    pub(crate) fn stop(&mut self) {
        self.server.stop();
    }

    /// Starts the server again, same port, settings and data.
    pub(crate) fn restart(&mut self) {
        self.server
            .restart()
            .expect("restart the private redis-server");
    }

    /// The server itself, for the kit's own clients and snapshots.
    pub(crate) fn server(&self) -> &PrivateRedis {
        &self.server
    }

    /// Sends one command and reads its whole reply.
    #[track_caller]
    pub(crate) fn query(&self, args: &[&str]) -> Resp {
        self.server
            .command(args)
            .unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    /// The server's version, as `INFO server` gives it.
    pub(crate) fn version(&self) -> String {
        let info = self.query(&["INFO", "server"]).text().unwrap();
        info.lines()
            .find_map(|l| l.strip_prefix("redis_version:"))
            .expect("INFO server has redis_version")
            .trim()
            .to_string()
    }

    /// The counts of `queue`, read in one snapshot straight from its keys
    /// (cheap: no job is read).
    #[track_caller]
    pub(crate) fn counts(&self, queue: &str) -> Counts {
        self.server
            .connect()
            .and_then(|mut conn| Counts::read(&mut conn, queue))
            .unwrap_or_else(|e| panic!("the counts of {queue}: {e}"))
    }

    /// `job.tokens:QUEUE` as (id, token) pairs: the token of each claim
    /// record.
    #[track_caller]
    pub(crate) fn tokens(&self, queue: &str) -> Vec<(String, String)> {
        let flat = self
            .query(&["HGETALL", &queue_key("tokens", queue)])
            .strings()
            .expect("HGETALL's fields and values");
        flat.chunks(2)
            .map(|pair| (pair[0].clone(), token_of(&pair[1]).to_string()))
            .collect()
    }

    /// The whole database, every key with its type and contents, read at
    /// one instant: to show that a refused command changed nothing.
    #[track_caller]
    pub(crate) fn snapshot(&self) -> DbSnapshot {
        self.server.snapshot().expect("a snapshot of the database")
    }

    /// Asserts that every job of `queue` is in exactly one state (the
    /// kit's [`thoonk_testkit::QueueSnapshot::check_invariants`], on one
    /// atomic snapshot, so it holds even while workers run). Returns the
    /// counts it saw.
    #[track_caller]
    pub(crate) fn check_invariants(&self, queue: &str) -> Counts {
        self.server
            .queue_snapshot(queue)
            .unwrap_or_else(|e| panic!("a snapshot of {queue}: {e}"))
            .check_invariants()
    }

    /// How many clients subscribe to `channel`.
    #[track_caller]
    pub(crate) fn subscribers(&self, channel: &str) -> i64 {
        match self.query(&["PUBSUB", "NUMSUB", channel]) {
            Resp::Array(Some(reply)) => match reply.as_slice() {
                [_, Resp::Int(n)] => *n,
                other => panic!("unexpected NUMSUB reply {other:?}"),
            },
            other => panic!("unexpected NUMSUB reply {other:?}"),
        }
    }

    /// `CLIENT LIST`, one line per client.
    #[track_caller]
    pub(crate) fn clients(&self) -> String {
        self.query(&["CLIENT", "LIST"])
            .text()
            .expect("CLIENT LIST's text")
    }

    /// `thoonk --redis URL ARGS…`, run to its end (stdin empty).
    pub(crate) fn thoonk(&self, args: &[&str]) -> Output {
        self.thoonk_stdin(args, b"")
    }

    /// `thoonk --redis URL ARGS…` with `stdin` as its input.
    pub(crate) fn thoonk_stdin(&self, args: &[&str], stdin: &[u8]) -> Output {
        run(self.command(args), stdin)
    }

    /// `thoonk --redis URL ARGS…` in the background.
    pub(crate) fn spawn(&self, args: &[&str]) -> Background {
        Background::spawn(self.command(args))
    }

    /// `thoonk --redis URL ARGS…`, to run as the test likes.
    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let url = self.url();
        let mut all = vec!["--redis", url.as_str()];
        all.extend_from_slice(args);
        command(&all)
    }

    /// Publishes `item` (with extra options); asserts it succeeded and
    /// returns the printed id.
    #[track_caller]
    pub(crate) fn publish(&self, queue: &str, item: &str, options: &[&str]) -> String {
        let mut args = vec!["publish", queue, item];
        args.extend_from_slice(options);
        self.thoonk(&args).line().to_string()
    }

    /// Claims one job (which must be there); returns the parsed line.
    #[track_caller]
    pub(crate) fn get(&self, queue: &str) -> Claim {
        let out = self.thoonk(&["get", queue, "--timeout", "5"]);
        Claim::parse(out.line())
    }

    /// `list QUEUE STATE --json`, parsed.
    #[track_caller]
    pub(crate) fn list(&self, queue: &str, state: &str) -> Vec<Listed> {
        let out = self.thoonk(&["list", queue, state, "--json"]);
        let value: Value = serde_json::from_str(out.line()).expect("list --json prints JSON");
        value
            .as_array()
            .unwrap_or_else(|| panic!("list --json prints an array: {value}"))
            .iter()
            .map(Listed::from_json)
            .collect()
    }

    /// The ids in `list QUEUE STATE --json`, in order.
    #[track_caller]
    pub(crate) fn ids(&self, queue: &str, state: &str) -> Vec<String> {
        self.list(queue, state).into_iter().map(|l| l.id).collect()
    }

    /// `stats QUEUE --json`, parsed.
    #[track_caller]
    pub(crate) fn stats(&self, queue: &str) -> Value {
        let out = self.thoonk(&["stats", queue, "--json"]);
        serde_json::from_str(out.line()).expect("stats --json prints JSON")
    }

    /// Changes the settings of `queue` through the library (the CLI has
    /// no command for them); returns them afterwards.
    #[track_caller]
    pub(crate) fn configure(
        &self,
        queue: &str,
        change: thoonk::ConfigChange,
    ) -> thoonk::QueueConfig {
        block_on(async {
            let thoonk = thoonk::Thoonk::connect(&self.url()).await?;
            thoonk.queue(queue)?.configure(change).await
        })
        .unwrap_or_else(|e| panic!("configure {queue}: {e}"))
    }

    /// The settings of `queue`, read through the library.
    #[track_caller]
    pub(crate) fn config(&self, queue: &str) -> thoonk::QueueConfig {
        self.configure(queue, thoonk::ConfigChange::new())
    }
}

/// The line `get` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Claim {
    pub(crate) id: String,
    pub(crate) item: String,
    pub(crate) cancelled: u64,
    pub(crate) token: String,
}

impl Claim {
    /// Parses a `get` line, asserting its exact shape: an object with the
    /// keys id, item, cancelled, token in that order.
    #[track_caller]
    pub(crate) fn parse(line: &str) -> Claim {
        let value: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"));
        let object = value
            .as_object()
            .unwrap_or_else(|| panic!("not an object: {line}"));
        let keys: Vec<&str> = object.keys().map(String::as_str).collect();
        assert_eq!(keys, ["id", "item", "cancelled", "token"], "{line}");
        let string = |key: &str| {
            object[key]
                .as_str()
                .unwrap_or_else(|| panic!("{key} is not a string: {line}"))
                .to_string()
        };
        let claim = Claim {
            id: string("id"),
            item: string("item"),
            cancelled: object["cancelled"]
                .as_u64()
                .unwrap_or_else(|| panic!("cancelled is not a count: {line}")),
            token: string("token"),
        };
        assert!(!claim.token.is_empty(), "{line}");
        claim
    }
}

/// One element of `list … --json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Listed {
    pub(crate) id: String,
    pub(crate) item: String,
    pub(crate) cancelled: u64,
}

impl Listed {
    /// The listing of job `id` with payload `item`, cancelled `cancelled` times.
    pub(crate) fn new(id: &str, item: &str, cancelled: u64) -> Listed {
        Listed {
            id: id.to_string(),
            item: item.to_string(),
            cancelled,
        }
    }

    #[track_caller]
    fn from_json(value: &Value) -> Listed {
        let object = value
            .as_object()
            .unwrap_or_else(|| panic!("not an object: {value}"));
        let keys: Vec<&str> = object.keys().map(String::as_str).collect();
        assert_eq!(keys, ["id", "item", "cancelled"], "{value}");
        Listed {
            id: object["id"].as_str().expect("id").to_string(),
            item: object["item"].as_str().expect("item").to_string(),
            cancelled: object["cancelled"].as_u64().expect("cancelled"),
        }
    }
}
