//! What a Redis says of itself ([`ServerInfo`]): version, uptime, memory,
//! clients, from `INFO server,memory,clients`, of the one Redis or of each
//! master of a cluster.

use crate::{Result, Thoonk};
use serde::Serialize;

/// One Redis (a cluster: one master) as `INFO` describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ServerInfo {
    /// `host:port` of a cluster master as the cluster names it; `None`
    /// for the one Redis of a client that is not a cluster's.
    pub address: Option<String>,
    /// `redis_version`.
    pub version: String,
    /// `uptime_in_seconds`.
    pub uptime_secs: u64,
    /// `used_memory` (bytes).
    pub used_memory: u64,
    /// `used_memory_peak` (bytes).
    pub used_memory_peak: u64,
    /// `maxmemory` (bytes; 0: no limit).
    pub maxmemory: u64,
    /// `connected_clients`.
    pub connected_clients: u64,
}

impl Thoonk {
    /// What each Redis of this client says of itself (`INFO
    /// server,memory,clients`): the one, or each master of a cluster.
    pub async fn server_info(&self) -> Result<Vec<ServerInfo>> {
        let at = self.error_in("read the server's INFO");
        let mut out = Vec::new();
        for node in self.nodes().await.map_err(&at)? {
            let mut info = redis::cmd("INFO");
            info.arg("server").arg("memory").arg("clients");
            let reply = self.query_on(&node, info).await.map_err(&at)?;
            let text: String = redis::from_redis_value(reply)
                .map_err(redis::RedisError::from)
                .map_err(&at)?;
            out.push(parse(&text, node.address()));
        }
        Ok(out)
    }
}

/// The fields we show of an `INFO` reply (`name:value` lines).
fn parse(text: &str, address: Option<String>) -> ServerInfo {
    let mut info = ServerInfo {
        address,
        ..ServerInfo::default()
    };
    for line in text.lines() {
        let Some((name, value)) = line.trim_end().split_once(':') else {
            continue;
        };
        let number = || value.parse().unwrap_or(0);
        match name {
            "redis_version" => info.version = value.to_string(),
            "uptime_in_seconds" => info.uptime_secs = number(),
            "used_memory" => info.used_memory = number(),
            "used_memory_peak" => info.used_memory_peak = number(),
            "maxmemory" => info.maxmemory = number(),
            "connected_clients" => info.connected_clients = number(),
            _ => {}
        }
    }
    info
}

#[cfg(test)]
mod tests {
    #[test]
    fn info_lines_are_read() {
        let text = "# Server\r\nredis_version:7.2.4\r\nuptime_in_seconds:12\r\n# Memory\r\nused_memory:1000\r\nused_memory_peak:2000\r\nmaxmemory:0\r\n# Clients\r\nconnected_clients:3\r\n";
        let info = super::parse(text, None);
        assert_eq!(info.version, "7.2.4");
        assert_eq!(
            (
                info.uptime_secs,
                info.used_memory,
                info.used_memory_peak,
                info.connected_clients
            ),
            (12, 1000, 2000, 3)
        );
    }
}
