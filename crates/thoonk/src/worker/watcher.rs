//! A queue's watcher: each time the worker arms it, waits until the queue
//! has work (or a delayed job falls due), claims it in the same trip, and
//! hands the jobs to the worker.

use super::state::LaneState;
use crate::pubsub::{Listener, Notice};
use crate::queue::claim::Claimed;
use crate::queue::waiting::{block_until, earliest, held_until};
use crate::{Job, Queue, Result};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;

/// What a watcher found: jobs it claimed for the worker (already in its
/// lane's `held`).
pub(crate) struct Woke {
    /// Which of the worker's queues they come from.
    pub(crate) lane: usize,
    pub(crate) jobs: Vec<Job>,
    /// The queue may have more: the claim got all it asked for, or failed.
    pub(crate) more: bool,
}

/// Waits for work on one queue, whenever it is armed.
pub(crate) struct Watcher {
    pub(crate) queue: Queue,
    pub(crate) lane: usize,
    pub(crate) worker: String,
    /// Jobs delayed meanwhile (one may fall due before the wait ends), and
    /// changes of the queue's settings (flow control may hold claims back
    /// no longer).
    pub(crate) notices: Listener,
    /// The channel of the queue's settings changes, among `notices`.
    pub(crate) config: String,
    /// Notified when the worker wants it to wait (and claim).
    pub(crate) armed: Arc<Notify>,
    pub(crate) state: Arc<LaneState>,
    pub(crate) woke: mpsc::UnboundedSender<Woke>,
}

/// How one wait ended.
enum Waited {
    /// The wait's claim came back (or failed).
    Claimed(Result<Claimed>),
    /// The worker is gone.
    Gone,
}

impl Watcher {
    /// Waits and claims each time it is armed, until the worker is gone.
    pub(crate) async fn run(mut self) {
        let mut listening = true;
        loop {
            self.armed.notified().await;
            let max = self.state.free.load(Ordering::Relaxed).max(1);
            let reply = match self.wait_and_claim(max, &mut listening).await {
                Waited::Claimed(reply) => reply,
                Waited::Gone => return,
            };
            // Before the hand-over: once it is in, the worker may arm us.
            self.state.waiting.store(false, Ordering::Relaxed);
            if self.hand_over(reply, max).await.is_err() {
                return;
            }
        }
    }

    /// One wait for work, with the claim of up to `max` jobs right behind
    /// it on the waiting connection (Redis runs it the moment the wait
    /// ends: no round trip of its own).
    async fn wait_and_claim(&mut self, max: usize, listening: &mut bool) -> Waited {
        // Its own handle: the wait below holds it while `self` goes on.
        let queue = self.queue.clone();
        if let Some(until) = self.state.held_until() {
            // Flow control holds claims back: the list may well have work,
            // so no wait on it, but a claim when the hold ends, or sooner
            // when the queue's settings change (a resume, a limit raised).
            held_until(&mut self.notices, &self.config, until, listening).await;
            return Waited::Claimed(queue.claim_for(max, Some(&self.worker)).await);
        }
        let thoonk = &queue.thoonk;
        // Till the next delayed job is due, if one is (the claim script
        // makes it available). The claim's time is the server's as it
        // runs, so the wait may last: no lease starts before the claim.
        let wake = self.state.due();
        let call = queue.claim_call(max, Some(&self.worker));
        let claim = thoonk.wait_for_list_then(&queue.keys.ids, block_until(wake), &call);
        tokio::pin!(claim);
        // A job delayed while we wait, due before the wait ends, is claimed
        // apart when it falls due (and so is the next such one): the wait
        // is not dropped, since its claim may already be under way.
        let mut early: Option<Instant> = None;
        loop {
            tokio::select! {
                reply = &mut claim => {
                    let reply = reply.map_err(queue.at("wait for work"));
                    return Waited::Claimed(reply.and_then(|reply| queue.read_claimed(reply)));
                }
                notice = self.notices.recv(), if *listening => {
                    match notice {
                        None => *listening = false,
                        // (Flow control held nothing back: no matter.)
                        Some(Notice::Message { channel, .. }) if channel == self.config => {}
                        // A job delayed, or the subscription back (a delay
                        // may have been missed).
                        Some(_) => early = earliest(early, self.delayed_before(wake).await),
                    }
                }
                _ = tokio::time::sleep_until(early.unwrap_or_else(Instant::now)), if early.is_some() => {
                    let claimed = queue.claim_for(max, Some(&self.worker)).await;
                    let next = claimed.as_ref().ok().and_then(|claimed| claimed.next_due);
                    early = next.filter(|&at| wake.is_none_or(|w| at < w));
                    if self.hand_over(claimed, max).await.is_err() {
                        return Waited::Gone;
                    }
                }
            }
        }
    }

    /// After a delay notice: when the first delayed job falls due, if that
    /// is before `wake` (if the wait ends).
    async fn delayed_before(&mut self, wake: Option<Instant>) -> Option<Instant> {
        // One read covers every job delayed so far.
        self.notices.skip_queued();
        match self.queue.first_due().await {
            Ok(Some(at)) if wake.is_none_or(|w| at < w) => Some(at),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(
                    queue = self.queue.name(),
                    "reading the first delayed job failed: {e}"
                );
                None
            }
        }
    }

    /// Holds what a claim got and hands it to the worker. Errs when the
    /// worker has gone.
    async fn hand_over(&self, claimed: Result<Claimed>, max: usize) -> std::result::Result<(), ()> {
        let woke = match claimed {
            Ok(claimed) => {
                self.state.claimed(&claimed, max);
                Woke {
                    lane: self.lane,
                    more: claimed.jobs.len() == max,
                    jobs: claimed.jobs,
                }
            }
            Err(e) => {
                tracing::warn!(queue = self.queue.name(), "waiting for work failed: {e}");
                // Not at once: the claim this brings would fail the same way.
                tokio::time::sleep(Duration::from_millis(200)).await;
                self.state.more.store(true, Ordering::Relaxed);
                Woke {
                    lane: self.lane,
                    jobs: Vec::new(),
                    more: true,
                }
            }
        };
        self.woke.send(woke).map_err(drop)
    }
}
