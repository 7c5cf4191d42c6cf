//! `thoonk work` in the background: its worker id (read from its first log
//! line), its log lines as they come, and the signals the crash tests send
//! it (SIGKILL through `Child::kill`; SIGSTOP, SIGCONT and SIGTERM through
//! the `kill` command). Killed on drop, like every child of these tests.

use super::{wait_for_exit, Guard, Redis};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Instant;
use thoonk_testkit::poll::DEADLINE;

/// A running `thoonk work`.
pub(crate) struct WorkerProcess {
    child: Guard,
    pid: u32,
    id: String,
    /// Its log lines so far; the condvar is notified at each new one, so
    /// a test reacts to a line at once.
    lines: Arc<(Mutex<Vec<String>>, Condvar)>,
    reader: Option<JoinHandle<()>>,
}

/// What `work` logged when it stopped: its `Report`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Report {
    pub(crate) finished: u64,
    pub(crate) failed: u64,
    pub(crate) stalled: u64,
    pub(crate) released: u64,
    pub(crate) refused: u64,
}

/// How a `work` process ended.
#[derive(Debug)]
pub(crate) struct Exited {
    /// The exit code; `None` when a signal ended it.
    pub(crate) code: Option<i32>,
    /// Everything it logged.
    pub(crate) stderr: String,
}

impl Exited {
    /// The counts of its last "stopped" line.
    #[track_caller]
    pub(crate) fn report(&self) -> Report {
        let line = self
            .stderr
            .lines()
            .rev()
            .find(|l| l.contains(" stopped "))
            .unwrap_or_else(|| panic!("no \"stopped\" line in the log:\n{}", self.stderr));
        let field = |name: &str| -> u64 {
            let start = line
                .find(&format!(" {name}="))
                .unwrap_or_else(|| panic!("no {name}= in {line:?}"))
                + name.len()
                + 2;
            line[start..]
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{name} is not a count in {line:?}"))
        };
        Report {
            finished: field("finished"),
            failed: field("failed"),
            stalled: field("stalled"),
            released: field("released"),
            refused: field("refused"),
        }
    }
}

impl WorkerProcess {
    /// Starts `thoonk work QUEUE OPTIONS… -- COMMAND…` with `env` added to
    /// its environment, and waits (up to [`DEADLINE`]) for its first log line,
    /// which names its worker id.
    #[track_caller]
    pub(crate) fn start(
        redis: &Redis,
        queue: &str,
        options: &[&str],
        command: &[&str],
        env: &[(&str, &str)],
    ) -> WorkerProcess {
        Self::spawn(work_command(redis, queue, options, command, env))
    }

    /// Starts `cmd` (a `thoonk … work …` command line), and waits (up to
    /// [`DEADLINE`]) for its first log line, which names its worker id. It logs
    /// at the level `cmd` gives: plain "info" unless it sets `RUST_LOG`
    /// ([`super::command`] leaves out the user's).
    #[track_caller]
    pub(crate) fn spawn(cmd: Command) -> WorkerProcess {
        let mut worker = Self::launch(cmd);
        worker.wait_ready();
        worker
    }

    /// Starts `n` workers at once, then waits until each has logged its
    /// id: their heartbeats tick nearly in step.
    #[track_caller]
    pub(crate) fn start_together(
        n: usize,
        redis: &Redis,
        queue: &str,
        options: &[&str],
        command: &[&str],
        env: &[(&str, &str)],
    ) -> Vec<WorkerProcess> {
        let mut workers: Vec<WorkerProcess> = (0..n)
            .map(|_| Self::launch(work_command(redis, queue, options, command, env)))
            .collect();
        for worker in &mut workers {
            worker.wait_ready();
        }
        workers
    }

    fn launch(mut cmd: Command) -> WorkerProcess {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = Guard(cmd.spawn().expect("spawn thoonk work"));
        let pid = child.0.id();
        let stderr = child.0.stderr.take().expect("piped stderr");
        let lines = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let reader = {
            let lines = lines.clone();
            thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    lines.0.lock().unwrap().push(line);
                    lines.1.notify_all();
                }
            })
        };
        WorkerProcess {
            child,
            pid,
            id: String::new(),
            lines,
            reader: Some(reader),
        }
    }

    /// Waits for the first log line, and reads the worker id from it.
    #[track_caller]
    fn wait_ready(&mut self) {
        let first = self.wait_for_log("worker=\"");
        let start = first.find("worker=\"").expect("found") + "worker=\"".len();
        let len = first[start..].find('"').expect("a closing quote");
        self.id = first[start..start + len].to_string();
        assert!(!self.id.is_empty(), "{first}");
    }

    /// The worker id: its claims' tokens end in `@id`.
    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    /// The process id of the `thoonk work` process.
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// What it logged so far.
    pub(crate) fn log(&self) -> String {
        self.lines.0.lock().unwrap().join("\n")
    }

    /// Waits until a log line contains `needle`; returns that line. Fails
    /// the test after [`DEADLINE`]. Each new line wakes it (no polling).
    #[track_caller]
    pub(crate) fn wait_for_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + DEADLINE;
        let (lines, more) = &*self.lines;
        let mut lines = lines.lock().unwrap();
        loop {
            if let Some(line) = lines.iter().find(|l| l.contains(needle)) {
                return line.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "worker {} logged no line containing {needle:?} within {DEADLINE:?}; its log:\n{}",
                self.id,
                lines.join("\n")
            );
            lines = more.wait_timeout(lines, left).unwrap().0;
        }
    }

    /// SIGKILL (what `Child::kill` sends), then reaps the process.
    pub(crate) fn kill(&mut self) {
        self.child.0.kill().expect("SIGKILL thoonk work");
        self.child.0.wait().expect("reap thoonk work");
    }

    /// Sends `signal` ("STOP", "CONT", "TERM", …) with the `kill` command.
    #[track_caller]
    pub(crate) fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid.to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} {} failed", self.pid);
    }

    /// Asks it to stop (SIGTERM) and waits (up to [`DEADLINE`]) for it to exit.
    #[track_caller]
    pub(crate) fn terminate(self) -> Exited {
        self.signal("TERM");
        self.exit()
    }

    /// Waits (up to [`DEADLINE`]) for the process to exit; fails the test
    /// if it does not.
    #[track_caller]
    pub(crate) fn exit(mut self) -> Exited {
        let status = wait_for_exit(&mut self.child.0, DEADLINE).unwrap_or_else(|| {
            panic!(
                "worker {} did not exit within {DEADLINE:?}; its log:\n{}",
                self.id,
                self.log()
            )
        });
        self.reader.take().expect("once").join().expect("reader");
        Exited {
            code: status.code(),
            stderr: self.log(),
        }
    }
}

/// `thoonk work QUEUE OPTIONS… -- COMMAND…` on `redis`, with `env` added to
/// its environment.
pub(crate) fn work_command(
    redis: &Redis,
    queue: &str,
    options: &[&str],
    command: &[&str],
    env: &[(&str, &str)],
) -> Command {
    let mut args = vec!["work", queue];
    args.extend_from_slice(options);
    args.push("--");
    args.extend_from_slice(command);
    let mut cmd = redis.command(&args);
    cmd.envs(env.iter().copied());
    cmd
}
