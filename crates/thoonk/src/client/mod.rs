//! The core: connections to one Redis or to a Redis Cluster, and the event
//! hub. The [`Queue`](crate::Queue) queue is one object built on
//! it; other Redis+Lua objects can be built on it the same way (see the
//! crate docs).

mod cluster;
mod connection;
mod node;
mod server_info;

pub(crate) use cluster::Node;
pub use connection::Connection;
pub use server_info::ServerInfo;

use crate::pubsub::{EventHub, Listener};
use crate::{scripts, Error, Result};
use connection::{Cluster, Target};
use node::{hide_password, node_client, trusting};
use redis::cluster::ClusterClientBuilder;
use redis::{Cmd, Pipeline, RedisResult, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Longest a single blocking wait lasts before it is re-issued; bounds how
/// long a silently dead connection can hold a waiter.
pub(crate) const MAX_BLOCK: Duration = Duration::from_secs(30);

/// A client of one Redis or of one Redis Cluster: cheap to clone, all
/// clones share its connections.
///
/// ```
/// use thoonk::Thoonk;
///
/// # #[tokio::main] async fn main() -> thoonk::Result<()> {
/// # let _redis = thoonk_testkit::doc_redis();
/// // $THOONK_REDIS_URL, else redis://127.0.0.1:6379; or Thoonk::connect(url).
/// let thoonk = Thoonk::connect_from_env().await?;
/// let mail = thoonk.queue("mail")?; // a handle: nothing is written yet
/// let sms = thoonk.clone().queue("sms")?; // the same connections
/// mail.publish("ann@example.com", thoonk::Publish::new()).await?;
/// assert_eq!(thoonk.queues().await?, ["mail"]);
/// # let _ = sms; Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Thoonk {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The URL(s) as given, passwords hidden, for error messages.
    url: String,
    target: Target,
    /// Every ordinary call goes through it.
    conn: Connection,
    /// Connections for blocking waits, which must not share the multiplexed
    /// connection (a blocked reply would hold up every call behind it).
    /// Kept for reuse; one is only put back after its wait completed.
    idle_blocking: Mutex<Vec<Connection>>,
    /// Started on the first listener.
    events: tokio::sync::OnceCell<EventHub>,
    /// Each script call's request id: this client's own random prefix, and
    /// a count.
    request_prefix: String,
    requests: AtomicU64,
}

/// Where [`Thoonk::connect_from_env`] connects when `THOONK_REDIS_URL` is
/// not set, as the `thoonk` command does.
pub const DEFAULT_URL: &str = "redis://127.0.0.1:6379";

impl Thoonk {
    /// Connects to the Redis that `$THOONK_REDIS_URL` names (as the
    /// `thoonk` command does), else (unset or empty) to [`DEFAULT_URL`]:
    /// configuration from the environment, the same for a program and the
    /// CLI beside it.
    pub async fn connect_from_env() -> Result<Thoonk> {
        match std::env::var("THOONK_REDIS_URL") {
            Ok(url) if !url.is_empty() => Thoonk::connect(&url).await,
            _ => Thoonk::connect(DEFAULT_URL).await,
        }
    }

    /// Connects to the Redis at `url` (`redis://host:port/db`), failing at
    /// once with the URL in the error when it does not answer.
    ///
    /// `redis://user:password@host` logs in as an ACL user (`redis://:password@host`
    /// as the default user); the password appears nowhere this client
    /// reports. `rediss://` connects over TLS and trusts the system's CAs;
    /// for a server whose certificate a CA of your own signed, use
    /// [`Thoonk::connect_tls`].
    pub async fn connect(url: &str) -> Result<Thoonk> {
        Thoonk::connect_single(url, None).await
    }

    /// Connects to the Redis at `url` (`rediss://host:port/db`) over TLS,
    /// trusting only the CA certificates in `ca_pem` (PEM, as in a `ca.crt`
    /// file) to have signed the server's: for a Redis with a certificate of
    /// a private CA. The server's certificate must name the URL's host.
    /// Refuses a `redis://` URL, which would not use TLS.
    pub async fn connect_tls(url: &str, ca_pem: &[u8]) -> Result<Thoonk> {
        Thoonk::connect_single(url, Some(ca_pem)).await
    }

    async fn connect_single(url: &str, ca_pem: Option<&[u8]>) -> Result<Thoonk> {
        let client = node_client(url, ca_pem)?;
        Thoonk::start(hide_password(url), Target::Single(Box::new(client))).await
    }

    /// Connects to the Redis Cluster that `seeds` (`redis://host:port`
    /// URLs of some of its nodes) belong to; the client learns the other
    /// nodes from them. Give more than one: the event connection moves to
    /// the next seed when its node fails. Users, passwords and `rediss://`
    /// work as for [`Thoonk::connect`], on every node.
    ///
    /// On a cluster, each queue name must hold a `{tag}` (see
    /// [`Thoonk::queue`]).
    pub async fn connect_cluster(seeds: &[impl AsRef<str>]) -> Result<Thoonk> {
        Thoonk::connect_cluster_with(seeds, None).await
    }

