//! Bounded looks at a queue, for dashboards: a sample of why its jobs were
//! last cancelled or stalled ([`Queue::scan_reasons`]), and the memory its
//! keys use ([`Queue::memory`]).

use super::Queue;
use crate::{scripts, Result};

/// How many fields of `job.reasons` one `HSCAN` step asks for.
const HSCAN_COUNT: usize = 200;

/// What a scan of `job.reasons` saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReasonScan {
    /// How many entries it passed to the visitor.
    pub seen: u64,
    /// How many the hash holds (`HLEN`, read before the scan).
    pub total: u64,
    /// Whether it went through the whole hash (else: it stopped at its
    /// bound, or the visitor stopped it).
    pub complete: bool,
}

/// A queue's keys' memory, as `MEMORY USAGE` estimates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    /// Bytes, the keys' sum.
    pub bytes: u64,
    /// How many of the queue's keys exist.
    pub keys: u64,
}

impl Queue {
    /// Passes (id, reason) of the jobs that carry a reason now (why each
    /// was last cancelled or stalled: `job.reasons`) to `visit`, at most
    /// `max` of them, by `HSCAN` (a few hundred a step: Redis is never held
    /// up long, and the cost is bounded by `max`, not the hash's size).
    /// `visit` returns false to stop early. A job may be met twice when
    /// the hash grows during the scan (an `HSCAN` promise).
    pub async fn scan_reasons(
        &self,
        max: usize,
        mut visit: impl FnMut(String, String) -> bool,
    ) -> Result<ReasonScan> {
        let at = self.at("scan the reasons");
        let mut conn = self.thoonk.connection();
        let total: u64 = redis::cmd("HLEN")
            .arg(&self.keys.reasons)
            .query_async(&mut conn)
            .await
            .map_err(&at)?;
        let mut seen = 0;
        let mut cursor = b"0".to_vec();
        while seen < max {
            let (next, pairs): (Vec<u8>, Vec<(String, String)>) = redis::cmd("HSCAN")
                .arg(&self.keys.reasons)
                .arg(&cursor)
                .arg("COUNT")
                .arg(HSCAN_COUNT.min(max - seen))
                .query_async(&mut conn)
                .await
                .map_err(&at)?;
            for (id, reason) in pairs {
                if seen == max {
                    break;
                }
                seen += 1;
                if !visit(id, reason) {
                    return Ok(ReasonScan {
                        seen: seen as u64,
                        total,
                        complete: false,
                    });
                }
            }
            if next == b"0" {
                return Ok(ReasonScan {
                    seen: seen as u64,
                    total,
                    complete: true,
                });
            }
            cursor = next;
        }
        Ok(ReasonScan {
            seen: seen as u64,
            total,
            complete: false,
        })
    }

    /// The memory the queue's keys use: `MEMORY USAGE` of each, sampling
    /// `samples` elements of a nested key (an estimate, at a cost bounded
    /// by the number of keys: 1 to 100), in one read-only script.
    pub async fn memory(&self, samples: u32) -> Result<Memory> {
        let mut call = scripts::MEMORY.call();
        for key in self.keys.all() {
            call.key(key);
        }
        let (bytes, keys): (u64, u64) = call
            .arg(samples.clamp(1, 100))
            .invoke_async(&mut self.thoonk.connection())
            .await
            .map_err(self.at("read the queue's memory"))?;
        Ok(Memory { bytes, keys })
    }
}
