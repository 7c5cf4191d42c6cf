//! The client's one pub/sub connection, fanned out to any number of
//! listeners ([`Listener`], receiving [`Notice`]s).
//!
//! A background task owns the connection. Listeners register the channels
//! they want; the task subscribes when the first listener of a channel comes
//! and unsubscribes when the last one goes. When the connection drops, the
//! task reconnects (with backoff), subscribes again and tells every listener
//! with [`Notice::Resubscribed`]: messages published in between are lost
//! for good (that is pub/sub), so a listener that cares re-reads the state
//! it was waiting for. `publish_and_wait` does exactly that.

use futures_util::StreamExt;
use redis::RedisResult;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// What a listener receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A message on one of the listener's channels.
    Message {
        /// The channel it came on.
        channel: String,
        /// Its payload, as sent.
        payload: Vec<u8>,
    },
    /// The connection was lost and is back, subscribed again; messages sent
    /// while it was down were not received.
    Resubscribed,
}

/// Receives the notices for the channels it listens to; stops listening
/// when dropped.
#[derive(Debug)]
pub struct Listener {
    id: u64,
    notices: mpsc::UnboundedReceiver<Notice>,
    hub: mpsc::UnboundedSender<Command>,
}

impl Listener {
    /// The next notice; `None` once the client is gone.
    pub async fn recv(&mut self) -> Option<Notice> {
        self.notices.recv().await
    }

    /// Drops the notices already here, for a reader who only needs to
    /// know that something came.
    pub(crate) fn skip_queued(&mut self) {
        while self.notices.try_recv().is_ok() {}
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.hub.send(Command::Unlisten { id: self.id });
    }
}

/// How long a new listener waits for the event connection to come back
/// before it is told Redis is down: long enough to ride out a failover or
/// a move to the next seed node.
const LISTEN_PATIENCE: Duration = Duration::from_secs(3);

enum Command {
    Listen {
        id: u64,
        channels: Vec<String>,
        notices: mpsc::UnboundedSender<Notice>,
        /// Answered once Redis confirmed the subscriptions, so a message
        /// published after `listen` returns is never missed.
        subscribed: oneshot::Sender<RedisResult<()>>,
    },
    Unlisten {
        id: u64,
    },
}

/// Handle on the background task; the task ends when the last handle (and
/// with it the command channel) is dropped.
#[derive(Debug)]
pub(crate) struct EventHub {
    commands: mpsc::UnboundedSender<Command>,
}

impl EventHub {
    /// Subscribes through the first of `nodes` that answers, moving on to
    /// the next when its connection fails (one Redis: just the one).
    pub(crate) fn start(nodes: Vec<redis::Client>) -> Self {
        let (commands, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(nodes, rx));
        EventHub { commands }
    }

    pub(crate) async fn listen(&self, channels: Vec<String>) -> RedisResult<Listener> {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let (notices_tx, notices) = mpsc::unbounded_channel();
        let (subscribed, confirmed) = oneshot::channel();
        let gone = || {
            redis::RedisError::from((
                redis::ErrorKind::Io,
                "the event subscription task has stopped",
            ))
        };
        self.commands
            .send(Command::Listen {
                id,
                channels,
                notices: notices_tx,
                subscribed,
            })
            .map_err(|_| gone())?;
        // Build the listener before waiting, so that if this future is
        // dropped, its Drop unregisters it.
        let listener = Listener {
            id,
            notices,
            hub: self.commands.clone(),
        };
        confirmed.await.map_err(|_| gone())??;
        Ok(listener)
    }
}

/// Who listens to what.
#[derive(Default)]
struct Registry {
    by_channel: HashMap<String, Vec<u64>>,
    listeners: HashMap<u64, (Vec<String>, mpsc::UnboundedSender<Notice>)>,
}

impl Registry {
    /// Adds a listener; returns the channels nobody listened to before.
    fn add(
        &mut self,
        id: u64,
        channels: Vec<String>,
        tx: mpsc::UnboundedSender<Notice>,
    ) -> Vec<String> {
        let mut fresh = Vec::new();
        for ch in &channels {
            let ids = self.by_channel.entry(ch.clone()).or_default();
            if ids.is_empty() {
                fresh.push(ch.clone());
            }
            ids.push(id);
        }
        self.listeners.insert(id, (channels, tx));
        fresh
    }

    /// Removes a listener; returns the channels nobody listens to any more.
    fn remove(&mut self, id: u64) -> Vec<String> {
        let Some((channels, _)) = self.listeners.remove(&id) else {
            return Vec::new();
        };
        let mut idle = Vec::new();
        for ch in channels {
            if let Some(ids) = self.by_channel.get_mut(&ch) {
                ids.retain(|&l| l != id);
                if ids.is_empty() {
                    self.by_channel.remove(&ch);
                    idle.push(ch);
                }
            }
        }
        idle
    }

    fn deliver(&self, channel: &str, payload: &[u8]) {
        for id in self.by_channel.get(channel).into_iter().flatten() {
            if let Some((_, tx)) = self.listeners.get(id) {
                let _ = tx.send(Notice::Message {
                    channel: channel.to_string(),
                    payload: payload.to_vec(),
                });
            }
        }
    }

    fn channels(&self) -> Vec<String> {
        self.by_channel.keys().cloned().collect()
    }
}

/// The half of a pub/sub connection that subscribes, and the stream of
/// its messages.
type Sink = redis::aio::PubSubSink;
type Stream = redis::aio::PubSubStream;

