//! `thoonk schedule`: add, list and remove a queue's schedules.

use crate::exit::Fatal;
use serde_json::json;
use std::io::{Read, Write};
use std::time::Duration;
use thoonk::{Schedule, ScheduleInfo, Thoonk};

/// Publish an item every N seconds or on a cron expression: every worker
/// of the queue (and the dashboard) fires the schedules that are due, each
/// tick once across them all, as the job NAME@TICK (TICK its Unix ms).
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Add a schedule, or replace the one of that name; print its first
    /// tick.
    Add(Add),
    /// List the queue's schedules: name, spec, zone, next run, last run,
    /// item.
    List(List),
    /// Remove a schedule (the jobs it published stay).
    Remove(Remove),
}

#[derive(Debug, clap::Args)]
struct Add {
    /// The queue.
    queue: String,
    /// The schedule's name, unique in the queue.
    name: String,
    /// Publish every SECS seconds (at least 1), on their multiples since
    /// the Unix epoch (--every 60: each whole minute).
    #[arg(long, value_name = "SECS", value_parser = every, conflicts_with = "cron", required_unless_present = "cron")]
    every: Option<Duration>,
    /// Publish on a cron expression: minute hour day-of-month month
    /// day-of-week, seconds first when there are six fields.
    #[arg(long, value_name = "EXPR")]
    cron: Option<String>,
    /// The time zone the cron expression is read in (an IANA name; UTC
    /// when absent).
    #[arg(long, value_name = "ZONE")]
    tz: Option<String>,
    /// What each tick publishes; read from stdin when "-" (empty when
    /// absent).
    item: Option<String>,
}

#[derive(Debug, clap::Args)]
struct List {
    /// The queue.
    queue: String,
    /// A JSON array instead of plain lines.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct Remove {
    /// The queue.
    queue: String,
    /// The schedule's name.
    name: String,
}

/// `--every`: whole or decimal seconds, at least 1 (the library bounds it
/// above).
fn every(text: &str) -> Result<Duration, String> {
    let period = crate::args::seconds(text)?;
    if period < thoonk::MIN_PERIOD {
        return Err(format!("{text} seconds is less than a second"));
    }
    Ok(period)
}

pub(crate) async fn run(thoonk: &Thoonk, args: Args) -> Result<(), Fatal> {
    let mut out = std::io::stdout().lock();
    match args.action {
        Action::Add(add) => {
            let mut schedule = match (add.every, add.cron) {
                (Some(period), _) => Schedule::every(period),
                (None, Some(expr)) => Schedule::cron(expr),
                (None, None) => unreachable!("clap requires one"),
            };
            // (With --every too: the library says that a zone is for cron.)
            if let Some(zone) = add.tz {
                schedule = schedule.in_zone(zone);
            }
            let item = match add.item.as_deref() {
                Some("-") => {
                    let mut buf = Vec::new();
                    std::io::stdin().read_to_end(&mut buf)?;
                    buf
                }
                Some(item) => item.as_bytes().to_vec(),
                None => Vec::new(),
            };
            let queue = thoonk.queue(&add.queue)?;
            let first = queue.schedule(&add.name, schedule, item).await?;
            writeln!(out, "{}\tnext run {}", add.name, time(Some(first)))?;
        }
        Action::List(list) => {
            let schedules = thoonk.queue(&list.queue)?.schedules().await?;
            if list.json {
                let entries: Vec<_> = schedules.iter().map(entry).collect();
                writeln!(out, "{}", serde_json::Value::from(entries))?;
            } else {
                for info in &schedules {
                    line(&mut out, info)?;
                }
            }
        }
        Action::Remove(remove) => {
            let queue = thoonk.queue(&remove.queue)?;
            if !queue.unschedule(&remove.name).await? {
                return Err(Fatal::failed(format!(
                    "queue {} has no schedule {}",
                    remove.queue, remove.name
                )));
            }
        }
    }
    Ok(())
}

/// A schedule as `--json` prints it: times in Unix ms, `null` when none.
fn entry(info: &ScheduleInfo) -> serde_json::Value {
    json!({
        "name": info.name,
        "spec": info.spec,
        "zone": info.zone,
        "item": String::from_utf8_lossy(&info.item),
        "next_run_ms": info.next_run_ms,
        "last_run_ms": info.last_run_ms,
    })
}

/// A schedule as a line: name, spec, zone, next run, last run and item,
/// tab-separated, the item escaped so that it stays on its line.
fn line(out: &mut impl Write, info: &ScheduleInfo) -> std::io::Result<()> {
    writeln!(
        out,
        "{}\t{}\t{}\t{}\t{}\t{}",
        info.name,
        info.spec,
        info.zone,
        time(info.next_run_ms),
        time(info.last_run_ms),
        String::from_utf8_lossy(&info.item).escape_debug()
    )
}

/// Unix ms as `2026-03-08T07:00:00.000Z`; `-` for none.
fn time(ms: Option<u64>) -> String {
    ms.and_then(|ms| chrono::DateTime::from_timestamp_millis(ms as i64))
        .map_or_else(
            || "-".into(),
            |at| at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        )
}
