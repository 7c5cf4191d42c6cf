//! A queue's schedules: named [`Schedule`]s that publish an item at each
//! tick ([`Queue::schedule`], [`Queue::unschedule`], [`Queue::schedules`]),
//! and the firing of those that are due ([`Queue::fire_schedules`]), which
//! every worker of the queue and the dashboard do, each tick publishing
//! once however many of them race.
//!
//! Redis decides time: what is due is read against the server's clock, and
//! the next tick is computed (in Rust: cron arithmetic) after the time that
//! read returned. The fire is a compare and set in Redis: it publishes only
//! if the schedule's tick is still the one read.

use super::inspect::{ms, text_or_bytes};
use super::{lossy, Once, Queue};
use crate::schedule::{self, Schedule};
use crate::{new_id, scripts, Error, Result};
use serde::Serialize;
use std::collections::HashMap;
use std::time::Duration;

/// Most schedules one queue may have: each costs Redis memory, and a
/// listing reads them all.
pub const MAX_SCHEDULES: usize = 1000;
/// Longest schedule name, in bytes.
pub const MAX_SCHEDULE_NAME: usize = 256;
/// Largest item a schedule may publish: kept in Redis once for the
/// schedule, and copied into each tick's job.
pub const MAX_SCHEDULE_ITEM_BYTES: usize = 1024 * 1024;

/// Due schedules read per trip; a fire goes on reading while pages fill.
const DUE_PAGE: usize = 100;
/// Pages of due schedules one [`Queue::fire_schedules`] fires at most
/// (the next call fires the rest).
const MAX_PAGES: usize = 10;

/// One schedule of a queue, as [`Queue::schedules`] lists it. Times are
/// Unix milliseconds by the server's clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScheduleInfo {
    /// Its name, unique in the queue.
    pub name: String,
    /// `every 60s`, `every 1500ms`, or its cron expression.
    pub spec: String,
    /// The zone its cron expression is read in (`UTC` unless set).
    pub zone: String,
    /// What each tick publishes (serialized as text when it is UTF-8, else
    /// as an array of bytes).
    #[serde(serialize_with = "text_or_bytes")]
    pub item: Vec<u8>,
    /// When it publishes next.
    pub next_run_ms: Option<u64>,
    /// When it last published (kept when the schedule is replaced), if
    /// ever.
    pub last_run_ms: Option<u64>,
}

impl ScheduleInfo {
    /// Its spec and zone as a [`Schedule`] (an error for a record that
    /// another version of thoonk wrote and this one cannot read).
    pub fn schedule(&self) -> std::result::Result<Schedule, String> {
        schedule::from_stored(&self.spec, &self.zone)
    }
}

/// What one [`Queue::fire_schedules`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fired {
    /// The ids of the jobs it published, one per tick it fired
    /// (`NAME@TICK`, TICK the tick's Unix ms).
    pub published: Vec<String>,
    /// How long until the queue's next tick by the server's clock, as it
    /// was read: when to fire again. `None`: the queue has no schedule.
    pub next_in: Option<Duration>,
}

/// One due schedule, as `due_schedules.lua` reads it.
struct Due {
    name: String,
    tick: u64,
    /// REV, SPEC and ZONE of its record; `None` when missing.
    head: Option<(String, String, String)>,
}

/// What `due_schedules.lua` read.
struct DueRead {
    now: u64,
    next: Option<u64>,
    due: Vec<Due>,
}

impl Queue {
    /// Adds the schedule `name` to the queue, or replaces the one of that
    /// name (which keeps its last run): from its first tick on, every
    /// worker of the queue publishes `item` at each tick, exactly once
    /// across them all, as the job `NAME@TICK`. Returns the first tick
    /// (Unix ms, by the server's clock). Sends the event `schedule`
    /// (channel `event.job.schedule:QUEUE`), which wakes the workers.
    ///
    /// Refuses ([`Error::InvalidSchedule`]) a bad cron expression, an
    /// unknown zone, a period out of range, a name that is empty, holds a
    /// NUL or is longer than [`MAX_SCHEDULE_NAME`], an item larger than
    /// [`MAX_SCHEDULE_ITEM_BYTES`]; and ([`Error::TooManySchedules`]) a new
    /// name on a queue with [`MAX_SCHEDULES`].
    pub async fn schedule(
        &self,
        name: &str,
        schedule: Schedule,
        item: impl AsRef<[u8]>,
    ) -> Result<u64> {
        let item = item.as_ref();
        let refuse = |reason: String| Error::InvalidSchedule {
            queue: self.name().to_string(),
            name: name.to_string(),
            reason,
        };
        check_schedule_name(name).map_err(refuse)?;
        if item.len() > MAX_SCHEDULE_ITEM_BYTES {
            return Err(refuse(format!(
                "its item is {} bytes, more than the {MAX_SCHEDULE_ITEM_BYTES} a schedule may publish",
                item.len()
            )));
        }
        let compiled = schedule.compiled().map_err(refuse)?;
        let now = self.thoonk.server_time_ms().await?;
        let first = compiled
            .next_after(now)
            .ok_or_else(|| refuse("it never ticks again".into()))?;
        let k = &self.keys;
        let mut call = scripts::SCHEDULE.call();
        call.key(&k.schedules)
            .key(&k.ticks)
            .key(&k.publishes)
            .arg(k.channel("schedule"))
            .arg(name)
            .arg(new_id())
            .arg(schedule.spec())
            .arg(schedule.zone())
            .arg(item)
            .arg(first);
        let reply: String = call
            .once(self)
            .invoke_async(&mut self.thoonk.connection())
            .await
            .map_err(self.at("schedule"))?;
        match reply.strip_prefix("full:") {
            None => Ok(first),
            Some(max) => Err(Error::TooManySchedules {
                queue: self.name().to_string(),
                name: name.to_string(),
                max: max.parse().unwrap_or(MAX_SCHEDULES),
            }),
        }
    }

