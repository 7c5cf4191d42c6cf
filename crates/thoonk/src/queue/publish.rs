//! Publishing: the options of a publish ([`Publish`]), a batch's jobs
//! ([`NewJob`]), and `Queue::publish`/`publish_many`, acknowledged once
//! replicas have them when asked.

use super::Queue;
use crate::limits;
use crate::names::{check_id, new_id};
use crate::{scripts, Error, Result};
use std::time::{Duration, SystemTime};

/// How to publish a job. `Publish::default()` queues a job with a fresh id
/// at the back of the line, available at once.
///
/// ```
/// use std::time::Duration;
/// use thoonk::{Publish, Thoonk};
///
/// # #[tokio::main] async fn main() -> thoonk::Result<()> {
/// # let _redis = thoonk_testkit::doc_redis();
/// let mail = Thoonk::connect_from_env().await?.queue("mail")?;
/// mail.publish("ann@example.com", Publish::new()).await?;
/// // An id of your own (published twice, it is refused), at the front.
/// mail.publish("bob@example.com", Publish::new().id("welcome-bob").priority(true))
///     .await?;
/// // Available in an hour.
/// let later = Publish::new().delay(Duration::from_secs(3600));
/// mail.publish("cy@example.com", later).await?;
/// assert_eq!(mail.claim(10).await?[0].id, "welcome-bob");
/// assert_eq!(mail.stats().await?.delayed, 1);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct Publish {
    pub(crate) id: Option<String>,
    priority: bool,
    pub(crate) keep_result: Option<Duration>,
    due: Option<Due>,
    unique_for: Option<Duration>,
    replicas: Option<Replicas>,
}

/// How many replicas must have a publish before it is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Replicas {
    count: u32,
    timeout: Duration,
}

#[derive(Debug, Clone, Copy)]
enum Due {
    In(Duration),
    At(SystemTime),
}

impl Publish {
    /// Default options.
    pub fn new() -> Self {
        Self::default()
    }

    /// Use this id instead of a generated one. Publishing an id that is
    /// already in the queue is refused.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Put the job at the front of the queue: it is claimed next. (A
    /// delayed job joins the back of the line when due.)
    pub fn priority(mut self, priority: bool) -> Self {
        self.priority = priority;
        self
    }

    /// Keep the job's result in Redis for `ttl` after it finishes, so a
    /// publisher that was not listening at that instant still finds it
    /// ([`Queue::kept_result`]). `publish_and_wait` sets this itself.
    pub fn keep_result(mut self, ttl: Duration) -> Self {
        self.keep_result = Some(ttl);
        self
    }

    /// Make the job available only after `delay` (it is "delayed" until
    /// then), counted by the server's clock from when the publish runs:
    /// a publisher whose clock is wrong delays its jobs all the same.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.due = Some(Due::In(delay));
        self
    }

    /// Make the job available only at `when`, read on this machine's
    /// clock: it becomes the delay from now to `when`, which the server
    /// then counts (the one place a client's clock counts: the time was
    /// given by it).
    pub fn at(mut self, when: SystemTime) -> Self {
        self.due = Some(Due::At(when));
        self
    }

    /// Refuse to publish this id again for `window` from now, even after
    /// this job finished or was retracted: a publish of the same id in
    /// that time fails with [`Error::InUniqueWindow`], decided in Redis
    /// (so across every publisher). "Run this at most once an hour":
    /// publish it with an id that names the work and a one-hour window.
    /// At most [`MAX_DELAY`](crate::MAX_DELAY); zero sets no window.
    ///
    /// ```no_run
    /// # async fn run(queue: thoonk::Queue) -> thoonk::Result<()> {
    /// use std::time::Duration;
    /// use thoonk::Publish;
    /// let once_an_hour = Publish::new().id("rebuild-index").unique_for(Duration::from_secs(3600));
    /// match queue.publish("{}", once_an_hour).await {
    ///     Ok(_) => println!("queued"),
    ///     Err(thoonk::Error::InUniqueWindow { left, .. }) => println!("already done; again in {left:?}"),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(()) }
    /// ```
    pub fn unique_for(mut self, window: Duration) -> Self {
        self.unique_for = Some(window);
        self
    }

    /// Acknowledge the publish only once at least `count` replicas of the
    /// queue's Redis have it (`WAIT`), so that a failover right after it
    /// does not lose the job. When they do not within `timeout`, the
    /// publish fails with [`Error::NotReplicated`]: the job is in the
    /// queue, but might not survive the master's death. In a batch
    /// ([`Queue::publish_many`]) the largest count and timeout asked for
    /// apply to the whole batch. The timeout is at most 30 s (a longer one
    /// is cut to that): the wait holds a connection.
    pub fn replicas(mut self, count: u32, timeout: Duration) -> Self {
        self.replicas = Some(Replicas {
            count,
            timeout: timeout.min(crate::client::MAX_BLOCK),
        });
        self
    }
}

