//! Helpers for the CLI tests: a private Redis with a tiny RESP client to
//! look inside it, the `thoonk` binary run in the foreground (with a
//! deadline) or in the background (behind a guard that kills it on drop),
//! and the assertions every test shares; `thoonk work` processes to signal
//! and kill ([`worker`]), a `thoonk dashboard` on its own Redis
//! ([`dashboard`]), and the check that every job is in exactly one state
//! ([`Redis::check_invariants`]).

// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

pub(crate) mod dashboard;
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
use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};
use thoonk_testkit::PrivateRedis;

/// The binary under test.
pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_thoonk");

/// Longest a foreground `thoonk` may run before the test fails (none of
/// them should take more than a fraction of a second).
const RUN_DEADLINE: Duration = Duration::from_secs(30);

/// Longest we wait for a condition in Redis or for a background child's
/// next line or exit.
pub(crate) const WAIT: Duration = Duration::from_secs(15);

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
/// runs past [`RUN_DEADLINE`].
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
    let status = wait_for_exit(&mut child.0, RUN_DEADLINE)
        .unwrap_or_else(|| panic!("{cmd:?} did not exit within {RUN_DEADLINE:?}"));
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
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() > deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// Kills the child (if it still runs) when dropped, so no test leaves a
/// `thoonk` behind, even when it panics.
struct Guard(Child);

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

    /// The next stdout line; fails the test if none comes within [`WAIT`].
    #[track_caller]
    pub(crate) fn next_line(&self) -> String {
        match self.lines.recv_timeout(WAIT) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => {
                panic!("{} printed no line within {WAIT:?}", self.what)
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

    /// Waits (up to [`WAIT`]) for the child to exit; returns its exit code,
    /// the stdout lines not yet read, and its stderr.
    #[track_caller]
    pub(crate) fn exit(mut self) -> Output {
        let status = wait_for_exit(&mut self.child.0, WAIT)
            .unwrap_or_else(|| panic!("{} did not exit within {WAIT:?}", self.what));
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

/// Polls until `cond` holds; fails the test after [`WAIT`].
#[track_caller]
pub(crate) fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        thread::sleep(Duration::from_millis(5));
    }
}

/// A reply in RESP2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resp {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Resp>>),
}

fn read_resp(r: &mut impl BufRead) -> io::Result<Resp> {
    let mut line = String::new();
    r.read_line(&mut line)?;
    let line = line.trim_end_matches("\r\n");
    if line.is_empty() {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "no reply"));
    }
    let (tag, rest) = line.split_at(1);
    let number = || -> io::Result<i64> {
        rest.parse()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, line.to_string()))
    };
    Ok(match tag {
        "+" => Resp::Simple(rest.to_string()),
        "-" => Resp::Error(rest.to_string()),
        ":" => Resp::Int(number()?),
        "$" => match usize::try_from(number()?) {
            Err(_) => Resp::Bulk(None),
            Ok(len) => {
                let mut buf = vec![0; len + 2];
                r.read_exact(&mut buf)?;
                buf.truncate(len);
                Resp::Bulk(Some(buf))
            }
        },
        "*" => match usize::try_from(number()?) {
            Err(_) => Resp::Array(None),
            Ok(len) => Resp::Array(Some(
                (0..len).map(|_| read_resp(r)).collect::<io::Result<_>>()?,
            )),
        },
        _ => return Err(io::Error::new(io::ErrorKind::InvalidData, line.to_string())),
    })
}

impl Resp {
    /// An array of bulk strings (UTF-8), as `HKEYS` or `LRANGE` answer.
    #[track_caller]
    pub(crate) fn strings(self) -> Vec<String> {
        match self {
            Resp::Array(Some(items)) => items
                .into_iter()
                .map(|item| match item {
                    Resp::Bulk(Some(b)) => String::from_utf8(b).expect("UTF-8"),
                    Resp::Simple(s) => s,
                    Resp::Int(n) => n.to_string(),
                    other => panic!("not a string: {other:?}"),
                })
                .collect(),
            Resp::Array(None) => Vec::new(),
            other => panic!("not an array: {other:?}"),
        }
    }

    /// An array of integers.
    #[track_caller]
    pub(crate) fn ints(self) -> Vec<i64> {
        match self {
            Resp::Array(Some(items)) => items
                .into_iter()
                .map(|item| match item {
                    Resp::Int(n) => n,
                    other => panic!("not an integer: {other:?}"),
                })
                .collect(),
            other => panic!("not an array: {other:?}"),
        }
    }
}

