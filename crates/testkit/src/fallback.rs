//! The examples' Redis: the one configured, else the local one, else a
//! private one, so that `cargo run --example NAME` works on a fresh
//! machine with only `redis-server` installed, while each example still
//! connects as a reader's program does (`Thoonk::connect_from_env()`).

use crate::{PrivateCluster, PrivateRedis};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

/// Where `Thoonk::connect_from_env()` goes when `THOONK_REDIS_URL` is
/// unset: the library's `DEFAULT_URL`.
const LOCAL: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 6379);

/// How long the local Redis has to answer a `PING`: it is on this machine,
/// so anything slower is not a Redis to run an example on.
const PROBE: Duration = Duration::from_millis(500);

/// For an example: `None` when `$THOONK_REDIS_URL` is set, or a Redis
/// answers on 127.0.0.1:6379 (the example's `Thoonk::connect_from_env()`
/// reaches that one); else a private `redis-server`, started on a free
/// port and named in this process's `THOONK_REDIS_URL` for the example to
/// reach, stopped when the value is dropped (keep it to the end of `main`).
///
/// Call it first thing in `main`: it sets the variable, which is safe only
/// while no other thread reads the environment (the runtime's threads are
/// idle then).
///
/// # Panics
///
/// When `redis-server` cannot be started (the message says how to
/// install it).
pub fn redis_unless_configured() -> Option<PrivateRedis> {
    if configured() || answers(LOCAL) {
        return None;
    }
    let redis = PrivateRedis::start().unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "no THOONK_REDIS_URL and no Redis on 127.0.0.1:6379: using a private redis-server on port {} (stopped at the end)",
        redis.port()
    );
    std::env::set_var("THOONK_REDIS_URL", redis.url());
    Some(redis)
}

/// For the cluster example: `None` when `$THOONK_REDIS_URL` names the
/// cluster's seed nodes; else a private Redis Cluster (six nodes, which
/// takes a few seconds to form), its nodes named in this process's
/// `THOONK_REDIS_URL` (comma-separated), stopped when the value is
/// dropped. Call it first thing in `main`, as [`redis_unless_configured`].
///
/// # Panics
///
/// When the cluster cannot be started.
pub fn cluster_unless_configured() -> Option<PrivateCluster> {
    if configured() {
        return None;
    }
    eprintln!("no THOONK_REDIS_URL: starting a private Redis Cluster (stopped at the end)");
    let cluster = PrivateCluster::start().unwrap_or_else(|e| panic!("{e}"));
    std::env::set_var("THOONK_REDIS_URL", cluster.urls().join(","));
    Some(cluster)
}

/// Whether `THOONK_REDIS_URL` names a Redis (as the library reads it,
/// empty is unset).
fn configured() -> bool {
    std::env::var_os("THOONK_REDIS_URL").is_some_and(|url| !url.is_empty())
}

/// Whether a Redis at `addr` answers `PING` with `PONG` within [`PROBE`]
/// (one that wants a password does not: the example could not use it).
fn answers(addr: SocketAddr) -> bool {
    let ping = || -> std::io::Result<bool> {
        let mut stream = TcpStream::connect_timeout(&addr, PROBE)?;
        stream.set_read_timeout(Some(PROBE))?;
        stream.set_write_timeout(Some(PROBE))?;
        stream.write_all(b"PING\r\n")?;
        let mut reply = [0; 7];
        stream.read_exact(&mut reply)?;
        Ok(&reply == b"+PONG\r\n")
    };
    ping().unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn local(port: u16) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, port))
    }

    #[test]
    fn a_redis_answers_and_a_closed_or_silent_port_does_not() {
        let redis = PrivateRedis::start().unwrap();
        assert!(answers(local(redis.port())));
        let port = redis.port();
        drop(redis);
        assert!(!answers(local(port)), "nothing listens there any more");
        // Listens, never answers: given up on after the probe's bound.
        let silent = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        assert!(!answers(silent.local_addr().unwrap()));
    }

    #[test]
    fn a_redis_that_wants_a_password_does_not_answer() {
        let redis = PrivateRedis::start().unwrap();
        let set = redis.command(&["CONFIG", "SET", "requirepass", "secret"]);
        assert_eq!(set.unwrap(), crate::Resp::simple("OK"));
        assert!(!answers(local(redis.port())));
    }
}
