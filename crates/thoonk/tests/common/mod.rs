//! Shared helpers of the library's integration tests, on top of the test
//! kit (`thoonk_testkit`: the private Redis, the poller, the snapshots and
//! the job invariant): a test's world ([`Env`], [`ClusterEnv`]), raw
//! connections of the redis crate, a worker running in its own task, a
//! server whose clock the test moves, and MONITOR.

// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

use futures_util::StreamExt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use thoonk::redis::{self, aio::ConnectionLike, aio::MultiplexedConnection};
use thoonk::{Error, Event, Events, Failure, Job, Queue, Report, Thoonk, Worker};
use thoonk_testkit::poll::{eventually, within, DEADLINE};
use thoonk_testkit::{Counts, DbSnapshot, PrivateCluster, PrivateRedis};
use tokio::sync::{oneshot, watch, Notify};
use tokio::task::JoinHandle;

/// One test's world: its own redis-server and a client of it.
pub(crate) struct Env {
    pub(crate) redis: PrivateRedis,
    pub(crate) thoonk: Thoonk,
}

impl Env {
    /// Starts a private redis-server (a free port, never 6379) and connects.
    pub(crate) async fn start() -> Env {
        let redis = PrivateRedis::start().expect("start a private redis-server");
        let thoonk = Thoonk::connect(&redis.url())
            .await
            .expect("connect to the private redis");
        Env { redis, thoonk }
    }

    /// Like [`start`](Env::start), on a server whose clock the test moves
    /// ([`advance`](Env::advance)): leases run out and delayed jobs fall
    /// due without waiting, in the server's time, which the scripts read.
    pub(crate) async fn start_clocked() -> Env {
        let redis = PrivateRedis::start_clocked().expect("start a clocked redis-server");
        let thoonk = Thoonk::connect(&redis.url())
            .await
            .expect("connect to the private redis");
        Env { redis, thoonk }
    }

    /// Moves the server's clock forward by `by` (a server from
    /// [`start_clocked`](Env::start_clocked)).
    pub(crate) fn advance(&self, by: Duration) {
        self.redis
            .clock()
            .advance(by)
            .expect("move the server's clock");
    }

    /// The server's time, in Unix ms.
    pub(crate) async fn server_ms(&self) -> u64 {
        self.thoonk
            .server_time_ms()
            .await
            .expect("the server's TIME")
    }

    /// A handle on queue `name` of the main client.
    pub(crate) fn queue(&self, name: &str) -> Queue {
        self.thoonk.queue(name).expect("a valid queue name")
    }

    /// Another, independent client (its own connections), as another
    /// process would have.
    pub(crate) async fn client(&self) -> Thoonk {
        Thoonk::connect(&self.redis.url())
            .await
            .expect("connect another client")
    }

    /// A raw connection of our own, for commands the library does not send.
    pub(crate) async fn raw(&self) -> MultiplexedConnection {
        // The client's default reply timeout (500 ms) could fire on a busy
        // machine, above all on a reply about thousands of jobs (a test
        // writes 9,000 stalled jobs in one command): the kit's DEADLINE
        // instead, which only bounds a hang.
        self.raw_with(Some(DEADLINE)).await
    }

    /// A raw connection for blocking commands (`BRPOP`): no reply timeout.
    pub(crate) async fn raw_blocking(&self) -> MultiplexedConnection {
        self.raw_with(None).await
    }

    async fn raw_with(&self, response_timeout: Option<Duration>) -> MultiplexedConnection {
        let config = redis::AsyncConnectionConfig::new().set_response_timeout(response_timeout);
        self.redis_client()
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .expect("raw connection")
    }

    pub(crate) fn redis_client(&self) -> redis::Client {
        redis::Client::open(self.redis.url()).expect("redis url")
    }

    /// Asserts that every job of queue `name` is in exactly one state (the
    /// kit's check, on one atomic snapshot); returns the counts it saw.
    #[track_caller]
    pub(crate) fn check_invariants(&self, name: &str) -> Counts {
        self.redis
            .queue_snapshot(name)
            .unwrap_or_else(|e| panic!("a snapshot of queue {name:?}: {e}"))
            .check_invariants()
    }

    /// Every key of the database with its contents, read at one instant:
    /// two are equal exactly when nothing changed in between.
    #[track_caller]
    pub(crate) fn snapshot(&self) -> DbSnapshot {
        self.redis.snapshot().expect("a snapshot of the database")
    }
}

/// A cluster of our own and a client of it.
pub(crate) struct ClusterEnv {
    pub(crate) cluster: PrivateCluster,
    pub(crate) thoonk: Thoonk,
}

