//! Helpers for the CLI tests: a private Redis with a tiny RESP client to
//! look inside it, the `thoonk` binary run in the foreground (with a
//! deadline) or in the background (behind a guard that kills it on drop),
//! and the assertions every test shares.

use private_redis::PrivateRedis;
use serde_json::Value;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

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
    pub(crate) fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "expected success: {self:?}");
        assert_eq!(self.stderr, "", "expected nothing on stderr: {self:?}");
        &self.stdout
    }

    /// Asserts exit 0 and exactly one line on stdout; returns it.
    #[track_caller]
    pub(crate) fn line(&self) -> &str {
        let out = self.ok();
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

/// A command line for the binary, with `THOONK_REDIS_URL` removed from its
/// environment so the user's setting never leaks into a test.
pub(crate) fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_remove("THOONK_REDIS_URL");
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

    /// The next stdout line, parsed as JSON.
    #[track_caller]
    pub(crate) fn next_json(&self) -> Value {
        let line = self.next_line();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line:?}"))
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

    pub(crate) fn url(&self) -> String {
        self.server.url()
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
