//! A queue's settings ([`QueueConfig`], kept in `job.config:NAME`, where
//! every worker and the dashboard read them), their defaults, and changes
//! to them ([`ConfigChange`], applied all at once).

use super::{Once, Queue};
use crate::limits::{self, Refused};
use crate::{scripts, Result};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A claim's lease when the queue sets none.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);
/// How many cancels a job may have before it is stalled instead, when the
/// queue sets no `max_cancels`.
pub const DEFAULT_MAX_CANCELS: u64 = 25;
/// Most claims a rate limit may allow in its period: Redis keeps the time
/// of each claim of the period.
pub const MAX_RATE: u64 = 1_000_000;

/// A rate limit: at most `jobs` claims in any `per` (of the server's time),
/// across all workers of the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Claims allowed in any one period.
    pub jobs: u64,
    /// The period.
    pub per: Duration,
}

impl Rate {
    /// At most `jobs` claims in any `per`.
    pub const fn new(jobs: u64, per: Duration) -> Rate {
        Rate { jobs, per }
    }

    /// As configure.lua takes it and job.config keeps it: `N/MS`.
    fn stored(&self) -> String {
        format!("{}/{}", self.jobs, self.per.as_millis())
    }

    fn from_stored(text: &str) -> Option<Rate> {
        let (jobs, ms) = text.split_once('/')?;
        let (jobs, ms) = (jobs.parse().ok()?, ms.parse().ok()?);
        (jobs > 0 && ms > 0).then(|| Rate::new(jobs, Duration::from_millis(ms)))
    }
}

/// `100/s`, `5000/m`, `20000/h` (and, read back, `N/MSms` for any other
/// period).
impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.per.as_millis() {
            1_000 => write!(f, "{}/s", self.jobs),
            60_000 => write!(f, "{}/m", self.jobs),
            3_600_000 => write!(f, "{}/h", self.jobs),
            ms => write!(f, "{}/{ms}ms", self.jobs),
        }
    }
}

/// Reads `N/s`, `N/m` or `N/h`.
impl FromStr for Rate {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Rate, String> {
        let refuse = || format!("{text:?} is not a rate: N/s, N/m or N/h, N a whole number");
        let (jobs, unit) = text.split_once('/').ok_or_else(refuse)?;
        let jobs: u64 = jobs.parse().map_err(|_| refuse())?;
        let per = match unit {
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            _ => return Err(refuse()),
        };
        Ok(Rate::new(jobs, per))
    }
}

/// A queue's settings (kept in `job.config:NAME`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueConfig {
    /// How long a claim holds without being extended.
    pub lease: Duration,
    /// A job cancelled more times than this (by its worker or by expiry) is
    /// stalled instead.
    pub max_cancels: u64,
    /// Whether claims are stopped ([`Queue::pause`]); publishing goes on.
    pub paused: bool,
    /// At most this many claims in any period, fleet-wide.
    pub rate: Option<Rate>,
    /// At most this many jobs claimed at once, fleet-wide.
    pub max_running: Option<u64>,
    /// How long a worker lets a job's handler run before it stops it and
    /// cancels the job (a worker's own [`Worker::timeout`](crate::Worker::timeout)
    /// applies when it is shorter). Workers read it at their heartbeat:
    /// see [`ConfigChange::timeout`].
    pub timeout: Option<Duration>,
    /// Keep the last this many finished jobs ([`Queue::finished`]);
    /// `None` (and no `keep_finished_for`): a finish keeps nothing.
    pub keep_finished: Option<u64>,
    /// Keep the jobs finished in the last this long. With
    /// `keep_finished` too, a job goes once either bound says so.
    pub keep_finished_for: Option<Duration>,
}

/// The settings of a queue that sets none.
impl Default for QueueConfig {
    fn default() -> QueueConfig {
        QueueConfig {
            lease: DEFAULT_LEASE,
            max_cancels: DEFAULT_MAX_CANCELS,
            paused: false,
            rate: None,
            max_running: None,
            timeout: None,
            keep_finished: None,
            keep_finished_for: None,
        }
    }
}

/// Changes to a queue's settings, for [`Queue::configure`]: what is given
/// changes (`None`s remove a limit), the rest stays as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigChange {
    lease: Option<Duration>,
    max_cancels: Option<u64>,
    paused: Option<bool>,
    rate: Option<Option<Rate>>,
    max_running: Option<Option<u64>>,
    timeout: Option<Option<Duration>>,
    keep_finished: Option<Option<u64>>,
    keep_finished_for: Option<Option<Duration>>,
}

impl ConfigChange {
    /// No change yet.
    pub fn new() -> ConfigChange {
        ConfigChange::default()
    }

