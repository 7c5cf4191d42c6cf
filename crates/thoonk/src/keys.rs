//! Redis key and channel names of one queue, built in this one place.
//!
//! The v1 layout names every key `job.<noun>:NAME`; keys that v1 did not
//! have follow the same pattern. Scripts never build key names themselves:
//! they get them all in `KEYS`, which is what Redis Cluster requires.

/// `job.<noun>:NAME`: the one place a key name is spelled.
fn key(noun: &str, name: &str) -> String {
    format!("job.{noun}:{name}")
}

/// A `SCAN MATCH` pattern for the publish counters of all queues. Every
/// queue ever published to has one, v1 programs' queues too, so it is how
/// queues are found.
pub(crate) fn publishes_of_all_queues() -> String {
    key("publishes", "*")
}

/// The queue a `job.publishes:NAME` key counts for: whatever follows the
/// prefix, as it is.
pub(crate) fn queue_of_publishes(key_name: &[u8]) -> Option<&[u8]> {
    key_name.strip_prefix(key("publishes", "").as_bytes())
}

/// All key and channel names of one queue, computed once per handle.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    /// Shared: each claimed job carries it.
    pub(crate) name: std::sync::Arc<str>,
    /// v1: list of available ids.
    pub(crate) ids: String,
    /// v1: hash id -> payload.
    pub(crate) items: String,
    /// v1: zset id -> publish time (ms). Only v1 publishers write it (it
    /// cost a third of a queued job's memory, and nothing reads it); ours
    /// remove their entries when a job leaves the queue.
    pub(crate) published: String,
    /// v1: zset id -> claim time (ms); here also the time of the claim's
    /// last lease extension.
    pub(crate) claimed: String,
    /// v1: set of stalled ids.
    pub(crate) stalled: String,
    /// v1: hash id -> times cancelled.
    pub(crate) cancelled: String,
    /// v1: publish counter.
    pub(crate) publishes: String,
    /// v1: finish counter.
    pub(crate) finishes: String,
    /// New: hash id -> record of the job's current claim (fencing): its
    /// token (`N-MS.ID`, or `N-MS.ID@WORKER` for a worker runtime's claim;
    /// MS the claim time, which extensions leave as it was), NUL,
    /// and the score the claim gave the job in `claimed`.
    pub(crate) tokens: String,
    /// New: zset of `WORKER\0N\0ID\0ID…`, score 0: the ids of one claim
    /// call of a worker runtime's (N its claim number), or those it held at
    /// its last heartbeat (N = 0). A worker's claims are found (recovery)
    /// and counted (`workers`) at the cost of its own share, not of every
    /// claim of the queue; see `_state.lua`'s `holder_member`.
    pub(crate) holders: String,
    /// New: hash, worker id → what a live worker runtime says of itself
    /// (when it started, its concurrency, pid, version, host: see
    /// `extend.lua`), for the dashboard's workers panel. Written at its
    /// heartbeats, dropped with its liveness mark.
    pub(crate) worker_info: String,
    /// New: set of ids a retract left in `ids` (a long list is not
    /// searched): the claim that meets one drops it; counts leave them out.
    pub(crate) ghosts: String,
    /// New: claim counter, one per claim call: the `N` of its tokens.
    pub(crate) claims: String,
    /// New: hash id -> seconds to keep the result of a job someone awaits.
    pub(crate) awaited: String,
    /// New: zset id -> due time (ms) of delayed jobs.
    pub(crate) delayed: String,
    /// New: zset worker id -> liveness deadline (ms).
    pub(crate) workers: String,
    /// New: hash id -> why it was last cancelled or stalled.
    pub(crate) reasons: String,
    /// New: hash `beat` -> the server's time (ms) of the last worker
    /// heartbeat, `grace` -> until when recovery takes nothing back (after
    /// a silence of Redis: see `_state.lua`'s `grace_after_silence`).
    pub(crate) pulse: String,
    /// v1: hash of per-queue settings (`lease_ms`, `max_cancels`); here
    /// also `paused`, `rate`, `max_running`, `timeout_ms`, `keep_finished`
    /// and `keep_finished_for_ms`.
    pub(crate) config: String,
    /// New: list of the server times (ms) of the claims of the rate
    /// limit's last period, one per job, oldest first.
    pub(crate) rate: String,
    /// New: `1` while the queue sets any of `paused`, `rate`,
    /// `max_running` (configure.lua keeps it): a claim learns that none is
    /// set from the one `EXISTS` it makes anyway.
    pub(crate) flow: String,
    /// New: cancel counter: claims ended by `cancel` (a worker's or
    /// anyone's) or taken back by recovery. Kept in Redis so that a
    /// dashboard's rates survive its restart and count every process's work.
    pub(crate) cancels: String,
    /// New: stall counter: jobs set aside, whether stalled outright or
    /// cancelled past `max_cancels`.
    pub(crate) stalls: String,
    /// New: recovery counter: claims taken back by `recover.lua` because a
    /// lease or a worker's liveness mark ran out.
    pub(crate) recoveries: String,
    /// New: hash id -> the progress (JSON text) a claimed job last
    /// reported; it goes when the claim ends.
    pub(crate) progress: String,
    /// New: zset id -> when its job joined the back of the line (server
    /// ms), for one job a second at most: how long the oldest available job
    /// has waited, without a time kept per job (see `_marks.lua`).
    pub(crate) marks: String,
    /// New: `1`, with a TTL of a second, while no look at the marks is due
    /// (see `_marks.lua`): most jobs joining the line cost marking nothing.
    pub(crate) marked: String,
    /// New: hash schedule name -> its record (`REV\0SPEC\0ZONE\0LAST\0ITEM`:
    /// see `_schedules.lua`).
    pub(crate) schedules: String,
    /// New: zset schedule name -> its next tick (ms): the index of what is
    /// due, which every worker of the queue reads.
    pub(crate) ticks: String,
    /// New: `1` while the queue keeps finished jobs (`keep_finished` or
    /// `keep_finished_for_ms` set; configure.lua keeps it): a finish learns
    /// that it keeps none from the one `EXISTS` it makes anyway.
    pub(crate) keep: String,
    /// New: zset id -> finish time (ms, the server's) of the finished jobs
    /// kept, oldest first: the history's order, and what trimming pops.
    pub(crate) finished: String,
    /// New: hash id -> the record of a kept finished job (see
    /// `_history.lua`: duration, cancels, worker, the result cut to 4 KiB).
    pub(crate) history: String,
    /// New: string of fixed size (see `_tally.lua`): jobs published,
    /// finished, cancelled, stalled and recovered per minute (24 h) and
    /// per day (90 days), and how long finished jobs ran (per minute for
    /// an hour, and in all). A TTL of 91 days, renewed as it is written.
    pub(crate) tally: String,
}

