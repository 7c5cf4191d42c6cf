//! Atomic snapshots of what a test's Redis holds: all of one queue's keys
//! ([`QueueSnapshot`], read in one `MULTI`/`EXEC`), its counts alone
//! ([`Counts`]), and the whole database ([`DbSnapshot`], read by one
//! script) for "this refusal changed nothing"; and the job invariant,
//! checked on a queue's snapshot ([`QueueSnapshot::check_invariants`]).
//!
//! Atomic matters: workers and recovery passes may run while a test looks,
//! and a snapshot read key by key could see a job leave one state before
//! seeing it arrive in the next.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io;

use crate::{Connection, Resp};

/// The key `job.<noun>:<name>` of queue `name`, as the v1 layout and our
/// additions name them (`queue_key("ids", "mail")` is `job.ids:mail`),
/// spelled here apart from the library's own key builder, so that a test
/// checks the layout rather than trusting it. The per-job
/// `job.result:NAME\0ID` keys are no queue key: they cannot be listed
/// without a scan.
pub fn queue_key(noun: &str, name: &str) -> String {
    format!("job.{noun}:{name}")
}

/// A claim's record in `job.tokens`, as `claim.lua` writes it: the token,
/// a NUL, and the score the claim gave the job in `job.claimed`.
pub fn claim_record(token: &str, score: u64) -> String {
    format!("{token}\0{score}")
}

/// A member of `job.holders` naming the jobs claim call number `n` of
/// worker `worker` claimed: `WORKER\0C\0SECOND\0N\0ID\0ID…`, as `claim.lua`
/// writes it, with the last second there is as its time (so that no
/// heartbeat of the worker's takes it for one of its old ones).
pub fn holder(worker: &str, n: u64, ids: &[&str]) -> String {
    format!("{worker}\0C\09999999999\0{n}\0{}", ids.join("\0"))
}

/// The worker and the ids a member of `job.holders` names: a claim call's
/// (see [`holder`]) or a heartbeat's (`WORKER\0H\0SECOND\0ID\0ID…`).
pub fn holder_parts(member: &str) -> (&str, Vec<&str>) {
    let mut parts = member.split('\0');
    let worker = parts.next().unwrap_or_default();
    let kind = parts.next();
    let _second = parts.next();
    if kind == Some("C") {
        let _claim_number = parts.next();
    }
    (worker, parts.collect())
}

/// The token in a claim's record (the record itself when it holds none).
pub fn token_of(record: &str) -> &str {
    record.split('\0').next().unwrap_or(record)
}

/// The counters a queue keeps, in the order [`Counts`] and
/// [`QueueSnapshot`] read them: `job.publishes`, `job.finishes`,
/// `job.cancels`, `job.stalls`, `job.recoveries`.
const COUNTERS: [&str; 5] = ["publishes", "finishes", "cancels", "stalls", "recoveries"];

/// `GET` of each of [`COUNTERS`] of queue `name`.
fn counter_reads(name: &str) -> impl Iterator<Item = Vec<String>> + '_ {
    COUNTERS
        .iter()
        .map(move |noun| vec!["GET".to_string(), queue_key(noun, name)])
}

/// How many jobs one queue has in each state, and its counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// `LLEN job.ids` less `SCARD job.ghosts` (the ids retracted jobs left
    /// in a long list); a v1 client's duplicate counts twice.
    pub available: u64,
    /// `ZCARD job.claimed`.
    pub claimed: u64,
    /// `SCARD job.stalled`.
    pub stalled: u64,
    /// `ZCARD job.delayed`.
    pub delayed: u64,
    /// Jobs that exist: `HLEN job.items`.
    pub items: u64,
    /// `job.publishes`.
    pub publishes: u64,
    /// `job.finishes`.
    pub finishes: u64,
    /// `job.cancels`.
    pub cancels: u64,
    /// `job.stalls`.
    pub stalls: u64,
    /// `job.recoveries`.
    pub recoveries: u64,
}

