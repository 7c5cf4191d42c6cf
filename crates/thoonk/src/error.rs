//! The one error type: every refusal names the queue, the job and why.

use std::fmt;
use std::time::Duration;

/// What can go wrong with a queue operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Redis could not be reached when connecting.
    #[error("cannot reach Redis at {url}: {source}")]
    Connect {
        /// The URL we tried (without its password).
        url: String,
        /// What the client said.
        source: redis::RedisError,
    },
    /// A Redis command failed (connection lost, server error, …).
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
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
    #[error("job {id} in queue {queue} does not exist")]
    NotFound {
        /// The queue.
        queue: String,
        /// The job.
        id: String,
    },
    /// The job is not in the state the operation needs.
    #[error("job {id} in queue {queue} is not {needed} (it is {actual})")]
    WrongState {
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
        "job {id} in queue {queue}: claim {token} no longer holds; the job was taken back and {}",
        Now(actual)
    )]
    StaleClaim {
        /// The queue.
        queue: String,
        /// The job.
        id: String,
        /// The token presented.
        token: String,
        /// The state the job is in now.
        actual: crate::State,
    },
    /// Publishing refused: a job with this id already exists in the queue.
    #[error("job {id} already exists in queue {queue}; publish refused")]
    AlreadyExists {
        /// The queue.
        queue: String,
        /// The job.
        id: String,
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
    /// A job awaited with `publish_and_wait` did not finish in time. It is
    /// still in the queue.
    #[error("job {id} in queue {queue} did not finish within {timeout:?}")]
    WaitTimeout {
        /// The queue.
        queue: String,
        /// The job.
        id: String,
        /// How long we waited.
        timeout: Duration,
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
}

impl Error {
    /// A part of this client that calls need has stopped (a background
    /// task, a subscription): an I/O error, as a lost connection is.
    pub(crate) fn stopped(what: &'static str) -> Error {
        Error::Redis(redis::RedisError::from((redis::ErrorKind::Io, what)))
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where a job taken back from a stale claim is now.
struct Now<'a>(&'a crate::State);

impl fmt::Display for Now<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            crate::State::Claimed => f.write_str("claimed again"),
            state => write!(f, "is {state} now"),
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
