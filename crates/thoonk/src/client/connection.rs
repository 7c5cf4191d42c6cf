//! The connections a client makes ([`Connection`]): to one Redis, or to a
//! Redis Cluster, ordinary or for blocking waits.

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{AsyncConnectionConfig, Cmd, Pipeline, RedisFuture, Value};
use std::fmt;
use std::time::Duration;

/// What a client connects to, and how it makes more connections.
#[derive(Clone)]
pub(super) enum Target {
    /// Boxed: with its TLS settings, a client is large.
    Single(Box<redis::Client>),
    Cluster(Box<Cluster>),
}

#[derive(Clone)]
pub(super) struct Cluster {
    /// For ordinary calls: replies come within seconds.
    pub(super) client: ClusterClient,
    /// For blocking waits: a reply may take as long as the wait.
    pub(super) blocking: ClusterClient,
    /// The seed nodes: the event connection subscribes on one of them (a
    /// cluster forwards every PUBLISH to every node) and moves to the next
    /// when it fails.
    pub(super) seeds: Vec<redis::Client>,
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
    pub(super) async fn connect(&self) -> redis::RedisResult<Connection> {
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

    pub(super) async fn connect_blocking(&self) -> redis::RedisResult<Connection> {
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
pub struct Connection(pub(super) Link);

#[derive(Clone)]
pub(super) enum Link {
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