    /// [`Thoonk::connect_cluster`] over TLS (`rediss://` seeds), trusting
    /// only the CA certificates in `ca_pem` (PEM), as
    /// [`Thoonk::connect_tls`] does, for every node of the cluster.
    pub async fn connect_cluster_tls(seeds: &[impl AsRef<str>], ca_pem: &[u8]) -> Result<Thoonk> {
        Thoonk::connect_cluster_with(seeds, Some(ca_pem)).await
    }

    async fn connect_cluster_with(
        seeds: &[impl AsRef<str>],
        ca_pem: Option<&[u8]>,
    ) -> Result<Thoonk> {
        let urls: Vec<&str> = seeds.iter().map(AsRef::as_ref).collect();
        let shown = urls
            .iter()
            .map(|u| hide_password(u))
            .collect::<Vec<_>>()
            .join(",");
        let connect_error = |source| Error::Connect {
            url: shown.clone(),
            source,
        };
        // First, so that a CA given with `redis://` seeds is refused as it
        // is for one Redis.
        let seeds = urls
            .iter()
            .map(|u| node_client(u, ca_pem))
            .collect::<Result<_>>()?;
        let certs = ca_pem.map(|pem| trusting(&shown, pem)).transpose()?;
        let builder = || {
            let builder = ClusterClientBuilder::new(urls.clone())
                .connection_timeout(Duration::from_secs(2))
                .retries(8)
                .max_retry_wait(1000);
            match &certs {
                Some(certs) => builder.certs(certs.clone()),
                None => builder,
            }
        };
        let client = builder()
            .response_timeout(Duration::from_secs(10))
            .build()
            .map_err(connect_error)?;
        let blocking = builder()
            .response_timeout(MAX_BLOCK + Duration::from_secs(10))
            .build()
            .map_err(connect_error)?;
        let target = Target::Cluster(Box::new(Cluster {
            client,
            blocking,
            seeds,
        }));
        Thoonk::start(shown, target).await
    }

    async fn start(url: String, target: Target) -> Result<Thoonk> {
        let connect_error = |source| Error::Connect {
            url: url.clone(),
            source,
        };
        let mut conn = target.connect().await.map_err(connect_error)?;
        redis::cmd("PING")
            .query_async::<()>(&mut conn)
            .await
            .map_err(connect_error)?;
        Ok(Thoonk {
            inner: Arc::new(Inner {
                url,
                target,
                conn,
                idle_blocking: Mutex::new(Vec::new()),
                events: tokio::sync::OnceCell::new(),
                request_prefix: crate::names::new_id(),
                requests: AtomicU64::new(0),
            }),
        })
    }

    /// A new request id, unique to this call: a script call that writes
    /// carries one (see `_once.lua`), so that sent twice it has the effect
    /// and the reply of one run. Only the cluster client sends a call again
    /// by itself (its connection dropped before the reply came: the call
    /// may have run). On one Redis a dropped connection fails the call, and
    /// what to do is the caller's: the id is empty, and the script keeps
    /// nothing (no cost where there is nothing to guard against).
    pub(crate) fn request_id(&self) -> String {
        if !self.is_cluster() {
            return String::new();
        }
        let n = self.inner.requests.fetch_add(1, Ordering::Relaxed);
        format!("{}.{n}", self.inner.request_prefix)
    }

