//! When a schedule ticks ([`Schedule`]): every N seconds, or on a cron
//! expression in a time zone; and the next tick after a given instant,
//! pure arithmetic on the server's time (Redis decides what is due; see
//! `queue/schedules.rs`).
//!
//! Cron expressions are parsed and evaluated by `croner`, zones come from
//! `chrono-tz` (the IANA database): across a change of daylight saving
//! time they behave as Vixie cron does. A time that does not exist (spring
//! forward: 02:30 on the night clocks jump from 02:00 to 03:00) ticks right
//! after the change (03:00); a time that happens twice (fall back: 01:30
//! when clocks go from 02:00 back to 01:00) ticks once, the first time.
//! Expressions with a wildcard or a step in their time fields (`*/15 * * *
//! *`) tick at every matching instant of real time: four times in a
//! repeated hour, none in a skipped one.

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds};
use croner::Cron;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The zone of a schedule that names none.
pub const DEFAULT_ZONE: &str = "UTC";
/// Shortest period of an [`Schedule::every`] schedule.
pub const MIN_PERIOD: Duration = Duration::from_secs(1);
/// Longest cron expression taken (what `crontab` lines hold, with room).
const MAX_EXPR_LEN: usize = 256;

/// When a schedule publishes its item: every `period` (on the multiples of
/// it since the Unix epoch, so `every 60s` ticks at each whole minute), or
/// on a cron expression read in a time zone (UTC unless told).
///
/// Building one checks nothing; [`Queue::schedule`](crate::Queue::schedule)
/// refuses a bad one with an error that names the queue and the schedule
/// ([`Schedule::check`] says what it would refuse).
///
/// Read from text (`FromStr`) and written back (`Display`) as `every 60s`,
/// `every 1500ms`, `0 9 * * MON-FRI` or `0 9 * * MON-FRI in Europe/Paris`.
///
/// ```
/// use std::time::Duration;
/// use thoonk::Schedule;
///
/// let weekdays = Schedule::cron("0 9 * * MON-FRI").in_zone("Europe/Paris");
/// assert_eq!(weekdays.to_string(), "0 9 * * MON-FRI in Europe/Paris");
/// let parsed: Schedule = "0 9 * * MON-FRI in Europe/Paris".parse()?;
/// assert_eq!(parsed, weekdays);
/// // Every whole minute: the tick after 12:00:30 UTC is 12:01:00.
/// let minutely = Schedule::every(Duration::from_secs(60));
/// assert_eq!(minutely.next_after(1_700_000_430_000), Some(1_700_000_460_000));
/// assert!(Schedule::cron("0 9 * * *").in_zone("Paris").check().is_err());
/// # Ok::<(), String>(())
/// ```
///
/// A queue's schedule publishes its item at each tick, once across every
/// worker (workers fire due schedules by themselves):
///
/// ```
/// # use std::time::Duration;
/// # use thoonk::Schedule;
/// # #[tokio::main] async fn main() -> thoonk::Result<()> {
/// # let _redis = thoonk_testkit::doc_redis();
/// let reports = thoonk::Thoonk::connect_from_env().await?.queue("reports")?;
/// let weekdays = Schedule::cron("0 9 * * MON-FRI").in_zone("Europe/Paris");
/// reports.schedule("daily", weekdays, "the daily report").await?;
/// assert_eq!(reports.schedules().await?[0].name, "daily");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    spec: Spec,
    zone: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Spec {
    Every(Duration),
    Cron(String),
}

impl Schedule {
    /// Ticks every `period`, at least [`MIN_PERIOD`] and at most
    /// [`MAX_DELAY`](crate::MAX_DELAY), on its multiples since the Unix
    /// epoch.
    pub fn every(period: Duration) -> Schedule {
        Schedule {
            spec: Spec::Every(period),
            zone: DEFAULT_ZONE.into(),
        }
    }

    /// Ticks on a cron expression, read in UTC unless
    /// [`in_zone`](Schedule::in_zone) says otherwise: five fields (minute,
    /// hour, day of month, month, day of week) or six (seconds first), as
    /// `croner` reads them (`L`, `W`, `#`, `@daily` and the like included).
    pub fn cron(expr: impl Into<String>) -> Schedule {
        Schedule {
            spec: Spec::Cron(expr.into()),
            zone: DEFAULT_ZONE.into(),
        }
    }

    /// Reads the cron expression in `zone`, an IANA name such as
    /// `America/New_York` (only cron schedules take one).
    pub fn in_zone(mut self, zone: impl Into<String>) -> Schedule {
        self.zone = zone.into();
        self
    }

    /// The period of an `every` schedule.
    pub fn period(&self) -> Option<Duration> {
        match self.spec {
            Spec::Every(period) => Some(period),
            Spec::Cron(_) => None,
        }
    }

    /// The expression of a cron schedule.
    pub fn cron_expr(&self) -> Option<&str> {
        match &self.spec {
            Spec::Every(_) => None,
            Spec::Cron(expr) => Some(expr),
        }
    }

    /// The zone its expression is read in (`UTC` unless told).
    pub fn zone(&self) -> &str {
        &self.zone
    }