    /// Removes the schedule `name`; returns whether the queue had one.
    /// Jobs it published stay. Sends the event `unschedule` (channel
    /// `event.job.unschedule:QUEUE`) when it removed one.
    pub async fn unschedule(&self, name: &str) -> Result<bool> {
        check_schedule_name(name).map_err(|reason| Error::InvalidSchedule {
            queue: self.name().to_string(),
            name: name.to_string(),
            reason,
        })?;
        let k = &self.keys;
        let mut call = scripts::UNSCHEDULE.call();
        call.key(&k.schedules)
            .key(&k.ticks)
            .arg(k.channel("unschedule"))
            .arg(name);
        let removed: u64 = call
            .once(self)
            .invoke_async(&mut self.thoonk.connection())
            .await
            .map_err(self.at("unschedule"))?;
        Ok(removed == 1)
    }

    /// Every schedule of the queue, by name.
    pub async fn schedules(&self) -> Result<Vec<ScheduleInfo>> {
        self.read_schedules(false).await
    }

    /// Every schedule of the queue, by name, each with an empty `item`:
    /// for a view refreshed often (a dashboard) that shows no item, so
    /// that a thousand schedules of a MiB each do not cross the wire (a
    /// gigabyte) at every refresh.
    pub async fn schedules_without_items(&self) -> Result<Vec<ScheduleInfo>> {
        self.read_schedules(true).await
    }

    async fn read_schedules(&self, without_items: bool) -> Result<Vec<ScheduleInfo>> {
        let mut call = scripts::SCHEDULES.key(&self.keys.schedules);
        call.key(&self.keys.ticks);
        if without_items {
            call.arg("1");
        }
        let (records, ticks): (Vec<Vec<u8>>, Vec<Vec<u8>>) = call
            .invoke_async(&mut self.thoonk.connection())
            .await
            .map_err(self.at("list the schedules"))?;
        let mut next: HashMap<Vec<u8>, u64> = HashMap::new();
        let mut ticks = ticks.into_iter();
        while let (Some(name), Some(tick)) = (ticks.next(), ticks.next()) {
            if let Some(tick) = ms(tick) {
                next.insert(name, tick);
            }
        }
        let mut records = records.into_iter();
        let mut listed = Vec::new();
        while let (Some(name), Some(record)) = (records.next(), records.next()) {
            if let Some(info) = read_record(&record, next.get(&name).copied()) {
                listed.push(ScheduleInfo {
                    name: lossy(name),
                    ..info
                });
            }
        }
        listed.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(listed)
    }

    /// Fires the queue's due schedules: publishes one job per schedule
    /// whose tick has come (by the server's clock), and moves its tick to
    /// the first one after now: ticks missed while nothing fired (no worker
    /// ran) are not made up for, a schedule fires once on return.
    ///
    /// Any number of processes may call it at once: each tick publishes
    /// once, by whichever comes first. Workers ([`Worker`](crate::Worker))
    /// call it by themselves, and so does the dashboard; call it yourself
    /// when neither runs. A schedule this version cannot read (a zone
    /// newer than its time-zone database) is left to others.
    pub async fn fire_schedules(&self) -> Result<Fired> {
        let mut fired = Fired::default();
        let mut soonest: Option<u64> = None;
        let mut now = 0;
        // Due schedules left as they were (this version cannot read them)
        // stay due, earliest first: the next page starts past them, or a
        // hundred of them would hide every other.
        let mut left = 0;
        for _ in 0..MAX_PAGES {
            let read = self.due_schedules(left).await?;
            now = read.now;
            soonest = earliest(soonest, read.next);
            let full = read.due.len() == DUE_PAGE;
            for due in read.due {
                match self.fire_one(&due, read.now, &mut fired).await? {
                    None => left += 1,
                    next => soonest = earliest(soonest, next),
                }
            }
            if !full {
                break;
            }
        }
        fired.next_in = soonest.map(|at| Duration::from_millis(at.saturating_sub(now)));
        Ok(fired)
    }

