//! A queue's tally, kept in Redis by the scripts that count (see
//! `lua/_tally.lua`): jobs published, finished, cancelled, stalled and
//! recovered per minute over the last 24 hours and per day over the last
//! 90 days ([`Queue::tally`]), and how long finished jobs ran
//! ([`Queue::durations`]). Every process reads the same numbers, however
//! new it is.

use super::Queue;
use crate::scripts;
use crate::Result;
use std::time::Duration;

/// Buckets of run times: bucket `b` counts runs of at most 2^b ms, the
/// last one those longer than 2^20 ms (17.5 minutes).
pub const RUN_BUCKETS: usize = 22;
/// Byte sizes of one slot of each ring (see `_tally.lua`).
const MINUTE_SLOT: usize = 24;
const DAY_SLOT: usize = 34;
const RUN_SLOT: usize = 14 + 4 * RUN_BUCKETS;

/// How finely a tally is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// A slot per minute, for the last 24 hours (1440 slots).
    Minute,
    /// A slot per day (UTC, by the server's clock), for the last 90 days.
    Day,
}

impl Resolution {
    /// How many slots are kept.
    pub fn slots(self) -> usize {
        match self {
            Resolution::Minute => 1440,
            Resolution::Day => 90,
        }
    }

    /// How long one slot lasts.
    pub fn span(self) -> Duration {
        match self {
            Resolution::Minute => Duration::from_secs(60),
            Resolution::Day => Duration::from_secs(86_400),
        }
    }

    fn ring(self) -> &'static str {
        match self {
            Resolution::Minute => "minute",
            Resolution::Day => "day",
        }
    }
}

/// What happened to a queue's jobs in one slot. Each count adds up with
/// the counter of the same name ([`Stats`](crate::Stats)), but for what v1
/// programs did: their scripts count in the counters only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    /// Jobs published (a schedule's too; a retry publishes nothing).
    pub publishes: u64,
    /// Jobs finished.
    pub finishes: u64,
    /// Claims cancelled, by `cancel` or taken back by recovery.
    pub cancels: u64,
    /// Jobs stalled, by `stall` or past `max_cancels`.
    pub stalls: u64,
    /// Claims taken back by recovery.
    pub recoveries: u64,
}

/// One slot of a tally: the minute or day starting at `start_ms` (Unix
/// ms, the server's clock), and its counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Slot {
    /// When the slot's minute or day began.
    pub start_ms: u64,
    /// What happened in it.
    pub counts: Counts,
}

/// How long a queue's finished jobs ran: over the last hour, and in all
/// since the tally began (a histogram, as Prometheus takes one).
///
/// A run is as long as the worker's handler took (the worker says); a job
/// finished by hand counts from its claim (or its lease's last extension)
/// to its finish, by the server's clock.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Durations {
    /// Jobs finished in the last hour (the current minute and the 59
    /// before it).
    pub count: u64,
    /// The median run of the last hour, from the buckets: the true
    /// median lies in the same power-of-2 bucket (within a factor of 2
    /// of it). `None` when nothing finished.
    #[serde(serialize_with = "ms")]
    pub p50: Option<Duration>,
    /// The 95th percentile, likewise.
    #[serde(serialize_with = "ms")]
    pub p95: Option<Duration>,
    /// The longest run of the last hour (exact, to 2^32 − 1 ms).
    #[serde(serialize_with = "ms")]
    pub max: Option<Duration>,
    /// Runs in all, per bucket (see [`RUN_BUCKETS`]; not cumulative).
    pub buckets: Vec<u64>,
    /// The runs in all, summed, in ms.
    pub sum_ms: u64,
}

fn ms<S: serde::Serializer>(d: &Option<Duration>, s: S) -> std::result::Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&(d.as_millis() as u64)),
        None => s.serialize_none(),
    }
}

impl Durations {
    /// The upper bound of bucket `b` in ms (`None`: the last, unbounded).
    pub fn bucket_le_ms(b: usize) -> Option<u64> {
        (b + 1 < RUN_BUCKETS).then(|| 1 << b)
    }

    /// Runs counted in all.
    pub fn total(&self) -> u64 {
        self.buckets.iter().sum()
    }
}

impl Queue {
    /// The queue's counts per minute (the last `slots` minutes, up to
    /// 1440) or per day (up to 90), oldest first, the current minute or
    /// day last (so far). A slot with nothing counted reads as zeros.
    pub async fn tally(&self, resolution: Resolution, slots: usize) -> Result<Vec<Slot>> {
        let slots = slots.clamp(1, resolution.slots());
        let (now, bytes): (u64, Vec<u8>) = scripts::TALLY
            .key(&self.keys.tally)
            .arg(resolution.ring())
            .arg(slots)
            .invoke_async(&mut self.thoonk.connection())
            .await
            .map_err(self.at("read the tally"))?;
        Ok(decode_counts(resolution, now, slots, &bytes))
    }

    /// How long the queue's finished jobs ran over the last hour (p50,
    /// p95, max) and in all (see [`Durations`]).
    pub async fn durations(&self) -> Result<Durations> {
        let (now, bytes, total): (u64, Vec<u8>, Vec<u8>) = scripts::TALLY
            .key(&self.keys.tally)
            .arg("run")
            .arg(60)
            .invoke_async(&mut self.thoonk.connection())
            .await
            .map_err(self.at("read the tally"))?;
        Ok(decode_durations(now, &bytes, &total))
    }
}

