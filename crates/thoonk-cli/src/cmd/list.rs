//! `thoonk list`: print every job in one state, or the finished jobs the
//! queue keeps, a page at a time.

use crate::exit::Fatal;
use serde_json::json;
use std::io::Write;
use std::str::FromStr;
use thoonk::{FinishedJob, JobInfo, Queue, State, Thoonk};

/// Jobs per page asked of Redis.
const PAGE: usize = 500;

/// List the jobs in one state (available, claimed, stalled or delayed),
/// or the finished jobs the queue keeps (`thoonk config --keep-finished`),
/// newest first.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The queue.
    queue: String,
    /// available | claimed | stalled | delayed | finished
    what: Listed,
    /// A JSON array instead of plain lines.
    #[arg(long)]
    json: bool,
}

/// What a listing lists: the jobs in a state, or the finished ones kept.
#[derive(Debug, Clone, Copy)]
enum Listed {
    Jobs(State),
    Finished,
}

impl FromStr for Listed {
    type Err = String;
    fn from_str(text: &str) -> Result<Listed, String> {
        match text {
            "finished" => Ok(Listed::Finished),
            _ => text.parse().map(Listed::Jobs).map_err(|_| {
                format!(
                    "unknown state {text:?} (expected available, claimed, stalled, delayed \
                     or finished)"
                )
            }),
        }
    }
}

pub(crate) async fn run(thoonk: &Thoonk, args: Args) -> Result<(), Fatal> {
    let Args { queue, what, json } = args;
    let handle = thoonk.queue(&queue)?;
    match what {
        Listed::Jobs(state) => jobs(&handle, state, json).await,
        Listed::Finished => finished(&handle, json).await,
    }
}

async fn jobs(handle: &Queue, state: State, json: bool) -> Result<(), Fatal> {
    let mut printer = Printer::start(json, state == State::Stalled)?;
    let mut from = None;
    loop {
        let page = handle.list_page(state, from.as_ref(), PAGE).await?;
        for info in &page.jobs {
            printer.print(&info.id, || entry(info), |out| line(out, info))?;
        }
        printer.flush()?;
        match page.next {
            Some(next) => from = Some(next),
            None => return printer.end(),
        }
    }
}

/// The finished jobs kept, newest first, each page printed as it comes.
async fn finished(handle: &Queue, json: bool) -> Result<(), Fatal> {
    let mut printer = Printer::start(json, true)?;
    let mut from = None;
    loop {
        let page = handle.finished_page(from.as_ref(), PAGE).await?;
        for job in &page.jobs {
            printer.print(
                &job.id,
                || finished_entry(job),
                |out| finished_line(out, job),
            )?;
        }
        printer.flush()?;
        match page.next {
            Some(next) => from = Some(next),
            None => return printer.end(),
        }
    }
}

/// Prints a listing page by page as it comes (the first line of a long
/// listing comes at once, and a reader that stops early, `| head`, stops
/// us): a JSON array, or a line per job.
struct Printer {
    out: std::io::StdoutLock<'static>,
    json: bool,
    first: bool,
    /// The ids printed, when a listing may meet one twice: a scan of the
    /// stalled set, when the set changes meanwhile; the finished jobs,
    /// whose pages start at an offset from the newest, which a finish
    /// meanwhile shifts by one.
    printed: Option<std::collections::HashSet<String>>,
}

impl Printer {
    fn start(json: bool, once_each: bool) -> std::io::Result<Printer> {
        let mut out = std::io::stdout().lock();
        if json {
            write!(out, "[")?;
        }
        Ok(Printer {
            out,
            json,
            first: true,
            printed: once_each.then(Default::default),
        })
    }

    /// Prints job `id`, as `entry` in JSON or as `line` writes it.
    fn print(
        &mut self,
        id: &str,
        entry: impl FnOnce() -> serde_json::Value,
        line: impl FnOnce(&mut std::io::StdoutLock<'static>) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        if let Some(printed) = &mut self.printed {
            if !printed.insert(id.to_string()) {
                return Ok(());
            }
        }
        if self.json {
            let comma = if self.first { "" } else { "," };
            write!(self.out, "{comma}{}", entry())?;
        } else {
            line(&mut self.out)?;
        }
        self.first = false;
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }

    fn end(mut self) -> Result<(), Fatal> {
        if self.json {
            writeln!(self.out, "]")?;
        }
        Ok(())
    }
}

/// A finished job as `--json` prints it: times in Unix ms, the result as
/// text (invalid UTF-8 replaced; `null` when it finished with none).
fn finished_entry(job: &FinishedJob) -> serde_json::Value {
    json!({
        "id": job.id,
        "result": job.result.as_deref().map(String::from_utf8_lossy),
        "result_cut": job.result_cut,
        "finished_ms": job.finished_ms,
        "duration_ms": job.duration_ms,
        "worker": job.worker,
        "cancelled": job.cancelled,
    })
}

/// A finished job as a line: id, finish time (Unix ms), duration (ms),
/// worker (`-` for none), cancel count and result (escaped, `…` after a
/// cut one), tab-separated.
fn finished_line(out: &mut impl Write, job: &FinishedJob) -> std::io::Result<()> {
    let result = job.result.as_deref().map(String::from_utf8_lossy);
    writeln!(
        out,
        "{}\t{}\t{}\t{}\t{}\t{}{}",
        job.id,
        job.finished_ms,
        job.duration_ms,
        job.worker.as_deref().unwrap_or("-"),
        job.cancelled,
        result.unwrap_or_default().escape_debug(),
        if job.result_cut { "…" } else { "" },
    )
}

/// A job as `--json` prints it.
fn entry(info: &JobInfo) -> serde_json::Value {
    let mut entry = json!({
        "id": info.id,
        "item": String::from_utf8_lossy(&info.item),
        "cancelled": info.cancelled,
    });
    if let Some(reason) = &info.reason {
        entry["reason"] = reason.as_str().into();
    }
    if let Some(progress) = &info.progress {
        entry["progress"] = progress.clone();
    }
    entry
}

/// A job as a line: id, cancel count, payload, reason and (for a claimed
/// job that reported one) progress as JSON, tab-separated, escaped so that
/// an item or reason with newlines stays on its line.
fn line(out: &mut impl Write, info: &JobInfo) -> std::io::Result<()> {
    let item = String::from_utf8_lossy(&info.item);
    write!(
        out,
        "{}\t{}\t{}",
        info.id,
        info.cancelled,
        item.escape_debug()
    )?;
    let reason = info.reason.as_deref().unwrap_or_default().escape_debug();
    match &info.progress {
        Some(progress) => writeln!(out, "\t{reason}\t{progress}"),
        None if info.reason.is_some() => writeln!(out, "\t{reason}"),
        None => writeln!(out),
    }
}
