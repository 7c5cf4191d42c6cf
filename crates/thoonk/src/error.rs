//! The one error type: every refusal names the queue, the job and why.

use std::fmt;
use std::time::Duration;

/// What can go wrong with a queue operation.
///
/// Its `Debug` form is its message too, so that a `main` that returns
/// `thoonk::Result` prints what went wrong as a person reads it; match on
/// the variants for the details, or `{:#?}` adds the cause.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Redis could not be reached when connecting, or refused us.
    #[error("cannot connect to Redis at {url}: {source}{}", Hint(source, true))]
    Connect {
        /// The URL we tried (without its password).
        url: String,
        /// What the client said.
        source: redis::RedisError,
    },
    /// The Redis URL, or the TLS settings given with it, cannot be used.
    #[error("cannot use the Redis URL {}: {reason}", Shown(url))]
    InvalidUrl {
        /// The URL as given (without its password).
        url: String,
        /// Why, and what a good one looks like.
        reason: String,
    },
    /// A Redis command failed: the connection was lost, the server refused
    /// it (an ACL, out of memory, …), or it did not answer in time.
    #[error(
        "{op} failed{}: {source} (Redis at {server}){}",
        Where(queue, id),
        Hint(source, false)
    )]
    Redis {
        /// What we were doing: `publish`, `claim`, `finish`, ….
        op: &'static str,
        /// The queue it was about, if one.
        queue: Option<String>,
        /// The job it was about, if one.
        id: Option<String>,
        /// The Redis it went to (the URL, without its password).
        server: String,
        /// What the client said.
        source: redis::RedisError,
    },
    /// A part of this client that calls need has stopped: the client was
    /// dropped while a call or subscription still used it.
    #[error("{what} has stopped")]
    Stopped {
        /// Which part.
        what: &'static str,
    },
    /// The queue name cannot be used.
    #[error("invalid queue name {}: {reason}", Shown(name))]
    InvalidName {
        /// The name as given.
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// On a Redis Cluster, a queue name without a `{tag}`.
    #[error(
        "queue {} has no {{tag}}: on a Redis Cluster all keys of a queue must live in one hash slot, \
         and Redis hashes only the {{tag}} of a name; name it {}",
        Shown(name),
        Shown(&format!("{{{name}}}"))
    )]
    Untagged {
        /// The name as given.
        name: String,
    },
    /// The job id cannot be used.
    #[error("invalid job id {} for queue {queue}: {reason}", Shown(id))]
    InvalidId {
        /// The queue.
        queue: String,
        /// The id as given.
        id: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A publish asked for replicas that did not all acknowledge it in time.
    #[error(
        "published {} to queue {queue}, but only {reached} of {wanted} replicas had it within {timeout:?}: \
         it is queued, yet a failover now could lose it",
        ids_shown(ids)
    )]
    NotReplicated {
        /// The queue.
        queue: String,
        /// The jobs published.
        ids: Vec<String>,
        /// The replicas asked for.
        wanted: u32,
        /// The replicas that acknowledged.
        reached: u32,
        /// How long the publish waited for them.
        timeout: std::time::Duration,
    },
    /// A worker that cannot run as asked.
    #[error("invalid worker: {reason}")]
    InvalidWorker {
        /// Why.
        reason: String,
    },
    /// There is no job with this id in the queue.
    #[error("{op} refused: job {id} in queue {queue} does not exist")]
    NotFound {
        /// What was refused: `finish`, `retry`, `retract`, ….
        op: &'static str,
        /// The queue.
        queue: String,
        /// The job.
        id: String,
    },
    /// The job is not in the state the operation needs.
    #[error("{op} refused: job {id} in queue {queue} is not {needed} (it is {actual})")]
    WrongState {
        /// What was refused: `finish`, `cancel`, `stall`, `retry`.
        op: &'static str,
        /// The queue.
        queue: String,
        /// The job.
        id: String,
        /// The state the operation needs.
        needed: crate::State,
        /// The state the job is in.
        actual: crate::State,
    },
    /// The claim this token belongs to was taken back (its lease ran out
    /// and the job was recovered, maybe claimed again): its holder may no
    /// longer finish, cancel or stall the job.
    #[error(
        "{op} refused: job {id} in queue {queue}: claim {} no longer holds; {}",
        Claim(token),
        Now(actual)
    )]
    StaleClaim {
        /// What was refused: `finish`, `cancel` or `stall`.
        op: &'static str,
        /// The queue.
        queue: String,
        /// The job.
        id: String,
        /// The token presented.
        token: String,
        /// The state the job is in now.
        actual: crate::State,
    },
    /// A number asked for is beyond its bound (see the `MAX_…` constants):
    /// refused before anything was sent.
    #[error("{op} refused on queue {queue}: {field} {value} is out of range ({limit})")]
    OutOfRange {
        /// What was refused: `publish`, `claim`, `cancel`, ….
        op: &'static str,
        /// The queue.
        queue: String,
        /// The number's name, as the API calls it: `delay`, `keep_result`, ….
        field: &'static str,
        /// The number asked for.
        value: String,
        /// Its bound: `at most 365 days`, ….
        limit: String,
    },
    /// A schedule that cannot be added as asked: its name, its cron
    /// expression, its zone, its period or its item is not one that can be
    /// used (the reason says which, and why).
    #[error("schedule {} on queue {queue} refused: {reason}", Shown(name))]
    InvalidSchedule {
        /// The queue.
        queue: String,
        /// The schedule's name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A schedule refused because the queue has as many as it may
    /// ([`MAX_SCHEDULES`](crate::MAX_SCHEDULES)).
    #[error(
        "schedule {} on queue {queue} refused: the queue has {max} schedules, the most it may have; \
         remove one first",
        Shown(name)
    )]
    TooManySchedules {
        /// The queue.
        queue: String,
        /// The schedule's name.
        name: String,
        /// The most schedules a queue may have.
        max: usize,
    },
    /// Publishing refused: a job with this id already exists in the queue.
    #[error("job {id} already exists in queue {queue}; publish refused")]
    AlreadyExists {
        /// The queue.
        queue: String,
        /// The job.
        id: String,
    },
    /// Publishing refused: the id was published with a unique window
    /// ([`Publish::unique_for`](crate::Publish::unique_for)) that has not
    /// ended yet, whether or not that job is still in the queue.
    #[error(
        "job {id} was published to queue {queue} within its unique window, which ends in {}; publish refused",
        crate::error::seconds(*left)
    )]
    InUniqueWindow {
        /// The queue.
        queue: String,
        /// The job.
        id: String,
        /// How long until the id may be published again.
        left: Duration,
    },
    /// A claimed job's payload did not decode into the type asked for. The
    /// job stays claimed by the caller, who may stall or cancel it with
    /// `id` and `token`.
    #[error("job {id} in queue {queue}: payload does not decode as {type_name}: {source}")]
    Decode {
        /// The queue.
        queue: String,
        /// The job.
        id: String,
        /// The token of the claim that fetched it.
        token: String,
        /// The Rust type asked for.
        type_name: &'static str,
        /// The decoder's complaint.
        source: serde_json::Error,
    },
    /// A value could not be encoded as JSON.
    #[error("cannot encode job for queue {queue} as JSON: {source}")]
    Encode {
        /// The queue.
        queue: String,
        /// The encoder's complaint.
        source: serde_json::Error,
    },
    /// A job awaited with `publish_and_wait` did not finish in time. Once
    /// published, it is still in the queue; the wait is what ended.
    #[error(
        "job {id} in queue {queue} {} within {timeout:?}",
        if *published { "did not finish" } else { "was not published (Redis did not answer)" }
    )]
    WaitTimeout {
        /// The queue.
        queue: String,
        /// The job.
        id: String,
        /// How long we waited.
        timeout: Duration,
        /// Whether the publish went through before the time ran out.
        published: bool,
    },
    /// A job awaited with `publish_and_wait` was retracted instead of
    /// finishing.
    #[error("job {id} in queue {queue} was retracted before it finished")]
    Retracted {
        /// The queue.
        queue: String,
        /// The job.
        id: String,
    },
    /// A job awaited with `publish_and_wait` was stalled instead of
    /// finishing: set aside until someone retries it (`thoonk retry`).
    #[error(
        "job {id} in queue {queue} was stalled before it finished{}",
        reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default()
    )]
    Stalled {
        /// The queue.
        queue: String,
        /// The job.
        id: String,
        /// Why, when a reason was given (a handler's permanent failure).
        reason: Option<String>,
    },
    /// The result of a job awaited with `publish_json_and_wait` did not
    /// decode into the type asked for. The job is finished.
    #[error("job {id} in queue {queue}: its result does not decode as {type_name}: {source}")]
    DecodeResult {
        /// The queue.
        queue: String,
        /// The job.
        id: String,
        /// The Rust type asked for.
        type_name: &'static str,
        /// The decoder's complaint.
        source: serde_json::Error,
    },
}