    /// Whether `other` is this client or a clone of it (its connections).
    pub(crate) fn same_client(&self, other: &Thoonk) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Whether this client talks to a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self.inner.target, Target::Cluster(_))
    }

    /// The same Redis through a connection of its own, for a stream of
    /// calls that should not wait in line behind the others' replies (a
    /// worker's finishes beside its claims).
    pub(crate) async fn with_own_connection(&self) -> Result<Thoonk> {
        let conn = self
            .inner
            .target
            .connect()
            .await
            .map_err(self.error_in("connect"))?;
        Ok(Thoonk {
            inner: Arc::new(Inner {
                url: self.inner.url.clone(),
                target: self.inner.target.clone(),
                conn,
                idle_blocking: Mutex::new(Vec::new()),
                events: tokio::sync::OnceCell::new(),
                request_prefix: crate::names::new_id(),
                requests: AtomicU64::new(0),
            }),
        })
    }

    /// The URL this client talks to (a cluster's seeds, comma-separated),
    /// passwords hidden.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// Now by the server's clock, in Unix ms: the clock that decides every
    /// lease, liveness mark and delay (for a cluster, one node's). For
    /// showing how far off they are: no client's clock decides them.
    pub async fn server_time_ms(&self) -> Result<u64> {
        let (secs, micros): (u64, u64) = redis::cmd("TIME")
            .query_async(&mut self.connection())
            .await
            .map_err(self.error_in("read the server's time"))?;
        Ok(secs * 1000 + micros / 1000)
    }

    /// The shared multiplexed connection (a cheap clone): for scripts and
    /// ordinary commands. Never block on it (`BLPOP`, …): use
    /// [`Thoonk::wait_for_list`].
    pub fn connection(&self) -> Connection {
        self.inner.conn.clone()
    }

    /// Listens to pub/sub `channels` over the client's one subscription
    /// connection. Returns once Redis confirmed the subscriptions.
    pub async fn listen(&self, channels: Vec<String>) -> Result<Listener> {
        self.subscribe(channels)
            .await
            .map_err(self.error_in("subscribe to events"))
    }

    /// [`Thoonk::listen`], for callers that say which queue it is for.
    pub(crate) async fn subscribe(&self, channels: Vec<String>) -> RedisResult<Listener> {
        let hub = self
            .inner
            .events
            .get_or_init(|| async {
                EventHub::start(match &self.inner.target {
                    Target::Single(client) => vec![(**client).clone()],
                    Target::Cluster(cluster) => cluster.seeds.clone(),
                })
            })
            .await;
        hub.listen(channels).await
    }

    /// Waits until the list `key` is not empty or `timeout` passes (zero:
    /// no limit), without taking anything from it: `BLMOVE key key RIGHT
    /// RIGHT` returns the last element and puts it back where it was. So a
    /// waiter that dies while waiting loses nothing. Returns whether the
    /// list had something.
    pub async fn wait_for_list(&self, key: &str, timeout: Duration) -> Result<bool> {
        let mut wait = redis::pipe();
        wait.add_command(wait_cmd(key, timeout));
        let (moved,): (Option<Value>,) = self
            .query_alone(&wait)
            .await
            .map_err(self.error_in("wait for a list"))?;
        Ok(moved.is_some())
    }

    /// Waits as [`Thoonk::wait_for_list`] does, then runs `script` and
    /// returns its reply. Both go out together on the waiting connection,
    /// and Redis runs a blocked client's next command the moment it
    /// unblocks: the script follows the wake with no round trip between
    /// (a worker's claim, one round trip sooner).
    ///
    /// Dropping this future to stop waiting closes the connection, but the
    /// script may run all the same if the wait ended in that instant, and
    /// its reply (a claim, say) is then lost: a worker does so only as it
    /// stops, and recovers such a claim (`forget_worker`).
    pub(crate) async fn wait_for_list_then(
        &self,
        key: &str,
        timeout: Duration,
        script: &scripts::Call,
    ) -> RedisResult<Value> {
        let mut both = redis::pipe();
        both.add_command(wait_cmd(key, timeout))
            .ignore()
            .add_command(script.cmd());
        match self.query_alone::<(Value,)>(&both).await {
            Ok((reply,)) => Ok(reply),
            // Redis lost its scripts (a restart): the wait is over and the
            // script did not run; load them and run it now.
            Err(e) if scripts::is_unknown(&e) => script.invoke_async(&mut self.connection()).await,
            Err(e) => Err(e),
        }
    }

    /// Runs `pipe` on a connection no one else uses: for a command that
    /// blocks, or whose reply may take long (`WAIT`). The connection is
    /// kept for the next such call once it replied; had this future been
    /// dropped mid-call, the connection (with a reply still due) is
    /// dropped too.
    pub(crate) async fn query_alone<T: redis::FromRedisValue>(
        &self,
        pipe: &Pipeline,
    ) -> RedisResult<T> {
        let idle = self.inner.idle_blocking.lock().unwrap().pop();
        let mut conn = match idle {
            Some(conn) => conn,
            None => self.inner.target.connect_blocking().await?,
        };
        let reply = pipe.query_async(&mut conn).await?;
        self.inner.idle_blocking.lock().unwrap().push(conn);
        Ok(reply)
    }

    /// Turns a Redis error of your own call (`op`: what it was doing) into
    /// a [`Error::Redis`] that says what failed and at which server: for
    /// objects of your own built on this client (see the crate docs).
    pub fn error_in(&self, op: &'static str) -> impl Fn(redis::RedisError) -> Error + '_ {
        move |e| Error::redis(op, None, None, self.url(), e)
    }
}

/// `BLMOVE key key RIGHT RIGHT`, blocking up to `timeout` (zero: up to
/// [`MAX_BLOCK`]).
fn wait_cmd(key: &str, timeout: Duration) -> Cmd {
    let block = if timeout.is_zero() {
        MAX_BLOCK
    } else {
        timeout.min(MAX_BLOCK)
    };
    let mut cmd = redis::cmd("BLMOVE");
    cmd.arg(key)
        .arg(key)
        .arg("RIGHT")
        .arg("RIGHT")
        .arg(block.as_secs_f64());
    cmd
}
