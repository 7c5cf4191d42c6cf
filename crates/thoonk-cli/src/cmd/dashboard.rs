//! `thoonk dashboard`: the flags of the web dashboard that `crate::dashboard` serves.

use crate::exit::Fatal;
use thoonk::Thoonk;

/// Serve a live web dashboard of every queue (and /metrics for
/// Prometheus).
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Where to listen. Any address but loopback needs a --token.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7070")]
    listen: String,
    /// Every page and API call then needs it: a login form sets a
    /// cookie; API clients send `Authorization: Bearer TOKEN`.
    #[arg(long, env = "THOONK_DASHBOARD_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

/// Serves until SIGINT or SIGTERM.
pub(crate) async fn run(thoonk: Thoonk, args: Args) -> Result<(), Fatal> {
    crate::dashboard::serve(thoonk, &args.listen, args.token)
        .await
        .map_err(Fatal::failed)
}
