//! The command line: the global flags, and which subcommand was given.

use crate::cmd;
use clap::{Parser, Subcommand};

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
        default_value = thoonk::DEFAULT_URL
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

/// The subcommands; each one's flags and help text live in its `cmd` module.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    Publish(cmd::publish::Args),
    Get(cmd::get::Args),
    Finish(cmd::finish::Args),
    Cancel(cmd::cancel::Args),
    Stall(cmd::stall::Args),
    Progress(cmd::progress::Args),
    Retry(cmd::retry::Args),
    Retract(cmd::retract::Args),
    Stats(cmd::stats::Args),
    Pause(cmd::pause::Args),
    Resume(cmd::resume::Args),
    Config(cmd::config::Args),
    Schedule(cmd::schedule::Args),
    List(cmd::list::Args),
    Events(cmd::events::Args),
    Dashboard(cmd::dashboard::Args),
    Bench(cmd::bench::Args),
    Work(cmd::work::Args),
    /// `work`'s guard process: stops the commands of a `work` that died.
    #[command(hide = true)]
    Guard,
}

impl Cli {
    /// The connection flags as environment variables, for the commands
    /// `work` runs: a `thoonk progress` inside one reaches the same Redis.
    pub(crate) fn connection_env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![("THOONK_REDIS_URL", self.urls().join(","))];
        if self.cluster {
            env.push(("THOONK_CLUSTER", "1".into()));
        }
        if let Some(ca) = &self.tls_ca {
            env.push(("THOONK_TLS_CA", ca.display().to_string()));
        }
        env
    }

    /// The Redis URLs given: each --redis (or THOONK_REDIS_URL) may list
    /// several, separated by commas; an empty one is the default. A comma
    /// starts a new URL only before a scheme, so one inside a password
    /// stays where it is.
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
        // An empty THOONK_REDIS_URL is unset, as the library takes it.
        if urls.iter().all(String::is_empty) {
            return vec![thoonk::DEFAULT_URL.to_string()];
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