/// Every key with its type and contents, members sorted (read only).
const SNAPSHOT: &str = "
local keys = redis.call('KEYS', '*')
table.sort(keys)
local out = {}
local function add_sorted(list)
  table.sort(list)
  for _, v in ipairs(list) do out[#out + 1] = v end
end
for _, k in ipairs(keys) do
  local t = redis.call('TYPE', k).ok
  out[#out + 1] = '-- ' .. k .. ' ' .. t
  if t == 'string' then
    out[#out + 1] = redis.call('GET', k)
  elseif t == 'list' then
    for _, v in ipairs(redis.call('LRANGE', k, 0, -1)) do out[#out + 1] = v end
  elseif t == 'set' then
    add_sorted(redis.call('SMEMBERS', k))
  elseif t == 'hash' then
    local flat, pairs = redis.call('HGETALL', k), {}
    for i = 1, #flat, 2 do pairs[#pairs + 1] = flat[i] .. ' = ' .. flat[i + 1] end
    add_sorted(pairs)
  elseif t == 'zset' then
    local flat, pairs = redis.call('ZRANGE', k, 0, -1, 'WITHSCORES'), {}
    for i = 1, #flat, 2 do pairs[#pairs + 1] = flat[i] .. ' @ ' .. flat[i + 1] end
    add_sorted(pairs)
  end
end
return out
";

/// The keys of one queue, as the v1 layout names them.
pub(crate) struct QueueKeys {
    pub(crate) ids: String,
    pub(crate) items: String,
    pub(crate) claimed: String,
    pub(crate) stalled: String,
    pub(crate) delayed: String,
    pub(crate) tokens: String,
    pub(crate) workers: String,
    pub(crate) config: String,
    pub(crate) publishes: String,
    pub(crate) finishes: String,
}

impl QueueKeys {
    pub(crate) fn new(queue: &str) -> QueueKeys {
        let key = |noun: &str| format!("job.{noun}:{queue}");
        QueueKeys {
            ids: key("ids"),
            items: key("items"),
            claimed: key("claimed"),
            stalled: key("stalled"),
            delayed: key("delayed"),
            tokens: key("tokens"),
            workers: key("workers"),
            config: key("config"),
            publishes: key("publishes"),
            finishes: key("finishes"),
        }
    }
}

/// The counts of one queue, straight from its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) available: i64,
    pub(crate) claimed: i64,
    pub(crate) stalled: i64,
    pub(crate) delayed: i64,
    pub(crate) publishes: i64,
    pub(crate) finishes: i64,
    /// Jobs that exist (`HLEN job.items`).
    pub(crate) items: i64,
}

impl Counts {
    /// Jobs not finished: available, claimed or delayed (stalled ones are
    /// set aside on purpose).
    pub(crate) fn pending(&self) -> i64 {
        self.available + self.claimed + self.delayed
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

/// A directory of its own for one test (logs, flag files); removed on drop.
pub(crate) struct TempDir(pub(crate) std::path::PathBuf);

impl TempDir {
    pub(crate) fn new(name: &str) -> TempDir {
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "thoonk-cli-{name}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a temp dir");
        TempDir(dir)
    }

    /// A path inside, as a string for environment variables.
    pub(crate) fn path(&self, file: &str) -> String {
        self.0
            .join(file)
            .to_str()
            .expect("UTF-8 temp path")
            .to_string()
    }

    /// The lines of a file inside (none when it does not exist yet).
    pub(crate) fn lines(&self, file: &str) -> Vec<String> {
        match std::fs::read_to_string(self.0.join(file)) {
            Ok(text) => text.lines().map(str::to_string).collect(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => panic!("read {file}: {e}"),
        }
    }

    /// Creates an empty file inside (a flag for a waiting command).
    pub(crate) fn touch(&self, file: &str) {
        std::fs::write(self.0.join(file), b"").expect("create a flag file");
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
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

    /// Sends one command and reads its whole reply.
    pub(crate) fn query(&self, args: &[&str]) -> Resp {
        let mut stream =
            TcpStream::connect((Ipv4Addr::LOCALHOST, self.server.port())).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        stream.write_all(req.as_bytes()).expect("send");
        read_resp(&mut BufReader::new(stream)).expect("a reply")
    }

    /// `EVAL script numkeys keys… args…`: reads of several keys in one
    /// atomic snapshot.
    pub(crate) fn eval(&self, script: &str, keys: &[&str], args: &[&str]) -> Resp {
        let numkeys = keys.len().to_string();
        let mut all = vec!["EVAL", script, numkeys.as_str()];
        all.extend_from_slice(keys);
        all.extend_from_slice(args);
        match self.query(&all) {
            Resp::Error(e) => panic!("EVAL failed: {e}"),
            reply => reply,
        }
    }

    /// The counts of `queue`, read in one snapshot straight from its keys.
    pub(crate) fn counts(&self, queue: &str) -> Counts {
        let keys = QueueKeys::new(queue);
        let reply = self.eval(
            "return {redis.call('LLEN', KEYS[1]), redis.call('ZCARD', KEYS[2]), \
             redis.call('SCARD', KEYS[3]), redis.call('ZCARD', KEYS[4]), \
             tonumber(redis.call('GET', KEYS[5]) or '0'), \
             tonumber(redis.call('GET', KEYS[6]) or '0'), redis.call('HLEN', KEYS[7])}",
            &[
                &keys.ids,
                &keys.claimed,
                &keys.stalled,
                &keys.delayed,
                &keys.publishes,
                &keys.finishes,
                &keys.items,
            ],
            &[],
        );
        let n = reply.ints();
        Counts {
            available: n[0],
            claimed: n[1],
            stalled: n[2],
            delayed: n[3],
            publishes: n[4],
            finishes: n[5],
            items: n[6],
        }
    }

    /// `job.tokens:QUEUE` as (id, token) pairs.
    pub(crate) fn tokens(&self, queue: &str) -> Vec<(String, String)> {
        let flat = self
            .query(&["HGETALL", &QueueKeys::new(queue).tokens])
            .strings();
        flat.chunks(2)
            .map(|pair| (pair[0].clone(), pair[1].clone()))
            .collect()
    }

    /// The whole database, every key with its type and contents in a
    /// canonical order: to show that a refused command changed nothing.
    pub(crate) fn snapshot(&self) -> Vec<String> {
        self.eval(SNAPSHOT, &[], &[]).strings()
    }

    /// Asserts that every job of `queue` is in exactly one state: each id
    /// in `job.items` is in exactly one of `job.ids` (and there once),
    /// `job.claimed`, `job.stalled`, `job.delayed`; no id is in those
    /// without an item; each id in `job.tokens` is claimed. Read in one
    /// atomic snapshot, so it holds even while workers run. Returns the
    /// counts it saw.
    #[track_caller]
    pub(crate) fn check_invariants(&self, queue: &str) -> Counts {
        let keys = QueueKeys::new(queue);
        let reply = self.eval(
            "local out = {}
             out[1] = redis.call('HKEYS', KEYS[1])
             out[2] = redis.call('LRANGE', KEYS[2], 0, -1)
             out[3] = redis.call('ZRANGE', KEYS[3], 0, -1)
             out[4] = redis.call('SMEMBERS', KEYS[4])
             out[5] = redis.call('ZRANGE', KEYS[5], 0, -1)
             out[6] = redis.call('HKEYS', KEYS[6])
             return out",
            &[
                &keys.items,
                &keys.ids,
                &keys.claimed,
                &keys.stalled,
                &keys.delayed,
                &keys.tokens,
            ],
            &[],
        );
        let Resp::Array(Some(parts)) = reply else {
            panic!("unexpected invariant snapshot {reply:?}");
        };
        let parts: Vec<Vec<String>> = parts.into_iter().map(Resp::strings).collect();
        let [items, ids, claimed, stalled, delayed, tokens] =
            <[Vec<String>; 6]>::try_from(parts).expect("six parts");
        let items: BTreeSet<&String> = items.iter().collect();
        let mut places: BTreeMap<&String, Vec<&str>> = BTreeMap::new();
        for (state, members) in [
            ("available", &ids),
            ("claimed", &claimed),
            ("stalled", &stalled),
            ("delayed", &delayed),
        ] {
            for id in members {
                places.entry(id).or_default().push(state);
            }
        }
        let mut broken = Vec::new();
        for id in &items {
            match places.get(id).map(Vec::as_slice) {
                Some([_]) => {}
                None => broken.push(format!("job {id:?} has an item but no state")),
                Some(states) => broken.push(format!("job {id:?} is in {states:?}")),
            }
        }
        for (id, states) in &places {
            if !items.contains(id) {
                broken.push(format!("{id:?} is {states:?} without an item"));
            }
        }
        let claimed_set: BTreeSet<&String> = claimed.iter().collect();
        for id in &tokens {
            if !claimed_set.contains(id) {
                broken.push(format!("{id:?} has a token but is not claimed"));
            }
        }
        assert!(
            broken.is_empty(),
            "queue {queue}: {} broken invariants, first ones: {:?}",
            broken.len(),
            &broken[..broken.len().min(10)]
        );
        self.counts(queue)
    }

    /// How many clients subscribe to `channel`.
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
    pub(crate) fn clients(&self) -> String {
        match self.query(&["CLIENT", "LIST"]) {
            Resp::Bulk(Some(text)) => String::from_utf8(text).expect("ASCII"),
            other => panic!("unexpected CLIENT LIST reply {other:?}"),
        }
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

    fn command(&self, args: &[&str]) -> Command {
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