fn uint(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0, |n, &b| n << 8 | u64::from(b))
}

/// The slots of `bytes` (oldest first, the one of `now` last), a stale
/// one (its minute or day not the one its place stands for) as zeros.
fn decode_counts(resolution: Resolution, now: u64, slots: usize, bytes: &[u8]) -> Vec<Slot> {
    let span = resolution.span().as_millis() as u64;
    let (size, width) = match resolution {
        Resolution::Minute => (MINUTE_SLOT, 4),
        Resolution::Day => (DAY_SLOT, 6),
    };
    let current = now / span;
    (0..slots)
        .map(|i| {
            let unit = current + 1 + i as u64 - slots as u64;
            let slot = bytes.get(i * size..(i + 1) * size).unwrap_or(&[]);
            let mut counts = Counts::default();
            if slot.len() == size && uint(&slot[..4]) == unit {
                let c = |k: usize| uint(&slot[4 + k * width..4 + (k + 1) * width]);
                counts = Counts {
                    publishes: c(0),
                    finishes: c(1),
                    cancels: c(2),
                    stalls: c(3),
                    recoveries: c(4),
                };
            }
            Slot {
                start_ms: unit * span,
                counts,
            }
        })
        .collect()
}

/// The run slots (all 60, oldest first) and the totals, as
/// [`Durations`]: the last hour from the slots of its minutes; in all,
/// the totals and every slot ever written (a slot's runs go to the totals
/// only when a later minute takes it).
fn decode_durations(now: u64, bytes: &[u8], total: &[u8]) -> Durations {
    let current = now / 60_000;
    let mut hour = [0u64; RUN_BUCKETS];
    let mut longest = 0;
    let mut buckets: Vec<u64> = (0..RUN_BUCKETS)
        .map(|b| total.get(8 * b..8 * b + 8).map_or(0, uint))
        .collect();
    let mut sum_ms = total
        .get(8 * RUN_BUCKETS..8 * RUN_BUCKETS + 8)
        .map_or(0, uint);
    let slots = bytes.len() / RUN_SLOT;
    for (i, slot) in bytes.chunks_exact(RUN_SLOT).enumerate() {
        let written = uint(&slot[..4]);
        if written == 0 {
            continue;
        }
        sum_ms += uint(&slot[8..14]);
        let recent = written == current + 1 + i as u64 - slots as u64;
        if recent {
            longest = longest.max(uint(&slot[4..8]));
        }
        for (b, all) in buckets.iter_mut().enumerate() {
            let n = uint(&slot[14 + 4 * b..18 + 4 * b]);
            *all += n;
            if recent {
                hour[b] += n;
            }
        }
    }
    let count = hour.iter().sum();
    Durations {
        count,
        p50: quantile(&hour, 0.50, longest),
        p95: quantile(&hour, 0.95, longest),
        max: (count > 0).then(|| Duration::from_millis(longest)),
        buckets,
        sum_ms,
    }
}

/// The `q` quantile of runs counted per bucket: interpolated within the
/// bucket it falls in (between its bounds, as Prometheus's
/// histogram_quantile does), and never past the longest run.
fn quantile(buckets: &[u64], q: f64, longest: u64) -> Option<Duration> {
    let count: u64 = buckets.iter().sum();
    if count == 0 {
        return None;
    }
    let rank = q * count as f64;
    let mut below = 0u64;
    for (b, &n) in buckets.iter().enumerate() {
        if n > 0 && (below + n) as f64 >= rank {
            let low = if b == 0 {
                0.0
            } else {
                (1u64 << (b - 1)) as f64
            };
            let high = Durations::bucket_le_ms(b).map_or(longest as f64, |h| h as f64);
            let at = low + (high - low) * ((rank - below as f64) / n as f64);
            return Some(Duration::from_millis(at.min(longest as f64).round() as u64));
        }
        below += n;
    }
    Some(Duration::from_millis(longest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quantile_lies_in_its_bucket() {
        let mut buckets = [0u64; RUN_BUCKETS];
        buckets[7] = 100; // runs in (64, 128] ms
        let p50 = quantile(&buckets, 0.5, 120).unwrap().as_millis();
        assert!((64..=128).contains(&p50), "{p50}");
        assert_eq!(quantile(&buckets, 1.0, 120).unwrap().as_millis(), 120);
        assert_eq!(quantile(&[0; RUN_BUCKETS], 0.5, 0), None);
    }

    #[test]
    fn stale_slots_read_as_zeros() {
        let mut bytes = vec![0u8; 2 * MINUTE_SLOT];
        // Slot 0 stands for minute 9 (now is in minute 10), but holds minute 8's.
        bytes[3] = 8;
        bytes[7] = 5;
        // Slot 1 is minute 10's.
        bytes[MINUTE_SLOT + 3] = 10;
        bytes[MINUTE_SLOT + 7] = 3;
        let slots = decode_counts(Resolution::Minute, 10 * 60_000 + 5, 2, &bytes);
        assert_eq!(slots[0].counts.publishes, 0);
        assert_eq!(slots[0].start_ms, 9 * 60_000);
        assert_eq!(slots[1].counts.publishes, 3);
    }
}