impl Keys {
    pub(crate) fn new(name: &str) -> Self {
        let key = |noun: &str| self::key(noun, name);
        Keys {
            name: name.into(),
            ids: key("ids"),
            items: key("items"),
            published: key("published"),
            claimed: key("claimed"),
            stalled: key("stalled"),
            cancelled: key("cancelled"),
            publishes: key("publishes"),
            finishes: key("finishes"),
            tokens: key("tokens"),
            holders: key("holders"),
            worker_info: key("worker_info"),
            ghosts: key("ghosts"),
            claims: key("claims"),
            awaited: key("awaited"),
            delayed: key("delayed"),
            workers: key("workers"),
            reasons: key("reasons"),
            pulse: key("pulse"),
            config: key("config"),
            rate: key("rate"),
            flow: key("flow"),
            cancels: key("cancels"),
            stalls: key("stalls"),
            recoveries: key("recoveries"),
            progress: key("progress"),
            marks: key("marks"),
            marked: key("marked"),
            schedules: key("schedules"),
            ticks: key("ticks"),
            keep: key("keep"),
            finished: key("finished"),
            history: key("history"),
            tally: key("tally"),
        }
    }

    /// Every key of the queue but the kept results (which expire by
    /// themselves).
    pub(crate) fn all(&self) -> [&str; 33] {
        [
            &self.ids,
            &self.items,
            &self.published,
            &self.claimed,
            &self.stalled,
            &self.cancelled,
            &self.publishes,
            &self.finishes,
            &self.tokens,
            &self.holders,
            &self.worker_info,
            &self.ghosts,
            &self.claims,
            &self.awaited,
            &self.delayed,
            &self.workers,
            &self.reasons,
            &self.pulse,
            &self.config,
            &self.rate,
            &self.flow,
            &self.cancels,
            &self.stalls,
            &self.recoveries,
            &self.progress,
            &self.marks,
            &self.marked,
            &self.schedules,
            &self.ticks,
            &self.keep,
            &self.finished,
            &self.history,
            &self.tally,
        ]
    }

