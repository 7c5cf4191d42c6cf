//! A worker's tracing: each job's run is a `job` span (its queue, id,
//! attempt and worker), with an event for each change of the job's state
//! in it, and the handler's own events inside it too. Recorded by a layer
//! of the test's own, installed for the whole test binary.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use thoonk::{Backoff, Failure, Job, Publish, Worker};
use thoonk_testkit::poll::eventually;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// A small backoff, so the retried job comes back within the test.
const QUICK: Backoff = Backoff {
    base: Duration::from_millis(20),
    max: Duration::from_millis(50),
};

/// A span or an event's fields, as text.
type Fields = BTreeMap<String, String>;

/// An event as the subscriber saw it: its message, its fields and the
/// spans it was logged inside, innermost first.
#[derive(Debug, Clone)]
struct Seen {
    message: String,
    fields: Fields,
    spans: Vec<(&'static str, Fields)>,
}

impl Seen {
    /// The fields of the innermost `job` span it was logged inside.
    fn job(&self) -> Option<&Fields> {
        self.spans
            .iter()
            .find(|(name, _)| *name == "job")
            .map(|(_, fields)| fields)
    }
}

/// Collects every event of the process with its spans' fields.
struct Recorder(Arc<Mutex<Vec<Seen>>>);

struct FieldText<'a>(&'a mut Fields);

impl Visit for FieldText<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().into(), format!("{value:?}"));
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Recorder {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::new();
        attrs.record(&mut FieldText(&mut fields));
        ctx.span(id)
            .expect("a new span")
            .extensions_mut()
            .insert(fields);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let span = ctx.span(id).expect("a live span");
        let mut extensions = span.extensions_mut();
        if let Some(fields) = extensions.get_mut::<Fields>() {
            values.record(&mut FieldText(fields));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::new();
        event.record(&mut FieldText(&mut fields));
        let message = fields.remove("message").unwrap_or_default();
        let spans = ctx
            .event_scope(event)
            .into_iter()
            .flatten()
            .map(|span| {
                let fields = span.extensions().get::<Fields>().cloned();
                (span.name(), fields.unwrap_or_default())
            })
            .collect();
        let seen = Seen {
            message,
            fields,
            spans,
        };
        self.0.lock().unwrap().push(seen);
    }
}

/// What the recorder saw so far (from every test of this binary: each
/// test looks at its own queue's).
fn seen() -> Vec<Seen> {
    static SEEN: OnceLock<Arc<Mutex<Vec<Seen>>>> = OnceLock::new();
    let seen = SEEN.get_or_init(|| {
        let seen = Arc::default();
        let subscriber = tracing_subscriber::registry().with(Recorder(Arc::clone(&seen)));
        // Global: the worker's tasks run on every thread of the runtime.
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
        seen
    });
    seen.lock().unwrap().clone()
}

/// The events logged inside the job spans of queue `queue`, job `id`, in
/// the order they came.
fn of_job(queue: &str, id: &str) -> Vec<Seen> {
    seen()
        .into_iter()
        .filter(|e| {
            e.job()
                .is_some_and(|f| f["queue"] == queue && f["id"] == id)
        })
        .collect()
}

/// The messages of `events` by their job span's attempt, each attempt's
/// in the order they came (two attempts' may interleave: the second's claim
/// races the first's last words).
fn by_attempt(events: &[Seen]) -> BTreeMap<u64, Vec<String>> {
    let mut attempts = BTreeMap::<u64, Vec<String>>::new();
    for e in events {
        let attempt = e.job().unwrap()["attempt"].parse().unwrap();
        attempts.entry(attempt).or_default().push(e.message.clone());
    }
    attempts
}

/// `changes` of each attempt, as [`by_attempt`] gives them.
fn attempts(changes: &[&[&str]]) -> BTreeMap<u64, Vec<String>> {
    (1..)
        .zip(changes)
        .map(|(n, c)| (n, c.iter().map(|m| m.to_string()).collect()))
        .collect()
}

/// The fields of job `id`'s event `message` on queue `queue`.
fn fields_of(queue: &str, id: &str, message: &str) -> Fields {
    let events = of_job(queue, id);
    let found = events.iter().find(|e| e.message == message);
    found
        .unwrap_or_else(|| panic!("{id}: no {message:?} in {events:?}"))
        .fields
        .clone()
}

