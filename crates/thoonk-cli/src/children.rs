//! The commands `thoonk work` runs, kept from outliving it: each runs in a
//! process group of its own, stopped with everything it started when its
//! job's run is dropped (shutdown or a timeout past the grace), and by a
//! guard process when `work` itself dies, even of SIGKILL.
//!
//! The guard is a second `thoonk` process (`thoonk guard`, hidden) that
//! reads a pipe from `work`: `+PGID` when a command starts, `-PGID` when it
//! is over. When the pipe closes, `work` is gone, however it went: the
//! guard stops the groups still listed (SIGTERM, then SIGKILL to those
//! still there half a second later) and exits.

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::collections::BTreeSet;
use std::io::{BufRead, Write};
use std::os::unix::process::CommandExt;
use std::process::{ChildStdin, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long the guard lets the commands of a dead `work` stop on SIGTERM
/// before it kills them.
const TERM_GRACE: Duration = Duration::from_millis(500);

/// `work`'s end of the pipe to its guard process.
pub(crate) struct Guard {
    pipe: Mutex<Option<ChildStdin>>,
    process: Mutex<std::process::Child>,
}

impl Guard {
    /// Starts the guard process.
    pub(crate) fn start() -> std::io::Result<Arc<Guard>> {
        let mut process = std::process::Command::new(std::env::current_exe()?)
            .arg("guard")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            // Its own group: a Ctrl-C in a terminal goes to `work`, which
            // stops gracefully, not to the guard.
            .process_group(0)
            .spawn()?;
        let pipe = process.stdin.take();
        Ok(Arc::new(Guard {
            pipe: Mutex::new(pipe),
            process: Mutex::new(process),
        }))
    }

    /// Watches the process group `pgid` of a command just started, until
    /// the returned value says it is over or is dropped.
    pub(crate) fn watch(self: &Arc<Self>, pgid: u32) -> Watched {
        self.tell(&format!("+{pgid}"));
        Watched {
            guard: self.clone(),
            pgid,
            over: false,
        }
    }

    fn tell(&self, line: &str) {
        let mut pipe = self.pipe.lock().unwrap();
        let Some(stdin) = pipe.as_mut() else { return };
        if let Err(e) = writeln!(stdin, "{line}") {
            tracing::warn!("the guard of our commands is gone ({e}): if this process dies, they may outlive it");
            *pipe = None;
        }
    }

    /// Closes the pipe (the guard stops what is still listed: nothing, when
    /// every command is over) and waits for the guard to exit.
    pub(crate) fn stop(&self) {
        self.pipe.lock().unwrap().take();
        let _ = self.process.lock().unwrap().wait();
    }
}

/// A command's process group, watched by the guard.
pub(crate) struct Watched {
    guard: Arc<Guard>,
    pgid: u32,
    over: bool,
}

impl Watched {
    /// Asks the command's whole group to stop (SIGTERM): its job's timeout
    /// passed. One still there when the grace runs out gets SIGKILL, when
    /// the job's run is dropped.
    pub(crate) fn terminate(&self) {
        let _ = killpg(Pid::from_raw(self.pgid as i32), Signal::SIGTERM);
    }

    /// The command exited: its group is no longer the guard's to stop
    /// (anything it left running in the background was its own choice).
    pub(crate) fn over(mut self) {
        self.over = true;
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        if !self.over {
            // The job's run was dropped with its command still running (the
            // grace after a shutdown or a timeout ran out): the command
            // must not outlive the claim it works under.
            let _ = killpg(Pid::from_raw(self.pgid as i32), Signal::SIGKILL);
        }
        self.guard.tell(&format!("-{}", self.pgid));
    }
}

/// `thoonk guard`: reads `+PGID`/`-PGID` lines until its stdin closes,
/// then stops the groups still listed.
pub(crate) fn guard() {
    let mut groups = BTreeSet::new();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let (sign, pgid) = line.split_at(line.len().min(1));
        match (sign, pgid.parse::<i32>()) {
            ("+", Ok(pgid)) if pgid > 1 => {
                groups.insert(pgid);
            }
            ("-", Ok(pgid)) => {
                groups.remove(&pgid);
            }
            _ => {}
        }
    }
    if groups.is_empty() {
        return;
    }
    for &pgid in &groups {
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGTERM);
    }
    std::thread::sleep(TERM_GRACE);
    for &pgid in &groups {
        // Signal 0 asks whether any of the group is left.
        if killpg(Pid::from_raw(pgid), None).is_ok() {
            let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
        }
    }
}