impl Error {
    /// A Redis error of `op`, on `queue` (and job `id`), at `server`.
    pub(crate) fn redis(
        op: &'static str,
        queue: Option<&str>,
        id: Option<&str>,
        server: &str,
        source: redis::RedisError,
    ) -> Error {
        Error::Redis {
            op,
            queue: queue.map(str::to_string),
            id: id.map(str::to_string),
            server: server.to_string(),
            source,
        }
    }

    /// Whether trying again may mend it (a connection lost, a server still
    /// loading, a failover), rather than repeat it (a script error, a
    /// refusal).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Redis { source, .. } | Error::Connect { source, .. } => {
                !matches!(source.retry_method(), redis::RetryMethod::NoRetry)
            }
            Error::Stopped { .. } => true,
            _ => false,
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")?;
        if f.alternate() {
            if let Some(source) = std::error::Error::source(self) {
                write!(f, "\n\ncaused by: {source:?}")?;
            }
        }
        Ok(())
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where the job of a stale claim is now.
struct Now<'a>(&'a crate::State);

impl fmt::Display for Now<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            crate::State::Claimed => f.write_str("the job was taken back and claimed again"),
            state => write!(f, "the job is {state} now"),
        }
    }
}

/// A claim as an error names it: its token without the claim time it
/// carries (`N-MS.ID…` reads `N.ID…`), so that the same refusal reads the
/// same every time.
struct Claim<'a>(&'a str);

