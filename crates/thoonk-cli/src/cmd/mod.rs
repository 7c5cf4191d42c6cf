//! One module per subcommand: its flags (an `Args` struct) beside its `run`.

pub(crate) mod bench; // measure publish, process, latency; --scale: each op by queue size
pub(crate) mod cancel; // give a claimed job back, one cancel more
pub(crate) mod config; // change a queue's settings, print them all
pub(crate) mod dashboard; // serve the web dashboard (`crate::dashboard`)
pub(crate) mod events; // print a queue's events as they happen
pub(crate) mod finish; // finish a claimed job, optionally with a result
pub(crate) mod get; // claim one job
pub(crate) mod list; // print the jobs in one state
pub(crate) mod pause; // stop claims of a queue
pub(crate) mod progress; // a claimed job reports how far it got
pub(crate) mod publish; // queue a job, and maybe wait for its result
pub(crate) mod resume; // let claims of a paused queue go on
pub(crate) mod retract; // delete a job, whatever its state
pub(crate) mod retry; // put a stalled job back in its queue
pub(crate) mod schedule; // add, list and remove a queue's schedules
pub(crate) mod stall; // set a claimed job aside until retried
pub(crate) mod stats; // print a queue's counts
pub(crate) mod work; // run a command once per claimed job
