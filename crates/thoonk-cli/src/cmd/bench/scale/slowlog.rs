//! Redis's own time per command, read from its SLOWLOG.
//!
//! Why SLOWLOG and not `INFO commandstats`: commandstats sums the time of
//! every call of a command (all scripts are one `evalsha` line there), so
//! a delta is an average over whoever called meanwhile — our live worker's
//! heartbeat included. SLOWLOG, with `slowlog-log-slower-than 0`, keeps one
//! entry per command with its duration in µs and the name of the client
//! that sent it: the max over our own entries is the cost of the slowest
//! single command (script run) an operation made, which is what blocks
//! every other client of the Redis meanwhile, and what the goal "no
//! command in SLOWLOG takes over 10 ms" is about.

use redis::Value;
use thoonk::Thoonk;

/// The name the measuring connection gives itself (`CLIENT SETNAME`), so
/// that its entries are told from the worker's and the CLI's.
pub(super) const MEASURER: &str = "thoonk-bench-scale";
/// The name of the live worker's client.
pub(super) const WORKER: &str = "thoonk-bench-scale-worker";

/// Entries kept while measuring: more than one operation makes between a
/// reset and a read (a CLI `list` makes about one per 1,000 jobs listed),
/// few enough to stay small (an entry keeps at most 32 arguments).
const MAX_LEN: u32 = 1024;

/// Whose entries a reading counts.
#[derive(Debug, Clone, Copy)]
pub(super) enum Whose {
    /// The measuring connection's.
    Measurer,
    /// Everyone's but the measurer's and the live worker's: a child
    /// `thoonk` process.
    Others,
}

/// The SLOWLOG settings as found, to put back after measuring.
#[derive(Debug)]
pub(super) struct Slowlog {
    thoonk: Thoonk,
    slower_than: String,
    max_len: String,
}

impl Slowlog {
    /// Names the measuring connection and notes the settings to restore.
    /// Refused on a cluster (each node keeps its own log, and the client
    /// would send each command to one node only) and where `CONFIG` is not
    /// allowed (an ACL user without it, a managed Redis): then the bench
    /// shows client times only, and says why.
    pub(super) async fn start(thoonk: &Thoonk) -> Result<Slowlog, String> {
        if thoonk.is_cluster() {
            return Err("a cluster: each node keeps a SLOWLOG of its own".into());
        }
        let slower_than = config_get(thoonk, "slowlog-log-slower-than").await?;
        let max_len = config_get(thoonk, "slowlog-max-len").await?;
        name_client(thoonk, MEASURER).await?;
        let log = Slowlog {
            thoonk: thoonk.clone(),
            slower_than,
            max_len,
        };
        // Setting a value to what it is: a Redis that lets us read the
        // settings but not write them says so now, not halfway through.
        log.config_set("slowlog-max-len", &log.max_len).await?;
        Ok(log)
    }

    /// Logs every command from now on.
    pub(super) async fn on(&self) -> Result<(), String> {
        self.config_set("slowlog-max-len", &MAX_LEN.to_string())
            .await?;
        self.config_set("slowlog-log-slower-than", "0").await?;
        self.reset().await
    }

    /// Puts the settings back as they were found.
    pub(super) async fn off(&self) -> Result<(), String> {
        self.config_set("slowlog-log-slower-than", &self.slower_than)
            .await?;
        self.config_set("slowlog-max-len", &self.max_len).await
    }

    /// Forgets the entries so far.
    pub(super) async fn reset(&self) -> Result<(), String> {
        query::<()>(&self.thoonk, redis::cmd("SLOWLOG").arg("RESET")).await
    }

    /// The longest command of `whose` since the last reset, in µs (0 when
    /// it made none).
    pub(super) async fn max_us(&self, whose: Whose) -> Result<u64, String> {
        let reply: Value =
            query(&self.thoonk, redis::cmd("SLOWLOG").arg("GET").arg(MAX_LEN)).await?;
        let Value::Array(entries) = reply else {
            return Err(format!("SLOWLOG GET answered {reply:?}"));
        };
        Ok(entries
            .iter()
            .filter_map(Entry::read)
            .filter(|entry| entry.counts_for(whose))
            .map(|entry| entry.micros)
            .max()
            .unwrap_or(0))
    }

    async fn config_set(&self, name: &str, value: &str) -> Result<(), String> {
        query::<()>(
            &self.thoonk,
            redis::cmd("CONFIG").arg("SET").arg(name).arg(value),
        )
        .await
    }
}

/// What the bench reads of one SLOWLOG entry: `[id, unix time, µs,
/// [command, args…], client address, client name]` (Redis 4 and later).
struct Entry {
    micros: u64,
    command: String,
    client: String,
}

impl Entry {
    fn read(entry: &Value) -> Option<Entry> {
        let Value::Array(fields) = entry else {
            return None;
        };
        let micros = match fields.get(2)? {
            Value::Int(us) => u64::try_from(*us).ok()?,
            _ => return None,
        };
        let command = match fields.get(3)? {
            Value::Array(args) => text(args.first()?),
            _ => return None,
        };
        let client = fields.get(5).map(text).unwrap_or_default();
        Some(Entry {
            micros,
            command,
            client,
        })
    }

    /// Our own SLOWLOG calls are not what is measured (a RESET is logged
    /// right after it runs).
    fn counts_for(&self, whose: Whose) -> bool {
        if self.command.eq_ignore_ascii_case("slowlog") {
            return false;
        }
        match whose {
            Whose::Measurer => self.client == MEASURER,
            Whose::Others => self.client != MEASURER && self.client != WORKER,
        }
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::BulkString(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        Value::SimpleString(s) => s.clone(),
        _ => String::new(),
    }
}

/// Names `thoonk`'s shared connection in Redis's client list and SLOWLOG.
pub(super) async fn name_client(thoonk: &Thoonk, name: &str) -> Result<(), String> {
    query::<()>(thoonk, redis::cmd("CLIENT").arg("SETNAME").arg(name)).await
}

async fn config_get(thoonk: &Thoonk, name: &str) -> Result<String, String> {
    let reply: Value = query(thoonk, redis::cmd("CONFIG").arg("GET").arg(name)).await?;
    // [name, value] in RESP2, {name: value} in RESP3.
    let value = match &reply {
        Value::Array(pair) if pair.len() == 2 => text(&pair[1]),
        Value::Map(pairs) if pairs.len() == 1 => text(&pairs[0].1),
        _ => return Err(format!("CONFIG GET {name} answered {reply:?}")),
    };
    Ok(value)
}

/// Runs `cmd` on `thoonk`'s shared connection; an error names the command.
async fn query<T: redis::FromRedisValue>(thoonk: &Thoonk, cmd: &redis::Cmd) -> Result<T, String> {
    cmd.query_async(&mut thoonk.connection())
        .await
        .map_err(|e| {
            let name: Vec<String> = cmd
                .args_iter()
                .take(2)
                .map(|arg| match arg {
                    redis::Arg::Simple(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                    _ => String::new(),
                })
                .collect();
            format!("{}: {e}", name.join(" "))
        })
}