impl Counts {
    /// Reads the counts of queue `name` in one `MULTI`/`EXEC`, without the
    /// jobs themselves: cheap enough to poll while thousands of jobs run.
    pub fn read(conn: &mut Connection, name: &str) -> io::Result<Counts> {
        let sizes = [
            ("LLEN", "ids"),
            ("SCARD", "ghosts"),
            ("ZCARD", "claimed"),
            ("SCARD", "stalled"),
            ("ZCARD", "delayed"),
            ("HLEN", "items"),
        ];
        let commands: Vec<Vec<String>> = sizes
            .iter()
            .map(|(command, noun)| vec![command.to_string(), queue_key(noun, name)])
            .chain(counter_reads(name))
            .collect();
        let n: Vec<u64> = conn
            .transaction(&commands)?
            .into_iter()
            .map(counter)
            .collect::<io::Result<_>>()?;
        let [listed, ghosts, claimed, stalled, delayed, items, publishes, finishes, cancels, stalls, recoveries] =
            <[u64; 11]>::try_from(n)
                .map_err(|n| io::Error::other(format!("{n:?}: eleven counts")))?;
        Ok(Counts {
            available: listed.saturating_sub(ghosts),
            claimed,
            stalled,
            delayed,
            items,
            publishes,
            finishes,
            cancels,
            stalls,
            recoveries,
        })
    }

    /// Jobs not finished: available, claimed or delayed (stalled ones are
    /// set aside on purpose).
    pub fn pending(&self) -> u64 {
        self.available + self.claimed + self.delayed
    }
}

/// All of one queue's keys at one instant.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueSnapshot {
    /// The queue's name.
    pub name: String,
    /// `job.ids`, left to right: jobs are claimed from the right end.
    pub available: Vec<String>,
    /// `job.items`: id → payload.
    pub items: BTreeMap<String, Vec<u8>>,
    /// `job.claimed` in score order: (id, claim time or last extension).
    pub claimed: Vec<(String, u64)>,
    /// `job.stalled`.
    pub stalled: BTreeSet<String>,
    /// `job.delayed` in score order: (id, due time).
    pub delayed: Vec<(String, u64)>,
    /// `job.tokens`: id → claim record (token NUL score).
    pub tokens: BTreeMap<String, String>,
    /// `job.holders`: members naming a worker's claims (see [`holder`]);
    /// they may still name jobs finished or taken back since.
    pub holders: BTreeSet<String>,
    /// `job.ghosts`: ids a retract left in `job.ids`.
    pub ghosts: BTreeSet<String>,
    /// `job.cancelled`: id → times cancelled.
    pub cancelled: BTreeMap<String, u64>,
    /// `job.reasons`: id → reason.
    pub reasons: BTreeMap<String, String>,
    /// `job.awaited`: id → seconds to keep the result.
    pub awaited: BTreeMap<String, String>,
    /// `job.published` in score order (v1 publishers).
    pub published: Vec<(String, u64)>,
    /// `job.workers` in score order: (worker id, liveness deadline).
    pub workers: Vec<(String, u64)>,
    /// `job.worker_info`: worker id → what it says of itself.
    pub worker_info: BTreeMap<String, String>,
    /// `job.config`: setting → value.
    pub config: BTreeMap<String, String>,
    /// `job.publishes`.
    pub publishes: u64,
    /// `job.finishes`.
    pub finishes: u64,
    /// `job.cancels`.
    pub cancels: u64,
    /// `job.stalls`.
    pub stalls: u64,
    /// `job.recoveries`.
    pub recoveries: u64,
    /// `job.claims`.
    pub claims: u64,
}