impl ClusterEnv {
    pub(crate) async fn start() -> ClusterEnv {
        let cluster = tokio::task::spawn_blocking(PrivateCluster::start)
            .await
            .unwrap()
            .expect("start a private Redis Cluster");
        let thoonk = Thoonk::connect_cluster(&cluster.urls())
            .await
            .expect("connect to the cluster");
        ClusterEnv { cluster, thoonk }
    }

    /// Another, independent client (its own connections), as another
    /// process would have.
    pub(crate) async fn client(&self) -> Thoonk {
        Thoonk::connect_cluster(&self.cluster.urls())
            .await
            .expect("connect another client")
    }

    pub(crate) fn queue(&self, name: &str) -> Queue {
        self.thoonk.queue(name).expect("a tagged queue name")
    }

    /// The port of the master that serves queue `name`'s keys.
    pub(crate) fn master_of(&self, name: &str) -> u16 {
        self.cluster
            .node_for_key(&format!("job.ids:{name}"))
            .expect("the master of the queue's slot")
            .port
    }

    /// The keys on the node at `port`.
    pub(crate) fn keys_on(&self, port: u16) -> Vec<String> {
        self.cluster.keys_on(port).expect("KEYS")
    }
}

/// A worker running in its own task; `stop` shuts it down cleanly, `kill`
/// does not.
pub(crate) struct Running {
    pub(crate) id: String,
    /// Asks for shutdown; `stop()` sends it and awaits `task`, a test may
    /// do the two apart.
    pub(crate) stop: oneshot::Sender<()>,
    /// Notified once the worker's run loop has taken the shutdown.
    pub(crate) stopping: Arc<Notify>,
    pub(crate) task: JoinHandle<thoonk::Result<Report>>,
}

/// Runs `worker` with `handler` in a task of its own, until `stop`.
pub(crate) fn start<H, Fut, R>(worker: Worker, handler: H) -> Running
where
    H: Fn(Job) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<R, Failure>> + Send + 'static,
    R: thoonk::Output + Send + 'static,
{
    let id = worker.id().to_string();
    let (stop, stopped) = oneshot::channel::<()>();
    let stopping = Arc::new(Notify::new());
    let seen = stopping.clone();
    let shutdown = async move {
        let _ = stopped.await;
        seen.notify_one();
    };
    let task = tokio::spawn(worker.run(handler, shutdown));
    Running {
        id,
        stop,
        stopping,
        task,
    }
}

impl Running {
    /// Asks for shutdown and returns the worker's report.
    pub(crate) async fn stop(self) -> Report {
        let _ = self.stop.send(());
        within("the worker's shutdown", self.task)
            .await
            .expect("the worker task")
            .expect("the worker's run")
    }