/// A job to publish with [`Queue::publish_many`]: a payload and its options.
#[derive(Debug, Clone)]
pub struct NewJob {
    item: Vec<u8>,
    options: Publish,
}

macro_rules! new_job_from {
    ($($t:ty),*) => {$(
        impl From<$t> for NewJob {
            fn from(item: $t) -> Self {
                NewJob { item: AsRef::<[u8]>::as_ref(&item).to_vec(), options: Publish::default() }
            }
        }
        impl From<($t, Publish)> for NewJob {
            fn from((item, options): ($t, Publish)) -> Self {
                NewJob { item: AsRef::<[u8]>::as_ref(&item).to_vec(), options }
            }
        }
    )*};
}
new_job_from!(&str, String, &String, Vec<u8>, &[u8]);

impl Queue {
    /// Publishes one job and returns its id.
    pub async fn publish(&self, item: impl AsRef<[u8]>, options: Publish) -> Result<String> {
        let job = NewJob {
            item: item.as_ref().to_vec(),
            options,
        };
        Ok(self.publish_many([job]).await?.remove(0))
    }

    /// Publishes many jobs in one round trip, all or none: when one id is
    /// refused, none is published. Returns the ids in the order given.
    ///
    /// Each job is a payload (`&str`, `String`, `&[u8]`, `Vec<u8>`), or a
    /// payload and its options as a pair (`("hello", Publish::new().id("a"))`),
    /// or a [`NewJob`]. A batch goes in one script run: Redis serves no one
    /// else meanwhile, so keep batches to thousands, not millions.
    pub async fn publish_many<I>(&self, jobs: I) -> Result<Vec<String>>
    where
        I: IntoIterator,
        I::Item: Into<NewJob>,
    {
        let mut batch = Batch::new(self);
        for job in jobs {
            batch.add(job.into())?;
        }
        let Batch {
            mut keys,
            mut args,
            ids,
            replicas,
            ..
        } = batch;
        if ids.is_empty() {
            return Ok(ids);
        }
        // Once, even when sent twice (see `_once.lua`): last of all.
        let request = self.thoonk.request_id();
        keys.push(self.keys.request(&request));
        args.push(request.into_bytes());
        let reply: String = match replicas {
            None => {
                let mut call = scripts::PUBLISH.call();
                call.key(keys).arg(args);
                call.invoke_async(&mut self.thoonk.connection())
                    .await
                    .map_err(self.at("publish"))?
            }
            Some(r) => {
                let (reply, reached) = self.publish_replicated(&keys, &args, r).await?;
                if self.refusal(&reply).is_none() && reached < r.count {
                    return Err(Error::NotReplicated {
                        queue: self.name().to_string(),
                        ids,
                        wanted: r.count,
                        reached,
                        timeout: r.timeout,
                    });
                }
                reply
            }
        };
        self.refusal(&reply).map_or(Ok(ids), Err)
    }

    /// The refusal a publish script's reply names, if any.
    fn refusal(&self, reply: &str) -> Option<Error> {
        let queue = self.name().to_string();
        if let Some(id) = reply.strip_prefix("exists:") {
            return Some(Error::AlreadyExists {
                queue,
                id: id.to_string(),
            });
        }
        let (left, id) = reply.strip_prefix("unique:")?.split_once(':')?;
        Some(Error::InUniqueWindow {
            queue,
            id: id.to_string(),
            left: Duration::from_millis(left.parse().unwrap_or_default()),
        })
    }

