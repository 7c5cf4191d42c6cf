//! A private Redis Cluster for tests: six [`PrivateRedis`] nodes in cluster
//! mode, joined by `redis-cli --cluster create` into three masters with one
//! replica each, all stopped on drop.
//!
//! The node timeout is short (1 s), so a test that kills a master sees its
//! replica take over within seconds. One node is talked to with the kit's
//! own RESP client ([`PrivateCluster::command`]); `redis-cli` forms the
//! cluster (`--cluster create`) and follows redirects
//! ([`PrivateCluster::cluster_commands`]), taken from the directory of
//! [`server_binary`] when it is there, else from `PATH`.
//!
//! [`PrivateCluster::start_tls`] starts one that speaks only TLS, to clients,
//! on its bus and between master and replica, with the certificate of one
//! throwaway CA on every node.

use std::ffi::{OsStr, OsString};
use std::io;
use std::net::{Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::poll::{self, DEADLINE};
use crate::{server_binary, tool, PrivateRedis, Resp, TestCerts};

/// The number of hash slots in a Redis Cluster.
const SLOTS: u32 = 16384;

/// A node's cluster bus listens on its port plus this.
const BUS_PORT_OFFSET: u16 = 10000;

/// Settings of every node, on top of `PrivateRedis`'s own (which include
/// `--save ''`).
const NODE_SETTINGS: &[(&str, &str)] = &[
    ("cluster-enabled", "yes"),
    // Relative to the node's own data directory, so no two nodes share it.
    ("cluster-config-file", "nodes.conf"),
    // Failure detection and election take a few node timeouts.
    ("cluster-node-timeout", "1000"),
    // A replica may take over however long its master link was down; by
    // default it refuses once that is over ten node timeouts.
    ("cluster-replica-validity-factor", "0"),
    // A master otherwise waits 5 s for more replicas before it starts a
    // diskless sync, which was most of the time `start` took.
    ("repl-diskless-sync-delay", "0"),
    ("appendonly", "no"),
];

/// Settings of every node of a TLS cluster, on top of [`NODE_SETTINGS`]:
/// the nodes talk TLS to each other too (presenting their certificates,
/// which Redis requires on the bus).
const TLS_NODE_SETTINGS: &[(&str, &str)] = &[("tls-cluster", "yes"), ("tls-replication", "yes")];

/// A Redis Cluster of six `redis-server`s that this program started and
/// owns: three masters with one replica each, on 127.0.0.1.
#[derive(Debug)]
pub struct PrivateCluster {
    /// Of a TLS cluster, all share one set of certificates.
    nodes: Vec<PrivateRedis>,
}

/// One node as `CLUSTER NODES` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterNode {
    /// The node's id (40 hex digits).
    pub id: String,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Flags such as `myself`, `master`, `slave`, `fail?` and `fail`.
    pub flags: Vec<String>,
    /// For a replica, the id of its master.
    pub master_id: Option<String>,
    /// The slot ranges it serves, both ends inclusive; empty for a replica.
    pub slots: Vec<(u16, u16)>,
}

impl ClusterNode {
    /// Whether it is a master. A failed master keeps the flag (without
    /// slots) until it comes back as a replica.
    pub fn is_master(&self) -> bool {
        self.flags.iter().any(|f| f == "master")
    }

    /// Whether the node that was asked finds it unreachable or not yet
    /// fully known.
    pub fn is_failed(&self) -> bool {
        self.flags
            .iter()
            .any(|f| matches!(f.as_str(), "fail" | "fail?" | "handshake" | "noaddr"))
    }

    /// Whether it serves `slot`.
    pub fn serves(&self, slot: u16) -> bool {
        self.slots.iter().any(|&(lo, hi)| lo <= slot && slot <= hi)
    }

    fn slot_count(&self) -> u32 {
        self.slots
            .iter()
            .map(|&(lo, hi)| u32::from(hi) - u32::from(lo) + 1)
            .sum()
    }