    /// The worker dies: it stops at once, releasing nothing and leaving its
    /// liveness mark behind, as a process killed with -9 would.
    pub(crate) async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

/// The liveness deadline job.workers holds for `worker`.
pub(crate) async fn liveness(env: &Env, name: &str, worker: &str) -> Option<u64> {
    cmd(
        &mut env.raw().await,
        &["ZSCORE", &format!("job.workers:{name}"), worker],
    )
    .await
}

/// How long a worker's liveness mark lasts from its heartbeat, in the
/// server's time (`LIVENESS` in src/worker/heartbeat.rs).
pub(crate) const LIVENESS_MS: u64 = 3_000;

/// Until `worker` has beaten on queue `name` since now: its liveness mark
/// is set from the server's time at a heartbeat after this call.
pub(crate) async fn until_heartbeat(env: &Env, name: &str, worker: &str) {
    let now = env.server_ms().await;
    eventually("the worker's next heartbeat", || async move {
        liveness(env, name, worker).await >= Some(now + LIVENESS_MS)
    })
    .await;
}

/// A gate handlers wait at until the test opens it.
pub(crate) fn gate() -> (watch::Sender<bool>, watch::Receiver<bool>) {
    watch::channel(false)
}

/// Waits at `gate` until it is open.
pub(crate) async fn pass(gate: &watch::Receiver<bool>) {
    let mut gate = gate.clone();
    let _ = gate.wait_for(|open| *open).await;
}

/// The next event of a subscription, failing the test if none comes.
pub(crate) async fn next_event(events: &mut Events) -> Event {
    within("waiting for an event", events.next())
        .await
        .expect("the event stream ended")
}

/// The nouns of the keys `claim.lua` takes (`job.NOUN:NAME`), in its
/// order, for tests that call the script directly.
pub(crate) const CLAIM_KEYS: [&str; 15] = [
    "ids",
    "claimed",
    "items",
    "cancelled",
    "tokens",
    "claims",
    "delayed",
    "stalled",
    "holders",
    "ghosts",
    "config",
    "rate",
    "flow",
    "marks",
    "marked",
];

/// Unix milliseconds, as a v1 client computes `Date.now()`.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Runs one raw command and decodes its reply.
pub(crate) async fn cmd<T: redis::FromRedisValue>(
    conn: &mut (impl ConnectionLike + Send),
    args: &[&str],
) -> T {
    let mut c = redis::cmd(args[0]);
    for a in &args[1..] {
        c.arg(*a);
    }
    c.query_async(conn)
        .await
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

/// `DBSIZE`: how many keys exist.
pub(crate) async fn dbsize(conn: &mut (impl ConnectionLike + Send)) -> u64 {
    cmd(conn, &["DBSIZE"]).await
}

/// How many subscribers the channel has, as the server sees it.
pub(crate) async fn numsub(conn: &mut (impl ConnectionLike + Send), channel: &str) -> u64 {
    let (_, n): (String, u64) = cmd(conn, &["PUBSUB", "NUMSUB", channel]).await;
    n
}

/// How many clients are blocked in `BLMOVE` right now (`get` waiting).
pub(crate) async fn clients_in_blmove(conn: &mut (impl ConnectionLike + Send)) -> usize {
    blocked_in_blmove(&cmd::<String>(conn, &["CLIENT", "LIST"]).await)
}

/// How many of the clients of a `CLIENT LIST` are blocked in `BLMOVE`.
/// `cmd` is the client's last command, so it must also be flagged `b`
/// (blocked) to be waiting still.
pub(crate) fn blocked_in_blmove(client_list: &str) -> usize {
    client_list
        .lines()
        .filter(|l| {
            let fields: Vec<&str> = l.split(' ').collect();
            fields.contains(&"cmd=blmove")
                && fields
                    .iter()
                    .any(|f| f.strip_prefix("flags=").is_some_and(|v| v.contains('b')))
        })
        .count()
}

/// Until `n` waits for work (`BLMOVE`) are blocked in Redis.
pub(crate) async fn until_waiting(raw: &MultiplexedConnection, n: usize) {
    eventually(&format!("{n} waits blocked"), || {
        let mut raw = raw.clone();
        async move { clients_in_blmove(&mut raw).await == n }
    })
    .await;
}

/// One field of `INFO <section>`, e.g. `connected_clients`.
pub(crate) async fn info_field(
    conn: &mut (impl ConnectionLike + Send),
    section: &str,
    field: &str,
) -> u64 {
    let info: String = cmd(conn, &["INFO", section]).await;
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("INFO {section} has no {field}"))
        .trim()
        .parse()
        .expect("a number")
}

/// A claim as a refusal's message names it: its token without the claim
/// time (`N-MS.ID…` reads `N.ID…`), so that the same refusal reads the same
/// every time.
pub(crate) fn claim_named(token: &str) -> String {
    match token.split_once('.') {
        Some((n, rest)) => format!("{}.{rest}", n.split('-').next().unwrap_or(n)),
        None => token.to_string(),
    }
}

/// Asserts a refusal's message names each of `parts` and stays one short line.
pub(crate) fn assert_message_names(err: &Error, parts: &[&str]) {
    let msg = err.to_string();
    for part in parts {
        assert!(msg.contains(part), "{msg:?} should name {part:?}");
    }
    assert!(msg.len() < 300, "message too long ({} bytes)", msg.len());
}

/// One command as MONITOR shows it.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    /// `lua` for a command run by a script, else the client's address.
    pub(crate) source: String,
    /// The command and its arguments, unescaped.
    pub(crate) args: Vec<Vec<u8>>,
}

impl Seen {
    pub(crate) fn is_lua(&self) -> bool {
        self.source == "lua"
    }
    pub(crate) fn name(&self) -> String {
        String::from_utf8_lossy(&self.args[0]).to_uppercase()
    }
}

/// A MONITOR connection: what every client sends, in the order the server
/// runs it.
pub(crate) struct Monitor {
    stream: Pin<Box<dyn futures_util::Stream<Item = String> + Send>>,
}

impl Monitor {
    pub(crate) async fn start(env: &Env) -> Monitor {
        let monitor = env
            .redis_client()
            .get_async_monitor()
            .await
            .expect("MONITOR");
        Monitor {
            stream: Box::pin(monitor.into_on_message::<String>()),
        }
    }