const OWN: &str = "the handler's own";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_job_runs_in_a_span_that_says_its_state_changes() {
    seen(); // installs the recorder before the worker starts
    let env = Env::start().await;
    let q = env.queue("traced");
    for id in ["fine", "flaky", "broken"] {
        q.publish(id, Publish::new().id(id)).await.unwrap();
    }
    let worker = Worker::new(q.clone()).concurrency(3).backoff(QUICK);
    let running = start(worker, |job: Job| async move {
        tracing::info!(retries = job.retries, "{OWN}");
        match (job.id.as_str(), job.retries) {
            ("flaky", 0) => Err(Failure::transient("busy, try later")),
            ("broken", _) => Err(Failure::permanent("no such file")),
            _ => Ok("done"),
        }
    });
    eventually("every job is finished or stalled", || async {
        let stats = q.stats().await.unwrap();
        stats.finishes == 2 && stats.stalled == 1
    })
    .await;
    let worker_id = running.id.clone();
    running.stop().await;

    let cancelled = "cancelled: comes back after the backoff";
    let expected: [(&str, &[&[&str]]); 3] = [
        ("fine", &[&["claimed", OWN, "finished"]]),
        (
            "flaky",
            &[&["claimed", OWN, cancelled], &["claimed", OWN, "finished"]],
        ),
        (
            "broken",
            &[&["claimed", OWN, "stalled: a permanent failure"]],
        ),
    ];
    for (id, changes) in expected {
        let events = of_job("traced", id);
        assert_eq!(by_attempt(&events), attempts(changes), "{id}'s events");
        for e in &events {
            let span = e.job().unwrap();
            assert_eq!(span["worker"], worker_id, "{id}: {e:?}");
            assert_eq!(span.len(), 4, "queue, id, attempt, worker: {span:?}");
            if e.message == OWN {
                let retries: u64 = e.fields["retries"].parse().unwrap();
                assert_eq!(span["attempt"], (retries + 1).to_string(), "{e:?}");
            }
        }
    }
    let cancel = fields_of("traced", "flaky", cancelled);
    assert_eq!(cancel["reason"], "busy, try later");
    assert!(
        cancel["delay_ms"].parse::<u64>().unwrap() <= 50,
        "{cancel:?}"
    );
    let stall = fields_of("traced", "broken", "stalled: a permanent failure");
    assert_eq!(stall["reason"], "no such file");
    let claim = fields_of("traced", "fine", "claimed");
    assert!(
        claim["token"].ends_with(&format!("@{worker_id}")),
        "{claim:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_is_said_in_the_jobs_span() {
    seen();
    let env = Env::start().await;
    let q = env.queue("traced-timeout");
    q.publish("slow", Publish::new().id("slow")).await.unwrap();
    // (The backoff keeps the job away for the rest of the test.)
    let hour = Duration::from_secs(3600);
    let worker = Worker::new(q.clone())
        .timeout(Duration::from_millis(200))
        .backoff(Backoff {
            base: hour,
            max: hour,
        });
    let running = start(worker, |job: Job| async move {
        job.timed_out().await;
        Err::<(), _>(Failure::transient("stopped"))
    });
    eventually("the job is cancelled", || async {
        q.stats().await.unwrap().cancels == 1
    })
    .await;
    running.stop().await;

    let events = of_job("traced-timeout", "slow");
    let timed_out = "timed out after 0.2s: its handler is asked to stop";
    let changes: &[&[&str]] = &[&[
        "claimed",
        timed_out,
        "its handler stopped: stopped",
        "cancelled: comes back after the backoff",
    ]];
    assert_eq!(by_attempt(&events), attempts(changes));
    let cancel = fields_of(
        "traced-timeout",
        "slow",
        "cancelled: comes back after the backoff",
    );
    assert_eq!(cancel["reason"], "timed out after 0.2s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_at_shutdown_is_said_in_the_jobs_span() {
    seen();
    let env = Env::start().await;
    let q = env.queue("traced-release");
    q.publish("stuck", Publish::new().id("stuck"))
        .await
        .unwrap();
    let worker = Worker::new(q.clone()).grace(Duration::from_millis(50));
    let (started, mut has_started) = tokio::sync::mpsc::unbounded_channel();
    let running = start(worker, move |_: Job| {
        let started = started.clone();
        async move {
            started.send(()).unwrap();
            std::future::pending::<Result<(), Failure>>().await
        }
    });
    has_started.recv().await.unwrap();
    let report = running.stop().await;
    assert_eq!(report.released, 1, "{report:?}");

    let events = of_job("traced-release", "stuck");
    let changes: &[&[&str]] = &[&["claimed", "released at shutdown: the grace ran out"]];
    assert_eq!(by_attempt(&events), attempts(changes));
}
