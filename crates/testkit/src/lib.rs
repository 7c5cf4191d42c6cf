//! The test kit of the thoonk workspace (dev-only): what the library's
//! tests, the CLI's tests and the examples share, written once.
//!
//! # Layout
//! - this file: [`PrivateRedis`], a private `redis-server` for tests and the
//!   demo, started on a free loopback port with its own data directory,
//!   stopped (killed) on drop;
//! - [`cluster`]: [`PrivateCluster`], six of them as a Redis Cluster;
//! - [`clock`]: [`FakeClock`], a wall clock set off by hand, for a server
//!   ([`PrivateRedis::start_clocked`]) or a child process;
//! - [`tls`]: [`TestCerts`], the throwaway CA of a TLS server;
//! - [`temp_dir`]: [`TempDir`], a directory of one's own, removed on drop;
//! - `tool`: running `redis-cli` and `openssl`;
//! - `fallback`: the examples' Redis, a private one when none is configured
//!   ([`redis_unless_configured`], [`cluster_unless_configured`]);
//! - [`resp`]: the one raw RESP client ([`Connection`], [`Resp`]);
//! - [`poll`]: the one poller and its deadline ([`poll::until`],
//!   [`poll::eventually`], [`poll::DEADLINE`]);
//! - [`snapshot`]: atomic snapshots of one queue ([`QueueSnapshot`]) and of
//!   a whole database ([`DbSnapshot`]), and the check that every job is in
//!   exactly one state ([`QueueSnapshot::check_invariants`]).
//!
//! A private server never touches a Redis it did not start: the port is
//! chosen by binding port 0, so the user's Redis on 6379 is never the one
//! we talk to, and nothing here ever flushes a database.
//!
//! The binary is `redis-server` from `PATH`, or the path in
//! `$THOONK_REDIS_SERVER` when that is set.
//!
//! [`PrivateRedis::start_tls`] starts one that speaks only TLS on its port,
//! with a certificate of a throwaway CA ([`TestCerts`]); the kit itself
//! talks to such a server over a Unix socket in its data directory.
//! [`PrivateRedis::add_user`] creates an ACL user.

use std::io::{self, Read};
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

pub mod clock;
pub mod cluster;
mod fallback;
pub mod poll;
pub mod resp;
pub mod snapshot;
pub mod temp_dir;
pub mod tls;
mod tool;

pub use clock::FakeClock;
pub use cluster::{ClusterNode, PrivateCluster};
pub use fallback::{cluster_unless_configured, redis_unless_configured};
use poll::DEADLINE;
pub use resp::{Connection, Resp};
pub use snapshot::{
    claim_record, holder, holder_parts, queue_key, token_of, Counts, DbSnapshot, QueueSnapshot,
};
pub use temp_dir::TempDir;
pub use tls::TestCerts;

/// A `redis-server` process that this program started and owns.
#[derive(Debug)]
pub struct PrivateRedis {
    /// `None` only while the server is stopped between `stop` and `start`.
    child: Option<Child>,
    port: u16,
    /// Extra `--name value` settings, kept so `restart` starts the same server.
    settings: Vec<(String, String)>,
    /// Data directory (AOF/RDB files, the log); removed on drop, after
    /// the server is stopped.
    dir: TempDir,
    /// With certificates, the server speaks only TLS on `port`, and the
    /// harness talks to it over a Unix socket in `dir` instead.
    tls: Option<Arc<TestCerts>>,
    /// The server's wall clock, when the test moves it.
    clock: Option<FakeClock>,
}

impl PrivateRedis {
    /// Starts a server with default settings (no persistence).
    pub fn start() -> io::Result<Self> {
        Self::start_with(&[])
    }

    /// Starts a server with extra settings, e.g. `[("appendonly", "yes")]`.
    pub fn start_with(settings: &[(&str, &str)]) -> io::Result<Self> {
        Self::start_on(settings, free_port)
    }

    /// Starts a server whose wall clock the test moves by hand
    /// ([`clock`](Self::clock)): what the scripts read with `TIME`, and what
    /// Redis expires keys by.
    pub fn start_clocked() -> io::Result<Self> {
        Self::launch(&[], None, Some(0), free_port)
    }

