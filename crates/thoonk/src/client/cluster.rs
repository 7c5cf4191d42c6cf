//! The nodes of a client ([`Node`]): the one Redis, or each master of a
//! cluster, and commands routed to one of them (for what must look at all
//! keys: `SCAN`).

use super::connection::{Connection, Link};
use crate::Thoonk;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, RedisResult, Value};
use std::collections::BTreeSet;

/// One Redis among those a client talks to: the one, or a cluster master.
pub(crate) struct Node(Option<RoutingInfo>);

impl Node {
    /// `host:port` of a cluster master; `None` for the one Redis.
    pub(crate) fn address(&self) -> Option<String> {
        match &self.0 {
            Some(RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress { host, port })) => {
                Some(format!("{host}:{port}"))
            }
            _ => None,
        }
    }
}

impl Thoonk {
    /// Every Redis that holds keys of this client: the one, or each master
    /// of the cluster (for what must look at all keys: `SCAN`).
    pub(crate) async fn nodes(&self) -> RedisResult<Vec<Node>> {
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
    pub(crate) async fn query_on(&self, node: &Node, cmd: Cmd) -> RedisResult<Value> {
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
async fn masters(cluster: &mut ClusterConnection) -> RedisResult<BTreeSet<(String, u16)>> {
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
        redis::RedisError::from((
            redis::ErrorKind::Parse,
            "CLUSTER SLOTS named a master without a usable address; try again",
        ))
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

#[cfg(test)]
mod tests {
    use super::slot_masters;
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
}
