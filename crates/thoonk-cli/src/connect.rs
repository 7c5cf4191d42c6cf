//! The connection the global flags (`--redis`, `--tls-ca`, `--cluster`) describe.

use crate::cli::Cli;
use crate::exit::Fatal;
use thoonk::Thoonk;

/// Connects to the one Redis, or the cluster, that `cli` names.
pub(crate) async fn connect(cli: &Cli) -> Result<Thoonk, Fatal> {
    let ca_pem = match &cli.tls_ca {
        Some(path) => Some(std::fs::read(path).map_err(|e| {
            Fatal::failed(format!("cannot read the TLS CA {}: {e}", path.display()))
        })?),
        None => None,
    };
    let urls = cli.urls();
    Ok(match (cli.cluster, urls.as_slice(), ca_pem) {
        (true, seeds, None) => Thoonk::connect_cluster(seeds).await?,
        (true, seeds, Some(ca)) => Thoonk::connect_cluster_tls(seeds, &ca).await?,
        (false, urls, None) => Thoonk::connect(&urls[0]).await?,
        (false, urls, Some(ca)) => Thoonk::connect_tls(&urls[0], &ca).await?,
    })
}