    /// Starts a server that speaks only TLS (`rediss://`), with a
    /// certificate for 127.0.0.1 and localhost from a fresh CA: clients
    /// must trust [`ca_path`](Self::ca_path). It asks clients for no
    /// certificate of their own.
    pub fn start_tls() -> io::Result<Self> {
        Self::start_tls_with(&[])
    }

    /// [`start_tls`](Self::start_tls) with extra settings.
    pub fn start_tls_with(settings: &[(&str, &str)]) -> io::Result<Self> {
        Self::start_tls_on(settings, Arc::new(TestCerts::generate()?), free_port)
    }

    /// Like `start_with`, on a port from `pick_port`: a cluster node needs
    /// its bus port (port + 10000) free as well.
    pub(crate) fn start_on(
        settings: &[(&str, &str)],
        pick_port: fn() -> io::Result<u16>,
    ) -> io::Result<Self> {
        Self::launch(settings, None, None, pick_port)
    }

    /// Like `start_tls_with`, with the certificates `certs` (the nodes of a
    /// cluster share theirs) on a port from `pick_port`.
    pub(crate) fn start_tls_on(
        settings: &[(&str, &str)],
        certs: Arc<TestCerts>,
        pick_port: fn() -> io::Result<u16>,
    ) -> io::Result<Self> {
        Self::launch(settings, Some(certs), None, pick_port)
    }

    fn launch(
        settings: &[(&str, &str)],
        tls: Option<Arc<TestCerts>>,
        clock_offset_ms: Option<i64>,
        pick_port: fn() -> io::Result<u16>,
    ) -> io::Result<Self> {
        let dir = TempDir::new("redis")?;
        let clock = clock_offset_ms
            .map(|offset| FakeClock::new(dir.path(), offset))
            .transpose()?;
        let mut server = PrivateRedis {
            child: None,
            port: 0,
            settings: settings
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            dir,
            tls,
            clock,
        };
        // Another process may take the free port between our probe and the
        // server's bind; try a few ports before giving up.
        let mut last = None;
        for _ in 0..5 {
            server.port = pick_port()?;
            match server.spawn() {
                Ok(()) => return Ok(server),
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("at least one attempt"))
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT/`, or `rediss://…` for a TLS server.
    pub fn url(&self) -> String {
        format!("{}://127.0.0.1:{}/", self.scheme(), self.port)
    }

    /// The URL that logs in as `user` with `password`:
    /// `redis://user:password@127.0.0.1:PORT/` (or `rediss://…`). Both are
    /// put in as given, so keep them to URL-safe characters.
    pub fn url_as(&self, user: &str, password: &str) -> String {
        format!(
            "{}://{user}:{password}@127.0.0.1:{}/",
            self.scheme(),
            self.port
        )
    }

    fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        }
    }

    /// A TLS server's certificates: its CA's (for clients to trust) and its
    /// own.
    pub fn certs(&self) -> Option<&Arc<TestCerts>> {
        self.tls.as_ref()
    }

    /// The PEM file of the CA a TLS server's certificate comes from.
    pub fn ca_path(&self) -> Option<PathBuf> {
        self.tls.as_ref().map(|certs| certs.ca_path())
    }

    /// Creates (or redefines) the ACL user `name` with `password`, starting
    /// from nothing (`ACL SETUSER name reset on >password RULES…`): grant
    /// what it may do in `rules`, e.g. `["~job.*", "&event.job.*",
    /// "+@all", "-@dangerous"]`. Saved in the server's ACL file, so the
    /// user is there again from the first moment after a `restart`.
    pub fn add_user(&self, name: &str, password: &str, rules: &[&str]) -> io::Result<()> {
        let password = format!(">{password}");
        let mut args = vec!["ACL", "SETUSER", name, "reset", "on", password.as_str()];
        args.extend_from_slice(rules);
        for command in [&args[..], &["ACL", "SAVE"]] {
            let reply = self.command(command)?;
            if reply != Resp::simple("OK") {
                return Err(io::Error::other(format!(
                    "{} {name} … replied {reply:?}",
                    command[..2].join(" ")
                )));
            }
        }
        Ok(())
    }

