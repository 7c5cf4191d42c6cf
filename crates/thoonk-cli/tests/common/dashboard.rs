//! The dashboard in the background on a private Redis, listening on a port
//! of its own: `thoonk dashboard` (killed on drop), or an app that mounts
//! it under a prefix ([`MountedApp`], stopped on drop). The HTTP and
//! browser tests add their own ways to talk to it.

use super::mounted::{basic_header, Door, MountedApp};
use super::{Background, Output, Redis};

/// A running dashboard and the Redis it shows.
pub(crate) struct Dashboard {
    pub(crate) redis: Redis,
    server: Option<Server>,
    /// Where it listens: `127.0.0.1:PORT`.
    pub(crate) addr: String,
    /// The token it was given with `--token`, if any.
    pub(crate) token: Option<String>,
    /// Where it is mounted: `""` for `thoonk dashboard`.
    pub(crate) prefix: String,
    /// The `Authorization` header the app that mounted it wants, if any.
    pub(crate) basic: Option<String>,
}

/// What serves it.
enum Server {
    /// `thoonk dashboard`.
    Process(Background),
    /// An app of this process.
    App(MountedApp),
}

impl Dashboard {
    /// A dashboard on a fresh Redis, with `token` as its `--token`.
    pub(crate) fn start(token: Option<&str>) -> Dashboard {
        Dashboard::on(Redis::start(), token)
    }

    /// A dashboard on `redis`, with `token` as its `--token`; returns once
    /// it listens.
    pub(crate) fn on(redis: Redis, token: Option<&str>) -> Dashboard {
        Dashboard::with_flags(redis, token, &[])
    }

    /// A dashboard on `redis`, with `token` as its `--token` and `flags`
    /// added; returns once it listens.
    pub(crate) fn with_flags(redis: Redis, token: Option<&str>, flags: &[&str]) -> Dashboard {
        let mut args = vec!["dashboard", "--listen", "127.0.0.1:0"];
        if let Some(token) = token {
            args.extend(["--token", token]);
        }
        args.extend(flags);
        let process = redis.spawn(&args);
        let addr = process.dashboard_addr();
        Dashboard {
            redis,
            server: Some(Server::Process(process)),
            addr,
            token: token.map(str::to_string),
            prefix: String::new(),
            basic: None,
        }
    }

    /// The dashboard nested at `prefix` in an app of its own (see
    /// [`MountedApp`]), on a fresh Redis, behind `door`.
    pub(crate) fn mounted(prefix: &str, door: Door) -> Dashboard {
        let redis = Redis::start();
        let app = MountedApp::start(&redis.url(), prefix, door);
        let (token, basic) = match door {
            Door::Basic(user, password) => (None, Some(basic_header(user, password))),
            Door::Token(token) => (Some(token.to_string()), None),
        };
        Dashboard {
            redis,
            addr: app.addr.clone(),
            server: Some(Server::App(app)),
            token,
            prefix: prefix.to_string(),
            basic,
        }
    }

    /// SIGTERM; returns how it exited.
    pub(crate) fn stop(&mut self) -> Output {
        match self.server.take() {
            Some(Server::Process(process)) => process.terminate(),
            _ => panic!("not a running `thoonk dashboard`"),
        }
    }

    /// The app that mounted it.
    pub(crate) fn app(&self) -> &MountedApp {
        match &self.server {
            Some(Server::App(app)) => app,
            _ => panic!("not a mounted dashboard"),
        }
    }

    /// The URL of the dashboard's `path` (under its prefix).
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{}{path}", self.addr, self.prefix)
    }
}