    /// How long a claim holds without being extended: at least 1 ms, at
    /// most [`MAX_LEASE`](crate::MAX_LEASE).
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = Some(lease);
        self
    }

    /// How many cancels a job may have before it is stalled instead, at
    /// most [`MAX_CANCELS`](crate::MAX_CANCELS).
    pub fn max_cancels(mut self, max_cancels: u64) -> Self {
        self.max_cancels = Some(max_cancels);
        self
    }

    /// Stops claims (`true`) or lets them go on (`false`).
    pub fn paused(mut self, paused: bool) -> Self {
        self.paused = Some(paused);
        self
    }

    /// A rate limit (1 to [`MAX_RATE`] jobs per period, the period at least
    /// 1 ms), or `None`: no rate limit.
    pub fn rate(mut self, rate: Option<Rate>) -> Self {
        self.rate = Some(rate);
        self
    }

    /// A limit on jobs claimed at once (at least 1: to stop all claims,
    /// pause), or `None`: no limit.
    pub fn max_running(mut self, max_running: Option<u64>) -> Self {
        self.max_running = Some(max_running);
        self
    }

    /// A job timeout (at least 1 ms, at most
    /// [`MAX_LEASE`](crate::MAX_LEASE)), or `None`: none. Every worker of
    /// the queue stops a handler that runs longer and cancels its job (see
    /// [`Worker::timeout`](crate::Worker::timeout), which may set a shorter
    /// one). Workers read it at their heartbeat (about once a second), so
    /// a change applies to the jobs a worker starts after it saw the
    /// change; a job already running keeps the timeout it started with.
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Keep the last `n` finished jobs of the queue (at least 1, at most
    /// [`MAX_CANCELS`](crate::MAX_CANCELS)), each with its result (cut to
    /// [`KEPT_RESULT_BYTES`](crate::KEPT_RESULT_BYTES)), finish time,
    /// duration, worker and cancel count ([`Queue::finished`]); `None`: no
    /// bound by count. Lowering it
    /// does not trim at once: each finish then drops a bounded number of
    /// the oldest beyond it, so that no call takes long.
    pub fn keep_finished(mut self, n: Option<u64>) -> Self {
        self.keep_finished = Some(n);
        self
    }

    /// Keep the jobs finished in the last `age` (at least 1 ms, at most
    /// [`MAX_DELAY`](crate::MAX_DELAY)); `None`: no bound by age. Older
    /// ones go as later finishes trim, a bounded number per call. When
    /// both this and [`keep_finished`](ConfigChange::keep_finished) end up
    /// `None`, the queue keeps nothing and its kept history is deleted.
    pub fn keep_finished_for(mut self, age: Option<Duration>) -> Self {
        self.keep_finished_for = Some(age);
        self
    }

    /// The (setting, value) pairs configure.lua takes, an empty value
    /// removing the setting; or the refusal of a value out of range.
    fn pairs(&self) -> std::result::Result<Vec<(&'static str, String)>, Refused> {
        let ms = |d: Duration| d.as_millis().max(1).to_string();
        let mut pairs = Vec::new();
        if let Some(lease) = self.lease {
            limits::at_most("lease", lease, limits::MAX_LEASE)?;
            pairs.push(("lease_ms", ms(lease)));
        }
        if let Some(max) = self.max_cancels {
            limits::count_at_most("max_cancels", max, limits::MAX_CANCELS)?;
            pairs.push(("max_cancels", max.to_string()));
        }
        if let Some(paused) = self.paused {
            pairs.push(("paused", if paused { "1" } else { "" }.into()));
        }
        if let Some(rate) = self.rate {
            if let Some(r) = rate {
                limits::count_between("rate's jobs", r.jobs, 1, MAX_RATE)?;
                limits::at_most("rate's period", r.per, limits::MAX_DELAY)?;
            }
            pairs.push(("rate", rate.map(|r| r.stored()).unwrap_or_default()));
        }
        if let Some(max_running) = self.max_running {
            if let Some(n) = max_running {
                limits::count_between("max_running", n, 1, limits::MAX_CANCELS)?;
            }
            pairs.push((
                "max_running",
                max_running.map(|n| n.to_string()).unwrap_or_default(),
            ));
        }
        if let Some(timeout) = self.timeout {
            if let Some(t) = timeout {
                limits::between("timeout", t, limits::MIN_TIMEOUT, limits::MAX_LEASE)?;
            }
            pairs.push(("timeout_ms", timeout.map(ms).unwrap_or_default()));
        }
        if let Some(keep) = self.keep_finished {
            if let Some(n) = keep {
                limits::count_between("keep_finished", n, 1, limits::MAX_CANCELS)?;
            }
            let value = keep.map(|n| n.to_string()).unwrap_or_default();
            pairs.push(("keep_finished", value));
        }
        if let Some(age) = self.keep_finished_for {
            if let Some(age) = age {
                limits::between("keep_finished_for", age, MIN_AGE, limits::MAX_DELAY)?;
            }
            pairs.push(("keep_finished_for_ms", age.map(ms).unwrap_or_default()));
        }
        Ok(pairs)
    }
}

