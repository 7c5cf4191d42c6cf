//! The core: connections to one Redis, the clock, and the event hub. The
//! [`Job`](crate::Job) queue is one object built on it; other Redis+Lua
//! objects can be built on it the same way (see the crate docs).

use crate::clock::{Clock, SystemClock};
use crate::events::{EventHub, Listener};
use crate::{Error, Job, Result};
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::AsyncConnectionConfig;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Longest a single blocking wait lasts before it is re-issued; bounds how
/// long a silently dead connection can hold a waiter.
const MAX_BLOCK: Duration = Duration::from_secs(30);

/// A client of one Redis: cheap to clone, all clones share its connections.
#[derive(Clone, Debug)]
pub struct Thoonk {
    inner: Arc<Inner>,
    clock: Arc<dyn Clock>,
}

#[derive(Debug)]
struct Inner {
    /// The URL as given, password hidden, for error messages.
    url: String,
    client: redis::Client,
    /// Multiplexed and reconnecting: every ordinary call goes through it.
    conn: ConnectionManager,
    /// Connections for blocking waits, which must not share the multiplexed
    /// connection (a blocked reply would hold up every call behind it).
    /// Kept for reuse; one is only put back after its wait completed.
    idle_blocking: Mutex<Vec<MultiplexedConnection>>,
    /// Started on the first listener.
    events: tokio::sync::OnceCell<EventHub>,
}

impl Thoonk {
    /// Connects to the Redis at `url` (`redis://host:port/db`), failing at
    /// once with the URL in the error when it does not answer.
    pub async fn connect(url: &str) -> Result<Thoonk> {
        let shown = hide_password(url);
        let connect_error = |source| Error::Connect {
            url: shown.clone(),
            source,
        };
        let client = redis::Client::open(url).map_err(connect_error)?;
        let mut conn = client
            .get_connection_manager_with_config(manager_config())
            .await
            .map_err(connect_error)?;
        redis::cmd("PING")
            .query_async::<()>(&mut conn)
            .await
            .map_err(connect_error)?;
        Ok(Thoonk {
            inner: Arc::new(Inner {
                url: shown,
                client,
                conn,
                idle_blocking: Mutex::new(Vec::new()),
                events: tokio::sync::OnceCell::new(),
            }),
            clock: Arc::new(SystemClock),
        })
    }

    /// The same Redis through a connection of its own, for a stream of
    /// calls that should not wait in line behind the others' replies (a
    /// worker's finishes beside its claims).
    pub(crate) async fn with_own_connection(&self) -> Result<Thoonk> {
        let conn = self
            .inner
            .client
            .get_connection_manager_with_config(manager_config())
            .await?;
        Ok(Thoonk {
            inner: Arc::new(Inner {
                url: self.inner.url.clone(),
                client: self.inner.client.clone(),
                conn,
                idle_blocking: Mutex::new(Vec::new()),
                events: tokio::sync::OnceCell::new(),
            }),
            clock: self.clock.clone(),
        })
    }

    /// The same client, reading the time from `clock` (for tests of
    /// time-dependent behaviour).
    pub fn with_clock(&self, clock: Arc<dyn Clock>) -> Thoonk {
        Thoonk {
            inner: self.inner.clone(),
            clock,
        }
    }

    /// A handle on the queue `name`. Refuses a name that cannot work
    /// (empty, with a NUL byte, over 256 bytes).
    pub fn job(&self, name: &str) -> Result<Job> {
        Job::new(self.clone(), name)
    }

    /// The URL this client talks to, password hidden.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// Now, in Unix milliseconds, from this client's clock: pass it to
    /// scripts rather than reading Redis's clock inside them.
    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// The shared multiplexed connection (a cheap clone): for scripts and
    /// ordinary commands. Never block on it (`BLPOP`, …): use
    /// [`Thoonk::wait_for_list`].
    pub fn connection(&self) -> ConnectionManager {
        self.inner.conn.clone()
    }

    /// Listens to pub/sub `channels` over the client's one subscription
    /// connection. Returns once Redis confirmed the subscriptions.
    pub async fn listen(&self, channels: Vec<String>) -> Result<Listener> {
        let hub = self
            .inner
            .events
            .get_or_init(|| async { EventHub::start(self.inner.client.clone()) })
            .await;
        hub.listen(channels).await
    }

    /// Waits until the list `key` is not empty or `timeout` passes (zero:
    /// no limit), without taking anything from it: `BLMOVE key key RIGHT
    /// RIGHT` returns the last element and puts it back where it was. So a
    /// waiter that dies while waiting loses nothing. Returns whether the
    /// list had something.
    pub async fn wait_for_list(&self, key: &str, timeout: Duration) -> Result<bool> {
        let block = if timeout.is_zero() {
            MAX_BLOCK
        } else {
            timeout.min(MAX_BLOCK)
        };
        let mut conn = self.blocking_connection().await?;
        let moved: Option<redis::Value> = redis::cmd("BLMOVE")
            .arg(key)
            .arg(key)
            .arg("RIGHT")
            .arg("RIGHT")
            .arg(block.as_secs_f64())
            .query_async(&mut conn)
            .await?;
        // Put the connection back only now: had this future been dropped
        // mid-wait, the connection (with a reply still due) is dropped too.
        self.inner.idle_blocking.lock().unwrap().push(conn);
        Ok(moved.is_some())
    }

    async fn blocking_connection(&self) -> Result<MultiplexedConnection> {
        if let Some(conn) = self.inner.idle_blocking.lock().unwrap().pop() {
            return Ok(conn);
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(None);
        Ok(self
            .inner
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?)
    }
}

/// How the ordinary connection behaves: it reconnects by itself, and a
/// reply may take a while (a big batch) before the call fails.
fn manager_config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(10)))
        .set_number_of_retries(2)
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_secs(1))
}

/// `redis://user:secret@host/` -> `redis://user:***@host/`
fn hide_password(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!("{}{}:***{}", &url[..s + 3], &userinfo[..colon], &url[at..]),
                None => format!("{}***{}", &url[..s + 3], &url[at..]),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::hide_password;

    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(
            hide_password("redis://127.0.0.1:7/"),
            "redis://127.0.0.1:7/"
        );
        assert_eq!(hide_password("redis://u:pw@h:1/"), "redis://u:***@h:1/");
        assert_eq!(hide_password("redis://pw@h/"), "redis://***@h/");
    }
}