    /// Parses one line of `CLUSTER NODES`:
    /// `<id> <ip:port@cport[,hostname]> <flags> <master> <ping> <pong> <epoch> <link> <slot>...`
    fn parse(line: &str) -> Option<Self> {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 8 {
            return None;
        }
        let addr = fields[1].split(['@', ',']).next()?;
        let port = addr.rsplit(':').next()?.parse().ok()?;
        let slots = fields[8..]
            .iter()
            // `[slot->-id]` and `[slot-<-id]` are slots being migrated.
            .filter(|s| !s.starts_with('['))
            .map(|s| match s.split_once('-') {
                Some((lo, hi)) => Some((lo.parse().ok()?, hi.parse().ok()?)),
                None => s.parse().ok().map(|n| (n, n)),
            })
            .collect::<Option<_>>()?;
        Some(ClusterNode {
            id: fields[0].to_string(),
            port,
            flags: fields[2].split(',').map(str::to_string).collect(),
            master_id: (fields[3] != "-").then(|| fields[3].to_string()),
            slots,
        })
    }
}

impl PrivateCluster {
    /// Starts six nodes, joins them into three masters with one replica
    /// each, and waits until every node sees all slots served and every
    /// replica in sync with its master.
    pub fn start() -> io::Result<Self> {
        let nodes = (0..6)
            .map(|_| PrivateRedis::start_on(NODE_SETTINGS, free_cluster_port))
            .collect::<io::Result<Vec<_>>>()?;
        PrivateCluster { nodes }.form()
    }

    /// Like [`start`](Self::start), with nodes that speak only TLS
    /// (`rediss://`), their certificates from one fresh CA: clients must
    /// trust [`ca_path`](Self::ca_path).
    pub fn start_tls() -> io::Result<Self> {
        let certs = Arc::new(TestCerts::generate()?);
        let settings: Vec<_> = NODE_SETTINGS
            .iter()
            .chain(TLS_NODE_SETTINGS)
            .copied()
            .collect();
        let nodes = (0..6)
            .map(|_| PrivateRedis::start_tls_on(&settings, certs.clone(), free_cluster_port))
            .collect::<io::Result<Vec<_>>>()?;
        PrivateCluster { nodes }.form()
    }

    /// The PEM file of the CA a TLS cluster's certificates come from.
    pub fn ca_path(&self) -> Option<PathBuf> {
        self.nodes[0].ca_path()
    }

    /// Joins the started nodes into a cluster and waits until it is formed.
    fn form(self) -> io::Result<Self> {
        let cluster = self;
        let mut create = vec!["--cluster".to_string(), "create".to_string()];
        create.extend(cluster.ports().iter().map(|p| format!("127.0.0.1:{p}")));
        create.extend(["--cluster-replicas", "1", "--cluster-yes"].map(String::from));
        cluster.redis_cli(&create, None)?;
        cluster.wait_until(
            DEADLINE,
            "three masters with one synced replica each, as seen by every node",
            || cluster.formed(),
        )?;
        Ok(cluster)
    }