    /// Reads what is due, and the server's time.
    async fn due_schedules(&self, skip: usize) -> Result<DueRead> {
        let reply: Vec<Vec<u8>> = scripts::DUE_SCHEDULES
            .key(&self.keys.schedules)
            .key(&self.keys.ticks)
            .arg(DUE_PAGE)
            .arg(skip)
            .invoke_async(&mut self.thoonk.connection())
            .await
            .map_err(self.at("read the due schedules"))?;
        let mut reply = reply.into_iter();
        let bad = || {
            self.at("read the due schedules")(redis::RedisError::from((
                redis::ErrorKind::Parse,
                "unexpected script reply",
            )))
        };
        let now = reply.next().and_then(ms).ok_or_else(bad)?;
        let next = reply.next().and_then(ms);
        let mut due = Vec::new();
        while let (Some(name), Some(tick), Some(head)) = (reply.next(), reply.next(), reply.next())
        {
            let Some(tick) = ms(tick) else { continue };
            let head = lossy(head);
            let mut parts = head.splitn(3, '\0').map(str::to_string);
            let head = match (parts.next(), parts.next(), parts.next()) {
                (Some(rev), Some(spec), Some(zone)) => Some((rev, spec, zone)),
                _ => None,
            };
            due.push(Due {
                name: lossy(name),
                tick,
                head,
            });
        }
        Ok(DueRead { now, next, due })
    }

    /// Fires one due schedule, if its tick is still the one read; returns
    /// the next tick it computed, or `None` when it left the schedule as it
    /// was (its record unreadable here, or it never ticks again).
    async fn fire_one(&self, due: &Due, now: u64, fired: &mut Fired) -> Result<Option<u64>> {
        let Some((rev, spec, zone)) = &due.head else {
            return Ok(None);
        };
        let next = match schedule::from_stored(spec, zone).and_then(|s| s.compiled()) {
            Ok(compiled) => compiled.next_after(now.max(due.tick)),
            Err(e) => {
                tracing::warn!(
                    queue = self.name(),
                    schedule = due.name,
                    "cannot fire the schedule, left to others: {e}"
                );
                None
            }
        };
        let Some(next) = next else { return Ok(None) };
        let k = &self.keys;
        let mut call = scripts::FIRE_SCHEDULE.call();
        call.key(&k.schedules)
            .key(&k.ticks)
            .key(&k.ids)
            .key(&k.items)
            .key(&k.publishes)
            .key(&k.ghosts)
            .key(&k.claimed)
            .key(&k.stalled)
            .key(&k.delayed)
            .key(&k.marks)
            .key(&k.marked)
            .key(&k.tally)
            .arg(k.channel("publish"))
            .arg(&due.name)
            .arg(due.tick)
            .arg(rev)
            .arg(next);
        let reply: String = call
            .once(self)
            .invoke_async(&mut self.thoonk.connection())
            .await
            .map_err(self.at("fire a schedule"))?;
        if let Some(id) = reply.strip_prefix("fired:") {
            fired.published.push(id.to_string());
        }
        Ok(Some(next))
    }
}

/// The earlier of two optional times.
fn earliest(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        _ => a.or(b),
    }
}

/// Why `name` cannot name a schedule, if it cannot.
fn check_schedule_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() {
        Err("its name is empty".into())
    } else if name.contains('\0') {
        Err("its name holds a NUL byte".into())
    } else if name.len() > MAX_SCHEDULE_NAME {
        Err(format!("its name is longer than {MAX_SCHEDULE_NAME} bytes"))
    } else {
        Ok(())
    }
}

/// A record of `job.schedules` (`REV\0SPEC\0ZONE\0LAST\0ITEM`) as listed,
/// its name left empty; `None` for one not of that shape.
fn read_record(record: &[u8], next_run_ms: Option<u64>) -> Option<ScheduleInfo> {
    let mut parts = record.splitn(5, |&b| b == 0);
    let (_rev, spec, zone, last, item) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    Some(ScheduleInfo {
        name: String::new(),
        spec: lossy(spec.to_vec()),
        zone: lossy(zone.to_vec()),
        item: item.to_vec(),
        next_run_ms,
        last_run_ms: ms(last.to_vec()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_with_nuls_in_their_item() {
        let info = read_record(b"r1\0every 60s\0UTC\0\0a\0b", Some(5)).unwrap();
        assert_eq!(
            (info.spec.as_str(), info.zone.as_str(), &info.item[..]),
            ("every 60s", "UTC", &b"a\0b"[..])
        );
        assert_eq!((info.next_run_ms, info.last_run_ms), (Some(5), None));
        let info = read_record(b"r1\0x\0UTC\x00123\0", None).unwrap();
        assert_eq!(info.last_run_ms, Some(123));
        assert!(read_record(b"r1\0every 60s\0UTC", None).is_none());
    }

    #[test]
    fn names_say_what_is_wrong() {
        assert!(check_schedule_name("nightly").is_ok());
        assert!(check_schedule_name("").is_err());
        assert!(check_schedule_name("a\0b").is_err());
        assert!(check_schedule_name(&"x".repeat(MAX_SCHEDULE_NAME + 1)).is_err());
    }
}