impl QueueSnapshot {
    /// Reads every key of queue `name` in one `MULTI`/`EXEC`.
    pub fn read(conn: &mut Connection, name: &str) -> io::Result<QueueSnapshot> {
        let read = |command: &str, noun: &str, rest: &[&str]| {
            let mut args = vec![command.to_string(), queue_key(noun, name)];
            args.extend(rest.iter().map(|a| a.to_string()));
            args
        };
        let all = ["0", "-1"];
        let scored = ["0", "-1", "WITHSCORES"];
        let commands: Vec<Vec<String>> = [
            read("LRANGE", "ids", &all),
            read("HGETALL", "items", &[]),
            read("ZRANGE", "claimed", &scored),
            read("SMEMBERS", "stalled", &[]),
            read("ZRANGE", "delayed", &scored),
            read("HGETALL", "tokens", &[]),
            read("ZRANGE", "holders", &all),
            read("SMEMBERS", "ghosts", &[]),
            read("HGETALL", "cancelled", &[]),
            read("HGETALL", "reasons", &[]),
            read("HGETALL", "awaited", &[]),
            read("ZRANGE", "published", &scored),
            read("ZRANGE", "workers", &scored),
            read("HGETALL", "worker_info", &[]),
            read("HGETALL", "config", &[]),
            read("GET", "claims", &[]),
        ]
        .into_iter()
        .chain(counter_reads(name))
        .collect();
        let mut r = conn.transaction(&commands)?.into_iter();
        let mut next = || r.next().expect("one reply per command");
        let texts = |reply: Resp| -> io::Result<BTreeMap<String, String>> {
            pairs(reply)?
                .into_iter()
                .map(|(k, v)| Ok((k, text(v)?)))
                .collect()
        };
        Ok(QueueSnapshot {
            name: name.to_string(),
            available: next().strings()?,
            items: pairs(next())?.into_iter().collect(),
            claimed: scored_pairs(next())?,
            stalled: next().strings()?.into_iter().collect(),
            delayed: scored_pairs(next())?,
            tokens: texts(next())?,
            holders: next().strings()?.into_iter().collect(),
            ghosts: next().strings()?.into_iter().collect(),
            cancelled: pairs(next())?
                .into_iter()
                .map(|(id, n)| Ok((id, number(&n)?)))
                .collect::<io::Result<_>>()?,
            reasons: texts(next())?,
            awaited: texts(next())?,
            published: scored_pairs(next())?,
            workers: scored_pairs(next())?,
            worker_info: texts(next())?,
            config: texts(next())?,
            claims: counter(next())?,
            publishes: counter(next())?,
            finishes: counter(next())?,
            cancels: counter(next())?,
            stalls: counter(next())?,
            recoveries: counter(next())?,
        })
    }

    /// The counts this snapshot shows.
    pub fn counts(&self) -> Counts {
        let n = |len: usize| len as u64;
        Counts {
            available: n(self.available.len()).saturating_sub(n(self.ghosts.len())),
            claimed: n(self.claimed.len()),
            stalled: n(self.stalled.len()),
            delayed: n(self.delayed.len()),
            items: n(self.items.len()),
            publishes: self.publishes,
            finishes: self.finishes,
            cancels: self.cancels,
            stalls: self.stalls,
            recoveries: self.recoveries,
        }
    }