    /// The server's wall clock, for a server from
    /// [`start_clocked`](Self::start_clocked).
    pub fn clock(&self) -> &FakeClock {
        self.clock
            .as_ref()
            .expect("a server started with PrivateRedis::start_clocked")
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the server (SIGKILL) and waits for it to exit. Its data
    /// directory stays, so `restart` finds what it persisted.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server if it runs and starts it again on the same port
    /// with the same settings and data directory.
    pub fn restart(&mut self) -> io::Result<()> {
        self.stop();
        // The port was ours a moment ago; the kernel may hold it briefly.
        let mut last = None;
        poll::poll(DEADLINE, || match self.spawn() {
            Ok(()) => Some(()),
            Err(e) => {
                last = Some(e);
                None
            }
        })
        .map_or_else(|| Err(last.expect("at least one attempt")), Ok)
    }

    /// A connection of the kit's own RESP client, as the default user; to
    /// a TLS server over its Unix socket.
    pub fn connect(&self) -> io::Result<Connection> {
        if self.tls.is_some() {
            Connection::connect_unix(&self.socket_path())
        } else {
            Connection::connect(self.port)
        }
    }

    /// Sends one command on a fresh [`connect`](Self::connect)ion and
    /// returns its reply (an error reply is a reply, not an `Err`).
    pub fn command<A: AsRef<[u8]>>(&self, args: &[A]) -> io::Result<Resp> {
        self.connect()?.command(args)
    }

    /// An atomic snapshot of queue `name` (see [`QueueSnapshot`]).
    pub fn queue_snapshot(&self, name: &str) -> io::Result<QueueSnapshot> {
        QueueSnapshot::read(&mut self.connect()?, name)
    }

    /// An atomic snapshot of the whole database (see [`DbSnapshot`]).
    pub fn snapshot(&self) -> io::Result<DbSnapshot> {
        DbSnapshot::read(&mut self.connect()?)
    }

    /// Whether the server that answers on our port is process `pid`. When
    /// another server takes the port between our probe and the spawn, ours
    /// exits, but the other one would answer PING in the meantime.
    fn answers_as(&self, pid: u32) -> bool {
        self.command(&["INFO", "server"])
            .and_then(Resp::text)
            .is_ok_and(|info| info.contains(&format!("process_id:{pid}\r\n")))
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("redis.log")
    }

    /// A TLS server's plain-text socket, for the harness only (the
    /// directory is ours alone, and the socket is the owner's only).
    fn socket_path(&self) -> PathBuf {
        self.dir.path().join("redis.sock")
    }

    /// Starts the server and waits until it answers as itself.
    fn spawn(&mut self) -> io::Result<()> {
        let binary = server_binary();
        let mut child = self.command_line(&binary)?.spawn().map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "cannot run {}: {e}. Install Redis (Debian/Ubuntu: `apt-get install redis-server`, \
                     macOS: `brew install redis`) or set THOONK_REDIS_SERVER to its path",
                    binary.display()
                ),
            )
        })?;
        let pid = child.id();
        let ready = poll::poll(DEADLINE, || match child.try_wait() {
            Ok(None) => self.answers_as(pid).then_some(Ok(None)),
            Ok(Some(status)) => Some(Ok(Some(status))),
            Err(e) => Some(Err(e)),
        });
        match ready {
            Some(Ok(None)) => {
                self.child = Some(child);
                Ok(())
            }
            Some(Ok(Some(status))) => {
                let mut stderr = String::new();
                if let Some(mut s) = child.stderr.take() {
                    let _ = s.read_to_string(&mut stderr);
                }
                Err(io::Error::other(format!(
                    "redis-server on port {} exited ({status}) before answering.\n{stderr}\n--- log ---\n{}",
                    self.port,
                    read_log(&self.log_path())
                )))
            }
            Some(Err(e)) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(e)
            }
            None => {
                let _ = child.kill();
                let _ = child.wait();
                Err(io::Error::other(format!(
                    "redis-server on port {} did not answer within {DEADLINE:?}.\n--- log ---\n{}",
                    self.port,
                    read_log(&self.log_path())
                )))
            }
        }
    }

    /// The server's command line: its port (TLS or not), directory, log,
    /// ACL file, no snapshots, and the settings asked for.
    fn command_line(&self, binary: &Path) -> io::Result<Command> {
        // Redis refuses to start without the ACL file it is given.
        let acl_file = self.dir.path().join("users.acl");
        if !acl_file.exists() {
            std::fs::write(&acl_file, "")?;
        }
        let mut cmd = Command::new(binary);
        if let Some(clock) = &self.clock {
            clock.apply(&mut cmd)?;
        }
        match &self.tls {
            None => {
                cmd.arg("--port").arg(self.port.to_string());
            }
            Some(certs) => {
                cmd.args(["--port", "0", "--tls-port"])
                    .arg(self.port.to_string())
                    .arg("--tls-cert-file")
                    .arg(certs.cert_path())
                    .arg("--tls-key-file")
                    .arg(certs.key_path())
                    .arg("--tls-ca-cert-file")
                    .arg(certs.ca_path())
                    .args(["--tls-auth-clients", "no"])
                    .arg("--unixsocket")
                    .arg(self.socket_path())
                    .args(["--unixsocketperm", "700"]);
            }
        }
        cmd.arg("--bind")
            .arg("127.0.0.1")
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(self.log_path())
            .arg("--aclfile")
            .arg(acl_file)
            .arg("--save")
            .arg("")
            .arg("--daemonize")
            .arg("no");
        for (k, v) in &self.settings {
            cmd.arg(format!("--{k}")).arg(v);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        Ok(cmd)
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        // The data directory goes after, with the field.
        self.stop();
    }
}