/// The fields of job.config, in the order [`Queue::config`] reads them.
const FIELDS: [&str; 8] = [
    "lease_ms",
    "max_cancels",
    "paused",
    "rate",
    "max_running",
    "timeout_ms",
    "keep_finished",
    "keep_finished_for_ms",
];

/// The shortest history age: a millisecond, the unit it is kept in.
const MIN_AGE: Duration = Duration::from_millis(1);

impl Queue {
    /// The queue's settings, defaults filled in. (A value another program
    /// wrote that is not one counts as unset, as the scripts count it.)
    pub async fn config(&self) -> Result<QueueConfig> {
        let values: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(&self.keys.config)
            .arg(&FIELDS[..])
            .query_async(&mut self.thoonk.connection())
            .await
            .map_err(self.at("read the settings"))?;
        let number = |i: usize| values[i].as_deref().and_then(|v| v.parse::<u64>().ok());
        let millis = |i: usize| number(i).filter(|&ms| ms > 0).map(Duration::from_millis);
        Ok(QueueConfig {
            lease: millis(0).unwrap_or(DEFAULT_LEASE),
            max_cancels: number(1).unwrap_or(DEFAULT_MAX_CANCELS),
            paused: values[2].is_some(),
            rate: values[3].as_deref().and_then(Rate::from_stored),
            max_running: number(4).filter(|&n| n > 0),
            timeout: millis(5),
            keep_finished: number(6).filter(|&n| n > 0),
            keep_finished_for: millis(7),
        })
    }

    /// Applies `change` to the queue's settings, all of it or (a value
    /// out of range) none, and returns the settings afterwards. Sends the
    /// event `config` (and `pause` or `resume` when it paused or resumed
    /// the queue). Workers see a change at their next claim (the
    /// timeout: at their next heartbeat).
    pub async fn configure(&self, change: ConfigChange) -> Result<QueueConfig> {
        let pairs = change
            .pairs()
            .map_err(|refused| refused.on("configure", self.name()))?;
        if !pairs.is_empty() {
            let k = &self.keys;
            let mut call = scripts::CONFIGURE.call();
            call.key(&k.config)
                .key(&k.flow)
                .key(&k.keep)
                .key(&k.finished)
                .key(&k.history)
                .arg(k.channel("config"))
                .arg(k.channel("pause"))
                .arg(k.channel("resume"));
            for (setting, value) in &pairs {
                call.arg(*setting).arg(value);
            }
            let _: String = call
                .once(self)
                .invoke_async(&mut self.thoonk.connection())
                .await
                .map_err(self.at("change the settings"))?;
        }
        self.config().await
    }

    /// Stops claims of the queue, by every worker, until [`Queue::resume`];
    /// publishing goes on. A claim already made is not taken back.
    pub async fn pause(&self) -> Result<()> {
        self.configure(ConfigChange::new().paused(true))
            .await
            .map(drop)
    }

    /// Lets claims of a paused queue go on; waiting workers claim at once.
    pub async fn resume(&self) -> Result<()> {
        self.configure(ConfigChange::new().paused(false))
            .await
            .map(drop)
    }

    /// Sets how long a claim holds without being extended.
    /// At least a millisecond (a shorter one is one), at most
    /// [`MAX_LEASE`](crate::MAX_LEASE).
    pub async fn set_lease(&self, lease: Duration) -> Result<()> {
        self.configure(ConfigChange::new().lease(lease))
            .await
            .map(drop)
    }

    /// Sets how many cancels a job may have before it is stalled instead,
    /// at most [`MAX_CANCELS`](crate::MAX_CANCELS).
    pub async fn set_max_cancels(&self, max_cancels: u64) -> Result<()> {
        let change = ConfigChange::new().max_cancels(max_cancels);
        self.configure(change).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_and_print_in_their_units() {
        for text in ["100/s", "5000/m", "20000/h"] {
            assert_eq!(text.parse::<Rate>().unwrap().to_string(), text);
        }
        let odd = Rate::new(3, Duration::from_millis(1500));
        assert_eq!(Rate::from_stored(&odd.stored()), Some(odd));
        assert_eq!(odd.to_string(), "3/1500ms");
        for bad in ["", "100", "100/d", "x/s", "-1/s", "1.5/s"] {
            assert!(bad.parse::<Rate>().is_err(), "{bad}");
        }
    }
}
