//! The HTTP server of `thoonk dashboard`, made to stand on a public
//! address: a connection that does not send a whole request head within
//! the header timeout is closed (hyper's own timer, which also runs while
//! a kept-alive connection waits for its next request), one on which no
//! byte moves for the idle timeout is closed unless it carries a live
//! stream (those wait for events by design), a request not answered
//! within the request timeout (a body sent a byte at a time, which the
//! idle timeout never sees) gets 408 and its connection is closed, and at
//! most
//! `max_connections` are served at once: the next ones wait in the
//! kernel's accept queue (not accepted, so they cost no file descriptor
//! of ours) until a slot frees. Slots held by silent connections free
//! within the header timeout, so a real browser waits seconds, not
//! forever. Each request carries its peer's address (`ConnectInfo`), which
//! the dashboard counts wrong tokens against.

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderValue, Request, Response, StatusCode};
use axum::Router;
use futures_util::StreamExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// What the server allows each connection, and how many at once.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// To send a whole request head (from the connection's start, or the
    /// end of its last response).
    pub(crate) header_timeout: Duration,
    /// With no byte read or written, outside live streams.
    pub(crate) idle_timeout: Duration,
    /// From a request's head to its response's head (a live stream's
    /// response starts at once: its events are not bounded by this).
    pub(crate) request_timeout: Duration,
    /// Connections served at once.
    pub(crate) max_connections: usize,
}

/// Serves `router` on `listener` until `shutdown` completes; then stops
/// accepting, lets each connection finish the request it is on (the
/// caller ends live streams in `shutdown`), and returns once all closed.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let connections = TaskTracker::new();
    let (stop, stopping) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, most likely: give the
                    // connections being closed a moment to free some,
                    // rather than spin on the error.
                    tracing::warn!("accepting a connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let serve = connection(stream, peer, router.clone(), limits, stopping.clone(), slot);
        connections.spawn(serve);
    }
    drop(listener);
    let _ = stop.send(true);
    connections.close();
    connections.wait().await;
}

/// Serves one connection until it ends, times out, or (at shutdown) has
/// finished its request. Dropping it closes the socket; `_slot` goes back
/// with it.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: Limits,
    mut stopping: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let activity = Activity::new();
    let streams_open = Arc::new(AtomicUsize::new(0));
    let io = TokioIo::new(Watched {
        stream,
        activity: activity.clone(),
    });
    let open = streams_open.clone();
    // Set when a request ran out of time: hyper would go on reading the
    // rest of its body after the 408, as slowly as it comes.
    let timed_out = Arc::new(AtomicBool::new(false));
    let timed_out_in = timed_out.clone();
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        let (router, open, timed_out) = (router.clone(), open.clone(), timed_out_in.clone());
        async move {
            let handled = router.oneshot(request.map(Body::new));
            let response = match tokio::time::timeout(limits.request_timeout, handled).await {
                Ok(response) => response?,
                Err(_) => {
                    timed_out.store(true, Ordering::Relaxed);
                    too_slow(limits.request_timeout)
                }
            };
            Ok::<_, Infallible>(count_stream(response, open))
        }
    });
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let conn = http.serve_connection(io, service);
    tokio::pin!(conn);
    let mut check = tokio::time::interval((limits.idle_timeout / 4).max(Duration::from_millis(10)));
    let mut stopped = *stopping.borrow();
    if stopped {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        tokio::select! {
            _ = conn.as_mut() => return,
            changed = stopping.changed(), if !stopped => {
                stopped = true;
                if changed.is_ok() {
                    conn.as_mut().graceful_shutdown();
                }
            }
            // (The 408 was written in the poll of `conn` that made it,
            // before this tick: dropping the connection now loses nothing.)
            _ = check.tick() => {
                let idle = streams_open.load(Ordering::Relaxed) == 0
                    && activity.idle() >= limits.idle_timeout;
                if idle || timed_out.load(Ordering::Relaxed) {
                    return;
                }
            }
        }
    }
}

/// 408, and the connection closed after it (its request's body may be
/// half read).
fn too_slow(timeout: Duration) -> Response<Body> {
    let why = format!(
        "{{\"error\":\"the request was not whole within {} ms\"}}",
        timeout.as_millis()
    );
    let mut response = Response::new(Body::from(why));
    *response.status_mut() = StatusCode::REQUEST_TIMEOUT;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Counts a live stream (`text/event-stream`) as open until its body is
/// dropped: the idle timeout spares the connection meanwhile.
fn count_stream(response: Response<Body>, open: Arc<AtomicUsize>) -> Response<Body> {
    let is_stream = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if !is_stream {
        return response;
    }
    open.fetch_add(1, Ordering::Relaxed);
    let held = Held(open);
    response.map(|body| {
        Body::from_stream(body.into_data_stream().map(move |chunk| {
            let _ = &held;
            chunk
        }))
    })
}

/// Counts one live stream open until dropped.
struct Held(Arc<AtomicUsize>);

impl Drop for Held {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// When a byte last moved on a connection.
#[derive(Clone)]
struct Activity {
    start: Instant,
    /// Milliseconds from `start`.
    last_ms: Arc<AtomicU64>,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            start: Instant::now(),
            last_ms: Arc::new(AtomicU64::new(0)),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn idle(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }
}

/// A socket that notes when bytes move on it.
struct Watched {
    stream: TcpStream,
    activity: Activity,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// Raises this process's open-files limit to the most it may have (the
/// hard limit), so that the connection cap, not the OS, decides who is
/// served; returns the limit in effect (`None`: unknown).
pub(crate) fn raise_open_files_limit() -> Option<u64> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        return Some(hard);
    }
    Some(soft)
}