    /// The ports of all six nodes, killed ones included.
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(PrivateRedis::port).collect()
    }

    /// `redis://127.0.0.1:PORT/` (`rediss://…` for TLS) of all six nodes,
    /// killed ones included; any of them can seed a cluster client.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(PrivateRedis::url).collect()
    }

    /// `redis://user:password@127.0.0.1:PORT/` (`rediss://…` for TLS) of
    /// all six nodes, to log in as an ACL user of [`add_user`](Self::add_user).
    pub fn urls_as(&self, user: &str, password: &str) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| n.url_as(user, password))
            .collect()
    }

    /// Creates the ACL user `name` on every running node (each node has
    /// its own users), as [`PrivateRedis::add_user`] does.
    pub fn add_user(&self, name: &str, password: &str, rules: &[&str]) -> io::Result<()> {
        for node in self.nodes.iter().filter(|n| n.pid().is_some()) {
            node.add_user(name, password, rules)?;
        }
        Ok(())
    }

    /// The process id of the node on `port`, while it runs.
    pub fn pid(&self, port: u16) -> Option<u32> {
        self.nodes
            .iter()
            .find(|n| n.port() == port)
            .and_then(PrivateRedis::pid)
    }

    /// All nodes as `CLUSTER NODES` on the first running node that answers
    /// describes them.
    pub fn nodes(&self) -> io::Result<Vec<ClusterNode>> {
        let mut last = io::Error::other("no node is running");
        for port in self.live_ports() {
            match self.cluster_nodes(port) {
                Ok(nodes) => return Ok(nodes),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// The masters that serve slots and are not failed, as [`nodes`](Self::nodes)
    /// sees them; these change when a replica takes over.
    pub fn masters(&self) -> io::Result<Vec<ClusterNode>> {
        let mut nodes = self.nodes()?;
        nodes.retain(|n| n.is_master() && !n.is_failed() && !n.slots.is_empty());
        Ok(nodes)
    }

    /// The master that currently serves `slot`.
    pub fn master_of_slot(&self, slot: u16) -> io::Result<ClusterNode> {
        self.masters()?
            .into_iter()
            .find(|m| m.serves(slot))
            .ok_or_else(|| io::Error::other(format!("no live master serves slot {slot}")))
    }

    /// The hash slot of `key` (`CLUSTER KEYSLOT`).
    pub fn slot_of(&self, key: &str) -> io::Result<u16> {
        let port = self.any_live_port()?;
        let reply = self.command(port, &["CLUSTER", "KEYSLOT", key])?;
        u16::try_from(reply.int()?)
            .map_err(|_| io::Error::other(format!("CLUSTER KEYSLOT {key:?}: not a slot")))
    }

    /// The master that currently serves `key`'s slot.
    pub fn node_for_key(&self, key: &str) -> io::Result<ClusterNode> {
        self.master_of_slot(self.slot_of(key)?)
    }

    /// Kills the node on `port` (SIGKILL) and waits for it to exit, like a
    /// crash; the others notice after the node timeout.
    pub fn kill(&mut self, port: u16) -> io::Result<()> {
        let node = self
            .nodes
            .iter_mut()
            .find(|n| n.port() == port)
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::NotFound, format!("no node on port {port}"))
            })?;
        node.stop();
        Ok(())
    }

    /// Waits until every running node sees the cluster as ok with all slots
    /// served by running masters, i.e. until replicas have taken over the
    /// slots of killed masters.
    pub fn wait_for_failover(&self, timeout: Duration) -> io::Result<()> {
        self.wait_until(
            timeout,
            "all slots served by running masters, as seen by every running node",
            || {
                for port in self.live_ports() {
                    if !self.serves_all_slots(port)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            },
        )
    }

    /// Moves `slot` and its keys to the master on `to`, while clients go
    /// on: the steps of `redis-cli --cluster reshard` for one slot. The
    /// target is set IMPORTING and the source MIGRATING (clients get `ASK`
    /// for keys already moved), the keys move with `MIGRATE`, then every
    /// master is told the slot's new owner (clients get `MOVED`).
    pub fn move_slot(&self, slot: u16, to: u16) -> io::Result<()> {
        let from = self.master_of_slot(slot)?;
        let masters = self.masters()?;
        let target = masters.iter().find(|m| m.port == to).ok_or_else(|| {
            io::Error::other(format!("the node on port {to} is not a live master"))
        })?;
        let slot_arg = slot.to_string();
        let setslot = |state, id| ["CLUSTER", "SETSLOT", slot_arg.as_str(), state, id];
        self.expect_ok(to, &setslot("IMPORTING", &from.id))?;
        self.expect_ok(from.port, &setslot("MIGRATING", &target.id))?;
        let to_arg = to.to_string();
        loop {
            let keys = self
                .command(from.port, &["CLUSTER", "GETKEYSINSLOT", &slot_arg, "1000"])?
                .bulks()?;
            if keys.is_empty() {
                break;
            }
            let mut migrate: Vec<&[u8]> =
                ["MIGRATE", "127.0.0.1", &to_arg, "", "0", "5000", "KEYS"]
                    .map(str::as_bytes)
                    .to_vec();
            migrate.extend(keys.iter().map(Vec::as_slice));
            self.expect_ok(from.port, &migrate)?;
        }
        // The new owner first, so it serves the slot before anyone is sent
        // to it.
        self.expect_ok(to, &setslot("NODE", &target.id))?;
        for master in masters.iter().filter(|m| m.port != to) {
            self.expect_ok(master.port, &setslot("NODE", &target.id))?;
        }
        Ok(())
    }

    /// Sends `args` to the node on `port`; anything but `OK` (or `NOKEY`,
    /// a `MIGRATE` with nothing left to move) is an error.
    fn expect_ok<A: AsRef<[u8]>>(&self, port: u16, args: &[A]) -> io::Result<()> {
        let reply = self.command(port, args)?;
        if reply == Resp::simple("OK") || reply == Resp::simple("NOKEY") {
            return Ok(());
        }
        let shown: Vec<String> = args
            .iter()
            .map(|a| a.as_ref().escape_ascii().to_string())
            .collect();
        Err(io::Error::other(format!(
            "{shown:?} on {port} replied {reply:?}"
        )))
    }

    /// Sends one command to the node on `port` (no redirect is followed)
    /// and returns its reply: an error reply (`MOVED …`) is a reply, not an
    /// `Err`. A port that is not one of ours is refused, so no other Redis
    /// is ever touched.
    pub fn command<A: AsRef<[u8]>>(&self, port: u16, args: &[A]) -> io::Result<Resp> {
        self.nodes
            .iter()
            .find(|n| n.port() == port)
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::NotFound, format!("no node on port {port}"))
            })?
            .command(args)
    }

    /// The keys on the node at `port`, sorted.
    pub fn keys_on(&self, port: u16) -> io::Result<Vec<String>> {
        let mut keys = self.command(port, &["KEYS", "*"])?.strings()?;
        keys.sort();
        Ok(keys)
    }

    /// Runs `commands` in order over one connection with `redis-cli -c`,
    /// which follows `MOVED` and `ASK` redirects (and sends later commands
    /// to the node it was redirected to), and returns their replies, one
    /// line each for simple ones, without redis-cli's notes on redirects.
    /// One connection matters for `WAIT`, which waits for that connection's
    /// writes.
    pub fn cluster_commands(&self, commands: &[&[&str]]) -> io::Result<String> {
        let port = self.any_live_port()?.to_string();
        let script: String = commands
            .iter()
            .map(|args| args.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ") + "\n")
            .collect();
        let out = self.redis_cli(&["-c", "-h", "127.0.0.1", "-p", &port], Some(&script))?;
        // redis-cli announces each redirect on stdout; keep just the replies.
        let replies: Vec<_> = out
            .lines()
            .filter(|l| !l.starts_with("-> Redirected to "))
            .collect();
        Ok(replies.join("\n"))
    }

    /// [`redis_cli`] with `args`, over TLS trusting our CA for a TLS
    /// cluster.
    fn redis_cli(&self, args: &[impl AsRef<OsStr>], stdin: Option<&str>) -> io::Result<String> {
        let mut all: Vec<OsString> = Vec::new();
        if let Some(ca) = self.ca_path() {
            all.extend(["--tls".into(), "--cacert".into(), ca.into()]);
        }
        all.extend(args.iter().map(|a| a.as_ref().to_os_string()));
        redis_cli(&all, stdin)
    }

    fn live_ports(&self) -> Vec<u16> {
        self.nodes
            .iter()
            .filter(|n| n.pid().is_some())
            .map(PrivateRedis::port)
            .collect()
    }

    fn any_live_port(&self) -> io::Result<u16> {
        self.live_ports()
            .first()
            .copied()
            .ok_or_else(|| io::Error::other("no node is running"))
    }

    fn cluster_nodes(&self, port: u16) -> io::Result<Vec<ClusterNode>> {
        let text = self.command(port, &["CLUSTER", "NODES"])?.text()?;
        text.lines()
            .map(|line| {
                ClusterNode::parse(line).ok_or_else(|| {
                    io::Error::other(format!("CLUSTER NODES on {port} replied {text:?}"))
                })
            })
            .collect()
    }

    /// Whether the node on `port` finds the cluster ok with every slot
    /// served by a master that is not failed and still runs. The last part
    /// matters right after a kill, before the node has noticed.
    fn serves_all_slots(&self, port: u16) -> io::Result<bool> {
        let info = self.command(port, &["CLUSTER", "INFO"])?.text()?;
        if !info.contains("cluster_state:ok") || !info.contains("cluster_slots_ok:16384") {
            return Ok(false);
        }
        let live = self.live_ports();
        let served: u32 = self
            .cluster_nodes(port)?
            .iter()
            .filter(|n| n.is_master() && !n.is_failed() && live.contains(&n.port))
            .map(ClusterNode::slot_count)
            .sum();
        Ok(served == SLOTS)
    }

    /// Whether every node serves all slots, knows all six nodes as healthy,
    /// three of them masters with one replica each, and, if it is a replica,
    /// has finished its sync (so `WAIT` and a failover find the data there).
    fn formed(&self) -> io::Result<bool> {
        for port in self.live_ports() {
            if !self.serves_all_slots(port)? {
                return Ok(false);
            }
            let nodes = self.cluster_nodes(port)?;
            let masters: Vec<_> = nodes.iter().filter(|n| n.is_master()).collect();
            let replicas_of = |m: &ClusterNode| {
                nodes
                    .iter()
                    .filter(|r| r.master_id.as_deref() == Some(m.id.as_str()))
                    .count()
            };
            if nodes.len() != self.nodes.len()
                || nodes.iter().any(ClusterNode::is_failed)
                || masters.len() != 3
                || masters.iter().any(|m| replicas_of(m) != 1)
            {
                return Ok(false);
            }
            let replication = self.command(port, &["INFO", "replication"])?.text()?;
            if replication.contains("role:slave") && !replication.contains("master_link_status:up")
            {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Polls `ready` until it says yes; errors count as "not yet" (a node
    /// may refuse while it is busy) and are reported on timeout.
    fn wait_until(
        &self,
        timeout: Duration,
        what: &str,
        mut ready: impl FnMut() -> io::Result<bool>,
    ) -> io::Result<()> {
        let mut last = None;
        let done = poll::poll(timeout, || match ready() {
            Ok(ready) => {
                last = None;
                ready.then_some(())
            }
            Err(e) => {
                last = Some(e);
                None
            }
        });
        if done.is_some() {
            return Ok(());
        }
        let view = self
            .any_live_port()
            .and_then(|p| self.command(p, &["CLUSTER", "NODES"])?.text())
            .unwrap_or_else(|e| e.to_string());
        let last = last.map_or(String::new(), |e| format!(" (last error: {e})"));
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no {what} within {timeout:?}{last}\n--- CLUSTER NODES ---\n{view}"),
        ))
    }
}

/// A port that was free a moment ago on 127.0.0.1, whose cluster bus port
/// (port + 10000, so port <= 55535) was free too. The node still retries on
/// another port if either is taken before it binds.
fn free_cluster_port() -> io::Result<u16> {
    for _ in 0..100 {
        // Held while the bus port is probed, so no other probe gets it.
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let port = listener.local_addr()?.port();
        if let Some(bus) = port.checked_add(BUS_PORT_OFFSET) {
            if TcpListener::bind((Ipv4Addr::LOCALHOST, bus)).is_ok() {
                return Ok(port);
            }
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrNotAvailable,
        "no free port with a free cluster bus port on 127.0.0.1",
    ))
}

/// `redis-cli` next to the `redis-server` in use, else from `PATH`.
fn cli_binary() -> PathBuf {
    let server = server_binary();
    server
        .parent()
        // A bare `redis-server` has the parent "", which is not its directory.
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join("redis-cli"))
        .filter(|cli| cli.is_file())
        .unwrap_or_else(|| PathBuf::from("redis-cli"))
}

/// Runs `redis-cli` with `args`, feeding it `stdin` if given, and returns
/// its output without the final newline; an error if it exits non-zero
/// (it cannot connect, or `--cluster create` fails).
fn redis_cli(args: &[impl AsRef<OsStr>], stdin: Option<&str>) -> io::Result<String> {
    tool::run(
        &cli_binary(),
        args,
        stdin,
        "It comes with redis-server (Debian/Ubuntu: `apt-get install redis-tools`)",
    )
}

/// Quotes one argument for a line that redis-cli reads from stdin.
fn quote(arg: &str) -> String {
    let escaped = arg
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
        .replace('\r', "\\r");
    format!("\"{escaped}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cluster_nodes_lines() {
        let master = ClusterNode::parse(
            "e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@40001,host myself,master - 0 0 1 connected 0-5460 5462 [5463->-07c37dfeb235213a872192d90877d0cd55635b91]",
        )
        .unwrap();
        assert_eq!(master.port, 30001);
        assert!(master.is_master() && !master.is_failed());
        assert_eq!(master.master_id, None);
        assert_eq!(master.slots, [(0, 5460), (5462, 5462)]);
        assert_eq!(master.slot_count(), 5462);
        assert!(master.serves(5462) && !master.serves(5461));

        let replica = ClusterNode::parse(
            "07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@40004 slave,fail e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1426238317239 4 disconnected",
        )
        .unwrap();
        assert!(!replica.is_master() && replica.is_failed());
        assert_eq!(replica.master_id.as_deref(), Some(master.id.as_str()));
        assert!(replica.slots.is_empty());
    }

    #[test]
    fn free_cluster_ports_leave_room_for_the_bus() {
        for _ in 0..50 {
            assert!(free_cluster_port().unwrap() <= u16::MAX - BUS_PORT_OFFSET);
        }
    }
}
