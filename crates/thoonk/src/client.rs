//! The core: connections to one Redis or to a Redis Cluster, the clock,
//! and the event hub. The [`Job`](crate::Job) queue is one object built on
//! it; other Redis+Lua objects can be built on it the same way (see the
//! crate docs).

use crate::clock::{Clock, SystemClock};
use crate::events::{EventHub, Listener};
use crate::{Error, Job, Result};
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{AsyncConnectionConfig, Cmd, Pipeline, RedisFuture, Value};
use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Longest a single blocking wait lasts before it is re-issued; bounds how
/// long a silently dead connection can hold a waiter.
pub(crate) const MAX_BLOCK: Duration = Duration::from_secs(30);

/// A client of one Redis or of one Redis Cluster: cheap to clone, all
/// clones share its connections.
#[derive(Clone, Debug)]
pub struct Thoonk {
    inner: Arc<Inner>,
    clock: Arc<dyn Clock>,
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
}

/// What a client connects to, and how it makes more connections.
#[derive(Clone)]
enum Target {
    /// Boxed: with its TLS settings, a client is large.
    Single(Box<redis::Client>),
    Cluster(Box<Cluster>),
}

#[derive(Clone)]
struct Cluster {
    /// For ordinary calls: replies come within seconds.
    client: ClusterClient,
    /// For blocking waits: a reply may take as long as the wait.
    blocking: ClusterClient,
    /// The seed nodes: the event connection subscribes on one of them (a
    /// cluster forwards every PUBLISH to every node) and moves to the next
    /// when it fails.
    seeds: Vec<redis::Client>,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Target::Single(_) => "Single",
            Target::Cluster(_) => "Cluster",
        })
    }
}

impl Target {
    async fn connect(&self) -> redis::RedisResult<Connection> {
        Ok(match self {
            Target::Single(client) => Connection(Link::Single(
                client
                    .get_connection_manager_with_config(manager_config())
                    .await?,
            )),
            Target::Cluster(cluster) => {
                Connection(Link::Cluster(cluster.client.get_async_connection().await?))
            }
        })
    }

    async fn connect_blocking(&self) -> redis::RedisResult<Connection> {
        Ok(match self {
            Target::Single(client) => {
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(Duration::from_secs(2)))
                    .set_response_timeout(None);
                Connection(Link::Blocking(
                    client
                        .get_multiplexed_async_connection_with_config(&config)
                        .await?,
                ))
            }
            Target::Cluster(cluster) => Connection(Link::Cluster(
                cluster.blocking.get_async_connection().await?,
            )),
        })
    }
}

/// The connection calls go through: to one Redis (reconnecting by itself),
/// or to a Redis Cluster, where each call goes to the node that serves its
/// keys' slot and the client follows redirections, resharding and
/// failovers. Cheap to clone; use it for scripts and ordinary commands
/// (it is a [`redis::aio::ConnectionLike`]).
#[derive(Clone)]
pub struct Connection(Link);

#[derive(Clone)]
enum Link {
    /// To one Redis.
    Single(ConnectionManager),
    /// To one Redis, for a blocking wait: no reply timeout.
    Blocking(redis::aio::MultiplexedConnection),
    /// To a Redis Cluster.
    Cluster(ClusterConnection),
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            Link::Single(_) => "Connection(one Redis)",
            Link::Blocking(_) => "Connection(one Redis, for a blocking wait)",
            Link::Cluster(_) => "Connection(a Redis Cluster)",
        })
    }
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match &mut self.0 {
            Link::Single(c) => c.req_packed_command(cmd),
            Link::Blocking(c) => c.req_packed_command(cmd),
            Link::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match &mut self.0 {
            Link::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Link::Blocking(c) => c.req_packed_commands(pipeline, offset, count),
            Link::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match &self.0 {
            Link::Single(c) => c.get_db(),
            Link::Blocking(c) => c.get_db(),
            Link::Cluster(c) => c.get_db(),
        }
    }
}