    /// What breaks the job invariant here, one line each (nothing when it
    /// holds):
    /// - every job (an id in `job.items`) is in exactly one state: in
    ///   `job.ids` exactly once, or in `job.claimed`, or in `job.stalled`,
    ///   or in `job.delayed`;
    /// - no state key holds an id without an item;
    /// - every claim token (`job.tokens`) belongs to a claimed job;
    /// - the counters agree: each recovery is also counted as a cancel
    ///   (`recover.lua` counts both), so `recoveries <= cancels`.
    ///
    /// Nothing else is asserted: a v1 client writes `job.ids` and
    /// `job.publishes` without our counters or tokens, and tests write
    /// jobs by hand, so no other relation always holds.
    pub fn broken(&self) -> Vec<String> {
        let mut places: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        // A ghost (an id a retract left in job.ids) stands for one copy in
        // the list that is no job: that copy is set aside here.
        let mut ghosts: BTreeSet<&String> = self.ghosts.iter().collect();
        let listed: Vec<&String> = self
            .available
            .iter()
            .filter(|id| !ghosts.remove(id))
            .collect();
        let mut broken: Vec<String> = ghosts
            .iter()
            .map(|id| format!("ghost {id:?} is not in job.ids"))
            .collect();
        let states = [
            ("available", listed),
            ("claimed", self.claimed.iter().map(|(id, _)| id).collect()),
            ("stalled", self.stalled.iter().collect()),
            ("delayed", self.delayed.iter().map(|(id, _)| id).collect()),
        ];
        for (state, ids) in &states {
            for id in ids {
                places.entry(id.as_str()).or_default().push(state);
            }
        }
        for id in self.items.keys() {
            match places.remove(id.as_str()).as_deref() {
                Some([_]) => {}
                None => broken.push(format!("job {id:?} has an item but no state")),
                Some(states) => broken.push(format!("job {id:?} is in {states:?}")),
            }
        }
        for (id, states) in &places {
            broken.push(format!("{id:?} is {states:?} without an item"));
        }
        let claimed: BTreeSet<&String> = self.claimed.iter().map(|(id, _)| id).collect();
        for id in self.tokens.keys().filter(|id| !claimed.contains(id)) {
            broken.push(format!("{id:?} has a claim token but is not claimed"));
        }
        // Each worker's claim is named by a member of job.holders under
        // that worker (members may also name claims that ended since).
        let mut held: BTreeSet<(&str, &str)> = BTreeSet::new();
        for member in &self.holders {
            let (worker, ids) = holder_parts(member);
            held.extend(ids.into_iter().map(|id| (worker, id)));
        }
        for (id, record) in &self.tokens {
            // 'N-MS.ID' or 'N-MS.ID@WORKER' (older: 'N.ID…'; an id may
            // hold an '@' of its own).
            let token = token_of(record);
            let worker = token
                .split_once('.')
                .and_then(|(_, rest)| rest.strip_prefix(id.as_str()))
                .and_then(|rest| rest.strip_prefix('@'));
            if let Some(worker) = worker {
                if !held.contains(&(worker, id.as_str())) {
                    broken.push(format!(
                        "{id:?}: worker {worker}'s claim is not in job.holders"
                    ));
                }
            }
        }
        // What a worker says of itself goes with its liveness mark.
        for worker in self.worker_info.keys() {
            if !self.workers.iter().any(|(w, _)| w == worker) {
                broken.push(format!(
                    "worker {worker} has worker_info but no liveness mark"
                ));
            }
        }
        if self.recoveries > self.cancels {
            broken.push(format!(
                "{} recoveries but only {} cancels (each recovery is a cancel)",
                self.recoveries, self.cancels
            ));
        }
        broken
    }

    /// Asserts the job invariant (see [`broken`](Self::broken)); returns
    /// the counts of this snapshot, for the test to assert on.
    #[track_caller]
    pub fn check_invariants(&self) -> Counts {
        let broken = self.broken();
        assert!(
            broken.is_empty(),
            "queue {:?}: {} broken invariants, the first ones: {:#?}",
            self.name,
            broken.len(),
            &broken[..broken.len().min(10)]
        );
        self.counts()
    }
}

/// A byte string, shown as text where it is text and escaped where not.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Bytes(pub Vec<u8>);

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", self.0.escape_ascii())
    }
}

/// One key's contents in a [`DbSnapshot`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A string.
    String(Bytes),
    /// A list, left to right.
    List(Vec<Bytes>),
    /// A set.
    Set(BTreeSet<Bytes>),
    /// A hash: field → value.
    Hash(BTreeMap<Bytes, Bytes>),
    /// A sorted set in score order: (member, score as Redis writes it).
    ZSet(Vec<(Bytes, String)>),
    /// Any other type (a stream), by its name only.
    Other(String),
}

/// Every key of a database with its type and contents, read at one instant:
/// two snapshots are equal exactly when nothing in the database changed
/// (time to live aside). `job.marked:NAME` is left out: a timer that lives
/// a second (while no look at a queue's publish marks is due), so its
/// going is time passing, not a change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DbSnapshot(pub BTreeMap<Bytes, Value>);