    /// What it is without its zone: `every 60s`, `every 1500ms`, or the
    /// cron expression.
    pub fn spec(&self) -> String {
        match &self.spec {
            Spec::Every(period) if period.subsec_millis() == 0 => {
                format!("every {}s", period.as_secs())
            }
            Spec::Every(period) => format!("every {}ms", period.as_millis()),
            Spec::Cron(expr) => expr.clone(),
        }
    }

    /// Whether it can tick; if not, what is wrong with it.
    pub fn check(&self) -> Result<(), String> {
        self.compiled().map(drop)
    }

    /// The first tick strictly after `after_ms` (Unix ms), or `None` when
    /// it never ticks again (a cron expression of a year gone by) or
    /// cannot tick at all ([`check`](Schedule::check) says why). Missed
    /// ticks do not count: whatever came before `after_ms` is over.
    pub fn next_after(&self, after_ms: u64) -> Option<u64> {
        self.compiled().ok()?.next_after(after_ms)
    }

    /// Parsed, with what it needs to find its ticks.
    pub(crate) fn compiled(&self) -> Result<Compiled, String> {
        let zone: Tz = self.zone.parse().map_err(|_| {
            format!(
                "unknown time zone {:?}: give an IANA name such as UTC or America/New_York",
                self.zone
            )
        })?;
        match &self.spec {
            Spec::Every(period) => {
                if self.zone != DEFAULT_ZONE {
                    return Err(format!(
                        "a time zone ({}) applies to a cron schedule only, not to {}",
                        self.zone,
                        self.spec()
                    ));
                }
                if *period < MIN_PERIOD || *period > crate::MAX_DELAY {
                    return Err(format!(
                        "period {} is out of range: from 1 s to {} days",
                        self.spec(),
                        crate::MAX_DELAY.as_secs() / 86_400
                    ));
                }
                Ok(Compiled::Every(period.as_millis() as u64))
            }
            Spec::Cron(expr) => {
                let refuse = |why: String| Err(format!("bad cron expression {expr:?}: {why}"));
                if expr.len() > MAX_EXPR_LEN {
                    return refuse(format!("longer than {MAX_EXPR_LEN} bytes"));
                }
                if expr.contains('\0') {
                    return refuse("it holds a NUL byte".into());
                }
                let parser = CronParser::builder().seconds(Seconds::Optional).build();
                match parser.parse(expr) {
                    Ok(cron) => Ok(Compiled::Cron(Box::new(cron), zone)),
                    Err(e) => refuse(e.to_string()),
                }
            }
        }
    }
}

/// A schedule ready to find its ticks.
pub(crate) enum Compiled {
    /// Every so many ms, on their multiples since the epoch.
    Every(u64),
    Cron(Box<Cron>, Tz),
}

impl Compiled {
    /// The first tick strictly after `after_ms`.
    pub(crate) fn next_after(&self, after_ms: u64) -> Option<u64> {
        match self {
            Compiled::Every(period) => (after_ms / period + 1).checked_mul(*period),
            Compiled::Cron(cron, zone) => {
                let after: DateTime<Tz> = zone.timestamp_millis_opt(after_ms as i64).single()?;
                // croner counts in whole seconds: from within a second, it
                // may name that second itself; the next one is then the tick.
                let mut from = after;
                for _ in 0..2 {
                    let next = cron.find_next_occurrence(&from, false).ok()?;
                    let ms = u64::try_from(next.with_timezone(&Utc).timestamp_millis()).ok()?;
                    if ms > after_ms {
                        return Some(ms);
                    }
                    from = next;
                }
                None
            }
        }
    }
}

/// `every 60s`, `every 1500ms`, the cron expression, or the cron
/// expression and ` in ZONE` when its zone is not UTC.
impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.spec())?;
        if self.zone != DEFAULT_ZONE {
            write!(f, " in {}", self.zone)?;
        }
        Ok(())
    }
}

/// Reads what `Display` writes (`every 60s`, `every 1500ms`, `every 60`
/// for seconds too, `EXPR`, `EXPR in ZONE`), and refuses what
/// [`Schedule::check`] refuses.
impl FromStr for Schedule {
    type Err = String;

    fn from_str(text: &str) -> Result<Schedule, String> {
        let text = text.trim();
        let schedule = match text.strip_prefix("every ") {
            Some(period) => Schedule::every(parse_period(period.trim())?),
            None => match text.rsplit_once(" in ") {
                Some((expr, zone)) => Schedule::cron(expr.trim()).in_zone(zone.trim()),
                None => Schedule::cron(text),
            },
        };
        schedule.check()?;
        Ok(schedule)
    }
}

/// `60s`, `60`, `1500ms`.
fn parse_period(text: &str) -> Result<Duration, String> {
    let (number, ms) = match text.strip_suffix("ms") {
        Some(n) => (n, true),
        None => (text.strip_suffix('s').unwrap_or(text), false),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a period: Ns or Nms, N a whole number"))?;
    Ok(if ms {
        Duration::from_millis(n)
    } else {
        Duration::from_secs(n)
    })
}

/// Reads a spec and zone as `job.schedules` keeps them (written by
/// [`Schedule::spec`] and [`Schedule::zone`]).
pub(crate) fn from_stored(spec: &str, zone: &str) -> Result<Schedule, String> {
    let schedule = match spec.strip_prefix("every ") {
        Some(period) => Schedule::every(parse_period(period)?),
        None => Schedule::cron(spec),
    };
    Ok(schedule.in_zone(zone))
}

#[cfg(test)]
mod tests;