impl fmt::Display for Claim<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let token = self.0;
        let timed = token.split_once('.').and_then(|(n, _)| {
            let (number, ms) = n.split_once('-')?;
            let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
            (digits(number) && digits(ms)).then_some((number, n.len()))
        });
        match timed {
            Some((number, prefix)) => write!(f, "{number}{}", &token[prefix..]),
            None => f.write_str(token),
        }
    }
}

/// Shows a user-given string in an error, cut short when it is absurdly long
/// (an error line should not carry a megabyte of id).
struct Shown<'a>(&'a str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MAX: usize = 60;
        if self.0.len() <= MAX {
            write!(f, "{:?}", self.0)
        } else {
            let mut end = MAX;
            while !self.0.is_char_boundary(end) {
                end -= 1;
            }
            write!(f, "{:?}… ({} bytes)", &self.0[..end], self.0.len())
        }
    }
}

/// ` on queue Q, job J`, as much of it as is known (as the refusals name
/// them: plain).
struct Where<'a>(&'a Option<String>, &'a Option<String>);

impl fmt::Display for Where<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(queue) = self.0 {
            write!(f, " on queue {queue}")?;
        }
        if let Some(id) = self.1 {
            write!(f, ", job {id}")?;
        }
        Ok(())
    }
}

/// What to do about a Redis error, when there is something to do: `; `
/// and the advice, or nothing. The flag says whether it came while
/// connecting (else, on a connection that worked before).
struct Hint<'a>(&'a redis::RedisError, bool);

impl fmt::Display for Hint<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use redis::{ErrorKind, ServerErrorKind};
        let Hint(e, connecting) = *self;
        let hint = if e.is_connection_refusal() {
            "is redis-server running at that address?"
        } else if e.to_string().contains("certificate") {
            "the server's TLS certificate is not one we trust: give the CA that \
             signed it (Thoonk::connect_tls, or the CLI's --tls-ca)"
        } else if e.is_timeout() {
            "Redis did not answer in time: is it overloaded, or frozen?"
        } else if (e.is_connection_dropped() || e.is_io_error()) && !connecting {
            "the connection was lost; the client reconnects by itself: try again"
        } else {
            match e.kind() {
                ErrorKind::AuthenticationFailed => "check the user and password in the URL",
                _ if e.code() == Some("NOAUTH") => {
                    "this Redis wants a password: put it in the URL \
                     (redis://:PASSWORD@HOST, or redis://USER:PASSWORD@HOST)"
                }
                ErrorKind::Server(ServerErrorKind::ReadOnly) => {
                    "this Redis is a replica: connect to its master"
                }
                ErrorKind::Server(ServerErrorKind::BusyLoading) => {
                    "Redis is loading its data: try again in a moment"
                }
                ErrorKind::Server(ServerErrorKind::TryAgain | ServerErrorKind::ClusterDown) => {
                    "the cluster is moving slots or failing over: try again"
                }
                ErrorKind::InvalidClientConfig => "check the URL",
                ErrorKind::Server(ServerErrorKind::NoPerm) => {
                    "the ACL user lacks a permission: it needs the queue's keys (~job.*), \
                     channels (&event.job.*) and the commands the scripts run"
                }
                _ if e.code() == Some("OOM") => {
                    "Redis is out of memory (maxmemory): free some, or raise the limit"
                }
                _ => return Ok(()),
            }
        };
        write!(f, "; {hint}")
    }
}

/// A duration as a message says it: `42 s`, `0.4 s`.
pub(crate) fn seconds(d: Duration) -> String {
    if d >= Duration::from_secs(10) {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// `job a` or `3 jobs (a, b, …)`, short whatever the batch.
fn ids_shown(ids: &[String]) -> String {
    match ids {
        [one] => format!("job {one}"),
        _ => format!(
            "{} jobs ({}{})",
            ids.len(),
            ids.iter().take(3).cloned().collect::<Vec<_>>().join(", "),
            if ids.len() > 3 { ", …" } else { "" }
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::Claim;

    #[test]
    fn a_claim_is_named_without_its_time() {
        assert_eq!(Claim("12-1700000000000.a.b@w").to_string(), "12.a.b@w");
        // An older token, or an id with a '-' of its own: as it is.
        assert_eq!(Claim("12.a-1.b").to_string(), "12.a-1.b");
        assert_eq!(Claim("x-1.a").to_string(), "x-1.a");
    }
}
