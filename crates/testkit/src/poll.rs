//! The one poller, for what no event announces (a condition in Redis, a
//! line a child process logs, a page in a browser): one deadline, one
//! interval, a sync form ([`until`]) and an async form for tokio tests
//! ([`eventually`]) sharing one piece of deadline logic; forms that give up
//! only when progress stops ([`until_progressing`],
//! [`eventually_progressing`]), for bulk work whose total time is the
//! machine's business; and [`within`], a future bounded the same way.

use std::fmt::Debug;
use std::future::Future;
use std::time::{Duration, Instant};

/// How long anything a test waits for may take before the test gives up.
///
/// It only bounds a hang; it never decides an outcome. What a test waits
/// for comes in milliseconds when all is well, and when it never comes the
/// test fails either way: a longer bound costs time only in a failing run.
/// So it is long: a minute, room enough for a loaded two-core CI machine
/// that runs every test binary at once (each with its own redis-servers and
/// child processes). A test that needs a time to decide an outcome keeps a
/// bound of its own, with the reason beside it, or a manual clock.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// How often a condition is checked again: soon enough that a test goes on
/// right after it holds, seldom enough not to keep the server it asks busy.
pub const INTERVAL: Duration = Duration::from_millis(10);

/// When a wait gives up: `bound` after it began, or, when it watches
/// progress, after the progress it saw last changed. The one piece of
/// deadline logic every form here shares.
struct Deadline<P> {
    bound: Duration,
    /// The start, or the last time the progress changed.
    since: Instant,
    /// The progress seen last. For a plain condition it is `()` or the
    /// check's `false`, which never changes until the wait is over, so the
    /// bound runs from the start.
    last: Option<P>,
}

impl<P: PartialEq> Deadline<P> {
    fn new(bound: Duration) -> Self {
        Deadline {
            bound,
            since: Instant::now(),
            last: None,
        }
    }

    /// Notes `progress`; whether `bound` has passed since it last changed.
    fn passed(&mut self, progress: P) -> bool {
        if self.last.as_ref().is_some_and(|last| *last != progress) {
            self.since = Instant::now();
        }
        self.last = Some(progress);
        self.since.elapsed() > self.bound
    }
}

impl<P: PartialEq + Debug> Deadline<P> {
    /// One round of a test's wait: whether `now` is what `done` waits for;
    /// fails the test, saying `what` it waited for, once `bound` has passed
    /// without progress.
    #[track_caller]
    fn round(&mut self, what: &str, now: P, done: impl FnOnce(&P) -> bool) -> bool {
        if done(&now) {
            return true;
        }
        if self.passed(now) {
            panic!(
                "{what}: not so after {:?} without progress (last seen: {:?})",
                self.bound,
                self.last.as_ref().expect("just noted")
            );
        }
        false
    }
}

/// Calls `check` every [`INTERVAL`] until it returns `Some`, or `bound`
/// has passed: then `None`. For code that reports the timeout itself.
pub fn poll<T>(bound: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let mut deadline = Deadline::new(bound);
    loop {
        if let Some(done) = check() {
            return Some(done);
        }
        if deadline.passed(()) {
            return None;
        }
        std::thread::sleep(INTERVAL);
    }
}

/// Polls `check` until it says yes; fails the test, saying `what` it
/// waited for, once [`DEADLINE`] has passed.
#[track_caller]
pub fn until(what: &str, mut check: impl FnMut() -> bool) {
    until_progressing(what, &mut check, |&yes| yes);
}

/// Polls `progress` until `done` says yes to it; fails the test only when
/// the progress has not changed for [`DEADLINE`]. For bulk work (thousands
/// of jobs), whose total time depends on how loaded the machine is: what
/// matters is that it moves.
#[track_caller]
pub fn until_progressing<P: PartialEq + Debug>(
    what: &str,
    mut progress: impl FnMut() -> P,
    mut done: impl FnMut(&P) -> bool,
) {
    let mut deadline = Deadline::new(DEADLINE);
    while !deadline.round(what, progress(), &mut done) {
        std::thread::sleep(INTERVAL);
    }
}

/// [`until`] for tokio tests: polls the future `check` makes until it
/// resolves to yes; fails the test once [`DEADLINE`] has passed.
pub async fn eventually<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    eventually_progressing(what, check, |&yes| yes).await;
}

/// [`until_progressing`] for tokio tests.
pub async fn eventually_progressing<P, F, Fut>(
    what: &str,
    mut progress: F,
    mut done: impl FnMut(&P) -> bool,
) where
    P: PartialEq + Debug,
    F: FnMut() -> Fut,
    Fut: Future<Output = P>,
{
    let mut deadline = Deadline::new(DEADLINE);
    while !deadline.round(what, progress().await, &mut done) {
        tokio::time::sleep(INTERVAL).await;
    }
}

/// Awaits `fut`, failing the test if it takes longer than [`DEADLINE`].
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(DEADLINE, fut).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: still waiting after {DEADLINE:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_wait_runs_from_the_start() {
        let mut deadline = Deadline::new(Duration::from_millis(30));
        assert!(!deadline.passed(()));
        std::thread::sleep(Duration::from_millis(40));
        assert!(deadline.passed(()));
    }

    #[test]
    fn progress_starts_the_bound_afresh() {
        let mut deadline = Deadline::new(Duration::from_millis(30));
        assert!(!deadline.passed(1));
        std::thread::sleep(Duration::from_millis(40));
        assert!(!deadline.passed(2), "it moved");
        assert!(!deadline.passed(2));
        std::thread::sleep(Duration::from_millis(40));
        assert!(deadline.passed(2), "it stood still");
    }

    #[test]
    fn poll_returns_what_the_check_found_or_none() {
        let mut n = 0;
        let found = poll(DEADLINE, || {
            n += 1;
            (n == 3).then_some(n)
        });
        assert_eq!(found, Some(3));
        assert_eq!(poll(Duration::from_millis(20), || None::<()>), None);
    }

    #[test]
    fn until_progressing_waits_while_it_moves() {
        let mut n = 0;
        until_progressing(
            "counting",
            || {
                n += 1;
                n
            },
            |&n| n == 5,
        );
        assert_eq!(n, 5);
    }
}
