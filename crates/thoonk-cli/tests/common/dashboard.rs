//! `thoonk dashboard` in the background on a private Redis, listening on a
//! port of its own; killed on drop. The HTTP and browser tests add their
//! own ways to talk to it.

use super::{Background, Output, Redis};

/// A running dashboard and the Redis it shows.
pub(crate) struct Dashboard {
    pub(crate) redis: Redis,
    process: Option<Background>,
    /// Where it listens: `127.0.0.1:PORT`.
    pub(crate) addr: String,
    /// The token it was given with `--token`, if any.
    pub(crate) token: Option<String>,
}

impl Dashboard {
    /// A dashboard on a fresh Redis, with `token` as its `--token`.
    pub(crate) fn start(token: Option<&str>) -> Dashboard {
        Dashboard::on(Redis::start(), token)
    }

    /// A dashboard on `redis`, with `token` as its `--token`; returns once
    /// it listens.
    pub(crate) fn on(redis: Redis, token: Option<&str>) -> Dashboard {
        let mut args = vec!["dashboard", "--listen", "127.0.0.1:0"];
        if let Some(token) = token {
            args.extend(["--token", token]);
        }
        let process = redis.spawn(&args);
        let addr = process.dashboard_addr();
        Dashboard {
            redis,
            process: Some(process),
            addr,
            token: token.map(str::to_string),
        }
    }

    /// SIGTERM; returns how it exited.
    pub(crate) fn stop(&mut self) -> Output {
        self.process.take().expect("running").terminate()
    }

    /// The URL of `path` on it.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}
