//! The server panel: what Redis says of itself (version, uptime, memory,
//! clients; on a cluster, per master), and the memory each queue's keys
//! use, estimated (`MEMORY USAGE … SAMPLES`).

use super::base::Base;
use maud::{html, Markup};
use serde::Serialize;

/// Elements `MEMORY USAGE` samples per nested key: an estimate whose cost
/// is bounded by the number of keys, not by their size.
pub(crate) const MEMORY_SAMPLES: u32 = 5;
/// How old a queue's memory figure may grow before it is read again.
pub(crate) const MEMORY_EVERY_MS: u64 = 60_000;
/// At most this many queues' memory is read per refresh (the stalest first).
pub(crate) const MEMORY_QUEUES: usize = 20;

/// One queue's memory.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct QueueMemory {
    pub(crate) queue: String,
    /// Bytes its keys use (an estimate).
    pub(crate) bytes: u64,
    /// How many of its keys exist.
    pub(crate) keys: u64,
    /// When this was read (Unix ms, server time).
    pub(crate) read_at_ms: u64,
}

/// The server panel.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct ServerPanel {
    /// The one Redis, or each master.
    pub(crate) servers: Vec<thoonk::ServerInfo>,
    /// By queue name.
    pub(crate) memory: Vec<QueueMemory>,
}

/// Bytes for a reader: B, KiB, MiB, GiB.
pub(crate) fn bytes(n: u64) -> String {
    let mut value = n as f64;
    for unit in ["B", "KiB", "MiB", "GiB"] {
        if value < 1024.0 || unit == "GiB" {
            return if unit == "B" {
                format!("{n} B")
            } else {
                format!("{value:.1} {unit}")
            };
        }
        value /= 1024.0;
    }
    unreachable!("the loop returns at GiB")
}

/// Seconds for a reader: 3d 4h, 5h 6m, 7m 8s.
pub(crate) fn uptime(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

/// The panel as the overview shows it.
pub(crate) fn section(base: &Base, panel: &ServerPanel) -> Markup {
    html! {
        h2 { "Server" }
        table #server {
            thead { tr {
                th { "Redis" } th { "version" } th.n { "uptime" } th.n { "memory used" }
                th.n { "peak" } th.n { "clients" }
            } }
            tbody {
                @for s in &panel.servers {
                    tr {
                        td { (s.address.as_deref().unwrap_or("the server")) }
                        td.version { (s.version) }
                        td.n { (uptime(s.uptime_secs)) }
                        td.n.used { (bytes(s.used_memory)) }
                        td.n { (bytes(s.used_memory_peak)) }
                        td.n { (s.connected_clients) }
                    }
                }
            }
        }
        table #queue-memory {
            thead { tr { th { "queue" } th.n { "memory (estimated)" } th.n { "keys" } } }
            tbody {
                @for m in &panel.memory {
                    tr data-queue=(m.queue) {
                        td { a href=(super::pages::queue_path(base, &m.queue)) { (m.queue) } }
                        td.n.bytes { (bytes(m.bytes)) }
                        td.n { (m.keys) }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_times_read_well() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 << 30), "3.0 GiB");
        assert_eq!(uptime(42), "42s");
        assert_eq!(uptime(3 * 86_400 + 4 * 3600), "3d 4h");
    }
}
