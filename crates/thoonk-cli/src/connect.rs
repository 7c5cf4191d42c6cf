//! The connection the global flags (`--redis`, `--tls-ca`, `--cluster`) describe.

use crate::cli::Cli;
use crate::exit::Fatal;
use std::path::PathBuf;
use thoonk::Thoonk;

/// Where the global flags point, kept apart from the command: a command
/// that needs a second client (`bench --scale`'s worker), or a child
/// `thoonk` aimed at the same Redis, builds it from this.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// The URLs as `Cli::urls` split them.
    urls: Vec<String>,
    tls_ca: Option<PathBuf>,
    cluster: bool,
}

impl Target {
    /// What `cli`'s global flags name.
    pub(crate) fn of(cli: &Cli) -> Target {
        Target {
            urls: cli.urls(),
            tls_ca: cli.tls_ca.clone(),
            cluster: cli.cluster,
        }
    }

    /// Connects to the one Redis, or the cluster, it names.
    pub(crate) async fn connect(&self) -> Result<Thoonk, Fatal> {
        let ca_pem = match &self.tls_ca {
            Some(path) => Some(std::fs::read(path).map_err(|e| {
                Fatal::failed(format!("cannot read the TLS CA {}: {e}", path.display()))
            })?),
            None => None,
        };
        let urls = self.urls.as_slice();
        Ok(match (self.cluster, urls, ca_pem) {
            (true, seeds, None) => Thoonk::connect_cluster(seeds).await?,
            (true, seeds, Some(ca)) => Thoonk::connect_cluster_tls(seeds, &ca).await?,
            (false, urls, None) => Thoonk::connect(&urls[0]).await?,
            (false, urls, Some(ca)) => Thoonk::connect_tls(&urls[0], &ca).await?,
        })
    }

    /// The environment that aims a child `thoonk` here: the same settings
    /// as flags would give, without putting a password on its command line.
    pub(crate) fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("THOONK_REDIS_URL", self.urls.join(",")),
            ("THOONK_CLUSTER", self.cluster.to_string()),
        ];
        if let Some(ca) = &self.tls_ca {
            env.push(("THOONK_TLS_CA", ca.display().to_string()));
        }
        env
    }
}
