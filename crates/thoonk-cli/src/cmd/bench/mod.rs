//! `thoonk bench`: measures publish, process and latency on the Redis it is
//! pointed at, with Redis's own CPU time and memory per job; or, with
//! `--scale`, how each operation's time grows with the queue (`scale`).
//!
//! Each phase runs on a fresh queue of its own (`NAME.<phase>`), and the
//! queue's keys are deleted after it.

mod load;
mod scale;

use crate::connect::Target;
use crate::exit::Fatal;
use load::{payload, publish_all, Progress};
use serde::Serialize;
use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use thoonk::{EventKind, Failure, Job, Publish, Queue, Thoonk, Worker};

/// Measure publish, process and latency, with Redis's CPU and memory per job.
///
/// Each phase runs on a fresh queue of its own (QUEUE.publish_single, …);
/// bench refuses to run when one of them is not empty.
///
/// With --scale, instead: each operation's time on a queue of 1,000,
/// 10,000, 100,000 and 1,000,000 available jobs (QUEUE.scale).
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The queue name the phases' queues are named after.
    #[arg(long, default_value = "bench")]
    queue: String,
    /// Jobs for the bulk publish and process phases.
    #[arg(long, value_name = "N", default_value_t = 50_000)]
    jobs: usize,
    /// Jobs for the one-by-one publish phase.
    #[arg(long, value_name = "N", default_value_t = 20_000)]
    single: usize,
    /// The worker's concurrency in the process and latency phases.
    #[arg(long, value_name = "C", default_value_t = 50)]
    concurrency: usize,
    /// Jobs for the latency phase.
    #[arg(long, value_name = "N", default_value_t = 5_000)]
    latency_jobs: usize,
    /// Publish rate of the latency phase, jobs per second.
    #[arg(long, value_name = "R", default_value_t = 1000.0)]
    rate: f64,
    /// Payload size, about.
    #[arg(long, value_name = "B", default_value_t = 95)]
    payload_bytes: usize,
    /// One JSON line instead of plain lines.
    #[arg(long)]
    json: bool,
    /// Instead of the phases: time each operation at 10^3, 10^4, … queued
    /// jobs (each size N also holds N/10 stalled and N/50 claimed jobs),
    /// with Redis's own time per command (SLOWLOG), as a table.
    #[arg(long)]
    scale: bool,
    /// With --scale: the largest size (the sizes are 1,000, 10,000, … up
    /// to N, and N itself).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1_000_000,
        value_parser = clap::value_parser!(u64).range(1000..=10_000_000)
    )]
    scale_max: u64,
    /// With --scale: runs of each operation, of which the median is shown
    /// (the CLI's and a dead worker's rows take at most 3: each is slow).
    #[arg(
        long,
        value_name = "R",
        default_value_t = 11,
        value_parser = clap::value_parser!(u64).range(1..=1000)
    )]
    scale_runs: u64,
}

/// Runs every phase (or, with `--scale`, every size) and prints the results.
pub(crate) async fn run(thoonk: &Thoonk, target: &Target, args: Args) -> Result<(), Fatal> {
    if args.scale {
        let plan = scale::Plan {
            queue: format!("{}.scale", args.queue),
            max: args.scale_max as usize,
            runs: args.scale_runs as usize,
            payload_bytes: args.payload_bytes,
            json: args.json,
        };
        return scale::run(thoonk, target, plan).await;
    }
    // Each phase needs at least one job to measure, and the worker a slot.
    let plan = Plan {
        queue: args.queue,
        jobs: args.jobs.max(1),
        single: args.single.max(1),
        concurrency: args.concurrency.max(1),
        latency_jobs: args.latency_jobs.max(1),
        rate: args.rate,
        payload_bytes: args.payload_bytes,
    };
    let results = run_phases(thoonk, &plan).await.map_err(Fatal::failed)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(
            out,
            "{}",
            serde_json::to_string(&results).expect("plain struct")
        )?;
    } else {
        print_human(&results, &mut out)?;
    }
    Ok(())
}

/// What the phases measure, as `--json` prints it.
#[derive(Debug, Serialize)]
struct Results {
    publish_single: Throughput,
    publish_bulk: BulkThroughput,
    process: Throughput,
    latency: Latency,
}

