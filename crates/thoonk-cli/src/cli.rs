//! The command line, as clap structs: the `///` comments are the help text.

use clap::{Parser, Subcommand};
use thoonk::State;

/// Thoonk Jobs: Redis-backed job queues, from a terminal.
#[derive(Debug, Parser)]
#[command(name = "thoonk", version)]
pub(crate) struct Cli {
    /// Redis URL; with --cluster, a seed node of the cluster (repeat it, or
    /// separate URLs with commas, to give several). rediss:// for TLS;
    /// redis://USER:PASSWORD@HOST logs in as an ACL user (better given in
    /// THOONK_REDIS_URL, where other users' `ps` does not show it).
    #[arg(
        long,
        global = true,
        env = "THOONK_REDIS_URL",
        // --help would show the environment's URL, password and all.
        hide_env_values = true,
        default_value = "redis://127.0.0.1:6379"
    )]
    pub(crate) redis: Vec<String>,

    /// With rediss:// URLs: trust only the CA certificates in FILE (PEM)
    /// to have signed the server's, instead of the system's CAs.
    #[arg(long, global = true, env = "THOONK_TLS_CA", value_name = "FILE")]
    pub(crate) tls_ca: Option<std::path::PathBuf>,

    /// Talk to a Redis Cluster: the --redis URLs are seed nodes, and queue
    /// names need a {tag}.
    #[arg(
        long,
        global = true,
        env = "THOONK_CLUSTER",
        value_parser = clap::builder::FalseyValueParser::new()
    )]
    pub(crate) cluster: bool,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Publish a job; prints its id (and with --wait, then its result).
    Publish {
        /// The queue.
        queue: String,
        /// The payload; read from stdin when absent or "-".
        item: Option<String>,
        /// Use this job id instead of a generated one.
        #[arg(long)]
        id: Option<String>,
        /// Put the job at the front of the queue.
        #[arg(long)]
        priority: bool,
        /// Make the job available only after SECS (it is "delayed" until then).
        #[arg(long, value_name = "SECS")]
        delay: Option<f64>,
        /// Wait until the job finishes and print its result.
        #[arg(long)]
        wait: bool,
        /// With --wait: give up after SECS (0: wait forever).
        #[arg(long, value_name = "SECS", requires = "wait", default_value_t = 0.0)]
        timeout: f64,
        /// Succeed only once N replicas of the queue's Redis have the job
        /// (WAIT); fails (exit 1) when they do not within --replicas-timeout.
        #[arg(long, value_name = "N")]
        replicas: Option<u32>,
        /// With --replicas: how long to wait for them.
        #[arg(
            long,
            value_name = "SECS",
            requires = "replicas",
            default_value_t = 1.0
        )]
        replicas_timeout: f64,
    },
    /// Claim one job; prints {"id","item","cancelled","token"} as one JSON line.
    Get {
        /// The queue.
        queue: String,
        /// Give up after SECS (0: wait forever).
        #[arg(long, value_name = "SECS", default_value_t = 0.0)]
        timeout: f64,
    },
    /// Finish a claimed job, optionally with a result.
    Finish {
        /// The queue.
        queue: String,
        /// The job id.
        id: String,
        /// The result, handed to whoever waits for the job.
        result: Option<String>,
        /// The claim token from `get`: refused if the job was claimed again since.
        #[arg(long)]
        token: Option<String>,
    },
    /// Cancel a claimed job: back to the queue, its cancel count grows.
    Cancel {
        /// The queue.
        queue: String,
        /// The job id.
        id: String,
        /// The claim token from `get`.
        #[arg(long)]
        token: Option<String>,
    },
    /// Stall a claimed job: set aside until retried.
    Stall {
        /// The queue.
        queue: String,
        /// The job id.
        id: String,
        /// The claim token from `get`.
        #[arg(long)]
        token: Option<String>,
    },
    /// Put a stalled job back in the queue.
    Retry {
        /// The queue.
        queue: String,
        /// The job id.
        id: String,
    },
    /// Delete a job, in whatever state it is.
    Retract {
        /// The queue.
        queue: String,
        /// The job id.
        id: String,
    },
    /// Show the counts of a queue.
    Stats {
        /// The queue.
        queue: String,
        /// One JSON object instead of plain lines.
        #[arg(long)]
        json: bool,
    },
    /// List the jobs in one state: available, claimed, stalled or delayed.
    List {
        /// The queue.
        queue: String,
        /// available | claimed | stalled | delayed
        state: State,
        /// A JSON array instead of plain lines.
        #[arg(long)]
        json: bool,
    },
    /// Print the queue's events as they happen, one JSON line each.
    Events {
        /// The queue.
        queue: String,
    },
    /// Serve a live web dashboard of every queue (and /metrics for
    /// Prometheus).
    Dashboard {
        /// Where to listen. Any address but loopback needs a --token.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7070")]
        listen: String,
        /// Every page and API call then needs it: a login form sets a
        /// cookie; API clients send `Authorization: Bearer TOKEN`.
        #[arg(long, env = "THOONK_DASHBOARD_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
    /// Measure publish, process and latency, with Redis's CPU and memory per job.
    ///
    /// Each phase runs on a fresh queue of its own (QUEUE.publish_single, …);
    /// bench refuses to run when one of them is not empty.
    Bench {
        /// The queue name the phases' queues are named after.
        #[arg(long, default_value = "bench")]
        queue: String,
        /// Jobs for the bulk publish and process phases.
        #[arg(long, value_name = "N", default_value_t = 50_000)]
        jobs: usize,
        /// Jobs for the one-by-one publish phase.
        #[arg(long, value_name = "N", default_value_t = 20_000)]
        single: usize,
        /// The worker's concurrency in the process and latency phases.
        #[arg(long, value_name = "C", default_value_t = 50)]
        concurrency: usize,
        /// Jobs for the latency phase.
        #[arg(long, value_name = "N", default_value_t = 5_000)]
        latency_jobs: usize,
        /// Publish rate of the latency phase, jobs per second.
        #[arg(long, value_name = "R", default_value_t = 1000.0)]
        rate: f64,
        /// Payload size, about.
        #[arg(long, value_name = "B", default_value_t = 95)]
        payload_bytes: usize,
        /// One JSON line instead of plain lines.
        #[arg(long)]
        json: bool,
    },
    /// Run COMMAND once per claimed job, until SIGTERM or SIGINT.
    ///
    /// The job's item is COMMAND's stdin; THOONK_QUEUE, THOONK_JOB_ID and
    /// THOONK_CANCELLED are in its environment. Exit 0 finishes the job with
    /// COMMAND's stdout (one trailing newline trimmed) as the result; any
    /// other exit cancels it, to come back after a backoff, with the tail of
    /// stderr kept as the reason. On a signal, no more jobs are claimed,
    /// running ones get --grace seconds, and what is left goes back to the
    /// queue.
    Work {
        /// The queue; name several to serve them all, the first first
        /// (strict order) unless --weights is given.
        #[arg(required = true, num_args = 1.., value_name = "QUEUE")]
        queues: Vec<String>,
        /// Share slots among the queues by weight instead, one weight per
        /// queue: "3,1" gives the first about three jobs to the second's one.
        #[arg(long, value_name = "W,W,…", value_delimiter = ',')]
        weights: Option<Vec<u32>>,
        /// How many jobs to run at once.
        #[arg(long, value_name = "N", default_value_t = 1)]
        concurrency: usize,
        /// Set the queue's lease: a claim not extended for SECS is taken back.
        #[arg(long, value_name = "SECS")]
        lease: Option<f64>,
        /// Set the queue's max_cancels: a job cancelled more often is stalled.
        #[arg(long, value_name = "N")]
        max_cancels: Option<u64>,
        /// Seconds running jobs may take to finish after a shutdown signal.
        #[arg(long, value_name = "SECS", default_value_t = 10.0)]
        grace: f64,
        /// The command and its arguments.
        #[arg(last = true, required = true, value_name = "COMMAND")]
        command: Vec<String>,
    },
}

impl Cli {
    /// The Redis URLs given: each --redis (or THOONK_REDIS_URL) may list
    /// several, separated by commas. A comma starts a new URL only before a
    /// scheme, so one inside a password stays where it is.
    pub(crate) fn urls(&self) -> Vec<String> {
        let mut urls = Vec::new();
        for value in &self.redis {
            let mut start = 0;
            for (at, _) in value.match_indices(',') {
                let rest = &value[at + 1..];
                if ["redis://", "rediss://", "redis+unix://", "unix://"]
                    .iter()
                    .any(|scheme| rest.starts_with(scheme))
                {
                    urls.push(value[start..at].to_string());
                    start = at + 1;
                }
            }
            urls.push(value[start..].to_string());
        }
        urls
    }
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::Parser;

    #[test]
    fn urls_split_at_commas_before_a_scheme_only() {
        let cli = Cli::parse_from([
            "thoonk",
            "--redis",
            "redis://:pa,ss@a:1,rediss://b:2",
            "--redis",
            "redis://c:3",
            "stats",
            "q",
        ]);
        assert_eq!(
            cli.urls(),
            ["redis://:pa,ss@a:1", "rediss://b:2", "redis://c:3"]
        );
    }
}
