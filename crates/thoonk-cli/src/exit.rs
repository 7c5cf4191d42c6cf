//! How the process ends: the exit codes, and the error that ends a command early.

use thoonk::Error;

/// The process's exit code; scripts tell a timeout from a failure by it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Exit {
    Done = 0,
    Failed = 1,
    /// Arguments that cannot be used: clap's usage errors, and what only
    /// the library can tell (a bad cron expression, an unknown zone).
    Usage = 2,
    /// A timeout passed with nothing claimed or finished.
    Timeout = 3,
}

/// An error that ends a command: the exit code, and the one line printed
/// on stderr. (Not `thoonk::Failure`, which is a job handler's failure.)
pub(crate) struct Fatal(pub(crate) Exit, pub(crate) String);

impl Fatal {
    /// Exit 1 with `message`, as it is.
    pub(crate) fn failed(message: String) -> Self {
        Fatal(Exit::Failed, message)
    }
}

impl From<Error> for Fatal {
    fn from(e: Error) -> Self {
        let exit = match e {
            Error::WaitTimeout { .. } => Exit::Timeout,
            Error::InvalidSchedule { .. } => Exit::Usage,
            _ => Exit::Failed,
        };
        Fatal(exit, one_line(&e.to_string()))
    }
}

impl From<std::io::Error> for Fatal {
    fn from(e: std::io::Error) -> Self {
        // Our stdout's reader went away (`thoonk list q stalled | head -1`):
        // the output is over, which is no failure. (Rust ignores SIGPIPE,
        // so a write says so instead of the process dying of it.)
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            return Fatal(Exit::Done, String::new());
        }
        Fatal::failed(one_line(&e.to_string()))
    }
}

/// Redis's and the OS's messages may span lines; stderr gets one per error.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
