//! `thoonk bench --scale`: how each operation's time grows with the queue.
//!
//! For each size N (1,000, 10,000, … up to `--scale-max`), a fresh queue
//! (`NAME.scale`) is filled with N available jobs, N/10 stalled, N/50
//! claimed and a few delayed, through the library's own calls (`fill`).
//! Then each operation (`ops`) runs a few times, timed by the client and
//! by Redis itself (`slowlog`), with a live worker holding 50 jobs
//! (`holder`), and the queue is deleted. `report` prints the table.
//!
//! # Layout
//! - `fill`: the queue filled to a size;
//! - `holder`: a worker that holds jobs, alive or killed;
//! - `ops`: the operations, and one timed run of each;
//! - `slowlog`: Redis's own time per command;
//! - `report`: the table and its JSON.

mod fill;
mod holder;
mod ops;
mod report;
mod slowlog;

use super::load::Progress;
use crate::connect::Target;
use crate::exit::Fatal;
use holder::{Holder, HOLDS};
use ops::{Bench, Op, Sample};
use report::{Cell, Results, Row};
use slowlog::Slowlog;
use std::io::Write;
use thoonk::{Queue, Thoonk};

/// The smallest size, and the step from one size to the next.
const SMALLEST: usize = 1000;
/// Runs of the operations that take seconds each (`Op::is_slow`).
const SLOW_RUNS: usize = 3;

/// What `--scale` was asked for.
#[derive(Debug)]
pub(crate) struct Plan {
    /// The queue's name (`NAME.scale`).
    pub(crate) queue: String,
    /// The largest size.
    pub(crate) max: usize,
    /// Runs of each operation, of which the median is shown.
    pub(crate) runs: usize,
    pub(crate) payload_bytes: usize,
    pub(crate) json: bool,
}

/// Measures every size and prints the table (or its JSON).
pub(crate) async fn run(thoonk: &Thoonk, target: &Target, plan: Plan) -> Result<(), Fatal> {
    let results = measure(thoonk, target, &plan)
        .await
        .map_err(Fatal::failed)?;
    let mut out = std::io::stdout().lock();
    if plan.json {
        let json = serde_json::to_string(&results).expect("plain struct");
        writeln!(out, "{json}")?;
    } else {
        report::print_table(&results, &mut out)?;
    }
    Ok(())
}

/// 1,000, 10,000, … up to `max`, and `max` itself.
fn sizes(max: usize) -> Vec<usize> {
    let mut sizes: Vec<usize> = std::iter::successors(Some(SMALLEST), |n| n.checked_mul(10))
        .take_while(|&n| n <= max)
        .collect();
    if sizes.last() != Some(&max) {
        sizes.push(max);
    }
    sizes
}

/// Every size, each on the queue filled afresh and deleted after.
async fn measure(thoonk: &Thoonk, target: &Target, plan: &Plan) -> Result<Results, String> {
    let e = |e: thoonk::Error| e.to_string();
    let queue = thoonk.queue(&plan.queue).map_err(e)?;
    if !queue.stats().await.map_err(e)?.is_unused() {
        return Err(format!(
            "queue {} is not empty: bench needs a fresh queue (choose another --queue)",
            queue.name()
        ));
    }
    // The holding workers run on a client of their own, so that SLOWLOG
    // tells their heartbeat's commands from the ones measured.
    let worker_client = target.connect().await.map_err(|fatal| fatal.1)?;
    let worker_queue = worker_client.queue(&plan.queue).map_err(e)?;
    let slowlog = match Slowlog::start(thoonk).await {
        Ok(log) => slowlog::name_client(&worker_client, slowlog::WORKER)
            .await
            .map(|()| log),
        Err(why) => Err(why),
    };
    let mut rows: Vec<Row> = Op::all().into_iter().map(Row::new).collect();
    let sizes = sizes(plan.max);
    for &n in &sizes {
        let size = Size {
            n,
            queue: &queue,
            worker_queue: &worker_queue,
            slowlog: slowlog.as_ref().ok(),
            target,
            plan,
        };
        let measured = size.measure().await;
        // Deleted whatever happened: the bench leaves nothing behind.
        let deleted = queue.destroy().await.map_err(e);
        for (row, cell) in rows.iter_mut().zip(measured?) {
            row.results.push(cell);
        }
        deleted?;
    }
    Ok(Results {
        queue: plan.queue.clone(),
        sizes,
        runs: plan.runs,
        slow_runs: SLOW_RUNS.min(plan.runs),
        server_times: match &slowlog {
            Ok(_) => "SLOWLOG: the slowest command of each run, in µs".into(),
            Err(why) => format!("none: {why}"),
        },
        operations: rows,
    })
}