    /// Where the result of an awaited job is kept for a while.
    ///
    /// A NUL separates name and id: neither may contain one, so no two
    /// (queue, id) pairs share a key (a `:` would let `a` + `b:c` meet
    /// `a:b` + `c`).
    pub(crate) fn result(&self, id: &str) -> String {
        format!("job.result:{}\0{id}", self.name)
    }

    /// Marks a job id published with a unique window until the window
    /// ends (`job.unique:NAME\0ID`, expiring by itself): publishing the id
    /// again meanwhile is refused.
    pub(crate) fn unique(&self, id: &str) -> String {
        format!("job.unique:{}\0{id}", self.name)
    }

    /// Where a script call's reply is remembered for a while, under its
    /// request id (see `_once.lua`): `job.request:NAME\0ID`.
    pub(crate) fn request(&self, id: &str) -> String {
        format!("job.request:{}\0{id}", self.name)
    }

    /// The pub/sub channel of one kind of event, `event.job.<verb>:NAME`.
    pub(crate) fn channel(&self, verb: &str) -> String {
        format!("event.job.{verb}:{}", self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_names() {
        let k = Keys::new("mail");
        assert_eq!(k.ids, "job.ids:mail");
        assert_eq!(k.items, "job.items:mail");
        assert_eq!(k.published, "job.published:mail");
        assert_eq!(k.claimed, "job.claimed:mail");
        assert_eq!(k.stalled, "job.stalled:mail");
        assert_eq!(k.cancelled, "job.cancelled:mail");
        assert_eq!(k.publishes, "job.publishes:mail");
        assert_eq!(k.finishes, "job.finishes:mail");
        assert_eq!(k.channel("finish"), "event.job.finish:mail");
    }

    #[test]
    fn counters_follow_the_pattern() {
        let k = Keys::new("mail");
        assert_eq!(k.cancels, "job.cancels:mail");
        assert_eq!(k.stalls, "job.stalls:mail");
        assert_eq!(k.recoveries, "job.recoveries:mail");
        assert!(k.all().contains(&"job.recoveries:mail"));
    }

    #[test]
    fn schedules_follow_the_pattern() {
        let k = Keys::new("mail");
        assert_eq!(k.schedules, "job.schedules:mail");
        assert_eq!(k.ticks, "job.ticks:mail");
        assert!(k.all().contains(&"job.ticks:mail"));
    }

    #[test]
    fn the_finished_history_is_destroyed_with_the_queue() {
        let k = Keys::new("mail");
        for name in ["job.keep:mail", "job.finished:mail", "job.history:mail"] {
            assert!(k.all().contains(&name), "{name}");
        }
    }

    #[test]
    fn the_tally_follows_the_pattern() {
        let k = Keys::new("mail");
        assert_eq!(k.tally, "job.tally:mail");
        assert!(k.all().contains(&"job.tally:mail"));
    }

    #[test]
    fn queues_are_found_by_their_publish_counter() {
        assert_eq!(publishes_of_all_queues(), "job.publishes:*");
        let k = Keys::new("a:b{c}");
        assert_eq!(
            queue_of_publishes(k.publishes.as_bytes()),
            Some(&b"a:b{c}"[..])
        );
        assert_eq!(queue_of_publishes(b"job.finishes:a"), None);
    }

    #[test]
    fn result_keys_do_not_collide_across_queues() {
        assert_ne!(Keys::new("a").result("b:c"), Keys::new("a:b").result("c"));
    }
}