#[derive(Debug, Serialize)]
struct Throughput {
    jobs_per_s: f64,
    redis_cpu_us_per_job: f64,
}

#[derive(Debug, Serialize)]
struct BulkThroughput {
    #[serde(flatten)]
    throughput: Throughput,
    bytes_per_job: f64,
}

/// Each job's time from before its publish call: until its finish event
/// arrives (p50, p99, max), until its handler starts (start_*), and until
/// the publish call returns (publish_p50_ms). Where the time goes, hop by
/// hop; bench/compare asks the same of the other systems.
#[derive(Debug, Serialize)]
struct Latency {
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    start_p50_ms: f64,
    start_p99_ms: f64,
    publish_p50_ms: f64,
}

/// When each latency job passed each hop; the publisher, the handler and
/// the event reader share it.
#[derive(Debug, Default)]
struct Hops {
    /// Published ids, and when their publish call started.
    published: HashMap<String, Instant>,
    /// How long each publish call took.
    acknowledged: Vec<Duration>,
    /// From each publish call's start to its handler's.
    started: Vec<Duration>,
}

/// The `q` quantile (0..=1) of `samples`, in ms; sorts them.
fn quantile_ms(samples: &mut [Duration], q: f64) -> f64 {
    samples.sort();
    let at = ((samples.len() as f64 * q) as usize).min(samples.len().saturating_sub(1));
    samples.get(at).map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

/// The workload.
#[derive(Debug, Clone)]
struct Plan {
    queue: String,
    jobs: usize,
    single: usize,
    concurrency: usize,
    latency_jobs: usize,
    rate: f64,
    payload_bytes: usize,
}

/// Runs the four phases, each on a fresh queue that it empties after.
async fn run_phases(thoonk: &Thoonk, plan: &Plan) -> Result<Results, String> {
    let phases = ["publish_single", "publish_bulk", "process", "latency"];
    // On a cluster, refused here when it has no {tag}, with the fix.
    thoonk.queue(&plan.queue).map_err(|e| e.to_string())?;
    let mut queues = HashMap::new();
    for phase in phases {
        let queue = thoonk
            .queue(&format!("{}.{phase}", plan.queue))
            .map_err(|e| e.to_string())?;
        let stats = queue.stats().await.map_err(|e| e.to_string())?;
        if !stats.is_unused() {
            return Err(format!(
                "queue {} is not empty: bench needs fresh queues (choose another --queue)",
                queue.name()
            ));
        }
        queues.insert(phase, queue);
    }
    let payload = |i: usize| payload(i, plan.payload_bytes);
    let e = |e: thoonk::Error| e.to_string();

    // publish_single: each publish awaited before the next.
    let queue = &queues["publish_single"];
    let progress = Progress::new("publish_single", plan.single);
    let publish_single = measure(thoonk, plan.single, async {
        for i in 0..plan.single {
            queue.publish(payload(i), Publish::new()).await.map_err(e)?;
            progress.set(i + 1);
        }
        Ok(())
    })
    .await?;
    progress.done();
    queue.destroy().await.map_err(e)?;

    // publish_bulk: batches of BULK_BATCH, a few in flight together.
    let queue = &queues["publish_bulk"];
    let progress = Progress::new("publish_bulk", plan.jobs);
    let memory = redis_memory(thoonk).await?;
    let throughput = measure(
        thoonk,
        plan.jobs,
        publish_all(queue, plan.jobs, &payload, &progress),
    )
    .await?;
    let bytes = redis_memory(thoonk).await? as f64 - memory as f64;
    progress.done();
    let publish_bulk = BulkThroughput {
        throughput,
        bytes_per_job: bytes / plan.jobs as f64,
    };
    queue.destroy().await.map_err(e)?;

    // process: one worker, concurrency C, no-op handler, all jobs queued first.
    let queue = &queues["process"];
    publish_all(queue, plan.jobs, &payload, &Progress::hidden()).await?;
    let progress = Arc::new(Progress::new("process", plan.jobs));
    let process = measure(
        thoonk,
        plan.jobs,
        run_worker_until(queue, plan.concurrency, plan.jobs as u64, &progress),
    )
    .await?;
    progress.done();
    queue.destroy().await.map_err(e)?;

    // latency: publish at R jobs/s to a running worker; each job's time from
    // before its publish call until its finish event arrives.
    let queue = &queues["latency"];
    let latency = measure_latency(queue, plan, &payload).await?;
    queue.destroy().await.map_err(e)?;

    Ok(Results {
        publish_single,
        publish_bulk,
        process,
        latency,
    })
}

/// Runs `work` on `n` jobs: its rate, and the Redis CPU it cost per job.
async fn measure(
    thoonk: &Thoonk,
    n: usize,
    work: impl std::future::Future<Output = Result<(), String>>,
) -> Result<Throughput, String> {
    let cpu = redis_cpu(thoonk).await?;
    let start = Instant::now();
    work.await?;
    let secs = start.elapsed().as_secs_f64();
    let cpu = redis_cpu(thoonk).await? - cpu;
    Ok(Throughput {
        jobs_per_s: n as f64 / secs,
        redis_cpu_us_per_job: cpu * 1e6 / n as f64,
    })
}

/// Runs a no-op worker until `finishes` jobs have finished.
async fn run_worker_until(
    queue: &Queue,
    concurrency: usize,
    finishes: u64,
    progress: &Arc<Progress>,
) -> Result<(), String> {
    let worker = Worker::new(queue.clone()).concurrency(concurrency);
    let handled = Arc::new(AtomicU64::new(0));
    let counter = handled.clone();
    let handler = move |_job: Job| {
        counter.fetch_add(1, Ordering::Relaxed);
        async { Ok::<_, Failure>("ok") }
    };
    let done = {
        let queue = queue.clone();
        let progress = progress.clone();
        async move {
            // The finish counter is the truth (handled counts only calls).
            loop {
                let n = queue.stats().await.map(|s| s.finishes).unwrap_or(0);
                progress.set(n as usize);
                if n >= finishes {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };
    worker.run(handler, done).await.map_err(|e| e.to_string())?;
    Ok(())
}

async fn measure_latency(
    queue: &Queue,
    plan: &Plan,
    payload: &impl Fn(usize) -> String,
) -> Result<Latency, String> {
    let e = |e: thoonk::Error| e.to_string();
    let mut events = queue.subscribe_to(&[EventKind::Finish]).await.map_err(e)?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let hops: Arc<std::sync::Mutex<Hops>> = Arc::default();
    let handler = {
        let hops = hops.clone();
        move |job: Job| {
            let mut hops = hops.lock().unwrap();
            if let Some(&t0) = hops.published.get(&job.id) {
                hops.started.push(t0.elapsed());
            }
            async { Ok::<_, Failure>("ok") }
        }
    };
    let worker = Worker::new(queue.clone()).concurrency(plan.concurrency);
    let worker = tokio::spawn(worker.run(handler, async {
        let _ = stopped.await;
    }));
    let progress = Progress::new("latency", plan.latency_jobs);
    let items: Vec<String> = (0..plan.latency_jobs).map(payload).collect();
    let publisher = tokio::spawn(publish_at_rate(
        queue.clone(),
        plan.rate,
        items,
        hops.clone(),
    ));
    let mut samples = Vec::with_capacity(plan.latency_jobs);
    let deadline = Instant::now()
        + Duration::from_secs_f64(plan.latency_jobs as f64 / plan.rate.max(1e-3) + 30.0);
    while samples.len() < plan.latency_jobs {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = tokio::time::timeout(left, events.next())
            .await
            .map_err(|_| {
                "latency phase: jobs did not all finish within 30 s of the last publish".to_string()
            })?
            .ok_or("the event subscription ended")?;
        if event.kind == EventKind::Finish {
            let now = Instant::now();
            if let Some(t0) = hops.lock().unwrap().published.remove(&event.id) {
                samples.push(now - t0);
                progress.set(samples.len());
            }
        }
    }
    progress.done();
    publisher.await.map_err(|e| e.to_string())?.map_err(e)?;
    let _ = stop.send(());
    worker.await.map_err(|e| e.to_string())?.map_err(e)?;
    let mut hops = hops.lock().unwrap();
    if hops.started.len() != plan.latency_jobs {
        return Err(format!(
            "latency phase: {} of {} handler starts timed",
            hops.started.len(),
            plan.latency_jobs
        ));
    }
    Ok(Latency {
        p50_ms: quantile_ms(&mut samples, 0.50),
        p99_ms: quantile_ms(&mut samples, 0.99),
        max_ms: quantile_ms(&mut samples, 1.0),
        start_p50_ms: quantile_ms(&mut hops.started, 0.50),
        start_p99_ms: quantile_ms(&mut hops.started, 0.99),
        publish_p50_ms: quantile_ms(&mut hops.acknowledged, 0.50),
    })
}

/// Publishes `items` at `rate` a second, each with an id of its own, noting
/// in `hops` when each publish call started and how long it took.
async fn publish_at_rate(
    queue: Queue,
    rate: f64,
    items: Vec<String>,
    hops: Arc<std::sync::Mutex<Hops>>,
) -> thoonk::Result<()> {
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(1e-3)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    for item in items {
        tick.tick().await;
        let id = thoonk::new_id();
        let t0 = Instant::now();
        hops.lock().unwrap().published.insert(id.clone(), t0);
        queue.publish(item, Publish::new().id(id)).await?;
        hops.lock().unwrap().acknowledged.push(t0.elapsed());
    }
    Ok(())
}

/// The Redis server's CPU seconds so far (user + sys), from `INFO cpu`; on
/// a cluster, the masters' together.
async fn redis_cpu(thoonk: &Thoonk) -> Result<f64, String> {
    let mut cpu = 0.0;
    for info in info(thoonk, "cpu").await? {
        cpu += field(&info, "used_cpu_user")? + field(&info, "used_cpu_sys")?;
    }
    Ok(cpu)
}

/// The Redis server's `used_memory`, in bytes; on a cluster, the masters'
/// together.
async fn redis_memory(thoonk: &Thoonk) -> Result<u64, String> {
    let mut memory = 0.0;
    for info in info(thoonk, "memory").await? {
        memory += field(&info, "used_memory")?;
    }
    Ok(memory as u64)
}

/// `INFO section` of the Redis, or of each master of a cluster (where the
/// client sends it to every master and answers with a map, node -> reply).
async fn info(thoonk: &Thoonk, section: &str) -> Result<Vec<String>, String> {
    let reply: redis::Value = redis::cmd("INFO")
        .arg(section)
        .query_async(&mut thoonk.connection())
        .await
        .map_err(|e| e.to_string())?;
    let text = |v: redis::Value| redis::from_redis_value::<String>(v).map_err(|e| e.to_string());
    match reply {
        redis::Value::Map(nodes) => nodes.into_iter().map(|(_, v)| text(v)).collect(),
        one => Ok(vec![text(one)?]),
    }
}

fn field(info: &str, name: &str) -> Result<f64, String> {
    info.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("INFO has no {name}"))
}

/// The results as plain lines.
fn print_human(r: &Results, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "publish_single  {:>10.0} jobs/s  {:>6.1} µs Redis CPU/queue",
        r.publish_single.jobs_per_s, r.publish_single.redis_cpu_us_per_job
    )?;
    writeln!(
        out,
        "publish_bulk    {:>10.0} jobs/s  {:>6.1} µs Redis CPU/queue  {:>6.0} bytes/queue",
        r.publish_bulk.throughput.jobs_per_s,
        r.publish_bulk.throughput.redis_cpu_us_per_job,
        r.publish_bulk.bytes_per_job
    )?;
    writeln!(
        out,
        "process         {:>10.0} jobs/s  {:>6.1} µs Redis CPU/queue",
        r.process.jobs_per_s, r.process.redis_cpu_us_per_job
    )?;
    writeln!(
        out,
        "latency         p50 {:.3} ms  p99 {:.3} ms  max {:.3} ms  (to the finish event)",
        r.latency.p50_ms, r.latency.p99_ms, r.latency.max_ms
    )?;
    writeln!(
        out,
        "                p50 {:.3} ms  p99 {:.3} ms  (to the handler's start; the publish call: p50 {:.3} ms)",
        r.latency.start_p50_ms, r.latency.start_p99_ms, r.latency.publish_p50_ms
    )
}