/// Reads every key with its type and contents. One script, so no write can
/// come between two keys' reads.
const READ_ALL: &str = "
local out = {}
for _, k in ipairs(redis.call('KEYS', '*')) do
  local t = redis.call('TYPE', k).ok
  if string.find(k, '^job%.marked:') then t = nil end
  local v
  if t == 'string' then v = {redis.call('GET', k)}
  elseif t == 'list' then v = redis.call('LRANGE', k, 0, -1)
  elseif t == 'set' then v = redis.call('SMEMBERS', k)
  elseif t == 'hash' then v = redis.call('HGETALL', k)
  elseif t == 'zset' then v = redis.call('ZRANGE', k, 0, -1, 'WITHSCORES')
  else v = {} end
  if t then out[#out + 1] = {k, t, v} end
end
return out
";

impl DbSnapshot {
    /// Reads the whole database (`EVAL`, read only).
    pub fn read(conn: &mut Connection) -> io::Result<DbSnapshot> {
        let mut keys = BTreeMap::new();
        for entry in conn.command(&["EVAL", READ_ALL, "0"])?.array()? {
            let [key, kind, contents] = <[Resp; 3]>::try_from(entry.array()?)
                .map_err(|e| io::Error::other(format!("not a key entry: {e:?}")))?;
            let key = Bytes(key.bulk()?.unwrap_or_default());
            let mut contents = contents.bulks()?.into_iter().map(Bytes);
            let value = match kind.text()?.as_str() {
                "string" => Value::String(contents.next().unwrap_or(Bytes(Vec::new()))),
                "list" => Value::List(contents.collect()),
                "set" => Value::Set(contents.collect()),
                "hash" => Value::Hash(in_pairs(contents).collect()),
                "zset" => Value::ZSet(
                    in_pairs(contents)
                        .map(|(m, s)| (m, String::from_utf8_lossy(&s.0).into_owned()))
                        .collect(),
                ),
                other => Value::Other(other.to_string()),
            };
            keys.insert(key, value);
        }
        Ok(DbSnapshot(keys))
    }

    /// How many keys there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the database is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The contents of `key`, if it exists.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(&Bytes(key.as_bytes().to_vec()))
    }
}

/// A flat `[a, 1, b, 2]` as `[(a, 1), (b, 2)]`.
fn in_pairs<T>(flat: impl Iterator<Item = T>) -> impl Iterator<Item = (T, T)> {
    let mut flat = flat.fuse();
    std::iter::from_fn(move || Some((flat.next()?, flat.next()?)))
}

/// `HGETALL`'s flat reply as (field, value) pairs, fields as text.
fn pairs(reply: Resp) -> io::Result<Vec<(String, Vec<u8>)>> {
    in_pairs(reply.bulks()?.into_iter())
        .map(|(k, v)| Ok((text(k)?, v)))
        .collect()
}

/// `ZRANGE … WITHSCORES` as (member, score) pairs; scores are times in
/// milliseconds.
fn scored_pairs(reply: Resp) -> io::Result<Vec<(String, u64)>> {
    pairs(reply)?
        .into_iter()
        .map(|(member, score)| {
            let score: f64 = text(score)?
                .parse()
                .map_err(|_| io::Error::other(format!("the score of {member:?} is no number")))?;
            Ok((member, score as u64))
        })
        .collect()
}

/// A counter that `GET` read: a missing key is zero.
fn counter(reply: Resp) -> io::Result<u64> {
    match reply {
        Resp::Bulk(None) => Ok(0),
        reply => u64::try_from(reply.int()?).map_err(|e| io::Error::other(e.to_string())),
    }
}

fn number(bytes: &[u8]) -> io::Result<u64> {
    text(bytes.to_vec())?.parse().map_err(|_| {
        io::Error::other(format!(
            "not a count: {:?}",
            bytes.escape_ascii().to_string()
        ))
    })
}

