//! `thoonk list`: print every job in one state, a page at a time.

use crate::exit::Fatal;
use serde_json::json;
use std::io::Write;
use thoonk::{JobInfo, State, Thoonk};

/// List the jobs in one state: available, claimed, stalled or delayed.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The queue.
    queue: String,
    /// available | claimed | stalled | delayed
    state: State,
    /// A JSON array instead of plain lines.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(thoonk: &Thoonk, args: Args) -> Result<(), Fatal> {
    const PAGE: usize = 500;
    let Args { queue, state, json } = args;
    let mut out = std::io::stdout().lock();
    let handle = thoonk.queue(&queue)?;
    // Each page printed as it comes: the first line of a long listing
    // comes at once, and a reader that stops early (`| head`) stops us.
    let mut from = None;
    let mut first = true;
    // A scan of a set may meet a member twice (when the set grows or
    // shrinks meanwhile): each stalled job is printed once.
    let mut printed = std::collections::HashSet::new();
    if json {
        write!(out, "[")?;
    }
    loop {
        let page = handle.list_page(state, from.as_ref(), PAGE).await?;
        for info in &page.jobs {
            if state == State::Stalled && !printed.insert(info.id.clone()) {
                continue;
            }
            if json {
                write!(out, "{}{}", if first { "" } else { "," }, entry(info))?;
            } else {
                line(&mut out, info)?;
            }
            first = false;
        }
        out.flush()?;
        match page.next {
            Some(next) => from = Some(next),
            None => break,
        }
    }
    if json {
        writeln!(out, "]")?;
    }
    Ok(())
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