/// One size's measurement.
struct Size<'a> {
    n: usize,
    queue: &'a Queue,
    worker_queue: &'a Queue,
    slowlog: Option<&'a Slowlog>,
    target: &'a Target,
    plan: &'a Plan,
}

impl Size<'_> {
    /// Fills the queue, then times every operation: one cell per
    /// `Op::all()`, in its order.
    async fn measure(&self) -> Result<Vec<Cell>, String> {
        let filled = fill::fill(self.queue, self.n, self.plan.payload_bytes).await?;
        let mut bench = Bench {
            queue: self.queue,
            worker_queue: self.worker_queue,
            slowlog: self.slowlog,
            target: self.target,
            filled,
            holder_jobs: Vec::new(),
            payload_bytes: self.plan.payload_bytes,
            published: 0,
            retracts: 0,
        };
        if let Some(log) = self.slowlog {
            log.on().await?;
        }
        let cells = self.time_all(&mut bench).await;
        if let Some(log) = self.slowlog {
            log.off().await?;
        }
        cells
    }

    async fn time_all(&self, bench: &mut Bench<'_>) -> Result<Vec<Cell>, String> {
        let runs = self.plan.runs;
        let slow_runs = SLOW_RUNS.min(runs);
        let progress = Progress::new("measure", Op::all().len());
        // First, while no worker is alive: a live one's recovery pass
        // would take a dead one's jobs back before the one timed. (The
        // script loaded first, as the other operations' first runs do.)
        bench.queue.recover().await.map_err(|e| e.to_string())?;
        let mut dead = Vec::with_capacity(slow_runs);
        for _ in 0..slow_runs {
            dead.push(bench.recover_dead().await?);
        }
        let live = Holder::start(bench.worker_queue).await?;
        bench.holder_jobs = live.jobs.clone();
        self.check_shape().await?;
        let mut cli = Vec::with_capacity(slow_runs);
        let timed = async {
            let mut cells = Vec::new();
            for (i, op) in Op::all().into_iter().enumerate() {
                let samples = match op {
                    Op::RecoverDead => dead.clone(),
                    Op::CliFirstByte | Op::CliEnd => {
                        if cli.is_empty() {
                            for _ in 0..slow_runs {
                                cli.push(bench.cli_list().await?);
                            }
                        }
                        let first = op == Op::CliFirstByte;
                        cli.iter()
                            .map(|&(a, b)| if first { a } else { b })
                            .collect()
                    }
                    _ => {
                        // One more run than counted: the first loads the
                        // script and warms the path.
                        let mut samples = Vec::with_capacity(runs + 1);
                        for _ in 0..=runs {
                            samples.push(bench.sample(op).await?);
                        }
                        samples.split_off(1)
                    }
                };
                cells.push(Cell::of(self.n, &samples));
                progress.set(i + 1);
            }
            Ok::<_, String>(cells)
        }
        .await;
        progress.done();
        live.stop().await?;
        timed
    }
}

impl Size<'_> {
    /// Refuses to measure a queue that is not the one the table says.
    async fn check_shape(&self) -> Result<(), String> {
        let n = self.n as u64;
        let stats = self.queue.stats().await.map_err(|e| e.to_string())?;
        let found = [stats.available, stats.stalled, stats.claimed, stats.delayed];
        let meant = [n, n / 10, n / 50 + HOLDS as u64, fill::DELAYED as u64];
        if found != meant {
            return Err(format!(
                "queue {} holds {found:?} jobs available, stalled, claimed and delayed, \
                 not {meant:?}",
                self.queue.name()
            ));
        }
        Ok(())
    }
}

impl Cell {
    /// The medians of the client's times and of Redis's, and Redis's max,
    /// over `samples`.
    fn of(jobs: usize, samples: &[Sample]) -> Cell {
        let client: Vec<f64> = samples
            .iter()
            .map(|s| s.client.as_secs_f64() * 1e3)
            .collect();
        let server: Vec<f64> = samples
            .iter()
            .filter_map(|s| s.server_us)
            .map(|us| us as f64)
            .collect();
        Cell {
            jobs,
            runs: samples.len(),
            client_ms: median(client).unwrap_or(0.0),
            server_us_max: samples.iter().filter_map(|s| s.server_us).max(),
            server_us_median: median(server).map(|us| us.round() as u64),
        }
    }
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    match values.len() {
        0 => None,
        n if n.is_multiple_of(2) => Some((values[mid - 1] + values[mid]) / 2.0),
        _ => Some(values[mid]),
    }
}