/// The background task's state: the nodes it may subscribe through, who
/// listens to what, and how its connection fares.
struct Task {
    nodes: Vec<redis::Client>,
    /// The node to try next (modulo their number).
    next_node: usize,
    registry: Registry,
    commands: mpsc::UnboundedReceiver<Command>,
    /// The pause before the next attempt to connect.
    backoff: Duration,
    /// Since when connecting has failed, if it does.
    failing_since: Option<Instant>,
}

/// How serving a connection ended.
enum Ended {
    /// The connection broke: connect again.
    Broken,
    /// The client is gone: the task ends.
    Closed,
}

async fn run(nodes: Vec<redis::Client>, commands: mpsc::UnboundedReceiver<Command>) {
    let mut task = Task {
        nodes,
        next_node: 0,
        registry: Registry::default(),
        commands,
        backoff: FIRST_BACKOFF,
        failing_since: None,
    };
    let mut first = true;
    while let Some((sink, stream)) = task.connect().await {
        if !first {
            for (_, tx) in task.registry.listeners.values() {
                let _ = tx.send(Notice::Resubscribed);
            }
        }
        first = false;
        if let Ended::Closed = task.serve(sink, stream).await {
            return;
        }
    }
}

/// The first pause after a failed connection; it doubles up to a second.
const FIRST_BACKOFF: Duration = Duration::from_millis(10);

impl Task {
    /// (Re)connects and subscribes to every channel someone listens to,
    /// trying the nodes in turn with backoff. `None` once the client is
    /// gone.
    async fn connect(&mut self) -> Option<(Sink, Stream)> {
        loop {
            let client = &self.nodes[self.next_node % self.nodes.len()];
            let channels = self.registry.channels();
            let connected = async {
                let (mut sink, stream) = client.get_async_pubsub().await?.split();
                if !channels.is_empty() {
                    sink.subscribe(channels).await?;
                }
                Ok::<_, redis::RedisError>((sink, stream))
            }
            .await;
            let e = match connected {
                Ok(pair) => {
                    self.failing_since = None;
                    self.backoff = FIRST_BACKOFF;
                    return Some(pair);
                }
                Err(_) if self.commands.is_closed() => return None,
                Err(e) => e,
            };
            let since = *self.failing_since.get_or_insert_with(Instant::now);
            self.next_node += 1;
            tokio::time::sleep(self.backoff).await;
            self.backoff = (self.backoff * 2).min(Duration::from_secs(1));
            // Within the patience (a failover, or a move to the next seed),
            // new listeners wait.
            if since.elapsed() >= LISTEN_PATIENCE {
                self.refuse_new_listeners(&e);
            }
        }
    }

    /// Down for a while: new listeners are told now (and drop out) rather
    /// than wait for Redis to come back; the ones already here are
    /// resubscribed then.
    fn refuse_new_listeners(&mut self, e: &redis::RedisError) {
        while let Ok(command) = self.commands.try_recv() {
            match command {
                Command::Listen { subscribed, .. } => {
                    let down = (e.kind(), "the event connection is down", e.to_string());
                    let _ = subscribed.send(Err(redis::RedisError::from(down)));
                }
                Command::Unlisten { id } => {
                    self.registry.remove(id);
                }
            }
        }
    }

    /// Delivers messages and takes listeners in and out until the
    /// connection breaks or the client is gone.
    async fn serve(&mut self, mut sink: Sink, mut stream: Stream) -> Ended {
        loop {
            let done = tokio::select! {
                msg = stream.next() => match msg {
                    Some(msg) => {
                        self.registry.deliver(msg.get_channel_name(), msg.get_payload_bytes());
                        Ok(())
                    }
                    None => Err(Ended::Broken),
                },
                command = self.commands.recv() => match command {
                    None => Err(Ended::Closed),
                    Some(command) => self.obey(&mut sink, command).await,
                },
            };
            if let Err(ended) = done {
                return ended;
            }
        }
    }

    /// Takes a listener in or out, subscribing or unsubscribing channels as
    /// it must. Errs when the connection broke.
    async fn obey(&mut self, sink: &mut Sink, command: Command) -> Result<(), Ended> {
        let (id, subscribed, fresh) = match command {
            Command::Unlisten { id } => return self.unlisten(sink, id).await,
            Command::Listen {
                id,
                channels,
                notices,
                subscribed,
            } => (id, subscribed, self.registry.add(id, channels, notices)),
        };
        let result = if fresh.is_empty() {
            Ok(())
        } else {
            sink.subscribe(fresh).await
        };
        match result {
            Ok(()) => {
                let _ = subscribed.send(Ok(()));
                Ok(())
            }
            // Refused by Redis (an ACL without the channel): this listener
            // goes, the others stay.
            Err(e) if !e.is_io_error() && !e.is_connection_dropped() => {
                let _ = subscribed.send(Err(e));
                self.unlisten(sink, id).await
            }
            // The connection is broken; the listener stays registered and
            // is resubscribed on reconnect.
            Err(e) => {
                let _ = subscribed.send(Err(e));
                Err(Ended::Broken)
            }
        }
    }

    /// Takes a listener out, unsubscribing the channels no one else
    /// listens to. Errs when the connection broke.
    async fn unlisten(&mut self, sink: &mut Sink, id: u64) -> Result<(), Ended> {
        let idle = self.registry.remove(id);
        if !idle.is_empty() && sink.unsubscribe(idle).await.is_err() {
            return Err(Ended::Broken);
        }
        Ok(())
    }
}
