//! What `--scale` measured ([`Results`], as `--json` prints it) and its
//! table: a row per operation, a column per size.

use super::fill::DELAYED;
use super::holder::HOLDS;
use super::ops::Op;
use serde::Serialize;
use std::io::Write;

/// Every size's measurements.
#[derive(Debug, Serialize)]
pub(super) struct Results {
    pub(super) queue: String,
    /// The sizes: available jobs in the queue.
    pub(super) sizes: Vec<usize>,
    /// Runs per operation.
    pub(super) runs: usize,
    /// Runs of the operations that take seconds (a dead worker's recovery,
    /// the CLI).
    pub(super) slow_runs: usize,
    /// Where the server's times come from, or why there are none.
    pub(super) server_times: String,
    pub(super) operations: Vec<Row>,
}

/// One operation at every size.
#[derive(Debug, Serialize)]
pub(super) struct Row {
    /// Its key: `publish_1`, `list_stalled_middle`, …
    pub(super) op: String,
    /// Its name in the table.
    pub(super) label: String,
    pub(super) results: Vec<Cell>,
}

impl Row {
    pub(super) fn new(op: Op) -> Row {
        Row {
            op: op.key(),
            label: op.label(),
            results: Vec::new(),
        }
    }
}

/// One operation at one size.
#[derive(Debug, Serialize)]
pub(super) struct Cell {
    /// Available jobs in the queue (the size).
    pub(super) jobs: usize,
    pub(super) runs: usize,
    /// The client's wall time, median over the runs.
    pub(super) client_ms: f64,
    /// Redis's time for the slowest single command of any run (µs), from
    /// SLOWLOG; null where SLOWLOG cannot be read.
    pub(super) server_us_max: Option<u64>,
    /// The median over the runs of each run's slowest command (µs): the
    /// max is one run's, and a hiccup of the machine shows in it.
    pub(super) server_us_median: Option<u64>,
}

/// The table, in Markdown, with a line saying what the queue held.
pub(super) fn print_table(r: &Results, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "Each size N: N available jobs, N/10 stalled, N/50 claimed (and {HOLDS} held by a \
         live worker), {DELAYED} delayed. Cells: the client's median time over {} runs \
         ({} for the slow rows) / Redis's slowest single command over those runs ({}).",
        r.runs, r.slow_runs, r.server_times
    )?;
    writeln!(out)?;
    let header: Vec<String> = r.sizes.iter().map(|&n| thousands(n as u64)).collect();
    let width = r
        .operations
        .iter()
        .map(|row| row.label.chars().count())
        .max()
        .unwrap_or(0);
    writeln!(out, "| {:width$} | {} |", "operation", cells(&header))?;
    let rule: Vec<String> = r
        .sizes
        .iter()
        .map(|_| "-".repeat(WIDTH - 1) + ":")
        .collect();
    writeln!(out, "| {} | {} |", "-".repeat(width), rule.join(" | "))?;
    for row in &r.operations {
        let shown: Vec<String> = row.results.iter().map(cell).collect();
        writeln!(out, "| {:width$} | {} |", row.label, cells(&shown))?;
    }
    Ok(())
}

/// A column's width: enough for `52.5 ms / 62,186 µs` and wider.
const WIDTH: usize = 21;

/// Cells right-aligned in their columns (`format!` counts characters, so
/// a `µ` takes one).
fn cells(texts: &[String]) -> String {
    texts
        .iter()
        .map(|t| format!("{t:>WIDTH$}"))
        .collect::<Vec<_>>()
        .join(" | ")
}

/// `0.213 ms / 35 µs`.
fn cell(c: &Cell) -> String {
    let server = match c.server_us_max {
        Some(us) => format!("{} µs", thousands(us)),
        None => "–".into(),
    };
    format!("{} / {server}", millis(c.client_ms))
}

/// Three significant digits, in ms up to 10 s, then in s.
fn millis(ms: f64) -> String {
    match ms {
        ms if ms >= 10_000.0 => format!("{:.1} s", ms / 1e3),
        ms if ms >= 100.0 => format!("{ms:.0} ms"),
        ms if ms >= 10.0 => format!("{ms:.1} ms"),
        ms if ms >= 1.0 => format!("{ms:.2} ms"),
        ms => format!("{ms:.3} ms"),
    }
}

/// 1234567 as `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_at_a_glance() {
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(millis(0.2134), "0.213 ms");
        assert_eq!(millis(9612.0), "9612 ms");
        assert_eq!(millis(12_345.0), "12.3 s");
    }

    #[test]
    fn the_table_has_a_row_per_operation_and_a_column_per_size() {
        let mut row = Row::new(Op::Retract);
        for (jobs, client_ms, server_us_max) in [(1000, 0.2134, Some(35)), (10_000, 2.5, None)] {
            row.results.push(Cell {
                jobs,
                runs: 11,
                client_ms,
                server_us_max,
                server_us_median: server_us_max,
            });
        }
        let results = Results {
            queue: "bench.scale".into(),
            sizes: vec![1000, 10_000],
            runs: 11,
            slow_runs: 3,
            server_times: "SLOWLOG".into(),
            operations: vec![row],
        };
        let mut out = Vec::new();
        print_table(&results, &mut out).unwrap();
        let out = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert!(
            lines[0].contains("over 11 runs (3 for the slow rows)"),
            "{out}"
        );
        assert!(
            lines[2].contains("|                 1,000 |                10,000 |"),
            "{out}"
        );
        assert!(
            lines[4].starts_with("| retract 1 (available, mid-list) |"),
            "{out}"
        );
        assert!(
            lines[4].ends_with("|      0.213 ms / 35 µs |           2.50 ms / – |"),
            "{out}"
        );
    }
}
