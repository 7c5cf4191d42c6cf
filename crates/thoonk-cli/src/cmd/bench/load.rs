//! The bench's load, shared by its phases and `--scale`: payloads of a
//! given size, publishing many in batches, and a progress line.

use std::io::{IsTerminal, Write};
use thoonk::Queue;

/// Jobs per publish call in the bulk phase (and when filling the process
/// phase's queue): big enough to amortise the round trip, small enough not
/// to hold Redis for long.
const BULK_BATCH: usize = 1000;

/// Publishes `n` jobs in batches, a few batches in flight at once.
pub(super) async fn publish_all(
    queue: &Queue,
    n: usize,
    payload: &impl Fn(usize) -> String,
    progress: &Progress,
) -> Result<(), String> {
    const IN_FLIGHT: usize = 4;
    let mut start = 0;
    while start < n {
        let mut calls = Vec::new();
        for _ in 0..IN_FLIGHT {
            if start >= n {
                break;
            }
            let end = (start + BULK_BATCH).min(n);
            let items: Vec<String> = (start..end).map(payload).collect();
            calls.push(queue.publish_many(items));
            start = end;
        }
        for r in futures_util::future::join_all(calls).await {
            r.map_err(|e| e.to_string())?;
        }
        progress.set(start);
    }
    Ok(())
}

/// `{"n":i,"pad":"xxx…"}`, padded to about `bytes`.
pub(super) fn payload(i: usize, bytes: usize) -> String {
    let head = format!("{{\"n\":{i},\"pad\":\"");
    let pad = bytes.saturating_sub(head.len() + 2);
    format!("{head}{}\"}}", "x".repeat(pad))
}

/// A progress line on stderr, when stderr is a terminal.
pub(super) struct Progress {
    label: &'static str,
    total: usize,
    shown: bool,
}

impl Progress {
    pub(super) fn new(label: &'static str, total: usize) -> Self {
        Progress {
            label,
            total,
            shown: std::io::stderr().is_terminal(),
        }
    }

    pub(super) fn hidden() -> Self {
        Progress {
            label: "",
            total: 0,
            shown: false,
        }
    }

    pub(super) fn set(&self, n: usize) {
        if self.shown && (n.is_multiple_of(500) || n == self.total) {
            let width = 30;
            let filled = (n * width) / self.total.max(1);
            eprint!(
                "\r{:<15} [{}{}] {n}/{}",
                self.label,
                "#".repeat(filled),
                " ".repeat(width - filled.min(width)),
                self.total
            );
            let _ = std::io::stderr().flush();
        }
    }

    pub(super) fn done(&self) {
        if self.shown {
            eprintln!();
        }
    }
}