/// The `redis-server` to run: `$THOONK_REDIS_SERVER`, else from `PATH`.
pub fn server_binary() -> PathBuf {
    std::env::var_os("THOONK_REDIS_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("redis-server"))
}

/// A port that was free a moment ago on 127.0.0.1.
fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| format!("(no log: {e})"))
}

/// For a documentation example: a private `redis-server`, named in this
/// process's `THOONK_REDIS_URL`, so that the example's
/// `Thoonk::connect_from_env()` reaches it, as a reader's program reaches
/// theirs. (Each doc example runs in a process of its own, so setting the
/// variable touches no one else.) The server stops when the value is
/// dropped.
pub fn doc_redis() -> PrivateRedis {
    let redis = PrivateRedis::start().expect("start a private redis-server");
    std::env::set_var("THOONK_REDIS_URL", redis.url());
    redis
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpStream;
    use std::sync::atomic::{AtomicU16, Ordering};
    use std::time::Duration;

    #[test]
    fn starts_answers_and_stops() {
        let mut redis = PrivateRedis::start().unwrap();
        assert_ne!(redis.port(), 6379);
        assert_eq!(redis.command(&["PING"]).unwrap(), Resp::simple("PONG"));
        let port = redis.port();
        redis.stop();
        assert!(TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err());
        redis.restart().unwrap();
        assert_eq!(redis.command(&["PING"]).unwrap(), Resp::simple("PONG"));
    }

    /// The server's `TIME`, in ms.
    fn server_ms(redis: &PrivateRedis) -> i64 {
        let time = redis.command(&["TIME"]).unwrap().strings().unwrap();
        time[0].parse::<i64>().unwrap() * 1000 + time[1].parse::<i64>().unwrap() / 1000
    }

    fn real_ms() -> i64 {
        let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        since.unwrap().as_millis() as i64
    }

    #[test]
    fn a_clocked_server_reads_the_time_the_test_sets_and_expires_by_it() {
        let redis = PrivateRedis::start_clocked().unwrap();
        // Within a second of the real time, then an hour ahead, then ten
        // seconds behind: each change applies at the next command.
        assert!((server_ms(&redis) - real_ms()).abs() < 1000);
        redis.clock().advance(Duration::from_secs(3600)).unwrap();
        assert!((server_ms(&redis) - real_ms() - 3_600_000).abs() < 1000);
        redis.clock().set_offset_ms(-10_000).unwrap();
        assert!((server_ms(&redis) - real_ms() + 10_000).abs() < 1000);
        // Keys expire by it too.
        redis.command(&["SET", "k", "v", "EX", "60"]).unwrap();
        redis.clock().advance(Duration::from_secs(61)).unwrap();
        assert!(redis.command(&["GET", "k"]).unwrap().is_nil());
    }

    #[test]
    fn a_tls_server_speaks_only_tls_and_restarts() {
        let mut redis = PrivateRedis::start_tls().unwrap();
        assert_ne!(redis.port(), 6379);
        assert_eq!(redis.url(), format!("rediss://127.0.0.1:{}/", redis.port()));
        let ca = redis.ca_path().unwrap();
        let pem = std::fs::read_to_string(&ca).unwrap();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
        assert_eq!(redis.command(&["PING"]).unwrap(), Resp::simple("PONG"));
        // Plain RESP on the TLS port gets no reply.
        let mut plain = TcpStream::connect((Ipv4Addr::LOCALHOST, redis.port())).unwrap();
        plain
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        plain.write_all(&resp::encode(&["PING"])).unwrap();
        let mut reply = Vec::new();
        let _ = plain.read_to_end(&mut reply);
        assert!(!reply.starts_with(b"+PONG"), "{reply:?}");
        redis.restart().unwrap();
        assert_eq!(redis.command(&["PING"]).unwrap(), Resp::simple("PONG"));
        let dir = redis.dir.path().to_path_buf();
        drop(redis);
        assert!(!dir.exists());
        assert!(!ca.exists(), "the certificates go with the server");
    }

    /// `AUTH app pw`, then `args`, pipelined on one connection to `port`:
    /// both replies.
    fn as_app(port: u16, args: &[&str]) -> (Resp, Resp) {
        let mut conn = Connection::connect(port).unwrap();
        let replies = conn.pipeline(&[&["AUTH", "app", "pw"][..], args]).unwrap();
        let [auth, reply] = <[Resp; 2]>::try_from(replies).unwrap();
        (auth, reply)
    }

    #[test]
    fn an_acl_user_gets_what_its_rules_grant_even_after_a_restart() {
        let mut redis = PrivateRedis::start().unwrap();
        redis
            .add_user("app", "pw", &["~job.*", "+@all", "-@dangerous"])
            .unwrap();
        let ok = (Resp::simple("OK"), Resp::simple("OK"));
        assert_eq!(as_app(redis.port(), &["SET", "job.x", "1"]), ok);
        let (_, refused) = as_app(redis.port(), &["SET", "other", "1"]);
        assert!(
            matches!(&refused, Resp::Error(e) if e.starts_with("NOPERM")),
            "{refused:?}"
        );
        let err = redis
            .add_user("bad", "pw", &["+nosuchcommand"])
            .unwrap_err();
        assert!(err.to_string().contains("ERR"), "{err}");
        redis.restart().unwrap();
        assert_eq!(as_app(redis.port(), &["SET", "job.x", "2"]), ok);
    }

    #[test]
    fn a_server_already_on_the_port_is_not_taken_for_ours() {
        static TAKEN: AtomicU16 = AtomicU16::new(0);
        let other = PrivateRedis::start().unwrap();
        TAKEN.store(other.port(), Ordering::Relaxed);
        let err = PrivateRedis::start_on(&[], || Ok(TAKEN.load(Ordering::Relaxed))).unwrap_err();
        assert!(err.to_string().contains("exited"), "{err}");
    }

    #[test]
    fn a_tls_server_is_snapshot_over_its_socket() {
        let redis = PrivateRedis::start_tls().unwrap();
        redis.command(&["SET", "k", "v"]).unwrap();
        let snapshot = redis.snapshot().unwrap();
        assert_eq!(snapshot.len(), 1, "{snapshot:?}");
    }
}