impl Thoonk {
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
        let client = node_client(url, ca_pem).map_err(|source| Error::Connect {
            url: hide_password(url),
            source,
        })?;
        Thoonk::start(hide_password(url), Target::Single(Box::new(client))).await
    }

    /// Connects to the Redis Cluster that `seeds` (`redis://host:port`
    /// URLs of some of its nodes) belong to; the client learns the other
    /// nodes from them. Give more than one: the event connection moves to
    /// the next seed when its node fails. Users, passwords and `rediss://`
    /// work as for [`Thoonk::connect`], on every node.
    ///
    /// On a cluster, each queue name must hold a `{tag}` (see
    /// [`Thoonk::job`]).
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
            .collect::<redis::RedisResult<_>>()
            .map_err(connect_error)?;
        let certs = ca_pem.map(trusting).transpose().map_err(connect_error)?;
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
            }),
            clock: Arc::new(SystemClock),
        })
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
        Ok(Thoonk {
            inner: Arc::new(Inner {
                url: self.inner.url.clone(),
                target: self.inner.target.clone(),
                conn: self.inner.target.connect().await?,
                idle_blocking: Mutex::new(Vec::new()),
                events: tokio::sync::OnceCell::new(),
            }),
            clock: self.clock.clone(),
        })
    }

    /// The same client, reading the time from `clock` (for tests of
    /// time-dependent behaviour).
    pub fn with_clock(&self, clock: Arc<dyn Clock>) -> Thoonk {
        Thoonk {
            inner: self.inner.clone(),
            clock,
        }
    }

    /// A handle on the queue `name`. Refuses a name that cannot work
    /// (empty, with a NUL byte, over 256 bytes), and on a Redis Cluster a
    /// name without a `{tag}`: all keys of a queue must share a hash slot,
    /// and the tag is what Redis hashes (`{mail}`, or `{mail}.high` and
    /// `{mail}.low` to keep two queues on one node).
    pub fn job(&self, name: &str) -> Result<Job> {
        Job::new(self.clone(), name)
    }

    /// The URL this client talks to (a cluster's seeds, comma-separated),
    /// passwords hidden.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// Now, in Unix milliseconds, from this client's clock: pass it to
    /// scripts rather than reading Redis's clock inside them.
    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// When the Unix time `ms` (this client's clock) comes, as an instant
    /// of the runtime's clock; now, if it has passed.
    pub(crate) fn instant_of(&self, ms: u64) -> tokio::time::Instant {
        tokio::time::Instant::now() + Duration::from_millis(ms.saturating_sub(self.now_ms()))
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
        let (moved,): (Option<Value>,) = self.query_alone(&wait).await?;
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
    pub async fn wait_for_list_then(
        &self,
        key: &str,
        timeout: Duration,
        script: &redis::ScriptInvocation<'_>,
    ) -> Result<Value> {
        let mut both = redis::pipe();
        both.add_command(wait_cmd(key, timeout))
            .ignore()
            .invoke_script(script);
        match self.query_alone::<(Value,)>(&both).await {
            Ok((reply,)) => Ok(reply),
            // Redis lost its scripts (a restart): the wait is over and the
            // script did not run; load it and run it now.
            Err(Error::Redis(e))
                if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) =>
            {
                Ok(script.invoke_async(&mut self.connection()).await?)
            }
            Err(e) => Err(e),
        }
    }

    /// Runs `pipe` on a connection no one else uses: for a command that
    /// blocks, or whose reply may take long (`WAIT`). The connection is
    /// kept for the next such call once it replied; had this future been
    /// dropped mid-call, the connection (with a reply still due) is
    /// dropped too.
    pub(crate) async fn query_alone<T: redis::FromRedisValue>(&self, pipe: &Pipeline) -> Result<T> {
        let idle = self.inner.idle_blocking.lock().unwrap().pop();
        let mut conn = match idle {
            Some(conn) => conn,
            None => self.inner.target.connect_blocking().await?,
        };
        let reply = pipe.query_async(&mut conn).await?;
        self.inner.idle_blocking.lock().unwrap().push(conn);
        Ok(reply)
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

/// One Redis among those a client talks to: the one, or a cluster master.
pub(crate) struct Node(Option<RoutingInfo>);

impl Thoonk {
    /// Every Redis that holds keys of this client: the one, or each master
    /// of the cluster (for what must look at all keys: `SCAN`).
    pub(crate) async fn nodes(&self) -> Result<Vec<Node>> {
        let Connection(Link::Cluster(mut cluster)) = self.connection() else {
            return Ok(vec![Node(None)]);
        };
        Ok(masters(&mut cluster)
            .await?
            .into_iter()
            .map(|(host, port)| {
                Node(Some(RoutingInfo::SingleNode(
                    SingleNodeRoutingInfo::ByAddress { host, port },
                )))
            })
            .collect())
    }

    /// Runs `cmd` on `node`.
    pub(crate) async fn query_on(&self, node: &Node, cmd: Cmd) -> Result<Value> {
        Ok(match (&node.0, self.connection()) {
            (Some(route), Connection(Link::Cluster(mut cluster))) => {
                cluster.route_command(cmd, route.clone()).await?
            }
            (_, mut conn) => cmd.query_async(&mut conn).await?,
        })
    }
}

/// The address of each master that serves slots, as `CLUSTER SLOTS` names
/// it: the very names the cluster client keys its connections by (it reads
/// the same reply), so that a command can be routed to each by address.
async fn masters(cluster: &mut ClusterConnection) -> Result<BTreeSet<(String, u16)>> {
    let mut slots = redis::cmd("CLUSTER");
    slots.arg("SLOTS");
    let reply = cluster
        .route_command(
            slots,
            RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
        )
        .await?;
    slot_masters(reply).ok_or_else(|| {
        // An empty host means "the node that answered", which a routed
        // reply does not tell; "?" an unknown node (mid-failover).
        Error::Redis(redis::RedisError::from((
            redis::ErrorKind::Parse,
            "CLUSTER SLOTS named a master without a usable address; try again",
        )))
    })
}

/// The masters' (host, port) in a `CLUSTER SLOTS` reply: each slot range
/// is `[first, last, master, replicas…]`, a node `[host, port, id, …]`.
fn slot_masters(reply: Value) -> Option<BTreeSet<(String, u16)>> {
    let Value::Array(ranges) = reply else {
        return None;
    };
    let mut masters = BTreeSet::new();
    for range in ranges {
        let Value::Array(range) = range else {
            return None;
        };
        let Some(Value::Array(master)) = range.get(2) else {
            return None;
        };
        let (Some(Value::BulkString(host)), Some(Value::Int(port))) =
            (master.first(), master.get(1))
        else {
            return None;
        };
        if host.is_empty() || host == b"?" {
            return None;
        }
        masters.insert((
            String::from_utf8(host.clone()).ok()?,
            u16::try_from(*port).ok()?,
        ));
    }
    Some(masters)
}

/// How the ordinary connection behaves: it reconnects by itself, and a
/// reply may take a while (a big batch) before the call fails.
fn manager_config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(10)))
        .set_number_of_retries(2)
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_secs(1))
}

