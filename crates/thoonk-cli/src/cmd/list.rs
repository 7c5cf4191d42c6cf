//! `thoonk list`: print every job in one state, a page at a time.

use crate::exit::Fatal;
use serde_json::json;
use std::io::Write;
use thoonk::{State, Thoonk};

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
    const PAGE: usize = 1000;
    let Args { queue, state, json } = args;
    let mut out = std::io::stdout().lock();
    let handle = thoonk.queue(&queue)?;
    let mut offset = 0;
    let mut all = Vec::new();
    loop {
        let page = handle.list(state, offset, PAGE).await?;
        let done = page.len() < PAGE;
        offset += page.len();
        for info in page {
            if json {
                let mut entry = json!({
                    "id": info.id,
                    "item": String::from_utf8_lossy(&info.item),
                    "cancelled": info.cancelled,
                });
                if let Some(reason) = &info.reason {
                    entry["reason"] = reason.as_str().into();
                }
                all.push(entry);
            } else {
                // Escaped, so an item or reason with newlines stays on its line.
                let item = String::from_utf8_lossy(&info.item);
                write!(
                    out,
                    "{}\t{}\t{}",
                    info.id,
                    info.cancelled,
                    item.escape_debug()
                )?;
                match &info.reason {
                    Some(reason) => writeln!(out, "\t{}", reason.escape_debug())?,
                    None => writeln!(out)?,
                }
            }
        }
        if done {
            break;
        }
    }
    if json {
        writeln!(out, "{}", serde_json::Value::Array(all))?;
    }
    Ok(())
}