    /// Runs the publish script and then `WAIT`, in one pipeline: the two
    /// must go over one connection (`WAIT` counts the replicas that have
    /// that connection's writes) to the queue's node (a pipeline goes to
    /// the node of its keys). On a connection of its own, because `WAIT`
    /// blocks the connection while it waits. Returns the script's reply and
    /// how many replicas acknowledged.
    async fn publish_replicated(
        &self,
        keys: &[String],
        args: &[Vec<u8>],
        replicas: Replicas,
    ) -> Result<(String, u32)> {
        let mut call = scripts::PUBLISH.call();
        call.key(keys).arg(args);
        let mut pipe = redis::pipe();
        pipe.add_command(call.cmd())
            .cmd("WAIT")
            .arg(replicas.count)
            .arg(replicas.timeout.as_millis().max(1) as u64);
        match self.thoonk.query_alone(&pipe).await {
            // The server lacks the scripts, so the publish did not run (and
            // the WAIT had nothing to wait for): load them and go again.
            Err(e) if scripts::is_unknown(&e) => {
                scripts::load(&mut self.thoonk.connection())
                    .await
                    .map_err(self.at("publish"))?;
                self.thoonk.query_alone(&pipe).await
            }
            done => done,
        }
        .map_err(self.at("publish"))
    }
}

/// A publish script call being built: its keys and arguments, the ids in
/// the order given, and the replicas the batch asks for.
struct Batch<'a> {
    queue: &'a Queue,
    keys: Vec<String>,
    args: Vec<Vec<u8>>,
    ids: Vec<String>,
    replicas: Option<Replicas>,
}

impl<'a> Batch<'a> {
    fn new(queue: &'a Queue) -> Batch<'a> {
        let k = &queue.keys;
        Batch {
            queue,
            keys: vec![
                k.ids.clone(),
                k.items.clone(),
                k.publishes.clone(),
                k.awaited.clone(),
                k.delayed.clone(),
                k.ghosts.clone(),
                k.claimed.clone(),
                k.stalled.clone(),
                k.marks.clone(),
                k.marked.clone(),
                k.tally.clone(),
            ],
            args: vec![
                k.channel("publish").into_bytes(),
                k.channel("delay").into_bytes(),
            ],
            ids: Vec::new(),
            replicas: None,
        }
    }

    /// Adds one job: its id (checked, or generated), payload, place in
    /// line, kept-result TTL and delay.
    fn add(&mut self, job: NewJob) -> Result<()> {
        let NewJob { item, options } = job;
        let given = options.id.is_some();
        let id = match options.id {
            Some(id) => {
                check_id(self.queue.name(), &id)?;
                id
            }
            None => new_id(),
        };
        let refuse = |refused: limits::Refused| refused.on("publish", self.queue.name());
        limits::count_at_most(
            "jobs in one publish",
            self.ids.len() as u64 + 1,
            limits::MAX_BATCH as u64,
        )
        .map_err(refuse)?;
        limits::count_at_most(
            "payload bytes",
            item.len() as u64,
            limits::MAX_ITEM_BYTES as u64,
        )
        .map_err(refuse)?;
        let keep = options.keep_result.unwrap_or_default();
        limits::at_most("keep_result", keep, limits::MAX_DELAY).map_err(refuse)?;
        // At least a second: Redis's EX does not take zero.
        let ttl = options.keep_result.map_or(0, |t| t.as_secs().max(1));
        let delay = match options.due {
            None => Duration::ZERO,
            Some(Due::In(d)) => {
                limits::at_most("delay", d, limits::MAX_DELAY).map_err(refuse)?;
                d
            }
            Some(Due::At(t)) => {
                // A time past is now.
                let delay = t.duration_since(SystemTime::now()).unwrap_or_default();
                limits::at_most("delay to `at`", delay, limits::MAX_DELAY).map_err(refuse)?;
                delay
            }
        };
        // The largest count and timeout asked for hold for the whole batch.
        if let Some(r) = options.replicas {
            let was = self.replicas.unwrap_or(r);
            self.replicas = Some(Replicas {
                count: was.count.max(r.count),
                timeout: was.timeout.max(r.timeout),
            });
        }
        let window = options.unique_for.unwrap_or_default();
        limits::at_most("unique_for", window, limits::MAX_DELAY).map_err(refuse)?;
        // A generated id is new: no earlier window can hold it, so it is
        // looked up only when it opens one.
        let unique = match (given, window.as_millis()) {
            (false, 0) => String::new(),
            (_, ms) => ms.to_string(),
        };
        if ttl > 0 {
            self.keys.push(self.queue.keys.result(&id));
        }
        if !unique.is_empty() {
            self.keys.push(self.queue.keys.unique(&id));
        }
        let priority = if options.priority { "1" } else { "0" };
        self.args.extend([
            id.clone().into_bytes(),
            item,
            priority.into(),
            ttl.to_string().into_bytes(),
            delay.as_millis().to_string().into_bytes(),
            unique.into_bytes(),
        ]);
        self.ids.push(id);
        Ok(())
    }
}