/// The client of one node at `url`; with `ca_pem`, over TLS trusting only
/// that CA. Every connection to the node (ordinary, blocking, pub/sub) is
/// made from it, so all of them use the same TLS settings.
fn node_client(url: &str, ca_pem: Option<&[u8]>) -> redis::RedisResult<redis::Client> {
    if is_tls(url) {
        use_ring_for_tls();
    }
    match ca_pem {
        None => redis::Client::open(url),
        Some(_) if !is_tls(url) => Err(redis::RedisError::from((
            redis::ErrorKind::InvalidClientConfig,
            "a TLS CA was given, but the URL is not rediss://",
        ))),
        Some(pem) => redis::Client::build_with_tls(url, trusting(pem)?),
    }
}

/// Certificates that trust exactly the CAs in `ca_pem`. A file without a
/// single certificate is refused here: otherwise every connection would fail
/// later, with an error about the server's certificate.
fn trusting(ca_pem: &[u8]) -> redis::RedisResult<redis::TlsCertificates> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    if CertificateDer::pem_slice_iter(ca_pem).next().is_none() {
        return Err(redis::RedisError::from((
            redis::ErrorKind::InvalidClientConfig,
            "the TLS CA holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
        )));
    }
    Ok(redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(ca_pem.to_vec()),
    })
}