    /// Everything the server ran until now: sends a marker (`ECHO`) on
    /// `conn` and reads until it shows up, so no line is still in flight.
    /// The marker itself is not returned.
    pub(crate) async fn take(&mut self, conn: &mut (impl ConnectionLike + Send)) -> Vec<Seen> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let marker = format!("monitor-marker-{}", SEQ.fetch_add(1, Ordering::Relaxed));
        let _: String = cmd(conn, &["ECHO", &marker]).await;
        let mut out = Vec::new();
        loop {
            let line = within("the MONITOR marker", self.stream.next())
                .await
                .expect("MONITOR stream ended");
            let seen = parse_monitor_line(&line);
            if seen.name() == "ECHO" && seen.args.get(1) == Some(&marker.clone().into_bytes()) {
                return out;
            }
            out.push(seen);
        }
    }
}

/// Parses `1700000000.123456 [0 127.0.0.1:5555] "CMD" "arg" ...`; the
/// arguments are quoted as `sdscatrepr` quotes them.
pub(crate) fn parse_monitor_line(line: &str) -> Seen {
    let open = line.find('[').expect("[ in a MONITOR line");
    let close = open + line[open..].find(']').expect("] in a MONITOR line");
    let source = line[open + 1..close]
        .split(' ')
        .nth(1)
        .expect("db and source")
        .to_string();
    let mut args = Vec::new();
    let mut bytes = line[close + 1..].bytes().peekable();
    while let Some(b) = bytes.next() {
        if b != b'"' {
            continue; // the space between arguments
        }
        let mut arg = Vec::new();
        loop {
            match bytes.next().expect("unterminated argument") {
                b'"' => break,
                b'\\' => match bytes.next().expect("escape") {
                    b'n' => arg.push(b'\n'),
                    b'r' => arg.push(b'\r'),
                    b't' => arg.push(b'\t'),
                    b'a' => arg.push(7),
                    b'b' => arg.push(8),
                    b'x' => {
                        let hex = [bytes.next().unwrap(), bytes.next().unwrap()];
                        let hex = std::str::from_utf8(&hex).unwrap();
                        arg.push(u8::from_str_radix(hex, 16).expect("hex escape"));
                    }
                    other => arg.push(other), // \\ and \"
                },
                other => arg.push(other),
            }
        }
        args.push(arg);
    }
    Seen { source, args }
}

/// One script run as MONITOR shows it: the `FCALL` line (with the keys it
/// declared) and the commands the script ran, which follow it as `lua`.
#[derive(Debug)]
pub(crate) struct ScriptRun {
    /// Its sha (EVALSHA) or function name (FCALL).
    pub(crate) script: Vec<u8>,
    pub(crate) declared: Vec<Vec<u8>>,
    pub(crate) inner: Vec<Seen>,
}

/// Groups MONITOR lines into script runs. Redis 7.0 shows the `EVAL`/
/// `FCALL` line first and then the script's commands; a script runs
/// atomically, so no other line comes in between.
pub(crate) fn script_runs(seen: &[Seen]) -> Vec<ScriptRun> {
    let mut runs: Vec<ScriptRun> = Vec::new();
    let mut open = false;
    for s in seen {
        if s.is_lua() {
            assert!(open, "a script command without its FCALL line: {s:?}");
            runs.last_mut().unwrap().inner.push(s.clone());
        } else if matches!(s.name().as_str(), "EVAL" | "EVALSHA" | "FCALL") {
            let n: usize = String::from_utf8_lossy(&s.args[2])
                .parse()
                .expect("numkeys");
            runs.push(ScriptRun {
                script: s.args[1].clone(),
                declared: s.args[3..3 + n].to_vec(),
                inner: Vec::new(),
            });
            open = true;
        } else {
            open = false;
        }
    }
    runs
}

/// The keys a command touches, as Redis itself says (`COMMAND GETKEYS`);
/// `None` for a command without keys (`PUBLISH`, `SCRIPT LOAD`, …).
pub(crate) async fn keys_of(
    conn: &mut (impl ConnectionLike + Send),
    command: &Seen,
) -> Option<Vec<Vec<u8>>> {
    let mut c = redis::cmd("COMMAND");
    c.arg("GETKEYS");
    for a in &command.args {
        c.arg(a.as_slice());
    }
    match c.query_async(conn).await {
        Ok(keys) => Some(keys),
        Err(e) if e.to_string().contains("no key arguments") => None,
        Err(e) => panic!("COMMAND GETKEYS {:?}: {e}", command.name()),
    }
}