fn text(bytes: Vec<u8>) -> io::Result<String> {
    String::from_utf8(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PrivateRedis;

    fn snapshot() -> QueueSnapshot {
        let ids = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let timed = |list: &[&str]| list.iter().map(|s| (s.to_string(), 1)).collect::<Vec<_>>();
        QueueSnapshot {
            name: "q".into(),
            available: ids(&["a1", "a2"]),
            items: ["a1", "a2", "c", "s", "d"]
                .map(|id| (id.to_string(), b"x".to_vec()))
                .into(),
            claimed: timed(&["c"]),
            stalled: ids(&["s"]).into_iter().collect(),
            delayed: timed(&["d"]),
            tokens: [("c".to_string(), "1.c".to_string())].into(),
            cancels: 2,
            recoveries: 1,
            ..QueueSnapshot::default()
        }
    }

    #[test]
    fn a_queue_with_one_job_in_each_state_holds() {
        let s = snapshot();
        assert_eq!(s.broken(), Vec::<String>::new());
        let counts = s.check_invariants();
        assert_eq!(
            (
                counts.available,
                counts.claimed,
                counts.stalled,
                counts.delayed,
                counts.items
            ),
            (2, 1, 1, 1, 5)
        );
        assert_eq!(counts.pending(), 4);
    }

    #[test]
    fn each_way_to_break_it_is_named() {
        let mut twice = snapshot();
        twice.available.push("a1".into());
        let mut two_states = snapshot();
        two_states.stalled.insert("c".into());
        let mut lost = snapshot();
        lost.delayed.clear();
        let mut orphan = snapshot();
        orphan.items.remove("s");
        let mut stray_token = snapshot();
        stray_token.tokens.insert("a1".into(), "2.a1".into());
        let mut counters = snapshot();
        counters.recoveries = 3;
        let mut stray_info = snapshot();
        stray_info.worker_info.insert("w".into(), "1\0".into());
        for (s, says) in [
            (twice, r#"job "a1" is in ["available", "available"]"#),
            (two_states, r#"job "c" is in ["claimed", "stalled"]"#),
            (lost, r#"job "d" has an item but no state"#),
            (orphan, r#""s" is ["stalled"] without an item"#),
            (stray_token, r#""a1" has a claim token but is not claimed"#),
            (counters, "3 recoveries but only 2 cancels"),
            (stray_info, "worker w has worker_info but no liveness mark"),
        ] {
            let broken = s.broken();
            assert!(
                broken.len() == 1 && broken[0].contains(says),
                "{broken:?} should say {says:?}"
            );
        }
    }

    #[test]
    fn snapshots_read_a_queue_and_the_database_at_once() {
        let redis = PrivateRedis::start().unwrap();
        let mut conn = redis.connect().unwrap();
        let k = |noun| queue_key(noun, "q");
        for command in [
            &["RPUSH", &k("ids"), "a", "b"][..],
            &["HSET", &k("items"), "a", "1", "b", "2", "c", "3\0"],
            &["ZADD", &k("claimed"), "1700000000000", "c"],
            &["HSET", &k("tokens"), "c", "1.c"],
            &["INCRBY", &k("publishes"), "3"],
        ] {
            assert!(!matches!(conn.command(command).unwrap(), Resp::Error(_)));
        }
        let s = QueueSnapshot::read(&mut conn, "q").unwrap();
        assert_eq!(s.available, ["a", "b"]);
        assert_eq!(s.items["c"], b"3\0");
        assert_eq!(s.claimed, [("c".to_string(), 1_700_000_000_000)]);
        assert_eq!(s.publishes, 3);
        let counts = s.check_invariants();
        assert_eq!(counts, Counts::read(&mut conn, "q").unwrap());
        assert_eq!((counts.items, counts.publishes, counts.finishes), (3, 3, 0));

        let before = redis.snapshot().unwrap();
        assert_eq!(before.len(), 5);
        assert_eq!(
            before.get(&k("ids")),
            Some(&Value::List(vec![
                Bytes(b"a".to_vec()),
                Bytes(b"b".to_vec())
            ]))
        );
        assert_eq!(redis.snapshot().unwrap(), before, "reading changes nothing");
        conn.command(&["HSET", &k("items"), "c", "4"]).unwrap();
        assert_ne!(redis.snapshot().unwrap(), before);
        assert!(
            QueueSnapshot::read(&mut conn, "empty")
                .unwrap()
                .check_invariants()
                == Counts::default()
        );
    }
}