fn is_tls(url: &str) -> bool {
    url.get(..9)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("rediss://"))
}

/// rustls needs a crypto provider chosen for the process. Ours is ring; a
/// program that chose one before keeps its own (the install then fails,
/// harmlessly).
fn use_ring_for_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// `redis://user:secret@host/` -> `redis://user:***@host/`; also the
/// `pass=` of a `redis+unix:///path?pass=secret` URL. When in doubt it hides
/// more: everything up to the last `@`, which may be in a password.
fn hide_password(url: &str) -> String {
    // Without a scheme (a mistake, but it reaches the error message too).
    let start = url.find("://").map_or(0, |s| s + 3);
    let mut shown = match url[start..].rfind('@') {
        Some(at) => {
            let (scheme, userinfo, rest) =
                (&url[..start], &url[start..start + at], &url[start + at..]);
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{scheme}{user}:***{rest}"),
                None => format!("{scheme}***{rest}"),
            }
        }
        None => url.to_string(),
    };
    if let Some((before, query)) = shown.split_once('?') {
        let query = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key == "pass" || key == "password" => format!("{key}=***"),
                _ => pair.to_string(),
            })
            .collect::<Vec<_>>()
            .join("&");
        shown = format!("{before}?{query}");
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::{hide_password, slot_masters};
    use redis::Value;

    #[test]
    fn the_masters_of_a_cluster_slots_reply() {
        let node = |host: &str, port: i64| {
            Value::Array(vec![
                Value::BulkString(host.as_bytes().to_vec()),
                Value::Int(port),
                Value::BulkString(b"id".to_vec()),
            ])
        };
        let range = |first, last, nodes: Vec<Value>| {
            let mut r = vec![Value::Int(first), Value::Int(last)];
            r.extend(nodes);
            Value::Array(r)
        };
        let reply = Value::Array(vec![
            range(0, 99, vec![node("10.0.0.1", 7000), node("10.0.0.2", 7001)]),
            range(100, 199, vec![node("10.0.0.3", 7002)]),
            // A second range of the first master counts once.
            range(200, 16383, vec![node("10.0.0.1", 7000)]),
        ]);
        assert_eq!(
            slot_masters(reply).unwrap().into_iter().collect::<Vec<_>>(),
            [
                ("10.0.0.1".to_string(), 7000),
                ("10.0.0.3".to_string(), 7002)
            ]
        );
        let unknown = Value::Array(vec![range(0, 16383, vec![node("?", 7000)])]);
        assert_eq!(slot_masters(unknown), None);
    }

    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(
            hide_password("redis://127.0.0.1:7/"),
            "redis://127.0.0.1:7/"
        );
        assert_eq!(hide_password("redis://u:pw@h:1/"), "redis://u:***@h:1/");
        assert_eq!(hide_password("redis://pw@h/"), "redis://***@h/");
        assert_eq!(hide_password("rediss://:pw@h/"), "rediss://:***@h/");
        assert_eq!(hide_password("redis://u:p@w:d@h/"), "redis://u:***@h/");
        assert_eq!(hide_password("redis://u:p/w@h/"), "redis://u:***@h/");
        assert_eq!(hide_password("u:pw@h:1"), "u:***@h:1");
        assert_eq!(
            hide_password("redis+unix:///tmp/r.sock?db=1&pass=pw&user=u"),
            "redis+unix:///tmp/r.sock?db=1&pass=***&user=u"
        );
    }
}
