//! `thoonk config`: change a queue's settings, and print them all.

use crate::args;
use crate::exit::Fatal;
use serde_json::json;
use std::io::Write;
use std::time::Duration;
use thoonk::{ConfigChange, QueueConfig, Rate, Thoonk};

/// Change a queue's settings (all given or, one out of range, none), then
/// print every setting. Every worker of the queue applies them, at its next
/// claim: the limits hold across the whole fleet. (Workers of the Node.js
/// original do not know these limits.)
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The queue.
    queue: String,
    /// How long a claim holds without being extended, in seconds.
    #[arg(long, value_name = "SECS", value_parser = args::lease_seconds)]
    lease: Option<Duration>,
    /// How many cancels a job may have before it is stalled instead.
    #[arg(long, value_name = "N", value_parser = max_cancels)]
    max_cancels: Option<u64>,
    /// At most N claims per second, minute or hour, fleet-wide; `none`: no
    /// rate limit.
    #[arg(long, value_name = "N/s|N/m|N/h|none", value_parser = rate)]
    rate: Option<OrNone<Rate>>,
    /// At most N jobs claimed at once, fleet-wide; `none`: no limit.
    #[arg(long, value_name = "N|none", value_parser = max_running)]
    max_running: Option<OrNone<u64>>,
    /// Stop a job's handler after this many seconds (at least 0.001), and
    /// cancel the job; workers apply it to the jobs they start after their
    /// next heartbeat. `none`: no timeout.
    #[arg(long, value_name = "SECS|none", value_parser = timeout)]
    timeout: Option<OrNone<Duration>>,
    /// Keep the last N finished jobs (`thoonk list QUEUE finished`), each
    /// with its result (cut to 4 KiB), duration, worker and cancel count;
    /// `none`: no bound by count (with no `--keep-finished-for` either,
    /// keep nothing, and delete what was kept).
    #[arg(long, value_name = "N|none", value_parser = keep_finished)]
    keep_finished: Option<OrNone<u64>>,
    /// Keep the jobs finished in the last SECS seconds (at least 0.001);
    /// `none`: no bound by age. With `--keep-finished` too, a job goes once
    /// either bound says so.
    #[arg(long, value_name = "SECS|none", value_parser = keep_finished_for)]
    keep_finished_for: Option<OrNone<Duration>>,
    /// One JSON object instead of plain lines.
    #[arg(long)]
    json: bool,
}

/// A limit given on the command line, or `none`: no limit.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OrNone<T>(Option<T>);

fn or_none<T>(text: &str, parse: impl Fn(&str) -> Result<T, String>) -> Result<OrNone<T>, String> {
    if text == "none" {
        return Ok(OrNone(None));
    }
    parse(text).map(|value| OrNone(Some(value)))
}

fn max_cancels(text: &str) -> Result<u64, String> {
    whole(text, 0, thoonk::MAX_CANCELS)
}

fn rate(text: &str) -> Result<OrNone<Rate>, String> {
    or_none(text, |text| {
        let rate: Rate = text.parse()?;
        whole(&rate.jobs.to_string(), 1, thoonk::MAX_RATE)?;
        Ok(rate)
    })
}

fn max_running(text: &str) -> Result<OrNone<u64>, String> {
    or_none(text, |text| whole(text, 1, thoonk::MAX_CANCELS))
}

fn timeout(text: &str) -> Result<OrNone<Duration>, String> {
    // The library's bounds of a job timeout, as `work --timeout` takes it.
    or_none(text, args::timeout_seconds)
}

fn keep_finished(text: &str) -> Result<OrNone<u64>, String> {
    or_none(text, |text| whole(text, 1, thoonk::MAX_CANCELS))
}

fn keep_finished_for(text: &str) -> Result<OrNone<Duration>, String> {
    or_none(text, args::history_seconds)
}

/// A whole number from `min` to `max`.
fn whole(text: &str, min: u64, max: u64) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!(
            "{text:?} is not a whole number from {min} to {max}"
        )),
    }
}

pub(crate) async fn run(thoonk: &Thoonk, args: Args) -> Result<(), Fatal> {
    let mut change = ConfigChange::new();
    if let Some(lease) = args.lease {
        change = change.lease(lease);
    }
    if let Some(max) = args.max_cancels {
        change = change.max_cancels(max);
    }
    if let Some(OrNone(rate)) = args.rate {
        change = change.rate(rate);
    }
    if let Some(OrNone(max)) = args.max_running {
        change = change.max_running(max);
    }
    if let Some(OrNone(timeout)) = args.timeout {
        change = change.timeout(timeout);
    }
    if let Some(OrNone(keep)) = args.keep_finished {
        change = change.keep_finished(keep);
    }
    if let Some(OrNone(age)) = args.keep_finished_for {
        change = change.keep_finished_for(age);
    }
    let config = thoonk.queue(&args.queue)?.configure(change).await?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", as_json(&args.queue, &config))?;
    } else {
        let none = || "none".to_string();
        let secs = |d: Duration| format!("{} s", d.as_secs_f64());
        let lines = [
            ("queue", args.queue.clone()),
            ("lease", secs(config.lease)),
            ("max_cancels", config.max_cancels.to_string()),
            ("paused", if config.paused { "yes" } else { "no" }.into()),
            ("rate", config.rate.map_or_else(none, |r| r.to_string())),
            (
                "max_running",
                config.max_running.map_or_else(none, |n| n.to_string()),
            ),
            ("timeout", config.timeout.map_or_else(none, secs)),
            (
                "keep_finished",
                config.keep_finished.map_or_else(none, |n| n.to_string()),
            ),
            (
                "keep_finished_for",
                config.keep_finished_for.map_or_else(none, secs),
            ),
        ];
        for (label, value) in lines {
            writeln!(out, "{label:<18} {value}")?;
        }
    }
    Ok(())
}

/// Every setting, durations in seconds, a limit not set `null`.
fn as_json(queue: &str, config: &QueueConfig) -> serde_json::Value {
    json!({
        "queue": queue,
        "lease": config.lease.as_secs_f64(),
        "max_cancels": config.max_cancels,
        "paused": config.paused,
        "rate": config.rate.map(|r| r.to_string()),
        "max_running": config.max_running,
        "timeout": config.timeout.map(|t| t.as_secs_f64()),
        "keep_finished": config.keep_finished,
        "keep_finished_for": config.keep_finished_for.map(|t| t.as_secs_f64()),
    })
}
